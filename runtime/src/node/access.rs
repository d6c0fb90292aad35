//! Who is asking, and what they may do: API tokens and their roles,
//! tenants and their quotas, the audit trail.
//!
//! Every command of the node takes a [`Caller`]: a tenant, a role and the
//! token that proved them. The caller's tenant turns the names it uses into
//! storage keys ([`crate::model::tenancy`]), so another tenant's data is
//! never reached, only "not found". A token is `cairn_<id>_<secret>`; the
//! store keeps the SHA-256 of the secret, never the secret.

use super::Node;
use crate::error::{Error, Result, codes};
use crate::model::{
    AuditRecord, Bindings, Deployment, Execution, Quotas, Role, Schedule, Tenant, TenantUsage, Token, now_ms, tenancy,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// Who is asking: the tenant it acts in, its role, and its token's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant acted in.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// Id of the token (`local` for the CLI working on the store itself).
    pub token: String,
}

impl Caller {
    /// The CLI working on the store directly: admin, in `tenant`.
    pub fn local(tenant: &str) -> Caller {
        Caller {
            tenant: tenant.to_owned(),
            role: Role::Admin,
            token: "local".into(),
        }
    }

    /// The storage key of a name in the caller's tenant.
    pub(crate) fn key(&self, name: &str) -> String {
        tenancy::key(&self.tenant, name)
    }

    /// Fails with `CAIRN-E029` unless the caller's role is at least `role`.
    pub(crate) fn require(&self, role: Role) -> Result<()> {
        if self.role >= role {
            return Ok(());
        }
        Err(Error::new(
            codes::FORBIDDEN,
            format!(
                "a {} token may not do this (it needs {})",
                self.role.as_str(),
                role.as_str()
            ),
            "use a token with a stronger role: read < operate < deploy < admin",
        ))
    }
}

/// How long a node trusts the quotas it read of a tenant.
pub(crate) const QUOTA_TTL: Duration = Duration::from_secs(1);

/// Something read of each tenant lately (its quotas, its journal bytes),
/// trusted for [`QUOTA_TTL`]: the hot paths (start, signal, a step) check
/// it without a read of the store each time.
pub(crate) struct TenantCache<T>(Mutex<HashMap<String, (Instant, T)>>);

impl<T> Default for TenantCache<T> {
    fn default() -> Self {
        TenantCache(Mutex::default())
    }
}

impl<T: Clone> TenantCache<T> {
    /// What was read of `tenant` less than [`QUOTA_TTL`] ago.
    pub(crate) fn get(&self, tenant: &str) -> Option<T> {
        let map = self.0.lock().unwrap();
        map.get(tenant)
            .filter(|(at, _)| at.elapsed() < QUOTA_TTL)
            .map(|(_, v)| v.clone())
    }

    /// Remembers what was just read of `tenant`.
    pub(crate) fn put(&self, tenant: &str, value: T) {
        let mut map = self.0.lock().unwrap();
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(tenant.to_owned(), (Instant::now(), value));
    }

    fn forget(&self, tenant: &str) {
        self.0.lock().unwrap().remove(tenant);
    }
}

/// A new tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTenantRequest {
    /// Name: up to 64 of `[a-z0-9-_]`, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub name: String,
    /// Its quotas and policy.
    #[serde(default, deserialize_with = "crate::model::whole::object")]
    pub quotas: Quotas,
}

/// A tenant and what it uses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantDetail {
    /// The tenant.
    #[serde(flatten)]
    pub tenant: Tenant,
    /// What it uses now.
    pub usage: TenantUsage,
}

/// A new token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// Tenant it acts in (default: `default`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Its role.
    pub role: Role,
    /// Lifetime in seconds (none: until revoked).
    #[serde(default, deserialize_with = "crate::model::whole::opt_u64")]
    #[schema(minimum = 1)]
    pub expires_in_s: Option<u64>,
}

/// A token just made: the secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// What is stored of it.
    #[serde(flatten)]
    pub info: Token,
}

/// Query of the audit trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this tenant's records.
    pub tenant: Option<String>,
    /// At most this many, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The parts of a token: its public id and its secret.
