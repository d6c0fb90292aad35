//! `cairn replay`: check stored journals against a new component before
//! switching to it.

use super::{Ctx, Format, NodeOptions, node};
use crate::engine::digest_of;
use crate::error::{Error, Result, codes};
use crate::scheduler::Verdict;
use crate::store::ListFilter;
use crate::store::postgres::Schema;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `cairn replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// The new workflow component to check.
    #[arg(long)]
    component: PathBuf,
    /// Only executions of this workflow name.
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
pub async fn replay(ctx: &Ctx, args: ReplayArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.component).map_err(|e| {
        Error::new(
            codes::IO,
            format!("cannot read {}: {e}", args.component.display()),
            "check the path",
        )
    })?;
    let store = ctx.open_store(Schema::Migrate).await?;
    let rt = node(ctx, store.clone(), &args.node)?;
    let component = rt.engine.workflow(&digest_of(&bytes), &bytes)?;
    let ids: Vec<String> = if args.ids.is_empty() {
        store
            .list(&ListFilter {
                statuses: vec![],
                limit: None,
                ..Default::default()
            })
            .await?
            .into_iter()
            .filter(|e| args.workflow.as_deref().is_none_or(|w| w == e.workflow))
            .take(args.limit as usize)
            .map(|e| e.id)
            .collect()
    } else {
        args.ids.clone()
    };
    let mut all_ok = true;
    let mut rows = Vec::new();
    for id in ids {
        let verdict = rt.replay_check(&id, &component).await?;
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
