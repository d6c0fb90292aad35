//! The scheduler: starts executions, drives them through activations,
//! wakes sleeping ones on time, resumes unfinished ones, and keeps this
//! node's leases alive.

mod replay;
mod schedules;
mod server;

pub use replay::Verdict;
pub use schedules::next_fire;
pub use server::ServerOptions;

use crate::engine::workflow_host::{self, ChildRef, ExecutionHost, Interrupt};
use crate::engine::{ActivityRegistry, Engine};
use crate::error::{Error, Result, codes};
use crate::journal::{Cursor, FailureRecord, StartedPayload, kinds};
use crate::store::{Entry, Lease, NewExecution, Status, Store, Transition, now_ms};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which activity components an execution may call and which HTTP hosts
/// each activity may reach. Stored with the execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bindings {
    /// Digests of activity components.
    pub activities: Vec<String>,
    /// Activity name (or `*`) → allowed hosts (`host` or `host:port`).
    #[serde(default)]
    pub http_allow: HashMap<String, Vec<String>>,
}

/// Runtime settings of a node.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Lease duration; renewed at a third of it.
    pub lease: Duration,
    /// Sleeps longer than this drop the instance and wake by replay.
    pub evict_after: Duration,
    /// Print workflow log lines to stderr.
    pub echo_logs: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            lease: Duration::from_secs(5),
            evict_after: Duration::from_secs(2),
            echo_logs: true,
        }
    }
}

/// How one activation, or a whole run, ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Completed with this JSON output.
    Completed(String),
    /// Failed (the workflow's failure, or a trap, as a coded error).
    Failed(Error),
    /// Parked until an operator acts.
    Parked(Error),
    /// Sleeping until this time (ms since epoch); the instance was dropped.
    Sleeping(i64),
    /// Another node took the execution over.
    LeaseLost,
    /// This run continued as new; the next run has this id.
    Continued(String),
}

/// A runtime node: store, engine and identity.
pub struct Runtime {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The engine.
    pub engine: Arc<Engine>,
    /// This node's id: `host:pid:random`.
    pub node_id: String,
    /// When this node started (ms since epoch).
    pub started_at_ms: i64,
    /// Settings.
    pub config: RuntimeConfig,
    registries: Mutex<HashMap<String, Arc<ActivityRegistry>>>,
    /// Executions this node just created and has not driven yet: their
    /// first activation needs no read from the store.
    fresh: Mutex<HashMap<String, NewExecution>>,
    /// Wakes this node's claim loop (new work was created here).
    pub wake_claims: tokio::sync::Notify,
    /// Executions this node is driving now: the only leases it renews.
    active: Mutex<std::collections::HashSet<String>>,
}

/// Marks an execution as driven by this node for as long as it lives.
struct Active<'a>(&'a Runtime, String);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.lock().unwrap().remove(&self.1);
    }
}

/// This node's id: host name, process id and a random suffix.
pub fn new_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

