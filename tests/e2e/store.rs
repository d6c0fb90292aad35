//! The store conformance suite against both backends, and their migrations.

use crate::common::*;
use cairn::node::{Node, Schema, StoreConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    cairn::testing::store_conformance(&sqlite_at(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_are_idempotent_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(&sqlite_at(dir.path()), node_config(dir.path()))
        .await
        .unwrap();
    node.raw_store().put_component("d", b"x").await.unwrap();
    drop(node);
    let node = Node::open(&sqlite_at(dir.path()), node_config(dir.path()))
        .await
        .unwrap();
    assert_eq!(
        node.raw_store().component("d").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    let status = node.status().await.unwrap();
    assert_eq!(status.schema_version, status.latest_version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let db = PgDb::new();
    cairn::testing::store_conformance(&postgres_at(&db.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_are_versioned_idempotent_and_required() {
    let db = PgDb::new();
    let dir = data_dir();
    let open = |schema| {
        let store = StoreConfig::Postgres {
            url: db.url.clone(),
            pool_size: 2,
            schema,
        };
        let config = node_config(dir.path());
        async move { Node::open(&store, config).await }
    };
    let err = open(Schema::Require).await.err().expect("an empty database is refused");
    assert_eq!(err.code, cairn::error::codes::DB_UNINITIALIZED);
    let inspect = open(Schema::Inspect).await.unwrap();
    let status = inspect.status().await.unwrap();
    assert_eq!(status.schema_version, 0);
    let latest = status.latest_version;
    // Two migrators at once: both succeed, each migration applies once.
    let (a, b) = tokio::join!(open(Schema::Migrate), open(Schema::Migrate));
    let (a, _b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.status().await.unwrap().schema_version, latest);
    assert_eq!(a.migrate().await.unwrap(), latest);
    open(Schema::Require).await.unwrap();
}
