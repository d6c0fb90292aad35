//! The routes: each one reads its request, calls one node command and
//! answers with its result (the types are the node's).

use super::ApiPath as Path;
use super::doc::CommonErrors;
use super::{ApiError, ApiQuery, ApiState, JsonBody, JsonValue, body_bytes};
use crate::error::{Error, codes};
use crate::model::{Deployment, Execution, Schedule};
use crate::node::Caller;
use crate::node::checked_wait;
use crate::node::*;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use utoipa::OpenApi;

type ApiResult<T> = Result<T, ApiError>;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn API",
        description = "Deploy workflow components and drive their executions."
    ),
    paths(
        health,
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
        unpark,
        create_schedule,
        list_schedules,
        delete_schedule,
        super::admin::create_tenant,
        super::admin::list_tenants,
        super::admin::describe_tenant,
        super::admin::update_tenant,
        super::admin::delete_tenant,
        super::admin::create_token,
        super::admin::list_tokens,
        super::admin::revoke_token,
        super::admin::confirm_token,
        super::admin::audit,
        super::observe::metrics,
        super::observe::status
    ),
    modifiers(&BearerAuth, &CommonErrors),
    security(("bearer" = [])),
    components(schemas(
        Health,
        ErrorBody,
        ComponentBytes,
        ComponentInfo,
        ComponentKind,
        DeployRequest,
        Deployment,
        StartRequest,
        StartResponse,
        StartAnswer,
        Execution,
        ExecutionPage,
        ExecutionDetail,
        ResultResponse,
        JournalEntry,
        SignalResponse,
        CancelResponse,
        TerminateRequest,
        TerminateResponse,
        UnparkRequest,
        UnparkResponse,
        ScheduleRequest,
        Schedule,
        crate::model::Tenant,
        crate::model::Quotas,
        crate::model::TenantUsage,
        crate::model::Role,
        crate::model::Token,
        crate::model::AuditRecord,
        CreateTenantRequest,
        TenantDetail,
        CreateTokenRequest,
        CreatedToken,
        crate::model::StoreStatus,
        crate::model::Backlog,
        crate::model::NodeInfo
    ))
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme every operation uses.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

pub(super) fn router(max_component: usize) -> Router<ApiState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/health", get(health))
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
        .route("/v1/executions/{id}/unpark", post(unpark))
        .route("/v1/schedules", post(create_schedule).get(list_schedules))
        .route("/v1/schedules/{id}", delete(delete_schedule))
}

/// The OpenAPI document, as this server answers (see `doc.rs`).
async fn openapi(State(state): State<ApiState>) -> Json<utoipa::openapi::OpenApi> {
    let auth = state.auth || state.node.requires_token().await.unwrap_or(true);
    match auth {
        true => Json(ApiDoc::openapi()),
        false => Json(super::doc::without_auth(ApiDoc::openapi())),
    }
}

/// Whether the server is up (open: no token needed).
#[utoipa::path(get, path = "/health", security(()), responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The answer of `/health`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    status: String,
}

