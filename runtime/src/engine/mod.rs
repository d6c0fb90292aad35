//! The engine: wasmtime configured for Cairn, and the components it runs.
//!
//! One [`Engine`] per process. Components are compiled once per content
//! digest and the native code is cached on disk under the data directory
//! (keyed by digest and engine compatibility hash), so a restart only maps
//! the artifact back in; artifacts another engine configuration wrote (an
//! older Cairn) are collected when the engine starts. Instances come from a pooling allocator through
//! pre-linked `InstancePre`s, which makes instantiation a few microseconds.
//! Every store gets a memory cap and a CPU budget per activation (epoch
//! interruption), so a runaway guest fails its own execution only.

mod activity_host;
mod components;
pub(crate) mod fair;
mod guard;
mod guest_log;
mod memory;
mod wasi;
pub(crate) mod workflow_host;

pub(crate) use activity_host::{ActivityComponent, ActivityRegistry};
pub(crate) use components::{digest_of, imports_of};
pub use fair::TenantCell;
pub(crate) use memory::IdleTicket;
use memory::{IdleInstances, MemoryTotals};
pub(crate) use workflow_host::WorkflowComponent;

use crate::error::Result;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::Component;

/// Generated host bindings of the WIT worlds.
#[allow(missing_docs, unreachable_pub)]
pub(crate) mod bindings {
    /// The `workflow` world.
    pub(crate) mod workflow {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "cairn:workflow/workflow",
            imports: { default: async | trappable },
            exports: { default: async },
        });
    }
    /// The `activity` world.
    pub(crate) mod activity {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "cairn:workflow/activity",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                "wasi:io": wasmtime_wasi::p2::bindings::io,
                "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
                "cairn:workflow/types": super::workflow::cairn::workflow::types,
            },
        });
    }
}

/// Limits and budgets applied to every guest.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    /// Where compiled artifacts are cached.
    pub(crate) cache_dir: PathBuf,
    /// Linear memory cap of one instance, in bytes.
    pub(crate) memory_limit: usize,
    /// CPU time a workflow may use between two host calls.
    pub(crate) cpu_budget: Duration,
    /// Instances that may be live at once (pool size).
    pub(crate) max_instances: u32,
    /// Cap on the memory of all instances together, bytes (none: no cap).
    pub(crate) total_memory: Option<usize>,
    /// The node's fair shares of CPU between tenants.
    pub(crate) fair: Arc<fair::FairShare>,
}

/// How often the epoch ticks; the CPU budget is checked at each tick.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// wasmtime plus Cairn's linkers, component caches and instance permits.
pub(crate) struct Engine {
    pub(crate) wasm: wasmtime::Engine,
    pub(crate) config: EngineConfig,
    workflow_linker: wasmtime::component::Linker<workflow_host::WorkflowState>,
    activity_linker: wasmtime::component::Linker<activity_host::ActivityState>,
    workflows: Mutex<HashMap<String, Arc<WorkflowComponent>>>,
    activities: Mutex<HashMap<String, Arc<ActivityComponent>>>,
    /// One compilation at a time per digest.
    compiling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Permits for live workflow instances (the pool is shared with activities).
    workflow_permits: Arc<Semaphore>,
    /// How many permits `workflow_permits` was made with.
    workflow_capacity: usize,
    /// Pool slots set aside for spare instances.
    spare_slots: Arc<Semaphore>,
    /// Workflow instances waiting idle, the least recently used first.
    idle: Arc<IdleInstances>,
    /// Permits for live activity instances.
    activity_permits: Arc<Semaphore>,
    /// The limits every guest store gets (memory cap, CPU budget, CPU gate).
    pub(crate) limits: guard::Limits,
    /// Tenants' CPU meters on this node.
    meters: Mutex<HashMap<String, Arc<guard::CpuMeter>>>,
}

