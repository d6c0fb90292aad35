//! The web console at `/console`: server-rendered HTML over the node's
//! commands, with its stylesheet and one small script compiled into the
//! binary (nothing is fetched from elsewhere). It signs in with an API
//! token (kept in an HTTP-only, same-site cookie) and sees exactly what
//! that token sees through the API: its tenant, within its role. An open
//! server (no `--auth`) needs no sign-in.
//!
//! Pages (`pages.rs`): executions (filters, search by id, paging by cursor,
//! counts by status that update live), one execution (its journal as a
//! timeline, what it waits for, signal / cancel / terminate behind a
//! confirmation), deployments, schedules.

mod html;
mod pages;

use super::ApiState;
use crate::error::Error;
use crate::node::Caller;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The cookie holding a signed-in browser's token.
const COOKIE: &str = "cairn_token";

pub(super) fn router() -> Router<ApiState> {
    Router::new()
        .route("/console", get(|| async { redirect("/console/executions") }))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route(
            "/console/app.css",
            get(|| async { asset("text/css", include_str!("app.css")) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript", include_str!("app.js")) }),
        )
        .route("/console/counts", get(pages::counts))
        .route("/console/executions", get(pages::executions))
        .route("/console/executions/{id}", get(pages::execution))
        .route("/console/executions/{id}/signal", post(pages::signal))
        .route("/console/executions/{id}/cancel", post(pages::cancel))
        .route("/console/executions/{id}/terminate", post(pages::terminate))
        .route("/console/deployments", get(pages::deployments))
        .route("/console/schedules", get(pages::schedules))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "max-age=3600")], body).into_response()
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// The caller of a console page: the token of the cookie (or anyone, on
/// an open server). Without a valid one the browser is sent to sign in.
pub(super) struct Viewer(pub(super) Caller);

/// Why a page cannot be shown: not signed in (→ the sign-in page), or an
/// error of the node (→ a page saying it, with its status).
pub(super) enum PageError {
    SignIn,
    Failed(Error),
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError::Failed(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn => redirect("/console/sign-in"),
            PageError::Failed(e) => {
                let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = html::error_box(&e);
                (status, html::page("Error", "", None, &body)).into_response()
            }
        }
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_owned))
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let caller = if state.auth {
            let token = cookie_token(&parts.headers).ok_or(PageError::SignIn)?;
            state
                .node
                .authenticate(Some(&format!("Bearer {token}")), None)
                .await
                .map_err(|_| PageError::SignIn)?
        } else {
            state.node.open_caller(None).await?
        };
        // Pages count against the tenant's request rate like API calls.
        state.node.check_rate(&caller, crate::node::Rate::Requests).await?;
        Ok(Viewer(caller))
    }
}

async fn sign_in_page() -> Response {
    html::page("Sign in", "", None, &html::sign_in_form(None)).into_response()
}

#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(State(s): State<ApiState>, form: axum::Form<SignIn>) -> Response {
    let token = form.token.trim();
    match s.node.authenticate(Some(&format!("Bearer {token}")), None).await {
        Ok(_) => {
            let cookie = format!("{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict");
            let mut response = redirect("/console/executions");
            if let Ok(value) = cookie.parse() {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            html::page("Sign in", "", None, &html::sign_in_form(Some(&e))),
        )
            .into_response(),
    }
}

async fn sign_out() -> Response {
    let mut response = redirect("/console/sign-in");
    let gone = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = gone.parse() {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}
