//! The terminal as a new user meets it: tables that stay aligned, JSON that
//! is JSON, errors in one form with hints that point at the right verb,
//! exit codes as documented, a timeline in `cairn show`, nothing created
//! by a command that only looks. Output is parsed, not eyeballed.

use crate::common::*;
use crate::server::Server;
use serde_json::{Value, json};

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// The column each header starts at, and each row's cell at that column.
fn columns<'a>(text: &'a str, headers: &[&str]) -> (Vec<usize>, Vec<&'a str>) {
    let mut lines = text.lines();
    let head = lines.next().expect("a header line");
    let at: Vec<usize> = headers
        .iter()
        .map(|h| head.find(h).unwrap_or_else(|| panic!("{h}: {head}")))
        .collect();
    (at, lines.collect())
}

#[test]
fn tables_widen_for_long_cells_and_keep_their_columns() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "a-rather-long-workflow-name", "chain", &["increment"]);
    let long_id = "order-with-a-very-long-identifier-0123456789-abcdefghijklmnop";
    let r = server.json(
        d,
        &[
            "start",
            "a-rather-long-workflow-name",
            "--id",
            long_id,
            "--input",
            r#"{"n": 11}"#,
            "--wait",
        ],
    );
    assert_eq!(r["output"], 11);
    let listed = stdout(&server.cli(d, &["list"]));
    let (at, rows) = columns(&listed, &["ID", "STATUS", "WORKFLOW", "CREATED"]);
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(&rows[0][at[0]..at[1]].trim_end(), &long_id, "{listed}");
    assert_eq!(&rows[0][at[1]..at[2]].trim_end(), &"completed", "{listed}");
    assert_eq!(
        &rows[0][at[2]..at[3]].trim_end(),
        &"a-rather-long-workflow-name",
        "{listed}"
    );

    // The journal of 11 steps: seq 10 and above stay in their column, details are whole.
    let history = stdout(&server.cli(d, &["history", long_id]));
    let (at, rows) = columns(&history, &["SEQ", "KIND", "AT (ms)", "DETAIL"]);
    let entries = server.json(d, &["history", long_id]);
    let entries = entries.as_array().unwrap();
    assert_eq!(rows.len(), entries.len(), "{history}");
    for (row, entry) in rows.iter().zip(entries) {
        let seq_end = at[0] + "SEQ".len();
        assert_eq!(
            row[..seq_end].trim_start(),
            entry["seq"].to_string(),
            "right-aligned seq: {row}"
        );
        assert_eq!(row[at[1]..].split_whitespace().next(), entry["kind"].as_str(), "{row}");
        assert_eq!(&row[at[3]..], entry["payload"].to_string(), "the whole detail: {row}");
    }

    let cron = "0 0 3 * * Mon-Fri";
    let s = server.cli(
        d,
        &[
            "schedule",
            "create",
            "nightly-report-for-the-whole-team",
            "--cron",
            cron,
            "--workflow",
            "a-rather-long-workflow-name",
        ],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let schedules = stdout(&server.cli(d, &["schedule", "list"]));
    let (at, rows) = columns(&schedules, &["ID", "CRON", "WORKFLOW", "NEXT"]);
    assert_eq!(&rows[0][at[1]..at[2]].trim_end(), &cron, "{schedules}");
}

