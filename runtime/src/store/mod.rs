//! The store: persistence of executions and their journals, inboxes,
//! components and deployments, schedules, and the nodes of a cluster.
//!
//! One small trait per concept ([`ExecutionStore`], [`InboxStore`],
//! [`CatalogStore`], [`ScheduleStore`], [`ClusterStore`]), all of them
//! implemented by each backend: SQLite (embedded) and PostgreSQL (shared by
//! several nodes). The store only persists: which entry to write, when an
//! execution may be ended or woken, is decided by the node above it.
//!
//! Executions, deployments and schedules are addressed by their [`Key`],
//! which carries the tenant: a name a user gives never reaches the store.
//!
//! Every write that touches an execution's journal is *fenced*: it carries
//! the [`Lease`] (owner and epoch) under which it was made, and the store
//! rejects it with `CAIRN-E007` when the execution has been claimed by
//! someone else since.

#[cfg(any(test, feature = "test-util"))]
pub(crate) mod conformance;
mod migrate;
mod postgres;
mod rows;
mod sqlite;
mod tenants;

use crate::error::{Error, Result, codes};
use crate::model::{
    AuditRecord, Bindings, Created, Deployment, Entry, Execution, InboxKind, InboxMessage, Key, Lease, ListFilter,
    NewExecution, Quotas, Schedule, Status, StoreEvent, StoreStatus, Tenant, TenantUsage, Token, Transition,
};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a store delivers the events other nodes commit.
pub(crate) type EventSink = Arc<dyn Fn(StoreEvent) + Send + Sync>;

/// Where the store is and what to do about its schema.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded SQLite file (always migrated on open).
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A PostgreSQL database shared by several nodes.
    Postgres {
        /// `postgres://user@host:port/db`.
        url: String,
        /// Connections in the pool.
        pool_size: usize,
        /// What to do about the schema.
        schema: Schema,
    },
}

/// What opening a shared database does about its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply pending migrations.
    Migrate,
    /// Fail with `CAIRN-E020` unless the schema is current.
    Require,
    /// Leave it as it is (for `cairn status`).
    Inspect,
}

impl StoreConfig {
    /// The store for a data directory or a database URL (`None`: SQLite in `data_dir`).
    pub fn new(data_dir: &std::path::Path, database: Option<&str>, schema: Schema) -> Result<StoreConfig> {
        match database {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreConfig::Postgres {
                    url: url.to_owned(),
                    pool_size: 16,
                    schema,
                })
            }
            Some(url) => Err(Error::invalid(
                format!("unsupported database URL `{}`", redact(url)),
                "use postgres://USER@HOST:PORT/DB, or omit --database for the embedded SQLite store",
            )),
            None => Ok(StoreConfig::Sqlite {
                path: data_dir.join("cairn.db"),
            }),
        }
    }

    /// The store, for messages (passwords redacted).
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Sqlite { path } => path.display().to_string(),
            StoreConfig::Postgres { url, .. } => redact(url),
        }
    }
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

/// Opens the store a configuration names.
pub(crate) async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>> {
    Ok(match config {
        StoreConfig::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path).await?),
        StoreConfig::Postgres { url, pool_size, schema } => {
            Arc::new(postgres::PostgresStore::connect(url, *pool_size, *schema).await?)
        }
    })
}

/// Executions, their journals and their leases.
#[async_trait]
pub(crate) trait ExecutionStore: Send + Sync {
    /// Creates an execution with its `started` entry in one transaction,
    /// unless one with its id exists. With an owner it is leased to it
    /// (epoch 1); without one it is left for any node to claim (and the
    /// other nodes are told).
    async fn create_execution(&self, new: &NewExecution, owner: Option<&str>, lease_ms: i64) -> Result<Created>;

