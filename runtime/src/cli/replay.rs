//! `cairn replay`: check stored journals against a new component before
//! switching to it.

use super::{Ctx, Format, NodeOptions, read_file};
use crate::error::Result;
use crate::node::{ReplayRequest, Schema, Verdict};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `cairn replay`.
#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// The new workflow component to check.
    #[arg(long)]
    component: PathBuf,
    /// Only executions of this workflow name (default: the workflow the
    /// component's file is named after, or the only one with executions).
    #[arg(long)]
    workflow: Option<String>,
    /// At most this many executions, newest first.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Specific execution ids (default: all, filtered by --workflow).
    ids: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(flatten)]
    node: NodeOptions,
}

/// Replays each selected journal; exit code 0 when all are compatible, 1 otherwise.
pub(crate) async fn replay(ctx: &Ctx, args: ReplayArgs) -> Result<ExitCode> {
    let component = read_file(&args.component, "check the path")?;
    let node = ctx.node(Schema::Migrate, &args.node).await?;
    let request = ReplayRequest {
        component,
        tenant: ctx.local_caller().tenant,
        workflow: args.workflow,
        file_stem: args.component.file_stem().map(|s| s.to_string_lossy().into_owned()),
        ids: args.ids,
        limit: args.limit,
    };
    let mut all_ok = true;
    let mut rows = Vec::new();
    let report = node.replay(request).await?;
    eprintln!("checking {}: {} execution(s)", report.checked, report.verdicts.len());
    for (id, verdict) in report.verdicts {
        let (status, error) = match &verdict {
            Verdict::Compatible => ("compatible", None),
            Verdict::Diverged(e) => ("diverged", Some(e)),
            Verdict::Failed(e) => ("failed", Some(e)),
        };
        all_ok &= error.is_none();
        match args.output {
            Format::Json => rows.push(
                serde_json::json!({ "execution_id": id, "verdict": status, "error": error.map(|e| e.to_json()) }),
            ),
            Format::Text => match error {
                None => println!("{id}  compatible"),
                Some(e) => println!("{id}  {status}: [{}] {}", e.code.0, e.message),
            },
        }
    }
    if args.output == Format::Json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
