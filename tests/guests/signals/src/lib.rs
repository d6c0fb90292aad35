//! Sleeps `delay_ms`, then receives `n` signals named `item` (each within
//! `timeout_ms`) and returns them in the order received; a missing signal
//! ends the list early.

use cairn_sdk::prelude::*;
use std::time::Duration;

#[derive(Deserialize)]
struct Input {
    delay_ms: u64,
    n: u32,
    timeout_ms: u64,
}

fn signals(input: Input) -> Result<Vec<serde_json::Value>, Failure> {
    if input.delay_ms > 0 {
        workflow::sleep(Duration::from_millis(input.delay_ms))?;
    }
    let mut items = Vec::new();
    for _ in 0..input.n {
        match workflow::receive_signal::<serde_json::Value>("item", Some(Duration::from_millis(input.timeout_ms)))? {
            Some(item) => items.push(item),
            None => break,
        }
    }
    Ok(items)
}

cairn_sdk::workflow!(signals);
