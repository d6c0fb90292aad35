//! A journal as a timeline: one [`Span`] per step, from when it began to
//! when its outcome was recorded, with its retries and whether it failed.
//! `cairn show` draws it in text; the console draws the same spans.
//!
//! A step that waits for an event (an activity, a sleep or a timer, a
//! child, a signal wait) spans from its command to the event that completes
//! it (open while there is none); the others (`now`, `random`, `log`,
//! a cancellation) are instants.

use super::record::{Command, Event, Lifecycle, Record};
use crate::model::Entry;
use serde::Serialize;
use std::collections::HashMap;

/// One step of an execution on its time axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Seq of the entry that began the step.
    pub seq: u32,
    /// What the step is: `activity charge`, `sleep 5s`, `signal approve`, ...
    pub label: String,
    /// When it began, ms since the epoch.
    pub start_ms: i64,
    /// When its outcome was recorded (none: still open).
    pub end_ms: Option<i64>,
    /// Attempts an activity took (0 for other steps).
    pub attempts: u32,
    /// Whether it ended in a failure (an activity's or the run's).
    pub failed: bool,
    /// Seqs of the entries that make up the step (its command and events).
    pub entries: Vec<u32>,
}

/// The spans of a journal, in the order their steps began.
pub fn spans(entries: &[Entry]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut open: HashMap<u32, usize> = HashMap::new();
    for entry in entries {
        let at = entry.at_ms;
        let Ok(record) = Record::of_entry(entry) else {
            continue;
        };
        let span = |label: String, start_ms: i64, end_ms: Option<i64>| Span {
            seq: entry.seq,
            label,
            start_ms,
            end_ms,
            attempts: 0,
            failed: false,
            entries: vec![entry.seq],
        };
        match record {
            Record::Command { command, .. } => {
                let waits = matches!(
                    command,
                    Command::StartActivity(_)
                        | Command::Sleep(_)
                        | Command::StartTimer(_)
                        | Command::StartChild(_)
                        | Command::ReceiveSignal(_)
                        | Command::StartSignalWait(_)
                );
                let label = label_of(&command);
                if waits {
                    open.insert(entry.seq, out.len());
                    out.push(span(label, at, None));
                } else if !matches!(
                    command,
                    Command::AwaitActivity(_) | Command::AwaitChild(_) | Command::WaitAny(_)
                ) {
                    out.push(span(label, at, Some(at)));
                }
            }
            Record::Event { of, event } => {
                if let Some(&i) = open.get(&of) {
                    let s = &mut out[i];
                    s.entries.push(entry.seq);
                    match event {
                        Event::ActivityRetry(state) => s.attempts = state.attempts + 1,
                        Event::ActivityDone(outcome) | Event::ChildDone(outcome) => {
                            s.attempts = outcome.attempts;
                            s.failed = outcome.result.is_err();
                            s.end_ms = Some(at);
                        }
                        Event::SignalTimeout(()) => {
                            s.failed = true;
                            s.end_ms = Some(at);
                        }
                        _ => s.end_ms = Some(at),
                    }
                }
            }
            Record::Lifecycle(lifecycle) => {
                let (label, failed) = match &lifecycle {
                    Lifecycle::Started(_) => ("started".to_owned(), false),
                    Lifecycle::Completed(_) => ("completed".to_owned(), false),
                    Lifecycle::Failed(_) => ("failed".to_owned(), true),
                    Lifecycle::Continued(c) => (format!("continued as {}", c.next.name()), false),
                    Lifecycle::Terminated(t) => (format!("terminated: {}", t.reason), true),
                };
                let mut s = span(label, at, Some(at));
                s.failed = failed;
                out.push(s);
            }
        }
    }
    out
}

/// When the run ended (its `completed`, `failed`, `terminated` or
/// `continued` entry), if it did: a drawing stops its open spans (calls the
/// run never waited for) there instead of growing them until now.
pub fn ended_at(entries: &[Entry]) -> Option<i64> {
    entries.iter().rev().find_map(|e| match Record::of_entry(e) {
        Ok(Record::Lifecycle(Lifecycle::Started(_))) => None,
        Ok(Record::Lifecycle(_)) => Some(e.at_ms),
        _ => None,
    })
}

