//! The node: the only way into Cairn.
//!
//! A [`Node`] owns a store and an engine and is the one place that knows
//! the rules: it deploys, starts, signals, cancels, terminates, lists and
//! waits for executions (`commands.rs`), drives activations and commits how
//! each one ends (`drive.rs`), serves the engine's effects — commits,
//! inboxes, children (`effects.rs`) — claims work from other nodes
//! (`worker.rs`), fires schedules (`schedules.rs`) and checks journals
//! against new code (`replay.rs`). Everything it decides per tenant —
//! authentication, quotas, rates, admission, audit — is asked of its
//! [`tenancy`] (`tenancy/`), whose commands for administrators are in
//! `admin.rs`. The HTTP API and the CLI are thin adapters over its
//! commands; the store and the engine are private to it.

mod admin;
pub mod bench;
mod children;
mod commands;
mod drive;
mod effects;
mod observe;
mod replay;
mod schedules;
mod slots;
mod tenancy;
mod types;
mod wakeups;
mod worker;

pub use crate::engine::TenantCell;
pub use crate::store::{Schema, StoreConfig, redact};
pub use admin::{CreateTenantRequest, CreateTokenRequest, CreatedToken, TenantDetail};
pub(crate) use commands::checked_wait;
pub use drive::Outcome;
pub use observe::COUNT_CAP;
pub use replay::{ReplayReport, ReplayRequest, Verdict};
pub use schedules::next_fire;
pub use tenancy::{AuditQuery, Caller, Rate};
pub(crate) use tenancy::{check_quotas, payload_quota_hit};
pub use types::{
    CancelResponse, ComponentBytes, ComponentInfo, ComponentKind, DeployRequest, ErrorBody, ExecutionDetail,
    ExecutionPage, JournalEntry, ListQuery, ResultQuery, ResultResponse, ScheduleRequest, SignalResponse, StartAnswer,
    StartQuery, StartRequest, StartResponse, TerminateRequest, TerminateResponse, UnparkRequest, UnparkResponse,
    UploadQuery,
};

use crate::engine::{ActivityRegistry, Engine, EngineConfig, WorkflowComponent};
use crate::error::{Error, Result, codes};
use crate::model::{Bindings, Created, Key, NewExecution, Quotas, StoreEvent, now_ms};
use crate::store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, Weak};
use std::time::Duration;
use wakeups::Wakeups;

/// Settings of a node: the limits of its guests and its leases.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// Linear memory cap of one guest instance, in bytes.
    pub memory_limit: usize,
    /// CPU time a workflow may use between two host calls (CPU, not wall clock).
    pub cpu_budget: Duration,
    /// Guest instances that may be live at once.
    pub max_instances: u32,
    /// Memory of all guest instances together, bytes (none: no cap): past
    /// it, starts and `memory.grow` wait for memory.
    pub total_memory: Option<usize>,
    /// Lease duration; renewed at a third of it.
    pub lease: Duration,
    /// Waits longer than this drop the instance and wake by replay.
    pub evict_after: Duration,
    /// Print workflow log lines to stderr.
    pub echo_logs: bool,
    /// Executions this node drives at once (claimed or handed to it).
    pub max_concurrent: usize,
    /// Longest any wait (for work, a result, a signal, a child) goes without
    /// looking again when no notification came: the fallback for a lost one.
    pub fallback: Duration,
    /// The quotas of every tenant where it has none of its own.
    pub default_quotas: Quotas,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            cache_dir: std::env::temp_dir().join("cairn-cache"),
            memory_limit: 256 << 20,
            cpu_budget: Duration::from_secs(5),
            max_instances: 1000,
            total_memory: None,
            lease: Duration::from_secs(5),
            evict_after: Duration::from_secs(2),
            echo_logs: true,
            max_concurrent: 256,
            fallback: Duration::from_secs(1),
            default_quotas: Quotas::defaults(),
        }
    }
}

