//! The requests and answers of the node's commands. The same types serve
//! the HTTP routes, the OpenAPI document and the CLI's client. The syntax
//! of the names in them is `model::syntax`'s; the document's patterns are
//! set from it (`api/doc.rs`). Stored records become answers through the
//! `present_*` functions, which show each key as its tenant's name.

use crate::model::{Bindings, Deployment, Execution, Schedule, Status, tenancy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A component upload: the raw bytes of a `.wasm` component (the body of
/// `POST /v1/components`, `application/wasm`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ComponentBytes(pub Vec<u8>);

/// Every error: a stable code, a one-line message, a hint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code, e.g. `CAIRN-E005`.
    pub code: String,
    /// One line saying what went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Which world a component implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// `cairn:workflow/workflow`.
    #[default]
    Workflow,
    /// `cairn:workflow/activity`.
    Activity,
}

/// Query of a component upload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// `workflow` (default) or `activity`.
    pub kind: Option<ComponentKind>,
}

/// A stored component.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentInfo {
    /// sha256 of its bytes.
    pub digest: String,
    /// Its world.
    pub kind: ComponentKind,
    /// Size in bytes.
    pub size: usize,
    /// Activity names (activity components).
    pub activities: Vec<String>,
}

/// A new deployment version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Deployment name, e.g. `orders`.
    pub name: String,
    /// Digest of an uploaded workflow component.
    pub workflow: String,
    /// Digests of uploaded activity components (`activities`) and the
    /// hosts each may reach over HTTP (`http_allow`).
    #[serde(flatten)]
    pub bindings: Bindings,
}

/// Start an execution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartRequest {
    /// Deployment: `name` (latest version) or `name@version`.
    pub workflow: String,
    /// JSON input.
    #[serde(default)]
    #[schema(value_type = Value)]
    pub input: Value,
    /// Execution id; starting an id that exists returns that execution.
    pub id: Option<String>,
}

/// The started (or existing) execution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartResponse {
    /// Execution id.
    pub id: String,
    /// False when an execution with this id already existed.
    pub created: bool,
    /// Deployment name.
    pub workflow: String,
    /// Deployment version it runs (0: an existing execution of another version).
    pub version: i64,
}

/// Query of a start: how long to wait for the end.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// Wait up to this long for the execution to finish (ms, 0 to 60000):
    /// answered 200 with its result when it does, 202 with the start otherwise.
    #[param(minimum = 0, maximum = 60000)]
    pub wait_ms: Option<u64>,
}

/// What a start answers: the start, or — when asked to wait and it
/// finished in time — the result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StartAnswer {
    /// It finished within `wait_ms`.
    Finished(ResultResponse),
    /// It was started (or existed) and has not finished yet.
    Started(StartResponse),
}

/// Which executions to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses (empty: all).
    #[param(
        pattern = r"^((running|sleeping|completed|failed|parked|terminated|continued|queued)(,(running|sleeping|completed|failed|parked|terminated|continued|queued))*)?$"
    )]
    pub status: Option<String>,
    /// Workflow (deployment) name.
    pub workflow: Option<String>,
    /// Created at or after (ms since epoch).
    pub from_ms: Option<i64>,
    /// Created before (ms since epoch).
    pub to_ms: Option<i64>,
    /// Page size (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (its syntax: `api::doc`).
    pub cursor: Option<String>,
}

/// A page of executions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecutionPage {
    /// The executions.
    pub executions: Vec<Execution>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One execution and how many messages wait in its inbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecutionDetail {
    /// The execution.
    #[serde(flatten)]
    pub execution: Execution,
    /// Signals and cancellation requests queued for it.
    pub inbox_messages: usize,
}

/// Query of a result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// Wait up to this long for the end (ms, at most 60000).
    #[param(minimum = 0, maximum = 60000)]
    pub wait_ms: Option<u64>,
}

/// The outcome of an execution (following continue-as-new to the last run).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResultResponse {
    /// The run that finished (or is running).
    pub id: String,
    /// Its status.
    pub status: Status,
    /// JSON output, once completed.
    #[schema(value_type = Value)]
    pub output: Option<Value>,
    /// The error (`{code, message, hint}` or the termination reason), once failed.
    #[schema(value_type = Value)]
    pub error: Option<Value>,
}

/// One journal entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JournalEntry {
    /// Position in the journal.
    pub seq: u32,
    /// Entry kind (`activity.start`, ...).
    pub kind: String,
    /// When it was recorded (ms since epoch).
    pub at_ms: i64,
    /// Its payload.
    #[schema(value_type = Value)]
    pub payload: Value,
}

impl JournalEntry {
    /// The entry in its stored form (what the journal's readers, such as
    /// the timeline, take).
    pub fn to_stored(&self) -> crate::model::Entry {
        crate::model::Entry {
            seq: self.seq,
            kind: self.kind.clone(),
            payload: self.payload.to_string(),
            at_ms: self.at_ms,
        }
    }
}

/// A queued signal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignalResponse {
    /// Execution id.
    pub execution_id: String,
    /// Signal name.
    pub signal: String,
    /// Inbox position of the message.
    pub seq: i64,
}

/// A requested cancellation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    /// Execution id.
    pub execution_id: String,
    /// Always `requested`.
    pub cancel: String,
}

/// Why an execution is terminated.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TerminateRequest {
    /// Recorded in the journal.
    pub reason: Option<String>,
}

/// A terminated execution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TerminateResponse {
    /// Execution id.
    pub execution_id: String,
    /// Always `terminated`.
    pub status: Status,
}

/// On what a parked execution resumes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UnparkRequest {
    /// A version of the execution's deployment (the fixed code); absent:
    /// the component it ran.
    #[serde(default, deserialize_with = "crate::model::whole::opt_i64")]
    pub version: Option<i64>,
}

/// An unparked execution: runnable again, resumed by replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnparkResponse {
    /// Execution id.
    pub execution_id: String,
    /// Always `running`.
    pub status: Status,
    /// The component it runs now.
    pub component: String,
}

/// A cron schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleRequest {
    /// Schedule id.
    pub id: String,
    /// Cron with seconds: `sec min hour day-of-month month day-of-week [year]`.
    #[schema(min_length = 11)]
    pub cron: String,
    /// Deployment: `name` (latest version) or `name@version`.
    pub workflow: String,
    /// JSON input of every execution.
    #[serde(default)]
    #[schema(value_type = Value)]
    pub input: Value,
}

/// An execution as its tenant sees it: ids and names without the tenant.
pub(crate) fn present_execution(mut e: Execution) -> Execution {
    if let Some(next) = e.continued_as() {
        e.output = Some(Execution::continued_output(tenancy::name_of(&next)));
    }
    e.id = tenancy::name_of(&e.id).to_owned();
    e.workflow = tenancy::name_of(&e.workflow).to_owned();
    e.parent = e.parent.map(|p| tenancy::name_of(&p).to_owned());
    e
}

/// A deployment as its tenant sees it.
pub(crate) fn present_deployment(mut d: Deployment) -> Deployment {
    d.name = tenancy::name_of(&d.name).to_owned();
    d
}

/// A schedule as its tenant sees it.
pub(crate) fn present_schedule(mut s: Schedule) -> Schedule {
    s.id = tenancy::name_of(&s.id).to_owned();
    s.workflow = tenancy::name_of(&s.workflow).to_owned();
    s
}
