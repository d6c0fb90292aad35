//! [`TenantStore`] on SQLite.

use super::{SqliteStore, execute, query_all, query_one};
use crate::error::Result;
use crate::model::{AuditRecord, Key, Quotas, Tenant, TenantUsage, Token, now_ms};
use crate::store::TenantStore;
use crate::store::rows::Row;
use crate::store::tenants::{self as sql, encode_quotas};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool> {
        let (name, quotas, at) = (tenant.name.clone(), encode_quotas(&tenant.quotas), tenant.created_at_ms);
        self.write(move |c| Ok(execute(c, sql::CREATE_TENANT, params![name, quotas, at])? == 1))
            .await
    }

    async fn update_tenant(&self, name: &str, quotas: &Quotas) -> Result<bool> {
        let (name, quotas) = (name.to_owned(), encode_quotas(quotas));
        self.write(move |c| Ok(execute(c, sql::UPDATE_TENANT, params![quotas, name])? == 1))
            .await
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        let name = name.to_owned();
        self.read(move |c| query_one(c, sql::TENANT, [name], |r| sql::tenant(r)))
            .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|c| query_all(c, sql::TENANTS, [], |r| sql::tenant(r))).await
    }

    async fn tenant_usage(&self, name: &str) -> Result<TenantUsage> {
        let name = name.to_owned();
        self.read(move |c| Ok(query_one(c, sql::TENANT_USAGE, [name], |r| sql::usage(r))?.unwrap_or_default()))
            .await
    }

    async fn journal_bytes(&self, tenant: &str) -> Result<i64> {
        let tenant = tenant.to_owned();
        self.read(move |c| query_one(c, sql::JOURNAL_BYTES, [tenant], |r| r.int(0)))
            .await
            .map(Option::unwrap_or_default)
    }

    async fn queued_tenants(&self) -> Result<Vec<String>> {
        self.read(|c| query_all(c, sql::QUEUED_TENANTS, [], |r| r.text(0)))
            .await
    }

    async fn workflow_names(&self, tenant: &str) -> Result<Vec<Key>> {
        let tenant = tenant.to_owned();
        self.read(move |c| query_all(c, sql::WORKFLOW_NAMES, [tenant], |r| r.key(0)))
            .await
    }

    async fn status_counts(&self, tenant: &str, at_most: i64) -> Result<Vec<(String, i64)>> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let params = params![tenant, at_most];
            query_all(c, sql::STATUS_COUNTS, params, |r| Ok((r.text(0)?, r.int(1)?)))
        })
        .await
    }

    async fn open_counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.read(|c| query_all(c, sql::OPEN_COUNTS, [], |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?))))
            .await
    }

    async fn admit(&self, tenant: &str, limit: Option<u64>) -> Result<Vec<Key>> {
        let tenant = tenant.to_owned();
        let t = tenant.clone();
        if self
            .read(move |c| query_one(c, sql::HAS_QUEUED, [t], |r| r.int(0)))
            .await?
            == Some(0)
        {
            return Ok(Vec::new());
        }
        self.write(move |c| {
            let (live, queued) =
                query_one(c, sql::LIVE_AND_QUEUED, [&tenant], |r| Ok((r.int(0)?, r.int(1)?)))?.unwrap_or((0, 0));
            let room = sql::admissible(limit, live).min(queued);
            if room == 0 {
                return Ok(Vec::new());
            }
            query_all(c, sql::ADMIT, params![now_ms(), tenant, room], |r| r.key(0))
        })
        .await
    }

    async fn delete_tenant(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |c| {
            let mut deleted = 0;
            for statement in sql::DELETE_TENANT {
                deleted = execute(c, statement, [&name])?;
            }
            Ok(deleted == 1)
        })
        .await
    }

    async fn put_token(&self, token: &Token) -> Result<()> {
        let t = token.clone();
        self.write(move |c| {
            execute(
                c,
                sql::PUT_TOKEN,
                params![
                    t.id,
                    t.tenant,
                    t.role.as_str(),
                    t.hash,
                    t.created_at_ms,
                    t.expires_at_ms,
                    t.confirmed_at_ms,
                    t.session_of
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn token(&self, id: &str) -> Result<Option<Token>> {
        let id = id.to_owned();
        self.read(move |c| query_one(c, sql::TOKEN, [id], |r| sql::token(r)))
            .await
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<Token>> {
        let tenant = tenant.map(str::to_owned);
        self.read(move |c| query_all(c, sql::TOKENS, [tenant], |r| sql::token(r)))
            .await
    }

    async fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| Ok(execute(c, sql::REVOKE_TOKEN, params![at_ms, id])? == 1))
            .await
    }

    async fn confirm_token(&self, id: &str, at_ms: i64) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| Ok(execute(c, sql::CONFIRM_TOKEN, params![at_ms, id])? == 1))
            .await
    }

    async fn has_live_tokens(&self, now_ms: i64) -> Result<bool> {
        self.read(move |c| {
            Ok(query_one(c, sql::LIVE_TOKENS, [now_ms], |r| {
                r.get::<_, i64>(0).map_err(super::sql_err)
            })?
            .is_some_and(|n| n > 0))
        })
        .await
    }

    async fn own_component(&self, tenant: &str, digest: &str, size: i64) -> Result<()> {
        let (tenant, digest) = (tenant.to_owned(), digest.to_owned());
        self.write(move |c| {
            execute(c, sql::OWN_COMPONENT, params![tenant, digest, size, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn owns_component(&self, tenant: &str, digest: &str) -> Result<bool> {
        let (tenant, digest) = (tenant.to_owned(), digest.to_owned());
        self.read(move |c| {
            Ok(query_one(c, sql::OWNS_COMPONENT, [tenant, digest], |r| {
                r.get::<_, i64>(0).map_err(super::sql_err)
            })? == Some(1))
        })
        .await
    }

    async fn record_audit(&self, record: &AuditRecord) -> Result<()> {
        let a = record.clone();
        self.write(move |c| {
            execute(
                c,
                sql::RECORD_AUDIT,
                params![now_ms(), a.token, a.tenant, a.action, a.target],
            )?;
            Ok(())
        })
        .await
    }

    async fn audit(&self, tenant: Option<&str>, limit: u32) -> Result<Vec<AuditRecord>> {
        let tenant = tenant.map(str::to_owned);
        self.read(move |c| query_all(c, sql::AUDIT, params![tenant, limit], |r| sql::audit(r)))
            .await
    }
}
