//! `cairn bench`: the numbers Cairn is held to, measured on this machine in
//! one run against one store.
//!
//! - chain(10) latency, p50/p99, one execution at a time;
//! - chain(10) throughput with 32 concurrent executions;
//! - replay time of a journal of about 10,000 entries;
//! - instantiation time of a cached, pre-linked component;
//! - the latency of one fsync'd single-row commit on the same store, the
//!   yardstick of the latency target (chain(10) p50 ≤ 2 × 12 commits).

use super::{NodeOptions, node};
use crate::engine::digest_of;
use crate::engine::workflow_host::{ExecutionHost, time_instantiation};
use crate::error::{Error, Result, codes};
use crate::journal::Cursor;
use crate::scheduler::{Bindings, Outcome, Runtime, Verdict};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `cairn bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// The chain workflow component.
    #[arg(long, default_value = "target/wasm32-wasip2/release/chain.wasm")]
    workflow: PathBuf,
    /// The increment activity component.
    #[arg(long, default_value = "target/wasm32-wasip2/release/increment.wasm")]
    activity: PathBuf,
    /// Sequential chain(10) runs for the latency figures.
    #[arg(long, default_value_t = 300)]
    runs: usize,
    /// Executions for the throughput figure.
    #[arg(long, default_value_t = 2000)]
    total: usize,
    /// Concurrent executions for the throughput figure.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Approximate journal length for the replay figure.
    #[arg(long, default_value_t = 10_000)]
    replay_entries: usize,
    #[command(flatten)]
    node: NodeOptions,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

struct Bench {
    rt: Arc<Runtime>,
    digest: String,
    bindings: Bindings,
}

impl Bench {
    async fn chain(&self, n: u64) -> Result<Duration> {
        let t = Instant::now();
        let lease = self
            .rt
            .start("chain", &self.digest, &self.bindings, &format!("{{\"n\": {n}}}"))
            .await?;
        match self.rt.run_to_end(lease).await? {
            Outcome::Completed(out) if out == n.to_string() => Ok(t.elapsed()),
            other => Err(Error::new(
                codes::WORKFLOW_FAILED,
                format!("chain({n}) ended with {other:?}"),
                "check the components",
            )),
        }
    }
}

/// Runs every benchmark and prints a report.
pub async fn bench(_ctx: &super::Ctx, args: BenchArgs) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("cairn-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("cairn.db"))?);
    let mut options = args.node.clone();
    options.quiet = true;
    let ctx = super::Ctx {
        data_dir: dir.clone(),
        database: None,
    };
    let rt = node(&ctx, store.clone(), &options)?;
    let result = run_all(&args, rt, store).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_all(args: &BenchArgs, rt: Arc<Runtime>, store: Arc<dyn Store>) -> Result<ExitCode> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| {
            Error::new(
                codes::IO,
                format!("cannot read {}: {e}", p.display()),
                "build the guests first: ./x build",
            )
        })
    };
    let (wf, act) = (read(&args.workflow)?, read(&args.activity)?);
    let digest = digest_of(&wf);
    let component = rt.engine.workflow(&digest, &wf)?;
    let act_digest = digest_of(&act);
    rt.engine.activity(&act_digest, act.clone()).await?;
    store.put_component(&digest, &wf).await?;
    store.put_component(&act_digest, &act).await?;
    let b = Arc::new(Bench {
        rt: rt.clone(),
        digest,
        bindings: Bindings {
            activities: vec![act_digest],
            http_allow: Default::default(),
        },
    });

    println!(
        "cairn bench — SQLite store (WAL, synchronous=FULL), {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    // The yardstick: one fsync'd single-row commit.
    let mut commits = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        store.probe_commit().await?;
        commits.push(t.elapsed());
    }
    commits.sort();
    let commit_p50 = percentile(&commits, 0.5);
    println!(
        "single-row commit          p50 {}  p99 {}",
        ms(commit_p50),
        ms(percentile(&commits, 0.99))
    );

    for _ in 0..20 {
        b.chain(10).await?;
    }
    let mut lat = Vec::new();
    for _ in 0..args.runs {
        lat.push(b.chain(10).await?);
    }
    lat.sort();
    let p50 = percentile(&lat, 0.5);
    let target = commit_p50 * 24;
    println!(
        "chain(10) latency          p50 {}  p99 {}   (target ≤ 2 × 12 commits = {}: {})",
        ms(p50),
        ms(percentile(&lat, 0.99)),
        ms(target),
        if p50 <= target { "met" } else { "NOT met" }
    );

    let t = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (b, next, total) = (b.clone(), next.clone(), args.total);
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                b.chain(10).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for w in workers {
        w.await.map_err(Error::store)??;
    }
    let elapsed = t.elapsed();
    println!(
        "chain(10) throughput       {:.0} workflows/s  ({} executions, {} concurrent, {:.2} s)",
        args.total as f64 / elapsed.as_secs_f64(),
        args.total,
        args.concurrency,
        elapsed.as_secs_f64()
    );

    // A long journal: chain(n) writes 3 entries per step plus start and end.
    let n = (args.replay_entries as u64).div_ceil(3);
    let lease = rt
        .start("chain", &b.digest, &b.bindings, &format!("{{\"n\": {n}}}"))
        .await?;
    let id = lease.execution_id.clone();
    rt.run_to_end(lease).await?;
    let entries = store.journal(&id).await?.len();
    let mut replays = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        match rt.replay_check(&id, &component).await? {
            Verdict::Compatible => replays.push(t.elapsed()),
            other => {
                return Err(Error::new(
                    codes::NONDETERMINISM,
                    format!("replay of the benchmark journal: {other:?}"),
                    "report a bug",
                ));
            }
        }
    }
    replays.sort();
    let replay = percentile(&replays, 0.5);
    println!(
        "replay of {entries} entries     {}   (target < 50 ms: {})",
        ms(replay),
        if replay < Duration::from_millis(50) {
            "met"
        } else {
            "NOT met"
        }
    );

    let started = store.journal(&id).await?.into_iter().take(1).collect::<Vec<_>>();
    let mut inst = Vec::new();
    for _ in 0..2000 {
        let cursor = Cursor::new(started.clone()).map_err(Error::store)?;
        let lease = crate::store::Lease {
            execution_id: id.clone(),
            owner: "bench".into(),
            epoch: -1,
        };
        let host = ExecutionHost::new(
            cursor,
            lease,
            store.clone(),
            rt.engine.clone(),
            Default::default(),
            Duration::from_secs(1),
            false,
        );
        inst.push(
            time_instantiation(&rt.engine, &component, host)
                .await
                .map_err(|e| Error::store(format!("{e:#}")))?,
        );
    }
    inst.sort();
    let inst_p50 = percentile(&inst, 0.5);
    println!(
        "instantiate (cached)       p50 {:.1} µs  p99 {:.1} µs   (target < 50 µs: {})",
        inst_p50.as_secs_f64() * 1e6,
        percentile(&inst, 0.99).as_secs_f64() * 1e6,
        if inst_p50 < Duration::from_micros(50) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(ExitCode::SUCCESS)
}