#[test]
fn json_output_is_json_and_errors_read_the_same_everywhere() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "saga", "saga", &["payments"]);
    let order = r#"{"order_id": "t1", "item": "unobtainium", "quantity": 1, "amount_cents": 5}"#;
    let out = server.cli(d, &["start", "saga", "--id", "t1", "--input", order, "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("execution t1 failed\nerror[CAIRN-E015]: workflow failed: order-failed"),
        "{err}"
    );
    assert!(
        err.contains("\n  hint: see its journal: `cairn history t1` (a server)"),
        "{err}"
    );

    let described = stdout(&server.cli(d, &["describe", "t1"]));
    assert!(
        described.contains("\nerror      error[CAIRN-E015]: workflow failed"),
        "{described}"
    );
    assert!(!described.contains(r#"{"code""#), "no raw JSON: {described}");

    let listed = server.json(d, &["list"]);
    let e = &listed["executions"][0];
    assert_eq!(e["input"]["item"], "unobtainium", "input is JSON, not text: {e}");
    assert_eq!(e["error"]["code"], "CAIRN-E015", "{e}");
    assert!(e["bindings"]["activities"].is_array(), "{e}");

    // Hints name the verb that helps.
    let gone = server.cli(d, &["schedule", "delete", "nope"]);
    assert!(
        stderr(&gone).contains("hint: list them with `cairn schedule list`"),
        "{}",
        stderr(&gone)
    );
    let five = server.cli(
        d,
        &["schedule", "create", "x", "--cron", "*/5 * * * *", "--workflow", "saga"],
    );
    let five = stderr(&five);
    assert!(
        five.contains("has 5 fields") && five.contains("`0 */5 * * * *`"),
        "{five}"
    );
    assert_eq!(five.lines().count(), 2, "one message line and one hint: {five}");
    let bad = stderr(&server.cli(
        d,
        &[
            "schedule",
            "create",
            "x",
            "--cron",
            "0 */x * * * *",
            "--workflow",
            "saga",
        ],
    ));
    assert!(bad.contains("field 2 (`*/x`) is not valid"), "{bad}");
    assert_eq!(bad.lines().count(), 2, "{bad}");
}

#[test]
fn exit_codes_and_the_limits_are_the_same_locally_and_on_a_server() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "sleeper", "sleeper", &[]);
    let id = server.start_execution(d, "sleeper", r#"{"ms": 60000}"#);
    let running = server.cli(d, &["result", &id]);
    assert_eq!(running.status.code(), Some(5), "still running: {}", stderr(&running));
    assert!(stderr(&running).contains("is running") || stderr(&running).contains("is sleeping"));
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 5 |"] {
        assert!(readme.contains(code), "README documents exit code {code}");
    }

    for (what, out) in [
        ("server", server.cli(d, &["list", "--limit", "0"])),
        ("local", run(d, &["list", "--limit", "0"])),
    ] {
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(
            stderr(&out).starts_with("error[CAIRN-E016]: limit 0 is out of range"),
            "{what}: {}",
            stderr(&out)
        );
    }
    let zero = run(d, &["run", &path(&wasm("chain")), "--cpu-budget-ms", "0"]);
    assert!(
        stderr(&zero).starts_with("error[CAIRN-E016]: --cpu-budget-ms must be at least 1"),
        "{}",
        stderr(&zero)
    );
    let help = stdout(&run(d, &["list", "--help"]));
    for status in [
        "running",
        "sleeping",
        "queued",
        "completed",
        "failed",
        "parked",
        "terminated",
        "continued",
    ] {
        assert!(help.contains(status), "--status help names {status}");
    }

    // The server's options show, and work, only where they do something.
    let run_help = stdout(&run(d, &["run", "--help"]));
    assert!(
        !run_help.contains("--server") && !run_help.contains("--token"),
        "{run_help}"
    );
    assert!(stdout(&run(d, &["list", "--help"])).contains("--server"));
    assert!(stdout(&run(d, &["schedule", "list", "--help"])).contains("--server"));
    let sleeper = path(&wasm("sleeper"));
    let misplaced = run(
        d,
        &["run", "--server", &server.url, &sleeper, "--input", r#"{"ms": 1}"#],
    );
    assert_eq!(misplaced.status.code(), Some(2), "{}", stderr(&misplaced));
    assert!(
        stderr(&misplaced).contains("unexpected argument '--server'"),
        "{}",
        stderr(&misplaced)
    );
    let before = run(
        d,
        &["--server", &server.url, "run", &sleeper, "--input", r#"{"ms": 1}"#],
    );
    assert_eq!(before.status.code(), Some(2), "{}", stderr(&before));
    assert!(
        stderr(&before).contains("`cairn run` does not talk to a server"),
        "{}",
        stderr(&before)
    );
    let exported = cairn(d)
        .env("CAIRN_SERVER", &server.url)
        .args(["run", &path(&wasm("sleeper")), "--input", r#"{"ms": 1}"#])
        .output()
        .unwrap();
    assert!(
        exported.status.success(),
        "an exported CAIRN_SERVER is ignored: {}",
        stderr(&exported)
    );

    // An address without a scheme means http://.
    let bare = server.url.trim_start_matches("http://");
    let out = cairn(d)
        .env("CAIRN_SERVER", bare)
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Identical bytes redeployed: said so. And every version is listed.
    let again = server.cli(d, &["deploy", "sleeper", &path(&wasm("sleeper"))]);
    assert!(
        stderr(&again).contains("note: sleeper@1 has the same component"),
        "{}",
        stderr(&again)
    );
    let deployments = stdout(&server.cli(d, &["deployments"]));
    let (at, rows) = columns(&deployments, &["NAME", "VERSION"]);
    let versions: Vec<&str> = rows
        .iter()
        .map(|r| r[at[1]..].split_whitespace().next().unwrap())
        .collect();
    assert_eq!(versions, ["1", "2"], "{deployments}");
}

#[test]
fn status_reports_without_creating_and_counts_every_end() {
    let data = data_dir();
    let d = data.path();
    let fresh = run(d, &["status"]);
    assert_eq!(fresh.status.code(), Some(1));
    assert!(
        stderr(&fresh).starts_with("error[CAIRN-E020]: there is no Cairn store at"),
        "{}",
        stderr(&fresh)
    );
    assert!(!d.join("cairn.db").exists(), "status created nothing");

    let server = Server::start(d, &[]);
    server.deploy(d, "sleeper", "sleeper", &[]);
    let id = server.start_execution(d, "sleeper", r#"{"ms": 60000}"#);
    let out = server.cli(d, &["terminate", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let through = cairn(d)
        .env("CAIRN_SERVER", &server.url)
        .args(["status", "--output", "json"])
        .output()
        .unwrap();
    assert!(through.status.success(), "{}", stderr(&through));
    let s: Value = serde_json::from_slice(&through.stdout).unwrap();
    assert_eq!(s["backlog"]["terminated"], 1, "{s}");
    let text = stdout(
        &cairn(d)
            .env("CAIRN_SERVER", &server.url)
            .arg("status")
            .output()
            .unwrap(),
    );
    assert!(text.contains(&format!("through the server {}", server.url)), "{text}");
    assert!(text.contains("terminated 1"), "{text}");
}

#[test]
fn a_local_run_shows_a_timeline_logs_plainly_and_resume_names_what_is_parked() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &run_args(&wasm("chain"), &wasm("increment"), r#"{"n": 3}"#, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let id = list(d)[0]["id"].as_str().unwrap().to_owned();
    let shown = stdout(&run(d, &["show", &id]));
    let timeline = shown
        .split("\n\n")
        .find(|part| part.starts_with("SEQ  STEP"))
        .expect("a timeline");
    let steps: Vec<&str> = timeline.lines().skip(1).collect();
    assert_eq!(steps.len(), 5, "started, 3 activities, completed: {timeline}");
    assert!(
        steps[1].contains("activity increment") && steps[1].contains('█'),
        "{timeline}"
    );
    assert!(steps[4].contains("completed"), "{timeline}");

    // A failing activity is logged (as a warning), without colour escapes in a file.
    let order = r#"{"order_id": "l1", "item": "unobtainium", "quantity": 1, "amount_cents": 5}"#;
    let failed = run(d, &run_args(&wasm("saga"), &wasm("payments"), order, &[]));
    let err = stderr(&failed);
    assert!(err.contains("`ship` failed after"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no escapes when stderr is not a terminal: {err:?}"
    );

    // No activity registered: parked, and the message does not list an empty set.
    let parked = run(d, &["run", &path(&wasm("chain")), "--input", r#"{"n": 1}"#]);
    assert_eq!(parked.status.code(), Some(3));
    assert!(stderr(&parked).contains("(none is registered)"), "{}", stderr(&parked));
    let resumed = run(d, &["resume"]);
    assert!(
        stderr(&resumed).contains("1 parked execution(s) wait for an operator"),
        "{}",
        stderr(&resumed)
    );
    let json_lines = run(d, &["db", "migrate"]);
    assert!(!stderr(&json_lines).contains('\u{1b}'), "no spinner when piped");
}

#[test]
fn replay_without_a_workflow_checks_the_one_the_component_implements() {
    let data = data_dir();
    let d = data.path();
    for (guest, activity, input) in [
        ("chain", "increment", json!({"n": 2})),
        ("sleeper", "", json!({"ms": 1})),
    ] {
        let mut args = vec![
            "run".to_owned(),
            path(&wasm(guest)),
            "--input".into(),
            input.to_string(),
        ];
        if !activity.is_empty() {
            args.extend(["--activity".into(), path(&wasm(activity))]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(d, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Named like a stored workflow: only its executions, compatible.
    let same = run(d, &["replay", "--component", &path(&wasm("chain"))]);
    assert!(same.status.success(), "{}\n{}", stdout(&same), stderr(&same));
    assert!(
        stderr(&same).contains("workflow chain (named after the file chain"),
        "{}",
        stderr(&same)
    );
    assert_eq!(stdout(&same).lines().count(), 1, "{}", stdout(&same));
    // No clue, two workflows stored: it asks instead of calling everything diverged.
    let changed = run(d, &["replay", "--component", &path(&wasm("chain-changed"))]);
    assert_eq!(changed.status.code(), Some(1));
    let err = stderr(&changed);
    assert!(
        err.starts_with("error[CAIRN-E016]: which workflow does the component implement?"),
        "{err}"
    );
    assert!(err.contains("chain, sleeper") && err.contains("--workflow"), "{err}");
    let chosen = run(
        d,
        &[
            "replay",
            "--component",
            &path(&wasm("chain-changed")),
            "--workflow",
            "chain",
        ],
    );
    assert_eq!(chosen.status.code(), Some(1), "the changed chain diverges");
    assert!(stdout(&chosen).contains("diverged"), "{}", stdout(&chosen));
}
