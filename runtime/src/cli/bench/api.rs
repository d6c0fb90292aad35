//! `cairn bench --api`: the numbers users meet, measured through the HTTP
//! API of a real `cairn server` (started here, or `--server URL`) with a
//! keep-alive client — start-and-wait latency and throughput of chain(10)
//! and chain(1), and ten thousand executions waiting for a signal — beside
//! the in-process figures and the store's single-commit latency of the same
//! run.

use super::{
    BUILD_HINT, BenchArgs, bench_error, bench_store, chain, count, deploy_bench, fan_out, latencies, start_server,
    tenant_client,
};
use crate::api::client::Client;
use crate::cli::{Ctx, read_file, render};
use crate::error::{Error, Result};
use crate::node::bench::{self, BenchOptions};
use crate::node::{StartRequest, StoreConfig};
use crate::stats::{Samples, ms, verdict};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `total` start-and-waits of chain(n) from `clients` concurrent clients.
async fn throughput(client: &Arc<Client>, n: u64, total: usize, clients: usize) -> Result<f64> {
    let t = Instant::now();
    let client = client.clone();
    fan_out(total, clients, move |_| {
        let client = client.clone();
        async move { chain(&client, n).await.map(|_| ()) }
    })
    .await?;
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

/// Resident memory (MiB) and CPU time (s) of a process, from /proc.
fn usage(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((rss_kb / 1024.0, ticks / hz))
}

/// Ten thousand (`waiters`) executions waiting for a signal: memory and
/// idle CPU of the server while they wait, then how long until all finish
/// once their signals are sent.
async fn waiters(client: &Arc<Client>, pid: Option<u32>, waiters: usize, out: &impl Fn(String)) -> Result<()> {
    let t = Instant::now();
    let prefix = format!("w{}", std::process::id());
    let ids: Arc<Vec<String>> = Arc::new((0..waiters).map(|i| format!("{prefix}-{i}")).collect());
    let (c, i2) = (client.clone(), ids.clone());
    fan_out(waiters, 32, move |i| {
        let (c, id) = (c.clone(), i2[i].clone());
        async move {
            let req = StartRequest {
                workflow: "bench-signals".into(),
                input: json!({ "delay_ms": 0, "n": 1, "timeout_ms": 3_600_000 }),
                id: Some(id),
            };
            c.start(&req).await.map(|_| ())
        }
    })
    .await?;
    let started = t.elapsed();
    // Wait until every one of them waits without an instance.
    let deadline = Instant::now() + Duration::from_secs(600);
    while count(client, "sleeping").await? < waiters {
        if Instant::now() > deadline {
            return Err(bench_error("the waiters did not all go idle within 10 minutes"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (rss, cpu) = match pid {
        Some(pid) => {
            let (_, before) = usage(pid).unwrap_or_default();
            tokio::time::sleep(Duration::from_secs(5)).await;
            let (rss, after) = usage(pid).unwrap_or_default();
            (Some(rss), Some((after - before) / 5.0 * 100.0))
        }
        None => (None, None),
    };
    let first_signal = Instant::now();
    let (c, i2) = (client.clone(), ids.clone());
    fan_out(waiters, 32, move |i| {
        let (c, id) = (c.clone(), i2[i].clone());
        async move { c.signal(&id, "item", &json!({ "i": i })).await.map(|_| ()) }
    })
    .await?;
    let sent = first_signal.elapsed();
    let (c, i2) = (client.clone(), ids.clone());
    fan_out(waiters, 32, move |i| {
        let (c, id) = (c.clone(), i2[i].clone());
        async move {
            match c.result(&id, Duration::from_secs(60)).await? {
                (true, _) => Ok(()),
                (false, r) => Err(bench_error(format!("{id} did not finish: {r:?}"))),
            }
        }
    })
    .await?;
    let all = first_signal.elapsed();
    out(format!(
        "{waiters} signal waiters        started in {:.1} s; idle: server RSS {} (target < 1 GiB: {}), CPU {} of a core (target < 2%: {})",
        started.as_secs_f64(),
        rss.map_or("n/a".into(), |r| format!("{r:.0} MiB")),
        rss.map_or("n/a", |r| verdict(r < 1024.0)),
        cpu.map_or("n/a".into(), |c| format!("{c:.2}%")),
        cpu.map_or("n/a", |c| verdict(c < 2.0)),
    ));
    out(format!(
        "                             signals sent in {:.1} s; all finished {:.1} s after the first signal, {:.1} s after the last (target ≤ 10 s: {})",
        sent.as_secs_f64(),
        all.as_secs_f64(),
        (all - sent).as_secs_f64(),
        verdict(all <= Duration::from_secs(10))
    ));
    Ok(())
}

/// `cairn bench --api`.
pub(crate) async fn bench_api(ctx: &Ctx, args: BenchArgs) -> Result<ExitCode> {
    let options = args.options()?;
    let signals = read_file(&args.signals, BUILD_HINT)?;
    let dir = std::env::temp_dir().join(format!("cairn-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = run(ctx, &args, options, signals, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|_| ExitCode::SUCCESS)
}

async fn run(ctx: &Ctx, args: &BenchArgs, o: BenchOptions, signals: Vec<u8>, dir: &std::path::Path) -> Result<()> {
    let progress = render::Progress::start("measuring through the API");
    let out = |line: String| progress.line(&line);
    let (server, url) = match &ctx.server {
        Some(url) => (None, url.clone()),
        None => {
            // The node's capacity, not the default quotas of its tenants.
            let (s, url) = start_server(
                &dir.join("server"),
                ctx.database.as_deref(),
                &["--default-quotas", "none"],
            )?;
            (Some(s), url)
        }
    };
    let pid = server.as_ref().map(|s| s.id());
    let client = Arc::new(Client::with_token(&url, ctx.token.as_deref(), ctx.tenant.as_deref())?);
    deploy_bench(&client, &o, &signals).await?;
    let store = bench_store(ctx, &dir.join("in-process"))?;
    let backend = match store {
        StoreConfig::Postgres { .. } => format!("PostgreSQL ({})", store.describe()),
        StoreConfig::Sqlite { .. } => "SQLite (WAL, synchronous=FULL)".to_owned(),
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    out(format!(
        "cairn bench --api — {backend} store, server {url}{}, {cores} cores",
        pid.map_or(String::new(), |p| format!(" (pid {p})"))
    ));
    let mut node = args.node.clone();
    node.quiet = true;
    let base = bench::baseline(&store, node.config(&dir.join("in-process"))?, &o, o.runs).await?;
    out(format!("single-row commit            p50 {}", ms(base.commit_p50)));
    out(format!(
        "in-process chain(10)         p50 {}  p99 {}  {:.0} workflows/s ({} at a time)",
        ms(base.chain10_p50),
        ms(base.chain10_p99),
        base.chain10_per_s,
        o.concurrency
    ));
    for _ in 0..20 {
        chain(&client, 10).await?;
    }
    let lat = latencies(&client, 10, o.runs).await?;
    let (p50, p99) = (lat.p50(), lat.p99());
    let target = base.chain10_p50.mul_f64(1.5) + Duration::from_millis(1);
    out(format!(
        "API chain(10), 1 client      p50 {}  p99 {}   (target ≤ 1.5 × in-process + 1 ms = {}: {})",
        ms(p50),
        ms(p99),
        ms(target),
        verdict(p50 <= target)
    ));
    let lat = latencies(&client, 1, o.runs).await?;
    let (p50, p99) = (lat.p50(), lat.p99());
    out(format!("API chain(1), 1 client       p50 {}  p99 {}", ms(p50), ms(p99)));
    let wfs = throughput(&client, 10, o.total, o.concurrency).await?;
    out(format!(
        "API chain(10), {} clients    {wfs:.0} workflows/s  ({} executions; target ≥ 1,000: {})",
        o.concurrency,
        o.total,
        verdict(wfs >= 1000.0)
    ));
    let wfs = throughput(&client, 1, o.total * 2, o.concurrency).await?;
    let target = match store {
        StoreConfig::Sqlite { .. } => format!("; target ≥ 3,000: {}", verdict(wfs >= 3000.0)),
        StoreConfig::Postgres { .. } => String::new(),
    };
    out(format!(
        "API chain(1), {} clients     {wfs:.0} workflows/s  ({} executions{target})",
        o.concurrency,
        o.total * 2,
    ));
    if server.is_some() {
        auth_overhead(ctx, &client, &o, &signals, dir, &out).await?;
        metrics_overhead(ctx, &o, &signals, dir, &out).await?;
    }
    if args.waiters > 0 {
        waiters(&client, pid, args.waiters, &out).await?;
    }
    if args.console_executions > 0 {
        super::console::console(&client, &url, args.console_executions, &out).await?;
    }
    drop(server);
    Ok(())
}

/// chain(10) p50 through `a` and through `b`, `runs` each, one through
/// each in turn (so drift of the machine and the store hits both alike).
async fn alternating_p50(a: &Client, b: &Client, runs: usize) -> Result<(Duration, Duration)> {
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(50) {
        on_a.push(chain(a, 10).await?);
        on_b.push(chain(b, 10).await?);
    }
    Ok((Samples::from(on_a).p50(), Samples::from(on_b).p50()))
}

/// What metrics cost the fast path: chain(10) through two fresh servers,
/// one counting (the default) and one with `--no-metrics`, p50 in
/// alternating rounds, then throughput in alternating halves.
async fn metrics_overhead(
    ctx: &Ctx,
    o: &BenchOptions,
    signals: &[u8],
    dir: &std::path::Path,
    out: &impl Fn(String),
) -> Result<()> {
    let (_on_server, on_url) = start_server(&dir.join("metrics-on"), ctx.database.as_deref(), &[])?;
    let (_off_server, off_url) = start_server(&dir.join("metrics-off"), ctx.database.as_deref(), &["--no-metrics"])?;
    let on = Arc::new(Client::with_token(&on_url, None, None)?);
    let off = Arc::new(Client::with_token(&off_url, None, None)?);
    for client in [&on, &off] {
        deploy_bench(client, o, signals).await?;
        for _ in 0..20 {
            chain(client, 10).await?;
        }
    }
    let (on50, off50) = alternating_p50(&on, &off, o.runs).await?;
    let slower = on50.as_secs_f64() / off50.as_secs_f64() - 1.0;
    out(format!(
        "API chain(10), metrics on    p50 {} vs {} off  ({:+.1}%; target < +3%: {})",
        ms(on50),
        ms(off50),
        slower * 100.0,
        verdict(slower < 0.03)
    ));
    let (mut wfs_on, mut wfs_off) = (0.0, 0.0);
    for _ in 0..2 {
        wfs_on += throughput(&on, 10, o.total / 2, o.concurrency).await? / 2.0;
        wfs_off += throughput(&off, 10, o.total / 2, o.concurrency).await? / 2.0;
    }
    out(format!(
        "API chain(10), metrics on    {wfs_on:.0} workflows/s vs {wfs_off:.0} off ({} clients, {:+.1}%)",
        o.concurrency,
        (wfs_on / wfs_off - 1.0) * 100.0
    ));
    Ok(())
}

/// chain(10) through a second server with `--auth`, as a `deploy` token
/// of a tenant with quotas, against the open server of this run: p50 in
/// alternating rounds (so drift hits both alike), then throughput.
async fn auth_overhead(
    ctx: &Ctx,
    open: &Arc<Client>,
    o: &BenchOptions,
    signals: &[u8],
    dir: &std::path::Path,
    out: &impl Fn(String),
) -> Result<()> {
    let file = dir.join("admin.token");
    let file_arg = file.to_string_lossy().into_owned();
    let extra = ["--auth", "--admin-token-file", file_arg.as_str()];
    let (_server, url) = start_server(&dir.join("auth"), ctx.database.as_deref(), &extra)?;
    let admin_token = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let admin = Client::with_token(&url, Some(admin_token.trim()), None)?;
    let quotas = crate::model::Quotas {
        max_payload_bytes: Some(1 << 20),
        max_component_bytes: Some(64 << 20),
        max_components: Some(100),
        max_running: Some(100_000),
        max_journal_entries: Some(100_000),
        cpu_ms_per_minute: Some(60_000),
        cpu_budget_ms: Some(5_000),
        requests_per_second: Some(100_000),
        starts_per_second: Some(100_000),
        signals_per_second: Some(100_000),
        max_instance_memory_mb: Some(256),
        max_total_memory_mb: Some(16 << 10),
        max_journal_bytes: Some(1 << 40),
        timers_per_second: Some(100_000),
        http_hosts: Some(vec!["example.com".into()]),
        caps: None,
    };
    let authed = tenant_client(&admin, &url, "bench", quotas).await?;
    deploy_bench(&authed, o, signals).await?;
    for _ in 0..20 {
        chain(&authed, 10).await?;
    }
    let (off50, on50) = alternating_p50(open, &authed, o.runs).await?;
    let slower = on50.as_secs_f64() / off50.as_secs_f64() - 1.0;
    out(format!(
        "API chain(10), auth+quotas   p50 {} vs {} without  ({:+.1}%; target ≤ +5%: {})",
        ms(on50),
        ms(off50),
        slower * 100.0,
        verdict(slower <= 0.05)
    ));
    let wfs_on = throughput(&authed, 10, o.total, o.concurrency).await?;
    let wfs_off = throughput(open, 10, o.total, o.concurrency).await?;
    out(format!(
        "API chain(10), auth+quotas   {wfs_on:.0} workflows/s vs {wfs_off:.0} without ({} clients, {:+.1}%)",
        o.concurrency,
        (wfs_on / wfs_off - 1.0) * 100.0
    ));
    super::noisy::under_flood(&admin, &url, o, signals, out).await
}
