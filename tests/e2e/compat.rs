//! Databases written by an earlier Cairn open, read and replay unchanged.
//!
//! `tests/fixtures/journals-133290f.*.sql` are dumps of a SQLite data
//! directory and a PostgreSQL database written by the `cairn` of commit
//! 133290f (before the typed journal): completed, failed, cancelled,
//! terminated, continued-as-new and parent/child executions, one waiting
//! for its second signal and (SQLite) one sleeping on a durable timer. The
//! component bytes are left out of the dumps; the tests put today's builds
//! of the same sources in their place.

use crate::common::*;
use crate::server::Server;
use cairn::journal::Record;
use serde_json::Value;
use std::path::{Path, PathBuf};

const SQLITE: &str = include_str!("../fixtures/journals-133290f.sqlite.sql");
const POSTGRES: &str = include_str!("../fixtures/journals-133290f.postgres.sql");

/// Workflow name in the fixture → the guest that implements it.
const WORKFLOWS: &[(&str, &str)] = &[
    ("chain", "chain"),
    ("saga", "saga"),
    ("fanout", "fanout"),
    ("clock_random", "clock-random"),
    ("sig", "signals"),
    ("nap", "sleeper"),
    ("parent", "parent"),
    ("counter", "counter"),
    ("orders", "saga"),
];

/// The dump with every old component digest replaced by today's build of
/// the same guest, and those builds (digest, bytes).
fn with_todays_components(dump: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let mut text = dump.to_owned();
    let mut components = Vec::new();
    for line in dump.lines().filter_map(|l| l.strip_prefix("-- component ")) {
        let (old, guest) = line.split_once(' ').unwrap();
        let bytes = std::fs::read(wasm(guest)).unwrap();
        let new = sha256(&bytes);
        text = text.replace(old, &new);
        components.push((new, bytes));
    }
    (text, components)
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every stored entry decodes into the typed journal and encodes back to
/// the same JSON.
fn check_typed(rows: &[(String, String)]) {
    assert!(rows.len() > 100, "the fixture holds a real history");
    for (kind, payload) in rows {
        let record = Record::decode(kind, payload).unwrap_or_else(|e| panic!("{e}"));
        let original: Value = serde_json::from_str(payload).unwrap();
        let again: Value = serde_json::from_str(&record.payload()).unwrap();
        assert_eq!(again, original, "`{kind}` keeps its stored form");
    }
}

/// What every backend must show of the fixture: each execution is listed
/// and shown, and each journal replays against today's build of its code.
fn check_reads_and_replays(cairn_on: &dyn Fn(&[&str]) -> std::process::Output) {
    let out = cairn_on(&["list", "--limit", "100", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 17, "{listed:?}");
    let status = |id: &str| {
        listed.iter().find(|e| e["id"] == id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        [
            "sig-done",
            "order-cancelled",
            "sig-terminated",
            "count",
            "count~2",
            "sig-waiting"
        ]
        .map(status),
        [
            "completed",
            "failed",
            "terminated",
            "continued",
            "completed",
            "sleeping"
        ]
    );
    for e in &listed {
        let id = e["id"].as_str().unwrap();
        let out = cairn_on(&["show", id]);
        assert!(out.status.success(), "show {id}: {}", stderr(&out));
    }
    for (workflow, guest) in WORKFLOWS {
        let component = wasm(guest);
        let out = cairn_on(&[
            "replay",
            "--component",
            component.to_str().unwrap(),
            "--workflow",
            workflow,
            "--output",
            "json",
        ]);
        let verdicts: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!verdicts.as_array().unwrap().is_empty(), "{workflow} has executions");
        assert!(out.status.success(), "{workflow}: {verdicts}");
    }
}

/// The execution left waiting gets its second signal and finishes.
fn check_resumes(data: &Path, database: Option<&str>) {
    let args = match database {
        Some(url) => vec!["--database", url],
        None => vec![],
    };
    let server = Server::start(data, &args);
    let cli = |a: &[&str]| cairn(data).arg("--server").arg(&server.url).args(a).output().unwrap();
    let result = |id: &str| -> Value {
        let out = cli(&["result", id, "--wait", "--timeout-s", "60", "--output", "json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let out = cli(&["signal", "sig-waiting", "item", "--payload", r#"{"k": "second"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = result("sig-waiting");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["output"], serde_json::json!([{ "k": "first" }, { "k": "second" }]));
    if database.is_none() {
        let r = result("nap-sleeping");
        assert_eq!(r["status"], "completed", "{r}");
        assert!(r["output"].as_u64().unwrap() >= 4000, "{r}");
    }
}

#[test]
fn a_sqlite_data_directory_of_an_earlier_cairn_opens_replays_and_resumes() {
    let (dump, components) = with_todays_components(SQLITE);
    let data = data_dir();
    let db: PathBuf = data.path().join("cairn.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&dump).unwrap();
    for (digest, bytes) in &components {
        conn.execute(
            "INSERT INTO components (digest, bytes, created_at) VALUES (?1, ?2, 0) ON CONFLICT DO NOTHING",
            rusqlite::params![digest, bytes],
        )
        .unwrap();
    }
    let mut stmt = conn.prepare("SELECT kind, payload FROM journal").unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(stmt);
    drop(conn);
    check_typed(&rows);
    check_reads_and_replays(&|args| run(data.path(), args));
    check_resumes(data.path(), None);
}

#[test]
fn a_postgres_database_of_an_earlier_cairn_opens_replays_and_resumes() {
    let (dump, components) = with_todays_components(POSTGRES);
    let pg = PgDb::new();
    let data = data_dir();
    let file = data.path().join("dump.sql");
    std::fs::write(&file, dump).unwrap();
    let out = std::process::Command::new("psql")
        .args([&pg.url, "-v", "ON_ERROR_STOP=1", "-q", "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        for (digest, bytes) in &components {
            client
                .execute(
                    "INSERT INTO components (digest, bytes, created_at) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                    &[digest, bytes],
                )
                .await
                .unwrap();
        }
        let rows = client.query("SELECT kind, payload FROM journal", &[]).await.unwrap();
        rows.iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect::<Vec<(String, String)>>()
    });
    check_typed(&rows);
    let url = pg.url.clone();
    let on_pg = |args: &[&str]| {
        cairn(data.path())
            .arg("--database")
            .arg(&url)
            .args(args)
            .output()
            .unwrap()
    };
    // A shared database is migrated explicitly (or by a server): until then
    // commands refuse it, after it the old executions are the `default` tenant's.
    let refused = on_pg(&["list"]);
    assert!(stderr(&refused).contains("CAIRN-E020"), "{}", stderr(&refused));
    let migrated = on_pg(&["db", "migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    check_reads_and_replays(&on_pg);
    check_resumes(data.path(), Some(&pg.url));
}
