//! Quota checks: payload and component sizes, component counts, a
//! tenant's journal bytes, and the HTTP hosts its activities may reach.
//! Hitting a size or count answers `CAIRN-E031` (429) naming the limit and
//! its value; a host outside the policy, `CAIRN-E032`.
//!
//! Journal bytes: the store keeps each execution's journal size (counted
//! as entries are written) and the tenant's sum is read again at most once
//! a [`super::QUOTA_TTL`]. A full tenant's starts are refused and its
//! workflows are parked at their next journaled call; raising the quota and
//! unparking goes on. What nodes write between two reads may pass the
//! quota by that much.

use super::{Caller, Tenancy};
use crate::error::{Error, Result, codes};
use crate::model::{Bindings, Quotas};

fn quota_hit(limit: &str, value: u64, hint: &str) -> Error {
    Error::new(
        codes::QUOTA_EXCEEDED,
        format!("the tenant's quota {limit} = {value} is reached"),
        hint.to_owned(),
    )
}

/// The refusal of a payload past `max_payload_bytes` = `max`, answered
/// after the refusal pause (a client sending large bodies in a loop gets
/// few answers).
pub(crate) async fn payload_quota_hit(max: u64) -> Error {
    super::rates::refusal_pause().await;
    quota_hit(
        "max_payload_bytes",
        max,
        "send a smaller payload (pass large data by reference), or ask an admin to raise it",
    )
}

/// The error of a tenant whose journals hold `limit` bytes.
fn journal_full_error(limit: u64) -> Error {
    Error::new(
        codes::QUOTA_EXCEEDED,
        format!("the tenant's quota max_journal_bytes = {limit} is reached"),
        "ask an admin to raise it (cairn tenant update --max-journal-bytes), then `cairn unpark` what it parked",
    )
}

/// Room in a request body for what surrounds its payload (a workflow's
/// name, an id, a signal's name).
const ENVELOPE_BYTES: u64 = 16 << 10;

impl Tenancy {
    /// The tenant's `max_payload_bytes` and the largest request body it
    /// can send with a payload within it.
    pub(crate) async fn body_limit(&self, caller: &Caller) -> Result<Option<(u64, u64)>> {
        Ok(self
            .quotas(&caller.tenant)
            .await?
            .max_payload_bytes
            .map(|max| (max, max.saturating_add(ENVELOPE_BYTES))))
    }

    /// Refuses a payload larger than the tenant's `max_payload_bytes`.
    pub(crate) async fn check_payload(&self, caller: &Caller, payload: &str) -> Result<()> {
        if let Some(max) = self.quotas(&caller.tenant).await?.max_payload_bytes
            && payload.len() as u64 > max
        {
            return Err(payload_quota_hit(max).await);
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
    /// they did not exist) or of HTTP hosts its policy does not allow; a
    /// tenant allowed no host at all may not deploy an activity whose
    /// imports (`imports_of` a digest) name `wasi:http`.
    pub(crate) async fn check_capabilities<F, Fut>(
        &self,
        caller: &Caller,
        workflow: &str,
        bindings: &Bindings,
        imports_of: F,
    ) -> Result<()>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<String>>>,
    {
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
        if quotas.http_hosts.as_ref().is_some_and(Vec::is_empty) {
            for digest in &bindings.activities {
                let imports = imports_of(digest.clone()).await?;
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

    /// The error naming the tenant's `max_journal_bytes` when its journals
    /// hold that much or more; none when there is room or no such quota.
    pub(crate) async fn journal_full(&self, tenant: &str) -> Result<Option<Error>> {
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
        Ok((used.max(0) as u64 >= limit).then(|| journal_full_error(limit)))
    }

    /// Refuses a start of a tenant whose journals are full.
    pub(crate) async fn check_journal_room(&self, caller: &Caller) -> Result<()> {
        match self.journal_full(&caller.tenant).await? {
            Some(full) => Err(full),
            None => Ok(()),
        }
    }
}

/// Refuses quotas that could never be met.
pub(crate) fn check_quotas(q: &Quotas) -> Result<()> {
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
    // Caps are quotas too (checked alike, at any depth).
    q.caps.as_deref().map_or(Ok(()), check_quotas)
}
