//! Cron schedules: each due schedule is fired by exactly one node
//! (compare-and-set on its next firing time) and starts an execution whose
//! id names the schedule and the firing, so a retry never starts two.

use super::Node;
use crate::error::{Error, Result};
use crate::journal;
use crate::model::{Key, WorkflowRef, now_ms};
use std::str::FromStr;

/// The first firing of `cron` strictly after `after_ms`.
pub fn next_fire(cron: &str, after_ms: i64) -> Result<i64> {
    const FORM: &str = "use `sec min hour day-of-month month day-of-week [year]`, e.g. `0 */5 * * * *`";
    let fields: Vec<&str> = cron.split_whitespace().collect();
    match fields.len() {
        5 => {
            return Err(Error::invalid(
                format!(
                    "the cron expression `{cron}` has 5 fields; Cairn's has seconds first (6 fields, or 7 with years)"
                ),
                format!("prepend the second, e.g. `0 {cron}`"),
            ));
        }
        6 | 7 => {}
        n => {
            return Err(Error::invalid(
                format!("the cron expression `{cron}` has {n} fields; it needs 6 (or 7 with years)"),
                FORM,
            ));
        }
    }
    let schedule = cron::Schedule::from_str(cron).map_err(|e| {
        // The parser's text draws a caret under the expression: name the field instead.
        let text = e.to_string();
        let caret = text.lines().find_map(|l| {
            let t = l.trim_end();
            (t.ends_with('^') && t.trim_start() == "^").then(|| t.len() - 1)
        });
        let field = caret.and_then(|col| {
            let before = cron.get(..col.min(cron.len()))?;
            let n = before.split_whitespace().count();
            let n = if before.ends_with(char::is_whitespace) || before.is_empty() {
                n
            } else {
                n - 1
            };
            fields
                .get(n)
                .map(|f| format!("field {} (`{f}`) is not valid there", n + 1))
        });
        let reason = field.unwrap_or_else(|| "a field is not valid".to_owned());
        Error::invalid(format!("invalid cron expression `{cron}`: {reason}"), FORM)
    })?;
    let after = chrono::DateTime::from_timestamp_millis(after_ms).unwrap_or_default();
    schedule
        .after(&after)
        .next()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| {
            Error::invalid(
                format!("`{cron}` never fires again"),
                "pick a cron that fires in the future",
            )
        })
}

impl Node {
    /// Fires every due schedule this node wins; returns how many it fired
    /// and when the next one is due (ms since epoch).
    pub(super) async fn fire_due_schedules(&self) -> Result<(usize, i64)> {
        let now = now_ms();
        let mut fired = 0;
        let mut next_due = i64::MAX;
        for s in self.store.schedules(None).await? {
            if s.next_fire_at_ms > now {
                next_due = next_due.min(s.next_fire_at_ms);
                continue;
            }
            let next = next_fire(&s.cron, now)?;
            next_due = next_due.min(next);
            let key = Key::stored(s.id.clone());
            let tenant = key.tenant();
            if !self.store.advance_schedule(&key, s.next_fire_at_ms, next).await? {
                continue; // another node fired it
            }
            // The schedule's workflow key (`tenant/name` or `tenant/name@3`).
            let wanted = WorkflowRef::parse(&s.workflow);
            let found = match &wanted {
                Some(w) => self.store.deployment(&Key::stored(w.name.clone()), w.version).await?,
                None => None,
            };
            let Some(d) = found else {
                tracing::warn!("schedule {}: no deployment `{}`; skipped", s.id, s.workflow);
                continue;
            };
            if let Some(full) = self.tenancy.journal_full(tenant).await? {
                tracing::warn!("schedule {}: {}; skipped", s.id, full.message);
                continue;
            }
            let id = key.with_suffix(&format!("@{}", s.next_fire_at_ms));
            let bindings = self.tenancy.within_policy(tenant, d.bindings).await?;
            let workflow = Key::stored(d.name);
            let mut new = journal::new_execution(id, &workflow, &d.component, bindings, &s.input, None);
            new.queue_limit = self.tenancy.queue_limit(tenant).await?;
            if self.place(new).await?.is_new() {
                fired += 1;
            }
        }
        Ok((fired, next_due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fires_after_the_given_time_and_bad_ones_are_refused() {
        // 2026-11-24T00:00:00Z
        let midnight = 1_795_478_400_000;
        assert_eq!(next_fire("0 0 2 * * *", midnight).unwrap(), midnight + 2 * 3_600_000);
        assert_eq!(next_fire("* * * * * *", midnight).unwrap(), midnight + 1000);
        let e = next_fire("every tuesday", midnight).unwrap_err();
        assert_eq!(e.code, crate::error::codes::INVALID_ARGUMENT);
        assert!(
            next_fire("0 0 0 1 1 * 2001", midnight).is_err(),
            "a past-only cron never fires"
        );
    }
}