impl Engine {
    /// Configures wasmtime (component model, epoch interruption, the
    /// switches that make execution deterministic, pooling allocator) and
    /// links the host interfaces.
    pub(crate) fn new(config: EngineConfig) -> Result<Arc<Engine>> {
        let mut wc = wasmtime::Config::new();
        wc.wasm_component_model(true);
        wc.epoch_interruption(true);
        deterministic(&mut wc);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        let n = config.max_instances.max(16);
        // Live instances, plus the slots set aside for spare instances.
        let slots = n + workflow_host::SPARE_SLOTS;
        if let Some(m) = crate::metrics::get() {
            m.instances_max.set(i64::from(slots));
        }
        pool.total_component_instances(slots);
        pool.total_core_instances(slots * 8);
        pool.total_memories(slots * 2);
        pool.total_tables(slots * 8);
        pool.max_core_instances_per_component(64);
        pool.max_memories_per_component(16);
        pool.max_tables_per_component(64);
        pool.max_memory_size(config.memory_limit.max(1 << 20).next_power_of_two());
        // Reuse slots without returning pages to the kernel: reset small
        // memories and tables with memset instead of madvise (which costs a
        // TLB shootdown per instance); what is above that goes back to the
        // kernel as soon as an instance is dropped (a failed guest that grew
        // to its cap does not hold its memory until its slot is reused).
        pool.linear_memory_keep_resident(1 << 20);
        pool.table_keep_resident(64 << 10);
        pool.async_stack_keep_resident(64 << 10);
        pool.decommit_batch_size(1);
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        wc.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let wasm = wasmtime::Engine::new(&wc).map_err(|e| {
            crate::error::Error::new(
                crate::error::codes::IO,
                format!("cannot configure the WebAssembly engine: {e}"),
                "lower --max-instances or --memory-limit-mb, or raise the address-space limit (ulimit -v)",
            )
        })?;
        let workflow_linker = workflow_host::linker(&wasm).expect("linking workflow host functions");
        let activity_linker = activity_host::linker(&wasm).expect("linking activity host functions");
        let activity_share = (n / 8).max(8);
        let idle = Arc::new(IdleInstances::default());
        let engine = Arc::new(Engine {
            workflow_permits: Arc::new(Semaphore::new((n - activity_share) as usize)),
            workflow_capacity: (n - activity_share) as usize,
            spare_slots: Arc::new(Semaphore::new(workflow_host::SPARE_SLOTS as usize)),
            idle: idle.clone(),
            activity_permits: Arc::new(Semaphore::new(activity_share as usize)),
            meters: Mutex::new(HashMap::new()),
            limits: guard::Limits {
                memory_limit: config.memory_limit,
                cpu_budget: config.cpu_budget,
                gate: guard::CpuGate::for_machine(),
                memory: Arc::new(MemoryTotals::new(config.total_memory, idle)),
                fair: config.fair.clone(),
            },
            wasm,
            config,
            workflow_linker,
            activity_linker,
            workflows: Mutex::new(HashMap::new()),
            activities: Mutex::new(HashMap::new()),
            compiling: Mutex::new(HashMap::new()),
        });
        spawn_epoch_ticker(Arc::downgrade(&engine));
        let (wasm, dir) = (engine.wasm.clone(), engine.config.cache_dir.clone());
        std::thread::spawn(move || {
            let freed = components::collect_artifacts(&wasm, &dir);
            if freed > 0 {
                tracing::info!(
                    "collected {} MiB of stale compiled artifacts in {}",
                    freed >> 20,
                    dir.display()
                );
            }
        });
        Ok(engine)
    }

    /// Compiles a component (or maps its cached artifact, unless `fresh`)
    /// off the async runtime, once per digest however many ask at the same
    /// time.
    async fn compile(
        &self,
        digest: &str,
        bytes: Vec<u8>,
        fresh: bool,
        loaded: impl Fn() -> bool,
    ) -> Result<Option<Component>> {
        let gate = self
            .compiling
            .lock()
            .unwrap()
            .entry(digest.to_owned())
            .or_default()
            .clone();
        let _one_at_a_time = gate.lock().await;
        if !fresh && loaded() {
            return Ok(None);
        }
        let (wasm, dir, d) = (self.wasm.clone(), self.config.cache_dir.clone(), digest.to_owned());
        let compiled = tokio::task::spawn_blocking(move || components::compile(&wasm, &dir, &d, &bytes, fresh))
            .await
            .map_err(|e| crate::error::Error::store(format!("compiling failed: {e}")))??;
        Ok(Some(compiled))
    }

    /// The workflow component with this digest, compiling (or loading the
    /// cached artifact) on first use; with `fresh`, compiled again whatever
    /// is cached (a tenant's first upload of bytes another tenant may have
    /// uploaded takes the time of a compile, so it tells nothing of what
    /// others run). Fails with a coded error when the bytes are not a
    /// workflow component.
    pub(crate) async fn workflow(&self, digest: &str, bytes: Vec<u8>, fresh: bool) -> Result<Arc<WorkflowComponent>> {
        if !fresh && let Some(c) = self.cached_workflow(digest) {
            return Ok(c);
        }
        components::check_world(&bytes, components::World::Workflow)?;
        let Some(component) = self
            .compile(digest, bytes, fresh, || self.cached_workflow(digest).is_some())
            .await?
        else {
            return Ok(self.cached_workflow(digest).expect("loaded meanwhile"));
        };
        let loaded = Arc::new(WorkflowComponent::new(self, component)?);
        let mut all = self.workflows.lock().unwrap();
        // One instance of a component per digest: a fresh compile of a
        // loaded one only proves the bytes compile.
        Ok(all.entry(digest.to_owned()).or_insert(loaded).clone())
    }

