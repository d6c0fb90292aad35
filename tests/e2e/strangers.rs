//! Hosting strangers' code safely by default: what a guest, a caller or a
//! web page can do without the operator having configured anything.

use crate::common::*;
use crate::server::Server;
use std::time::Duration;

/// A guest's text reaches the node's log escaped and inside a line that
/// names its execution: it cannot forge a line of the node, colour the
/// terminal, or send it NUL bytes — not through its log, its activity's
/// log, nor its failure.
#[test]
fn guest_text_cannot_forge_the_nodes_log() {
    let data = data_dir();
    let forged = "ok\n2026-12-03T00:00:00Z ERROR cairn::node: forged line\u{1b}[31m red\0nul\r";
    let input = serde_json::json!({ "text": forged }).to_string();
    let out = cairn(data.path())
        .env("CAIRN_LOG", "info")
        .args(run_args(&wasm("forger"), &wasm("forger-activity"), &input, &[]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the workflow fails with the text");
    let err = stderr(&out);
    for bad in ['\u{1b}', '\0', '\r'] {
        assert!(!err.contains(bad), "{bad:?} reached the log: {err:?}");
    }
    assert!(
        !err.lines().any(|l| l.starts_with("2026-12-03T00:00:00Z ERROR")),
        "a forged line of its own: {err}"
    );
    let tail = r"ERROR cairn::node: forged line\u{1b}[31m red\0nul\r";
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(tail)).collect();
    // The workflow's log and warning, the activity's log and failure, the
    // execution's failure: each on a line of its own that names it.
    assert!(lines.len() >= 5, "{err}");
    assert!(lines.iter().any(|l| l.contains("] info: ok\\n")), "{err}");
    assert!(lines.iter().any(|l| l.contains("] warn: ok\\n")), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cairn::guest") && l.contains("execution=") && l.contains(r"text=ok\n")),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| l.contains("`forge` failed after 1 attempt(s)")),
        "{err}"
    );
    assert!(lines.iter().any(|l| l.starts_with("error[CAIRN-E015]")), "{err}");
}

/// CPU time (user + system) a process has used, from /proc.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Spinners started on `runs`, terminated through `ends` (the same server,
/// or another node of its store): `runs` uses no more CPU for them within
/// 100 ms (they used to spin on until their CPU budget ran out).
fn terminated_spinners_stop(d: &std::path::Path, runs: &Server, ends: &Server) {
    runs.deploy(d, "spin", "spin", &[]);
    let ids: Vec<String> = (0..2).map(|_| runs.start_execution(d, "spin", "{}")).collect();
    let before = cpu_of(runs.pid());
    std::thread::sleep(Duration::from_millis(700));
    let spun = cpu_of(runs.pid()) - before;
    assert!(
        spun >= Duration::from_millis(300),
        "the spinners run: {spun:?} of CPU in 700 ms"
    );
    for id in &ids {
        let out = ends.cli(d, &["terminate", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = cpu_of(runs.pid());
    std::thread::sleep(Duration::from_millis(1000));
    let idle = cpu_of(runs.pid()) - after;
    assert!(
        idle <= Duration::from_millis(100),
        "terminated spinners still burn CPU: {idle:?} in 1 s"
    );
    for id in &ids {
        assert_eq!(runs.status(d, id).as_deref(), Some("terminated"));
    }
}

/// Terminating a guest that computes without a host call stops it at once.
#[test]
fn terminate_stops_a_spinning_guest_at_once() {
    let data = data_dir();
    let server = Server::start(data.path(), &["--cpu-budget-ms", "60000"]);
    terminated_spinners_stop(data.path(), &server, &server);
}

/// ... on another node too: terminated through one node of a PostgreSQL
/// store, the spinners stop on the node that runs them.
#[test]
fn terminate_stops_a_spinning_guest_on_another_node() {
    let db = PgDb::new();
    let (da, db_dir) = (data_dir(), data_dir());
    let node = |dir: &std::path::Path| Server::start(dir, &["--cpu-budget-ms", "60000", "--database", db.url.as_str()]);
    let (a, b) = (node(da.path()), node(db_dir.path()));
    terminated_spinners_stop(da.path(), &b, &a);
}

/// NUL and other characters no id or name may hold, in a path or a query
/// value: a coded 400 on both stores (PostgreSQL used to answer 503 with
/// the database's text).
fn invalid_characters_are_a_coded_400(server: &Server) {
    let paths = [
        ("GET", "/v1/executions/a%00b"),
        ("GET", "/v1/executions/a%00b/result"),
        ("GET", "/v1/executions/a%00b/journal"),
        ("POST", "/v1/executions/a%00b/cancel"),
        ("POST", "/v1/executions/a%00b/terminate"),
        ("POST", "/v1/executions/a%00b/unpark"),
        ("POST", "/v1/executions/ok/signals/s%00"),
        ("POST", "/v1/executions/a%0Ab/signals/go"),
        ("GET", "/v1/executions?workflow=w%00"),
        ("GET", "/v1/executions?cursor=1:a%00b"),
        ("DELETE", "/v1/schedules/s%00"),
        ("GET", "/v1/tenants/t%00"),
        ("DELETE", "/v1/tenants/t%00"),
        ("GET", "/v1/tokens?tenant=t%00"),
        ("POST", "/v1/tokens/abc%00/revoke"),
        ("GET", "/v1/audit?tenant=t%00"),
    ];
    for (method, path) in paths {
        let body = (method == "POST").then_some(&b"{}"[..]);
        let (status, answer) = server.http(method, path, body);
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "CAIRN-E016", "{method} {path}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(!message.contains('\0') && !message.contains("0x00"), "{message}");
    }
    // A body's names too.
    let start = br#"{"workflow": "w", "id": "a\u0000b"}"#;
    let (status, answer) = server.http("POST", "/v1/executions", Some(start));
    assert_eq!((status, answer["code"].as_str()), (400, Some("CAIRN-E016")), "{answer}");
}

#[test]
fn invalid_characters_are_a_coded_400_on_sqlite() {
    let data = data_dir();
    invalid_characters_are_a_coded_400(&Server::start(data.path(), &[]));
}

#[test]
fn invalid_characters_are_a_coded_400_on_postgres() {
    let (db, data) = (PgDb::new(), data_dir());
    invalid_characters_are_a_coded_400(&Server::start(data.path(), &["--database", db.url.as_str()]));
}

/// The value of a Prometheus counter in a scrape.
fn counter(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// What a tenant is told never names another key than its own names: an
/// execution parked for an activity nobody serves says `execution x1`,
/// not `acme/x1`. And uploading bytes another tenant uploaded first
/// compiles them again (as long as a first upload takes), so an upload's
/// time tells nothing of what others run.
#[test]
fn tenants_see_their_names_and_learn_nothing_from_an_upload() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    for t in ["acme", "other"] {
        let out = server.cli(d, &["tenant", "create", t]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let in_tenant = |t: &str, args: &[&str]| {
        let mut all = vec!["--tenant", t];
        all.extend(args);
        server.json(d, &all)
    };
    let scrape = || {
        server
            .http("GET", "/metrics", None)
            .1
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let chain = wasm("chain");
    let chain = chain.to_str().unwrap();
    let before = counter(&scrape(), "cairn_compile_cache_misses_total");
    in_tenant("acme", &["deploy", "orders", chain]);
    let first = counter(&scrape(), "cairn_compile_cache_misses_total");
    in_tenant("other", &["deploy", "orders", chain]);
    let second = counter(&scrape(), "cairn_compile_cache_misses_total");
    assert_eq!(
        (first - before, second - first),
        (1.0, 1.0),
        "each tenant's first upload compiles"
    );
    in_tenant("other", &["deploy", "orders", chain]);
    assert_eq!(
        counter(&scrape(), "cairn_compile_cache_misses_total"),
        second,
        "its own bytes: cached"
    );

    // No activity bound: the execution parks, and says so in the tenant's names.
    in_tenant("acme", &["start", "orders", "--id", "x1", "--input", r#"{"n": 1}"#]);
    let parked = wait_for(30, "the execution to park", || {
        let e = in_tenant("acme", &["describe", "x1"]);
        (e["status"] == "parked").then_some(e)
    });
    let message = parked["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("execution x1 called activity `increment`"),
        "{message}"
    );
    assert!(!message.contains("acme/"), "the internal key leaked: {message}");
}

/// A schedule comes back with its input as the JSON value it was given.
#[test]
fn a_schedule_keeps_its_input_as_json() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "chain", "chain", &["increment"]);
    let body = br#"{"id": "nightly", "cron": "0 0 3 * * *", "workflow": "chain", "input": {"n": 2}}"#;
    let (status, created) = server.http("POST", "/v1/schedules", Some(body));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["input"], serde_json::json!({"n": 2}), "{created}");
    let (_, listed) = server.http("GET", "/v1/schedules", None);
    assert_eq!(listed[0]["input"], serde_json::json!({"n": 2}), "{listed}");
}
