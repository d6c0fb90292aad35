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
/// With traces on, each request is a server span that continues the
/// caller's `traceparent`.
pub(super) async fn track(route: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let route_name = route.as_ref().map_or("other", |r| r.as_str()).to_owned();
    let span = crate::traces::on().then(|| {
        let parent = crate::traces::from_traceparent(req.headers().get("traceparent").and_then(|v| v.to_str().ok()));
        let attributes = vec![
            opentelemetry::KeyValue::new("http.request.method", req.method().to_string()),
            opentelemetry::KeyValue::new("http.route", route_name.clone()),
        ];
        let name = format!("{} {route_name}", req.method());
        crate::traces::start(name, opentelemetry::trace::SpanKind::Server, &parent, attributes)
    });
    let t = Instant::now();
    let span = span.flatten();
    let response = crate::traces::within(&span, next.run(req)).await;
    let code = i64::from(response.status().as_u16());
    crate::traces::annotate(&span, opentelemetry::KeyValue::new("http.response.status_code", code));
    crate::traces::end(span, response.status().is_server_error().then_some("server error"));
    let Some(m) = crate::metrics::get() else {
        return response;
    };
    let route = route_name.as_str();
    let status = response.status();
    m.requests.with_label_values(&[route, status.as_str()]).inc();
    m.request_seconds
        .with_label_values(&[route])
        .observe(t.elapsed().as_secs_f64());
    response
}
