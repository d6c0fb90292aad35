//! `cairn bench` in process: the measurements of `node::bench`, on a
//! fresh temporary data directory (or the given database).

use super::{BenchArgs, bench_store};
use crate::cli::{Ctx, render};
use crate::error::Result;
use crate::node::bench;
use std::process::ExitCode;

/// Runs every benchmark and prints a report.
pub(crate) async fn bench(ctx: &Ctx, args: BenchArgs) -> Result<ExitCode> {
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
