//! Changed workflow code replayed against an old journal.

use crate::common::*;
use cairn::error::codes;
use cairn::journal::{Command, StartedPayload};
use cairn::model::{Bindings, Created, Entry, Key, NewExecution, Status, Transition};
use cairn::node::{Node, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_code_parks_with_seq_and_diff_and_writes_nothing() {
    let data = data_dir();
    let rt = Node::open(&sqlite_at(data.path()), node_config(data.path()))
        .await
        .unwrap();
    let store = rt.raw_store();
    let digests = upload(&rt, &["chain", "chain-changed"], &["increment"]).await;
    let (chain_d, changed_d, inc_d) = (&digests["chain"], &digests["chain-changed"], &digests["increment"]);
    let bindings = Bindings {
        activities: vec![inc_d.clone()],
        http_allow: Default::default(),
    };

    // A real journal of the old code: chain(3), two steps in.
    let lease = rt.start_here("chain", chain_d, &bindings, "{\"n\": 3}").await.unwrap();
    assert!(matches!(rt.run_to_end(lease.clone()).await.unwrap(), Outcome::Completed(ref o) if o == "3"));
    let old = store.journal(&lease.execution_id).await.unwrap();
    let in_flight: Vec<Entry> = old[1..7].to_vec();

    // The same history, now owned by an execution running the changed code.
    let mut started: StartedPayload = serde_json::from_str(&old[0].payload).unwrap();
    started.component = changed_d.clone();
    let new = NewExecution {
        id: Key::stored("changed-code"),
        workflow: Key::stored("chain"),
        component: changed_d.clone(),
        bindings: bindings.clone(),
        input: "{\"n\": 3}".into(),
        parent: None,
        started: Entry {
            payload: serde_json::to_string(&started).unwrap(),
            ..old[0].clone()
        },
        queue_limit: None,
    };
    let Created::Leased(lease) = store.create_execution(&new, Some(rt.id()), 10_000).await.unwrap() else {
        panic!("created and leased")
    };
    store.append(&lease, &in_flight, &Transition::Running).await.unwrap();
    let before = store.journal(&Key::stored("changed-code")).await.unwrap();

    let outcome = rt.drive(lease).await.unwrap();
    let Outcome::Parked(error) = outcome else {
        panic!("expected Parked, got {outcome:?}")
    };
    assert_eq!(error.code, codes::NONDETERMINISM);
    assert!(error.message.contains("seq 1"), "{}", error.message);
    assert!(
        error.message.contains(&format!(
            "`{} {{\"input\":\"0\",\"name\":\"increment\",\"options\":{{}}}}`",
            Command::ACTIVITY_START
        )),
        "{}",
        error.message
    );
    assert!(error.message.contains("the code called `now`"), "{}", error.message);
    assert_eq!(
        store.journal(&Key::stored("changed-code")).await.unwrap(),
        before,
        "the journal is unchanged"
    );
    let exec = store.execution(&Key::stored("changed-code")).await.unwrap().unwrap();
    assert_eq!(exec.status, Status::Parked);
    assert!(exec.error.unwrap().contains("CAIRN-E006"));
    assert_eq!(exec.lease_owner, None);
}

#[test]
fn replay_command_flags_a_changed_component_and_passes_an_unchanged_one() {
    let data = data_dir();
    let (chain, inc) = (wasm("chain"), wasm("increment"));
    let out = run(data.path(), &run_args(&chain, &inc, "{\"n\": 4}", &[]));
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
