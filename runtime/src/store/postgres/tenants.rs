//! [`TenantStore`] on PostgreSQL.

use super::{PostgresStore, map_all, pg_err};
use crate::error::Result;
use crate::model::{AuditRecord, Key, Quotas, Tenant, TenantUsage, Token, now_ms};
use crate::store::TenantStore;
use crate::store::tenants::{self as sql, encode_quotas};
use async_trait::async_trait;

#[async_trait]
impl TenantStore for PostgresStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool> {
        let quotas = encode_quotas(&tenant.quotas);
        Ok(self
            .execute(sql::CREATE_TENANT, &[&tenant.name, &quotas, &tenant.created_at_ms])
            .await?
            == 1)
    }

    async fn update_tenant(&self, name: &str, quotas: &Quotas) -> Result<bool> {
        Ok(self
            .execute(sql::UPDATE_TENANT, &[&encode_quotas(quotas), &name])
            .await?
            == 1)
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        self.query(sql::TENANT, &[&name])
            .await?
            .first()
            .map(sql::tenant)
            .transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        map_all(&self.query(sql::TENANTS, &[]).await?, sql::tenant)
    }

    async fn tenant_usage(&self, name: &str) -> Result<TenantUsage> {
        let rows = self.query(sql::TENANT_USAGE, &[&name]).await?;
        Ok(rows.first().map(sql::usage).transpose()?.unwrap_or_default())
    }

    async fn journal_bytes(&self, tenant: &str) -> Result<i64> {
        Ok(self.query(sql::JOURNAL_BYTES, &[&tenant]).await?[0].get(0))
    }

    async fn queued_tenants(&self) -> Result<Vec<String>> {
        let rows = self.query(sql::QUEUED_TENANTS, &[]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn workflow_names(&self, tenant: &str) -> Result<Vec<Key>> {
        let rows = self.query(sql::WORKFLOW_NAMES, &[&tenant]).await?;
        Ok(rows.iter().map(|r| Key::stored(r.get::<_, String>(0))).collect())
    }

    async fn status_counts(&self, tenant: &str, at_most: i64) -> Result<Vec<(String, i64)>> {
        let rows = self.query(sql::STATUS_COUNTS, &[&tenant, &at_most]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn open_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self.query(sql::OPEN_COUNTS, &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    async fn admit(&self, tenant: &str, limit: Option<u64>) -> Result<Vec<Key>> {
        let queued: i64 = self.query(sql::HAS_QUEUED, &[&tenant]).await?[0].get(0);
        if queued == 0 {
            return Ok(Vec::new());
        }
        let _turn = self.tenant_turn(tenant).await;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.query(sql::LOCK_TENANT, &[&tenant]).await.map_err(pg_err)?;
        let row = tx.query_one(sql::LIVE_AND_QUEUED, &[&tenant]).await.map_err(pg_err)?;
        let (live, queued): (i64, i64) = (row.get(0), row.get(1));
        let room = sql::admissible(limit, live).min(queued);
        if room == 0 {
            return Ok(Vec::new());
        }
        let rows = tx
            .query(sql::ADMIT, &[&now_ms(), &tenant, &room])
            .await
            .map_err(pg_err)?;
        if !rows.is_empty() {
            tx.execute(super::sql::NOTIFY_WORK, &[]).await.map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(rows.iter().map(|r| Key::stored(r.get::<_, String>(0))).collect())
    }

    async fn delete_tenant(&self, name: &str) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let mut deleted = 0;
        for statement in sql::DELETE_TENANT {
            deleted = tx.execute(statement, &[&name]).await.map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(deleted == 1)
    }

    async fn put_token(&self, t: &Token) -> Result<()> {
        self.execute(
            sql::PUT_TOKEN,
            &[
                &t.id,
                &t.tenant,
                &t.role.as_str(),
                &t.hash,
                &t.created_at_ms,
                &t.expires_at_ms,
                &t.confirmed_at_ms,
                &t.session_of,
            ],
        )
        .await?;
        Ok(())
    }

    async fn token(&self, id: &str) -> Result<Option<Token>> {
        self.query(sql::TOKEN, &[&id])
            .await?
            .first()
            .map(sql::token)
            .transpose()
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<Token>> {
        map_all(&self.query(sql::TOKENS, &[&tenant]).await?, sql::token)
    }

    async fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool> {
        Ok(self.execute(sql::REVOKE_TOKEN, &[&at_ms, &id]).await? == 1)
    }

    async fn confirm_token(&self, id: &str, at_ms: i64) -> Result<bool> {
        Ok(self.execute(sql::CONFIRM_TOKEN, &[&at_ms, &id]).await? == 1)
    }

    async fn has_live_tokens(&self, now_ms: i64) -> Result<bool> {
        let rows = self.query(sql::LIVE_TOKENS, &[&now_ms]).await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0) > 0)
    }

    async fn own_component(&self, tenant: &str, digest: &str, size: i64) -> Result<()> {
        self.execute(sql::OWN_COMPONENT, &[&tenant, &digest, &size, &now_ms()])
            .await?;
        Ok(())
    }

    async fn owns_component(&self, tenant: &str, digest: &str) -> Result<bool> {
        let rows = self.query(sql::OWNS_COMPONENT, &[&tenant, &digest]).await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)) == Some(1))
    }

    async fn record_audit(&self, a: &AuditRecord) -> Result<()> {
        self.execute(
            sql::RECORD_AUDIT,
            &[&now_ms(), &a.token, &a.tenant, &a.action, &a.target],
        )
        .await?;
        Ok(())
    }

    async fn audit(&self, tenant: Option<&str>, limit: u32) -> Result<Vec<AuditRecord>> {
        let limit = i64::from(limit);
        map_all(&self.query(sql::AUDIT, &[&tenant, &limit]).await?, sql::audit)
    }
}
