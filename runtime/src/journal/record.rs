//! The typed journal: what each entry kind carries.
//!
//! Three serde-tagged enums whose tags are the stored `kind`s: [`Command`]s
//! (calls the workflow made, matched in order on replay), [`Event`]s
//! (outcomes that complete a command, looked up by its seq) and
//! [`Lifecycle`] entries (open and close a run). [`Record`] reads and writes
//! the stored form, `(kind, payload text)`:
//!
//! - a command's payload is `{"args": <the call>, "result": <its answer>}`;
//! - an event's payload is `{"of": <seq of the command>, "data": <outcome>}`;
//! - a lifecycle entry's payload is the variant's own content.

use super::payloads::{ActivityOutcome, FailureRecord, RetrySpec, RetryState, StartedPayload};
use crate::model::{ClosePolicy, Entry, Key};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Declares an enum of journal entries: each variant carries one payload
/// type and is stored under one `kind`, given once here. Generates the
/// serde-tagged enum, `kind()`, `KINDS` and a constant per kind.
macro_rules! journal_enum {
    (
        $(#[$meta:meta])*
        $name:ident, content $content:literal {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) = $kind:literal as $konst:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = $content)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $kind)] $variant($ty), )*
        }

        impl $name {
            $( #[doc = concat!("The stored kind `", $kind, "`.")] pub const $konst: &'static str = $kind; )*
            /// Every stored kind of this enum.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// The stored kind of this entry.
            pub fn kind(&self) -> &'static str {
                match self { $( $name::$variant(_) => $kind, )* }
            }
        }
    };
}

journal_enum! {
    /// A call the workflow made. On replay the same call must come again,
    /// in the same order, with the same arguments.
    Command, content "args" {
        /// Read the clock; answered with ms since the epoch.
        Now(NoArgs) = "now" as NOW,
        /// A random number; answered with a `u64`.
        Random(NoArgs) = "random" as RANDOM,
        /// A log line (its text may change without changing behavior).
        Log(LogArgs) = "log" as LOG,
        /// A durable timer; answered with [`SleepResult`].
        Sleep(SleepArgs) = "sleep" as SLEEP,
        /// An activity call started; answered with its handle (this seq).
        StartActivity(ActivityArgs) = "activity.start" as ACTIVITY_START,
        /// Waited for the first of some activities; answered with [`AwaitResult`].
        AwaitActivity(AwaitArgs) = "activity.await" as ACTIVITY_AWAIT,
        /// Waits for a signal; answered with [`SignalWaitResult`].
        ReceiveSignal(SignalArgs) = "signal.wait" as SIGNAL_WAIT,
        /// A child workflow started; answered with [`ChildStartResult`].
        StartChild(ChildArgs) = "child.start" as CHILD_START,
        /// Waited for a child; answered with [`AwaitResult`].
        AwaitChild(ChildAwaitArgs) = "child.await" as CHILD_AWAIT,
        /// Continue-as-new; answered with [`ContinueResult`].
        ContinueAsNew(ContinueArgs) = "continue" as CONTINUE,
        /// A durable timer started as a handle; answered with [`SleepResult`].
        StartTimer(SleepArgs) = "timer.start" as TIMER_START,
        /// A signal wait started as a handle; answered with [`SignalWaitResult`].
        StartSignalWait(SignalArgs) = "signal.start" as SIGNAL_START,
        /// Waited for the first of handles of any kind; answered with [`AwaitResult`].
        WaitAny(AwaitArgs) = "await.any" as AWAIT_ANY,
        /// Gave up a handle that had not ended; answered with `null`.
        Cancel(HandleArgs) = "handle.cancel" as HANDLE_CANCEL,
    }
}

journal_enum! {
    /// Something that happened to an execution, completing the command
    /// whose seq it names (`of`).
    Event, content "data" {
        /// A durable timer fired.
        TimerFired(()) = "timer.fired" as TIMER_FIRED,
        /// A durable timer was interrupted by cancellation.
        TimerCancelled(()) = "timer.cancelled" as TIMER_CANCELLED,
        /// An activity call finished (after its retries).
        ActivityDone(ActivityOutcome) = "activity.done" as ACTIVITY_DONE,
        /// A signal was consumed by a wait.
        SignalReceived(SignalReceived) = "signal.received" as SIGNAL_RECEIVED,
        /// A signal wait timed out.
        SignalTimeout(()) = "signal.timeout" as SIGNAL_TIMEOUT,
        /// A signal wait was interrupted by cancellation.
        SignalCancelled(()) = "signal.cancelled" as SIGNAL_CANCELLED,
        /// A cancellation request was delivered (`of` is its inbox id).
        CancelReceived(InboxRef) = "cancel.received" as CANCEL_RECEIVED,
        /// A child finished.
        ChildDone(ActivityOutcome) = "child.done" as CHILD_DONE,
        /// An activity call waits for its next attempt (recorded when its
        /// execution was evicted during the backoff).
        ActivityRetry(RetryState) = "activity.retry" as ACTIVITY_RETRY,
    }
}

