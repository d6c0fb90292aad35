//! Durable timers: a sleeping execution holds no instance, survives kill -9
//! and wakes on time.

use crate::common::*;
use cairn::model::{Bindings, Status};
use cairn::node::{Node, NodeConfig, Outcome};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn sleep_survives_kill9_and_wakes_on_time() {
    let data = data_dir();
    let started = Instant::now();
    let mut child = cairn(data.path())
        .args([
            "run",
            wasm("sleeper").to_str().unwrap(),
            "--input",
            "{\"ms\": 3000}",
            "--evict-after-ms",
            "200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = wait_for(30, "a sleeping execution", || {
        list(data.path())
            .first()
            .filter(|e| e["status"] == "sleeping")
            .map(|e| e["id"].as_str().unwrap().to_owned())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let exec = show(data.path(), &id)["execution"].clone();
    let wake_at = exec["wake_at_ms"].as_i64().expect("a wake time is stored");

    let out = run(data.path(), &["resume", "--output", "json"]);
    assert!(out.status.success(), "resume failed: {}", stderr(&out));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(now_ms >= wake_at, "woke at or after the wake time");
    assert!(started.elapsed() >= Duration::from_millis(3000));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["status"], "completed");
    assert!(
        result["output"].as_u64().unwrap() >= 3000,
        "slept at least 3 s by the journaled clock: {result}"
    );
    let kinds: Vec<String> = show(data.path(), &id)["journal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["started", "now", "log", "sleep", "timer.fired", "now", "completed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_sleep_drops_the_instance_and_short_sleep_stays_hot() {
    let data = data_dir();
    let config = NodeConfig {
        evict_after: Duration::from_millis(300),
        ..node_config(data.path())
    };
    let rt = Node::open(&sqlite_at(data.path()), config).await.unwrap();
    let store = rt.raw_store();
    let digest = upload(&rt, &["sleeper"], &[]).await["sleeper"].clone();

    // Long: the activation ends with Sleeping and the lease is released.
    let lease = rt
        .start_here("sleeper", &digest, &Bindings::default(), "{\"ms\": 1000}")
        .await
        .unwrap();
    let id = lease.execution_id.clone();
    match rt.drive(lease).await.unwrap() {
        Outcome::Sleeping(wake_at) => assert!(wake_at > cairn::model::now_ms()),
        other => panic!("expected Sleeping, got {other:?}"),
    }
    let exec = store.execution(&id).await.unwrap().unwrap();
    assert_eq!(exec.status, Status::Sleeping);
    assert_eq!(exec.lease_owner, None, "an evicted execution holds no lease");
    let lease = store.claim(&id, rt.id(), 10_000, &[]).await.unwrap().unwrap();
    match rt.run_to_end(lease).await.unwrap() {
        Outcome::Completed(out) => assert!(out.parse::<u64>().unwrap() >= 1000),
        other => panic!("expected Completed, got {other:?}"),
    }

    // Short: one activation, the instance stays hot through the sleep.
    let lease = rt
        .start_here("sleeper", &digest, &Bindings::default(), "{\"ms\": 100}")
        .await
        .unwrap();
    match rt.drive(lease).await.unwrap() {
        Outcome::Completed(out) => assert!(out.parse::<u64>().unwrap() >= 100),
        other => panic!("expected Completed, got {other:?}"),
    }
}
