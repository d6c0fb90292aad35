//! Starts under a tenant's `max_running` quota on PostgreSQL. Exactness
//! across nodes comes from locking the tenant's row for the count and the
//! insert; so that a burst of one tenant's starts never holds more than
//! one pooled connection per node waiting for that lock (and so never
//! starves other tenants of connections), a node lets one of a tenant's
//! quota-checked writes at a time go to the database.
//!
//! Far below the limit the row lock is skipped: with at most one
//! uncommitted start per tenant per node, a committed count at least
//! [`MAX_NODES`] under the limit cannot be pushed past it by the others.

use super::{PostgresStore, create_params, created, pg_err, refs, sql};
use crate::error::Result;
use crate::model::{Created, NewExecution};
use crate::store::tenants as tenant_sql;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most nodes a cluster is assumed to have when the lock is skipped.
const MAX_NODES: i64 = 64;

/// One turn at a time per tenant on this node.
#[derive(Default)]
pub(super) struct TenantTurns(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl TenantTurns {
    /// Waits for `tenant`'s turn; it lasts as long as the guard.
    pub(super) async fn take(&self, tenant: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = {
            let mut turns = self.0.lock().unwrap();
            if turns.len() > 10_000 {
                turns.retain(|_, t| Arc::strong_count(t) > 1);
            }
            turns.entry(tenant.to_owned()).or_default().clone()
        };
        turn.lock_owned().await
    }
}

impl PostgresStore {
    /// Creates an execution `queued` when its tenant has `limit` running or
    /// sleeping executions (or some queued already), else as usual.
    pub(super) async fn create_under_quota(
        &self,
        new: &NewExecution,
        owner: Option<&str>,
        lease_ms: i64,
        tenant: &str,
        limit: u64,
    ) -> Result<Created> {
        let _turn = self.turns.take(tenant).await;
        let row = self.query(tenant_sql::LIVE_AND_QUEUED, &[&tenant]).await?;
        let (live, queued): (i64, i64) = (row[0].get(0), row[0].get(1));
        if queued == 0 && live + MAX_NODES < limit as i64 {
            let params = create_params(new, owner, lease_ms, "running");
            let inserted = !self.query(sql::CREATE_EXECUTION, &refs(&params)).await?.is_empty();
            return Ok(created(new, owner, inserted));
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.query(tenant_sql::LOCK_TENANT, &[&tenant]).await.map_err(pg_err)?;
        let row = tx
            .query_one(tenant_sql::LIVE_AND_QUEUED, &[&tenant])
            .await
            .map_err(pg_err)?;
        let (live, queued): (i64, i64) = (row.get(0), row.get(1));
        let queue = live >= limit as i64 || queued > 0;
        let (owner, status) = if queue { (None, "queued") } else { (owner, "running") };
        let params = create_params(new, owner, lease_ms, status);
        let inserted = !tx
            .query(sql::CREATE_EXECUTION, &refs(&params))
            .await
            .map_err(pg_err)?
            .is_empty();
        tx.commit().await.map_err(pg_err)?;
        Ok(match (queue, inserted) {
            (true, true) => Created::Queued,
            _ => created(new, owner, inserted),
        })
    }

    /// A tenant's turn, for admissions.
    pub(super) async fn tenant_turn(&self, tenant: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.turns.take(tenant).await
    }
}
