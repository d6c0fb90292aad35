//! Fair shares of the node's CPU between tenants, for the short steps the
//! [`super::guard::CpuGate`] does not see: every activation, activity and
//! API request is [`Metered`] — the CPU its thread spent on it while it
//! was polled (`CLOCK_THREAD_CPUTIME_ID`) is charged to its tenant — and
//! before each new journaled call or request a tenant that used more than
//! its share of the current window [`FairShare::pace`]s: it waits for the
//! next window. Alone, a tenant is never paced. Beside others, each may use
//! an equal part of half the machine, one part kept for a newcomer (two
//! tenants: a sixth of the machine each, per window): so a tenant's steps
//! are not queued behind another's work (a tokio worker runs tasks first
//! come first served). The latency of a tenant doing little is what this
//! buys; what it costs is the throughput of tenants doing much, and only
//! while others are active (a known gap: several busy tenants together
//! use about half the machine; a scheduler that orders steps by tenant
//! would not need to leave it idle).
//!
//! The store's time counts too ([`FairShare::charge_store`]): a write
//! (a commit, a creation) that waited beside others costs its tenant its
//! part of the wait, so a tenant whose steps keep the database busy — work
//! in another process the thread clock does not see — is paced before its
//! next step like one that keeps the CPU busy.
//!
//! The window is short (20 ms): a paced tenant waits a few milliseconds,
//! not a second, and a tenant that stops is forgotten after two windows.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The length of one accounting window.
pub(crate) const WINDOW: Duration = Duration::from_millis(20);

/// The most windows a paced tenant waits at once.
const MAX_WINDOWS: u64 = 4;

/// CPU below this in a window does not count a tenant as active (an idle
/// tenant's heartbeat does not shrink the others' shares).
const ACTIVE_NS: u64 = 200_000;

/// Beside each other, tenants' shares add up to this part of the machine
/// (1/2): what a tenant causes beyond its own threads and store writes —
/// the store's writer thread, reads, HTTP — is not metered, and a machine
/// kept busy queues every other tenant's steps behind its work.
const BUSY_PART: u64 = 2;

/// Tenants' CPU in the current and the previous window.
#[derive(Default, Debug)]
struct Windows {
    began: Option<Instant>,
    now: HashMap<String, u64>,
    last: HashMap<String, u64>,
}

impl Windows {
    /// Moves to the window `at` falls in.
    fn roll(&mut self, at: Instant) {
        let Some(began) = self.began else {
            self.began = Some(at);
            return;
        };
        let passed = at.saturating_duration_since(began);
        if passed < WINDOW {
            return;
        }
        self.last = if passed < WINDOW * 2 {
            std::mem::take(&mut self.now)
        } else {
            self.now.clear();
            HashMap::new()
        };
        let windows = (passed.as_nanos() / WINDOW.as_nanos()) as u32;
        self.began = Some(began + WINDOW * windows);
    }

    /// How many tenants used CPU in this window or the last (counted
    /// without allocating: asked before every journaled call).
    fn active(&self) -> u64 {
        let busy = |ns: &u64| *ns >= ACTIVE_NS;
        let now = self
            .now
            .iter()
            .filter(|(t, ns)| busy(ns) || self.last.get(*t).is_some_and(busy))
            .count();
        let only_last = self
            .last
            .iter()
            .filter(|(t, ns)| busy(ns) && !self.now.contains_key(*t))
            .count();
        (now + only_last) as u64
    }
}

/// The node's fair shares.
#[derive(Debug)]
pub(crate) struct FairShare {
    /// The window's CPU of the whole machine, ns.
    capacity_ns: u64,
    windows: Mutex<Windows>,
}

