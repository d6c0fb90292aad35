//! Operating a deployment: `cairn server`, `cairn status`, `cairn db`.

use super::render::time;
use super::{Ctx, Format, NodeOptions};
use crate::api::{ApiLimits, ApiState};
use crate::error::{Error, Result, codes};
use crate::node::Schema;
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// Arguments of `cairn server`.
#[derive(Args)]
pub(crate) struct ServerArgs {
    /// Executions this node runs at once.
    #[arg(long, default_value_t = 256)]
    max_concurrent: usize,
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: String,
    /// Do not serve the HTTP API (a worker-only node).
    #[arg(long)]
    no_api: bool,
    /// Largest JSON request body (inputs, signals), bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_payload_bytes: usize,
    /// Largest component upload, bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_component_bytes: usize,
    /// Require a token on every API request (needed to listen beyond
    /// loopback). Without it, the server asks for tokens anyway as soon as
    /// the store holds a confirmed one; `--auth=false` on such a store is
    /// refused (`CAIRN-E038`).
    #[arg(long, env = "CAIRN_AUTH", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    auth: Option<bool>,
    /// A name (besides IP addresses and localhost) the API answers to, as
    /// the `Host` of a request: `cairn.example.com`, `*.example.com`, or
    /// `*` for any (behind a proxy that checks). Repeatable.
    #[arg(long = "allowed-host", env = "CAIRN_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// A file holding the first admin token (implies --auth): registered
    /// if new; when the file does not exist a token is made and written to it.
    #[arg(long, env = "CAIRN_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<std::path::PathBuf>,
    /// Serve the API over TLS with this certificate chain (PEM; with --tls-key).
    #[arg(long, env = "CAIRN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "CAIRN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Count nothing and serve no `/metrics` (metrics cost < 3 % of a step).
    #[arg(long, env = "CAIRN_NO_METRICS")]
    no_metrics: bool,
    #[command(flatten)]
    node: NodeOptions,
}

/// Arguments of `cairn status`.
#[derive(Args)]
pub(crate) struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// `cairn db ...`.
#[derive(Subcommand)]
pub(crate) enum DbCommand {
    /// Apply pending schema migrations.
    Migrate,
}

