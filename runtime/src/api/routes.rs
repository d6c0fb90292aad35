//! API routes and their request/response shapes.

use super::{ApiError, ApiState, JsonBody, body_bytes};
use crate::engine::digest_of;
use crate::error::{Error, codes};
use crate::scheduler::Bindings;
use crate::store::{Deployment, Execution, ListFilter, Schedule, Status, now_ms};
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use utoipa::{IntoParams, OpenApi, ToSchema};

type ApiResult<T> = Result<T, ApiError>;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn API",
        description = "Deploy workflow components and drive their executions."
    ),
    paths(
        upload_component,
        deploy,
        list_deployments,
        start,
        list_executions,
        describe,
        result,
        journal,
        signal,
        cancel,
        terminate,
        create_schedule,
        list_schedules,
        delete_schedule
    ),
    components(schemas(
        ErrorBody,
        ComponentInfo,
        DeployRequest,
        StartRequest,
        StartResponse,
        ExecutionPage,
        ResultResponse,
        JournalEntry,
        TerminateRequest,
        ScheduleRequest
    ))
)]
pub struct ApiDoc;

pub(super) fn router(max_component: usize) -> Router<ApiState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route(
            "/v1/components",
            post(upload_component).layer(DefaultBodyLimit::max(max_component)),
        )
        .route("/v1/deployments", post(deploy).get(list_deployments))
        .route("/v1/executions", post(start).get(list_executions))
        .route("/v1/executions/{id}", get(describe))
        .route("/v1/executions/{id}/result", get(result))
        .route("/v1/executions/{id}/journal", get(journal))
        .route("/v1/executions/{id}/signals/{name}", post(signal))
        .route("/v1/executions/{id}/cancel", post(cancel))
        .route("/v1/executions/{id}/terminate", post(terminate))
        .route("/v1/schedules", post(create_schedule).get(list_schedules))
        .route("/v1/schedules/{id}", delete(delete_schedule))
}

/// Every error: a stable code, a one-line message, a hint.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    code: String,
    message: String,
    hint: String,
}

fn bad(message: impl Into<String>, hint: &str) -> ApiError {
    Error::new(codes::INVALID_ARGUMENT, message, hint).into()
}

fn not_found(what: &str, id: &str) -> ApiError {
    Error::new(
        codes::NOT_FOUND,
        format!("no {what} with id {id}"),
        "list them with `cairn list`",
    )
    .into()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 200 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:~@".contains(c))
}

/// A stored component.
#[derive(Serialize, ToSchema)]
pub struct ComponentInfo {
    digest: String,
    kind: String,
    size: usize,
    /// Activity names (activity components).
    activities: Vec<String>,
}

#[derive(Deserialize, IntoParams)]
struct UploadQuery {
    /// `workflow` (default) or `activity`.
    kind: Option<String>,
}

/// Upload a component (the raw .wasm bytes); validated, compiled, stored by sha256.
#[utoipa::path(post, path = "/v1/components", params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = ComponentInfo), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload_component(
    State(s): State<ApiState>,
    Query(q): Query<UploadQuery>,
    req: Request,
) -> ApiResult<Response> {
    let bytes = body_bytes(req, &()).await?;
    let digest = digest_of(&bytes);
    let kind = q.kind.unwrap_or_else(|| "workflow".into());
    let activities = match kind.as_str() {
        "workflow" => {
            s.rt.engine.workflow(&digest, &bytes)?;
            Vec::new()
        }
        "activity" => s.rt.engine.activity(&digest, bytes.to_vec()).await?.names.clone(),
        other => {
            return Err(bad(
                format!("unknown component kind `{other}`"),
                "use kind=workflow or kind=activity",
            ));
        }
    };
    s.rt.store.put_component(&digest, &bytes).await?;
    Ok((
        StatusCode::CREATED,
        Json(ComponentInfo {
            digest,
            kind,
            size: bytes.len(),
            activities,
        }),
    )
        .into_response())
}

/// A new deployment version.
#[derive(Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Deployment name, e.g. `orders`.
    name: String,
    /// Digest of an uploaded workflow component.
    workflow: String,
    /// Digests of uploaded activity components.
    #[serde(default)]
    activities: Vec<String>,
    /// Activity name (or `*`) → hosts its HTTP requests may reach.
    #[serde(default)]
    http_allow: HashMap<String, Vec<String>>,
}

