//! The conformance checks of what the store counts per tenant: queued
//! starts, fair claims, journal bytes (part of the suite in `conformance.rs`).

use super::Store;
use super::conformance::{entry, new_execution};
use crate::model::{Created, Quotas, Status, Tenant, Transition, now_ms, tenancy};

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

/// Starts beyond `max_running` are queued (never claimable), and admitted
/// oldest first as running ones end; without a limit all are admitted.
pub(crate) async fn queue_admits_in_start_order(store: &dyn Store) {
    let t = fresh_tenant(store, "queue").await;
    let start = |name: &str, owner: Option<&'static str>| {
        let mut new = new_execution(&tenancy::key(&t, name));
        new.queue_limit = Some(2);
        async move { store.create_execution(&new, owner, 60_000).await.unwrap() }
    };
    let Created::Leased(first) = start("a", Some("node-a")).await else {
        panic!("under the limit: leased")
    };
    assert_eq!(start("b", None).await, Created::Unclaimed);
    assert_eq!(start("c", Some("node-a")).await, Created::Queued, "the third waits");
    assert_eq!(start("d", None).await, Created::Queued);
    assert_eq!(start("c", None).await, Created::Existed, "idempotent on the id");
    let c = tenancy::key(&t, "c");
    assert_eq!(store.execution(&c).await.unwrap().unwrap().status, Status::Queued);
    assert!(
        store.claim(&c, "node-b", 1_000, &[]).await.unwrap().is_none(),
        "queued is not claimable"
    );
    assert!(store.queued_tenants().await.unwrap().contains(&t));
    assert_eq!(store.workflow_names(&t).await.unwrap(), ["wf"], "one name, once");
    let tenant = t.as_str();
    let counts = |at_most| async move {
        let all = store.status_counts(tenant, at_most).await.unwrap();
        assert_eq!(all.len(), Status::ALL.len(), "every status: {all:?}");
        all.into_iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>()
    };
    assert_eq!(
        counts(100).await,
        [("queued".to_owned(), 2), ("running".to_owned(), 2)],
        "counted by status"
    );
    assert_eq!(
        counts(1).await,
        [("queued".to_owned(), 1), ("running".to_owned(), 1)],
        "each count stops at the cap"
    );
    let counts = store.open_counts().await.unwrap();
    let mine: Vec<_> = counts.iter().filter(|(tenant, _, _)| *tenant == t).collect();
    assert_eq!(
        mine,
        [&(t.clone(), "queued".into(), 2), &(t.clone(), "running".into(), 2)],
        "open executions counted per tenant and status"
    );
    assert!(store.admit(&t, Some(2)).await.unwrap().is_empty(), "no room yet");
    let usage = store.tenant_usage(&t).await.unwrap();
    assert_eq!((usage.unfinished_executions, usage.queued_executions), (2, 2));
    let done = Transition::Completed { output: "1".into() };
    store.append(&first, &[entry(1, "completed")], &done).await.unwrap();
    assert_eq!(store.admit(&t, Some(2)).await.unwrap(), vec![c.clone()], "oldest first");
    assert_eq!(store.execution(&c).await.unwrap().unwrap().status, Status::Running);
    assert!(
        store.claim(&c, "node-b", 1_000, &[]).await.unwrap().is_some(),
        "admitted is claimable"
    );
    assert_eq!(
        store.admit(&t, None).await.unwrap(),
        vec![tenancy::key(&t, "d")],
        "no limit: all"
    );
    assert!(!store.queued_tenants().await.unwrap().contains(&t));
    // Without a limit nothing is ever queued.
    let mut free = new_execution(&tenancy::key(&t, "e"));
    free.queue_limit = None;
    assert_eq!(
        store.create_execution(&free, None, 0).await.unwrap(),
        Created::Unclaimed
    );
}

/// Claiming lets tenants take turns: a tenant with executions leased and a
/// backlog waiting does not keep another tenant's new one from the next claim.
pub(crate) async fn claims_take_turns_across_tenants(store: &dyn Store) {
    let (busy, quiet) = (fresh_tenant(store, "busy").await, fresh_tenant(store, "quiet").await);
    for n in 0..4 {
        let new = new_execution(&tenancy::key(&busy, &format!("leased-{n}")));
        assert!(matches!(
            store.create_execution(&new, Some("node-a"), 60_000).await.unwrap(),
            Created::Leased(_)
        ));
    }
    for n in 0..6 {
        let new = new_execution(&tenancy::key(&busy, &format!("backlog-{n}")));
        assert_eq!(store.create_execution(&new, None, 0).await.unwrap(), Created::Unclaimed);
    }
    let newcomer = tenancy::key(&quiet, "new");
    store
        .create_execution(&new_execution(&newcomer), None, 0)
        .await
        .unwrap();
    // One at a time (a node with one free slot), until the newcomer is claimed.
    let mut busy_claimed = 0;
    loop {
        let claimed = store.claim_runnable("node-b", 60_000, 1).await.unwrap();
        let lease = claimed.first().expect("something is runnable");
        if lease.execution_id == newcomer {
            break;
        }
        if tenancy::tenant_of(&lease.execution_id) == busy {
            busy_claimed += 1;
        }
    }
    assert_eq!(busy_claimed, 0, "the busy tenant's backlog waits for the newcomer");
    let rest = store.claim_runnable("node-b", 60_000, 100).await.unwrap();
    let of_busy = rest.iter().filter(|l| tenancy::tenant_of(&l.execution_id) == busy);
    assert_eq!(of_busy.count(), 6, "and is claimed after it");
}