    /// Appends entries and applies a status change in one transaction, if
    /// `lease` is still current; otherwise fails with `CAIRN-E007` and
    /// writes nothing. Terminal transitions release the lease.
    async fn append(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()>;

    /// Ends an execution whatever its owner, if its status is one of `from`:
    /// fences out the owner (epoch + 1), appends `entry` (its seq is set to
    /// the next free one), sets `status` and `error` and releases the lease.
    /// Returns whether it was ended.
    async fn end_fenced(&self, id: &Key, from: &[Status], entry: &Entry, status: Status, error: &str) -> Result<bool>;

    /// Claims an unfinished execution whose lease is free or expired (or held
    /// by one of `dead_owners`), incrementing its epoch. `None` if someone
    /// else holds it or it is finished.
    async fn claim(&self, id: &Key, owner: &str, lease_ms: i64, dead_owners: &[String]) -> Result<Option<Lease>>;

    /// Claims up to `limit` executions that can run now (running, or
    /// sleeping and due) whose lease is free or expired, of tenants other
    /// than `skip` (those holding their share of the node's slots); rows
    /// other nodes are claiming at the same moment are skipped, never
    /// claimed twice.
    async fn claim_runnable(&self, owner: &str, lease_ms: i64, limit: u32, skip: &[String]) -> Result<Vec<Lease>>;

    /// Extends the leases `owner` holds on `ids`; returns how many.
    async fn renew_leases(&self, owner: &str, ids: &[Key], lease_ms: i64) -> Result<u64>;

    /// Gives a lease up without changing the execution.
    async fn release(&self, lease: &Lease) -> Result<()>;

    /// Makes a sleeping execution due now (a no-op otherwise).
    async fn wake(&self, id: &Key) -> Result<()>;

    /// Makes a parked execution runnable again (status `running`, error
    /// cleared, lease free), on `component` and `bindings` when given (a
    /// fixed deployment); replay then resumes it. Returns whether it was
    /// parked.
    async fn unpark(&self, id: &Key, component: Option<(&str, &Bindings)>) -> Result<bool>;

    /// The whole journal of an execution, in order.
    async fn journal(&self, id: &Key) -> Result<Vec<Entry>>;

    /// One execution.
    async fn execution(&self, id: &Key) -> Result<Option<Execution>>;

    /// Executions matching a filter, newest first.
    async fn list(&self, filter: &ListFilter) -> Result<Vec<Execution>>;
}

/// Messages waiting for executions: signals and cancellation requests.
#[async_trait]
pub(crate) trait InboxStore: Send + Sync {
    /// Queues a message; with `wake`, also makes the execution due now if it
    /// sleeps (one transaction). Returns the message's id.
    async fn push_inbox(&self, id: &Key, kind: InboxKind, name: &str, payload: &str, wake: bool) -> Result<i64>;

    /// All messages queued for an execution, oldest first.
    async fn inbox(&self, id: &Key) -> Result<Vec<InboxMessage>>;
}

/// Components (by content digest) and named, versioned deployments.
#[async_trait]
pub(crate) trait CatalogStore: Send + Sync {
    /// Stores a component's bytes under its sha256 (idempotent).
    async fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()>;

    /// Loads a component's bytes by sha256.
    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>>;

    /// Stores the next version of deployment `name`; returns it.
    async fn put_deployment(&self, name: &Key, component: &str, bindings: &Bindings) -> Result<Deployment>;

    /// A deployment by name: the given version, or the latest.
    async fn deployment(&self, name: &Key, version: Option<i64>) -> Result<Option<Deployment>>;

    /// A tenant's deployments, by name and version.
    async fn deployments(&self, tenant: &str) -> Result<Vec<Deployment>>;
}

/// Cron schedules.
#[async_trait]
pub(crate) trait ScheduleStore: Send + Sync {
    /// Creates or replaces a schedule.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()>;

    /// A tenant's schedules (every tenant's with `None`).
    async fn schedules(&self, tenant: Option<&str>) -> Result<Vec<Schedule>>;

    /// Deletes a schedule; returns whether it existed.
    async fn delete_schedule(&self, id: &Key) -> Result<bool>;

    /// Moves a schedule's next firing from `from_ms` to `to_ms` if it is
    /// still `from_ms` (compare-and-set: exactly one node fires it).
    async fn advance_schedule(&self, id: &Key, from_ms: i64, to_ms: i64) -> Result<bool>;
}

/// The nodes sharing a store, its schema, and its notifications.
#[async_trait]
pub(crate) trait ClusterStore: Send + Sync {
    /// Records that node `id` (started at `started_at_ms`) is alive;
    /// returns how many nodes are (it included: a heartbeat within
    /// [`crate::model::NODE_STALE_MS`]).
    async fn heartbeat(&self, id: &str, started_at_ms: i64) -> Result<usize>;

    /// Schema version, live nodes and backlog.
    async fn status(&self) -> Result<StoreStatus>;

    /// Applies pending schema migrations; returns the schema version.
    async fn migrate(&self) -> Result<i64>;

    /// Hands every event other nodes commit (new work, finished executions,
    /// pokes) to `sink`, from now on. A backend without notifications
    /// (SQLite) never calls it: waiters fall back on their timers.
    fn listen(&self, sink: EventSink);

    /// Commits one single-row transaction (the benchmark's yardstick).
    async fn probe_commit(&self) -> Result<()>;

    /// Transactions the database has committed so far, where it counts them
    /// (PostgreSQL); for the benchmark's commits-per-step figure.
    async fn committed_transactions(&self) -> Result<Option<i64>>;
}

/// Tenants, their tokens and components, and the audit trail.
#[async_trait]
pub(crate) trait TenantStore: Send + Sync {
    /// Creates a tenant; `false` if one with its name exists.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool>;

