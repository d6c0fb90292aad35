//! Instance memory on a node: the totals every instance's memories and
//! tables count against (the node's, and its tenant's on this node), and
//! the idle instances that are asked to leave when memory or pool slots
//! run short.
//!
//! An instance that would pass a total waits: its instantiation or its
//! `memory.grow` does not fail. While it waits, the longest-idle instance
//! (of its tenant when the tenant's total is short, of anyone when the
//! node's is) is asked to leave; every instance that ends gives its bytes
//! back and wakes the waiters. A waiting instance that holds memory is
//! idle itself: when a later waiter needs its bytes, it gives its activation up
//! ([`MemoryWait::GaveUp`]) and is replayed once there is room — nothing
//! of its journal is lost. Only a request that could never fit (more than
//! the whole total) fails.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Bytes of instance memory on this node and per tenant, against their limits.
pub(crate) struct MemoryTotals {
    /// The node's limit (`usize::MAX`: none).
    node_limit: usize,
    counts: Mutex<Counts>,
    /// Notified whenever bytes are given back.
    freed: Notify,
    /// Instances that may be asked to leave.
    pub(crate) idle: Arc<IdleInstances>,
}

#[derive(Default)]
struct Counts {
    node: usize,
    tenants: HashMap<String, TenantCount>,
}

struct TenantCount {
    used: usize,
    /// `usize::MAX`: none.
    limit: usize,
    /// Its cap on one instance, if below the node's.
    per_instance: Option<usize>,
}

impl Default for TenantCount {
    fn default() -> TenantCount {
        TenantCount {
            used: 0,
            limit: usize::MAX,
            per_instance: None,
        }
    }
}

/// Why memory could not be had now, or ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemoryWait {
    /// More than the node's whole total (bytes) was asked for.
    NodeTotal(usize),
    /// More than the tenant's whole total (bytes) was asked for.
    TenantTotal(usize),
    /// It waited, and another waiter needed its bytes: it gave its
    /// activation up, to be replayed when there is room.
    GaveUp,
}

/// Which total is short.
enum Short {
    Node,
    Tenant,
}

impl MemoryTotals {
    /// Totals with the node's limit (none: unlimited) over these idle instances.
    pub(crate) fn new(node_limit: Option<usize>, idle: Arc<IdleInstances>) -> MemoryTotals {
        MemoryTotals {
            node_limit: node_limit.unwrap_or(usize::MAX),
            counts: Mutex::default(),
            freed: Notify::new(),
            idle,
        }
    }

    /// Sets a tenant's total on this node and its cap on one instance
    /// (none: unlimited, the node's).
    pub(crate) fn set_tenant_limits(&self, tenant: &str, total: Option<usize>, per_instance: Option<usize>) {
        let limit = total.unwrap_or(usize::MAX);
        let mut counts = self.counts.lock().unwrap();
        let t = counts.tenants.entry(tenant.to_owned()).or_default();
        let raised = limit > t.limit;
        (t.limit, t.per_instance) = (limit, per_instance);
        drop(counts);
        if raised {
            self.freed.notify_waiters();
        }
    }

    /// Bytes held on this node, by everyone and by `tenant`.
    pub(crate) fn used(&self, tenant: &str) -> (usize, usize) {
        let counts = self.counts.lock().unwrap();
        (counts.node, counts.tenants.get(tenant).map_or(0, |t| t.used))
    }

    /// Takes `bytes` for `tenant` (none: the node's only) if both totals allow.
    fn take(&self, tenant: Option<&str>, held: usize, bytes: usize) -> Result<(), (Short, Option<MemoryWait>)> {
        let mut counts = self.counts.lock().unwrap();
        if counts.node.saturating_add(bytes) > self.node_limit {
            let never = held.saturating_add(bytes) > self.node_limit;
            return Err((Short::Node, never.then_some(MemoryWait::NodeTotal(self.node_limit))));
        }
        if let Some(tenant) = tenant {
            if !counts.tenants.contains_key(tenant) {
                counts.tenants.insert(tenant.to_owned(), TenantCount::default());
            }
            let t = counts.tenants.get_mut(tenant).expect("just made");
            if t.used.saturating_add(bytes) > t.limit {
                let never = held.saturating_add(bytes) > t.limit;
                return Err((Short::Tenant, never.then_some(MemoryWait::TenantTotal(t.limit))));
            }
            t.used += bytes;
        }
        counts.node += bytes;
        Ok(())
    }

    /// Gives `bytes` of `tenant` back and wakes the waiters.
    fn give(&self, tenant: Option<&str>, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut counts = self.counts.lock().unwrap();
        counts.node = counts.node.saturating_sub(bytes);
        if let Some(t) = tenant.and_then(|t| counts.tenants.get_mut(t)) {
            t.used = t.used.saturating_sub(bytes);
        }
        drop(counts);
        self.freed.notify_waiters();
    }

