//! `cairn bench --api --console-executions N`: the console's pages with N
//! executions in the store (default 100,000): the list (first page, a
//! filtered page, a page further back by cursor), one execution, the live
//! counts — p50/p99 of 30 loads each, against the target of 50 ms.

use super::{bench_error, fan_out};
use crate::api::client::Client;
use crate::error::Result;
use crate::node::{ListQuery, StartRequest};
use crate::stats::{Samples, ms, verdict};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fills the store with `n` chain(0) executions, waits until they all
/// finished, then times the console's pages.
pub(super) async fn console(client: &Arc<Client>, url: &str, n: usize, out: &impl Fn(String)) -> Result<()> {
    let t = Instant::now();
    let prefix = format!("c{}", std::process::id());
    let c = client.clone();
    fan_out(n, 32, move |i| {
        let (c, id) = (c.clone(), format!("{prefix}-{i}"));
        async move {
            let req = StartRequest {
                workflow: "bench-chain".into(),
                input: json!({ "n": 0 }),
                id: Some(id),
            };
            c.start(&req).await.map(|_| ())
        }
    })
    .await?;
    let unfinished = ListQuery {
        status: Some("running,sleeping,queued".into()),
        limit: Some(1),
        ..Default::default()
    };
    while !client.list(&unfinished).await?.executions.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = client.list(&ListQuery::default()).await?;
    let one = first.executions.first().map(|e| e.id.clone()).unwrap_or_default();
    let back = ListQuery {
        limit: Some(1000),
        ..Default::default()
    };
    let mut deep = client.list(&back).await?;
    for _ in 0..20 {
        match deep.next_cursor.clone() {
            Some(cursor) => {
                deep = client
                    .list(&ListQuery {
                        cursor: Some(cursor),
                        ..back.clone()
                    })
                    .await?
            }
            None => break,
        }
    }
    let cursor = deep.next_cursor.unwrap_or_default();
    out(format!(
        "console with {n} more executions (made in {:.1} s):",
        t.elapsed().as_secs_f64()
    ));
    let http = reqwest::Client::new();
    for (what, path) in [
        ("executions, first page", "/console/executions".to_owned()),
        (
            "executions, completed",
            "/console/executions?status=completed".to_owned(),
        ),
        (
            "executions, none parked",
            "/console/executions?status=parked".to_owned(),
        ),
        (
            "executions, 20,000 back",
            format!("/console/executions?cursor={cursor}"),
        ),
        ("one execution", format!("/console/executions/{one}")),
        ("live counts", "/console/counts".to_owned()),
    ] {
        let mut took = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let response = http.get(format!("{url}{path}")).send().await.map_err(bench_error)?;
            let ok = response.status().is_success();
            response.bytes().await.map_err(bench_error)?;
            if !ok {
                return Err(bench_error(format!("{path} did not answer 200")));
            }
            took.push(t.elapsed());
        }
        let took = Samples::from(took);
        let p50 = took.p50();
        out(format!(
            "  {what:<26} p50 {}  p99 {}  (target < 50 ms: {})",
            ms(p50),
            ms(took.p99()),
            verdict(p50 < Duration::from_millis(50))
        ));
    }
    Ok(())
}
