//! The HTTP+JSON API served by `cairn server` (OpenAPI at `/openapi.json`).
//!
//! Every error is `{code, message, hint}` with a matching HTTP status.
//! Request bodies are read through [`JsonBody`], so invalid JSON and
//! oversized payloads get coded errors too and write nothing.

pub mod client;
mod routes;

use crate::error::{Code, Error, codes};
use crate::scheduler::Runtime;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
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
    pub rt: Arc<Runtime>,
    /// Limits.
    pub limits: ApiLimits,
}

/// An API error: a coded [`Error`] with its HTTP status.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub Error);

/// HTTP status of an error code.
pub fn status_of(code: Code) -> StatusCode {
    match code {
        codes::NOT_FOUND | codes::UNKNOWN_WORKFLOW => StatusCode::NOT_FOUND,
        codes::INVALID_COMPONENT | codes::WRONG_WORLD | codes::UNSUPPORTED_IMPORT | codes::DUPLICATE_ACTIVITY => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        codes::INVALID_INPUT | codes::INVALID_ARGUMENT => StatusCode::BAD_REQUEST,
        codes::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        codes::LEASE_LOST | codes::ALREADY_FINISHED => StatusCode::CONFLICT,
        codes::STORE | codes::DB_UNREACHABLE | codes::DB_UNINITIALIZED => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(status_of(e.code), e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1.to_json())).into_response()
    }
}

/// A JSON request body, with coded errors for invalid JSON and oversize.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::from(Error::new(
                codes::INVALID_INPUT,
                format!("the request body is not valid JSON for this call: {e}"),
                "see /openapi.json for the request schema",
            ))
        })
    }
}

/// Reads a whole body, turning the body-limit rejection into `CAIRN-E021`.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::from(Error::new(
                codes::PAYLOAD_TOO_LARGE,
                "the request body is larger than the server accepts",
                "send a smaller payload, or raise --max-payload-bytes / --max-component-bytes on the server",
            ))
        } else {
            ApiError::from(Error::new(
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
        .layer(DefaultBodyLimit::max(limits.max_payload))
        .fallback(|| async { ApiError::from(Error::new(codes::NOT_FOUND, "no such API route", "see /openapi.json")) })
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
