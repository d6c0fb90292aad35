//! Executions, their journals and leases: appends, fencing, claims,
//! renewals, terminal transitions, idempotent creation, inboxes and
//! termination from outside.

use super::helpers::{create, entry, id, new_execution};
use crate::error::codes;
use crate::model::{Bindings, Created, InboxKind, Key, Lease, Status, Transition, now_ms};
use crate::store::Store;
use std::sync::Arc;

pub(super) async fn journal_roundtrip(store: &dyn Store) {
    let lease = create(store, "roundtrip", "node-a", 10_000).await;
    store
        .append(&lease, &[entry(1, "now"), entry(2, "log")], &Transition::Running)
        .await
        .unwrap();
    store
        .append(&lease, &[entry(3, "sleep")], &Transition::Sleeping { wake_at_ms: 42 })
        .await
        .unwrap();
    let journal = store.journal(&lease.execution_id).await.unwrap();
    assert_eq!(journal.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(journal[2], entry(2, "log"));
    let exec = store.execution(&lease.execution_id).await.unwrap().unwrap();
    assert_eq!(exec.status, Status::Sleeping);
    assert_eq!(exec.wake_at_ms, Some(42));
    assert!(store.execution(&Key::stored("no-such-id")).await.unwrap().is_none());
    assert!(store.journal(&Key::stored("no-such-id")).await.unwrap().is_empty());
}

/// A batch commits whole or not at all, status change included.
pub(super) async fn append_is_atomic(store: &dyn Store) {
    let lease = create(store, "atomic", "node-a", 10_000).await;
    store
        .append(&lease, &[entry(1, "now")], &Transition::Running)
        .await
        .unwrap();
    // seq 1 again: the whole batch must fail.
    let err = store
        .append(
            &lease,
            &[entry(2, "random"), entry(1, "dup")],
            &Transition::Completed { output: "1".into() },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::STORE);
    let journal = store.journal(&lease.execution_id).await.unwrap();
    assert_eq!(journal.len(), 2, "nothing of the failed batch is written");
    let exec = store.execution(&lease.execution_id).await.unwrap().unwrap();
    assert_eq!(exec.status, Status::Running);
    assert_eq!(exec.output, None);
}

/// After another node claims an execution, the old lease can write nothing.
pub(super) async fn fencing_rejects_stale_lease(store: &dyn Store) {
    let old = create(store, "fencing", "node-a", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let new = store
        .claim(&old.execution_id, "node-b", 10_000, &[])
        .await
        .unwrap()
        .expect("expired lease is claimable");
    assert_eq!(new.epoch, 2);
    let err = store
        .append(&old, &[entry(1, "now")], &Transition::Running)
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::LEASE_LOST);
    let err = store
        .append(&old, &[], &Transition::Completed { output: "1".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::LEASE_LOST);
    assert_eq!(store.journal(&old.execution_id).await.unwrap().len(), 1);
    store
        .append(&new, &[entry(1, "now")], &Transition::Running)
        .await
        .unwrap();
    assert_eq!(store.journal(&old.execution_id).await.unwrap().len(), 2);
}

/// A live lease cannot be claimed, except from an owner declared dead;
/// finished executions cannot be claimed at all.
pub(super) async fn claim_respects_live_leases(store: &dyn Store) {
    let lease = create(store, "claim", "node-a", 60_000).await;
    assert!(
        store
            .claim(&lease.execution_id, "node-b", 10_000, &[])
            .await
            .unwrap()
            .is_none()
    );
    let stolen = store
        .claim(&lease.execution_id, "node-b", 10_000, &["node-a".into()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stolen.epoch, 2);
    assert!(stolen.recovered, "a lease taken from a dead owner is a recovery");
    store
        .append(&stolen, &[], &Transition::Completed { output: "1".into() })
        .await
        .unwrap();
    assert!(
        store
            .claim(&lease.execution_id, "node-c", 10_000, &["node-b".into()])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim(&Key::stored("no-such-id"), "node-c", 10_000, &[])
            .await
            .unwrap()
            .is_none()
    );
}

/// Renewal keeps a lease from expiring; release frees it at once.
pub(super) async fn renew_and_release(store: &dyn Store) {
    let lease = create(store, "renew", "node-renew", 150).await;
    store
        .renew_leases("node-renew", std::slice::from_ref(&lease.execution_id), 60_000)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        store
            .claim(&lease.execution_id, "node-b", 10_000, &[])
            .await
            .unwrap()
            .is_none(),
        "renewed lease still held"
    );
    store.release(&lease).await.unwrap();
    let next = store
        .claim(&lease.execution_id, "node-b", 10_000, &[])
        .await
        .unwrap()
        .expect("released lease is claimable");
    assert_eq!(next.epoch, 2);
    assert!(!next.recovered, "a lease given up is claimed afresh, not recovered");
    // An expired lease is a recovery, by id and by the runnable claim alike.
    let dead = create(store, "renew-expired", "node-gone", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let recovered = claim_runnable(store, "node-b", &dead.execution_id).await;
    assert!(recovered.recovered, "an expired lease is a recovery");
    store.release(&recovered).await.unwrap();
    let afresh = claim_runnable(store, "node-c", &dead.execution_id).await;
    assert!(!afresh.recovered, "a released lease is claimed afresh");
}

/// The lease on `id` that `owner`'s runnable claim takes (it must take it).
async fn claim_runnable(store: &dyn Store, owner: &str, id: &Key) -> Lease {
    store
        .claim_runnable(owner, 10_000, 1000, &[])
        .await
        .unwrap()
        .into_iter()
        .find(|l| &l.execution_id == id)
        .unwrap_or_else(|| panic!("{owner} claims {}", id.as_str()))
}

/// Terminal transitions release the lease and record output or error.
pub(super) async fn terminal_transitions(store: &dyn Store) {
    let done = create(store, "done", "node-a", 60_000).await;
    store
        .append(
            &done,
            &[entry(1, "completed")],
            &Transition::Completed {
                output: "\"ok\"".into(),
            },
        )
        .await
        .unwrap();
    let e = store.execution(&done.execution_id).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.output.as_deref(), e.lease_owner),
        (Status::Completed, Some("\"ok\""), None)
    );
    let parked = create(store, "parked", "node-a", 60_000).await;
    store
        .append(
            &parked,
            &[],
            &Transition::Parked {
                reason: "{\"code\":\"X\"}".into(),
            },
        )
        .await
        .unwrap();
    let e = store.execution(&parked.execution_id).await.unwrap().unwrap();
    assert_eq!(e.status, Status::Parked);
    assert_eq!(e.error.as_deref(), Some("{\"code\":\"X\"}"));
    assert_eq!(
        store.journal(&parked.execution_id).await.unwrap().len(),
        1,
        "parking writes no entry"
    );
    // Unparked on another component: runnable again, claimable, error gone.
    let bindings = Bindings::default();
    assert!(
        store
            .unpark(&parked.execution_id, Some(("fixed", &bindings)))
            .await
            .unwrap()
    );
    assert!(!store.unpark(&parked.execution_id, None).await.unwrap(), "only once");
    assert!(!store.unpark(&Key::stored("no-such-id"), None).await.unwrap());
    let e = store.execution(&parked.execution_id).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.component.as_str(), e.error),
        (Status::Running, "fixed", None)
    );
    assert!(
        store
            .claim(&parked.execution_id, "node-b", 60_000, &[])
            .await
            .unwrap()
            .is_some()
    );
}

