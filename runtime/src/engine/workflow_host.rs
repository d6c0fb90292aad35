//! The workflow's host side: the `context` interface, all of it through one
//! journaling wrapper ([`ExecutionHost::call`]).
//!
//! Live, a call runs, its result is recorded and buffered; the buffer is
//! committed in one transaction with the next externally visible step (an
//! activity result, a timer start, the completion). Replaying, a call must
//! match the command at the cursor (kind and arguments) and gets the recorded
//! result; a mismatch parks the execution and writes nothing.

use super::activity_host::{self, ActivityCall, RetrySpec};
use super::bindings::workflow::Workflow;
use super::bindings::workflow::cairn::workflow::{context, types};
use super::{ActivityRegistry, Engine, Guard, WorkflowComponent};
use crate::error::{Error, codes};
use crate::journal::{ActivityOutcome, Cursor, NonDeterminism, Replayed, kinds};
use crate::store::{Lease, Store, Transition, now_ms};
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
    /// A long sleep: the timer is committed, the instance is dropped.
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
pub(super) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<WorkflowState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    context::add_to_linker::<WorkflowState, HasSelf<WorkflowState>>(&mut linker, |s| s)?;
    Ok(linker)
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
        }
    }

    fn args(&self) -> Value {
        match self {
            Call::Now | Call::Random => json!({}),
            Call::Log { level, message } => json!({ "level": level, "message": message }),
            Call::Sleep { ms } => json!({ "duration_ms": ms }),
            Call::StartActivity { name, input, options } => json!({ "name": name, "input": input, "options": options }),
            Call::Await { handles } => json!({ "handles": handles }),
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

    /// The one wrapper every journaled call passes through.
    async fn call(&mut self, call: Call<'_>) -> wasmtime::Result<Value> {
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
                Ok(recorded.result)
            }
            Ok(None) if self.replay_only => Err(self.stop(Interrupt::EndOfJournal)),
            Ok(None) => self.live(call, kind, args).await,
        }
    }

    /// Restores what a replayed command left running: an activity without a
    /// result is started again (same idempotency key), an unfired timer waits.
    async fn on_replayed(&mut self, call: &Call<'_>, recorded: &Replayed) -> wasmtime::Result<()> {
        match call {
            Call::StartActivity { name, input, options }
                if self.cursor.event(kinds::ACTIVITY_DONE, recorded.seq).is_none() =>
            {
                self.launch(recorded.seq, name, input, options.clone())
            }
            Call::Sleep { .. } if self.cursor.event(kinds::TIMER_FIRED, recorded.seq).is_none() => {
                let fire_at = recorded.result.get("fire_at").and_then(Value::as_i64).unwrap_or(0);
                self.wait_timer(recorded.seq, fire_at).await
            }
            _ => Ok(()),
        }
    }

    async fn live(&mut self, call: Call<'_>, kind: &'static str, args: Value) -> wasmtime::Result<Value> {
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
                return Ok(result);
            }
            Call::StartActivity { name, input, options } => {
                let seq = self.cursor.next_seq();
                self.launch(seq, name, input, options)?;
                json!(seq)
            }
            Call::Await { handles } => {
                let (handle, fresh) = self.wait_any(handles).await?;
                let result = json!({ "handle": handle });
                self.cursor.record(kind, args, result.clone(), now_ms());
                if fresh {
                    self.commit(Transition::Running).await?;
                }
                return Ok(result);
            }
        };
        self.cursor.record(kind, args, result.clone(), now);
        Ok(result)
    }

    /// Starts activity call `seq` in the background.
    fn launch(&mut self, seq: u32, name: &str, input: &str, options: RetrySpec) -> wasmtime::Result<()> {
        let Some(component) = self.registry.get(name).cloned() else {
            let known = self.registry.names().join(", ");
            let error = Error::new(
                codes::UNKNOWN_ACTIVITY,
                format!(
                    "execution {} called activity `{name}`, which no registered component serves (registered: {known})",
                    self.id
                ),
                "start the workflow with --activity <component.wasm> for a component that serves it",
            );
            return Err(self.stop(Interrupt::Park(error)));
        };
        let call = ActivityCall {
            execution_id: self.id.clone(),
            name: name.to_owned(),
            input: input.to_owned(),
            idempotency_key: format!("{}/{seq}", self.id),
            allow_http: self.registry.http_allow(name),
            spec: options,
        };
        let (engine, tx) = (self.engine.clone(), self.done_tx.clone());
        let task = tokio::spawn(async move {
            let outcome = activity_host::run(&engine, &component, call).await;
            let _ = tx.send((seq, outcome));
        });
        self.tasks.insert(seq, task);
        Ok(())
    }

    fn record_done(&mut self, handle: u32, outcome: ActivityOutcome) {
        self.tasks.remove(&handle);
        let data = serde_json::to_value(&outcome).expect("outcomes encode");
        self.cursor.record_event(kinds::ACTIVITY_DONE, handle, data, now_ms());
    }

    /// Waits until one of `handles` has a result; returns it and whether new
    /// results were recorded meanwhile (then the caller commits).
    async fn wait_any(&mut self, handles: &[u32]) -> wasmtime::Result<(u32, bool)> {
        if handles.is_empty() {
            wasmtime::bail!("await-any was called with no activity handles");
        }
        for h in handles {
            if self.cursor.event(kinds::ACTIVITY_DONE, *h).is_none() && !self.tasks.contains_key(h) {
                wasmtime::bail!("activity handle {h} was never started by this execution");
            }
        }
        let mut fresh = false;
        loop {
            if let Some(h) = handles
                .iter()
                .find(|h| self.cursor.event(kinds::ACTIVITY_DONE, **h).is_some())
            {
                return Ok((*h, fresh));
            }
            let Some((h, outcome)) = self.done_rx.recv().await else {
                wasmtime::bail!("activity results channel closed");
            };
            self.record_done(h, outcome);
            fresh = true;
            while let Ok((h, outcome)) = self.done_rx.try_recv() {
                self.record_done(h, outcome);
            }
        }
    }

    /// Waits for timer `seq`; a wait longer than the eviction threshold
    /// suspends the execution instead (the instance is dropped).
    async fn wait_timer(&mut self, seq: u32, fire_at: i64) -> wasmtime::Result<()> {
        let remaining = fire_at - now_ms();
        if remaining > 0 {
            if remaining as u128 > self.evict_after.as_millis() {
                return Err(self.stop(Interrupt::Suspend { wake_at_ms: fire_at }));
            }
            tokio::time::sleep(Duration::from_millis(remaining as u64)).await;
        }
        self.cursor.record_event(kinds::TIMER_FIRED, seq, Value::Null, now_ms());
        Ok(())
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

    /// The recorded outcome of activity `handle`.
    fn outcome(&mut self, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let data = self.cursor.event(kinds::ACTIVITY_DONE, handle).cloned();
        let outcome: Option<ActivityOutcome> = data.and_then(|d| serde_json::from_value(d).ok());
        let Some(outcome) = outcome else {
            let error = Error::new(
                codes::CORRUPT_JOURNAL,
                format!(
                    "execution {}: no readable result for activity call {handle} in the journal",
                    self.id
                ),
                "the journal was changed outside Cairn; terminate the execution",
            );
            return Err(self.stop(Interrupt::Park(error)));
        };
        Ok(outcome.result.map_err(|f| types::Failure {
            code: f.code,
            message: f.message,
            retryable: f.retryable,
            details: f.details,
        }))
    }
}