fn label_of(command: &Command) -> String {
    match command {
        Command::StartActivity(a) => format!("activity {}", a.name),
        Command::Sleep(s) | Command::StartTimer(s) => {
            format!(
                "sleep {}",
                humantime::format_duration(std::time::Duration::from_millis(s.duration_ms))
            )
        }
        Command::ReceiveSignal(s) | Command::StartSignalWait(s) => format!("signal {}", s.name),
        Command::StartChild(c) => format!("child {}", c.workflow),
        Command::ContinueAsNew(_) => "continue as new".to_owned(),
        Command::Cancel(_) => "cancel handle".to_owned(),
        other => other.kind().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{ActivityArgs, SignalArgs, SleepArgs};
    use crate::journal::{ActivityOutcome, FailureRecord, RetrySpec, RetryState};
    use crate::model::Key;

    fn at(record: Record, seq: u32, at_ms: i64) -> Entry {
        record.to_entry(seq, at_ms)
    }

    #[test]
    fn an_activity_spans_from_its_start_to_its_outcome_with_its_retries() {
        let started =
            crate::journal::new_execution(Key::stored("x"), &Key::stored("w"), "c", Default::default(), "1", None);
        let started = started.started;
        let started = Entry { at_ms: 1000, ..started };
        let call = Command::StartActivity(ActivityArgs {
            name: "charge".into(),
            input: "1".into(),
            options: RetrySpec::default(),
        });
        let failure = FailureRecord::retryable("boom", "no");
        let entries = vec![
            started,
            at(
                Record::Command {
                    command: call,
                    result: serde_json::json!(1),
                },
                1,
                1010,
            ),
            at(
                Record::Event {
                    of: 1,
                    event: Event::ActivityRetry(RetryState {
                        attempts: 1,
                        next_at_ms: 1100,
                        failure: failure.clone(),
                    }),
                },
                2,
                1050,
            ),
            at(
                Record::Event {
                    of: 1,
                    event: Event::ActivityDone(ActivityOutcome {
                        attempts: 2,
                        result: Err(failure),
                    }),
                },
                3,
                1200,
            ),
            at(
                Record::Command {
                    command: Command::Sleep(SleepArgs { duration_ms: 5000 }),
                    result: serde_json::json!({ "fire_at": 6200 }),
                },
                4,
                1200,
            ),
            at(
                Record::Event {
                    of: 4,
                    event: Event::TimerFired(()),
                },
                5,
                6201,
            ),
            at(
                Record::Command {
                    command: Command::ReceiveSignal(SignalArgs {
                        name: "approve".into(),
                        timeout_ms: None,
                    }),
                    result: serde_json::json!({ "deadline": null }),
                },
                6,
                6300,
            ),
        ];
        let spans = spans(&entries);
        assert_eq!(spans.len(), 4, "{spans:?}");
        let activity = &spans[1];
        assert_eq!(activity.label, "activity charge");
        assert_eq!((activity.start_ms, activity.end_ms), (1010, Some(1200)));
        assert_eq!((activity.attempts, activity.failed), (2, true));
        assert_eq!(activity.entries, [1, 2, 3]);
        let sleep = &spans[2];
        assert_eq!(sleep.label, "sleep 5s");
        assert_eq!(
            (sleep.start_ms, sleep.end_ms),
            (1200, Some(6201)),
            "to the timer's firing"
        );
        assert_eq!(sleep.entries, [4, 5]);
        let signal = &spans[3];
        assert_eq!(signal.label, "signal approve");
        assert_eq!((signal.start_ms, signal.end_ms), (6300, None), "open while it waits");
        assert_eq!(ended_at(&entries), None, "still running");
        let mut ended = entries.clone();
        let done = crate::journal::record::Completed { output: "1".into() };
        ended.push(Record::Lifecycle(Lifecycle::Completed(done)).to_entry(7, 6400));
        assert_eq!(ended_at(&ended), Some(6400), "its end");
    }
}
