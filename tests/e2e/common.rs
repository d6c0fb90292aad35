//! Test helpers: building guests, running `cairn`, a request-counting HTTP server.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Builds every guest component once per test process (a no-op when fresh)
/// and returns the directory holding the .wasm files. `./x guests` knows
/// which they are (every crate under examples/ and tests/guests/).
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let status = Command::new(root.join("x"))
            .arg("build-guests")
            .status()
            .expect("running ./x build-guests");
        assert!(status.success(), "building guests failed");
        target.join("wasm32-wasip2/release")
    })
}

/// Path of a built guest, by package name.
pub fn wasm(name: &str) -> PathBuf {
    guests().join(format!("{}.wasm", name.replace('-', "_")))
}

/// Path of a built Python workflow (`tests/python/<name>.py` or
/// `examples/<name>/python/<name>.py`, built by `./x build-guests`).
pub fn python_wasm(name: &str) -> PathBuf {
    guests();
    workspace().join("target/python").join(format!("{name}.wasm"))
}

/// Path of a built TypeScript component (`tests/typescript/<name>.ts` or
/// `examples/<name>/typescript/<name>.ts`, built by `./x build-guests`).
pub fn typescript_wasm(name: &str) -> PathBuf {
    guests();
    workspace().join("target/typescript").join(format!("{name}.wasm"))
}

/// Where a language's build of a component is, by component name.
pub type Built = fn(&str) -> PathBuf;

/// Every guest language with the path of its builds.
pub const LANGUAGES: [(&str, Built); 3] = [("rust", wasm), ("python", python_wasm), ("typescript", typescript_wasm)];

/// A fresh data directory.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The `cairn` binary with a data directory.
pub fn cairn(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.env("CAIRN_DATA_DIR", data).env_remove("CAIRN_LOG");
    cmd
}

/// Runs `cairn` to the end.
pub fn run<S: AsRef<std::ffi::OsStr>>(data: &Path, args: &[S]) -> Output {
    cairn(data).args(args).output().expect("running cairn")
}

/// The arguments of `cairn run WORKFLOW --activity ACTIVITY --input INPUT`
/// followed by `extra` (`--allow-http`, `--detach`, ...).
pub fn run_args(workflow: &Path, activity: &Path, input: &str, extra: &[&str]) -> Vec<String> {
    let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_owned();
    let mut args = vec![
        "run".to_owned(),
        path(workflow),
        "--activity".to_owned(),
        path(activity),
        "--input".to_owned(),
        input.to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

/// Starts `cairn ARGS` (a server, with `--listen 127.0.0.1:0`) and waits
/// for it to announce its API address; returns the process and the URL.
pub fn start_server(data: &Path, args: &[&str]) -> (Child, String) {
    start_server_with(data, args, &[])
}

/// [`start_server`] with extra environment variables.
pub fn start_server_with(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut child = cairn(data)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("cairn server: API on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server announces its API address");
    (child, url)
}

/// Text of stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Text of stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `cairn show ID --output json`, parsed.
pub fn show(data: &Path, id: &str) -> serde_json::Value {
    let o = run(data, &["show", id, "--output", "json"]);
    assert!(o.status.success(), "show failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("show prints JSON")
}

/// `cairn list --output json`, parsed.
pub fn list(data: &Path) -> Vec<serde_json::Value> {
    let o = run(data, &["list", "--output", "json"]);
    assert!(o.status.success(), "list failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("list prints JSON")
}

/// Polls `f` until it returns `Some`, or panics after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request the test server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query.
    pub target: String,
    /// The `idempotency-key` header, if any.
    pub key: Option<String>,
    /// The `cairn-attempt` header (the activity's attempt), if any.
    pub attempt: Option<u32>,
    /// The `traceparent` header, if any.
    pub traceparent: Option<String>,
    /// The `content-length` header, if any.
    pub content_length: Option<String>,
    /// Whether the body came chunked (`transfer-encoding: chunked`).
    pub chunked: bool,
    /// When it arrived (ms since epoch).
    pub at_ms: i64,
}

/// A local HTTP server that records every request and answers
/// `ok:<query>` after a configurable delay (`slow=1` requests use `slow_ms`);
/// the first request of each target with `fail=1` gets a 500 instead.
pub struct TestServer {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Requests in arrival order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Delay of ordinary requests.
    pub delay_ms: Arc<AtomicU64>,
    /// Delay of `slow=1` requests.
    pub slow_ms: Arc<AtomicU64>,
}

impl TestServer {
    /// Starts the server on an ephemeral port.
    pub fn start(delay_ms: u64, slow_ms: u64) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (delay, slow) = (Arc::new(AtomicU64::new(delay_ms)), Arc::new(AtomicU64::new(slow_ms)));
        let (s2, d2, sl2) = (seen.clone(), delay.clone(), slow.clone());
        let failed: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, delay, slow, failed) = (s2.clone(), d2.clone(), sl2.clone(), failed.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut key, mut traceparent, mut content_length, mut chunked) = (None, None, None, false);
                    let mut attempt = None;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = h.split_once(':') {
                            if name.eq_ignore_ascii_case("idempotency-key") {
                                key = Some(value.trim().to_owned());
                            } else if name.eq_ignore_ascii_case("cairn-attempt") {
                                attempt = value.trim().parse().ok();
                            } else if name.eq_ignore_ascii_case("traceparent") {
                                traceparent = Some(value.trim().to_owned());
                            } else if name.eq_ignore_ascii_case("content-length") {
                                content_length = Some(value.trim().to_owned());
                            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                                chunked |= value.to_ascii_lowercase().contains("chunked");
                            }
                        }
                    }
                    // The body, read whole before the answer (a client still
                    // writing it would see the connection reset).
                    if let Some(n) = content_length.as_deref().and_then(|n| n.parse::<usize>().ok()) {
                        let mut body = vec![0; n];
                        let _ = std::io::Read::read_exact(&mut reader, &mut body);
                    } else if chunked {
                        let mut line = String::new();
                        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                            if line == "0\r\n" {
                                let _ = reader.read_line(&mut line);
                                break;
                            }
                            line.clear();
                        }
                    }
                    seen.lock().unwrap().push(Seen {
                        target: target.clone(),
                        key,
                        attempt,
                        traceparent,
                        content_length,
                        chunked,
                        at_ms: cairn::model::now_ms(),
                    });
                    let wait = if target.contains("slow=1") {
                        slow.load(Ordering::SeqCst)
                    } else {
                        delay.load(Ordering::SeqCst)
                    };
                    std::thread::sleep(Duration::from_millis(wait));
                    let body = format!("ok:{}", target.split_once('?').map(|x| x.1).unwrap_or(""));
                    let fail = target.contains("fail=1") && failed.lock().unwrap().insert(target.clone());
                    let status = if fail { "500 Internal Server Error" } else { "200 OK" };
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        body.len(),
                        body
                    );
                });
            }
        });
        TestServer {
            port,
            seen,
            delay_ms: delay,
            slow_ms: slow,
        }
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// How many requests had exactly this query.
    pub fn count(&self, query: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.target.split_once('?').map(|x| x.1) == Some(query))
            .count()
    }

    /// All requests so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Base URL of the test PostgreSQL server (`CAIRN_TEST_PG`, default the local one).
