//! The workflow's host side: the `context` interface, all of it through one
//! journaling wrapper ([`ExecutionHost::call`]), and [`activate`], which
//! runs one activation and returns how it ended.
//!
//! Live, a call runs, its result is recorded and buffered; the buffer is
//! committed in one transaction with the next externally visible step (an
//! activity result, a timer start, a consumed signal, a child start). The
//! end of the activation (completion, failure, parking, continue-as-new) is
//! committed by the caller. Replaying, a call must match the command at the
//! cursor (kind and arguments) and gets the recorded result; a mismatch
//! parks the execution and writes nothing.
//!
//! - `context.rs`: the WIT `context` functions, decoding recorded results;
//! - `activities.rs`: activity calls in the background, waiting for them,
//!   and suspending during a long retry backoff;
//! - `waits.rs`: timers, signals, children, and cancellation, which reaches
//!   every wait;
//! - `race.rs`: handles of any kind, `wait-any` over them and `cancel`;
//! - `effects.rs`: what the host asks of the node (commits, inbox, children);
//! - `end.rs`: the typed interrupts and the [`End`] of an activation;
//! - `spares.rs`: instances made ahead of time for slow-to-instantiate
//!   components;
//! - `probes.rs`: what `cairn bench` measures of the engine's insides.

mod activities;
mod context;
mod effects;
mod end;
pub(crate) mod probes;
mod race;
mod spares;
mod waits;

pub(crate) use spares::{SPARE_SLOTS, SpareMaker, Spares};

pub(crate) use effects::{ChildState, Effects};
pub(crate) use end::{End, nondeterminism_error};

use super::activity_host::News;
use super::bindings::workflow::Workflow;
use super::bindings::workflow::WorkflowPre;
use super::guard::Guard;
use super::{ActivityRegistry, Engine};
use crate::error::Error;
use crate::journal::record::{ChildStartResult, ContinueResult, SignalWaitResult, SleepResult};
use crate::journal::{ChildRef, Command, Cursor, Replayed, RetryState};
use crate::model::{InboxMessage, Key, Lease, Transition, now_ms};
use end::Interrupt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A compiled, pre-linked workflow component.
pub(crate) struct WorkflowComponent {
    pub(crate) pre: WorkflowPre<WorkflowState>,
    /// Instances made ahead of time (only for slow-to-instantiate components).
    pub(crate) spares: Arc<Spares>,
}

/// Store data of a workflow instance.
pub(crate) struct WorkflowState {
    wasi: WasiCtx,
    table: ResourceTable,
    guard: Guard,
    host: HostSlot,
    stderr: MemoryOutputPipe,
}

/// The execution a store serves; empty in a spare instance's store, which
/// never runs guest code before it is given one.
pub(crate) struct HostSlot(Option<ExecutionHost>);

impl std::ops::Deref for HostSlot {
    type Target = ExecutionHost;
    fn deref(&self) -> &ExecutionHost {
        self.0.as_ref().expect("a spare instance runs no guest code")
    }
}

impl std::ops::DerefMut for HostSlot {
    fn deref_mut(&mut self) -> &mut ExecutionHost {
        self.0.as_mut().expect("a spare instance runs no guest code")
    }
}

impl WasiView for WorkflowState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Links deterministic WASI and the `context` interface.
pub(in crate::engine) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<WorkflowState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    super::bindings::workflow::cairn::workflow::context::add_to_linker::<WorkflowState, HasSelf<WorkflowState>>(
        &mut linker,
        |s| s,
    )?;
    Ok(linker)
}

