//! `cairn bench --abuse`: one tenant (A) abuses a server on which nobody
//! configured a quota — only the defaults hold — while another tenant (B)
//! runs start-and-wait chain(3) one after the other. Each abuse gets a
//! fresh server (and a fresh store, or a fresh pair of tenants on
//! `--database`): B's p50 and p99 under it, against B's quiet figures on
//! the same server. The targets: p50 ≤ ×2, p99 ≤ ×3 in every row.

use super::{BUILD_HINT, BenchArgs, bench_error, chain, count, deploy_bench, start_server};
use crate::api::client::Client;
use crate::cli::{Ctx, read_file, render};
use crate::error::{Result, codes};
use crate::model::Bindings;
use crate::node::bench::BenchOptions;
use crate::node::{ComponentKind, CreateTenantRequest, DeployRequest, ListQuery, StartRequest};
use crate::stats::{Samples, ms, verdict};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The spinning workflow (tests/guests/spin).
const SPIN: &str = "target/wasm32-wasip2/release/spin.wasm";
/// Clients of the abusing tenant.
const ABUSERS: usize = 32;
/// B's chain length.
const B_STEPS: u64 = 3;
/// The longest one figure of B is measured for (B starved: fewer runs).
const FIGURE_TIME: Duration = Duration::from_secs(20);
/// How long A abuses before B is measured (past its first burst).
const WARMUP: Duration = Duration::from_secs(2);

/// One way tenant A abuses the server.
#[derive(Clone, Copy)]
enum Abuse {
    /// Starts of a workflow that computes forever, as fast as A can send
    /// them (B measured during the flood, then after it stopped).
    Spinners,
    /// start-and-wait of chain(10) without pause from every client.
    StartFlood,
    /// chain(10000): journals of ten thousand entries, from every client.
    LongJournals,
    /// chain(1) with a 1 MB input, from every client.
    BigPayloads,
}

impl Abuse {
    const ALL: [Abuse; 4] = [
        Abuse::Spinners,
        Abuse::StartFlood,
        Abuse::LongJournals,
        Abuse::BigPayloads,
    ];

    fn label(self) -> &'static str {
        match self {
            Abuse::Spinners => "spinners, during the flood",
            Abuse::StartFlood => "start flood, chain(10)",
            Abuse::LongJournals => "10k-entry journals",
            Abuse::BigPayloads => "1 MB payloads",
        }
    }

    /// One request of an abusing client.
    async fn once(self, a: &Client, pad: &Arc<String>) -> Result<()> {
        let req = |workflow: &str, input: Value| StartRequest {
            workflow: workflow.into(),
            input,
            id: None,
        };
        let wait = Duration::from_secs(30);
        match self {
            Abuse::Spinners => a.start(&req("spin", json!({}))).await.map(drop),
            Abuse::StartFlood => a
                .start_and_wait(&req("bench-chain", json!({ "n": 10 })), wait)
                .await
                .map(drop),
            Abuse::LongJournals => a
                .start_and_wait(&req("bench-chain", json!({ "n": 10_000 })), wait)
                .await
                .map(drop),
            Abuse::BigPayloads => a
                .start_and_wait(&req("bench-chain", json!({ "n": 1, "pad": pad.as_str() })), wait)
                .await
                .map(drop),
        }
    }
}

/// What A's clients sent and how it was answered.
#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    answered: AtomicUsize,
    refused: AtomicUsize,
    failed: AtomicUsize,
}

/// A's clients, abusing until stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Flood {
    fn start(a: &Arc<Client>, abuse: Abuse) -> Flood {
        let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
        let pad = Arc::new("x".repeat(1_000_000));
        let clients = (0..ABUSERS)
            .map(|_| {
                let (a, stop, tally, pad) = (a.clone(), stop.clone(), tally.clone(), pad.clone());
                tokio::spawn(async move {
                    // No pause, no Retry-After honoured.
                    while !stop.load(Ordering::Relaxed) {
                        tally.sent.fetch_add(1, Ordering::Relaxed);
                        let answer = abuse.once(&a, &pad).await;
                        tally.answered.fetch_add(1, Ordering::Relaxed);
                        match answer {
                            Ok(()) => {}
                            Err(e) if [codes::RATE_LIMITED, codes::QUOTA_EXCEEDED].contains(&e.code) => {
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => drop(tally.failed.fetch_add(1, Ordering::Relaxed)),
                        }
                    }
                })
            })
            .collect();
        Flood { stop, tally, clients }
    }

    /// Stops the clients; what they sent, refused and failed, as a note.
    async fn stop(self, took: Duration) -> String {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            let _ = c.await;
        }
        let t = &self.tally;
        let (sent, answered) = (t.sent.load(Ordering::Relaxed), t.answered.load(Ordering::Relaxed));
        format!(
            "A: {sent} requests, {:.0} answered/s, {:.0}% refused (429), {} other errors",
            answered as f64 / took.as_secs_f64().max(0.001),
            t.refused.load(Ordering::Relaxed) as f64 * 100.0 / sent.max(1) as f64,
            t.failed.load(Ordering::Relaxed)
        )
    }
}

/// B's chain(3) latencies: `runs` sequential runs, or as many as fit in
/// [`FIGURE_TIME`].
async fn figure(b: &Client, runs: usize) -> Result<Samples> {
    let t = Instant::now();
    let mut lat = Vec::with_capacity(runs);
    while lat.len() < runs && t.elapsed() < FIGURE_TIME {
        lat.push(chain(b, B_STEPS).await?);
    }
    Ok(lat.into())
}

