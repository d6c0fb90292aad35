//! Every statement of the PostgreSQL store.

use crate::store::rows::{deployment_columns, entry_columns, execution_columns, inbox_columns, schedule_columns};

// Notification channels (LISTEN/NOTIFY): sent inside the statements that
// commit what they announce, so they arrive exactly when it is durable.

macro_rules! work_channel {
    () => {
        "cairn_work"
    };
}
macro_rules! done_channel {
    () => {
        "cairn_done"
    };
}
macro_rules! poke_channel {
    () => {
        "cairn_poke"
    };
}

/// New or released work may be claimable (no payload).
pub(super) const CHANNEL_WORK: &str = work_channel!();
/// An execution finished (payload: its id).
pub(super) const CHANNEL_DONE: &str = done_channel!();
/// A running execution has something new (payload: its id).
pub(super) const CHANNEL_POKE: &str = poke_channel!();

// Executions and journals.

/// A new execution with its `started` entry, in one statement, unless the
/// id exists (leased to `$7` at epoch `$8`, or unowned: then nodes are told).
/// One row when it was created.
pub(super) const CREATE_EXECUTION: &str = concat!(
    "WITH e AS (
        INSERT INTO executions (id, workflow, component, bindings, status, input, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent, tenant, journal_bytes)
        VALUES ($1, $2, $3, $4, $16, $5, $6, $6, $7, $8, $9, $14, $15, octet_length($12)) ON CONFLICT (id) DO NOTHING RETURNING id
     ), j AS (
        INSERT INTO journal (execution_id, seq, kind, payload, at) SELECT id, $10, $11, $12, $13 FROM e RETURNING execution_id
     )
     SELECT execution_id, CASE WHEN $7::text IS NULL AND $16 = 'running' THEN pg_notify('",
    work_channel!(),
    "', '') END IS NULL FROM j"
);

/// One journal append: lease check, entries, status — one statement, one
/// commit. One row when the lease held; a terminal transition announces it.
pub(super) const APPEND: &str = concat!(
    "WITH lease AS (
        SELECT id FROM executions WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 FOR UPDATE
    ), ins AS (
        INSERT INTO journal (execution_id, seq, kind, payload, at)
        SELECT $1, t.seq, t.kind, t.payload, t.at
        FROM unnest($4::int4[], $5::text[], $6::text[], $7::int8[]) AS t(seq, kind, payload, at)
        WHERE EXISTS (SELECT 1 FROM lease)
    ), upd AS (
        UPDATE executions SET status = $8, wake_at = $9, output = COALESCE($10, output), error = COALESCE($11, error),
            updated_at = $12, journal_bytes = journal_bytes + (SELECT COALESCE(SUM(octet_length(p)), 0) FROM unnest($6::text[]) AS p),
            lease_owner = CASE WHEN $13 THEN NULL ELSE lease_owner END,
            lease_expires = CASE WHEN $13 THEN NULL ELSE lease_expires END
        WHERE id IN (SELECT id FROM lease)
        RETURNING id
    )
    SELECT id, CASE WHEN $13 THEN pg_notify('",
    done_channel!(),
    "', id) END IS NULL FROM upd"
);

/// The appends of many executions in one statement (group commit): each
/// member (`$1..$8`, one array element each) is checked against its own
/// lease; its entries (`$9..$13`, named by execution id) and its status
/// change are written only if it holds. Returns the ids that held.
pub(super) const APPEND_BATCH: &str = concat!(
    "WITH m AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[], $7::text[], $8::bool[])
            AS m(id, owner, epoch, status, wake_at, output, error, release)
    ), lease AS (
        SELECT e.id FROM executions e JOIN m ON e.id = m.id AND e.lease_owner = m.owner AND e.lease_epoch = m.epoch
        ORDER BY e.id FOR UPDATE OF e
    ), ins AS (
        INSERT INTO journal (execution_id, seq, kind, payload, at)
        SELECT t.id, t.seq, t.kind, t.payload, t.at
        FROM unnest($9::text[], $10::int4[], $11::text[], $12::text[], $13::int8[]) AS t(id, seq, kind, payload, at)
        WHERE t.id IN (SELECT id FROM lease)
    ), upd AS (
        UPDATE executions e SET status = m.status, wake_at = m.wake_at, output = COALESCE(m.output, e.output),
            error = COALESCE(m.error, e.error), updated_at = $14,
            journal_bytes = e.journal_bytes + (SELECT COALESCE(SUM(octet_length(t.payload)), 0)
                FROM unnest($9::text[], $12::text[]) AS t(id, payload) WHERE t.id = e.id),
            lease_owner = CASE WHEN m.release THEN NULL ELSE e.lease_owner END,
            lease_expires = CASE WHEN m.release THEN NULL ELSE e.lease_expires END
        FROM m WHERE e.id = m.id AND e.id IN (SELECT id FROM lease)
        RETURNING e.id, m.release
    )
    SELECT id, CASE WHEN release THEN pg_notify('",
    done_channel!(),
    "', id) END IS NULL FROM upd"
);

