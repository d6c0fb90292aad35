//! A noisy tenant on a real server, on SQLite and on PostgreSQL: thousands
//! of starts beyond its `max_running` quota are queued (not refused) and
//! admitted in order as its running executions end; its spinning and
//! memory-eating guests fail with their codes after using their own CPU
//! budget; an API flood is answered 429 with Retry-After; and meanwhile
//! another tenant's workflows complete.

use crate::common::*;
use crate::server::Server;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// An answer: status, `Retry-After`, body.
type Answer = (u16, Option<String>, Value);

/// Starts `n` executions of `workflow` in `tenant` over HTTP, 8 at a time;
/// returns the answers.
fn start_many(server: &Server, tenant: &str, workflow: &str, input: &Value, n: usize) -> Vec<Answer> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_util::StreamExt;
        let client = reqwest::Client::new();
        let url = format!("{}/v1/executions", server.url);
        futures_util::stream::iter(0..n)
            .map(|i| {
                let req = client
                    .post(&url)
                    .header("cairn-tenant", tenant)
                    .json(&json!({"workflow": workflow, "id": format!("q-{i:05}"), "input": input}));
                async move {
                    let resp = req.send().await.unwrap();
                    let status = resp.status().as_u16();
                    let retry = resp
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    (status, retry, resp.json().await.unwrap_or(Value::Null))
                }
            })
            .buffer_unordered(8)
            .collect()
            .await
    })
}

/// `cairn` in a tenant against the server; must succeed; JSON output.
pub(crate) fn in_tenant(server: &Server, data: &Path, tenant: &str, args: &[&str]) -> Value {
    let mut all = vec!["--tenant", tenant];
    all.extend(args);
    server.json(data, &all)
}

/// `cairn result ID --wait` in a tenant, whatever its exit code.
pub(crate) fn wait_result(server: &Server, data: &Path, tenant: &str, id: &str) -> (Option<i32>, Value) {
    let args = [
        "--tenant",
        tenant,
        "result",
        id,
        "--wait",
        "--timeout-s",
        "60",
        "--output",
        "json",
    ];
    let out = server.cli(data, &args);
    let result = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    (out.status.code(), result)
}

/// Live (running or sleeping) and queued executions of a tenant.
fn usage(server: &Server, data: &Path, tenant: &str) -> (i64, i64) {
    let d = server.json(data, &["tenant", "describe", tenant]);
    let u = &d["usage"];
    (
        u["unfinished_executions"].as_i64().unwrap(),
        u["queued_executions"].as_i64().unwrap(),
    )
}

/// Waits (up to a minute) until `check` holds.
pub(crate) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The quiet tenant's chain(3) completes.
fn quiet_chain_completes(server: &Server, data: &Path, id: &str) {
    let answer = in_tenant(
        server,
        data,
        "quiet",
        &["start", "chain", "--id", id, "--input", r#"{"n": 3}"#, "--wait"],
    );
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["output"], 3, "{answer}");
}

pub(crate) fn path_of(guest: &str) -> String {
    wasm(guest).to_str().unwrap().to_owned()
}

