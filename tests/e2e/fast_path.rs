//! The front door without waiting: start-and-wait in one request, waits
//! that wake on events (across nodes too), executions handed to the node
//! that started them, idle executions that give their instances up.

use crate::common::*;
use crate::server::{Server, kinds};
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};

fn post_start(server: &Server, query: &str, body: Value) -> (u16, Value) {
    server.http(
        "POST",
        &format!("/v1/executions{query}"),
        Some(body.to_string().as_bytes()),
    )
}

#[test]
fn start_and_wait_answers_with_the_result_in_one_request() {
    let data = data_dir();
    // Waits fall back on looking again only after 30 s: every answer below
    // comes from the node's own notification that the execution finished.
    let server = Server::start(data.path(), &["--poll-ms", "30000"]);
    server.deploy(data.path(), "c", "chain", &["increment"]);
    server.deploy(data.path(), "nap", "sleeper", &[]);
    server.deploy(data.path(), "counter", "counter", &[]);

    // Finished in time: 200 and the body of GET .../result.
    let (status, r) = post_start(
        &server,
        "?wait_ms=30000",
        json!({ "workflow": "c", "input": { "n": 3 } }),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["status"].as_str(), r["output"].as_u64()),
        (Some("completed"), Some(3))
    );
    let id = r["id"].as_str().unwrap().to_owned();
    let (_, same) = server.http("GET", &format!("/v1/executions/{id}/result"), None);
    assert_eq!(same, r);
    // The same id and input again: nothing new starts, the same result comes back.
    let (status, again) = post_start(
        &server,
        "?wait_ms=20000",
        json!({ "workflow": "c", "id": id, "input": { "n": 3 } }),
    );
    assert_eq!((status, &again), (200, &r));
    // Another input under that id is another start: refused, 409.
    let (status, other) = post_start(
        &server,
        "?wait_ms=20000",
        json!({ "workflow": "c", "id": id, "input": { "n": 9 } }),
    );
    assert_eq!((status, &other["code"]), (409, &json!("CAIRN-E035")), "{other}");

    // Continue-as-new is followed to the last run, each run's end noticed
    // at once (200 within 20 s: the fallback is 30 s away).
    let (status, r) = post_start(
        &server,
        "?wait_ms=20000",
        json!({ "workflow": "counter", "id": "counts", "input": { "i": 0, "until": 3 } }),
    );
    assert_eq!(
        (status, r["status"].as_str(), r["output"].as_u64(), r["id"].as_str()),
        (200, Some("completed"), Some(3), Some("counts~3")),
        "{r}"
    );

    // Not finished in time: 202 and the start; the client goes on with /result.
    let (status, started) = post_start(
        &server,
        "?wait_ms=200",
        json!({ "workflow": "nap", "input": { "ms": 1500 } }),
    );
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["created"], true);
    let id = started["id"].as_str().unwrap();
    let (status, r) = server.http("GET", &format!("/v1/executions/{id}/result?wait_ms=20000"), None);
    assert_eq!((status, r["status"].as_str()), (200, Some("completed")), "{r}");

    // Out of range: a coded 400, and nothing is started.
    let before = server.json(data.path(), &["list"])["executions"]
        .as_array()
        .unwrap()
        .len();
    let (status, e) = post_start(
        &server,
        "?wait_ms=60001",
        json!({ "workflow": "c", "input": { "n": 1 } }),
    );
    assert_eq!((status, e["code"].as_str()), (400, Some("CAIRN-E016")), "{e}");
    assert!(e["hint"].is_string());
    let (status, e) = server.http("GET", &format!("/v1/executions/{id}/result?wait_ms=70000"), None);
    assert_eq!((status, e["code"].as_str()), (400, Some("CAIRN-E016")), "{e}");
    let (status, e) = post_start(
        &server,
        "?wait_ms=soon",
        json!({ "workflow": "c", "input": { "n": 1 } }),
    );
    assert_eq!((status, e["code"].as_str()), (400, Some("CAIRN-E016")), "{e}");
    let after = server.json(data.path(), &["list"])["executions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);

    // The CLI: `cairn start --wait` prints the output and exits like `cairn result`.
    let out = server.cli(data.path(), &["start", "c", "--input", r#"{"n": 2}"#, "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "2");

    // A client that hangs up while waiting neither cancels nor loses it.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let body = json!({ "workflow": "nap", "id": "hung-up", "input": { "ms": 800 } }).to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /v1/executions?wait_ms=60000 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(stream);
    let r = server.json(data.path(), &["result", "hung-up", "--wait", "--timeout-s", "20"]);
    assert_eq!(r["status"], "completed", "{r}");
}

#[test]
fn waits_on_another_node_wake_on_notifications_not_on_the_fallback() {
    let db = PgDb::new();
    let (da, db_dir) = (data_dir(), data_dir());
    // The fallback of every wait is 30 s: only a notification can be faster.
    let slow = [
        "--database",
        db.url.as_str(),
        "--poll-ms",
        "30000",
        "--evict-after-ms",
        "60000",
    ];
    let a = Server::start(da.path(), &slow);
    let b = Server::start(db_dir.path(), &slow);
    a.deploy(da.path(), "sig", "signals", &[]);
    a.deploy(da.path(), "nap", "sleeper", &[]);

    // A result waiter on B; the execution runs (and finishes) on A.
    let (status, started) = post_start(&a, "", json!({ "workflow": "nap", "input": { "ms": 1000 } }));
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let owner = b.json(db_dir.path(), &["describe", &id])["lease_owner"].clone();
    assert!(
        owner.as_str().is_some_and(|o| o.contains(&format!(":{}:", a.pid()))),
        "handed to the node that started it: {owner}"
    );
    let t = Instant::now();
    let (status, r) = b.http("GET", &format!("/v1/executions/{id}/result?wait_ms=60000"), None);
    assert_eq!((status, r["status"].as_str()), (200, Some("completed")), "{r}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "woken by A's notification: {:?}",
        t.elapsed()
    );

    // A signal sent through B reaches the execution waiting hot on A.
    let (_, started) = post_start(
        &a,
        "",
        json!({ "workflow": "sig", "input": { "delay_ms": 0, "n": 1, "timeout_ms": 3_600_000 } }),
    );
    let id = started["id"].as_str().unwrap().to_owned();
    // Its signal wait is not journaled while it stays hot; give it the moment
    // it needs to get there (a signal sent earlier would be buffered anyway).
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let out = b.cli(db_dir.path(), &["signal", &id, "item", "--payload", "{\"k\": 1}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, r) = b.http("GET", &format!("/v1/executions/{id}/result?wait_ms=60000"), None);
    assert_eq!((status, r["output"].clone()), (200, json!([{ "k": 1 }])), "{r}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the poke crossed nodes: {:?}",
        t.elapsed()
    );
}

#[test]
fn executions_handed_to_a_node_are_taken_over_when_it_dies() {
    let db = PgDb::new();
    let (da, db_dir) = (data_dir(), data_dir());
    let http = TestServer::start(300, 0);
    let shared = ["--database", db.url.as_str(), "--lease-ms", "2000", "--poll-ms", "200"];
    let mut a = Server::start(da.path(), &shared);
    let b = Server::start(db_dir.path(), &shared);
    let allow = format!("fetch=127.0.0.1:{}", http.port);
    let (steps, fetch) = (wasm("http-steps"), wasm("http-fetch"));
    let out = a.cli(
        da.path(),
        &[
            "deploy",
            "steps",
            steps.to_str().unwrap(),
            "--activity",
            fetch.to_str().unwrap(),
            "--allow-http",
            &allow,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<String> = (0..6)
        .map(|k| {
            let input = json!({ "url": format!("{}?h={k}", http.url()), "n": 4 });
            let (_, r) = post_start(&a, "", json!({ "workflow": "steps", "input": input }));
            r["id"].as_str().unwrap().to_owned()
        })
        .collect();
    for id in &ids {
        let owner = b.json(db_dir.path(), &["describe", id])["lease_owner"].clone();
        assert!(
            owner.as_str().is_some_and(|o| o.contains(&format!(":{}:", a.pid()))),
            "{id} runs where it was started: {owner}"
        );
    }
    wait_for(30, "work in flight", || (http.requests().len() >= 6).then_some(()));
    a.kill();
    for id in &ids {
        let r = b.json(db_dir.path(), &["result", id, "--wait", "--timeout-s", "60"]);
        assert_eq!(r["status"], "completed", "{id}: {r}");
        let history = b.json(db_dir.path(), &["history", id]);
        let k = kinds(&history);
        assert_eq!(k.iter().filter(|k| *k == "completed").count(), 1);
        assert_eq!(k.iter().filter(|k| *k == "activity.done").count(), 4);
        let seqs: Vec<u64> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    }
}

/// Deploys `retry-later` (its `fetch` allowed to reach `http` only) and
/// starts it against a URL whose first request fails: its one call waits
/// 3 s before the second attempt. Returns the execution's id.
pub(crate) fn start_a_call_in_backoff(server: &Server, data: &std::path::Path, http: &TestServer) -> String {
    let (workflow, fetch) = (wasm("retry-later"), wasm("http-fetch"));
    let allow = format!("fetch=127.0.0.1:{}", http.port);
    let out = server.cli(
        data,
        &[
            "deploy",
            "later",
            workflow.to_str().unwrap(),
            "--activity",
            fetch.to_str().unwrap(),
            "--allow-http",
            &allow,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let url = format!("{}?fail=1", http.url());
    server.start_execution(data, "later", &json!({ "url": url, "backoff_ms": 3000 }).to_string())
}

#[test]
fn an_execution_in_a_long_retry_backoff_gives_its_instance_up() {
    let data = data_dir();
    let http = TestServer::start(0, 0);
    let server = Server::start(data.path(), &["--evict-after-ms", "300"]);
    let id = start_a_call_in_backoff(&server, data.path(), &http);
    // The first attempt fails; during the 3 s backoff the execution sleeps
    // with its retry state journaled and holds no lease (no instance).
    let e = wait_for(30, "the backoff to be journaled", || {
        let h = server.json(data.path(), &["history", &id]);
        let e = server.json(data.path(), &["describe", &id]);
        (kinds(&h).contains(&"activity.retry".to_owned()) && e["status"] == "sleeping").then_some(e)
    });
    assert_eq!(e["lease_owner"], Value::Null, "{e}");
    let r = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "60"]);
    assert_eq!(r["status"], "completed", "{r}");
    let requests = http.requests();
    assert_eq!(requests.len(), 2, "one failed attempt, one retry: {requests:?}");
    assert_eq!(requests[0].key, requests[1].key, "the same idempotency key");
    assert!(
        requests[1].at_ms - requests[0].at_ms >= 2900,
        "the retry waited its backoff: {requests:?}"
    );
    let h = server.json(data.path(), &["history", &id]);
    let done = h
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "activity.done")
        .unwrap();
    assert_eq!(done["payload"]["data"]["attempts"], 2);
}

#[test]
fn a_full_instance_pool_evicts_the_least_recently_idle_instead_of_refusing() {
    let data = data_dir();
    // 16 instances, 8 of them for workflows; the idle limit would not evict
    // anything within the test.
    let server = Server::start(data.path(), &["--max-instances", "16", "--evict-after-ms", "60000"]);
    server.deploy(data.path(), "sig", "signals", &[]);
    let input = r#"{"delay_ms": 0, "n": 1, "timeout_ms": 3600000}"#;
    let ids: Vec<String> = (0..20)
        .map(|_| server.start_execution(data.path(), "sig", input))
        .collect();
    // Only 8 fit at once; the others get theirs by evicting the instance
    // that has been idle longest, which sleeps (its wait journaled) until
    // its signal comes — within the test only eviction can make them sleep.
    wait_for(60, "the pool to evict the least recently idle", || {
        let sleeping = ids
            .iter()
            .filter(|id| server.status(data.path(), id).as_deref() == Some("sleeping"))
            .count();
        (sleeping >= ids.len() - 8).then_some(())
    });
    for id in &ids {
        let out = server.cli(data.path(), &["signal", id, "item", "--payload", "{\"k\": 1}"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for id in &ids {
        let r = server.json(data.path(), &["result", id, "--wait", "--timeout-s", "60"]);
        assert_eq!(r["output"], json!([{ "k": 1 }]), "{id}: {r}");
    }
}