/// How many of the given seqs of a journal are stored (after an append
/// whose commit answer was lost).
pub(super) const STORED_SEQS: &str = "SELECT count(*) FROM journal WHERE execution_id = $1 AND seq = ANY($2)";

/// An execution's fencing epoch.
pub(super) const EPOCH_OF: &str = "SELECT lease_epoch FROM executions WHERE id = $1";

/// Tells the claimers there is new work.
pub(super) const NOTIFY_WORK: &str = concat!("SELECT pg_notify('", work_channel!(), "', '')");

/// Announces that an execution finished.
pub(super) const NOTIFY_DONE: &str = concat!("SELECT pg_notify('", done_channel!(), "', $1)");

/// An execution's status, locked for the transaction.
pub(super) const LOCK_STATUS: &str = "SELECT status FROM executions WHERE id = $1 FOR UPDATE";

/// One entry at the next free seq.
pub(super) const APPEND_AT_NEXT_SEQ: &str = "WITH ins AS (
        INSERT INTO journal (execution_id, seq, kind, payload, at)
        SELECT $1, COALESCE(MAX(seq), -1) + 1, $2, $3, $4 FROM journal WHERE execution_id = $1
        RETURNING octet_length(payload) AS n
     )
     UPDATE executions SET journal_bytes = journal_bytes + (SELECT n FROM ins) WHERE id = $1";

/// Ends an execution whatever its owner, fencing the owner out.
pub(super) const END_FENCED: &str = "UPDATE executions SET status = $2, error = $3, wake_at = NULL, updated_at = $4,
     lease_owner = NULL, lease_expires = NULL, lease_epoch = lease_epoch + 1 WHERE id = $1";

/// Claims one execution (`$5`: dead owners).
pub(super) const CLAIM: &str =
    "UPDATE executions SET lease_owner = $2, lease_epoch = lease_epoch + 1, lease_expires = $3,
         lease_recovered = (lease_owner IS NOT NULL)
     WHERE id = $1 AND status IN ('running', 'sleeping')
       AND (lease_owner IS NULL OR lease_expires < $4 OR lease_owner = ANY($5))
     RETURNING lease_epoch, lease_recovered";

/// Claims up to `$4` runnable executions, skipping rows other nodes are
/// claiming. Tenants take turns: a candidate's rank is its place in its
/// tenant's line plus how many of the tenant's executions hold a lease now,
/// lowest first; so a tenant with a backlog never holds another's new work
/// back longer than one claim. Tenants in `$5` are skipped.
pub(super) const CLAIM_RUNNABLE: &str =
    "UPDATE executions SET lease_owner = $1, lease_epoch = lease_epoch + 1, lease_expires = $2,
         lease_recovered = (lease_owner IS NOT NULL)
     WHERE id IN (
        SELECT id FROM executions WHERE id IN (
            WITH busy AS (
                SELECT tenant, COUNT(*) AS n FROM executions
                WHERE status IN ('running', 'sleeping') AND lease_owner IS NOT NULL AND lease_expires >= $3
                GROUP BY tenant
            ), line AS (
                SELECT id, tenant, updated_at, row_number() OVER (PARTITION BY tenant ORDER BY updated_at, id) AS turn
                FROM executions
                WHERE status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= $3)
                  AND (lease_owner IS NULL OR lease_expires < $3)
                  AND tenant <> ALL($5)
            )
            SELECT line.id FROM line LEFT JOIN busy ON busy.tenant = line.tenant
            ORDER BY line.turn + COALESCE(busy.n, 0), line.updated_at LIMIT $4)
        FOR UPDATE SKIP LOCKED)
       AND (lease_owner IS NULL OR lease_expires < $3)
     RETURNING id, lease_epoch, lease_recovered";

