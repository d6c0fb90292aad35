//! What a workflow host needs from the node that runs it. The engine defines
//! it; the node implements it — so the engine never reaches up, and every
//! effect outside the sandbox has one owner.

use crate::error::Result;
use crate::journal::FailureRecord;
use crate::model::{Entry, InboxMessage, Key, Lease, Transition};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Notify;

/// Where a child execution is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ChildState {
    /// Not finished (or not found yet).
    Running,
    /// Continued as new: the chain goes on under this key.
    ContinuedAs(Key),
    /// Finished with this outcome.
    Finished(Result<String, FailureRecord>),
}

/// The node's side of a running execution.
#[async_trait]
pub(crate) trait Effects: Send + Sync {
    /// Commits entries and a status change under `lease`, retrying transient
    /// store failures; `CAIRN-E007` when the lease is gone.
    async fn commit(&self, lease: &Lease, entries: &[Entry], transition: &Transition) -> Result<()>;

    /// The execution's inbox (signals and cancellation requests).
    async fn inbox(&self, id: &Key) -> Result<Vec<InboxMessage>>;

    /// Creates child `id` of `parent` running deployment `workflow`
    /// (`name` or `name@version`, as the guest named it, in the parent's
    /// tenant) on `input`, unless it exists; a failure when there is no
    /// such deployment.
    async fn start_child(
        &self,
        parent: &Key,
        id: &Key,
        workflow: &str,
        input: &str,
    ) -> Result<Result<(), FailureRecord>>;

    /// Where child `id` is.
    async fn child_state(&self, id: &Key) -> Result<ChildState>;

    /// Asks execution `id` to cancel.
    async fn request_cancel(&self, id: &Key) -> Result<()>;

    /// What wakes the host of `id` when its inbox gets a message or one of
    /// its children finishes (a poke that comes before the host waits is
    /// kept for it).
    fn pokes(&self, id: &Key) -> Arc<Notify>;

    /// The host of `id` stopped listening for pokes.
    fn forget_pokes(&self, id: &Key, pokes: Arc<Notify>);

    /// The error naming the tenant's `max_journal_bytes` when the journals
    /// of `id`'s tenant hold that much (none: there is room).
    async fn journal_full(&self, id: &Key) -> Option<crate::error::Error>;

    /// Returns when execution `id` may start a timer under its tenant's
    /// `timers_per_second` (at once without one).
    async fn timer_slot(&self, id: &Key);
}
