//! The web console in a real browser: Debian's `chromium` (installed with
//! apt when missing) driven by `playwright-core` from npm (installed once
//! into `target/tools/playwright`), running `tests/console/console.mjs`
//! against a real server with real workflows. The server-side checks that
//! need no browser (escaping, scoping of every page) are here too.

use crate::common::*;
use crate::server::Server;
use crate::tenants::{first_admin, tenant_with_token};
use std::path::PathBuf;
use std::process::Command;

/// The pinned browser driver.
const PLAYWRIGHT: &str = "playwright-core@1.65.1";

/// Debian's chromium, installed on first use.
fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        if !path.exists() {
            let installed = Command::new("apt-get")
                .args(["install", "-y", "-q", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .unwrap();
            if !installed.success() {
                let updated = Command::new("apt-get").args(["update", "-q"]).status().unwrap();
                assert!(updated.success(), "apt-get update");
                let again = Command::new("apt-get")
                    .args(["install", "-y", "-q", "chromium"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .unwrap();
                assert!(again.success(), "apt-get install chromium");
            }
        }
    }
    path
}

/// `node_modules` with playwright-core, installed on first use.
fn playwright() -> PathBuf {
    let dir = workspace().join("target/tools/playwright");
    let pinned = dir.join(".pinned");
    if std::fs::read_to_string(&pinned).ok().as_deref() != Some(PLAYWRIGHT) {
        std::fs::create_dir_all(&dir).unwrap();
        let installed = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(PLAYWRIGHT)
            .status()
            .unwrap();
        assert!(installed.success(), "npm install {PLAYWRIGHT}");
        std::fs::write(&pinned, PLAYWRIGHT).unwrap();
    }
    dir.join("node_modules")
}

#[test]
fn the_console_shows_a_tenant_its_executions_and_sends_signals_in_a_browser() {
    let data = data_dir();
    let d = data.path();
    let admin = first_admin(d, &[]);
    let server = Server::start(d, &["--auth"]);
    let (a, b) = (
        tenant_with_token(&server, &admin, "a"),
        tenant_with_token(&server, &admin, "b"),
    );
    let as_a = |args: &[&str]| {
        let out = cairn(d)
            .args(["--server", &server.url, "--token", &a])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let chain = wasm("chain").display().to_string();
    let increment = wasm("increment").display().to_string();
    let approval = wasm("approval").display().to_string();
    as_a(&["deploy", "chain", &chain, "--activity", &increment]);
    as_a(&["deploy", "approval", &approval]);
    as_a(&["start", "chain", "--id", "chain-1", "--input", r#"{"n": 3}"#, "--wait"]);
    as_a(&[
        "start",
        "approval",
        "--id",
        "approval-1",
        "--input",
        r#"{"request": "lamp", "timeout_s": 600}"#,
    ]);

    // ES modules find packages beside the script: run a copy next to node_modules.
    let node_modules = playwright();
    let script = node_modules.parent().unwrap().join("console.mjs");
    std::fs::copy(workspace().join("tests/console/console.mjs"), &script).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .env("CHROMIUM", chromium())
        .env("CAIRN_URL", &server.url)
        .env("TOKEN_A", &a)
        .env("TOKEN_B", &b)
        .env("EXPECTED_ROWS", "2")
        .env("EXPECTED_COMPLETED", "1")
        .env("CHAIN_ID", "chain-1")
        .env("CHAIN_STEPS", "5")
        .env("WAITING_ID", "approval-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser checks failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let done = stdout(&out);
    assert!(
        done.contains("ok: with the not-found code"),
        "the script ran to its end:\n{done}"
    );
}

#[test]
fn console_pages_escape_what_they_show_and_need_a_token() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &[]);
    server.deploy(d, "chain", "chain", &["increment"]);
    let id = "x<script>alert(1)</script>";
    let out = server.cli(
        d,
        &["start", "chain", "--id", id, "--input", r#"{"n": 1, "note": "<b>"}"#],
    );
    // An id with markup is not a valid id: refused, so it never reaches a page.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = server.cli(
        d,
        &[
            "start",
            "chain",
            "--id",
            "plain",
            "--input",
            r#"{"n": 1, "note": "<b>bold</b>"}"#,
            "--wait",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, page) = server.http("GET", "/console/executions/plain", None);
    assert_eq!(status, 200);
    let page = page.as_str().unwrap().to_owned();
    assert!(
        page.contains("&lt;b&gt;bold&lt;/b&gt;") && !page.contains("<b>bold</b>"),
        "escaped input"
    );
    for path in [
        "/console/executions",
        "/console/deployments",
        "/console/schedules",
        "/console/app.js",
        "/console/app.css",
    ] {
        assert_eq!(server.http("GET", path, None).0, 200, "{path} on an open server");
    }
    let page = server.http("GET", "/console/executions", None).1;
    assert!(
        !page.as_str().unwrap().contains("http://") && !page.as_str().unwrap().contains("https://"),
        "nothing from elsewhere"
    );
    // Filtered by creation time (UTC without the page's script; a `tz`
    // offset in minutes from the browser's clock otherwise).
    let listed = |query: &str| {
        let (status, page) = server.http("GET", &format!("/console/executions?{query}"), None);
        assert_eq!(status, 200, "{query}: {page}");
        page.as_str().unwrap().contains(">plain</a>")
    };
    assert!(listed("from=2000-01-01T00:00"), "created after 2000");
    assert!(!listed("from=2999-01-01T00:00:00"), "nothing is created in 2999");
    assert!(!listed("to=2000-01-01T00:00&tz=-60"), "nothing before 2000");
    let (status, page) = server.http("GET", "/console/executions?from=yesterday", None);
    assert_eq!(status, 400, "{page}");
    assert!(page.as_str().unwrap().contains("CAIRN-E"), "a code: {page}");

    let secure = data_dir();
    let _admin = first_admin(secure.path(), &[]);
    let locked = Server::start(secure.path(), &["--auth"]);
    let (status, _) = locked.http("GET", "/console/executions", None);
    assert_eq!(status, 200, "redirects are followed to the sign-in page");
    let sign_in = locked.http("GET", "/console/executions", None).1;
    assert!(
        sign_in.as_str().unwrap().contains("name=\"token\""),
        "signed out: the sign-in form"
    );
}
