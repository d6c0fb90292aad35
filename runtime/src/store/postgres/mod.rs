//! The PostgreSQL store: production, several runtime nodes on one database.
//!
//! Every hot-path write is one statement (an implicit transaction, one
//! commit, one round trip): the journal append checks the lease, inserts
//! the entries and updates the execution in a single data-modifying CTE.
//! Work is claimed with `FOR UPDATE SKIP LOCKED`; nodes are woken by
//! `LISTEN/NOTIFY` when available and poll otherwise. No advisory locks,
//! every table keyed by execution id (or a small reference table), so the
//! schema distributes on Citus, YugabyteDB YSQL or CockroachDB unchanged.

use super::{
    Backlog, Deployment, Entry, Execution, InboxMessage, Lease, ListFilter, NODE_STALE_MS, NewExecution, NodeInfo,
    Schedule, Status, Store, StoreStatus, Transition, now_ms,
};
use crate::error::{Error, Result, codes};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, OnceCell};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

mod listen;
mod schema;
mod sql;

use sql::{APPEND_SQL, BACKLOG_SQL};

use listen::listen_loop;

pub use schema::{MIGRATIONS, latest_version};

/// What [`PostgresStore::connect`] does about the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply pending migrations.
    Migrate,
    /// Fail with `CAIRN-E020` unless the schema is current.
    Require,
    /// Leave it as it is (for `cairn status`).
    Inspect,
}

/// The PostgreSQL backend of [`Store`].
pub struct PostgresStore {
    url: String,
    pool: Pool,
    work: Arc<Notify>,
    listener: OnceCell<()>,
}

