//! Deployments, schedules, inbox messages, child policies and the state of
//! the nodes of a store.

use super::Bindings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A named, versioned workflow: component plus the activities it may call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    /// Name, e.g. `orders`.
    pub name: String,
    /// Version, from 1.
    pub version: i64,
    /// Workflow component digest.
    pub component: String,
    /// Activities and grants.
    pub bindings: Bindings,
    /// When it was deployed (ms since epoch).
    pub created_at_ms: i64,
}

/// A deployment as named by users: `name` (the latest version) or `name@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRef {
    /// Deployment name.
    pub name: String,
    /// A version, or the latest.
    pub version: Option<i64>,
}

impl WorkflowRef {
    /// Parses `name` or `name@version`; `None` for a version that is not
    /// 1 to [`super::syntax::VERSION_DIGITS`] digits.
    pub fn parse(text: &str) -> Option<WorkflowRef> {
        match text.split_once('@') {
            Some((name, version)) => {
                let digits = version.bytes().all(|b| b.is_ascii_digit());
                if !digits || version.is_empty() || version.len() > super::syntax::VERSION_DIGITS {
                    return None;
                }
                Some(WorkflowRef {
                    name: name.to_owned(),
                    version: Some(version.parse().ok()?),
                })
            }
            None => Some(WorkflowRef {
                name: text.to_owned(),
                version: None,
            }),
        }
    }
}

/// What an inbox message asks of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InboxKind {
    /// A named signal with a payload, consumed by a signal wait.
    Signal,
    /// A cancellation request.
    Cancel,
}

impl InboxKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxKind::Signal => "signal",
            InboxKind::Cancel => "cancel",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<InboxKind> {
        [InboxKind::Signal, InboxKind::Cancel]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A message waiting for an execution: a signal or a cancellation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxMessage {
    /// Position among all messages (increasing).
    pub id: i64,
    /// Signal or cancellation.
    pub kind: InboxKind,
    /// Signal name (empty for a cancellation).
    pub name: String,
    /// JSON payload.
    pub payload: String,
    /// When it arrived (ms since epoch).
    pub created_at_ms: i64,
}

/// What happens to a running child when its parent finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClosePolicy {
    /// The child is terminated (the default).
    Terminate,
    /// The child is asked to cancel and may compensate.
    RequestCancel,
    /// The child runs on, independent.
    Abandon,
}

/// A cron schedule that starts executions of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    /// Schedule id.
    pub id: String,
    /// Cron expression (seconds field first, as in `0 */5 * * * *`).
    pub cron: String,
    /// Deployment name (latest version at each firing).
    pub workflow: String,
    /// JSON input of every execution (kept as text, sent as JSON).
    #[serde(with = "super::json_text")]
    #[schema(value_type = Value)]
    pub input: String,
    /// Next firing time (ms since epoch).
    pub next_fire_at_ms: i64,
}

/// A runtime node as recorded by its heartbeats.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    /// Node id (`host:pid:random`).
    pub id: String,
    /// When it started (ms since epoch).
    pub started_at_ms: i64,
    /// Its last heartbeat (ms since epoch).
    pub heartbeat_at_ms: i64,
    /// Leases it holds now.
    pub leases: i64,
}

/// Executions by state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Backlog {
    /// Running or due, with no live lease: waiting for a node.
    pub runnable: i64,
    /// Leased by a node right now.
    pub leased: i64,
    /// Sleeping until a future time.
    pub sleeping: i64,
    /// Parked, waiting for an operator.
    pub parked: i64,
    /// Failed.
    pub failed: i64,
    /// Completed.
    pub completed: i64,
    /// Terminated by an operator.
    #[serde(default)]
    pub terminated: i64,
    /// Queued under their tenant's `max_running`.
    #[serde(default)]
    pub queued: i64,
}

/// What `cairn status` reports about a store.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoreStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Applied schema version (0: not initialized).
    pub schema_version: i64,
    /// Newest schema version this binary knows.
    pub latest_version: i64,
    /// Nodes that sent a heartbeat recently.
    pub nodes: Vec<NodeInfo>,
    /// Executions by state.
    pub backlog: Backlog,
}

/// Nodes whose last heartbeat is older than this are not listed as live.
pub const NODE_STALE_MS: i64 = 15_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_refs_name_a_version_or_the_latest() {
        assert_eq!(
            WorkflowRef::parse("orders"),
            Some(WorkflowRef {
                name: "orders".into(),
                version: None
            })
        );
        assert_eq!(WorkflowRef::parse("orders@3").unwrap().version, Some(3));
        assert_eq!(WorkflowRef::parse("orders@x"), None);
    }

    #[test]
    fn inbox_kinds_and_close_policies_keep_their_stored_names() {
        assert_eq!(InboxKind::parse("cancel"), Some(InboxKind::Cancel));
        assert_eq!(InboxKind::Signal.as_str(), "signal");
        assert_eq!(
            serde_json::to_value(ClosePolicy::RequestCancel).unwrap(),
            "request-cancel"
        );
        let p: ClosePolicy = serde_json::from_str("\"terminate\"").unwrap();
        assert_eq!(p, ClosePolicy::Terminate);
    }
}
