//! Changed workflow code replayed against an old journal.

use crate::common::*;
use cairn::engine::{Engine, EngineConfig, digest_of};
use cairn::error::codes;
use cairn::journal::{StartedPayload, kinds};
use cairn::scheduler::{Bindings, Outcome, Runtime, RuntimeConfig};
use cairn::store::sqlite::SqliteStore;
use cairn::store::{Entry, NewExecution, Status, Store, Transition};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_code_parks_with_seq_and_diff_and_writes_nothing() {
    let data = data_dir();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("cairn.db")).unwrap());
    let engine = Engine::new(EngineConfig {
        cache_dir: data.path().join("cache"),
        ..Default::default()
    })
    .unwrap();
    let rt = Runtime::new(
        store.clone(),
        engine.clone(),
        RuntimeConfig {
            echo_logs: false,
            ..Default::default()
        },
    );
    let load = |name: &str| std::fs::read(wasm(name)).unwrap();
    let (chain, changed, increment) = (load("chain"), load("chain-changed"), load("increment"));
    let (chain_d, changed_d, inc_d) = (digest_of(&chain), digest_of(&changed), digest_of(&increment));
    for (d, b) in [(&chain_d, &chain), (&changed_d, &changed), (&inc_d, &increment)] {
        store.put_component(d, b).await.unwrap();
    }
    let bindings = Bindings {
        activities: vec![inc_d.clone()],
        http_allow: Default::default(),
    };

    // A real journal of the old code: chain(3), two steps in.
    let lease = rt.start("chain", &chain_d, &bindings, "{\"n\": 3}").await.unwrap();
    assert!(matches!(rt.run_to_end(lease.clone()).await.unwrap(), Outcome::Completed(ref o) if o == "3"));
    let old = store.journal(&lease.execution_id).await.unwrap();
    let in_flight: Vec<Entry> = old[1..7].to_vec();

    // The same history, now owned by an execution running the changed code.
    let mut started: StartedPayload = serde_json::from_str(&old[0].payload).unwrap();
    started.component = changed_d.clone();
    let new = NewExecution {
        id: "changed-code".into(),
        workflow: "chain".into(),
        component: changed_d.clone(),
        bindings: serde_json::to_string(&bindings).unwrap(),
        input: "{\"n\": 3}".into(),
        parent: None,
        started: Entry {
            payload: serde_json::to_string(&started).unwrap(),
            ..old[0].clone()
        },
    };
    let lease = store
        .create_execution(&new, Some(&rt.node_id), 10_000)
        .await
        .unwrap()
        .unwrap();
    store.append(&lease, &in_flight, &Transition::Running).await.unwrap();
    let before = store.journal("changed-code").await.unwrap();

    let outcome = rt.drive(lease).await.unwrap();
    let Outcome::Parked(error) = outcome else {
        panic!("expected Parked, got {outcome:?}")
    };
    assert_eq!(error.code, codes::NONDETERMINISM);
    assert!(error.message.contains("seq 1"), "{}", error.message);
    assert!(
        error.message.contains(&format!(
            "`{} {{\"input\":\"0\",\"name\":\"increment\",\"options\":{{}}}}`",
            kinds::ACTIVITY_START
        )),
        "{}",
        error.message
    );
    assert!(error.message.contains("the code called `now`"), "{}", error.message);
    assert_eq!(
        store.journal("changed-code").await.unwrap(),
        before,
        "the journal is unchanged"
    );
    let exec = store.execution("changed-code").await.unwrap().unwrap();
    assert_eq!(exec.status, Status::Parked);
    assert!(exec.error.unwrap().contains("CAIRN-E006"));
    assert_eq!(exec.lease_owner, None);
}

#[test]
fn replay_command_flags_a_changed_component_and_passes_an_unchanged_one() {
    let data = data_dir();
    let (chain, inc) = (wasm("chain"), wasm("increment"));
    let out = run(
        data.path(),
        &[
            "run",
            chain.to_str().unwrap(),
            "--activity",
            inc.to_str().unwrap(),
            "--input",
            "{\"n\": 4}",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = list(data.path())[0]["id"].as_str().unwrap().to_owned();
    let before = show(data.path(), &id);

    let out = run(
        data.path(),
        &[
            "replay",
            "--component",
            wasm("chain-changed").to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let verdicts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdicts[0]["verdict"], "diverged");
    assert_eq!(verdicts[0]["error"]["code"], "CAIRN-E006");
    assert!(verdicts[0]["error"]["message"].as_str().unwrap().contains("seq 1"));

    let out = run(
        data.path(),
        &["replay", "--component", chain.to_str().unwrap(), "--workflow", "chain"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("{id}  compatible"));
    assert_eq!(show(data.path(), &id), before, "replay checks write nothing");
}