/// How the host of one activation behaves.
#[derive(Debug, Clone)]
pub(crate) struct HostOptions {
    /// Waits longer than this drop the instance and wake by replay.
    pub(crate) evict_after: Duration,
    /// Print workflow log lines to stderr.
    pub(crate) echo_logs: bool,
    /// Check the code against the journal only: nothing runs live, nothing
    /// is written, and reaching the end of the journal stops the guest.
    pub(crate) replay_only: bool,
    /// Longest a wait goes without looking again when no poke came (a lost
    /// notification costs this much latency, no more).
    pub(crate) fallback: Duration,
    /// The tenant's `max_journal_entries`: a new call past it parks the
    /// execution with `CAIRN-E031`.
    pub(crate) max_entries: Option<u64>,
    /// The tenant has a `max_journal_bytes`: each new call first asks
    /// whether its journals are full (and parks the execution if so).
    pub(crate) journal_quota: bool,
    /// The tenant's CPU budget per activation, when below the node's.
    pub(crate) cpu_budget: Option<Duration>,
    /// The tenant's CPU meter (its `cpu_ms_per_minute`).
    pub(crate) cpu_meter: Option<Arc<super::guard::CpuMeter>>,
    /// Set when the execution is ended from outside (terminated): a guest
    /// that computes stops at its next epoch tick (≤ 10 ms of CPU).
    pub(crate) stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Everything the host needs to serve one execution's calls.
pub(crate) struct ExecutionHost {
    /// The execution's key (its lease's): guests see only its name.
    id: Key,
    cursor: Cursor,
    lease: Lease,
    effects: Arc<dyn Effects>,
    engine: Arc<Engine>,
    registry: Arc<ActivityRegistry>,
    /// What the running activity calls report (by the seq of their start).
    news_tx: mpsc::UnboundedSender<(u32, News)>,
    news_rx: mpsc::UnboundedReceiver<(u32, News)>,
    /// Activity calls running in the background.
    tasks: HashMap<u32, JoinHandle<()>>,
    /// Those of them waiting between two attempts.
    backoff: HashMap<u32, RetryState>,
    /// Children by the seq of their `child.start`.
    children: HashMap<u32, ChildRef>,
    /// Every handle started so far (any kind), by its seq.
    waitables: HashMap<u32, race::Waitable>,
    /// Until the first commit on a lease taken from a crashed owner: live
    /// calls may repeat ones that owner made and never committed.
    recovering: bool,
    /// Signals and cancellation requests, as last read.
    inbox: Vec<InboxMessage>,
    /// Wakes the waits when the inbox or a child changes (once subscribed).
    pokes: Option<Arc<Notify>>,
    options: HostOptions,
}

impl Drop for ExecutionHost {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
        if let Some(pokes) = self.pokes.take() {
            self.effects.forget_pokes(&self.id, pokes);
        }
    }
}

/// Stops the guest with a typed interrupt.
fn stop(why: Interrupt) -> wasmtime::Error {
    wasmtime::Error::new(why)
}

impl ExecutionHost {
    /// A host for one activation of an execution.
    pub(crate) fn new(
        cursor: Cursor,
        lease: Lease,
        effects: Arc<dyn Effects>,
        engine: Arc<Engine>,
        registry: Arc<ActivityRegistry>,
        options: HostOptions,
    ) -> ExecutionHost {
        let (news_tx, news_rx) = mpsc::unbounded_channel();
        let recovering = lease.recovered;
        ExecutionHost {
            id: lease.execution_id.clone(),
            cursor,
            lease,
            effects,
            engine,
            registry,
            news_tx,
            news_rx,
            tasks: HashMap::new(),
            backoff: HashMap::new(),
            children: HashMap::new(),
            waitables: HashMap::new(),
            recovering,
            inbox: Vec::new(),
            pokes: None,
            options,
        }
    }

    /// The replay cursor (with the entries not committed yet).
    pub(crate) fn cursor_mut(&mut self) -> &mut Cursor {
        &mut self.cursor
    }

    /// Children started by this execution that have no recorded outcome.
    pub(crate) fn open_children(&self) -> Vec<ChildRef> {
        let mut open: Vec<(&u32, &ChildRef)> = self
            .children
            .iter()
            .filter(|(seq, _)| self.cursor.event(crate::journal::Event::CHILD_DONE, **seq).is_none())
            .collect();
        open.sort_by_key(|(seq, _)| **seq);
        open.into_iter().map(|(_, c)| c.clone()).collect()
    }

