//! Nothing configured: what every tenant gets without an operator having
//! set a quota — the default quotas, and a fair share of a node's slots.

use crate::common::*;
use crate::noisy::{in_tenant, path_of};
use crate::server::Server;
use std::time::Duration;

/// A start with an input of `kib` KiB (a padded chain(1)).
fn padded_start(server: &Server, kib: usize) -> (u16, serde_json::Value) {
    let pad = "x".repeat(kib << 10);
    let body = format!(r#"{{"workflow": "chain", "input": {{"n": 1, "pad": "{pad}"}}}}"#);
    server.http("POST", "/v1/executions", Some(body.as_bytes()))
}

/// A tenant nobody configured has the defaults: a payload past 256 KiB is
/// a coded 429 naming the quota (its body refused before it is parsed),
/// one within it starts, and `tenant describe` shows the quotas in force.
#[test]
fn every_tenant_has_the_default_quotas() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "chain", "chain", &["increment"]);
    let (status, refused) = padded_start(&server, 300);
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["code"], "CAIRN-E031", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("max_payload_bytes = 262144"), "{message}");
    let (status, started) = padded_start(&server, 200);
    assert!((200..300).contains(&status), "{started}");
    let described = server.json(d, &["tenant", "describe", "default"]);
    assert_eq!(
        described["quotas"],
        serde_json::json!({}),
        "no quota of its own: {described}"
    );
    let in_force = &described["effective_quotas"];
    assert_eq!(in_force["max_payload_bytes"], 262_144, "{described}");
    assert_eq!(in_force["starts_per_second"], 1000, "{described}");
    assert_eq!(in_force["max_journal_entries"], 50_000, "{described}");
}

/// A server's `--default-quotas` changes the defaults of its tenants,
/// `none` removes them, and quotas that admit nothing are refused at start.
#[test]
fn a_server_chooses_its_tenants_defaults() {
    let data = data_dir();
    let d = data.path();
    {
        let server = Server::start(d, &["--default-quotas", r#"{"max_payload_bytes": 100000}"#]);
        server.deploy(d, "chain", "chain", &["increment"]);
        let (status, refused) = padded_start(&server, 200);
        assert_eq!(status, 429, "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("= 100000"), "{refused}");
        let described = server.json(d, &["tenant", "describe", "default"]);
        assert_eq!(
            described["effective_quotas"]["starts_per_second"], 1000,
            "the rest stays"
        );
    }
    {
        let server = Server::start(d, &["--default-quotas", "none"]);
        let (status, started) = padded_start(&server, 300);
        assert!((200..300).contains(&status), "{started}");
    }
    let out = cairn(d)
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--default-quotas",
            r#"{"max_running": 0}"#,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a quota of 0 admits nothing"), "{}", stderr(&out));
}

/// Spinners of one tenant hold at most its share of the node's slots: on a
/// node of 4 slots, 6 spinners leave room for another tenant's chain, which
/// completes while they spin (it used to wait until their CPU budgets ran
/// out, a minute here).
#[test]
fn spinners_of_one_tenant_leave_slots_for_another() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &["--max-concurrent", "4", "--cpu-budget-ms", "60000"]);
    for tenant in ["hog", "quiet"] {
        let out = server.cli(d, &["tenant", "create", tenant]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    in_tenant(&server, d, "hog", &["deploy", "spin", &path_of("spin")]);
    let (chain, increment) = (path_of("chain"), path_of("increment"));
    in_tenant(
        &server,
        d,
        "quiet",
        &["deploy", "chain", &chain, "--activity", &increment],
    );
    for i in 0..6 {
        let id = format!("spin-{i}");
        in_tenant(&server, d, "hog", &["start", "spin", "--id", &id, "--input", "{}"]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let answer = in_tenant(
        &server,
        d,
        "quiet",
        &[
            "start",
            "chain",
            "--input",
            r#"{"n": 3}"#,
            "--wait",
            "--timeout-s",
            "20",
        ],
    );
    assert_eq!(answer["status"], "completed", "{answer}");
    let running = in_tenant(&server, d, "hog", &["list", "--status", "running"]);
    assert_eq!(
        running["executions"].as_array().unwrap().len(),
        6,
        "the spinners still spin (or wait for a slot): {running}"
    );
}
