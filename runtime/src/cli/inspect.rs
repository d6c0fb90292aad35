//! `cairn list` and `cairn show`.

use super::{Ctx, Format, time};
use crate::error::{Error, Result, codes};
use crate::store::postgres::Schema;
use crate::store::{ListFilter, Status};
use clap::Args;
use std::process::ExitCode;

/// Arguments of `cairn list`.
#[derive(Args)]
pub struct ListArgs {
    /// Only executions with this status (running, sleeping, completed, failed, parked).
    #[arg(long)]
    status: Vec<String>,
    /// At most this many, newest first.
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
    /// Continue a previous listing (the cursor it printed; with --server).
    #[arg(long)]
    cursor: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `cairn show`.
#[derive(Args)]
pub struct ShowArgs {
    /// Execution id.
    id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

impl ListArgs {
    /// `cairn list` against a server's API.
    pub async fn remote(self, client: &crate::api::client::Client) -> Result<ExitCode> {
        let mut query = format!("?limit={}", self.limit);
        if !self.status.is_empty() {
            query += &format!("&status={}", self.status.join(","));
        }
        if let Some(w) = &self.workflow {
            query += &format!("&workflow={w}");
        }
        for (name, value) in [("from_ms", &self.since), ("to_ms", &self.until)] {
            if let Some(t) = value {
                query += &format!("&{name}={}", parse_time(t)?);
            }
        }
        if let Some(c) = &self.cursor {
            query += &format!("&cursor={c}");
        }
        super::remote::list(client, &query, self.output).await
    }
}

/// Parses an RFC 3339 time (`2026-11-23T10:00:00Z`) into ms since the epoch.
fn parse_time(text: &str) -> Result<i64> {
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| {
        Error::new(
            codes::INVALID_ARGUMENT,
            format!("`{text}` is not a time: {e}"),
            "use RFC 3339, e.g. 2026-11-23T10:00:00Z",
        )
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

/// `cairn list`.
pub async fn list(ctx: &Ctx, args: ListArgs) -> Result<ExitCode> {
    let statuses = args
        .status
        .iter()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                Error::new(
                    codes::INVALID_ARGUMENT,
                    format!("unknown status `{s}`"),
                    "use running, sleeping, completed, failed or parked",
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let store = ctx.open_store(Schema::Require).await?;
    let execs = store
        .list(&ListFilter {
            statuses,
            limit: Some(args.limit),
            workflow: args.workflow.clone(),
            created_from_ms: args.since.as_deref().map(parse_time).transpose()?,
            created_to_ms: args.until.as_deref().map(parse_time).transpose()?,
            ..Default::default()
        })
        .await?;
    if args.output == Format::Json {
        println!("{}", serde_json::to_string_pretty(&execs).expect("executions encode"));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<10}  {:<16}  {:<24}  UPDATED",
        "ID", "STATUS", "WORKFLOW", "CREATED"
    );
    for e in execs {
        println!(
            "{:<36}  {:<10}  {:<16}  {:<24}  {}",
            e.id,
            e.status.as_str(),
            truncate(&e.workflow, 16),
            time(e.created_at_ms),
            time(e.updated_at_ms)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn show`: the execution and its journal.
pub async fn show(ctx: &Ctx, args: ShowArgs) -> Result<ExitCode> {
    let store = ctx.open_store(Schema::Require).await?;
    let exec = store.execution(&args.id).await?.ok_or_else(|| {
        Error::new(
            codes::NOT_FOUND,
            format!("no execution with id {}", args.id),
            "list executions with `cairn list`",
        )
    })?;
    let journal = store.journal(&args.id).await?;
    if args.output == Format::Json {
        let entries: Vec<serde_json::Value> = journal
            .iter()
            .map(|e| {
                serde_json::json!({
                    "seq": e.seq,
                    "kind": e.kind,
                    "at": time(e.at_ms),
                    "payload": serde_json::from_str::<serde_json::Value>(&e.payload).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        let v = serde_json::json!({ "execution": exec, "journal": entries });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON encodes"));
        return Ok(ExitCode::SUCCESS);
    }
    println!("execution  {}", exec.id);
    println!(
        "workflow   {} (component {})",
        exec.workflow,
        &exec.component[..12.min(exec.component.len())]
    );
    println!("status     {}", exec.status.as_str());
    println!("created    {}", time(exec.created_at_ms));
    println!("input      {}", truncate(&exec.input, 100));
    if let Some(o) = &exec.output {
        println!("output     {}", truncate(o, 100));
    }
    if let Some(e) = &exec.error {
        println!("error      {}", truncate(e, 200));
    }
    if let Some(w) = exec.wake_at_ms {
        println!("wakes at   {}", time(w));
    }
    println!();
    let start = journal.first().map(|e| e.at_ms).unwrap_or(0);
    println!("{:>5}  {:<15}  {:>9}  DETAIL", "SEQ", "KIND", "AT (ms)");
    for e in &journal {
        println!(
            "{:>5}  {:<15}  {:>9}  {}",
            e.seq,
            e.kind,
            format!("+{}", e.at_ms - start),
            truncate(&e.payload, 110)
        );
    }
    Ok(ExitCode::SUCCESS)
}
