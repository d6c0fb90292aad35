//! The store conformance suite against the SQLite backend.

use cairn::store::Store;
use cairn::store::conformance;
use cairn::store::sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("cairn.db")).unwrap());
    conformance::run_all(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_are_idempotent_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let store = SqliteStore::open(&path).unwrap();
    store.put_component("d", b"x").await.unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.component("d").await.unwrap().as_deref(), Some(&b"x"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let db = crate::common::PgDb::new();
    let store = cairn::store::postgres::PostgresStore::connect(&db.url, 8, cairn::store::postgres::Schema::Migrate)
        .await
        .unwrap();
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_are_versioned_idempotent_and_required() {
    use cairn::store::postgres::{PostgresStore, Schema, latest_version};
    let db = crate::common::PgDb::new();
    let err = PostgresStore::connect(&db.url, 2, Schema::Require)
        .await
        .err()
        .expect("an empty database is refused");
    assert_eq!(err.code, cairn::error::codes::DB_UNINITIALIZED);
    let inspect = PostgresStore::connect(&db.url, 2, Schema::Inspect).await.unwrap();
    assert_eq!(inspect.schema_version().await.unwrap(), 0);
    // Two migrators at once: both succeed, each migration applies once.
    let (a, b) = tokio::join!(
        PostgresStore::connect(&db.url, 2, Schema::Migrate),
        PostgresStore::connect(&db.url, 2, Schema::Migrate)
    );
    let (a, _b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.schema_version().await.unwrap(), latest_version());
    assert_eq!(a.migrate().await.unwrap(), latest_version());
    PostgresStore::connect(&db.url, 2, Schema::Require).await.unwrap();
}