/// Many concurrent appends to many executions all land, in order.
pub(super) async fn concurrent_appends(store: Arc<dyn Store>) {
    let mut leases = Vec::new();
    for _ in 0..8 {
        leases.push(create(&*store, "concurrent", "node-a", 60_000).await);
    }
    let mut tasks = Vec::new();
    for lease in leases.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 1..=25 {
                store
                    .append(&lease, &[entry(seq, "now")], &Transition::Running)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for lease in leases {
        let j = store.journal(&lease.execution_id).await.unwrap();
        assert_eq!(
            j.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (0..=25).collect::<Vec<_>>()
        );
    }
}

/// Starting an id twice creates one execution; the second start reports it.
pub(super) async fn idempotent_enqueue(store: &dyn Store) {
    let id = id("idem");
    let new = new_execution(&id);
    assert_eq!(store.create_execution(&new, None, 0).await.unwrap(), Created::Unclaimed);
    assert_eq!(store.create_execution(&new, None, 0).await.unwrap(), Created::Existed);
    let owned = store.create_execution(&new, Some("node-y"), 1000).await.unwrap();
    assert_eq!(owned, Created::Existed, "an existing id is never leased by creating it");
    let e = store.execution(&id).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.lease_owner, e.lease_epoch, e.parent.as_deref()),
        (Status::Running, None, 0, Some("the-parent"))
    );
    assert_eq!(store.journal(&id).await.unwrap().len(), 1);
    let leases = store.claim_runnable("node-x", 10_000, 1000, &[]).await.unwrap();
    assert!(
        leases
            .iter()
            .any(|l| l.execution_id == id && l.epoch == 1 && !l.recovered),
        "an enqueued execution is claimable"
    );
}

