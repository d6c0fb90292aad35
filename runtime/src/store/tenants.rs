//! Tenants, tokens, tenant-owned components and the audit trail: the
//! statements (one text for both backends: `$n` parameters, each first
//! used in order, which SQLite binds by position too) and their rows.

use super::rows::Row;
use crate::error::{Error, Result, codes};
use crate::model::{AuditRecord, Quotas, Role, Tenant, TenantUsage, Token};

/// A new tenant (nothing when it exists).
pub(super) const CREATE_TENANT: &str =
    "INSERT INTO tenants (name, quotas, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
/// A tenant's new quotas.
pub(super) const UPDATE_TENANT: &str = "UPDATE tenants SET quotas = $1 WHERE name = $2";
/// One tenant.
pub(super) const TENANT: &str = "SELECT name, quotas, created_at FROM tenants WHERE name = $1";
/// Every tenant.
pub(super) const TENANTS: &str = "SELECT name, quotas, created_at FROM tenants ORDER BY name";
/// What a tenant uses.
pub(super) const TENANT_USAGE: &str = "SELECT
    (SELECT COUNT(*) FROM executions WHERE tenant = $1 AND status IN ('running', 'sleeping')),
    (SELECT COUNT(*) FROM executions WHERE tenant = $1),
    (SELECT COUNT(*) FROM executions WHERE tenant = $1 AND status = 'queued'),
    (SELECT COUNT(*) FROM tenant_components WHERE tenant = $1),
    (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM tenant_components WHERE tenant = $1),
    (SELECT CAST(COALESCE(SUM(journal_bytes), 0) AS BIGINT) FROM executions WHERE tenant = $1)";
/// The bytes of a tenant's journals.
pub(super) const JOURNAL_BYTES: &str =
    "SELECT CAST(COALESCE(SUM(journal_bytes), 0) AS BIGINT) FROM executions WHERE tenant = $1";

/// A tenant's executions running or sleeping, and those queued.
pub(super) const LIVE_AND_QUEUED: &str = "SELECT
    (SELECT COUNT(*) FROM executions WHERE tenant = $1 AND status IN ('running', 'sleeping')),
    (SELECT COUNT(*) FROM executions WHERE tenant = $1 AND status = 'queued')";
/// The tenants with queued executions.
pub(super) const QUEUED_TENANTS: &str =
    "SELECT DISTINCT tenant FROM executions WHERE status = 'queued' ORDER BY tenant";
/// The workflow names a tenant's executions ran.
pub(super) const WORKFLOW_NAMES: &str = "SELECT DISTINCT workflow FROM executions WHERE tenant = $1 ORDER BY workflow";
/// A tenant's executions per status (every status, zero included), each
/// counted up to `$2`: a walk of its part of the `(tenant, status,
/// created_at, id)` index in the index's order (so the planner takes the
/// index, whatever its statistics say), however many there are.
pub(super) const STATUS_COUNTS: &str = "SELECT s.status, (SELECT COUNT(*) FROM
        (SELECT 1 FROM executions e WHERE e.tenant = $1 AND e.status = s.status
         ORDER BY e.created_at DESC, e.id DESC LIMIT $2) AS x)
     FROM (SELECT 'completed' AS status UNION ALL SELECT 'continued' UNION ALL SELECT 'failed'
        UNION ALL SELECT 'parked' UNION ALL SELECT 'queued' UNION ALL SELECT 'running'
        UNION ALL SELECT 'sleeping' UNION ALL SELECT 'terminated') AS s
     ORDER BY s.status";
/// Unfinished executions per tenant and status.
pub(super) const OPEN_COUNTS: &str = "SELECT tenant, status, COUNT(*) FROM executions
     WHERE status IN ('running', 'sleeping', 'parked', 'queued') GROUP BY tenant, status ORDER BY tenant, status";
/// Whether a tenant has queued executions (read without locks first, so an
/// admission with nothing to admit writes nothing).
pub(super) const HAS_QUEUED: &str =
    "SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE tenant = $1 AND status = 'queued' LIMIT 1) AS q";
/// Admits (makes runnable) a tenant's `$3` oldest queued executions.
pub(super) const ADMIT: &str = "UPDATE executions SET status = 'running', wake_at = NULL, updated_at = $1
     WHERE id IN (SELECT id FROM executions WHERE tenant = $2 AND status = 'queued' ORDER BY created_at, id LIMIT $3)
     RETURNING id";

/// Locks a tenant's row (PostgreSQL): starts and admissions under its
/// quota take turns across nodes.
pub(super) const LOCK_TENANT: &str = "SELECT name FROM tenants WHERE name = $1 FOR UPDATE";

/// How many queued executions of a tenant with `live` running or sleeping
/// ones may be admitted under `limit` (all of them without one).
pub(super) fn admissible(limit: Option<u64>, live: i64) -> i64 {
    limit.map_or(i64::MAX, |l| (l as i64 - live).max(0))
}

/// Deleting a tenant, in order, in one transaction: component bytes no
/// other tenant owns go first, then its journals, inboxes, executions,
/// deployments, schedules, components, tokens and itself.
pub(super) const DELETE_TENANT: [&str; 9] = [
    "DELETE FROM components WHERE digest IN (SELECT digest FROM tenant_components WHERE tenant = $1)
       AND digest NOT IN (SELECT digest FROM tenant_components WHERE tenant <> $1)
       AND digest NOT IN (SELECT component FROM executions WHERE tenant <> $1)",
    "DELETE FROM journal WHERE execution_id IN (SELECT id FROM executions WHERE tenant = $1)",
    "DELETE FROM inbox WHERE execution_id IN (SELECT id FROM executions WHERE tenant = $1)",
    "DELETE FROM executions WHERE tenant = $1",
    "DELETE FROM deployments WHERE tenant = $1",
    "DELETE FROM schedules WHERE tenant = $1",
    "DELETE FROM tenant_components WHERE tenant = $1",
    "DELETE FROM tokens WHERE tenant = $1",
    "DELETE FROM tenants WHERE name = $1",
];

