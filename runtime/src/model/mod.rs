//! The vocabulary every layer shares: executions and their status, journal
//! entries as stored, leases, deployments, schedules, inbox messages.
//!
//! These are plain data. The rules that act on them live in the node
//! (the node); the store only persists them.

mod access;
mod catalog;
pub mod json_text;
pub mod syntax;
pub mod tenancy;
pub mod whole;

pub use access::{AuditRecord, Quotas, Role, Tenant, TenantUsage, Token, host_matches};
pub use catalog::{
    Backlog, ClosePolicy, Deployment, InboxKind, InboxMessage, NODE_STALE_MS, NodeInfo, Schedule, StoreStatus,
    WorkflowRef,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use tenancy::Key;
use utoipa::ToSchema;

/// Current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One journal entry as stored: `(execution_id, seq, kind, payload)` plus
/// the time it was recorded. The payload is JSON text whose shape depends on
/// the kind; the journal module gives it its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the journal, from 0.
    pub seq: u32,
    /// What happened (`started`, `activity.start`, ...).
    pub kind: String,
    /// JSON text.
    pub payload: String,
    /// Milliseconds since the Unix epoch when the entry was recorded live.
    pub at_ms: i64,
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Runnable or running.
    Running,
    /// Waiting for a durable timer (`wake_at`).
    Sleeping,
    /// Finished with an output.
    Completed,
    /// Finished with a failure.
    Failed,
    /// Stopped until an operator acts (non-determinism, missing activity).
    Parked,
    /// Ended by an operator (`cairn terminate`); no compensation ran.
    Terminated,
    /// Ended by continue-as-new; the output names the next run.
    Continued,
    /// Waiting for a place under its tenant's `max_running` quota; no node
    /// runs it until it is admitted (then `running`).
    Queued,
}

impl Status {
    /// Every status, in the order of their names' documentation.
    pub const ALL: [Status; 8] = [
        Status::Running,
        Status::Sleeping,
        Status::Completed,
        Status::Failed,
        Status::Parked,
        Status::Terminated,
        Status::Continued,
        Status::Queued,
    ];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Sleeping => "sleeping",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Parked => "parked",
            Status::Terminated => "terminated",
            Status::Continued => "continued",
            Status::Queued => "queued",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the execution can still make progress without an operator
    /// (a node may claim it, or will once it is admitted).
    pub fn is_unfinished(self) -> bool {
        matches!(self, Status::Running | Status::Sleeping | Status::Queued)
    }

    /// Whether a result is final: the execution will never change again on
    /// its own (everything but running, sleeping and parked).
    pub fn is_final(self) -> bool {
        !self.is_unfinished() && self != Status::Parked
    }

    /// Whether an operator may still end it (`cairn terminate`).
    pub fn is_terminable(self) -> bool {
        self.is_unfinished() || self == Status::Parked
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which activity components an execution may call and which HTTP hosts
/// each activity may reach. Fixed when the execution starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Bindings {
    /// Digests of activity components.
    #[serde(default)]
    pub activities: Vec<String>,
    /// Activity name (or `*`) → allowed hosts (`host` or `host:port`).
    #[serde(default)]
    pub http_allow: BTreeMap<String, Vec<String>>,
}

/// An execution. As the store returns it, `id`, `workflow` and `parent`
/// hold stored keys (read them with [`Key::stored`]); as the API answers it,
/// the names its tenant knows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    /// Execution id.
    pub id: String,
    /// Workflow name (the component's file stem or deployment name).
    pub workflow: String,
    /// sha256 of the workflow component this execution is pinned to.
    pub component: String,
    /// Activities and HTTP grants of this execution.
    pub bindings: Bindings,
    /// Current status.
    pub status: Status,
    /// JSON input.
    #[serde(with = "json_text")]
    #[schema(value_type = Value)]
    pub input: String,
    /// JSON output once completed.
    #[serde(with = "json_text::opt")]
    #[schema(value_type = Option<Value>)]
    pub output: Option<String>,
    /// The error (`{code, message, hint}`) once failed or parked.
    #[serde(with = "json_text::opt")]
    #[schema(value_type = Option<Value>)]
    pub error: Option<String>,
    /// When a sleeping execution wakes (ms since epoch).
    pub wake_at_ms: Option<i64>,
    /// Creation time (ms since epoch).
    pub created_at_ms: i64,
    /// Last change (ms since epoch).
    pub updated_at_ms: i64,
    /// Node holding the lease, if any.
    pub lease_owner: Option<String>,
    /// Fencing epoch: incremented by every claim.
    pub lease_epoch: i64,
    /// When the lease expires (ms since epoch).
    pub lease_expires_ms: Option<i64>,
    /// The parent execution, for child workflows.
    pub parent: Option<String>,
}

/// The next run's id of an execution with this status and output, when it
/// ended by continue-as-new.
pub fn continued_as(status: Status, output: Option<&str>) -> Option<String> {
    if status != Status::Continued {
        return None;
    }
    let output: serde_json::Value = serde_json::from_str(output?).ok()?;
    output.get("continued_as")?.as_str().map(str::to_owned)
}

impl Execution {
    /// The next run's id, when this one ended by continue-as-new.
    pub fn continued_as(&self) -> Option<String> {
        continued_as(self.status, self.output.as_deref())
    }

    /// The output of continue-as-new that names the next run.
    pub fn continued_output(next: &str) -> String {
        serde_json::json!({ "continued_as": next }).to_string()
    }
}

