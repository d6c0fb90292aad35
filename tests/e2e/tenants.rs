//! Tenants and tokens on a real server: two tenants with the same names
//! never see or touch each other's data, on SQLite and on PostgreSQL;
//! tokens are checked on every request (401 / 403 / 404); revoking one
//! stops it at once on every node; the audit trail records what admins
//! and deployers did.

use crate::common::*;
use crate::server::Server;
use serde_json::{Value, json};
use std::path::Path;

/// `cairn` as a token holder against a server.
pub(crate) fn as_token(server: &Server, data: &Path, token: &str, args: &[&str]) -> std::process::Output {
    cairn(data)
        .args(["--server", &server.url, "--token", token])
        .args(args)
        .output()
        .unwrap()
}

/// Runs a verb that must succeed; returns its stdout.
fn ok(server: &Server, data: &Path, token: &str, args: &[&str]) -> String {
    let out = as_token(server, data, token, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Runs a verb that prints JSON and must succeed.
fn json_of(server: &Server, data: &Path, token: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    serde_json::from_str(&ok(server, data, token, &all)).unwrap()
}

/// A raw request with a bearer token.
pub(crate) fn http(server: &Server, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let bytes = body.map(|b| b.to_string().into_bytes());
    server.http_with(&[("authorization", &auth)], method, path, bytes.as_deref())
}

fn assert_code(answer: (u16, Value), status: u16, code: &str, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    assert_eq!(answer.1["code"], code, "{what}: {}", answer.1);
}

/// A new tenant and a `deploy` token of it, made through the API by an admin.
pub(crate) fn tenant_with_token(server: &Server, admin: &str, tenant: &str) -> String {
    let (status, body) = http(
        server,
        admin,
        "POST",
        "/v1/tenants",
        Some(&serde_json::json!({"name": tenant})),
    );
    assert_eq!(status, 201, "{body}");
    let req = serde_json::json!({"tenant": tenant, "role": "deploy"});
    let (status, created) = http(server, admin, "POST", "/v1/tokens", Some(&req));
    assert_eq!(status, 201, "{created}");
    created["token"].as_str().unwrap().to_owned()
}

/// The first admin token, made directly on the store.
pub(crate) fn first_admin(data: &Path, store: &[&str]) -> String {
    let mut args = store.to_vec();
    args.extend(["token", "create", "--role", "superuser"]);
    let out = run(data, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(token.starts_with("cairn_"), "{token}");
    token
}

fn isolation(store: &[&str]) {
    let data = data_dir();
    let d = data.path();
    let admin = first_admin(d, store);
    let mut args = store.to_vec();
    args.push("--auth");
    let server = Server::start(d, &args);

    for t in ["team-a", "team-b"] {
        ok(&server, d, &admin, &["tenant", "create", t]);
    }
    let token = |tenant: &str, role: &str| {
        ok(
            &server,
            d,
            &admin,
            &["--tenant", tenant, "token", "create", "--role", role],
        )
        .trim()
        .to_owned()
    };
    let (a, b, a_read) = (
        token("team-a", "deploy"),
        token("team-b", "deploy"),
        token("team-a", "read"),
    );

    // Same deployment name and execution id in both tenants, each its own.
    let (chain, increment) = (wasm("chain"), wasm("increment"));
    let deploy = |t: &str| {
        let args = [
            "deploy",
            "orders",
            chain.to_str().unwrap(),
            "--activity",
            increment.to_str().unwrap(),
        ];
        json_of(&server, d, t, &args)
    };
    assert_eq!(deploy(&a)["version"], 1);
    assert_eq!(deploy(&b)["version"], 1, "B's `orders` is its own");
    for (t, n) in [(&a, "3"), (&b, "5")] {
        let input = format!("{{\"n\": {n}}}");
        ok(
            &server,
            d,
            t,
            &["start", "orders", "--id", "order-7", "--input", &input],
        );
    }
    for (t, n) in [(&a, 3), (&b, 5)] {
        let r = json_of(&server, d, t, &["result", "order-7", "--wait", "--timeout-s", "60"]);
        assert_eq!((r["id"].clone(), r["output"].clone()), (json!("order-7"), json!(n)));
    }

    // Everything of A's, addressed with B's token, does not exist.
    ok(
        &server,
        d,
        &a,
        &["start", "orders", "--id", "only-a", "--input", "{\"n\": 1}"],
    );
    ok(
        &server,
        d,
        &a,
        &[
            "schedule",
            "create",
            "nightly",
            "--cron",
            "0 0 3 * * *",
            "--workflow",
            "orders",
        ],
    );
    for (method, path, body) in [
        ("GET", "/v1/executions/only-a", None),
        ("GET", "/v1/executions/only-a/result", None),
        ("GET", "/v1/executions/only-a/journal", None),
        ("POST", "/v1/executions/only-a/signals/go", Some(json!({}))),
        ("POST", "/v1/executions/only-a/cancel", None),
        ("POST", "/v1/executions/only-a/terminate", None),
        ("POST", "/v1/executions/only-a/unpark", None),
        ("DELETE", "/v1/schedules/nightly", None),
    ] {
        assert_code(http(&server, &b, method, path, body.as_ref()), 404, "CAIRN-E005", path);
    }
    // ... nor by lists, filters or cursors.
    let ids = |page: &Value| -> Vec<String> {
        page["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = http(&server, &b, "GET", "/v1/executions?limit=1000", None);
    assert_eq!(ids(&page), ["order-7"], "B lists only its own");
    let (_, page) = http(&server, &b, "GET", "/v1/executions?workflow=orders&limit=1", None);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = http(&server, &b, "GET", &format!("/v1/executions?cursor={cursor}"), None);
    assert!(ids(&next).is_empty(), "B's cursor stays in B: {next}");
    let far = format!("/v1/executions?cursor={}:zzzz", i64::MAX / 2);
    assert_eq!(ids(&http(&server, &b, "GET", &far, None).1), ["order-7"]);
    assert_eq!(http(&server, &b, "GET", "/v1/schedules", None).1, json!([]));
    let (_, deployments) = http(&server, &b, "GET", "/v1/deployments", None);
    assert_eq!(deployments.as_array().unwrap().len(), 1);
    // B deploying over A's name makes B's version 2; A still has version 1 only.
    assert_eq!(deploy(&b)["version"], 2);
    let (_, a_deployments) = http(&server, &a, "GET", "/v1/deployments", None);
    assert_eq!(a_deployments.as_array().unwrap().len(), 1, "{a_deployments}");
    // A component only A uploaded cannot be deployed by B, even by digest.
    let counter = wasm("counter");
    let digest = json_of(&server, d, &a, &["deploy", "count", counter.to_str().unwrap()])["component"]
        .as_str()
        .unwrap()
        .to_owned();
    // HTTP hosts: a deployment may list only hosts the tenant's policy
    // allows, and a policy narrowed later cuts every later execution's list.
    ok(
        &server,
        d,
        &admin,
        &["tenant", "update", "team-a", "--http-host", "*.example.com"],
    );
    let fetch = wasm("http-steps");
    let fetcher = wasm("http-fetch");
    let deploy_fetch = |host: &str| {
        let allow = format!("fetch={host}");
        let (f, a_) = (fetch.to_str().unwrap(), fetcher.to_str().unwrap());
        as_token(
            &server,
            d,
            &a,
            &["deploy", "steps", f, "--activity", a_, "--allow-http", &allow],
        )
    };
    let denied = deploy_fetch("evil.org");
    assert!(stderr(&denied).contains("CAIRN-E032"), "{}", stderr(&denied));
    assert!(deploy_fetch("api.example.com").status.success());
    ok(
        &server,
        d,
        &admin,
        &["tenant", "update", "team-a", "--http-host", "other.net"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100)); // quotas are cached for a second
    ok(
        &server,
        d,
        &a,
        &[
            "start",
            "steps",
            "--id",
            "fetcher",
            "--input",
            "{\"n\": 0, \"url\": \"http://x\"}",
        ],
    );
    let e = json_of(&server, d, &a, &["describe", "fetcher"]);
    assert_eq!(e["bindings"]["http_allow"]["fetch"], json!([]), "{e}");

    // Continued runs stay in their tenant and are shown without it.
    ok(
        &server,
        d,
        &a,
        &["start", "count", "--id", "cnt", "--input", "{\"i\": 0, \"until\": 2}"],
    );
    let r = json_of(&server, d, &a, &["result", "cnt", "--wait", "--timeout-s", "60"]);
    assert_eq!(
        (r["id"].as_str(), r["output"].as_i64()),
        (Some("cnt~2"), Some(2)),
        "{r}"
    );
    assert_code(
        http(&server, &b, "GET", "/v1/executions/cnt~2", None),
        404,
        "CAIRN-E005",
        "A's continued run",
    );
    let deploy_a_component = json!({"name": "stolen", "workflow": digest});
    assert_code(
        http(&server, &b, "POST", "/v1/deployments", Some(&deploy_a_component)),
        404,
        "CAIRN-E005",
        "another tenant's component",
    );
    // A token of `default` (whose keys are bare names) naming A's key
    // with an encoded `/`: refused, as no id holds a `/`.
    let default_read = token("default", "read");
    let sneaky = http(&server, &default_read, "GET", "/v1/executions/team-a%2Fonly-a", None);
    assert_code(sneaky, 400, "CAIRN-E016", "an encoded tenant prefix");
    // B acting "in" A's tenant: not found either.
    let auth_b = format!("Bearer {b}");
    let (status, body) = server.http_with(
        &[("authorization", &auth_b), ("cairn-tenant", "team-a")],
        "GET",
        "/v1/executions/only-a",
        None,
    );
    assert_eq!((status, body["code"].as_str()), (404, Some("CAIRN-E005")), "{body}");

    // Tokens: missing, malformed, unknown → 401; a weak role → 403.
    assert_code(
        server.http("GET", "/v1/executions", None),
        401,
        "CAIRN-E028",
        "no token",
    );
    assert_code(
        http(&server, "not-a-token", "GET", "/v1/executions", None),
        401,
        "CAIRN-E028",
        "malformed",
    );
    let unknown = format!("cairn_000000000000_{}", "0".repeat(64));
    assert_code(
        http(&server, &unknown, "GET", "/v1/executions", None),
        401,
        "CAIRN-E028",
        "unknown",
    );
    let start = json!({"workflow": "orders", "input": {"n": 1}});
    assert_code(
        http(&server, &a_read, "POST", "/v1/executions", Some(&start)),
        403,
        "CAIRN-E029",
        "read starts",
    );
    assert_eq!(http(&server, &a_read, "GET", "/v1/executions/only-a", None).0, 200);
    assert_code(
        http(&server, &a, "GET", "/v1/tenants", None),
        403,
        "CAIRN-E029",
        "deploy lists tenants",
    );

    // Revoked: refused at once, by this node and by any other on the store.
    let second = (store.first() == Some(&"--database")).then(|| Server::start(d, &args));
    let a_id = &a["cairn_".len().."cairn_".len() + 12];
    ok(&server, d, &admin, &["token", "revoke", a_id]);
    assert_code(
        http(&server, &a, "GET", "/v1/executions", None),
        401,
        "CAIRN-E028",
        "revoked",
    );
    if let Some(other) = &second {
        assert_code(
            http(other, &a, "GET", "/v1/executions", None),
            401,
            "CAIRN-E028",
            "revoked elsewhere",
        );
        assert_eq!(http(other, &b, "GET", "/v1/executions/order-7", None).0, 200);
    }

    // The audit trail: who made tenants and tokens, deployed, revoked.
    let audit = json_of(&server, d, &admin, &["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for action in ["tenant.create", "token.create", "deploy", "token.revoke"] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    assert_code(
        http(&server, &b, "GET", "/v1/audit", None),
        403,
        "CAIRN-E029",
        "audit is for admins",
    );

    // Deleting a tenant with a running execution needs --force, then its data is gone.
    let admin_in_b = |args: &[&str]| {
        let mut all = vec!["--tenant", "team-b"];
        all.extend(args);
        as_token(&server, d, &admin, &all)
    };
    let nap = wasm("sleeper");
    assert!(admin_in_b(&["deploy", "nap", nap.to_str().unwrap()]).status.success());
    assert!(
        admin_in_b(&["start", "nap", "--id", "long", "--input", "{\"ms\": 3600000}"])
            .status
            .success()
    );
    let refused = as_token(&server, d, &admin, &["tenant", "delete", "team-b"]);
    assert!(stderr(&refused).contains("CAIRN-E030"), "{}", stderr(&refused));
    ok(&server, d, &admin, &["tenant", "delete", "team-b", "--force"]);
    assert_code(
        http(&server, &b, "GET", "/v1/executions", None),
        401,
        "CAIRN-E028",
        "deleted tenant's token",
    );
    let gone = admin_in_b(&["describe", "order-7"]);
    assert!(stderr(&gone).contains("CAIRN-E005"), "{}", stderr(&gone));
    // A is untouched.
    let r = json_of(&server, d, &admin, &["--tenant", "team-a", "result", "order-7"]);
    assert_eq!(r["output"], 3);
}

#[test]
fn tenants_are_isolated_on_sqlite() {
    isolation(&[]);
}

#[test]
fn tenants_are_isolated_on_postgres() {
    let db = PgDb::new();
    isolation(&["--database", &db.url]);
}

/// Every operation of the OpenAPI document, called without a token, is
/// refused with 401 and a code (health and the document aside).
#[test]
fn every_operation_needs_a_token() {
    let data = data_dir();
    let server = Server::start(data.path(), &["--auth"]);
    let (status, doc) = server.http("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(server.http("GET", "/health", None).0, 200);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace(['{', '}'], "");
        for method in item.as_object().unwrap().keys() {
            if path == "/health" {
                continue;
            }
            let (status, body) = server.http(&method.to_uppercase(), &concrete, Some(b"{}"));
            assert_eq!(
                (status, body["code"].as_str()),
                (401, Some("CAIRN-E028")),
                "{method} {path}: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations");
}

/// Beyond loopback only with auth; the first admin token can come from a
/// file the server writes.
#[test]
fn the_server_guards_its_address_and_makes_the_first_admin_token() {
    let data = data_dir();
    let out = run(data.path(), &["server", "--listen", "0.0.0.0:0", "--quiet"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("CAIRN-E033"), "{}", stderr(&out));

    let file = data.path().join("admin.token");
    let server = Server::start(data.path(), &["--admin-token-file", file.to_str().unwrap()]);
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(http(&server, &token, "GET", "/v1/tenants", None).0, 200);
    assert_eq!(server.http("GET", "/v1/tenants", None).0, 401);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the token file is private");
}

#[test]
fn the_api_can_be_served_over_tls() {
    let data = data_dir();
    let d = data.path();
    // A CA and a certificate for 127.0.0.1 it signed (openssl, as an operator would make them).
    let (ca, cert, key) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
    let ext = d.join("san.ext");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let new_key = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=cairn-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ][..],
            &new_key,
        ]
        .concat(),
    );
    openssl(
        &[
            &[
                "req",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "cert.csr",
            ][..],
            &new_key,
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "cert.pem",
    ]);
    let ca_arg = ca.to_str().unwrap();
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start(d, &["--tls-cert", cert_arg, "--tls-key", key_arg]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);

    // The CLI trusts the server's certificate when told to, and works as over HTTP.
    let trusted = |args: &[&str]| {
        cairn(d)
            .args(["--server", &server.url, "--ca-cert", ca_arg])
            .args(args)
            .output()
            .unwrap()
    };
    let out = trusted(&[
        "deploy",
        "chain",
        wasm("chain").to_str().unwrap(),
        "--activity",
        wasm("increment").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = trusted(&["start", "chain", "--input", r#"{"n": 2}"#, "--wait", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["output"], 2, "{answer}");

    // Without it the certificate is not trusted: a coded error, nothing sent.
    let out = server.cli(d, &["list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("CAIRN-E"), "{}", stderr(&out));
    // Plain HTTP to the TLS port gets no API answer.
    let plain = server.url.replace("https://", "http://");
    let out = cairn(d).args(["--server", &plain, "list"]).output().unwrap();
    assert!(!out.status.success());

    // Half a pair, or a file that is not PEM, is refused at start.
    let out = run(d, &["server", "--tls-cert", cert_arg]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--tls-key"), "{}", stderr(&out));
    let out = run(
        d,
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            key_arg,
            "--tls-key",
            cert_arg,
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("CAIRN-E016"), "{}", stderr(&out));
}

#[test]
fn a_tenant_without_http_cannot_deploy_an_activity_that_imports_it() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &["tenant", "create", "sealed", "--no-http"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = Server::start(d, &[]);
    let deploy = |workflow: &str, activity: &str| {
        let (wf, act) = (wasm(workflow), wasm(activity));
        let args = [
            "--tenant",
            "sealed",
            "deploy",
            "app",
            wf.to_str().unwrap(),
            "--activity",
            act.to_str().unwrap(),
        ];
        server.cli(d, &args)
    };
    let out = deploy("http_steps", "http_fetch");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("CAIRN-E032") && err.contains("wasi:http/"), "{err}");
    // Before anything runs: no deployment was made.
    let (status, listed) = server.http_with(&[("cairn-tenant", "sealed")], "GET", "/v1/deployments", None);
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
    // An activity without HTTP deploys as usual.
    let out = deploy("chain", "increment");
    assert!(out.status.success(), "{}", stderr(&out));
}
