//! Outgoing HTTP for activities (wasi:http). The host lets a request through
//! only to hosts allow-listed for the activity; others fail with
//! `http-denied`.

use super::bindings::wasi::http::outgoing_handler;
use super::bindings::wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use super::bindings::wasi::io::streams::StreamError;
use crate::Failure;

/// A received HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a GET request.
pub fn get(url: &str) -> Result<Response, Failure> {
    request("GET", url, &[], None)
}

/// Sends a POST request with a body.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, Failure> {
    request("POST", url, headers, Some(body))
}

/// Sends a request and reads the whole response. Connection failures are
/// retryable failures; a denied host is not.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<Response, Failure> {
    let bad_url = || Failure::new("invalid-url", format!("not an http(s) URL: {url}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad_url)?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad_url()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (k, v) in headers {
        fields
            .append(k, v.as_bytes())
            .map_err(|e| Failure::new("invalid-header", format!("header {k}: {e:?}")))?;
    }
    // A body's length goes ahead of it (not chunked: some servers refuse that).
    if let Some(bytes) = body
        && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        fields
            .append("content-length", bytes.len().to_string().as_bytes())
            .map_err(|e| Failure::new("invalid-header", format!("header content-length: {e:?}")))?;
    }
    let req = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    };
    let invalid = |what: &str| Failure::new("invalid-request", format!("invalid {what} in {url}"));
    req.set_method(&method).map_err(|_| invalid("method"))?;
    req.set_scheme(Some(&scheme)).map_err(|_| invalid("scheme"))?;
    req.set_authority(Some(authority)).map_err(|_| invalid("authority"))?;
    req.set_path_with_query(Some(path)).map_err(|_| invalid("path"))?;
    let out = req.body().map_err(|_| invalid("body"))?;
    // Sent first, then the body streams into it: written before, a body
    // larger than the host's buffer would wait for a request never sent.
    let pending = outgoing_handler::handle(req, None).map_err(http_failure)?;
    if let Some(bytes) = body {
        let stream = out.write().map_err(|_| invalid("body"))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| Failure::retryable("http-error", format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(out, None).map_err(http_failure)?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(http_failure(e)),
        _ => return Err(Failure::retryable("http-error", "the response was lost")),
    };
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|_| Failure::retryable("http-error", "response body unavailable"))?;
    let stream = incoming
        .stream()
        .map_err(|_| Failure::retryable("http-error", "response body unavailable"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(e) => {
                return Err(Failure::retryable(
                    "http-error",
                    format!("reading the response body: {e:?}"),
                ));
            }
        }
    }
    Ok(Response { status, body })
}

fn http_failure(e: ErrorCode) -> Failure {
    match e {
        ErrorCode::HttpRequestDenied => {
            Failure::new("http-denied", "this host is not on the activity's HTTP allow-list")
        }
        other => Failure::retryable("http-error", format!("{other:?}")),
    }
}
