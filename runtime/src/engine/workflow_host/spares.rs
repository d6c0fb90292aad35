//! Spare instances: made ahead of time for components that are slow to
//! instantiate, so a start or a resumption takes one ready-made instead of
//! waiting for it.
//!
//! A componentize-py component links CPython dynamically: every
//! instantiation fills ~5,700 funcref slots of tables its modules import
//! (wasmtime cannot initialise those lazily) and wires ~3,000 imports, about
//! half a millisecond. A component whose fastest instantiation (of a few)
//! takes longer than [`SLOW`] keeps up to [`PER_COMPONENT`] spares, refilled in the
//! background after one is taken; at most [`SPARE_SLOTS`] exist in the
//! whole engine, in pool slots reserved for them.
//!
//! A spare's store has no execution yet (its [`HostSlot`] is empty) and
//! WASI whose clocks and randomness trip a flag: a component that reads
//! them, or calls the `context` interface, while it is instantiated would
//! see other values than the journal's, so it is never given spares.
//! (Only `get-insecure-seed` is not watched: it reads a constant.)

use super::{HostSlot, WorkflowState};
use crate::engine::bindings::workflow::Workflow;
use crate::engine::guard::{Guard, LimitExceeded, Limits};
use futures_util::FutureExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// Components that instantiate slower than this get spares.
pub(crate) const SLOW: Duration = Duration::from_micros(100);
/// Instantiations measured before a component is judged.
const SAMPLES: u64 = 3;
/// Spares kept per component.
pub(crate) const PER_COMPONENT: usize = 2;
/// Spares in the whole engine (pool slots are reserved for them).
pub(crate) const SPARE_SLOTS: u32 = 4;

/// An instance made ahead of time, with the pool slot it holds.
pub(crate) struct Spare {
    pub(super) store: Store<WorkflowState>,
    pub(super) instance: Workflow,
    _slot: OwnedSemaphorePermit,
}

/// The spares of one component and what is known of its instantiation.
pub(crate) struct Spares {
    ready: Mutex<Vec<Spare>>,
    /// The fastest instantiation seen, in ns: the component's own cost
    /// (a cold first one or a busy machine only add to it).
    fastest_ns: AtomicU64,
    /// Instantiations seen.
    seen: AtomicU64,
    /// A refill is under way.
    refilling: AtomicBool,
    /// The component calls the host while instantiated: no spares.
    refused: AtomicBool,
}

impl Default for Spares {
    fn default() -> Spares {
        Spares {
            ready: Mutex::default(),
            fastest_ns: AtomicU64::new(u64::MAX),
            seen: AtomicU64::new(0),
            refilling: AtomicBool::new(false),
            refused: AtomicBool::new(false),
        }
    }
}

/// What a refill needs of the engine, owned so it can run in the background.
#[derive(Clone)]
pub(crate) struct SpareMaker {
    pub(crate) wasm: wasmtime::Engine,
    pub(crate) limits: Limits,
    pub(crate) slots: Arc<Semaphore>,
}

impl Spares {
    /// A ready-made instance, if there is one.
    pub(crate) fn take(&self) -> Option<Spare> {
        self.ready.lock().unwrap().pop()
    }

    /// How many are ready.
    pub(crate) fn ready(&self) -> usize {
        self.ready.lock().unwrap().len()
    }

    /// Notes how long an instantiation of the component took.
    pub(crate) fn observe(&self, took: Duration) {
        self.fastest_ns.fetch_min(took.as_nanos() as u64, Ordering::Relaxed);
        self.seen.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the component is slow enough to be given spares: even its
    /// fastest of at least [`SAMPLES`] instantiations took longer than [`SLOW`].
    fn wanted(&self) -> bool {
        !self.refused.load(Ordering::Relaxed)
            && self.seen.load(Ordering::Relaxed) >= SAMPLES
            && self.fastest_ns.load(Ordering::Relaxed) > SLOW.as_nanos() as u64
    }

    /// Tops the spares up in the background if the component is slow to
    /// instantiate and a refill is not already running.
    pub(crate) fn refill(
        self: &Arc<Self>,
        maker: &SpareMaker,
        pre: &crate::engine::bindings::workflow::WorkflowPre<WorkflowState>,
    ) {
        if !self.wanted() || self.ready() >= PER_COMPONENT || self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let (spares, maker, pre) = (self.clone(), maker.clone(), pre.clone());
        tokio::spawn(async move {
            while spares.wanted() && spares.ready() < PER_COMPONENT {
                let Ok(slot) = maker.slots.clone().try_acquire_owned() else {
                    break;
                };
                // A `context` call finds no execution (a panic, caught here).
                let made = std::panic::AssertUnwindSafe(make(&maker, &pre)).catch_unwind().await;
                match made {
                    Ok(Ok((store, instance, took))) => {
                        spares.observe(took);
                        spares.ready.lock().unwrap().push(Spare {
                            store,
                            instance,
                            _slot: slot,
                        });
                    }
                    // No memory for it now: the next refill tries again.
                    Ok(Err(e)) if LimitExceeded::of(&e).is_some() => break,
                    Ok(Err(e)) => {
                        tracing::debug!("no spare instances for this component: {e:#}");
                        spares.refused.store(true, Ordering::Relaxed);
                    }
                    Err(_) => spares.refused.store(true, Ordering::Relaxed),
                }
            }
            spares.refilling.store(false, Ordering::Release);
        });
    }
}

/// Instantiates the component in a store with no execution; an error if
/// it read a clock or randomness on the way.
async fn make(
    maker: &SpareMaker,
    pre: &crate::engine::bindings::workflow::WorkflowPre<WorkflowState>,
) -> wasmtime::Result<(Store<WorkflowState>, Workflow, Duration)> {
    let touched = Arc::new(AtomicBool::new(false));
    let state = WorkflowState {
        wasi: crate::engine::wasi::tripwire_ctx(touched.clone()),
        table: ResourceTable::new(),
        guard: Guard::new(&maker.limits),
        host: HostSlot(None),
        stderr: MemoryOutputPipe::new(16 * 1024),
    };
    let mut store = Store::new(&maker.wasm, state);
    Guard::install(&mut store, |s: &mut WorkflowState| &mut s.guard);
    let t = Instant::now();
    let instance = pre.instantiate_async(&mut store).await?;
    let took = t.elapsed();
    if touched.load(Ordering::Relaxed) {
        wasmtime::bail!("the component reads a clock or randomness while it is instantiated");
    }
    Ok((store, instance, took))
}
