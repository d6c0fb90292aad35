//! Listing executions: status filters, order, pages, workflows and times.

use super::helpers::{create, id, new_execution};
use crate::model::{Key, ListFilter, Status, Transition, now_ms};
use crate::store::Store;

/// Listing filters by status and is newest first.
pub(super) async fn list_filters(store: &dyn Store) {
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
    assert!(failed.iter().any(|e| e.id == b.execution_id.as_str()));
    assert!(failed.iter().all(|e| e.status == Status::Failed));
    let all = store.list(&ListFilter::default()).await.unwrap();
    let pos = |id: &Key| all.iter().position(|e| e.id == id.as_str()).unwrap();
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

/// Listing pages through results with a cursor and filters by workflow and time.
pub(super) async fn list_pages_and_filters(store: &dyn Store) {
    let workflow = id("paged");
    let before = now_ms();
    for i in 0..5 {
        let mut new = new_execution(&workflow.with_suffix(&format!("-{i}")));
        new.workflow = workflow.clone();
        store.create_execution(&new, None, 0).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let filter = |after: Option<(i64, Key)>| ListFilter {
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
        after = page.last().map(|e| (e.created_at_ms, Key::stored(e.id.clone())));
        seen.extend(page.into_iter().map(|e| e.id));
    }
    let expected: Vec<String> = (0..5).rev().map(|i| format!("{}-{i}", workflow.as_str())).collect();
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
