//! `cairn bench`: the numbers Cairn is held to. This module holds the
//! arguments and what the measurements share; `local.rs` measures in
//! process (`node::bench`), `api.rs` through the HTTP API of a real server,
//! with `console.rs` (the console's pages) and `noisy.rs` (one tenant under
//! another's flood) beside it; `abuse.rs` (`--abuse`) measures one tenant
//! beside another that abuses a server with only the default quotas.
//! Quantiles and report formatting are `crate::stats`'.

mod abuse;
mod api;
mod console;
mod local;
mod noisy;

pub(crate) use abuse::bench_abuse;
pub(crate) use api::bench_api;
pub(crate) use local::bench;

use super::{Ctx, NodeOptions, read_file};
use crate::api::client::Client;
use crate::error::{Error, Result, codes};
use crate::model::{Bindings, Quotas, Role};
use crate::node::bench::BenchOptions;
use crate::node::{
    ComponentKind, CreateTenantRequest, CreateTokenRequest, DeployRequest, ListQuery, Schema, StartAnswer,
    StartRequest, StoreConfig,
};
use crate::stats::Samples;
use clap::Args;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Arguments of `cairn bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// The language of the chain workflow: `rust` (target/wasm32-wasip2/release/chain.wasm),
    /// `python` (target/python/chain.wasm) or `typescript`
    /// (target/typescript/chain.wasm); `--workflow` overrides it.
    #[arg(long, value_enum, default_value_t = Language::Rust)]
    language: Language,
    /// The chain workflow component [default: by --language].
    #[arg(long)]
    workflow: Option<PathBuf>,
    /// The increment activity component.
    #[arg(long, default_value = "target/wasm32-wasip2/release/increment.wasm")]
    pub(crate) activity: PathBuf,
    /// Sequential chain(10) runs for the latency figures.
    #[arg(long, default_value_t = 300)]
    pub(crate) runs: usize,
    /// Executions for each throughput figure.
    #[arg(long, default_value_t = 2000)]
    pub(crate) total: usize,
    /// Concurrent executions (or clients) for the throughput figures.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Approximate journal length for the replay figure.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) replay_entries: usize,
    /// Measure through the HTTP API of a `cairn server` (started here, or
    /// the one `--server` names) instead of in process.
    #[arg(long)]
    pub(crate) api: bool,
    /// Abuse a server started here with only the default quotas (one
    /// tenant spins, floods, writes long journals, sends big payloads) and
    /// measure another tenant's latency beside it.
    #[arg(long, conflicts_with = "api")]
    pub(crate) abuse: bool,
    /// The workflow the `--api` waiters run (a signal wait).
    #[arg(long, default_value = "target/wasm32-wasip2/release/signals.wasm")]
    pub(crate) signals: PathBuf,
    /// Executions added for the `--api` run's console pages (0: skip).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) console_executions: usize,
    /// Executions waiting for a signal in the `--api` run (0: skip).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) waiters: usize,
    #[command(flatten)]
    pub(crate) node: NodeOptions,
}

/// A guest language with a chain example.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Language {
    /// examples/chain (Rust).
    Rust,
    /// examples/chain/python/chain.py.
    Python,
    /// examples/chain/typescript/chain.ts.
    Typescript,
}

/// Where a missing guest component comes from.
pub(crate) const BUILD_HINT: &str = "build the guests first: ./x build";

impl BenchArgs {
    /// The chain workflow component to measure.
    fn workflow(&self) -> PathBuf {
        self.workflow.clone().unwrap_or_else(|| match self.language {
            Language::Rust => "target/wasm32-wasip2/release/chain.wasm".into(),
            Language::Python => "target/python/chain.wasm".into(),
            Language::Typescript => "target/typescript/chain.wasm".into(),
        })
    }

    /// The components and sizes of the measurements.
    pub(crate) fn options(&self) -> Result<BenchOptions> {
        Ok(BenchOptions {
            workflow: read_file(&self.workflow(), BUILD_HINT)?,
            activity: read_file(&self.activity, BUILD_HINT)?,
            runs: self.runs,
            total: self.total,
            concurrency: self.concurrency,
            replay_entries: self.replay_entries,
        })
    }
}

/// The store of an in-process measurement in `dir` (or the `--database`),
/// with a PostgreSQL pool wide enough for 32 concurrent executions.
pub(crate) fn bench_store(ctx: &Ctx, dir: &std::path::Path) -> Result<StoreConfig> {
    Ok(match StoreConfig::new(dir, ctx.database.as_deref(), Schema::Migrate)? {
        StoreConfig::Postgres { url, schema, .. } => StoreConfig::Postgres {
            url,
            pool_size: 48,
            schema,
        },
        sqlite => sqlite,
    })
}

/// A server this benchmark started; killed when dropped.
pub(super) struct OwnServer(Child);

impl OwnServer {
    /// Its process id.
    pub(super) fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn bench_error(what: impl std::fmt::Display) -> Error {
    Error::new(
        codes::SERVER,
        format!("the API benchmark failed: {what}"),
        "check the server's log (CAIRN_LOG=info)",
    )
}

/// Starts `cairn server` on a free port (with `extra` arguments); returns
/// it and its API address.
pub(super) fn start_server(
    data_dir: &std::path::Path,
    database: Option<&str>,
    extra: &[&str],
) -> Result<(OwnServer, String)> {
    let exe = std::env::current_exe().map_err(|e| Error::io(std::path::Path::new("cairn"), e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["server", "--listen", "127.0.0.1:0", "--quiet"])
        .args(extra);
    if let Some(url) = database {
        cmd.args(["--database", url]);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(data_dir, e))?;
    let stderr = child.stderr.take().expect("piped");
    let server = OwnServer(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(std::result::Result::ok) {
            if let Some(url) = line.strip_prefix("cairn server: API on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| bench_error("the server did not start"))?;
    Ok((server, url))
}

/// One start-and-wait of chain(n); its latency.
pub(super) async fn chain(client: &Client, n: u64) -> Result<Duration> {
    let t = Instant::now();
    let req = StartRequest {
        workflow: "bench-chain".into(),
        input: json!({ "n": n }),
        id: None,
    };
    match client.start_and_wait(&req, Duration::from_secs(60)).await? {
        StartAnswer::Finished(r) if r.output == Some(json!(n)) => Ok(t.elapsed()),
        other => Err(bench_error(format!("chain({n}) answered {other:?}"))),
    }
}

/// chain(n) through `client`, `runs` sequential runs.
pub(super) async fn latencies(client: &Client, n: u64, runs: usize) -> Result<Samples> {
    let mut lat = Vec::with_capacity(runs);
    for _ in 0..runs {
        lat.push(chain(client, n).await?);
    }
    Ok(lat.into())
}

/// Runs `f(i)` for i in 0..total from `clients` concurrent tasks.
pub(super) async fn fan_out<F, Fut>(total: usize, clients: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (f, next) = (f.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), Error>(());
                }
                f(i).await?;
            }
        }));
    }
    for w in workers {
        w.await.map_err(bench_error)??;
    }
    Ok(())
}

/// Uploads and deploys the benchmark's workflows through `client`.
pub(super) async fn deploy_bench(client: &Client, o: &BenchOptions, signals: &[u8]) -> Result<()> {
    let workflow = client
        .upload_component(ComponentKind::Workflow, o.workflow.clone())
        .await?;
    let activity = client
        .upload_component(ComponentKind::Activity, o.activity.clone())
        .await?;
    let waiting = client
        .upload_component(ComponentKind::Workflow, signals.to_vec())
        .await?;
    for (name, wf, acts) in [
        ("bench-chain", workflow.digest, vec![activity.digest]),
        ("bench-signals", waiting.digest, vec![]),
    ] {
        let req = DeployRequest {
            name: name.into(),
            workflow: wf,
            bindings: Bindings {
                activities: acts,
                http_allow: Default::default(),
            },
        };
        client.deploy(&req).await?;
    }
    Ok(())
}

/// How many executions of `status` the server lists (by paging).
pub(super) async fn count(client: &Client, status: &str) -> Result<usize> {
    let mut q = ListQuery {
        status: Some(status.into()),
        limit: Some(1000),
        ..Default::default()
    };
    let mut n = 0;
    loop {
        let page = client.list(&q).await?;
        n += page.executions.len();
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(n),
        }
    }
}

/// A tenant with `quotas` (made if missing) and a `deploy` client of it.
pub(super) async fn tenant_client(admin: &Client, url: &str, name: &str, quotas: Quotas) -> Result<Arc<Client>> {
    let req = CreateTenantRequest {
        name: name.into(),
        quotas,
    };
    match admin.create_tenant(&req).await {
        Err(e) if e.code == codes::TENANT_EXISTS => {}
        other => drop(other?),
    }
    let req = CreateTokenRequest {
        tenant: Some(name.into()),
        role: Role::Deploy,
        expires_in_s: None,
    };
    let token = admin.create_token(&req).await?.token;
    Ok(Arc::new(Client::with_token(url, Some(&token), None)?))
}
