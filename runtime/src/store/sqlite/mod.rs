//! The embedded SQLite store: one file under the data directory.
//!
//! Writes go through one writer thread that commits everything queued at the
//! moment in one transaction (group commit), each job inside its own
//! savepoint so a rejected job (stale lease) rolls back alone. With
//! `synchronous=FULL` in WAL mode every commit is one fsync, and one step of
//! one execution never needs more than one commit. Reads use their own
//! connections and never wait for the writer. The statements are in
//! `sql.rs`, the schema in `schema.rs`.

mod schema;
mod sql;
mod tenants;

use super::migrate::{self, Migration, Migrator};
use super::rows::{self, Row};
use super::tenants as tenant_sql;
use super::{CatalogStore, ClusterStore, EventSink, ExecutionStore, InboxStore, ScheduleStore};
use crate::error::{Error, Result};
use crate::model::{
    Bindings, Created, Deployment, Entry, Execution, InboxKind, InboxMessage, Key, Lease, ListFilter, NODE_STALE_MS,
    NewExecution, Schedule, Status, StoreStatus, Transition, now_ms, tenancy,
};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use schema::MIGRATIONS;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use tokio::sync::oneshot;

type Reply = Box<dyn FnOnce(Option<Error>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// The SQLite backend.
pub(crate) struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
}

fn sql_err(e: rusqlite::Error) -> Error {
    Error::store(e)
}

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        self.get(i).map_err(sql_err)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i).map_err(sql_err)
    }
    fn int(&self, i: usize) -> Result<i64> {
        self.get(i).map_err(sql_err)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i).map_err(sql_err)
    }
    fn seq(&self, i: usize) -> Result<u32> {
        self.get(i).map_err(sql_err)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        self.get(i).map_err(sql_err)
    }
}

/// Runs `query` and maps every row with `map`.
fn query_all<T>(
    c: &Connection,
    query: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(query).map_err(sql_err)?;
    let mut rows = stmt.query(params).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(sql_err)? {
        out.push(map(r)?);
    }
    Ok(out)
}

/// Runs `query` and maps its first row, if any.
fn query_one<T>(
    c: &Connection,
    query: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(query).map_err(sql_err)?;
    let mut rows = stmt.query(params).map_err(sql_err)?;
    rows.next().map_err(sql_err)?.map(map).transpose()
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| Error::io(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql_err)?;
    // Switching a new file to WAL needs a lock that another process creating
    // the same database may hold for a moment, and SQLite reports that at
    // once rather than through the busy timeout: wait for it here.
    busy_retry(|| conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"))?;
    Ok(conn)
}

/// Runs `f` until it is not refused as busy (for up to 10 s).
fn busy_retry<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.map_err(sql_err),
        }
    }
}

/// The migration runner's view of one connection.
struct SqliteMigrator(Mutex<Connection>);

#[async_trait]
impl Migrator for SqliteMigrator {
    async fn ensure_table(&self) -> Result<()> {
        // A `CREATE ... IF NOT EXISTS` that reads the schema and then finds
        // another process creating the same fresh database fails at once
        // ("database is locked") instead of waiting: wait for it here.
        let conn = self.0.lock().unwrap();
        busy_retry(|| conn.execute_batch(sql::MIGRATIONS_TABLE))
    }

    async fn applied(&self) -> Result<Vec<i64>> {
        query_all(&self.0.lock().unwrap(), sql::APPLIED_VERSIONS, [], |r| r.int(0))
    }

