//! Calls the `fetch` activity once with a long retry backoff (`backoff_ms`
//! before the second attempt): the workload of the idle-eviction test.

use cairn_sdk::prelude::*;
use std::time::Duration;

#[derive(Deserialize)]
struct Input {
    url: String,
    backoff_ms: u64,
}

fn retry_later(input: Input) -> Result<serde_json::Value, Failure> {
    let options = ActivityOptions::default()
        .max_attempts(3)
        .initial_interval(Duration::from_millis(input.backoff_ms));
    let request = serde_json::json!({ "url": input.url });
    workflow::start_with("fetch", &request, &options).wait()
}

cairn_sdk::workflow!(retry_later);
