//! Racing handles of any kind: activities, children, timers and signal
//! waits. [`wait_any`] returns the first of them to end; [`cancel`] gives up
//! the others (a timer or a signal wait ends as `cancelled` and the signal
//! stays buffered; an activity is aborted; a child is asked to cancel).
//!
//! ```ignore
//! let approval = workflow::signal_wait::<Approval>("approve", None);
//! let deadline = workflow::timer(Duration::from_secs(3600));
//! let (first, done) = workflow::wait_any(&[&approval, &deadline]);
//! workflow::cancel(&deadline);
//! workflow::cancel(&approval);
//! if first == 0 { let by = done.signal::<Approval>()?; /* approved */ }
//! ```

use super::{Activity, Child, ctx, decode_output, millis};
use crate::Failure;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::Duration;

/// Anything started that [`wait_any`] can wait for.
pub trait Waitable {
    /// The host's handle.
    fn handle(&self) -> u32;
}

impl<O> Waitable for Activity<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<O> Waitable for Child<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

/// A durable timer started with [`timer`].
#[must_use = "a timer is only seen by waiting for it"]
pub struct Timer {
    handle: u32,
}

impl Waitable for Timer {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl Timer {
    /// Waits until it fires (code `cancelled` when it was cancelled).
    pub fn wait(&self) -> Result<(), Failure> {
        wait_any(&[self]).1.timer()
    }
}

/// A wait for a signal whose payload has type `T`, started with [`signal_wait`].
#[must_use = "a signal wait is only seen by waiting for it"]
pub struct SignalWait<T> {
    handle: u32,
    _payload: PhantomData<fn() -> T>,
}

impl<T> Waitable for SignalWait<T> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<T: DeserializeOwned> SignalWait<T> {
    /// Waits for the signal (`Ok(None)` on timeout).
    pub fn wait(&self) -> Result<Option<T>, Failure> {
        wait_any(&[self]).1.signal()
    }
}

/// Starts a durable timer of `duration`; returns at once.
pub fn timer(duration: Duration) -> Timer {
    Timer {
        handle: ctx::start_timer(millis(duration)),
    }
}

/// Starts waiting for the oldest unconsumed signal `name` (`None` after
/// `timeout`, forever when `None`); returns at once. The signal is consumed
/// only when this wait ends with it.
pub fn signal_wait<T: DeserializeOwned>(name: &str, timeout: Option<Duration>) -> SignalWait<T> {
    SignalWait {
        handle: ctx::start_signal_wait(name, timeout.map(millis)),
        _payload: PhantomData,
    }
}

/// How a handle ended; read it as the kind you started.
#[derive(Debug)]
pub struct Completion(ctx::Completion);

fn mismatch(wanted: &str) -> Failure {
    Failure::new(
        "wrong-completion",
        format!("the handle that ended is not {wanted}; match on the position wait_any returned"),
    )
}

impl Completion {
    /// An activity's result, decoded.
    pub fn activity<O: DeserializeOwned>(self) -> Result<O, Failure> {
        match self.0 {
            ctx::Completion::Activity(r) => decode_output(r),
            _ => Err(mismatch("an activity")),
        }
    }

    /// A child's result, decoded.
    pub fn child<O: DeserializeOwned>(self) -> Result<O, Failure> {
        match self.0 {
            ctx::Completion::Child(r) => decode_output(r),
            _ => Err(mismatch("a child")),
        }
    }

    /// A timer's end: fired, or code `cancelled`.
    pub fn timer(self) -> Result<(), Failure> {
        match self.0 {
            ctx::Completion::Timer(r) => r.map_err(Failure::from),
            _ => Err(mismatch("a timer")),
        }
    }

    /// A signal wait's end: the payload, `None` on timeout, or code `cancelled`.
    pub fn signal<T: DeserializeOwned>(self) -> Result<Option<T>, Failure> {
        match self.0 {
            ctx::Completion::Signal(r) => match r.map_err(Failure::from)? {
                None => Ok(None),
                Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
                    Failure::new(
                        "invalid-signal",
                        format!("the signal does not match the expected type: {e}"),
                    )
                }),
            },
            _ => Err(mismatch("a signal wait")),
        }
    }
}

/// Waits for the first of `handles` (of any kinds) to end; returns its
/// position and how it ended. A handle that already ended answers at once.
///
/// Panics if `handles` is empty.
pub fn wait_any(handles: &[&dyn Waitable]) -> (usize, Completion) {
    assert!(!handles.is_empty(), "wait_any needs at least one handle");
    let ids: Vec<u32> = handles.iter().map(|h| h.handle()).collect();
    let (index, completion) = ctx::wait_any(&ids);
    (index as usize, Completion(completion))
}

/// Gives up `handle` if it has not ended (the losers of a race).
pub fn cancel(handle: &dyn Waitable) {
    ctx::cancel(handle.handle());
}
