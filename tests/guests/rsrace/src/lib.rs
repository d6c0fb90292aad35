//! The SDK conformance scenarios of `tests/python/_race.py` and
//! `tests/typescript/_race.ts` in Rust, for the modes Rust can express
//! (`tests/e2e/sdks.rs` checks the outputs agree): `gather`, `signal`,
//! `compensate`, `child`, `continue`, `fail`, `spin`, `eat`. Python's and
//! TypeScript's `nan`, `raw-input` and `deadlock` cannot be written in safe
//! Rust with the SDK; a Rust panic is a trap (parked, `CAIRN-E010`).

use cairn_sdk::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Deserialize)]
struct Input {
    mode: String,
    #[serde(default)]
    timer_s: f64,
    #[serde(default, rename = "self")]
    me: String,
    #[serde(default)]
    left: u32,
}

const HOUR: Duration = Duration::from_secs(3600);

fn rsrace(input: Input) -> Result<Value, Failure> {
    match input.mode.as_str() {
        "gather" => {
            let steps: Vec<Activity<u64>> = (0..3u64).map(|i| workflow::start("increment", &i)).collect();
            let values = workflow::join_all(steps).into_iter().collect::<Result<Vec<_>, _>>()?;
            Ok(json!(values))
        }
        "signal" => {
            let approval = workflow::signal_wait::<Value>("approve", None);
            let deadline = workflow::timer(Duration::from_secs_f64(input.timer_s));
            let (first, done) = workflow::wait_any(&[&approval, &deadline]);
            workflow::cancel(&approval);
            workflow::cancel(&deadline);
            if first == 0 {
                return Ok(json!({ "first": "signal", "payload": done.signal::<Value>()? }));
            }
            done.timer()?;
            workflow::log("the timer won; reading the buffered signal");
            let later: Option<Value> = workflow::receive_signal("approve", Some(HOUR))?;
            Ok(json!({ "first": "timer", "later": later }))
        }
        "compensate" => match workflow::sleep(HOUR) {
            Err(f) if f.is_cancelled() => {
                let undone: u64 = workflow::start("increment", &99u64).wait()?;
                Ok(json!({ "compensated": undone }))
            }
            Err(f) => Err(f),
            Ok(()) => Ok(json!({ "compensated": null })),
        },
        "child" => {
            let child: Child<Value> =
                workflow::start_child(&input.me, &json!({ "mode": "gather" }), &ChildOptions::default())?;
            Ok(json!({ "child": child.wait()? }))
        }
        "continue" => {
            if input.left > 0 {
                workflow::continue_as_new(&json!({ "mode": "continue", "self": input.me, "left": input.left - 1 }));
            }
            Ok(json!("done"))
        }
        "fail" => Err(Failure::new("bad-order", "order 7 cannot be shipped")),
        "spin" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "eat" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        other => Err(Failure::new("bad-mode", format!("unknown mode `{other}`"))),
    }
}

cairn_sdk::workflow!(rsrace);
