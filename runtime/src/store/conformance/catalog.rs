//! Components, deployments and schedules.

use super::helpers::id;
use crate::model::{Bindings, Key, Schedule};
use crate::store::Store;

/// Components are content-addressed and stored once.
pub(super) async fn components_roundtrip(store: &dyn Store) {
    let digest = id("digest").into_string();
    store.put_component(&digest, b"\0asm-bytes").await.unwrap();
    store.put_component(&digest, b"\0asm-bytes").await.unwrap();
    assert_eq!(
        store.component(&digest).await.unwrap().as_deref(),
        Some(&b"\0asm-bytes"[..])
    );
    assert!(store.component("missing").await.unwrap().is_none());
}

/// Deployments get increasing versions per name; lookups by version or latest.
pub(super) async fn deployments_are_versioned(store: &dyn Store) {
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
    assert!(
        store
            .deployment(&Key::stored("no-such-deployment"), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .deployments("default")
            .await
            .unwrap()
            .iter()
            .filter(|d| d.name == name.as_str())
            .count()
            == 2
    );
}

/// A schedule's firing is a compare-and-set: one winner per firing.
pub(super) async fn schedules_fire_once(store: &dyn Store) {
    let key = id("sched");
    let s = Schedule {
        id: key.as_str().to_owned(),
        cron: "* * * * * *".into(),
        workflow: "wf".into(),
        input: "{}".into(),
        next_fire_at_ms: 1000,
    };
    store.put_schedule(&s).await.unwrap();
    assert!(store.schedules(None).await.unwrap().iter().any(|x| x.id == s.id));
    assert!(store.advance_schedule(&key, 1000, 2000).await.unwrap());
    assert!(
        !store.advance_schedule(&key, 1000, 2000).await.unwrap(),
        "the second node loses"
    );
    assert!(store.delete_schedule(&key).await.unwrap());
    assert!(!store.delete_schedule(&key).await.unwrap());
}