impl FairShare {
    /// Shares of this machine's cores.
    pub(crate) fn for_machine() -> Arc<FairShare> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        FairShare::new(cores)
    }

    /// Shares of `cores` cores.
    pub(crate) fn new(cores: usize) -> Arc<FairShare> {
        Arc::new(FairShare {
            capacity_ns: WINDOW.as_nanos() as u64 * cores.max(1) as u64,
            windows: Mutex::default(),
        })
    }

    /// Charges `ns` of CPU to `tenant`.
    fn charge(&self, tenant: &str, ns: u64, at: Instant) {
        let mut w = self.windows.lock().unwrap();
        w.roll(at);
        match w.now.get_mut(tenant) {
            Some(used) => *used += ns,
            None => {
                w.now.insert(tenant.to_owned(), ns);
            }
        }
    }

    /// Charges `tenant` its part of a commit that took `took` while
    /// `in_flight` commits (its own included) were waiting together: the
    /// store's time is shared by whoever waits on it, so a tenant whose
    /// many steps keep the database busy pays for it, and is paced, as for
    /// its own CPU. (Database work runs in another process or machine the
    /// thread clock does not see.) A commit alone costs nothing: it kept
    /// nobody waiting, and most of its time is the disk's flush.
    pub(crate) fn charge_store(&self, tenant: &str, took: Duration, in_flight: usize) {
        if in_flight > 1 {
            let ns = took.as_nanos() as u64 / in_flight as u64;
            self.charge(tenant, ns, Instant::now());
        }
    }

    /// How long `tenant` waits before its next step: until the next window
    /// when it used its share of this one while others are active, else
    /// not at all.
    pub(crate) fn pace(&self, tenant: &str) -> Option<Duration> {
        self.pace_at(tenant, Instant::now())
    }

    fn pace_at(&self, tenant: &str, at: Instant) -> Option<Duration> {
        let mut w = self.windows.lock().unwrap();
        w.roll(at);
        let used = *w.now.get(tenant)?;
        let share = self.share(&w)?;
        if used < share {
            return None;
        }
        let began = w.began?;
        let rest = (began + WINDOW).saturating_duration_since(at);
        // A tenant far past its share waits a window more for each share it
        // used (at most MAX_WINDOWS), and not in step with its other waits:
        // its requests come back spread out, not as a burst at the next window.
        let over = (used / share.max(1)).saturating_sub(1).min(MAX_WINDOWS) as u32;
        let jitter = WINDOW.mul_f64(rand::random::<f64>() / 2.0);
        Some(rest + WINDOW * over + jitter)
    }

    /// The CPU a tenant may use in this window, when any pacing applies:
    /// none alone; beside others, an equal part of [`BUSY_PART`] of the
    /// machine, with one part kept for a newcomer.
    fn share(&self, w: &Windows) -> Option<u64> {
        let active = w.active();
        (active >= 2).then(|| self.capacity_ns / BUSY_PART / (active + 1))
    }

    /// Waits out `tenant`'s pace, if any.
    pub(crate) async fn paced(&self, tenant: &str) {
        if let Some(wait) = self.pace(tenant) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The tenant a piece of work is for, known from the start (an
/// activation) or once it is found (an API request, at authentication).
#[derive(Clone, Default, Debug)]
pub struct TenantCell(Arc<OnceLock<String>>);

impl TenantCell {
    /// A cell naming `tenant`.
    pub(crate) fn of(tenant: &str) -> TenantCell {
        let cell = TenantCell::default();
        cell.set(tenant);
        cell
    }

    /// Names the tenant (the first name given stays).
    pub fn set(&self, tenant: &str) {
        let _ = self.0.set(tenant.to_owned());
    }
}

/// The CPU clock of the current thread and the thread's id.
pub(super) fn thread_cpu() -> (u64, Duration) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    // SAFETY: pthread_self has no preconditions.
    let thread = unsafe { libc::pthread_self() } as u64;
    let cpu = if ok {
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    } else {
        Duration::ZERO
    };
    (thread, cpu)
}

/// A future whose CPU is charged to a tenant each time it is polled (what
/// it uses before its tenant is known is charged to nobody).
pub(crate) struct Metered<F> {
    inner: Pin<Box<F>>,
    tenant: TenantCell,
    fair: Arc<FairShare>,
}

impl<F: Future> Metered<F> {
    /// `inner`, charging the tenant `tenant` names.
    pub(crate) fn new(fair: &Arc<FairShare>, tenant: TenantCell, inner: F) -> Metered<F> {
        Metered {
            inner: Box::pin(inner),
            tenant,
            fair: fair.clone(),
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let before = thread_cpu().1;
        let poll = self.inner.as_mut().poll(cx);
        if let Some(tenant) = self.tenant.0.get() {
            let used = thread_cpu().1.saturating_sub(before);
            self.fair.charge(tenant, used.as_nanos() as u64, Instant::now());
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_alone_is_never_paced_and_beside_another_gets_a_third() {
        let fair = FairShare::new(2);
        let t0 = Instant::now();
        fair.charge("a", 40_000_000, t0);
        assert_eq!(fair.pace_at("a", t0), None, "alone: the whole machine");
        fair.charge("b", 1_000_000, t0);
        assert!(fair.pace_at("a", t0).is_some(), "beside b: a used more than a third");
        assert_eq!(fair.pace_at("b", t0), None, "b used little");
        let next = t0 + WINDOW;
        assert_eq!(fair.pace_at("a", next), None, "a new window, a new share");
        let later = t0 + WINDOW * 3;
        fair.charge("a", 40_000_000, later);
        assert_eq!(fair.pace_at("a", later), None, "b has not been seen for two windows");
    }

    #[test]
    fn two_tenants_get_a_sixth_of_the_machine_each() {
        let fair = FairShare::new(2);
        let t0 = Instant::now();
        fair.charge("a", 6_000_000, t0);
        fair.charge("b", 6_000_000, t0);
        assert_eq!(fair.pace_at("a", t0), None, "below 40 ms / 6");
        fair.charge("a", 1_000_000, t0);
        assert!(fair.pace_at("a", t0).is_some(), "past it");
    }

    #[tokio::test]
    async fn a_metered_future_charges_its_tenant() {
        let fair = FairShare::new(2);
        Metered::new(&fair, TenantCell::of("a"), async {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(2) {
                std::hint::black_box(0u64);
            }
        })
        .await;
        let used = fair.windows.lock().unwrap().now.get("a").copied().unwrap_or(0);
        assert!(used >= 1_000_000, "{used} ns");
    }

    #[test]
    fn a_store_write_costs_its_part_of_the_wait_and_nothing_alone() {
        let fair = FairShare::new(2);
        let used = |t: &str| fair.windows.lock().unwrap().now.get(t).copied();
        fair.charge_store("a", Duration::from_millis(4), 1);
        assert_eq!(used("a"), None, "a write alone kept nobody waiting");
        fair.charge_store("a", Duration::from_millis(4), 4);
        assert_eq!(used("a"), Some(1_000_000), "a quarter of the 4 ms shared by four");
    }
}
