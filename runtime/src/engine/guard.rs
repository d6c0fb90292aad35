//! Per-store limits: a memory cap and a CPU budget per activation. A guest
//! that exceeds one traps with a [`LimitExceeded`] error, which the caller
//! finds again by downcasting the trap.

use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

/// The limit a guest ran into: the typed trap its instance stops with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitExceeded {
    /// It computed longer than this without a host call.
    Cpu(Duration),
    /// It tried to grow its memory past this many bytes.
    Memory(usize),
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Cpu(budget) => write!(f, "CPU budget of {budget:?} exceeded without a host call"),
            LimitExceeded::Memory(cap) => write!(f, "memory limit of {} MiB exceeded", cap >> 20),
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

/// Bytes a table element is counted as (a funcref is a pointer and a
/// type index in wasmtime's layout).
const TABLE_ELEMENT_BYTES: usize = 16;

/// Enforces the memory cap and the CPU budget of one guest instance. The
/// cap is on all its linear memories and tables together: a cap per memory
/// would let a component with two memories have twice as much.
pub(crate) struct Guard {
    memory_limit: usize,
    cpu_budget: Duration,
    activation_start: Instant,
    /// Bytes of memories and tables the instance holds now.
    used: usize,
}

impl Guard {
    /// A guard with the given limits; the activation clock starts now.
    pub(crate) fn new(memory_limit: usize, cpu_budget: Duration) -> Guard {
        Guard {
            memory_limit,
            cpu_budget,
            activation_start: Instant::now(),
            used: 0,
        }
    }

    /// Grows the instance's total from `current` to `desired` bytes of one
    /// memory or table, unless that passes the cap.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = (self.used - current.min(self.used)).saturating_add(desired);
        if total > self.memory_limit {
            return Err(wasmtime::Error::new(LimitExceeded::Memory(self.memory_limit)));
        }
        self.used = total;
        Ok(true)
    }

    /// Starts a new activation (call when control returns to the guest).
    pub(crate) fn resume(&mut self) {
        self.activation_start = Instant::now();
    }

    /// Installs the limiter and the epoch callback on a store.
    pub(crate) fn install<T: Send + 'static>(store: &mut Store<T>, get: fn(&mut T) -> &mut Guard) {
        store.limiter(move |t| get(t) as &mut dyn ResourceLimiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            let guard = get(cx.data_mut());
            if guard.activation_start.elapsed() > guard.cpu_budget {
                return Err(wasmtime::Error::new(LimitExceeded::Cpu(guard.cpu_budget)));
            }
            // Let other executions run between slices of a long computation.
            Ok(UpdateDeadline::Yield(1))
        });
    }
}

impl ResourceLimiter for Guard {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > 1 << 20 {
            return Ok(false);
        }
        self.grow(current * TABLE_ELEMENT_BYTES, desired * TABLE_ELEMENT_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_every_memory_and_table_together() {
        let mut g = Guard::new(10 << 20, Duration::from_secs(1));
        assert!(g.memory_growing(0, 4 << 20, None).unwrap());
        assert!(g.memory_growing(0, 4 << 20, None).unwrap(), "a second memory");
        let e = g.memory_growing(0, 4 << 20, None).unwrap_err();
        assert_eq!(
            LimitExceeded::of(&e),
            Some(LimitExceeded::Memory(10 << 20)),
            "a third passes the cap"
        );
        assert!(
            g.memory_growing(4 << 20, 5 << 20, None).unwrap(),
            "growing one counts the difference"
        );
        assert!(g.table_growing(0, 1000, None).unwrap());
        assert!(g.memory_growing(5 << 20, 6 << 20, None).is_err(), "tables count too");
        assert!(!g.table_growing(0, 2 << 20, None).unwrap());
    }
}