/// A new execution with its first journal entry.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// Execution key.
    pub id: Key,
    /// Deployment key (or, for local runs, the workflow's name in `default`).
    pub workflow: Key,
    /// Workflow component digest.
    pub component: String,
    /// Activities and grants.
    pub bindings: Bindings,
    /// JSON input.
    pub input: String,
    /// The parent execution, for child workflows.
    pub parent: Option<Key>,
    /// The `started` entry (seq 0).
    pub started: Entry,
    /// Its tenant's `max_running` quota, for starts from outside (API,
    /// CLI, schedules): with that many executions of the tenant running or
    /// sleeping (or some queued before it), it is created `queued`.
    pub queue_limit: Option<u64>,
}

/// What creating an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// An execution with this id existed already; nothing was written.
    Existed,
    /// Created, for any node to claim.
    Unclaimed,
    /// Created `queued` behind its tenant's `max_running` quota.
    Queued,
    /// Created and leased to the given owner (epoch 1).
    Leased(Lease),
}

impl Created {
    /// Whether an execution was created.
    pub fn is_new(&self) -> bool {
        !matches!(self, Created::Existed)
    }
}

/// The right to write to one execution's journal: owner plus fencing epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Execution key.
    pub execution_id: Key,
    /// Node id of the holder.
    pub owner: String,
    /// Epoch of the claim; a newer claim makes this lease stale.
    pub epoch: i64,
    /// Whether this claim took the lease over from an owner that never
    /// gave it up (it crashed or stopped): calls it had in flight may have
    /// run, so their next attempt is not the first.
    pub recovered: bool,
}

/// The status change committed together with a batch of entries.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Status `running`, no wake time.
    Running,
    /// Status `sleeping` until the given time.
    Sleeping {
        /// Wake time, ms since epoch.
        wake_at_ms: i64,
    },
    /// Status `completed` with the output; the lease is released.
    Completed {
        /// JSON output.
        output: String,
    },
    /// Status `failed` with the error; the lease is released.
    Failed {
        /// JSON error.
        error: String,
    },
    /// Status `parked` with the reason; the lease is released.
    Parked {
        /// JSON error.
        reason: String,
    },
    /// Status `continued` (continue-as-new); the output names the next run.
    Continued {
        /// JSON `{"continued_as": id}`.
        output: String,
    },
}

impl Transition {
    /// The status this transition sets.
    pub fn status(&self) -> Status {
        match self {
            Transition::Running => Status::Running,
            Transition::Sleeping { .. } => Status::Sleeping,
            Transition::Completed { .. } => Status::Completed,
            Transition::Failed { .. } => Status::Failed,
            Transition::Parked { .. } => Status::Parked,
            Transition::Continued { .. } => Status::Continued,
        }
    }

    /// Whether the execution is finished after this transition (the lease is released).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Transition::Running | Transition::Sleeping { .. })
    }

    /// The (wake_at, output, error) columns this transition sets.
    pub fn columns(&self) -> (Option<i64>, Option<&str>, Option<&str>) {
        match self {
            Transition::Sleeping { wake_at_ms } => (Some(*wake_at_ms), None, None),
            Transition::Completed { output } | Transition::Continued { output } => (None, Some(output), None),
            Transition::Failed { error } | Transition::Parked { reason: error } => (None, None, Some(error)),
            Transition::Running => (None, None, None),
        }
    }
}

/// Something a node may be waiting for, announced through the store to the
/// other nodes (PostgreSQL NOTIFY) once it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// New or released work may be claimable.
    Work,
    /// This execution finished (completed, failed, terminated, continued, parked).
    Finished(Key),
    /// This execution has something new: an inbox message, or a child finished.
    Poke(Key),
    /// Events may have been lost (the listener reconnected): everyone looks again.
    Resync,
}

/// Which executions a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<Status>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
    /// Only executions of this deployment (key).
    pub workflow: Option<Key>,
    /// Only executions created at or after this time (ms since epoch).
    pub created_from_ms: Option<i64>,
    /// Only executions created before this time (ms since epoch).
    pub created_to_ms: Option<i64>,
    /// Paging: only executions after this one in the order (created_at desc, id desc).
    pub after: Option<(i64, Key)>,
    /// Only executions of this tenant (all when `None`).
    pub tenant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip_and_classify() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Status::parse("Running"), None);
        let unfinished: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_unfinished()).collect();
        assert_eq!(unfinished, [Status::Running, Status::Sleeping, Status::Queued]);
        let terminable: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_terminable()).collect();
        assert_eq!(
            terminable,
            [Status::Running, Status::Sleeping, Status::Parked, Status::Queued]
        );
        assert!(!Status::Parked.is_final() && Status::Continued.is_final() && !Status::Running.is_final());
        assert!(!Status::Queued.is_final());
    }

    #[test]
    fn transitions_release_the_lease_when_terminal() {
        assert!(!Transition::Running.is_terminal());
        assert!(!Transition::Sleeping { wake_at_ms: 1 }.is_terminal());
        let parked = Transition::Parked { reason: "r".into() };
        assert!(parked.is_terminal());
        assert_eq!(parked.columns(), (None, None, Some("r")));
        assert_eq!(parked.status(), Status::Parked);
    }

    #[test]
    fn continued_as_reads_the_next_run() {
        let mut e = Execution {
            id: "a".into(),
            workflow: "w".into(),
            component: "c".into(),
            bindings: Bindings::default(),
            status: Status::Continued,
            input: "{}".into(),
            output: Some(Execution::continued_output("a~1")),
            error: None,
            wake_at_ms: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            lease_owner: None,
            lease_epoch: 0,
            lease_expires_ms: None,
            parent: None,
        };
        assert_eq!(e.continued_as().as_deref(), Some("a~1"));
        e.status = Status::Completed;
        assert_eq!(e.continued_as(), None);
    }
}