fn parse_token(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("cairn_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then_some((id, secret))
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn unauthenticated(message: &str) -> Error {
    Error::new(
        codes::UNAUTHENTICATED,
        message.to_owned(),
        "send `Authorization: Bearer <token>` (CLI: --token or CAIRN_TOKEN); an admin makes one with `cairn token create`",
    )
}

fn no_tenant(name: &str) -> Error {
    Error::new(
        codes::NOT_FOUND,
        format!("no tenant `{}`", crate::error::echo(name)),
        "list them with `cairn tenant list` (admin)",
    )
}

impl Node {
    /// Who an `Authorization` header proves the caller to be (`CAIRN-E028`
    /// when it proves nothing), acting in `tenant` when given: an admin may
    /// act in any tenant, every other role only in its own (another tenant
    /// is "not found").
    pub async fn authenticate(&self, authorization: Option<&str>, tenant: Option<&str>) -> Result<Caller> {
        let header = authorization.ok_or_else(|| unauthenticated("this request carries no token"))?;
        let text = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(|| unauthenticated("the Authorization header is not `Bearer <token>`"))?;
        let (id, secret) = parse_token(text).ok_or_else(|| unauthenticated("the token is malformed"))?;
        let token = match self.store.token(id).await? {
            Some(t) if t.hash == hash_secret(secret) => t,
            _ => return Err(unauthenticated("the token is unknown")),
        };
        if token.revoked_at_ms.is_some() {
            return Err(unauthenticated("the token has been revoked"));
        }
        if token.expires_at_ms.is_some_and(|at| at <= now_ms()) {
            return Err(unauthenticated("the token has expired"));
        }
        let acting = match tenant {
            Some(t) if t != token.tenant => {
                if token.role != Role::Admin || self.store.tenant(t).await?.is_none() {
                    return Err(no_tenant(t));
                }
                t.to_owned()
            }
            _ => token.tenant.clone(),
        };
        Ok(Caller {
            tenant: acting,
            role: token.role,
            token: token.id,
        })
    }

    /// The caller acting without a token (a server without `--auth`):
    /// admin, in `tenant` (default: `default`) if it exists.
    pub async fn open_caller(&self, tenant: Option<&str>) -> Result<Caller> {
        let name = tenant.unwrap_or(tenancy::DEFAULT_TENANT);
        if name != tenancy::DEFAULT_TENANT && self.store.tenant(name).await?.is_none() {
            return Err(no_tenant(name));
        }
        Ok(Caller::local(name))
    }

    /// Records an audited action of `caller` on `target`.
    pub(crate) async fn audit_action(&self, caller: &Caller, action: &str, target: &str) -> Result<()> {
        self.store
            .record_audit(&AuditRecord {
                id: 0,
                at_ms: 0,
                token: caller.token.clone(),
                tenant: caller.tenant.clone(),
                action: action.to_owned(),
                target: target.to_owned(),
            })
            .await
    }

    /// The newest audit records (admin).
    pub async fn audit(&self, caller: &Caller, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        caller.require(Role::Admin)?;
        let limit = q.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid(
                format!("limit {limit} is out of range"),
                "ask for 1 to 1000 records",
            ));
        }
        self.store.audit(q.tenant.as_deref(), limit).await
    }

    /// A tenant's quotas and policy, as read from the store at most
    /// [`QUOTA_TTL`] ago (a change reaches every node within it).
    pub(crate) async fn quotas(&self, tenant: &str) -> Result<Quotas> {
        if let Some(q) = self.quotas.get(tenant) {
            return Ok(q);
        }
        let q = self.store.tenant(tenant).await?.map(|t| t.quotas).unwrap_or_default();
        self.quotas.put(tenant, q.clone());
        Ok(q)
    }

    /// Creates a tenant (admin).
    pub async fn create_tenant(&self, caller: &Caller, req: CreateTenantRequest) -> Result<Tenant> {
        caller.require(Role::Admin)?;
        if !tenancy::valid_tenant(&req.name) {
            return Err(Error::invalid(
                format!("invalid tenant name `{}`", crate::error::echo(&req.name)),
                "use up to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit",
            ));
        }
        check_quotas(&req.quotas)?;
        let tenant = Tenant {
            name: req.name,
            quotas: req.quotas,
            created_at_ms: now_ms(),
        };
        if !self.store.create_tenant(&tenant).await? {
            return Err(Error::new(
                codes::TENANT_EXISTS,
                format!("tenant `{}` exists", tenant.name),
                "pick another name, or change it with `cairn tenant update`",
            ));
        }
        self.audit_action(caller, "tenant.create", &tenant.name).await?;
        Ok(tenant)
    }

    /// Replaces a tenant's quotas (admin).
    pub async fn update_tenant(&self, caller: &Caller, name: &str, quotas: Quotas) -> Result<TenantDetail> {
        caller.require(Role::Admin)?;
        check_quotas(&quotas)?;
        if !self.store.update_tenant(name, &quotas).await? {
            return Err(no_tenant(name));
        }
        self.quotas.forget(name);
        self.audit_action(caller, "tenant.update", name).await?;
        self.tenant(caller, name).await
    }

    /// One tenant with its usage (admin).
    pub async fn tenant(&self, caller: &Caller, name: &str) -> Result<TenantDetail> {
        caller.require(Role::Admin)?;
        let tenant = self.store.tenant(name).await?.ok_or_else(|| no_tenant(name))?;
        let mut usage = self.store.tenant_usage(name).await?;
        if let Some(engine) = self.engine.get() {
            usage.instance_memory_bytes = engine.limits.memory.used(name).1 as i64;
        }
        Ok(TenantDetail { tenant, usage })
    }

    /// Every tenant (admin).
    pub async fn tenants(&self, caller: &Caller) -> Result<Vec<Tenant>> {
        caller.require(Role::Admin)?;
        self.store.tenants().await
    }

    /// Deletes a tenant and all its data (admin); refused while its
    /// executions run unless `force`. The `default` tenant stays.
    pub async fn delete_tenant(&self, caller: &Caller, name: &str, force: bool) -> Result<()> {
        caller.require(Role::Admin)?;
        if name == tenancy::DEFAULT_TENANT {
            return Err(Error::new(
                codes::TENANT_EXISTS,
                "the default tenant cannot be deleted",
                "delete its executions' data by other means",
            ));
        }
        let usage = self.tenant(caller, name).await?.usage;
        let unfinished = usage.unfinished_executions + usage.queued_executions;
        if unfinished > 0 && !force {
            return Err(Error::new(
                codes::TENANT_EXISTS,
                format!("tenant `{name}` has {unfinished} unfinished executions"),
                "wait for them, or pass --force (?force=true) to remove them with the tenant",
            ));
        }
        if !self.store.delete_tenant(name).await? {
            return Err(no_tenant(name));
        }
        self.quotas.forget(name);
        self.audit_action(caller, "tenant.delete", name).await
    }

    /// Makes a token (admin); its secret is in the answer only.
    pub async fn create_token(&self, caller: &Caller, req: CreateTokenRequest) -> Result<CreatedToken> {
        caller.require(Role::Admin)?;
        let tenant = req.tenant.unwrap_or_else(|| tenancy::DEFAULT_TENANT.to_owned());
        if self.store.tenant(&tenant).await?.is_none() {
            return Err(no_tenant(&tenant));
        }
        let expires_at_ms = match req.expires_in_s {
            Some(0) => {
                return Err(Error::invalid(
                    "expires_in_s must be at least 1",
                    "omit it for no expiry",
                ));
            }
            Some(s) => Some(now_ms().saturating_add(Duration::from_secs(s).as_millis().min(i64::MAX as u128) as i64)),
            None => None,
        };
        let id = hex::encode(rand::random::<[u8; 6]>());
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let info = Token {
            id: id.clone(),
            tenant,
            role: req.role,
            hash: hash_secret(&secret),
            created_at_ms: now_ms(),
            expires_at_ms,
            revoked_at_ms: None,
        };
        self.store.put_token(&info).await?;
        let target = format!("{id} ({} in {})", info.role.as_str(), info.tenant);
        self.audit_action(caller, "token.create", &target).await?;
        Ok(CreatedToken {
            token: format!("cairn_{id}_{secret}"),
            info,
        })
    }

    /// Registers `text` as an admin token of the `default` tenant unless it
    /// is known (the server's `--admin-token-file`); with empty `text`, makes
    /// a new one. Returns the token.
    pub async fn register_admin_token(&self, text: &str) -> Result<String> {
        let local = Caller::local(tenancy::DEFAULT_TENANT);
        if text.is_empty() {
            let req = CreateTokenRequest {
                tenant: None,
                role: Role::Admin,
                expires_in_s: None,
            };
            return Ok(self.create_token(&local, req).await?.token);
        }
        let (id, secret) = parse_token(text).ok_or_else(|| {
            Error::invalid(
                "the admin token file does not hold a Cairn token",
                "put one token (cairn_<12 hex>_<64 hex>) in it, or remove the file to have one made",
            )
        })?;
        match self.store.token(id).await? {
            Some(t) if t.hash == hash_secret(secret) && t.role == Role::Admin => Ok(text.to_owned()),
            Some(_) => Err(Error::invalid(
                "the admin token file's token id is taken by another token",
                "remove the file to have a new token made",
            )),
            None => {
                self.store
                    .put_token(&Token {
                        id: id.to_owned(),
                        tenant: tenancy::DEFAULT_TENANT.to_owned(),
                        role: Role::Admin,
                        hash: hash_secret(secret),
                        created_at_ms: now_ms(),
                        expires_at_ms: None,
                        revoked_at_ms: None,
                    })
                    .await?;
                self.audit_action(&local, "token.register", id).await?;
                Ok(text.to_owned())
            }
        }
    }

    /// Every token, of one tenant or all (admin); secrets are never shown.
    pub async fn tokens(&self, caller: &Caller, tenant: Option<&str>) -> Result<Vec<Token>> {
        caller.require(Role::Admin)?;
        self.store.tokens(tenant).await
    }

    /// Revokes a token at once (admin).
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<Token> {
        caller.require(Role::Admin)?;
        if !self.store.revoke_token(id, now_ms()).await? {
            return Err(Error::new(
                codes::NOT_FOUND,
                format!("no unrevoked token `{}`", crate::error::echo(id)),
                "list them with `cairn token list`",
            ));
        }
        self.audit_action(caller, "token.revoke", id).await?;
        self.store
            .token(id)
            .await?
            .ok_or_else(|| Error::store("a revoked token vanished"))
    }
}

