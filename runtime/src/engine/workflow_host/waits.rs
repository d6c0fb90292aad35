//! Everything a workflow can block on — activities, timers, signals,
//! children — and cancellation, which reaches each of them.
//!
//! Waits do not poll: the node pokes the host when the inbox gets a message
//! or a child finishes (across nodes by PostgreSQL notifications), and only
//! a slow fallback timer looks again without one. A wait longer than the
//! idle limit commits its deadline and suspends the execution, which is
//! replayed when a message, a child's completion or the deadline wakes it.

use super::end::Interrupt;
use super::{ChildState, ExecutionHost, stop};
use crate::engine::IdleTicket;
use crate::journal::record::{ChildArgs, ChildStartResult, InboxRef, SignalReceived};
use crate::journal::{ActivityOutcome, ChildRef, Event, FailureRecord, RetryState, failures};
use crate::model::{InboxKind, Transition, now_ms};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a wait goes on before what led to it is committed: the console
/// and `cairn history` then show what the execution waits for (the activity
/// call, the timer, the signal wait and, for a call between two attempts,
/// its attempts and next try). A shorter wait — the hot path — commits
/// nothing extra.
pub(super) const SHOW_WAIT_AFTER: Duration = Duration::from_millis(100);

/// The shortest pause before a call's next attempt that is journaled
/// (`activity.retry`) while the instance stays hot: shorter ones pass
/// unrecorded, so a call that retries fast forever does not grow its
/// journal by an entry per attempt (the default policy never records one).
pub(super) const SHOW_RETRY_FROM: Duration = Duration::from_secs(1);

/// How long a wait that has gone on for `waited` may nap before it is
/// shown (unbounded once it is).
pub(super) fn until_shown(waited: Duration) -> Duration {
    match SHOW_WAIT_AFTER.checked_sub(waited) {
        Some(left) if !left.is_zero() => left,
        _ => Duration::MAX,
    }
}

/// The failure every interrupted wait returns.
pub(super) fn cancelled() -> FailureRecord {
    FailureRecord::new(failures::CANCELLED, "the execution was cancelled")
}

impl ExecutionHost {
    /// What pokes this execution (subscribed on first use).
    pub(super) fn pokes(&mut self) -> Arc<Notify> {
        if self.pokes.is_none() {
            self.pokes = Some(self.effects.pokes(&self.id));
        }
        self.pokes.clone().expect("just subscribed")
    }

    /// Waits until poked or `most` passes (at most the fallback), then
    /// re-reads the inbox; false when the pool evicted this instance first.
    async fn nap(&mut self, most: Duration, idle: &IdleTicket) -> bool {
        let pokes = self.pokes();
        tokio::select! {
            _ = pokes.notified() => {}
            _ = tokio::time::sleep(most.min(self.options.fallback)) => {}
            _ = idle.evicted() => return false,
        }
        self.refresh_inbox().await;
        true
    }

    /// Makes a wait that went on for [`SHOW_WAIT_AFTER`] visible: records
    /// where each call waiting at least [`SHOW_RETRY_FROM`] for its next
    /// attempt is (once per attempt) and commits what is buffered — on the
    /// wait's first show, and later only for a newly recorded attempt (the
    /// results that come meanwhile wait for the step that takes them, as
    /// ever: a fan-out does not commit once per result). The execution
    /// stays `running`. Returns that the wait is shown.
    pub(super) async fn show_wait(&mut self, shown: bool) -> wasmtime::Result<bool> {
        let now = now_ms();
        let mut retrying: Vec<(u32, RetryState)> = self
            .backoff
            .iter()
            .filter(|(seq, state)| {
                state.next_at_ms - now >= SHOW_RETRY_FROM.as_millis() as i64
                    && !matches!(self.cursor.event(Event::ACTIVITY_RETRY, **seq),
                        Some(Event::ActivityRetry(shown)) if shown.attempts == state.attempts)
            })
            .map(|(seq, state)| (*seq, state.clone()))
            .collect();
        retrying.sort_by_key(|(seq, _)| *seq);
        let recorded = !retrying.is_empty();
        for (seq, state) in retrying {
            self.cursor.record_event(seq, Event::ActivityRetry(state), now);
        }
        if (!shown || recorded) && self.cursor.has_pending() {
            self.commit(Transition::Running).await?;
        }
        Ok(true)
    }

    /// Commits a suspension until `wake_at_ms` and stops the guest.
    pub(super) async fn suspend(&mut self, wake_at_ms: i64) -> wasmtime::Result<()> {
        self.commit(Transition::Sleeping { wake_at_ms }).await?;
        Err(stop(Interrupt::Suspend { wake_at_ms }))
    }

    /// Whether timer `seq` has fired or was cancelled.
    pub(super) fn timer_resolved(&self, seq: u32) -> bool {
        self.cursor.event(Event::TIMER_FIRED, seq).is_some() || self.cursor.event(Event::TIMER_CANCELLED, seq).is_some()
    }