    /// Moves `bytes` held for `from` (none: a spare instance) to `to`, even
    /// past `to`'s total; returns `to`'s cap on one instance.
    fn assign(&self, from: Option<&str>, to: &str, bytes: usize) -> Option<usize> {
        let mut counts = self.counts.lock().unwrap();
        if let Some(t) = from.and_then(|f| counts.tenants.get_mut(f)) {
            t.used = t.used.saturating_sub(bytes);
        }
        let t = counts.tenants.entry(to.to_owned()).or_default();
        t.used += bytes;
        t.per_instance
    }
}

/// What one instance holds of the totals; given back when it drops.
pub(crate) struct Account {
    totals: Arc<MemoryTotals>,
    tenant: Option<String>,
    held: usize,
}

impl Account {
    /// An account of no tenant yet: it only waits when it has one (a spare
    /// instance made in the background gives up at once when memory is short).
    pub(crate) fn new(totals: Arc<MemoryTotals>) -> Account {
        crate::metrics::gauge(|m| &m.instances, 1);
        Account {
            totals,
            tenant: None,
            held: 0,
        }
    }

    /// Counts the instance against `tenant` from now on (what it holds
    /// too); returns the tenant's cap on one instance, if it has one.
    pub(crate) fn set_tenant(&mut self, tenant: &str) -> Option<usize> {
        let cap = self.totals.assign(self.tenant.take().as_deref(), tenant, self.held);
        self.tenant = Some(tenant.to_owned());
        cap
    }

    /// Takes `bytes` more if both totals have room now.
    pub(crate) fn try_reserve(&mut self, bytes: usize) -> bool {
        let taken = self.totals.take(self.tenant.as_deref(), self.held, bytes).is_ok();
        if taken {
            self.held += bytes;
        }
        taken
    }

