//! Per-store limits: a memory cap and a CPU budget per activation.

use std::time::{Duration, Instant};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

/// Enforces the memory cap and the CPU budget of one guest instance and
/// remembers which limit stopped it, so the error can say so.
pub struct Guard {
    memory_limit: usize,
    cpu_budget: Duration,
    activation_start: Instant,
    /// Set when the guest tried to grow memory past the cap.
    pub memory_exceeded: bool,
    /// Set when the guest ran past its CPU budget without a host call.
    pub cpu_exceeded: bool,
}

impl Guard {
    /// A guard with the given limits; the activation clock starts now.
    pub fn new(memory_limit: usize, cpu_budget: Duration) -> Guard {
        Guard {
            memory_limit,
            cpu_budget,
            activation_start: Instant::now(),
            memory_exceeded: false,
            cpu_exceeded: false,
        }
    }

    /// Starts a new activation (call when control returns to the guest).
    pub fn resume(&mut self) {
        self.activation_start = Instant::now();
    }

    /// The memory cap in MiB, for messages.
    pub fn memory_limit_mib(&self) -> usize {
        self.memory_limit >> 20
    }

    /// The CPU budget, for messages.
    pub fn cpu_budget(&self) -> Duration {
        self.cpu_budget
    }

    /// Installs the limiter and the epoch callback on a store.
    pub fn install<T: Send + 'static>(store: &mut Store<T>, get: fn(&mut T) -> &mut Guard) {
        store.limiter(move |t| get(t) as &mut dyn ResourceLimiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            let guard = get(cx.data_mut());
            if guard.activation_start.elapsed() > guard.cpu_budget {
                guard.cpu_exceeded = true;
                wasmtime::bail!("CPU budget of {:?} exceeded without a host call", guard.cpu_budget);
            }
            // Let other executions run between slices of a long computation.
            Ok(UpdateDeadline::Yield(1))
        });
    }
}

impl ResourceLimiter for Guard {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_exceeded = true;
            wasmtime::bail!("memory limit of {} MiB exceeded", self.memory_limit >> 20);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}