fn noisy_tenant(store: &[&str], queued: usize) {
    let data = data_dir();
    let d = data.path();
    for (tenant, quotas) in [
        // Starts as fast as 8 clients can send: past the default rate, lifted
        // here (this is about the queue, not the rate).
        ("noisy", vec!["--max-running", "3", "--starts-per-second", "1000000"]),
        ("hog", vec![]),
        ("quiet", vec![]),
    ] {
        let mut args = store.to_vec();
        args.extend(["tenant", "create", tenant]);
        args.extend(quotas);
        let out = run(d, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let budget_ms = 1000u64;
    let budget = budget_ms.to_string();
    let mut args = store.to_vec();
    args.extend(["--cpu-budget-ms", budget.as_str(), "--memory-limit-mb", "32"]);
    let server = Server::start(d, &args);
    let deploy = |tenant: &str, name: &str, workflow: &str, activities: &[&str]| {
        let mut args = vec!["deploy".to_owned(), name.to_owned(), path_of(workflow)];
        for a in activities {
            args.extend(["--activity".to_owned(), path_of(a)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        in_tenant(&server, d, tenant, &args);
    };
    deploy("noisy", "sleeper", "sleeper", &[]);
    deploy("hog", "spin", "spin", &[]);
    deploy("hog", "membomb", "membomb", &[]);
    deploy("quiet", "chain", "chain", &["increment"]);

    // Thousands of starts beyond max_running 3: accepted, queued, not refused.
    let hour = json!({"ms": 3_600_000});
    let answers = start_many(&server, "noisy", "sleeper", &hour, queued);
    let refused: Vec<&Answer> = answers.iter().filter(|a| !(200..300).contains(&a.0)).collect();
    assert!(
        refused.is_empty(),
        "{} starts refused, e.g. {:?}",
        refused.len(),
        refused.first()
    );
    eventually("three run and the rest queue", || {
        usage(&server, d, "noisy") == (3, queued as i64 - 3)
    });
    let queued_page = in_tenant(&server, d, "noisy", &["list", "--status", "queued", "--limit", "5"]);
    assert_eq!(queued_page["executions"].as_array().unwrap().len(), 5, "{queued_page}");

    // Meanwhile the quiet tenant's new execution runs at once.
    quiet_chain_completes(&server, d, "while-queued");

    // Ending one of the three admits the oldest queued one.
    let live = in_tenant(&server, d, "noisy", &["list", "--status", "sleeping"]);
    let first = live["executions"][0]["id"].as_str().unwrap().to_owned();
    let out = server.cli(d, &["--tenant", "noisy", "terminate", &first]);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually("the next queued one is admitted", || {
        usage(&server, d, "noisy") == (3, queued as i64 - 4)
    });

    // Spinners and memory eaters of another tenant: each spinner parks after
    // using its own CPU budget (not after a wall-clock one), the quiet
    // tenant's chain completes while they still spin.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let gate = cores.saturating_sub(1).max(1);
    let spinners = 2 * gate + 2;
    let started = Instant::now();
    let spin_ids: Vec<String> = (0..spinners)
        .map(|i| {
            let id = format!("spin-{i}");
            in_tenant(&server, d, "hog", &["start", "spin", "--id", &id, "--input", "{}"]);
            id
        })
        .collect();
    for i in 0..2 {
        in_tenant(
            &server,
            d,
            "hog",
            &["start", "membomb", "--id", &format!("bomb-{i}"), "--input", "{}"],
        );
    }
    quiet_chain_completes(&server, d, "while-spinning");
    let spinning = in_tenant(
        &server,
        d,
        "hog",
        &["list", "--workflow", "spin", "--status", "running"],
    );
    assert!(
        !spinning["executions"].as_array().unwrap().is_empty(),
        "the quiet chain finished before the spinners used their budgets"
    );
    for id in &spin_ids {
        let (code, result) = wait_result(&server, d, "hog", id);
        assert_eq!(code, Some(3), "{result}");
        assert_eq!(result["status"], "parked", "{result}");
        assert_eq!(result["error"]["code"], "CAIRN-E011", "{result}");
    }
    // They took turns on the gated cores: together they ran at least their
    // budgets one after another, however long each waited for a core.
    let floor = Duration::from_millis(budget_ms * spinners as u64 / gate as u64 * 8 / 10);
    assert!(
        started.elapsed() >= floor,
        "{spinners} spinners on {gate} gated cores all parked after {:?}: the budget is not CPU time",
        started.elapsed()
    );
    for i in 0..2 {
        let (_, result) = wait_result(&server, d, "hog", &format!("bomb-{i}"));
        assert_eq!(result["error"]["code"], "CAIRN-E012", "{result}");
    }

    // An API flood of one tenant is refused with 429 and Retry-After; the
    // quiet tenant is not.
    let mut args = store.to_vec();
    args.extend(["tenant", "update", "noisy", "--starts-per-second", "1"]);
    assert!(run(d, &args).status.success());
    std::thread::sleep(Duration::from_millis(1200)); // quotas are cached for up to 1 s
    let flood = start_many(&server, "noisy", "sleeper", &hour, 100);
    let (status, retry, body) = flood
        .into_iter()
        .find(|a| a.0 == 429)
        .expect("starts 8 at a time pass a limit of 1 a second, however slow the store");
    assert_eq!(status, 429);
    assert_eq!(body["code"], "CAIRN-E034", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("starts_per_second"),
        "{body}"
    );
    let wait: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    quiet_chain_completes(&server, d, "after-flood");
}

#[test]
fn a_noisy_tenant_does_not_hold_back_another_on_sqlite() {
    noisy_tenant(&[], 5000);
}

#[test]
fn a_noisy_tenant_does_not_hold_back_another_on_postgres() {
    let db = PgDb::new();
    noisy_tenant(&["--database", &db.url], 5000);
}

#[test]
fn a_journal_past_its_quota_parks_and_goes_on_once_raised() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &["tenant", "create", "small", "--max-journal-entries", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(d, &[]);
    let (wf, act) = (path_of("chain"), path_of("increment"));
    in_tenant(&server, d, "small", &["deploy", "chain", &wf, "--activity", &act]);
    // chain(10) writes two entries per step: it is stopped at the quota, not killed.
    let args = [
        "--tenant",
        "small",
        "start",
        "chain",
        "--id",
        "long",
        "--input",
        r#"{"n": 10}"#,
        "--wait",
    ];
    let out = server.cli(d, &[&args[..], &["--output", "json"]].concat());
    assert_eq!(out.status.code(), Some(3), "parked: exit code 3");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    assert_eq!(answer["status"], "parked", "{answer}");
    assert_eq!(answer["error"]["code"], "CAIRN-E031", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_journal_entries = 8"), "{message}");
    let journal = in_tenant(&server, d, "small", &["history", "long"]);
    assert!(journal.as_array().unwrap().len() <= 10, "{journal}");
    // Raised, then unparked: it goes on from where it stopped.
    let out = server.cli(d, &["tenant", "update", "small", "--max-journal-entries", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(d, &["--tenant", "small", "unpark", "long"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, result) = wait_result(&server, d, "small", "long");
    assert_eq!(code, Some(0), "{result}");
    assert_eq!(result["output"], 10, "{result}");
}

#[test]
fn a_tenant_past_its_cpu_per_minute_waits_while_another_computes() {
    let data = data_dir();
    let d = data.path();
    for (tenant, quota) in [("capped", Some("300")), ("free", None)] {
        let mut args = vec!["tenant", "create", tenant];
        if let Some(ms) = quota {
            args.extend(["--cpu-ms-per-minute", ms]);
        }
        let out = run(d, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let server = Server::start(d, &["--cpu-budget-ms", "1000"]);
    for tenant in ["capped", "free"] {
        in_tenant(&server, d, tenant, &["deploy", "spin", &path_of("spin")]);
        in_tenant(&server, d, tenant, &["start", "spin", "--id", "spin", "--input", "{}"]);
    }
    // The free tenant's spinner uses its 1 s budget and fails...
    let (_, result) = wait_result(&server, d, "free", "spin");
    assert_eq!(result["error"]["code"], "CAIRN-E011", "{result}");
    // ...while the capped one, allowed 300 ms a minute, still waits for its
    // next minute (at most two minutes' worth, 600 ms, have passed): throttled,
    // not stopped.
    let capped = in_tenant(&server, d, "capped", &["describe", "spin"]);
    assert_eq!(capped["status"], "running", "{capped}");
    let out = server.cli(d, &["--tenant", "capped", "terminate", "spin"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