journal_enum! {
    /// The entries that open and close a run.
    Lifecycle, content "payload" {
        /// The first entry: input, seed and component.
        Started(StartedPayload) = "started" as STARTED,
        /// The workflow returned an output.
        Completed(Completed) = "completed" as COMPLETED,
        /// The workflow returned a failure, or trapped.
        Failed(Failed) = "failed" as FAILED,
        /// This run ended by continue-as-new.
        Continued(Continued) = "continued" as CONTINUED,
        /// An operator terminated the execution.
        Terminated(Terminated) = "terminated" as TERMINATED,
    }
}

/// The arguments of a call that has none: stored as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoArgs {}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

impl LogLevel {
    /// Its name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Arguments of `log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogArgs {
    /// Severity.
    pub level: LogLevel,
    /// Text.
    pub message: String,
}

/// Arguments of `sleep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepArgs {
    /// How long.
    pub duration_ms: u64,
}

/// Answer of `sleep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepResult {
    /// When the timer fires, ms since the epoch.
    pub fire_at: i64,
}

/// Arguments of `activity.start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityArgs {
    /// Activity name.
    pub name: String,
    /// JSON input.
    pub input: String,
    /// Retry policy and attempt timeout.
    pub options: RetrySpec,
}

/// Arguments of `activity.await`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwaitArgs {
    /// Handles (seqs of `activity.start`) waited for.
    pub handles: Vec<u32>,
}

/// Answer of `activity.await` and `child.await`: which handle finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwaitResult {
    /// The handle whose outcome is recorded.
    pub handle: u32,
}

/// Arguments of `signal.wait`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalArgs {
    /// Signal name.
    pub name: String,
    /// Give up after this long (forever when absent).
    pub timeout_ms: Option<u64>,
}

/// Answer of `signal.wait`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalWaitResult {
    /// When the wait times out, ms since the epoch.
    pub deadline: Option<i64>,
}

/// Arguments of `child.start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildArgs {
    /// Deployment (`name` or `name@version`).
    pub workflow: String,
    /// JSON input.
    pub input: String,
    /// The child's id, if the workflow chose one.
    pub workflow_id: Option<String>,
    /// What happens to the child when this execution finishes.
    pub policy: ClosePolicy,
}

/// Answer of `child.start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChildStartResult {
    /// The child's execution id.
    Started {
        /// Execution key.
        id: Key,
    },
    /// The child could not be started.
    Refused {
        /// Why.
        error: FailureRecord,
    },
}

/// Arguments of `child.await`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildAwaitArgs {
    /// Handle (seq of `child.start`).
    pub handle: u32,
}

/// Arguments of `handle.cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandleArgs {
    /// The handle (seq of the command that started it).
    pub handle: u32,
}

/// Arguments of `continue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinueArgs {
    /// JSON input of the next run.
    pub input: String,
}

/// Answer of `continue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinueResult {
    /// The next run's execution key.
    pub next: Key,
}

/// Data of `signal.received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReceived {
    /// The inbox message consumed.
    pub inbox: i64,
    /// Its JSON payload.
    pub payload: Value,
}

/// Data of `cancel.received`: the inbox message consumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxRef {
    /// Inbox message id.
    pub inbox: i64,
}

/// Payload of `completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completed {
    /// JSON output.
    pub output: String,
}

/// Payload of `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Failed {
    /// The workflow returned this failure.
    Failure {
        /// The failure.
        failure: FailureRecord,
    },
    /// The host stopped it (a trap, a limit) with this coded error.
    Error {
        /// `{code, message, hint}`.
        error: Value,
    },
}

/// Payload of `continued`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Continued {
    /// The next run's execution key.
    pub next: Key,
}

/// Payload of `terminated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terminated {
    /// Why, as the operator said.
    pub reason: String,
}

/// One decoded journal entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A command and its recorded answer.
    Command {
        /// The call.
        command: Command,
        /// Its answer (typed by the call; see each command).
        result: Value,
    },
    /// An event completing command `of`.
    Event {
        /// Seq of the command it completes.
        of: u32,
        /// What happened.
        event: Event,
    },
    /// A lifecycle entry.
    Lifecycle(Lifecycle),
}

