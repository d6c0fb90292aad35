//! The activity of the `forger` workflow: logs its text and fails with it.

use cairn_sdk::prelude::*;

fn forge(text: String) -> Result<(), Failure> {
    activity::log(&text);
    Err(Failure::new(text.clone(), text))
}

cairn_sdk::activities! {
    "forge" => forge,
}
