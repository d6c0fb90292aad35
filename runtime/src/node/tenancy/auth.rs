//! Who is asking: API tokens and the [`Caller`] they prove.
//!
//! Every command of the node takes a `Caller`: a tenant, a role and the
//! token that proved them. The caller's tenant turns the names it uses
//! into storage keys ([`Caller::key`]), so another tenant's data is never
//! reached, only "not found". A token is `cairn_<id>_<secret>`; the store
//! keeps the SHA-256 of the secret, never the secret, and the token row is
//! read on every request, so a revocation holds at once on every node.

use super::Tenancy;
use crate::error::{Error, Result, codes};
use crate::model::{Key, Role, Token, now_ms, syntax, tenancy};
use sha2::{Digest, Sha256};

/// Who is asking: the tenant it acts in, its role, and its token's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant acted in.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// Id of the token (`local` for the CLI working on the store itself,
    /// [`OPEN`] for a caller of a server without authentication).
    pub token: String,
}

/// The token id of a caller of a server without authentication: what it
/// mints is not confirmed.
pub(crate) const OPEN: &str = "open";

impl Caller {
    /// The CLI working on the store directly: superuser, in `tenant`.
    pub fn local(tenant: &str) -> Caller {
        Caller {
            tenant: tenant.to_owned(),
            role: Role::Superuser,
            token: "local".into(),
        }
    }

    /// Whether it proved who it is (a token, or access to the store itself).
    pub fn vouched(&self) -> bool {
        self.token != OPEN
    }

    /// Fails unless the caller may administer `tenant`: a superuser any,
    /// an admin only its own (another tenant is "not found", as for any
    /// other token).
    pub(crate) fn administers(&self, tenant: &str) -> Result<()> {
        self.require(Role::Admin)?;
        if self.role == Role::Superuser || self.tenant == tenant {
            return Ok(());
        }
        Err(no_tenant(tenant))
    }

    /// The key of execution `id` in the caller's tenant; `CAIRN-E016`
    /// for an id that is not of the syntax (so a NUL, a `/` or a control
    /// character never reaches a store).
    pub(crate) fn execution(&self, id: &str) -> Result<Key> {
        syntax::EXECUTION.check(id)?;
        Ok(Key::new(&self.tenant, id))
    }

    /// The key of deployment `name` in the caller's tenant (checked).
    pub(crate) fn deployment(&self, name: &str) -> Result<Key> {
        syntax::DEPLOYMENT.check(name)?;
        Ok(Key::new(&self.tenant, name))
    }

    /// The key of schedule `id` in the caller's tenant (checked).
    pub(crate) fn schedule(&self, id: &str) -> Result<Key> {
        syntax::SCHEDULE.check(id)?;
        Ok(Key::new(&self.tenant, id))
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
            "use a token with a stronger role: read < operate < deploy < admin < superuser",
        ))
    }
}