#[derive(Deserialize)]
struct StoredCommand {
    args: Value,
    result: Value,
}

#[derive(Serialize)]
struct StoredCommandRef<'a> {
    args: &'a Value,
    result: &'a Value,
}

#[derive(Deserialize)]
struct StoredEvent {
    of: u32,
    data: Value,
}

#[derive(Serialize)]
struct StoredEventRef<'a> {
    of: u32,
    data: &'a Value,
}

/// Decodes `{"kind": kind, <field>: content}` into a tagged enum.
fn tagged<T: serde::de::DeserializeOwned>(kind: &str, field: &str, content: Value) -> serde_json::Result<T> {
    let mut map = Map::with_capacity(2);
    map.insert("kind".into(), Value::String(kind.to_owned()));
    map.insert(field.into(), content);
    serde_json::from_value(Value::Object(map))
}

/// The content of a tagged enum value (its `field`).
fn content<T: Serialize>(value: &T, field: &str) -> Value {
    match serde_json::to_value(value).expect("journal records encode") {
        Value::Object(mut map) => map.remove(field).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

impl Command {
    /// Its arguments as JSON (as stored, and as shown in divergence errors).
    pub fn args(&self) -> Value {
        content(self, "args")
    }

    /// Whether a live call matches this recorded one: same call, same
    /// arguments (a log line's text may differ).
    pub fn matches(&self, live: &Command) -> bool {
        match (self, live) {
            (Command::Log(_), Command::Log(_)) => true,
            _ => self == live,
        }
    }
}

impl Event {
    /// The inbox message this event consumed, if any.
    pub fn consumed_inbox(&self) -> Option<i64> {
        match self {
            Event::SignalReceived(s) => Some(s.inbox),
            Event::CancelReceived(c) => Some(c.inbox),
            _ => None,
        }
    }
}

impl Record {
    /// Decodes a stored entry.
    pub fn decode(kind: &str, payload: &str) -> Result<Record, String> {
        let fail = |e: serde_json::Error| format!("`{kind}` entry cannot be decoded: {e}");
        if Command::KINDS.contains(&kind) {
            let stored: StoredCommand = serde_json::from_str(payload).map_err(fail)?;
            Ok(Record::Command {
                command: tagged(kind, "args", stored.args).map_err(fail)?,
                result: stored.result,
            })
        } else if Event::KINDS.contains(&kind) {
            let stored: StoredEvent = serde_json::from_str(payload).map_err(fail)?;
            Ok(Record::Event {
                of: stored.of,
                event: tagged(kind, "data", stored.data).map_err(fail)?,
            })
        } else if Lifecycle::KINDS.contains(&kind) {
            let value: Value = serde_json::from_str(payload).map_err(fail)?;
            Ok(Record::Lifecycle(tagged(kind, "payload", value).map_err(fail)?))
        } else {
            Err(format!("unknown journal entry kind `{kind}`"))
        }
    }

    /// Decodes a stored entry, naming it in the error.
    pub fn of_entry(entry: &Entry) -> Result<Record, String> {
        Record::decode(&entry.kind, &entry.payload)
            .map_err(|e| format!("journal entry {} ({}): {e}", entry.seq, entry.kind))
    }

    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Command { command, .. } => command.kind(),
            Record::Event { event, .. } => event.kind(),
            Record::Lifecycle(l) => l.kind(),
        }
    }

    /// The stored payload text.
    pub fn payload(&self) -> String {
        let text = match self {
            Record::Command { command, result } => serde_json::to_string(&StoredCommandRef {
                args: &command.args(),
                result,
            }),
            Record::Event { of, event } => serde_json::to_string(&StoredEventRef {
                of: *of,
                data: &content(event, "data"),
            }),
            Record::Lifecycle(l) => serde_json::to_string(&content(l, "payload")),
        };
        text.expect("journal records encode")
    }

    /// The stored entry at `seq`, recorded at `at_ms`.
    pub fn to_entry(&self, seq: u32, at_ms: i64) -> Entry {
        Entry {
            seq,
            kind: self.kind().to_owned(),
            payload: self.payload(),
            at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind decodes from the stored form today's journals hold, and
    /// encodes back to the same JSON.
    #[test]
    fn stored_forms_round_trip() {
        let stored = [
            (
                "started",
                r#"{"workflow":"chain","component":"c0","input":"{\"n\": 3}","seed":5955188015723753514}"#,
            ),
            ("now", r#"{"args":{},"result":1795485141005}"#),
            ("random", r#"{"args":{},"result":18446744073709551615}"#),
            ("log", r#"{"args":{"level":"warn","message":"hi"},"result":null}"#),
            (
                "sleep",
                r#"{"args":{"duration_ms":3600000},"result":{"fire_at":1795488744428}}"#,
            ),
            (
                "activity.start",
                r#"{"args":{"input":"0","name":"increment","options":{}},"result":1}"#,
            ),
            (
                "activity.start",
                r#"{"args":{"input":"{}","name":"charge","options":{"initial_interval_ms":20,"max_attempts":5}},"result":4}"#,
            ),
            ("activity.await", r#"{"args":{"handles":[1,4]},"result":{"handle":4}}"#),
            (
                "signal.wait",
                r#"{"args":{"name":"item","timeout_ms":null},"result":{"deadline":null}}"#,
            ),
            (
                "child.start",
                r#"{"args":{"input":"{\"ms\":50}","policy":"terminate","workflow":"nap","workflow_id":null},"result":{"id":"p-c1"}}"#,
            ),
            (
                "child.start",
                r#"{"args":{"input":"x","policy":"abandon","workflow":"nap","workflow_id":"k"},"result":{"error":{"code":"invalid-input","message":"m","retryable":false,"details":null}}}"#,
            ),
            ("child.await", r#"{"args":{"handle":1},"result":{"handle":1}}"#),
            (
                "continue",
                r#"{"args":{"input":"{\"i\":1}"},"result":{"next":"count~1"}}"#,
            ),
            ("timer.fired", r#"{"of":3,"data":null}"#),
            ("timer.cancelled", r#"{"of":3,"data":null}"#),
            ("activity.done", r#"{"of":1,"data":{"attempts":2,"result":{"Ok":"1"}}}"#),
            (
                "activity.done",
                r#"{"of":1,"data":{"attempts":0,"result":{"Err":{"code":"cancelled","message":"the execution was cancelled","retryable":false,"details":null}}}}"#,
            ),
            ("signal.received", r#"{"of":2,"data":{"inbox":7,"payload":{"k":1}}}"#),
            ("signal.timeout", r#"{"of":2,"data":null}"#),
            ("signal.cancelled", r#"{"of":2,"data":null}"#),
            ("cancel.received", r#"{"of":9,"data":{"inbox":9}}"#),
            ("child.done", r#"{"of":1,"data":{"attempts":1,"result":{"Ok":"50"}}}"#),
            (
                "activity.retry",
                r#"{"of":4,"data":{"attempts":2,"next_at_ms":1795485141005,"failure":{"code":"gateway-timeout","message":"m","retryable":true,"details":null}}}"#,
            ),
            ("completed", r#"{"output":"3"}"#),
            (
                "failed",
                r#"{"failure":{"code":"order-failed","message":"m","retryable":false,"details":"{\"cause\":\"x\"}"}}"#,
            ),
            ("failed", r#"{"error":{"code":"CAIRN-E011","hint":"h","message":"m"}}"#),
            ("continued", r#"{"next":"count~1"}"#),
            ("terminated", r#"{"reason":"fixture"}"#),
        ];
        for (kind, payload) in stored {
            let record = Record::decode(kind, payload).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(record.kind(), kind);
            let again: Value = serde_json::from_str(&record.payload()).unwrap();
            let original: Value = serde_json::from_str(payload).unwrap();
            assert_eq!(again, original, "{kind} round-trips");
        }
        assert!(Record::decode("teleport", "{}").is_err());
        assert!(Record::decode("sleep", r#"{"args":{},"result":null}"#).is_err());
    }

    #[test]
    fn kinds_are_distinct_and_tags_match_the_constants() {
        let mut all: Vec<&str> = [Command::KINDS, Event::KINDS, Lifecycle::KINDS].concat();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        let c = Command::Sleep(SleepArgs { duration_ms: 5 });
        assert_eq!(serde_json::to_value(&c).unwrap()["kind"], Command::SLEEP);
        assert_eq!(c.kind(), "sleep");
    }

    #[test]
    fn log_lines_match_whatever_their_text() {
        let log = |m: &str| {
            Command::Log(LogArgs {
                level: LogLevel::Info,
                message: m.into(),
            })
        };
        assert!(log("a").matches(&log("b")));
        assert!(!log("a").matches(&Command::Now(NoArgs {})));
        let sleep = |ms| Command::Sleep(SleepArgs { duration_ms: ms });
        assert!(sleep(1).matches(&sleep(1)) && !sleep(1).matches(&sleep(2)));
    }
}
