//! Replay checks: run a component against stored journals without running
//! anything live or writing anything, and report the first divergence.

use super::{Runtime, classify_trap, not_found};
use crate::engine::workflow_host::{self, ExecutionHost, Interrupt};
use crate::engine::{ActivityRegistry, WorkflowComponent};
use crate::error::{Error, Result, codes};
use crate::journal::Cursor;
use crate::store::Lease;
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

impl Runtime {
    /// Replays execution `id`'s journal against `component`. Read-only.
    pub async fn replay_check(&self, id: &str, component: &WorkflowComponent) -> Result<Verdict> {
        let exec = self.store.execution(id).await?.ok_or_else(|| not_found(id))?;
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
        let host = ExecutionHost::new(
            cursor,
            lease,
            self.store.clone(),
            self.engine.clone(),
            Arc::new(ActivityRegistry::default()),
            self.config.evict_after,
            false,
        )
        .replay_only();
        let (result, mut state) = workflow_host::activate(&self.engine, component, host, &exec.input).await;
        Ok(match result {
            Ok(_) => match state.host.cursor.unconsumed() {
                Some(nd) => Verdict::Diverged(workflow_host::nondeterminism_error(id, &nd)),
                None => Verdict::Compatible,
            },
            Err(trap) => match state.host.interrupt.take() {
                Some(Interrupt::EndOfJournal) => Verdict::Compatible,
                Some(Interrupt::Park(e)) if e.code == codes::NONDETERMINISM => Verdict::Diverged(e),
                Some(Interrupt::Park(e)) => Verdict::Failed(e),
                _ => Verdict::Failed(classify_trap(&trap, &state.guard, &state.stderr.contents())),
            },
        })
    }
}