    /// The activity component with this digest (see [`Engine::workflow`]).
    pub(crate) async fn activity(&self, digest: &str, bytes: Vec<u8>, fresh: bool) -> Result<Arc<ActivityComponent>> {
        if !fresh && let Some(c) = self.cached_activity(digest) {
            return Ok(c);
        }
        components::check_world(&bytes, components::World::Activity)?;
        let Some(component) = self
            .compile(digest, bytes, fresh, || self.cached_activity(digest).is_some())
            .await?
        else {
            return Ok(self.cached_activity(digest).expect("loaded meanwhile"));
        };
        let loaded = Arc::new(ActivityComponent::new(self, digest, component).await?);
        let mut all = self.activities.lock().unwrap();
        Ok(all.entry(digest.to_owned()).or_insert(loaded).clone())
    }

    /// A permit for one live workflow instance. When the pool is full, the
    /// least recently used idle instance is asked to leave (it suspends and
    /// is replayed when it wakes) instead of the new work being refused.
    pub(crate) async fn workflow_permit(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.workflow_permits.clone().try_acquire_owned() {
                return permit;
            }
            // Watch for instances going idle before evicting, so none is missed.
            let went_idle = self.idle.entered.notified();
            tokio::pin!(went_idle);
            went_idle.as_mut().enable();
            self.idle.evict_oldest(None, None);
            tokio::select! {
                permit = self.workflow_permits.clone().acquire_owned() => {
                    return permit.expect("permits are never closed");
                }
                // Nothing (more) to evict yet, or someone else took the permit:
                // evict the instance that just went idle.
                _ = went_idle => {}
            }
        }
    }

    /// A tenant's CPU meter on this node, with its quota set to `per_minute`
    /// (ms of CPU per minute; none: unlimited).
    pub(crate) fn cpu_meter(&self, tenant: &str, per_minute: Option<u64>) -> Arc<guard::CpuMeter> {
        let meter = self.cpu_meter_of(tenant);
        meter.set_limit(per_minute.map(Duration::from_millis));
        meter
    }

    /// A tenant's CPU meter as last set (activities count against it too).
    pub(crate) fn cpu_meter_of(&self, tenant: &str) -> Arc<guard::CpuMeter> {
        self.meters
            .lock()
            .unwrap()
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(guard::CpuMeter::of(tenant)))
            .clone()
    }

    /// What a background refill of spare instances needs.
    pub(crate) fn spare_maker(&self) -> workflow_host::SpareMaker {
        workflow_host::SpareMaker {
            wasm: self.wasm.clone(),
            limits: self.limits.clone(),
            slots: self.spare_slots.clone(),
        }
    }

    /// Marks the calling instance (of `tenant`) as idle (evictable) until
    /// the ticket drops.
    pub(crate) fn idle(&self, tenant: &str) -> IdleTicket {
        self.idle.enter(tenant)
    }

    /// Sets a tenant's limits on this node: the memory of one instance and
    /// of all its instances together (none: the node's).
    pub(crate) fn set_tenant_memory(&self, tenant: &str, per_instance: Option<usize>, total: Option<usize>) {
        self.limits.memory.set_tenant_limits(tenant, total, per_instance);
    }

    /// The workflow component with this digest, if already loaded.
    pub(crate) fn cached_workflow(&self, digest: &str) -> Option<Arc<WorkflowComponent>> {
        self.workflows.lock().unwrap().get(digest).cloned()
    }

    /// The activity component with this digest, if already loaded.
    pub(crate) fn cached_activity(&self, digest: &str) -> Option<Arc<ActivityComponent>> {
        self.activities.lock().unwrap().get(digest).cloned()
    }
}

/// The switches without which a guest could compute differently on two
/// nodes (`docs/architecture.md`, "Determinism of the machine"): every NaN
/// canonical (floats and `v128`), relaxed SIMD with its deterministic
/// semantics instead of the CPU's, and no shared-memory threads or
/// 64-bit memories (the one nondeterministic by nature — wasmtime's
/// `threads` feature is not even compiled in — the other outside what the
/// pooling allocator bounds).
fn deterministic(wc: &mut wasmtime::Config) {
    wc.cranelift_nan_canonicalization(true);
    wc.wasm_relaxed_simd(true);
    wc.relaxed_simd_deterministic(true);
    wc.wasm_shared_everything_threads(false);
    wc.wasm_memory64(false);
}

fn spawn_epoch_ticker(engine: Weak<Engine>) {
    std::thread::Builder::new()
        .name("cairn-epoch".into())
        .spawn(move || {
            while let Some(e) = engine.upgrade() {
                e.wasm.increment_epoch();
                drop(e);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