    /// The one wrapper every journaled call passes through. Returns the
    /// command's seq and its (recorded or live) result.
    async fn call(&mut self, command: Command) -> wasmtime::Result<(u32, Value)> {
        let (seq, result) = match self.cursor.replay(&command) {
            Err(nd) => return Err(stop(Interrupt::Park(nondeterminism_error(&self.id, &nd)))),
            Ok(Some(recorded)) => {
                if !self.options.replay_only {
                    self.on_replayed(&command, &recorded).await?;
                }
                (recorded.seq, recorded.result)
            }
            Ok(None) if self.options.replay_only => return Err(stop(Interrupt::EndOfJournal)),
            Ok(None) => {
                if let Some(max) = self.options.max_entries
                    && u64::from(self.cursor.next_seq()) >= max
                {
                    return Err(stop(Interrupt::Park(crate::error::Error::new(
                        crate::error::codes::QUOTA_EXCEEDED,
                        format!("the tenant's quota max_journal_entries = {max} is reached"),
                        "raise it (cairn tenant update --max-journal-entries), then `cairn unpark` the execution",
                    ))));
                }
                if self.options.journal_quota
                    && let Some(full) = self.effects.journal_full(&self.id).await
                {
                    return Err(stop(Interrupt::Park(full)));
                }
                // A tenant past its share of the node's CPU waits its turn.
                self.engine.config.fair.paced(self.id.tenant()).await;
                let t = std::time::Instant::now();
                let span = self.call_span(&command);
                let live = crate::traces::within(&span, self.live(&command)).await;
                crate::traces::end(span, None);
                let live = live?;
                if let Some(m) = crate::metrics::get() {
                    let step = m.step_seconds.with_label_values(&[command.kind()]);
                    step.observe(t.elapsed().as_secs_f64());
                }
                live
            }
        };
        self.note_handle(&command, seq, &result);
        Ok((seq, result))
    }

    /// A span for a live host call, when traces are on: its kind, its seq
    /// and what it is about (an activity's idempotency key, a timer's
    /// duration, a child's workflow, a signal's name).
    fn call_span(&self, command: &Command) -> Option<opentelemetry::Context> {
        use opentelemetry::KeyValue;
        if !crate::traces::on() {
            return None;
        }
        let seq = self.cursor.next_seq();
        let mut attributes = vec![
            KeyValue::new("cairn.execution_id", self.id.name().to_owned()),
            KeyValue::new("cairn.seq", i64::from(seq)),
        ];
        match command {
            Command::StartActivity(a) => {
                attributes.push(KeyValue::new("cairn.activity", a.name.clone()));
                attributes.push(KeyValue::new(
                    "cairn.idempotency_key",
                    format!("{}/{seq}", self.id.as_str()),
                ));
            }
            Command::Sleep(t) | Command::StartTimer(t) => {
                attributes.push(KeyValue::new("cairn.duration_ms", t.duration_ms as i64));
            }
            Command::StartChild(c) => attributes.push(KeyValue::new("cairn.child_workflow", c.workflow.clone())),
            Command::ReceiveSignal(s) | Command::StartSignalWait(s) => {
                attributes.push(KeyValue::new("cairn.signal", s.name.clone()));
            }
            _ => {}
        }
        let kind = opentelemetry::trace::SpanKind::Internal;
        crate::traces::start_here(command.kind().to_owned(), kind, attributes)
    }

    /// Remembers the handle a command started (any kind), for `wait-any`.
    fn note_handle(&mut self, command: &Command, seq: u32, result: &Value) {
        use race::Waitable;
        let waitable = match command {
            Command::StartActivity(a) => Waitable::Activity { name: a.name.clone() },
            Command::StartChild(_) => match serde_json::from_value(result.clone()) {
                Ok(ChildStartResult::Started { .. }) => Waitable::Child,
                _ => return,
            },
            Command::StartTimer(_) => match serde_json::from_value::<SleepResult>(result.clone()) {
                Ok(r) => Waitable::Timer { fire_at: r.fire_at },
                Err(_) => return,
            },
            Command::StartSignalWait(s) => match serde_json::from_value::<SignalWaitResult>(result.clone()) {
                Ok(r) => Waitable::Signal {
                    name: s.name.clone(),
                    deadline: r.deadline,
                },
                Err(_) => return,
            },
            _ => return,
        };
        self.waitables.insert(seq, waitable);
    }