/// A runtime node: a store, an engine, an identity and the rules.
pub struct Node {
    store: Arc<dyn Store>,
    store_config: StoreConfig,
    engine: OnceLock<Arc<Engine>>,
    engine_init: Mutex<()>,
    id: String,
    started_at_ms: i64,
    config: NodeConfig,
    registries: Mutex<HashMap<Bindings, Arc<ActivityRegistry>>>,
    /// Executions this node just created and has not driven yet: their
    /// first activation needs no read from the store.
    fresh: Mutex<HashMap<Key, NewExecution>>,
    /// Who waits for what on this node, and the events that wake them.
    wakeups: Wakeups,
    /// Executions this node may drive at once: claims and hand-offs take one.
    slots: Arc<slots::Slots>,
    /// Executions this node is driving now — the only leases it renews —
    /// with the flag that stops a computing guest when one is ended from
    /// outside.
    active: Mutex<HashMap<Key, Arc<AtomicBool>>>,
    renewer: Once,
    /// What this node knows and decides per tenant (`tenancy/`).
    tenancy: tenancy::Tenancy,
    /// Tenants' fair shares of this node's CPU (`engine/fair.rs`).
    fair: Arc<crate::engine::fair::FairShare>,
    /// Store writes (creations, commits) waiting on the store now: their
    /// time is shared out between their tenants (`Node::store_write`).
    writes_in_flight: std::sync::atomic::AtomicUsize,
    me: Weak<Node>,
}

impl Node {
    /// Opens the store and makes a node over it. The engine is made on first
    /// use, so commands that only read the store never build one.
    pub async fn open(store: &StoreConfig, config: NodeConfig) -> Result<Arc<Node>> {
        let opened = crate::store::open(store).await?;
        Ok(Node::over(opened, store.clone(), config))
    }

    /// Another node (own id, own engine) on this node's store: for several
    /// nodes in one process (benchmarks, tests of racing nodes).
    pub fn sibling(&self, config: NodeConfig) -> Arc<Node> {
        Node::over(self.store.clone(), self.store_config.clone(), config)
    }

    fn over(store: Arc<dyn Store>, store_config: StoreConfig, config: NodeConfig) -> Arc<Node> {
        let slots = slots::Slots::new(config.max_concurrent);
        let node = Arc::new_cyclic(|me| Node {
            tenancy: tenancy::Tenancy::new(store.clone(), config.default_quotas.clone()),
            store,
            store_config,
            engine: OnceLock::new(),
            engine_init: Mutex::new(()),
            fair: crate::engine::fair::FairShare::for_machine(),
            writes_in_flight: Default::default(),
            id: new_node_id(),
            started_at_ms: now_ms(),
            registries: Mutex::new(HashMap::new()),
            fresh: Mutex::new(HashMap::new()),
            wakeups: Wakeups::default(),
            slots,
            active: Mutex::new(HashMap::new()),
            renewer: Once::new(),
            me: me.clone(),
            config,
        });
        // What other nodes commit wakes this node's waiters too; an
        // execution ended elsewhere stops computing here.
        let weak = Arc::downgrade(&node);
        node.store.listen(Arc::new(move |event| {
            if let Some(node) = weak.upgrade() {
                if let StoreEvent::Finished(key) = &event {
                    node.stop_active(key);
                }
                node.wakeups.wake(&event);
            }
        }));
        node
    }

    /// Wakes this node's waiters for something it just committed (other
    /// nodes learn it from the store's notifications).
    fn announce(&self, event: StoreEvent) {
        self.wakeups.wake(&event);
    }

    /// Execution `key` stopped running here: its tenant's queued executions
    /// that now fit are admitted, and this node's claim loop is woken.
    async fn admit_after(&self, key: &Key) {
        if self.tenancy.admit_after(key).await {
            self.announce(StoreEvent::Work);
        }
    }

    /// Creates a new execution and, when this node has a free slot, leases
    /// it to itself in the same transaction and starts driving it at once
    /// (no claim round trip); otherwise any node claims it. Nothing is
    /// created when the id exists; it is created `queued` when its
    /// `queue_limit` is reached (see `admission.rs`).
    async fn place(&self, new: NewExecution) -> Result<Created> {
        let Some(slot) = self.slots.try_take(new.id.tenant()) else {
            // The node is full or the tenant holds its share: the claim loop
            // takes it when a slot frees (`Slots::freed`), so waking it now
            // would only make it look for work it may not take.
            let created = self.create(&new, None).await?;
            if let Created::Queued = created {
                self.tenancy.note_queued(new.id.tenant());
            }
            return Ok(created);
        };
        let id = new.id.clone();
        self.remember_fresh(new.clone());
        let placed = std::time::Instant::now();
        let created = self.create(&new, Some(&self.id)).await;
        match &created {
            Ok(Created::Leased(lease)) => {
                let (node, lease) = (self.me(), lease.clone());
                tokio::spawn(async move {
                    crate::metrics::observe(|m| &m.handoff_lag_seconds, placed.elapsed());
                    node.serve_one(lease).await;
                    drop(slot);
                });
            }
            other => {
                if let Ok(Created::Queued) = other {
                    self.tenancy.note_queued(id.tenant());
                }
                self.fresh.lock().unwrap().remove(&id);
            }
        }
        created
    }

