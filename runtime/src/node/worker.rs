//! The worker loop of `cairn server`: claim runnable executions, run them,
//! repeat. Several nodes run this loop against one database and share the
//! work; a dead node's leases expire and its executions are claimed and
//! replayed by the others.

use super::{Node, Outcome};
use crate::model::{Lease, now_ms};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Settings of the server loop.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Executions this node runs at once.
    pub max_concurrent: usize,
    /// Longest wait between two claim attempts when idle (the polling
    /// fallback; notifications wake the loop earlier).
    pub poll: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_concurrent: 256,
            poll: Duration::from_millis(200),
        }
    }
}

impl Node {
    /// Claims and runs executions until `shutdown` resolves. Store failures
    /// are retried with backoff; nothing is lost while the database is away.
    pub async fn serve(self: &Arc<Self>, options: ServerOptions, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(options.max_concurrent.max(1)));
        let wake = Arc::new(Notify::new());
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        let mut last_schedules = std::time::Instant::now() - options.poll;
        self.start_renewer();
        if let Err(e) = self.store.heartbeat(&self.id, self.started_at_ms).await {
            tracing::warn!("heartbeat failed: {}", e.message);
        }
        tracing::info!("node {} serving", self.id);
        loop {
            let free = slots.available_permits();
            let wanted = free.min(64) as u32;
            let claimed = if wanted == 0 {
                Ok(Vec::new())
            } else {
                self.store.claim_runnable(&self.id, self.lease_ms(), wanted).await
            };
            let idle = match claimed {
                Ok(leases) => {
                    backoff = Duration::from_millis(100);
                    let full = leases.len() as u32 == wanted && wanted > 0;
                    for lease in leases {
                        let permit = slots.clone().acquire_owned().await.expect("never closed");
                        let (node, wake) = (self.clone(), wake.clone());
                        tokio::spawn(async move {
                            node.serve_one(lease, wake).await;
                            drop(permit);
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
            if last_schedules.elapsed() >= options.poll {
                last_schedules = std::time::Instant::now();
                match self.fire_due_schedules().await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!("firing schedules failed: {}", e.message),
                }
            }
            if idle || wanted == 0 {
                tokio::select! {
                    _ = self.store.wait_for_work(options.poll) => {}
                    _ = wake.notified() => {}
                    _ = self.wake_claims.notified() => {}
                    _ = &mut shutdown => break,
                }
            }
        }
        tracing::info!("node {} stopping", self.id);
    }

    /// Runs one claimed execution for one activation. A long sleep ends the
    /// activation; a local timer wakes the claim loop when it is due (any
    /// node may take it then).
    async fn serve_one(&self, lease: Lease, wake: Arc<Notify>) {
        let id = lease.execution_id.clone();
        match self.drive(lease.clone()).await {
            Ok(Outcome::Sleeping(wake_at)) => {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis((wake_at - now_ms()).max(0) as u64)).await;
                    wake.notify_one();
                });
            }
            Ok(Outcome::Completed(_)) => tracing::debug!("execution {id} completed"),
            Ok(Outcome::Continued(next)) => tracing::debug!("execution {id} continued as {next}"),
            Ok(Outcome::Failed(e)) => tracing::info!("execution {id} failed: {}", e.message),
            Ok(Outcome::Parked(e)) => tracing::warn!("execution {id} parked: {}", e.message),
            Ok(Outcome::LeaseLost) => tracing::warn!("execution {id}: lease lost to another node; stopped here"),
            Err(e) => {
                tracing::warn!("execution {id}: {}; releasing it for a retry", e.message);
                let _ = self.store.release(&lease).await;
            }
        }
    }
}
