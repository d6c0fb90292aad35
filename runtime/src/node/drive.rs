//! Driving executions: one activation at a time, each ending in one typed
//! [`End`] that [`Node::settle`] commits — the one place an activation's
//! outcome is written.

use super::{Active, Node, is_dead_local_owner};
use crate::engine::workflow_host::Effects;
use crate::engine::workflow_host::{self, Activation, End, ExecutionHost, HostOptions};
use crate::error::{Error, Result, codes, escaped};
use crate::journal::record::{Completed, Continued, Failed};
use crate::journal::{self, Cursor, Lifecycle, failures};
use crate::model::{
    Bindings, Created, Execution, Key, Lease, ListFilter, NewExecution, Status, StoreEvent, Transition, now_ms, tenancy,
};
use std::sync::Arc;
use std::time::Duration;

/// How one activation, or a whole run, ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Completed with this JSON output.
    Completed(String),
    /// Failed (the workflow's failure, or a trap, as a coded error).
    Failed(Error),
    /// Parked until an operator acts.
    Parked(Error),
    /// Sleeping until this time (ms since epoch); the instance was dropped.
    Sleeping(i64),
    /// Another node took the execution over.
    LeaseLost,
    /// This run continued as new; the next run has this key.
    Continued(Key),
}

impl Node {
    /// Creates an execution of a stored workflow component, leased to this
    /// node (drive it with [`Node::drive`] or [`Node::run_to_end`]).
    pub async fn start_here(&self, workflow: &str, component: &str, bindings: &Bindings, input: &str) -> Result<Lease> {
        let new = checked_new_execution(workflow, component, bindings, input)?;
        let created = self.create(&new, Some(&self.id)).await?;
        let Created::Leased(lease) = created else {
            return Err(Error::store(format!("execution {} exists already", new.id.name())));
        };
        self.remember_fresh(new);
        Ok(lease)
    }

    /// Creates an execution for any node to claim; returns its key.
    pub async fn enqueue(&self, workflow: &str, component: &str, bindings: &Bindings, input: &str) -> Result<Key> {
        let new = checked_new_execution(workflow, component, bindings, input)?;
        self.create(&new, None).await?;
        self.announce(StoreEvent::Work);
        Ok(new.id)
    }

    /// Runs one activation: replays the journal, continues live until the
    /// workflow returns, waits long, or is stopped; commits how it ended.
    pub async fn drive(&self, lease: Lease) -> Result<Outcome> {
        self.start_renewer();
        let active = Active::enter(self, &lease.execution_id);
        let (exec, journal) = self.load(&lease).await?;
        let cursor = Cursor::new(journal).map_err(|e| corrupt(&lease.execution_id, e))?;
        let component = self.workflow_component(&exec.component).await?;
        let engine = self.engine()?;
        let mut options = self.host_options(false);
        options.stop = Some(active.stop.clone());
        let tenant = lease.execution_id.tenant();
        let quotas = self.tenancy.activation_quotas(tenant).await?;
        options.max_entries = quotas.max_entries;
        options.journal_quota = quotas.journal_quota;
        options.cpu_budget = quotas.cpu_budget;
        options.cpu_meter = Some(engine.cpu_meter(tenant, quotas.cpu_ms_per_minute));
        engine.set_tenant_memory(tenant, quotas.instance_memory, quotas.total_memory);
        let host = ExecutionHost::new(
            cursor,
            lease.clone(),
            self.me(),
            engine.clone(),
            self.registry(&exec.bindings).await?,
            options,
        );
        let span = activation_span(&exec, &lease);
        let run = workflow_host::activate(&engine, &component, host, &exec.input);
        let activation = crate::traces::within(&span, run).await;
        let outcome = crate::traces::within(&span, self.settle(&lease, &exec, activation)).await;
        let error = match &outcome {
            Ok(Outcome::Failed(e)) | Ok(Outcome::Parked(e)) | Err(e) => Some(e.message.as_str()),
            _ => None,
        };
        crate::traces::end(span, error);
        outcome
    }

    pub(super) fn host_options(&self, replay_only: bool) -> HostOptions {
        HostOptions {
            evict_after: self.config.evict_after,
            echo_logs: self.config.echo_logs && !replay_only,
            replay_only,
            fallback: self.config.fallback,
            max_entries: None,
            journal_quota: false,
            cpu_budget: None,
            cpu_meter: None,
            stop: None,
        }
    }

    /// The execution and its journal: from memory for the first activation
    /// of an execution this node just created, else from the store.
    async fn load(&self, lease: &Lease) -> Result<(NewExecution, Vec<crate::model::Entry>)> {
        let id = &lease.execution_id;
        let fresh = self.fresh.lock().unwrap().remove(id).filter(|_| lease.epoch == 1);
        if let Some(new) = fresh {
            let journal = vec![new.started.clone()];
            return Ok((new, journal));
        }
        let e = self
            .store
            .execution(id)
            .await?
            .ok_or_else(|| Error::no_execution(id.as_str()))?;
        // Claimed (or resumed) from the store: how long it had been due.
        let due = e.updated_at_ms.max(e.wake_at_ms.unwrap_or(0));
        let lag = Duration::from_millis(now_ms().saturating_sub(due).max(0) as u64);
        crate::metrics::observe(|m| &m.claim_lag_seconds, lag);
        let journal = self.store.journal(id).await?;
        let started = journal
            .first()
            .cloned()
            .ok_or_else(|| corrupt(id, "the journal is empty"))?;
        let exec = NewExecution {
            id: Key::stored(e.id),
            workflow: Key::stored(e.workflow),
            component: e.component,
            bindings: e.bindings,
            input: e.input,
            parent: e.parent.map(Key::stored),
            started,
            queue_limit: None,
        };
        Ok((exec, journal))
    }

