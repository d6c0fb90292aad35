//! The service end to end: `cairn server` with its HTTP API, driven by the
//! `cairn` verbs and by raw HTTP requests.

use crate::common::*;
use crate::server::{Server, kinds};

#[test]
fn signals_sent_before_and_after_the_wait_are_received_in_order() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    server.deploy(data.path(), "sig", "signals", &[]);
    let started = server.json(
        data.path(),
        &[
            "start",
            "sig",
            "--input",
            r#"{"delay_ms": 1200, "n": 3, "timeout_ms": 20000}"#,
        ],
    );
    let id = started["id"].as_str().unwrap().to_owned();
    // Sent while the workflow still sleeps: buffered.
    for k in [1, 2] {
        let out = server.cli(
            data.path(),
            &["signal", &id, "item", "--payload", &format!("{{\"k\": {k}}}")],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    wait_for(30, "the workflow to wait for its third signal", || {
        let h = server.json(data.path(), &["history", &id]);
        (kinds(&h).iter().filter(|k| *k == "signal.wait").count() == 3).then_some(())
    });
    // Sent after the wait began.
    let out = server.cli(data.path(), &["signal", &id, "item", "--payload", "{\"k\": 3}"]);
    assert!(out.status.success());
    let result = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "60"]);
    assert_eq!(result["status"], "completed");
    assert_eq!(
        result["output"],
        serde_json::json!([{ "k": 1 }, { "k": 2 }, { "k": 3 }])
    );
    let h = server.json(data.path(), &["history", &id]);
    assert_eq!(kinds(&h).iter().filter(|k| *k == "signal.received").count(), 3);
}

#[test]
fn cancelling_a_workflow_on_a_one_hour_timer_runs_its_compensation() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    server.deploy(data.path(), "orders", "saga", &["payments"]);
    let order = r#"{"order_id": "c-1", "item": "desk", "quantity": 1, "amount_cents": 500, "hold_ms": 3600000}"#;
    let id = server.start_execution(data.path(), "orders", order);
    wait_for(30, "the one-hour timer", || {
        let e = server.json(data.path(), &["describe", &id]);
        (e["status"] == "sleeping").then_some(())
    });
    let out = server.cli(data.path(), &["cancel", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, result) = server.wait_result(data.path(), &id);
    assert_eq!(code, Some(1), "a failed execution exits 1");
    assert_eq!(result["status"], "failed");
    assert!(
        result["error"]["message"].as_str().unwrap().contains("cancelled"),
        "{result}"
    );
    let h = server.json(data.path(), &["history", &id]);
    let k = kinds(&h);
    assert!(
        k.contains(&"timer.cancelled".to_owned()) && k.contains(&"cancel.received".to_owned()),
        "{k:?}"
    );
    let compensations: Vec<String> = h
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "activity.start")
        .map(|e| e["payload"]["args"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(compensations, ["reserve", "charge", "refund", "release"]);
    // Cancelling or terminating a finished execution is a conflict.
    let out = server.cli(data.path(), &["cancel", &id]);
    assert!(stderr(&out).contains("CAIRN-E022"), "{}", stderr(&out));
}

#[test]
fn children_finish_after_their_parents_node_restarts() {
    children_survive_restart(&[]);
}

#[test]
fn children_finish_after_their_parents_node_restarts_on_postgres() {
    let db = PgDb::new();
    children_survive_restart(&["--database", &db.url]);
}

fn children_survive_restart(extra: &[&str]) {
    let data = data_dir();
    let mut server = Server::start(data.path(), extra);
    server.deploy(data.path(), "nap", "sleeper", &[]);
    server.deploy(data.path(), "parent", "parent", &[]);
    let input = r#"{"workflow": "nap", "inputs": [{"ms": 1500}, {"ms": 2500}]}"#;
    let id = server.start_execution(data.path(), "parent", input);
    wait_for(30, "two children", || {
        (server.json(data.path(), &["list"])["executions"]
            .as_array()
            .unwrap()
            .len()
            == 3)
            .then_some(())
    });
    server.kill(); // kill -9 the only node: parent and children are all in flight

    let server = Server::start(data.path(), extra);
    let result = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "60"]);
    assert_eq!(result["status"], "completed", "{result}");
    let slept: Vec<u64> = result["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(slept[0] >= 1500 && slept[1] >= 2500, "{slept:?}");
    for child in [format!("{id}-c1"), format!("{id}-c2")] {
        let e = server.json(data.path(), &["describe", &child]);
        assert_eq!(e["status"], "completed");
        assert_eq!(e["parent"], id.as_str());
    }
    let h = server.json(data.path(), &["history", &id]);
    assert_eq!(kinds(&h).iter().filter(|k| *k == "child.done").count(), 2);
}

