//! Every statement of the SQLite store.

use crate::store::rows::{deployment_columns, entry_columns, execution_columns, inbox_columns, schedule_columns};

// Executions and journals.

/// A new execution row (leased to `?7` at epoch `?8`, or unowned).
pub(super) const INSERT_EXECUTION: &str = "INSERT INTO executions (id, workflow, component, bindings, status, input, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent, tenant)
     VALUES (?1, ?2, ?3, ?4, ?12, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11)";

/// Whether an execution exists.
pub(super) const EXECUTION_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM executions WHERE id = ?1)";

/// Most journal entries one insert statement carries.
pub(super) const MAX_ROWS: usize = 16;

/// An insert of `n` (1..=[`MAX_ROWS`]) journal entries of execution `?1`:
/// each entry binds four parameters (seq, kind, payload, at) from `?2` on.
pub(super) fn insert_entries(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (1..=MAX_ROWS)
            .map(|n| {
                let rows: Vec<String> = (0..n)
                    .map(|i| {
                        let p = 2 + i * 4;
                        format!("(?1, ?{}, ?{}, ?{}, ?{})", p, p + 1, p + 2, p + 3)
                    })
                    .collect();
                format!(
                    "INSERT INTO journal (execution_id, seq, kind, payload, at) VALUES {}",
                    rows.join(", ")
                )
            })
            .collect()
    });
    &all[n - 1]
}

/// Counts `?2` bytes of new entries in an execution's journal size.
pub(super) const ADD_JOURNAL_BYTES: &str = "UPDATE executions SET journal_bytes = journal_bytes + ?2 WHERE id = ?1";

/// The status change of an append, fenced by the lease (`?8` owner, `?9`
/// epoch: no row changes when it is stale); `?7` releases the lease; `?10`
/// bytes of entries are added to the journal's size.
pub(super) const APPLY_TRANSITION: &str = "UPDATE executions SET status = ?2, wake_at = ?3, output = COALESCE(?4, output), error = COALESCE(?5, error), updated_at = ?6,
     journal_bytes = journal_bytes + ?10,
     lease_owner = CASE WHEN ?7 THEN NULL ELSE lease_owner END,
     lease_expires = CASE WHEN ?7 THEN NULL ELSE lease_expires END
     WHERE id = ?1 AND lease_owner = ?8 AND lease_epoch = ?9";

/// Each write job runs in its own savepoint, so a refused one rolls back alone.
pub(super) const SAVEPOINT: &str = "SAVEPOINT job";
/// Undoes a refused job.
pub(super) const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO job";
/// Ends a job's savepoint.
pub(super) const RELEASE_SAVEPOINT: &str = "RELEASE job";

/// An execution's status.
pub(super) const STATUS_OF: &str = "SELECT status FROM executions WHERE id = ?1";

/// The next free seq of a journal.
pub(super) const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq), -1) + 1 FROM journal WHERE execution_id = ?1";

/// Ends an execution whatever its owner, fencing the owner out.
pub(super) const END_FENCED: &str = "UPDATE executions SET status = ?2, error = ?3, wake_at = NULL, updated_at = ?4,
     lease_owner = NULL, lease_expires = NULL, lease_epoch = lease_epoch + 1 WHERE id = ?1";

/// Claims one execution (`?5`: JSON list of dead owners).
pub(super) const CLAIM: &str =
    "UPDATE executions SET lease_owner = ?2, lease_epoch = lease_epoch + 1, lease_expires = ?3,
         lease_recovered = (lease_owner IS NOT NULL)
     WHERE id = ?1 AND status IN ('running', 'sleeping')
       AND (lease_owner IS NULL OR lease_expires < ?4 OR lease_owner IN (SELECT value FROM json_each(?5)))
     RETURNING lease_epoch, lease_recovered";

