//! Everything a workflow can block on — activities, timers, signals,
//! children — and cancellation, which reaches each of them.
//!
//! Waits poll the execution's inbox (signals and cancellation requests) at
//! a short interval; a wait longer than the eviction threshold commits its
//! deadline and suspends the execution, which is replayed when a message,
//! a child's completion or the deadline wakes it.

use super::{ChildRef, ExecutionHost, Interrupt};
use crate::engine::activity_host::{self, ActivityCall, RetrySpec};
use crate::error::{Error, codes};
use crate::journal::{ActivityOutcome, FailureRecord, kinds};
use crate::scheduler::new_execution;
use crate::store::{Status, Transition, now_ms};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How often a blocked execution looks for signals, cancellation and children.
const POLL: Duration = Duration::from_millis(100);

/// The failure every interrupted wait returns.
pub(super) fn cancelled() -> FailureRecord {
    FailureRecord::new("cancelled", "the execution was cancelled")
}

impl ExecutionHost {
    /// Starts activity call `seq` in the background.
    pub(super) fn launch(&mut self, seq: u32, name: &str, input: &str, options: RetrySpec) -> wasmtime::Result<()> {
        let Some(component) = self.registry.get(name).cloned() else {
            let known = self.registry.names().join(", ");
            let error = Error::new(
                codes::UNKNOWN_ACTIVITY,
                format!(
                    "execution {} called activity `{name}`, which no registered component serves (registered: {known})",
                    self.id
                ),
                "start the workflow with --activity <component.wasm> (or deploy it with one) that serves it",
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
    pub(super) async fn wait_any(&mut self, handles: &[u32]) -> wasmtime::Result<(u32, bool)> {
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
            if let Some(inbox) = self.pending_cancel() {
                // Every running activity ends as cancelled, these included.
                self.deliver_cancel(inbox, None).await;
                fresh = true;
                continue;
            }
            tokio::select! {
                received = self.done_rx.recv() => {
                    let Some((h, outcome)) = received else { wasmtime::bail!("activity results channel closed") };
                    self.record_done(h, outcome);
                    fresh = true;
                    while let Ok((h, outcome)) = self.done_rx.try_recv() {
                        self.record_done(h, outcome);
                    }
                }
                _ = tokio::time::sleep(POLL) => self.refresh_inbox().await,
            }
        }
    }

    /// Whether timer `seq` has fired or was cancelled.
    pub(super) fn timer_resolved(&self, seq: u32) -> bool {
        self.cursor.event(kinds::TIMER_FIRED, seq).is_some() || self.cursor.event(kinds::TIMER_CANCELLED, seq).is_some()
    }

    /// Waits for timer `seq`; a cancellation interrupts it; a wait longer
    /// than the eviction threshold suspends the execution instead.
    pub(super) async fn wait_timer(&mut self, seq: u32, fire_at: i64) -> wasmtime::Result<()> {
        loop {
            if let Some(inbox) = self.pending_cancel() {
                self.deliver_cancel(inbox, Some((kinds::TIMER_CANCELLED, seq))).await;
                return self.commit(Transition::Running).await;
            }
            let remaining = fire_at - now_ms();
            if remaining <= 0 {
                self.cursor.record_event(kinds::TIMER_FIRED, seq, Value::Null, now_ms());
                return Ok(());
            }
            if remaining as u128 > self.evict_after.as_millis() {
                return Err(self.stop(Interrupt::Suspend { wake_at_ms: fire_at }));
            }
            tokio::time::sleep(Duration::from_millis(remaining as u64).min(POLL)).await;
            self.refresh_inbox().await;
        }
    }

    /// Whether signal wait `seq` has an outcome.
    pub(super) fn signal_resolved(&self, seq: u32) -> bool {
        [kinds::SIGNAL_RECEIVED, kinds::SIGNAL_TIMEOUT, kinds::SIGNAL_CANCELLED]
            .iter()
            .any(|k| self.cursor.event(k, seq).is_some())
    }

    /// Waits for the oldest unconsumed signal `name` until `deadline`.
    /// Consuming a signal commits (it leaves the inbox for good).
    pub(super) async fn wait_signal(&mut self, seq: u32, name: &str, deadline: Option<i64>) -> wasmtime::Result<()> {
        self.refresh_inbox().await;
        let waiting_since = Instant::now();
        loop {
            if let Some(inbox) = self.pending_cancel() {
                self.deliver_cancel(inbox, Some((kinds::SIGNAL_CANCELLED, seq))).await;
                return self.commit(Transition::Running).await;
            }
            let signal = self
                .inbox
                .iter()
                .find(|m| m.kind == "signal" && m.name == name && !self.cursor.is_consumed(m.id))
                .cloned();
            if let Some(m) = signal {
                let payload: Value = serde_json::from_str(&m.payload).unwrap_or(Value::Null);
                let data = json!({ "inbox": m.id, "payload": payload });
                self.cursor.record_event(kinds::SIGNAL_RECEIVED, seq, data, now_ms());
                return self.commit(Transition::Running).await;
            }
            let now = now_ms();
            if deadline.is_some_and(|d| now >= d) {
                self.cursor.record_event(kinds::SIGNAL_TIMEOUT, seq, Value::Null, now);
                return Ok(());
            }
            if waiting_since.elapsed() > self.evict_after {
                // Nothing yet: suspend; a signal, a cancellation or the deadline wakes it.
                let wake_at = deadline.unwrap_or(now + 3_600_000);
                self.commit(Transition::Sleeping { wake_at_ms: wake_at }).await?;
                return Err(self.stop(Interrupt::Suspend { wake_at_ms: wake_at }));
            }
            tokio::time::sleep(POLL).await;
            self.refresh_inbox().await;
        }
    }

    /// Re-reads the inbox (a failure keeps the old copy; the next poll retries).
    pub(super) async fn refresh_inbox(&mut self) {
        match self.store.inbox(&self.id).await {
            Ok(inbox) => self.inbox = inbox,
            Err(e) => tracing::warn!("execution {}: reading the inbox failed: {}", self.id, e.message),
        }
    }

    fn pending_cancel(&self) -> Option<i64> {
        self.inbox
            .iter()
            .find(|m| m.kind == "cancel" && !self.cursor.is_consumed(m.id))
            .map(|m| m.id)
    }

    /// Delivers a cancellation: consumes every cancel message, records the
    /// interrupted wait's outcome (`interrupted`), ends every running
    /// activity as cancelled and asks open children to cancel.
    async fn deliver_cancel(&mut self, inbox: i64, interrupted: Option<(&str, u32)>) {
        let now = now_ms();
        let cancels: Vec<i64> = self
            .inbox
            .iter()
            .filter(|m| m.kind == "cancel" && !self.cursor.is_consumed(m.id))
            .map(|m| m.id)
            .collect();
        for id in cancels {
            self.cursor
                .record_event(kinds::CANCEL_RECEIVED, id as u32, json!({ "inbox": id }), now);
        }
        debug_assert!(self.cursor.is_consumed(inbox));
        if let Some((kind, seq)) = interrupted {
            self.cursor.record_event(kind, seq, Value::Null, now);
        }
        let mut running: Vec<u32> = self.tasks.keys().copied().collect();
        running.sort();
        for seq in running {
            if let Some(task) = self.tasks.remove(&seq) {
                task.abort();
            }
            let outcome = ActivityOutcome {
                attempts: 0,
                result: Err(cancelled()),
            };
            self.record_done(seq, outcome);
        }
        for child in self.open_children() {
            if let Err(e) = self.store.push_inbox(&child.id, "cancel", "", "null").await {
                tracing::warn!(
                    "execution {}: cancelling child {} failed: {}",
                    self.id,
                    child.id,
                    e.message
                );
            }
        }
    }

    /// Starts child `seq`: resolves the deployment, creates the child
    /// execution (idempotently) and returns the command's result.
    pub(super) async fn start_child(
        &mut self,
        seq: u32,
        workflow: &str,
        input: &str,
        workflow_id: Option<&str>,
        policy: &'static str,
    ) -> wasmtime::Result<Value> {
        let (name, version) = match workflow.split_once('@') {
            Some((n, v)) => (n, v.parse::<i64>().ok()),
            None => (workflow, None),
        };
        let fail = |code: &str, message: String| json!({ "error": FailureRecord::new(code, message) });
        if serde_json::from_str::<Value>(input).is_err() {
            return Ok(fail("invalid-input", "the child's input is not JSON".into()));
        }
        let deployment = match self.store.deployment(name, version).await {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(fail("unknown-workflow", format!("no deployment named {workflow}"))),
            Err(e) => return Err(self.stop(Interrupt::Store(e))),
        };
        let id = workflow_id
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-c{seq}", self.id));
        let parent = Some(self.id.clone());
        let new = new_execution(
            id.clone(),
            &deployment.name,
            &deployment.component,
            deployment.bindings,
            input,
            parent,
        );
        if let Err(e) = self.store.enqueue_if_absent(&new).await {
            return Err(self.stop(Interrupt::Store(e)));
        }
        self.children.insert(
            seq,
            ChildRef {
                id: id.clone(),
                policy: policy.to_owned(),
            },
        );
        Ok(json!({ "id": id }))
    }

    /// Waits for child `handle` to finish and records its outcome; returns
    /// whether it recorded one (then the caller commits).
    pub(super) async fn wait_child(&mut self, handle: u32) -> wasmtime::Result<bool> {
        if self.cursor.event(kinds::CHILD_DONE, handle).is_some() {
            return Ok(false);
        }
        let Some(mut child) = self.children.get(&handle).cloned() else {
            wasmtime::bail!("child handle {handle} was never started by this execution");
        };
        let waiting_since = Instant::now();
        loop {
            if let Some(inbox) = self.pending_cancel() {
                // Children are asked to cancel; their outcome is awaited as usual.
                self.deliver_cancel(inbox, None).await;
            }
            let exec = match self.store.execution(&child.id).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(
                        "execution {}: reading child {} failed: {}",
                        self.id,
                        child.id,
                        e.message
                    );
                    None
                }
            };
            if let Some(exec) = exec {
                let result: Option<Result<String, FailureRecord>> = match exec.status {
                    Status::Completed => Some(Ok(exec.output.unwrap_or_else(|| "null".into()))),
                    Status::Failed | Status::Terminated => {
                        let error: Value = exec
                            .error
                            .as_deref()
                            .and_then(|e| serde_json::from_str(e).ok())
                            .unwrap_or(Value::Null);
                        let message = error
                            .get("message")
                            .or(error.get("reason"))
                            .and_then(Value::as_str)
                            .unwrap_or("the child failed");
                        let code = if exec.status == Status::Terminated {
                            "terminated"
                        } else {
                            "child-failed"
                        };
                        Some(Err(FailureRecord::new(code, format!("child {}: {message}", child.id))))
                    }
                    Status::Continued => {
                        let next = exec
                            .output
                            .as_deref()
                            .and_then(|o| serde_json::from_str::<Value>(o).ok());
                        if let Some(next) =
                            next.and_then(|v| v.get("continued_as").and_then(Value::as_str).map(str::to_owned))
                        {
                            child.id = next;
                            self.children.insert(handle, child.clone());
                        }
                        None
                    }
                    _ => None,
                };
                if let Some(result) = result {
                    let outcome = ActivityOutcome { attempts: 1, result };
                    let data = serde_json::to_value(&outcome).expect("outcomes encode");
                    self.cursor.record_event(kinds::CHILD_DONE, handle, data, now_ms());
                    return Ok(true);
                }
            }
            if waiting_since.elapsed() > self.evict_after {
                // The child wakes this execution when it finishes; check now and then regardless.
                let wake_at = now_ms() + 30_000;
                self.commit(Transition::Sleeping { wake_at_ms: wake_at }).await?;
                return Err(self.stop(Interrupt::Suspend { wake_at_ms: wake_at }));
            }
            tokio::time::sleep(POLL).await;
            self.refresh_inbox().await;
        }
    }

    /// Creates the next run of this workflow (idempotently) and returns its id.
    pub(super) async fn continue_as_new(&mut self, input: &str) -> wasmtime::Result<String> {
        if serde_json::from_str::<Value>(input).is_err() {
            wasmtime::bail!("continue-as-new was called with an input that is not JSON");
        }
        let next = match self
            .id
            .rsplit_once('~')
            .and_then(|(base, n)| n.parse::<u64>().ok().map(|n| (base, n)))
        {
            Some((base, n)) => format!("{base}~{}", n + 1),
            None => format!("{}~1", self.id),
        };
        let exec = match self.store.execution(&self.id).await {
            Ok(Some(e)) => e,
            Ok(None) => wasmtime::bail!("execution {} vanished", self.id),
            Err(e) => return Err(self.stop(Interrupt::Store(e))),
        };
        let new = new_execution(
            next.clone(),
            &exec.workflow,
            &exec.component,
            exec.bindings,
            input,
            exec.parent,
        );
        if let Err(e) = self.store.enqueue_if_absent(&new).await {
            return Err(self.stop(Interrupt::Store(e)));
        }
        Ok(next)
    }
}
