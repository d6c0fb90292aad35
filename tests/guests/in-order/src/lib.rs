//! Starts `n` `fetch` calls at once (`url?call=k`; the first also `slow=1`)
//! and then awaits them in start order: while it waits for the first, the
//! others finish — the workload of the test that a wait commits what led to
//! it once, not once per result that comes meanwhile.

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

fn in_order(input: Input) -> Result<Vec<String>, Failure> {
    let calls: Vec<Activity<Reply>> = (0..input.n)
        .map(|k| {
            let slow = if k == 0 { "&slow=1" } else { "" };
            workflow::start(
                "fetch",
                &serde_json::json!({ "url": format!("{}?call={k}{slow}", input.url) }),
            )
        })
        .collect();
    let mut bodies = Vec::new();
    for call in calls {
        bodies.push(call.wait()?.body);
    }
    Ok(bodies)
}

cairn_sdk::workflow!(in_order);