fn pg_err(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::store(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        None => Error::store(format!(
            "{e}{}",
            std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        )),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> Error {
    Error::store(format!("no database connection: {e}"))
}

fn unreachable(url: &str, e: impl std::error::Error) -> Error {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    Error::new(
        codes::DB_UNREACHABLE,
        format!("cannot reach the database at {}: {text}", redact(url)),
        "check --database / CAIRN_DATABASE_URL and that PostgreSQL is running (pg_isready)",
    )
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

const EXECUTION_COLUMNS: &str = "id, workflow, component, bindings, status, input, output, error, wake_at, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent";

fn row_to_execution(r: &tokio_postgres::Row) -> Execution {
    let status: String = r.get(4);
    Execution {
        id: r.get(0),
        workflow: r.get(1),
        component: r.get(2),
        bindings: r.get(3),
        status: Status::parse(&status).unwrap_or(Status::Parked),
        input: r.get(5),
        output: r.get(6),
        error: r.get(7),
        wake_at_ms: r.get(8),
        created_at_ms: r.get(9),
        updated_at_ms: r.get(10),
        lease_owner: r.get(11),
        lease_epoch: r.get(12),
        lease_expires_ms: r.get(13),
        parent: r.get(14),
    }
}

fn row_to_deployment(r: &tokio_postgres::Row) -> Deployment {
    Deployment {
        name: r.get(0),
        version: r.get(1),
        component: r.get(2),
        bindings: r.get(3),
        created_at_ms: r.get(4),
    }
}

impl PostgresStore {
    /// Connects (pool of `pool_size`) and checks the database is reachable
    /// (`CAIRN-E019` if not), then handles the schema as `schema` says.
    pub async fn connect(url: &str, pool_size: usize, schema: Schema) -> Result<PostgresStore> {
        let pg_config: tokio_postgres::Config = url.parse().map_err(|e| unreachable(url, e))?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| unreachable(url, e))?;
        let store = PostgresStore {
            url: url.to_owned(),
            pool,
            work: Arc::new(Notify::new()),
            listener: OnceCell::new(),
        };
        let client = store.pool.get().await.map_err(|e| unreachable(url, e))?;
        drop(client);
        if schema == Schema::Migrate {
            store.migrate().await?;
        } else if schema == Schema::Require {
            let version = store.schema_version().await?;
            if version < latest_version() {
                return Err(Error::new(
                    codes::DB_UNINITIALIZED,
                    format!(
                        "the database is at schema version {version}, this cairn needs {}",
                        latest_version()
                    ),
                    "run `cairn db migrate` (or start `cairn server`, which migrates on start)",
                ));
            }
        }
        Ok(store)
    }

    /// Applied schema version; 0 when the schema does not exist.
    pub async fn schema_version(&self) -> Result<i64> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let exists: bool = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let row = client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            .await
            .map_err(pg_err)?;
        Ok(row.get(0))
    }

    /// Applies pending migrations, each in its own transaction. Concurrent
    /// migrators are safe: the version row's primary key lets one win (and a
    /// race on creating the bookkeeping table is retried).
    pub async fn migrate(&self) -> Result<i64> {
        let mut attempt = 0;
        loop {
            match self.migrate_once().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < 3 => {
                    tracing::debug!("migration attempt failed, retrying: {}", e.message);
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn migrate_once(&self) -> Result<i64> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await
            .map_err(pg_err)?;
        for (version, sql) in MIGRATIONS {
            let applied = client
                .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version])
                .await
                .map_err(pg_err)?
                .is_some();
            if applied {
                continue;
            }
            let tx = client.transaction().await.map_err(pg_err)?;
            let claimed = tx
                .execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[version, &now_ms()],
                )
                .await
                .map_err(pg_err)?;
            if claimed == 1 {
                tx.batch_execute(sql).await.map_err(pg_err)?;
                tx.commit().await.map_err(pg_err)?;
            }
        }
        Ok(latest_version())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Starts the LISTEN connection once; it reconnects with backoff.
    async fn ensure_listener(&self) {
        self.listener
            .get_or_init(|| async {
                let (url, work) = (self.url.clone(), self.work.clone());
                tokio::spawn(listen_loop(url, work));
            })
            .await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO components (digest, bytes, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
            &[&digest, &bytes, &now_ms()],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT bytes FROM components WHERE digest = $1", &[&digest])
            .await
            .map_err(pg_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Option<Lease>> {
        let c = self.client().await?;
        let now = now_ms();
        let (epoch, expires): (i64, Option<i64>) = if owner.is_some() {
            (1, Some(now + lease_ms))
        } else {
            (0, None)
        };
        let stmt = c
            .prepare_cached(
                "WITH e AS (
                    INSERT INTO executions (id, workflow, component, bindings, status, input, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent)
                    VALUES ($1, $2, $3, $4, 'running', $5, $6, $6, $7, $8, $9, $14) RETURNING id)
                 INSERT INTO journal (execution_id, seq, kind, payload, at) SELECT id, $10, $11, $12, $13 FROM e",
            )
            .await
            .map_err(pg_err)?;
        let seq = new.started.seq as i32;
        c.execute(
            &stmt,
            &[
                &new.id,
                &new.workflow,
                &new.component,
                &new.bindings,
                &new.input,
                &now,
                &owner,
                &epoch,
                &expires,
                &seq,
                &new.started.kind,
                &new.started.payload,
                &new.started.at_ms,
                &new.parent,
            ],
        )
        .await
        .map_err(pg_err)?;
        match owner {
            Some(owner) => Ok(Some(Lease {
                execution_id: new.id.clone(),
                owner: owner.to_owned(),
                epoch,
            })),
            None => {
                // Wake idle nodes; they also poll, so a lost notification costs latency only.
                let _ = c.execute("SELECT pg_notify('cairn_work', '')", &[]).await;
                Ok(None)
            }
        }
    }

    async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(APPEND_SQL).await.map_err(pg_err)?;
        let seqs: Vec<i32> = entries.iter().map(|e| e.seq as i32).collect();
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        let payloads: Vec<&str> = entries.iter().map(|e| e.payload.as_str()).collect();
        let ats: Vec<i64> = entries.iter().map(|e| e.at_ms).collect();
        let (wake_at, output, error) = transition.columns();
        let release = transition.is_terminal();
        let status = transition.status().as_str();
        let params: [&(dyn ToSql + Sync); 13] = [
            &lease.execution_id,
            &lease.owner,
            &lease.epoch,
            &seqs,
            &kinds,
            &payloads,
            &ats,
            &status,
            &wake_at,
            &output,
            &error,
            &now_ms(),
            &release,
        ];
        let updated = c.execute(&stmt, &params).await.map_err(pg_err)?;
        if updated == 0 {
            return Err(Error::lease_lost(&lease.execution_id));
        }
        Ok(())
    }

    async fn claim(&self, id: &str, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>> {
        let c = self.client().await?;
        let now = now_ms();
        let row = c
            .query_opt(
                "UPDATE executions SET lease_owner = $2, lease_epoch = lease_epoch + 1, lease_expires = $3
                 WHERE id = $1 AND status IN ('running', 'sleeping')
                   AND (lease_owner IS NULL OR lease_expires < $4 OR lease_owner = ANY($5))
                 RETURNING lease_epoch",
                &[&id, &owner, &(now + lease_ms), &now, &dead_owners],
            )
            .await
            .map_err(pg_err)?;
        Ok(row.map(|r| Lease {
            execution_id: id.to_owned(),
            owner: owner.to_owned(),
            epoch: r.get(0),
        }))
    }

    async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32) -> Result<Vec<Lease>> {
        let c = self.client().await?;
        let now = now_ms();
        let stmt = c
            .prepare_cached(
                "UPDATE executions SET lease_owner = $1, lease_epoch = lease_epoch + 1, lease_expires = $2
                 WHERE id IN (
                    SELECT id FROM executions
                    WHERE status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= $3)
                      AND (lease_owner IS NULL OR lease_expires < $3)
                    ORDER BY updated_at LIMIT $4
                    FOR UPDATE SKIP LOCKED)
                   AND (lease_owner IS NULL OR lease_expires < $3)
                 RETURNING id, lease_epoch",
            )
            .await
            .map_err(pg_err)?;
        let rows = c
            .query(&stmt, &[&owner, &(now + lease_ms), &now, &i64::from(limit)])
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| Lease {
                execution_id: r.get(0),
                owner: owner.to_owned(),
                epoch: r.get(1),
            })
            .collect())
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.ensure_listener().await;
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }

    async fn heartbeat(&self, id: &str, started_at_ms: i64) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
            &[&id, &started_at_ms, &now_ms()],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn status(&self) -> Result<StoreStatus> {
        let version = self.schema_version().await?;
        let c = self.client().await?;
        let now = now_ms();
        let (nodes, backlog) = if version >= latest_version() {
            let rows = c
                .query(
                    "SELECT n.id, n.started_at, n.heartbeat_at,
                        (SELECT COUNT(*) FROM executions e WHERE e.lease_owner = n.id AND e.lease_expires >= $1)
                     FROM nodes n WHERE n.heartbeat_at >= $2 ORDER BY n.id",
                    &[&now, &(now - NODE_STALE_MS)],
                )
                .await
                .map_err(pg_err)?;
            let nodes = rows
                .iter()
                .map(|r| NodeInfo {
                    id: r.get(0),
                    started_at_ms: r.get(1),
                    heartbeat_at_ms: r.get(2),
                    leases: r.get(3),
                })
                .collect();
            let r = c.query_one(BACKLOG_SQL, &[&now]).await.map_err(pg_err)?;
            let backlog = Backlog {
                runnable: r.get(0),
                leased: r.get(1),
                sleeping: r.get(2),
                parked: r.get(3),
                failed: r.get(4),
                completed: r.get(5),
            };
            (nodes, backlog)
        } else {
            (Vec::new(), Backlog::default())
        };
        Ok(StoreStatus {
            backend: "postgres",
            schema_version: version,
            latest_version: latest_version(),
            nodes,
            backlog,
        })
    }

    async fn renew_leases(&self, owner: &str, ids: &[String], lease_ms: i64) -> Result<u64> {
        let c = self.client().await?;
        let now = now_ms();
        c.execute(
            "UPDATE executions SET lease_expires = $2 WHERE lease_owner = $1 AND id = ANY($3)",
            &[&owner, &(now + lease_ms), &ids],
        )
        .await
        .map_err(pg_err)
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE executions SET lease_owner = NULL, lease_expires = NULL WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
            &[&lease.execution_id, &lease.owner, &lease.epoch],
        )
        .await
        .map_err(pg_err)?;
        // Someone may be able to run it now.
        let _ = c.execute("SELECT pg_notify('cairn_work', '')", &[]).await;
        Ok(())
    }

    async fn journal(&self, id: &str) -> Result<Vec<Entry>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT seq, kind, payload, at FROM journal WHERE execution_id = $1 ORDER BY seq")
            .await
            .map_err(pg_err)?;
        let rows = c.query(&stmt, &[&id]).await.map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| Entry {
                seq: r.get::<_, i32>(0) as u32,
                kind: r.get(1),
                payload: r.get(2),
                at_ms: r.get(3),
            })
            .collect())
    }

    async fn execution(&self, id: &str) -> Result<Option<Execution>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1"))
            .await
            .map_err(pg_err)?;
        Ok(c.query_opt(&stmt, &[&id])
            .await
            .map_err(pg_err)?
            .as_ref()
            .map(row_to_execution))
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>> {
        let c = self.client().await?;
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let limit: Option<i64> = filter.limit.map(i64::from);
        let (after_at, after_id) = filter.after.clone().unwrap_or((i64::MAX, String::new()));
        let rows = c
            .query(
                &format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions
                     WHERE (cardinality($1::text[]) = 0 OR status = ANY($1))
                       AND ($3::text IS NULL OR workflow = $3)
                       AND ($4::int8 IS NULL OR created_at >= $4)
                       AND ($5::int8 IS NULL OR created_at < $5)
                       AND (created_at < $6 OR (created_at = $6 AND id < $7))
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ),
                &[
                    &statuses,
                    &limit,
                    &filter.workflow,
                    &filter.created_from_ms,
                    &filter.created_to_ms,
                    &after_at,
                    &after_id,
                ],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows.iter().map(row_to_execution).collect())
    }

    async fn enqueue_if_absent(&self, new: &NewExecution) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "WITH e AS (
                    INSERT INTO executions (id, workflow, component, bindings, status, input, created_at, updated_at, lease_epoch, parent)
                    VALUES ($1, $2, $3, $4, 'running', $5, $6, $6, 0, $7) ON CONFLICT (id) DO NOTHING RETURNING id)
                 INSERT INTO journal (execution_id, seq, kind, payload, at) SELECT id, $8, $9, $10, $11 FROM e",
                &[
                    &new.id,
                    &new.workflow,
                    &new.component,
                    &new.bindings,
                    &new.input,
                    &now_ms(),
                    &new.parent,
                    &(new.started.seq as i32),
                    &new.started.kind,
                    &new.started.payload,
                    &new.started.at_ms,
                ],
            )
            .await
            .map_err(pg_err)?;
        if n == 1 {
            let _ = c.execute("SELECT pg_notify('cairn_work', '')", &[]).await;
        }
        Ok(n == 1)
    }

    async fn put_deployment(&self, name: &str, component: &str, bindings: &str) -> Result<Deployment> {
        let c = self.client().await?;
        // Two deploys racing for one version: the loser retries with the next number.
        for _ in 0..5 {
            let r = c
                .query_one(
                    "INSERT INTO deployments (name, version, component, bindings, created_at)
                     VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM deployments WHERE name = $1), $2, $3, $4)
                     RETURNING name, version, component, bindings, created_at",
                    &[&name, &component, &bindings, &now_ms()],
                )
                .await;
            match r {
                Ok(row) => return Ok(row_to_deployment(&row)),
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => continue,
                Err(e) => return Err(pg_err(e)),
            }
        }
        Err(Error::store("could not allocate a deployment version"))
    }

    async fn deployment(&self, name: &str, version: Option<i64>) -> Result<Option<Deployment>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT name, version, component, bindings, created_at FROM deployments
                 WHERE name = $1 AND ($2::int8 IS NULL OR version = $2) ORDER BY version DESC LIMIT 1",
                &[&name, &version],
            )
            .await
            .map_err(pg_err)?;
        Ok(row.as_ref().map(row_to_deployment))
    }

    async fn deployments(&self) -> Result<Vec<Deployment>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT name, version, component, bindings, created_at FROM deployments ORDER BY name, version",
                &[],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows.iter().map(row_to_deployment).collect())
    }

    async fn push_inbox(&self, execution_id: &str, kind: &str, name: &str, payload: &str) -> Result<i64> {
        let c = self.client().await?;
        let now = now_ms();
        let row = c
            .query_one(
                "WITH m AS (
                    INSERT INTO inbox (execution_id, kind, name, payload, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id
                 ), w AS (
                    UPDATE executions SET wake_at = $5 WHERE id = $1 AND status = 'sleeping' AND wake_at > $5
                 )
                 SELECT id FROM m",
                &[&execution_id, &kind, &name, &payload, &now],
            )
            .await
            .map_err(pg_err)?;
        let _ = c.execute("SELECT pg_notify('cairn_work', '')", &[]).await;
        Ok(row.get(0))
    }

    async fn inbox(&self, execution_id: &str) -> Result<Vec<InboxMessage>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, kind, name, payload, created_at FROM inbox WHERE execution_id = $1 ORDER BY id",
                &[&execution_id],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| InboxMessage {
                id: r.get(0),
                kind: r.get(1),
                name: r.get(2),
                payload: r.get(3),
                created_at_ms: r.get(4),
            })
            .collect())
    }

    async fn wake(&self, execution_id: &str) -> Result<()> {
        let c = self.client().await?;
        let now = now_ms();
        c.execute(
            "UPDATE executions SET wake_at = $2 WHERE id = $1 AND status = 'sleeping' AND wake_at > $2",
            &[&execution_id, &now],
        )
        .await
        .map_err(pg_err)?;
        let _ = c.execute("SELECT pg_notify('cairn_work', '')", &[]).await;
        Ok(())
    }

    async fn terminate(&self, execution_id: &str, reason: &str) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let row = tx
            .query_opt(
                "SELECT status FROM executions WHERE id = $1 FOR UPDATE",
                &[&execution_id],
            )
            .await
            .map_err(pg_err)?;
        let status: Option<String> = row.map(|r| r.get(0));
        if !matches!(status.as_deref(), Some("running" | "sleeping" | "parked")) {
            return Ok(false);
        }
        let now = now_ms();
        let payload = serde_json::json!({ "reason": reason }).to_string();
        tx.execute(
            "INSERT INTO journal (execution_id, seq, kind, payload, at)
             SELECT $1, COALESCE(MAX(seq), -1) + 1, 'terminated', $2, $3 FROM journal WHERE execution_id = $1",
            &[&execution_id, &payload, &now],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(
            "UPDATE executions SET status = 'terminated', error = $2, wake_at = NULL, updated_at = $3,
             lease_owner = NULL, lease_expires = NULL, lease_epoch = lease_epoch + 1 WHERE id = $1",
            &[&execution_id, &payload, &now],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO schedules (id, cron, workflow, input, next_fire_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET cron = EXCLUDED.cron, workflow = EXCLUDED.workflow,
                input = EXCLUDED.input, next_fire_at = EXCLUDED.next_fire_at",
            &[
                &schedule.id,
                &schedule.cron,
                &schedule.workflow,
                &schedule.input,
                &schedule.next_fire_at_ms,
            ],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, cron, workflow, input, next_fire_at FROM schedules ORDER BY id",
                &[],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| Schedule {
                id: r.get(0),
                cron: r.get(1),
                workflow: r.get(2),
                input: r.get(3),
                next_fire_at_ms: r.get(4),
            })
            .collect())
    }

    async fn delete_schedule(&self, id: &str) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.execute("DELETE FROM schedules WHERE id = $1", &[&id])
            .await
            .map_err(pg_err)?
            == 1)
    }

    async fn advance_schedule(&self, id: &str, from_ms: i64, to_ms: i64) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE schedules SET next_fire_at = $3 WHERE id = $1 AND next_fire_at = $2",
                &[&id, &from_ms, &to_ms],
            )
            .await
            .map_err(pg_err)?;
        Ok(n == 1)
    }

    async fn probe_commit(&self) -> Result<()> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("INSERT INTO probe (id, at) VALUES ($1, $2)")
            .await
            .map_err(pg_err)?;
        c.execute(&stmt, &[&uuid::Uuid::now_v7().to_string(), &now_ms()])
            .await
            .map_err(pg_err)?;
        Ok(())
    }
}
