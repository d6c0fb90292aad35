//! Cron schedules: each due schedule is fired by exactly one node
//! (compare-and-set on its next firing time) and starts an execution whose
//! id names the schedule and the firing, so a retry never starts two.

use super::Runtime;
use crate::error::{Error, Result, codes};
use crate::store::now_ms;
use std::str::FromStr;

/// The first firing of `cron` strictly after `after_ms`.
pub fn next_fire(cron: &str, after_ms: i64) -> Result<i64> {
    let schedule = cron::Schedule::from_str(cron).map_err(|e| {
        Error::new(
            codes::INVALID_ARGUMENT,
            format!("invalid cron expression `{cron}`: {e}"),
            "use `sec min hour day-of-month month day-of-week`, e.g. `0 */5 * * * *`",
        )
    })?;
    let after = chrono::DateTime::from_timestamp_millis(after_ms).unwrap_or_default();
    schedule
        .after(&after)
        .next()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| {
            Error::new(
                codes::INVALID_ARGUMENT,
                format!("`{cron}` never fires again"),
                "pick a cron that fires in the future",
            )
        })
}

impl Runtime {
    /// Fires every due schedule this node wins; returns how many it fired.
    pub async fn fire_due_schedules(&self) -> Result<usize> {
        let now = now_ms();
        let mut fired = 0;
        for s in self.store.schedules().await? {
            if s.next_fire_at_ms > now {
                continue;
            }
            let next = next_fire(&s.cron, now)?;
            if !self.store.advance_schedule(&s.id, s.next_fire_at_ms, next).await? {
                continue; // another node fired it
            }
            let Some(d) = self.store.deployment(&s.workflow, None).await? else {
                tracing::warn!("schedule {}: no deployment `{}`; skipped", s.id, s.workflow);
                continue;
            };
            let id = format!("{}@{}", s.id, s.next_fire_at_ms);
            let new = super::new_execution(id, &d.name, &d.component, d.bindings, &s.input, None);
            if self.store.enqueue_if_absent(&new).await? {
                fired += 1;
            }
        }
        Ok(fired)
    }
}
