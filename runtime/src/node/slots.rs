//! The node's execution slots (`NodeConfig::max_concurrent`), shared
//! fairly between tenants: one activation holds one slot, and a tenant
//! may take a new slot only while it holds fewer than its share — the
//! node's slots ÷ (the tenants holding slots + 1). Alone, a tenant gets
//! half the node; with another tenant busy, a third; so whatever one
//! tenant starts (spinners, a flood), slots stay free for the next one.
//! The claim loop asks the store for work of tenants below their share
//! only (`full_tenants`), and a slot freed by a tenant at its share wakes
//! it, since that tenant's work may now be claimed.
//!
//! A claim takes a batch: a tenant may pass its share by at most one
//! batch at that moment. Shares are per node; tenants take turns in the
//! claim itself too (the store ranks a tenant's work by what it holds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The node's slots and who holds them.
pub(crate) struct Slots {
    total: usize,
    permits: Arc<Semaphore>,
    /// Slots held per tenant (tenants holding none are absent).
    held: Mutex<HashMap<String, usize>>,
    /// Notified when a tenant at its share, or a full node, frees a slot.
    freed: Notify,
}

/// One slot, held by one activation of a tenant's execution.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    tenant: String,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    /// `total` slots (at least one).
    pub(crate) fn new(total: usize) -> Arc<Slots> {
        let total = total.max(1);
        Arc::new(Slots {
            total,
            permits: Arc::new(Semaphore::new(total)),
            held: Mutex::default(),
            freed: Notify::new(),
        })
    }

    /// A tenant's share when `holders` tenants hold slots.
    fn share(&self, holders: usize) -> usize {
        (self.total / (holders + 1)).max(1)
    }

    /// Free slots.
    pub(crate) fn free(&self) -> usize {
        self.permits.available_permits()
    }

    /// Tenants holding their share or more: the claim skips their work.
    pub(crate) fn full_tenants(&self) -> Vec<String> {
        let held = self.held.lock().unwrap();
        let share = self.share(held.len());
        held.iter()
            .filter(|(_, n)| **n >= share)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Notified when a tenant at its share, or a full node, frees a slot
    /// (work skipped or left unclaimed may be claimed now).
    pub(crate) fn freed(&self) -> &Notify {
        &self.freed
    }

    /// A slot for `tenant` if one is free and the tenant is below its share.
    pub(crate) fn try_take(self: &Arc<Self>, tenant: &str) -> Option<Slot> {
        let mut held = self.held.lock().unwrap();
        let holders = held.len() + usize::from(!held.contains_key(tenant));
        if held.get(tenant).copied().unwrap_or(0) >= self.share(holders) {
            return None;
        }
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        *held.entry(tenant.to_owned()).or_default() += 1;
        Some(self.slot(tenant, permit))
    }

    /// A slot for `tenant`, waiting for a free one (work already claimed
    /// for it: its share was checked when the claim skipped full tenants).
    pub(crate) async fn take(self: &Arc<Self>, tenant: &str) -> Slot {
        let permit = self.permits.clone().acquire_owned().await.expect("never closed");
        *self.held.lock().unwrap().entry(tenant.to_owned()).or_default() += 1;
        self.slot(tenant, permit)
    }

    fn slot(self: &Arc<Self>, tenant: &str, permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            slots: self.clone(),
            tenant: tenant.to_owned(),
            _permit: permit,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap();
        let share = self.slots.share(held.len());
        let Some(n) = held.get_mut(&self.tenant) else {
            return;
        };
        // The tenant at its share, or the node full: claiming may go on.
        let was_full = *n >= share || self.slots.permits.available_permits() == 0;
        *n -= 1;
        if *n == 0 {
            held.remove(&self.tenant);
        }
        drop(held);
        if was_full {
            self.slots.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_alone_takes_half_and_leaves_the_rest_to_others() {
        let slots = Slots::new(12);
        let a: Vec<Slot> = std::iter::from_fn(|| slots.try_take("a")).take(100).collect();
        assert_eq!(a.len(), 6, "alone: half");
        assert_eq!(slots.full_tenants(), ["a"]);
        let b: Vec<Slot> = std::iter::from_fn(|| slots.try_take("b")).take(100).collect();
        assert_eq!(b.len(), 4, "the second: a third of the node");
        let c = slots.try_take("c");
        assert!(c.is_some(), "slots stay free for a third tenant");
        drop(a);
        assert!(slots.try_take("b").is_none(), "b holds its share while c holds one");
        assert_eq!(slots.free(), 12 - 4 - 1, "a's slots came back");
    }

    #[tokio::test]
    async fn freeing_a_slot_of_a_full_tenant_wakes_the_claim_loop() {
        let slots = Slots::new(2);
        let a = slots.try_take("a").unwrap();
        assert!(slots.try_take("a").is_none());
        let woken = slots.freed().notified();
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(1), woken)
            .await
            .expect("woken");
        assert!(slots.full_tenants().is_empty());
    }
}