/// Create the next version of a named deployment (e.g. `orders@4`).
#[utoipa::path(post, path = "/v1/deployments", request_body = DeployRequest,
    responses((status = 201, description = "the deployment"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn deploy(State(s): State<ApiState>, JsonBody(req): JsonBody<DeployRequest>) -> ApiResult<Response> {
    if !valid_name(&req.name) {
        return Err(bad(
            format!("invalid deployment name `{}`", req.name),
            "use letters, digits, '-', '_' and '.'",
        ));
    }
    let load = |d: &str| {
        let (store, d) = (s.rt.store.clone(), d.to_owned());
        async move {
            store.component(&d).await?.ok_or_else(|| {
                Error::new(
                    codes::NOT_FOUND,
                    format!("no component {d}"),
                    "upload it first (POST /v1/components)",
                )
            })
        }
    };
    let bytes = load(&req.workflow).await?;
    s.rt.engine.workflow(&req.workflow, &bytes)?;
    let mut components = Vec::new();
    for d in &req.activities {
        components.push(s.rt.engine.activity(d, load(d).await?).await?);
    }
    crate::engine::ActivityRegistry::new(components, &req.http_allow)?;
    let bindings = Bindings {
        activities: req.activities,
        http_allow: req.http_allow,
    };
    let bindings = serde_json::to_string(&bindings).expect("bindings encode");
    let d = s.rt.store.put_deployment(&req.name, &req.workflow, &bindings).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

/// List deployments (every version).
#[utoipa::path(get, path = "/v1/deployments", responses((status = 200, description = "deployments")))]
async fn list_deployments(State(s): State<ApiState>) -> ApiResult<Json<Vec<Deployment>>> {
    Ok(Json(s.rt.store.deployments().await?))
}

/// Start an execution.
#[derive(Deserialize, ToSchema)]
pub struct StartRequest {
    /// Deployment: `name` (latest version) or `name@version`.
    workflow: String,
    /// JSON input.
    #[serde(default)]
    input: Value,
    /// Execution id; starting an id that exists returns that execution.
    id: Option<String>,
}

/// The started (or existing) execution.
#[derive(Serialize, ToSchema)]
pub struct StartResponse {
    id: String,
    /// False when an execution with this id already existed.
    created: bool,
    workflow: String,
    version: i64,
}

async fn resolve(s: &ApiState, workflow: &str) -> ApiResult<Deployment> {
    let (name, version) = match workflow.split_once('@') {
        Some((n, v)) => (
            n,
            Some(
                v.parse::<i64>()
                    .map_err(|_| bad(format!("bad version in `{workflow}`"), "use name@3"))?,
            ),
        ),
        None => (workflow, None),
    };
    s.rt.store.deployment(name, version).await?.ok_or_else(|| {
        Error::new(
            codes::UNKNOWN_WORKFLOW,
            format!("no deployment `{workflow}`"),
            "deploy it with `cairn deploy`",
        )
        .into()
    })
}

/// Start an execution of a deployment; idempotent on `id`.
#[utoipa::path(post, path = "/v1/executions", request_body = StartRequest,
    responses((status = 201, body = StartResponse), (status = 200, body = StartResponse, description = "already existed"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn start(State(s): State<ApiState>, JsonBody(req): JsonBody<StartRequest>) -> ApiResult<Response> {
    let id = req.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if !valid_id(&id) {
        return Err(bad(
            format!("invalid execution id `{id}`"),
            "use up to 200 letters, digits and -_.:~@",
        ));
    }
    let d = resolve(&s, &req.workflow).await?;
    let input = req.input.to_string();
    let new = crate::scheduler::new_execution(id.clone(), &d.name, &d.component, d.bindings.clone(), &input, None);
    let created = s.rt.store.enqueue_if_absent(&new).await?;
    s.rt.wake_claims.notify_one();
    let (status, version) = if created {
        (StatusCode::CREATED, d.version)
    } else {
        (StatusCode::OK, version_of(&s, &id, &d).await)
    };
    Ok((
        status,
        Json(StartResponse {
            id,
            created,
            workflow: d.name,
            version,
        }),
    )
        .into_response())
}

async fn version_of(s: &ApiState, id: &str, d: &Deployment) -> i64 {
    let component = s.rt.store.execution(id).await.ok().flatten().map(|e| e.component);
    match component {
        Some(c) if c == d.component => d.version,
        _ => 0,
    }
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    /// Comma-separated statuses.
    status: Option<String>,
    /// Workflow (deployment) name.
    workflow: Option<String>,
    /// Created at or after (ms since epoch).
    from_ms: Option<i64>,
    /// Created before (ms since epoch).
    to_ms: Option<i64>,
    /// Page size (default 50, at most 1000).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of executions.
#[derive(Serialize, ToSchema)]
pub struct ExecutionPage {
    #[schema(value_type = Vec<Object>)]
    executions: Vec<Execution>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// List executions, newest first, with filters and paging.
#[utoipa::path(get, path = "/v1/executions", params(ListQuery), responses((status = 200, body = ExecutionPage), (status = 400, body = ErrorBody)))]
async fn list_executions(State(s): State<ApiState>, Query(q): Query<ListQuery>) -> ApiResult<Json<ExecutionPage>> {
    let statuses = q
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(|st| {
            Status::parse(st).ok_or_else(|| {
                bad(
                    format!("unknown status `{st}`"),
                    "use running, sleeping, completed, failed, parked, terminated or continued",
                )
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let after = match &q.cursor {
        Some(c) => {
            let (at, id) = c
                .split_once(':')
                .ok_or_else(|| bad("invalid cursor", "pass next_cursor unchanged"))?;
            Some((
                at.parse::<i64>()
                    .map_err(|_| bad("invalid cursor", "pass next_cursor unchanged"))?,
                id.to_owned(),
            ))
        }
        None => None,
    };
    let filter = ListFilter {
        statuses,
        limit: Some(limit),
        workflow: q.workflow,
        created_from_ms: q.from_ms,
        created_to_ms: q.to_ms,
        after,
    };
    let executions = s.rt.store.list(&filter).await?;
    let next_cursor = (executions.len() == limit as usize)
        .then(|| executions.last().map(|e| format!("{}:{}", e.created_at_ms, e.id)))
        .flatten();
    Ok(Json(ExecutionPage {
        executions,
        next_cursor,
    }))
}

async fn execution(s: &ApiState, id: &str) -> ApiResult<Execution> {
    s.rt.store
        .execution(id)
        .await?
        .ok_or_else(|| not_found("execution", id))
}

/// Describe one execution.
#[utoipa::path(get, path = "/v1/executions/{id}", responses((status = 200, description = "the execution"), (status = 404, body = ErrorBody)))]
async fn describe(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = execution(&s, &id).await?;
    let pending = s.rt.store.inbox(&id).await?.len();
    let mut v = serde_json::to_value(&e).expect("encodes");
    v["inbox_messages"] = pending.into();
    Ok(Json(v))
}

#[derive(Deserialize, IntoParams)]
struct ResultQuery {
    /// Wait up to this long for the end (ms, at most 60000).
    wait_ms: Option<u64>,
}

/// The outcome of an execution (following continue-as-new to the last run).
#[derive(Serialize, ToSchema)]
pub struct ResultResponse {
    /// The run that finished (or is running).
    id: String,
    status: String,
    #[schema(value_type = Object)]
    output: Option<Value>,
    #[schema(value_type = Object)]
    error: Option<Value>,
}

/// The result; 200 once finished, 202 if still running after `wait_ms`.
#[utoipa::path(get, path = "/v1/executions/{id}/result", params(ResultQuery),
    responses((status = 200, body = ResultResponse), (status = 202, body = ResultResponse), (status = 404, body = ErrorBody)))]
async fn result(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<ResultQuery>,
) -> ApiResult<Response> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.wait_ms.unwrap_or(0).min(60_000));
    let mut id = id;
    loop {
        let e = execution(&s, &id).await?;
        if e.status == Status::Continued
            && let Some(next) = e
                .output
                .as_deref()
                .and_then(|o| serde_json::from_str::<Value>(o).ok())
                .and_then(|v| v["continued_as"].as_str().map(str::to_owned))
        {
            id = next;
            continue;
        }
        let parse = |t: &Option<String>| {
            t.as_deref()
                .map(|t| serde_json::from_str::<Value>(t).unwrap_or(Value::String(t.to_owned())))
        };
        let body = ResultResponse {
            id: id.clone(),
            status: e.status.as_str().into(),
            output: parse(&e.output),
            error: parse(&e.error),
        };
        if !e.status.is_unfinished() && e.status != Status::Parked || tokio::time::Instant::now() >= deadline {
            let code = if e.status.is_unfinished() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            return Ok((code, Json(body)).into_response());
        }
        if e.status == Status::Parked {
            return Ok((StatusCode::OK, Json(body)).into_response());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One journal entry.
#[derive(Serialize, ToSchema)]
pub struct JournalEntry {
    seq: u32,
    kind: String,
    at_ms: i64,
    #[schema(value_type = Object)]
    payload: Value,
}

/// The journal of an execution.
#[utoipa::path(get, path = "/v1/executions/{id}/journal", responses((status = 200, body = Vec<JournalEntry>), (status = 404, body = ErrorBody)))]
async fn journal(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Vec<JournalEntry>>> {
    execution(&s, &id).await?;
    let entries = s.rt.store.journal(&id).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| JournalEntry {
                seq: e.seq,
                kind: e.kind,
                at_ms: e.at_ms,
                payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            })
            .collect(),
    ))
}

async fn unfinished(s: &ApiState, id: &str) -> ApiResult<Execution> {
    let e = execution(s, id).await?;
    if !e.status.is_unfinished() {
        return Err(Error::new(
            codes::ALREADY_FINISHED,
            format!("execution {id} is {}", e.status.as_str()),
            "nothing to do; see its result",
        )
        .into());
    }
    Ok(e)
}

/// Send a signal (JSON body = payload); buffered until the workflow receives it.
#[utoipa::path(post, path = "/v1/executions/{id}/signals/{name}", request_body = Object,
    responses((status = 202, description = "queued"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn signal(
    State(s): State<ApiState>,
    Path((id, name)): Path<(String, String)>,
    JsonBody(payload): JsonBody<Value>,
) -> ApiResult<Response> {
    if !valid_name(&name) {
        return Err(bad(
            format!("invalid signal name `{name}`"),
            "use letters, digits, '-', '_' and '.'",
        ));
    }
    unfinished(&s, &id).await?;
    let seq =
        s.rt.store
            .push_inbox(&id, "signal", &name, &payload.to_string())
            .await?;
    s.rt.wake_claims.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "execution_id": id, "signal": name, "seq": seq })),
    )
        .into_response())
}

/// Request cancellation: pending activities, timers, signal waits and
/// children are interrupted and the workflow may compensate.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", responses((status = 202, description = "requested"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<Response> {
    unfinished(&s, &id).await?;
    s.rt.store.push_inbox(&id, "cancel", "", "null").await?;
    s.rt.wake_claims.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "execution_id": id, "cancel": "requested" })),
    )
        .into_response())
}