/// Whether a node id names a process of this host that no longer exists.
pub fn is_dead_local_owner(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let me = new_node_id();
    let my_host = me.split(':').next().unwrap_or_default();
    host == my_host
        && pid
            .parse::<u32>()
            .is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

impl Runtime {
    /// A node over a store and an engine; starts the lease renewer.
    pub fn new(store: Arc<dyn Store>, engine: Arc<Engine>, config: RuntimeConfig) -> Arc<Runtime> {
        let rt = Arc::new(Runtime {
            store,
            engine,
            node_id: new_node_id(),
            started_at_ms: now_ms(),
            config,
            registries: Mutex::new(HashMap::new()),
            fresh: Mutex::new(HashMap::new()),
            wake_claims: tokio::sync::Notify::new(),
            active: Mutex::new(Default::default()),
        });
        let weak = Arc::downgrade(&rt);
        let every = rt.config.lease / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(rt) = weak.upgrade() else { break };
                let ids: Vec<String> = rt.active.lock().unwrap().iter().cloned().collect();
                if let Err(e) = rt
                    .store
                    .renew_leases(&rt.node_id, &ids, rt.config.lease.as_millis() as i64)
                    .await
                {
                    tracing::warn!("renewing leases failed: {}", e.message);
                }
                if let Err(e) = rt.store.heartbeat(&rt.node_id, rt.started_at_ms).await {
                    tracing::warn!("heartbeat failed: {}", e.message);
                }
            }
        });
        rt
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }
    /// Creates an execution of an already stored workflow component, leased
    /// to this node.
    pub async fn start(&self, workflow: &str, component: &str, bindings: &Bindings, input: &str) -> Result<Lease> {
        let new = checked_new_execution(workflow, component, bindings, input)?;
        let lease = self
            .store
            .create_execution(&new, Some(&self.node_id), self.lease_ms())
            .await?;
        let mut fresh = self.fresh.lock().unwrap();
        if fresh.len() > 10_000 {
            fresh.clear(); // started but never driven: fall back to reading the store
        }
        fresh.insert(new.id.clone(), new);
        Ok(lease.expect("an owned execution comes with its lease"))
    }

    /// Creates an execution for any node to claim; returns its id.
    pub async fn enqueue(&self, workflow: &str, component: &str, bindings: &Bindings, input: &str) -> Result<String> {
        let new = checked_new_execution(workflow, component, bindings, input)?;
        self.store.create_execution(&new, None, self.lease_ms()).await?;
        Ok(new.id)
    }

    async fn registry(&self, bindings_json: &str) -> Result<Arc<ActivityRegistry>> {
        if let Some(r) = self.registries.lock().unwrap().get(bindings_json) {
            return Ok(r.clone());
        }
        let bindings: Bindings = serde_json::from_str(bindings_json).map_err(|e| {
            Error::new(
                codes::CORRUPT_JOURNAL,
                format!("the execution's bindings cannot be read: {e}"),
                "terminate the execution",
            )
        })?;
        let mut components = Vec::new();
        for digest in &bindings.activities {
            let c = match self.engine.cached_activity(digest) {
                Some(c) => c,
                None => {
                    let bytes = self
                        .store
                        .component(digest)
                        .await?
                        .ok_or_else(|| missing_component(digest))?;
                    self.engine.activity(digest, bytes).await?
                }
            };
            components.push(c);
        }
        let registry = Arc::new(ActivityRegistry::new(components, &bindings.http_allow)?);
        self.registries
            .lock()
            .unwrap()
            .insert(bindings_json.to_owned(), registry.clone());
        Ok(registry)
    }

    /// Runs one activation: replays the journal, continues live until the
    /// workflow returns, sleeps long, or is stopped; commits the outcome.
    pub async fn drive(&self, lease: Lease) -> Result<Outcome> {
        let id = lease.execution_id.clone();
        self.active.lock().unwrap().insert(id.clone());
        let _active = Active(self, id.clone());
        let fresh = self.fresh.lock().unwrap().remove(&id).filter(|_| lease.epoch == 1);
        let (exec, journal) = match fresh {
            Some(new) => (new.clone(), vec![new.started]),
            None => {
                let e = self.store.execution(&id).await?.ok_or_else(|| not_found(&id))?;
                let journal = self.store.journal(&id).await?;
                let started = journal.first().cloned().unwrap_or(Entry {
                    seq: 0,
                    kind: String::new(),
                    payload: String::new(),
                    at_ms: 0,
                });
                let exec = NewExecution {
                    id: e.id,
                    workflow: e.workflow,
                    component: e.component,
                    bindings: e.bindings,
                    input: e.input,
                    parent: e.parent,
                    started,
                };
                (exec, journal)
            }
        };
        let cursor = Cursor::new(journal).map_err(|e| {
            Error::new(
                codes::CORRUPT_JOURNAL,
                format!("execution {id}: {e}"),
                "terminate the execution",
            )
        })?;
        let component = match self.engine.cached_workflow(&exec.component) {
            Some(c) => c,
            None => {
                let bytes = self
                    .store
                    .component(&exec.component)
                    .await?
                    .ok_or_else(|| missing_component(&exec.component))?;
                self.engine.workflow(&exec.component, &bytes)?
            }
        };
        let registry = self.registry(&exec.bindings).await?;
        let host = ExecutionHost::new(
            cursor,
            lease.clone(),
            self.store.clone(),
            self.engine.clone(),
            registry,
            self.config.evict_after,
            self.config.echo_logs,
        );
        let _permit = self
            .engine
            .workflow_permits
            .acquire()
            .await
            .expect("permits are never closed");
        let (result, state) = workflow_host::activate(&self.engine, &component, host, &exec.input).await;
        let mut host = state.host;
        let (entry, transition, outcome) = match result {
            Ok(Ok(output)) => {
                if let Some(nd) = host.cursor.unconsumed() {
                    let error = workflow_host::nondeterminism_error(&id, &nd);
                    return self.park(&lease, error).await;
                }
                let entry = serde_json::json!({ "output": output });
                (
                    entry,
                    Transition::Completed { output: output.clone() },
                    Outcome::Completed(output),
                )
            }
            Ok(Err(f)) => {
                let failure = FailureRecord {
                    code: f.code,
                    message: f.message,
                    retryable: f.retryable,
                    details: f.details,
                };
                let error = Error::new(
                    codes::WORKFLOW_FAILED,
                    format!("workflow failed: {}: {}", failure.code, failure.message),
                    "see `cairn show` for the journal",
                );
                let entry = serde_json::json!({ "failure": failure });
                (
                    entry,
                    Transition::Failed {
                        error: error.to_json().to_string(),
                    },
                    Outcome::Failed(error),
                )
            }
            Err(trap) => match host.interrupt.take() {
                Some(Interrupt::Suspend { wake_at_ms }) => {
                    let _ = self.store.release(&lease).await;
                    return Ok(Outcome::Sleeping(wake_at_ms));
                }
                Some(Interrupt::Park(error)) => return self.park(&lease, error).await,
                Some(Interrupt::LeaseLost) => return Ok(Outcome::LeaseLost),
                Some(Interrupt::Store(e)) => return Err(e),
                Some(Interrupt::EndOfJournal) => {
                    return Err(Error::store("a live activation stopped at the end of its journal"));
                }
                Some(Interrupt::Continued { next }) => {
                    self.finished(&host, exec.parent.as_deref()).await;
                    return Ok(Outcome::Continued(next));
                }
                None => {
                    let error = classify_trap(&trap, &state.guard, &state.stderr.contents());
                    let entry = serde_json::json!({ "error": error.to_json() });
                    (
                        entry,
                        Transition::Failed {
                            error: error.to_json().to_string(),
                        },
                        Outcome::Failed(error),
                    )
                }
            },
        };
        let kind = if matches!(outcome, Outcome::Completed(_)) {
            kinds::COMPLETED
        } else {
            kinds::FAILED
        };
        host.cursor.record_lifecycle(kind, entry, now_ms());
        match host.commit(transition).await {
            Ok(()) => {
                self.finished(&host, exec.parent.as_deref()).await;
                Ok(outcome)
            }
            Err(_) => match host.interrupt.take() {
                Some(Interrupt::Store(e)) => Err(e),
                _ => Ok(Outcome::LeaseLost),
            },
        }
    }

    /// After a terminal commit: applies the close policy to open children
    /// and wakes the parent, if any (best effort: both are idempotent, and
    /// a parent also re-checks on its own).
    async fn finished(&self, host: &ExecutionHost, parent: Option<&str>) {
        close_children(&*self.store, &host.id, host.open_children()).await;
        if let Some(parent) = parent
            && let Err(e) = self.store.wake(parent).await
        {
            tracing::warn!("waking parent {parent} failed: {}", e.message);
        }
    }

    /// Terminates an execution (fencing out its owner) and applies the close
    /// policy to its open children. Returns whether it was running.
    pub async fn terminate(&self, id: &str, reason: &str) -> Result<bool> {
        if !self.store.terminate(id, reason).await? {
            return Ok(false);
        }
        let journal = self.store.journal(id).await?;
        close_children(&*self.store, id, open_children_of(&journal)).await;
        let parent = self.store.execution(id).await?.and_then(|e| e.parent);
        if let Some(parent) = parent {
            self.store.wake(&parent).await?;
        }
        Ok(true)
    }

    async fn park(&self, lease: &Lease, error: Error) -> Result<Outcome> {
        match self
            .store
            .append(
                lease,
                &[],
                &Transition::Parked {
                    reason: error.to_json().to_string(),
                },
            )
            .await
        {
            Ok(()) => Ok(Outcome::Parked(error)),
            Err(e) if e.code == codes::LEASE_LOST => Ok(Outcome::LeaseLost),
            Err(e) => Err(e),
        }
    }

    /// Drives an execution until it completes, fails, parks or is lost,
    /// waking it from durable sleeps on time.
    pub async fn run_to_end(&self, lease: Lease) -> Result<Outcome> {
        let mut lease = lease;
        loop {
            match self.drive(lease.clone()).await? {
                Outcome::Sleeping(wake_at) => {
                    let wait = (wake_at - now_ms()).max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    match self
                        .store
                        .claim(&lease.execution_id, &self.node_id, self.lease_ms(), &[])
                        .await?
                    {
                        Some(l) => lease = l,
                        None => return Ok(Outcome::LeaseLost),
                    }
                }
                Outcome::Continued(next) => match self.store.claim(&next, &self.node_id, self.lease_ms(), &[]).await? {
                    Some(l) => lease = l,
                    None => return Ok(Outcome::Continued(next)),
                },
                other => return Ok(other),
            }
        }
    }

    /// Claims and runs to the end every unfinished execution whose lease is
    /// free, expired, or held by a dead process of this host.
    pub async fn resume_all(self: &Arc<Self>) -> Result<Vec<(String, Result<Outcome>)>> {
        let filter = crate::store::ListFilter {
            statuses: vec![Status::Running, Status::Sleeping],
            limit: None,
            ..Default::default()
        };
        let unfinished = self.store.list(&filter).await?;
        let mut tasks = Vec::new();
        let mut skipped = Vec::new();
        for exec in unfinished {
            let dead: Vec<String> = exec
                .lease_owner
                .iter()
                .filter(|o| is_dead_local_owner(o))
                .cloned()
                .collect();
            match self
                .store
                .claim(&exec.id, &self.node_id, self.lease_ms(), &dead)
                .await?
            {
                Some(lease) => {
                    let rt = self.clone();
                    tasks.push((exec.id.clone(), tokio::spawn(async move { rt.run_to_end(lease).await })));
                }
                None => skipped.push(exec.id.clone()),
            }
        }
        let mut results = Vec::new();
        for (id, task) in tasks {
            let r = task
                .await
                .unwrap_or_else(|e| Err(Error::store(format!("task failed: {e}"))));
            results.push((id, r));
        }
        for id in skipped {
            let owner = self
                .store
                .execution(&id)
                .await?
                .and_then(|e| e.lease_owner)
                .unwrap_or_default();
            results.push((
                id,
                Err(Error::new(
                    codes::LEASE_LOST,
                    format!("held by the live node {owner}"),
                    "wait for that node or for its lease to expire",
                )),
            ));
        }
        Ok(results)
    }
}

