//! `cairn bench --api`, noisy neighbours: tenant B's chain(10) latency
//! through the API while tenant A floods the same server with starts from
//! many clients (A has the quotas a host would give it: a start rate, a
//! request rate, a running-executions limit), against B's quiet latency.

use super::{chain, deploy_bench, latencies, tenant_client};
use crate::api::client::Client;
use crate::error::{Error, Result, codes};
use crate::model::Quotas;
use crate::node::StartRequest;
use crate::node::bench::BenchOptions;
use crate::stats::{ms, verdict};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Clients of the flooding tenant.
const FLOODERS: usize = 32;
/// B's runs per figure, in units of `--runs`: a p99 over a few hundred
/// samples is its third-worst run, too noisy to compare two of them.
const RUNS_FACTOR: usize = 3;
/// How long A floods before B is measured: past the first second, whose
/// burst of starts the bucket allows, to the steady state.
const FLOOD_WARMUP: Duration = Duration::from_millis(1500);

/// Tenant B's chain(10) quiet and under tenant A's flood.
pub(super) async fn under_flood(
    admin: &Client,
    url: &str,
    o: &BenchOptions,
    signals: &[u8],
    out: &impl Fn(String),
) -> Result<()> {
    let flood_quotas = Quotas {
        max_running: Some(16),
        starts_per_second: Some(100),
        requests_per_second: Some(1000),
        ..Default::default()
    };
    let a = tenant_client(admin, url, "flood", flood_quotas).await?;
    let b = tenant_client(admin, url, "quiet", Quotas::default()).await?;
    deploy_bench(&a, o, signals).await?;
    deploy_bench(&b, o, signals).await?;
    for _ in 0..20 {
        chain(&b, 10).await?;
    }
    let runs = o.runs * RUNS_FACTOR;
    let quiet = latencies(&b, 10, runs).await?;
    let (quiet50, quiet99) = (quiet.p50(), quiet.p99());

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut flooders = Vec::new();
    for _ in 0..FLOODERS {
        let (a, stop, sent, refused) = (a.clone(), stop.clone(), sent.clone(), refused.clone());
        flooders.push(tokio::spawn(async move {
            let req = StartRequest {
                workflow: "bench-chain".into(),
                input: json!({ "n": 10 }),
                id: None,
            };
            // A flood: no pause, no Retry-After honoured.
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = a.start_and_wait(&req, Duration::from_secs(10)).await
                    && e.code == codes::RATE_LIMITED
                {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(FLOOD_WARMUP).await;
    let (sent_before, refused_before) = (sent.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    let t = std::time::Instant::now();
    let flooded = latencies(&b, 10, runs).await;
    let took = t.elapsed().as_secs_f64();
    let (sent_during, refused_during) = (
        sent.load(Ordering::Relaxed) - sent_before,
        refused.load(Ordering::Relaxed) - refused_before,
    );
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.await.map_err(|e| Error::new(codes::SERVER, e.to_string(), "a bug"))?;
    }
    let flooded = flooded?;
    let (flood50, flood99) = (flooded.p50(), flooded.p99());
    let ratio = flood99.as_secs_f64() / quiet99.as_secs_f64();
    out(format!(
        "tenant B chain(10) under A's flood  p50 {} p99 {} vs quiet p50 {} p99 {}  ({runs} runs each; p99 ×{ratio:.2}; target ≤ ×2: {})",
        ms(flood50),
        ms(flood99),
        ms(quiet50),
        ms(quiet99),
        verdict(ratio <= 2.0)
    ));
    let (sent, refused) = (sent_during, refused_during);
    out(format!(
        "                             A: {FLOODERS} clients sent {:.0} requests/s, {:.0}% answered 429 (quotas: 100 starts/s, 1000 requests/s, 16 running)",
        sent as f64 / took,
        refused as f64 * 100.0 / sent.max(1) as f64
    ));
    Ok(())
}
