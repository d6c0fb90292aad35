//! Tenant policy: who is asking and what its tenant may still do.
//!
//! [`Tenancy`] is the node's one owner of everything it knows or decides
//! per tenant, behind a narrow interface the commands call:
//!
//! - `auth.rs`: tokens and the [`Caller`] they prove (authentication);
//! - `quotas.rs`: sizes, counts, journal bytes and the HTTP policy —
//!   checks that refuse with `CAIRN-E031`/`CAIRN-E032`;
//! - `rates.rs`: per-second rates, token buckets shared out between nodes;
//! - `admission.rs`: the `max_running` queue;
//! - `audit.rs`: the audit trail of what callers did.
//!
//! Each file owns the state it touches; what is read of a tenant is cached
//! for at most [`QUOTA_TTL`], so a change reaches every node within it.

mod admission;
mod audit;
mod auth;
mod quotas;
mod rates;

pub use audit::AuditQuery;
pub use auth::Caller;
pub(crate) use auth::{Registered, no_tenant};
pub(crate) use quotas::{check_quotas, payload_quota_hit};
pub use rates::Rate;

use crate::error::Result;
use crate::model::Quotas;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a node trusts what it read of a tenant.
pub(crate) const QUOTA_TTL: Duration = Duration::from_secs(1);

/// Something read of each tenant lately (its quotas, its journal bytes),
/// trusted for [`QUOTA_TTL`]: the hot paths (start, signal, a step) check
/// it without a read of the store each time.
struct TenantCache<T>(Mutex<HashMap<String, (Instant, T)>>);

impl<T> Default for TenantCache<T> {
    fn default() -> Self {
        TenantCache(Mutex::default())
    }
}

impl<T: Clone> TenantCache<T> {
    /// What was read of `tenant` less than [`QUOTA_TTL`] ago.
    fn get(&self, tenant: &str) -> Option<T> {
        let map = self.0.lock().unwrap();
        map.get(tenant)
            .filter(|(at, _)| at.elapsed() < QUOTA_TTL)
            .map(|(_, v)| v.clone())
    }

    /// Remembers what was just read of `tenant`.
    fn put(&self, tenant: &str, value: T) {
        let mut map = self.0.lock().unwrap();
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(tenant.to_owned(), (Instant::now(), value));
    }

    fn forget(&self, tenant: &str) {
        self.0.lock().unwrap().remove(tenant);
    }
}

/// The tenant policy of one node.
pub(crate) struct Tenancy {
    store: Arc<dyn Store>,
    /// What a tenant has where it has no quota of its own.
    defaults: Quotas,
    /// Tenants' quotas as read lately.
    quotas: TenantCache<Quotas>,
    /// Tenants' journal bytes as read lately (`quotas.rs`).
    journal_bytes: TenantCache<i64>,
    /// Whether the store holds a working confirmed token (`auth.rs`).
    tokens_live: TenantCache<bool>,
    /// Tenants' rate buckets (`rates.rs`).
    rates: rates::Rates,
    /// Tenants known to have queued executions (`admission.rs`).
    queued: admission::QueuedTenants,
    /// Nodes sharing the store, as of the last heartbeat: per-second and
    /// per-minute quotas are shared out between them.
    live_nodes: AtomicUsize,
}

/// What one activation of a tenant's workflow may use, by its quotas.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActivationQuotas {
    /// `max_journal_entries`.
    pub(crate) max_entries: Option<u64>,
    /// Whether the tenant has a `max_journal_bytes`.
    pub(crate) journal_quota: bool,
    /// `cpu_budget_ms`.
    pub(crate) cpu_budget: Option<Duration>,
    /// This node's share of `cpu_ms_per_minute`.
    pub(crate) cpu_ms_per_minute: Option<u64>,
    /// `max_instance_memory_mb`, in bytes.
    pub(crate) instance_memory: Option<usize>,
    /// `max_total_memory_mb`, in bytes.
    pub(crate) total_memory: Option<usize>,
}

impl Tenancy {
    /// The policy of a node over `store`.
    pub(crate) fn new(store: Arc<dyn Store>, defaults: Quotas) -> Tenancy {
        Tenancy {
            store,
            defaults,
            quotas: TenantCache::default(),
            journal_bytes: TenantCache::default(),
            tokens_live: TenantCache::default(),
            rates: rates::Rates::default(),
            queued: admission::QueuedTenants::default(),
            live_nodes: AtomicUsize::new(1),
        }
    }

    /// A tenant's quotas and policy, as read from the store at most
    /// [`QUOTA_TTL`] ago, over the node's defaults.
    pub(crate) async fn quotas(&self, tenant: &str) -> Result<Quotas> {
        if let Some(q) = self.quotas.get(tenant) {
            return Ok(q);
        }
        let own = self.store.tenant(tenant).await?.map(|t| t.quotas).unwrap_or_default();
        let q = self.in_force(&own);
        self.quotas.put(tenant, q.clone());
        Ok(q)
    }

    /// The quotas in force for a tenant whose own are `own`: the node's
    /// defaults where it has none.
    pub(crate) fn in_force(&self, own: &Quotas) -> Quotas {
        own.over(&self.defaults)
    }

    /// Forgets what was read of `tenant` (its quotas changed here).
    pub(crate) fn forget(&self, tenant: &str) {
        self.quotas.forget(tenant);
    }

    /// Notes how many nodes share the store (from a heartbeat).
    pub(crate) fn set_live_nodes(&self, n: usize) {
        self.live_nodes.store(n, Ordering::Relaxed);
    }

    /// Nodes sharing the store, as of the last heartbeat (at least 1).
    fn live_nodes(&self) -> usize {
        self.live_nodes.load(Ordering::Relaxed).max(1)
    }

    /// What an activation of `tenant`'s workflow may use on this node.
    pub(crate) async fn activation_quotas(&self, tenant: &str) -> Result<ActivationQuotas> {
        let q = self.quotas(tenant).await?;
        let mib = |m: Option<u64>| m.map(|m| usize::try_from(m.saturating_mul(1 << 20)).unwrap_or(usize::MAX));
        Ok(ActivationQuotas {
            max_entries: q.max_journal_entries,
            journal_quota: q.max_journal_bytes.is_some(),
            cpu_budget: q.cpu_budget_ms.map(Duration::from_millis),
            // Each node allows its share of the tenant's CPU per minute.
            cpu_ms_per_minute: q.cpu_ms_per_minute.map(|m| (m / self.live_nodes() as u64).max(1)),
            instance_memory: mib(q.max_instance_memory_mb),
            total_memory: mib(q.max_total_memory_mb),
        })
    }
}