/// A new execution of `component` with its `started` entry and a fresh
/// seed. The one constructor of executions (runs, API starts, children,
/// continue-as-new, schedules).
pub fn new_execution(
    id: String,
    workflow: &str,
    component: &str,
    bindings: String,
    input: &str,
    parent: Option<String>,
) -> NewExecution {
    let started = StartedPayload {
        workflow: workflow.to_owned(),
        component: component.to_owned(),
        input: input.to_owned(),
        seed: rand::random(),
    };
    NewExecution {
        id,
        workflow: workflow.to_owned(),
        component: component.to_owned(),
        bindings,
        input: input.to_owned(),
        parent,
        started: Entry {
            seq: 0,
            kind: kinds::STARTED.into(),
            payload: serde_json::to_string(&started).expect("payload encodes"),
            at_ms: now_ms(),
        },
    }
}

/// A new top-level execution with a fresh id, if `input` is JSON.
fn checked_new_execution(workflow: &str, component: &str, bindings: &Bindings, input: &str) -> Result<NewExecution> {
    if serde_json::from_str::<serde_json::Value>(input).is_err() {
        return Err(Error::new(
            codes::INVALID_INPUT,
            "the input is not valid JSON",
            "pass JSON, e.g. --input '{\"n\": 10}'",
        ));
    }
    let bindings = serde_json::to_string(bindings).expect("bindings encode");
    Ok(new_execution(
        uuid::Uuid::now_v7().to_string(),
        workflow,
        component,
        bindings,
        input,
        None,
    ))
}

