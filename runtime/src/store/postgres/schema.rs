//! The PostgreSQL schema: versioned migrations, applied in order.

use crate::store::migrate::Migration;

/// Versioned schema migrations, applied in order.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "CREATE TABLE components (
            digest TEXT PRIMARY KEY,
            bytes BYTEA NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE TABLE executions (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            component TEXT NOT NULL,
            bindings TEXT NOT NULL,
            status TEXT NOT NULL,
            input TEXT NOT NULL,
            output TEXT,
            error TEXT,
            wake_at BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            lease_owner TEXT,
            lease_epoch BIGINT NOT NULL,
            lease_expires BIGINT
        );
        CREATE INDEX executions_unfinished ON executions (updated_at) WHERE status IN ('running', 'sleeping');
        CREATE INDEX executions_created ON executions (created_at);
        CREATE TABLE journal (
            execution_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            at BIGINT NOT NULL,
            PRIMARY KEY (execution_id, seq)
        );
        CREATE TABLE probe (id TEXT PRIMARY KEY, at BIGINT NOT NULL);",
    },
    Migration {
        version: 2,
        sql: "CREATE TABLE nodes (
            id TEXT PRIMARY KEY,
            started_at BIGINT NOT NULL,
            heartbeat_at BIGINT NOT NULL
        );",
    },
    Migration {
        version: 3,
        sql: "ALTER TABLE executions ADD COLUMN parent TEXT;
        CREATE TABLE deployments (
            name TEXT NOT NULL,
            version BIGINT NOT NULL,
            component TEXT NOT NULL,
            bindings TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (name, version)
        );
        CREATE TABLE inbox (
            execution_id TEXT NOT NULL,
            id BIGINT GENERATED ALWAYS AS IDENTITY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (execution_id, id)
        );
        CREATE TABLE schedules (
            id TEXT PRIMARY KEY,
            cron TEXT NOT NULL,
            workflow TEXT NOT NULL,
            input TEXT NOT NULL,
            next_fire_at BIGINT NOT NULL
        );",
    },
    Migration {
        version: 4,
        sql: "ALTER TABLE executions ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
        CREATE INDEX executions_by_tenant ON executions (tenant, created_at, id);
        ALTER TABLE deployments ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
        CREATE INDEX deployments_by_tenant ON deployments (tenant, name, version);
        ALTER TABLE schedules ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
        CREATE TABLE tenants (
            name TEXT PRIMARY KEY,
            quotas TEXT NOT NULL,
            created_at BIGINT NOT NULL
        );
        INSERT INTO tenants (name, quotas, created_at)
            VALUES ('default', '{}', (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT);
        CREATE TABLE tenant_components (
            tenant TEXT NOT NULL,
            digest TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant, digest)
        );
        INSERT INTO tenant_components (tenant, digest, size, created_at)
            SELECT 'default', digest, length(bytes), created_at FROM components;
        CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            role TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            revoked_at BIGINT
        );
        CREATE TABLE audit (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at BIGINT NOT NULL,
            token TEXT NOT NULL,
            tenant TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL
        );",
    },
    Migration {
        version: 5,
        sql: "CREATE INDEX executions_live_by_tenant ON executions (tenant, status, created_at, id)
            WHERE status IN ('running', 'sleeping', 'queued');",
    },
    Migration {
        version: 6,
        sql: "ALTER TABLE executions ADD COLUMN journal_bytes BIGINT NOT NULL DEFAULT 0;
            UPDATE executions SET journal_bytes =
                (SELECT COALESCE(SUM(octet_length(payload)), 0) FROM journal WHERE execution_id = executions.id);",
    },
    Migration {
        version: 7,
        // Every status, not only the live ones: a page filtered by status
        // walks its own part of the index newest first, and the console's
        // counts by status read the index alone (both walked the tenant's
        // rows). The open ones (parked too) keep a small index of their own
        // for the store-wide gauges and the queue.
        sql: "CREATE INDEX executions_by_tenant_status ON executions (tenant, status, created_at, id);
            DROP INDEX executions_live_by_tenant;
            CREATE INDEX executions_open_by_tenant ON executions (tenant, status)
                WHERE status IN ('running', 'sleeping', 'parked', 'queued');",
    },
    Migration {
        version: 8,
        // Tokens an operator vouched for (all of them so far), console
        // sessions, and the superuser: what `admin` meant until tenants
        // got administrators of their own.
        sql: "ALTER TABLE tokens ADD COLUMN confirmed_at BIGINT;
            ALTER TABLE tokens ADD COLUMN session_of TEXT;
            UPDATE tokens SET confirmed_at = created_at;
            UPDATE tokens SET role = 'superuser' WHERE role = 'admin';",
    },
    Migration {
        version: 9,
        // Whether the last claim took the lease over from an owner that
        // never gave it up (a crash): its calls in flight may have run.
        sql: "ALTER TABLE executions ADD COLUMN lease_recovered BOOLEAN NOT NULL DEFAULT FALSE;",
    },
];
