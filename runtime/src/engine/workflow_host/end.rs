//! How an activation ends: the typed interrupts host calls raise as traps,
//! and the one [`End`] the caller gets back.

use crate::engine::guard::LimitExceeded;
use crate::engine::memory::MemoryWait;
use crate::error::{Error, codes};
use crate::journal::{FailureRecord, NonDeterminism};
use crate::model::Key;
use std::fmt;

/// Why a host call stopped the guest before it returned. Raised as the
/// trap's error (`wasmtime::Error::new`) and found again by downcasting.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// A long wait: its deadline is committed, the instance is dropped.
    Suspend {
        /// When to wake, ms since epoch.
        wake_at_ms: i64,
    },
    /// Needs an operator (non-determinism, unknown activity, corrupt journal).
    Park(Error),
    /// Another node owns the execution now.
    LeaseLost,
    /// The store failed repeatedly.
    Store(Error),
    /// Replay-only mode reached the end of the journal.
    EndOfJournal,
    /// Continue-as-new: the `continue` command is recorded.
    Continue {
        /// The next run's execution key.
        next: Key,
        /// Its JSON input.
        input: String,
    },
}

impl fmt::Display for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interrupt::Suspend { wake_at_ms } => write!(f, "suspended until {wake_at_ms}"),
            Interrupt::Park(e) | Interrupt::Store(e) => write!(f, "stopped: {}", e.message),
            Interrupt::LeaseLost => f.write_str("the lease was lost"),
            Interrupt::EndOfJournal => f.write_str("the end of the journal was reached"),
            Interrupt::Continue { next, .. } => write!(f, "continued as {}", next.as_str()),
        }
    }
}

impl std::error::Error for Interrupt {}

/// How one activation ended. The caller commits it (the host has already
/// committed every step before it).
#[derive(Debug)]
pub(crate) enum End {
    /// The workflow returned this output; `completed` is not recorded yet.
    Completed(String),
    /// The workflow returned this failure; `failed` is not recorded yet.
    Failed(FailureRecord),
    /// The guest trapped or hit a limit; `failed` is not recorded yet.
    Trapped(Error),
    /// A long wait: its deadline is committed; the instance was dropped.
    Suspended {
        /// When to wake, ms since epoch.
        wake_at_ms: i64,
    },
    /// Needs an operator; nothing of this activation may be written.
    Parked(Error),
    /// Continue-as-new: `continue` is recorded; the next run is to be created.
    Continued {
        /// The next run's execution key.
        next: Key,
        /// Its JSON input.
        input: String,
    },
    /// Another node took the execution over.
    LeaseLost,
    /// The store failed repeatedly.
    StoreFailed(Error),
    /// Replay-only: every recorded call matched, up to the end of the journal.
    Replayed,
}

impl End {
    /// The end a trap stands for: a typed interrupt, a limit, or a guest trap.
    pub(super) fn of_trap(trap: wasmtime::Error, stderr: &[u8]) -> End {
        match trap.downcast::<Interrupt>() {
            Ok(Interrupt::Suspend { wake_at_ms }) => End::Suspended { wake_at_ms },
            Ok(Interrupt::Park(e)) => End::Parked(e),
            Ok(Interrupt::LeaseLost) => End::LeaseLost,
            Ok(Interrupt::Store(e)) => End::StoreFailed(e),
            Ok(Interrupt::EndOfJournal) => End::Replayed,
            Ok(Interrupt::Continue { next, input }) => End::Continued { next, input },
            // It waited for memory and another waiter needed its bytes: it
            // is replayed when there is room (nothing was lost, nothing is written).
            Err(trap) if LimitExceeded::of(&trap) == Some(LimitExceeded::Total(MemoryWait::GaveUp)) => End::Suspended {
                wake_at_ms: crate::model::now_ms() + 100,
            },
            // Ended from outside while it computed: whoever ended it wrote
            // the end; this activation writes nothing.
            Err(trap) if LimitExceeded::of(&trap) == Some(LimitExceeded::Stopped) => End::LeaseLost,
            Err(trap) => End::Trapped(trap_error(&trap, stderr)),
        }
    }
}

/// The error that parks an execution whose replay diverged.
pub(crate) fn nondeterminism_error(id: &Key, nd: &NonDeterminism) -> Error {
    Error::new(
        codes::NONDETERMINISM,
        format!("execution {}: {nd}", id.name()),
        "the workflow code changed incompatibly: run the execution with the component it started with, or terminate it",
    )
}

/// A guest trap as a coded error naming the limit that stopped it.
fn trap_error(trap: &wasmtime::Error, stderr: &[u8]) -> Error {
    match LimitExceeded::of(trap) {
        Some(LimitExceeded::Cpu(budget)) => Error::new(
            codes::CPU_BUDGET,
            format!("the workflow ran longer than its CPU budget of {budget:?} without a host call"),
            "look for an endless loop: fix it, deploy it and `cairn unpark ID --version N`; or raise --cpu-budget-ms if the computation is legitimate, then `cairn unpark ID`",
        ),
        Some(LimitExceeded::Memory(cap)) => Error::new(
            codes::MEMORY_LIMIT,
            format!(
                "the workflow tried to use more than its memory limit of {} MiB",
                cap >> 20
            ),
            "look for unbounded growth (fix it, deploy it and `cairn unpark ID --version N`); or raise the server's --memory-limit-mb (or the tenant's --max-instance-memory-mb) and `cairn unpark ID`",
        ),
        Some(LimitExceeded::Total(MemoryWait::TenantTotal(cap))) => Error::new(
            codes::MEMORY_LIMIT,
            format!(
                "the workflow needs more memory than its tenant's total of {} MiB on a node",
                cap >> 20
            ),
            "raise the tenant's quota (cairn tenant update --max-total-memory-mb), or use less memory",
        ),
        Some(LimitExceeded::Stopped) => Error::new(
            codes::LEASE_LOST,
            "the execution was ended from outside while it computed",
            "nothing to do",
        ),
        Some(LimitExceeded::Total(wait)) => Error::new(
            codes::MEMORY_LIMIT,
            format!(
                "the workflow needs more memory than the node has for all instances: {}",
                LimitExceeded::Total(wait)
            ),
            "raise the server's --total-memory-mb, or use less memory",
        ),
        None => {
            let stderr = String::from_utf8_lossy(stderr).trim().replace('\n', " | ");
            let mut message = format!("the workflow trapped: {}", trap.root_cause());
            if !stderr.is_empty() {
                message = format!("{message}; guest stderr: {stderr}");
            }
            Error::new(
                codes::GUEST_TRAP,
                message,
                "fix the workflow (a panic or a WebAssembly trap) and start it again",
            )
        }
    }
}
