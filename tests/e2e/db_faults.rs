//! PostgreSQL restarted under load: nodes reconnect with backoff, nothing is
//! lost, every workflow finishes. Runs a private PostgreSQL cluster so the
//! shared server is never restarted.

use crate::cluster::{assert_chains_complete, enqueue_chain, enqueue_http_steps, start_node};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A private PostgreSQL cluster on its own port, stopped when dropped.
struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let program = bin.join(program);
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    cmd.args(args).output().expect("running a PostgreSQL server program")
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        if unsafe { libc::geteuid() } == 0 {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = dir.path().join("data");
        let out = as_postgres(
            &bin,
            "initdb",
            &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres"],
        );
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let cluster = PrivateCluster { bin, dir, port };
        cluster.ctl("start");
        cluster
    }

    fn ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                action,
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn base(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
    }
}

#[test]
fn postgres_restart_under_load_loses_nothing() {
    let pg = PrivateCluster::start();
    let db = PgDb::on(&pg.base());
    let (client, node_dirs) = (data_dir(), [data_dir(), data_dir()]);
    let server = TestServer::start(100, 0);
    let pgcli = |args: &[&str]| {
        cairn(client.path())
            .arg("--database")
            .arg(&db.url)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(pgcli(&["db", "migrate"]).status.success());
    let _nodes: Vec<_> = node_dirs.iter().map(|d| start_node(&db.url, d.path(), 3000)).collect();

    const N: usize = 12;
    for k in 0..N {
        enqueue_http_steps(&db.url, client.path(), &server, k, 8);
    }
    // Chains of fast steps beside them: many appends committed in batches
    // are in flight when the database goes away.
    const CHAINS: usize = 8;
    let chains: Vec<String> = (0..CHAINS)
        .map(|_| enqueue_chain(&db.url, client.path(), 200))
        .collect();
    wait_for(60, "work in flight", || (server.requests().len() >= N).then_some(()));
    pg.ctl("restart");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let execs = loop {
        let out = pgcli(&["list", "--output", "json"]);
        let execs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if execs.len() == N + CHAINS && execs.iter().all(|e| e["status"] == "completed") {
            break execs;
        }
        if std::time::Instant::now() > deadline {
            for d in &node_dirs {
                eprintln!(
                    "--- node log\n{}",
                    std::fs::read_to_string(d.path().join("node.log")).unwrap_or_default()
                );
            }
            panic!("not every workflow finished after the restart: {execs:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_chains_complete(&db.url, client.path(), &chains, 200);
    for e in execs
        .iter()
        .filter(|e| !chains.iter().any(|c| c == e["id"].as_str().unwrap()))
    {
        let out = pgcli(&["show", e["id"].as_str().unwrap(), "--output", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let journal = v["journal"].as_array().unwrap();
        assert_eq!(journal.iter().filter(|j| j["kind"] == "completed").count(), 1);
        assert_eq!(
            journal.iter().filter(|j| j["kind"] == "activity.done").count(),
            8,
            "nothing lost"
        );
        let seqs: Vec<u64> = journal.iter().map(|j| j["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (0..journal.len() as u64).collect::<Vec<_>>());
    }
}
