//! Running activities: one fresh instance per attempt, retried with
//! exponential backoff, each attempt bounded by a timeout, the idempotency
//! key stable across attempts and recoveries, outgoing HTTP gated by an
//! allow-list.

use super::Engine;
use super::bindings::activity::ActivityPre;
use super::bindings::activity::cairn::workflow::activity_context;
use super::bindings::workflow::cairn::workflow::types;
use super::guard::{Guard, LimitExceeded};
use super::wasi::HttpGate;
use crate::error::{Error, Result, codes, escaped};
use crate::journal::{ActivityOutcome, FailureRecord, RetrySpec, RetryState, failures};
use crate::model::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// One activity call to run.
pub(crate) struct ActivityCall {
    /// Calling execution (its name within its tenant).
    pub(crate) execution_id: String,
    /// The calling execution's tenant: its memory and CPU count there.
    pub(crate) tenant: String,
    /// Activity name.
    pub(crate) name: String,
    /// JSON input.
    pub(crate) input: String,
    /// Same for every attempt of this call: `<execution id>/<seq>`.
    pub(crate) idempotency_key: String,
    /// Hosts the activity may reach over HTTP.
    pub(crate) allow_http: Arc<Vec<String>>,
    /// Retries and timeout.
    pub(crate) spec: RetrySpec,
}

/// Store data of an activity instance.
pub(crate) struct ActivityState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    gate: HttpGate,
    guard: Guard,
    execution_id: String,
    idempotency_key: String,
    attempt: u32,
}

impl WasiView for ActivityState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ActivityState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl activity_context::Host for ActivityState {
    async fn execution_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.execution_id.clone())
    }
    async fn idempotency_key(&mut self) -> wasmtime::Result<String> {
        Ok(self.idempotency_key.clone())
    }
    async fn attempt(&mut self) -> wasmtime::Result<u32> {
        Ok(self.attempt)
    }
    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            types::LogLevel::Debug => "debug",
            types::LogLevel::Info => "info",
            types::LogLevel::Warn => "warn",
            types::LogLevel::Error => "error",
        };
        super::guest_log::activity_line(&self.execution_id, level, &message);
        Ok(())
    }
}

/// Links WASI, wasi:http and the `activity-context` interface.
pub(super) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<ActivityState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    activity_context::add_to_linker::<ActivityState, HasSelf<ActivityState>>(&mut linker, |s| s)?;
    Ok(linker)
}

fn new_store(
    engine: &Engine,
    call: Option<&ActivityCall>,
    attempt: u32,
    budget: Duration,
) -> (wasmtime::Store<ActivityState>, MemoryOutputPipe) {
    let (wasi, stderr) = super::wasi::activity_ctx();
    let state = ActivityState {
        wasi,
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        gate: HttpGate {
            allow: call.map(|c| c.allow_http.clone()).unwrap_or_default(),
            traceparent: crate::traces::current_traceparent(),
        },
        guard: {
            let mut guard = Guard::with_budget(&engine.limits, budget);
            if let Some(c) = call {
                guard.set_meter(Some(engine.cpu_meter_of(&c.tenant)));
                guard.set_tenant(&c.tenant);
            }
            guard
        },
        execution_id: call.map(|c| c.execution_id.clone()).unwrap_or_default(),
        idempotency_key: call.map(|c| c.idempotency_key.clone()).unwrap_or_default(),
        attempt,
    };
    let mut store = wasmtime::Store::new(&engine.wasm, state);
    Guard::install(&mut store, |s: &mut ActivityState| &mut s.guard);
    (store, stderr)
}

/// Instantiates a component once to ask which activities it serves.
pub(super) async fn list_names(engine: &Engine, pre: &ActivityPre<ActivityState>) -> Result<Vec<String>> {
    let (mut store, stderr) = new_store(engine, None, 0, Duration::from_secs(5));
    let trap = |e: wasmtime::Error| {
        Error::new(
            codes::GUEST_TRAP,
            format!(
                "the activity component failed while listing its activities: {e:#} {}",
                String::from_utf8_lossy(&stderr.contents())
            ),
            "fix the component's `activities` export",
        )
    };
    let instance = pre.instantiate_async(&mut store).await.map_err(trap)?;
    instance.call_activities(&mut store).await.map_err(trap)
}