/// Extends the leases of `$1` on the executions `$3`.
pub(super) const RENEW_LEASES: &str =
    "UPDATE executions SET lease_expires = $2 WHERE lease_owner = $1 AND id = ANY($3)";

/// Gives a lease up; the execution may be claimed by any node now.
pub(super) const RELEASE: &str = concat!(
    "WITH r AS (
        UPDATE executions SET lease_owner = NULL, lease_expires = NULL
        WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 RETURNING id
     )
     SELECT pg_notify('",
    work_channel!(),
    "', '') IS NULL FROM r"
);

/// Makes a sleeping execution due at `$2` and pokes it where it runs.
pub(super) const WAKE: &str = concat!(
    "WITH w AS (
        UPDATE executions SET wake_at = $2 WHERE id = $1 AND status = 'sleeping' AND wake_at > $2
     )
     SELECT pg_notify('",
    poke_channel!(),
    "', $1) IS NULL, pg_notify('",
    work_channel!(),
    "', '') IS NULL"
);

/// Makes a parked execution runnable, on another component when `$3` is not
/// null, and tells the claimers.
pub(super) const UNPARK: &str = concat!(
    "WITH u AS (
        UPDATE executions SET status = 'running', error = NULL, wake_at = NULL,
            updated_at = $2, component = COALESCE($3, component), bindings = COALESCE($4, bindings),
            lease_owner = NULL, lease_expires = NULL
        WHERE id = $1 AND status = 'parked' RETURNING id
     )
     SELECT pg_notify('",
    work_channel!(),
    "', '') IS NULL FROM u"
);

/// A journal, in order.
pub(super) const JOURNAL: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM journal WHERE execution_id = $1 ORDER BY seq"
);

/// One execution.
pub(super) const EXECUTION: &str = concat!("SELECT ", execution_columns!(), " FROM executions WHERE id = $1");

/// The filters of a listing (`$1` statuses, empty for all; `$3` workflow,
/// `$4`/`$5` created range, `$6`/`$7` the cursor); `$8` is the tenant.
/// The first argument says how the statuses are matched.
macro_rules! list_filters {
    ($($statuses:tt)+) => {
        concat!(
            " FROM executions WHERE ",
            $($statuses)+,
            " AND ($3::text IS NULL OR workflow = $3)
       AND ($4::int8 IS NULL OR created_at >= $4)
       AND ($5::int8 IS NULL OR created_at < $5)
       AND created_at <= $6 AND (created_at < $6 OR (created_at = $6 AND id < $7))"
        )
    };
}

/// Statuses matched against `$1`, empty for all.
macro_rules! any_status {
    () => {
        "(cardinality($1::text[]) = 0 OR status = ANY($1))"
    };
}

/// A page of one tenant's executions, newest first: the tenant is a plain
/// equality, so the `(tenant, created_at, id)` index serves the order and
/// the cursor, whatever plan the statement is cached with.
pub(super) const LIST_IN_TENANT: &str = concat!(
    "SELECT ",
    execution_columns!(),
    list_filters!(any_status!()),
    " AND tenant = $8 ORDER BY created_at DESC, id DESC LIMIT $2"
);

/// A page of one tenant's executions in one status (`$1` holds it): the
/// `(tenant, status, created_at, id)` index serves the order and the
/// cursor, so a status no row has answers at once.
pub(super) const LIST_IN_TENANT_STATUS: &str = concat!(
    "SELECT ",
    execution_columns!(),
    list_filters!("status = ($1::text[])[1]"),
    " AND tenant = $8 ORDER BY created_at DESC, id DESC LIMIT $2"
);

/// A page of every tenant's executions (`$8` is null).
pub(super) const LIST_ALL: &str = concat!(
    "SELECT ",
    execution_columns!(),
    list_filters!(any_status!()),
    " AND $8::text IS NULL ORDER BY created_at DESC, id DESC LIMIT $2"
);

// Inboxes.

