//! `cairn bench`: the measurements of `node::bench`, on a fresh temporary
//! data directory (or the given database).

use super::{Ctx, NodeOptions, read_file, render};
use crate::error::Result;
use crate::node::bench::{self, BenchOptions};
use crate::node::{Schema, StoreConfig};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

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
    api: bool,
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

/// Runs every benchmark and prints a report.
pub(crate) async fn bench(ctx: &Ctx, args: BenchArgs) -> Result<ExitCode> {
    if args.api {
        return super::bench_api::bench_api(ctx, args).await;
    }
    let options = args.options()?;
    let dir = std::env::temp_dir().join(format!("cairn-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut node = args.node.clone();
    node.quiet = true;
    // A fresh store, but the data directory's compiled artifacts: a big
    // Python or TypeScript component is compiled once, not on every run.
    let mut config = node.config(&dir)?;
    config.cache_dir = ctx.data_dir.join("cache");
    let store = bench_store(ctx, &dir)?;
    let progress = render::Progress::start("measuring");
    let result = bench::run(&store, config, options, |line| progress.line(&line)).await;
    drop(progress);
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|_| ExitCode::SUCCESS)
}
