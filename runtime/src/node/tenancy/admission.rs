//! The running-executions quota (`max_running`): a start from outside (API,
//! CLI, schedule) beyond it is created `queued` — never refused — and
//! admitted in start order as the tenant's executions stop running. Whoever
//! stops one (the node that ends or parks it, an operator's terminate)
//! admits what now fits at once; every serving node also sweeps all
//! tenants each fallback period, for raised limits and for a node that died
//! before admitting. The count and the admission are one store transaction
//! that concurrent starts of the tenant wait for, so several nodes enforce
//! one limit. Admitting returns whether anything was admitted: the node
//! then wakes its claim loop.
//!
//! A node only looks for queued executions of tenants it knows to have
//! some (it queued one, or its last sweep found some), so ending an
//! execution costs nothing extra otherwise.

use super::Tenancy;
use crate::error::Result;
use crate::model::Key;
use std::collections::HashSet;
use std::sync::Mutex;

/// The tenants this node knows to have queued executions.
#[derive(Default)]
pub(super) struct QueuedTenants(Mutex<HashSet<String>>);

impl QueuedTenants {
    /// `tenant` has queued executions now.
    fn note(&self, tenant: &str) {
        let mut known = self.0.lock().unwrap();
        if !known.contains(tenant) {
            known.insert(tenant.to_owned());
        }
    }

    fn contains(&self, tenant: &str) -> bool {
        self.0.lock().unwrap().contains(tenant)
    }

    fn replace(&self, tenants: &[String]) {
        *self.0.lock().unwrap() = tenants.iter().cloned().collect();
    }
}

impl Tenancy {
    /// The quota a start from outside in `tenant` is queued under.
    pub(crate) async fn queue_limit(&self, tenant: &str) -> Result<Option<u64>> {
        Ok(self.quotas(tenant).await?.max_running)
    }

    /// `tenant` has queued executions now (this node queued one).
    pub(crate) fn note_queued(&self, tenant: &str) {
        self.queued.note(tenant);
    }

    /// Execution `key` stopped running here: admits its tenant's queued
    /// executions that now fit (nothing to do for a tenant without a limit:
    /// the sweep admits what a removed limit left queued). Returns whether
    /// any was admitted.
    pub(crate) async fn admit_after(&self, key: &Key) -> bool {
        let tenant = key.tenant();
        if !self.queued.contains(tenant) {
            return false;
        }
        let limit = match self.quotas(tenant).await {
            Ok(q) => q.max_running,
            Err(_) => return false, // the sweep will do it
        };
        if limit.is_none() {
            return false;
        }
        match self.store.admit(tenant, limit).await {
            Ok(admitted) => !admitted.is_empty(),
            Err(e) => {
                tracing::warn!("admitting queued executions of {tenant} failed: {}", e.message);
                false
            }
        }
    }

    /// Admits what fits, for every tenant with queued executions; returns
    /// how many were admitted.
    pub(crate) async fn admit_all(&self) -> Result<usize> {
        let mut admitted = 0;
        let tenants = self.store.queued_tenants().await?;
        self.queued.replace(&tenants);
        for tenant in tenants {
            let limit = self.quotas(&tenant).await?.max_running;
            admitted += self.store.admit(&tenant, limit).await?.len();
        }
        Ok(admitted)
    }
}
