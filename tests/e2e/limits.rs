//! Runaway guests park their own executions (the fix may be in the code,
//! as for an uncaught exception); the runtime and other executions go on.

use crate::common::*;
use crate::server::Server;
use cairn::error::codes;
use cairn::model::{Bindings, ListFilter, Status};
use cairn::node::{Node, NodeConfig, Outcome};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_and_memory_bomb_park_while_another_execution_completes() {
    let data = data_dir();
    let config = NodeConfig {
        memory_limit: 32 << 20,
        cpu_budget: Duration::from_millis(500),
        max_instances: 64,
        ..node_config(data.path())
    };
    let rt = Node::open(&sqlite_at(data.path()), config).await.unwrap();
    let store = rt.raw_store();
    let digests = upload(&rt, &["spin", "membomb", "chain"], &["increment"]).await;
    let chain_bindings = Bindings {
        activities: vec![digests["increment"].clone()],
        http_allow: Default::default(),
    };
    let spin = rt
        .start_here("spin", &digests["spin"], &Bindings::default(), "{}")
        .await
        .unwrap();
    let bomb = rt
        .start_here("membomb", &digests["membomb"], &Bindings::default(), "{}")
        .await
        .unwrap();
    let chain = rt
        .start_here("chain", &digests["chain"], &chain_bindings, "{\"n\": 50}")
        .await
        .unwrap();
    let (r1, r2, r3) = (rt.clone(), rt.clone(), rt.clone());
    let spin = tokio::spawn(async move { r1.run_to_end(spin).await });
    let bomb = tokio::spawn(async move { r2.run_to_end(bomb).await });
    let chain = tokio::spawn(async move { r3.run_to_end(chain).await });

    match chain.await.unwrap().unwrap() {
        Outcome::Completed(out) => assert_eq!(out, "50"),
        other => panic!("chain: {other:?}"),
    }
    match spin.await.unwrap().unwrap() {
        Outcome::Parked(e) => assert_eq!(e.code, codes::CPU_BUDGET, "{e}"),
        other => panic!("spin: {other:?}"),
    }
    match bomb.await.unwrap().unwrap() {
        Outcome::Parked(e) => {
            assert_eq!(e.code, codes::MEMORY_LIMIT, "{e}");
            assert!(e.message.contains("32 MiB"));
        }
        other => panic!("membomb: {other:?}"),
    }
    // The stops are stored with their codes.
    let failed = store
        .list(&ListFilter {
            statuses: vec![Status::Parked],
            limit: None,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .any(|e| e.error.as_deref().unwrap().contains("CAIRN-E011"))
    );
    assert!(
        failed
            .iter()
            .any(|e| e.error.as_deref().unwrap().contains("CAIRN-E012"))
    );
}

#[test]
fn cli_reports_runaway_guests_with_codes() {
    let data = data_dir();
    let out = run(
        data.path(),
        &[
            "run",
            wasm("spin").to_str().unwrap(),
            "--input",
            "{}",
            "--cpu-budget-ms",
            "200",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "parked");
    assert!(stderr(&out).contains("CAIRN-E011"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"));
    let out = run(
        data.path(),
        &[
            "run",
            wasm("membomb").to_str().unwrap(),
            "--input",
            "{}",
            "--memory-limit-mb",
            "16",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "parked");
    assert!(stderr(&out).contains("CAIRN-E012"), "{}", stderr(&out));
}

/// A workflow stopped by its CPU budget is parked, not failed: deployed
/// fixed and unparked on the new version, it goes on and completes.
#[test]
fn a_guest_past_its_cpu_budget_parks_and_goes_on_on_fixed_code() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &["--cpu-budget-ms", "300"]);
    server.deploy(d, "job", "spin", &[]);
    let id = server.start_execution(d, "job", "{}");
    let (code, r) = server.wait_result(d, &id);
    assert_eq!((code, r["status"].as_str()), (Some(3), Some("parked")), "{r}");
    assert_eq!(r["error"]["code"], "CAIRN-E011", "{r}");
    assert!(r["error"]["hint"].as_str().unwrap().contains("unpark"), "{r}");
    // Version 2 ends without a loop (and without a host call, as the first did).
    server.deploy(d, "job", "relaxed-simd", &[]);
    let out = server.cli(d, &["unpark", &id, "--version", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, r) = server.wait_result(d, &id);
    assert_eq!((code, r["status"].as_str()), (Some(0), Some("completed")), "{r}");
}
