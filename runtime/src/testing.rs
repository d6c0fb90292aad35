//! Test support (feature `test-util`, never in releases): the store
//! conformance suite, and direct store access for tests that stage races,
//! crashes and old journals a node would never write by itself.

use crate::error::Result;
use crate::model::{Created, Entry, Execution, Key, Lease, ListFilter, NewExecution, Transition};
use crate::node::{Node, StoreConfig};
use crate::store::{self, Store};
use std::sync::Arc;

/// Runs the store conformance suite against the store a configuration names.
pub async fn store_conformance(config: &StoreConfig) {
    let store = store::open(config).await.expect("opening the store");
    store::conformance::run_all(store).await;
}

/// The store under a node, for tests.
#[derive(Clone)]
pub struct RawStore(Arc<dyn Store>);

impl Node {
    /// Direct access to this node's store (tests only).
    pub fn raw_store(&self) -> RawStore {
        RawStore(self.store_for_tests())
    }
}

impl RawStore {
    /// See `ExecutionStore::create_execution`.
    pub async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Created> {
        self.0.create_execution(new, owner, lease_ms).await
    }

    /// See `ExecutionStore::append`.
    pub async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()> {
        self.0.append(lease, entries, transition).await
    }

    /// See `ExecutionStore::claim`.
    pub async fn claim(&self, id: &Key, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>> {
        self.0.claim(id, owner, lease_ms, dead_owners).await
    }

    /// See `ExecutionStore::claim_runnable`.
    pub async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32) -> Result<Vec<Lease>> {
        self.0.claim_runnable(owner, lease_ms, limit, &[]).await
    }

    /// See `ExecutionStore::journal`.
    pub async fn journal(&self, id: &Key) -> Result<Vec<Entry>> {
        self.0.journal(id).await
    }

    /// See `ExecutionStore::execution`.
    pub async fn execution(&self, id: &Key) -> Result<Option<Execution>> {
        self.0.execution(id).await
    }

    /// See `CatalogStore::put_component`.
    pub async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        self.0.put_component(digest, bytes).await
    }

    /// See `CatalogStore::component`.
    pub async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        self.0.component(digest).await
    }

    /// See `ExecutionStore::list`.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>> {
        self.0.list(filter).await
    }
}
