//! CLI verbs over the HTTP API of a `cairn server` (`--server` / `CAIRN_SERVER`).

use super::{Format, time};
use crate::api::client::Client;
use crate::error::{Error, Result, codes};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `cairn deploy`.
#[derive(Args)]
pub struct DeployArgs {
    /// Deployment name; each deploy creates the next version (`name@N`).
    name: String,
    /// The workflow component.
    workflow: PathBuf,
    /// Activity components; repeat for several.
    #[arg(long = "activity")]
    activities: Vec<PathBuf>,
    /// Let activity NAME (or all) reach HOST[:PORT] over HTTP.
    #[arg(long = "allow-http", value_name = "[NAME=]HOST[:PORT]")]
    allow_http: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `cairn start`.
#[derive(Args)]
pub struct StartArgs {
    /// Deployment: `name` (latest) or `name@version`.
    workflow: String,
    /// JSON input.
    #[arg(long, default_value = "null")]
    input: String,
    /// Execution id; starting an existing id returns that execution.
    #[arg(long)]
    id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// An execution id and an output format.
#[derive(Args)]
pub struct IdArgs {
    /// Execution id.
    id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `cairn result`.
#[derive(Args)]
pub struct ResultArgs {
    /// Execution id.
    id: String,
    /// Wait until the execution finishes.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `cairn signal`.
#[derive(Args)]
pub struct SignalArgs {
    /// Execution id.
    id: String,
    /// Signal name.
    name: String,
    /// JSON payload.
    #[arg(long, default_value = "null")]
    payload: String,
}

/// Arguments of `cairn terminate`.
#[derive(Args)]
pub struct TerminateArgs {
    /// Execution id.
    id: String,
    /// Why (recorded in the journal).
    #[arg(long)]
    reason: Option<String>,
}

/// `cairn schedule ...`.
#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Create or replace a schedule.
    Create {
        /// Schedule id.
        id: String,
        /// Cron with seconds, e.g. `0 */5 * * * *`.
        #[arg(long)]
        cron: String,
        /// Deployment name.
        #[arg(long)]
        workflow: String,
        /// JSON input of every execution.
        #[arg(long, default_value = "null")]
        input: String,
    },
    /// List schedules.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Delete a schedule.
    Delete {
        /// Schedule id.
        id: String,
    },
}

fn json_arg(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::new(
            codes::INVALID_INPUT,
            format!("{what} is not valid JSON: {e}"),
            "pass JSON, e.g. '{\"n\": 10}'",
        )
    })
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON encodes"));
}

/// Uploads one component with a spinner; returns its digest.
async fn upload(client: &Client, path: &PathBuf, kind: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            codes::IO,
            format!("cannot read {}: {e}", path.display()),
            "check the path",
        )
    })?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!(
        "uploading and compiling {} ({:.1} MiB)",
        path.display(),
        bytes.len() as f64 / 1048576.0
    ));
    bar.enable_steady_tick(Duration::from_millis(100));
    let result = client.post_bytes(&format!("/v1/components?kind={kind}"), bytes).await;
    bar.finish_and_clear();
    let (_, info) = result?;
    Ok(info["digest"].as_str().unwrap_or_default().to_owned())
}

