//! The worker loop of `cairn server`: claim runnable executions, run them,
//! repeat. Several nodes run this loop against one database and share the
//! work; a dead node's leases expire and its executions are claimed and
//! replayed by the others. The loop sleeps until something may be
//! claimable — work created here, a notification from another node, a
//! timer of this node coming due — and only falls back on looking again
//! after `NodeConfig::fallback`.

use super::{Node, Outcome};
use crate::engine::fair::{Metered, TenantCell};
use crate::error::escaped;
use crate::model::{Lease, StoreEvent, now_ms};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

impl Node {
    /// Claims and runs executions until `shutdown` resolves. Store failures
    /// are retried with backoff; nothing is lost while the database is away.
    pub async fn serve(self: &Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        let mut next_schedules = tokio::time::Instant::now();
        self.start_renewer();
        self.heartbeat().await;
        tracing::info!("node {} serving", self.id);
        loop {
            // Registered before claiming, so work announced meanwhile is not missed.
            let work = self.wakeups.work().notified();
            let freed = self.slots.freed().notified();
            let wanted = self.slots.free().min(64) as u32;
            let claimed = if wanted == 0 {
                Ok(Vec::new())
            } else {
                let full = self.slots.full_tenants();
                self.store
                    .claim_runnable(&self.id, self.lease_ms(), wanted, &full)
                    .await
            };
            let idle = match claimed {
                Ok(leases) => {
                    backoff = Duration::from_millis(100);
                    let full = leases.len() as u32 == wanted && wanted > 0;
                    for lease in leases {
                        let slot = self.slots.take(lease.execution_id.tenant()).await;
                        let node = self.clone();
                        tokio::spawn(async move {
                            node.serve_one(lease).await;
                            drop(slot);
                        });
                    }
                    !full
                }
                Err(e) => {
                    tracing::warn!("claiming work failed ({}); retrying in {backoff:?}", e.message);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut shutdown => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if tokio::time::Instant::now() >= next_schedules {
                match self.tenancy.admit_all().await {
                    Ok(admitted) if admitted > 0 => self.announce(StoreEvent::Work),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("admitting queued executions failed: {}", e.message),
                }
                match self.fire_due_schedules().await {
                    Ok((fired, next_due)) => {
                        let until = Duration::from_millis((next_due - now_ms()).max(0) as u64);
                        next_schedules = tokio::time::Instant::now() + until.min(self.config.fallback);
                        if fired > 0 {
                            continue;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("firing schedules failed: {}", e.message);
                        next_schedules = tokio::time::Instant::now() + self.config.fallback;
                    }
                }
            }
            if idle || wanted == 0 {
                let until_schedules = next_schedules.saturating_duration_since(tokio::time::Instant::now());
                tokio::select! {
                    _ = work => {}
                    _ = freed => {}
                    _ = tokio::time::sleep(until_schedules.min(self.config.fallback)) => {}
                    _ = &mut shutdown => break,
                }
            }
        }
        tracing::info!("node {} stopping", self.id);
    }

    /// Runs one execution leased to this node for one activation. A long
    /// wait ends the activation; a local timer wakes the claim loop when it
    /// is due (any node may take it then).
    pub(super) async fn serve_one(&self, lease: Lease) {
        let id = lease.execution_id.clone();
        let tenant = TenantCell::of(id.tenant());
        let outcome = Metered::new(&self.fair, tenant, self.drive(lease.clone())).await;
        if matches!(
            outcome,
            Ok(Outcome::Completed(_) | Outcome::Continued(_) | Outcome::Failed(_) | Outcome::Parked(_))
        ) {
            self.admit_after(&id).await;
        }
        match outcome {
            Ok(Outcome::Sleeping(wake_at)) => {
                let weak = self.me.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis((wake_at - now_ms()).max(0) as u64)).await;
                    if let Some(node) = weak.upgrade() {
                        node.announce(StoreEvent::Work);
                    }
                });
            }
            Ok(Outcome::Completed(_)) => tracing::debug!("execution {} completed", id.as_str()),
            Ok(Outcome::Continued(next)) => {
                tracing::debug!("execution {} continued as {}", id.as_str(), next.as_str())
            }
            Ok(Outcome::Failed(e)) => tracing::info!("execution {} failed: {}", id.as_str(), escaped(&e.message)),
            Ok(Outcome::Parked(e)) => tracing::warn!("execution {} parked: {}", id.as_str(), escaped(&e.message)),
            Ok(Outcome::LeaseLost) => {
                tracing::warn!("execution {}: lease lost to another node; stopped here", id.as_str())
            }
            Err(e) => {
                tracing::warn!(
                    "execution {}: {}; releasing it for a retry",
                    id.as_str(),
                    escaped(&e.message)
                );
                let _ = self.store.release(&lease).await;
            }
        }
    }
}
