//! The API contract, checked by a property-based fuzzer: schemathesis 4
//! (from PyPI, installed once into `target/tools/schemathesis`) runs every
//! check against a real server's `/openapi.json`, once without auth and
//! once with `--auth` and an admin token. Any 5xx, undocumented status,
//! schema mismatch, accepted invalid request or rejected valid one fails.
//! What a schema cannot say (a component's bytes, a cron expression) comes
//! from `tests/schemathesis/hooks.py`.

use crate::common::*;
use crate::server::Server;
use std::path::PathBuf;
use std::process::Command;

/// The pinned fuzzer.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The fuzzer's executable, installed on first use.
fn schemathesis() -> PathBuf {
    python_venv("schemathesis", SCHEMATHESIS).join("bin/schemathesis")
}

/// Runs every check against `server`, optionally with a bearer token.
fn fuzz(server: &Server, token: Option<&str>) {
    // It keeps a cache in its working directory: a scratch one, not the sources.
    let scratch = data_dir();
    let mut cmd = Command::new(schemathesis());
    cmd.current_dir(scratch.path())
        .env("PYTHONPATH", workspace().join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("CAIRN_ST_WORKFLOW", wasm("chain"))
        .env("CAIRN_ST_ACTIVITY", wasm("increment"))
        .args(["run", &format!("{}/openapi.json", server.url)])
        .args(["--checks", "all", "--max-examples", "25", "--seed", "11", "--no-color"]);
    if let Some(token) = token {
        // The fuzzer may revoke tokens it lists, but not its own.
        let id = token.split('_').nth(1).unwrap_or_default();
        cmd.env("CAIRN_ST_TOKEN_ID", id);
        cmd.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "schemathesis found contract violations ({}):\n{}\n{}",
        if token.is_some() {
            "with a token"
        } else {
            "without auth"
        },
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn the_fuzzer_finds_nothing_without_auth() {
    let data = data_dir();
    let server = Server::start(data.path(), &[]);
    fuzz(&server, None);
}

#[test]
fn the_fuzzer_finds_nothing_with_a_token() {
    let data = data_dir();
    let file = data.path().join("admin.token");
    let server = Server::start(data.path(), &["--admin-token-file", file.to_str().unwrap()]);
    let token = std::fs::read_to_string(&file).unwrap();
    fuzz(&server, Some(token.trim()));
}
