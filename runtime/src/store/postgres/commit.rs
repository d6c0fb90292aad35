//! Group commit: the journal appends of every execution that steps at the
//! same moment go to the database in one statement, one transaction, one
//! fsync. A lone append goes at once; while a batch is in flight the next
//! one gathers, and it goes as soon as the previous commit returns — there
//! is no timer. Each member is fenced by its own lease (a member that lost
//! its lease fails alone) and is answered only once its batch is durable.

use super::{pg_err, sql};
use crate::error::{Error, Result};
use crate::model::{Entry, Lease, Transition, now_ms};
use deadpool_postgres::{Client, Pool};
use std::collections::{HashSet, VecDeque};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// Most appends in one batch.
const MAX_BATCH: usize = 256;

/// One append waiting for its batch.
pub(super) struct Job {
    pub(super) lease: Lease,
    pub(super) entries: Vec<Entry>,
    pub(super) transition: Transition,
    pub(super) reply: oneshot::Sender<Result<()>>,
}

impl Job {
    fn answer(self, result: Result<()>) {
        let _ = self.reply.send(result);
    }
}

/// Takes appends from `jobs` and commits them in batches until the store
/// is dropped.
pub(super) async fn commit_loop(pool: Pool, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut deferred: VecDeque<Job> = VecDeque::new();
    loop {
        let first = match deferred.pop_front() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut ids = HashSet::from([first.lease.execution_id.clone()]);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let next = match deferred.pop_front() {
                Some(job) => job,
                None => match jobs.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            // One execution appears once per batch; a second append waits.
            if ids.insert(next.lease.execution_id.clone()) {
                batch.push(next);
            } else {
                deferred.push_back(next);
                break;
            }
        }
        commit_batch(&pool, batch).await;
    }
}

async fn commit_batch(pool: &Pool, batch: Vec<Job>) {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            for job in batch {
                job.answer(Err(Error::store(format!("no database connection: {e}"))));
            }
            return;
        }
    };
    if batch.len() == 1 {
        let job = batch.into_iter().next().expect("one job");
        let result = append_one(&client, &job).await;
        job.answer(result);
        return;
    }
    match append_many(&client, &batch).await {
        Ok(held) => {
            for job in batch {
                let result = if held.contains(job.lease.execution_id.as_str()) {
                    Ok(())
                } else {
                    Err(Error::lease_lost(job.lease.execution_id.as_str()))
                };
                job.answer(result);
            }
        }
        // A member the database refuses (a duplicate entry) must not fail
        // the others: each goes alone, in its own transaction.
        Err(e) if e.as_db_error().is_some() => {
            let db = e.as_db_error().expect("a database error");
            tracing::warn!(
                "a batch of {} appends was refused ({}: {}); committing them one by one",
                batch.len(),
                db.code().code(),
                db.message()
            );
            for job in batch {
                let result = append_one(&client, &job).await;
                job.answer(result);
            }
        }
        // The connection failed: nothing is known to be durable; every
        // member fails and is retried by its execution.
        Err(e) => {
            let error = pg_err(e);
            for job in batch {
                job.answer(Err(error.clone()));
            }
        }
    }
}

/// One append in its own statement. When the database refuses its entries
/// as duplicates while the lease still holds, an earlier attempt whose
/// answer was lost did commit them: that is success, not an error.
async fn append_one(client: &Client, job: &Job) -> Result<()> {
    let (lease, entries, transition) = (&job.lease, &job.entries, &job.transition);
    let seqs: Vec<i32> = entries.iter().map(|e| e.seq as i32).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let payloads: Vec<&str> = entries.iter().map(|e| e.payload.as_str()).collect();
    let ats: Vec<i64> = entries.iter().map(|e| e.at_ms).collect();
    let (wake_at, output, error) = transition.columns();
    let release = transition.is_terminal();
    let status = transition.status().as_str();
    let id = lease.execution_id.as_str();
    let params: [&(dyn ToSql + Sync); 13] = [
        &id,
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
    let stmt = client.prepare_cached(sql::APPEND).await.map_err(pg_err)?;
    match client.query(&stmt, &params).await {
        Ok(rows) if rows.is_empty() => Err(Error::lease_lost(id)),
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) && !seqs.is_empty() => {
            let stored: i64 = client
                .query_one(sql::STORED_SEQS, &[&id, &seqs])
                .await
                .map_err(pg_err)?
                .get(0);
            // Nobody claimed it since (the epoch is unchanged): the entries are ours.
            let epoch: Option<i64> = client
                .query_opt(sql::EPOCH_OF, &[&id])
                .await
                .map_err(pg_err)?
                .map(|r| r.get(0));
            if stored == seqs.len() as i64 && epoch == Some(lease.epoch) {
                Ok(())
            } else {
                Err(pg_err(e))
            }
        }
        Err(e) => Err(pg_err(e)),
    }
}

/// Many appends in one statement; returns the executions whose lease held.
async fn append_many(client: &Client, batch: &[Job]) -> Result<HashSet<String>, tokio_postgres::Error> {
    let n = batch.len();
    let (mut ids, mut owners, mut epochs, mut statuses) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut wakes, mut outputs, mut errors, mut releases) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut e_ids, mut seqs, mut kinds, mut payloads, mut ats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for job in batch {
        let (wake_at, output, error) = job.transition.columns();
        ids.push(job.lease.execution_id.as_str());
        owners.push(job.lease.owner.as_str());
        epochs.push(job.lease.epoch);
        statuses.push(job.transition.status().as_str());
        wakes.push(wake_at);
        outputs.push(output);
        errors.push(error);
        releases.push(job.transition.is_terminal());
        for e in &job.entries {
            e_ids.push(job.lease.execution_id.as_str());
            seqs.push(e.seq as i32);
            kinds.push(e.kind.as_str());
            payloads.push(e.payload.as_str());
            ats.push(e.at_ms);
        }
    }
    let now = now_ms();
    let params: [&(dyn ToSql + Sync); 14] = [
        &ids, &owners, &epochs, &statuses, &wakes, &outputs, &errors, &releases, &e_ids, &seqs, &kinds, &payloads,
        &ats, &now,
    ];
    let stmt = client.prepare_cached(sql::APPEND_BATCH).await?;
    let rows = client.query(&stmt, &params).await?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}
