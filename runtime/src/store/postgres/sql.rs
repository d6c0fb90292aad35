//! The hot statements of the PostgreSQL store.

/// One journal append: lease check, entries, status — one statement, one commit.
pub(super) const APPEND_SQL: &str = "WITH lease AS (
        SELECT id FROM executions WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 FOR UPDATE
    ), ins AS (
        INSERT INTO journal (execution_id, seq, kind, payload, at)
        SELECT $1, t.seq, t.kind, t.payload, t.at
        FROM unnest($4::int4[], $5::text[], $6::text[], $7::int8[]) AS t(seq, kind, payload, at)
        WHERE EXISTS (SELECT 1 FROM lease)
    )
    UPDATE executions SET status = $8, wake_at = $9, output = COALESCE($10, output), error = COALESCE($11, error),
        updated_at = $12,
        lease_owner = CASE WHEN $13 THEN NULL ELSE lease_owner END,
        lease_expires = CASE WHEN $13 THEN NULL ELSE lease_expires END
    WHERE id IN (SELECT id FROM lease)";

/// Executions by state; `$1` is the current time in ms.
pub(super) const BACKLOG_SQL: &str = "SELECT
    COUNT(*) FILTER (WHERE status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= $1)
                       AND (lease_owner IS NULL OR lease_expires < $1)),
    COUNT(*) FILTER (WHERE status IN ('running', 'sleeping') AND lease_owner IS NOT NULL AND lease_expires >= $1),
    COUNT(*) FILTER (WHERE status = 'sleeping' AND wake_at > $1 AND (lease_owner IS NULL OR lease_expires < $1)),
    COUNT(*) FILTER (WHERE status = 'parked'),
    COUNT(*) FILTER (WHERE status = 'failed'),
    COUNT(*) FILTER (WHERE status = 'completed')
    FROM executions";
