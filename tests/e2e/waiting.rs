//! What a waiting execution shows while its instance stays hot: a wait
//! that goes on past a moment is journaled (the signal wait, the activity
//! call and its attempts) without suspending, so `history` and the console
//! name what it waits for long before the idle limit evicts it.

use crate::common::*;
use crate::server::{Server, kinds};
use serde_json::{Value, json};

/// The console's page of one execution, as text.
fn console_page(server: &Server, id: &str) -> String {
    let (status, body) = server.http("GET", &format!("/console/executions/{id}"), None);
    assert_eq!(status, 200, "{body}");
    body.as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_hot_signal_wait_is_journaled_and_named_before_any_eviction() {
    let data = data_dir();
    // The idle limit (10 min) never evicts within the test.
    let server = Server::start(data.path(), &["--evict-after-ms", "600000"]);
    server.deploy(data.path(), "sig", "signals", &[]);
    let input = r#"{"delay_ms": 0, "n": 1, "timeout_ms": 3600000}"#;
    let id = server.start_execution(data.path(), "sig", input);
    let e = wait_for(10, "the signal wait to be journaled", || {
        let h = server.json(data.path(), &["history", &id]);
        kinds(&h)
            .contains(&"signal.wait".to_owned())
            .then(|| server.json(data.path(), &["describe", &id]))
    });
    assert_eq!(e["status"], "running", "still hot, not suspended: {e}");
    assert_ne!(e["lease_owner"], Value::Null, "its node holds it: {e}");
    let page = console_page(&server, &id);
    assert!(page.contains("signal item"), "the console names the signal: {page}");
    assert!(page.contains("times out"), "and when the wait times out: {page}");
    let out = server.cli(data.path(), &["signal", &id, "item", "--payload", "{\"k\": 1}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "30"]);
    assert_eq!(r["output"], json!([{ "k": 1 }]), "{r}");
    let h = server.json(data.path(), &["history", &id]);
    let waits = kinds(&h).iter().filter(|k| *k == "signal.wait").count();
    assert_eq!(waits, 1, "the wait is journaled once: {h}");
}

#[test]
fn an_activity_between_attempts_shows_its_attempts_while_hot() {
    let data = data_dir();
    let http = TestServer::start(0, 0);
    let server = Server::start(data.path(), &["--evict-after-ms", "600000"]);
    let id = crate::fast_path::start_a_call_in_backoff(&server, data.path(), &http);
    // During the 3 s backoff the execution stays hot (the idle limit is far
    // off) and yet its call and the failed attempt are in the journal.
    let e = wait_for(10, "the failed attempt to be journaled", || {
        let h = server.json(data.path(), &["history", &id]);
        let k = kinds(&h);
        (k.contains(&"activity.start".to_owned()) && k.contains(&"activity.retry".to_owned()))
            .then(|| server.json(data.path(), &["describe", &id]))
    });
    assert_eq!(e["status"], "running", "{e}");
    assert_ne!(e["lease_owner"], Value::Null, "{e}");
    let page = console_page(&server, &id);
    assert!(
        page.contains("attempt 1 failed"),
        "the console shows the attempts: {page}"
    );
    assert!(page.contains("next attempt"), "and the next one: {page}");
    let r = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "60"]);
    assert_eq!(r["status"], "completed", "{r}");
    let requests = http.requests();
    assert_eq!(requests.len(), 2, "one failed attempt, one retry: {requests:?}");
    assert_eq!(requests[0].key, requests[1].key, "the same idempotency key");
}

/// Commits so far, from the server's metrics.
fn commits(server: &Server) -> f64 {
    let samples = crate::observe::metrics(server);
    crate::observe::value(&samples, "cairn_commit_duration_seconds_count", &[])
}

#[test]
fn results_that_come_while_another_call_is_awaited_wait_for_their_step() {
    let data = data_dir();
    // Every call answers after 300 ms, the first after 1.5 s: while the
    // workflow waits for the first (shown at 100 ms), the other seven end.
    let http = TestServer::start(300, 1500);
    let server = Server::start(data.path(), &["--evict-after-ms", "600000"]);
    let (workflow, fetch) = (wasm("in-order"), wasm("http-fetch"));
    let allow = format!("fetch=127.0.0.1:{}", http.port);
    let (w, f) = (workflow.to_str().unwrap(), fetch.to_str().unwrap());
    let out = server.cli(
        data.path(),
        &["deploy", "in-order", w, "--activity", f, "--allow-http", &allow],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let before = commits(&server);
    let input = json!({ "url": http.url(), "n": 8 }).to_string();
    let id = server.start_execution(data.path(), "in-order", &input);
    let r = server.json(data.path(), &["result", &id, "--wait", "--timeout-s", "60"]);
    assert_eq!(r["output"].as_array().map(Vec::len), Some(8), "{r}");
    let made = commits(&server) - before;
    // The wait shown once (the eight starts), the first result with the
    // seven that came meanwhile, the end: not one per result (committing
    // each result as it came made 5).
    assert!(made <= 3.0, "{made} commits for 8 calls awaited in order");
    let h = server.json(data.path(), &["history", &id]);
    assert_eq!(kinds(&h).iter().filter(|k| *k == "activity.done").count(), 8);
}
