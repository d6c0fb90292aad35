//! `cairn bench`: the measurements of `node::bench`, on a fresh temporary
//! data directory (or the given database).

use super::{Ctx, NodeOptions, read_file};
use crate::error::Result;
use crate::node::bench::{self, BenchOptions};
use crate::node::{Schema, StoreConfig};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `cairn bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
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

/// Runs every benchmark and prints a report.
pub(crate) async fn bench(ctx: &Ctx, args: BenchArgs) -> Result<ExitCode> {
    let hint = "build the guests first: ./x build";
    let options = BenchOptions {
        workflow: read_file(&args.workflow, hint)?,
        activity: read_file(&args.activity, hint)?,
        runs: args.runs,
        total: args.total,
        concurrency: args.concurrency,
        replay_entries: args.replay_entries,
    };
    let dir = std::env::temp_dir().join(format!("cairn-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut node = args.node.clone();
    node.quiet = true;
    let config = node.config(&dir)?;
    let store = match StoreConfig::new(&dir, ctx.database.as_deref(), Schema::Migrate)? {
        StoreConfig::Postgres { url, schema, .. } => StoreConfig::Postgres {
            url,
            pool_size: 48,
            schema,
        },
        sqlite => sqlite,
    };
    let result = bench::run(&store, config, options, |line| println!("{line}")).await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|_| ExitCode::SUCCESS)
}
