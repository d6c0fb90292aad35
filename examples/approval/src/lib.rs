//! `approval`: asks for a decision and waits for the signal `decision`
//! (`{"approved": bool, "by": "..."}`) at most `timeout_s` seconds — a
//! durable wait: it survives restarts and gives its instance up while idle.
//! No decision in time: the request expires.

use cairn_sdk::prelude::*;
use std::time::Duration;

#[derive(Deserialize)]
struct Request {
    request: String,
    timeout_s: u64,
}

#[derive(Deserialize)]
struct Decision {
    approved: bool,
    by: String,
}

#[derive(Serialize)]
struct Outcome {
    request: String,
    status: &'static str,
    by: Option<String>,
}

fn approval(req: Request) -> Result<Outcome, Failure> {
    workflow::log(format!(
        "waiting up to {} s for a decision on {}",
        req.timeout_s, req.request
    ));
    let decision: Option<Decision> = workflow::receive_signal("decision", Some(Duration::from_secs(req.timeout_s)))?;
    let (status, by) = match decision {
        Some(d) if d.approved => ("approved", Some(d.by)),
        Some(d) => ("rejected", Some(d.by)),
        None => ("expired", None),
    };
    Ok(Outcome {
        request: req.request,
        status,
        by,
    })
}

cairn_sdk::workflow!(approval);
