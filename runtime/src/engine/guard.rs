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

/// Enforces the memory cap and the CPU budget of one guest instance.
pub(crate) struct Guard {
    memory_limit: usize,
    cpu_budget: Duration,
    activation_start: Instant,
}

impl Guard {
    /// A guard with the given limits; the activation clock starts now.
    pub(crate) fn new(memory_limit: usize, cpu_budget: Duration) -> Guard {
        Guard {
            memory_limit,
            cpu_budget,
            activation_start: Instant::now(),
        }
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
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            return Err(wasmtime::Error::new(LimitExceeded::Memory(self.memory_limit)));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}
