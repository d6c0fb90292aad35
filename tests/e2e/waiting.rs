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