/// An execution as its tenant sees it: ids and names without the tenant.
pub(crate) fn present_execution(mut e: Execution) -> Execution {
    if let Some(next) = e.continued_as() {
        e.output = Some(Execution::continued_output(tenancy::name_of(&next)));
    }
    e.id = tenancy::name_of(&e.id).to_owned();
    e.workflow = tenancy::name_of(&e.workflow).to_owned();
    e.parent = e.parent.map(|p| tenancy::name_of(&p).to_owned());
    e
}

/// A deployment as its tenant sees it.
pub(crate) fn present_deployment(mut d: Deployment) -> Deployment {
    d.name = tenancy::name_of(&d.name).to_owned();
    d
}

/// A schedule as its tenant sees it.
pub(crate) fn present_schedule(mut s: Schedule) -> Schedule {
    s.id = tenancy::name_of(&s.id).to_owned();
    s.workflow = tenancy::name_of(&s.workflow).to_owned();
    s
}

fn quota_hit(limit: &str, value: u64, hint: &str) -> Error {
    Error::new(
        codes::QUOTA_EXCEEDED,
        format!("the tenant's quota {limit} = {value} is reached"),
        hint.to_owned(),
    )
}

impl Node {
    /// Refuses a payload larger than the tenant's `max_payload_bytes`.
    pub(crate) async fn check_payload(&self, caller: &Caller, payload: &str) -> Result<()> {
        if let Some(max) = self.quotas(&caller.tenant).await?.max_payload_bytes
            && payload.len() as u64 > max
        {
            return Err(quota_hit(
                "max_payload_bytes",
                max,
                "send a smaller payload (pass large data by reference), or ask an admin to raise it",
            ));
        }
        Ok(())
    }

