//! The store: executions, their journals, components and leases.
//!
//! One [`Store`] trait with one backend per database. Every write that
//! touches an execution is *fenced*: it carries the [`Lease`] (owner and
//! epoch) under which it was made, and the store rejects it with
//! `CAIRN-E007` when the execution has been claimed by someone else since.

pub mod conformance;
pub mod postgres;
pub mod sqlite;

use crate::error::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One journal entry: `(execution_id, seq, kind, payload)` plus the time it
/// was recorded. The payload is JSON text whose shape depends on the kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the journal, from 0.
    pub seq: u32,
    /// What happened (see [`crate::journal::kinds`]).
    pub kind: String,
    /// JSON text.
    pub payload: String,
    /// Milliseconds since the Unix epoch when the entry was recorded live.
    pub at_ms: i64,
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Status {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Sleeping => "sleeping",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Parked => "parked",
            Status::Terminated => "terminated",
            Status::Continued => "continued",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "running" => Status::Running,
            "sleeping" => Status::Sleeping,
            "completed" => Status::Completed,
            "failed" => Status::Failed,
            "parked" => Status::Parked,
            "terminated" => Status::Terminated,
            "continued" => Status::Continued,
            _ => return None,
        })
    }

    /// Whether the execution can still make progress without an operator.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Status::Running | Status::Sleeping)
    }
}

/// An execution as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    /// Execution id.
    pub id: String,
    /// Workflow name (the component's file stem or deployment name).
    pub workflow: String,
    /// sha256 of the workflow component this execution is pinned to.
    pub component: String,
    /// Activities and HTTP grants of this execution (JSON, see [`crate::scheduler::Bindings`]).
    pub bindings: String,
    /// Current status.
    pub status: Status,
    /// JSON input.
    pub input: String,
    /// JSON output once completed.
    pub output: Option<String>,
    /// JSON error once failed or parked.
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

/// A new execution with its first journal entry.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// Execution id.
    pub id: String,
    /// Workflow name.
    pub workflow: String,
    /// Workflow component digest.
    pub component: String,
    /// Activities and grants (JSON).
    pub bindings: String,
    /// JSON input.
    pub input: String,
    /// The parent execution, for child workflows.
    pub parent: Option<String>,
    /// The `started` entry (seq 0).
    pub started: Entry,
}

/// The right to write to one execution's journal: owner plus fencing epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Execution id.
    pub execution_id: String,
    /// Node id of the holder.
    pub owner: String,
    /// Epoch of the claim; a newer claim makes this lease stale.
    pub epoch: i64,
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
    /// Status `parked` with the reason; the lease is released. Never comes with entries.
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
}

/// Filter of [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<Status>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
    /// Only executions of this workflow name.
    pub workflow: Option<String>,
    /// Only executions created at or after this time (ms since epoch).
    pub created_from_ms: Option<i64>,
    /// Only executions created before this time (ms since epoch).
    pub created_to_ms: Option<i64>,
    /// Paging: only executions after this one in the order (created_at desc, id desc).
    pub after: Option<(i64, String)>,
}

impl Transition {
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

/// A named, versioned workflow: component plus the activities it may call.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    /// Name, e.g. `orders`.
    pub name: String,
    /// Version, from 1.
    pub version: i64,
    /// Workflow component digest.
    pub component: String,
    /// Activities and grants (JSON, see [`crate::scheduler::Bindings`]).
    pub bindings: String,
    /// When it was deployed (ms since epoch).
    pub created_at_ms: i64,
}

/// A message waiting for an execution: a signal or a cancellation request.
#[derive(Debug, Clone, Serialize)]
pub struct InboxMessage {
    /// Position among all messages (increasing).
    pub id: i64,
    /// `signal` or `cancel`.
    pub kind: String,
    /// Signal name (empty for `cancel`).
    pub name: String,
    /// JSON payload.
    pub payload: String,
    /// When it arrived (ms since epoch).
    pub created_at_ms: i64,
}

/// A cron schedule that starts executions of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    /// Schedule id.
    pub id: String,
    /// Cron expression (seconds field first, as in `0 */5 * * * *`).
    pub cron: String,
    /// Deployment name (latest version at each firing).
    pub workflow: String,
    /// JSON input of every execution.
    pub input: String,
    /// Next firing time (ms since epoch).
    pub next_fire_at_ms: i64,
}

