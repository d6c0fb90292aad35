//! Running activities: one fresh instance per attempt, retried with
//! exponential backoff, each attempt bounded by a timeout, the idempotency
//! key stable across attempts and recoveries, outgoing HTTP gated by an
//! allow-list.

use super::bindings::activity::ActivityPre;
use super::bindings::activity::cairn::workflow::activity_context;
use super::bindings::workflow::cairn::workflow::types;
use super::wasi::HttpGate;
use super::{ActivityComponent, Engine, Guard};
use crate::error::{Error, Result, codes};
use crate::journal::{ActivityOutcome, FailureRecord};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Retry policy and attempt timeout of one call, as journaled in its
/// `activity.start` arguments. Unset fields take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrySpec {
    /// Total attempts (default 5; 0 = unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// First retry delay in ms (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_interval_ms: Option<u64>,
    /// Delay multiplier (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_coefficient: Option<f64>,
    /// Delay cap in ms (default 10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_interval_ms: Option<u64>,
    /// Attempt timeout in ms (default 30000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_timeout_ms: Option<u64>,
}

impl RetrySpec {
    /// From the WIT options record.
    pub fn from_wit(options: Option<types::ActivityOptions>) -> RetrySpec {
        let Some(o) = options else { return RetrySpec::default() };
        let r = o.retry.unwrap_or(types::RetryPolicy {
            max_attempts: None,
            initial_interval_ms: None,
            backoff_coefficient: None,
            maximum_interval_ms: None,
        });
        RetrySpec {
            max_attempts: r.max_attempts,
            initial_interval_ms: r.initial_interval_ms,
            backoff_coefficient: r.backoff_coefficient,
            maximum_interval_ms: r.maximum_interval_ms,
            attempt_timeout_ms: o.attempt_timeout_ms,
        }
    }

    /// The delay before retry number `retry` (1 = first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let initial = self.initial_interval_ms.unwrap_or(100) as f64;
        let factor = self.backoff_coefficient.unwrap_or(2.0).max(1.0);
        let cap = self.maximum_interval_ms.unwrap_or(10_000) as f64;
        let ms = (initial * factor.powi(retry.saturating_sub(1).min(64) as i32)).min(cap);
        Duration::from_millis(ms as u64)
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(5)
    }

    fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms.unwrap_or(30_000))
    }
}

/// One activity call to run.
pub struct ActivityCall {
    /// Calling execution.
    pub execution_id: String,
    /// Activity name.
    pub name: String,
    /// JSON input.
    pub input: String,
    /// Same for every attempt of this call: `<execution id>/<seq>`.
    pub idempotency_key: String,
    /// Hosts the activity may reach over HTTP.
    pub allow_http: Arc<Vec<String>>,
    /// Retries and timeout.
    pub spec: RetrySpec,
}

/// Store data of an activity instance.
pub struct ActivityState {
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
        tracing::info!(target: "cairn::activity", "[{}] {level:?}: {message}", self.execution_id);
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
        },
        guard: Guard::new(engine.config.memory_limit, budget),
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
    let trapped = |what: String| FailureRecord {
        code: "activity-trapped".into(),
        message: what,
        retryable: true,
        details: None,
    };
    match result {
        Err(_) => Err(FailureRecord {
            code: "activity-timeout".into(),
            message: format!("attempt {n} of `{}` exceeded its timeout of {timeout:?}", call.name),
            retryable: true,
            details: None,
        }),
        Ok(Err(trap)) => {
            let guard = &store.data().guard;
            let why = if guard.memory_exceeded {
                format!("memory limit of {} MiB exceeded", guard.memory_limit_mib())
            } else if guard.cpu_exceeded {
                format!("ran past its timeout of {timeout:?}")
            } else {
                format!("{trap:#}")
            };
            let stderr = String::from_utf8_lossy(&stderr.contents()).trim().to_owned();
            Err(trapped(if stderr.is_empty() {
                why
            } else {
                format!("{why}; stderr: {stderr}")
            }))
        }
        Ok(Ok(Ok(output))) => {
            if serde_json::from_str::<serde_json::Value>(&output).is_err() {
                return Err(FailureRecord::new(
                    "invalid-activity-output",
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

/// Runs an activity call to its final outcome under its retry policy.
pub async fn run(engine: &Engine, component: &ActivityComponent, call: ActivityCall) -> ActivityOutcome {
    let max = call.spec.max_attempts();
    let mut n = 1;
    loop {
        let result = attempt(engine, component, &call, n).await;
        match result {
            Ok(output) => {
                return ActivityOutcome {
                    attempts: n,
                    result: Ok(output),
                };
            }
            Err(f) if f.retryable && (max == 0 || n < max) => {
                tracing::info!(target: "cairn::activity", "[{}] `{}` attempt {n} failed ({}: {}); retrying", call.execution_id, call.name, f.code, f.message);
                tokio::time::sleep(call.spec.delay(n)).await;
                n += 1;
            }
            Err(f) => {
                return ActivityOutcome {
                    attempts: n,
                    result: Err(f),
                };
            }
        }
    }
}
