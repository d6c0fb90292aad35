//! The journal: typed entries, the replay cursor, and the constructor of
//! new executions (whose first entry is `started`).
//!
//! A journal is an ordered list of entries. *Commands* are calls the
//! workflow made (`now`, `activity.start`, `sleep`, ...): on replay they must
//! come again in the same order with the same arguments. *Events* are things
//! that happened to the execution (`activity.done`, `timer.fired`): replay
//! looks them up by the command they complete. *Lifecycle* entries
//! (`started`, `completed`, `failed`, ...) open and close a run. Their types
//! are in [`record`]; the stored form (kind + JSON text) is unchanged since
//! the first journal Cairn wrote.

mod cursor;
mod payloads;
pub mod record;
pub mod timeline;

pub use cursor::{Cursor, NonDeterminism, Replayed};
pub use payloads::{ActivityOutcome, FailureRecord, RetrySpec, RetryState, StartedPayload, failures};
pub use record::{Command, Event, Lifecycle, Record};

use crate::model::{Bindings, ClosePolicy, Entry, Key, NewExecution, now_ms};
use record::ChildStartResult;

/// A new execution of `component` with its `started` entry and a fresh
/// seed: the one constructor of executions (runs, API starts, children,
/// continue-as-new, schedules).
pub fn new_execution(
    id: Key,
    workflow: &Key,
    component: &str,
    bindings: Bindings,
    input: &str,
    parent: Option<Key>,
) -> NewExecution {
    let started = Lifecycle::Started(StartedPayload {
        workflow: workflow.as_str().to_owned(),
        component: component.to_owned(),
        input: input.to_owned(),
        seed: rand::random(),
        trace: crate::traces::current_traceparent(),
    });
    NewExecution {
        id,
        workflow: workflow.clone(),
        component: component.to_owned(),
        bindings,
        input: input.to_owned(),
        parent,
        started: Record::Lifecycle(started).to_entry(0, now_ms()),
        queue_limit: None,
    }
}

/// A child workflow started by an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRef {
    /// The child's execution key.
    pub id: Key,
    /// What happens to it when its parent finishes.
    pub policy: ClosePolicy,
}

/// The children a journal started that have no recorded outcome, in the
/// order they were started. Entries that do not decode are skipped.
pub fn open_children(journal: &[Entry]) -> Vec<ChildRef> {
    let records: Vec<(u32, Record)> = journal
        .iter()
        .filter_map(|e| Record::of_entry(e).ok().map(|r| (e.seq, r)))
        .collect();
    let done: Vec<u32> = records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Event {
                of,
                event: Event::ChildDone(_),
            } => Some(*of),
            _ => None,
        })
        .collect();
    records
        .into_iter()
        .filter(|(seq, _)| !done.contains(seq))
        .filter_map(|(_, r)| match r {
            Record::Command {
                command: Command::StartChild(args),
                result,
            } => match serde_json::from_value(result) {
                Ok(ChildStartResult::Started { id }) => Some(ChildRef {
                    id,
                    policy: args.policy,
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::ChildArgs;

    fn child(seq: u32, id: &str, policy: ClosePolicy) -> Entry {
        Record::Command {
            command: Command::StartChild(ChildArgs {
                workflow: "w".into(),
                input: "{}".into(),
                workflow_id: None,
                policy,
            }),
            result: serde_json::json!({ "id": id }),
        }
        .to_entry(seq, 0)
    }

    #[test]
    fn open_children_are_those_without_an_outcome() {
        let e = new_execution(
            Key::stored("p"),
            &Key::stored("w"),
            "c",
            Bindings::default(),
            "{}",
            None,
        );
        let done = Record::Event {
            of: 2,
            event: Event::ChildDone(ActivityOutcome {
                attempts: 1,
                result: Ok("1".into()),
            }),
        }
        .to_entry(3, 0);
        let journal = vec![
            e.started.clone(),
            child(1, "p-c1", ClosePolicy::Terminate),
            child(2, "p-c2", ClosePolicy::Abandon),
            done,
            child(4, "p-c4", ClosePolicy::RequestCancel),
        ];
        let open = open_children(&journal);
        assert_eq!(
            open,
            [
                ChildRef {
                    id: Key::stored("p-c1"),
                    policy: ClosePolicy::Terminate
                },
                ChildRef {
                    id: Key::stored("p-c4"),
                    policy: ClosePolicy::RequestCancel
                }
            ]
        );
        assert_eq!(e.started.kind, Lifecycle::STARTED);
    }
}
