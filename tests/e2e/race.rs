//! `wait-any` over handles of every kind (activities, children, timers,
//! signal waits) and `cancel` of the losers, through the `race` guest on a
//! real server: the winner of each race, the journal it leaves, a race
//! suspended on a long timer and resumed by replay (also after kill -9),
//! cancellation reaching every pending handle, and `cairn replay` passing.

use crate::common::*;
use crate::server::{Server, kinds};
use serde_json::{Value, json};

fn start(server: &Server, data: &std::path::Path, input: Value) -> String {
    server.start_execution(data, "race", &input.to_string())
}

fn wait_sleeping(server: &Server, data: &std::path::Path, id: &str) {
    wait_for(30, "the race to give its instance up", || {
        (server.status(data, id).as_deref() == Some("sleeping")).then_some(())
    });
}

#[test]
fn wait_any_races_handles_of_every_kind_and_cancels_the_losers() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    server.deploy(data.path(), "race", "race", &["increment"]);
    server.deploy(data.path(), "nap", "sleeper", &[]);

    // An activity against a one-hour timer: the activity wins, the timer is cancelled.
    let id = start(&server, data.path(), json!({ "mode": "activity" }));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["output"], json!({ "first": 1, "value": 42, "timer": "cancelled" }));
    let k = kinds(&server.json(data.path(), &["history", &id]));
    for kind in [
        "timer.start",
        "activity.start",
        "activity.done",
        "await.any",
        "handle.cancel",
        "timer.cancelled",
    ] {
        assert!(k.iter().any(|x| x == kind), "{kind} missing from {k:?}");
    }

    // A child against a one-hour timer.
    let id = start(&server, data.path(), json!({ "mode": "child" }));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["output"], json!({ "first": 1, "slept_at_least": true }));

    // A signal against a ten-minute timer: the race gives its instance up,
    // the signal wakes it, replay restores both handles, the signal wins.
    let id = start(&server, data.path(), json!({ "mode": "signal", "timer_ms": 600_000 }));
    wait_sleeping(&server, data.path(), &id);
    let out = server.cli(
        data.path(),
        &["signal", &id, "approve", "--payload", r#"{"by": "ann"}"#],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["output"], json!({ "first": "signal", "payload": { "by": "ann" } }));

    // The timer wins: the cancelled signal wait consumed nothing, so a
    // signal sent afterwards reaches the later receive.
    let id = start(&server, data.path(), json!({ "mode": "signal", "timer_ms": 100 }));
    wait_for(30, "the timer to win", || {
        let h = server.json(data.path(), &["history", &id]);
        kinds(&h).iter().any(|k| k == "signal.wait").then_some(())
    });
    let out = server.cli(data.path(), &["signal", &id, "approve", "--payload", "7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["output"], json!({ "first": "timer", "later": 7 }));
    let k = kinds(&server.json(data.path(), &["history", &id]));
    assert_eq!(k.iter().filter(|x| *x == "signal.cancelled").count(), 1, "{k:?}");
    assert_eq!(k.iter().filter(|x| *x == "signal.received").count(), 1, "{k:?}");

    // Cancelling the execution ends every pending handle as cancelled.
    let id = start(&server, data.path(), json!({ "mode": "signal", "timer_ms": 600_000 }));
    wait_sleeping(&server, data.path(), &id);
    assert!(server.cli(data.path(), &["cancel", &id]).status.success());
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!((code, r["status"].as_str()), (Some(1), Some("failed")), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled: the execution was cancelled"),
        "{r}"
    );
    let k = kinds(&server.json(data.path(), &["history", &id]));
    for kind in ["timer.cancelled", "signal.cancelled", "cancel.received"] {
        assert!(k.iter().any(|x| x == kind), "{kind} missing from {k:?}");
    }

    // Every journal above replays against the same component.
    drop(server);
    let race = wasm("race");
    let out = run(
        data.path(),
        &["replay", "--component", race.to_str().unwrap(), "--workflow", "race"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("diverged"), "{}", stdout(&out));
}

#[test]
fn a_race_survives_kill9_and_resumes_by_replay_on_sqlite_and_postgres() {
    race_after_kill9(&[]);
    let db = PgDb::new();
    race_after_kill9(&["--database", &db.url]);
}

fn race_after_kill9(store: &[&str]) {
    let data = data_dir();
    let mut server = Server::start(data.path(), store);
    server.deploy(data.path(), "race", "race", &["increment"]);
    // The activity race runs on this store too.
    let id = start(&server, data.path(), json!({ "mode": "activity" }));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!((code, &r["output"]["value"]), (Some(0), &json!(42)), "{r}");
    let id = start(&server, data.path(), json!({ "mode": "signal", "timer_ms": 600_000 }));
    wait_sleeping(&server, data.path(), &id);
    server.kill();
    let server = Server::start(data.path(), store);
    let out = server.cli(
        data.path(),
        &["signal", &id, "approve", "--payload", r#""after the crash""#],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, r) = server.wait_result(data.path(), &id);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["output"], json!({ "first": "signal", "payload": "after the crash" }));
}
