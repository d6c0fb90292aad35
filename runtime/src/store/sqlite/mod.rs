//! The embedded SQLite store: one file under the data directory.
//!
//! Writes go through one writer thread that commits everything queued at the
//! moment in one transaction (group commit), each job inside its own
//! savepoint so a rejected job (stale lease) rolls back alone. With
//! `synchronous=FULL` in WAL mode every commit is one fsync, and one step of
//! one execution never needs more than one commit. Reads use their own
//! connections and never wait for the writer.

use super::{
    Backlog, Deployment, Entry, Execution, InboxMessage, Lease, ListFilter, NewExecution, NodeInfo, Schedule, Status,
    Store, StoreStatus, Transition, now_ms,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use tokio::sync::oneshot;

mod schema;

use schema::MIGRATIONS;

/// Counts executions by state; `?1` is the current time in ms.
const BACKLOG_SQL: &str = "SELECT
    COALESCE(SUM(CASE WHEN status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= ?1)
                       AND (lease_owner IS NULL OR lease_expires < ?1) THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status IN ('running', 'sleeping') AND lease_owner IS NOT NULL AND lease_expires >= ?1 THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'sleeping' AND wake_at > ?1 AND (lease_owner IS NULL OR lease_expires < ?1) THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'parked' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0)
    FROM executions";

/// The newest schema version this binary knows.
fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

type Reply = Box<dyn FnOnce(Option<Error>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// The SQLite backend of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
}

fn sql_err(e: rusqlite::Error) -> Error {
    Error::store(e)
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| Error::io(path, e))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
    )
    .map_err(sql_err)?;
    Ok(conn)
}

/// Applies pending migrations; returns the schema version.
fn migrate(conn: &mut Connection) -> Result<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(sql_err)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let current: i64 = tx
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .map_err(sql_err)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql).map_err(sql_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, now_ms()],
        )
        .map_err(sql_err)?;
    }
    tx.commit().map_err(sql_err)?;
    Ok(latest_version())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs migrations.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("cairn-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx))
            .map_err(|e| Error::io(path, e))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs: Mutex::new(tx),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on the writer connection inside the next group commit.
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.execute_batch("SAVEPOINT job").map_err(sql_err).and_then(|_| {
                let r = f(conn);
                let end = if r.is_ok() {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                conn.execute_batch(end).map_err(sql_err)?;
                r
            });
            Box::new(move |commit_error| {
                let _ = tx.send(match commit_error {
                    Some(e) => Err(e),
                    None => result,
                });
            })
        });
        self.jobs
            .lock()
            .unwrap()
            .send(job)
            .map_err(|_| Error::store("the writer thread has stopped"))?;
        rx.await.map_err(|_| Error::store("the writer thread has stopped"))?
    }

    /// Runs `f` on a read connection on the blocking pool.
    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let conn = self.readers.lock().unwrap().pop();
        let conn = match conn {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            (conn, r)
        })
        .await
        .map_err(Error::store)?;
        self.readers.lock().unwrap().push(conn);
        result
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs unblocks their waiters with a store error.
            tracing::error!("sqlite: cannot begin a transaction: {e}");
            drop(batch);
            continue;
        }
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&conn)).collect();
        let commit_error = conn.execute_batch("COMMIT").err().map(sql_err);
        if commit_error.is_some() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(commit_error.clone());
        }
    }
}

fn row_to_execution(r: &rusqlite::Row<'_>) -> rusqlite::Result<Execution> {
    let status: String = r.get(4)?;
    Ok(Execution {
        id: r.get(0)?,
        workflow: r.get(1)?,
        component: r.get(2)?,
        bindings: r.get(3)?,
        status: Status::parse(&status).unwrap_or(Status::Parked),
        input: r.get(5)?,
        output: r.get(6)?,
        error: r.get(7)?,
        wake_at_ms: r.get(8)?,
        created_at_ms: r.get(9)?,
        updated_at_ms: r.get(10)?,
        lease_owner: r.get(11)?,
        lease_epoch: r.get(12)?,
        lease_expires_ms: r.get(13)?,
        parent: r.get(14)?,
    })
}

const EXECUTION_COLUMNS: &str = "id, workflow, component, bindings, status, input, output, error, wake_at, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent";

/// Inserts an execution row (leased to `owner` at epoch 1, or unowned) and its `started` entry.
fn insert_execution(c: &Connection, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<()> {
    let now = now_ms();
    let (epoch, expires) = if owner.is_some() {
        (1, Some(now + lease_ms))
    } else {
        (0, None)
    };
    c.prepare_cached(
        "INSERT INTO executions (id, workflow, component, bindings, status, input, created_at, updated_at, lease_owner, lease_epoch, lease_expires, parent)
         VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![new.id, new.workflow, new.component, new.bindings, new.input, now, owner, epoch, expires, new.parent])
    })
    .map_err(sql_err)?;
    insert_entries(c, &new.id, std::slice::from_ref(&new.started))
}