/// Upload a component (the raw .wasm bytes); validated, compiled, stored by sha256.
#[utoipa::path(post, path = "/v1/components", params(UploadQuery), request_body(content = ComponentBytes, content_type = "application/wasm"),
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 201, body = ComponentInfo), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload_component(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UploadQuery>,
    req: Request,
) -> ApiResult<Response> {
    super::guard::require_wasm(req.headers())?;
    let bytes = body_bytes(req, &()).await?;
    let info = s
        .node
        .upload_component(&caller, q.kind.unwrap_or_default(), &bytes)
        .await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// Create the next version of a named deployment (e.g. `orders@4`).
#[utoipa::path(post, path = "/v1/deployments", request_body = DeployRequest,
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 201, body = Deployment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn deploy(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(req): JsonBody<DeployRequest>,
) -> ApiResult<Response> {
    let d = s.node.deploy(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

/// List deployments (every version).
#[utoipa::path(get, path = "/v1/deployments", responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = Vec<Deployment>)))]
async fn list_deployments(State(s): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Deployment>>> {
    Ok(Json(s.node.deployments(&caller).await?))
}

/// Start an execution of a deployment; idempotent on `id`. With `wait_ms`,
/// wait for it too: 200 with its result (as `GET .../result`) when it
/// finishes in time, else 202 with the start.
#[utoipa::path(post, path = "/v1/executions", params(StartQuery), request_body = StartRequest,
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 201, body = StartResponse, description = "created"),
        (status = 200, body = StartAnswer, description = "already existed (the start), or finished within wait_ms (the result)"),
        (status = 202, body = StartResponse, description = "not finished within wait_ms"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the id exists with another workflow or input (CAIRN-E035)")))]
async fn start(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<StartQuery>,
    JsonBody(req): JsonBody<StartRequest>,
) -> ApiResult<Response> {
    let wait = checked_wait(q.wait_ms)?;
    let answer = s.node.start_and_wait(&caller, req, wait).await?;
    let status = match &answer {
        StartAnswer::Finished(_) => StatusCode::OK,
        StartAnswer::Started(_) if q.wait_ms.is_some() => StatusCode::ACCEPTED,
        StartAnswer::Started(started) if started.created => StatusCode::CREATED,
        StartAnswer::Started(_) => StatusCode::OK,
    };
    Ok((status, Json(answer)).into_response())
}

/// List executions, newest first, with filters and paging.
#[utoipa::path(get, path = "/v1/executions", params(ListQuery), responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = ExecutionPage), (status = 400, body = ErrorBody)))]
async fn list_executions(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ExecutionPage>> {
    Ok(Json(s.node.list(&caller, &q).await?))
}

/// Describe one execution.
#[utoipa::path(get, path = "/v1/executions/{id}", responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = ExecutionDetail), (status = 404, body = ErrorBody)))]
async fn describe(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ExecutionDetail>> {
    Ok(Json(s.node.describe(&caller, &id).await?))
}

/// The result; 200 once finished (or parked), 202 if still running after `wait_ms`.
#[utoipa::path(get, path = "/v1/executions/{id}/result", params(ResultQuery),
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = ResultResponse), (status = 202, body = ResultResponse), (status = 404, body = ErrorBody)))]
async fn result(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResultQuery>,
) -> ApiResult<Response> {
    let wait = checked_wait(q.wait_ms)?;
    let (done, answer) = s.node.wait_result(&caller, &id, wait).await?;
    let status = if done { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(answer)).into_response())
}

/// The journal of an execution.
#[utoipa::path(get, path = "/v1/executions/{id}/journal", responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = Vec<JournalEntry>), (status = 404, body = ErrorBody)))]
async fn journal(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<JournalEntry>>> {
    Ok(Json(s.node.journal(&caller, &id).await?))
}

/// Send a signal (JSON body = payload); buffered until the workflow receives it.
#[utoipa::path(post, path = "/v1/executions/{id}/signals/{name}", request_body = Object,
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 202, body = SignalResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn signal(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    JsonValue(payload): JsonValue,
) -> ApiResult<Response> {
    let queued = s.node.signal(&caller, &id, &name, &payload).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
}

/// Request cancellation: pending activities, timers, signal waits and
/// children are interrupted and the workflow may compensate.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 202, body = CancelResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let requested = s.node.cancel(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(requested)).into_response())
}

/// Terminate at once: no compensation; the owner is fenced off.
#[utoipa::path(post, path = "/v1/executions/{id}/terminate", request_body = TerminateRequest,
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = TerminateResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn terminate(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<TerminateResponse>> {
    let body: TerminateRequest = optional_body(req, "send {\"reason\": \"...\"} or nothing").await?;
    Ok(Json(s.node.terminate(&caller, &id, body.reason.as_deref()).await?))
}

/// Resume a parked execution by replay, on a version of its deployment
/// (the fixed code) when given.
#[utoipa::path(post, path = "/v1/executions/{id}/unpark", request_body = UnparkRequest,
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = UnparkResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn unpark(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<UnparkResponse>> {
    let body: UnparkRequest = optional_body(req, "send {\"version\": 2} or nothing").await?;
    Ok(Json(s.node.unpark(&caller, &id, body).await?))
}

/// A JSON body that may be absent (then the type's default).
async fn optional_body<T: Default + serde::de::DeserializeOwned>(req: Request, hint: &str) -> ApiResult<T> {
    let bytes = body_bytes(req, &()).await?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(Error::new(codes::INVALID_INPUT, format!("invalid JSON: {e}"), hint)))
}

/// Create or replace a schedule.
#[utoipa::path(post, path = "/v1/schedules", request_body = ScheduleRequest,
    responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 201, body = Schedule), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_schedule(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(req): JsonBody<ScheduleRequest>,
) -> ApiResult<Response> {
    let schedule = s.node.create_schedule(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(schedule)).into_response())
}

/// List schedules.
#[utoipa::path(get, path = "/v1/schedules", responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 200, body = Vec<Schedule>)))]
async fn list_schedules(State(s): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Schedule>>> {
    Ok(Json(s.node.schedules(&caller).await?))
}

/// Delete a schedule.
#[utoipa::path(delete, path = "/v1/schedules/{id}", responses((status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
async fn delete_schedule(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.node.delete_schedule(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
