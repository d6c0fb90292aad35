//! The node's side of running executions: the engine asks, the node does —
//! commits (retrying a store that hiccups), inbox reads, children. The
//! node's own commits (an activation's end, parking) go through the same
//! [`Effects::commit`].

use super::{Node, Rate};
use crate::engine::workflow_host::{ChildState, Effects};
use crate::error::{Result, codes};
use crate::journal::{self, FailureRecord, failures};
use crate::model::{Entry, InboxMessage, Key, Lease, Status, Transition, WorkflowRef};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[async_trait]
impl Effects for Node {
    /// Retries transient store failures with backoff; a lost lease fails at once.
    async fn commit(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let tenant = lease.execution_id.tenant();
            let (result, took) = self
                .store_write(tenant, self.store.append(lease, entries, transition))
                .await;
            match result {
                Ok(()) => {
                    crate::metrics::observe(|m| &m.commit_seconds, took);
                    return Ok(());
                }
                Err(e) if e.code == codes::LEASE_LOST || attempt >= 10 => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        "execution {}: commit failed (attempt {}): {}",
                        lease.execution_id.as_str(),
                        attempt + 1,
                        e.message
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
            }
        }
    }

    async fn inbox(&self, id: &Key) -> Result<Vec<InboxMessage>> {
        self.store.inbox(id).await
    }

    async fn journal_full(&self, id: &Key) -> Option<crate::error::Error> {
        self.tenancy.journal_full(id.tenant()).await.ok().flatten()
    }

    async fn timer_slot(&self, id: &Key) {
        self.tenancy.await_rate(id.tenant(), Rate::Timers).await
    }

    async fn start_child(
        &self,
        parent: &Key,
        id: &Key,
        workflow: &str,
        input: &str,
    ) -> Result<Result<(), FailureRecord>> {
        let unknown = || {
            Ok(Err(FailureRecord::new(
                failures::UNKNOWN_WORKFLOW,
                format!("no deployment named {workflow}"),
            )))
        };
        // Children run in their parent's tenant, on its deployments.
        let Some(wanted) = WorkflowRef::parse(workflow).filter(|w| !w.name.contains('/')) else {
            return unknown();
        };
        let name = parent.beside(&wanted.name);
        let Some(d) = self.store.deployment(&name, wanted.version).await? else {
            return unknown();
        };
        let bindings = self.tenancy.within_policy(parent.tenant(), d.bindings).await?;
        let new = journal::new_execution(
            id.clone(),
            &Key::stored(d.name),
            &d.component,
            bindings,
            input,
            Some(parent.clone()),
        );
        self.place(new).await?;
        Ok(Ok(()))
    }

    async fn child_state(&self, id: &Key) -> Result<ChildState> {
        let Some(exec) = self.store.execution(id).await? else {
            return Ok(ChildState::Running);
        };
        let failed = |code: &str| {
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
            Err(FailureRecord::new(code, format!("child {}: {message}", id.name())))
        };
        Ok(match exec.status {
            Status::Completed => ChildState::Finished(Ok(exec.output.clone().unwrap_or_else(|| "null".into()))),
            Status::Failed => ChildState::Finished(failed(failures::CHILD_FAILED)),
            Status::Terminated => ChildState::Finished(failed(failures::TERMINATED)),
            Status::Continued => match exec.continued_as() {
                Some(next) => ChildState::ContinuedAs(Key::stored(next)),
                None => ChildState::Running,
            },
            Status::Running | Status::Sleeping | Status::Parked | Status::Queued => ChildState::Running,
        })
    }

    async fn request_cancel(&self, id: &Key) -> Result<()> {
        self.request_cancel_of(id).await
    }

    fn pokes(&self, id: &Key) -> Arc<Notify> {
        self.wakeups.pokes(id)
    }

    fn forget_pokes(&self, id: &Key, pokes: Arc<Notify>) {
        self.wakeups.forget_pokes(id, pokes);
    }
}