    /// Refuses a component beyond the tenant's size or count quota.
    pub(crate) async fn check_component_quota(&self, caller: &Caller, digest: &str, size: usize) -> Result<()> {
        let quotas = self.quotas(&caller.tenant).await?;
        if let Some(max) = quotas.max_component_bytes
            && size as u64 > max
        {
            return Err(quota_hit(
                "max_component_bytes",
                max,
                "build a smaller component, or ask an admin to raise it",
            ));
        }
        if let Some(max) = quotas.max_components
            && !self.store.owns_component(&caller.tenant, digest).await?
            && self.store.tenant_usage(&caller.tenant).await?.components as u64 >= max
        {
            return Err(quota_hit("max_components", max, "ask an admin to raise it"));
        }
        Ok(())
    }

    /// The bindings a new execution of `tenant` runs with: the deployment's
    /// HTTP allow-list cut down to the hosts the tenant's policy allows now
    /// (a policy narrowed after a deploy holds for every later execution).
    pub(crate) async fn within_policy(&self, tenant: &str, mut bindings: Bindings) -> Result<Bindings> {
        let quotas = self.quotas(tenant).await?;
        if quotas.http_hosts.is_some() {
            for hosts in bindings.http_allow.values_mut() {
                hosts.retain(|h| quotas.allows_host(h));
            }
        }
        Ok(bindings)
    }