    /// Creates an execution (leased to `owner`, if given); counts it
    /// started when it is new.
    async fn create(&self, new: &NewExecution, owner: Option<&str>) -> Result<Created> {
        let write = self.store.create_execution(new, owner, self.lease_ms());
        let created = self.store_write(new.id.tenant(), write).await.0?;
        if created.is_new() {
            crate::metrics::count(|m| &m.started, &[new.id.tenant(), new.workflow.name()]);
        }
        Ok(created)
    }

    /// Runs a store write for `tenant` and says how long it took; the
    /// tenant is charged its part of the store's time, shared with the
    /// writes waiting beside it (`FairShare::charge_store`): a tenant
    /// whose writes keep the database busy is paced as for its own CPU.
    async fn store_write<T>(&self, tenant: &str, write: impl Future<Output = T>) -> (T, Duration) {
        /// Counts one write in flight until dropped (also when cancelled).
        struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let t = std::time::Instant::now();
        let in_flight = self.writes_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let counted = InFlight(&self.writes_in_flight);
        let out = write.await;
        drop(counted);
        let took = t.elapsed();
        self.fair.charge_store(tenant, took, in_flight);
        (out, took)
    }

    /// Keeps a just-created execution in memory for its first activation.
    fn remember_fresh(&self, new: NewExecution) {
        let mut fresh = self.fresh.lock().unwrap();
        if fresh.len() > 10_000 {
            fresh.clear(); // created but never driven: fall back to reading the store
        }
        fresh.insert(new.id.clone(), new);
    }

    /// This node's id: `host:pid:random`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The store it runs on, for messages.
    pub fn describe_store(&self) -> String {
        self.store_config.describe()
    }

