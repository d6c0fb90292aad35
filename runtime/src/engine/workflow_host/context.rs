//! The WIT `context` functions: each one is a [`Call`] through the
//! journaling wrapper, and its (recorded or live) result decoded for the guest.

use super::waits::cancelled;
use super::{Call, ExecutionHost, Interrupt, WorkflowState};
use crate::engine::activity_host::RetrySpec;
use crate::engine::bindings::workflow::cairn::workflow::{context, types};
use crate::error::{Error, codes};
use crate::journal::{ActivityOutcome, FailureRecord, kinds};
use serde_json::Value;

fn to_wit(f: FailureRecord) -> types::Failure {
    types::Failure {
        code: f.code,
        message: f.message,
        retryable: f.retryable,
        details: f.details,
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

impl ExecutionHost {
    fn corrupt(&mut self, what: String) -> wasmtime::Error {
        let error = Error::new(
            codes::CORRUPT_JOURNAL,
            format!("execution {}: {what}", self.id),
            "the journal was changed outside Cairn; terminate the execution",
        );
        self.stop(Interrupt::Park(error))
    }

    /// The recorded outcome (`activity.done` or `child.done`) of command `handle`.
    fn outcome(&mut self, kind: &str, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let data = self.cursor.event(kind, handle).cloned();
        match data.and_then(|d| serde_json::from_value::<ActivityOutcome>(d).ok()) {
            Some(outcome) => Ok(outcome.result.map_err(to_wit)),
            None => Err(self.corrupt(format!("no readable `{kind}` for call {handle}"))),
        }
    }
}

impl WorkflowState {
    /// Runs a journaled call and restarts the CPU budget for the guest.
    async fn journaled(&mut self, call: Call<'_>) -> wasmtime::Result<(u32, Value)> {
        let result = self.host.call(call).await;
        self.guard.resume();
        result
    }

    fn handle_of(&mut self, v: &Value) -> wasmtime::Result<u32> {
        match v.get("handle").and_then(Value::as_u64) {
            Some(h) => Ok(h as u32),
            None => Err(self.host.corrupt("a recorded await has no handle".into())),
        }
    }
}

impl types::Host for WorkflowState {}

impl context::Host for WorkflowState {
    async fn execution_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.host.id.clone())
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.journaled(Call::Now).await?.1.as_u64().unwrap_or(0))
    }

    async fn random(&mut self) -> wasmtime::Result<u64> {
        Ok(self.journaled(Call::Random).await?.1.as_u64().unwrap_or(0))
    }

    async fn sleep(&mut self, duration_ms: u64) -> wasmtime::Result<Result<(), types::Failure>> {
        let (seq, _) = self.journaled(Call::Sleep { ms: duration_ms }).await?;
        if self.host.cursor.event(kinds::TIMER_CANCELLED, seq).is_some() {
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
        let options = RetrySpec::from_wit(options);
        let (_, v) = self
            .journaled(Call::StartActivity {
                name: &name,
                input: &input,
                options,
            })
            .await?;
        Ok(v.as_u64().unwrap_or(0) as u32)
    }

    async fn await_activity(&mut self, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let (_, v) = self.journaled(Call::Await { handles: &[handle] }).await?;
        let h = self.handle_of(&v)?;
        self.host.outcome(kinds::ACTIVITY_DONE, h)
    }

    async fn await_any(&mut self, handles: Vec<u32>) -> wasmtime::Result<(u32, Result<String, types::Failure>)> {
        let (_, v) = self.journaled(Call::Await { handles: &handles }).await?;
        let h = self.handle_of(&v)?;
        let index = handles.iter().position(|x| *x == h).unwrap_or(0) as u32;
        Ok((index, self.host.outcome(kinds::ACTIVITY_DONE, h)?))
    }

    async fn receive_signal(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Result<Option<String>, types::Failure>> {
        let (seq, _) = self
            .journaled(Call::ReceiveSignal {
                name: &name,
                timeout_ms,
            })
            .await?;
        let cursor = &self.host.cursor;
        if let Some(data) = cursor.event(kinds::SIGNAL_RECEIVED, seq) {
            let payload = data.get("payload").cloned().unwrap_or(Value::Null);
            return Ok(Ok(Some(payload.to_string())));
        }
        if cursor.event(kinds::SIGNAL_CANCELLED, seq).is_some() {
            return Ok(Err(to_wit(cancelled())));
        }
        if cursor.event(kinds::SIGNAL_TIMEOUT, seq).is_some() || self.host.replay_only {
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
            types::ParentClosePolicy::Terminate => "terminate",
            types::ParentClosePolicy::RequestCancel => "request-cancel",
            types::ParentClosePolicy::Abandon => "abandon",
        };
        let call = Call::StartChild {
            workflow: &workflow,
            input: &input,
            workflow_id: options.workflow_id.as_deref(),
            policy,
        };
        let (seq, v) = self.journaled(call).await?;
        if let Some(error) = v.get("error") {
            let failure: FailureRecord = serde_json::from_value(error.clone())
                .unwrap_or_else(|_| FailureRecord::new("child-start-failed", "the child could not be started"));
            return Ok(Err(to_wit(failure)));
        }
        Ok(Ok(seq))
    }

    async fn await_child(&mut self, handle: u32) -> wasmtime::Result<Result<String, types::Failure>> {
        let (_, v) = self.journaled(Call::AwaitChild { handle }).await?;
        let h = self.handle_of(&v)?;
        self.host.outcome(kinds::CHILD_DONE, h)
    }

    async fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        self.journaled(Call::ContinueAsNew { input: &input }).await?;
        // Replaying a run that continued: its journal ends here.
        Err(self.host.stop(Interrupt::EndOfJournal))
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