/// The parts of a token: its public id and its secret.
fn parse_token(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("cairn_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then_some((id, secret))
}

/// Fails unless `token` is neither revoked nor expired.
fn alive(token: &Token) -> Result<()> {
    if token.revoked_at_ms.is_some() {
        return Err(unauthenticated("the token has been revoked"));
    }
    if token.expires_at_ms.is_some_and(|at| at <= now_ms()) {
        return Err(unauthenticated("the token has expired"));
    }
    Ok(())
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

/// The error of a tenant that does not exist.
pub(crate) fn no_tenant(name: &str) -> Error {
    Error::new(
        codes::NOT_FOUND,
        format!("no tenant `{}`", crate::error::echo(name)),
        "list them with `cairn tenant list` (admin)",
    )
}

/// What registering a known token text did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registered {
    /// The store knew it already.
    Known,
    /// It was stored now, under this id.
    New(String),
}

impl Tenancy {
    /// Who an `Authorization` header proves the caller to be (`CAIRN-E028`
    /// when it proves nothing), acting in `tenant` when given: an admin may
    /// act in any tenant, every other role only in its own (another tenant
    /// is "not found").
    pub(crate) async fn authenticate(&self, authorization: Option<&str>, tenant: Option<&str>) -> Result<Caller> {
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
        alive(&token)?;
        if token.confirmed_at_ms.is_none() {
            return Err(Error::new(
                codes::UNAUTHENTICATED,
                "the token was minted by a server without authentication and nobody confirmed it",
                format!(
                    "an operator confirms it on the store: `cairn token confirm {}` (or revokes it)",
                    token.id
                ),
            ));
        }
        if let Some(parent) = &token.session_of {
            // A console session ends with the token that signed in.
            match self.store.token(parent).await? {
                Some(p) => alive(&p)?,
                None => return Err(unauthenticated("the session's token is gone")),
            }
        }
        let acting = match tenant {
            Some(t) if t != token.tenant => {
                syntax::TENANT.check(t)?;
                if token.role != Role::Superuser || self.store.tenant(t).await?.is_none() {
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
    /// superuser, in `tenant` (default: `default`) if it exists.
    pub(crate) async fn open_caller(&self, tenant: Option<&str>) -> Result<Caller> {
        let name = tenant.unwrap_or(tenancy::DEFAULT_TENANT);
        syntax::TENANT.check(name)?;
        if name != tenancy::DEFAULT_TENANT && self.store.tenant(name).await?.is_none() {
            return Err(no_tenant(name));
        }
        Ok(Caller {
            token: OPEN.into(),
            ..Caller::local(name)
        })
    }

    /// Whether a server must ask for tokens whatever its flags say: the
    /// store holds a confirmed token that works (read at most
    /// [`super::QUOTA_TTL`] ago).
    pub(crate) async fn requires_token(&self) -> Result<bool> {
        if let Some(known) = self.tokens_live.get("") {
            return Ok(known);
        }
        let live = self.store.has_live_tokens(now_ms()).await?;
        self.tokens_live.put("", live);
        Ok(live)
    }

    /// Makes and stores a new token of `tenant`: the text to send (shown
    /// this once) and what is stored of it. `minted_by` vouches for it
    /// unless it is an unauthenticated caller; a console session names the
    /// token it belongs to.
    pub(crate) async fn mint_token(
        &self,
        minted_by: &Caller,
        tenant: String,
        role: Role,
        expires_at_ms: Option<i64>,
        session_of: Option<String>,
    ) -> Result<(String, Token)> {
        let id = hex::encode(rand::random::<[u8; 6]>());
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let info = Token {
            id: id.clone(),
            tenant,
            role,
            hash: hash_secret(&secret),
            created_at_ms: now_ms(),
            expires_at_ms,
            revoked_at_ms: None,
            confirmed_at_ms: minted_by.vouched().then(now_ms),
            session_of,
        };
        self.store.put_token(&info).await?;
        Ok((format!("cairn_{id}_{secret}"), info))
    }

    /// Stores `text` as an admin token of the `default` tenant unless the
    /// store knows it (the server's `--admin-token-file`).
    pub(crate) async fn register_admin_token(&self, text: &str) -> Result<Registered> {
        let (id, secret) = parse_token(text).ok_or_else(|| {
            Error::invalid(
                "the admin token file does not hold a Cairn token",
                "put one token (cairn_<12 hex>_<64 hex>) in it, or remove the file to have one made",
            )
        })?;
        match self.store.token(id).await? {
            Some(t) if t.hash == hash_secret(secret) && t.role == Role::Superuser => Ok(Registered::Known),
            Some(_) => Err(Error::invalid(
                "the admin token file's token id is taken by another token",
                "remove the file to have a new token made",
            )),
            None => {
                self.store
                    .put_token(&Token {
                        id: id.to_owned(),
                        tenant: tenancy::DEFAULT_TENANT.to_owned(),
                        role: Role::Superuser,
                        hash: hash_secret(secret),
                        created_at_ms: now_ms(),
                        expires_at_ms: None,
                        revoked_at_ms: None,
                        confirmed_at_ms: Some(now_ms()),
                        session_of: None,
                    })
                    .await?;
                Ok(Registered::New(id.to_owned()))
            }
        }
    }
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
        assert_eq!(caller.execution("x").unwrap().as_str(), "acme/x");
        for bad in ["a\0b", "b/x", "", "..", "a b"] {
            assert_eq!(
                caller.execution(bad).unwrap_err().code,
                codes::INVALID_ARGUMENT,
                "{bad:?}"
            );
        }
        assert!(caller.deployment("a@1").is_err() && caller.schedule("n.1").is_ok());
    }
}
