//! The HTTP+JSON API served by `cairn server` (OpenAPI at `/openapi.json`):
//! thin routes over the node's commands, and the client the CLI uses.
//!
//! Every error is `{code, message, hint}` with the HTTP status of its code.
//! Request bodies, queries and paths are read through [`JsonBody`],
//! [`ApiQuery`] and [`ApiPath`], so invalid JSON, bad parameters and
//! oversized payloads get coded errors too and write nothing; so do routes
//! called with the wrong method.

mod admin;
pub mod client;
mod console;
mod doc;
pub mod guard;
mod observe;
mod routes;
pub mod tls;

pub use routes::ApiDoc;

use crate::error::{Error, codes};
use crate::node::{Caller, Node};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Limits of the API.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest JSON body (inputs, signals), bytes.
    pub max_payload: usize,
    /// Largest component upload, bytes.
    pub max_component: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_payload: 1 << 20,
            max_component: 64 << 20,
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The node serving the API.
    pub node: Arc<Node>,
    /// Limits.
    pub limits: ApiLimits,
    /// Whether every request must carry a token (`--auth`); without it
    /// every caller is a superuser (loopback only) until the store holds a
    /// confirmed token, from then on tokens are required anyway.
    pub auth: bool,
    /// Names besides IP literals and `localhost` the server answers to.
    pub hosts: guard::AllowedHosts,
    /// Whether the API is served over TLS (the console's cookie is `Secure`).
    pub tls: bool,
}

/// The header naming the tenant a request acts in (admins: any tenant;
/// other tokens: their own, which is also the default).
pub const TENANT_HEADER: &str = "cairn-tenant";

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let tenant = header(TENANT_HEADER);
        let caller = if state.auth || state.node.requires_token().await? {
            state.node.authenticate(header("authorization"), tenant).await
        } else {
            state.node.open_caller(tenant).await
        }?;
        state.node.check_rate(&caller, crate::node::Rate::Requests).await?;
        if let Some(tenant) = parts.extensions.get::<crate::node::TenantCell>() {
            tenant.set(&caller.tenant);
        }
        state.node.pace(&caller).await;
        if let Some((payload, body)) = state.node.body_limit(&caller).await? {
            parts.extensions.insert(BodyLimit { payload, body });
        }
        Ok(caller)
    }
}

/// The largest body the caller's tenant may send (its payload quota and
/// an envelope), set by the [`Caller`] extractor: a larger body is refused
/// before it is read.
#[derive(Clone, Copy)]
struct BodyLimit {
    /// `max_payload_bytes`.
    payload: u64,
    /// The payload and its envelope.
    body: u64,
}

/// The payload quota a request's declared length passes (with its
/// envelope), if it does.
fn oversize(req: &Request) -> Option<u64> {
    let BodyLimit { payload, body } = req.extensions().get::<BodyLimit>().copied()?;
    let length = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())?;
    (length > body).then_some(payload)
}

/// The bytes of a JSON request body: it must say it is JSON, and one
/// larger than its tenant's payload quota allows is refused unparsed.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    guard::require_json(req.headers())?;
    if let Some(max) = oversize(&req) {
        let refused = crate::node::payload_quota_hit(max).await;
        // Read and dropped, never parsed: the connection stays usable.
        let _ = body_bytes(req, state).await;
        return Err(ApiError(refused));
    }
    body_bytes(req, state).await
}

/// An API error: a coded [`Error`], answered with its code's HTTP status.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0.to_json())).into_response();
        if let Some(seconds) = self.0.retry_after_s {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON object request body, with coded errors for invalid JSON, a body
/// that is not an object (serde would read a struct from an array) and
/// oversize.
pub struct JsonBody<T>(pub T);

/// Any JSON value as a request body (a signal's payload).
pub struct JsonValue(pub serde_json::Value);

fn invalid_body(e: impl std::fmt::Display) -> ApiError {
    ApiError(Error::new(
        codes::INVALID_INPUT,
        format!("the request body is not valid JSON for this call: {e}"),
        "see /openapi.json for the request schema",
    ))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(invalid_body("expected a JSON object"));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(invalid_body)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        serde_json::from_slice(&bytes).map(JsonValue).map_err(invalid_body)
    }
}

/// Query parameters, with a coded error when they do not parse.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query).map(ApiQuery).map_err(|e| {
            ApiError(Error::invalid(
                format!("invalid query parameters: {e}"),
                "see /openapi.json for the parameters of this call",
            ))
        })
    }
}

/// Path parameters, with a coded error when they do not decode (e.g. an
/// id that is not UTF-8).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| {
                ApiError(Error::invalid(
                    format!("invalid path parameter: {}", crate::error::echo(&e.body_text())),
                    "ids and names are letters, digits and -_.:~@",
                ))
            })
    }
}

/// Reads a whole body, turning the body-limit rejection into `CAIRN-E021`.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(Error::new(
                codes::PAYLOAD_TOO_LARGE,
                "the request body is larger than the server accepts",
                "send a smaller payload, or raise --max-payload-bytes / --max-component-bytes on the server",
            ))
        } else {
            ApiError(Error::new(
                codes::INVALID_INPUT,
                format!("the request body cannot be read: {rejection}"),
                "retry the request",
            ))
        }
    })
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    let limits = state.limits.clone();
    routes::router(limits.max_component)
        .merge(admin::router())
        .merge(observe::router())
        .merge(console::router())
        .route_layer(axum::middleware::from_fn(observe::track))
        .layer(DefaultBodyLimit::max(limits.max_payload))
        .fallback(|| async { ApiError(Error::new(codes::NOT_FOUND, "no such API route", "see /openapi.json")) })
        .method_not_allowed_fallback(|| async {
            ApiError(Error::new(
                codes::METHOD_NOT_ALLOWED,
                "this route does not take this HTTP method",
                "see /openapi.json for the methods of each route",
            ))
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
