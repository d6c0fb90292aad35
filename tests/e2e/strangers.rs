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
