//! Replay checks: run a component against stored journals without running
//! anything live or writing anything, and report the first divergence.

use super::Node;
use crate::engine::workflow_host::{self, End, ExecutionHost};
use crate::engine::{ActivityRegistry, WorkflowComponent, digest_of};
use crate::error::{Error, Result, codes};
use crate::journal::Cursor;
use crate::model::{Lease, ListFilter};
use std::sync::Arc;

/// What replaying one journal against a component found.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The component makes the same calls as the journal records.
    Compatible,
    /// The first divergence (`CAIRN-E006`, naming seq, expected and actual).
    Diverged(Error),
    /// The component trapped or the journal is unreadable.
    Failed(Error),
}

/// Which journals to check against which component.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// The new workflow component's bytes.
    pub component: Vec<u8>,
    /// Only executions of this workflow name.
    pub workflow: Option<String>,
    /// Specific executions (default: every one, newest first, filtered by `workflow`).
    pub ids: Vec<String>,
    /// At most this many executions.
    pub limit: u32,
}

impl Node {
    /// Replays each selected journal against the component. Read-only.
    pub async fn replay(&self, req: ReplayRequest) -> Result<Vec<(String, Verdict)>> {
        let digest = digest_of(&req.component);
        let component = self.engine()?.workflow(&digest, req.component).await?;
        let ids: Vec<String> = if req.ids.is_empty() {
            let filter = ListFilter {
                workflow: req.workflow.clone(),
                limit: Some(req.limit),
                ..Default::default()
            };
            self.store.list(&filter).await?.into_iter().map(|e| e.id).collect()
        } else {
            req.ids
        };
        let mut verdicts = Vec::new();
        for id in ids {
            let verdict = self.replay_check(&id, &component).await?;
            verdicts.push((id, verdict));
        }
        Ok(verdicts)
    }

    /// Replays execution `id`'s journal against `component`. Read-only.
    pub(super) async fn replay_check(&self, id: &str, component: &WorkflowComponent) -> Result<Verdict> {
        let exec = self.execution(id).await?;
        let journal = self.store.journal(id).await?;
        let cursor = match Cursor::new(journal) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Verdict::Failed(Error::new(
                    codes::CORRUPT_JOURNAL,
                    format!("execution {id}: {e}"),
                    "terminate the execution",
                )));
            }
        };
        let lease = Lease {
            execution_id: id.to_owned(),
            owner: "replay-check".into(),
            epoch: -1,
        };
        let engine = self.engine()?;
        let host = ExecutionHost::new(
            cursor,
            lease,
            self.me(),
            engine.clone(),
            Arc::new(ActivityRegistry::default()),
            self.host_options(true),
        );
        let activation = workflow_host::activate(&engine, component, host, &exec.input).await;
        Ok(match activation.end {
            End::Completed(_) | End::Failed(_) | End::Replayed => Verdict::Compatible,
            End::Parked(e) if e.code == codes::NONDETERMINISM => Verdict::Diverged(e),
            End::Parked(e) | End::Trapped(e) | End::StoreFailed(e) => Verdict::Failed(e),
            other => Verdict::Failed(Error::new(
                codes::GUEST_TRAP,
                format!("execution {id}: the replay ended unexpectedly: {other:?}"),
                "report this as a bug",
            )),
        })
    }
}