fn level_name(level: types::LogLevel) -> &'static str {
    match level {
        types::LogLevel::Debug => "debug",
        types::LogLevel::Info => "info",
        types::LogLevel::Warn => "warn",
        types::LogLevel::Error => "error",
    }
}

impl WorkflowState {
    /// Runs a journaled call and restarts the CPU budget for the guest.
    async fn journaled(&mut self, call: Call<'_>) -> wasmtime::Result<Value> {
        let result = self.host.call(call).await;
        self.guard.resume();
        result
    }

    fn handle_of(&mut self, v: &Value) -> wasmtime::Result<u32> {
        match v.get("handle").and_then(Value::as_u64) {
            Some(h) => Ok(h as u32),
            None => {
                let error = Error::new(
                    codes::CORRUPT_JOURNAL,
                    format!("execution {}: a recorded await has no handle", self.host.id),
                    "the journal was changed outside Cairn; terminate the execution",
                );
                Err(self.host.stop(Interrupt::Park(error)))
            }
        }
    }
}

impl types::Host for WorkflowState {}

impl context::Host for WorkflowState {
    async fn execution_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.host.id.clone())
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.journaled(Call::Now).await?.as_u64().unwrap_or(0))
    }

    async fn random(&mut self) -> wasmtime::Result<u64> {
        Ok(self.journaled(Call::Random).await?.as_u64().unwrap_or(0))
    }

    async fn sleep(&mut self, duration_ms: u64) -> wasmtime::Result<()> {
        self.journaled(Call::Sleep { ms: duration_ms }).await?;
        Ok(())
    }

    async fn start_activity(
        &mut self,
        name: String,
        input: String,
        options: Option<types::ActivityOptions>,
    ) -> wasmtime::Result<u32> {
        let options = RetrySpec::from_wit(options);
        let v = self
            .journaled(Call::StartActivity {
                name: &name,
                input: &input,
                options,
            })
            .await?;
        Ok(v.as_u64().unwrap_or(0) as u32)
    }

    async fn await_activity(&mut self, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let v = self.journaled(Call::Await { handles: &[handle] }).await?;
        let h = self.handle_of(&v)?;
        self.host.outcome(h)
    }

    async fn await_any(&mut self, handles: Vec<u32>) -> wasmtime::Result<(u32, Result<String, types::Failure>)> {
        let v = self.journaled(Call::Await { handles: &handles }).await?;
        let h = self.handle_of(&v)?;
        let index = handles.iter().position(|x| *x == h).unwrap_or(0) as u32;
        Ok((index, self.host.outcome(h)?))
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        self.journaled(Call::Log {
            level: level_name(level),
            message: &message,
        })
        .await?;
        Ok(())
    }
}

