//! Per-store limits: a memory cap and a CPU budget per activation, and the
//! node's and the tenant's memory totals the instance counts against (see
//! `memory.rs`: past a total it waits). A guest that exceeds a limit traps
//! with a [`LimitExceeded`] error, which the caller finds again by
//! downcasting the trap.
//!
//! The CPU budget counts CPU time the guest's thread actually spent on it
//! (`CLOCK_THREAD_CPUTIME_ID`, sampled at each epoch tick), not wall-clock
//! time: a guest that waited for a core loses none of its budget. The
//! same ticks keep the node fair: every guest yields to the executor at
//! each tick, and a guest that has computed longer than [`LONG_AFTER`]
//! without a host call runs its further slices only while it holds a
//! permit of the engine's [`CpuGate`] (one core fewer than the machine
//! has): long computations, whoever's, take turns on those cores and the
//! remaining one stays free for everyone's short steps.

use super::fair::thread_cpu;
use super::memory::{Account, MemoryTotals, MemoryWait};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{CallHook, ResourceLimiterAsync, Store, UpdateDeadline};

/// CPU a guest may use without a host call before it counts as a long
/// computation and takes turns at the gate.
pub(crate) const LONG_AFTER: Duration = Duration::from_millis(20);

/// The limit a guest ran into: the typed trap its instance stops with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitExceeded {
    /// It computed longer than this without a host call.
    Cpu(Duration),
    /// It tried to grow its memory past this many bytes.
    Memory(usize),
    /// Its memory could never fit in a total (more than all of it).
    Total(MemoryWait),
    /// Its execution was ended from outside (terminated) while it computed.
    Stopped,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Cpu(budget) => write!(f, "CPU budget of {budget:?} (CPU time) exceeded without a host call"),
            LimitExceeded::Memory(cap) => write!(f, "memory limit of {} MiB exceeded", cap >> 20),
            LimitExceeded::Total(MemoryWait::NodeTotal(cap)) => {
                write!(f, "the node's instance memory total of {} MiB exceeded", cap >> 20)
            }
            LimitExceeded::Total(MemoryWait::TenantTotal(cap)) => {
                write!(f, "the tenant's instance memory total of {} MiB exceeded", cap >> 20)
            }
            LimitExceeded::Total(MemoryWait::GaveUp) => f.write_str("gave its activation up to wait for memory"),
            LimitExceeded::Stopped => f.write_str("its execution was ended from outside"),
        }
    }
}

impl std::error::Error for LimitExceeded {}

impl LimitExceeded {
    /// The limit a trap was caused by, if any.
    pub(crate) fn of(trap: &wasmtime::Error) -> Option<LimitExceeded> {
        trap.downcast_ref::<LimitExceeded>().copied()
    }
}

/// The cores long computations may use at once (one engine's guests share it).
#[derive(Clone)]
pub(crate) struct CpuGate(Arc<Semaphore>);

impl CpuGate {
    /// A gate for this machine: all cores but one (at least one).
    pub(crate) fn for_machine() -> CpuGate {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        CpuGate::new(cores.saturating_sub(1).max(1))
    }

    /// A gate of `permits` cores.
    pub(crate) fn new(permits: usize) -> CpuGate {
        CpuGate(Arc::new(Semaphore::new(permits)))
    }
}

/// One tenant's CPU on this node in the current minute, against its
/// `cpu_ms_per_minute` quota: slices are counted at ticks, and a guest of
/// a tenant past its quota waits at its next tick for the next minute
/// (throttled, never stopped).
#[derive(Debug, Default)]
pub(crate) struct CpuMeter {
    /// The quota in ns per minute (0: none).
    limit_ns: std::sync::atomic::AtomicU64,
    /// (minute since the epoch, ns used in it).
    window: Mutex<(u64, u64)>,
    /// Whose meter it is (its fair share is asked at ticks too).
    tenant: String,
}

impl CpuMeter {
    /// The meter of `tenant`, without a quota.
    pub(crate) fn of(tenant: &str) -> CpuMeter {
        CpuMeter {
            tenant: tenant.to_owned(),
            ..CpuMeter::default()
        }
    }

