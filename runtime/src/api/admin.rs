//! The admin routes: tenants, tokens and the audit trail (role `admin`).

use super::ApiPath as Path;
use super::{ApiError, ApiQuery, ApiState, JsonBody};
use crate::model::{AuditRecord, Quotas, Tenant, Token};
use crate::node::{AuditQuery, Caller, CreateTenantRequest, CreateTokenRequest, CreatedToken, ErrorBody, TenantDetail};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use utoipa::IntoParams;

type ApiResult<T> = Result<T, ApiError>;

pub(super) fn router() -> Router<ApiState> {
    Router::new()
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/v1/tenants/{name}",
            get(describe_tenant).put(update_tenant).delete(delete_tenant),
        )
        .route("/v1/tokens", post(create_token).get(list_tokens))
        .route("/v1/tokens/{id}/revoke", post(revoke_token))
        .route("/v1/tokens/{id}/confirm", post(confirm_token))
        .route("/v1/audit", get(audit))
}

/// Query of a tenant's deletion.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeleteTenantQuery {
    /// Delete even while its executions run (they are removed).
    pub force: Option<bool>,
}

/// Query of the token list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TokenQuery {
    /// Only this tenant's tokens.
    pub tenant: Option<String>,
}

/// Create a tenant (admin).
#[utoipa::path(post, path = "/v1/tenants", request_body = CreateTenantRequest, security(("bearer" = [])),
    responses((status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateTenantRequest>,
) -> ApiResult<Response> {
    let tenant = s.node.create_tenant(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(tenant)).into_response())
}

/// List tenants (admin).
#[utoipa::path(get, path = "/v1/tenants", security(("bearer" = [])),
    responses((status = 200, body = Vec<Tenant>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_tenants(State(s): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(s.node.tenants(&caller).await?))
}

/// Describe a tenant with its usage (admin).
#[utoipa::path(get, path = "/v1/tenants/{name}", security(("bearer" = [])),
    responses((status = 200, body = TenantDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn describe_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<TenantDetail>> {
    Ok(Json(s.node.tenant(&caller, &name).await?))
}

/// Replace a tenant's quotas and policy (admin).
#[utoipa::path(put, path = "/v1/tenants/{name}", request_body = Quotas, security(("bearer" = [])),
    responses((status = 200, body = TenantDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(quotas): JsonBody<Quotas>,
) -> ApiResult<Json<TenantDetail>> {
    Ok(Json(s.node.update_tenant(&caller, &name, quotas).await?))
}

/// Delete a tenant and all its data (admin); refused while its executions
/// run unless `force`.
#[utoipa::path(delete, path = "/v1/tenants/{name}", params(DeleteTenantQuery), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn delete_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DeleteTenantQuery>,
) -> ApiResult<StatusCode> {
    s.node.delete_tenant(&caller, &name, q.force.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a token (admin); its secret is in this answer only.
#[utoipa::path(post, path = "/v1/tokens", request_body = CreateTokenRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_token(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateTokenRequest>,
) -> ApiResult<Response> {
    let token = s.node.create_token(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(token)).into_response())
}

/// List tokens (admin); secrets are never shown.
#[utoipa::path(get, path = "/v1/tokens", params(TokenQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Token>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_tokens(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> ApiResult<Json<Vec<Token>>> {
    Ok(Json(s.node.tokens(&caller, q.tenant.as_deref()).await?))
}

/// Revoke a token at once (admin).
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", security(("bearer" = [])),
    responses((status = 200, body = Token), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Token>> {
    Ok(Json(s.node.revoke_token(&caller, &id).await?))
}

/// Confirm a token a server without authentication minted, so that it works
/// (its tenant's admin, or a superuser).
#[utoipa::path(post, path = "/v1/tokens/{id}/confirm", security(("bearer" = [])),
    responses((status = 200, body = Token), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn confirm_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Token>> {
    Ok(Json(s.node.confirm_token(&caller, &id).await?))
}

/// The audit trail, newest first (admin).
#[utoipa::path(get, path = "/v1/audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditRecord>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn audit(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    Ok(Json(s.node.audit(&caller, &q).await?))
}
