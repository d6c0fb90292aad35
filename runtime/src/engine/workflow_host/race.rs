//! Handles of any kind — activities, children, timers, signal waits — and
//! one wait for the first of them to end (`wait-any`), plus giving a handle
//! up (`cancel`), so an SDK can race a timer against a signal, a child and
//! an activity (`asyncio.wait`, `Promise.race`, `select`).
//!
//! A handle is the seq of the command that started it. Each kind ends with
//! its own event (`activity.done`, `child.done`, `timer.fired` /
//! `timer.cancelled`, `signal.received` / `signal.timeout` /
//! `signal.cancelled`), looked up by that seq, so replay needs to know
//! nothing else. A wait with no activity running that lasts longer than the
//! idle limit commits its earliest deadline and suspends; a message, a
//! child's end or that deadline wakes it, and the handles come back by
//! replaying the commands that started them.

use super::end::Interrupt;
use super::waits::{SHOW_WAIT_AFTER, cancelled, until_shown};
use super::{ExecutionHost, stop};
use crate::journal::{ActivityOutcome, Event, FailureRecord};
use crate::model::now_ms;
use std::time::{Duration, Instant};

/// Something started that a workflow can wait for, by the seq that started it.
#[derive(Debug, Clone)]
pub(super) enum Waitable {
    /// A call of activity `name`.
    Activity { name: String },
    /// A child workflow.
    Child,
    /// A durable timer firing at this time (ms since the epoch).
    Timer { fire_at: i64 },
    /// A wait for the signal `name`, giving up at `deadline`.
    Signal { name: String, deadline: Option<i64> },
}

/// How a handle ended, read from its event.
pub(super) enum Ended {
    /// An activity's result.
    Activity(Result<String, FailureRecord>),
    /// A child's result.
    Child(Result<String, FailureRecord>),
    /// A timer fired, or was cancelled.
    Timer(Result<(), FailureRecord>),
    /// A signal (none on timeout), or a cancelled wait.
    Signal(Result<Option<String>, FailureRecord>),
}

/// Longest a wait on a child or a signal without a deadline sleeps once
/// suspended before it looks again.
const RECHECK_MS: i64 = 30_000;

impl ExecutionHost {
    /// How handle `h` ended, if it did.
    pub(super) fn ended(&self, h: u32) -> Option<Ended> {
        let c = &self.cursor;
        if let Some(Event::ActivityDone(o)) = c.event(Event::ACTIVITY_DONE, h) {
            return Some(Ended::Activity(o.result.clone()));
        }
        if let Some(Event::ChildDone(o)) = c.event(Event::CHILD_DONE, h) {
            return Some(Ended::Child(o.result.clone()));
        }
        if c.event(Event::TIMER_FIRED, h).is_some() {
            return Some(Ended::Timer(Ok(())));
        }
        if c.event(Event::TIMER_CANCELLED, h).is_some() {
            return Some(Ended::Timer(Err(cancelled())));
        }
        if let Some(Event::SignalReceived(s)) = c.event(Event::SIGNAL_RECEIVED, h) {
            return Some(Ended::Signal(Ok(Some(s.payload.to_string()))));
        }
        if c.event(Event::SIGNAL_TIMEOUT, h).is_some() {
            return Some(Ended::Signal(Ok(None)));
        }
        if c.event(Event::SIGNAL_CANCELLED, h).is_some() {
            return Some(Ended::Signal(Err(cancelled())));
        }
        None
    }

    /// Waits until one of `handles` has ended; returns it and whether
    /// outcomes were recorded meanwhile (then the caller commits).
    pub(super) async fn wait_first(&mut self, handles: &[u32]) -> wasmtime::Result<(u32, bool)> {
        if handles.is_empty() {
            wasmtime::bail!("wait-any was called with no handles");
        }
        if let Some(h) = handles.iter().find(|h| !self.waitables.contains_key(h)) {
            wasmtime::bail!("handle {h} was never started by this execution");
        }
        let pokes = self.pokes();
        if handles
            .iter()
            .any(|h| matches!(self.waitables[h], Waitable::Signal { .. }))
        {
            self.refresh_inbox().await;
        }
        let idle = self.engine.idle(self.id.tenant());
        let waiting_since = Instant::now();
        let (mut fresh, mut shown) = (false, false);
        loop {
            if let Some(h) = handles.iter().find(|h| self.ended(**h).is_some()) {
                return Ok((*h, fresh));
            }
            if self.pending_cancel() {
                // Every pending handle ends as cancelled (children are asked).
                self.deliver_cancel(None).await;
                fresh = true;
                continue;
            }
            if self.drain_news() | self.resolve_due(handles).await {
                fresh = true;
                continue;
            }
            // Nothing yet: sleep until the next deadline, a poke or news.
            let now = now_ms();
            let wake_at = self.next_deadline(handles, now);
            let running = self.tasks.keys().any(|s| !self.backoff.contains_key(s));
            let waited = waiting_since.elapsed();
            if !running
                && (wake_at - now > self.options.evict_after.as_millis() as i64 || waited > self.options.evict_after)
            {
                return self.give_up_instance(wake_at).await;
            }
            if waited >= SHOW_WAIT_AFTER {
                shown = self.show_wait(shown).await?;
            }
            let nap = Duration::from_millis((wake_at - now).max(1) as u64)
                .min(self.options.fallback)
                .min(until_shown(waited));
            tokio::select! {
                received = self.news_rx.recv() => {
                    let Some((seq, news)) = received else { wasmtime::bail!("activity news channel closed") };
                    fresh |= self.take_news(seq, news);
                }
                _ = pokes.notified() => self.refresh_inbox().await,
                _ = tokio::time::sleep(nap) => self.refresh_inbox().await,
                _ = idle.evicted(), if !running => return self.give_up_instance(wake_at).await,
            }
        }
    }

