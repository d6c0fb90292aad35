//! The replay cursor: walks the recorded commands of a journal, hands back
//! recorded results, and buffers new entries until the next commit.

use super::payloads::StartedPayload;
use super::record::{Command, Event, Lifecycle, Record};
use crate::model::Entry;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A call that does not match the journal at the cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct NonDeterminism {
    /// Seq of the recorded entry the call was compared with (or the next
    /// free seq when the journal had no command left).
    pub seq: u32,
    /// What the journal has there.
    pub expected: String,
    /// What the code did.
    pub actual: String,
}

impl fmt::Display for NonDeterminism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "non-determinism at seq {}: the journal has {} but the code called {}",
            self.seq, self.expected, self.actual
        )
    }
}

/// A command found in the journal at the cursor.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Its seq (activity handles and timers are named by it).
    pub seq: u32,
    /// Its recorded result.
    pub result: Value,
}

struct Recorded {
    seq: u32,
    at_ms: i64,
    command: Command,
    result: Value,
}

/// Replay state of one execution.
pub struct Cursor {
    started: StartedPayload,
    /// Recorded commands in journal order.
    commands: Vec<Recorded>,
    pos: usize,
    /// Events by (kind, seq of the command they complete).
    events: HashMap<(&'static str, u32), Event>,
    /// Inbox messages (signals, cancellations) already consumed.
    consumed: HashSet<i64>,
    next_seq: u32,
    pending: Vec<Entry>,
    /// Logical time: when the last command was recorded. Shared with the
    /// deterministic WASI clocks.
    clock: Arc<AtomicI64>,
    start_ms: i64,
}

/// A call as shown in divergence errors: its kind, and its arguments unless empty.
fn describe(command: &Command) -> String {
    let args = command.args();
    if args.is_null() || args.as_object().is_some_and(|o| o.is_empty()) {
        format!("`{}`", command.kind())
    } else {
        format!("`{} {args}`", command.kind())
    }
}

impl Cursor {
    /// Builds a cursor over a whole journal, which must begin with `started`.
    pub fn new(journal: Vec<Entry>) -> Result<Cursor, String> {
        let first = journal.first().ok_or("the journal is empty")?;
        let started = match Record::of_entry(first) {
            Ok(Record::Lifecycle(Lifecycle::Started(s))) => s,
            Ok(_) => return Err(format!("the journal begins with `{}`, not `started`", first.kind)),
            Err(e) => return Err(e),
        };
        let start_ms = first.at_ms;
        let next_seq = journal.last().map(|e| e.seq + 1).unwrap_or(1);
        let mut cursor = Cursor {
            started,
            commands: Vec::new(),
            pos: 0,
            events: HashMap::new(),
            consumed: HashSet::new(),
            next_seq,
            pending: Vec::new(),
            clock: Arc::new(AtomicI64::new(start_ms)),
            start_ms,
        };
        for entry in journal.into_iter().skip(1) {
            match Record::of_entry(&entry)? {
                Record::Command { command, result } => cursor.commands.push(Recorded {
                    seq: entry.seq,
                    at_ms: entry.at_ms,
                    command,
                    result,
                }),
                Record::Event { of, event } => cursor.note_event(of, event),
                Record::Lifecycle(_) => {}
            }
        }
        Ok(cursor)
    }

    fn note_event(&mut self, of: u32, event: Event) {
        if let Some(id) = event.consumed_inbox() {
            self.consumed.insert(id);
        }
        self.events.insert((event.kind(), of), event);
    }

    /// The `started` payload.
    pub fn started(&self) -> &StartedPayload {
        &self.started
    }

    /// The logical clock shared with deterministic WASI clocks (ms since epoch).
    pub fn clock(&self) -> Arc<AtomicI64> {
        self.clock.clone()
    }

    /// When the execution started (ms since epoch).
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Whether recorded commands remain to be replayed.
    pub fn is_replaying(&self) -> bool {
        self.pos < self.commands.len()
    }

    /// Matches a call against the command at the cursor. `Ok(Some)` returns
    /// the recorded result, `Ok(None)` means the journal is exhausted and the
    /// call runs live, `Err` is a divergence.
    pub fn replay(&mut self, call: &Command) -> Result<Option<Replayed>, NonDeterminism> {
        let Some(recorded) = self.commands.get(self.pos) else {
            return Ok(None);
        };
        if !recorded.command.matches(call) {
            return Err(NonDeterminism {
                seq: recorded.seq,
                expected: describe(&recorded.command),
                actual: describe(call),
            });
        }
        self.pos += 1;
        self.clock.store(recorded.at_ms, Ordering::Relaxed);
        Ok(Some(Replayed {
            seq: recorded.seq,
            result: recorded.result.clone(),
        }))
    }