/// Runs one attempt; `Err` is a failure with its retryability.
async fn attempt(
    engine: &Engine,
    component: &ActivityComponent,
    call: &ActivityCall,
    n: u32,
) -> Result<String, FailureRecord> {
    let _permit = engine
        .activity_permits
        .acquire()
        .await
        .expect("permits are never closed");
    let timeout = call.spec.attempt_timeout();
    let (mut store, stderr) = new_store(engine, Some(call), n, timeout);
    let run = async {
        let instance = component.pre.instantiate_async(&mut store).await?;
        instance.call_invoke(&mut store, &call.name, &call.input).await
    };
    let result = tokio::time::timeout(timeout, run).await;
    match result {
        Err(_) => Err(FailureRecord::retryable(
            failures::ACTIVITY_TIMEOUT,
            format!("attempt {n} of `{}` exceeded its timeout of {timeout:?}", call.name),
        )),
        Ok(Err(trap)) => {
            let why = match LimitExceeded::of(&trap) {
                Some(LimitExceeded::Memory(cap)) => format!("memory limit of {} MiB exceeded", cap >> 20),
                Some(LimitExceeded::Cpu(_)) => format!("ran past its timeout of {timeout:?}"),
                Some(limit @ (LimitExceeded::Total(_) | LimitExceeded::Stopped)) => limit.to_string(),
                None => format!("{trap:#}"),
            };
            let stderr = String::from_utf8_lossy(&stderr.contents()).trim().to_owned();
            Err(FailureRecord::retryable(
                failures::ACTIVITY_TRAPPED,
                if stderr.is_empty() {
                    why
                } else {
                    format!("{why}; stderr: {stderr}")
                },
            ))
        }
        Ok(Ok(Ok(output))) => {
            if serde_json::from_str::<serde_json::Value>(&output).is_err() {
                return Err(FailureRecord::new(
                    failures::INVALID_ACTIVITY_OUTPUT,
                    format!("`{}` returned text that is not JSON", call.name),
                ));
            }
            Ok(output)
        }
        Ok(Ok(Err(f))) => Err(FailureRecord {
            code: f.code,
            message: f.message,
            retryable: f.retryable,
            details: f.details,
        }),
    }
}

/// What an activity call tells the execution waiting for it.
#[derive(Debug)]
pub(crate) enum News {
    /// An attempt failed retryably; the next one is due later.
    Backoff(RetryState),
    /// The next attempt is starting.
    Retrying,
    /// The call ended (after its retries).
    Done(ActivityOutcome),
}

/// Where a call's attempts begin.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// Nothing ran before: attempt 1.
    Fresh,
    /// An earlier activation started the call and stopped (its node
    /// crashed, the execution moved or parked) before its outcome was
    /// recorded: attempt 1 may have run, so the next one is attempt 2 (and
    /// counts against the retry policy like any failed attempt).
    Interrupted,
    /// The execution was evicted during a backoff: its attempts so far and
    /// when the next one is due.
    Backoff(RetryState),
}