    /// The store under this node (test support only).
    #[cfg(feature = "test-util")]
    pub(crate) fn store_for_tests(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn me(&self) -> Arc<Node> {
        self.me.upgrade().expect("a node is alive while its methods run")
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    /// The engine, made on first use.
    fn engine(&self) -> Result<Arc<Engine>> {
        if let Some(e) = self.engine.get() {
            return Ok(e.clone());
        }
        let _init = self.engine_init.lock().unwrap();
        if let Some(e) = self.engine.get() {
            return Ok(e.clone());
        }
        let engine = Engine::new(EngineConfig {
            cache_dir: self.config.cache_dir.clone(),
            memory_limit: self.config.memory_limit,
            cpu_budget: self.config.cpu_budget,
            max_instances: self.config.max_instances,
            total_memory: self.config.total_memory,
            fair: self.fair.clone(),
        })?;
        let _ = self.engine.set(engine.clone());
        Ok(engine)
    }

    /// The workflow component with this digest: cached, or loaded from the
    /// store and compiled (or `bytes`, when the caller has them).
    async fn workflow_component(&self, digest: &str) -> Result<Arc<WorkflowComponent>> {
        let engine = self.engine()?;
        if let Some(c) = engine.cached_workflow(digest) {
            crate::metrics::count(|m| &m.compile_hits, &["memory"]);
            return Ok(c);
        }
        let bytes = self.component_bytes(digest).await?;
        engine.workflow(digest, bytes, false).await
    }

    async fn component_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        self.store.component(digest).await?.ok_or_else(|| {
            Error::new(
                codes::NOT_FOUND,
                format!("component {digest} is not in the store"),
                "upload it first (cairn deploy, or cairn run with the component)",
            )
        })
    }

    /// The activities an execution with these bindings may call (checked:
    /// every component is an activity component, no name served twice).
    async fn registry(&self, bindings: &Bindings) -> Result<Arc<ActivityRegistry>> {
        if let Some(r) = self.registries.lock().unwrap().get(bindings) {
            return Ok(r.clone());
        }
        let engine = self.engine()?;
        let mut components = Vec::new();
        for digest in &bindings.activities {
            let c = match engine.cached_activity(digest) {
                Some(c) => c,
                None => {
                    engine
                        .activity(digest, self.component_bytes(digest).await?, false)
                        .await?
                }
            };
            components.push(c);
        }
        let registry = Arc::new(ActivityRegistry::new(components, &bindings.http_allow)?);
        self.registries
            .lock()
            .unwrap()
            .insert(bindings.clone(), registry.clone());
        Ok(registry)
    }

    /// Checks that a workflow and its bindings can run together: the one
    /// validation of deployments and local runs.
    async fn validate(&self, workflow: &str, bindings: &Bindings) -> Result<()> {
        self.workflow_component(workflow).await?;
        self.registry(bindings).await?;
        Ok(())
    }

    /// Starts, once, the task that renews the leases of executions this
    /// node drives and records its heartbeat.
    fn start_renewer(&self) {
        self.renewer.call_once(|| {
            let weak = self.me.clone();
            let every = self.config.lease / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(node) = weak.upgrade() else { break };
                    node.renew().await;
                }
            });
        });
    }

    async fn renew(&self) {
        let ids: Vec<Key> = self.active.lock().unwrap().keys().cloned().collect();
        if let Err(e) = self.store.renew_leases(&self.id, &ids, self.lease_ms()).await {
            tracing::warn!("renewing leases failed: {}", e.message);
        }
        self.heartbeat().await;
    }

    /// Records this node's heartbeat and notes how many nodes are live.
    pub(super) async fn heartbeat(&self) {
        match self.store.heartbeat(&self.id, self.started_at_ms).await {
            Ok(n) => self.tenancy.set_live_nodes(n),
            Err(e) => tracing::warn!("heartbeat failed: {}", e.message),
        }
    }

    /// Counts one call of `kind` against the caller's tenant's rate (the
    /// API counts every request).
    pub(crate) async fn check_rate(&self, caller: &Caller, kind: Rate) -> Result<()> {
        self.tenancy.check_rate(caller, kind).await
    }

    /// Runs `work` (an API request) with its CPU charged to the tenant
    /// `tenant` names once it is known (`engine/fair.rs`).
    pub(crate) async fn metered<F: std::future::Future>(&self, tenant: TenantCell, work: F) -> F::Output {
        crate::engine::fair::Metered::new(&self.fair, tenant, work).await
    }

    /// Waits while the caller's tenant is past its share of this node's CPU.
    pub(crate) async fn pace(&self, caller: &Caller) {
        self.fair.paced(&caller.tenant).await
    }

    /// The caller's tenant's `max_payload_bytes` and the largest request
    /// body it may send: the payload plus room for the fields around it (a
    /// larger body cannot pass, and is refused unread).
    pub(crate) async fn body_limit(&self, caller: &Caller) -> Result<Option<(u64, u64)>> {
        self.tenancy.body_limit(caller).await
    }
}

/// Marks an execution as driven by this node for as long as it lives.
struct Active<'a> {
    node: &'a Node,
    id: Key,
    /// Set to stop the activation's guest (see [`Node::stop_active`]).
    stop: Arc<AtomicBool>,
}

impl<'a> Active<'a> {
    fn enter(node: &'a Node, id: &Key) -> Active<'a> {
        let stop = Arc::new(AtomicBool::new(false));
        node.active.lock().unwrap().insert(id.clone(), stop.clone());
        crate::metrics::gauge(|m| &m.activations, 1);
        Active {
            node,
            id: id.clone(),
            stop,
        }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        let mut active = self.node.active.lock().unwrap();
        if active.get(&self.id).is_some_and(|s| Arc::ptr_eq(s, &self.stop)) {
            active.remove(&self.id);
        }
        drop(active);
        crate::metrics::gauge(|m| &m.activations, -1);
    }
}

impl Node {
    /// Execution `id` was ended from outside: if this node is driving it,
    /// its guest stops at its next epoch tick instead of computing on.
    fn stop_active(&self, id: &Key) {
        if let Some(stop) = self.active.lock().unwrap().get(id) {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// This node's id: host name, process id and a random suffix.
fn new_node_id() -> String {
    format!("{}:{}:{:08x}", host_name(), std::process::id(), rand::random::<u32>())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether a node id names a process of this host that no longer exists.
fn is_dead_local_owner(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    host == host_name()
        && pid
            .parse::<u32>()
            .is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_name_the_host_and_process() {
        let id = new_node_id();
        let parts: Vec<&str> = id.split(':').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], std::process::id().to_string());
        assert!(!is_dead_local_owner(&id), "this process is alive");
        assert!(is_dead_local_owner(&format!("{}:4294967295:0", host_name())));
        assert!(!is_dead_local_owner("other-host:1:0"));
        assert!(!is_dead_local_owner("garbage"));
    }
}
