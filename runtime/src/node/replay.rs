//! Replay checks: run a component against stored journals without running
//! anything live or writing anything, and report the first divergence.

use super::Node;
use crate::engine::workflow_host::{self, End, ExecutionHost};
use crate::engine::{ActivityRegistry, WorkflowComponent, digest_of};
use crate::error::{Error, Result, codes};
use crate::journal::Cursor;
use crate::model::{Key, Lease, ListFilter};
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
    /// The tenant whose executions are checked.
    pub tenant: String,
    /// Only executions of this workflow name.
    pub workflow: Option<String>,
    /// The name the component's file suggests (`saga_v2.wasm`: `saga_v2`),
    /// for choosing the workflow when none is given.
    pub file_stem: Option<String>,
    /// Specific executions (default: every one, newest first, filtered by `workflow`).
    pub ids: Vec<String>,
    /// At most this many executions.
    pub limit: u32,
}

/// What a replay check covered and found.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Which executions were checked, and why those.
    pub checked: String,
    /// Each execution's verdict.
    pub verdicts: Vec<(String, Verdict)>,
}

impl Node {
    /// Replays each selected journal against the component. Read-only.
    /// Without ids or a workflow, it checks the executions of the workflow
    /// the component implements: the one its file is named after, or the
    /// only one with executions; with several and no clue it asks.
    pub async fn replay(&self, req: ReplayRequest) -> Result<ReplayReport> {
        let digest = digest_of(&req.component);
        let component = self.engine()?.workflow(&digest, req.component, false).await?;
        let (ids, checked): (Vec<Key>, String) = if req.ids.is_empty() {
            let (workflow, checked) = match req.workflow {
                Some(w) => (w.clone(), format!("executions of workflow {w}")),
                None => self.implemented_workflow(&req.tenant, req.file_stem.as_deref()).await?,
            };
            let filter = ListFilter {
                workflow: Some(Key::new(&req.tenant, &workflow)),
                limit: Some(req.limit),
                tenant: Some(req.tenant.clone()),
                ..Default::default()
            };
            let ids = self
                .store
                .list(&filter)
                .await?
                .into_iter()
                .map(|e| Key::stored(e.id))
                .collect();
            (ids, checked)
        } else {
            let ids = req.ids.iter().map(|id| Key::new(&req.tenant, id)).collect();
            (ids, "the executions named".to_owned())
        };
        let mut verdicts = Vec::new();
        for id in ids {
            let verdict = self.replay_check(&id, &component).await?;
            verdicts.push((id.name().to_owned(), verdict));
        }
        Ok(ReplayReport { checked, verdicts })
    }

    /// The workflow a component implements, when the caller did not say:
    /// the one named like its file (`saga_v2` → `saga`), or the only one
    /// with executions; and why.
    async fn implemented_workflow(&self, tenant: &str, file_stem: Option<&str>) -> Result<(String, String)> {
        let names: Vec<String> = self
            .store
            .workflow_names(tenant)
            .await?
            .iter()
            .map(|k| k.name().to_owned())
            .collect();
        if let Some(stem) = file_stem {
            for candidate in [stem.to_owned(), without_version(stem)] {
                if names.contains(&candidate) {
                    let why = format!(
                        "executions of workflow {candidate} (named after the file {stem}; pass --workflow for another)"
                    );
                    return Ok((candidate, why));
                }
            }
        }
        match names.as_slice() {
            [] => Ok((String::new(), "no executions are stored".to_owned())),
            [only] => Ok((
                only.clone(),
                format!("executions of workflow {only}, the only one stored"),
            )),
            _ => Err(Error::invalid(
                format!(
                    "which workflow does the component implement? Executions of {} workflows are stored: {}",
                    names.len(),
                    names.join(", ")
                ),
                "pass --workflow NAME to check that workflow's executions",
            )),
        }
    }

    /// Replays execution `id`'s journal against `component`. Read-only.
    pub(super) async fn replay_check(&self, id: &Key, component: &WorkflowComponent) -> Result<Verdict> {
        let exec = self.execution(id).await?;
        let journal = self.store.journal(id).await?;
        let cursor = match Cursor::new(journal) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Verdict::Failed(Error::new(
                    codes::CORRUPT_JOURNAL,
                    format!("execution {}: {e}", id.name()),
                    "terminate the execution",
                )));
            }
        };
        let engine = self.engine()?;
        let host = self.replay_host(id, cursor, "replay-check")?;
        let activation = workflow_host::activate(&engine, component, host, &exec.input).await;
        Ok(match activation.end {
            End::Completed(_) | End::Failed(_) | End::Replayed => Verdict::Compatible,
            End::Parked(e) if e.code == codes::NONDETERMINISM => Verdict::Diverged(e),
            End::Parked(e) | End::Trapped(e) | End::StoreFailed(e) => Verdict::Failed(e),
            other => Verdict::Failed(Error::new(
                codes::GUEST_TRAP,
                format!("execution {}: the replay ended unexpectedly: {other:?}", id.name()),
                "report this as a bug",
            )),
        })
    }
}

impl Node {
    /// A host that only replays `cursor` for execution `id`: nothing runs
    /// live, nothing is written (its lease, held by `owner`, is never
    /// current).
    pub(super) fn replay_host(&self, id: &Key, cursor: Cursor, owner: &str) -> Result<ExecutionHost> {
        let lease = Lease {
            execution_id: id.clone(),
            owner: owner.into(),
            epoch: -1,
            recovered: false,
        };
        Ok(ExecutionHost::new(
            cursor,
            lease,
            self.me(),
            self.engine()?,
            Arc::new(ActivityRegistry::default()),
            self.host_options(true),
        ))
    }
}

/// A file stem without a version suffix: `saga_v2` and `saga-v2` → `saga`.
fn without_version(stem: &str) -> String {
    let cut = stem.rfind(['_', '-']).filter(|&i| {
        let rest = &stem[i + 1..];
        rest.len() > 1 && rest.starts_with(['v', 'V']) && rest[1..].chars().all(|c| c.is_ascii_digit())
    });
    cut.map_or_else(|| stem.to_owned(), |i| stem[..i].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_version_suffix_is_not_part_of_the_name() {
        assert_eq!(super::without_version("saga_v2"), "saga");
        assert_eq!(super::without_version("tsrace-V10"), "tsrace");
        assert_eq!(super::without_version("chain_changed"), "chain_changed");
        assert_eq!(super::without_version("v2"), "v2");
        assert_eq!(super::without_version("saga_v"), "saga_v");
    }
}