    /// Restores what a replayed command left unfinished: an activity without
    /// a result is started again (same idempotency key); a timer, a signal
    /// wait or a child without an outcome is waited for again.
    async fn on_replayed(&mut self, command: &Command, recorded: &Replayed) -> wasmtime::Result<()> {
        let seq = recorded.seq;
        match command {
            Command::StartActivity(a) if !self.activity_resolved(seq) => {
                self.launch(seq, &a.name, &a.input, a.options.clone(), true)
            }
            Command::Sleep(_) if !self.timer_resolved(seq) => {
                let fire_at = self.decode::<SleepResult>(recorded)?.fire_at;
                self.wait_timer(seq, fire_at).await
            }
            Command::ReceiveSignal(s) if !self.signal_resolved(seq) => {
                let deadline = self.decode::<SignalWaitResult>(recorded)?.deadline;
                self.wait_signal(seq, &s.name, deadline).await
            }
            Command::StartChild(c) => {
                if let ChildStartResult::Started { id } = self.decode(recorded)? {
                    self.children.insert(seq, ChildRef { id, policy: c.policy });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A recorded result, typed; an unreadable one parks the execution.
    fn decode<T: serde::de::DeserializeOwned>(&self, recorded: &Replayed) -> wasmtime::Result<T> {
        serde_json::from_value(recorded.result.clone())
            .map_err(|e| self.corrupt(format!("the result of entry {} cannot be read: {e}", recorded.seq)))
    }

    /// Parks the execution: its journal cannot be read.
    fn corrupt(&self, what: String) -> wasmtime::Error {
        stop(Interrupt::Park(Error::new(
            crate::error::codes::CORRUPT_JOURNAL,
            format!("execution {}: {what}", self.id.name()),
            "the journal was changed outside Cairn; terminate the execution",
        )))
    }

    async fn live(&mut self, command: &Command) -> wasmtime::Result<(u32, Value)> {
        let timed = match command {
            Command::Sleep(_) | Command::StartTimer(_) => true,
            Command::ReceiveSignal(s) => s.timeout_ms.is_some(),
            Command::StartSignalWait(s) => s.timeout_ms.is_some(),
            _ => false,
        };
        if timed {
            self.effects.timer_slot(&self.id).await;
        }
        let now = now_ms();
        let command = command.clone();
        let result = match &command {
            Command::Now(_) => json!(now),
            Command::Random(_) => json!(rand::random::<u64>()),
            Command::Log(l) => {
                if self.options.echo_logs {
                    super::guest_log::workflow_line(self.id.as_str(), l.level, &l.message);
                }
                Value::Null
            }
            Command::Sleep(s) => {
                let fire_at = now.saturating_add(s.duration_ms.min(i64::MAX as u64) as i64);
                let result = json!(SleepResult { fire_at });
                let seq = self.cursor.record(command, result.clone(), now);
                self.commit(Transition::Sleeping { wake_at_ms: fire_at }).await?;
                self.wait_timer(seq, fire_at).await?;
                return Ok((seq, result));
            }
            Command::StartActivity(a) => {
                let seq = self.cursor.next_seq();
                self.launch(seq, &a.name, &a.input, a.options.clone(), false)?;
                json!(seq)
            }
            Command::AwaitActivity(a) => {
                let (handle, fresh) = self.wait_any(&a.handles).await?;
                let result = json!({ "handle": handle });
                let seq = self.cursor.record(command, result.clone(), now_ms());
                if fresh {
                    self.commit(Transition::Running).await?;
                }
                return Ok((seq, result));
            }
            Command::ReceiveSignal(s) => {
                let deadline = s.timeout_ms.map(|t| now.saturating_add(t.min(i64::MAX as u64) as i64));
                let result = json!(SignalWaitResult { deadline });
                let name = s.name.clone();
                let seq = self.cursor.record(command, result.clone(), now);
                self.wait_signal(seq, &name, deadline).await?;
                return Ok((seq, result));
            }
            Command::StartChild(c) => {
                let seq = self.cursor.next_seq();
                let result = json!(self.start_child(seq, c).await?);
                self.cursor.record(command, result.clone(), now);
                self.commit(Transition::Running).await?;
                return Ok((seq, result));
            }
            Command::AwaitChild(c) => {
                let handle = c.handle;
                let fresh = self.wait_child(handle).await?;
                let result = json!({ "handle": handle });
                let seq = self.cursor.record(command, result.clone(), now_ms());
                if fresh {
                    self.commit(Transition::Running).await?;
                }
                return Ok((seq, result));
            }
            Command::StartTimer(t) => json!(SleepResult {
                fire_at: now.saturating_add(t.duration_ms.min(i64::MAX as u64) as i64),
            }),
            Command::StartSignalWait(s) => json!(SignalWaitResult {
                deadline: s.timeout_ms.map(|t| now.saturating_add(t.min(i64::MAX as u64) as i64)),
            }),
            Command::WaitAny(a) => {
                let (handle, fresh) = self.wait_first(&a.handles).await?;
                let result = json!({ "handle": handle });
                let seq = self.cursor.record(command, result.clone(), now_ms());
                if fresh {
                    self.commit(Transition::Running).await?;
                }
                return Ok((seq, result));
            }
            Command::Cancel(c) => {
                self.cancel_handle(c.handle).await?;
                Value::Null
            }
            Command::ContinueAsNew(c) => {
                if serde_json::from_str::<Value>(&c.input).is_err() {
                    wasmtime::bail!("continue-as-new was called with an input that is not JSON");
                }
                let next = next_run_id(&self.id);
                let input = c.input.clone();
                self.cursor
                    .record(command, json!(ContinueResult { next: next.clone() }), now);
                return Err(stop(Interrupt::Continue { next, input }));
            }
        };
        let seq = self.cursor.record(command, result.clone(), now);
        Ok((seq, result))
    }

    /// Commits the buffered entries with a status change. A lost lease or a
    /// store that keeps failing stops the guest.
    async fn commit(&mut self, transition: Transition) -> wasmtime::Result<()> {
        let entries = self.cursor.take_pending();
        match self.effects.commit(&self.lease, &entries, &transition).await {
            Ok(()) => {
                // Past what the crashed owner could have done uncommitted.
                self.recovering = false;
                Ok(())
            }
            Err(e) if e.code == crate::error::codes::LEASE_LOST => Err(stop(Interrupt::LeaseLost)),
            Err(e) => Err(stop(Interrupt::Store(e))),
        }
    }
}

/// The key of the run after `id` in a continue-as-new chain: `id~1`,
/// `id~2`, ... in the same tenant.
fn next_run_id(id: &Key) -> Key {
    match id
        .name()
        .rsplit_once('~')
        .and_then(|(base, n)| n.parse::<u64>().ok().map(|n| (base, n)))
    {
        Some((base, n)) => id.beside(&format!("{base}~{}", n + 1)),
        None => id.with_suffix("~1"),
    }
}

/// One activation: what ended it, and the host with its cursor (entries not
/// committed yet) and children.
pub(crate) struct Activation {
    /// How it ended.
    pub(crate) end: End,
    /// The host, for the caller to commit the end.
    pub(crate) host: ExecutionHost,
}

/// Instantiates the workflow and runs it until it returns or is stopped.
pub(crate) async fn activate(
    engine: &Engine,
    component: &WorkflowComponent,
    mut host: ExecutionHost,
    input: &str,
) -> Activation {
    let _permit = engine.workflow_permit().await;
    if !host.options.replay_only && host.cursor.is_replaying() {
        // A recovering execution may have signals or a cancellation waiting.
        host.refresh_inbox().await;
    }
    let (mut store, instance) = match component.spares.take() {
        Some(spare) => {
            let (mut store, instance) = (spare.store, spare.instance);
            adopt(&mut store, host);
            (store, Some(instance))
        }
        None => (new_store(engine, host), None),
    };
    let result = run_in(&mut store, engine, component, instance, input).await;
    let state = store.into_data();
    let end = match result {
        Ok(returned) => match state.host.cursor.unconsumed() {
            Some(nd) => End::Parked(nondeterminism_error(&state.host.id, &nd)),
            None => match returned {
                Ok(output) if serde_json::from_str::<Value>(&output).is_ok() => End::Completed(output),
                Ok(_) => End::Failed(crate::journal::FailureRecord::new(
                    crate::journal::failures::INVALID_OUTPUT,
                    "the workflow returned text that is not JSON (NaN and infinities are not JSON either)",
                )),
                Err(f) => End::Failed(context::from_wit(f)),
            },
        },
        Err(trap) => End::of_trap(trap, &state.stderr.contents()),
    };
    let host = state.host.0.expect("an activation's store serves its execution");
    Activation { end, host }
}

/// A wasmtime store for one activation: deterministic WASI seeded from the
/// journal, the memory cap and the CPU budget installed.
fn new_store(engine: &Engine, host: ExecutionHost) -> wasmtime::Store<WorkflowState> {
    let (wasi, stderr) = execution_wasi(&host);
    let mut guard = Guard::new(&engine.limits);
    guard.set_meter(host.options.cpu_meter.clone());
    guard.set_cpu_budget(host.options.cpu_budget);
    guard.set_tenant(host.id.tenant());
    guard.set_stop(host.options.stop.clone());
    let state = WorkflowState {
        wasi,
        table: ResourceTable::new(),
        guard,
        host: HostSlot(Some(host)),
        stderr,
    };
    let mut store = wasmtime::Store::new(&engine.wasm, state);
    Guard::install(&mut store, |s: &mut WorkflowState| &mut s.guard);
    store
}

/// Gives a spare instance's store its execution: the deterministic WASI
/// seeded from the journal, and a fresh CPU slice.
fn adopt(store: &mut wasmtime::Store<WorkflowState>, host: ExecutionHost) {
    let (wasi, stderr) = execution_wasi(&host);
    let state = store.data_mut();
    state.wasi = wasi;
    state.stderr = stderr;
    state.guard.set_meter(host.options.cpu_meter.clone());
    state.guard.set_cpu_budget(host.options.cpu_budget);
    state.guard.set_tenant(host.id.tenant());
    state.guard.set_stop(host.options.stop.clone());
    state.host = HostSlot(Some(host));
    store.set_epoch_deadline(1);
}

/// The deterministic WASI of an execution: seeded from its journal.
fn execution_wasi(host: &ExecutionHost) -> (WasiCtx, MemoryOutputPipe) {
    let seed = host.cursor.started().seed;
    super::wasi::workflow_ctx(host.cursor.clock(), host.cursor.start_ms(), seed)
}

/// Instantiates the component (unless a spare was `ready`), has the spares
/// topped up in the background, and runs the workflow.
async fn run_in(
    store: &mut wasmtime::Store<WorkflowState>,
    engine: &Engine,
    component: &WorkflowComponent,
    ready: Option<Workflow>,
    input: &str,
) -> wasmtime::Result<Result<String, super::bindings::workflow::cairn::workflow::types::Failure>> {
    let instance = match ready {
        Some(instance) => instance,
        None => {
            let t = std::time::Instant::now();
            let instance = component.pre.instantiate_async(&mut *store).await?;
            component.spares.observe(t.elapsed());
            instance
        }
    };
    component.spares.refill(&engine.spare_maker(), &component.pre);
    store.data_mut().guard.resume();
    instance.call_run(&mut *store, &input.to_owned()).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_of_a_chain_are_numbered() {
        use crate::model::Key;
        let next = |k: &str| super::next_run_id(&Key::stored(k)).into_string();
        assert_eq!(next("a"), "a~1");
        assert_eq!(next("a~1"), "a~2");
        assert_eq!(next("a~b"), "a~b~1");
        assert_eq!(next("acme/a~1"), "acme/a~2");
    }
}
