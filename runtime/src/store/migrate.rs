//! Versioned schema migrations, one mechanism for both backends.
//!
//! Each backend lists its migrations (its own SQL dialect) and answers three
//! questions; the runner applies every missing version in order, each in its
//! own transaction that first claims the version's row in
//! `schema_migrations`, so concurrent migrators (several nodes starting at
//! once) apply each migration exactly once.

use crate::error::Result;
use async_trait::async_trait;
use std::time::Duration;

/// One schema migration.
pub(super) struct Migration {
    /// Its version, from 1, in order.
    pub(super) version: i64,
    /// The statements it runs.
    pub(super) sql: &'static str,
}

/// What the runner needs of a backend.
#[async_trait]
pub(super) trait Migrator: Send + Sync {
    /// Creates `schema_migrations` if it does not exist.
    async fn ensure_table(&self) -> Result<()>;
    /// Versions already applied.
    async fn applied(&self) -> Result<Vec<i64>>;
    /// In one transaction: claims `migration.version` (insert, ignoring a
    /// conflict) and, if this call claimed it, runs its SQL.
    async fn apply(&self, migration: &Migration) -> Result<()>;
}

/// The newest version of a migration list.
pub(super) fn latest(migrations: &[Migration]) -> i64 {
    migrations.last().map(|m| m.version).unwrap_or(0)
}

/// Applies every pending migration; returns the schema version. A failed
/// attempt (two migrators racing to create the bookkeeping table) is retried.
pub(super) async fn run(backend: &dyn Migrator, migrations: &[Migration]) -> Result<i64> {
    let mut attempt = 0;
    loop {
        match run_once(backend, migrations).await {
            Ok(()) => return Ok(latest(migrations)),
            Err(e) if attempt < 3 => {
                tracing::debug!("migration attempt failed, retrying: {}", e.message);
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn run_once(backend: &dyn Migrator, migrations: &[Migration]) -> Result<()> {
    backend.ensure_table().await?;
    let applied = backend.applied().await?;
    for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        backend.apply(m).await?;
    }
    Ok(())
}

/// The version a list of applied versions amounts to (0: none).
pub(super) fn version_of(applied: &[i64]) -> i64 {
    applied.iter().copied().max().unwrap_or(0)
}