/// Why an execution is terminated.
#[derive(Deserialize, ToSchema, Default)]
pub struct TerminateRequest {
    reason: Option<String>,
}

/// Terminate at once: no compensation; the owner is fenced off.
#[utoipa::path(post, path = "/v1/executions/{id}/terminate", request_body = TerminateRequest,
    responses((status = 200, description = "terminated"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn terminate(State(s): State<ApiState>, Path(id): Path<String>, req: Request) -> ApiResult<Response> {
    let bytes = body_bytes(req, &()).await?;
    let body: TerminateRequest = if bytes.is_empty() {
        TerminateRequest::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::from(Error::new(
                codes::INVALID_INPUT,
                format!("invalid JSON: {e}"),
                "send {\"reason\": \"...\"} or nothing",
            ))
        })?
    };
    execution(&s, &id).await?;
    let reason = body.reason.unwrap_or_else(|| "terminated by an operator".into());
    if !s.rt.terminate(&id, &reason).await? {
        return Err(Error::new(
            codes::ALREADY_FINISHED,
            format!("execution {id} has already finished"),
            "nothing to do",
        )
        .into());
    }
    Ok(Json(json!({ "execution_id": id, "status": "terminated" })).into_response())
}

/// A cron schedule.
#[derive(Deserialize, ToSchema)]
pub struct ScheduleRequest {
    id: String,
    /// Cron with seconds: `sec min hour day-of-month month day-of-week [year]`.
    cron: String,
    /// Deployment name.
    workflow: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    input: Value,
}

