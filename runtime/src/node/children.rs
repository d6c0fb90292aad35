//! What happens around an execution when it finishes: its open children
//! get their parent-close policy, its parent is woken. Terminating one from
//! outside is a rule of its own: fence the owner out, record why, close.

use super::Node;
use crate::error::Result;
use crate::journal::record::Terminated;
use crate::journal::{self, ChildRef, Lifecycle, Record};
use crate::model::{ClosePolicy, InboxKind, Key, Status, StoreEvent, now_ms, tenancy};

impl Node {
    /// After a terminal commit: applies the close policy to open children
    /// and wakes the parent, if any (best effort: both are idempotent, and
    /// a parent also re-checks on its own).
    pub(super) async fn finished(&self, id: &Key, open_children: Vec<ChildRef>, parent: Option<&Key>) {
        self.close_children(id, open_children).await;
        if let Some(parent) = parent {
            if let Err(e) = self.store.wake(parent).await {
                tracing::warn!("waking parent {} failed: {}", parent.as_str(), e.message);
            }
            self.announce(StoreEvent::Poke(parent.clone()));
            self.announce(StoreEvent::Work);
        }
    }

    /// Ends an execution at once, whatever it is doing: fences out its
    /// owner, records `terminated` with the reason, closes its children and
    /// wakes its parent. Returns whether it was still running (or parked).
    pub(super) async fn end_terminated(&self, id: &Key, reason: &str) -> Result<bool> {
        let entry = Record::Lifecycle(Lifecycle::Terminated(Terminated {
            reason: reason.to_owned(),
        }))
        .to_entry(0, now_ms());
        let terminable: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_terminable()).collect();
        if !self
            .store
            .end_fenced(id, &terminable, &entry, Status::Terminated, &entry.payload)
            .await?
        {
            return Ok(false);
        }
        self.stop_active(id);
        self.announce(StoreEvent::Finished(id.clone()));
        let open = journal::open_children(&self.store.journal(id).await?);
        let execution = self.store.execution(id).await?;
        if let Some(e) = &execution {
            let labels = [id.tenant(), tenancy::name_of(&e.workflow)];
            crate::metrics::count(|m| &m.terminated, &labels);
        }
        let parent = execution.and_then(|e| e.parent).map(Key::stored);
        self.finished(id, open, parent.as_ref()).await;
        Ok(true)
    }

    /// Applies each open child's parent-close policy.
    async fn close_children(&self, parent: &Key, children: Vec<ChildRef>) {
        for child in children {
            let result = match child.policy {
                ClosePolicy::Terminate => {
                    Box::pin(self.end_terminated(&child.id, &format!("parent {} finished", parent.name())))
                        .await
                        .map(|_| ())
                }
                ClosePolicy::RequestCancel => self.request_cancel_of(&child.id).await,
                ClosePolicy::Abandon => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(
                    "closing child {} of {} failed: {}",
                    child.id.as_str(),
                    parent.as_str(),
                    e.message
                );
            }
        }
    }
}

impl Node {
    /// Queues a cancellation request for `id`, waking it wherever it is.
    pub(super) async fn request_cancel_of(&self, id: &Key) -> Result<()> {
        self.store.push_inbox(id, InboxKind::Cancel, "", "null", true).await?;
        self.announce(StoreEvent::Poke(id.clone()));
        self.announce(StoreEvent::Work);
        Ok(())
    }
}
