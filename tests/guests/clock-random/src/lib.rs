//! Reads the standard library's clock, `getrandom`, a HashMap's random seed
//! and the journaled context time/random, reports them to an HTTP server
//! through the `fetch` activity, then makes a slow second call (the test
//! kills the runtime there) and returns the values. After replay the
//! returned values must equal the reported ones.

use cairn_sdk::prelude::*;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Deserialize)]
struct Input {
    url: String,
}

fn clock_random(input: Input) -> Result<String, Failure> {
    let system_now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| Failure::new("getrandom", e.to_string()))?;
    let getrandom = u64::from_le_bytes(bytes);
    let map: HashMap<u32, u32> = (0..16).map(|i| (i, i)).collect();
    let map_order: Vec<u32> = map.keys().copied().collect();
    let ctx_now = workflow::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let ctx_random = workflow::random_u64();
    let values = format!("{system_now}-{getrandom}-{map_order:?}-{ctx_now}-{ctx_random}");
    let values = values.replace([' ', '[', ']', ','], "");
    let report = serde_json::json!({ "url": format!("{}?report={values}", input.url) });
    let _: serde_json::Value = workflow::call("fetch", &report)?;
    let slow = serde_json::json!({ "url": format!("{}?slow=1", input.url) });
    let _: serde_json::Value = workflow::call("fetch", &slow)?;
    Ok(values)
}

cairn_sdk::workflow!(clock_random);
