//! A client of the API, used by the CLI verbs: one typed method per route,
//! with the node's request and response types.

use crate::error::{Code, Error, Result, codes};
use crate::model::{AuditRecord, Deployment, Quotas, Schedule, StoreStatus, Tenant, Token};
use crate::node::{
    AuditQuery, CancelResponse, ComponentInfo, ComponentKind, CreateTenantRequest, CreateTokenRequest, CreatedToken,
    DeployRequest, ExecutionDetail, ExecutionPage, JournalEntry, ListQuery, ResultResponse, ScheduleRequest,
    SignalResponse, StartAnswer, StartQuery, StartRequest, StartResponse, TenantDetail, TerminateRequest,
    TerminateResponse, UnparkRequest, UnparkResponse, UploadQuery,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
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
        "check --server / CAIRN_SERVER and that `cairn server` is running (https: --ca-cert for its own certificate)",
    )
}

/// An error with its causes, innermost last (they say what happened: refused,
/// a certificate not trusted, ...).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut why = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    why
}

/// Ids and names go into paths escaped.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:7400`).
    pub fn new(base: &str) -> Result<Client> {
        Client::with_token(base, None, None)
    }

    /// A client sending `token` (as `Authorization: Bearer`) and acting in
    /// `tenant` (the `cairn-tenant` header) with every request.
    pub fn with_token(base: &str, token: Option<&str>, tenant: Option<&str>) -> Result<Client> {
        Client::with_options(base, token, tenant, None)
    }

    /// [`Client::with_token`], also trusting the CA certificate(s) in the
    /// PEM file `ca_cert` (a server with its own certificate; the system's
    /// roots are trusted always).
    pub fn with_options(
        base: &str,
        token: Option<&str>,
        tenant: Option<&str>,
        ca_cert: Option<&std::path::Path>,
    ) -> Result<Client> {
        let bad = |what: &str| {
            Error::invalid(
                format!("the {what} cannot be sent in an HTTP header"),
                "check --token / CAIRN_TOKEN and --tenant / CAIRN_TENANT",
            )
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| bad("token"))?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        if let Some(tenant) = tenant {
            let value = reqwest::header::HeaderValue::from_str(tenant).map_err(|_| bad("tenant"))?;
            headers.insert(super::TENANT_HEADER, value);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .default_headers(headers);
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::invalid(
                    format!("{} holds no PEM certificate: {e}", path.display()),
                    "pass the server's CA certificate (PEM) with --ca-cert / CAIRN_CA_CERT",
                )
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| server_error(base, e))?;
        Ok(Client {
            base: with_scheme(base),
            http,
        })
    }

    /// Sends a request; returns the HTTP status and the decoded body, or the
    /// server's own coded error.
    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<(u16, T)> {
        let resp = req
            .send()
            .await
            .map_err(|e| server_error(&self.base, with_causes(&e)))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| server_error(&self.base, e))?;
        if status >= 400 {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            let code = body["code"].as_str().and_then(Code::parse).unwrap_or(codes::SERVER);
            return Err(Error::new(
                code,
                body["message"]
                    .as_str()
                    .unwrap_or("the server refused the request")
                    .to_owned(),
                body["hint"].as_str().unwrap_or("see the server's log").to_owned(),
            ));
        }
        let text = if text.is_empty() { "null" } else { &text };
        let body =
            serde_json::from_str(text).map_err(|e| server_error(&self.base, format!("unexpected answer: {e}")))?;
        Ok((status, body))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        Ok(self.send(self.http.get(self.url(path))).await?.1)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        Ok(self.send(self.http.post(self.url(path)).json(body)).await?.1)
    }

    /// The store's status as the server sees it (admin).
    pub async fn status(&self) -> Result<StoreStatus> {
        self.get("/v1/status").await
    }

    /// Every deployment (each version) of the caller's tenant.
    pub async fn deployments(&self) -> Result<Vec<Deployment>> {
        self.get("/v1/deployments").await
    }

    /// Uploads a component's bytes.
    pub async fn upload_component(&self, kind: ComponentKind, bytes: Vec<u8>) -> Result<ComponentInfo> {
        let req = self
            .http
            .post(self.url("/v1/components"))
            .query(&UploadQuery { kind: Some(kind) })
            .header("content-type", "application/wasm")
            .body(bytes);
        Ok(self.send(req).await?.1)
    }

    /// Creates the next version of a deployment.
    pub async fn deploy(&self, req: &DeployRequest) -> Result<Deployment> {
        self.post("/v1/deployments", req).await
    }

    /// Starts an execution.
    pub async fn start(&self, req: &StartRequest) -> Result<StartResponse> {
        self.post("/v1/executions", req).await
    }

    /// Starts an execution and waits up to `wait` for its result.
    pub async fn start_and_wait(&self, req: &StartRequest, wait: Duration) -> Result<StartAnswer> {
        let query = StartQuery {
            wait_ms: Some(wait.as_millis() as u64),
        };
        let request = self.http.post(self.url("/v1/executions")).query(&query).json(req);
        Ok(self.send(request).await?.1)
    }

    /// One execution.
    pub async fn describe(&self, id: &str) -> Result<ExecutionDetail> {
        self.get(&format!("/v1/executions/{}", segment(id))).await
    }

    /// Its result, waiting up to `wait`; the flag says whether it is final.
    pub async fn result(&self, id: &str, wait: Duration) -> Result<(bool, ResultResponse)> {
        let path = format!("/v1/executions/{}/result?wait_ms={}", segment(id), wait.as_millis());
        let (status, answer) = self.send(self.http.get(self.url(&path))).await?;
        Ok((status == 200, answer))
    }

    /// Its journal.
    pub async fn journal(&self, id: &str) -> Result<Vec<JournalEntry>> {
        self.get(&format!("/v1/executions/{}/journal", segment(id))).await
    }

    /// A page of executions.
    pub async fn list(&self, q: &ListQuery) -> Result<ExecutionPage> {
        let req = self.http.get(self.url("/v1/executions")).query(q);
        Ok(self.send(req).await?.1)
    }

    /// Sends a signal.
    pub async fn signal(&self, id: &str, name: &str, payload: &Value) -> Result<SignalResponse> {
        let path = format!("/v1/executions/{}/signals/{}", segment(id), segment(name));
        self.post(&path, payload).await
    }

    /// Requests cancellation.
    pub async fn cancel(&self, id: &str) -> Result<CancelResponse> {
        self.post(&format!("/v1/executions/{}/cancel", segment(id)), &Value::Null)
            .await
    }

    /// Terminates.
    pub async fn terminate(&self, id: &str, reason: Option<String>) -> Result<TerminateResponse> {
        let path = format!("/v1/executions/{}/terminate", segment(id));
        self.post(&path, &TerminateRequest { reason }).await
    }

    /// Resumes a parked execution, on version `version` of its deployment when given.
    pub async fn unpark(&self, id: &str, version: Option<i64>) -> Result<UnparkResponse> {
        let path = format!("/v1/executions/{}/unpark", segment(id));
        self.post(&path, &UnparkRequest { version }).await
    }

    /// Creates or replaces a schedule.
    pub async fn create_schedule(&self, req: &ScheduleRequest) -> Result<Schedule> {
        self.post("/v1/schedules", req).await
    }

    /// Every schedule.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.get("/v1/schedules").await
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(&self, id: &str) -> Result<()> {
        let req = self.http.delete(self.url(&format!("/v1/schedules/{}", segment(id))));
        self.send::<Value>(req).await.map(|_| ())
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, req: &CreateTenantRequest) -> Result<Tenant> {
        self.post("/v1/tenants", req).await
    }

    /// Every tenant.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.get("/v1/tenants").await
    }

    /// One tenant with its usage.
    pub async fn tenant(&self, name: &str) -> Result<TenantDetail> {
        self.get(&format!("/v1/tenants/{}", segment(name))).await
    }

    /// Replaces a tenant's quotas.
    pub async fn update_tenant(&self, name: &str, quotas: &Quotas) -> Result<TenantDetail> {
        let req = self
            .http
            .put(self.url(&format!("/v1/tenants/{}", segment(name))))
            .json(quotas);
        Ok(self.send(req).await?.1)
    }

    /// Deletes a tenant and its data.
    pub async fn delete_tenant(&self, name: &str, force: bool) -> Result<()> {
        let path = format!("/v1/tenants/{}?force={force}", segment(name));
        self.send::<Value>(self.http.delete(self.url(&path))).await.map(|_| ())
    }

    /// Makes a token.
    pub async fn create_token(&self, req: &CreateTokenRequest) -> Result<CreatedToken> {
        self.post("/v1/tokens", req).await
    }

    /// Tokens, of a tenant or all.
    pub async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<Token>> {
        let req = self.http.get(self.url("/v1/tokens")).query(&[("tenant", tenant)]);
        Ok(self.send(req).await?.1)
    }

    /// Revokes a token.
    pub async fn revoke_token(&self, id: &str) -> Result<Token> {
        self.post(&format!("/v1/tokens/{}/revoke", segment(id)), &Value::Null)
            .await
    }

    /// Confirms a token an unauthenticated server minted.
    pub async fn confirm_token(&self, id: &str) -> Result<Token> {
        self.post(&format!("/v1/tokens/{}/confirm", segment(id)), &Value::Null)
            .await
    }

    /// The audit trail.
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let req = self.http.get(self.url("/v1/audit")).query(q);
        Ok(self.send(req).await?.1)
    }
}

/// A server address as given (`127.0.0.1:7400` or `http://...`), with
/// `http://` when it names no scheme, and no trailing slash.
fn with_scheme(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(super::segment("order-7~1"), "order-7~1");
        assert_eq!(super::segment("tick@123:a/b"), "tick%40123%3Aa%2Fb");
    }

    #[test]
    fn an_address_without_a_scheme_means_http() {
        assert_eq!(super::with_scheme("127.0.0.1:7455"), "http://127.0.0.1:7455");
        assert_eq!(super::with_scheme("https://cairn.example/"), "https://cairn.example");
    }
}
