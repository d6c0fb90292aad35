//! A `cairn server` for tests: started on an ephemeral port, driven by the
//! CLI verbs and by raw HTTP requests, killed (-9) when dropped.

use crate::common::*;
use std::path::Path;
use std::process::{Child, Output};

/// A `cairn server` on an ephemeral port; killed (-9) when dropped.
pub struct Server {
    child: Child,
    /// Base URL of its API.
    pub url: String,
}

impl Server {
    /// Starts a server with test settings (`extra` replaces any of them).
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data, extra, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let defaults = [
            ("--listen", "127.0.0.1:0"),
            ("--poll-ms", "50"),
            ("--lease-ms", "1000"),
            ("--evict-after-ms", "300"),
        ];
        let mut args = vec!["server", "--quiet"];
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend(extra);
        let (child, url) = start_server_with(data, &args, env);
        Server { child, url }
    }

    /// Its process id (a node id is `host:pid:random`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (-9).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs a `cairn` verb against this server.
    pub fn cli(&self, data: &Path, args: &[&str]) -> Output {
        cairn(data).arg("--server").arg(&self.url).args(args).output().unwrap()
    }

    /// Runs a verb that must succeed and prints JSON; returns it.
    pub fn json(&self, data: &Path, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.cli(data, &all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
    }

    pub fn deploy(&self, data: &Path, name: &str, workflow: &str, activities: &[&str]) -> serde_json::Value {
        let wf = wasm(workflow);
        let mut args = vec!["deploy", name, wf.to_str().unwrap()];
        let paths: Vec<String> = activities
            .iter()
            .map(|a| wasm(a).to_str().unwrap().to_owned())
            .collect();
        for p in &paths {
            args.extend(["--activity", p.as_str()]);
        }
        self.json(data, &args)
    }

    /// Starts an execution of `workflow` with `input`; returns its id.
    pub fn start_execution(&self, data: &Path, workflow: &str, input: &str) -> String {
        self.json(data, &["start", workflow, "--input", input])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `cairn result ID --wait` as JSON, whatever its exit code (failed runs exit 1).
    pub fn wait_result(&self, data: &Path, id: &str) -> (Option<i32>, serde_json::Value) {
        let out = self.cli(data, &["result", id, "--wait", "--timeout-s", "60", "--output", "json"]);
        (
            out.status.code(),
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out))),
        )
    }

    /// The status of an execution, if it exists.
    pub fn status(&self, data: &Path, id: &str) -> Option<String> {
        let out = self.cli(data, &["describe", id, "--output", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_owned)
    }

    /// A raw HTTP request: (status, JSON body).
    pub fn http(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, serde_json::Value) {
        self.http_with(&[], method, path, body)
    }

    /// A raw HTTP request with extra headers: (status, JSON body).
    pub fn http_with(
        &self,
        headers: &[(&str, &str)],
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> (u16, serde_json::Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::new();
            let mut req = client.request(method.parse().unwrap(), format!("{}{path}", self.url));
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            if let Some(b) = body {
                if !headers
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                {
                    req = req.header("content-type", "application/json");
                }
                req = req.body(b.to_vec());
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn kinds(history: &serde_json::Value) -> Vec<String> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}
