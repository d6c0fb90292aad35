//! The examples, run end to end through the `cairn` binary.

use crate::common::*;

fn run_ok<S: AsRef<str>>(data: &std::path::Path, args: &[S]) -> serde_json::Value {
    let mut all: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    all.extend(["--output", "json"]);
    let out = run(data, &all);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    v
}

#[test]
fn chain_returns_n_with_one_journaled_step_per_activity() {
    let data = data_dir();
    let v = run_ok(
        data.path(),
        &run_args(&wasm("chain"), &wasm("increment"), "{\"n\": 10}", &[]),
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"], 10);
    let journal = show(data.path(), v["execution_id"].as_str().unwrap());
    let kinds: Vec<&str> = journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 32);
    assert_eq!(kinds.iter().filter(|k| **k == "activity.done").count(), 10);
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"completed"));
    // The text table shows the same journal.
    let table = stdout(&run(data.path(), &["show", v["execution_id"].as_str().unwrap()]));
    assert!(
        table.contains("activity.await") && table.contains("status     completed"),
        "{table}"
    );
}

#[test]
fn saga_retries_a_transient_failure_and_compensates_a_permanent_one() {
    let data = data_dir();
    let (saga, payments) = (wasm("saga"), wasm("payments"));
    let order = r#"{"order_id": "o-1", "item": "book", "quantity": 2, "amount_cents": 1250}"#;
    let v = run_ok(data.path(), &run_args(&saga, &payments, order, &[]));
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"]["tracking"], "trk-o-1");
    let journal = show(data.path(), v["execution_id"].as_str().unwrap());
    let charge = journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "activity.done" && e["payload"]["of"] == 4)
        .unwrap()
        .clone();
    assert_eq!(
        charge["payload"]["data"]["attempts"], 2,
        "charge succeeded on its second attempt: {charge}"
    );
    // The idempotency key is stable across the retry: it names the call, not the attempt.
    let key = format!("{}/4", v["execution_id"].as_str().unwrap());
    assert!(v["output"]["payment"].as_str().unwrap().ends_with(&key), "{v}");

    let bad = r#"{"order_id": "o-2", "item": "unobtainium", "quantity": 1, "amount_cents": 99}"#;
    let v = run_ok(data.path(), &run_args(&saga, &payments, bad, &[]));
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["code"], "CAIRN-E015");
    assert!(v["error"]["message"].as_str().unwrap().contains("order-failed"));
    let journal = show(data.path(), v["execution_id"].as_str().unwrap());
    let started: Vec<String> = journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "activity.start")
        .map(|e| e["payload"]["args"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        started,
        ["reserve", "charge", "ship", "refund", "release"],
        "compensation runs in reverse order"
    );
}

