//! Python workflows built with the Python SDK (`guest-sdk/python`) on the
//! real host: the chain example prints what the Rust one prints, with Rust
//! or Python activities; gather,
//! a signal raced against a durable timer with `asyncio.wait`, the loser
//! cancelled, the race given up and resumed by replay after kill -9;
//! cancellation caught and compensated; failures with codes. One server
//! and data directory, so the 19 MB component compiles once.

use crate::common::*;
use crate::server::{Server, kinds};
use serde_json::{Value, json};
use std::path::Path;

fn deploy_python(server: &Server, data: &Path, name: &str) {
    let wf = python_wasm(name);
    let inc = wasm("increment");
    server.json(
        data,
        &[
            "deploy",
            name,
            wf.to_str().unwrap(),
            "--activity",
            inc.to_str().unwrap(),
        ],
    );
}

fn result(server: &Server, data: &Path, input: Value) -> (Option<i32>, Value) {
    let id = server.start_execution(data, "pyrace", &input.to_string());
    server.wait_result(data, &id)
}

#[test]
fn python_workflows_race_cancel_fail_and_survive_kill9() {
    let data = data_dir();
    // The chain example: the same answer as the Rust one, through `cairn run`.
    let out = run(
        data.path(),
        &[
            "run",
            python_wasm("chain").to_str().unwrap(),
            "--activity",
            wasm("increment").to_str().unwrap(),
            "--input",
            r#"{"n": 10}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "10");
    // Its activities in Python too.
    let out = run(
        data.path(),
        &[
            "run",
            python_wasm("chain").to_str().unwrap(),
            "--activity",
            python_wasm("increment").to_str().unwrap(),
            "--input",
            r#"{"n": 4}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "4");

    let mut server = Server::start(data.path(), &[]);
    deploy_python(&server, data.path(), "pyrace");

    let (code, r) = result(&server, data.path(), json!({ "mode": "gather" }));
    assert_eq!((code, &r["output"]), (Some(0), &json!([1, 2, 3])), "{r}");

    // The timer wins; the cancelled signal wait left the signal buffered.
    let id = server.start_execution(data.path(), "pyrace", r#"{"mode": "signal", "timer_s": 0.1}"#);
    wait_for(60, "the timer to win", || {
        let h = server.json(data.path(), &["history", &id]);
        (kinds(&h).iter().filter(|k| *k == "signal.start").count() == 2).then_some(())
    });
    assert!(
        server
            .cli(data.path(), &["signal", &id, "approve", "--payload", "7"])
            .status
            .success()
    );
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(
        (code, &r["output"]),
        (Some(0), &json!({ "first": "timer", "later": 7 })),
        "{r}"
    );
    let k = kinds(&server.json(data.path(), &["history", &id]));
    for kind in [
        "await.any",
        "timer.fired",
        "handle.cancel",
        "signal.cancelled",
        "signal.received",
    ] {
        assert!(k.iter().any(|x| x == kind), "{kind} missing from {k:?}");
    }

    // Cancelled during an hour's sleep: the workflow catches it and compensates.
    let id = server.start_execution(data.path(), "pyrace", r#"{"mode": "compensate"}"#);
    wait_for(60, "the hour's sleep", || {
        (server.status(data.path(), &id).as_deref() == Some("sleeping")).then_some(())
    });
    assert!(server.cli(data.path(), &["cancel", &id]).status.success());
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!((code, &r["output"]), (Some(0), &json!({ "compensated": 100 })), "{r}");

    // A Failure keeps its code; an uncaught exception names itself.
    let (code, r) = result(&server, data.path(), json!({ "mode": "fail" }));
    assert_eq!(code, Some(1), "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("bad-order: order 7"),
        "{r}"
    );
    let (_, r) = result(&server, data.path(), json!({ "mode": "crash" }));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uncaught-exception: ZeroDivisionError"),
        "{r}"
    );

    // Payloads are JSON: NaN is refused by the SDK, a raw non-JSON input by the host.
    let (_, r) = result(&server, data.path(), json!({ "mode": "nan" }));
    assert!(
        r["error"]["message"].as_str().unwrap().contains("invalid-payload"),
        "{r}"
    );
    let (code, r) = result(&server, data.path(), json!({ "mode": "raw-input" }));
    assert_eq!(
        (code, &r["output"]),
        (Some(0), &json!({ "code": "invalid-input" })),
        "{r}"
    );

    // A race given up on a ten-minute timer, the node killed, a new node:
    // the signal wakes it and replay restores both handles.
    let id = server.start_execution(data.path(), "pyrace", r#"{"mode": "signal", "timer_s": 600}"#);
    wait_for(60, "the race to give its instance up", || {
        (server.status(data.path(), &id).as_deref() == Some("sleeping")).then_some(())
    });
    server.kill();
    let server = Server::start(data.path(), &[]);
    let out = server.cli(
        data.path(),
        &["signal", &id, "approve", "--payload", r#"{"by": "ann"}"#],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(
        (code, &r["output"]),
        (Some(0), &json!({ "first": "signal", "payload": { "by": "ann" } })),
        "{r}"
    );

    // Every journal replays against the same component.
    drop(server);
    let wf = python_wasm("pyrace");
    let out = run(
        data.path(),
        &["replay", "--component", wf.to_str().unwrap(), "--workflow", "pyrace"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