/// Every journal entry written counts in its tenant's journal bytes: the
/// `started` entry, appends, and an end forced from outside.
pub(crate) async fn journal_bytes_are_counted(store: &dyn Store) {
    let t = fresh_tenant(store, "bytes").await;
    assert_eq!(store.journal_bytes(&t).await.unwrap(), 0);
    let new = new_execution(&tenancy::key(&t, "a"));
    let Created::Leased(lease) = store.create_execution(&new, Some("node-a"), 60_000).await.unwrap() else {
        panic!("leased")
    };
    let mut expect = new.started.payload.len() as i64;
    assert_eq!(store.journal_bytes(&t).await.unwrap(), expect, "the started entry");
    let entries = [entry(1, "now"), entry(2, "log")];
    store.append(&lease, &entries, &Transition::Running).await.unwrap();
    expect += entries.iter().map(|e| e.payload.len() as i64).sum::<i64>();
    assert_eq!(store.journal_bytes(&t).await.unwrap(), expect, "appends");
    let end = entry(0, "terminated");
    assert!(
        store
            .end_fenced(&lease.execution_id, &[Status::Running], &end, Status::Terminated, "{}")
            .await
            .unwrap()
    );
    expect += end.payload.len() as i64;
    assert_eq!(store.journal_bytes(&t).await.unwrap(), expect, "an end from outside");
    assert_eq!(store.tenant_usage(&t).await.unwrap().journal_bytes, expect);
}

/// A heartbeat counts the live nodes, the one beating included.
pub(crate) async fn heartbeats_count_live_nodes(store: &dyn Store) {
    let (a, b) = (
        format!("node-{}", uuid::Uuid::now_v7()),
        format!("node-{}", uuid::Uuid::now_v7()),
    );
    let alone = store.heartbeat(&a, now_ms()).await.unwrap();
    assert!(alone >= 1);
    let both = store.heartbeat(&b, now_ms()).await.unwrap();
    assert!(both >= 2, "{both} live after two heartbeats");
}

/// A tenant's page in one status (its own statement and index) keeps the
/// order, the cursor and the other filters of the general one.
pub(crate) async fn list_one_status_in_tenant(store: &dyn Store) {
    use crate::model::ListFilter;
    let t = fresh_tenant(store, "pages").await;
    let mut failed = Vec::new();
    for i in 0..5 {
        let mut new = new_execution(&tenancy::key(&t, &format!("e{i}")));
        new.workflow = if i == 4 { "other".into() } else { "wf".into() };
        let Created::Leased(lease) = store.create_execution(&new, Some("node-a"), 60_000).await.unwrap() else {
            panic!("leased")
        };
        if i % 2 == 0 {
            let end = Transition::Failed { error: "{}".into() };
            store.append(&lease, &[], &end).await.unwrap();
            failed.push(lease.execution_id);
        }
    }
    failed.reverse();
    let page = |statuses: Vec<Status>, limit: u32, after: Option<(i64, String)>| ListFilter {
        statuses,
        limit: Some(limit),
        after,
        tenant: Some(t.clone()),
        ..Default::default()
    };
    let ids = |list: &[crate::model::Execution]| list.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    let first = store.list(&page(vec![Status::Failed], 2, None)).await.unwrap();
    assert_eq!(ids(&first), failed[..2], "newest first, within the limit");
    let last = first.last().map(|e| (e.created_at_ms, e.id.clone()));
    let next = store.list(&page(vec![Status::Failed], 2, last)).await.unwrap();
    assert_eq!(ids(&next), failed[2..], "the cursor goes on after the page");
    let none = store.list(&page(vec![Status::Parked], 10, None)).await.unwrap();
    assert!(none.is_empty(), "no row in that status");
    let mut of_wf = page(vec![Status::Failed], 10, None);
    of_wf.workflow = Some("wf".into());
    assert_eq!(
        store.list(&of_wf).await.unwrap().len(),
        2,
        "the workflow filter still applies"
    );
    let both = store
        .list(&page(vec![Status::Failed, Status::Running], 10, None))
        .await
        .unwrap();
    assert_eq!(both.len(), 5, "several statuses");
}
