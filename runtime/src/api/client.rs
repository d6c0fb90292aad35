//! A client of the API, used by the CLI verbs.

use crate::error::{Error, Result, codes};
use serde_json::Value;
use std::time::Duration;

/// A client of one server.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

fn server_error(base: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        codes::SERVER,
        format!("cannot reach the Cairn server at {base}: {e}"),
        "check --server / CAIRN_SERVER and that `cairn server` is running",
    )
}

impl Client {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:7400`).
    pub fn new(base: &str) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| server_error(base, e))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let resp = req.send().await.map_err(|e| server_error(&self.base, e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| server_error(&self.base, e))?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status >= 400 {
            // The server's own coded error, passed through.
            let code = body["code"]
                .as_str()
                .and_then(crate::error::known_code)
                .unwrap_or(codes::SERVER);
            return Err(Error::new(
                code,
                body["message"]
                    .as_str()
                    .unwrap_or("the server refused the request")
                    .to_owned(),
                body["hint"].as_str().unwrap_or("see the server's log").to_owned(),
            ));
        }
        Ok((status, body))
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// POST JSON to a path.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// POST raw bytes to a path.
    pub async fn post_bytes(&self, path: &str, bytes: Vec<u8>) -> Result<(u16, Value)> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/wasm")
            .body(bytes);
        self.send(req).await
    }

    /// DELETE a path.
    pub async fn delete(&self, path: &str) -> Result<(u16, Value)> {
        self.send(self.http.delete(format!("{}{path}", self.base))).await
    }
}