/// Claims up to `?4` runnable executions of tenants not in the JSON list
/// `?5`; tenants take turns (as on PostgreSQL).
pub(super) const CLAIM_RUNNABLE: &str =
    "UPDATE executions SET lease_owner = ?1, lease_epoch = lease_epoch + 1, lease_expires = ?2,
         lease_recovered = (lease_owner IS NOT NULL)
     WHERE id IN (
        WITH busy AS (
            SELECT tenant, COUNT(*) AS n FROM executions
            WHERE status IN ('running', 'sleeping') AND lease_owner IS NOT NULL AND lease_expires >= ?3
            GROUP BY tenant
        ), line AS (
            SELECT id, tenant, updated_at, row_number() OVER (PARTITION BY tenant ORDER BY updated_at, id) AS turn
            FROM executions
            WHERE status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= ?3)
              AND (lease_owner IS NULL OR lease_expires < ?3)
              AND tenant NOT IN (SELECT value FROM json_each(?5))
        )
        SELECT line.id FROM line LEFT JOIN busy ON busy.tenant = line.tenant
        ORDER BY line.turn + COALESCE(busy.n, 0), line.updated_at LIMIT ?4)
     RETURNING id, lease_epoch, lease_recovered";

/// Extends the leases of `?1` on the executions of the JSON list `?3`.
pub(super) const RENEW_LEASES: &str = "UPDATE executions SET lease_expires = ?2
     WHERE lease_owner = ?1 AND id IN (SELECT value FROM json_each(?3))";

/// Gives a lease up.
pub(super) const RELEASE: &str = "UPDATE executions SET lease_owner = NULL, lease_expires = NULL
     WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3";

/// Makes a sleeping execution due at `?2`.
pub(super) const WAKE: &str =
    "UPDATE executions SET wake_at = ?2 WHERE id = ?1 AND status = 'sleeping' AND wake_at > ?2";

/// Makes a parked execution runnable, on another component when `?3` is not null.
pub(super) const UNPARK: &str = "UPDATE executions SET status = 'running', error = NULL, wake_at = NULL,
     updated_at = ?2, component = COALESCE(?3, component), bindings = COALESCE(?4, bindings),
     lease_owner = NULL, lease_expires = NULL WHERE id = ?1 AND status = 'parked'";

/// A journal, in order.
pub(super) const JOURNAL: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM journal WHERE execution_id = ?1 ORDER BY seq"
);

/// One execution.
pub(super) const EXECUTION: &str = concat!("SELECT ", execution_columns!(), " FROM executions WHERE id = ?1");

/// The filters of a listing (`?1` statuses as a JSON list, empty for all;
/// `?3` workflow, `?4`/`?5` created range, `?6`/`?7` the cursor); `?8` is
/// the tenant. The first argument says how the statuses are matched.
macro_rules! list_filters {
    ($($statuses:tt)+) => {
        concat!(
            " FROM executions WHERE ",
            $($statuses)+,
            " AND (?3 IS NULL OR workflow = ?3)
       AND (?4 IS NULL OR created_at >= ?4)
       AND (?5 IS NULL OR created_at < ?5)
       AND created_at <= ?6 AND (created_at < ?6 OR (created_at = ?6 AND id < ?7))"
        )
    };
}

/// Statuses matched against a JSON list, empty for all.
macro_rules! any_status {
    () => {
        "(json_array_length(?1) = 0 OR status IN (SELECT value FROM json_each(?1)))"
    };
}

/// A page of one tenant's executions, newest first: the tenant is a plain
/// equality, so the `(tenant, created_at, id)` index serves the order and
/// the cursor (no scan of every row, no sort).
pub(super) const LIST_IN_TENANT: &str = concat!(
    "SELECT ",
    execution_columns!(),
    list_filters!(any_status!()),
    " AND tenant = ?8 ORDER BY created_at DESC, id DESC LIMIT ?2"
);

/// A page of one tenant's executions in one status (the list's only
/// element): the `(tenant, status, created_at, id)` index serves the order
/// and the cursor, so a status no row has answers at once.
pub(super) const LIST_IN_TENANT_STATUS: &str = concat!(
    "SELECT ",
    execution_columns!(),
    list_filters!("status = json_extract(?1, '$[0]')"),
    " AND tenant = ?8 ORDER BY created_at DESC, id DESC LIMIT ?2"
);

