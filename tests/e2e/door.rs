//! No open door: what a web page the operator visits, a DNS-rebinding
//! page, or a token nobody vouched for can do to a server (nothing), with
//! and without `--auth`; the console's session, CSRF token and security
//! headers; a tenant's admin against another tenant.

use crate::common::*;
use crate::server::Server;
use crate::tenants::{as_token, first_admin, http};
use serde_json::{Value, json};

/// A raw request: status, headers, body text. Redirects are not followed.
fn raw(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut req = client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.body(b.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    })
}

/// The CSRF token a console page's forms carry.
fn csrf_in(page: &str) -> String {
    let field = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .expect("a form with a CSRF token");
    field.split('"').next().unwrap().to_owned()
}

fn code_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .map(|v| v["code"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

fn executions(server: &Server) -> usize {
    let (status, page) = server.http("GET", "/v1/executions", None);
    assert_eq!(status, 200, "{page}");
    page["executions"].as_array().unwrap().len()
}

/// An open server (no `--auth`) answers its CLI, but no web page: not by a
/// DNS-rebinding name, not by a cross-site form or fetch, not by a JSON
/// body sent as a form type; every answer carries the security headers.
#[test]
fn a_web_page_cannot_reach_an_open_server() {
    let data = data_dir();
    let server = Server::start(data.path(), &["--allowed-host", "cairn.test"]);
    server.deploy(data.path(), "orders", "chain", &["increment"]);
    let start = r#"{"workflow": "orders", "input": {"n": 1}}"#;
    let url = format!("{}/v1/executions", server.url);
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let json_type = ("content-type", "application/json");
    // A rebinding page: its own name in Host, even for reads.
    let evil = format!("evil.example:{port}");
    for method in ["GET", "POST"] {
        let (status, headers, body) = raw(&url, method, &[("host", &evil), json_type], Some(start));
        assert_eq!(
            (status, code_of(&body).as_str()),
            (403, "CAIRN-E036"),
            "{method}: {body}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "refusals carry the headers too");
    }
    let named = format!("cairn.test:{port}");
    assert_eq!(raw(&url, "GET", &[("host", &named)], None).0, 200, "an allowed name");
    // Cross-site requests that change something: by Origin, by Sec-Fetch-Site.
    let own = format!("http://127.0.0.1:{port}");
    let other_port = "http://127.0.0.1:1".to_owned();
    for headers in [
        vec![("origin", "http://evil.example"), json_type],
        vec![("origin", other_port.as_str()), json_type],
        vec![("origin", "null"), json_type],
        vec![("sec-fetch-site", "cross-site"), json_type],
        vec![("sec-fetch-site", "same-site"), ("origin", own.as_str()), json_type],
    ] {
        let (status, _, body) = raw(&url, "POST", &headers, Some(start));
        assert_eq!(
            (status, code_of(&body).as_str()),
            (403, "CAIRN-E036"),
            "{headers:?}: {body}"
        );
    }
    // What a simple HTML form can send is not JSON to the server.
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, _, body) = raw(&url, "POST", &[("content-type", kind)], Some(start));
        assert_eq!((status, code_of(&body).as_str()), (415, "CAIRN-E037"), "{kind}: {body}");
    }
    let tenants = format!("{}/v1/tenants", server.url);
    let (status, _, body) = raw(
        &tenants,
        "POST",
        &[("content-type", "text/plain")],
        Some(r#"{"name": "x"}"#),
    );
    assert_eq!((status, code_of(&body).as_str()), (415, "CAIRN-E037"), "{body}");
    assert_eq!(executions(&server), 0, "nothing was started");
    // The console's own page, same origin: allowed; its answers framed by nothing.
    let (status, headers, _) = raw(
        &url,
        "POST",
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin"), json_type],
        Some(start),
    );
    assert_eq!(status, 201);
    assert_eq!(executions(&server), 1);
    for path in ["/v1/executions", "/console/executions", "/console/app.js", "/health"] {
        let (_, headers, _) = raw(&format!("{}{path}", server.url), "GET", &[], None);
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
    }
    assert!(!headers.contains_key("access-control-allow-origin"));
    // A console action with no CSRF token (a form of another page) is refused.
    let list = raw(&format!("{}/console/executions", server.url), "GET", &[], None).2;
    assert!(!list.contains("style=\""), "no inline style (CSP)");
    let (_, page) = server.http("GET", "/v1/executions", None);
    let id = page["executions"][0]["id"].as_str().unwrap().to_owned();
    let cancel = format!("{}/console/executions/{id}/cancel", server.url);
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (status, _, _) = raw(&cancel, "POST", &[form], Some(""));
    assert_eq!(status, 403, "no CSRF token");
    let page = raw(&format!("{}/console/executions/{id}", server.url), "GET", &[], None).2;
    let csrf = csrf_in(&page);
    let (status, _, _) = raw(&cancel, "POST", &[form], Some(&format!("csrf={csrf}")));
    // Past the CSRF check: done (303), or the run had finished already (409).
    assert!(matches!(status, 303 | 409), "the page's own form: {status}");
}

/// A server started without `--auth` on a store that holds a confirmed
/// token requires tokens anyway; `--auth=false` there is refused at start.
/// A token an open server mints works nowhere until an operator confirms it.
#[test]
fn tokens_close_the_door_and_open_servers_cannot_mint_them() {
    let data = data_dir();
    let d = data.path();
    // An open server on an empty store mints a token through its API...
    let open = Server::start(d, &[]);
    let (status, made) = open.http("POST", "/v1/tokens", Some(br#"{"role": "superuser"}"#));
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["confirmed_at_ms"], Value::Null, "{made}");
    let minted = made["token"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(
        open.http("GET", "/v1/executions", None).0,
        200,
        "an unconfirmed token opens nothing"
    );
    drop(open);
    // ... which an --auth node refuses, naming the fix.
    let auth = Server::start(d, &["--auth"]);
    let (status, body) = http(&auth, &minted, "GET", "/v1/executions", None);
    assert_eq!((status, body["code"].as_str()), (401, Some("CAIRN-E028")), "{body}");
    assert!(
        body["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("cairn token confirm {id}")),
        "{body}"
    );
    drop(auth);
    // The operator confirms it on the store.
    let out = run(d, &["token", "confirm", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Now the store holds a token: no server runs open on it.
    let out = cairn(d)
        .args(["server", "--listen", "127.0.0.1:0", "--auth=false"])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("CAIRN-E038"),
        "{}",
        stderr(&out)
    );
    let closed = Server::start(d, &[]);
    let (status, body) = closed.http("GET", "/v1/executions", None);
    assert_eq!((status, body["code"].as_str()), (401, Some("CAIRN-E028")), "{body}");
    assert_eq!(http(&closed, &minted, "GET", "/v1/executions", None).0, 200);
    let (_, doc) = closed.http("GET", "/openapi.json", None);
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "the document asks for tokens"
    );
}

/// The console's cookie is a session, not the API token; forms need its
/// CSRF token; signing out ends the session on the server.
#[test]
fn console_sessions_are_opaque_and_end_on_sign_out() {
    let data = data_dir();
    let d = data.path();
    let admin = first_admin(d, &[]);
    let server = Server::start(d, &["--auth"]);
    let (chain, increment) = (wasm("chain"), wasm("increment"));
    let deploy = [
        "deploy",
        "orders",
        chain.to_str().unwrap(),
        "--activity",
        increment.to_str().unwrap(),
    ];
    assert!(as_token(&server, d, &admin, &deploy).status.success());
    let (status, started) = http(
        &server,
        &admin,
        "POST",
        "/v1/executions",
        Some(&json!({"workflow": "orders", "input": {"n": 1}})),
    );
    assert!(status == 201 || status == 202, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let form = ("content-type", "application/x-www-form-urlencoded");
    let sign_in = format!("{}/console/sign-in", server.url);
    let (status, headers, _) = raw(&sign_in, "POST", &[form], Some(&format!("token={admin}")));
    assert_eq!(status, 303);
    let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("cairn_session=cairn_") && !cookie.contains(&admin),
        "{cookie}"
    );
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let page_url = format!("{}/console/executions/{id}", server.url);
    let (status, _, page) = raw(&page_url, "GET", &[("cookie", &session)], None);
    assert_eq!(status, 200, "{page}");
    let csrf = csrf_in(&page);
    let terminate = format!("{page_url}/terminate");
    let (status, _, _) = raw(&terminate, "POST", &[("cookie", &session), form], Some("reason=x"));
    assert_eq!(status, 403, "no CSRF token");
    let (status, _, _) = raw(
        &terminate,
        "POST",
        &[("cookie", &session), form],
        Some("reason=x&csrf=00"),
    );
    assert_eq!(status, 403, "a wrong CSRF token");
    assert_ne!(server.status(d, &id).as_deref(), Some("terminated"));
    let sign_out = format!("{}/console/sign-out", server.url);
    let (status, headers, _) = raw(
        &sign_out,
        "POST",
        &[("cookie", &session), form],
        Some(&format!("csrf={csrf}")),
    );
    assert_eq!(status, 303);
    assert!(headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    // The old cookie, replayed, signs in nothing; the API token still works.
    let (status, headers, _) = raw(&page_url, "GET", &[("cookie", &session)], None);
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/console/sign-in")
    );
    assert_eq!(http(&server, &admin, "GET", "/v1/executions", None).0, 200);
}

/// A tenant's admin administers its own tenant only: every administrative
/// operation aimed at another tenant is "not found" (or forbidden, for
/// what only the server's operator does); its own quotas stay within the
/// caps the superuser set.
fn tenant_admin_isolation(store: &[&str]) {
    let data = data_dir();
    let d = data.path();
    let root = first_admin(d, store);
    let mut args = store.to_vec();
    args.push("--auth");
    let server = Server::start(d, &args);
    let ok = |token: &str, method: &str, path: &str, body: Option<Value>| {
        let (status, answer) = http(&server, token, method, path, body.as_ref());
        assert!((200..300).contains(&status), "{method} {path}: {answer}");
        answer
    };
    ok(&root, "POST", "/v1/tenants", Some(json!({"name": "team-a"})));
    let caps = json!({"max_running": 10, "http_hosts": ["*.example.com"]});
    let quotas = json!({"name": "team-b", "quotas": {"max_running": 10, "caps": caps}});
    ok(&root, "POST", "/v1/tenants", Some(quotas));
    let mint = |tenant: &str, role: &str| {
        ok(
            &root,
            "POST",
            "/v1/tokens",
            Some(json!({"tenant": tenant, "role": role})),
        )
    };
    let a_token = mint("team-a", "deploy");
    let a_id = a_token["id"].as_str().unwrap();
    let b_admin = mint("team-b", "admin")["token"].as_str().unwrap().to_owned();
    let a_admin = mint("team-a", "admin")["token"].as_str().unwrap().to_owned();
    assert!(a_admin.starts_with("cairn_"));
    let b = b_admin.as_str();
    let not_found = [
        ("GET", "/v1/tenants/team-a".to_owned(), None),
        ("PUT", "/v1/tenants/team-a".to_owned(), Some(json!({"max_running": 1}))),
        (
            "POST",
            "/v1/tokens".to_owned(),
            Some(json!({"tenant": "team-a", "role": "read"})),
        ),
        ("GET", "/v1/tokens?tenant=team-a".to_owned(), None),
        ("POST", format!("/v1/tokens/{a_id}/revoke"), None),
        ("POST", format!("/v1/tokens/{a_id}/confirm"), None),
        ("GET", "/v1/audit?tenant=team-a".to_owned(), None),
    ];
    for (method, path, body) in &not_found {
        let (status, answer) = http(&server, b, method, path, body.as_ref());
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("CAIRN-E005")),
            "{method} {path}: {answer}"
        );
    }
    let acting = format!("Bearer {b}");
    let (status, answer) = server.http_with(
        &[("authorization", &acting), ("cairn-tenant", "team-a")],
        "GET",
        "/v1/executions",
        None,
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("CAIRN-E005")),
        "acting in A: {answer}"
    );
    for (method, path, body) in [
        ("POST", "/v1/tenants", Some(json!({"name": "team-c"}))),
        ("DELETE", "/v1/tenants/team-a?force=true", None),
        ("DELETE", "/v1/tenants/team-b?force=true", None),
        ("POST", "/v1/tokens", Some(json!({"role": "superuser"}))),
    ] {
        let (status, answer) = http(&server, b, method, path, body.as_ref());
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("CAIRN-E029")),
            "{method} {path}: {answer}"
        );
    }
    // What it sees is its own.
    let names: Vec<Value> = ok(b, "GET", "/v1/tenants", None)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("team-b")]);
    let tokens = ok(b, "GET", "/v1/tokens", None);
    assert!(
        tokens.as_array().unwrap().iter().all(|t| t["tenant"] == "team-b"),
        "{tokens}"
    );
    let made = ok(b, "POST", "/v1/tokens", Some(json!({"role": "deploy"})));
    assert_eq!(
        (made["tenant"].as_str(), made["role"].as_str()),
        (Some("team-b"), Some("deploy"))
    );
    assert!(
        made["confirmed_at_ms"].is_i64(),
        "a token's token vouches for what it mints"
    );
    // Its quotas within the caps; the caps themselves stay.
    let lower = ok(
        b,
        "PUT",
        "/v1/tenants/team-b",
        Some(json!({"max_running": 5, "http_hosts": ["api.example.com"]})),
    );
    assert_eq!(
        (
            lower["quotas"]["max_running"].as_i64(),
            lower["quotas"]["caps"]["max_running"].as_i64()
        ),
        (Some(5), Some(10)),
        "{lower}"
    );
    for beyond in [
        json!({"max_running": 50}),
        json!({}),
        json!({"max_running": 5, "http_hosts": ["evil.org"]}),
    ] {
        let (status, answer) = http(&server, b, "PUT", "/v1/tenants/team-b", Some(&beyond));
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("CAIRN-E029")),
            "{beyond}: {answer}"
        );
    }
    let raised = ok(&root, "PUT", "/v1/tenants/team-b", Some(json!({"max_running": 50})));
    assert_eq!(
        raised["quotas"]["caps"],
        Value::Null,
        "the superuser sets caps too: {raised}"
    );
    // A's admin, uncapped, manages A.
    assert_eq!(ok(&a_admin, "GET", "/v1/tenants/team-a", None)["name"], "team-a");
}

#[test]
fn a_tenant_admin_reaches_no_other_tenant_on_sqlite() {
    tenant_admin_isolation(&[]);
}

#[test]
fn a_tenant_admin_reaches_no_other_tenant_on_postgres() {
    let db = PgDb::new();
    tenant_admin_isolation(&["--database", &db.url]);
}
