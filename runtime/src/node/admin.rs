//! The administrators' commands: tenants, tokens and the audit trail. The
//! policy they set is enforced by [`super::tenancy`]; these only check the
//! caller, validate, write and record.

use super::Node;
use super::tenancy::{AuditQuery, Caller, Registered, check_quotas, no_tenant};
use crate::error::{Error, Result, codes};
use crate::model::{AuditRecord, Quotas, Role, Tenant, TenantUsage, Token, now_ms, syntax, tenancy};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// A new tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTenantRequest {
    /// Name: up to 64 of `[a-z0-9-_]`, starting with a letter or digit.
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
    /// The quotas in force: its own over the node's defaults.
    #[serde(default)]
    pub effective_quotas: Quotas,
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

impl Node {
    /// Who an `Authorization` header proves the caller to be (see
    /// [`super::tenancy`]), acting in `tenant` when given.
    pub async fn authenticate(&self, authorization: Option<&str>, tenant: Option<&str>) -> Result<Caller> {
        self.tenancy.authenticate(authorization, tenant).await
    }

    /// The caller acting without a token (a server without `--auth`):
    /// superuser, in `tenant` (default: `default`) if it exists.
    pub async fn open_caller(&self, tenant: Option<&str>) -> Result<Caller> {
        self.tenancy.open_caller(tenant).await
    }

    /// Whether the API must ask for tokens whatever the server's flags
    /// say: the store holds a confirmed token that works.
    pub async fn requires_token(&self) -> Result<bool> {
        self.tenancy.requires_token().await
    }

    /// The newest audit records (admin).
    pub async fn audit(&self, caller: &Caller, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.tenancy.audit_records(caller, q).await
    }

    /// Creates a tenant (superuser).
    pub async fn create_tenant(&self, caller: &Caller, req: CreateTenantRequest) -> Result<Tenant> {
        caller.require(Role::Superuser)?;
        syntax::TENANT.check(&req.name)?;
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
        self.tenancy.audit(caller, "tenant.create", &tenant.name).await?;
        Ok(tenant)
    }

    /// Replaces a tenant's quotas: a superuser sets them and their caps, a
    /// tenant's admin its own within the caps (which it cannot change).
    pub async fn update_tenant(&self, caller: &Caller, name: &str, mut quotas: Quotas) -> Result<TenantDetail> {
        caller.administers(name)?;
        syntax::TENANT.check(name)?;
        check_quotas(&quotas)?;
        if caller.role < Role::Superuser {
            let current = self.store.tenant(name).await?.ok_or_else(|| no_tenant(name))?;
            quotas.caps = current.quotas.caps.clone();
            if let Some(over) = quotas.caps.as_deref().and_then(|caps| quotas.beyond(caps)) {
                return Err(Error::new(
                    codes::FORBIDDEN,
                    format!("a tenant's admin may not set {over} beyond its cap"),
                    "stay within the caps, or ask the server's operator (a superuser) to raise them",
                ));
            }
        }
        if !self.store.update_tenant(name, &quotas).await? {
            return Err(no_tenant(name));
        }
        self.tenancy.forget(name);
        self.tenancy.audit(caller, "tenant.update", name).await?;
        self.tenant(caller, name).await
    }

    /// One tenant with its usage (its admin, or a superuser).
    pub async fn tenant(&self, caller: &Caller, name: &str) -> Result<TenantDetail> {
        caller.administers(name)?;
        syntax::TENANT.check(name)?;
        let tenant = self.store.tenant(name).await?.ok_or_else(|| no_tenant(name))?;
        let mut usage = self.store.tenant_usage(name).await?;
        if let Some(engine) = self.engine.get() {
            usage.instance_memory_bytes = engine.limits.memory.used(name).1 as i64;
        }
        let effective_quotas = self.tenancy.in_force(&tenant.quotas);
        Ok(TenantDetail {
            tenant,
            usage,
            effective_quotas,
        })
    }

    /// Every tenant (superuser); a tenant's admin sees its own only.
    pub async fn tenants(&self, caller: &Caller) -> Result<Vec<Tenant>> {
        caller.require(Role::Admin)?;
        let mut all = self.store.tenants().await?;
        if caller.role < Role::Superuser {
            all.retain(|t| t.name == caller.tenant);
        }
        Ok(all)
    }

    /// Deletes a tenant and all its data (admin); refused while its
    /// executions run unless `force`. The `default` tenant stays.
    pub async fn delete_tenant(&self, caller: &Caller, name: &str, force: bool) -> Result<()> {
        caller.require(Role::Superuser)?;
        syntax::TENANT.check(name)?;
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
        self.tenancy.forget(name);
        self.tenancy.audit(caller, "tenant.delete", name).await
    }

