//! `cairn bench`: placeholder replaced below.
use clap::Args;
use std::process::ExitCode;
/// Arguments of `cairn bench`.
#[derive(Args)]
pub struct BenchArgs {}
/// Runs the benchmarks.
pub async fn bench(_a: BenchArgs) -> crate::error::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