/// A new inbox message; with `$6`, the execution is made due now (one
/// statement); it is poked where it runs.
pub(super) const PUSH_INBOX: &str = concat!(
    "WITH m AS (
        INSERT INTO inbox (execution_id, kind, name, payload, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id
     ), w AS (
        UPDATE executions SET wake_at = $5 WHERE $6 AND id = $1 AND status = 'sleeping' AND wake_at > $5
     )
     SELECT id, pg_notify('",
    poke_channel!(),
    "', $1) IS NULL, pg_notify('",
    work_channel!(),
    "', '') IS NULL FROM m"
);

/// An execution's inbox, oldest first.
pub(super) const INBOX: &str = concat!(
    "SELECT ",
    inbox_columns!(),
    " FROM inbox WHERE execution_id = $1 ORDER BY id"
);

// Catalog.

/// A component (idempotent).
pub(super) const PUT_COMPONENT: &str =
    "INSERT INTO components (digest, bytes, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING";

/// A component's bytes.
pub(super) const COMPONENT: &str = "SELECT bytes FROM components WHERE digest = $1";

/// The next version of a deployment.
pub(super) const PUT_DEPLOYMENT: &str = concat!(
    "INSERT INTO deployments (name, version, component, bindings, created_at, tenant)
     VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM deployments WHERE name = $1), $2, $3, $4, $5)
     RETURNING ",
    deployment_columns!()
);

/// A deployment: version `$2`, or the latest.
pub(super) const DEPLOYMENT: &str = concat!(
    "SELECT ",
    deployment_columns!(),
    " FROM deployments WHERE name = $1 AND ($2::int8 IS NULL OR version = $2) ORDER BY version DESC LIMIT 1"
);

/// Every deployment.
pub(super) const DEPLOYMENTS: &str = concat!(
    "SELECT ",
    deployment_columns!(),
    " FROM deployments WHERE tenant = $1 ORDER BY name, version"
);

// Schedules.

/// Creates or replaces a schedule.
pub(super) const PUT_SCHEDULE: &str =
    "INSERT INTO schedules (id, cron, workflow, input, next_fire_at, tenant) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET cron = EXCLUDED.cron, workflow = EXCLUDED.workflow,
        input = EXCLUDED.input, next_fire_at = EXCLUDED.next_fire_at";

/// Every schedule.
pub(super) const SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE ($1::text IS NULL OR tenant = $1) ORDER BY id"
);

/// Deletes a schedule.
pub(super) const DELETE_SCHEDULE: &str = "DELETE FROM schedules WHERE id = $1";

/// Compare-and-set of a schedule's next firing.
pub(super) const ADVANCE_SCHEDULE: &str = "UPDATE schedules SET next_fire_at = $3 WHERE id = $1 AND next_fire_at = $2";

// Nodes and status.

/// A node's heartbeat.
pub(super) const HEARTBEAT: &str = "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at";

/// How many nodes are live (`$1`: oldest live heartbeat).
pub(super) const COUNT_LIVE_NODES: &str = "SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= $1";

/// Live nodes with their lease counts (`$1` now, `$2` oldest live heartbeat).
pub(super) const LIVE_NODES: &str = "SELECT n.id, n.started_at, n.heartbeat_at,
        (SELECT COUNT(*) FROM executions e WHERE e.lease_owner = n.id AND e.lease_expires >= $1)
     FROM nodes n WHERE n.heartbeat_at >= $2 ORDER BY n.id";

/// Executions by state; `$1` is the current time in ms.
pub(super) const BACKLOG: &str = "SELECT
    COUNT(*) FILTER (WHERE status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= $1)
                       AND (lease_owner IS NULL OR lease_expires < $1)),
    COUNT(*) FILTER (WHERE status IN ('running', 'sleeping') AND lease_owner IS NOT NULL AND lease_expires >= $1),
    COUNT(*) FILTER (WHERE status = 'sleeping' AND wake_at > $1 AND (lease_owner IS NULL OR lease_expires < $1)),
    COUNT(*) FILTER (WHERE status = 'parked'),
    COUNT(*) FILTER (WHERE status = 'failed'),
    COUNT(*) FILTER (WHERE status = 'completed'),
    COUNT(*) FILTER (WHERE status = 'terminated'),
    COUNT(*) FILTER (WHERE status = 'queued')
    FROM executions";

/// The benchmark's single-row commit.
pub(super) const PROBE: &str = "INSERT INTO probe (id, at) VALUES ($1, $2)";

/// Transactions committed in this database so far.
pub(super) const COMMITTED_TRANSACTIONS: &str =
    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()";

// Migrations.

/// The migrations' bookkeeping table.
pub(super) const MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// Whether the bookkeeping table exists.
pub(super) const HAS_MIGRATIONS_TABLE: &str = "SELECT to_regclass('schema_migrations') IS NOT NULL";

/// Applied versions.
pub(super) const APPLIED_VERSIONS: &str = "SELECT version FROM schema_migrations";

/// Claims a version.
pub(super) const CLAIM_VERSION: &str =
    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";