#[test]
fn fanout_runs_activities_in_parallel_and_collects_every_result() {
    let data = data_dir();
    let v = run_ok(
        data.path(),
        &run_args(
            &wasm("fanout"),
            &wasm("increment"),
            "{\"numbers\": [1, 2, 3, 4, 5, 6]}",
            &[],
        ),
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"]["squares"], serde_json::json!([1, 4, 9, 16, 25, 36]));
    assert_eq!(v["output"]["sum"], 91);
    let mut order: Vec<u64> = v["output"]["completion_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    order.sort();
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
    // Replaying the journal reproduces the recorded completion order.
    let out = run(
        data.path(),
        &["replay", "--component", wasm("fanout").to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn http_activity_reaches_allowed_hosts_only() {
    let data = data_dir();
    let server = TestServer::start(0, 0);
    let input = serde_json::json!({ "url": server.url(), "n": 2 }).to_string();
    let (wf, act) = (wasm("http-steps"), wasm("http-fetch"));
    let allow = format!("fetch=127.0.0.1:{}", server.port);
    let v = run_ok(data.path(), &run_args(&wf, &act, &input, &["--allow-http", &allow]));
    assert_eq!(v["output"], serde_json::json!(["ok:step=0", "ok:step=1"]));
    assert_eq!(server.requests().len(), 2);

    // Allowed for another activity name, or another port: denied, not retried, nothing sent.
    for allow in [
        "other=127.0.0.1".to_owned(),
        format!("127.0.0.1:{}", server.port.wrapping_add(1)),
    ] {
        let v = run_ok(data.path(), &run_args(&wf, &act, &input, &["--allow-http", &allow]));
        assert_eq!(v["status"], "failed");
        assert!(v["error"]["message"].as_str().unwrap().contains("http-denied"), "{v}");
    }
    assert_eq!(server.requests().len(), 2, "denied requests never left the host");
}

/// The examples written in Rust, Python and TypeScript side by side give
/// the same answers against the same Rust activities (one data directory,
/// so each big component compiles once).
#[test]
fn examples_agree_in_rust_python_and_typescript() {
    let data = data_dir();
    let d = data.path();
    let (payments, increment) = (wasm("payments"), wasm("increment"));
    let good = r#"{"order_id": "o-1", "item": "book", "quantity": 2, "amount_cents": 1250}"#;
    let bad = r#"{"order_id": "o-2", "item": "unobtainium", "quantity": 1, "amount_cents": 99}"#;
    for (lang, built) in LANGUAGES {
        let saga = built("saga");
        let run_saga = |order: &str| run_ok(d, &run_args(&saga, &payments, order, &[]));
        // Retried once (the charge), then shipped.
        let v = run_saga(good);
        assert_eq!(v["status"], "completed", "{lang}: {v}");
        assert_eq!(
            (&v["output"]["reservation"], &v["output"]["tracking"]),
            (&serde_json::json!("rsv-o-1-2xbook"), &serde_json::json!("trk-o-1")),
            "{lang}: {v}"
        );
        let key = format!("{}/4", v["execution_id"].as_str().unwrap());
        assert!(v["output"]["payment"].as_str().unwrap().ends_with(&key), "{lang}: {v}");
        // Out of stock: compensated in reverse order, failed with the cause.
        let v = run_saga(bad);
        assert_eq!(v["status"], "failed", "{lang}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("order-failed: order o-2 failed: out-of-stock"),
            "{lang}: {v}"
        );
        let journal = show(d, v["execution_id"].as_str().unwrap());
        let started: Vec<&str> = journal["journal"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "activity.start")
            .map(|e| e["payload"]["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(started, ["reserve", "charge", "ship", "refund", "release"], "{lang}");

        let v = run_ok(
            d,
            &run_args(&built("fanout"), &increment, r#"{"numbers": [1, 2, 3, 4]}"#, &[]),
        );
        assert_eq!(v["output"]["squares"], serde_json::json!([1, 4, 9, 16]), "{lang}: {v}");
        assert_eq!(v["output"]["sum"], 30, "{lang}: {v}");
        let mut order: Vec<u64> = serde_json::from_value(v["output"]["completion_order"].clone()).unwrap();
        order.sort();
        assert_eq!(order, [0, 1, 2, 3], "{lang}: {v}");
    }
}

/// http-steps in Rust, Python and TypeScript, with the `fetch` activity in
/// Rust, Python (`cairn.http`) or TypeScript (`fetch()`), all through the
/// host's allow-list: the same bodies; a Python or TypeScript fetch to a
/// host not on the list fails (Python's with `http-denied`) and is never sent.
#[test]
fn http_steps_agree_and_sdk_fetches_obey_the_allow_list() {
    let data = data_dir();
    let d = data.path();
    let server = TestServer::start(0, 0);
    let input = serde_json::json!({ "url": server.url(), "n": 2 }).to_string();
    let allow = format!("fetch=127.0.0.1:{}", server.port);
    let steps_in = |wf: &std::path::Path, act: &std::path::Path, allow: &str| {
        run_ok(d, &run_args(wf, act, &input, &["--allow-http", allow]))
    };
    let fetchers = [
        wasm("http-fetch"),
        python_wasm("http_fetch"),
        typescript_wasm("http_fetch"),
    ];
    let workflows = [
        wasm("http-steps"),
        python_wasm("http_steps"),
        typescript_wasm("http_steps"),
    ];
    let mut sent = 0;
    for wf in &workflows {
        for act in &fetchers {
            let v = steps_in(wf, act, &allow);
            assert_eq!(
                v["output"],
                serde_json::json!(["ok:step=0", "ok:step=1"]),
                "{wf:?} {act:?}: {v}"
            );
            sent += 2;
            assert_eq!(server.requests().len(), sent);
        }
    }
    for act in &fetchers[1..] {
        let v = steps_in(&workflows[2], act, "other=127.0.0.1");
        assert_eq!(v["status"], "failed", "{act:?}: {v}");
        // TypeScript's fetch() only says "NetworkError"; cairn.http names the cause.
        if act == &fetchers[1] {
            assert!(v.to_string().contains("http-denied"), "{act:?}: {v}");
        }
        assert_eq!(
            server.requests().len(),
            sent,
            "{act:?}: a denied request never left the host"
        );
    }
}

/// A POST from an activity in every language says its body's length
/// (`Content-Length`, not a chunked body, which some servers refuse).
#[test]
fn every_sdks_post_says_its_content_length() {
    let data = data_dir();
    let d = data.path();
    let server = TestServer::start(0, 0);
    let body = "x".repeat(10_000);
    let input = serde_json::json!({ "url": server.url(), "body": body }).to_string();
    let allow = format!("fetch=127.0.0.1:{}", server.port);
    for act in [
        wasm("http-fetch"),
        python_wasm("http_fetch"),
        typescript_wasm("http_fetch"),
    ] {
        let v = run_ok(
            d,
            &run_args(&python_wasm("pypost"), &act, &input, &["--allow-http", &allow]),
        );
        assert_eq!(v["output"]["status"], 200, "{act:?}: {v}");
        let seen = server.requests().pop().unwrap();
        assert_eq!(seen.content_length.as_deref(), Some("10000"), "{act:?}: {seen:?}");
        assert!(!seen.chunked, "{act:?}: {seen:?}");
    }
}

/// The approval example in every language, deployed on a server: a
/// decision signalled in time is returned; without one the request expires
/// when its durable timeout fires.
#[test]
fn approval_is_decided_or_expires_in_every_language() {
    let data = data_dir();
    let d = data.path();
    let server = crate::server::Server::start(d, &[]);
    for (lang, built) in LANGUAGES {
        let name = format!("approval-{lang}");
        server.json(d, &["deploy", &name, built("approval").to_str().unwrap()]);
        let decided = server.start_execution(d, &name, r#"{"request": "po-7", "timeout_s": 3600}"#);
        let expiring = server.start_execution(d, &name, r#"{"request": "po-8", "timeout_s": 1}"#);
        let decision = r#"{"approved": true, "by": "ann"}"#;
        let out = server.cli(d, &["signal", &decided, "decision", "--payload", decision]);
        assert!(out.status.success(), "{lang}: {}", stderr(&out));
        for (id, want) in [
            (
                &decided,
                serde_json::json!({ "request": "po-7", "status": "approved", "by": "ann" }),
            ),
            (
                &expiring,
                serde_json::json!({ "request": "po-8", "status": "expired", "by": null }),
            ),
        ] {
            let (code, r) = server.wait_result(d, id);
            assert_eq!((code, &r["output"]), (Some(0), &want), "{lang}: {r}");
        }
    }
}