/// Children started in a journal that have no recorded outcome.
fn open_children_of(journal: &[Entry]) -> Vec<ChildRef> {
    let done: std::collections::HashSet<u32> = journal
        .iter()
        .filter(|e| e.kind == kinds::CHILD_DONE)
        .filter_map(|e| {
            serde_json::from_str::<crate::journal::EventPayload>(&e.payload)
                .ok()
                .map(|p| p.of)
        })
        .collect();
    journal
        .iter()
        .filter(|e| e.kind == kinds::CHILD_START && !done.contains(&e.seq))
        .filter_map(|e| serde_json::from_str::<crate::journal::CommandPayload>(&e.payload).ok())
        .filter_map(|p| {
            let id = p.result.get("id")?.as_str()?.to_owned();
            let policy = p.args.get("policy")?.as_str()?.to_owned();
            Some(ChildRef { id, policy })
        })
        .collect()
}

/// Applies each open child's parent-close policy.
async fn close_children(store: &dyn Store, parent: &str, children: Vec<ChildRef>) {
    for child in children {
        let result = match child.policy.as_str() {
            "terminate" => store
                .terminate(&child.id, &format!("parent {parent} finished"))
                .await
                .map(|_| ()),
            "request-cancel" => store.push_inbox(&child.id, "cancel", "", "null").await.map(|_| ()),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!("closing child {} of {parent} failed: {}", child.id, e.message);
        }
    }
}

