//! Calls the `fetch` activity `n` times in sequence against `url?step=i` and
//! returns the bodies: the workload of the kill -9 test.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    url: String,
    n: u32,
}

#[derive(Deserialize)]
struct Reply {
    body: String,
}

fn http_steps(input: Input) -> Result<Vec<String>, Failure> {
    let mut bodies = Vec::new();
    for step in 0..input.n {
        let req = serde_json::json!({ "url": format!("{}?step={step}", input.url) });
        let reply: Reply = workflow::call("fetch", &req)?;
        bodies.push(reply.body);
    }
    Ok(bodies)
}

cairn_sdk::workflow!(http_steps);
