//! Sleeps durably for `ms`, then returns how long the journaled clock says
//! it slept (at least `ms`).

use cairn_sdk::prelude::*;
use std::time::Duration;

#[derive(Deserialize)]
struct Input {
    ms: u64,
}

fn sleeper(input: Input) -> Result<u64, Failure> {
    let before = workflow::now();
    workflow::log(format!("sleeping {} ms", input.ms));
    workflow::sleep(Duration::from_millis(input.ms))?;
    let slept = workflow::now().duration_since(before).unwrap_or_default();
    Ok(slept.as_millis() as u64)
}

cairn_sdk::workflow!(sleeper);
