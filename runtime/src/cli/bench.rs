//! `cairn bench`: the numbers Cairn is held to, measured on this machine in
//! one run against one store.
//!
//! - chain(10) latency, p50/p99, one execution at a time;
//! - chain(10) throughput with 32 concurrent executions (and, on PostgreSQL,
//!   on two nodes sharing the database);
//! - database commits per workflow step (PostgreSQL, `pg_stat_database`);
//! - replay time of a journal of about 10,000 entries;
//! - instantiation time of a cached, pre-linked component;
//! - the latency of one fsync'd single-row commit on the same store, the
//!   yardstick of the latency target (chain(10) p50 ≤ 2 × 12 commits).

use super::{Ctx, NodeOptions, node};
use crate::engine::digest_of;
use crate::engine::workflow_host::{ExecutionHost, time_instantiation};
use crate::error::{Error, Result, codes};
use crate::journal::Cursor;
use crate::scheduler::{Bindings, Outcome, Runtime, Verdict};
use crate::store::Store;
use crate::store::postgres::{PostgresStore, Schema, redact};
use crate::store::sqlite::SqliteStore;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Executions for each throughput figure.
    #[arg(long, default_value_t = 2000)]
    total: usize,
    /// Concurrent executions for the throughput figures.
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

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The components and bindings every measurement runs.
#[derive(Clone)]
struct Workload {
    digest: String,
    bindings: Bindings,
}

async fn chain(rt: &Runtime, w: &Workload, n: u64) -> Result<Duration> {
    let t = Instant::now();
    let lease = rt
        .start("chain", &w.digest, &w.bindings, &format!("{{\"n\": {n}}}"))
        .await?;
    match rt.run_to_end(lease).await? {
        Outcome::Completed(out) if out == n.to_string() => Ok(t.elapsed()),
        other => Err(Error::new(
            codes::WORKFLOW_FAILED,
            format!("chain({n}) ended with {other:?}"),
            "check the components",
        )),
    }
}

/// Runs `total` chain(10) executions, `concurrency` at a time, spread over `nodes`.
async fn throughput(nodes: &[Arc<Runtime>], w: &Workload, total: usize, concurrency: usize) -> Result<f64> {
    let t = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for i in 0..concurrency {
        let (rt, w, next) = (nodes[i % nodes.len()].clone(), w.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                chain(&rt, &w, 10).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for worker in workers {
        worker.await.map_err(Error::store)??;
    }
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

/// Committed transactions of the current database so far (PostgreSQL).
async fn xact_commits(url: &str) -> Result<i64> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(Error::store)?;
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(Error::store)?;
    Ok(row.get(0))
}

/// Runs every benchmark and prints a report.
pub async fn bench(ctx: &Ctx, args: BenchArgs) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("cairn-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = run_all(ctx, &args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn open(ctx: &Ctx, dir: &std::path::Path) -> Result<Arc<dyn Store>> {
    Ok(match &ctx.database {
        Some(url) => Arc::new(PostgresStore::connect(url, 48, Schema::Migrate).await?),
        None => Arc::new(SqliteStore::open(&dir.join("cairn.db"))?),
    })
}

async fn run_all(ctx: &Ctx, args: &BenchArgs, dir: &std::path::Path) -> Result<ExitCode> {
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
    let mut options = args.node.clone();
    options.quiet = true;
    let node_ctx = Ctx {
        data_dir: dir.to_owned(),
        database: ctx.database.clone(),
    };
    let store = open(ctx, dir).await?;
    let rt = node(&node_ctx, store.clone(), &options)?;
    let w = Workload {
        digest: digest_of(&wf),
        bindings: Bindings {
            activities: vec![digest_of(&act)],
            http_allow: Default::default(),
        },
    };
    let component = rt.engine.workflow(&w.digest, &wf)?;
    rt.engine.activity(&w.bindings.activities[0], act.clone()).await?;
    store.put_component(&w.digest, &wf).await?;
    store.put_component(&w.bindings.activities[0], &act).await?;

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match &ctx.database {
        Some(url) => println!("cairn bench — PostgreSQL store ({}), {cores} cores", redact(url)),
        None => println!("cairn bench — SQLite store (WAL, synchronous=FULL), {cores} cores"),
    }

    // PostgreSQL first, while the database is quiet: throughput on one node
    // and commits per step. The node has a pool of its own, closed before the
    // counters are read, so every one of its transactions is counted.
    if let Some(url) = &ctx.database {
        let solo = node(&node_ctx, open(ctx, dir).await?, &options)?;
        solo.engine.workflow(&w.digest, &wf)?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = xact_commits(url).await?;
        let wfs = throughput(std::slice::from_ref(&solo), &w, args.total, args.concurrency).await?;
        drop(solo);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let commits = xact_commits(url).await? - before;
        let steps = (args.total * 10) as f64;
        println!(
            "chain(10) throughput, 1 node {wfs:.0} workflows/s  ({} executions, {} concurrent)",
            args.total, args.concurrency
        );
        println!(
            "commits per step             {:.2}  ({commits} transactions for {steps} activity steps; chain(10) = start + 10 steps + completion)",
            commits as f64 / steps,
        );
    }

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
        "single-row commit            p50 {}  p99 {}",
        ms(commit_p50),
        ms(percentile(&commits, 0.99))
    );

    for _ in 0..20 {
        chain(&rt, &w, 10).await?;
    }
    let mut lat = Vec::new();
    for _ in 0..args.runs {
        lat.push(chain(&rt, &w, 10).await?);
    }
    lat.sort();
    let p50 = percentile(&lat, 0.5);
    let target = commit_p50 * 24;
    println!(
        "chain(10) latency            p50 {}  p99 {}   (target ≤ 2 × 12 commits = {}: {})",
        ms(p50),
        ms(percentile(&lat, 0.99)),
        ms(target),
        verdict(p50 <= target)
    );

    if ctx.database.is_some() {
        let second = node(&node_ctx, open(ctx, dir).await?, &options)?;
        second.engine.workflow(&w.digest, &wf)?;
        let wfs = throughput(&[rt.clone(), second], &w, args.total, args.concurrency).await?;
        println!(
            "chain(10) throughput, 2 nodes {wfs:.0} workflows/s  (same database, {} concurrent in all)",
            args.concurrency
        );
    } else {
        let wfs = throughput(std::slice::from_ref(&rt), &w, args.total, args.concurrency).await?;
        println!(
            "chain(10) throughput         {wfs:.0} workflows/s  ({} executions, {} concurrent)",
            args.total, args.concurrency
        );
    }

    // A long journal: chain(n) writes 3 entries per step plus start and end.
    let n = (args.replay_entries as u64).div_ceil(3);
    let lease = rt
        .start("chain", &w.digest, &w.bindings, &format!("{{\"n\": {n}}}"))
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
        "replay of {entries} entries       {}   (target < 50 ms: {})",
        ms(replay),
        verdict(replay < Duration::from_millis(50))
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
        "instantiate (cached)         p50 {:.1} µs  p99 {:.1} µs   (target < 50 µs: {})",
        inst_p50.as_secs_f64() * 1e6,
        percentile(&inst, 0.99).as_secs_f64() * 1e6,
        verdict(inst_p50 < Duration::from_micros(50))
    );
    Ok(ExitCode::SUCCESS)
}
