//! `cairn run` and `cairn resume`.

use super::{Ctx, Format, NodeOptions, json_arg, parse_allow, read_file, render};
use crate::error::Result;
use crate::node::{Outcome, Schema};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `cairn run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// The workflow component (.wasm).
    workflow: PathBuf,
    /// An activity component (.wasm); repeat for several.
    #[arg(long = "activity", value_name = "ACTIVITY.wasm")]
    activities: Vec<PathBuf>,
    /// JSON input of the workflow.
    #[arg(long, default_value = "null")]
    input: String,
    /// Let activity NAME (or all, without `NAME=`) send HTTP requests to
    /// HOST[:PORT]; repeat for several.
    #[arg(long = "allow-http", value_name = "[NAME=]HOST[:PORT]")]
    allow_http: Vec<String>,
    /// Only create the execution and print its id; a `cairn server` node runs it.
    #[arg(long)]
    detach: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(flatten)]
    node: NodeOptions,
}

/// Arguments of `cairn resume`.
#[derive(Args)]
pub(crate) struct ResumeArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(flatten)]
    node: NodeOptions,
}

/// Prints an outcome and returns the exit code: 0 completed, 1 failed, 3 parked.
fn report(id: &str, outcome: &Outcome, format: Format) -> ExitCode {
    let (status, code) = match outcome {
        Outcome::Completed(_) => ("completed", 0),
        Outcome::Failed(_) => ("failed", 1),
        Outcome::Parked(_) => ("parked", 3),
        Outcome::Sleeping(_) => ("sleeping", 0),
        Outcome::LeaseLost => ("taken over", 4),
        Outcome::Continued(_) => ("continued", 0),
    };
    match (format, outcome) {
        (Format::Json, _) => {
            let mut v = serde_json::json!({ "execution_id": id, "status": status });
            match outcome {
                Outcome::Completed(out) => v["output"] = serde_json::from_str(out).unwrap_or(serde_json::Value::Null),
                Outcome::Failed(e) | Outcome::Parked(e) => v["error"] = e.to_json(),
                _ => {}
            }
            println!("{v}");
        }
        (Format::Text, Outcome::Completed(out)) => println!("{out}"),
        (Format::Text, Outcome::Failed(e) | Outcome::Parked(e)) => eprintln!("execution {id} {status}\n{e}"),
        (Format::Text, _) => eprintln!("execution {id}: {status}"),
    }
    ExitCode::from(code)
}

/// `cairn run`: validates everything before writing anything, stores the
/// components, starts the execution and drives it to the end.
pub(crate) async fn run(ctx: &Ctx, args: RunArgs) -> Result<ExitCode> {
    let hint = "check the path; build the examples with ./x build";
    let workflow = read_file(&args.workflow, hint)?;
    json_arg("the input", &args.input)?;
    let http_allow = parse_allow(&args.allow_http)?;
    let activities = args
        .activities
        .iter()
        .map(|p| read_file(p, hint))
        .collect::<Result<Vec<_>>>()?;
    let node = ctx.node(Schema::Migrate, &args.node).await?;
    let size: usize = workflow.len() + activities.iter().map(Vec::len).sum::<usize>();
    let message = format!(
        "compiling {} and {} activity component(s) ({:.1} MiB; the first run of a component only)",
        args.workflow.display(),
        activities.len(),
        size as f64 / 1048576.0
    );
    let (digest, bindings) =
        render::with_spinner(message, node.prepare_run(&workflow, &activities, http_allow)).await?;
    let name = args
        .workflow
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workflow".into());
    if args.detach {
        let id = node.enqueue(&name, &digest, &bindings, &args.input).await?;
        match args.output {
            Format::Json => println!(
                "{}",
                serde_json::json!({ "execution_id": id.as_str(), "status": "running" })
            ),
            Format::Text => println!("{}", id.as_str()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let lease = node.start_here(&name, &digest, &bindings, &args.input).await?;
    let id = lease.execution_id.clone();
    if args.output == Format::Text && !args.node.quiet {
        eprintln!("execution {} ({name}) started", id.as_str());
    }
    let outcome = node.run_to_end(lease).await?;
    Ok(report(id.as_str(), &outcome, args.output))
}

/// `cairn resume`: continues every unfinished execution and waits for them.
pub(crate) async fn resume(ctx: &Ctx, args: ResumeArgs) -> Result<ExitCode> {
    let node = ctx.node(Schema::Migrate, &args.node).await?;
    let results = node.resume_all().await?;
    if results.is_empty() && args.output == Format::Text {
        let parked = node.status().await?.backlog.parked;
        if parked > 0 {
            eprintln!(
                "nothing to resume in {}: {parked} parked execution(s) wait for an operator (`cairn list --status parked`; `cairn unpark ID` on a server resumes one)",
                node.describe_store()
            );
        } else {
            eprintln!(
                "nothing to resume: no unfinished executions in {}",
                node.describe_store()
            );
        }
    }
    let mut worst = ExitCode::SUCCESS;
    for (id, result) in results {
        let code = match result {
            Ok(outcome) => {
                if args.output == Format::Text {
                    eprint!("{}: ", id.as_str());
                }
                report(id.as_str(), &outcome, args.output)
            }
            Err(e) => {
                eprintln!("{}: {e}", id.as_str());
                ExitCode::from(1)
            }
        };
        if code != ExitCode::SUCCESS {
            worst = code;
        }
    }
    Ok(worst)
}
