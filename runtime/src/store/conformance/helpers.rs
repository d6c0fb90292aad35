//! What the conformance checks share: fresh keys, entries, executions and
//! tenants.

use crate::model::{Bindings, Created, Entry, Key, Lease, NewExecution, Quotas, Tenant, now_ms};
use crate::store::Store;

/// A fresh execution key in the `default` tenant.
pub(super) fn id(tag: &str) -> Key {
    Key::stored(format!("{tag}-{}", uuid::Uuid::now_v7()))
}

/// An entry with a small payload that tells its seq.
pub(super) fn entry(seq: u32, kind: &str) -> Entry {
    Entry {
        seq,
        kind: kind.into(),
        payload: format!("{{\"n\":{seq}}}"),
        at_ms: 1_000 + seq as i64,
    }
}

/// A new execution `id` of workflow `wf`, a child of `the-parent`.
pub(super) fn new_execution(id: &Key) -> NewExecution {
    NewExecution {
        id: id.clone(),
        workflow: Key::stored("wf"),
        component: "c0ffee".into(),
        bindings: Bindings::default(),
        input: "{}".into(),
        parent: Some(Key::stored("the-parent")),
        started: entry(0, "started"),
        queue_limit: None,
    }
}

/// Creates a fresh top-level execution leased to `owner`.
pub(super) async fn create(store: &dyn Store, tag: &str, owner: &str, lease_ms: i64) -> Lease {
    let id = id(tag);
    let new = NewExecution {
        parent: None,
        ..new_execution(&id)
    };
    let Created::Leased(lease) = store
        .create_execution(&new, Some(owner), lease_ms)
        .await
        .expect("create")
    else {
        panic!("an owned execution is leased")
    };
    assert_eq!(lease.epoch, 1);
    assert_eq!(lease.execution_id, id);
    lease
}

/// A new tenant with a fresh name, for checks that count per tenant.
pub(super) async fn fresh_tenant(store: &dyn Store, tag: &str) -> String {
    let name = format!("{tag}-{:08x}", rand::random::<u32>());
    let tenant = Tenant {
        name: name.clone(),
        quotas: Quotas::default(),
        created_at_ms: now_ms(),
    };
    assert!(store.create_tenant(&tenant).await.unwrap());
    name
}
