//! The door every request of the API and the console passes first, so that
//! no web page the operator visits can reach the server through the
//! browser (with or without `--auth`):
//!
//! - its `Host` must be a name this server answers to: an IP literal,
//!   `localhost`, or a name of `--allowed-host` (a DNS-rebinding page
//!   sends its own name);
//! - a state-changing request (not `GET`/`HEAD`/`OPTIONS`) must come from
//!   the server's own origin: `Sec-Fetch-Site` (sent by every current
//!   browser) must be `same-origin` or `none`, and an `Origin` must be the
//!   request's own host — a page on another port of the same host is
//!   another origin;
//! - every answer carries the security headers ([`SECURITY_HEADERS`]).
//!
//! JSON bodies must also say `Content-Type: application/json` (checked
//! where they are read, [`super::JsonBody`]), so a cross-site HTML form,
//! which can only send form or text types, never reaches a JSON route.

use super::{ApiError, ApiState};
use crate::error::{Error, codes};
use crate::node::TenantCell;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Headers on every answer: no framing, no inline script or style, no
/// sniffing of content types, no referrer leaving the console.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    // `no-referrer` would make browsers send `Origin: null` on the
    // console's own forms; `same-origin` leaks nothing to another site.
    ("referrer-policy", "same-origin"),
];

/// The names, besides IP literals and `localhost`, a server answers to.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// From `--allowed-host` values: exact names (any case), `*.example.com`
    /// for its subdomains, or `*` for any name (behind a proxy that checks).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        AllowedHosts(names.into_iter().map(|n| n.trim().to_ascii_lowercase()).collect())
    }

    /// Whether a request naming `host` (no port) may be answered.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let literal = host.parse::<std::net::IpAddr>().is_ok()
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        literal
            || host == "localhost"
            || host.ends_with(".localhost")
            || self.0.iter().any(|n| n == "*" || crate::model::host_matches(n, &host))
    }
}

/// The host part of a `Host` value or an origin's authority (no port).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

fn refused(message: String, hint: &str) -> Error {
    Error::new(codes::CROSS_SITE, message, hint)
}

/// Why a request may not pass, if it may not.
pub(super) fn check(
    hosts: &AllowedHosts,
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> Result<(), Error> {
    let text = |name: HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let host = text(header::HOST).or(authority);
    if let Some(host) = host
        && !hosts.allows(host_of(host))
    {
        return Err(refused(
            format!(
                "this server does not answer to the name `{}`",
                crate::error::echo(host_of(host))
            ),
            "call it by its IP address or localhost, or start it with `--allowed-host NAME` for a name that points to it",
        ));
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let other_site = || {
        refused(
            "a web page of another origin may not change anything here".into(),
            "use the console from its own address, the CLI, or a client that is not a browser",
        )
    };
    if let Some(site) = text(HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return Err(other_site());
    }
    if let Some(origin) = text(header::ORIGIN) {
        let own = origin
            .split_once("://")
            .map(|(_, authority)| authority.trim_end_matches('/'))
            .is_some_and(|authority| host.is_some_and(|h| h.eq_ignore_ascii_case(authority)));
        if !own {
            return Err(other_site());
        }
    }
    Ok(())
}

/// The middleware: refuses what [`check`] refuses, adds the security
/// headers, and charges the request's CPU to its tenant once the
/// [`Caller`](crate::node::Caller) extractor has named it (fair shares).
pub(super) async fn guard(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    let mut response = match check(&state.hosts, req.method(), req.headers(), authority.as_deref()) {
        Ok(()) => {
            let tenant = TenantCell::default();
            req.extensions_mut().insert(tenant.clone());
            state.node.metered(tenant, next.run(req)).await
        }
        Err(e) => ApiError(e).into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

/// The request's media type without parameters, lowercase (`""` if none).
fn media_type(headers: &HeaderMap) -> String {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Fails with `CAIRN-E037` unless the request says its body is JSON.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = media_type(headers);
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        return Ok(());
    }
    Err(ApiError(Error::new(
        codes::UNSUPPORTED_MEDIA_TYPE,
        "this call takes a JSON body: send `Content-Type: application/json`",
        "add the header (curl: -H 'content-type: application/json')",
    )))
}

/// Fails with `CAIRN-E037` unless an upload says it is a component's bytes.
pub(super) fn require_wasm(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = media_type(headers);
    if matches!(essence.as_str(), "application/wasm" | "application/octet-stream") {
        return Ok(());
    }
    Err(ApiError(Error::new(
        codes::UNSUPPORTED_MEDIA_TYPE,
        "a component upload takes the raw bytes: send `Content-Type: application/wasm`",
        "add the header (curl: -H 'content-type: application/wasm' --data-binary @file.wasm)",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, pairs: &[(&'static str, &str)]) -> Result<(), Error> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        check(
            &AllowedHosts::new(["cairn.example".to_owned(), "*.corp".to_owned()]),
            &method,
            &headers,
            None,
        )
    }

    #[test]
    fn names_a_rebinding_page_sends_are_refused() {
        for host in [
            "127.0.0.1:7400",
            "localhost:7400",
            "[::1]:7400",
            "10.0.0.1",
            "cairn.example",
            "a.corp:1",
            "app.localhost",
        ] {
            assert!(request(Method::GET, &[("host", host)]).is_ok(), "{host}");
        }
        for host in ["evil.example:7400", "cairn.example.evil", "corp", "127.0.0.1.nip.io"] {
            assert_eq!(
                request(Method::GET, &[("host", host)]).unwrap_err().code,
                codes::CROSS_SITE,
                "{host}"
            );
        }
        assert!(AllowedHosts::new(["*".to_owned()]).allows("anything"));
    }

    #[test]
    fn state_changes_come_from_the_own_origin_only() {
        let host = ("host", "127.0.0.1:7400");
        assert!(request(Method::POST, &[host]).is_ok(), "a client that is not a browser");
        assert!(
            request(
                Method::POST,
                &[
                    host,
                    ("origin", "http://127.0.0.1:7400"),
                    ("sec-fetch-site", "same-origin")
                ]
            )
            .is_ok()
        );
        assert!(
            request(
                Method::GET,
                &[
                    host,
                    ("origin", "http://evil.example"),
                    ("sec-fetch-site", "cross-site")
                ]
            )
            .is_ok()
        );
        for pairs in [
            vec![host, ("origin", "http://127.0.0.1:8000")],
            vec![host, ("origin", "null")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![("origin", "http://127.0.0.1:7400")],
        ] {
            assert_eq!(
                request(Method::DELETE, &pairs).unwrap_err().code,
                codes::CROSS_SITE,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn bodies_say_their_type() {
        let with = |kind: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(kind).unwrap());
            h
        };
        assert!(require_json(&with("application/json; charset=utf-8")).is_ok());
        assert!(require_json(&with("application/merge-patch+json")).is_ok());
        for kind in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert!(
                require_json(&with(kind)).is_err() && require_wasm(&with(kind)).is_err(),
                "{kind}"
            );
        }
        assert!(require_json(&HeaderMap::new()).is_err());
        assert!(require_wasm(&with("application/wasm")).is_ok());
    }
}
