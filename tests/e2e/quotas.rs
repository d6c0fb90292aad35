//! Quotas a tenant's workflows meet while they run, on a real server: the
//! memory of all its instances, and of all instances on the node (a start
//! beyond it waits for an idle one to leave, it does not fail), the memory
//! and CPU budget of one instance, journal bytes (starts refused, running
//! workflows parked), and timers per second (a workflow past the rate waits).

use crate::common::*;
use crate::noisy::{eventually, in_tenant, path_of, wait_result};
use crate::server::Server;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Bytes the tenant's instances hold on the server.
fn memory_of(server: &Server, data: &std::path::Path, tenant: &str) -> i64 {
    let d = server.json(data, &["tenant", "describe", tenant]);
    d["usage"]["instance_memory_bytes"]
        .as_i64()
        .expect("instance_memory_bytes")
}

fn start(server: &Server, data: &std::path::Path, tenant: &str, id: &str, input: &str) {
    in_tenant(
        server,
        data,
        tenant,
        &["start", "membomb", "--id", id, "--input", input],
    );
}

fn signal_go(server: &Server, data: &std::path::Path, tenant: &str, id: &str) {
    let out = server.cli(data, &["--tenant", tenant, "signal", id, "go", "--payload", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_start_past_the_tenants_memory_total_waits_for_an_idle_instance_to_leave() {
    let data = data_dir();
    let d = data.path();
    for (tenant, quota) in [
        ("mem", ["--max-total-memory-mb", "48"]),
        ("narrow", ["--max-instance-memory-mb", "16"]),
    ] {
        let out = run(d, &["tenant", "create", tenant, quota[0], quota[1]]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Idle instances stay (no eviction by age): only the memory total moves them.
    let server = Server::start(d, &["--memory-limit-mb", "64", "--evict-after-ms", "600000"]);
    for tenant in ["mem", "narrow"] {
        in_tenant(&server, d, tenant, &["deploy", "membomb", &path_of("membomb")]);
    }
    const MIB: i64 = 1 << 20;
    // A takes 30 MiB and waits for a signal, its instance idle.
    start(&server, d, "mem", "a", r#"{"hold_mb": 30}"#);
    eventually("a holds its memory", || memory_of(&server, d, "mem") >= 30 * MIB);
    // B needs 30 more: past 48 MiB, so it waits and A is asked to leave;
    // the tenant never holds more than its total.
    start(&server, d, "mem", "b", r#"{"hold_mb": 30}"#);
    let until = Instant::now() + Duration::from_secs(3);
    let mut most = 0;
    while Instant::now() < until {
        most = most.max(memory_of(&server, d, "mem"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(most <= 48 * MIB, "the tenant held {} MiB, past its 48", most / MIB);
    assert!(memory_of(&server, d, "mem") >= 30 * MIB, "b got its memory");
    // Both complete, one after the other: nothing failed, nothing was lost.
    for id in ["b", "a"] {
        signal_go(&server, d, "mem", id);
        let (code, result) = wait_result(&server, d, "mem", id);
        assert_eq!(code, Some(0), "{result}");
        assert_eq!(result["output"], 30, "{result}");
    }
    // What could never fit in the total fails, naming it.
    start(&server, d, "mem", "huge", r#"{"hold_mb": 60}"#);
    let (_, result) = wait_result(&server, d, "mem", "huge");
    assert_eq!(result["error"]["code"], "CAIRN-E012", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains("tenant's total of 48 MiB"), "{message}");
    // A tenant's cap on one instance, below the server's.
    start(&server, d, "narrow", "wide", r#"{"hold_mb": 30}"#);
    let (_, result) = wait_result(&server, d, "narrow", "wide");
    assert_eq!(result["error"]["code"], "CAIRN-E012", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains("16 MiB"), "{message}");
    assert_eq!(
        memory_of(&server, d, "mem"),
        0,
        "ended instances give their memory back"
    );
}

#[test]
fn timers_past_the_tenants_rate_wait_for_it() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &["tenant", "create", "slow", "--timers-per-second", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(d, &[]);
    in_tenant(&server, d, "slow", &["deploy", "sleeper", &path_of("sleeper")]);
    let started = Instant::now();
    let n = 5;
    for i in 0..n {
        let id = format!("nap-{i}");
        in_tenant(
            &server,
            d,
            "slow",
            &["start", "sleeper", "--id", &id, "--input", r#"{"ms": 1}"#],
        );
    }
    for i in 0..n {
        let (code, result): (Option<i32>, Value) = wait_result(&server, d, "slow", &format!("nap-{i}"));
        assert_eq!(code, Some(0), "{result}");
    }
    // One a second, after a burst of one: the fifth timer starts 4 s in.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(3500),
        "5 timers at 1/s took only {took:?}"
    );
}

#[test]
fn a_tenant_whose_journals_are_full_parks_and_is_refused_starts() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &["tenant", "create", "full"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(d, &[]);
    let (chain, inc) = (path_of("chain"), path_of("increment"));
    in_tenant(&server, d, "full", &["deploy", "chain", &chain, "--activity", &inc]);
    in_tenant(&server, d, "full", &["deploy", "sleeper", &path_of("sleeper")]);
    let journal_bytes = || {
        server.json(d, &["tenant", "describe", "full"])["usage"]["journal_bytes"]
            .as_i64()
            .unwrap()
    };
    in_tenant(
        &server,
        d,
        "full",
        &["start", "sleeper", "--id", "nap", "--input", r#"{"ms": 4000}"#],
    );
    let room = (journal_bytes() + 50).to_string();
    let out = server.cli(d, &["tenant", "update", "full", "--max-journal-bytes", &room]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(1200)); // quotas are cached for up to 1 s
    // Below the quota a start goes; its journal fills the rest.
    let done = in_tenant(
        &server,
        d,
        "full",
        &["start", "chain", "--id", "first", "--input", r#"{"n": 3}"#, "--wait"],
    );
    assert_eq!(done["status"], "completed", "{done}");
    assert!(journal_bytes() > room.parse().unwrap());
    std::thread::sleep(Duration::from_millis(1200)); // journal bytes are read again after 1 s
    // Full: a start is refused with the quota's code, naming it.
    let out = server.cli(
        d,
        &[
            "--tenant",
            "full",
            "start",
            "chain",
            "--id",
            "second",
            "--input",
            "{\"n\": 1}",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("CAIRN-E031") && err.contains("max_journal_bytes"), "{err}");
    // The sleeper's next call after it wakes parks it, naming the quota.
    let (code, result) = wait_result(&server, d, "full", "nap");
    assert_eq!(code, Some(3), "parked: {result}");
    assert_eq!(result["error"]["code"], "CAIRN-E031", "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_journal_bytes"),
        "{result}"
    );
    // Raised and unparked, it goes on.
    let out = server.cli(d, &["tenant", "update", "full", "--max-journal-bytes", "100000000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(1200));
    let out = server.cli(d, &["--tenant", "full", "unpark", "nap"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, result) = wait_result(&server, d, "full", "nap");
    assert_eq!(code, Some(0), "{result}");
}

#[test]
fn past_the_nodes_memory_total_another_tenants_idle_instance_leaves() {
    let data = data_dir();
    let d = data.path();
    for tenant in ["one", "two"] {
        let out = run(d, &["tenant", "create", tenant]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let args = [
        "--memory-limit-mb",
        "64",
        "--total-memory-mb",
        "64",
        "--evict-after-ms",
        "600000",
    ];
    let server = Server::start(d, &args);
    const MIB: i64 = 1 << 20;
    for tenant in ["one", "two"] {
        in_tenant(&server, d, tenant, &["deploy", "membomb", &path_of("membomb")]);
    }
    start(&server, d, "one", "a", r#"{"hold_mb": 40}"#);
    eventually("one holds its memory", || memory_of(&server, d, "one") >= 40 * MIB);
    // Two's start does not fit beside it: one's idle instance is asked to leave.
    start(&server, d, "two", "b", r#"{"hold_mb": 40}"#);
    eventually("two holds its memory, one none", || {
        memory_of(&server, d, "two") >= 40 * MIB && memory_of(&server, d, "one") == 0
    });
    for (tenant, id) in [("two", "b"), ("one", "a")] {
        signal_go(&server, d, tenant, id);
        let (code, result) = wait_result(&server, d, tenant, id);
        assert_eq!(code, Some(0), "{result}");
        assert_eq!(result["output"], 40, "{result}");
    }
}

#[test]
fn a_tenants_cpu_budget_below_the_servers_stops_its_spinner_sooner() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &["tenant", "create", "brief", "--cpu-budget-ms", "200"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(d, &["--cpu-budget-ms", "60000"]);
    in_tenant(&server, d, "brief", &["deploy", "spin", &path_of("spin")]);
    in_tenant(&server, d, "brief", &["start", "spin", "--id", "spin", "--input", "{}"]);
    let (code, result) = wait_result(&server, d, "brief", "spin");
    assert_eq!(code, Some(3), "parked: {result}");
    assert_eq!(result["error"]["code"], "CAIRN-E011", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains("200ms"), "{message}");
}
