//! What operators scrape: `GET /metrics` (Prometheus text format) and the
//! layer that counts and times every API request by its route.

use super::{ApiError, ApiState};
use crate::model::StoreStatus;
use crate::node::{Caller, ErrorBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::time::Instant;

pub(super) fn router() -> Router<ApiState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
}

/// The store's schema version, live nodes and backlog (admin).
#[utoipa::path(get, path = "/v1/status",
    responses((status = 200, body = StoreStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn status(State(s): State<ApiState>, caller: Caller) -> Result<Json<StoreStatus>, ApiError> {
    Ok(Json(s.node.status_for(&caller).await?))
}

/// The server's metrics in Prometheus text format (an admin token sees
/// every tenant's series; other tokens only their own tenant's).
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn metrics(State(s): State<ApiState>, caller: Caller) -> Result<Response, ApiError> {
    let text = s.node.metrics(&caller).await?;
    Ok(([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// Counts and times a request under its route's template (`/v1/executions/{id}`).
pub(super) async fn track(route: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let Some(m) = crate::metrics::get() else {
        return next.run(req).await;
    };
    let t = Instant::now();
    let response = next.run(req).await;
    let route = route.as_ref().map_or("other", |r| r.as_str());
    let status = response.status();
    m.requests.with_label_values(&[route, status.as_str()]).inc();
    m.request_seconds
        .with_label_values(&[route])
        .observe(t.elapsed().as_secs_f64());
    response
}