    /// Parks an execution with `reason` (the error as JSON, with details):
    /// nothing of this activation is written, the journal stays as it was.
    async fn park(
        &self,
        lease: &Lease,
        exec: &NewExecution,
        reason: serde_json::Value,
        error: Error,
    ) -> Result<Outcome> {
        let transition = Transition::Parked {
            reason: reason.to_string(),
        };
        match self.commit(lease, &[], &transition).await {
            Ok(()) => {
                tracing::warn!("execution {} parked: {}", exec.id.as_str(), escaped(&error.message));
                count_end(exec, |m| &m.parked);
                self.wakeups.ended(&exec.id, transition);
                Ok(Outcome::Parked(error))
            }
            Err(e) if e.code == codes::LEASE_LOST => Ok(Outcome::LeaseLost),
            Err(e) => Err(e),
        }
    }

    /// Commits how an activation ended: the one place an outcome is written.
    async fn settle(&self, lease: &Lease, exec: &NewExecution, activation: Activation) -> Result<Outcome> {
        let Activation { end, mut host } = activation;
        let now = now_ms();
        let (lifecycle, transition, outcome) = match end {
            // A bug in the workflow's code, not a decision to fail: parked, so
            // a fixed deployment can resume it by replay (`unpark`).
            End::Failed(failure) if failure.code == failures::UNCAUGHT_EXCEPTION => {
                let error = Error::new(
                    codes::UNCAUGHT_EXCEPTION,
                    format!("the workflow raised an uncaught exception: {}", failure.message),
                    "fix the code, deploy it as a new version and `cairn unpark ID --version N`; or terminate it",
                );
                let mut reason = error.to_json();
                if let Some(details) = failure.details.as_deref() {
                    reason["details"] = serde_json::from_str(details).unwrap_or_else(|_| details.into());
                }
                return self.park(lease, exec, reason, error).await;
            }
            // A trap, a CPU budget or a memory limit: like an uncaught
            // exception, the fix may be in the code (or in a limit), so the
            // execution parks and can be unparked on a new version.
            End::Trapped(error) => {
                tracing::warn!(
                    "execution {} stopped: [{}] {}",
                    exec.id.as_str(),
                    error.code.0,
                    escaped(&error.message)
                );
                let reason = error.to_json();
                return self.park(lease, exec, reason, error).await;
            }
            End::Completed(output) => (
                Lifecycle::Completed(Completed { output: output.clone() }),
                Transition::Completed { output: output.clone() },
                Outcome::Completed(output),
            ),
            End::Failed(failure) => {
                let error = Error::new(
                    codes::WORKFLOW_FAILED,
                    format!("workflow failed: {}: {}", failure.code, failure.message),
                    format!(
                        "see its journal: `cairn history {id}` (a server) or `cairn show {id}` (the embedded store)",
                        id = exec.id.name()
                    ),
                );
                (
                    Lifecycle::Failed(Failed::Failure { failure }),
                    Transition::Failed {
                        error: error.to_json().to_string(),
                    },
                    Outcome::Failed(error),
                )
            }
            End::Continued { next, input } => {
                let new = journal::new_execution(
                    next.clone(),
                    &exec.workflow,
                    &exec.component,
                    exec.bindings.clone(),
                    &input,
                    exec.parent.clone(),
                );
                if self.create(&new, None).await?.is_new() {
                    self.announce(StoreEvent::Work);
                }
                (
                    Lifecycle::Continued(Continued { next: next.clone() }),
                    Transition::Continued {
                        output: Execution::continued_output(next.as_str()),
                    },
                    Outcome::Continued(next),
                )
            }
            End::Suspended { wake_at_ms } => {
                let _ = self.store.release(lease).await;
                return Ok(Outcome::Sleeping(wake_at_ms));
            }
            End::Parked(error) => {
                let reason = error.to_json();
                return self.park(lease, exec, reason, error).await;
            }
            End::LeaseLost => return Ok(Outcome::LeaseLost),
            End::StoreFailed(e) => return Err(e),
            End::Replayed => {
                return Err(Error::store("a live activation stopped at the end of its journal"));
            }
        };
        // The run ends here: calls it never awaited end with it.
        host.abandon_running();
        let cursor = host.cursor_mut();
        cursor.record_lifecycle(lifecycle, now);
        let entries = cursor.take_pending();
        match self.commit(lease, &entries, &transition).await {
            Ok(()) => {
                match &outcome {
                    Outcome::Completed(_) => count_end(exec, |m| &m.completed),
                    Outcome::Failed(_) => count_end(exec, |m| &m.failed),
                    _ => {}
                }
                self.wakeups.ended(&exec.id, transition);
                self.finished(&exec.id, host.open_children(), exec.parent.as_ref())
                    .await;
                Ok(outcome)
            }
            Err(e) if e.code == codes::LEASE_LOST => Ok(Outcome::LeaseLost),
            Err(e) => Err(e),
        }
    }