/// `cairn deploy`.
pub async fn deploy(client: &Client, a: DeployArgs) -> Result<ExitCode> {
    let workflow = upload(client, &a.workflow, "workflow").await?;
    let mut activities = Vec::new();
    for p in &a.activities {
        activities.push(upload(client, p, "activity").await?);
    }
    let http_allow = super::run::parse_allow(&a.allow_http)?;
    let (_, d) = client
        .post(
            "/v1/deployments",
            &json!({ "name": a.name, "workflow": workflow, "activities": activities, "http_allow": http_allow }),
        )
        .await?;
    match a.output {
        Format::Json => print_json(&d),
        Format::Text => println!(
            "deployed {}@{} (component {})",
            d["name"].as_str().unwrap_or(""),
            d["version"],
            &workflow[..12.min(workflow.len())]
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn start`.
pub async fn start(client: &Client, a: StartArgs) -> Result<ExitCode> {
    let input = json_arg("--input", &a.input)?;
    let (_, r) = client
        .post(
            "/v1/executions",
            &json!({ "workflow": a.workflow, "input": input, "id": a.id }),
        )
        .await?;
    match a.output {
        Format::Json => print_json(&r),
        Format::Text => {
            println!("{}", r["id"].as_str().unwrap_or_default());
            if r["created"] == false {
                eprintln!("(an execution with this id already existed; nothing new was started)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn describe`.
pub async fn describe(client: &Client, a: IdArgs) -> Result<ExitCode> {
    let (_, e) = client.get(&format!("/v1/executions/{}", a.id)).await?;
    if a.output == Format::Json {
        print_json(&e);
        return Ok(ExitCode::SUCCESS);
    }
    println!("execution  {}", e["id"].as_str().unwrap_or_default());
    println!(
        "workflow   {} (component {})",
        e["workflow"].as_str().unwrap_or_default(),
        &e["component"].as_str().unwrap_or_default()[..12]
    );
    println!("status     {}", e["status"].as_str().unwrap_or_default());
    println!("created    {}", time(e["created_at_ms"].as_i64().unwrap_or(0)));
    println!("updated    {}", time(e["updated_at_ms"].as_i64().unwrap_or(0)));
    println!("input      {}", e["input"].as_str().unwrap_or_default());
    for (label, key) in [
        ("output", "output"),
        ("error", "error"),
        ("parent", "parent"),
        ("owner", "lease_owner"),
    ] {
        if let Some(v) = e[key].as_str() {
            println!("{label:<10} {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn result [--wait]`: exit 0 completed, 1 failed/terminated, 3 parked, 5 still running.
pub async fn result(client: &Client, a: ResultArgs) -> Result<ExitCode> {
    let deadline = std::time::Instant::now() + Duration::from_secs(a.timeout_s);
    loop {
        let wait = if a.wait { 30_000 } else { 0 };
        let (status, r) = client
            .get(&format!("/v1/executions/{}/result?wait_ms={wait}", a.id))
            .await?;
        if status == 200 || !a.wait || std::time::Instant::now() >= deadline {
            let state = r["status"].as_str().unwrap_or_default().to_owned();
            match a.output {
                Format::Json => print_json(&r),
                Format::Text => match state.as_str() {
                    "completed" => println!("{}", r["output"]),
                    "failed" | "terminated" | "parked" => eprintln!(
                        "execution {} {state}: {}",
                        r["id"].as_str().unwrap_or_default(),
                        r["error"]
                    ),
                    _ => eprintln!("execution {} is {state}", r["id"].as_str().unwrap_or_default()),
                },
            }
            return Ok(ExitCode::from(match state.as_str() {
                "completed" => 0,
                "parked" => 3,
                "running" | "sleeping" => 5,
                _ => 1,
            }));
        }
    }
}

/// `cairn history`: the journal.
pub async fn history(client: &Client, a: IdArgs) -> Result<ExitCode> {
    let (_, entries) = client.get(&format!("/v1/executions/{}/journal", a.id)).await?;
    if a.output == Format::Json {
        print_json(&entries);
        return Ok(ExitCode::SUCCESS);
    }
    let list = entries.as_array().cloned().unwrap_or_default();
    let start = list.first().and_then(|e| e["at_ms"].as_i64()).unwrap_or(0);
    println!("{:>5}  {:<17}  {:>9}  DETAIL", "SEQ", "KIND", "AT (ms)");
    for e in list {
        let detail = e["payload"].to_string();
        let detail: String = detail.chars().take(110).collect();
        println!(
            "{:>5}  {:<17}  {:>9}  {detail}",
            e["seq"],
            e["kind"].as_str().unwrap_or_default(),
            format!("+{}", e["at_ms"].as_i64().unwrap_or(0) - start)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn list` over the API.
pub async fn list(client: &Client, query: &str, output: Format) -> Result<ExitCode> {
    let (_, page) = client.get(&format!("/v1/executions{query}")).await?;
    if output == Format::Json {
        print_json(&page);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40}  {:<10}  {:<16}  {:<24}  UPDATED",
        "ID", "STATUS", "WORKFLOW", "CREATED"
    );
    for e in page["executions"].as_array().cloned().unwrap_or_default() {
        println!(
            "{:<40}  {:<10}  {:<16}  {:<24}  {}",
            e["id"].as_str().unwrap_or_default(),
            e["status"].as_str().unwrap_or_default(),
            e["workflow"].as_str().unwrap_or_default(),
            time(e["created_at_ms"].as_i64().unwrap_or(0)),
            time(e["updated_at_ms"].as_i64().unwrap_or(0))
        );
    }
    if let Some(c) = page["next_cursor"].as_str() {
        eprintln!("(more: next cursor {c})");
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn signal`.
pub async fn signal(client: &Client, a: SignalArgs) -> Result<ExitCode> {
    let payload = json_arg("--payload", &a.payload)?;
    client
        .post(&format!("/v1/executions/{}/signals/{}", a.id, a.name), &payload)
        .await?;
    eprintln!("signal `{}` sent to {}", a.name, a.id);
    Ok(ExitCode::SUCCESS)
}

/// `cairn cancel`.
pub async fn cancel(client: &Client, id: &str) -> Result<ExitCode> {
    client
        .post(&format!("/v1/executions/{id}/cancel"), &Value::Null)
        .await?;
    eprintln!("cancellation requested for {id}");
    Ok(ExitCode::SUCCESS)
}

/// `cairn terminate`.
pub async fn terminate(client: &Client, a: TerminateArgs) -> Result<ExitCode> {
    client
        .post(
            &format!("/v1/executions/{}/terminate", a.id),
            &json!({ "reason": a.reason }),
        )
        .await?;
    eprintln!("terminated {}", a.id);
    Ok(ExitCode::SUCCESS)
}

/// `cairn schedule ...`.
pub async fn schedule(client: &Client, command: ScheduleCommand) -> Result<ExitCode> {
    match command {
        ScheduleCommand::Create {
            id,
            cron,
            workflow,
            input,
        } => {
            let input = json_arg("--input", &input)?;
            let (_, s) = client
                .post(
                    "/v1/schedules",
                    &json!({ "id": id, "cron": cron, "workflow": workflow, "input": input }),
                )
                .await?;
            println!(
                "schedule {id}: next firing {}",
                time(s["next_fire_at_ms"].as_i64().unwrap_or(0))
            );
        }
        ScheduleCommand::List { output } => {
            let (_, list) = client.get("/v1/schedules").await?;
            if output == Format::Json {
                print_json(&list);
            } else {
                println!("{:<24}  {:<20}  {:<16}  NEXT", "ID", "CRON", "WORKFLOW");
                for s in list.as_array().cloned().unwrap_or_default() {
                    println!(
                        "{:<24}  {:<20}  {:<16}  {}",
                        s["id"].as_str().unwrap_or_default(),
                        s["cron"].as_str().unwrap_or_default(),
                        s["workflow"].as_str().unwrap_or_default(),
                        time(s["next_fire_at_ms"].as_i64().unwrap_or(0))
                    );
                }
            }
        }
        ScheduleCommand::Delete { id } => {
            client.delete(&format!("/v1/schedules/{id}")).await?;
            eprintln!("schedule {id} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