    /// Records the outcome of every handle in `handles` that is due now:
    /// fired timers, arrived signals (the oldest unconsumed one each, in the
    /// order of `handles`), passed signal deadlines, finished children.
    async fn resolve_due(&mut self, handles: &[u32]) -> bool {
        let now = now_ms();
        let mut any = false;
        for &h in handles {
            if self.ended(h).is_some() {
                continue;
            }
            match self.waitables[&h].clone() {
                Waitable::Activity { .. } => {}
                Waitable::Timer { fire_at } => {
                    if fire_at <= now {
                        self.cursor.record_event(h, Event::TimerFired(()), now);
                        any = true;
                    }
                }
                Waitable::Signal { name, deadline } => {
                    if self.take_signal(h, &name) {
                        any = true;
                    } else if deadline.is_some_and(|d| d <= now) {
                        self.cursor.record_event(h, Event::SignalTimeout(()), now);
                        any = true;
                    }
                }
                Waitable::Child => any |= self.child_finished(h).await,
            }
        }
        any
    }

    /// The earliest time something among `handles` (or an activity between
    /// two attempts) is due; children and open-ended signal waits look again
    /// after [`RECHECK_MS`].
    fn next_deadline(&self, handles: &[u32], now: i64) -> i64 {
        let mut at = now + RECHECK_MS;
        for h in handles {
            match &self.waitables[h] {
                Waitable::Timer { fire_at } => at = at.min(*fire_at),
                Waitable::Signal { deadline: Some(d), .. } => at = at.min(*d),
                _ => {}
            }
        }
        if let Some(next) = self.backoff.values().map(|b| b.next_at_ms).min() {
            at = at.min(next);
        }
        at
    }

    /// Commits the wait's earliest deadline and stops the guest, giving the
    /// instance up (activities between attempts record where they are).
    async fn give_up_instance(&mut self, wake_at_ms: i64) -> wasmtime::Result<(u32, bool)> {
        if self.tasks.is_empty() {
            self.suspend(wake_at_ms).await?;
            return Err(stop(Interrupt::Suspend { wake_at_ms }));
        }
        self.suspend_in_backoff(wake_at_ms).await
    }

    /// Gives up handle `h` if it has not ended.
    pub(super) async fn cancel_handle(&mut self, h: u32) -> wasmtime::Result<()> {
        let Some(kind) = self.waitables.get(&h).cloned() else {
            wasmtime::bail!("handle {h} was never started by this execution");
        };
        if self.ended(h).is_some() {
            return Ok(());
        }
        let now = now_ms();
        match kind {
            Waitable::Timer { .. } => self.cursor.record_event(h, Event::TimerCancelled(()), now),
            Waitable::Signal { .. } => self.cursor.record_event(h, Event::SignalCancelled(()), now),
            Waitable::Activity { .. } => {
                if let Some(task) = self.tasks.remove(&h) {
                    task.abort();
                }
                let outcome = ActivityOutcome {
                    attempts: 0,
                    result: Err(cancelled()),
                };
                self.record_done(h, outcome);
            }
            Waitable::Child => {
                if let Some(child) = self.children.get(&h).cloned()
                    && let Err(e) = self.effects.request_cancel(&child.id).await
                {
                    tracing::warn!(
                        "execution {}: cancelling child {} failed: {}",
                        self.id.as_str(),
                        child.id.as_str(),
                        e.message
                    );
                }
            }
        }
        Ok(())
    }

    /// Ends every pending timer and signal wait as cancelled (the execution
    /// was cancelled).
    pub(super) fn cancel_pending_waits(&mut self, now: i64) {
        let mut pending: Vec<(u32, Waitable)> = self
            .waitables
            .iter()
            .filter(|(_, w)| matches!(w, Waitable::Timer { .. } | Waitable::Signal { .. }))
            .map(|(h, w)| (*h, w.clone()))
            .collect();
        pending.sort_by_key(|(h, _)| *h);
        for (h, w) in pending {
            if self.ended(h).is_some() {
                continue;
            }
            let event = match w {
                Waitable::Timer { .. } => Event::TimerCancelled(()),
                _ => Event::SignalCancelled(()),
            };
            self.cursor.record_event(h, event, now);
        }
    }
}
