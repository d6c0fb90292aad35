//! A tenant's journal bytes against its `max_journal_bytes`: the store keeps
//! each execution's journal size (counted as entries are written), and a
//! node reads a tenant's sum again at most once a second (a `TenantCache`,
//! like the quotas). A full
//! tenant's starts are refused (`CAIRN-E031`, 429) and its workflows are
//! parked at their next journaled call; raising the quota and unparking
//! goes on. What nodes write between two reads may pass the quota by that
//! much.

use super::{Caller, Node};
use crate::error::{Error, Result, codes};

impl Node {
    /// The tenant's `max_journal_bytes` when its journals hold that much
    /// or more; none when there is room or no such quota.
    pub(crate) async fn journal_full(&self, tenant: &str) -> Result<Option<u64>> {
        let Some(limit) = self.quotas(tenant).await?.max_journal_bytes else {
            return Ok(None);
        };
        let used = match self.journal_bytes.get(tenant) {
            Some(bytes) => bytes,
            None => {
                let bytes = self.store.journal_bytes(tenant).await?;
                self.journal_bytes.put(tenant, bytes);
                bytes
            }
        };
        Ok((used.max(0) as u64 >= limit).then_some(limit))
    }

    /// Refuses a start of a tenant whose journals are full.
    pub(crate) async fn check_journal_room(&self, caller: &Caller) -> Result<()> {
        match self.journal_full(&caller.tenant).await? {
            Some(limit) => Err(journal_full_error(limit)),
            None => Ok(()),
        }
    }
}

/// The error of a tenant whose journals hold `limit` bytes.
pub(crate) fn journal_full_error(limit: u64) -> Error {
    Error::new(
        codes::QUOTA_EXCEEDED,
        format!("the tenant's quota max_journal_bytes = {limit} is reached"),
        "ask an admin to raise it (cairn tenant update --max-journal-bytes), then `cairn unpark` what it parked",
    )
}
