//! The web console at `/console`: server-rendered HTML over the node's
//! commands, with its stylesheet and one small script compiled into the
//! binary (nothing is fetched from elsewhere; no inline script or style,
//! so the CSP of [`super::guard`] holds). It signs in with an API token and
//! sees exactly what that token sees through the API: its tenant, within
//! its role. An open server (no `--auth`) needs no sign-in.
//!
//! Signing in mints a console session: a token of its own (the same
//! tenant and role, 12 hours, ended with the token that signed in), whose
//! text is the cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS) —
//! the API token never leaves the sign-in form. Signing out revokes the
//! session on every node. Every form carries a CSRF token derived from
//! the session (synchronizer token); an action without it is refused.
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

/// The cookie holding a signed-in browser's session token.
const COOKIE: &str = "cairn_session";

/// How long a console session lasts.
const SESSION: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

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

/// The caller of a console page: the session of the cookie (or anyone, on
/// an open server), and the CSRF token its forms carry. Without a valid
/// session the browser is sent to sign in.
pub(super) struct Viewer(pub(super) Caller, pub(super) String);

impl Viewer {
    /// Fails with `CAIRN-E036` unless a form sent this viewer's CSRF token.
    pub(super) fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        let same = sent.len() == self.1.len() && sent.bytes().zip(self.1.bytes()).fold(0, |d, (a, b)| d | (a ^ b)) == 0;
        if same {
            return Ok(());
        }
        Err(PageError::Failed(Error::new(
            crate::error::codes::CROSS_SITE,
            "this form does not carry the page's CSRF token",
            "reload the page and try again (a page of another site cannot act here)",
        )))
    }
}

/// A form's CSRF token, for the actions that send nothing else.
#[derive(serde::Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// The CSRF token of the forms of a session (or of an open server's pages,
/// keyed by a secret of this process).
fn csrf_of(session: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    static OPEN_KEY: std::sync::LazyLock<[u8; 32]> = std::sync::LazyLock::new(rand::random);
    let mut hash = Sha256::new();
    hash.update(b"cairn-console-csrf\0");
    match session {
        Some(s) => hash.update(s.as_bytes()),
        None => hash.update(*OPEN_KEY),
    }
    hex::encode(&hash.finalize()[..16])
}

/// The session cookie: set to `value` for `max_age` seconds (0: gone).
fn session_cookie(value: &str, max_age: u64, tls: bool) -> Option<axum::http::HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
        .parse()
        .ok()
}

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
        let (caller, csrf) = if state.auth || state.node.requires_token().await? {
            let token = cookie_token(&parts.headers).ok_or(PageError::SignIn)?;
            let caller = state
                .node
                .authenticate(Some(&format!("Bearer {token}")), None)
                .await
                .map_err(|_| PageError::SignIn)?;
            (caller, csrf_of(Some(&token)))
        } else {
            (state.node.open_caller(None).await?, csrf_of(None))
        };
        // Pages count against the tenant's request rate like API calls.
        state.node.check_rate(&caller, crate::node::Rate::Requests).await?;
        Ok(Viewer(caller, csrf))
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
    let session = match s.node.authenticate(Some(&format!("Bearer {token}")), None).await {
        Ok(caller) => s.node.console_session(&caller, SESSION).await,
        Err(e) => Err(e),
    };
    match session {
        Ok(session) => {
            let mut response = redirect("/console/executions");
            if let Some(value) = session_cookie(&session, SESSION.as_secs(), s.tls) {
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

async fn sign_out(
    State(s): State<ApiState>,
    viewer: Viewer,
    form: axum::Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    s.node.end_session(&viewer.0).await?;
    let mut response = redirect("/console/sign-in");
    if let Some(value) = session_cookie("", 0, s.tls) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_secure_over_tls_and_csrf_tokens_differ_by_session() {
        let plain = session_cookie("cairn_x", 60, false).unwrap();
        let tls = session_cookie("cairn_x", 60, true).unwrap();
        assert!(!plain.to_str().unwrap().contains("Secure"));
        assert!(
            tls.to_str().unwrap().ends_with("; Secure") && tls.to_str().unwrap().contains("HttpOnly; SameSite=Strict")
        );
        assert_ne!(csrf_of(Some("a")), csrf_of(Some("b")));
        assert_eq!(csrf_of(None), csrf_of(None));
        let viewer = Viewer(Caller::local("t"), csrf_of(Some("a")));
        assert!(viewer.check_csrf(&csrf_of(Some("a"))).is_ok());
        assert!(viewer.check_csrf("").is_err() && viewer.check_csrf(&csrf_of(Some("b"))).is_err());
    }
}
