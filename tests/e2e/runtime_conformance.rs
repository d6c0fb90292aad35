//! Runtime behavior that depends on the store — timers, activity retries,
//! idempotency keys, fencing of racing nodes — as the same test functions
//! run against both backends.

use crate::common::*;
use cairn::journal::{Event, Lifecycle};
use cairn::model::{Bindings, Key, Status};
use cairn::node::{Node, NodeConfig, Outcome, StoreConfig};
use cairn::testing::RawStore;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

struct Env {
    first: Arc<Node>,
    store: RawStore,
    dir: tempfile::TempDir,
    digests: HashMap<&'static str, String>,
}

impl Env {
    async fn new(store: StoreConfig) -> Env {
        let dir = data_dir();
        let first = Node::open(&store, node_config(dir.path())).await.unwrap();
        let workflows = ["chain", "saga", "sleeper", "http-steps", "relaxed-simd"];
        let digests = upload(&first, &workflows, &["increment", "payments", "http-fetch"]).await;
        Env {
            store: first.raw_store(),
            first,
            dir,
            digests,
        }
    }

    /// A runtime node of its own (own engine, own node id) on the shared store.
    fn node(&self, lease: Duration) -> Arc<Node> {
        self.first.sibling(NodeConfig {
            lease,
            evict_after: Duration::from_millis(300),
            ..node_config(self.dir.path())
        })
    }

    fn bindings(&self, activity: &str, allow: Option<String>) -> Bindings {
        let mut http_allow = BTreeMap::new();
        if let Some(host) = allow {
            http_allow.insert("*".to_owned(), vec![host]);
        }
        Bindings {
            activities: vec![self.digests[activity].clone()],
            http_allow,
        }
    }
}

async fn kinds_of(store: &RawStore, id: &Key) -> Vec<String> {
    store.journal(id).await.unwrap().into_iter().map(|e| e.kind).collect()
}

/// A long sleep is committed, evicts the instance, and wakes by replay.
async fn timers(store: StoreConfig) {
    let env = Env::new(store).await;
    let rt = env.node(Duration::from_secs(5));
    let lease = rt
        .start_here(
            "sleeper",
            &env.digests["sleeper"],
            &Bindings::default(),
            "{\"ms\": 700}",
        )
        .await
        .unwrap();
    let id = lease.execution_id.clone();
    let Outcome::Sleeping(wake_at) = rt.drive(lease).await.unwrap() else {
        panic!("expected a long sleep to evict")
    };
    let exec = env.store.execution(&id).await.unwrap().unwrap();
    assert_eq!(
        (exec.status, exec.wake_at_ms, exec.lease_owner),
        (Status::Sleeping, Some(wake_at), None)
    );
    // Not claimable as runnable before it is due.
    assert!(
        env.store
            .claim_runnable("someone", 5_000, 10)
            .await
            .unwrap()
            .iter()
            .all(|l| l.execution_id != id)
    );
    tokio::time::sleep(Duration::from_millis(
        (wake_at - cairn::model::now_ms()).max(0) as u64 + 20,
    ))
    .await;
    let lease = env
        .store
        .claim_runnable(rt.id(), 5_000, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.execution_id == id);
    let Outcome::Completed(out) = rt.drive(lease.expect("due execution is claimable")).await.unwrap() else {
        panic!()
    };
    assert!(out.parse::<u64>().unwrap() >= 700);
    assert_eq!(
        kinds_of(&env.store, &id).await,
        ["started", "now", "log", "sleep", "timer.fired", "now", "completed"]
    );
}

