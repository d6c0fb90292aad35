//! The PostgreSQL store: production, several runtime nodes on one database.
//!
//! Every hot-path write is one statement (an implicit transaction, one
//! commit, one round trip): the journal append checks the lease, inserts
//! the entries and updates the execution in a single data-modifying CTE.
//! Work is claimed with `FOR UPDATE SKIP LOCKED`; nodes are woken by
//! `LISTEN/NOTIFY` when available and poll otherwise. No advisory locks,
//! every table keyed by execution id (or a small reference table), so the
//! schema distributes on Citus, YugabyteDB YSQL or CockroachDB unchanged.
//! The statements are in `sql.rs`, the schema in `schema.rs`.

mod commit;
mod listen;
mod queue;
mod schema;
mod sql;
mod tenants;

use super::migrate::{self, Migration, Migrator};
use super::rows::{self, Row};
use super::{
    CatalogStore, ClusterStore, EventSink, ExecutionStore, InboxStore, ScheduleStore, Schema, redact, schema_too_old,
};
use crate::error::{Error, Result, codes};
use crate::model::{
    Bindings, Created, Deployment, Entry, Execution, InboxKind, InboxMessage, Key, Lease, ListFilter, NODE_STALE_MS,
    NewExecution, Schedule, Status, StoreStatus, Transition, now_ms, tenancy,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use listen::listen_loop;
use schema::MIGRATIONS;
use std::sync::Once;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;
use tokio_postgres::types::{FromSql, ToSql};

/// The PostgreSQL backend.
pub(crate) struct PostgresStore {
    url: String,
    pool: Pool,
    /// Appends on their way to the group committer.
    commits: mpsc::UnboundedSender<commit::Job>,
    listener: Once,
    /// Starts and admissions under a tenant's quota, one at a time per tenant here.
    turns: queue::TenantTurns,
}

fn pg_err(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::store(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        None => Error::store(chain(&e)),
    }
}

/// An error and its causes on one line, each said once (tokio-postgres'
/// own text already ends with its cause: "db error: <cause>").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let said = s.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = s.source();
    }
    text
}

fn pool_err(e: deadpool_postgres::PoolError) -> Error {
    Error::store(format!("no database connection: {e}"))
}

fn unreachable(url: &str, e: impl std::error::Error) -> Error {
    let text = chain(&e);
    Error::new(
        codes::DB_UNREACHABLE,
        format!("cannot reach the database at {}: {text}", redact(url)),
        "check --database / CAIRN_DATABASE_URL and that PostgreSQL is running (pg_isready)",
    )
}

fn get<'a, T: FromSql<'a>>(r: &'a tokio_postgres::Row, i: usize) -> Result<T> {
    r.try_get(i).map_err(pg_err)
}

