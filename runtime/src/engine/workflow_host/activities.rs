//! Activity calls: started in the background, awaited one or any at a time.
//! An execution whose every running call waits between two attempts longer
//! than the idle limit (or whose instance the pool needs) records where each
//! call is (`activity.retry`) and suspends; on replay each call resumes at
//! its next attempt, on time, with the same idempotency key.

use super::end::Interrupt;
use super::waits::{SHOW_WAIT_AFTER, until_shown};
use super::{ExecutionHost, stop};
use crate::engine::activity_host::{self, ActivityCall, News, Start};
use crate::engine::fair::{Metered, TenantCell};
use crate::error::{Error, codes};
use crate::journal::{ActivityOutcome, Event, FailureRecord, RetrySpec, failures};
use crate::model::{Transition, now_ms};
use std::future::pending;

impl ExecutionHost {
    /// Starts activity call `seq` in the background (where it was, if its
    /// execution was evicted during a backoff; at attempt 2 if it was
    /// `replayed` from the journal without an outcome, or is live in the
    /// first step after a crashed owner, which may have run it).
    pub(super) fn launch(
        &mut self,
        seq: u32,
        name: &str,
        input: &str,
        options: RetrySpec,
        replayed: bool,
    ) -> wasmtime::Result<()> {
        let Some(component) = self.registry.get(name).cloned() else {
            let known = match self.registry.names() {
                names if names.is_empty() => "none is registered".to_owned(),
                names => format!("registered: {}", names.join(", ")),
            };
            let error = Error::new(
                codes::UNKNOWN_ACTIVITY,
                format!(
                    "execution {} called activity `{name}`, which no registered component serves ({known})",
                    self.id.name()
                ),
                "bind a component that serves it (CLI: `--activity FILE` on run or deploy; API: `activities` of the deployment), then `cairn unpark` the execution",
            );
            return Err(stop(Interrupt::Park(error)));
        };
        if serde_json::from_str::<serde_json::Value>(input).is_err() {
            // Nothing to run: the call ends at once (reported like any end,
            // so it is recorded after its start), the same way on replay.
            let failure = FailureRecord::new(
                failures::INVALID_INPUT,
                format!("the input of activity `{name}` is not JSON"),
            );
            let outcome = ActivityOutcome {
                attempts: 0,
                result: Err(failure),
            };
            let tx = self.news_tx.clone();
            let task = tokio::spawn(async move {
                let _ = tx.send((seq, News::Done(outcome)));
            });
            self.tasks.insert(seq, task);
            return Ok(());
        }
        let call = ActivityCall {
            execution_id: self.id.name().to_owned(),
            tenant: self.id.tenant().to_owned(),
            name: name.to_owned(),
            input: input.to_owned(),
            idempotency_key: format!("{}/{seq}", self.id.as_str()),
            allow_http: self.registry.http_allow(name),
            spec: options,
        };
        // A call the journal (or a crashed owner) already started may have
        // run: its next attempt is not the first.
        let start = match self.cursor.event(Event::ACTIVITY_RETRY, seq) {
            Some(Event::ActivityRetry(state)) => Start::Backoff(state.clone()),
            _ if replayed || self.recovering => Start::Interrupted,
            _ => Start::Fresh,
        };
        let (engine, tx) = (self.engine.clone(), self.news_tx.clone());
        // The attempts continue this call's trace (the host call's span).
        let cx = opentelemetry::Context::current();
        let (fair, tenant) = (engine.config.fair.clone(), TenantCell::of(self.id.tenant()));
        let task = tokio::spawn(Metered::new(
            &fair,
            tenant,
            crate::traces::FutureExt::with_context(
                async move {
                    let report = |news| {
                        let _ = tx.send((seq, news));
                    };
                    activity_host::run(&engine, &component, call, start, report).await;
                },
                cx,
            ),
        ));
        self.tasks.insert(seq, task);
        Ok(())
    }

    /// Stops the calls still running when the run ends (started, never
    /// awaited): each is recorded as `abandoned` (its result, if it comes,
    /// is not), and the operator's log names them. Results that arrived
    /// meanwhile are recorded as they are.
    pub(crate) fn abandon_running(&mut self) {
        self.drain_news();
        let mut running: Vec<u32> = self.tasks.keys().copied().collect();
        if running.is_empty() {
            return;
        }
        running.sort();
        let mut names = Vec::new();
        for seq in running {
            if let Some(task) = self.tasks.remove(&seq) {
                task.abort();
            }
            let name = match self.waitables.get(&seq) {
                Some(super::race::Waitable::Activity { name }) => name.clone(),
                _ => "?".to_owned(),
            };
            let failure = FailureRecord::new(
                failures::ABANDONED,
                format!(
                    "the run ended before awaiting call {seq} of `{name}`: it was stopped and its result is not recorded"
                ),
            );
            self.record_done(
                seq,
                ActivityOutcome {
                    attempts: 0,
                    result: Err(failure),
                },
            );
            names.push(format!("{seq} (`{}`)", crate::error::escaped(&name)));
        }
        tracing::warn!(
            "execution {} ended with activity calls it never awaited: {}; they were stopped and their results are not recorded (await every call whose effect matters)",
            self.id.as_str(),
            names.join(", ")
        );
    }

