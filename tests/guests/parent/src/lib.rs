//! Starts one child of deployment `workflow` per entry of `inputs`, then
//! awaits them all and returns their results in order.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    workflow: String,
    inputs: Vec<serde_json::Value>,
}

fn parent(input: Input) -> Result<Vec<serde_json::Value>, Failure> {
    let mut children: Vec<Child<serde_json::Value>> = Vec::new();
    for child_input in &input.inputs {
        children.push(workflow::start_child(
            &input.workflow,
            child_input,
            &ChildOptions::default(),
        )?);
    }
    children.into_iter().map(Child::wait).collect()
}

cairn_sdk::workflow!(parent);