/// A tenant of the open server (made with no quotas) and a client of it.
async fn tenant(url: &str, name: &str) -> Result<Arc<Client>> {
    let admin = Client::with_token(url, None, None)?;
    let req = CreateTenantRequest {
        name: name.into(),
        quotas: Default::default(),
    };
    match admin.create_tenant(&req).await {
        Err(e) if e.code == codes::TENANT_EXISTS => {}
        other => drop(other?),
    }
    Ok(Arc::new(Client::with_token(url, None, Some(name))?))
}

/// Ends every execution of `a` that has not ended (its spinners would run
/// on in a shared store).
async fn end_all(a: &Client) -> Result<()> {
    loop {
        let q = ListQuery {
            status: Some("running,sleeping,queued,parked".into()),
            limit: Some(1000),
            ..Default::default()
        };
        let page = a.list(&q).await?;
        if page.executions.is_empty() {
            return Ok(());
        }
        let mut ended = 0;
        for e in page.executions {
            let reason = Some("end of the abuse benchmark".into());
            ended += usize::from(a.terminate(&e.id, reason).await.is_ok());
        }
        if ended == 0 {
            return Err(bench_error("the abusing tenant's executions cannot be terminated"));
        }
    }
}

/// One row of the report.
struct Row {
    label: &'static str,
    quiet: (Duration, Duration),
    abused: Samples,
    note: String,
}

impl Row {
    fn met(&self) -> (f64, f64, bool) {
        let p50 = self.abused.p50().as_secs_f64() / self.quiet.0.as_secs_f64();
        let p99 = self.abused.p99().as_secs_f64() / self.quiet.1.as_secs_f64();
        (p50, p99, p50 <= 2.0 && p99 <= 3.0)
    }

    fn line(&self) -> String {
        let (p50, p99, met) = self.met();
        format!(
            "{:<28} B p50 {} p99 {} vs quiet {} / {}  (×{p50:.2} / ×{p99:.2}; target ≤ ×2 / ×3: {}; {} runs)  {}",
            self.label,
            ms(self.abused.p50()),
            ms(self.abused.p99()),
            ms(self.quiet.0),
            ms(self.quiet.1),
            verdict(met),
            self.abused.len(),
            self.note
        )
    }
}

/// One abuse on a fresh server: its rows.
async fn abuse_rows(
    ctx: &Ctx,
    o: &BenchOptions,
    (spin, signals): (&[u8], &[u8]),
    abuse: Abuse,
    dir: &std::path::Path,
) -> Result<Vec<Row>> {
    let (_server, url) = start_server(dir, ctx.database.as_deref(), &[])?;
    let run = std::process::id();
    let a = tenant(&url, &format!("abuser-{run}")).await?;
    let b = tenant(&url, &format!("quiet-{run}")).await?;
    deploy_bench(&a, o, signals).await?;
    deploy_bench(&b, o, signals).await?;
    let digest = a.upload_component(ComponentKind::Workflow, spin.to_vec()).await?.digest;
    let req = DeployRequest {
        name: "spin".into(),
        workflow: digest,
        bindings: Bindings::default(),
    };
    a.deploy(&req).await?;
    for _ in 0..20 {
        chain(&b, B_STEPS).await?;
    }
    let runs = o.runs * 3;
    let quiet = figure(&b, runs).await?;
    let quiet = (quiet.p50(), quiet.p99());
    let flood = Flood::start(&a, abuse);
    tokio::time::sleep(WARMUP).await;
    let t = Instant::now();
    let abused = figure(&b, runs).await?;
    let note = flood.stop(t.elapsed()).await;
    let mut rows = vec![Row {
        label: abuse.label(),
        quiet,
        abused,
        note,
    }];
    if let Abuse::Spinners = abuse {
        let left = count(&a, "running,sleeping,queued").await?;
        let after = figure(&b, runs).await?;
        rows.push(Row {
            label: "spinners, after the flood",
            quiet,
            abused: after,
            note: format!("A: {left} executions not ended"),
        });
    }
    end_all(&a).await?;
    Ok(rows)
}

/// `cairn bench --abuse`.
pub(crate) async fn bench_abuse(ctx: &Ctx, args: BenchArgs) -> Result<ExitCode> {
    let o = args.options()?;
    let spin = read_file(std::path::Path::new(SPIN), BUILD_HINT)?;
    let signals = read_file(&args.signals, BUILD_HINT)?;
    let dir = std::env::temp_dir().join(format!("cairn-bench-abuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let progress = render::Progress::start("abusing a server with default quotas");
    let mut all_met = true;
    let mut result = Ok(());
    for (i, abuse) in Abuse::ALL.into_iter().enumerate() {
        match abuse_rows(ctx, &o, (&spin, &signals), abuse, &dir.join(format!("row{i}"))).await {
            Ok(rows) => {
                for row in rows {
                    all_met &= row.met().2;
                    progress.line(&row.line());
                }
            }
            Err(e) => {
                result = Err(bench_error(format!("{}: {}", abuse.label(), e.message)));
                break;
            }
        }
    }
    drop(progress);
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!(
        "abuse (defaults only): every row within p50 ×2 and p99 ×3 of quiet: {}",
        verdict(all_met)
    );
    Ok(ExitCode::SUCCESS)
}