    /// Sets the quota (none: unlimited).
    pub(crate) fn set_limit(&self, per_minute: Option<Duration>) {
        let ns = per_minute.map_or(0, |d| d.as_nanos().max(1) as u64);
        self.limit_ns.store(ns, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts `used` at `now_ms`; returns how long to wait when the minute's
    /// quota is spent.
    fn add(&self, used: Duration, now_ms: u64) -> Option<Duration> {
        let limit = self.limit_ns.load(std::sync::atomic::Ordering::Relaxed);
        let minute = now_ms / 60_000;
        let mut window = self.window.lock().unwrap();
        if window.0 != minute {
            *window = (minute, 0);
        }
        window.1 += used.as_nanos() as u64;
        (limit > 0 && window.1 >= limit).then(|| Duration::from_millis((minute + 1) * 60_000 - now_ms))
    }
}

/// The limits every guard of one engine is made with.
#[derive(Clone)]
pub(crate) struct Limits {
    /// Cap on all memories and tables of one instance, bytes.
    pub(crate) memory_limit: usize,
    /// CPU a workflow may use between two host calls.
    pub(crate) cpu_budget: Duration,
    /// Where long computations take turns.
    pub(crate) gate: CpuGate,
    /// The memory totals of the node and its tenants.
    pub(crate) memory: Arc<MemoryTotals>,
    /// Tenants' fair shares of the node's CPU: a long computation of a
    /// tenant past its share waits before it takes the gate.
    pub(crate) fair: Arc<super::fair::FairShare>,
}

/// The slice a guest is running now: where its CPU clock stood when the
/// slice began (thread, time), and its gate permit if it holds one. Shared
/// with the yield that starts the next slice.
#[derive(Default)]
struct Slice {
    mark: Option<(u64, Duration)>,
    permit: Option<OwnedSemaphorePermit>,
}

/// Bytes a table element is counted as (a funcref is a pointer and a
/// type index in wasmtime's layout).
const TABLE_ELEMENT_BYTES: usize = 16;

/// Enforces the memory cap and the CPU budget of one guest instance. The
/// cap is on all its linear memories and tables together: a cap per memory
/// would let a component with two memories have twice as much.
pub(crate) struct Guard {
    memory_limit: usize,
    cpu_budget: Duration,
    gate: CpuGate,
    fair: Arc<super::fair::FairShare>,
    /// CPU used since the last host call, as counted at ticks.
    used_cpu: Duration,
    /// Whether a tick came since the last host call (else nothing to reset).
    ticked: bool,
    slice: Arc<Mutex<Slice>>,
    /// Its tenant's CPU meter, once it serves an execution.
    meter: Option<Arc<CpuMeter>>,
    /// Set when the execution is ended from outside: the next tick stops
    /// the guest.
    stop: Option<Arc<AtomicBool>>,
    /// Bytes of memories and tables the instance holds now.
    used: usize,
    /// Its share of the node's and its tenant's totals.
    account: Account,
}

impl Guard {
    /// A guard with an engine's limits.
    pub(crate) fn new(limits: &Limits) -> Guard {
        Guard::with_budget(limits, limits.cpu_budget)
    }

    /// A guard with an engine's limits but its own CPU budget.
    pub(crate) fn with_budget(limits: &Limits, cpu_budget: Duration) -> Guard {
        Guard {
            memory_limit: limits.memory_limit,
            cpu_budget,
            gate: limits.gate.clone(),
            fair: limits.fair.clone(),
            used_cpu: Duration::ZERO,
            ticked: false,
            slice: Arc::default(),
            meter: None,
            stop: None,
            used: 0,
            account: Account::new(limits.memory.clone()),
        }
    }

    /// Counts the instance against `tenant`'s memory total from now on,
    /// with the tenant's cap on one instance when it is below the node's.
    pub(crate) fn set_tenant(&mut self, tenant: &str) {
        if let Some(cap) = self.account.set_tenant(tenant) {
            self.memory_limit = self.memory_limit.min(cap);
        }
    }

    /// Counts this instance's CPU against its tenant's meter from now on.
    pub(crate) fn set_meter(&mut self, meter: Option<Arc<CpuMeter>>) {
        self.meter = meter;
    }

    /// The flag that stops the guest at its next tick once set.
    pub(crate) fn set_stop(&mut self, stop: Option<Arc<AtomicBool>>) {
        self.stop = stop;
    }

    /// Lowers the CPU budget to the tenant's, when it has a lower one.
    pub(crate) fn set_cpu_budget(&mut self, budget: Option<Duration>) {
        if let Some(budget) = budget {
            self.cpu_budget = self.cpu_budget.min(budget);
        }
    }

    /// Grows the instance's total from `current` to `desired` bytes of one
    /// memory or table, unless that passes the cap; waits while a memory
    /// total is short.
    async fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = (self.used - current.min(self.used)).saturating_add(desired);
        if total > self.memory_limit {
            self.leave();
            return Err(wasmtime::Error::new(LimitExceeded::Memory(self.memory_limit)));
        }
        if total > self.used && !self.account.try_reserve(total - self.used) {
            // It waits for memory: its gate permit goes back meanwhile.
            self.leave();
            if let Err(wait) = self.account.reserve(total - self.used).await {
                return Err(wasmtime::Error::new(LimitExceeded::Total(wait)));
            }
        }
        self.used = total;
        Ok(true)
    }

    /// Starts a new activation (call when control returns to the guest):
    /// the budget starts again.
    pub(crate) fn resume(&mut self) {
        if self.ticked {
            self.ticked = false;
            self.used_cpu = Duration::ZERO;
            self.slice.lock().unwrap().mark = None;
        }
    }

    /// The guest left its code (a host call, a return, a trap): it gives
    /// its gate permit back.
    fn leave(&mut self) {
        if self.ticked {
            self.slice.lock().unwrap().permit = None;
        }
    }

    /// An epoch tick while the guest computes: counts the CPU of the slice
    /// that ends, stops a guest past its budget, and yields — through the
    /// gate once the computation is long.
    fn tick(&mut self) -> wasmtime::Result<UpdateDeadline> {
        self.ticked = true;
        let (thread, now) = thread_cpu();
        let mut spent = Duration::ZERO;
        {
            let mut slice = self.slice.lock().unwrap();
            slice.permit = None;
            // A slice that moved threads (after a host call) is not counted: at most a tick.
            if let Some((t, mark)) = slice.mark.take()
                && t == thread
            {
                spent = now.saturating_sub(mark);
                self.used_cpu += spent;
            }
        }
        if self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(wasmtime::Error::new(LimitExceeded::Stopped));
        }
        if self.used_cpu > self.cpu_budget {
            return Err(wasmtime::Error::new(LimitExceeded::Cpu(self.cpu_budget)));
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let throttle = self.meter.as_ref().and_then(|m| m.add(spent, now_ms));
        let slice = self.slice.clone();
        let gate = (self.used_cpu > LONG_AFTER).then(|| self.gate.0.clone());
        // A long computation of a tenant past its fair share leaves the
        // gate to others for its pace.
        let pace = gate
            .as_ref()
            .and(self.meter.as_ref())
            .and_then(|m| self.fair.pace(&m.tenant));
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                if let Some(wait) = throttle.into_iter().chain(pace).max() {
                    tokio::time::sleep(wait).await;
                }
                let permit = match gate {
                    Some(gate) => Some(gate.acquire_owned().await.expect("the gate is never closed")),
                    None => {
                        tokio::task::yield_now().await;
                        None
                    }
                };
                // The guest goes on right after this, on this thread.
                let mut s = slice.lock().unwrap();
                s.permit = permit;
                s.mark = Some(thread_cpu());
            }),
        ))
    }

    /// Installs the limiter, the epoch callback and the call hook on a store.
    pub(crate) fn install<T: Send + 'static>(store: &mut Store<T>, get: fn(&mut T) -> &mut Guard) {
        store.limiter_async(move |t| get(t) as &mut dyn ResourceLimiterAsync);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| get(cx.data_mut()).tick());
        store.call_hook(move |mut cx, hook| {
            if matches!(hook, CallHook::CallingHost | CallHook::ReturningFromWasm) {
                get(cx.data_mut()).leave();
            }
            Ok(())
        });
    }
}

