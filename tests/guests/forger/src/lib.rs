//! A workflow that writes whatever text it is given to the node's log — at
//! every level, through its activity, and as its failure — to show that a
//! guest cannot forge the node's own log lines.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    text: String,
}

fn forger(input: Input) -> Result<(), Failure> {
    workflow::log(&input.text);
    workflow::warn(&input.text);
    let _ = workflow::call::<_, ()>("forge", &input.text);
    Err(Failure::new("forged", input.text))
}

cairn_sdk::workflow!(forger);
