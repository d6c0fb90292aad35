//! `chain`: calls the `increment` activity N times in sequence and returns N.
//! Cairn's benchmark workload: one durable step per activity call.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    n: u64,
}

fn chain(input: Input) -> Result<u64, Failure> {
    let mut value = 0u64;
    for _ in 0..input.n {
        value = workflow::call("increment", &value)?;
    }
    Ok(value)
}

cairn_sdk::workflow!(chain);