impl Row for tokio_postgres::Row {
    fn text(&self, i: usize) -> Result<String> {
        get(self, i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        get(self, i)
    }
    fn int(&self, i: usize) -> Result<i64> {
        get(self, i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        get(self, i)
    }
    fn seq(&self, i: usize) -> Result<u32> {
        get::<i32>(self, i).map(|s| s as u32)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        get(self, i)
    }
}

fn map_all<T>(rows: &[tokio_postgres::Row], map: impl Fn(&tokio_postgres::Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(map).collect()
}

impl PostgresStore {
    /// Connects (pool of `pool_size`) and checks the database is reachable
    /// (`CAIRN-E019` if not), then handles the schema as `schema` says.
    pub(crate) async fn connect(url: &str, pool_size: usize, schema: Schema) -> Result<PostgresStore> {
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
        let (commits, jobs) = mpsc::unbounded_channel();
        tokio::spawn(commit::commit_loop(pool.clone(), jobs));
        let store = PostgresStore {
            url: url.to_owned(),
            pool,
            commits,
            listener: Once::new(),
            turns: queue::TenantTurns::default(),
        };
        drop(store.pool.get().await.map_err(|e| unreachable(url, e))?);
        match schema {
            Schema::Migrate => {
                store.migrate().await?;
            }
            Schema::Require => {
                let version = store.schema_version().await?;
                if version < migrate::latest(MIGRATIONS) {
                    return Err(schema_too_old(version, migrate::latest(MIGRATIONS)));
                }
            }
            Schema::Inspect => {}
        }
        Ok(store)
    }

    /// Applied schema version; 0 when the schema does not exist.
    async fn schema_version(&self) -> Result<i64> {
        let c = self.client().await?;
        let exists: bool = get(&c.query_one(sql::HAS_MIGRATIONS_TABLE, &[]).await.map_err(pg_err)?, 0)?;
        if !exists {
            return Ok(0);
        }
        Ok(migrate::version_of(&self.applied().await?))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Runs one statement (prepared once per connection).
    async fn execute(&self, query: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(query).await.map_err(pg_err)?;
        c.execute(&stmt, params).await.map_err(pg_err)
    }

    /// Runs one query (prepared once per connection).
    async fn query(&self, query: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(query).await.map_err(pg_err)?;
        c.query(&stmt, params).await.map_err(pg_err)
    }
}

#[async_trait]
impl Migrator for PostgresStore {
    async fn ensure_table(&self) -> Result<()> {
        self.client()
            .await?
            .batch_execute(sql::MIGRATIONS_TABLE)
            .await
            .map_err(pg_err)
    }

    async fn applied(&self) -> Result<Vec<i64>> {
        map_all(&self.query(sql::APPLIED_VERSIONS, &[]).await?, |r| r.int(0))
    }

    async fn apply(&self, m: &Migration) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let claimed = tx
            .execute(sql::CLAIM_VERSION, &[&m.version, &now_ms()])
            .await
            .map_err(pg_err)?;
        if claimed == 1 {
            tx.batch_execute(m.sql).await.map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)
    }
}

/// The parameters of `CREATE_EXECUTION`.
fn create_params<'a>(
    new: &'a NewExecution,
    owner: Option<&'a str>,
    lease_ms: i64,
    status: &'static str,
) -> Vec<Box<dyn ToSql + Sync + Send + 'a>> {
    let now = now_ms();
    let (epoch, expires): (i64, Option<i64>) = match owner {
        Some(_) => (1, Some(now + lease_ms)),
        None => (0, None),
    };
    let s = &new.started;
    vec![
        Box::new(new.id.as_str()),
        Box::new(new.workflow.as_str()),
        Box::new(new.component.as_str()),
        Box::new(rows::encode_bindings(&new.bindings)),
        Box::new(new.input.as_str()),
        Box::new(now),
        Box::new(owner),
        Box::new(epoch),
        Box::new(expires),
        Box::new(s.seq as i32),
        Box::new(s.kind.as_str()),
        Box::new(s.payload.as_str()),
        Box::new(s.at_ms),
        Box::new(new.parent.as_ref().map(Key::as_str)),
        Box::new(new.id.tenant()),
        Box::new(status),
    ]
}

/// Boxed parameters as the driver takes them.
fn refs<'a>(params: &'a [Box<dyn ToSql + Sync + Send + 'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// What a create did: nothing (the id existed), or a new execution leased to `owner` or unclaimed.
fn created(new: &NewExecution, owner: Option<&str>, inserted: bool) -> Created {
    match (inserted, owner) {
        (false, _) => Created::Existed,
        (true, Some(owner)) => Created::Leased(Lease {
            execution_id: new.id.clone(),
            owner: owner.to_owned(),
            epoch: 1,
            recovered: false,
        }),
        (true, None) => Created::Unclaimed,
    }
}

#[async_trait]
impl ExecutionStore for PostgresStore {
    async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Created> {
        let tenant = new.id.tenant();
        let Some(limit) = new.queue_limit else {
            let params = create_params(new, owner, lease_ms, "running");
            let inserted = !self.query(sql::CREATE_EXECUTION, &refs(&params)).await?.is_empty();
            return Ok(created(new, owner, inserted));
        };
        self.create_under_quota(new, owner, lease_ms, tenant, limit).await
    }

    async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let job = commit::Job {
            lease: lease.clone(),
            entries: entries.to_vec(),
            transition: transition.clone(),
            reply,
        };
        let stopped = || Error::store("the group committer has stopped");
        self.commits.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn end_fenced(&self, id: &Key, from: &[Status], entry: &Entry, status: Status, error: &str) -> Result<bool> {
        let id = id.as_str();
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let current = tx.query_opt(sql::LOCK_STATUS, &[&id]).await.map_err(pg_err)?;
        let current = current.as_ref().map(|r| r.text(0)).transpose()?;
        if !current.is_some_and(|s| from.iter().any(|f| f.as_str() == s)) {
            return Ok(false);
        }
        let now = now_ms();
        tx.execute(
            sql::APPEND_AT_NEXT_SEQ,
            &[&id, &entry.kind, &entry.payload, &entry.at_ms],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(sql::END_FENCED, &[&id, &status.as_str(), &error, &now])
            .await
            .map_err(pg_err)?;
        tx.execute(sql::NOTIFY_DONE, &[&id]).await.map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }

    async fn claim(&self, id: &Key, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>> {
        let now = now_ms();
        let rows = self
            .query(
                sql::CLAIM,
                &[&id.as_str(), &owner, &(now + lease_ms), &now, &dead_owners],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(Lease {
                    execution_id: id.clone(),
                    owner: owner.to_owned(),
                    epoch: r.int(0)?,
                    recovered: r.flag(1)?,
                })
            })
            .transpose()
    }

    async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32, skip: &[String]) -> Result<Vec<Lease>> {
        let now = now_ms();
        let rows = self
            .query(
                sql::CLAIM_RUNNABLE,
                &[&owner, &(now + lease_ms), &now, &i64::from(limit), &skip],
            )
            .await?;
        map_all(&rows, |r| {
            Ok(Lease {
                execution_id: r.key(0)?,
                owner: owner.to_owned(),
                epoch: r.int(1)?,
                recovered: r.flag(2)?,
            })
        })
    }

    async fn renew_leases(&self, owner: &str, ids: &[Key], lease_ms: i64) -> Result<u64> {
        let ids: Vec<&str> = ids.iter().map(Key::as_str).collect();
        self.execute(sql::RENEW_LEASES, &[&owner, &(now_ms() + lease_ms), &ids])
            .await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.query(
            sql::RELEASE,
            &[&lease.execution_id.as_str(), &lease.owner, &lease.epoch],
        )
        .await?;
        Ok(())
    }

    async fn wake(&self, id: &Key) -> Result<()> {
        self.query(sql::WAKE, &[&id.as_str(), &now_ms()]).await?;
        Ok(())
    }

    async fn unpark(&self, id: &Key, component: Option<(&str, &Bindings)>) -> Result<bool> {
        let (component, bindings) = component.map(|(c, b)| (c.to_owned(), rows::encode_bindings(b))).unzip();
        let rows = self
            .query(sql::UNPARK, &[&id.as_str(), &now_ms(), &component, &bindings])
            .await?;
        Ok(rows.len() == 1)
    }

    async fn journal(&self, id: &Key) -> Result<Vec<Entry>> {
        map_all(&self.query(sql::JOURNAL, &[&id.as_str()]).await?, rows::entry)
    }

    async fn execution(&self, id: &Key) -> Result<Option<Execution>> {
        let rows = self.query(sql::EXECUTION, &[&id.as_str()]).await?;
        rows.first().map(rows::execution).transpose()
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>> {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let limit: Option<i64> = filter.limit.map(i64::from);
        let (after_at, after_id) = filter
            .after
            .as_ref()
            .map_or((i64::MAX, ""), |(at, k)| (*at, k.as_str()));
        let workflow = filter.workflow.as_ref().map(Key::as_str);
        let rows = self
            .query(
                match (&filter.tenant, statuses.len()) {
                    (Some(_), 1) => sql::LIST_IN_TENANT_STATUS,
                    (Some(_), _) => sql::LIST_IN_TENANT,
                    (None, _) => sql::LIST_ALL,
                },
                &[
                    &statuses,
                    &limit,
                    &workflow,
                    &filter.created_from_ms,
                    &filter.created_to_ms,
                    &after_at,
                    &after_id,
                    &filter.tenant,
                ],
            )
            .await?;
        map_all(&rows, rows::execution)
    }
}

#[async_trait]
impl InboxStore for PostgresStore {
    async fn push_inbox(&self, id: &Key, kind: InboxKind, name: &str, payload: &str, wake: bool) -> Result<i64> {
        let rows = self
            .query(
                sql::PUSH_INBOX,
                &[&id.as_str(), &kind.as_str(), &name, &payload, &now_ms(), &wake],
            )
            .await?;
        rows.first()
            .ok_or_else(|| Error::store("the inbox message was not returned"))?
            .int(0)
    }

    async fn inbox(&self, id: &Key) -> Result<Vec<InboxMessage>> {
        map_all(&self.query(sql::INBOX, &[&id.as_str()]).await?, rows::inbox_message)
    }
}

#[async_trait]
impl CatalogStore for PostgresStore {
    async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        self.execute(sql::PUT_COMPONENT, &[&digest, &bytes, &now_ms()]).await?;
        Ok(())
    }

    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let rows = self.query(sql::COMPONENT, &[&digest]).await?;
        rows.first().map(|r| get(r, 0)).transpose()
    }

    async fn put_deployment(&self, name: &Key, component: &str, bindings: &Bindings) -> Result<Deployment> {
        let bindings = rows::encode_bindings(bindings);
        // Two deploys racing for one version: the loser retries with the next number.
        for _ in 0..5 {
            let c = self.client().await?;
            match c
                .query_one(
                    sql::PUT_DEPLOYMENT,
                    &[&name.as_str(), &component, &bindings, &now_ms(), &name.tenant()],
                )
                .await
            {
                Ok(row) => return rows::deployment(&row),
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => continue,
                Err(e) => return Err(pg_err(e)),
            }
        }
        Err(Error::store("could not allocate a deployment version"))
    }

    async fn deployment(&self, name: &Key, version: Option<i64>) -> Result<Option<Deployment>> {
        let rows = self.query(sql::DEPLOYMENT, &[&name.as_str(), &version]).await?;
        rows.first().map(rows::deployment).transpose()
    }

    async fn deployments(&self, tenant: &str) -> Result<Vec<Deployment>> {
        map_all(&self.query(sql::DEPLOYMENTS, &[&tenant]).await?, rows::deployment)
    }
}

#[async_trait]
impl ScheduleStore for PostgresStore {
    async fn put_schedule(&self, s: &Schedule) -> Result<()> {
        self.execute(
            sql::PUT_SCHEDULE,
            &[
                &s.id,
                &s.cron,
                &s.workflow,
                &s.input,
                &s.next_fire_at_ms,
                &tenancy::tenant_of(&s.id),
            ],
        )
        .await?;
        Ok(())
    }

