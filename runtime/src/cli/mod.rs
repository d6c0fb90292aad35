//! The `cairn` command line.

mod bench;
mod inspect;
mod ops;
mod remote;
mod replay;
mod run;

use crate::engine::{Engine, EngineConfig};
use crate::error::{Error, Result, codes};
use crate::scheduler::{Runtime, RuntimeConfig};
use crate::store::Store;
use crate::store::postgres::{PostgresStore, Schema};
use crate::store::sqlite::SqliteStore;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Durable workflows as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "cairn", version, about)]
struct Cli {
    /// Data directory of the embedded store and the compiled-component cache
    /// [default: ~/.local/share/cairn].
    #[arg(long, env = "CAIRN_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db) of a shared store; without
    /// it, the embedded SQLite store of the data directory is used.
    #[arg(long, env = "CAIRN_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Address of a `cairn server` API (e.g. http://127.0.0.1:7400) for
    /// deploy, start, describe, result, history, list, signal, cancel,
    /// terminate and schedule.
    #[arg(long, env = "CAIRN_SERVER", global = true)]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text and tables.
    Text,
    /// JSON for scripts.
    Json,
}

/// Limits of guests and of this node.
#[derive(Args, Clone, Debug)]
pub struct NodeOptions {
    /// Memory cap of one guest instance, MiB.
    #[arg(long, default_value_t = 256)]
    memory_limit_mb: usize,
    /// Longest a workflow may compute without a host call, ms.
    #[arg(long, default_value_t = 5000)]
    cpu_budget_ms: u64,
    /// Sleeps longer than this drop the instance and wake by replay, ms.
    #[arg(long, default_value_t = 2000)]
    evict_after_ms: u64,
    /// Lease duration of executions this node runs, ms.
    #[arg(long, default_value_t = 5000)]
    lease_ms: u64,
    /// Do not print workflow log lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workflow to completion on the embedded store and print its output.
    Run(run::RunArgs),
    /// Continue every unfinished execution in the data directory and wait for them.
    Resume(run::ResumeArgs),
    /// List executions.
    List(inspect::ListArgs),
    /// Show one execution and its journal.
    Show(inspect::ShowArgs),
    /// Replay stored journals against a new component and report divergences.
    Replay(replay::ReplayArgs),
    /// Run a node: the HTTP API, plus claiming and running executions.
    Server(ops::ServerArgs),
    /// Upload components and create the next version of a deployment.
    Deploy(remote::DeployArgs),
    /// Start an execution of a deployment.
    Start(remote::StartArgs),
    /// Describe an execution.
    Describe(remote::IdArgs),
    /// Print an execution's result (`--wait` until it finishes).
    Result(remote::ResultArgs),
    /// Print an execution's journal.
    History(remote::IdArgs),
    /// Send a signal to an execution.
    Signal(remote::SignalArgs),
    /// Request cancellation of an execution (it may compensate).
    Cancel {
        /// Execution id.
        id: String,
    },
    /// Terminate an execution at once (no compensation).
    Terminate(remote::TerminateArgs),
    /// Cron schedules of deployments.
    #[command(subcommand)]
    Schedule(remote::ScheduleCommand),
    /// Report on the store: reachable, schema version, live nodes, backlog.
    Status(ops::StatusArgs),
    /// Database administration.
    #[command(subcommand)]
    Db(ops::DbCommand),
    /// Measure latency, throughput, replay and instantiation on this machine.
    Bench(bench::BenchArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Die quietly when stdout is a closed pipe (`cairn show ID | head`).
    // SAFETY: restoring the default disposition of SIGPIPE at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "{}",
                Error::new(
                    codes::IO,
                    format!("cannot start the async runtime: {e}"),
                    "check system limits"
                )
            );
            return ExitCode::from(1);
        }
    };
    let ctx = Ctx {
        data_dir: cli.data_dir.unwrap_or_else(default_data_dir),
        database: cli.database,
    };
    let server = cli.server;
    let result = rt.block_on(async move {
        let client = || match &server {
            Some(url) => crate::api::client::Client::new(url),
            None => Err(Error::new(
                codes::INVALID_ARGUMENT,
                "this command talks to a Cairn server, and none was given",
                "pass --server http://HOST:PORT or set CAIRN_SERVER (start one with `cairn server`)",
            )),
        };
        match cli.command {
            Command::List(a) if server.is_some() => a.remote(&client()?).await,
            Command::Deploy(a) => remote::deploy(&client()?, a).await,
            Command::Start(a) => remote::start(&client()?, a).await,
            Command::Describe(a) => remote::describe(&client()?, a).await,
            Command::Result(a) => remote::result(&client()?, a).await,
            Command::History(a) => remote::history(&client()?, a).await,
            Command::Signal(a) => remote::signal(&client()?, a).await,
            Command::Cancel { id } => remote::cancel(&client()?, &id).await,
            Command::Terminate(a) => remote::terminate(&client()?, a).await,
            Command::Schedule(a) => remote::schedule(&client()?, a).await,
            Command::Run(a) => run::run(&ctx, a).await,
            Command::Resume(a) => run::resume(&ctx, a).await,
            Command::List(a) => inspect::list(&ctx, a).await,
            Command::Show(a) => inspect::show(&ctx, a).await,
            Command::Replay(a) => replay::replay(&ctx, a).await,
            Command::Server(a) => ops::server(&ctx, a).await,
            Command::Status(a) => ops::status(&ctx, a).await,
            Command::Db(a) => ops::db(&ctx, a).await,
            Command::Bench(a) => bench::bench(&ctx, a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn default_data_dir() -> PathBuf {
    dirs::data_local_dir().unwrap_or_else(std::env::temp_dir).join("cairn")
}

/// Where a command finds its store and cache.
pub struct Ctx {
    /// Data directory (SQLite file, compiled-component cache).
    pub data_dir: PathBuf,
    /// PostgreSQL URL, if the store is shared.
    pub database: Option<String>,
}

impl Ctx {
    /// Opens the store: PostgreSQL when a URL is given, else SQLite.
    pub async fn open_store(&self, schema: Schema) -> Result<Arc<dyn Store>> {
        match &self.database {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Arc::new(PostgresStore::connect(url, 16, schema).await?))
            }
            Some(url) => Err(Error::new(
                codes::INVALID_ARGUMENT,
                format!("unsupported database URL `{url}`"),
                "use postgres://USER@HOST:PORT/DB, or omit --database for the embedded SQLite store",
            )),
            None => Ok(Arc::new(SqliteStore::open(&self.data_dir.join("cairn.db"))?)),
        }
    }

    /// The store, for messages.
    pub fn describe(&self) -> String {
        match &self.database {
            Some(url) => crate::store::postgres::redact(url),
            None => self.data_dir.display().to_string(),
        }
    }
}

/// Builds an engine and a runtime node over a store.
pub(crate) fn node(ctx: &Ctx, store: Arc<dyn Store>, o: &NodeOptions) -> Result<Arc<Runtime>> {
    let data_dir = &ctx.data_dir;
    if o.memory_limit_mb == 0 || o.memory_limit_mb > 4096 {
        return Err(Error::new(
            codes::INVALID_ARGUMENT,
            "--memory-limit-mb must be between 1 and 4096",
            "pass e.g. --memory-limit-mb 256",
        ));
    }
    let engine = Engine::new(EngineConfig {
        cache_dir: data_dir.join("cache"),
        memory_limit: o.memory_limit_mb << 20,
        cpu_budget: Duration::from_millis(o.cpu_budget_ms.max(10)),
        max_instances: 1000,
    })?;
    let config = RuntimeConfig {
        lease: Duration::from_millis(o.lease_ms.max(300)),
        evict_after: Duration::from_millis(o.evict_after_ms),
        echo_logs: !o.quiet,
    };
    Ok(Runtime::new(store, engine, config))
}

/// Formats ms since the epoch as RFC 3339.
pub(crate) fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}
