//! The workflow side: everything a workflow may do outside its own memory.
//!
//! Each function here is one journaled host call. Live, the host records its
//! result; after a crash, the host replays the journal and returns the
//! recorded result, so the workflow continues exactly where it was. Code
//! between these calls must be deterministic (the host makes the standard
//! library's clock and randomness deterministic too).

use crate::Failure;
use crate::failure::{failure_conversions, run_typed};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Generated bindings of the `workflow` world (not for direct use).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "cairn:workflow/workflow",
        pub_export_macro: true,
        export_macro_name: "__export_cairn_workflow",
        default_bindings_module: "cairn_sdk::workflow::bindings",
    });
}

use bindings::cairn::workflow::context as ctx;
use bindings::cairn::workflow::types as wit;

mod race;
pub use race::{Completion, SignalWait, Timer, Waitable, cancel, signal_wait, timer, wait_any};

failure_conversions!(wit::Failure);

/// Registers `fn(I) -> Result<O, Failure>` as the workflow of this component.
///
/// ```ignore
/// fn greet(name: String) -> Result<String, Failure> { Ok(format!("hello {name}")) }
/// cairn_sdk::workflow!(greet);
/// ```
#[macro_export]
macro_rules! workflow {
    ($f:path) => {
        struct __CairnWorkflow;
        impl $crate::workflow::bindings::Guest for __CairnWorkflow {
            fn run(
                input: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::string::String,
                $crate::workflow::bindings::cairn::workflow::types::Failure,
            > {
                $crate::workflow::__run(&input, $f)
            }
        }
        $crate::workflow::bindings::__export_cairn_workflow!(__CairnWorkflow);
    };
}

/// Glue between the generated export and the user's typed function.
#[doc(hidden)]
pub fn __run<I, O, E>(input: &str, f: fn(I) -> Result<O, E>) -> Result<String, wit::Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    E: Into<Failure>,
{
    Ok(run_typed(input, f)?)
}

/// The id of this execution.
pub fn execution_id() -> String {
    ctx::execution_id()
}

/// The current time (journaled: identical on replay).
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ctx::now())
}

/// A random number (journaled: identical on replay).
pub fn random_u64() -> u64 {
    ctx::random()
}

/// Sleeps durably. The timer survives restarts of the runtime. Fails with
/// code `cancelled` when the execution is cancelled while sleeping.
pub fn sleep(duration: Duration) -> Result<(), Failure> {
    ctx::sleep(millis(duration)).map_err(Failure::from)
}

pub(crate) fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Waits for the oldest unconsumed signal `name` and decodes its payload.
/// Signals sent before the call are buffered, in order. `Ok(None)` after
/// `timeout` (`None`: wait forever); code `cancelled` when cancelled.
pub fn receive_signal<T: DeserializeOwned>(name: &str, timeout: Option<Duration>) -> Result<Option<T>, Failure> {
    match ctx::receive_signal(name, timeout.map(millis)).map_err(Failure::from)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
            Failure::new(
                "invalid-signal",
                format!("signal `{name}` does not match the expected type: {e}"),
            )
        }),
    }
}

/// What happens to a child when its parent finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParentClosePolicy {
    /// The child is terminated.
    #[default]
    Terminate,
    /// The child is asked to cancel.
    RequestCancel,
    /// The child runs on.
    Abandon,
}

/// Options of a child workflow.
#[derive(Debug, Clone, Default)]
pub struct ChildOptions {
    /// The child's execution id (default: derived from the parent's).
    pub workflow_id: Option<String>,
    /// What happens to the child when this workflow finishes.
    pub parent_close_policy: ParentClosePolicy,
}

/// A started child workflow whose result has type `O`.
#[must_use = "a child's result is only seen by waiting for it"]
pub struct Child<O> {
    pub(crate) handle: u32,
    _output: PhantomData<fn() -> O>,
}

impl<O: DeserializeOwned> Child<O> {
    /// Waits for the child's result.
    pub fn wait(self) -> Result<O, Failure> {
        decode_output(ctx::await_child(self.handle))
    }
}

/// Starts a child workflow of deployment `workflow` (`name` or `name@version`).
pub fn start_child<I: Serialize, O: DeserializeOwned>(
    workflow: &str,
    input: &I,
    options: &ChildOptions,
) -> Result<Child<O>, Failure> {
    let json = serde_json::to_string(input).expect("child input must be serializable as JSON");
    let policy = match options.parent_close_policy {
        ParentClosePolicy::Terminate => wit::ParentClosePolicy::Terminate,
        ParentClosePolicy::RequestCancel => wit::ParentClosePolicy::RequestCancel,
        ParentClosePolicy::Abandon => wit::ParentClosePolicy::Abandon,
    };
    let opts = wit::ChildOptions {
        workflow_id: options.workflow_id.clone(),
        parent_close_policy: policy,
    };
    let handle = ctx::start_child(workflow, &json, &opts).map_err(Failure::from)?;
    Ok(Child {
        handle,
        _output: PhantomData,
    })
}

