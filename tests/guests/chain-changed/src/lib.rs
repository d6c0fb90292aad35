//! `chain` with changed code: it asks for the time before each increment, so
//! replaying an old `chain` journal diverges at the second entry.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    n: u64,
}

fn chain(input: Input) -> Result<u64, Failure> {
    let mut value = 0u64;
    for _ in 0..input.n {
        let _ = workflow::now();
        value = workflow::call("increment", &value)?;
    }
    Ok(value)
}

cairn_sdk::workflow!(chain);