    async fn apply(&self, m: &Migration) -> Result<()> {
        let mut conn = self.0.lock().unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        if tx
            .execute(sql::CLAIM_VERSION, params![m.version, now_ms()])
            .map_err(sql_err)?
            == 1
        {
            tx.execute_batch(m.sql).map_err(sql_err)?;
        }
        tx.commit().map_err(sql_err)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs migrations.
    pub(crate) async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let migrator = SqliteMigrator(Mutex::new(open_connection(path)?));
        migrate::run(&migrator, MIGRATIONS).await?;
        let writer = migrator.0.into_inner().unwrap();
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
            let result = execute(conn, sql::SAVEPOINT, []).and_then(|_| {
                let r = f(conn);
                if r.is_err() {
                    execute(conn, sql::ROLLBACK_TO_SAVEPOINT, [])?;
                }
                execute(conn, sql::RELEASE_SAVEPOINT, [])?;
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

/// Inserts an execution row (leased to `owner` at epoch 1, or unowned) and its `started` entry.
fn insert_execution(
    c: &Connection,
    new: &NewExecution,
    owner: Option<&str>,
    status: Status,
    lease_ms: i64,
) -> Result<()> {
    let now = now_ms();
    let (epoch, expires) = match owner {
        Some(_) => (1, Some(now + lease_ms)),
        None => (0, None),
    };
    let bindings = rows::encode_bindings(&new.bindings);
    c.prepare_cached(sql::INSERT_EXECUTION)
        .and_then(|mut s| {
            s.execute(params![
                new.id.as_str(),
                new.workflow.as_str(),
                new.component,
                bindings,
                new.input,
                now,
                owner,
                epoch,
                expires,
                new.parent.as_ref().map(Key::as_str),
                new.id.tenant(),
                status.as_str()
            ])
        })
        .map_err(sql_err)?;
    insert_counted(c, new.id.as_str(), std::slice::from_ref(&new.started))
}

/// Inserts entries with one statement per up to [`sql::MAX_ROWS`] of them.
fn insert_entries(conn: &Connection, id: &str, entries: &[Entry]) -> Result<()> {
    for chunk in entries.chunks(sql::MAX_ROWS) {
        let mut stmt = conn.prepare_cached(sql::insert_entries(chunk.len())).map_err(sql_err)?;
        stmt.raw_bind_parameter(1, id).map_err(sql_err)?;
        for (i, e) in chunk.iter().enumerate() {
            let at = 2 + i * 4;
            stmt.raw_bind_parameter(at, e.seq).map_err(sql_err)?;
            stmt.raw_bind_parameter(at + 1, &e.kind).map_err(sql_err)?;
            stmt.raw_bind_parameter(at + 2, &e.payload).map_err(sql_err)?;
            stmt.raw_bind_parameter(at + 3, e.at_ms).map_err(sql_err)?;
        }
        stmt.raw_execute().map_err(sql_err)?;
    }
    Ok(())
}

/// Inserts journal entries and counts their bytes in the execution's
/// journal size (an append counts them in its status change instead).
fn insert_counted(conn: &Connection, id: &str, entries: &[Entry]) -> Result<()> {
    insert_entries(conn, id, entries)?;
    execute(conn, sql::ADD_JOURNAL_BYTES, params![id, payload_bytes(entries)])?;
    Ok(())
}

/// The bytes of the entries' payloads.
fn payload_bytes(entries: &[Entry]) -> i64 {
    entries.iter().map(|e| e.payload.len() as i64).sum()
}

fn execute(c: &Connection, query: &str, params: impl rusqlite::Params) -> Result<usize> {
    c.prepare_cached(query)
        .and_then(|mut s| s.execute(params))
        .map_err(sql_err)
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Created> {
        let (new, owner) = (new.clone(), owner.map(str::to_owned));
        self.write(move |c| {
            if query_one(c, sql::EXECUTION_EXISTS, [new.id.as_str()], |r| r.int(0))? == Some(1) {
                return Ok(Created::Existed);
            }
            // One writer at a time: the count and the insert cannot interleave with another start.
            if let Some(limit) = new.queue_limit {
                let tenant = new.id.tenant();
                let (live, queued) =
                    query_one(c, tenant_sql::LIVE_AND_QUEUED, [tenant], |r| Ok((r.int(0)?, r.int(1)?)))?
                        .unwrap_or((0, 0));
                if live >= limit as i64 || queued > 0 {
                    insert_execution(c, &new, None, Status::Queued, lease_ms)?;
                    return Ok(Created::Queued);
                }
            }
            insert_execution(c, &new, owner.as_deref(), Status::Running, lease_ms)?;
            Ok(match owner {
                Some(owner) => Created::Leased(Lease {
                    execution_id: new.id,
                    owner,
                    epoch: 1,
                    recovered: false,
                }),
                None => Created::Unclaimed,
            })
        })
        .await
    }

    async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()> {
        let (lease, entries, transition) = (lease.clone(), entries.to_vec(), transition.clone());
        self.write(move |c| {
            // Fenced first: with a stale lease nothing is written at all.
            let (wake_at, output, error) = transition.columns();
            let status = transition.status().as_str();
            let release = transition.is_terminal();
            let params = params![
                lease.execution_id.as_str(),
                status,
                wake_at,
                output,
                error,
                now_ms(),
                release,
                lease.owner,
                lease.epoch,
                payload_bytes(&entries)
            ];
            if execute(c, sql::APPLY_TRANSITION, params)? == 0 {
                return Err(Error::lease_lost(lease.execution_id.as_str()));
            }
            insert_entries(c, lease.execution_id.as_str(), &entries)
        })
        .await
    }

    async fn end_fenced(&self, id: &Key, from: &[Status], entry: &Entry, status: Status, error: &str) -> Result<bool> {
        let (id, from, entry, error) = (id.as_str().to_owned(), from.to_vec(), entry.clone(), error.to_owned());
        self.write(move |c| {
            let current = query_one(c, sql::STATUS_OF, [&id], |r| r.text(0))?;
            if !current.is_some_and(|s| from.iter().any(|f| f.as_str() == s)) {
                return Ok(false);
            }
            let seq = query_one(c, sql::NEXT_SEQ, [&id], |r| r.seq(0))?.unwrap_or(0);
            insert_counted(c, &id, &[Entry { seq, ..entry }])?;
            execute(c, sql::END_FENCED, params![id, status.as_str(), error, now_ms()])?;
            Ok(true)
        })
        .await
    }

    async fn claim(&self, id: &Key, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>> {
        let (id, owner) = (id.clone(), owner.to_owned());
        let dead = serde_json::to_string(dead_owners).expect("strings encode");
        self.write(move |c| {
            let now = now_ms();
            let claimed = query_one(
                c,
                sql::CLAIM,
                params![id.as_str(), owner, now + lease_ms, now, dead],
                |r| Ok((r.int(0)?, r.flag(1)?)),
            )?;
            Ok(claimed.map(|(epoch, recovered)| Lease {
                execution_id: id,
                owner,
                epoch,
                recovered,
            }))
        })
        .await
    }

    async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32, skip: &[String]) -> Result<Vec<Lease>> {
        let owner = owner.to_owned();
        let skip = serde_json::to_string(skip).expect("strings encode");
        self.write(move |c| {
            let now = now_ms();
            query_all(
                c,
                sql::CLAIM_RUNNABLE,
                params![owner, now + lease_ms, now, limit, skip],
                |r| {
                    Ok(Lease {
                        execution_id: r.key(0)?,
                        owner: owner.clone(),
                        epoch: r.int(1)?,
                        recovered: r.flag(2)?,
                    })
                },
            )
        })
        .await
    }

    async fn renew_leases(&self, owner: &str, ids: &[Key], lease_ms: i64) -> Result<u64> {
        let owner = owner.to_owned();
        let ids = serde_json::to_string(ids).expect("strings encode");
        self.write(move |c| Ok(execute(c, sql::RENEW_LEASES, params![owner, now_ms() + lease_ms, ids])? as u64))
            .await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let lease = lease.clone();
        self.write(move |c| {
            execute(
                c,
                sql::RELEASE,
                params![lease.execution_id.as_str(), lease.owner, lease.epoch],
            )?;
            Ok(())
        })
        .await
    }

    async fn wake(&self, id: &Key) -> Result<()> {
        let id = id.as_str().to_owned();
        self.write(move |c| {
            execute(c, sql::WAKE, params![id, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn unpark(&self, id: &Key, component: Option<(&str, &Bindings)>) -> Result<bool> {
        let id = id.as_str().to_owned();
        let (component, bindings) = component.map(|(c, b)| (c.to_owned(), rows::encode_bindings(b))).unzip();
        self.write(move |c| Ok(execute(c, sql::UNPARK, params![id, now_ms(), component, bindings])? == 1))
            .await
    }

    async fn journal(&self, id: &Key) -> Result<Vec<Entry>> {
        let id = id.as_str().to_owned();
        self.read(move |c| query_all(c, sql::JOURNAL, [id], |r| rows::entry(r)))
            .await
    }

    async fn execution(&self, id: &Key) -> Result<Option<Execution>> {
        let id = id.as_str().to_owned();
        self.read(move |c| query_one(c, sql::EXECUTION, [id], |r| rows::execution(r)))
            .await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>> {
        let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let statuses = serde_json::to_string(&statuses).expect("strings encode");
        let limit = filter.limit.map(i64::from).unwrap_or(-1);
        let f = filter.clone();
        self.read(move |c| {
            let (after_at, after_id) = f
                .after
                .clone()
                .map_or((i64::MAX, String::new()), |(at, k)| (at, k.into_string()));
            let params = params![
                statuses,
                limit,
                f.workflow.as_ref().map(Key::as_str),
                f.created_from_ms,
                f.created_to_ms,
                after_at,
                after_id,
                f.tenant
            ];
            let text = match (&f.tenant, f.statuses.len()) {
                (Some(_), 1) => sql::LIST_IN_TENANT_STATUS,
                (Some(_), _) => sql::LIST_IN_TENANT,
                (None, _) => sql::LIST_ALL,
            };
            query_all(c, text, params, |r| rows::execution(r))
        })
        .await
    }
}

#[async_trait]
impl InboxStore for SqliteStore {
    async fn push_inbox(&self, id: &Key, kind: InboxKind, name: &str, payload: &str, wake: bool) -> Result<i64> {
        let (id, name, payload) = (id.as_str().to_owned(), name.to_owned(), payload.to_owned());
        self.write(move |c| {
            let now = now_ms();
            execute(c, sql::PUSH_INBOX, params![id, kind.as_str(), name, payload, now])?;
            let message = c.last_insert_rowid();
            if wake {
                execute(c, sql::WAKE, params![id, now])?;
            }
            Ok(message)
        })
        .await
    }

    async fn inbox(&self, id: &Key) -> Result<Vec<InboxMessage>> {
        let id = id.as_str().to_owned();
        self.read(move |c| query_all(c, sql::INBOX, [id], |r| rows::inbox_message(r)))
            .await
    }
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let (digest, bytes) = (digest.to_owned(), bytes.to_vec());
        self.write(move |c| {
            execute(c, sql::PUT_COMPONENT, params![digest, bytes, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let digest = digest.to_owned();
        self.read(move |c| {
            c.query_row(sql::COMPONENT, [digest], |r| r.get(0))
                .optional()
                .map_err(sql_err)
        })
        .await
    }

    async fn put_deployment(&self, name: &Key, component: &str, bindings: &Bindings) -> Result<Deployment> {
        let (name, component, bindings) = (name.clone(), component.to_owned(), rows::encode_bindings(bindings));
        self.write(move |c| {
            query_one(
                c,
                sql::PUT_DEPLOYMENT,
                params![name.as_str(), component, bindings, now_ms(), name.tenant()],
                |r| rows::deployment(r),
            )?
            .ok_or_else(|| Error::store("the new deployment was not returned"))
        })
        .await
    }

    async fn deployment(&self, name: &Key, version: Option<i64>) -> Result<Option<Deployment>> {
        let name = name.as_str().to_owned();
        self.read(move |c| query_one(c, sql::DEPLOYMENT, params![name, version], |r| rows::deployment(r)))
            .await
    }

    async fn deployments(&self, tenant: &str) -> Result<Vec<Deployment>> {
        let tenant = tenant.to_owned();
        self.read(move |c| query_all(c, sql::DEPLOYMENTS, [tenant], |r| rows::deployment(r)))
            .await
    }
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()> {
        let s = schedule.clone();
        self.write(move |c| {
            execute(
                c,
                sql::PUT_SCHEDULE,
                params![
                    s.id,
                    s.cron,
                    s.workflow,
                    s.input,
                    s.next_fire_at_ms,
                    tenancy::tenant_of(&s.id)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn schedules(&self, tenant: Option<&str>) -> Result<Vec<Schedule>> {
        let tenant = tenant.map(str::to_owned);
        self.read(move |c| query_all(c, sql::SCHEDULES, [tenant], |r| rows::schedule(r)))
            .await
    }

    async fn delete_schedule(&self, id: &Key) -> Result<bool> {
        let id = id.as_str().to_owned();
        self.write(move |c| Ok(execute(c, sql::DELETE_SCHEDULE, [id])? == 1))
            .await
    }

    async fn advance_schedule(&self, id: &Key, from_ms: i64, to_ms: i64) -> Result<bool> {
        let id = id.as_str().to_owned();
        self.write(move |c| Ok(execute(c, sql::ADVANCE_SCHEDULE, params![id, from_ms, to_ms])? == 1))
            .await
    }
}

#[async_trait]
impl ClusterStore for SqliteStore {
    async fn heartbeat(&self, id: &str, started_at_ms: i64) -> Result<usize> {
        let id = id.to_owned();
        self.write(move |c| {
            let now = now_ms();
            execute(c, sql::HEARTBEAT, params![id, started_at_ms, now])?;
            let live = query_one(c, sql::COUNT_LIVE_NODES, [now - NODE_STALE_MS], |r| r.int(0))?;
            Ok(live.unwrap_or(1).max(1) as usize)
        })
        .await
    }

    async fn status(&self) -> Result<StoreStatus> {
        self.read(|c| {
            let now = now_ms();
            let version = migrate::version_of(&query_all(c, sql::APPLIED_VERSIONS, [], |r| r.int(0))?);
            let nodes = query_all(c, sql::LIVE_NODES, params![now, now - NODE_STALE_MS], |r| {
                rows::node_info(r)
            })?;
            let backlog = query_one(c, sql::BACKLOG, params![now], |r| rows::backlog(r))?.unwrap_or_default();
            Ok(StoreStatus {
                backend: "sqlite".into(),
                schema_version: version,
                latest_version: migrate::latest(MIGRATIONS),
                nodes,
                backlog,
            })
        })
        .await
    }

    async fn migrate(&self) -> Result<i64> {
        // Opening the file migrated it.
        Ok(migrate::latest(MIGRATIONS))
    }

    fn listen(&self, _sink: EventSink) {
        // SQLite has no notifications between processes: the node's own
        // events wake its waiters, and their fallback timers do the rest.
    }

    async fn probe_commit(&self) -> Result<()> {
        self.write(|c| {
            execute(c, sql::PROBE, [now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn committed_transactions(&self) -> Result<Option<i64>> {
        Ok(None)
    }
}