/// `cairn server`: migrates, then claims and runs executions until Ctrl-C / SIGTERM.
pub(crate) async fn server(ctx: &Ctx, args: ServerArgs) -> Result<ExitCode> {
    if args.no_metrics {
        crate::metrics::disable();
    }
    let mut config = args.node.config(&ctx.data_dir)?;
    config.max_concurrent = args.max_concurrent.max(1);
    let node = crate::node::Node::open(&ctx.store(Schema::Migrate)?, config).await?;
    if args.auth == Some(false) && args.admin_token_file.is_some() {
        return Err(Error::invalid(
            "--auth=false and --admin-token-file contradict each other",
            "drop one of them",
        ));
    }
    if let Some(path) = &args.admin_token_file {
        admin_token_file(&node, path).await?;
    }
    let tokens = node.requires_token().await?;
    if args.auth == Some(false) && tokens {
        return Err(Error::new(
            codes::OPEN_WITH_TOKENS,
            "refusing to serve without authentication: the store holds tokens, and an open server makes every local caller (and every web page its operator visits) a superuser of every tenant",
            "drop --auth=false (tokens are then required), or revoke the store's tokens first",
        ));
    }
    let auth = args.auth.unwrap_or(false) || args.admin_token_file.is_some() || tokens;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::api::tls::acceptor(cert, key)?),
        _ => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api = if args.no_api {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(|e| {
            Error::new(
                codes::IO,
                format!("cannot listen on {}: {e}", args.listen),
                "pick another address with --listen",
            )
        })?;
        if !auth && listener.local_addr().is_ok_and(|a| !a.ip().is_loopback()) {
            return Err(Error::new(
                codes::INSECURE_LISTEN,
                format!("refusing to serve the API on {} without authentication", args.listen),
                "pass --auth (and --admin-token-file FILE for the first admin token), or listen on 127.0.0.1",
            ));
        }
        let state = ApiState {
            node: node.clone(),
            limits: ApiLimits {
                max_payload: args.max_payload_bytes,
                max_component: args.max_component_bytes,
            },
            auth,
            hosts: crate::api::guard::AllowedHosts::new(args.allowed_hosts.clone()),
            tls: tls.is_some(),
        };
        let mut stop = stop_rx.clone();
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(args.listen.clone());
        let how = if auth {
            if tokens && args.auth.is_none() && args.admin_token_file.is_none() {
                "tokens required (the store holds tokens)"
            } else {
                "tokens required"
            }
        } else {
            "no auth: loopback only"
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("cairn server: API on {scheme}://{addr}");
        eprintln!("cairn server: {how}");
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        Some(match tls {
            Some(acceptor) => tokio::spawn(crate::api::tls::serve(listener, acceptor, state, stopped)),
            None => tokio::spawn(crate::api::serve(listener, state, stopped)),
        })
    };
    eprintln!("cairn server: node {} on {}", node.id(), node.describe_store());
    node.serve(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    if let Some(api) = api {
        let _ = api.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Registers the admin token a file holds, or makes one and writes it there.
async fn admin_token_file(node: &crate::node::Node, path: &std::path::Path) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    match std::fs::read_to_string(path) {
        Ok(text) => node.register_admin_token(text.trim()).await.map(|_| ()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = node.register_admin_token("").await?;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            writeln!(file, "{token}").map_err(io)?;
            eprintln!("cairn server: wrote a new admin token to {}", path.display());
            Ok(())
        }
        Err(e) => Err(io(e)),
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// `cairn db migrate`.
pub(crate) async fn db(ctx: &Ctx, command: DbCommand) -> Result<ExitCode> {
    match command {
        DbCommand::Migrate => {
            let opening = ctx.store_node(Schema::Migrate);
            let node = super::render::with_spinner("migrating the schema".into(), opening).await?;
            let version = node.migrate().await?;
            println!("schema at version {version} ({})", node.describe_store());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `cairn status`: exit 0 when the store is reachable and current.
pub(crate) async fn status(ctx: &Ctx, args: StatusArgs) -> Result<ExitCode> {
    let (s, store) = match &ctx.server {
        Some(url) => (ctx.client()?.status().await?, format!("through the server {url}")),
        None => {
            ctx.existing_store()?;
            let node = ctx.store_node(Schema::Inspect).await?;
            (node.status().await?, node.describe_store())
        }
    };
    let pending = s.latest_version - s.schema_version;
    if args.output == Format::Json {
        let mut v = serde_json::to_value(&s).expect("status encodes");
        v["reachable"] = true.into();
        v["pending_migrations"] = pending.into();
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON encodes"));
    } else {
        println!("store      {} ({store}), reachable", s.backend);
        if pending == 0 {
            println!("schema     version {} (current)", s.schema_version);
        } else {
            println!(
                "schema     version {} of {}: {pending} migration(s) pending",
                s.schema_version, s.latest_version
            );
        }
        println!("nodes      {} live", s.nodes.len());
        if !s.nodes.is_empty() {
            println!("  {:<40}  {:<24}  {:<24}  LEASES", "NODE", "STARTED", "LAST HEARTBEAT");
            for n in &s.nodes {
                println!(
                    "  {:<40}  {:<24}  {:<24}  {}",
                    n.id,
                    time(n.started_at_ms),
                    time(n.heartbeat_at_ms),
                    n.leases
                );
            }
        }
        let b = &s.backlog;
        println!(
            "backlog    runnable {}  leased {}  sleeping {}  queued {}  parked {}",
            b.runnable, b.leased, b.sleeping, b.queued, b.parked
        );
        println!(
            "finished   completed {}  failed {}  terminated {}",
            b.completed, b.failed, b.terminated
        );
    }
    if pending > 0 {
        let e = Error::new(
            codes::DB_UNINITIALIZED,
            format!("the schema is at version {} of {}", s.schema_version, s.latest_version),
            "run `cairn db migrate` (or start `cairn server`, which migrates on start)",
        );
        eprintln!("{e}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