/// A runtime node as recorded by its heartbeats.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Default, Serialize)]
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
}

/// What `cairn status` reports about a store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
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

/// Current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Persistence of executions, journals, components and leases.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a component's bytes under its sha256 (idempotent).
    async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()>;

    /// Loads a component's bytes by sha256.
    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>>;

    /// Creates an execution with its `started` entry in one transaction.
    /// With an owner it is leased to it (epoch 1) and the lease is returned;
    /// without one it is left for any node to claim (and nodes are woken).
    async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Option<Lease>>;

    /// Appends entries and applies a status change in one transaction, if
    /// `lease` is still current; otherwise fails with `CAIRN-E007` and
    /// writes nothing. Terminal transitions release the lease.
    async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()>;

    /// Claims an unfinished execution whose lease is free or expired (or held
    /// by one of `dead_owners`), incrementing its epoch. `None` if someone
    /// else holds it or it is finished.
    async fn claim(&self, id: &str, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>>;

    /// Claims up to `limit` executions that can run now (running, or
    /// sleeping and due) whose lease is free or expired; rows other nodes are
    /// claiming at the same moment are skipped, never claimed twice.
    async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32) -> Result<Vec<Lease>>;

    /// Waits until new work may have arrived (a notification) or `timeout`
    /// passes. Polling after the timeout is always correct on its own.
    async fn wait_for_work(&self, timeout: std::time::Duration);

    /// Records that node `id` (started at `started_at_ms`) is alive.
    async fn heartbeat(&self, id: &str, started_at_ms: i64) -> Result<()>;

    /// Schema version, live nodes and backlog.
    async fn status(&self) -> Result<StoreStatus>;

    /// Extends the leases `owner` holds on `ids` (the executions it is
    /// running right now); returns how many. A lease the node does not know
    /// it holds (a claim whose answer was lost) is left to expire.
    async fn renew_leases(&self, owner: &str, ids: &[String], lease_ms: i64) -> Result<u64>;

    /// Creates an unowned execution unless one with its id exists; returns
    /// whether it was created (idempotent start).
    async fn enqueue_if_absent(&self, new: &NewExecution) -> Result<bool>;

    /// Stores a new version of deployment `name`; returns it.
    async fn put_deployment(&self, name: &str, component: &str, bindings: &str) -> Result<Deployment>;

    /// A deployment by name: the given version, or the latest.
    async fn deployment(&self, name: &str, version: Option<i64>) -> Result<Option<Deployment>>;

    /// All deployments, by name and version.
    async fn deployments(&self) -> Result<Vec<Deployment>>;

    /// Queues a message for an execution and wakes it if it is suspended.
    async fn push_inbox(&self, execution_id: &str, kind: &str, name: &str, payload: &str) -> Result<i64>;

    /// All messages queued for an execution, oldest first.
    async fn inbox(&self, execution_id: &str) -> Result<Vec<InboxMessage>>;

    /// Makes a suspended execution runnable now (a no-op otherwise).
    async fn wake(&self, execution_id: &str) -> Result<()>;

    /// Ends an unfinished or parked execution: fences out its owner (epoch
    /// + 1), appends a `terminated` entry, status `terminated`. Returns
    /// whether it was ended (false: already finished or unknown).
    async fn terminate(&self, execution_id: &str, reason: &str) -> Result<bool>;

    /// Creates or replaces a schedule.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()>;

    /// All schedules.
    async fn schedules(&self) -> Result<Vec<Schedule>>;

    /// Deletes a schedule; returns whether it existed.
    async fn delete_schedule(&self, id: &str) -> Result<bool>;

    /// Moves a schedule's next firing from `from_ms` to `to_ms` if it is
    /// still `from_ms` (compare-and-set: exactly one node fires it).
    async fn advance_schedule(&self, id: &str, from_ms: i64, to_ms: i64) -> Result<bool>;

    /// Gives a lease up without changing the execution.
    async fn release(&self, lease: &Lease) -> Result<()>;

    /// The whole journal of an execution, in order.
    async fn journal(&self, id: &str) -> Result<Vec<Entry>>;

    /// One execution.
    async fn execution(&self, id: &str) -> Result<Option<Execution>>;

    /// Executions matching a filter, newest first.
    async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>>;

    /// Commits one single-row transaction (the benchmark's yardstick).
    async fn probe_commit(&self) -> Result<()>;
}
