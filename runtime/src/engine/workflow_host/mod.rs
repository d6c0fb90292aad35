//! The workflow's host side: the `context` interface, all of it through one
//! journaling wrapper ([`ExecutionHost::call`]).
//!
//! Live, a call runs, its result is recorded and buffered; the buffer is
//! committed in one transaction with the next externally visible step (an
//! activity result, a timer start, a consumed signal, a child start, the
//! completion). Replaying, a call must match the command at the cursor (kind
//! and arguments) and gets the recorded result; a mismatch parks the
//! execution and writes nothing.
//!
//! - `context.rs`: the WIT `context` functions, decoding recorded results;
//! - `waits.rs`: everything that blocks — activities, timers, signals,
//!   children — and cancellation, which reaches all of them.

mod context;
mod waits;

use super::activity_host::RetrySpec;
use super::bindings::workflow::Workflow;
use super::bindings::workflow::cairn::workflow::types;
use super::{ActivityRegistry, Engine, Guard, WorkflowComponent};
use crate::error::{Error, codes};
use crate::journal::{ActivityOutcome, Cursor, NonDeterminism, Replayed, kinds};
use crate::store::{InboxMessage, Lease, Store, Transition, now_ms};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Why the host stopped the guest before it returned.
#[derive(Debug)]
pub enum Interrupt {
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
    /// Continue-as-new: this run is committed as `continued`.
    Continued {
        /// The next run's execution id.
        next: String,
    },
}

/// Store data of a workflow instance.
pub struct WorkflowState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) guard: Guard,
    pub(crate) host: ExecutionHost,
    pub(crate) stderr: MemoryOutputPipe,
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

/// A child workflow started by this execution.
#[derive(Debug, Clone)]
pub struct ChildRef {
    /// The child's execution id (updated when it continues as new).
    pub id: String,
    /// What happens to it when this execution finishes.
    pub policy: String,
}

/// Everything the host needs to serve one execution's calls.
pub struct ExecutionHost {
    pub(crate) id: String,
    pub(crate) cursor: Cursor,
    pub(crate) lease: Lease,
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    registry: Arc<ActivityRegistry>,
    done_tx: mpsc::UnboundedSender<(u32, ActivityOutcome)>,
    done_rx: mpsc::UnboundedReceiver<(u32, ActivityOutcome)>,
    tasks: HashMap<u32, JoinHandle<()>>,
    /// Children by the seq of their `child.start`.
    pub(crate) children: HashMap<u32, ChildRef>,
    /// Signals and cancellation requests, as last read from the store.
    inbox: Vec<InboxMessage>,
    pub(crate) interrupt: Option<Interrupt>,
    evict_after: Duration,
    echo_logs: bool,
    replay_only: bool,
}

impl Drop for ExecutionHost {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// One journaled call, with its arguments.
enum Call<'a> {
    Now,
    Random,
    Log {
        level: &'static str,
        message: &'a str,
    },
    Sleep {
        ms: u64,
    },
    StartActivity {
        name: &'a str,
        input: &'a str,
        options: RetrySpec,
    },
    Await {
        handles: &'a [u32],
    },
    ReceiveSignal {
        name: &'a str,
        timeout_ms: Option<u64>,
    },
    StartChild {
        workflow: &'a str,
        input: &'a str,
        workflow_id: Option<&'a str>,
        policy: &'static str,
    },
    AwaitChild {
        handle: u32,
    },
    ContinueAsNew {
        input: &'a str,
    },
}

impl Call<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Call::Now => kinds::NOW,
            Call::Random => kinds::RANDOM,
            Call::Log { .. } => kinds::LOG,
            Call::Sleep { .. } => kinds::SLEEP,
            Call::StartActivity { .. } => kinds::ACTIVITY_START,
            Call::Await { .. } => kinds::ACTIVITY_AWAIT,
            Call::ReceiveSignal { .. } => kinds::SIGNAL_WAIT,
            Call::StartChild { .. } => kinds::CHILD_START,
            Call::AwaitChild { .. } => kinds::CHILD_AWAIT,
            Call::ContinueAsNew { .. } => kinds::CONTINUE,
        }
    }

    fn args(&self) -> Value {
        match self {
            Call::Now | Call::Random => json!({}),
            Call::Log { level, message } => json!({ "level": level, "message": message }),
            Call::Sleep { ms } => json!({ "duration_ms": ms }),
            Call::StartActivity { name, input, options } => json!({ "name": name, "input": input, "options": options }),
            Call::Await { handles } => json!({ "handles": handles }),
            Call::ReceiveSignal { name, timeout_ms } => json!({ "name": name, "timeout_ms": timeout_ms }),
            Call::StartChild {
                workflow,
                input,
                workflow_id,
                policy,
            } => {
                json!({ "workflow": workflow, "input": input, "workflow_id": workflow_id, "policy": policy })
            }
            Call::AwaitChild { handle } => json!({ "handle": handle }),
            Call::ContinueAsNew { input } => json!({ "input": input }),
        }
    }
}