pub(crate) fn not_found(id: &str) -> Error {
    Error::new(
        codes::NOT_FOUND,
        format!("no execution with id {id}"),
        "list executions with `cairn list`",
    )
}

fn missing_component(digest: &str) -> Error {
    Error::new(
        codes::NOT_FOUND,
        format!("component {digest} is not in the store"),
        "the data directory is incomplete; run the workflow again with its components",
    )
}

/// Turns a guest trap into a coded error naming the limit that stopped it.
pub(crate) fn classify_trap(trap: &wasmtime::Error, guard: &crate::engine::Guard, stderr: &[u8]) -> Error {
    let stderr = String::from_utf8_lossy(stderr).trim().replace('\n', " | ");
    let with_stderr = |m: String| {
        if stderr.is_empty() {
            m
        } else {
            format!("{m}; guest stderr: {stderr}")
        }
    };
    if guard.cpu_exceeded {
        Error::new(
            codes::CPU_BUDGET,
            format!(
                "the workflow ran longer than its CPU budget of {:?} without a host call",
                guard.cpu_budget()
            ),
            "look for an endless loop; raise --cpu-budget-ms if the computation is legitimate",
        )
    } else if guard.memory_exceeded {
        Error::new(
            codes::MEMORY_LIMIT,
            format!(
                "the workflow tried to use more than its memory limit of {} MiB",
                guard.memory_limit_mib()
            ),
            "look for unbounded growth; raise --memory-limit-mb if the workload needs it",
        )
    } else {
        Error::new(
            codes::GUEST_TRAP,
            with_stderr(format!("the workflow trapped: {}", trap.root_cause())),
            "fix the workflow (a panic or a WebAssembly trap) and start it again",
        )
    }
}
