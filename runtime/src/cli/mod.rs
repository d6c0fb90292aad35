//! The `cairn` command line: parses arguments, calls the node (or a server
//! through the API client) and renders the answers with one renderer.

mod admin;
mod bench;
mod inspect;
mod ops;
mod remote;
mod render;
mod replay;
mod run;

use crate::api::client::Client;
use crate::error::{Error, Result, codes};
use crate::model::Quotas;
use crate::node::{Node, NodeConfig, Schema, StoreConfig};
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
    /// Tenant to act in (default: the token's own, or `default`).
    #[arg(long, env = "CAIRN_TENANT", global = true)]
    tenant: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The options of a server's client (`--server`, `--token`, `--ca-cert`):
/// added by [`parse`] to the verbs that talk to a server only.
fn server_args(hidden: bool) -> [clap::Arg; 3] {
    use clap::Arg;
    [
        Arg::new("server")
            .long("server")
            .env("CAIRN_SERVER")
            .value_name("URL")
            .help("Address of a `cairn server` API (http://127.0.0.1:7400, or 127.0.0.1:7400)"),
        Arg::new("token")
            .long("token")
            .env("CAIRN_TOKEN")
            .hide_env_values(true)
            .help("API token for the server (`Authorization: Bearer`)"),
        Arg::new("ca_cert")
            .long("ca-cert")
            .env("CAIRN_CA_CERT")
            .value_parser(clap::value_parser!(PathBuf))
            .help("CA certificate (PEM) to trust for an https --server with its own certificate"),
    ]
    .map(|a| a.hide(hidden))
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
    /// Longest any wait (for work, a result, a signal, a child) goes without
    /// looking again when no notification came, ms: the fallback for a lost
    /// notification.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Guest instances this node keeps at once; past it, the least recently
    /// used idle one is evicted (and replayed when it wakes).
    #[arg(long, default_value_t = 1000)]
    max_instances: u32,
    /// Memory of all guest instances together, MiB: past it, starts and
    /// memory growth wait for memory (idle instances are asked to leave).
    /// Default: no cap.
    #[arg(long)]
    total_memory_mb: Option<usize>,
    /// Do not print workflow log lines.
    #[arg(long)]
    quiet: bool,
    /// Quotas every tenant has where it has none of its own: JSON over the
    /// built-in defaults (e.g. '{"starts_per_second": 1000}'; docs/security.md
    /// lists them), or `none` for no defaults at all.
    #[arg(long, env = "CAIRN_DEFAULT_QUOTAS", value_name = "JSON|none")]
    default_quotas: Option<String>,
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
    /// List deployments, every version (on a server).
    Deployments(remote::FormatArgs),
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
    /// Resume a parked execution by replay, on a fixed version of its deployment.
    Unpark(remote::UnparkArgs),
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
    /// Manage tenants (admin): create, list, describe, update, delete.
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Manage API tokens (admin): create, list, revoke.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Show the audit trail (admin).
    Audit(admin::AuditArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Die quietly when stdout is a closed pipe (`cairn show ID | head`).
    // SAFETY: restoring the default disposition of SIGPIPE at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let Parsed {
        cli,
        server,
        token,
        ca_cert,
    } = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    crate::traces::init_from_env();
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
        server,
        token,
        tenant: cli.tenant,
        ca_cert,
    };
    let code = match rt.block_on(dispatch(&ctx, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    };
    drop(rt);
    crate::traces::shutdown();
    code
}

/// Verbs that talk to a server (some also work on the store itself): only
/// they take `--server`, `--token` and `--ca-cert` (and their subcommands).
const REMOTE_VERBS: [&str; 17] = [
    "list",
    "deploy",
    "deployments",
    "start",
    "describe",
    "result",
    "history",
    "signal",
    "cancel",
    "terminate",
    "unpark",
    "schedule",
    "status",
    "bench",
    "tenant",
    "token",
    "audit",
];

fn with_server_args(command: clap::Command) -> clap::Command {
    let command = command.args(server_args(false));
    let names: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    names
        .iter()
        .fold(command, |c, name| c.mut_subcommand(name, with_server_args))
}

/// A value given at any level of the command line (the deepest wins).
fn deepest<T: Clone + Send + Sync + 'static>(m: &clap::ArgMatches, id: &str) -> Option<T> {
    let deeper = m.subcommand().and_then(|(_, sub)| deepest(sub, id));
    deeper.or_else(|| m.try_get_one::<T>(id).ok().flatten().cloned())
}

/// The parsed command line and its server options.
struct Parsed {
    cli: Cli,
    server: Option<String>,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
}