/// A new token.
pub(super) const PUT_TOKEN: &str =
    "INSERT INTO tokens (id, tenant, role, hash, created_at, expires_at, revoked_at, confirmed_at, session_of)
     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)";
/// Columns of `tokens`, in the order [`token`] reads them.
macro_rules! token_columns {
    () => {
        "id, tenant, role, hash, created_at, expires_at, revoked_at, confirmed_at, session_of"
    };
}
/// One token.
pub(super) const TOKEN: &str = concat!("SELECT ", token_columns!(), " FROM tokens WHERE id = $1");
/// Tokens, of one tenant or all.
pub(super) const TOKENS: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) ORDER BY created_at, id"
);
/// Revokes a token (once).
pub(super) const REVOKE_TOKEN: &str = "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
/// Confirms a token (once).
pub(super) const CONFIRM_TOKEN: &str =
    "UPDATE tokens SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL AND revoked_at IS NULL";
/// How many confirmed tokens still work (a session counts too).
pub(super) const LIVE_TOKENS: &str = "SELECT COUNT(*) FROM tokens
     WHERE confirmed_at IS NOT NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";

/// A tenant's claim on a component (idempotent).
pub(super) const OWN_COMPONENT: &str = "INSERT INTO tenant_components (tenant, digest, size, created_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, digest) DO NOTHING";
/// Whether a tenant owns a component.
pub(super) const OWNS_COMPONENT: &str = "SELECT COUNT(*) FROM tenant_components WHERE tenant = $1 AND digest = $2";

/// A new audit record.
pub(super) const RECORD_AUDIT: &str =
    "INSERT INTO audit (at, token, tenant, action, target) VALUES ($1, $2, $3, $4, $5)";
/// The newest audit records, of one tenant or all.
pub(super) const AUDIT: &str = "SELECT id, at, token, tenant, action, target FROM audit
     WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) ORDER BY id DESC LIMIT $2";

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        codes::STORE,
        format!("a stored {what} cannot be decoded: {e}"),
        "it was changed outside Cairn; fix or delete the row",
    )
}

/// Quotas as stored: JSON text.
pub(super) fn encode_quotas(q: &Quotas) -> String {
    serde_json::to_string(q).expect("quotas encode")
}

/// A `tenants` row.
pub(super) fn tenant(r: &impl Row) -> Result<Tenant> {
    Ok(Tenant {
        name: r.text(0)?,
        quotas: serde_json::from_str(&r.text(1)?).map_err(|e| corrupt("quota set", e))?,
        created_at_ms: r.int(2)?,
    })
}

/// A `TENANT_USAGE` row.
pub(super) fn usage(r: &impl Row) -> Result<TenantUsage> {
    Ok(TenantUsage {
        unfinished_executions: r.int(0)?,
        executions: r.int(1)?,
        queued_executions: r.int(2)?,
        components: r.int(3)?,
        component_bytes: r.int(4)?,
        journal_bytes: r.int(5)?,
        instance_memory_bytes: 0,
    })
}

/// A `tokens` row.
pub(super) fn token(r: &impl Row) -> Result<Token> {
    let role = r.text(2)?;
    Ok(Token {
        id: r.text(0)?,
        tenant: r.text(1)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        hash: r.text(3)?,
        created_at_ms: r.int(4)?,
        expires_at_ms: r.opt_int(5)?,
        revoked_at_ms: r.opt_int(6)?,
        confirmed_at_ms: r.opt_int(7)?,
        session_of: r.opt_text(8)?,
    })
}

/// An `audit` row.
pub(super) fn audit(r: &impl Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.int(0)?,
        at_ms: r.int(1)?,
        token: r.text(2)?,
        tenant: r.text(3)?,
        action: r.text(4)?,
        target: r.text(5)?,
    })
}

#[cfg(test)]
mod tests {
    /// SQLite numbers `$n` parameters by first appearance: each statement
    /// must use `$1`, `$2`, ... first in that order to bind alike on both.
    #[test]
    fn parameters_appear_first_in_order() {
        let mut all = vec![
            super::CREATE_TENANT,
            super::UPDATE_TENANT,
            super::TENANT,
            super::TENANT_USAGE,
            super::PUT_TOKEN,
            super::TOKEN,
            super::TOKENS,
            super::REVOKE_TOKEN,
            super::CONFIRM_TOKEN,
            super::LIVE_TOKENS,
            super::OWN_COMPONENT,
            super::OWNS_COMPONENT,
            super::RECORD_AUDIT,
            super::AUDIT,
        ];
        all.extend(super::DELETE_TENANT);
        for sql in all {
            let mut seen: Vec<u32> = Vec::new();
            let mut rest = sql;
            while let Some(at) = rest.find('$') {
                rest = &rest[at + 1..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let n: u32 = digits.parse().unwrap();
                if !seen.contains(&n) {
                    assert_eq!(n as usize, seen.len() + 1, "{sql}");
                    seen.push(n);
                }
            }
        }
    }
}
