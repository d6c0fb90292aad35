//! kill -9 in the middle of a workflow, then `cairn resume`.

use crate::common::*;
use std::process::Stdio;
use std::sync::atomic::Ordering;

fn completed_activities(journal: &serde_json::Value) -> usize {
    journal["journal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "activity.done")
        .count()
}

/// In every language (its own http-steps workflow and fetch activity):
/// steps journaled before the kill do not run again, the call in flight
/// runs again with the same key as attempt 2.
#[test]
fn kill9_mid_workflow_then_resume_repeats_no_completed_activity() {
    for (lang, built) in LANGUAGES {
        let name = |n: &str| {
            if lang == "rust" {
                n.to_owned()
            } else {
                n.replace('-', "_")
            }
        };
        kill9_then_resume(&built(&name("http-steps")), &built(&name("http-fetch")));
    }
}

fn kill9_then_resume(workflow: &std::path::Path, activity: &std::path::Path) {
    let data = data_dir();
    let server = TestServer::start(250, 0);
    let input = serde_json::json!({ "url": server.url(), "n": 6 }).to_string();
    let allow = format!("fetch=127.0.0.1:{}", server.port);
    let mut child = cairn(data.path())
        .args(run_args(
            workflow,
            activity,
            &input,
            &["--allow-http", &allow, "--lease-ms", "60000"],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(60, "three requests", || (server.requests().len() >= 3).then_some(()));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before_kill = server.requests().len();

    let execs = list(data.path());
    assert_eq!(execs.len(), 1);
    let id = execs[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(execs[0]["status"], "running");
    let before = show(data.path(), &id);
    let done_before = completed_activities(&before);
    assert!(done_before >= 1, "some steps were journaled before the kill");

    // The lease of the killed process is still live (60 s): resume takes it
    // over because its owner process is dead.
    let out = run(data.path(), &["resume", "--output", "json"]);
    assert!(out.status.success(), "resume failed: {}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["status"], "completed", "{}", workflow.display());
    let expected: Vec<String> = (0..6).map(|i| format!("ok:step={i}")).collect();
    assert_eq!(result["output"], serde_json::json!(expected));

    for step in 0..6 {
        let n = server.count(&format!("step={step}"));
        if step < done_before {
            assert_eq!(n, 1, "step {step} completed before the kill and must not run again");
        } else {
            assert!(n >= 1, "step {step} ran");
        }
    }
    // A repeated attempt carries the same idempotency key.
    let keys: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|s| s.target.ends_with(&format!("step={done_before}")))
        .map(|s| s.key)
        .collect();
    assert!(
        keys.iter().all(|k| k.is_some() && *k == keys[0]),
        "same key on every attempt: {keys:?}"
    );
    // The call the killed process had in flight is another attempt: the
    // activity sees attempt 2; every call made after that is a first one.
    let attempts: Vec<Option<u32>> = server.requests().iter().map(|s| s.attempt).collect();
    let (killed, resumed) = attempts.split_at(before_kill);
    let lang = activity.display();
    assert!(
        killed.iter().all(|a| *a == Some(1)),
        "{lang}: before the kill: {attempts:?}"
    );
    assert_eq!(resumed[0], Some(2), "{lang}: the repeat is attempt 2: {attempts:?}");
    assert!(
        resumed[1..].iter().all(|a| *a == Some(1)),
        "{lang}: later calls: {attempts:?}"
    );
    let after = show(data.path(), &id);
    assert_eq!(after["execution"]["status"], "completed");
    assert_eq!(completed_activities(&after), 6);
    // The entries journaled before the kill are unchanged.
    let old = before["journal"].as_array().unwrap();
    assert_eq!(&after["journal"].as_array().unwrap()[..old.len()], &old[..]);
}

#[test]
fn clock_and_randomness_are_identical_across_a_crash() {
    let data = data_dir();
    let server = TestServer::start(0, 60_000);
    let input = serde_json::json!({ "url": server.url() }).to_string();
    let allow = format!("127.0.0.1:{}", server.port);
    let mut child = cairn(data.path())
        .args(run_args(
            &wasm("clock-random"),
            &wasm("http-fetch"),
            &input,
            &["--allow-http", &allow],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(60, "the slow request", || {
        server
            .requests()
            .iter()
            .any(|s| s.target.contains("slow=1"))
            .then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let reported = server
        .requests()
        .iter()
        .find_map(|s| s.target.split_once("report=").map(|x| x.1.to_owned()))
        .expect("values reported before the crash");

    server.slow_ms.store(0, Ordering::SeqCst);
    let out = run(data.path(), &["resume", "--output", "json"]);
    assert!(out.status.success(), "resume failed: {}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["status"], "completed");
    assert_eq!(
        result["output"].as_str().unwrap(),
        reported,
        "SystemTime::now, getrandom, HashMap order and context values replay identically"
    );
    assert_eq!(
        server.count(&format!("report={reported}")),
        1,
        "the report activity completed before the crash and did not run again"
    );
    let parts: Vec<&str> = reported.split('-').collect();
    assert_eq!(parts.len(), 5, "{reported}");
    assert!(
        parts[0].parse::<u128>().unwrap() > 1_600_000_000_000_000_000,
        "the clock reads a plausible wall time"
    );
}