/// Create or replace a schedule.
#[utoipa::path(post, path = "/v1/schedules", request_body = ScheduleRequest,
    responses((status = 201, description = "created"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_schedule(State(s): State<ApiState>, JsonBody(req): JsonBody<ScheduleRequest>) -> ApiResult<Response> {
    if !valid_name(&req.id) {
        return Err(bad(
            format!("invalid schedule id `{}`", req.id),
            "use letters, digits, '-', '_' and '.'",
        ));
    }
    let next = crate::scheduler::next_fire(&req.cron, now_ms()).map_err(ApiError::from)?;
    resolve(&s, &req.workflow).await?;
    let schedule = Schedule {
        id: req.id,
        cron: req.cron,
        workflow: req.workflow,
        input: req.input.to_string(),
        next_fire_at_ms: next,
    };
    s.rt.store.put_schedule(&schedule).await?;
    Ok((StatusCode::CREATED, Json(schedule)).into_response())
}

/// List schedules.
#[utoipa::path(get, path = "/v1/schedules", responses((status = 200, description = "schedules")))]
async fn list_schedules(State(s): State<ApiState>) -> ApiResult<Json<Vec<Schedule>>> {
    Ok(Json(s.rt.store.schedules().await?))
}

/// Delete a schedule.
#[utoipa::path(delete, path = "/v1/schedules/{id}", responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
async fn delete_schedule(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<Response> {
    if !s.rt.store.delete_schedule(&id).await? {
        return Err(not_found("schedule", &id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