    /// Waits for timer `seq`; a cancellation interrupts it; a wait longer
    /// than the eviction threshold suspends the execution instead.
    pub(super) async fn wait_timer(&mut self, seq: u32, fire_at: i64) -> wasmtime::Result<()> {
        let pokes = self.pokes();
        let idle = self.engine.idle(self.id.tenant());
        loop {
            if self.pending_cancel() {
                self.deliver_cancel(Some((seq, Event::TimerCancelled(())))).await;
                return self.commit(Transition::Running).await;
            }
            let remaining = fire_at - now_ms();
            if remaining <= 0 {
                self.cursor.record_event(seq, Event::TimerFired(()), now_ms());
                return Ok(());
            }
            if remaining as u128 > self.options.evict_after.as_millis() {
                return Err(stop(Interrupt::Suspend { wake_at_ms: fire_at }));
            }
            let nap = Duration::from_millis(remaining as u64).min(self.options.fallback);
            // The timer itself needs no read: only a poke (or the fallback) may
            // bring a cancellation.
            let poked = tokio::select! {
                _ = pokes.notified() => true,
                _ = tokio::time::sleep(nap) => nap == self.options.fallback,
                // Its wake time is committed: the instance may go at once.
                _ = idle.evicted() => return Err(stop(Interrupt::Suspend { wake_at_ms: fire_at })),
            };
            if poked {
                self.refresh_inbox().await;
            }
        }
    }

    /// Whether signal wait `seq` has an outcome.
    pub(super) fn signal_resolved(&self, seq: u32) -> bool {
        [Event::SIGNAL_RECEIVED, Event::SIGNAL_TIMEOUT, Event::SIGNAL_CANCELLED]
            .iter()
            .any(|k| self.cursor.event(k, seq).is_some())
    }

    /// Waits for the oldest unconsumed signal `name` until `deadline`.
    /// Consuming a signal commits (it leaves the inbox for good).
    pub(super) async fn wait_signal(&mut self, seq: u32, name: &str, deadline: Option<i64>) -> wasmtime::Result<()> {
        self.pokes();
        self.refresh_inbox().await;
        let idle = self.engine.idle(self.id.tenant());
        let waiting_since = Instant::now();
        let mut shown = false;
        loop {
            if self.pending_cancel() {
                self.deliver_cancel(Some((seq, Event::SignalCancelled(())))).await;
                return self.commit(Transition::Running).await;
            }
            if self.take_signal(seq, name) {
                return self.commit(Transition::Running).await;
            }
            let now = now_ms();
            if deadline.is_some_and(|d| now >= d) {
                self.cursor.record_event(seq, Event::SignalTimeout(()), now);
                return Ok(());
            }
            // Nothing yet: after the idle limit (or when the pool needs the
            // instance) suspend; a signal, a cancellation or the deadline wakes it.
            let wake_at = deadline.unwrap_or(now + 3_600_000);
            let waited = waiting_since.elapsed();
            if waited > self.options.evict_after {
                return self.suspend(wake_at).await;
            }
            if waited >= SHOW_WAIT_AFTER {
                shown = self.show_wait(shown).await?;
            }
            let until_deadline = deadline.map_or(Duration::MAX, |d| Duration::from_millis((d - now).max(1) as u64));
            let most = (self.options.evict_after - waited).min(until_deadline);
            if !self.nap(most.min(until_shown(waited)), &idle).await {
                return self.suspend(wake_at).await;
            }
        }
    }

    /// Consumes the oldest unconsumed signal `name` for wait `seq` (records
    /// `signal.received`); false when none is there.
    pub(super) fn take_signal(&mut self, seq: u32, name: &str) -> bool {
        let signal = self
            .inbox
            .iter()
            .find(|m| m.kind == InboxKind::Signal && m.name == name && !self.cursor.is_consumed(m.id))
            .cloned();
        let Some(m) = signal else { return false };
        let received = SignalReceived {
            inbox: m.id,
            payload: serde_json::from_str(&m.payload).unwrap_or(Value::Null),
        };
        self.cursor.record_event(seq, Event::SignalReceived(received), now_ms());
        true
    }

    /// Re-reads the inbox (a failure keeps the old copy; the next poll retries).
    pub(super) async fn refresh_inbox(&mut self) {
        match self.effects.inbox(&self.id).await {
            Ok(inbox) => self.inbox = inbox,
            Err(e) => tracing::warn!(
                "execution {}: reading the inbox failed: {}",
                self.id.as_str(),
                e.message
            ),
        }
    }

    /// Cancellation requests not delivered yet.
    fn pending_cancels(&self) -> Vec<i64> {
        self.inbox
            .iter()
            .filter(|m| m.kind == InboxKind::Cancel && !self.cursor.is_consumed(m.id))
            .map(|m| m.id)
            .collect()
    }

    pub(super) fn pending_cancel(&self) -> bool {
        !self.pending_cancels().is_empty()
    }