/// A page of every tenant's executions (`?8` is null).
pub(super) const LIST_ALL: &str = concat!(
    "SELECT ",
    execution_columns!(),
    list_filters!(any_status!()),
    " AND ?8 IS NULL ORDER BY created_at DESC, id DESC LIMIT ?2"
);

// Inboxes.

/// A new inbox message.
pub(super) const PUSH_INBOX: &str =
    "INSERT INTO inbox (execution_id, kind, name, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";

/// An execution's inbox, oldest first.
pub(super) const INBOX: &str = concat!(
    "SELECT ",
    inbox_columns!(),
    " FROM inbox WHERE execution_id = ?1 ORDER BY id"
);

// Catalog.

/// A component (idempotent).
pub(super) const PUT_COMPONENT: &str =
    "INSERT INTO components (digest, bytes, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (digest) DO NOTHING";

/// A component's bytes.
pub(super) const COMPONENT: &str = "SELECT bytes FROM components WHERE digest = ?1";

/// The next version of a deployment.
pub(super) const PUT_DEPLOYMENT: &str = concat!(
    "INSERT INTO deployments (name, version, component, bindings, created_at, tenant)
     VALUES (?1, (SELECT COALESCE(MAX(version), 0) + 1 FROM deployments WHERE name = ?1), ?2, ?3, ?4, ?5)
     RETURNING ",
    deployment_columns!()
);

/// A deployment: version `?2`, or the latest.
pub(super) const DEPLOYMENT: &str = concat!(
    "SELECT ",
    deployment_columns!(),
    " FROM deployments WHERE name = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1"
);

/// Every deployment.
pub(super) const DEPLOYMENTS: &str = concat!(
    "SELECT ",
    deployment_columns!(),
    " FROM deployments WHERE tenant = ?1 ORDER BY name, version"
);

// Schedules.

/// Creates or replaces a schedule.
pub(super) const PUT_SCHEDULE: &str =
    "INSERT INTO schedules (id, cron, workflow, input, next_fire_at, tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, workflow = excluded.workflow,
        input = excluded.input, next_fire_at = excluded.next_fire_at";

/// Every schedule.
pub(super) const SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE (?1 IS NULL OR tenant = ?1) ORDER BY id"
);

/// Deletes a schedule.
pub(super) const DELETE_SCHEDULE: &str = "DELETE FROM schedules WHERE id = ?1";

/// Compare-and-set of a schedule's next firing.
pub(super) const ADVANCE_SCHEDULE: &str = "UPDATE schedules SET next_fire_at = ?3 WHERE id = ?1 AND next_fire_at = ?2";

// Nodes and status.

/// A node's heartbeat.
pub(super) const HEARTBEAT: &str = "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";

/// How many nodes are live (`?1`: oldest live heartbeat).
pub(super) const COUNT_LIVE_NODES: &str = "SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= ?1";

/// Live nodes with their lease counts (`?1` now, `?2` oldest live heartbeat).
pub(super) const LIVE_NODES: &str = "SELECT n.id, n.started_at, n.heartbeat_at,
        (SELECT COUNT(*) FROM executions e WHERE e.lease_owner = n.id AND e.lease_expires >= ?1)
     FROM nodes n WHERE n.heartbeat_at >= ?2 ORDER BY n.id";

/// Executions by state; `?1` is the current time in ms.
pub(super) const BACKLOG: &str = "SELECT
    COALESCE(SUM(CASE WHEN status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= ?1)
                       AND (lease_owner IS NULL OR lease_expires < ?1) THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status IN ('running', 'sleeping') AND lease_owner IS NOT NULL AND lease_expires >= ?1 THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'sleeping' AND wake_at > ?1 AND (lease_owner IS NULL OR lease_expires < ?1) THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'parked' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'terminated' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0)
    FROM executions";

/// The benchmark's single-row commit.
pub(super) const PROBE: &str = "INSERT INTO probe (at) VALUES (?1)";

// Migrations.

/// The migrations' bookkeeping table.
pub(super) const MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";

/// Applied versions.
pub(super) const APPLIED_VERSIONS: &str = "SELECT version FROM schema_migrations";

/// Claims a version.
pub(super) const CLAIM_VERSION: &str =
    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