    /// Refuses a deployment of components the tenant does not hold (as if
    /// they did not exist) or of HTTP hosts its policy does not allow.
    pub(crate) async fn check_capabilities(&self, caller: &Caller, workflow: &str, bindings: &Bindings) -> Result<()> {
        for digest in std::iter::once(workflow).chain(bindings.activities.iter().map(String::as_str)) {
            if !self.store.owns_component(&caller.tenant, digest).await? {
                return Err(Error::new(
                    codes::NOT_FOUND,
                    format!("no component {}", crate::error::echo(digest)),
                    "upload it first: POST /v1/components (`cairn deploy` does both)",
                ));
            }
        }
        let quotas = self.quotas(&caller.tenant).await?;
        let hosts = bindings.http_allow.values().flatten();
        if let Some(host) = hosts.into_iter().find(|h| !quotas.allows_host(h)) {
            return Err(Error::new(
                codes::CAPABILITY_DENIED,
                format!(
                    "the tenant's policy does not allow HTTP to `{}`",
                    crate::error::echo(host)
                ),
                "ask an admin to add it with `cairn tenant update --http-host`, or remove it from the deployment",
            ));
        }
        // A tenant allowed no host at all may not deploy an activity that imports HTTP.
        if quotas.http_hosts.as_ref().is_some_and(Vec::is_empty) {
            for digest in &bindings.activities {
                let imports = crate::engine::imports_of(&self.component_bytes(digest).await?)?;
                if let Some(import) = imports.iter().find(|i| i.starts_with("wasi:http/")) {
                    return Err(Error::new(
                        codes::CAPABILITY_DENIED,
                        format!(
                            "the tenant may not use `{import}`: its policy allows no HTTP host (activity {})",
                            crate::error::echo(digest)
                        ),
                        "ask an admin to allow hosts with `cairn tenant update --http-host`, or deploy activities without HTTP",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Refuses quotas that could never be met.
fn check_quotas(q: &Quotas) -> Result<()> {
    let zero = [
        q.max_payload_bytes,
        q.max_component_bytes,
        q.max_components,
        q.max_running,
        q.max_journal_entries,
        q.cpu_ms_per_minute,
        q.cpu_budget_ms,
        q.requests_per_second,
        q.starts_per_second,
        q.signals_per_second,
        q.max_instance_memory_mb,
        q.max_total_memory_mb,
        q.max_journal_bytes,
        q.timers_per_second,
    ]
    .contains(&Some(0));
    if zero {
        return Err(Error::invalid(
            "a quota of 0 admits nothing",
            "omit a quota for no limit",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_shape() {
        let secret = "a".repeat(64);
        assert_eq!(
            parse_token(&format!("cairn_0123456789ab_{secret}")),
            Some(("0123456789ab", secret.as_str()))
        );
        assert!(parse_token("cairn_0123_abc").is_none() && parse_token("Bearer x").is_none());
        assert!(parse_token(&format!("cairn_0123456789ag_{secret}")).is_none());
        let caller = Caller {
            role: Role::Operate,
            ..Caller::local("acme")
        };
        assert!(caller.require(Role::Read).is_ok());
        assert_eq!(caller.require(Role::Deploy).unwrap_err().code, codes::FORBIDDEN);
        assert_eq!(caller.key("x"), "acme/x");
    }
}
