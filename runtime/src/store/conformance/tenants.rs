//! Tenants: their data stays theirs; tokens and the audit trail; what the
//! store counts per tenant (queued starts, fair claims, journal bytes,
//! live nodes, pages in one status).

use super::helpers::{entry, fresh_tenant, id, new_execution};
use crate::model::{
    AuditRecord, Bindings, Created, Key, ListFilter, Quotas, Role, Schedule, Status, Tenant, Token, Transition, now_ms,
    tenancy,
};
use crate::store::Store;

/// A tenant's keys, lists, usage and deletion reach only its own rows.
pub(super) async fn tenants_own_their_data(store: &dyn Store) {
    let (a, b) = (
        id("ta").into_string().to_lowercase(),
        id("tb").into_string().to_lowercase(),
    );
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
        let mut new = new_execution(&Key::new(tenant, "order-7"));
        new.workflow = Key::new(tenant, "orders");
        assert!(store.create_execution(&new, None, 0).await.unwrap().is_new());
        store
            .put_deployment(&Key::new(tenant, "orders"), component, &Bindings::default())
            .await
            .unwrap();
        store.put_component(component, b"bytes").await.unwrap();
        store.own_component(tenant, component, 5).await.unwrap();
        let s = Schedule {
            id: Key::new(tenant, "nightly").into_string(),
            cron: "0 0 3 * * *".into(),
            workflow: Key::new(tenant, "orders").into_string(),
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
        [Key::new(&a, "order-7").as_str()]
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
    assert!(store.execution(&Key::new(&a, "order-7")).await.unwrap().is_none());
    assert!(store.journal(&Key::new(&a, "order-7")).await.unwrap().is_empty());
    assert!(store.component("digest-a").await.unwrap().is_none());
    assert!(store.deployments(&a).await.unwrap().is_empty());
    assert!(store.execution(&Key::new(&b, "order-7")).await.unwrap().is_some());
    assert!(store.component("digest-b").await.unwrap().is_some());
    assert_eq!(store.schedules(Some(&b)).await.unwrap().len(), 1);
    assert!(store.delete_tenant(&b).await.unwrap());
}

/// Tokens keep their hash, revoke once, confirm once (a revoked one never);
/// audit records come back newest first.
pub(super) async fn tokens_and_audit(store: &dyn Store) {
    let tenant = id("tt").into_string().to_lowercase();
    let unconfirmed = Token {
        id: id("tok").into_string(),
        tenant: tenant.clone(),
        role: Role::Operate,
        hash: "ab".repeat(32),
        created_at_ms: now_ms(),
        expires_at_ms: Some(now_ms() + 60_000),
        revoked_at_ms: None,
        confirmed_at_ms: None,
        session_of: Some("parent".into()),
    };
    store.put_token(&unconfirmed).await.unwrap();
    assert_eq!(store.token(&unconfirmed.id).await.unwrap().as_ref(), Some(&unconfirmed));
    assert!(store.confirm_token(&unconfirmed.id, 7).await.unwrap());
    assert!(
        !store.confirm_token(&unconfirmed.id, 8).await.unwrap(),
        "confirmed once"
    );
    let token = store.token(&unconfirmed.id).await.unwrap().unwrap();
    assert_eq!(token.confirmed_at_ms, Some(7));
    assert!(
        store.has_live_tokens(now_ms()).await.unwrap(),
        "a confirmed token works"
    );
    assert!(!store.confirm_token("no-such-token", 8).await.unwrap());
    assert_eq!(store.token(&token.id).await.unwrap().as_ref(), Some(&token));
    assert_eq!(store.tokens(Some(&tenant)).await.unwrap(), std::slice::from_ref(&token));
    assert!(store.revoke_token(&token.id, 5).await.unwrap());
    assert!(!store.revoke_token(&token.id, 6).await.unwrap(), "revoked once");
    assert_eq!(store.token(&token.id).await.unwrap().unwrap().revoked_at_ms, Some(5));
    let revoked = Token {
        id: id("tok").into_string(),
        confirmed_at_ms: None,
        ..token.clone()
    };
    store.put_token(&revoked).await.unwrap();
    assert!(store.revoke_token(&revoked.id, 9).await.unwrap());
    assert!(
        !store.confirm_token(&revoked.id, 10).await.unwrap(),
        "a revoked token stays unconfirmed"
    );
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

/// Starts beyond `max_running` are queued (never claimable), and admitted
/// oldest first as running ones end; without a limit all are admitted.
pub(super) async fn queue_admits_in_start_order(store: &dyn Store) {
    let t = fresh_tenant(store, "queue").await;
    let start = |name: &str, owner: Option<&'static str>| {
        let mut new = new_execution(&Key::new(&t, name));
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
    let c = Key::new(&t, "c");
    assert_eq!(store.execution(&c).await.unwrap().unwrap().status, Status::Queued);
    assert!(
        store.claim(&c, "node-b", 1_000, &[]).await.unwrap().is_none(),
        "queued is not claimable"
    );
    assert!(store.queued_tenants().await.unwrap().contains(&t));
    assert_eq!(
        store.workflow_names(&t).await.unwrap(),
        [Key::stored("wf")],
        "one name, once"
    );
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
        vec![Key::new(&t, "d")],
        "no limit: all"
    );
    assert!(!store.queued_tenants().await.unwrap().contains(&t));
    // Without a limit nothing is ever queued.
    let mut free = new_execution(&Key::new(&t, "e"));
    free.queue_limit = None;
    assert_eq!(
        store.create_execution(&free, None, 0).await.unwrap(),
        Created::Unclaimed
    );
}

/// Claiming lets tenants take turns: a tenant with executions leased and a
/// backlog waiting does not keep another tenant's new one from the next claim.
pub(super) async fn claims_take_turns_across_tenants(store: &dyn Store) {
    let (busy, quiet) = (fresh_tenant(store, "busy").await, fresh_tenant(store, "quiet").await);
    for n in 0..4 {
        let new = new_execution(&Key::new(&busy, &format!("leased-{n}")));
        assert!(matches!(
            store.create_execution(&new, Some("node-a"), 60_000).await.unwrap(),
            Created::Leased(_)
        ));
    }
    for n in 0..6 {
        let new = new_execution(&Key::new(&busy, &format!("backlog-{n}")));
        assert_eq!(store.create_execution(&new, None, 0).await.unwrap(), Created::Unclaimed);
    }
    let newcomer = Key::new(&quiet, "new");
    store
        .create_execution(&new_execution(&newcomer), None, 0)
        .await
        .unwrap();
    // One at a time (a node with one free slot), until the newcomer is claimed.
    let mut busy_claimed = 0;
    loop {
        let claimed = store.claim_runnable("node-b", 60_000, 1, &[]).await.unwrap();
        let lease = claimed.first().expect("something is runnable");
        if lease.execution_id == newcomer {
            break;
        }
        if lease.execution_id.tenant() == busy {
            busy_claimed += 1;
        }
    }
    assert_eq!(busy_claimed, 0, "the busy tenant's backlog waits for the newcomer");
    let rest = store.claim_runnable("node-b", 60_000, 100, &[]).await.unwrap();
    let of_busy = rest.iter().filter(|l| l.execution_id.tenant() == busy);
    assert_eq!(of_busy.count(), 6, "and is claimed after it");
    // A tenant holding its share of a node's slots is skipped.
    let held_back = Key::new(&quiet, "held-back");
    store
        .create_execution(&new_execution(&held_back), None, 0)
        .await
        .unwrap();
    let skipping = store
        .claim_runnable("node-b", 60_000, 100, std::slice::from_ref(&quiet))
        .await
        .unwrap();
    assert!(
        skipping.iter().all(|l| l.execution_id.tenant() != quiet),
        "{skipping:?}"
    );
    let claimed = store.claim_runnable("node-b", 60_000, 100, &[]).await.unwrap();
    assert!(claimed.iter().any(|l| l.execution_id == held_back));
}

/// Every journal entry written counts in its tenant's journal bytes: the
/// `started` entry, appends, and an end forced from outside.
pub(super) async fn journal_bytes_are_counted(store: &dyn Store) {
    let t = fresh_tenant(store, "bytes").await;
    assert_eq!(store.journal_bytes(&t).await.unwrap(), 0);
    let new = new_execution(&Key::new(&t, "a"));
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
pub(super) async fn heartbeats_count_live_nodes(store: &dyn Store) {
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
pub(super) async fn list_one_status_in_tenant(store: &dyn Store) {
    let t = fresh_tenant(store, "pages").await;
    let mut failed = Vec::new();
    for i in 0..5 {
        let mut new = new_execution(&Key::new(&t, &format!("e{i}")));
        new.workflow = Key::stored(if i == 4 { "other" } else { "wf" });
        let Created::Leased(lease) = store.create_execution(&new, Some("node-a"), 60_000).await.unwrap() else {
            panic!("leased")
        };
        if i % 2 == 0 {
            let end = Transition::Failed { error: "{}".into() };
            store.append(&lease, &[], &end).await.unwrap();
            failed.push(lease.execution_id.into_string());
        }
    }
    failed.reverse();
    let page = |statuses: Vec<Status>, limit: u32, after: Option<(i64, Key)>| ListFilter {
        statuses,
        limit: Some(limit),
        after,
        tenant: Some(t.clone()),
        ..Default::default()
    };
    let ids = |list: &[crate::model::Execution]| list.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    let first = store.list(&page(vec![Status::Failed], 2, None)).await.unwrap();
    assert_eq!(ids(&first), failed[..2], "newest first, within the limit");
    let last = first.last().map(|e| (e.created_at_ms, Key::stored(e.id.clone())));
    let next = store.list(&page(vec![Status::Failed], 2, last)).await.unwrap();
    assert_eq!(ids(&next), failed[2..], "the cursor goes on after the page");
    let none = store.list(&page(vec![Status::Parked], 10, None)).await.unwrap();
    assert!(none.is_empty(), "no row in that status");
    let mut of_wf = page(vec![Status::Failed], 10, None);
    of_wf.workflow = Some(Key::stored("wf"));
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
