//! Activity `fetch`: an HTTP request to an allow-listed host. The request
//! carries the call's idempotency key in `Idempotency-Key` and the attempt
//! (from 1) in `Cairn-Attempt`, so the server can tell a repeat.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Request {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Serialize)]
struct Reply {
    status: u16,
    body: String,
}

fn fetch(req: Request) -> Result<Reply, Failure> {
    let key = activity::idempotency_key();
    let attempt = activity::attempt().to_string();
    let headers = [("idempotency-key", key.as_str()), ("cairn-attempt", attempt.as_str())];
    let method = req.method.as_deref().unwrap_or("GET");
    let response = http::request(method, &req.url, &headers, req.body.as_deref().map(str::as_bytes))?;
    if response.status >= 500 {
        return Err(Failure::retryable(
            "server-error",
            format!("{} answered {}", req.url, response.status),
        ));
    }
    Ok(Reply {
        status: response.status,
        body: response.text(),
    })
}

cairn_sdk::activities! { "fetch" => fetch }
