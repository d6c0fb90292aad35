//! The journal: entry kinds, their payloads, and the replay cursor.
//!
//! A journal is an ordered list of entries. *Commands* are calls the
//! workflow made (`now`, `activity.start`, `sleep`, ...): on replay they must
//! come again in the same order with the same arguments. *Events* are things
//! that happened to the execution (`activity.done`, `timer.fired`): replay
//! looks them up by the command they belong to. Lifecycle entries
//! (`started`, `completed`, `failed`) open and close the journal.

mod cursor;

pub use cursor::{Cursor, NonDeterminism, Replayed};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Entry kinds.
pub mod kinds {
    /// First entry: input, seed and component.
    pub const STARTED: &str = "started";
    /// Workflow returned an output.
    pub const COMPLETED: &str = "completed";
    /// Workflow returned a failure or trapped.
    pub const FAILED: &str = "failed";
    /// Command: journaled clock read.
    pub const NOW: &str = "now";
    /// Command: journaled random number.
    pub const RANDOM: &str = "random";
    /// Command: log line.
    pub const LOG: &str = "log";
    /// Command: durable timer started.
    pub const SLEEP: &str = "sleep";
    /// Event: durable timer fired.
    pub const TIMER_FIRED: &str = "timer.fired";
    /// Command: activity call started.
    pub const ACTIVITY_START: &str = "activity.start";
    /// Event: activity call finished (after retries).
    pub const ACTIVITY_DONE: &str = "activity.done";
    /// Command: the workflow waited for one of some activities.
    pub const ACTIVITY_AWAIT: &str = "activity.await";
    /// Event: a durable timer was interrupted by cancellation.
    pub const TIMER_CANCELLED: &str = "timer.cancelled";
    /// Command: the workflow waits for a signal.
    pub const SIGNAL_WAIT: &str = "signal.wait";
    /// Event: a signal was consumed by a wait (`data.inbox` names it).
    pub const SIGNAL_RECEIVED: &str = "signal.received";
    /// Event: a signal wait timed out.
    pub const SIGNAL_TIMEOUT: &str = "signal.timeout";
    /// Event: a signal wait was interrupted by cancellation.
    pub const SIGNAL_CANCELLED: &str = "signal.cancelled";
    /// Event: a cancellation request was delivered (`data.inbox` names it).
    pub const CANCEL_RECEIVED: &str = "cancel.received";
    /// Command: a child workflow was started.
    pub const CHILD_START: &str = "child.start";
    /// Command: the workflow waited for a child.
    pub const CHILD_AWAIT: &str = "child.await";
    /// Event: a child finished.
    pub const CHILD_DONE: &str = "child.done";
    /// Command: continue-as-new.
    pub const CONTINUE: &str = "continue";
    /// Lifecycle: this run ended by continue-as-new.
    pub const CONTINUED: &str = "continued";
    /// Lifecycle: an operator terminated the execution.
    pub const TERMINATED: &str = "terminated";

    /// Whether entries of this kind are events (looked up, not matched in order).
    pub fn is_event(kind: &str) -> bool {
        matches!(
            kind,
            TIMER_FIRED
                | TIMER_CANCELLED
                | ACTIVITY_DONE
                | SIGNAL_RECEIVED
                | SIGNAL_TIMEOUT
                | SIGNAL_CANCELLED
                | CANCEL_RECEIVED
                | CHILD_DONE
        )
    }

    /// Whether entries of this kind are lifecycle entries.
    pub fn is_lifecycle(kind: &str) -> bool {
        matches!(kind, STARTED | COMPLETED | FAILED | CONTINUED | TERMINATED)
    }
}

/// Payload of a command entry: what was asked and what was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandPayload {
    /// Arguments of the call; compared on replay.
    pub args: Value,
    /// Recorded result, returned on replay.
    pub result: Value,
}

/// Payload of the `started` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedPayload {
    /// Workflow name.
    pub workflow: String,
    /// Component digest the execution is pinned to.
    pub component: String,
    /// JSON input text.
    pub input: String,
    /// Seed of the deterministic WASI random generators.
    pub seed: u64,
}

/// Payload of an event entry: which command it belongs to and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    /// Seq of the command (activity handle or timer) this event completes.
    pub of: u32,
    /// Event data (for `activity.done`, an [`ActivityOutcome`]).
    pub data: Value,
}

/// How an activity call ended, as journaled in `activity.done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityOutcome {
    /// Attempts made.
    pub attempts: u32,
    /// `Ok(output JSON)` or `Err(failure)`.
    pub result: Result<String, FailureRecord>,
}

/// A failure as stored in the journal (mirror of the WIT `failure`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// Stable code.
    pub code: String,
    /// One line.
    pub message: String,
    /// Retry may help.
    pub retryable: bool,
    /// Optional JSON details.
    pub details: Option<String>,
}

impl FailureRecord {
    /// A non-retryable failure.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        FailureRecord {
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }
}