/// Parses the command line (exits on `--help`, `--version` and usage
/// errors). The server's options show only on the verbs that talk to one
/// (before the verb they are still taken, hidden, as they always were);
/// given before a verb that does not, they are refused.
fn parse() -> Result<Parsed> {
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
    let mut command = Cli::command().args(server_args(true));
    for verb in REMOTE_VERBS {
        command = command.mut_subcommand(verb, with_server_args);
    }
    let matches = command.get_matches();
    if let Some((verb, _)) = matches.subcommand()
        && !REMOTE_VERBS.contains(&verb)
        && let Some(id) = ["server", "token", "ca_cert"]
            .into_iter()
            .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
    {
        return Err(Error::invalid(
            format!(
                "`cairn {verb}` does not talk to a server: --{} does nothing here",
                id.replace('_', "-")
            ),
            "it works on the embedded store (--data-dir) or --database; `cairn help` lists the verbs that take --server",
        ));
    }
    Ok(Parsed {
        cli: Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()),
        server: deepest(&matches, "server"),
        token: deepest(&matches, "token"),
        ca_cert: deepest(&matches, "ca_cert"),
    })
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<ExitCode> {
    match command {
        Command::List(a) => inspect::list(ctx, a).await,
        Command::Deploy(a) => remote::deploy(&ctx.client()?, a).await,
        Command::Deployments(a) => remote::deployments(&ctx.client()?, a).await,
        Command::Start(a) => remote::start(&ctx.client()?, a).await,
        Command::Describe(a) => remote::describe(&ctx.client()?, a).await,
        Command::Result(a) => remote::result(&ctx.client()?, a).await,
        Command::History(a) => remote::history(&ctx.client()?, a).await,
        Command::Signal(a) => remote::signal(&ctx.client()?, a).await,
        Command::Cancel { id } => remote::cancel(&ctx.client()?, &id).await,
        Command::Terminate(a) => remote::terminate(&ctx.client()?, a).await,
        Command::Unpark(a) => remote::unpark(&ctx.client()?, a).await,
        Command::Schedule(a) => remote::schedule(&ctx.client()?, a).await,
        Command::Run(a) => run::run(ctx, a).await,
        Command::Resume(a) => run::resume(ctx, a).await,
        Command::Show(a) => inspect::show(ctx, a).await,
        Command::Replay(a) => replay::replay(ctx, a).await,
        Command::Server(a) => ops::server(ctx, a).await,
        Command::Status(a) => ops::status(ctx, a).await,
        Command::Db(a) => ops::db(ctx, a).await,
        Command::Bench(a) if a.api => bench::bench_api(ctx, a).await,
        Command::Bench(a) if a.abuse => bench::bench_abuse(ctx, a).await,
        Command::Bench(a) => bench::bench(ctx, a).await,
        Command::Tenant(a) => admin::tenant(ctx, a).await,
        Command::Token(a) => admin::token(ctx, a).await,
        Command::Audit(a) => admin::audit(ctx, a).await,
    }
}

fn default_data_dir() -> PathBuf {
    dirs::data_local_dir().unwrap_or_else(std::env::temp_dir).join("cairn")
}

/// Where a command finds its store, cache and server.
pub(crate) struct Ctx {
    /// Data directory (SQLite file, compiled-component cache).
    pub(crate) data_dir: PathBuf,
    /// PostgreSQL URL, if the store is shared.
    pub(crate) database: Option<String>,
    /// A server's API, for the verbs that talk to one.
    pub(crate) server: Option<String>,
    /// `--token` / `CAIRN_TOKEN`.
    pub(crate) token: Option<String>,
    /// `--tenant` / `CAIRN_TENANT`.
    pub(crate) tenant: Option<String>,
    /// `--ca-cert` / `CAIRN_CA_CERT`.
    pub(crate) ca_cert: Option<PathBuf>,
}

impl Ctx {
    /// The store of this data directory or database URL.
    pub(crate) fn store(&self, schema: Schema) -> Result<StoreConfig> {
        StoreConfig::new(&self.data_dir, self.database.as_deref(), schema)
    }

    /// A node on the store with the given guest limits.
    async fn node(&self, schema: Schema, options: &NodeOptions) -> Result<Arc<Node>> {
        Node::open(&self.store(schema)?, options.config(&self.data_dir)?).await
    }

    /// Fails with `CAIRN-E020` when the embedded store of the data directory
    /// does not exist yet (instead of creating an empty one to report on).
    pub(crate) fn existing_store(&self) -> Result<()> {
        if let StoreConfig::Sqlite { path } = self.store(Schema::Inspect)?
            && !path.exists()
        {
            return Err(Error::new(
                codes::DB_UNINITIALIZED,
                format!("there is no Cairn store at {}", path.display()),
                "nothing has run with this data directory: pass --data-dir DIR (or CAIRN_DATA_DIR), --database URL or --server URL; or run a workflow first",
            ));
        }
        Ok(())
    }

