//! `cairn run` and `cairn resume`.

use super::{Ctx, Format, NodeOptions, node};
use crate::engine::digest_of;
use crate::error::{Error, Result, codes};
use crate::scheduler::{Bindings, Outcome};
use crate::store::postgres::Schema;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `cairn run`.
#[derive(Args)]
pub struct RunArgs {
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
pub struct ResumeArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(flatten)]
    node: NodeOptions,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::new(
            codes::IO,
            format!("cannot read {}: {e}", path.display()),
            "check the path; build the examples with ./x build",
        )
    })
}

pub(crate) fn parse_allow(specs: &[String]) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let mut map: std::collections::HashMap<String, Vec<String>> = Default::default();
    for spec in specs {
        let (name, host) = spec.split_once('=').unwrap_or(("*", spec));
        if host.is_empty() || host.contains('/') || name.is_empty() {
            return Err(Error::new(
                codes::INVALID_ARGUMENT,
                format!("--allow-http {spec}: expected [NAME=]HOST[:PORT]"),
                "e.g. --allow-http fetch=api.example.com or --allow-http 127.0.0.1:8080",
            ));
        }
        map.entry(name.to_owned()).or_default().push(host.to_owned());
    }
    Ok(map)
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
pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<ExitCode> {
    let workflow_bytes = read(&args.workflow)?;
    if serde_json::from_str::<serde_json::Value>(&args.input).is_err() {
        return Err(Error::new(
            codes::INVALID_INPUT,
            "the input is not valid JSON",
            "pass JSON, e.g. --input '{\"n\": 10}'",
        ));
    }
    let http_allow = parse_allow(&args.allow_http)?;
    let store = ctx.open_store(Schema::Migrate).await?;
    let rt = node(ctx, store.clone(), &args.node)?;
    let digest = digest_of(&workflow_bytes);
    rt.engine.workflow(&digest, &workflow_bytes)?;
    let mut bindings = Bindings {
        activities: Vec::new(),
        http_allow,
    };
    let mut activity_components = Vec::new();
    for path in &args.activities {
        let bytes = read(path)?;
        let d = digest_of(&bytes);
        let component = rt.engine.activity(&d, bytes.clone()).await?;
        activity_components.push(component);
        bindings.activities.push(d.clone());
        store.put_component(&d, &bytes).await?;
    }
    crate::engine::ActivityRegistry::new(activity_components, &bindings.http_allow)?;
    store.put_component(&digest, &workflow_bytes).await?;
    let name = args
        .workflow
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workflow".into());
    if args.detach {
        let id = rt.enqueue(&name, &digest, &bindings, &args.input).await?;
        match args.output {
            Format::Json => println!("{}", serde_json::json!({ "execution_id": id, "status": "running" })),
            Format::Text => println!("{id}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let lease = rt.start(&name, &digest, &bindings, &args.input).await?;
    let id = lease.execution_id.clone();
    if args.output == Format::Text && !args.node.quiet {
        eprintln!("execution {id} ({name}) started");
    }
    let outcome = rt.run_to_end(lease).await?;
    Ok(report(&id, &outcome, args.output))
}

/// `cairn resume`: continues every unfinished execution and waits for them.
pub async fn resume(ctx: &Ctx, args: ResumeArgs) -> Result<ExitCode> {
    let store = ctx.open_store(Schema::Migrate).await?;
    let rt = node(ctx, store, &args.node)?;
    let results = rt.resume_all().await?;
    if results.is_empty() && args.output == Format::Text {
        eprintln!("nothing to resume: no unfinished executions in {}", ctx.describe());
    }
    let mut worst = ExitCode::SUCCESS;
    for (id, result) in results {
        let code = match result {
            Ok(outcome) => {
                if args.output == Format::Text {
                    eprint!("{id}: ");
                }
                report(&id, &outcome, args.output)
            }
            Err(e) => {
                eprintln!("{id}: {e}");
                ExitCode::from(1)
            }
        };
        if code != ExitCode::SUCCESS {
            worst = code;
        }
    }
    Ok(worst)
}
