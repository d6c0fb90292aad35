//! Payloads shared by several entry kinds: the `started` entry, failures
//! and their host codes, activity outcomes and retry policies.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Payload of the `started` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedPayload {
    /// Workflow name.
    pub workflow: String,
    /// Component digest the execution is pinned to.
    pub component: String,
    /// JSON input text.
    pub input: String,
    /// Seed of the deterministic WASI random generators.
    pub seed: u64,
    /// The W3C `traceparent` of the request that started it (traces on):
    /// every activation continues that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// A failure as stored in the journal (mirror of the WIT `failure`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// Stable code.
    pub code: String,
    /// One line.
    pub message: String,
    /// Retry may help.
    pub retryable: bool,
    /// Optional JSON details.
    pub details: Option<String>,
}

impl FailureRecord {
    /// A non-retryable failure.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        FailureRecord {
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// A failure that a retry may cure.
    pub fn retryable(code: &str, message: impl Into<String>) -> Self {
        FailureRecord {
            retryable: true,
            ..FailureRecord::new(code, message)
        }
    }
}

/// How an activity call (or a child) ended, as journaled in `activity.done`
/// and `child.done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityOutcome {
    /// Attempts made.
    pub attempts: u32,
    /// `Ok(output JSON)` or `Err(failure)`.
    pub result: Result<String, FailureRecord>,
}

/// Where an activity call is between attempts, journaled (`activity.retry`)
/// when its execution is evicted during the backoff, so that the call
/// resumes where it was: the same attempt count, the same next attempt time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryState {
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, ms since the epoch.
    pub next_at_ms: i64,
    /// How the last attempt failed.
    pub failure: FailureRecord,
}

/// The failure codes the host itself records in journals (beside the codes
/// activities and workflows choose). Listed in `docs/errors.md`.
pub mod failures {
    /// The execution was cancelled while the call was pending.
    pub const CANCELLED: &str = "cancelled";
    /// A child workflow failed.
    pub const CHILD_FAILED: &str = "child-failed";
    /// A child workflow was terminated.
    pub const TERMINATED: &str = "terminated";
    /// A child of a deployment that does not exist.
    pub const UNKNOWN_WORKFLOW: &str = "unknown-workflow";
    /// A child's or an activity's input is not JSON.
    pub const INVALID_INPUT: &str = "invalid-input";
    /// The workflow returned text that is not JSON (NaN included).
    pub const INVALID_OUTPUT: &str = "invalid-output";
    /// An activity attempt exceeded its timeout.
    pub const ACTIVITY_TIMEOUT: &str = "activity-timeout";
    /// The activity instance trapped.
    pub const ACTIVITY_TRAPPED: &str = "activity-trapped";
    /// The activity returned text that is not JSON.
    pub const INVALID_ACTIVITY_OUTPUT: &str = "invalid-activity-output";
    /// An attempt was cut short (its node stopped, the execution moved) and
    /// the retry policy allows no further attempt.
    pub const ACTIVITY_INTERRUPTED: &str = "activity-interrupted";
    /// The run ended (returned, failed, continued as new) while the call
    /// was still running: it was stopped and its result is not recorded.
    pub const ABANDONED: &str = "abandoned";

    /// The code the SDKs give an exception the workflow did not catch (not
    /// a host code): the node parks such an execution instead of failing it.
    pub const UNCAUGHT_EXCEPTION: &str = "uncaught-exception";

    /// Every host failure code with what it means (the table of `docs/errors.md`).
    pub const ALL: &[(&str, &str)] = &[
        (CANCELLED, "the execution was cancelled while the call was pending"),
        (CHILD_FAILED, "a child workflow failed"),
        (TERMINATED, "a child workflow was terminated"),
        (UNKNOWN_WORKFLOW, "a child of a deployment that does not exist"),
        (INVALID_INPUT, "a child's or an activity's input is not JSON"),
        (
            INVALID_OUTPUT,
            "the workflow returned text that is not JSON (NaN included)",
        ),
        (ACTIVITY_TIMEOUT, "an activity attempt exceeded its timeout"),
        (ACTIVITY_TRAPPED, "the activity instance trapped"),
        (INVALID_ACTIVITY_OUTPUT, "the activity returned text that is not JSON"),
        (
            ACTIVITY_INTERRUPTED,
            "an attempt was cut short (its node stopped, the execution moved) and the retry policy allows no further attempt",
        ),
        (
            ABANDONED,
            "the run ended while the call was still running (never awaited): it was stopped, its result is not recorded",
        ),
    ];
}

/// Retry policy and attempt timeout of one call, as journaled in its
/// `activity.start` arguments. Unset fields take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrySpec {
    /// Total attempts (default 5; 0 = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// First retry delay in ms (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_interval_ms: Option<u64>,
    /// Delay multiplier (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_coefficient: Option<f64>,
    /// Delay cap in ms (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_interval_ms: Option<u64>,
    /// Attempt timeout in ms (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_timeout_ms: Option<u64>,
}

impl RetrySpec {
    /// The delay before retry number `retry` (1 = first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let initial = self.initial_interval_ms.unwrap_or(100) as f64;
        let factor = self.backoff_coefficient.unwrap_or(2.0).max(1.0);
        let cap = self.maximum_interval_ms.unwrap_or(10_000) as f64;
        let ms = (initial * factor.powi(retry.saturating_sub(1).min(64) as i32)).min(cap);
        Duration::from_millis(ms as u64)
    }

    /// Total attempts allowed (0 = unlimited).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(5)
    }

    /// Whether attempt `n` (from 1) that failed retryably may be retried.
    pub fn may_retry(&self, n: u32) -> bool {
        let max = self.max_attempts();
        max == 0 || n < max
    }

    /// Timeout of one attempt.
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms.unwrap_or(30_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let spec = RetrySpec::default();
        let ms = |r| spec.delay(r).as_millis();
        assert_eq!((ms(1), ms(2), ms(3)), (100, 200, 400));
        assert_eq!(ms(30), 10_000, "capped at the maximum interval");
        let flat = RetrySpec {
            initial_interval_ms: Some(20),
            backoff_coefficient: Some(0.5),
            ..Default::default()
        };
        assert_eq!(
            flat.delay(5).as_millis(),
            20,
            "a coefficient below 1 never shrinks the delay"
        );
        assert_eq!(spec.attempt_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn attempts_are_bounded_unless_unlimited() {
        let spec = RetrySpec::default();
        assert!(spec.may_retry(4) && !spec.may_retry(5));
        let unlimited = RetrySpec {
            max_attempts: Some(0),
            ..Default::default()
        };
        assert!(unlimited.may_retry(1_000));
        assert_eq!(serde_json::to_string(&RetrySpec::default()).unwrap(), "{}");
    }

    /// `docs/errors.md` lists exactly the host failure codes.
    #[test]
    fn docs_list_the_host_failure_codes() {
        let doc = include_str!("../../../docs/errors.md");
        let rows: Vec<String> = failures::ALL
            .iter()
            .map(|(code, meaning)| format!("| `{code}` | {meaning} |"))
            .collect();
        let documented: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(
            documented,
            rows,
            "docs/errors.md must list exactly:\n{}",
            rows.join("\n")
        );
    }
}