/// The error that parks an execution whose replay diverged.
pub fn nondeterminism_error(id: &str, nd: &NonDeterminism) -> Error {
    Error::new(
        codes::NONDETERMINISM,
        format!("execution {id}: {nd}"),
        "the workflow code changed incompatibly: run the execution with the component it started with, or terminate it",
    )
}

impl ExecutionHost {
    /// A host for one activation of an execution.
    pub(crate) fn new(
        cursor: Cursor,
        lease: Lease,
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        registry: Arc<ActivityRegistry>,
        evict_after: Duration,
        echo_logs: bool,
    ) -> ExecutionHost {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        ExecutionHost {
            id: lease.execution_id.clone(),
            cursor,
            lease,
            store,
            engine,
            registry,
            done_tx,
            done_rx,
            tasks: HashMap::new(),
            children: HashMap::new(),
            inbox: Vec::new(),
            interrupt: None,
            evict_after,
            echo_logs,
            replay_only: false,
        }
    }

    /// Makes this host check the code against the journal only: nothing runs
    /// live, nothing is written, and reaching the end of the journal stops
    /// the guest with [`Interrupt::EndOfJournal`].
    pub(crate) fn replay_only(mut self) -> ExecutionHost {
        self.replay_only = true;
        self.echo_logs = false;
        self
    }

    /// Stops the guest: remembers why and returns the trap to raise.
    fn stop(&mut self, why: Interrupt) -> wasmtime::Error {
        let text = format!("execution interrupted: {why:?}");
        self.interrupt = Some(why);
        wasmtime::format_err!(text)
    }

    /// The one wrapper every journaled call passes through. Returns the
    /// command's seq and its (recorded or live) result.
    async fn call(&mut self, call: Call<'_>) -> wasmtime::Result<(u32, Value)> {
        let (kind, args) = (call.kind(), call.args());
        match self.cursor.replay(kind, &args) {
            Err(nd) => {
                let error = nondeterminism_error(&self.id, &nd);
                Err(self.stop(Interrupt::Park(error)))
            }
            Ok(Some(recorded)) => {
                if !self.replay_only {
                    self.on_replayed(&call, &recorded).await?;
                }
                Ok((recorded.seq, recorded.result))
            }
            Ok(None) if self.replay_only => Err(self.stop(Interrupt::EndOfJournal)),
            Ok(None) => self.live(call, kind, args).await,
        }
    }

