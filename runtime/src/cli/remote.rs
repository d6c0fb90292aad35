//! CLI verbs over the HTTP API of a `cairn server` (`--server` / `CAIRN_SERVER`).

use super::{Format, json_arg, parse_allow, read_file, render};
use crate::api::client::Client;
use crate::error::Result;
use crate::model::{Bindings, Status};
use crate::node::{ComponentKind, DeployRequest, ResultResponse, ScheduleRequest, StartAnswer, StartRequest};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `cairn deploy`.
#[derive(Args)]
pub(crate) struct DeployArgs {
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
pub(crate) struct StartArgs {
    /// Deployment: `name` (latest) or `name@version`.
    workflow: String,
    /// JSON input.
    #[arg(long, default_value = "null")]
    input: String,
    /// Execution id; starting an existing id returns that execution.
    #[arg(long)]
    id: Option<String>,
    /// Wait until it finishes and print its result (exit codes as `cairn result`).
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Just an output format.
#[derive(Args)]
pub(crate) struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// An execution id and an output format.
#[derive(Args)]
pub(crate) struct IdArgs {
    /// Execution id.
    id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `cairn result`.
#[derive(Args)]
pub(crate) struct ResultArgs {
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
pub(crate) struct SignalArgs {
    /// Execution id.
    id: String,
    /// Signal name.
    name: String,
    /// JSON payload.
    #[arg(long, default_value = "null")]
    payload: String,
}

/// Arguments of `cairn unpark`.
#[derive(Args)]
pub(crate) struct UnparkArgs {
    /// Execution id.
    id: String,
    /// Resume on this version of its deployment (the fixed code); default:
    /// the component it ran.
    #[arg(long)]
    version: Option<i64>,
}

/// Arguments of `cairn terminate`.
#[derive(Args)]
pub(crate) struct TerminateArgs {
    /// Execution id.
    id: String,
    /// Why (recorded in the journal).
    #[arg(long)]
    reason: Option<String>,
}

/// `cairn schedule ...`.
#[derive(Subcommand)]
pub(crate) enum ScheduleCommand {
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

/// Uploads one component with a spinner; returns its digest.
async fn upload(client: &Client, path: &Path, kind: ComponentKind) -> Result<String> {
    let bytes = read_file(path, "check the path")?;
    let message = format!(
        "uploading and compiling {} ({:.1} MiB)",
        path.display(),
        bytes.len() as f64 / 1048576.0
    );
    let info = render::with_spinner(message, client.upload_component(kind, bytes)).await?;
    Ok(info.digest)
}

/// `cairn deploy`.
pub(crate) async fn deploy(client: &Client, a: DeployArgs) -> Result<ExitCode> {
    let http_allow = parse_allow(&a.allow_http)?;
    let workflow = upload(client, &a.workflow, ComponentKind::Workflow).await?;
    let mut activities = Vec::new();
    for p in &a.activities {
        activities.push(upload(client, p, ComponentKind::Activity).await?);
    }
    let req = DeployRequest {
        name: a.name,
        workflow: workflow.clone(),
        bindings: Bindings { activities, http_allow },
    };
    let previous = client
        .deployments()
        .await?
        .into_iter()
        .filter(|d| d.name == req.name)
        .max_by_key(|d| d.version);
    let d = client.deploy(&req).await?;
    match a.output {
        Format::Json => render::json(&d),
        Format::Text => println!(
            "deployed {}@{} (component {})",
            d.name,
            d.version,
            &workflow[..12.min(workflow.len())]
        ),
    }
    if let Some(p) = previous.filter(|p| p.component == d.component && p.bindings == d.bindings) {
        eprintln!(
            "note: {}@{} has the same component and activities: only the version number changed",
            p.name, p.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn deployments`.
pub(crate) async fn deployments(client: &Client, a: FormatArgs) -> Result<ExitCode> {
    let list = client.deployments().await?;
    match a.output {
        Format::Json => render::json(&list),
        Format::Text => render::deployments(&list),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn start [--wait]`.
pub(crate) async fn start(client: &Client, a: StartArgs) -> Result<ExitCode> {
    let req = StartRequest {
        workflow: a.workflow,
        input: json_arg("--input", &a.input)?,
        id: a.id,
    };
    if a.wait {
        let deadline = std::time::Instant::now() + Duration::from_secs(a.timeout_s);
        let first = Duration::from_secs(a.timeout_s).min(Duration::from_secs(60));
        return match client.start_and_wait(&req, first).await? {
            StartAnswer::Finished(r) => Ok(report(&r, a.output)),
            StartAnswer::Started(s) => wait_and_report(client, &s.id, deadline, a.output).await,
        };
    }
    let r = client.start(&req).await?;
    match a.output {
        Format::Json => render::json(&r),
        Format::Text => {
            println!("{}", r.id);
            if !r.created {
                eprintln!("(an execution with this id already existed; nothing new was started)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn describe`.
pub(crate) async fn describe(client: &Client, a: IdArgs) -> Result<ExitCode> {
    let e = client.describe(&a.id).await?;
    match a.output {
        Format::Json => render::json(&e),
        Format::Text => render::execution(&e.execution, Some(e.inbox_messages)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn result [--wait]`: exit 0 completed, 1 failed/terminated, 3 parked, 5 still running.
pub(crate) async fn result(client: &Client, a: ResultArgs) -> Result<ExitCode> {
    if !a.wait {
        let (_, r) = client.result(&a.id, Duration::ZERO).await?;
        return Ok(report(&r, a.output));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(a.timeout_s);
    wait_and_report(client, &a.id, deadline, a.output).await
}

/// Waits (30 s per request) until the execution finishes or `deadline`
/// passes, then reports its result.
async fn wait_and_report(client: &Client, id: &str, deadline: std::time::Instant, output: Format) -> Result<ExitCode> {
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let (done, r) = client.result(id, left.min(Duration::from_secs(30))).await?;
        if done || left.is_zero() {
            return Ok(report(&r, output));
        }
    }
}

/// Prints a result; the exit code says how it ended.
fn report(r: &ResultResponse, output: Format) -> ExitCode {
    match output {
        Format::Json => render::json(r),
        Format::Text => render::result(r),
    }
    ExitCode::from(match r.status {
        Status::Completed => 0,
        Status::Parked => 3,
        Status::Running | Status::Sleeping => 5,
        _ => 1,
    })
}

/// `cairn history`: the journal.
pub(crate) async fn history(client: &Client, a: IdArgs) -> Result<ExitCode> {
    let entries = client.journal(&a.id).await?;
    match a.output {
        Format::Json => render::json(&entries),
        Format::Text => render::journal(&entries),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn signal`.
pub(crate) async fn signal(client: &Client, a: SignalArgs) -> Result<ExitCode> {
    let payload = json_arg("--payload", &a.payload)?;
    client.signal(&a.id, &a.name, &payload).await?;
    eprintln!("signal `{}` sent to {}", a.name, a.id);
    Ok(ExitCode::SUCCESS)
}

/// `cairn cancel`.
pub(crate) async fn cancel(client: &Client, id: &str) -> Result<ExitCode> {
    client.cancel(id).await?;
    eprintln!("cancellation requested for {id}");
    Ok(ExitCode::SUCCESS)
}

/// `cairn terminate`.
pub(crate) async fn terminate(client: &Client, a: TerminateArgs) -> Result<ExitCode> {
    client.terminate(&a.id, a.reason).await?;
    eprintln!("terminated {}", a.id);
    Ok(ExitCode::SUCCESS)
}

/// `cairn unpark`.
pub(crate) async fn unpark(client: &Client, a: UnparkArgs) -> Result<ExitCode> {
    let r = client.unpark(&a.id, a.version).await?;
    eprintln!(
        "unparked {} on component {}",
        r.execution_id,
        &r.component[..12.min(r.component.len())]
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn schedule ...`.
pub(crate) async fn schedule(client: &Client, command: ScheduleCommand) -> Result<ExitCode> {
    match command {
        ScheduleCommand::Create {
            id,
            cron,
            workflow,
            input,
        } => {
            let req = ScheduleRequest {
                id: id.clone(),
                cron,
                workflow,
                input: json_arg("--input", &input)?,
            };
            let s = client.create_schedule(&req).await?;
            println!("schedule {id}: next firing {}", render::time(s.next_fire_at_ms));
        }
        ScheduleCommand::List { output } => {
            let list = client.schedules().await?;
            match output {
                Format::Json => render::json(&list),
                Format::Text => render::schedules(&list),
            }
        }
        ScheduleCommand::Delete { id } => {
            client.delete_schedule(&id).await?;
            eprintln!("schedule {id} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
