//! `cairn bench`: the numbers Cairn is held to, measured on this machine in
//! one run against one store.
//!
//! - chain(10) latency, p50/p99, one execution at a time;
//! - chain(10) throughput with 32 concurrent executions (and, on PostgreSQL,
//!   on two nodes sharing the database);
//! - database commits per workflow step (PostgreSQL, `pg_stat_database`);
//! - replay time of a journal of about 10,000 entries;
//! - instantiation time of a cached, pre-linked component;
//! - the memory a live instance adds (32 held waiting at once);
//! - the latency of one fsync'd single-row commit on the same store, the
//!   yardstick of the latency target (chain(10) p50 ≤ 2 × 12 commits).

use super::{Node, NodeConfig, Outcome, StoreConfig, Verdict};
use crate::engine::workflow_host::probes;
use crate::error::{Error, Result, codes};
use crate::journal::Cursor;
use crate::model::Bindings;
use crate::stats::{Samples, ms, verdict};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The chain workflow component.
    pub workflow: Vec<u8>,
    /// The increment activity component.
    pub activity: Vec<u8>,
    /// Sequential chain(10) runs for the latency figures.
    pub runs: usize,
    /// Executions for each throughput figure.
    pub total: usize,
    /// Concurrent executions for the throughput figures.
    pub concurrency: usize,
    /// Approximate journal length for the replay figure.
    pub replay_entries: usize,
}

/// The components and bindings every measurement runs.
#[derive(Clone)]
struct Workload {
    digest: String,
    bindings: Bindings,
}

async fn chain(node: &Node, w: &Workload, n: u64) -> Result<Duration> {
    let t = Instant::now();
    let lease = node
        .start_here("chain", &w.digest, &w.bindings, &format!("{{\"n\": {n}}}"))
        .await?;
    match node.run_to_end(lease).await? {
        Outcome::Completed(out) if out == n.to_string() => Ok(t.elapsed()),
        other => Err(Error::new(
            codes::WORKFLOW_FAILED,
            format!("chain({n}) ended with {other:?}"),
            "check the components",
        )),
    }
}

