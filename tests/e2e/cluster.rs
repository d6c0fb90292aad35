//! Several `cairn server` nodes on one PostgreSQL database: failover after
//! kill -9, status reporting.

use crate::common::*;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `cairn server` process; killed when dropped.
pub struct Node(pub Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a node on `url` with its own data directory (compile cache).
pub fn start_node(url: &str, dir: &std::path::Path, lease_ms: u32) -> Node {
    let child = cairn(dir)
        .args([
            "server",
            "--database",
            url,
            "--lease-ms",
            &lease_ms.to_string(),
            "--quiet",
            "--poll-ms",
            "100",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("CAIRN_LOG", "cairn=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("node.log")).unwrap())
        .spawn()
        .unwrap();
    Node(child)
}

/// Enqueues `http-steps` (n steps against `server?wf=k`) on the database at
/// `url` with `run --detach`; returns the execution id.
pub fn enqueue_http_steps(url: &str, dir: &std::path::Path, server: &TestServer, k: usize, n: u32) -> String {
    let (wf, act) = (wasm("http-steps"), wasm("http-fetch"));
    let allow = format!("fetch=127.0.0.1:{}", server.port);
    let input = serde_json::json!({ "url": format!("{}?wf={k}", server.url()), "n": n }).to_string();
    let args = run_args(&wf, &act, &input, &["--allow-http", &allow, "--detach"]);
    let out = cairn_pg(url, dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

fn cairn_pg<S: AsRef<std::ffi::OsStr>>(url: &str, dir: &std::path::Path, args: &[S]) -> std::process::Output {
    cairn(dir).arg("--database").arg(url).args(args).output().unwrap()
}

/// Executions by id with their status and output, read through the CLI.
fn executions(url: &str, dir: &std::path::Path) -> Vec<serde_json::Value> {
    let out = cairn_pg(url, dir, &["list", "--limit", "1000", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn journal(url: &str, dir: &std::path::Path, id: &str) -> Vec<serde_json::Value> {
    let out = cairn_pg(url, dir, &["show", id, "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["journal"].as_array().unwrap().clone()
}

#[test]
fn kill9_one_of_three_nodes_under_load_and_every_workflow_completes_once() {
    let db = PgDb::new();
    let dirs: Vec<_> = (0..4).map(|_| data_dir()).collect();
    let server = TestServer::start(150, 0);
    let out = cairn_pg(&db.url, dirs[3].path(), &["db", "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mut nodes: Vec<Option<Node>> = (0..3)
        .map(|i| Some(start_node(&db.url, dirs[i].path(), 2000)))
        .collect();
    const N: usize = 24;
    let mut ids = Vec::new();
    for k in 0..N {
        let id = enqueue_http_steps(&db.url, dirs[3].path(), &server, k, 4);
        ids.push((k, id));
    }
    // Under load: kill -9 the node holding the most leases.
    wait_for(60, "work in flight", || (server.requests().len() >= N).then_some(()));
    let killed_at = Instant::now();
    kill_busiest(&db.url, dirs[3].path(), &mut nodes);

    // Every execution completes on the surviving nodes.
    wait_for(90, "all executions to complete", || {
        let execs = executions(&db.url, dirs[3].path());
        (execs.len() == N && execs.iter().all(|e| e["status"] == "completed")).then_some(())
    });
    assert!(killed_at.elapsed() < Duration::from_secs(60));

    let requests = server.requests();
    for (k, id) in &ids {
        let entries = journal(&db.url, dirs[3].path(), id);
        assert_eq!(
            entries.iter().filter(|e| e["kind"] == "completed").count(),
            1,
            "{id} completed exactly once"
        );
        let output = &entries.last().unwrap()["payload"]["output"];
        let expected: Vec<String> = (0..4).map(|s| format!("ok:wf={k}?step={s}")).collect();
        assert_eq!(
            output.as_str().map(|o| serde_json::from_str::<Vec<String>>(o).unwrap()),
            Some(expected)
        );
        // No completed activity ran again: every request for a step arrived
        // before that step's (final) result was journaled.
        let done_times: Vec<i64> = entries
            .iter()
            .filter(|e| e["kind"] == "activity.done")
            .map(|e| humantime::parse_rfc3339(e["at"].as_str().unwrap()).unwrap())
            .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64)
            .collect();
        assert_eq!(done_times.len(), 4);
        for (step, done) in done_times.iter().enumerate() {
            let target = format!("/?wf={k}?step={step}");
            let seen: Vec<_> = requests.iter().filter(|r| r.target == target).collect();
            assert!(!seen.is_empty(), "{target} ran");
            for r in &seen {
                assert!(
                    r.at_ms <= *done + 5,
                    "{target} ran again after its result was journaled"
                );
            }
            assert!(
                seen.iter().all(|r| r.key == seen[0].key),
                "retries of {target} share the idempotency key"
            );
        }
    }
    drop(nodes);
}

/// kill -9 the node holding the most leases (it must be one of `nodes`).
fn kill_busiest(url: &str, dir: &std::path::Path, nodes: &mut [Option<Node>]) {
    let out = cairn_pg(url, dir, &["status", "--output", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let busiest = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|n| n["leases"].as_i64().unwrap())
        .unwrap()
        .clone();
    assert!(busiest["leases"].as_i64().unwrap() >= 1, "{status}");
    let pid: u32 = busiest["id"]
        .as_str()
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let index = nodes
        .iter()
        .position(|n| n.as_ref().is_some_and(|n| n.0.id() == pid))
        .expect("the busiest node is ours");
    let mut victim = nodes[index].take().unwrap();
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();
    std::mem::forget(victim);
}

/// Enqueues `chain(n)` with `run --detach`; returns the execution id.
pub fn enqueue_chain(url: &str, dir: &std::path::Path, n: u32) -> String {
    let (wf, act) = (wasm("chain"), wasm("increment"));
    let input = format!("{{\"n\": {n}}}");
    let args = run_args(&wf, &act, &input, &["--detach"]);
    let out = cairn_pg(url, dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// Every journal of `ids` holds one completion with output `n`, `n`
/// activity results and no gap: nothing a crash interrupted was lost or
/// written twice.
pub fn assert_chains_complete(url: &str, dir: &std::path::Path, ids: &[String], n: u64) {
    for id in ids {
        let entries = journal(url, dir, id);
        let completed: Vec<_> = entries.iter().filter(|e| e["kind"] == "completed").collect();
        assert_eq!(completed.len(), 1, "{id} completed exactly once");
        assert_eq!(completed[0]["payload"]["output"], n.to_string(), "{id}");
        let done = entries.iter().filter(|e| e["kind"] == "activity.done").count();
        assert_eq!(done as u64, n, "{id}: one result per step");
        let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "{id}: no gap");
    }
}

#[test]
fn kill9_in_the_middle_of_group_commits_loses_nothing() {
    let db = PgDb::new();
    let dirs: Vec<_> = (0..3).map(|_| data_dir()).collect();
    let out = cairn_pg(&db.url, dirs[2].path(), &["db", "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Many chains stepping at once: every commit of a node is a batch.
    let ids: Vec<String> = (0..16).map(|_| enqueue_chain(&db.url, dirs[2].path(), 60)).collect();
    let mut nodes: Vec<Option<Node>> = (0..2)
        .map(|i| Some(start_node(&db.url, dirs[i].path(), 2000)))
        .collect();
    wait_for(60, "steps committing", || {
        let out = cairn_pg(&db.url, dirs[2].path(), &["status", "--output", "json"]);
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (s["backlog"]["leased"].as_i64()? >= 4).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    kill_busiest(&db.url, dirs[2].path(), &mut nodes);
    wait_for(120, "every chain to complete", || {
        let execs = executions(&db.url, dirs[2].path());
        (execs.len() == ids.len() && execs.iter().all(|e| e["status"] == "completed")).then_some(())
    });
    assert_chains_complete(&db.url, dirs[2].path(), &ids, 60);
    drop(nodes);
}

#[test]
fn status_reports_schema_nodes_and_backlog_and_explains_bad_databases() {
    let dir = data_dir();
    // Unreachable.
    let out = cairn_pg("postgres://postgres@127.0.0.1:1/nowhere", dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error[CAIRN-E019]"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"));
    assert!(!stderr(&out).contains("panicked"));

    // Uninitialized: reachable, version 0, what to run.
    let db = PgDb::new();
    let out = cairn_pg(&db.url, dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("migration(s) pending"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("error[CAIRN-E020]") && stderr(&out).contains("cairn db migrate"),
        "{}",
        stderr(&out)
    );
    let out = cairn_pg(&db.url, dir.path(), &["list"]);
    assert!(stderr(&out).contains("CAIRN-E020"), "{}", stderr(&out));

    // Migrated, one node, some backlog.
    let out = cairn_pg(&db.url, dir.path(), &["db", "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (wf, act) = (wasm("chain"), wasm("increment"));
    let out = cairn_pg(&db.url, dir.path(), &run_args(&wf, &act, "{\"n\": 2}", &["--detach"]));
    assert!(out.status.success());
    let out = cairn_pg(&db.url, dir.path(), &["status", "--output", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["schema_version"], s["latest_version"]);
    assert_eq!(s["backlog"]["runnable"], 1);
    let node_dir = data_dir();
    let _node = start_node(&db.url, node_dir.path(), 3000);
    let s = wait_for(30, "the node to run the backlog", || {
        let out = cairn_pg(&db.url, dir.path(), &["status", "--output", "json"]);
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (s["backlog"]["completed"] == 1 && s["nodes"].as_array().unwrap().len() == 1).then_some(s)
    });
    assert_eq!(s["backlog"]["runnable"], 0);
    assert_eq!(s["pending_migrations"], 0);
    let text = stdout(&cairn_pg(&db.url, dir.path(), &["status"]));
    assert!(
        text.contains("(current)") && text.contains("nodes      1 live"),
        "{text}"
    );
}
