//! Races handles of every kind with `wait_any` and cancels the losers.
//!
//! - `activity`: `increment(41)` against a one-hour timer;
//! - `child`: a `nap` child (sleeper, 100 ms) against a one-hour timer;
//! - `signal`: signal `approve` against a timer of `timer_ms`; when the
//!   timer wins, the (cancelled) wait left the signal buffered, and a later
//!   `receive_signal` gets it.
//!
//! Cancelling the execution ends every pending handle as `cancelled`.

use cairn_sdk::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Deserialize)]
struct Input {
    mode: String,
    #[serde(default)]
    timer_ms: u64,
}

const HOUR: Duration = Duration::from_secs(3600);

fn race(input: Input) -> Result<Value, Failure> {
    match input.mode.as_str() {
        "activity" => {
            let add: Activity<u64> = workflow::start("increment", &41);
            let deadline = workflow::timer(HOUR);
            let (first, done) = workflow::wait_any(&[&deadline, &add]);
            workflow::cancel(&deadline);
            let value: u64 = done.activity()?;
            Ok(json!({ "first": first, "value": value, "timer": deadline.wait().err().map(|f| f.code) }))
        }
        "child" => {
            let nap: Child<u64> = workflow::start_child("nap", &json!({ "ms": 100 }), &ChildOptions::default())?;
            let deadline = workflow::timer(HOUR);
            let (first, done) = workflow::wait_any(&[&deadline, &nap]);
            workflow::cancel(&deadline);
            let slept: u64 = done.child()?;
            Ok(json!({ "first": first, "slept_at_least": slept >= 100 }))
        }
        "signal" => {
            let approval = workflow::signal_wait::<Value>("approve", None);
            let deadline = workflow::timer(Duration::from_millis(input.timer_ms));
            let (first, done) = workflow::wait_any(&[&approval, &deadline]);
            workflow::cancel(&approval);
            workflow::cancel(&deadline);
            if first == 0 {
                let by = done.signal::<Value>()?;
                return Ok(json!({ "first": "signal", "payload": by }));
            }
            done.timer()?;
            workflow::log("the timer won; waiting for the buffered signal");
            let later: Option<Value> = workflow::receive_signal("approve", Some(HOUR))?;
            Ok(json!({ "first": "timer", "later": later }))
        }
        other => Err(Failure::new("bad-mode", format!("unknown mode `{other}`"))),
    }
}

cairn_sdk::workflow!(race);