/// Runs `total` chain(10) executions, `concurrency` at a time, spread over `nodes`.
async fn throughput(nodes: &[Arc<Node>], w: &Workload, total: usize, concurrency: usize) -> Result<f64> {
    let t = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for i in 0..concurrency {
        let (node, w, next) = (nodes[i % nodes.len()].clone(), w.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                chain(&node, &w, 10).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for worker in workers {
        worker.await.map_err(Error::store)??;
    }
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

/// The resident and proportional set sizes of this process in KiB
/// (`/proc/self/smaps_rollup`; `None` where there is none).
fn memory_kib() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// The memory one live instance adds, in MiB (RSS, PSS): `count` chain(10)
/// executions are held at their first activity call (every activity permit
/// is taken, so their instances stay live and waiting) and the growth of the
/// process is divided by `count`. Pages of the component's memory image
/// shared by several instances count once per instance in RSS and once in
/// all in PSS.
async fn live_memory(node: &Arc<Node>, w: &Workload, count: usize) -> Result<Option<(f64, f64)>> {
    let engine = node.engine()?;
    let held = probes::hold_activity_permits(&engine).await;
    let Some(before) = memory_kib() else {
        return Ok(None);
    };
    let live_before = probes::live_instances(&engine);
    let runs: Vec<_> = (0..count)
        .map(|_| {
            let (node, w) = (node.clone(), w.clone());
            tokio::spawn(async move { chain(&node, &w, 10).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while probes::live_instances(&engine) < live_before + count {
        if Instant::now() > deadline {
            return Err(Error::store("the held executions did not all start within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the last ones run up to their activity call.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = memory_kib().unwrap_or(before);
    drop(held);
    for run in runs {
        run.await.map_err(Error::store)??;
    }
    let per = |d: u64, b: u64| d.saturating_sub(b) as f64 / count as f64 / 1024.0;
    Ok(Some((per(during.0, before.0), per(during.1, before.1))))
}

/// A node of its own (own pool on PostgreSQL) with the workload loaded.
async fn fresh_node(store: &StoreConfig, config: &NodeConfig, w: &BenchOptions) -> Result<Arc<Node>> {
    let node = Node::open(store, config.clone()).await?;
    node.prepare_run(&w.workflow, std::slice::from_ref(&w.activity), Default::default())
        .await?;
    Ok(node)
}

/// What the API figures are compared with, measured in process on the
/// same kind of store in the same run.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// One fsync'd single-row commit, p50.
    pub commit_p50: Duration,
    /// chain(10) started and run to the end in process, p50.
    pub chain10_p50: Duration,
    /// The same, p99.
    pub chain10_p99: Duration,
    /// chain(10) executions finished per second in process, `o.concurrency` at a time.
    pub chain10_per_s: f64,
}

/// `n` fsync'd single-row commits, one at a time.
async fn probe_commits(node: &Node, n: usize) -> Result<Samples> {
    let mut commits = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        node.store.probe_commit().await?;
        commits.push(t.elapsed());
    }
    Ok(commits.into())
}

/// 20 warm-up runs, then `runs` sequential chain(10) executions.
async fn chain_latencies(node: &Node, w: &Workload, runs: usize) -> Result<Samples> {
    for _ in 0..20 {
        chain(node, w, 10).await?;
    }
    let mut lat = Vec::with_capacity(runs);
    for _ in 0..runs {
        lat.push(chain(node, w, 10).await?);
    }
    Ok(lat.into())
}

/// Measures the in-process baseline: 200 single-row commits, 20 warm-up
/// runs, then `runs` sequential chain(10) executions, then `o.total` of
/// them `o.concurrency` at a time.
pub async fn baseline(store: &StoreConfig, config: NodeConfig, o: &BenchOptions, runs: usize) -> Result<Baseline> {
    let node = fresh_node(store, &config, o).await?;
    let (digest, bindings) = node
        .prepare_run(&o.workflow, std::slice::from_ref(&o.activity), Default::default())
        .await?;
    let w = Workload { digest, bindings };
    let commits = probe_commits(&node, 200).await?;
    let lat = chain_latencies(&node, &w, runs).await?;
    let chain10_per_s = throughput(std::slice::from_ref(&node), &w, o.total, o.concurrency).await?;
    Ok(Baseline {
        commit_p50: commits.p50(),
        chain10_p50: lat.p50(),
        chain10_p99: lat.p99(),
        chain10_per_s,
    })
}

/// Runs every benchmark, printing a line per figure with `out`.
pub async fn run(store: &StoreConfig, config: NodeConfig, o: BenchOptions, out: impl Fn(String)) -> Result<()> {
    let node = fresh_node(store, &config, &o).await?;
    let (digest, bindings) = node
        .prepare_run(&o.workflow, std::slice::from_ref(&o.activity), Default::default())
        .await?;
    let w = Workload { digest, bindings };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match store {
        StoreConfig::Postgres { .. } => out(format!(
            "cairn bench — PostgreSQL store ({}), {cores} cores",
            store.describe()
        )),
        StoreConfig::Sqlite { .. } => out(format!(
            "cairn bench — SQLite store (WAL, synchronous=FULL), {cores} cores"
        )),
    }

    // PostgreSQL first, while the database is quiet: throughput on one node
    // and commits per step. The node has a pool of its own, closed before the
    // counters are read, so every one of its transactions is counted.
    if let StoreConfig::Postgres { .. } = store {
        let solo = fresh_node(store, &config, &o).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = node.store.committed_transactions().await?.unwrap_or(0);
        let wfs = throughput(std::slice::from_ref(&solo), &w, o.total, o.concurrency).await?;
        drop(solo);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let commits = node.store.committed_transactions().await?.unwrap_or(0) - before;
        let steps = (o.total * 10) as f64;
        out(format!(
            "chain(10) throughput, 1 node {wfs:.0} workflows/s  ({} executions, {} concurrent)",
            o.total, o.concurrency
        ));
        out(format!(
            "commits per step             {:.2}  ({commits} transactions for {steps} activity steps; chain(10) = start + 10 steps + completion)",
            commits as f64 / steps,
        ));
    }

    // The yardstick: one fsync'd single-row commit.
    let commits = probe_commits(&node, 500).await?;
    let commit_p50 = commits.p50();
    out(format!(
        "single-row commit            p50 {}  p99 {}",
        ms(commit_p50),
        ms(commits.p99())
    ));

    let lat = chain_latencies(&node, &w, o.runs).await?;
    let p50 = lat.p50();
    let target = commit_p50 * 24;
    out(format!(
        "chain(10) latency            p50 {}  p99 {}   (target ≤ 2 × 12 commits = {}: {})",
        ms(p50),
        ms(lat.p99()),
        ms(target),
        verdict(p50 <= target)
    ));

    // Before the throughput phase, so the instances' slots are still fresh.
    match live_memory(&node, &w, o.concurrency).await? {
        Some((rss, pss)) => out(format!(
            "memory per live instance     RSS {rss:.2} MiB  PSS {pss:.2} MiB   ({} held at an activity call; target ≤ 8 MiB RSS: {})",
            o.concurrency,
            verdict(rss <= 8.0)
        )),
        None => out("memory per live instance     n/a (no /proc/self/smaps_rollup)".into()),
    }

    if let StoreConfig::Postgres { .. } = store {
        let second = fresh_node(store, &config, &o).await?;
        let wfs = throughput(&[node.clone(), second], &w, o.total, o.concurrency).await?;
        out(format!(
            "chain(10) throughput, 2 nodes {wfs:.0} workflows/s  (same database, {} concurrent in all)",
            o.concurrency
        ));
    } else {
        let wfs = throughput(std::slice::from_ref(&node), &w, o.total, o.concurrency).await?;
        out(format!(
            "chain(10) throughput         {wfs:.0} workflows/s  ({} executions, {} concurrent)",
            o.total, o.concurrency
        ));
    }

    // A long journal: chain(n) writes 3 entries per step plus start and end.
    let n = (o.replay_entries as u64).div_ceil(3);
    let lease = node
        .start_here("chain", &w.digest, &w.bindings, &format!("{{\"n\": {n}}}"))
        .await?;
    let id = lease.execution_id.clone();
    node.run_to_end(lease).await?;
    let journal = node.store.journal(&id).await?;
    let component = node.workflow_component(&w.digest).await?;
    let mut replays = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        match node.replay_check(&id, &component).await? {
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
    let replay = Samples::from(replays).p50();
    out(format!(
        "replay of {} entries       {}   (target < 50 ms: {})",
        journal.len(),
        ms(replay),
        verdict(replay < Duration::from_millis(50))
    ));

    let engine = node.engine()?;
    let host = || {
        let cursor = Cursor::new(journal[..1].to_vec()).map_err(Error::store)?;
        node.replay_host(&id, cursor, "bench")
    };
    let mut inst = Vec::new();
    for _ in 0..2000 {
        inst.push(
            probes::time_instantiation(&engine, &component, host()?)
                .await
                .map_err(|e| Error::store(format!("{e:#}")))?,
        );
    }
    let inst = Samples::from(inst);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    out(format!(
        "instantiate (cached)         p50 {:.1} µs  p99 {:.1} µs   (target < 50 µs: {})",
        us(inst.p50()),
        us(inst.p99()),
        verdict(inst.p50() < Duration::from_micros(50))
    ));

    // Components slower than that get instances made ahead of time: what a
    // start then waits for is taking one and giving it the execution.
    let mut ready = Vec::new();
    for _ in 0..200 {
        match probes::time_spare(&engine, &component, host()?, Duration::from_secs(1)).await {
            Some(took) => ready.push(took),
            None => break,
        }
    }
    let ready = Samples::from(ready);
    if ready.is_empty() {
        out("instance from a spare        none (instantiation is fast enough: no spares are made)".into());
    } else {
        out(format!(
            "instance from a spare        p50 {:.1} µs  p99 {:.1} µs   (made ahead of time in the background)",
            us(ready.p50()),
            us(ready.p99()),
        ));
    }
    Ok(())
}
