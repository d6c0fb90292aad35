//! The one renderer of the CLI: tables and summaries drawn from the node's
//! answers, whether they came from a local store or from a server.

use crate::model::{Execution, Schedule};
use crate::node::{JournalEntry, ResultResponse};
use std::time::Duration;

/// Formats ms since the epoch as RFC 3339.
pub(crate) fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Cuts `s` to `n` characters, marking the cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Awaits `work` with a spinner showing `message` and the time spent on a
/// terminal's stderr (nothing when stderr is not a terminal), from the moment
/// it takes longer than a glance: compiling a big component takes seconds,
/// loading a cached one does not.
pub(crate) async fn with_spinner<T>(message: String, work: impl Future<Output = T>) -> T {
    let bar = indicatif::ProgressBar::new_spinner();
    let show = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        std::future::pending::<()>().await
    };
    let out = tokio::select! {
        out = work => out,
        () = show => unreachable!("the spinner never ends"),
    };
    bar.finish_and_clear();
    out
}

/// Prints a value as pretty JSON.
pub(crate) fn json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("answers encode as JSON"));
}

/// A table of executions, newest first.
pub(crate) fn executions(list: &[Execution]) {
    println!(
        "{:<40}  {:<10}  {:<16}  {:<24}  UPDATED",
        "ID", "STATUS", "WORKFLOW", "CREATED"
    );
    for e in list {
        println!(
            "{:<40}  {:<10}  {:<16}  {:<24}  {}",
            e.id,
            e.status.as_str(),
            truncate(&e.workflow, 16),
            time(e.created_at_ms),
            time(e.updated_at_ms)
        );
    }
}

/// One execution, field by field.
pub(crate) fn execution(e: &Execution, inbox_messages: Option<usize>) {
    println!("execution  {}", e.id);
    println!(
        "workflow   {} (component {})",
        e.workflow,
        &e.component[..12.min(e.component.len())]
    );
    println!("status     {}", e.status);
    println!("created    {}", time(e.created_at_ms));
    println!("updated    {}", time(e.updated_at_ms));
    println!("input      {}", truncate(&e.input, 100));
    let fields = [
        ("output", e.output.as_deref().map(|o| truncate(o, 100))),
        ("error", e.error.as_deref().map(|o| truncate(o, 200))),
        ("wakes at", e.wake_at_ms.map(time)),
        ("parent", e.parent.clone()),
        ("owner", e.lease_owner.clone()),
        (
            "inbox",
            inbox_messages.filter(|n| *n > 0).map(|n| format!("{n} message(s)")),
        ),
    ];
    for (label, value) in fields {
        if let Some(v) = value {
            println!("{label:<10} {v}");
        }
    }
}

/// A journal as a table: seq, kind, time since the start, payload.
pub(crate) fn journal(entries: &[JournalEntry]) {
    let start = entries.first().map(|e| e.at_ms).unwrap_or(0);
    println!("{:>5}  {:<17}  {:>9}  DETAIL", "SEQ", "KIND", "AT (ms)");
    for e in entries {
        println!(
            "{:>5}  {:<17}  {:>9}  {}",
            e.seq,
            e.kind,
            format!("+{}", e.at_ms - start),
            truncate(&e.payload.to_string(), 110)
        );
    }
}

/// A table of schedules.
pub(crate) fn schedules(list: &[Schedule]) {
    println!("{:<24}  {:<20}  {:<16}  NEXT", "ID", "CRON", "WORKFLOW");
    for s in list {
        println!(
            "{:<24}  {:<20}  {:<16}  {}",
            s.id,
            s.cron,
            s.workflow,
            time(s.next_fire_at_ms)
        );
    }
}

/// A result: the output on stdout, anything else on stderr.
pub(crate) fn result(r: &ResultResponse) {
    let show = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    match r.status.as_str() {
        "completed" => println!("{}", show(&r.output)),
        "failed" | "terminated" | "parked" => eprintln!("execution {} {}: {}", r.id, r.status, show(&r.error)),
        _ => eprintln!("execution {} is {}", r.id, r.status),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_text_is_cut_with_a_mark() {
        assert_eq!(super::truncate("abcdef", 4), "abc…");
        assert_eq!(super::truncate("abc", 4), "abc");
        assert_eq!(super::time(0), "1970-01-01T00:00:00.000Z");
    }
}