fn row_to_deployment(r: &rusqlite::Row<'_>) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        name: r.get(0)?,
        version: r.get(1)?,
        component: r.get(2)?,
        bindings: r.get(3)?,
        created_at_ms: r.get(4)?,
    })
}

fn row_to_schedule(r: &rusqlite::Row<'_>) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        id: r.get(0)?,
        cron: r.get(1)?,
        workflow: r.get(2)?,
        input: r.get(3)?,
        next_fire_at_ms: r.get(4)?,
    })
}

fn insert_entries(conn: &Connection, id: &str, entries: &[Entry]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO journal (execution_id, seq, kind, payload, at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(sql_err)?;
    for e in entries {
        stmt.execute(params![id, e.seq, e.kind, e.payload, e.at_ms])
            .map_err(sql_err)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let (digest, bytes) = (digest.to_owned(), bytes.to_vec());
        self.write(move |c| {
            c.execute(
                "INSERT INTO components (digest, bytes, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (digest) DO NOTHING",
                params![digest, bytes, now_ms()],
            )
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let digest = digest.to_owned();
        self.read(move |c| {
            c.query_row("SELECT bytes FROM components WHERE digest = ?1", [digest], |r| r.get(0))
                .optional()
                .map_err(sql_err)
        })
        .await
    }

    async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Option<Lease>> {
        let (new, owner) = (new.clone(), owner.map(str::to_owned));
        self.write(move |c| {
            insert_execution(c, &new, owner.as_deref(), lease_ms)?;
            Ok(owner.map(|owner| Lease {
                execution_id: new.id,
                owner,
                epoch: 1,
            }))
        })
        .await
    }

    async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()> {
        let (lease, entries, transition) = (lease.clone(), entries.to_vec(), transition.clone());
        self.write(move |c| {
            let current: Option<(Option<String>, i64)> = c
                .prepare_cached("SELECT lease_owner, lease_epoch FROM executions WHERE id = ?1")
                .and_then(|mut s| s.query_row([&lease.execution_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(sql_err)?;
            match current {
                Some((Some(owner), epoch)) if owner == lease.owner && epoch == lease.epoch => {}
                _ => return Err(Error::lease_lost(&lease.execution_id)),
            }
            insert_entries(c, &lease.execution_id, &entries)?;
            let now = now_ms();
            let (wake_at, output, error) = transition.columns();
            let release = transition.is_terminal();
            c.prepare_cached(
                "UPDATE executions SET status = ?2, wake_at = ?3, output = COALESCE(?4, output), error = COALESCE(?5, error), updated_at = ?6,
                 lease_owner = CASE WHEN ?7 THEN NULL ELSE lease_owner END,
                 lease_expires = CASE WHEN ?7 THEN NULL ELSE lease_expires END
                 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![lease.execution_id, transition.status().as_str(), wake_at, output, error, now, release])
            })
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn claim(&self, id: &str, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        let dead = serde_json::to_string(dead_owners).unwrap_or_else(|_| "[]".into());
        self.write(move |c| {
            let now = now_ms();
            let epoch: Option<i64> = c
                .query_row(
                    "UPDATE executions SET lease_owner = ?2, lease_epoch = lease_epoch + 1, lease_expires = ?3
                     WHERE id = ?1 AND status IN ('running', 'sleeping')
                       AND (lease_owner IS NULL OR lease_expires < ?4 OR lease_owner IN (SELECT value FROM json_each(?5)))
                     RETURNING lease_epoch",
                    params![id, owner, now + lease_ms, now, dead],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err)?;
            Ok(epoch.map(|epoch| Lease { execution_id: id, owner, epoch }))
        })
        .await
    }

    async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32) -> Result<Vec<Lease>> {
        let owner = owner.to_owned();
        self.write(move |c| {
            let now = now_ms();
            let mut stmt = c
                .prepare_cached(
                    "UPDATE executions SET lease_owner = ?1, lease_epoch = lease_epoch + 1, lease_expires = ?2
                     WHERE id IN (
                        SELECT id FROM executions
                        WHERE status IN ('running', 'sleeping') AND (wake_at IS NULL OR wake_at <= ?3)
                          AND (lease_owner IS NULL OR lease_expires < ?3)
                        ORDER BY updated_at LIMIT ?4)
                     RETURNING id, lease_epoch",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![owner, now + lease_ms, now, limit], |r| {
                    Ok(Lease {
                        execution_id: r.get(0)?,
                        owner: owner.clone(),
                        epoch: r.get(1)?,
                    })
                })
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
        .await
    }

    async fn wait_for_work(&self, timeout: std::time::Duration) {
        // SQLite has no notifications: polling is the mechanism.
        tokio::time::sleep(timeout).await;
    }

    async fn heartbeat(&self, id: &str, started_at_ms: i64) -> Result<()> {
        let id = id.to_owned();
        self.write(move |c| {
            c.execute(
                "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                params![id, started_at_ms, now_ms()],
            )
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn status(&self) -> Result<StoreStatus> {
        self.read(|c| {
            let now = now_ms();
            let version: i64 = c
                .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| {
                    r.get(0)
                })
                .map_err(sql_err)?;
            let mut stmt = c
                .prepare(
                    "SELECT n.id, n.started_at, n.heartbeat_at,
                        (SELECT COUNT(*) FROM executions e WHERE e.lease_owner = n.id AND e.lease_expires >= ?1)
                     FROM nodes n WHERE n.heartbeat_at >= ?2 ORDER BY n.id",
                )
                .map_err(sql_err)?;
            let nodes = stmt
                .query_map(params![now, now - super::NODE_STALE_MS], |r| {
                    Ok(NodeInfo {
                        id: r.get(0)?,
                        started_at_ms: r.get(1)?,
                        heartbeat_at_ms: r.get(2)?,
                        leases: r.get(3)?,
                    })
                })
                .map_err(sql_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_err)?;
            let backlog = c
                .query_row(BACKLOG_SQL, params![now], |r| {
                    Ok(Backlog {
                        runnable: r.get(0)?,
                        leased: r.get(1)?,
                        sleeping: r.get(2)?,
                        parked: r.get(3)?,
                        failed: r.get(4)?,
                        completed: r.get(5)?,
                    })
                })
                .map_err(sql_err)?;
            Ok(StoreStatus {
                backend: "sqlite",
                schema_version: version,
                latest_version: latest_version(),
                nodes,
                backlog,
            })
        })
        .await
    }

    async fn renew_leases(&self, owner: &str, ids: &[String], lease_ms: i64) -> Result<u64> {
        let owner = owner.to_owned();
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE executions SET lease_expires = ?2
                     WHERE lease_owner = ?1 AND id IN (SELECT value FROM json_each(?3))",
                    params![owner, now_ms() + lease_ms, ids],
                )
                .map_err(sql_err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let lease = lease.clone();
        self.write(move |c| {
            c.execute(
                "UPDATE executions SET lease_owner = NULL, lease_expires = NULL WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                params![lease.execution_id, lease.owner, lease.epoch],
            )
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn journal(&self, id: &str) -> Result<Vec<Entry>> {
        let id = id.to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT seq, kind, payload, at FROM journal WHERE execution_id = ?1 ORDER BY seq")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(Entry {
                        seq: r.get(0)?,
                        kind: r.get(1)?,
                        payload: r.get(2)?,
                        at_ms: r.get(3)?,
                    })
                })
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
        .await
    }

    async fn execution(&self, id: &str) -> Result<Option<Execution>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"),
                [id],
                row_to_execution,
            )
            .optional()
            .map_err(sql_err)
        })
        .await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>> {
        let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let statuses = serde_json::to_string(&statuses).unwrap_or_else(|_| "[]".into());
        let limit = filter.limit.map(i64::from).unwrap_or(-1);
        let f = filter.clone();
        self.read(move |c| {
            let (after_at, after_id) = f.after.clone().unwrap_or((i64::MAX, String::new()));
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions
                     WHERE (json_array_length(?1) = 0 OR status IN (SELECT value FROM json_each(?1)))
                       AND (?3 IS NULL OR workflow = ?3)
                       AND (?4 IS NULL OR created_at >= ?4)
                       AND (?5 IS NULL OR created_at < ?5)
                       AND (created_at < ?6 OR (created_at = ?6 AND id < ?7))
                     ORDER BY created_at DESC, id DESC LIMIT ?2"
                ))
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(
                    params![
                        statuses,
                        limit,
                        f.workflow,
                        f.created_from_ms,
                        f.created_to_ms,
                        after_at,
                        after_id
                    ],
                    row_to_execution,
                )
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
        .await
    }

    async fn enqueue_if_absent(&self, new: &NewExecution) -> Result<bool> {
        let new = new.clone();
        self.write(move |c| {
            let exists: bool = c
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM executions WHERE id = ?1)",
                    [&new.id],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            if exists {
                return Ok(false);
            }
            insert_execution(c, &new, None, 0)?;
            Ok(true)
        })
        .await
    }

    async fn put_deployment(&self, name: &str, component: &str, bindings: &str) -> Result<Deployment> {
        let (name, component, bindings) = (name.to_owned(), component.to_owned(), bindings.to_owned());
        self.write(move |c| {
            c.query_row(
                "INSERT INTO deployments (name, version, component, bindings, created_at)
                 VALUES (?1, (SELECT COALESCE(MAX(version), 0) + 1 FROM deployments WHERE name = ?1), ?2, ?3, ?4)
                 RETURNING name, version, component, bindings, created_at",
                params![name, component, bindings, now_ms()],
                row_to_deployment,
            )
            .map_err(sql_err)
        })
        .await
    }

    async fn deployment(&self, name: &str, version: Option<i64>) -> Result<Option<Deployment>> {
        let name = name.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT name, version, component, bindings, created_at FROM deployments
                 WHERE name = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                params![name, version],
                row_to_deployment,
            )
            .optional()
            .map_err(sql_err)
        })
        .await
    }

    async fn deployments(&self) -> Result<Vec<Deployment>> {
        self.read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT name, version, component, bindings, created_at FROM deployments ORDER BY name, version",
                )
                .map_err(sql_err)?;
            let rows = stmt.query_map([], row_to_deployment).map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
        .await
    }

    async fn push_inbox(&self, execution_id: &str, kind: &str, name: &str, payload: &str) -> Result<i64> {
        let (id, kind, name, payload) = (
            execution_id.to_owned(),
            kind.to_owned(),
            name.to_owned(),
            payload.to_owned(),
        );
        self.write(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO inbox (execution_id, kind, name, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, kind, name, payload, now],
            )
            .map_err(sql_err)?;
            let seq = c.last_insert_rowid();
            c.execute(
                "UPDATE executions SET wake_at = ?2 WHERE id = ?1 AND status = 'sleeping' AND wake_at > ?2",
                params![id, now],
            )
            .map_err(sql_err)?;
            Ok(seq)
        })
        .await
    }

    async fn inbox(&self, execution_id: &str) -> Result<Vec<InboxMessage>> {
        let id = execution_id.to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, kind, name, payload, created_at FROM inbox WHERE execution_id = ?1 ORDER BY id",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(InboxMessage {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        payload: r.get(3)?,
                        created_at_ms: r.get(4)?,
                    })
                })
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
        .await
    }

    async fn wake(&self, execution_id: &str) -> Result<()> {
        let id = execution_id.to_owned();
        self.write(move |c| {
            let now = now_ms();
            c.execute(
                "UPDATE executions SET wake_at = ?2 WHERE id = ?1 AND status = 'sleeping' AND wake_at > ?2",
                params![id, now],
            )
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn terminate(&self, execution_id: &str, reason: &str) -> Result<bool> {
        let (id, reason) = (execution_id.to_owned(), reason.to_owned());
        self.write(move |c| {
            let status: Option<String> = c
                .query_row("SELECT status FROM executions WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            if !matches!(status.as_deref(), Some("running" | "sleeping" | "parked")) {
                return Ok(false);
            }
            let next: u32 = c
                .query_row(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM journal WHERE execution_id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            let now = now_ms();
            let payload = serde_json::json!({ "reason": reason }).to_string();
            let entry = Entry {
                seq: next,
                kind: "terminated".into(),
                payload: payload.clone(),
                at_ms: now,
            };
            insert_entries(c, &id, &[entry])?;
            c.execute(
                "UPDATE executions SET status = 'terminated', error = ?2, wake_at = NULL, updated_at = ?3,
                 lease_owner = NULL, lease_expires = NULL, lease_epoch = lease_epoch + 1 WHERE id = ?1",
                params![id, payload, now],
            )
            .map_err(sql_err)?;
            Ok(true)
        })
        .await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<()> {
        let s = schedule.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO schedules (id, cron, workflow, input, next_fire_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, workflow = excluded.workflow,
                    input = excluded.input, next_fire_at = excluded.next_fire_at",
                params![s.id, s.cron, s.workflow, s.input, s.next_fire_at_ms],
            )
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, cron, workflow, input, next_fire_at FROM schedules ORDER BY id")
                .map_err(sql_err)?;
            let rows = stmt.query_map([], row_to_schedule).map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
        .await
    }

    async fn delete_schedule(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            Ok(c.execute("DELETE FROM schedules WHERE id = ?1", [id])
                .map_err(sql_err)?
                == 1)
        })
        .await
    }

    async fn advance_schedule(&self, id: &str, from_ms: i64, to_ms: i64) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE schedules SET next_fire_at = ?3 WHERE id = ?1 AND next_fire_at = ?2",
                    params![id, from_ms, to_ms],
                )
                .map_err(sql_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn probe_commit(&self) -> Result<()> {
        self.write(|c| {
            c.prepare_cached("INSERT INTO probe (at) VALUES (?1)")
                .and_then(|mut s| s.execute([now_ms()]))
                .map_err(sql_err)?;
            Ok(())
        })
        .await
    }
}
