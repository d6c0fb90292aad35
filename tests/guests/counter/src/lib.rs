//! Counts from `i` to `until`, one run per number: each run logs its number
//! and continues as new with the next, so no journal grows.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    i: u64,
    until: u64,
}

fn counter(input: Input) -> Result<u64, Failure> {
    workflow::log(format!("run {}", input.i));
    if input.i < input.until {
        workflow::continue_as_new(&serde_json::json!({ "i": input.i + 1, "until": input.until }));
    }
    Ok(input.i)
}

cairn_sdk::workflow!(counter);
