//! The WIT `context` functions: each one is a [`Command`] through the
//! journaling wrapper, and its (recorded or live) result decoded for the guest.

use super::race::Ended;
use super::waits::cancelled;
use super::{ExecutionHost, Interrupt, WorkflowState, stop};
use crate::engine::bindings::workflow::cairn::workflow::{context, types};
use crate::journal::record::{
    ActivityArgs, AwaitArgs, AwaitResult, ChildArgs, ChildAwaitArgs, ChildStartResult, ContinueArgs, HandleArgs,
    LogArgs, LogLevel, NoArgs, SignalArgs, SleepArgs,
};
use crate::journal::{Command, Event, FailureRecord, RetrySpec};
use crate::model::ClosePolicy;
use serde_json::Value;

fn to_wit(f: FailureRecord) -> types::Failure {
    types::Failure {
        code: f.code,
        message: f.message,
        retryable: f.retryable,
        details: f.details,
    }
}

/// A failure the guest returned, as journaled.
pub(super) fn from_wit(f: types::Failure) -> FailureRecord {
    FailureRecord {
        code: f.code,
        message: f.message,
        retryable: f.retryable,
        details: f.details,
    }
}

/// The journaled retry policy of the WIT options record.
fn retry_spec(options: Option<types::ActivityOptions>) -> RetrySpec {
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

fn level(level: types::LogLevel) -> LogLevel {
    match level {
        types::LogLevel::Debug => LogLevel::Debug,
        types::LogLevel::Info => LogLevel::Info,
        types::LogLevel::Warn => LogLevel::Warn,
        types::LogLevel::Error => LogLevel::Error,
    }
}

impl ExecutionHost {
    /// The recorded outcome (`activity.done` or `child.done`) of command `handle`.
    fn outcome(&self, kind: &'static str, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        match self.cursor.event(kind, handle) {
            Some(Event::ActivityDone(o) | Event::ChildDone(o)) => Ok(o.result.clone().map_err(to_wit)),
            _ => Err(self.corrupt(format!("no readable `{kind}` for call {handle}"))),
        }
    }
}

impl WorkflowState {
    /// Runs a journaled call and restarts the CPU budget for the guest.
    async fn journaled(&mut self, command: Command) -> wasmtime::Result<(u32, Value)> {
        let result = self.host.call(command).await;
        self.guard.resume();
        result
    }

    /// The handle a recorded await names.
    fn awaited(&self, v: Value) -> wasmtime::Result<u32> {
        serde_json::from_value::<AwaitResult>(v)
            .map(|r| r.handle)
            .map_err(|_| self.host.corrupt("a recorded await has no handle".into()))
    }

    /// A recorded `u64` answer.
    fn number(&self, v: Value) -> wasmtime::Result<u64> {
        v.as_u64()
            .ok_or_else(|| self.host.corrupt(format!("a recorded answer is not a number: {v}")))
    }
}

impl types::Host for WorkflowState {}

