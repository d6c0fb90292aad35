//! Columns and row mapping shared by both backends: each table's column
//! list is written once, and so is the mapping of its rows to the model.

use crate::error::{Error, Result, codes};
use crate::model::{
    Backlog, Bindings, Deployment, Entry, Execution, InboxKind, InboxMessage, Key, NodeInfo, Schedule, Status,
};

/// A result row of either backend, read by column position.
pub(super) trait Row {
    /// A `TEXT NOT NULL` column.
    fn text(&self, i: usize) -> Result<String>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A `BIGINT NOT NULL` column.
    fn int(&self, i: usize) -> Result<i64>;
    /// A nullable `BIGINT` column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    /// A journal `seq` column (`INTEGER`).
    fn seq(&self, i: usize) -> Result<u32>;
    /// A `BOOLEAN NOT NULL` column (SQLite: `INTEGER` 0 or 1).
    fn flag(&self, i: usize) -> Result<bool>;
    /// A `TEXT NOT NULL` column holding a key.
    fn key(&self, i: usize) -> Result<Key> {
        self.text(i).map(Key::stored)
    }
}

/// Columns of `executions`, in the order [`execution`] reads them.
macro_rules! execution_columns {
    () => {
        "id, workflow, component, bindings, status, input, output, error, wake_at, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent"
    };
}

/// Columns of `journal`, in the order [`entry`] reads them.
macro_rules! entry_columns {
    () => {
        "seq, kind, payload, at"
    };
}

/// Columns of `deployments`, in the order [`deployment`] reads them.
macro_rules! deployment_columns {
    () => {
        "name, version, component, bindings, created_at"
    };
}

/// Columns of `schedules`, in the order [`schedule`] reads them.
macro_rules! schedule_columns {
    () => {
        "id, cron, workflow, input, next_fire_at"
    };
}

/// Columns of `inbox`, in the order [`inbox_message`] reads them.
macro_rules! inbox_columns {
    () => {
        "id, kind, name, payload, created_at"
    };
}

pub(super) use {deployment_columns, entry_columns, execution_columns, inbox_columns, schedule_columns};

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        codes::CORRUPT_JOURNAL,
        format!("a stored {what} cannot be decoded: {e}"),
        "it was changed outside Cairn; terminate the execution",
    )
}

/// Bindings as stored: JSON text.
pub(super) fn encode_bindings(b: &Bindings) -> String {
    serde_json::to_string(b).expect("bindings encode")
}

fn decode_bindings(text: &str) -> Result<Bindings> {
    serde_json::from_str(text).map_err(|e| corrupt("binding list", e))
}

/// An `executions` row.
pub(super) fn execution(r: &impl Row) -> Result<Execution> {
    let status = r.text(4)?;
    Ok(Execution {
        id: r.text(0)?,
        workflow: r.text(1)?,
        component: r.text(2)?,
        bindings: decode_bindings(&r.text(3)?)?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        input: r.text(5)?,
        output: r.opt_text(6)?,
        error: r.opt_text(7)?,
        wake_at_ms: r.opt_int(8)?,
        created_at_ms: r.int(9)?,
        updated_at_ms: r.int(10)?,
        lease_owner: r.opt_text(11)?,
        lease_epoch: r.int(12)?,
        lease_expires_ms: r.opt_int(13)?,
        parent: r.opt_text(14)?,
    })
}

/// A `journal` row.
pub(super) fn entry(r: &impl Row) -> Result<Entry> {
    Ok(Entry {
        seq: r.seq(0)?,
        kind: r.text(1)?,
        payload: r.text(2)?,
        at_ms: r.int(3)?,
    })
}

/// A `deployments` row.
pub(super) fn deployment(r: &impl Row) -> Result<Deployment> {
    Ok(Deployment {
        name: r.text(0)?,
        version: r.int(1)?,
        component: r.text(2)?,
        bindings: decode_bindings(&r.text(3)?)?,
        created_at_ms: r.int(4)?,
    })
}

/// A `schedules` row.
pub(super) fn schedule(r: &impl Row) -> Result<Schedule> {
    Ok(Schedule {
        id: r.text(0)?,
        cron: r.text(1)?,
        workflow: r.text(2)?,
        input: r.text(3)?,
        next_fire_at_ms: r.int(4)?,
    })
}

/// An `inbox` row.
pub(super) fn inbox_message(r: &impl Row) -> Result<InboxMessage> {
    let kind = r.text(1)?;
    Ok(InboxMessage {
        id: r.int(0)?,
        kind: InboxKind::parse(&kind).ok_or_else(|| corrupt("inbox kind", &kind))?,
        name: r.text(2)?,
        payload: r.text(3)?,
        created_at_ms: r.int(4)?,
    })
}

/// The counts of a backlog query, in the order of [`Backlog`]'s fields.
pub(super) fn backlog(r: &impl Row) -> Result<Backlog> {
    Ok(Backlog {
        runnable: r.int(0)?,
        leased: r.int(1)?,
        sleeping: r.int(2)?,
        parked: r.int(3)?,
        failed: r.int(4)?,
        completed: r.int(5)?,
        terminated: r.int(6)?,
        queued: r.int(7)?,
    })
}

/// A row of the live-nodes query: id, started_at, heartbeat_at, leases.
pub(super) fn node_info(r: &impl Row) -> Result<NodeInfo> {
    Ok(NodeInfo {
        id: r.text(0)?,
        started_at_ms: r.int(1)?,
        heartbeat_at_ms: r.int(2)?,
        leases: r.int(3)?,
    })
}
