//! The replay cursor: walks the recorded commands of a journal, hands back
//! recorded results, and buffers new entries until the next commit.

use super::{CommandPayload, EventPayload, StartedPayload, kinds};
use crate::store::Entry;
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

/// Replay state of one execution.
pub struct Cursor {
    started: StartedPayload,
    /// Recorded commands in journal order, with their decoded payloads.
    commands: Vec<(Entry, CommandPayload)>,
    pos: usize,
    /// Events by (kind, seq of the command they complete).
    events: HashMap<(String, u32), Value>,
    /// Inbox messages (signals, cancellations) already consumed.
    consumed: HashSet<i64>,
    next_seq: u32,
    pending: Vec<Entry>,
    /// Logical time: when the last command was recorded. Shared with the
    /// deterministic WASI clocks.
    clock: Arc<AtomicI64>,
    start_ms: i64,
}

fn describe(kind: &str, args: &Value) -> String {
    if args.is_null() || args.as_object().is_some_and(|o| o.is_empty()) {
        format!("`{kind}`")
    } else {
        format!("`{kind} {args}`")
    }
}

fn corrupt(entry: &Entry, e: impl fmt::Display) -> String {
    format!("journal entry {} ({}) cannot be decoded: {e}", entry.seq, entry.kind)
}

impl Cursor {
    /// Builds a cursor over a whole journal, which must begin with `started`.
    pub fn new(journal: Vec<Entry>) -> Result<Cursor, String> {
        let first = journal.first().ok_or("the journal is empty")?;
        if first.kind != kinds::STARTED {
            return Err(format!("the journal begins with `{}`, not `started`", first.kind));
        }
        let started: StartedPayload = serde_json::from_str(&first.payload).map_err(|e| corrupt(first, e))?;
        let start_ms = first.at_ms;
        let next_seq = journal.last().map(|e| e.seq + 1).unwrap_or(1);
        let mut commands = Vec::new();
        let mut events = HashMap::new();
        let mut consumed = HashSet::new();
        for entry in journal.into_iter().skip(1) {
            if kinds::is_event(&entry.kind) {
                let ev: EventPayload = serde_json::from_str(&entry.payload).map_err(|e| corrupt(&entry, e))?;
                if let Some(id) = ev.data.get("inbox").and_then(Value::as_i64) {
                    consumed.insert(id);
                }
                events.insert((entry.kind.clone(), ev.of), ev.data);
            } else if !kinds::is_lifecycle(&entry.kind) {
                let payload: CommandPayload = serde_json::from_str(&entry.payload).map_err(|e| corrupt(&entry, e))?;
                commands.push((entry, payload));
            }
        }
        Ok(Cursor {
            started,
            commands,
            pos: 0,
            events,
            consumed,
            next_seq,
            pending: Vec::new(),
            clock: Arc::new(AtomicI64::new(start_ms)),
            start_ms,
        })
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
    pub fn replay(&mut self, kind: &str, args: &Value) -> Result<Option<Replayed>, NonDeterminism> {
        let Some((entry, payload)) = self.commands.get(self.pos) else {
            return Ok(None);
        };
        // A log line's text may change without changing behavior.
        let same = entry.kind == kind && (kind == kinds::LOG || payload.args == *args);
        if !same {
            return Err(NonDeterminism {
                seq: entry.seq,
                expected: describe(&entry.kind, &payload.args),
                actual: describe(kind, args),
            });
        }
        self.pos += 1;
        self.clock.store(entry.at_ms, Ordering::Relaxed);
        Ok(Some(Replayed {
            seq: entry.seq,
            result: payload.result.clone(),
        }))
    }

    /// The first recorded command not replayed yet, described, if any.
    pub fn unconsumed(&self) -> Option<NonDeterminism> {
        self.commands.get(self.pos).map(|(entry, payload)| NonDeterminism {
            seq: entry.seq,
            expected: describe(&entry.kind, &payload.args),
            actual: "the workflow's return".into(),
        })
    }

    fn push(&mut self, kind: &str, payload: String, at_ms: i64) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Entry {
            seq,
            kind: kind.to_owned(),
            payload,
            at_ms,
        });
        seq
    }

    /// The seq the next recorded entry will get.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Records a live command with its result (buffered until the next commit).
    pub fn record(&mut self, kind: &str, args: Value, result: Value, at_ms: i64) -> u32 {
        self.clock.store(at_ms, Ordering::Relaxed);
        let payload = serde_json::to_string(&CommandPayload { args, result }).expect("JSON values encode");
        self.push(kind, payload, at_ms)
    }

    /// Records an event completing command `of` (buffered until the next commit).
    pub fn record_event(&mut self, kind: &str, of: u32, data: Value, at_ms: i64) {
        let payload = serde_json::to_string(&EventPayload { of, data: data.clone() }).expect("JSON values encode");
        if let Some(id) = data.get("inbox").and_then(Value::as_i64) {
            self.consumed.insert(id);
        }
        self.events.insert((kind.to_owned(), of), data);
        self.push(kind, payload, at_ms);
    }

    /// Records a lifecycle entry (`completed`, `failed`).
    pub fn record_lifecycle(&mut self, kind: &str, payload: Value, at_ms: i64) {
        self.push(kind, payload.to_string(), at_ms);
    }

    /// The data of the event of `kind` completing command `of`, if recorded.
    pub fn event(&self, kind: &str, of: u32) -> Option<&Value> {
        self.events.get(&(kind.to_owned(), of))
    }

    /// Whether inbox message `id` was consumed by this execution.
    pub fn is_consumed(&self, id: i64) -> bool {
        self.consumed.contains(&id)
    }

    /// Takes the buffered entries for a commit.
    pub fn take_pending(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.pending)
    }

    /// Puts entries back in front of the buffer after a failed commit.
    pub fn restore_pending(&mut self, mut entries: Vec<Entry>) {
        entries.append(&mut self.pending);
        self.pending = entries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn journal() -> Vec<Entry> {
        let started = StartedPayload {
            workflow: "w".into(),
            component: "c".into(),
            input: "{}".into(),
            seed: 7,
        };
        let cmd = |seq, kind: &str, args: Value, result: Value| Entry {
            seq,
            kind: kind.into(),
            payload: serde_json::to_string(&CommandPayload { args, result }).unwrap(),
            at_ms: 1000 + seq as i64,
        };
        vec![
            Entry {
                seq: 0,
                kind: "started".into(),
                payload: serde_json::to_string(&started).unwrap(),
                at_ms: 1000,
            },
            cmd(1, kinds::NOW, json!({}), json!(1001)),
            cmd(2, kinds::ACTIVITY_START, json!({"name": "a"}), json!(2)),
            Entry {
                seq: 3,
                kind: kinds::ACTIVITY_DONE.into(),
                payload: serde_json::to_string(&EventPayload {
                    of: 2,
                    data: json!("x"),
                })
                .unwrap(),
                at_ms: 1003,
            },
        ]
    }

    #[test]
    fn replays_matching_calls_and_then_goes_live() {
        let mut c = Cursor::new(journal()).unwrap();
        assert_eq!(c.replay(kinds::NOW, &json!({})).unwrap().unwrap().result, json!(1001));
        let r = c.replay(kinds::ACTIVITY_START, &json!({"name": "a"})).unwrap().unwrap();
        assert_eq!(r.seq, 2);
        assert_eq!(c.event(kinds::ACTIVITY_DONE, 2), Some(&json!("x")));
        assert!(!c.is_replaying());
        assert!(c.replay(kinds::RANDOM, &json!({})).unwrap().is_none());
        assert_eq!(c.record(kinds::RANDOM, json!({}), json!(5), 2000), 4);
        assert_eq!(c.take_pending().len(), 1);
    }

    #[test]
    fn divergence_names_seq_expected_and_actual() {
        let mut c = Cursor::new(journal()).unwrap();
        let e = c.replay(kinds::RANDOM, &json!({})).unwrap_err();
        assert_eq!(e.seq, 1);
        assert_eq!(e.expected, "`now`");
        assert_eq!(e.actual, "`random`");
        c.replay(kinds::NOW, &json!({})).unwrap();
        let e = c.replay(kinds::ACTIVITY_START, &json!({"name": "b"})).unwrap_err();
        assert!(e.to_string().contains("seq 2"), "{e}");
        assert!(c.take_pending().is_empty(), "a divergence records nothing");
    }

    #[test]
    fn rejects_journal_without_started() {
        let mut j = journal();
        j.remove(0);
        assert!(Cursor::new(j).is_err());
    }
}