    /// Takes `bytes` more, waiting for them when a total is short (see the
    /// module's description); fails when they could never fit, or when
    /// the instance gave up its wait.
    pub(crate) async fn reserve(&mut self, bytes: usize) -> Result<(), MemoryWait> {
        let mut ticket: Option<IdleTicket> = None;
        loop {
            let freed = self.totals.freed.notified();
            let went_idle = self.totals.idle.entered.notified();
            tokio::pin!(freed, went_idle);
            freed.as_mut().enable();
            let short = match self.totals.take(self.tenant.as_deref(), self.held, bytes) {
                Ok(()) => {
                    self.held += bytes;
                    return Ok(());
                }
                Err((_, Some(never))) => return Err(never),
                Err((short, None)) => short,
            };
            let Some(tenant) = self.tenant.clone() else {
                return Err(MemoryWait::GaveUp);
            };
            let own = ticket.as_ref().map(|t| t.key);
            let of = match short {
                Short::Tenant => Some(tenant.as_str()),
                Short::Node => None,
            };
            self.totals.idle.evict_oldest(of, own);
            // A waiter holding memory may be asked to give it up; one holding
            // none (a start) just waits: evicting it would free nothing.
            if ticket.is_none() && self.held > 0 {
                ticket = Some(self.totals.idle.enter(&tenant));
            }
            // (After entering: its own entry must not wake it.)
            went_idle.as_mut().enable();
            let evicted = async {
                match &ticket {
                    Some(t) => t.evicted().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = evicted => return Err(MemoryWait::GaveUp),
                _ = freed => {}
                _ = went_idle => {}
            }
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.totals.give(self.tenant.as_deref(), self.held);
        crate::metrics::gauge(|m| &m.instances, -1);
    }
}

/// An idle instance's tenant, and how to ask it to leave.
type Waiting = (Arc<str>, Arc<Notify>);

/// Workflow instances waiting idle, by when they started to wait.
#[derive(Default)]
pub(crate) struct IdleInstances {
    next: AtomicU64,
    waiting: Mutex<BTreeMap<u64, Waiting>>,
    /// Notified whenever an instance starts to wait.
    pub(crate) entered: Notify,
}

impl IdleInstances {
    /// Marks an instance of `tenant` as idle until the ticket drops.
    pub(crate) fn enter(self: &Arc<Self>, tenant: &str) -> IdleTicket {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        self.waiting.lock().unwrap().insert(key, (tenant.into(), evict.clone()));
        self.entered.notify_waiters();
        crate::metrics::gauge(|m| &m.instances_idle, 1);
        IdleTicket {
            idle: self.clone(),
            key,
            evict,
        }
    }

    /// Asks the instance (of `tenant`, or anyone's) that has waited longest
    /// to leave, other than `except`; false if none waits.
    pub(crate) fn evict_oldest(&self, tenant: Option<&str>, except: Option<u64>) -> bool {
        let mut waiting = self.waiting.lock().unwrap();
        let key = waiting
            .iter()
            .find(|(k, (t, _))| Some(**k) != except && tenant.is_none_or(|want| **t == *want))
            .map(|(k, _)| *k);
        match key.and_then(|k| waiting.remove(&k)) {
            Some((_, evict)) => {
                evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// An idle instance's place in the eviction order.
pub(crate) struct IdleTicket {
    idle: Arc<IdleInstances>,
    key: u64,
    evict: Arc<Notify>,
}

impl IdleTicket {
    /// Resolves when the pool or a memory total needs this instance.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await
    }
}

impl Drop for IdleTicket {
    fn drop(&mut self) {
        self.idle.waiting.lock().unwrap().remove(&self.key);
        crate::metrics::gauge(|m| &m.instances_idle, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_longest_idle_instance_is_evicted_first() {
        let idle = Arc::new(IdleInstances::default());
        let (first, second) = (idle.enter("a"), idle.enter("b"));
        assert!(idle.evict_oldest(None, None));
        tokio::time::timeout(Duration::from_secs(1), first.evicted())
            .await
            .expect("the oldest goes");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.evicted())
                .await
                .is_err()
        );
        assert!(!idle.evict_oldest(Some("a"), None), "none of a's waits");
        drop(second);
        assert!(!idle.evict_oldest(None, None), "no one else waits");
    }

    #[tokio::test]
    async fn a_start_past_the_tenants_total_waits_for_an_idle_one_to_leave() {
        let idle = Arc::new(IdleInstances::default());
        let totals = Arc::new(MemoryTotals::new(Some(100), idle.clone()));
        totals.set_tenant_limits("a", Some(50), None);
        let mut first = Account::new(totals.clone());
        first.set_tenant("a");
        first.reserve(40).await.unwrap();
        let mut other = Account::new(totals.clone());
        other.set_tenant("b");
        other.reserve(50).await.unwrap();
        assert_eq!(totals.used("a"), (90, 40));
        // `first` goes idle; a second instance of `a` needs 20: `first` is asked to leave.
        let ticket = idle.enter("a");
        let second = tokio::spawn({
            let totals = totals.clone();
            async move {
                let mut second = Account::new(totals);
                second.set_tenant("a");
                second.reserve(20).await.map(|()| second)
            }
        });
        tokio::time::timeout(Duration::from_secs(1), ticket.evicted())
            .await
            .expect("the idle one of the same tenant is asked to leave");
        assert!(!second.is_finished(), "the start waits meanwhile");
        drop((ticket, first));
        let second = second.await.unwrap().expect("admitted once the bytes are back");
        assert_eq!(totals.used("a"), (70, 20));
        drop(second);
        assert_eq!(totals.used("a"), (50, 0));
    }

    #[tokio::test]
    async fn what_could_never_fit_fails_and_a_spare_does_not_wait() {
        let totals = Arc::new(MemoryTotals::new(Some(100), Arc::default()));
        totals.set_tenant_limits("a", Some(30), None);
        let mut a = Account::new(totals.clone());
        a.set_tenant("a");
        assert_eq!(a.reserve(31).await, Err(MemoryWait::TenantTotal(30)));
        assert_eq!(a.reserve(101).await, Err(MemoryWait::NodeTotal(100)));
        let mut spare = Account::new(totals.clone());
        spare.reserve(90).await.unwrap();
        assert_eq!(Account::new(totals.clone()).reserve(20).await, Err(MemoryWait::GaveUp));
        spare.set_tenant("a");
        assert_eq!(totals.used("a"), (90, 90), "a spare's bytes move to its tenant");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_when_a_later_one_needs_its_bytes() {
        let totals = Arc::new(MemoryTotals::new(Some(100), Arc::default()));
        let mut busy = Account::new(totals.clone());
        busy.set_tenant("c");
        busy.reserve(30).await.unwrap();
        let mut a = Account::new(totals.clone());
        a.set_tenant("a");
        a.reserve(40).await.unwrap();
        let waiting_a = tokio::spawn(async move { a.reserve(40).await.map(|()| a) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting_a.is_finished(), "110 of 100: a waits");
        let mut b = Account::new(totals.clone());
        b.set_tenant("b");
        let got = tokio::time::timeout(Duration::from_secs(1), b.reserve(50)).await;
        assert_eq!(got, Ok(Ok(())), "b waits for a to give up");
        assert_eq!(waiting_a.await.unwrap().err(), Some(MemoryWait::GaveUp));
        assert_eq!(totals.used("b"), (80, 50));
    }
}