    /// Restores what a replayed command left unfinished: an activity without
    /// a result is started again (same idempotency key); a timer, a signal
    /// wait or a child without an outcome is waited for again.
    async fn on_replayed(&mut self, call: &Call<'_>, recorded: &Replayed) -> wasmtime::Result<()> {
        let seq = recorded.seq;
        let deadline = || recorded.result.get("deadline").and_then(Value::as_i64);
        match call {
            Call::StartActivity { name, input, options } if self.cursor.event(kinds::ACTIVITY_DONE, seq).is_none() => {
                self.launch(seq, name, input, options.clone())
            }
            Call::Sleep { .. } if !self.timer_resolved(seq) => {
                let fire_at = recorded.result.get("fire_at").and_then(Value::as_i64).unwrap_or(0);
                self.wait_timer(seq, fire_at).await
            }
            Call::ReceiveSignal { name, .. } if !self.signal_resolved(seq) => {
                self.wait_signal(seq, name, deadline()).await
            }
            Call::StartChild { policy, .. } => {
                if let Some(id) = recorded.result.get("id").and_then(Value::as_str) {
                    let child = ChildRef {
                        id: id.to_owned(),
                        policy: (*policy).to_owned(),
                    };
                    self.children.insert(seq, child);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn live(&mut self, call: Call<'_>, kind: &'static str, args: Value) -> wasmtime::Result<(u32, Value)> {
        let now = now_ms();
        let result = match call {
            Call::Now => json!(now),
            Call::Random => json!(rand::random::<u64>()),
            Call::Log { level, message } => {
                if self.echo_logs {
                    eprintln!("[{}] {level}: {message}", self.id);
                }
                Value::Null
            }
            Call::Sleep { ms } => {
                let fire_at = now.saturating_add(ms.min(i64::MAX as u64) as i64);
                let result = json!({ "fire_at": fire_at });
                let seq = self.cursor.record(kind, args, result.clone(), now);
                self.commit(Transition::Sleeping { wake_at_ms: fire_at }).await?;
                self.wait_timer(seq, fire_at).await?;
                return Ok((seq, result));
            }
            Call::StartActivity { name, input, options } => {
                let seq = self.cursor.next_seq();
                self.launch(seq, name, input, options)?;
                json!(seq)
            }
            Call::Await { handles } => {
                let (handle, fresh) = self.wait_any(handles).await?;
                let result = json!({ "handle": handle });
                let seq = self.cursor.record(kind, args, result.clone(), now_ms());
                if fresh {
                    self.commit(Transition::Running).await?;
                }
                return Ok((seq, result));
            }
            Call::ReceiveSignal { name, timeout_ms } => {
                let deadline = timeout_ms.map(|t| now.saturating_add(t.min(i64::MAX as u64) as i64));
                let result = json!({ "deadline": deadline });
                let seq = self.cursor.record(kind, args, result.clone(), now);
                self.wait_signal(seq, name, deadline).await?;
                return Ok((seq, result));
            }
            Call::StartChild {
                workflow,
                input,
                workflow_id,
                policy,
            } => {
                let seq = self.cursor.next_seq();
                let result = self.start_child(seq, workflow, input, workflow_id, policy).await?;
                self.cursor.record(kind, args, result.clone(), now);
                self.commit(Transition::Running).await?;
                return Ok((seq, result));
            }
            Call::AwaitChild { handle } => {
                let fresh = self.wait_child(handle).await?;
                let result = json!({ "handle": handle });
                let seq = self.cursor.record(kind, args, result.clone(), now_ms());
                if fresh {
                    self.commit(Transition::Running).await?;
                }
                return Ok((seq, result));
            }
            Call::ContinueAsNew { input } => {
                let next = self.continue_as_new(input).await?;
                self.cursor.record(kind, args, json!({ "next": next }), now);
                let output = json!({ "continued_as": next }).to_string();
                self.cursor
                    .record_lifecycle(kinds::CONTINUED, json!({ "next": next }), now_ms());
                self.commit(Transition::Continued { output }).await?;
                return Err(self.stop(Interrupt::Continued { next }));
            }
        };
        let seq = self.cursor.record(kind, args, result.clone(), now);
        Ok((seq, result))
    }

    /// Commits the buffered entries with a status change, retrying transient
    /// store failures with backoff. A lost lease stops the guest at once.
    pub(crate) async fn commit(&mut self, transition: Transition) -> wasmtime::Result<()> {
        let entries = self.cursor.take_pending();
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            match self.store.append(&self.lease, &entries, &transition).await {
                Ok(()) => return Ok(()),
                Err(e) if e.code == codes::LEASE_LOST => return Err(self.stop(Interrupt::LeaseLost)),
                Err(e) if attempt < 10 => {
                    tracing::warn!(
                        "execution {}: commit failed (attempt {}): {}",
                        self.id,
                        attempt + 1,
                        e.message
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => return Err(self.stop(Interrupt::Store(e))),
            }
        }
    }

    /// Children that have no recorded outcome yet, with their close policy.
    pub(crate) fn open_children(&self) -> Vec<ChildRef> {
        let mut open: Vec<(u32, ChildRef)> = self
            .children
            .iter()
            .filter(|(seq, _)| self.cursor.event(kinds::CHILD_DONE, **seq).is_none())
            .map(|(seq, c)| (*seq, c.clone()))
            .collect();
        open.sort_by_key(|(seq, _)| *seq);
        open.into_iter().map(|(_, c)| c).collect()
    }
}

/// Instantiates the workflow and runs it until it returns or is stopped.
/// Returns the guest's result and the store data for the caller to inspect.
pub(crate) async fn activate(
    engine: &Engine,
    component: &WorkflowComponent,
    mut host: ExecutionHost,
    input: &str,
) -> (wasmtime::Result<Result<String, types::Failure>>, WorkflowState) {
    if !host.replay_only && host.cursor.is_replaying() {
        // A recovering execution may have signals or a cancellation waiting.
        host.refresh_inbox().await;
    }
    let mut store = new_store(engine, host);
    let result = run_in(&mut store, component, input).await;
    (result, store.into_data())
}

/// A wasmtime store for one activation: deterministic WASI seeded from the
/// journal, the memory cap and the CPU budget installed.
fn new_store(engine: &Engine, host: ExecutionHost) -> wasmtime::Store<WorkflowState> {
    let seed = host.cursor.started().seed;
    let (wasi, stderr) = super::wasi::workflow_ctx(host.cursor.clock(), host.cursor.start_ms(), seed);
    let state = WorkflowState {
        wasi,
        table: ResourceTable::new(),
        guard: Guard::new(engine.config.memory_limit, engine.config.cpu_budget),
        host,
        stderr,
    };
    let mut store = wasmtime::Store::new(&engine.wasm, state);
    Guard::install(&mut store, |s: &mut WorkflowState| &mut s.guard);
    store
}

async fn run_in(
    store: &mut wasmtime::Store<WorkflowState>,
    component: &WorkflowComponent,
    input: &str,
) -> wasmtime::Result<Result<String, types::Failure>> {
    let instance: Workflow = component.pre.instantiate_async(&mut *store).await?;
    store.data_mut().guard.resume();
    instance.call_run(&mut *store, &input.to_owned()).await
}

/// Times one instantiation of a pre-linked workflow component (store
/// creation excluded). Used by `cairn bench`.
pub(crate) async fn time_instantiation(
    engine: &Engine,
    component: &WorkflowComponent,
    host: ExecutionHost,
) -> wasmtime::Result<Duration> {
    let mut store = new_store(engine, host);
    let t = std::time::Instant::now();
    let _instance: Workflow = component.pre.instantiate_async(&mut store).await?;
    Ok(t.elapsed())
}
