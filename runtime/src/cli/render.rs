//! The one renderer of the CLI: tables and summaries drawn from the node's
//! answers, whether they came from a local store or from a server.

use crate::model::{Deployment, Execution, Schedule};
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

/// A spinner on a terminal's stderr for long work that prints lines as it
/// goes (the benchmark): the lines go to stdout above it; when stderr is
/// not a terminal nothing but the lines is written.
pub(crate) struct Progress(indicatif::ProgressBar);

impl Progress {
    /// Starts the spinner with `message`.
    pub(crate) fn start(message: &str) -> Progress {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    /// Prints a line of results on stdout, above the spinner.
    pub(crate) fn line(&self, text: &str) {
        self.0.suspend(|| println!("{text}"));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Prints a value as pretty JSON.
pub(crate) fn json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("answers encode as JSON"));
}

/// Prints a table: each column as wide as its widest cell, numbers (the
/// columns `right` names) aligned right, the last column never padded or cut.
pub(crate) fn table(headers: &[&str], right: &[usize], rows: &[Vec<String>]) {
    print!("{}", table_text(headers, right, rows));
}

fn table_text(headers: &[&str], right: &[usize], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        let last = widths.len() - 1;
        for (i, cell) in cells.enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            match (right.contains(&i), i == last) {
                (true, _) => out.push_str(&format!("{}{cell}", " ".repeat(pad))),
                (false, true) => out.push_str(cell),
                (false, false) => out.push_str(&format!("{cell}{}", " ".repeat(pad))),
            }
            if i < last {
                out.push_str("  ");
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// A table of executions, newest first.
pub(crate) fn executions(list: &[Execution]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.status.as_str().to_owned(),
                e.workflow.clone(),
                time(e.created_at_ms),
                time(e.updated_at_ms),
            ]
        })
        .collect();
    table(&["ID", "STATUS", "WORKFLOW", "CREATED", "UPDATED"], &[], &rows);
}

/// A stored error (`{code, message, hint}` as JSON) in the CLI's error
/// form; anything else as it is.
pub(crate) fn error_text(error: &serde_json::Value) -> String {
    let field = |name: &str| error.get(name).and_then(|v| v.as_str());
    match (field("code"), field("message")) {
        (Some(code), Some(message)) => match field("hint").filter(|h| !h.is_empty()) {
            Some(hint) => format!("error[{code}]: {message}\n  hint: {hint}"),
            None => format!("error[{code}]: {message}"),
        },
        _ => match error.as_str() {
            Some(text) => text.to_owned(),
            None => error.to_string(),
        },
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
    println!("input      {}", truncate(&e.input, 200));
    let error = e.error.as_deref().map(|text| {
        let value = serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()));
        error_text(&value).replace('\n', "\n           ")
    });
    let fields = [
        ("output", e.output.as_deref().map(|o| truncate(o, 200))),
        ("error", error),
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

/// A journal as a table: seq, kind, time since the start, the whole payload.
pub(crate) fn journal(entries: &[JournalEntry]) {
    let start = entries.first().map(|e| e.at_ms).unwrap_or(0);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.kind.clone(),
                format!("+{}", e.at_ms - start),
                e.payload.to_string(),
            ]
        })
        .collect();
    table(&["SEQ", "KIND", "AT (ms)", "DETAIL"], &[0, 2], &rows);
}

/// Width of the time axis of a timeline, in characters.
const AXIS: usize = 40;

/// A journal as a timeline: a bar per step on a time axis from the first
/// entry to the last (the same spans the console draws).
pub(crate) fn timeline(entries: &[JournalEntry]) {
    print!("{}", timeline_text(entries, crate::model::now_ms()));
}

fn timeline_text(entries: &[JournalEntry], now: i64) -> String {
    let stored: Vec<crate::model::Entry> = entries.iter().map(JournalEntry::to_stored).collect();
    let spans = crate::journal::timeline::spans(&stored);
    let Some(first) = spans.first().map(|s| s.start_ms) else {
        return String::new();
    };
    let ended = crate::journal::timeline::ended_at(&stored);
    let now = ended.unwrap_or(now);
    let last = spans.iter().map(|s| s.end_ms.unwrap_or(now)).max().unwrap_or(first);
    let total = (last - first).max(1);
    let column = |t: i64| (((t - first) as f64 / total as f64) * AXIS as f64).round() as usize;
    let rows: Vec<Vec<String>> = spans
        .iter()
        .map(|s| {
            let end = s.end_ms.unwrap_or(now);
            let (from, to) = (column(s.start_ms).min(AXIS - 1), column(end).min(AXIS));
            let fill = if s.failed { '✗' } else { '█' };
            let bar: String = (0..AXIS)
                .map(|i| if i >= from && (i < to || i == from) { fill } else { '·' })
                .collect();
            let mut note = format!("{} ms", end - s.start_ms);
            if s.end_ms.is_none() {
                note.push_str(if ended.is_some() {
                    ", never finished"
                } else {
                    ", still open"
                });
            }
            if s.attempts > 1 {
                note.push_str(&format!(", {} attempts", s.attempts));
            }
            if s.failed {
                note.push_str(", failed");
            }
            vec![s.seq.to_string(), s.label.clone(), bar, note]
        })
        .collect();
    let axis = format!("0 … {} ms", total);
    table_text(&["SEQ", "STEP", &axis, "TOOK"], &[0], &rows)
}

/// A table of schedules.
pub(crate) fn schedules(list: &[Schedule]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.cron.clone(),
                s.workflow.clone(),
                time(s.next_fire_at_ms),
            ]
        })
        .collect();
    table(&["ID", "CRON", "WORKFLOW", "NEXT"], &[], &rows);
}

/// A table of deployments.
pub(crate) fn deployments(list: &[Deployment]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.version.to_string(),
                d.component[..12.min(d.component.len())].to_owned(),
                d.bindings.activities.len().to_string(),
                time(d.created_at_ms),
            ]
        })
        .collect();
    table(
        &["NAME", "VERSION", "COMPONENT", "ACTIVITIES", "CREATED"],
        &[1, 3],
        &rows,
    );
}

/// A result: the output on stdout, anything else on stderr (an error in
/// the CLI's error form).
pub(crate) fn result(r: &ResultResponse) {
    let show = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    match (r.status.as_str(), &r.error) {
        ("completed", _) => println!("{}", show(&r.output)),
        (status, Some(error)) => eprintln!("execution {} {status}\n{}", r.id, error_text(error)),
        (status, None) => eprintln!("execution {} is {status}", r.id),
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

    #[test]
    fn columns_widen_for_long_cells_and_numbers_align_right() {
        let rows = vec![
            vec!["9".into(), "activity.start".into(), "x".into()],
            vec!["10".into(), "activity.completed-long".into(), "y".into()],
        ];
        let text = super::table_text(&["SEQ", "KIND", "DETAIL"], &[0], &rows);
        assert_eq!(
            text,
            "SEQ  KIND                     DETAIL\n  9  activity.start           x\n 10  activity.completed-long  y\n"
        );
    }

    #[test]
    fn stored_errors_print_in_the_error_form() {
        let e = serde_json::json!({"code": "CAIRN-E015", "message": "workflow failed", "hint": "see it"});
        assert_eq!(
            super::error_text(&e),
            "error[CAIRN-E015]: workflow failed\n  hint: see it"
        );
        assert_eq!(super::error_text(&serde_json::json!("plain")), "plain");
    }
}