#[test]
fn start_is_idempotent_and_deployments_pin_versions() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    let v1 = server.deploy(data.path(), "c", "chain", &["increment"]);
    assert_eq!(v1["version"], 1);
    let first = server.json(
        data.path(),
        &["start", "c", "--id", "order-42", "--input", r#"{"n": 3}"#],
    );
    let again = server.json(
        data.path(),
        &["start", "c", "--id", "order-42", "--input", r#"{"n": 3}"#],
    );
    assert_eq!(
        (first["created"].clone(), again["created"].clone()),
        (true.into(), false.into())
    );
    // The same id with another input is another start, refused (not the old one returned).
    let other = server.cli(
        data.path(),
        &["start", "c", "--id", "order-42", "--input", r#"{"n": 9}"#],
    );
    assert_eq!(other.status.code(), Some(1));
    assert!(stderr(&other).starts_with("error[CAIRN-E035]"), "{}", stderr(&other));
    let v2 = server.deploy(data.path(), "c", "chain-changed", &["increment"]);
    assert_eq!(v2["version"], 2);
    let new = server.start_execution(data.path(), "c", r#"{"n": 2}"#);
    let old = server.start_execution(data.path(), "c@1", r#"{"n": 2}"#);
    for (id, deployment, out) in [("order-42", &v1, 3), (new.as_str(), &v2, 2), (old.as_str(), &v1, 2)] {
        let r = server.json(data.path(), &["result", id, "--wait", "--timeout-s", "60"]);
        assert_eq!(r["output"], out, "{id}: {r}");
        assert_eq!(
            server.json(data.path(), &["describe", id])["component"],
            deployment["component"],
            "{id} is pinned"
        );
    }
    let page = server.json(data.path(), &["list", "--workflow", "c"]);
    assert_eq!(
        page["executions"].as_array().unwrap().len(),
        3,
        "the repeated start created nothing"
    );
    // Paging: two pages of two and one, newest first, nothing twice.
    let first = server.json(data.path(), &["list", "--workflow", "c", "--limit", "2"]);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let second = server.json(
        data.path(),
        &["list", "--workflow", "c", "--limit", "2", "--cursor", &cursor],
    );
    let ids = |p: &serde_json::Value| -> Vec<String> {
        p["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut all = ids(&first);
    all.extend(ids(&second));
    assert_eq!(all, [old.clone(), new.clone(), "order-42".to_owned()]);
    // A time range that ends before everything selects nothing.
    let none = server.json(
        data.path(),
        &["list", "--workflow", "c", "--until", "2000-01-01T00:00:00Z"],
    );
    assert!(none["executions"].as_array().unwrap().is_empty());
}

#[test]
fn continue_as_new_and_terminate_and_schedules() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    server.deploy(data.path(), "counter", "counter", &[]);
    server.deploy(data.path(), "sig", "signals", &[]);
    let id = server.start_execution(data.path(), "counter", r#"{"i": 0, "until": 3}"#);
    let r = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "60"]);
    assert_eq!(
        (r["status"].clone(), r["output"].clone(), r["id"].clone()),
        ("completed".into(), 3.into(), format!("{id}~3").into())
    );
    assert_eq!(server.json(data.path(), &["describe", &id])["status"], "continued");
    assert_eq!(
        server
            .json(data.path(), &["history", &format!("{id}~3")])
            .as_array()
            .unwrap()
            .len(),
        3,
        "each run keeps a short journal: started, log, completed"
    );

    let waiting = server.json(
        data.path(),
        &[
            "start",
            "sig",
            "--input",
            r#"{"delay_ms": 0, "n": 1, "timeout_ms": 3600000}"#,
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = server.cli(data.path(), &["terminate", &waiting, "--reason", "test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(data.path(), &["result", &waiting, "--output", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), r["status"].as_str()), (Some(1), Some("terminated")));
    assert_eq!(
        kinds(&server.json(data.path(), &["history", &waiting])).last().unwrap(),
        "terminated"
    );
    let out = server.cli(data.path(), &["terminate", &waiting]);
    assert!(stderr(&out).contains("CAIRN-E022"), "{}", stderr(&out));

    let out = server.cli(
        data.path(),
        &[
            "schedule",
            "create",
            "tick",
            "--cron",
            "* * * * * *",
            "--workflow",
            "counter",
            "--input",
            r#"{"i": 7, "until": 7}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.json(data.path(), &["schedule", "list"])[0]["id"], "tick");
    let fired = wait_for(30, "two firings", || {
        let page = server.json(data.path(), &["list", "--workflow", "counter", "--limit", "100"]);
        let ticks: Vec<serde_json::Value> = page["executions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["id"].as_str().unwrap().starts_with("tick@"))
            .cloned()
            .collect();
        (ticks.len() >= 2).then_some(ticks)
    });
    assert!(
        fired
            .iter()
            .all(|e| e["input"] == serde_json::json!({"i": 7, "until": 7}))
    );
    let out = server.cli(data.path(), &["schedule", "delete", "tick"]);
    assert!(out.status.success());
    let out = server.cli(
        data.path(),
        &[
            "schedule",
            "create",
            "bad",
            "--cron",
            "every tuesday",
            "--workflow",
            "counter",
        ],
    );
    assert!(stderr(&out).contains("CAIRN-E016"), "{}", stderr(&out));
}

#[test]
fn bad_requests_get_their_codes_and_write_nothing() {
    let data = data_dir();
    let server = Server::start(data.path(), &["--max-payload-bytes", "1024"]);
    // Unknown ids.
    for (method, path) in [
        ("GET", "/v1/executions/nope"),
        ("GET", "/v1/executions/nope/result"),
        ("GET", "/v1/executions/nope/journal"),
        ("POST", "/v1/executions/nope/cancel"),
        ("POST", "/v1/executions/nope/terminate"),
        ("DELETE", "/v1/schedules/nope"),
    ] {
        let (status, body) = server.http(method, path, None);
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("CAIRN-E005")),
            "{method} {path}: {body}"
        );
        assert!(body["hint"].is_string());
    }
    let (status, body) = server.http("POST", "/v1/executions/nope/signals/s", Some(b"{}"));
    assert_eq!((status, body["code"].as_str()), (404, Some("CAIRN-E005")));
    let (status, body) = server.http("POST", "/v1/executions", Some(br#"{"workflow": "ghost"}"#));
    assert_eq!((status, body["code"].as_str()), (404, Some("CAIRN-E024")));
    // Invalid JSON.
    let (status, body) = server.http("POST", "/v1/executions", Some(b"{not json"));
    assert_eq!((status, body["code"].as_str()), (400, Some("CAIRN-E004")), "{body}");
    // Over the payload limit.
    let big = format!(r#"{{"workflow": "c", "input": "{}"}}"#, "x".repeat(4096));
    let (status, body) = server.http("POST", "/v1/executions", Some(big.as_bytes()));
    assert_eq!((status, body["code"].as_str()), (413, Some("CAIRN-E021")), "{body}");
    // A component of the wrong world, and junk.
    let out = server.cli(data.path(), &["deploy", "wrong", wasm("increment").to_str().unwrap()]);
    assert!(stderr(&out).contains("CAIRN-E002"), "{}", stderr(&out));
    let wasm_bytes = [("content-type", "application/wasm")];
    let (status, body) = server.http_with(&wasm_bytes, "POST", "/v1/components?kind=workflow", Some(b"\0asm junk"));
    assert_eq!((status, body["code"].as_str()), (422, Some("CAIRN-E001")), "{body}");
    // An unknown route; a known one with the wrong method.
    let (status, body) = server.http("GET", "/v2/nothing", None);
    assert_eq!((status, body["code"].as_str()), (404, Some("CAIRN-E005")));
    let (status, body) = server.http("DELETE", "/v1/executions", None);
    assert_eq!((status, body["code"].as_str()), (405, Some("CAIRN-E027")), "{body}");
    // A path that does not decode, a page size out of range: coded, in JSON.
    for path in [
        "/v1/executions/%FF",
        "/v1/executions?limit=2147483648",
        "/v1/executions?limit=0",
        "/v1/executions/x/result?wait_ms=-1",
    ] {
        let (status, body) = server.http("GET", path, None);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("CAIRN-E016")),
            "{path}: {body}"
        );
    }
    // A huge id is refused by its syntax and not echoed back whole.
    let long = "a".repeat(5000);
    let (status, body) = server.http("GET", &format!("/v1/executions/{long}"), None);
    assert_eq!((status, body["code"].as_str()), (400, Some("CAIRN-E016")), "{body}");
    assert!(body["message"].as_str().unwrap().len() < 200, "{body}");
    // Ids and names a URL path cannot address are refused.
    for id in [".", ".."] {
        let start = serde_json::json!({ "workflow": "ghost", "id": id }).to_string();
        let (status, body) = server.http("POST", "/v1/executions", Some(start.as_bytes()));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("CAIRN-E016")),
            "{id}: {body}"
        );
        let deploy = serde_json::json!({ "name": id, "workflow": "0" }).to_string();
        let (status, body) = server.http("POST", "/v1/deployments", Some(deploy.as_bytes()));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("CAIRN-E016")),
            "{id}: {body}"
        );
    }
    // Nothing was written.
    assert!(
        server.json(data.path(), &["list"])["executions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (_, deployments) = server.http("GET", "/v1/deployments", None);
    assert_eq!(deployments, serde_json::json!([]));
    // The OpenAPI document is served.
    let (status, doc) = server.http("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/executions/{id}/signals/{name}"].is_object());
    // Query parameters are declared in the query, optional, with their bounds.
    let params = doc["paths"]["/v1/executions"]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (&limit["in"], &limit["required"], &limit["schema"]["maximum"]),
        (
            &serde_json::json!("query"),
            &serde_json::json!(false),
            &serde_json::json!(1000)
        ),
        "{limit}"
    );
    // A component upload is declared as binary, not as an array of numbers.
    let upload = &doc["paths"]["/v1/components"]["post"]["requestBody"]["content"]["application/wasm"]["schema"];
    let name = upload["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
    assert_eq!(
        (
            &doc["components"]["schemas"][name]["type"],
            &doc["components"]["schemas"][name]["format"]
        ),
        (&serde_json::json!("string"), &serde_json::json!("binary")),
        "{upload}"
    );
    // Payloads are any JSON value, not only objects (also an execution's).
    let result = &doc["components"]["schemas"]["ResultResponse"]["properties"];
    for field in ["output", "error"] {
        assert!(result[field].get("type").is_none(), "{field}: {result}");
    }
    let execution = &doc["components"]["schemas"]["Execution"]["properties"];
    for field in ["input", "output", "error"] {
        assert!(execution[field].get("type").is_none(), "{field}: {execution}");
    }
}

#[test]
fn cancellation_reaches_pending_activities_and_children_and_terminate_closes_children() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    let http = TestServer::start(0, 60_000);
    let fetch = wasm("http-fetch");
    let steps = wasm("http-steps");
    let allow = format!("fetch=127.0.0.1:{}", http.port);
    let out = server.cli(
        data.path(),
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
    server.deploy(data.path(), "nap", "sleeper", &[]);
    server.deploy(data.path(), "parent", "parent", &[]);

    // A pending activity (a request the server holds for a minute) is cancelled.
    let input = serde_json::json!({ "url": format!("{}?slow=1", http.url()), "n": 1 }).to_string();
    let id = server.start_execution(data.path(), "steps", &input);
    wait_for(30, "the slow request", || (!http.requests().is_empty()).then_some(()));
    assert!(server.cli(data.path(), &["cancel", &id]).status.success());
    let (_, r) = server.wait_result(data.path(), &id);
    assert_eq!(r["status"], "failed");
    assert!(r["error"]["message"].as_str().unwrap().contains("cancelled"), "{r}");
    let done = server.json(data.path(), &["history", &id]);
    let done = done
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "activity.done")
        .unwrap()
        .clone();
    assert_eq!(done["payload"]["data"]["result"]["Err"]["code"], "cancelled");

    // Cancelling a parent cancels its children, whose failure the parent sees.
    let input = r#"{"workflow": "nap", "inputs": [{"ms": 3600000}]}"#;
    let parent = server.start_execution(data.path(), "parent", input);
    let child = format!("{parent}-c1");
    wait_for(30, "the child to sleep", || {
        (server.status(data.path(), &child).as_deref() == Some("sleeping")).then_some(())
    });
    assert!(server.cli(data.path(), &["cancel", &parent]).status.success());
    let (_, r) = server.wait_result(data.path(), &parent);
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(server.json(data.path(), &["describe", &child])["status"], "failed");
    assert!(kinds(&server.json(data.path(), &["history", &child])).contains(&"timer.cancelled".to_owned()));

    // Terminating a parent terminates its children (the default close policy).
    let parent = server.start_execution(data.path(), "parent", input);
    let child = format!("{parent}-c1");
    wait_for(30, "the child to sleep", || {
        (server.status(data.path(), &child).as_deref() == Some("sleeping")).then_some(())
    });
    assert!(server.cli(data.path(), &["terminate", &parent]).status.success());
    assert_eq!(server.json(data.path(), &["describe", &child])["status"], "terminated");
}
