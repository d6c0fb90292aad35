//! What operators look at: `GET /metrics` (the process' metrics, with the
//! store-wide gauges read when scraped, scoped to what the caller may see)
//! and `GET /v1/status` (the store's status, as `cairn status` shows it).

use super::{Caller, Node};
use crate::error::{Error, Result, codes};
use crate::model::{Role, Status, StoreStatus};

/// Where the console's counts by status stop counting (they show
/// "10000+" beyond): the cost of a count is bounded by it, not by how many
/// executions a tenant has kept.
pub const COUNT_CAP: i64 = 10_000;

impl Node {
    /// The metrics in Prometheus' text format: an admin sees every series;
    /// any other token only the series labelled with its own tenant.
    pub async fn metrics(&self, caller: &Caller) -> Result<String> {
        caller.require(Role::Read)?;
        let Some(metrics) = crate::metrics::get() else {
            return Err(Error::new(
                codes::NOT_FOUND,
                "metrics are off on this server",
                "start the server without --no-metrics",
            ));
        };
        metrics.set_store_gauges(&self.store.open_counts().await?);
        let scope = (caller.role < Role::Superuser).then_some(caller.tenant.as_str());
        Ok(metrics.render(scope))
    }

    /// The store's schema, live nodes and backlog, for a superuser.
    pub async fn status_for(&self, caller: &Caller) -> Result<StoreStatus> {
        caller.require(Role::Superuser)?;
        self.store.status().await
    }

    /// The caller's tenant's executions counted by status (every status,
    /// zero included), for the console's live counts; a count above
    /// [`COUNT_CAP`] is `COUNT_CAP + 1` ("more than").
    pub async fn status_counts(&self, caller: &Caller) -> Result<Vec<(Status, i64)>> {
        caller.require(Role::Read)?;
        let counted = self.store.status_counts(&caller.tenant, COUNT_CAP + 1).await?;
        Ok(Status::ALL
            .into_iter()
            .map(|s| {
                let n = counted
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (s, n)
            })
            .collect())
    }
}