#[async_trait::async_trait]
impl ResourceLimiterAsync for Guard {
    async fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired).await
    }

    async fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > 1 << 20 {
            return Ok(false);
        }
        self.grow(current * TABLE_ELEMENT_BYTES, desired * TABLE_ELEMENT_BYTES)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cap_counts_every_memory_and_table_together() {
        let limits = Limits {
            memory_limit: 10 << 20,
            cpu_budget: Duration::from_secs(1),
            gate: CpuGate::new(1),
            memory: Arc::new(MemoryTotals::new(None, Arc::default())),
            fair: crate::engine::fair::FairShare::new(1),
        };
        let mut g = Guard::new(&limits);
        assert!(g.memory_growing(0, 4 << 20, None).await.unwrap());
        assert!(g.memory_growing(0, 4 << 20, None).await.unwrap(), "a second memory");
        let e = g.memory_growing(0, 4 << 20, None).await.unwrap_err();
        assert_eq!(
            LimitExceeded::of(&e),
            Some(LimitExceeded::Memory(10 << 20)),
            "a third passes the cap"
        );
        assert!(
            g.memory_growing(4 << 20, 5 << 20, None).await.unwrap(),
            "growing one counts the difference"
        );
        assert!(g.table_growing(0, 1000, None).await.unwrap());
        assert!(
            g.memory_growing(5 << 20, 6 << 20, None).await.is_err(),
            "tables count too"
        );
        assert!(!g.table_growing(0, 2 << 20, None).await.unwrap());
        assert_eq!(
            limits.memory.used("x").0,
            (9 << 20) + 1000 * TABLE_ELEMENT_BYTES,
            "the node's total counts what it holds"
        );
        drop(g);
        assert_eq!(limits.memory.used("x").0, 0, "and gets it back when it drops");
    }
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn the_thread_clock_counts_work_not_waiting() {
        let (thread, before) = thread_cpu();
        std::thread::sleep(Duration::from_millis(30));
        let (_, slept) = thread_cpu();
        assert!(slept - before < Duration::from_millis(10), "sleeping costs no CPU");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let (same, worked) = thread_cpu();
        assert_eq!(thread, same);
        assert!(worked - slept >= Duration::from_millis(20), "spinning does");
    }
}

#[cfg(test)]
mod meter_tests {
    use super::*;

    #[test]
    fn a_tenant_past_its_minute_waits_for_the_next() {
        let meter = CpuMeter::default();
        let ms = Duration::from_millis;
        assert_eq!(meter.add(ms(900), 60_000), None, "no quota");
        meter.set_limit(Some(ms(500)));
        let minute = 120_000;
        assert_eq!(meter.add(ms(300), minute + 1_000), None);
        assert_eq!(
            meter.add(ms(300), minute + 2_000),
            Some(ms(58_000)),
            "spent: wait for the next minute"
        );
        assert_eq!(meter.add(ms(100), minute + 60_000), None, "a new minute starts at zero");
    }
}