    /// Drives an execution until it completes, fails, parks or is lost,
    /// waking it from durable sleeps on time and following continue-as-new.
    pub async fn run_to_end(&self, lease: Lease) -> Result<Outcome> {
        let mut lease = lease;
        loop {
            let next = match self.drive(lease.clone()).await? {
                Outcome::Sleeping(wake_at) => {
                    let wait = (wake_at - now_ms()).max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    lease.execution_id.clone()
                }
                Outcome::Continued(next) => next,
                other => return Ok(other),
            };
            match self.store.claim(&next, &self.id, self.lease_ms(), &[]).await? {
                Some(l) => lease = l,
                None if next != lease.execution_id => return Ok(Outcome::Continued(next)),
                None => return Ok(Outcome::LeaseLost),
            }
        }
    }

    /// Claims and runs to the end every unfinished execution whose lease is
    /// free, expired, or held by a dead process of this host.
    pub async fn resume_all(&self) -> Result<Vec<(Key, Result<Outcome>)>> {
        let filter = ListFilter {
            statuses: vec![Status::Running, Status::Sleeping],
            ..Default::default()
        };
        let unfinished = self.store.list(&filter).await?;
        let mut tasks = Vec::new();
        let mut skipped = Vec::new();
        for exec in unfinished {
            let dead: Vec<String> = exec
                .lease_owner
                .iter()
                .filter(|o| is_dead_local_owner(o))
                .cloned()
                .collect();
            let id = Key::stored(exec.id);
            match self.store.claim(&id, &self.id, self.lease_ms(), &dead).await? {
                Some(lease) => {
                    let node: Arc<Node> = self.me();
                    tasks.push((id, tokio::spawn(async move { node.run_to_end(lease).await })));
                }
                None => skipped.push(id),
            }
        }
        let mut results = Vec::new();
        for (id, task) in tasks {
            let r = task
                .await
                .unwrap_or_else(|e| Err(Error::store(format!("task failed: {e}"))));
            results.push((id, r));
        }
        for id in skipped {
            let owner = self
                .store
                .execution(&id)
                .await?
                .and_then(|e| e.lease_owner)
                .unwrap_or_default();
            results.push((
                id,
                Err(Error::new(
                    codes::LEASE_LOST,
                    format!("held by the live node {owner}"),
                    "wait for that node or for its lease to expire",
                )),
            ));
        }
        Ok(results)
    }
}

/// A span for one activation (when traces are on), continuing the trace of
/// the request that started the execution.
fn activation_span(exec: &NewExecution, lease: &Lease) -> Option<opentelemetry::Context> {
    use opentelemetry::KeyValue;
    if !crate::traces::on() {
        return None;
    }
    let trace = match journal::Record::of_entry(&exec.started) {
        Ok(journal::Record::Lifecycle(Lifecycle::Started(s))) => s.trace,
        _ => None,
    };
    let parent = crate::traces::from_traceparent(trace.as_deref());
    let attributes = vec![
        KeyValue::new("cairn.execution_id", exec.id.name().to_owned()),
        KeyValue::new("cairn.tenant", exec.id.tenant().to_owned()),
        KeyValue::new("cairn.workflow", exec.workflow.name().to_owned()),
        KeyValue::new("cairn.lease_epoch", lease.epoch),
    ];
    let name = format!("activation {}", exec.workflow.name());
    crate::traces::start(name, opentelemetry::trace::SpanKind::Internal, &parent, attributes)
}

/// Counts an execution's end in the counter `pick` chooses.
fn count_end(exec: &NewExecution, pick: impl FnOnce(&crate::metrics::Metrics) -> &prometheus::IntCounterVec) {
    let labels = [exec.id.tenant(), exec.workflow.name()];
    crate::metrics::count(pick, &labels);
}

/// The journal of `id` cannot be read.
fn corrupt(id: &Key, e: impl std::fmt::Display) -> Error {
    Error::new(
        codes::CORRUPT_JOURNAL,
        format!("execution {}: {e}", id.name()),
        "terminate the execution",
    )
}

/// A new top-level execution of a local run (tenant `default`) with a
/// fresh id, if `input` is JSON.
fn checked_new_execution(workflow: &str, component: &str, bindings: &Bindings, input: &str) -> Result<NewExecution> {
    if serde_json::from_str::<serde_json::Value>(input).is_err() {
        return Err(Error::invalid_json("the input"));
    }
    let default = tenancy::DEFAULT_TENANT;
    Ok(journal::new_execution(
        Key::new(default, &uuid::Uuid::now_v7().to_string()),
        &Key::new(default, workflow),
        component,
        bindings.clone(),
        input,
        None,
    ))
}