impl context::Host for WorkflowState {
    async fn execution_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.host.id.name().to_owned())
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        let (_, v) = self.journaled(Command::Now(NoArgs {})).await?;
        self.number(v)
    }

    async fn random(&mut self) -> wasmtime::Result<u64> {
        let (_, v) = self.journaled(Command::Random(NoArgs {})).await?;
        self.number(v)
    }

    async fn sleep(&mut self, duration_ms: u64) -> wasmtime::Result<Result<(), types::Failure>> {
        let (seq, _) = self.journaled(Command::Sleep(SleepArgs { duration_ms })).await?;
        if self.host.cursor.event(Event::TIMER_CANCELLED, seq).is_some() {
            return Ok(Err(to_wit(cancelled())));
        }
        Ok(Ok(()))
    }

    async fn start_activity(
        &mut self,
        name: String,
        input: String,
        options: Option<types::ActivityOptions>,
    ) -> wasmtime::Result<u32> {
        let options = retry_spec(options);
        let (_, v) = self
            .journaled(Command::StartActivity(ActivityArgs { name, input, options }))
            .await?;
        Ok(self.number(v)? as u32)
    }

    async fn await_activity(&mut self, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let handles = vec![handle];
        let (_, v) = self.journaled(Command::AwaitActivity(AwaitArgs { handles })).await?;
        let h = self.awaited(v)?;
        self.host.outcome(Event::ACTIVITY_DONE, h)
    }

    async fn await_any(&mut self, handles: Vec<u32>) -> wasmtime::Result<(u32, Result<String, types::Failure>)> {
        let args = AwaitArgs {
            handles: handles.clone(),
        };
        let (_, v) = self.journaled(Command::AwaitActivity(args)).await?;
        let h = self.awaited(v)?;
        let index = handles.iter().position(|x| *x == h).unwrap_or(0) as u32;
        Ok((index, self.host.outcome(Event::ACTIVITY_DONE, h)?))
    }

    async fn receive_signal(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Result<Option<String>, types::Failure>> {
        let (seq, _) = self
            .journaled(Command::ReceiveSignal(SignalArgs { name, timeout_ms }))
            .await?;
        let cursor = &self.host.cursor;
        if let Some(Event::SignalReceived(s)) = cursor.event(Event::SIGNAL_RECEIVED, seq) {
            return Ok(Ok(Some(s.payload.to_string())));
        }
        if cursor.event(Event::SIGNAL_CANCELLED, seq).is_some() {
            return Ok(Err(to_wit(cancelled())));
        }
        if cursor.event(Event::SIGNAL_TIMEOUT, seq).is_some() || self.host.options.replay_only {
            return Ok(Ok(None));
        }
        Err(self.host.corrupt(format!("signal wait {seq} has no outcome")))
    }

    async fn start_child(
        &mut self,
        workflow: String,
        input: String,
        options: types::ChildOptions,
    ) -> wasmtime::Result<Result<u32, types::Failure>> {
        let policy = match options.parent_close_policy {
            types::ParentClosePolicy::Terminate => ClosePolicy::Terminate,
            types::ParentClosePolicy::RequestCancel => ClosePolicy::RequestCancel,
            types::ParentClosePolicy::Abandon => ClosePolicy::Abandon,
        };
        let args = ChildArgs {
            workflow,
            input,
            workflow_id: options.workflow_id,
            policy,
        };
        let (seq, v) = self.journaled(Command::StartChild(args)).await?;
        match serde_json::from_value(v) {
            Ok(ChildStartResult::Started { .. }) => Ok(Ok(seq)),
            Ok(ChildStartResult::Refused { error }) => Ok(Err(to_wit(error))),
            Err(e) => Err(self.host.corrupt(format!("child start {seq} cannot be read: {e}"))),
        }
    }

    async fn await_child(&mut self, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let (_, v) = self.journaled(Command::AwaitChild(ChildAwaitArgs { handle })).await?;
        let h = self.awaited(v)?;
        self.host.outcome(Event::CHILD_DONE, h)
    }

    async fn start_timer(&mut self, duration_ms: u64) -> wasmtime::Result<u32> {
        let (seq, _) = self.journaled(Command::StartTimer(SleepArgs { duration_ms })).await?;
        Ok(seq)
    }

    async fn start_signal_wait(&mut self, name: String, timeout_ms: Option<u64>) -> wasmtime::Result<u32> {
        let (seq, _) = self
            .journaled(Command::StartSignalWait(SignalArgs { name, timeout_ms }))
            .await?;
        Ok(seq)
    }

    async fn wait_any(&mut self, handles: Vec<u32>) -> wasmtime::Result<(u32, context::Completion)> {
        let args = AwaitArgs {
            handles: handles.clone(),
        };
        let (_, v) = self.journaled(Command::WaitAny(args)).await?;
        let h = self.awaited(v)?;
        let index = handles.iter().position(|x| *x == h).unwrap_or(0) as u32;
        let completion = match self.host.ended(h) {
            Some(Ended::Activity(r)) => context::Completion::Activity(r.map_err(to_wit)),
            Some(Ended::Child(r)) => context::Completion::Child(r.map_err(to_wit)),
            Some(Ended::Timer(r)) => context::Completion::Timer(r.map_err(to_wit)),
            Some(Ended::Signal(r)) => context::Completion::Signal(r.map_err(to_wit)),
            None => return Err(self.host.corrupt(format!("handle {h} has no recorded outcome"))),
        };
        Ok((index, completion))
    }

    async fn cancel(&mut self, handle: u32) -> wasmtime::Result<()> {
        self.journaled(Command::Cancel(HandleArgs { handle })).await?;
        Ok(())
    }

    async fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        self.journaled(Command::ContinueAsNew(ContinueArgs { input })).await?;
        // Replaying a run that continued: its journal ends here.
        Err(stop(Interrupt::EndOfJournal))
    }

    async fn log(&mut self, level_: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let level = level(level_);
        self.journaled(Command::Log(LogArgs { level, message })).await?;
        Ok(())
    }
}