    /// A node for commands that only read and write the store.
    async fn store_node(&self, schema: Schema) -> Result<Arc<Node>> {
        let config = NodeConfig {
            cache_dir: self.data_dir.join("cache"),
            ..Default::default()
        };
        Node::open(&self.store(schema)?, config).await
    }

    /// The caller of commands working on the store itself: admin, in
    /// `--tenant` (default `default`).
    pub(crate) fn local_caller(&self) -> crate::node::Caller {
        crate::node::Caller::local(self.tenant.as_deref().unwrap_or(crate::model::tenancy::DEFAULT_TENANT))
    }

    /// The client of `--server`.
    fn client(&self) -> Result<Client> {
        match &self.server {
            Some(url) => Client::with_options(
                url,
                self.token.as_deref(),
                self.tenant.as_deref(),
                self.ca_cert.as_deref(),
            ),
            None => Err(Error::invalid(
                "this command talks to a Cairn server, and none was given",
                "pass --server http://HOST:PORT or set CAIRN_SERVER (start one with `cairn server`)",
            )),
        }
    }
}

impl NodeOptions {
    /// The node settings these options give, with the cache in `data_dir`.
    pub(crate) fn config(&self, data_dir: &std::path::Path) -> Result<NodeConfig> {
        if self.memory_limit_mb == 0 || self.memory_limit_mb > 4096 {
            return Err(Error::invalid(
                "--memory-limit-mb must be between 1 and 4096",
                "pass e.g. --memory-limit-mb 256",
            ));
        }
        if self.cpu_budget_ms == 0 {
            return Err(Error::invalid(
                "--cpu-budget-ms must be at least 1",
                "pass e.g. --cpu-budget-ms 5000",
            ));
        }
        if self.total_memory_mb.is_some_and(|t| t < self.memory_limit_mb) {
            return Err(Error::invalid(
                "--total-memory-mb must be at least --memory-limit-mb",
                "one instance may use --memory-limit-mb: give the node at least that much",
            ));
        }
        let default_quotas = match self.default_quotas.as_deref().map(str::trim) {
            None => Quotas::defaults(),
            Some("none") => Quotas::default(),
            Some(json) => {
                let own: Quotas = serde_json::from_str(json).map_err(|e| {
                    Error::invalid(
                        format!("--default-quotas is not quotas: {e}"),
                        "pass JSON such as '{\"starts_per_second\": 1000}', or `none`",
                    )
                })?;
                crate::node::check_quotas(&own)?;
                own.over(&Quotas::defaults())
            }
        };
        Ok(NodeConfig {
            cache_dir: data_dir.join("cache"),
            default_quotas,
            memory_limit: self.memory_limit_mb << 20,
            cpu_budget: Duration::from_millis(self.cpu_budget_ms),
            max_instances: self.max_instances.max(2),
            total_memory: self.total_memory_mb.map(|m| m.saturating_mul(1 << 20)),
            lease: Duration::from_millis(self.lease_ms.max(300)),
            evict_after: Duration::from_millis(self.evict_after_ms),
            echo_logs: !self.quiet,
            fallback: Duration::from_millis(self.poll_ms.max(10)),
            ..NodeConfig::default()
        })
    }
}

/// Reads a file a command was given.
fn read_file(path: &std::path::Path, hint: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::new(
            codes::IO,
            format!("cannot read {}: {e}", path.display()),
            hint.to_owned(),
        )
    })
}

/// Parses a JSON argument.
fn json_arg(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::new(
            codes::INVALID_INPUT,
            format!("{what} is not valid JSON: {e}"),
            "pass JSON, e.g. '{\"n\": 10}'",
        )
    })
}

/// Parses `--allow-http [NAME=]HOST[:PORT]` grants.
fn parse_allow(specs: &[String]) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for spec in specs {
        let (name, host) = spec.split_once('=').unwrap_or(("*", spec));
        if host.is_empty() || host.contains('/') || name.is_empty() {
            return Err(Error::invalid(
                format!("--allow-http {spec}: expected [NAME=]HOST[:PORT]"),
                "e.g. --allow-http fetch=api.example.com or --allow-http 127.0.0.1:8080",
            ));
        }
        map.entry(name.to_owned()).or_default().push(host.to_owned());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_grants_parse_per_activity_or_for_all() {
        let m = parse_allow(&["fetch=a.example".into(), "b.example:8080".into(), "fetch=c".into()]).unwrap();
        assert_eq!(m["fetch"], ["a.example", "c"]);
        assert_eq!(m["*"], ["b.example:8080"]);
        assert!(parse_allow(&["x=".into()]).is_err());
        assert!(parse_allow(&["http://a/b".into()]).is_err());
    }
}