/// Retries follow the policy and are journaled once, with their attempt count.
async fn activity_retries(store: StoreConfig) {
    let env = Env::new(store).await;
    let rt = env.node(Duration::from_secs(5));
    let order = r#"{"order_id": "r-1", "item": "lamp", "quantity": 1, "amount_cents": 10}"#;
    let lease = rt
        .start_here("saga", &env.digests["saga"], &env.bindings("payments", None), order)
        .await
        .unwrap();
    let id = lease.execution_id.clone();
    let Outcome::Completed(out) = rt.run_to_end(lease).await.unwrap() else {
        panic!()
    };
    let journal = env.store.journal(&id).await.unwrap();
    let done: Vec<serde_json::Value> = journal
        .iter()
        .filter(|e| e.kind == Event::ACTIVITY_DONE)
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    let attempts: Vec<u64> = done.iter().map(|d| d["data"]["attempts"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [1, 2, 1], "reserve once, charge retried once, ship once");
    // The charge's idempotency key names the call (execution/seq), not the attempt.
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        out["payment"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{}/4", id.as_str())),
        "{out}"
    );
}

/// Two nodes race for one execution: the one that lost its lease can no
/// longer write; the winner finishes; the journal holds one completion.
async fn racing_nodes_are_fenced(store: StoreConfig) {
    let env = Env::new(store).await;
    let server = TestServer::start(400, 0);
    let (a, b) = (env.node(Duration::from_secs(30)), env.node(Duration::from_secs(30)));
    let input = serde_json::json!({ "url": server.url(), "n": 3 }).to_string();
    let allow = Some(format!("127.0.0.1:{}", server.port));
    let lease = a
        .start_here(
            "http-steps",
            &env.digests["http-steps"],
            &env.bindings("http-fetch", allow),
            &input,
        )
        .await
        .unwrap();
    let id = lease.execution_id.clone();
    let a_run = tokio::spawn({
        let a = a.clone();
        async move { a.run_to_end(lease).await }
    });
    // While A waits for step 0, B decides A is dead and takes the execution.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "A never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b_lease = env
        .store
        .claim(&id, b.id(), 30_000, &[a.id().to_owned()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_lease.epoch, 2);
    let b_out = b.run_to_end(b_lease).await.unwrap();
    let a_out = a_run.await.unwrap().unwrap();
    assert!(
        matches!(a_out, Outcome::LeaseLost),
        "the loser is fenced off: {a_out:?}"
    );
    let Outcome::Completed(out) = b_out else {
        panic!("B completes: {b_out:?}")
    };
    assert_eq!(out, r#"["ok:step=0","ok:step=1","ok:step=2"]"#);
    let journal = env.store.journal(&id).await.unwrap();
    assert_eq!(journal.iter().filter(|e| e.kind == Lifecycle::COMPLETED).count(), 1);
    assert_eq!(
        journal.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..journal.len() as u32).collect::<Vec<_>>()
    );
    // Step 0 ran on both nodes with the same idempotency key; the others once.
    let step0: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|s| s.target.ends_with("step=0"))
        .collect();
    assert_eq!(step0.len(), 2);
    assert_eq!(step0[0].key, step0[1].key);
    assert_eq!(step0[0].key.as_deref(), Some(format!("{}/1", id.as_str()).as_str()));
    assert_eq!(server.count("step=1"), 1);
    assert_eq!(server.count("step=2"), 1);
}

/// Relaxed-SIMD instructions give the proposal's deterministic results
/// (those of their non-relaxed counterparts) on every node, whatever the
/// CPU would do natively: NaN truncates to 0 and out of range saturates
/// (x86's `cvttps2dq` gives `i32::MIN`), a lane mask selects bit by bit
/// (`blendv` looks at the top bit only), the Q15 product saturates, the
/// dot product reads both operands as signed.
async fn relaxed_simd_is_deterministic(store: StoreConfig) {
    let env = Env::new(store).await;
    let rt = env.node(Duration::from_secs(5));
    let digest = &env.digests["relaxed-simd"];
    let lease = rt
        .start_here("relaxed-simd", digest, &Bindings::default(), "{}")
        .await
        .unwrap();
    let Outcome::Completed(out) = rt.run_to_end(lease).await.unwrap() else {
        panic!("the workflow completes")
    };
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bits = |f: f32| serde_json::json!(f.to_bits());
    let nan = bits(f32::NAN);
    let (one, big, small, x) = (bits(1.0), bits(3.0e9), bits(-3.0e9), bits(1.5));
    assert_eq!(
        out["trunc"],
        serde_json::json!([0, i32::MAX as u32, i32::MIN as u32, 1]),
        "{out}"
    );
    assert_eq!(out["min"], serde_json::json!([nan, one, small, one]), "{out}");
    assert_eq!(out["max"], serde_json::json!([nan, big, one, x]), "{out}");
    let (a, b) = (0x1111_1111u32, 0x2222_2222u32);
    assert_eq!(out["laneselect"], serde_json::json!([a, b, a, b]), "{out}");
    let (sat, dot) = ([i16::MAX as u16; 4], [-256i16 as u16; 4]);
    assert_eq!(out["q15mulr"], serde_json::json!(sat), "{out}");
    assert_eq!(out["dot"], serde_json::json!(dot), "{out}");
}

fn sqlite() -> (StoreConfig, tempfile::TempDir) {
    let dir = data_dir();
    (sqlite_at(dir.path()), dir)
}

fn postgres() -> (StoreConfig, PgDb) {
    let db = PgDb::new();
    (postgres_at(&db.url), db)
}

macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _guard) = super::sqlite();
                    super::$name(store).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _guard) = super::postgres();
                    super::$name(store).await;
                }
            )+
        }
    };
}

on_both_backends!(
    timers,
    activity_retries,
    racing_nodes_are_fenced,
    relaxed_simd_is_deterministic
);
