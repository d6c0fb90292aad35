//! Wake-ups instead of polling: who waits for what, and the events that
//! wake them — from this node's own writes at once, from other nodes by
//! PostgreSQL notifications. Every wait still has a slow fallback timer
//! (`NodeConfig::fallback`) for a notification that got lost.

use crate::model::{Key, StoreEvent, Transition};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The waiters of one node.
#[derive(Default)]
pub(super) struct Wakeups {
    /// Result waiters, by the execution they wait for (all of them wake).
    finished: Registry<Finish>,
    /// Running executions, poked when their inbox gets a message or one of
    /// their children finishes (one permit is kept if nobody waits yet).
    pokes: Registry<Notify>,
    /// The claim loop: new or released work.
    work: Notify,
}

/// What the result waiters of one execution share: the wake-up and, when
/// this node committed the end, that end (so they answer without reading
/// it back).
#[derive(Default)]
pub(super) struct Finish {
    notify: Notify,
    end: Mutex<Option<Transition>>,
}

impl Finish {
    /// The wake-up to wait on.
    pub(super) fn notify(&self) -> &Notify {
        &self.notify
    }

    /// The end this node committed, if it did.
    pub(super) fn end(&self) -> Option<Transition> {
        self.end.lock().unwrap().clone()
    }
}

/// Waiters by execution key; entries live while someone holds them.
struct Registry<T>(Mutex<HashMap<Key, Arc<T>>>);

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry(Mutex::new(HashMap::new()))
    }
}

impl<T: Default> Registry<T> {
    fn get(&self, id: &Key) -> Arc<T> {
        self.0.lock().unwrap().entry(id.clone()).or_default().clone()
    }

    /// Forgets `id`'s entry when nobody but the registry holds it.
    fn release(&self, id: &Key, handle: Arc<T>) {
        let mut map = self.0.lock().unwrap();
        drop(handle);
        if map.get(id).is_some_and(|n| Arc::strong_count(n) == 1) {
            map.remove(id);
        }
    }

    fn all(&self) -> Vec<Arc<T>> {
        self.0.lock().unwrap().values().cloned().collect()
    }

    fn find(&self, id: &Key) -> Option<Arc<T>> {
        self.0.lock().unwrap().get(id).cloned()
    }
}

/// A registration for an execution's end; it ends when dropped.
pub(super) struct Watch<'a> {
    registry: &'a Registry<Finish>,
    id: Key,
    notify: Option<Arc<Finish>>,
}

impl std::ops::Deref for Watch<'_> {
    type Target = Finish;
    fn deref(&self) -> &Finish {
        self.notify.as_ref().expect("held until dropped")
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.notify.take() {
            self.registry.release(&self.id, n);
        }
    }
}

impl Wakeups {
    /// Registers a waiter for the end of execution `id`.
    pub(super) fn watch_finished(&self, id: &Key) -> Watch<'_> {
        Watch {
            registry: &self.finished,
            id: id.clone(),
            notify: Some(self.finished.get(id)),
        }
    }

    /// The poke of a running execution (held by its host).
    pub(super) fn pokes(&self, id: &Key) -> Arc<Notify> {
        self.pokes.get(id)
    }

    /// The host of `id` stopped listening.
    pub(super) fn forget_pokes(&self, id: &Key, handle: Arc<Notify>) {
        self.pokes.release(id, handle);
    }

    /// The claim loop's notify.
    pub(super) fn work(&self) -> &Notify {
        &self.work
    }

    /// This node committed the end of execution `id`: its result waiters
    /// wake and answer from it.
    pub(super) fn ended(&self, id: &Key, end: Transition) {
        if let Some(f) = self.finished.find(id) {
            *f.end.lock().unwrap() = Some(end);
            f.notify.notify_waiters();
        }
    }

    /// Wakes whoever waits for this event.
    pub(super) fn wake(&self, event: &StoreEvent) {
        match event {
            StoreEvent::Work => self.work.notify_one(),
            StoreEvent::Finished(id) => {
                if let Some(f) = self.finished.find(id) {
                    f.notify.notify_waiters();
                }
            }
            StoreEvent::Poke(id) => {
                if let Some(n) = self.pokes.find(id) {
                    n.notify_one();
                }
            }
            StoreEvent::Resync => {
                self.work.notify_one();
                for f in self.finished.all() {
                    f.notify.notify_waiters();
                }
                for n in self.pokes.all() {
                    n.notify_one();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_wake_on_their_event_and_forget_when_done() {
        let w = Wakeups::default();
        let k = |s: &str| Key::stored(s);
        {
            let watch = w.watch_finished(&k("a"));
            let waiting = watch.notify().notified();
            tokio::pin!(waiting);
            waiting.as_mut().enable();
            w.wake(&StoreEvent::Finished(k("b")));
            w.wake(&StoreEvent::Finished(k("a")));
            tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap();
        }
        assert!(w.finished.0.lock().unwrap().is_empty(), "the watch is forgotten");
        // An end this node committed reaches its waiters with the outcome.
        {
            let watch = w.watch_finished(&k("c"));
            let waiting = watch.notify().notified();
            w.ended(&k("c"), Transition::Completed { output: "7".into() });
            tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap();
            assert!(matches!(watch.end(), Some(Transition::Completed { output }) if output == "7"));
        }
        // Nobody watching: nothing is kept.
        w.ended(&k("d"), Transition::Completed { output: "1".into() });
        assert!(w.finished.0.lock().unwrap().is_empty());
        // A poke before the host waits is kept for it.
        let poke = w.pokes(&k("x"));
        w.wake(&StoreEvent::Poke(k("x")));
        tokio::time::timeout(Duration::from_secs(1), poke.notified())
            .await
            .unwrap();
        w.forget_pokes(&k("x"), poke);
        assert!(w.pokes.0.lock().unwrap().is_empty());
    }
}
