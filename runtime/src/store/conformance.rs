//! The store conformance suite: the same checks, run against every backend
//! (see `tests/e2e/store.rs`). Each check uses fresh execution ids, so one
//! store can run them all.

use super::{Store, conformance_tenants};
use crate::error::codes;
use crate::model::{
    AuditRecord, Bindings, Created, Entry, InboxKind, Lease, ListFilter, NewExecution, Quotas, Role, Schedule, Status,
    Tenant, Token, Transition, now_ms, tenancy,
};
use std::sync::Arc;

fn id(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::now_v7())
}

pub(super) fn entry(seq: u32, kind: &str) -> Entry {
    Entry {
        seq,
        kind: kind.into(),
        payload: format!("{{\"n\":{seq}}}"),
        at_ms: 1_000 + seq as i64,
    }
}

async fn create(store: &dyn Store, tag: &str, owner: &str, lease_ms: i64) -> Lease {
    let id = id(tag);
    let new = NewExecution {
        id: id.clone(),
        workflow: "wf".into(),
        component: "c0ffee".into(),
        bindings: Bindings::default(),
        input: "{}".into(),
        parent: None,
        started: entry(0, "started"),
        queue_limit: None,
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

/// Entries come back in order with their payloads; status follows transitions.
pub(crate) async fn journal_roundtrip(store: &dyn Store) {
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
    assert!(store.execution("no-such-id").await.unwrap().is_none());
    assert!(store.journal("no-such-id").await.unwrap().is_empty());
}

/// A batch commits whole or not at all, status change included.
pub(crate) async fn append_is_atomic(store: &dyn Store) {
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
pub(crate) async fn fencing_rejects_stale_lease(store: &dyn Store) {
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
pub(crate) async fn claim_respects_live_leases(store: &dyn Store) {
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
            .claim("no-such-id", "node-c", 10_000, &[])
            .await
            .unwrap()
            .is_none()
    );
}

/// Renewal keeps a lease from expiring; release frees it at once.
pub(crate) async fn renew_and_release(store: &dyn Store) {
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
}

/// Terminal transitions release the lease and record output or error.
pub(crate) async fn terminal_transitions(store: &dyn Store) {
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
    assert!(!store.unpark("no-such-id", None).await.unwrap());
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

/// Listing filters by status and is newest first.
pub(crate) async fn list_filters(store: &dyn Store) {
    let a = create(store, "list", "node-a", 60_000).await;
    let b = create(store, "list", "node-a", 60_000).await;
    store
        .append(&b, &[], &Transition::Failed { error: "{}".into() })
        .await
        .unwrap();
    let failed = store
        .list(&ListFilter {
            statuses: vec![Status::Failed],
            limit: None,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failed.iter().any(|e| e.id == b.execution_id));
    assert!(failed.iter().all(|e| e.status == Status::Failed));
    let all = store.list(&ListFilter::default()).await.unwrap();
    let pos = |id: &str| all.iter().position(|e| e.id == id).unwrap();
    assert!(pos(&b.execution_id) < pos(&a.execution_id), "newest first");
    assert_eq!(
        store
            .list(&ListFilter {
                statuses: vec![],
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Components are content-addressed and stored once.
pub(crate) async fn components_roundtrip(store: &dyn Store) {
    let digest = id("digest");
    store.put_component(&digest, b"\0asm-bytes").await.unwrap();
    store.put_component(&digest, b"\0asm-bytes").await.unwrap();
    assert_eq!(
        store.component(&digest).await.unwrap().as_deref(),
        Some(&b"\0asm-bytes"[..])
    );
    assert!(store.component("missing").await.unwrap().is_none());
}

/// Many concurrent appends to many executions all land, in order.
pub(crate) async fn concurrent_appends(store: Arc<dyn Store>) {
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

pub(super) fn new_execution(id: &str) -> NewExecution {
    NewExecution {
        id: id.to_owned(),
        workflow: "wf".into(),
        component: "c0ffee".into(),
        bindings: Bindings::default(),
        input: "{}".into(),
        parent: Some("the-parent".into()),
        started: entry(0, "started"),
        queue_limit: None,
    }
}

/// Starting an id twice creates one execution; the second start reports it.
pub(crate) async fn idempotent_enqueue(store: &dyn Store) {
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
    let leases = store.claim_runnable("node-x", 10_000, 1000).await.unwrap();
    assert!(
        leases.iter().any(|l| l.execution_id == id && l.epoch == 1),
        "an enqueued execution is claimable"
    );
}

/// Deployments get increasing versions per name; lookups by version or latest.
pub(crate) async fn deployments_are_versioned(store: &dyn Store) {
    let name = id("dep");
    let v1 = store
        .put_deployment(&name, "digest-1", &Bindings::default())
        .await
        .unwrap();
    let v2 = store
        .put_deployment(&name, "digest-2", &Bindings::default())
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(
        store.deployment(&name, None).await.unwrap().unwrap().component,
        "digest-2"
    );
    assert_eq!(
        store.deployment(&name, Some(1)).await.unwrap().unwrap().component,
        "digest-1"
    );
    assert!(store.deployment(&name, Some(3)).await.unwrap().is_none());
    assert!(store.deployment("no-such-deployment", None).await.unwrap().is_none());
    assert!(
        store
            .deployments("default")
            .await
            .unwrap()
            .iter()
            .filter(|d| d.name == name)
            .count()
            == 2
    );
}

/// Messages queue in order per execution and wake a suspended execution.
pub(crate) async fn inbox_orders_messages_and_wakes(store: &dyn Store) {
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
            .claim_runnable("node-b", 10_000, 1000)
            .await
            .unwrap()
            .iter()
            .any(|l| l.execution_id == lease.execution_id)
    );
}

/// Ending an execution from outside (terminate) fences out the owner,
/// appends its entry at the next seq, and is not repeated.
pub(crate) async fn terminate_fences_the_owner(store: &dyn Store) {
    let lease = create(store, "terminate", "node-a", 60_000).await;
    let from = [Status::Running, Status::Sleeping, Status::Parked];
    let terminate = |id: String| async move {
        let entry = entry(0, "terminated");
        store
            .end_fenced(&id, &from, &entry, Status::Terminated, "{\"reason\":\"test\"}")
            .await
            .unwrap()
    };
    assert!(terminate(lease.execution_id.clone()).await);
    assert!(!terminate(lease.execution_id.clone()).await);
    assert!(!terminate("no-such-id".into()).await);
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

/// A schedule's firing is a compare-and-set: one winner per firing.
pub(crate) async fn schedules_fire_once(store: &dyn Store) {
    let s = Schedule {
        id: id("sched"),
        cron: "* * * * * *".into(),
        workflow: "wf".into(),
        input: "{}".into(),
        next_fire_at_ms: 1000,
    };
    store.put_schedule(&s).await.unwrap();
    assert!(store.schedules(None).await.unwrap().iter().any(|x| x.id == s.id));
    assert!(store.advance_schedule(&s.id, 1000, 2000).await.unwrap());
    assert!(
        !store.advance_schedule(&s.id, 1000, 2000).await.unwrap(),
        "the second node loses"
    );
    assert!(store.delete_schedule(&s.id).await.unwrap());
    assert!(!store.delete_schedule(&s.id).await.unwrap());
}

/// Listing pages through results with a cursor and filters by workflow and time.
pub(crate) async fn list_pages_and_filters(store: &dyn Store) {
    let workflow = id("paged");
    let before = now_ms();
    for i in 0..5 {
        let mut new = new_execution(&format!("{workflow}-{i}"));
        new.workflow = workflow.clone();
        store.create_execution(&new, None, 0).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let filter = |after: Option<(i64, String)>| ListFilter {
        limit: Some(2),
        workflow: Some(workflow.clone()),
        after,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list(&filter(after.clone())).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|e| (e.created_at_ms, e.id.clone()));
        seen.extend(page.into_iter().map(|e| e.id));
    }
    let expected: Vec<String> = (0..5).rev().map(|i| format!("{workflow}-{i}")).collect();
    assert_eq!(seen, expected, "newest first, every execution once");
    let none = ListFilter {
        workflow: Some(workflow.clone()),
        created_to_ms: Some(before),
        ..Default::default()
    };
    assert!(store.list(&none).await.unwrap().is_empty());
    let all = ListFilter {
        workflow: Some(workflow),
        created_from_ms: Some(before),
        ..Default::default()
    };
    assert_eq!(store.list(&all).await.unwrap().len(), 5);
}

/// A tenant's keys, lists, usage and deletion reach only its own rows.
pub(crate) async fn tenants_own_their_data(store: &dyn Store) {
    let (a, b) = (id("ta").to_lowercase(), id("tb").to_lowercase());
    for name in [&a, &b] {
        let t = Tenant {
            name: name.clone(),
            quotas: Quotas {
                max_components: Some(3),
                ..Quotas::default()
            },
            created_at_ms: now_ms(),
        };
        assert!(store.create_tenant(&t).await.unwrap());
        assert!(!store.create_tenant(&t).await.unwrap(), "names are unique");
    }
    assert_eq!(store.tenant(&a).await.unwrap().unwrap().quotas.max_components, Some(3));
    assert!(store.update_tenant(&a, &Quotas::default()).await.unwrap());
    assert_eq!(store.tenant(&a).await.unwrap().unwrap().quotas, Quotas::default());
    assert!(
        store
            .tenants()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == tenancy::DEFAULT_TENANT)
    );
    // The same names in both tenants are different rows.
    for (tenant, component) in [(&a, "digest-a"), (&b, "digest-b")] {
        let mut new = new_execution(&tenancy::key(tenant, "order-7"));
        new.workflow = tenancy::key(tenant, "orders");
        assert!(store.create_execution(&new, None, 0).await.unwrap().is_new());
        store
            .put_deployment(&tenancy::key(tenant, "orders"), component, &Bindings::default())
            .await
            .unwrap();
        store.put_component(component, b"bytes").await.unwrap();
        store.own_component(tenant, component, 5).await.unwrap();
        let s = Schedule {
            id: tenancy::key(tenant, "nightly"),
            cron: "0 0 3 * * *".into(),
            workflow: tenancy::key(tenant, "orders"),
            input: "{}".into(),
            next_fire_at_ms: i64::MAX,
        };
        store.put_schedule(&s).await.unwrap();
    }
    let listed = store
        .list(&ListFilter {
            tenant: Some(a.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [tenancy::key(&a, "order-7")]
    );
    assert_eq!(store.deployments(&a).await.unwrap().len(), 1);
    assert_eq!(store.schedules(Some(&b)).await.unwrap().len(), 1);
    assert!(store.owns_component(&a, "digest-a").await.unwrap());
    assert!(!store.owns_component(&a, "digest-b").await.unwrap());
    let usage = store.tenant_usage(&a).await.unwrap();
    assert_eq!(
        (usage.unfinished_executions, usage.components, usage.component_bytes),
        (1, 1, 5)
    );
    // Deleting A removes its rows (and component bytes no one else holds), never B's.
    assert!(store.delete_tenant(&a).await.unwrap());
    assert!(!store.delete_tenant(&a).await.unwrap());
    assert!(store.tenant(&a).await.unwrap().is_none());
    assert!(store.execution(&tenancy::key(&a, "order-7")).await.unwrap().is_none());
    assert!(store.journal(&tenancy::key(&a, "order-7")).await.unwrap().is_empty());
    assert!(store.component("digest-a").await.unwrap().is_none());
    assert!(store.deployments(&a).await.unwrap().is_empty());
    assert!(store.execution(&tenancy::key(&b, "order-7")).await.unwrap().is_some());
    assert!(store.component("digest-b").await.unwrap().is_some());
    assert_eq!(store.schedules(Some(&b)).await.unwrap().len(), 1);
    assert!(store.delete_tenant(&b).await.unwrap());
}

/// Tokens keep their hash, revoke once; audit records come back newest first.
pub(crate) async fn tokens_and_audit(store: &dyn Store) {
    let tenant = id("tt").to_lowercase();
    let token = Token {
        id: id("tok"),
        tenant: tenant.clone(),
        role: Role::Operate,
        hash: "ab".repeat(32),
        created_at_ms: now_ms(),
        expires_at_ms: Some(now_ms() + 60_000),
        revoked_at_ms: None,
    };
    store.put_token(&token).await.unwrap();
    assert_eq!(store.token(&token.id).await.unwrap().as_ref(), Some(&token));
    assert_eq!(store.tokens(Some(&tenant)).await.unwrap(), std::slice::from_ref(&token));
    assert!(store.revoke_token(&token.id, 5).await.unwrap());
    assert!(!store.revoke_token(&token.id, 6).await.unwrap(), "revoked once");
    assert_eq!(store.token(&token.id).await.unwrap().unwrap().revoked_at_ms, Some(5));
    for action in ["deploy", "cancel"] {
        let record = AuditRecord {
            id: 0,
            at_ms: 0,
            token: token.id.clone(),
            tenant: tenant.clone(),
            action: action.into(),
            target: "x".into(),
        };
        store.record_audit(&record).await.unwrap();
    }
    let trail = store.audit(Some(&tenant), 10).await.unwrap();
    assert_eq!(
        trail.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
        ["cancel", "deploy"]
    );
    assert_eq!(store.audit(Some(&tenant), 1).await.unwrap().len(), 1);
}

/// Runs the whole suite against one store.
pub(crate) async fn run_all(store: Arc<dyn Store>) {
    journal_roundtrip(&*store).await;
    append_is_atomic(&*store).await;
    fencing_rejects_stale_lease(&*store).await;
    claim_respects_live_leases(&*store).await;
    renew_and_release(&*store).await;
    terminal_transitions(&*store).await;
    list_filters(&*store).await;
    components_roundtrip(&*store).await;
    idempotent_enqueue(&*store).await;
    deployments_are_versioned(&*store).await;
    inbox_orders_messages_and_wakes(&*store).await;
    terminate_fences_the_owner(&*store).await;
    schedules_fire_once(&*store).await;
    list_pages_and_filters(&*store).await;
    tenants_own_their_data(&*store).await;
    tokens_and_audit(&*store).await;
    conformance_tenants::queue_admits_in_start_order(&*store).await;
    conformance_tenants::list_one_status_in_tenant(&*store).await;
    conformance_tenants::claims_take_turns_across_tenants(&*store).await;
    conformance_tenants::journal_bytes_are_counted(&*store).await;
    conformance_tenants::heartbeats_count_live_nodes(&*store).await;
    concurrent_appends(store).await;
}
