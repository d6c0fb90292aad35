//! `cairn list` (a local store or a server) and `cairn show` (a local store).

use super::{Ctx, Format, render};
use crate::error::{Error, Result};
use crate::node::{ListQuery, Schema};
use clap::Args;
use std::process::ExitCode;

/// Arguments of `cairn list`.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only executions with this status (running, sleeping, queued, completed, failed, parked, terminated,
    /// continued); repeat for several.
    #[arg(long)]
    status: Vec<String>,
    /// At most this many (1 to 1000), newest first.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Only executions of this workflow.
    #[arg(long)]
    workflow: Option<String>,
    /// Only executions created at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only executions created before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Continue a previous listing (the cursor it printed).
    #[arg(long)]
    cursor: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `cairn show`.
#[derive(Args)]
pub(crate) struct ShowArgs {
    /// Execution id.
    id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Parses an RFC 3339 time (`2026-11-23T10:00:00Z`) into ms since the epoch.
fn parse_time(text: &str) -> Result<i64> {
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| {
        Error::invalid(
            format!("`{text}` is not a time: {e}"),
            "use RFC 3339, e.g. 2026-11-23T10:00:00Z",
        )
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

impl ListArgs {
    fn query(&self) -> Result<ListQuery> {
        Ok(ListQuery {
            status: (!self.status.is_empty()).then(|| self.status.join(",")),
            workflow: self.workflow.clone(),
            from_ms: self.since.as_deref().map(parse_time).transpose()?,
            to_ms: self.until.as_deref().map(parse_time).transpose()?,
            limit: Some(self.limit),
            cursor: self.cursor.clone(),
        })
    }
}

/// `cairn list`: from the server with `--server`, else from the store.
pub(crate) async fn list(ctx: &Ctx, args: ListArgs) -> Result<ExitCode> {
    let query = args.query()?;
    let page = match &ctx.server {
        Some(_) => ctx.client()?.list(&query).await?,
        None => {
            ctx.store_node(Schema::Require)
                .await?
                .list(&ctx.local_caller(), &query)
                .await?
        }
    };
    match args.output {
        // A server's page keeps its cursor; a local listing is the array.
        Format::Json if ctx.server.is_some() => render::json(&page),
        Format::Json => render::json(&page.executions),
        Format::Text => {
            render::executions(&page.executions);
            if let Some(c) = &page.next_cursor {
                eprintln!("(more: next cursor {c})");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn show`: the execution and its journal, from the store.
pub(crate) async fn show(ctx: &Ctx, args: ShowArgs) -> Result<ExitCode> {
    let node = ctx.store_node(Schema::Require).await?;
    let detail = node.describe(&ctx.local_caller(), &args.id).await?;
    let journal = node.journal(&ctx.local_caller(), &args.id).await?;
    if args.output == Format::Json {
        let entries: Vec<serde_json::Value> = journal
            .iter()
            .map(|e| {
                serde_json::json!({
                    "seq": e.seq,
                    "kind": e.kind,
                    "at": render::time(e.at_ms),
                    "payload": e.payload,
                })
            })
            .collect();
        render::json(&serde_json::json!({ "execution": detail.execution, "journal": entries }));
        return Ok(ExitCode::SUCCESS);
    }
    render::execution(&detail.execution, Some(detail.inbox_messages));
    println!();
    render::timeline(&journal);
    println!();
    render::journal(&journal);
    Ok(ExitCode::SUCCESS)
}