    /// Whether activity call `seq` has a recorded outcome.
    pub(super) fn activity_resolved(&self, seq: u32) -> bool {
        self.cursor.event(Event::ACTIVITY_DONE, seq).is_some()
    }

    /// Records that call `handle` ended.
    pub(super) fn record_done(&mut self, handle: u32, outcome: ActivityOutcome) {
        self.tasks.remove(&handle);
        self.backoff.remove(&handle);
        self.cursor.record_event(handle, Event::ActivityDone(outcome), now_ms());
    }

    /// Takes what a call reported; returns whether it ended.
    pub(super) fn take_news(&mut self, seq: u32, news: News) -> bool {
        match news {
            News::Done(outcome) => {
                self.record_done(seq, outcome);
                true
            }
            News::Backoff(state) => {
                self.backoff.insert(seq, state);
                false
            }
            News::Retrying => {
                self.backoff.remove(&seq);
                false
            }
        }
    }

    /// Takes whatever the calls reported meanwhile; returns whether one ended.
    pub(super) fn drain_news(&mut self) -> bool {
        let mut ended = false;
        while let Ok((seq, news)) = self.news_rx.try_recv() {
            ended |= self.take_news(seq, news);
        }
        ended
    }

    /// When every running call waits for its next attempt: the earliest
    /// next attempt (ms since epoch).
    fn all_in_backoff(&self) -> Option<i64> {
        if self.tasks.is_empty() || !self.tasks.keys().all(|s| self.backoff.contains_key(s)) {
            return None;
        }
        self.backoff.values().map(|b| b.next_at_ms).min()
    }

    /// Records where every call is, commits, and suspends until the first
    /// next attempt.
    pub(super) async fn suspend_in_backoff(&mut self, wake_at_ms: i64) -> wasmtime::Result<(u32, bool)> {
        let mut waiting: Vec<u32> = self.tasks.keys().copied().collect();
        waiting.sort();
        for seq in waiting {
            if let Some(task) = self.tasks.remove(&seq) {
                task.abort();
            }
            if let Some(state) = self.backoff.remove(&seq) {
                self.cursor.record_event(seq, Event::ActivityRetry(state), now_ms());
            }
        }
        self.commit(Transition::Sleeping { wake_at_ms }).await?;
        Err(stop(Interrupt::Suspend { wake_at_ms }))
    }

    /// Waits until one of `handles` has a result; returns it and whether new
    /// results were recorded meanwhile (then the caller commits).
    pub(super) async fn wait_any(&mut self, handles: &[u32]) -> wasmtime::Result<(u32, bool)> {
        if handles.is_empty() {
            wasmtime::bail!("await-any was called with no activity handles");
        }
        for h in handles {
            if !self.activity_resolved(*h) && !self.tasks.contains_key(h) {
                wasmtime::bail!("activity handle {h} was never started by this execution");
            }
        }
        let mut fresh = false;
        let pokes = self.pokes();
        let (waiting_since, mut shown) = (std::time::Instant::now(), false);
        loop {
            if let Some(h) = handles.iter().find(|h| self.activity_resolved(**h)) {
                return Ok((*h, fresh));
            }
            if self.pending_cancel() {
                // Every running activity ends as cancelled, these included.
                self.deliver_cancel(None).await;
                fresh = true;
                continue;
            }
            if self.drain_news() {
                fresh = true;
                continue;
            }
            let backoff_until = self.all_in_backoff();
            if let Some(next) = backoff_until
                && next - now_ms() > self.options.evict_after.as_millis() as i64
            {
                return self.suspend_in_backoff(next).await;
            }
            let waited = waiting_since.elapsed();
            if waited >= SHOW_WAIT_AFTER {
                shown = self.show_wait(shown).await?;
            }
            let nap = self.options.fallback.min(until_shown(waited));
            // Only a call between attempts may give its instance up.
            let idle = backoff_until.map(|_| self.engine.idle(self.id.tenant()));
            let evicted = async {
                match &idle {
                    Some(ticket) => ticket.evicted().await,
                    None => pending().await,
                }
            };
            tokio::select! {
                received = self.news_rx.recv() => {
                    let Some((seq, news)) = received else { wasmtime::bail!("activity news channel closed") };
                    fresh |= self.take_news(seq, news);
                    fresh |= self.drain_news();
                }
                _ = pokes.notified() => self.refresh_inbox().await,
                _ = tokio::time::sleep(nap) => self.refresh_inbox().await,
                _ = evicted => {
                    fresh |= self.drain_news();
                    if let Some(next) = self.all_in_backoff() {
                        return self.suspend_in_backoff(next).await;
                    }
                }
            }
        }
    }
}