/// Runs an activity call to its final outcome under its retry policy,
/// telling `news` when it waits between attempts; `start` says which
/// attempt comes first.
pub(crate) async fn run(
    engine: &Engine,
    component: &ActivityComponent,
    call: ActivityCall,
    start: Start,
    news: impl Fn(News),
) {
    let mut n = 1;
    match start {
        Start::Fresh => {}
        Start::Interrupted if call.spec.may_retry(1) => n = 2,
        Start::Interrupted => {
            let failure = FailureRecord::new(
                failures::ACTIVITY_INTERRUPTED,
                format!(
                    "attempt 1 of `{}` was cut short (its node stopped or the execution moved) and its retry policy allows no further attempt",
                    call.name
                ),
            );
            let (name, message) = (escaped(&call.name), escaped(&failure.message));
            tracing::warn!(target: "cairn::activity", "[{}] `{name}`: {message}", call.execution_id);
            return news(News::Done(ActivityOutcome {
                attempts: 1,
                result: Err(failure),
            }));
        }
        Start::Backoff(state) => {
            n = state.attempts + 1;
            let wait = state.next_at_ms - now_ms();
            if wait > 0 {
                news(News::Backoff(state));
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                news(News::Retrying);
            }
        }
    }
    let labels = [call.tenant.as_str(), call.name.as_str()];
    loop {
        let span = crate::traces::start_here(
            format!("activity {}", call.name),
            opentelemetry::trace::SpanKind::Client,
            vec![
                opentelemetry::KeyValue::new("cairn.execution_id", call.execution_id.clone()),
                opentelemetry::KeyValue::new("cairn.idempotency_key", call.idempotency_key.clone()),
                opentelemetry::KeyValue::new("cairn.attempt", i64::from(n)),
            ],
        );
        let result = crate::traces::within(&span, attempt(engine, component, &call, n)).await;
        crate::traces::end(span, result.as_ref().err().map(|f| f.message.as_str()));
        crate::metrics::count(|m| &m.activity_attempts, &labels);
        if result.is_err() {
            crate::metrics::count(|m| &m.activity_failures, &labels);
        }
        match result {
            Ok(output) => {
                let outcome = ActivityOutcome {
                    attempts: n,
                    result: Ok(output),
                };
                return news(News::Done(outcome));
            }
            Err(f) if f.retryable && call.spec.may_retry(n) => {
                let (name, code, message) = (escaped(&call.name), escaped(&f.code), escaped(&f.message));
                tracing::info!(target: "cairn::activity", "[{}] `{name}` attempt {n} failed ({code}: {message}); retrying", call.execution_id);
                let delay = call.spec.delay(n);
                news(News::Backoff(RetryState {
                    attempts: n,
                    next_at_ms: now_ms() + delay.as_millis() as i64,
                    failure: f,
                }));
                tokio::time::sleep(delay).await;
                news(News::Retrying);
                n += 1;
            }
            Err(f) => {
                let (name, code, message) = (escaped(&call.name), escaped(&f.code), escaped(&f.message));
                tracing::warn!(target: "cairn::activity", "[{}] `{name}` failed after {n} attempt(s): {code}: {message}", call.execution_id);
                let outcome = ActivityOutcome {
                    attempts: n,
                    result: Err(f),
                };
                return news(News::Done(outcome));
            }
        }
    }
}

/// A compiled, pre-linked activity component and the names it serves.
pub(crate) struct ActivityComponent {
    /// sha256 of the component.
    pub(crate) digest: String,
    /// Activity names it serves.
    pub(crate) names: Vec<String>,
    pub(crate) pre: ActivityPre<ActivityState>,
}

/// The activities one execution may call: name → component, plus the HTTP
/// hosts each activity may reach.
#[derive(Default)]
pub(crate) struct ActivityRegistry {
    by_name: HashMap<String, Arc<ActivityComponent>>,
    http_allow: HashMap<String, Arc<Vec<String>>>,
}

impl ActivityRegistry {
    /// Builds a registry; two components serving one name is an error.
    pub(crate) fn new(
        components: Vec<Arc<ActivityComponent>>,
        http_allow: &BTreeMap<String, Vec<String>>,
    ) -> Result<ActivityRegistry> {
        let mut by_name = HashMap::new();
        for c in components {
            for name in &c.names {
                if let Some(prev) = by_name.insert(name.clone(), c.clone())
                    && prev.digest != c.digest
                {
                    return Err(Error::new(
                        codes::DUPLICATE_ACTIVITY,
                        format!(
                            "two activity components serve `{name}` ({} and {})",
                            &prev.digest[..12],
                            &c.digest[..12]
                        ),
                        "pass only one component per activity name",
                    ));
                }
            }
        }
        let http_allow = http_allow
            .iter()
            .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
            .collect();
        Ok(ActivityRegistry { by_name, http_allow })
    }

    /// The component serving `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<ActivityComponent>> {
        self.by_name.get(name)
    }

    /// Names of all registered activities, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_name.keys().cloned().collect();
        v.sort();
        v
    }

    /// Hosts (`host` or `host:port`) activity `name` may send HTTP requests to.
    pub(crate) fn http_allow(&self, name: &str) -> Arc<Vec<String>> {
        let mut hosts: Vec<String> = Vec::new();
        for key in [name, "*"] {
            if let Some(list) = self.http_allow.get(key) {
                hosts.extend(list.iter().cloned());
            }
        }
        Arc::new(hosts)
    }
}
