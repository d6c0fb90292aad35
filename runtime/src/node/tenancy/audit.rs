//! The audit trail: tenant and token management, deploy, cancel,
//! terminate and unpark are recorded with the token that did them
//! (`cairn audit`).

use super::{Caller, Tenancy};
use crate::error::{Error, Result};
use crate::model::{AuditRecord, Role, syntax};
use serde::{Deserialize, Serialize};

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

impl Tenancy {
    /// Records an audited action of `caller` on `target`.
    pub(crate) async fn audit(&self, caller: &Caller, action: &str, target: &str) -> Result<()> {
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
    pub(crate) async fn audit_records(&self, caller: &Caller, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        q.tenant.as_deref().map(|t| syntax::TENANT.check(t)).transpose()?;
        let tenant = match caller.role {
            Role::Superuser => q.tenant.as_deref(),
            _ => {
                caller.administers(q.tenant.as_deref().unwrap_or(&caller.tenant))?;
                Some(caller.tenant.as_str())
            }
        };
        let limit = q.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid(
                format!("limit {limit} is out of range"),
                "ask for 1 to 1000 records",
            ));
        }
        self.store.audit(tenant, limit).await
    }
}