    /// Delivers a cancellation: consumes every cancel message, records the
    /// interrupted wait's outcome (`interrupted`), ends every running
    /// activity as cancelled and asks open children to cancel.
    pub(super) async fn deliver_cancel(&mut self, interrupted: Option<(u32, Event)>) {
        let now = now_ms();
        for id in self.pending_cancels() {
            self.cursor
                .record_event(id as u32, Event::CancelReceived(InboxRef { inbox: id }), now);
        }
        if let Some((seq, event)) = interrupted {
            self.cursor.record_event(seq, event, now);
        }
        self.cancel_pending_waits(now);
        let mut running: Vec<u32> = self.tasks.keys().copied().collect();
        running.sort();
        for seq in running {
            if let Some(task) = self.tasks.remove(&seq) {
                task.abort();
            }
            let outcome = ActivityOutcome {
                attempts: 0,
                result: Err(cancelled()),
            };
            self.record_done(seq, outcome);
        }
        for child in self.open_children() {
            if let Err(e) = self.effects.request_cancel(&child.id).await {
                tracing::warn!(
                    "execution {}: cancelling child {} failed: {}",
                    self.id.as_str(),
                    child.id.as_str(),
                    e.message
                );
            }
        }
    }

    /// Starts child `seq`: the node resolves the deployment and creates the
    /// child execution (idempotently); returns the command's result.
    pub(super) async fn start_child(&mut self, seq: u32, args: &ChildArgs) -> wasmtime::Result<ChildStartResult> {
        let refused = |code: &str, message: String| ChildStartResult::Refused {
            error: FailureRecord::new(code, message),
        };
        if serde_json::from_str::<Value>(&args.input).is_err() {
            return Ok(refused(failures::INVALID_INPUT, "the child's input is not JSON".into()));
        }
        // A child id the workflow names lives in its parent's tenant and
        // has an execution id's syntax (one with a `/` could name another
        // tenant's key; one with a NUL could reach no store).
        let syntax = crate::model::syntax::EXECUTION;
        if let Some(id) = args.workflow_id.as_deref().filter(|id| !syntax.valid(id)) {
            return Ok(refused(
                failures::INVALID_INPUT,
                format!("invalid child id `{}`: {}", crate::error::echo(id), syntax.hint()),
            ));
        }
        let id = match &args.workflow_id {
            Some(id) => self.id.beside(id),
            None => self.id.with_suffix(&format!("-c{seq}")),
        };
        match self
            .effects
            .start_child(&self.id, &id, &args.workflow, &args.input)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => return Ok(ChildStartResult::Refused { error: failure }),
            Err(e) => return Err(stop(Interrupt::Store(e))),
        }
        let child = ChildRef {
            id: id.clone(),
            policy: args.policy,
        };
        self.children.insert(seq, child);
        Ok(ChildStartResult::Started { id })
    }

    /// Waits for child `handle` to finish and records its outcome; returns
    /// whether it recorded one (then the caller commits).
    pub(super) async fn wait_child(&mut self, handle: u32) -> wasmtime::Result<bool> {
        if self.cursor.event(Event::CHILD_DONE, handle).is_some() {
            return Ok(false);
        }
        if !self.children.contains_key(&handle) {
            wasmtime::bail!("child handle {handle} was never started by this execution");
        }
        self.pokes();
        let idle = self.engine.idle(self.id.tenant());
        let waiting_since = Instant::now();
        loop {
            if self.pending_cancel() {
                // Children are asked to cancel; their outcome is awaited as usual.
                self.deliver_cancel(None).await;
            }
            if self.child_finished(handle).await {
                return Ok(true);
            }
            // The child wakes this execution when it finishes; check now and then regardless.
            let wake_at = now_ms() + 30_000;
            let waited = waiting_since.elapsed();
            if waited > self.options.evict_after {
                return self.suspend(wake_at).await.map(|_| false);
            }
            if !self.nap(self.options.evict_after - waited, &idle).await {
                return self.suspend(wake_at).await.map(|_| false);
            }
        }
    }

    /// Looks at child `handle` once: records its outcome when it finished
    /// (returns true), follows it when it continued as new.
    pub(super) async fn child_finished(&mut self, handle: u32) -> bool {
        loop {
            let Some(mut child) = self.children.get(&handle).cloned() else {
                return false;
            };
            match self.effects.child_state(&child.id).await {
                Ok(ChildState::Finished(result)) => {
                    let outcome = ActivityOutcome { attempts: 1, result };
                    self.cursor.record_event(handle, Event::ChildDone(outcome), now_ms());
                    return true;
                }
                Ok(ChildState::ContinuedAs(next)) => {
                    child.id = next;
                    self.children.insert(handle, child);
                }
                Ok(ChildState::Running) => return false,
                Err(e) => {
                    tracing::warn!(
                        "execution {}: reading child {} failed: {}",
                        self.id.as_str(),
                        child.id.as_str(),
                        e.message
                    );
                    return false;
                }
            }
        }
    }
}