    async fn schedules(&self, tenant: Option<&str>) -> Result<Vec<Schedule>> {
        map_all(&self.query(sql::SCHEDULES, &[&tenant]).await?, rows::schedule)
    }

    async fn delete_schedule(&self, id: &Key) -> Result<bool> {
        Ok(self.execute(sql::DELETE_SCHEDULE, &[&id.as_str()]).await? == 1)
    }

    async fn advance_schedule(&self, id: &Key, from_ms: i64, to_ms: i64) -> Result<bool> {
        Ok(self
            .execute(sql::ADVANCE_SCHEDULE, &[&id.as_str(), &from_ms, &to_ms])
            .await?
            == 1)
    }
}

#[async_trait]
impl ClusterStore for PostgresStore {
    async fn heartbeat(&self, id: &str, started_at_ms: i64) -> Result<usize> {
        let now = now_ms();
        self.execute(sql::HEARTBEAT, &[&id, &started_at_ms, &now]).await?;
        let live: i64 = self.query(sql::COUNT_LIVE_NODES, &[&(now - NODE_STALE_MS)]).await?[0].get(0);
        Ok(live.max(1) as usize)
    }

    async fn status(&self) -> Result<StoreStatus> {
        let version = self.schema_version().await?;
        let latest = migrate::latest(MIGRATIONS);
        let now = now_ms();
        let (nodes, backlog) = if version >= latest {
            let nodes = map_all(
                &self.query(sql::LIVE_NODES, &[&now, &(now - NODE_STALE_MS)]).await?,
                rows::node_info,
            )?;
            let backlog = self.query(sql::BACKLOG, &[&now]).await?;
            (
                nodes,
                backlog.first().map(rows::backlog).transpose()?.unwrap_or_default(),
            )
        } else {
            (Vec::new(), Default::default())
        };
        Ok(StoreStatus {
            backend: "postgres".into(),
            schema_version: version,
            latest_version: latest,
            nodes,
            backlog,
        })
    }

    async fn migrate(&self) -> Result<i64> {
        migrate::run(self, MIGRATIONS).await
    }

    fn listen(&self, sink: EventSink) {
        self.listener.call_once(|| {
            tokio::spawn(listen_loop(self.url.clone(), sink));
        });
    }

    async fn probe_commit(&self) -> Result<()> {
        self.execute(sql::PROBE, &[&uuid::Uuid::now_v7().to_string(), &now_ms()])
            .await?;
        Ok(())
    }

    async fn committed_transactions(&self) -> Result<Option<i64>> {
        let rows = self.query(sql::COMMITTED_TRANSACTIONS, &[]).await?;
        rows.first().map(|r| r.int(0)).transpose()
    }
}
