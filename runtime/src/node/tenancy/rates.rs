//! Per-tenant rate limits: a token bucket per tenant and kind of call (API
//! requests, starts, signals, timers), refilled at the quota's rate and
//! holding at most one second's worth. An API call finding its bucket empty
//! is refused with `CAIRN-E034` and the seconds until a token is back
//! (`Retry-After`); a workflow starting a timer waits for the token instead
//! (its code cannot take a refusal).
//! Buckets live in each node, and each node refills a tenant's at its
//! share of the rate (the rate ÷ the live nodes, counted at heartbeats), so
//! a balancer spreading requests over several nodes gives a tenant its rate
//! in all, not once per node (Temporal's frontends share a namespace's rate
//! the same way).
//!
//! A refusal is answered after about [`REFUSAL_PAUSE`] (jittered ±50 %): a
//! client that ignores `Retry-After` and asks again at once gets at most one
//! answer per pause per connection, so its refusals cannot become the load
//! that slows other tenants down; and many refused clients do not come back
//! in step, so what the bucket admits arrives spread out, not in waves of
//! simultaneous starts (which doubled another tenant's p99). A client
//! within its rate never waits.

use super::{Caller, Tenancy};
use crate::error::{Error, Result, codes};
use crate::model::Quotas;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a refused call waits before it is answered.
pub(crate) const REFUSAL_PAUSE: Duration = Duration::from_millis(100);

/// A kind of call with a per-second quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rate {
    /// Any API request (`requests_per_second`).
    Requests,
    /// Starting an execution (`starts_per_second`).
    Starts,
    /// Sending a signal (`signals_per_second`).
    Signals,
    /// A workflow starting a timer (`timers_per_second`).
    Timers,
}

impl Rate {
    /// The quota's name.
    fn name(self) -> &'static str {
        match self {
            Rate::Requests => "requests_per_second",
            Rate::Starts => "starts_per_second",
            Rate::Signals => "signals_per_second",
            Rate::Timers => "timers_per_second",
        }
    }

    /// The tenant's rate for this kind, if it has one.
    fn of(self, q: &Quotas) -> Option<u64> {
        match self {
            Rate::Requests => q.requests_per_second,
            Rate::Starts => q.starts_per_second,
            Rate::Signals => q.signals_per_second,
            Rate::Timers => q.timers_per_second,
        }
    }
}

/// One bucket: its tokens as of `at`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one node.
#[derive(Default)]
pub(super) struct Rates(Mutex<HashMap<(String, Rate), Bucket>>);

impl Rates {
    /// Takes a token at `per_second` (burst: one second's worth, at least
    /// one token), or says how long until one is back.
    fn take(&self, tenant: &str, kind: Rate, per_second: f64, now: Instant) -> std::result::Result<(), Duration> {
        let rate = per_second.max(0.001);
        let mut buckets = self.0.lock().unwrap();
        let bucket = buckets.entry((tenant.to_owned(), kind)).or_insert(Bucket {
            tokens: rate.max(1.0),
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate.max(1.0));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Waits before a refusal is answered, jittered (½ to 1½ pauses): refused
/// clients do not come back in step, so what the bucket admits arrives
/// spread out, not in waves.
pub(super) async fn refusal_pause() {
    tokio::time::sleep(REFUSAL_PAUSE.mul_f64(0.5 + rand::random::<f64>())).await;
}

impl Tenancy {
    /// Counts one call of `kind` against the caller's tenant's rate.
    pub(crate) async fn check_rate(&self, caller: &Caller, kind: Rate) -> Result<()> {
        let Some(limit) = kind.of(&self.quotas(&caller.tenant).await?) else {
            return Ok(());
        };
        let Err(wait) = self.rates.take(&caller.tenant, kind, self.share(limit), Instant::now()) else {
            return Ok(());
        };
        refusal_pause().await;
        Err(Error::new(
            codes::RATE_LIMITED,
            format!("the tenant's quota {} = {limit} is reached", kind.name()),
            "slow down and retry after the seconds in Retry-After, or ask an admin to raise the quota",
        )
        .retry_after(wait.as_secs_f64().ceil().max(1.0) as u64))
    }

    /// This node's share of a tenant's rate.
    fn share(&self, per_second: u64) -> f64 {
        per_second as f64 / self.live_nodes() as f64
    }

    /// Waits until `tenant` may make one call of `kind` (at once within its
    /// rate or without one).
    pub(crate) async fn await_rate(&self, tenant: &str, kind: Rate) {
        loop {
            let Ok(Some(limit)) = self.quotas(tenant).await.map(|q| kind.of(&q)) else {
                return;
            };
            match self.rates.take(tenant, kind, self.share(limit), Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_second_and_refills_at_its_rate() {
        let rates = Rates::default();
        let t0 = Instant::now();
        for _ in 0..10 {
            rates.take("a", Rate::Starts, 10.0, t0).unwrap();
        }
        let wait = rates.take("a", Rate::Starts, 10.0, t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            rates.take("b", Rate::Starts, 10.0, t0).is_ok(),
            "tenants have their own"
        );
        assert!(rates.take("a", Rate::Signals, 10.0, t0).is_ok(), "kinds have their own");
        let later = t0 + Duration::from_millis(250);
        for _ in 0..2 {
            rates.take("a", Rate::Starts, 10.0, later).unwrap();
        }
        assert!(
            rates.take("a", Rate::Starts, 10.0, later).is_err(),
            "2.5 tokens came back"
        );
        let much_later = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            rates.take("a", Rate::Starts, 10.0, much_later).unwrap();
        }
        assert!(
            rates.take("a", Rate::Starts, 10.0, much_later).is_err(),
            "at most a second's worth"
        );
    }

    #[test]
    fn a_share_below_one_a_second_still_admits_one_then_waits() {
        let rates = Rates::default();
        let t0 = Instant::now();
        // 1 a second over 4 nodes: a quarter on this one.
        rates.take("a", Rate::Starts, 0.25, t0).unwrap();
        let wait = rates.take("a", Rate::Starts, 0.25, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(4));
        assert!(rates.take("a", Rate::Starts, 0.25, t0 + Duration::from_secs(4)).is_ok());
    }
}