/// Ends this run and starts a new run of the same workflow with `input`.
pub fn continue_as_new<I: Serialize>(input: &I) -> ! {
    let json = serde_json::to_string(input).expect("input must be serializable as JSON");
    ctx::continue_as_new(&json);
    unreachable!("continue-as-new does not return")
}

/// Writes an informational log line attached to the execution.
pub fn log(message: impl AsRef<str>) {
    ctx::log(wit::LogLevel::Info, message.as_ref())
}

/// Writes a warning attached to the execution.
pub fn warn(message: impl AsRef<str>) {
    ctx::log(wit::LogLevel::Warn, message.as_ref())
}

/// How an activity is retried. Unset fields take the host's defaults
/// (5 attempts, 100 ms initial delay, factor 2, at most 10 s between attempts).
#[derive(Debug, Clone, Default)]
pub struct RetryPolicy {
    /// Total attempts including the first; 0 means unlimited.
    pub max_attempts: Option<u32>,
    /// Delay before the first retry.
    pub initial_interval: Option<Duration>,
    /// Multiplier applied to the delay after each retry.
    pub backoff_coefficient: Option<f64>,
    /// Upper bound of the delay.
    pub maximum_interval: Option<Duration>,
}

/// Options of one activity call.
#[derive(Debug, Clone, Default)]
pub struct ActivityOptions {
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Timeout of a single attempt (host default 30 s).
    pub attempt_timeout: Option<Duration>,
}

impl ActivityOptions {
    /// Sets the maximum number of attempts.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.retry.max_attempts = Some(n);
        self
    }

    /// Sets the delay before the first retry.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.retry.initial_interval = Some(d);
        self
    }

    /// Sets the timeout of one attempt.
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = Some(d);
        self
    }

    fn to_wit(&self) -> wit::ActivityOptions {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        wit::ActivityOptions {
            retry: Some(wit::RetryPolicy {
                max_attempts: self.retry.max_attempts,
                initial_interval_ms: ms(self.retry.initial_interval),
                backoff_coefficient: self.retry.backoff_coefficient,
                maximum_interval_ms: ms(self.retry.maximum_interval),
            }),
            attempt_timeout_ms: ms(self.attempt_timeout),
        }
    }
}

/// A started activity call whose result has type `O`.
#[must_use = "an activity's result is only seen by waiting for it"]
pub struct Activity<O> {
    pub(crate) handle: u32,
    _output: PhantomData<fn() -> O>,
}

impl<O: DeserializeOwned> Activity<O> {
    /// Waits for the result.
    pub fn wait(self) -> Result<O, Failure> {
        decode_output(ctx::await_activity(self.handle))
    }
}

pub(crate) fn decode_output<O: DeserializeOwned>(r: Result<String, wit::Failure>) -> Result<O, Failure> {
    let json = r.map_err(Failure::from)?;
    serde_json::from_str(&json).map_err(|e| {
        Failure::new(
            "invalid-activity-output",
            format!("activity output does not match the expected type: {e}"),
        )
    })
}

/// Starts activity `name` with `input`; it runs while the workflow goes on.
pub fn start<I: Serialize, O: DeserializeOwned>(name: &str, input: &I) -> Activity<O> {
    start_with(name, input, &ActivityOptions::default())
}

/// Starts activity `name` with `input` and explicit options.
pub fn start_with<I: Serialize, O: DeserializeOwned>(name: &str, input: &I, options: &ActivityOptions) -> Activity<O> {
    let json = serde_json::to_string(input).expect("activity input must be serializable as JSON");
    let handle = ctx::start_activity(name, &json, Some(options.to_wit()));
    Activity {
        handle,
        _output: PhantomData,
    }
}

/// Calls activity `name` and waits for its result.
pub fn call<I: Serialize, O: DeserializeOwned>(name: &str, input: &I) -> Result<O, Failure> {
    start(name, input).wait()
}

/// Waits for all activities, returning their results in the same order.
pub fn join_all<O: DeserializeOwned>(activities: Vec<Activity<O>>) -> Vec<Result<O, Failure>> {
    activities.into_iter().map(Activity::wait).collect()
}

/// Waits for the first of `activities` to finish, removes it from the vector
/// and returns its position (before removal) with its result.
///
/// Panics if `activities` is empty.
pub fn select<O: DeserializeOwned>(activities: &mut Vec<Activity<O>>) -> (usize, Result<O, Failure>) {
    assert!(!activities.is_empty(), "select needs at least one activity");
    let handles: Vec<u32> = activities.iter().map(|a| a.handle).collect();
    let (index, result) = ctx::await_any(&handles);
    let index = index as usize;
    let _done = activities.remove(index);
    (index, decode_output(result))
}