/// Messages queue in order per execution and wake a suspended execution.
pub(super) async fn inbox_orders_messages_and_wakes(store: &dyn Store) {
    let lease = create(store, "inbox", "node-a", 60_000).await;
    let far = now_ms() + 3_600_000;
    store
        .append(&lease, &[], &Transition::Sleeping { wake_at_ms: far })
        .await
        .unwrap();
    store.release(&lease).await.unwrap();
    let quiet = store
        .push_inbox(&lease.execution_id, InboxKind::Signal, "s", "0", false)
        .await
        .unwrap();
    let e = store.execution(&lease.execution_id).await.unwrap().unwrap();
    assert_eq!(
        e.wake_at_ms,
        Some(far),
        "a message pushed without waking leaves the timer"
    );
    let a = store
        .push_inbox(&lease.execution_id, InboxKind::Signal, "s", "1", true)
        .await
        .unwrap();
    let b = store
        .push_inbox(&lease.execution_id, InboxKind::Cancel, "", "2", true)
        .await
        .unwrap();
    assert!(b > a && a > quiet);
    let inbox = store.inbox(&lease.execution_id).await.unwrap();
    assert_eq!(
        inbox.iter().map(|m| m.payload.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert_eq!(inbox[2].kind, InboxKind::Cancel);
    let e = store.execution(&lease.execution_id).await.unwrap().unwrap();
    assert!(e.wake_at_ms.unwrap() < far, "a message wakes a sleeping execution");
    assert!(
        store
            .claim_runnable("node-b", 10_000, 1000, &[])
            .await
            .unwrap()
            .iter()
            .any(|l| l.execution_id == lease.execution_id)
    );
}

/// Ending an execution from outside (terminate) fences out the owner,
/// appends its entry at the next seq, and is not repeated.
pub(super) async fn terminate_fences_the_owner(store: &dyn Store) {
    let lease = create(store, "terminate", "node-a", 60_000).await;
    let from = [Status::Running, Status::Sleeping, Status::Parked];
    let terminate = |id: Key| async move {
        let entry = entry(0, "terminated");
        store
            .end_fenced(&id, &from, &entry, Status::Terminated, "{\"reason\":\"test\"}")
            .await
            .unwrap()
    };
    assert!(terminate(lease.execution_id.clone()).await);
    assert!(!terminate(lease.execution_id.clone()).await);
    assert!(!terminate(Key::stored("no-such-id")).await);
    let err = store
        .append(&lease, &[entry(1, "now")], &Transition::Running)
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::LEASE_LOST);
    let journal = store.journal(&lease.execution_id).await.unwrap();
    assert_eq!(
        journal.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["started", "terminated"]
    );
    assert_eq!(journal[1].seq, 1, "the entry takes the next free seq");
    assert_eq!(
        store.execution(&lease.execution_id).await.unwrap().unwrap().status,
        Status::Terminated
    );
}