    /// Replaces a tenant's quotas; `false` if it does not exist.
    async fn update_tenant(&self, name: &str, quotas: &Quotas) -> Result<bool>;

    /// One tenant.
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>>;

    /// Every tenant, by name.
    async fn tenants(&self) -> Result<Vec<Tenant>>;

    /// What a tenant uses now.
    async fn tenant_usage(&self, name: &str) -> Result<TenantUsage>;

    /// The bytes a tenant's journals hold.
    async fn journal_bytes(&self, tenant: &str) -> Result<i64>;

    /// The tenants that have queued executions.
    async fn queued_tenants(&self) -> Result<Vec<String>>;

    /// The deployments (keys) a tenant's executions ran, sorted.
    async fn workflow_names(&self, tenant: &str) -> Result<Vec<Key>>;

    /// A tenant's executions counted by status: `(status, count)` for
    /// every status (zero included), each count stopping at `at_most` (so
    /// the cost is bounded however many executions there are).
    async fn status_counts(&self, tenant: &str, at_most: i64) -> Result<Vec<(String, i64)>>;

    /// Executions not yet finished (running, sleeping, parked, queued),
    /// counted per tenant and status: `(tenant, status, count)`.
    async fn open_counts(&self) -> Result<Vec<(String, String, i64)>>;

    /// Admits (makes runnable, oldest first) as many of a tenant's queued
    /// executions as fit under `limit` running or sleeping ones (all of
    /// them without a limit), in one transaction that concurrent starts and
    /// admissions of the tenant wait for; other nodes are told. Returns the
    /// admitted ids. With nothing queued it only reads (no lock, no write).
    async fn admit(&self, tenant: &str, limit: Option<u64>) -> Result<Vec<Key>>;

    /// Deletes a tenant and everything it owns (executions with their
    /// journals and inboxes, deployments, schedules, components no other
    /// tenant holds, tokens) in one transaction; `false` if it did not exist.
    async fn delete_tenant(&self, name: &str) -> Result<bool>;

    /// Stores a new token (its hash only).
    async fn put_token(&self, token: &Token) -> Result<()>;

    /// A token by its public id.
    async fn token(&self, id: &str) -> Result<Option<Token>>;

    /// The tokens of a tenant, or of all with `None`.
    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<Token>>;

    /// Revokes a token at `at_ms`; `false` if unknown or already revoked.
    async fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool>;

    /// Confirms a token at `at_ms`; `false` if unknown, revoked or confirmed.
    async fn confirm_token(&self, id: &str, at_ms: i64) -> Result<bool>;

    /// Whether any confirmed token works at `now_ms` (not revoked, not expired).
    async fn has_live_tokens(&self, now_ms: i64) -> Result<bool>;

    /// Records that `tenant` holds component `digest` of `size` bytes (idempotent).
    async fn own_component(&self, tenant: &str, digest: &str, size: i64) -> Result<()>;

    /// Whether `tenant` holds component `digest`.
    async fn owns_component(&self, tenant: &str, digest: &str) -> Result<bool>;

    /// Appends an audit record (its id and time are the store's).
    async fn record_audit(&self, record: &AuditRecord) -> Result<()>;

    /// The newest `limit` audit records, of a tenant or of all.
    async fn audit(&self, tenant: Option<&str>, limit: u32) -> Result<Vec<AuditRecord>>;
}

/// Everything a node needs of its store.
pub(crate) trait Store:
    ExecutionStore + InboxStore + CatalogStore + ScheduleStore + ClusterStore + TenantStore + 'static
{
}

impl<T: ExecutionStore + InboxStore + CatalogStore + ScheduleStore + ClusterStore + TenantStore + 'static> Store for T {}

/// The schema is older than this binary needs.
pub(crate) fn schema_too_old(version: i64, latest: i64) -> Error {
    Error::new(
        codes::DB_UNINITIALIZED,
        format!("the database is at schema version {version}, this cairn needs {latest}"),
        "run `cairn db migrate` (or start `cairn server`, which migrates on start)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_chosen_by_scheme() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("not a url"), "not a url");
        let dir = std::path::Path::new("/d");
        assert!(matches!(
            StoreConfig::new(dir, None, Schema::Migrate).unwrap(),
            StoreConfig::Sqlite { .. }
        ));
        let e = StoreConfig::new(dir, Some("mysql://u:pw@h/db"), Schema::Migrate).unwrap_err();
        assert_eq!(e.code, codes::INVALID_ARGUMENT);
        assert!(!e.message.contains("pw"), "{}", e.message);
    }
}