pub fn pg_base() -> String {
    std::env::var("CAIRN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn psql(base: &str, sql: &str) {
    let out = Command::new("psql")
        .args([&format!("{base}/postgres"), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql must be installed for the PostgreSQL tests");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh PostgreSQL database for one test, dropped afterwards.
pub struct PgDb {
    /// Connection URL of the database.
    pub url: String,
    base: String,
    name: String,
}

impl PgDb {
    /// Creates an empty database on the test server.
    pub fn new() -> PgDb {
        Self::on(&pg_base())
    }

    /// Creates an empty database on the server at `base`.
    pub fn on(base: &str) -> PgDb {
        let name = format!("cairn_t_{}", uuid::Uuid::now_v7().simple());
        psql(base, &format!("CREATE DATABASE {name}"));
        PgDb {
            url: format!("{base}/{name}"),
            base: base.to_owned(),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = Command::new("psql")
            .args([&format!("{}/postgres", self.base), "-q", "-c", &sql])
            .output();
    }
}

/// Node settings for in-process tests: the compile cache in `dir`, quiet.
pub fn node_config(dir: &Path) -> cairn::node::NodeConfig {
    cairn::node::NodeConfig {
        cache_dir: dir.join("cache"),
        echo_logs: false,
        ..Default::default()
    }
}

/// The embedded store of a data directory.
pub fn sqlite_at(dir: &Path) -> cairn::node::StoreConfig {
    cairn::node::StoreConfig::Sqlite {
        path: dir.join("cairn.db"),
    }
}

/// A PostgreSQL store (migrated on open).
pub fn postgres_at(url: &str) -> cairn::node::StoreConfig {
    cairn::node::StoreConfig::Postgres {
        url: url.to_owned(),
        pool_size: 8,
        schema: cairn::node::Schema::Migrate,
    }
}

/// Uploads built guests through a node; returns their digests by name.
pub async fn upload(
    node: &cairn::node::Node,
    workflows: &[&'static str],
    activities: &[&'static str],
) -> std::collections::HashMap<&'static str, String> {
    use cairn::node::ComponentKind;
    let mut digests = std::collections::HashMap::new();
    for (names, kind) in [
        (workflows, ComponentKind::Workflow),
        (activities, ComponentKind::Activity),
    ] {
        for name in names {
            let bytes = std::fs::read(wasm(name)).unwrap();
            let info = node
                .upload_component(&cairn::node::Caller::local("default"), kind, &bytes)
                .await
                .unwrap();
            digests.insert(*name, info.digest);
        }
    }
    digests
}

/// A Python virtual environment in `target/tools/NAME` with `requirement`
/// (pinned: `pkg==1.2.3`) installed from PyPI on first use; its path.
pub fn python_venv(name: &str, requirement: &str) -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = workspace().join("target/tools").join(name);
    let pinned = venv.join(".pinned");
    if std::fs::read_to_string(&pinned).ok().as_deref() != Some(requirement) {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv {}", venv.display());
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", requirement])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {requirement}");
        std::fs::write(&pinned, requirement).unwrap();
    }
    venv
}