    /// Makes a token (a tenant's admin in its own tenant, up to `admin`;
    /// a superuser anywhere); its secret is in the answer only.
    pub async fn create_token(&self, caller: &Caller, req: CreateTokenRequest) -> Result<CreatedToken> {
        let tenant = req.tenant.unwrap_or_else(|| caller.tenant.clone());
        syntax::TENANT.check(&tenant)?;
        caller.administers(&tenant)?;
        if req.role > caller.role {
            return Err(Error::new(
                codes::FORBIDDEN,
                format!(
                    "a {} token may not make a {} token",
                    caller.role.as_str(),
                    req.role.as_str()
                ),
                "a superuser makes superuser tokens",
            ));
        }
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
        let (token, info) = self
            .tenancy
            .mint_token(caller, tenant, req.role, expires_at_ms, None)
            .await?;
        let target = format!("{} ({} in {})", info.id, info.role.as_str(), info.tenant);
        self.tenancy.audit(caller, "token.create", &target).await?;
        Ok(CreatedToken { token, info })
    }

    /// Registers `text` as a superuser token of the `default` tenant unless it
    /// is known (the server's `--admin-token-file`); with empty `text`, makes
    /// a new one. Returns the token.
    pub async fn register_admin_token(&self, text: &str) -> Result<String> {
        let local = Caller::local(tenancy::DEFAULT_TENANT);
        if text.is_empty() {
            let req = CreateTokenRequest {
                tenant: None,
                role: Role::Superuser,
                expires_in_s: None,
            };
            return Ok(self.create_token(&local, req).await?.token);
        }
        if let Registered::New(id) = self.tenancy.register_admin_token(text).await? {
            self.tenancy.audit(&local, "token.register", &id).await?;
        }
        Ok(text.to_owned())
    }

    /// Every token, of one tenant or all (a superuser; a tenant's admin
    /// sees its own tenant's); secrets are never shown.
    pub async fn tokens(&self, caller: &Caller, tenant: Option<&str>) -> Result<Vec<Token>> {
        caller.require(Role::Admin)?;
        tenant.map(|t| syntax::TENANT.check(t)).transpose()?;
        let tenant = match caller.role {
            Role::Superuser => tenant,
            _ => {
                caller.administers(tenant.unwrap_or(&caller.tenant))?;
                Some(caller.tenant.as_str())
            }
        };
        self.store.tokens(tenant).await
    }

    /// A token its caller administers, by id (unknown otherwise).
    async fn token_of(&self, caller: &Caller, id: &str, state: &str) -> Result<Token> {
        caller.require(Role::Admin)?;
        syntax::TOKEN_ID.check(id)?;
        let unknown = || {
            Error::new(
                codes::NOT_FOUND,
                format!("no {state} token `{}`", crate::error::echo(id)),
                "list them with `cairn token list`",
            )
        };
        let token = self.store.token(id).await?.ok_or_else(unknown)?;
        caller.administers(&token.tenant).map_err(|_| unknown())?;
        if token.role > caller.role {
            return Err(unknown());
        }
        Ok(token)
    }

    /// Revokes a token at once (its tenant's admin, or a superuser).
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<Token> {
        self.token_of(caller, id, "unrevoked").await?;
        if !self.store.revoke_token(id, now_ms()).await? {
            return Err(Error::new(
                codes::NOT_FOUND,
                format!("no unrevoked token `{}`", crate::error::echo(id)),
                "list them with `cairn token list`",
            ));
        }
        self.tenancy.audit(caller, "token.revoke", id).await?;
        self.store
            .token(id)
            .await?
            .ok_or_else(|| Error::store("a revoked token vanished"))
    }

    /// A console session for a caller that just proved itself with a
    /// token: a token of the same tenant and role for `lasting`, ended with
    /// the token that signed in; its text (the cookie) is the answer.
    pub async fn console_session(&self, caller: &Caller, lasting: Duration) -> Result<String> {
        let until = now_ms().saturating_add(lasting.as_millis() as i64);
        let parent = Some(caller.token.clone());
        let (text, info) = self
            .tenancy
            .mint_token(caller, caller.tenant.clone(), caller.role, Some(until), parent)
            .await?;
        self.tenancy.audit(caller, "console.sign-in", &info.id).await?;
        Ok(text)
    }

    /// Ends the caller's console session (nothing for an open server's).
    pub async fn end_session(&self, caller: &Caller) -> Result<()> {
        let Some(token) = self.store.token(&caller.token).await? else {
            return Ok(());
        };
        if token.session_of.is_some() {
            self.store.revoke_token(&token.id, now_ms()).await?;
            self.tenancy.audit(caller, "console.sign-out", &token.id).await?;
        }
        Ok(())
    }

    /// Confirms a token an unauthenticated server minted, so it works
    /// (a caller that proved itself: a token, or the store itself).
    pub async fn confirm_token(&self, caller: &Caller, id: &str) -> Result<Token> {
        if !caller.vouched() {
            return Err(Error::new(
                codes::FORBIDDEN,
                "a caller without a token cannot confirm tokens",
                "confirm it on the store (`cairn token confirm ID` with --data-dir / --database) or with a token",
            ));
        }
        self.token_of(caller, id, "unconfirmed").await?;
        if !self.store.confirm_token(id, now_ms()).await? {
            return Err(Error::new(
                codes::NOT_FOUND,
                format!("no unconfirmed token `{}`", crate::error::echo(id)),
                "list them with `cairn token list`",
            ));
        }
        self.tenancy.audit(caller, "token.confirm", id).await?;
        self.store
            .token(id)
            .await?
            .ok_or_else(|| Error::store("a confirmed token vanished"))
    }
}