/// Instantiates the workflow and runs it until it returns or is stopped.
/// Returns the guest's result and the store data for the caller to inspect.
pub(crate) async fn activate(
    engine: &Engine,
    component: &WorkflowComponent,
    host: ExecutionHost,
    input: &str,
) -> (wasmtime::Result<Result<String, types::Failure>>, WorkflowState) {
    let started = host.cursor.started().clone();
    let (wasi, stderr) = super::wasi::workflow_ctx(host.cursor.clock(), host.cursor.start_ms(), started.seed);
    let state = WorkflowState {
        wasi,
        table: ResourceTable::new(),
        guard: Guard::new(engine.config.memory_limit, engine.config.cpu_budget),
        host,
        stderr,
    };
    let mut store = wasmtime::Store::new(&engine.wasm, state);
    Guard::install(&mut store, |s: &mut WorkflowState| &mut s.guard);
    let result = run_in(&mut store, component, input).await;
    (result, store.into_data())
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
    let (wasi, stderr) = super::wasi::workflow_ctx(host.cursor.clock(), host.cursor.start_ms(), 1);
    let state = WorkflowState {
        wasi,
        table: ResourceTable::new(),
        guard: Guard::new(engine.config.memory_limit, engine.config.cpu_budget),
        host,
        stderr,
    };
    let mut store = wasmtime::Store::new(&engine.wasm, state);
    Guard::install(&mut store, |s: &mut WorkflowState| &mut s.guard);
    let t = std::time::Instant::now();
    let _instance: Workflow = component.pre.instantiate_async(&mut store).await?;
    Ok(t.elapsed())
}
