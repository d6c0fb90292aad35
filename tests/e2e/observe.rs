//! What operators see: `GET /metrics` moves as workflows run, parses with
//! Prometheus' own text-format parser (`prometheus_client` from PyPI,
//! installed once into `target/tools/prometheus`), is scoped to a token's
//! tenant, and can be turned off; `GET /v1/status` is the admin's.

use crate::common::*;
use crate::server::Server;
use crate::tenants::{first_admin, http, tenant_with_token};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// The parser, pinned.
const PROMETHEUS_CLIENT: &str = "prometheus-client==0.21.1";

/// Parses Prometheus text with the reference parser: every sample as
/// `(name, labels, value)`; panics if the text does not parse.
fn parse(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let python = python_venv("prometheus", PROMETHEUS_CLIENT).join("bin/python");
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
        print(json.dumps(out))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not Prometheus text: {}\n{text}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `GET /metrics`: status, content type, body.
fn scrape(server: &Server, token: Option<&str>) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(format!("{}/metrics", server.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, kind, resp.text().await.unwrap())
    })
}

/// The sum of the samples named `name` whose labels include `labels`.
pub(crate) fn value(samples: &[(String, BTreeMap<String, String>, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| v)
        .sum()
}

/// Every sample of an open server's `GET /metrics`, read by the reference parser.
pub(crate) fn metrics(server: &Server) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let (status, kind, text) = scrape(server, None);
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    parse(&text)
}

#[test]
fn counters_move_as_workflows_run_and_the_text_parses() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "chain", "chain", &["increment"]);
    server.deploy(d, "saga", "saga", &["payments"]);
    server.deploy(d, "lonely", "chain", &[]);
    let before = metrics(&server);
    let chain = [("tenant", "default"), ("workflow", "chain")];
    assert_eq!(value(&before, "cairn_executions_started_total", &chain), 0.0);

    let r = server.json(d, &["start", "chain", "--input", r#"{"n": 3}"#, "--wait"]);
    assert_eq!(r["output"], 3, "{r}");
    let order = r#"{"order_id": "m1", "item": "unobtainium", "quantity": 1, "amount_cents": 5}"#;
    let failed = server.cli(d, &["start", "saga", "--input", order, "--wait"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    let parked = server.cli(d, &["start", "lonely", "--input", r#"{"n": 1}"#, "--wait"]);
    assert_eq!(parked.status.code(), Some(3), "{}", stderr(&parked));

    let after = metrics(&server);
    let saga = [("tenant", "default"), ("workflow", "saga")];
    let lonely = [("tenant", "default"), ("workflow", "lonely")];
    assert_eq!(value(&after, "cairn_executions_started_total", &chain), 1.0);
    assert_eq!(value(&after, "cairn_executions_completed_total", &chain), 1.0);
    assert_eq!(value(&after, "cairn_executions_failed_total", &saga), 1.0);
    assert_eq!(value(&after, "cairn_executions_parked_total", &lonely), 1.0);
    assert_eq!(value(&after, "cairn_executions_parked", &[("tenant", "default")]), 1.0);
    let increment = [("tenant", "default"), ("activity", "increment")];
    assert_eq!(value(&after, "cairn_activity_attempts_total", &increment), 3.0);
    let ship = [("tenant", "default"), ("activity", "ship")];
    assert!(value(&after, "cairn_activity_failures_total", &ship) >= 1.0);
    for histogram in [
        "cairn_step_duration_seconds_count",
        "cairn_commit_duration_seconds_count",
        "cairn_handoff_lag_seconds_count",
        "cairn_http_request_duration_seconds_count",
    ] {
        assert!(
            value(&after, histogram, &[]) > value(&before, histogram, &[]),
            "{histogram}"
        );
    }
    let starts = [("route", "/v1/executions"), ("status", "200")];
    assert!(value(&after, "cairn_http_requests_total", &starts) >= 1.0);
    assert!(value(&after, "cairn_compile_cache_hits_total", &[]) >= 1.0);
    assert!(value(&after, "cairn_instances_max", &[]) >= 2.0);
}

#[test]
fn a_token_sees_its_own_tenant_and_metrics_can_be_turned_off() {
    let data = data_dir();
    let d = data.path();
    let admin = first_admin(d, &[]);
    let server = Server::start(d, &["--auth"]);
    let (a, b) = (
        tenant_with_token(&server, &admin, "a"),
        tenant_with_token(&server, &admin, "b"),
    );
    for t in [&a, &b] {
        let as_t = |args: &[&str]| {
            let out = cairn(d)
                .args(["--server", &server.url, "--token", t])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        };
        as_t(&[
            "deploy",
            "chain",
            &path(&wasm("chain")),
            "--activity",
            &path(&wasm("increment")),
        ]);
        as_t(&["start", "chain", "--input", r#"{"n": 1}"#, "--wait"]);
    }

    assert_eq!(scrape(&server, None).0, 401, "no token, no metrics");
    let (status, _, text) = scrape(&server, Some(&a));
    assert_eq!(status, 200, "{text}");
    let seen = parse(&text);
    assert_eq!(
        value(&seen, "cairn_executions_completed_total", &[("tenant", "a")]),
        1.0
    );
    assert!(
        seen.iter()
            .all(|(_, l, _)| l.get("tenant").map(String::as_str) == Some("a")),
        "{text}"
    );
    let all = parse(&scrape(&server, Some(&admin)).2);
    assert_eq!(value(&all, "cairn_executions_completed_total", &[("tenant", "b")]), 1.0);
    assert!(
        value(&all, "cairn_instances_max", &[]) > 0.0,
        "an admin sees the node's own metrics"
    );

    let (status, body) = http(&server, &a, "GET", "/v1/status", None);
    assert_eq!((status, &body["code"]), (403, &Value::from("CAIRN-E029")), "{body}");
    let (status, body) = http(&server, &admin, "GET", "/v1/status", None);
    assert_eq!(
        (status, body["backlog"]["completed"].as_i64()),
        (200, Some(2)),
        "{body}"
    );

    let off = data_dir();
    let quiet = Server::start(off.path(), &["--no-metrics"]);
    let (status, _, text) = scrape(&quiet, None);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("CAIRN-E005") && text.contains("--no-metrics"), "{text}");
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}