    /// The first recorded command not replayed yet, described, if any.
    pub fn unconsumed(&self) -> Option<NonDeterminism> {
        self.commands.get(self.pos).map(|r| NonDeterminism {
            seq: r.seq,
            expected: describe(&r.command),
            actual: "the workflow's return".into(),
        })
    }

    fn push(&mut self, record: &Record, at_ms: i64) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(record.to_entry(seq, at_ms));
        seq
    }

    /// The seq the next recorded entry will get.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Records a live command with its result (buffered until the next commit).
    pub fn record(&mut self, command: Command, result: Value, at_ms: i64) -> u32 {
        self.clock.store(at_ms, Ordering::Relaxed);
        self.push(&Record::Command { command, result }, at_ms)
    }

    /// Records an event completing command `of` (buffered until the next commit).
    pub fn record_event(&mut self, of: u32, event: Event, at_ms: i64) {
        self.push(
            &Record::Event {
                of,
                event: event.clone(),
            },
            at_ms,
        );
        self.note_event(of, event);
    }

    /// Records a lifecycle entry (`completed`, `failed`, `continued`).
    pub fn record_lifecycle(&mut self, entry: Lifecycle, at_ms: i64) {
        self.push(&Record::Lifecycle(entry), at_ms);
    }

    /// The event of `kind` completing command `of`, if recorded.
    pub fn event(&self, kind: &'static str, of: u32) -> Option<&Event> {
        self.events.get(&(kind, of))
    }

    /// Whether inbox message `id` was consumed by this execution.
    pub fn is_consumed(&self, id: i64) -> bool {
        self.consumed.contains(&id)
    }

    /// Whether entries are buffered, waiting for a commit.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes the buffered entries for a commit.
    pub fn take_pending(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::payloads::{ActivityOutcome, RetrySpec};
    use crate::journal::record::{ActivityArgs, NoArgs};
    use serde_json::json;

    fn start(name: &str) -> Command {
        Command::StartActivity(ActivityArgs {
            name: name.into(),
            input: "0".into(),
            options: RetrySpec::default(),
        })
    }

    fn journal() -> Vec<Entry> {
        let started = Lifecycle::Started(StartedPayload {
            workflow: "w".into(),
            component: "c".into(),
            input: "{}".into(),
            seed: 7,
            trace: None,
        });
        let done = Event::ActivityDone(ActivityOutcome {
            attempts: 1,
            result: Ok("x".into()),
        });
        vec![
            Record::Lifecycle(started).to_entry(0, 1000),
            Record::Command {
                command: Command::Now(NoArgs {}),
                result: json!(1001),
            }
            .to_entry(1, 1001),
            Record::Command {
                command: start("a"),
                result: json!(2),
            }
            .to_entry(2, 1002),
            Record::Event { of: 2, event: done }.to_entry(3, 1003),
        ]
    }

    #[test]
    fn replays_matching_calls_and_then_goes_live() {
        let mut c = Cursor::new(journal()).unwrap();
        assert_eq!(c.replay(&Command::Now(NoArgs {})).unwrap().unwrap().result, json!(1001));
        let r = c.replay(&start("a")).unwrap().unwrap();
        assert_eq!(r.seq, 2);
        assert!(matches!(
            c.event(Event::ACTIVITY_DONE, 2),
            Some(Event::ActivityDone(o)) if o.result == Ok("x".to_owned())
        ));
        assert!(!c.is_replaying());
        assert!(c.replay(&Command::Random(NoArgs {})).unwrap().is_none());
        assert_eq!(c.record(Command::Random(NoArgs {}), json!(5), 2000), 4);
        assert_eq!(c.take_pending().len(), 1);
    }

    #[test]
    fn divergence_names_seq_expected_and_actual() {
        let mut c = Cursor::new(journal()).unwrap();
        let e = c.replay(&Command::Random(NoArgs {})).unwrap_err();
        assert_eq!(e.seq, 1);
        assert_eq!(e.expected, "`now`");
        assert_eq!(e.actual, "`random`");
        c.replay(&Command::Now(NoArgs {})).unwrap();
        let e = c.replay(&start("b")).unwrap_err();
        assert!(e.to_string().contains("seq 2"), "{e}");
        assert!(
            e.expected
                .contains(r#"`activity.start {"input":"0","name":"a","options":{}}`"#),
            "{}",
            e.expected
        );
        assert!(c.take_pending().is_empty(), "a divergence records nothing");
    }

    #[test]
    fn rejects_journal_without_started() {
        let mut j = journal();
        j.remove(0);
        assert!(Cursor::new(j).is_err());
        let mut j = journal();
        j[1].payload = "not json".into();
        assert!(Cursor::new(j).err().unwrap().contains("entry 1"));
    }
}
