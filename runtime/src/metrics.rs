//! What this process counts, for Prometheus (`GET /metrics`).
//!
//! One set of metrics per process (like any Prometheus client): every
//! layer records into it through [`get`], which answers `None` when
//! metrics are off (`cairn server --no-metrics`), so a disabled process
//! pays one atomic load per event. Names follow Prometheus' conventions:
//! counters end in `_total`, durations are `_seconds` histograms, and the
//! labels are bounded (tenant, workflow, activity, kind of step, route).
//! The gauges that describe the store (executions running, queue depth)
//! are filled when scraped ([`Metrics::set_store_gauges`]).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The process' metrics.
pub struct Metrics {
    registry: Registry,
    /// Executions started, by tenant and workflow.
    pub started: IntCounterVec,
    /// Executions completed, by tenant and workflow.
    pub completed: IntCounterVec,
    /// Executions failed, by tenant and workflow.
    pub failed: IntCounterVec,
    /// Executions parked, by tenant and workflow.
    pub parked: IntCounterVec,
    /// Executions terminated by an operator, by tenant and workflow.
    pub terminated: IntCounterVec,
    /// Activity attempts, by tenant and activity.
    pub activity_attempts: IntCounterVec,
    /// Failed activity attempts, by tenant and activity.
    pub activity_failures: IntCounterVec,
    /// Live journaled host calls, by kind: from the call to its durable answer.
    pub step_seconds: HistogramVec,
    /// One commit of entries and a status change to the store.
    pub commit_seconds: Histogram,
    /// From an execution being due to a node claiming it.
    pub claim_lag_seconds: Histogram,
    /// From a start handing an execution to this node to its activation.
    pub handoff_lag_seconds: Histogram,
    /// Activations running on this node now.
    pub activations: IntGauge,
    /// Guest instances alive now (running or idle).
    pub instances: IntGauge,
    /// Instances kept idle for a waiting execution.
    pub instances_idle: IntGauge,
    /// Instances this node may have alive at once.
    pub instances_max: IntGauge,
    /// Compiled components found in the cache, by level (`memory`, `disk`).
    pub compile_hits: IntCounterVec,
    /// Components compiled because no cache had them.
    pub compile_misses: IntCounter,
    /// Executions running or sleeping, by tenant (store-wide, at scrape).
    pub running: IntGaugeVec,
    /// Executions queued under their tenant's `max_running`, by tenant.
    pub queue_depth: IntGaugeVec,
    /// Executions parked, by tenant (store-wide, at scrape).
    pub parked_now: IntGaugeVec,
    /// API requests, by route and HTTP status.
    pub requests: IntCounterVec,
    /// API request durations, by route.
    pub request_seconds: HistogramVec,
}

/// Buckets for steps and requests: 100 µs to 60 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static METRICS: OnceLock<Metrics> = OnceLock::new();
static DISABLED: AtomicBool = AtomicBool::new(false);

/// The process' metrics, or `None` when they are off.
pub fn get() -> Option<&'static Metrics> {
    if DISABLED.load(Ordering::Relaxed) {
        return None;
    }
    Some(METRICS.get_or_init(Metrics::new))
}

/// Turns metrics off for this process (`cairn server --no-metrics`).
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// Records `elapsed` in a histogram, when metrics are on.
pub fn observe(pick: impl FnOnce(&Metrics) -> &Histogram, elapsed: Duration) {
    if let Some(m) = get() {
        pick(m).observe(elapsed.as_secs_f64());
    }
}

/// Adds one to a labelled counter, when metrics are on.
pub fn count(pick: impl FnOnce(&Metrics) -> &IntCounterVec, labels: &[&str]) {
    if let Some(m) = get() {
        pick(m).with_label_values(labels).inc();
    }
}

/// Adds `by` to a gauge, when metrics are on (negative to subtract).
pub fn gauge(pick: impl FnOnce(&Metrics) -> &IntGauge, by: i64) {
    if let Some(m) = get() {
        pick(m).add(by);
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(c.clone())).expect("registered once");
    c
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()), labels).expect("valid metric");
    registry.register(Box::new(h.clone())).expect("registered once");
    h
}

fn plain_histogram(registry: &Registry, name: &str, help: &str) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec())).expect("valid metric");
    registry.register(Box::new(h.clone())).expect("registered once");
    h
}

fn gauge_of(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("registered once");
    g
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("registered once");
    g
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let tw = &["tenant", "workflow"];
        let ta = &["tenant", "activity"];
        let info = gauges(&r, "cairn_build_info", "Cairn's version (always 1).", &["version"]);
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Metrics {
            started: counter(&r, "cairn_executions_started_total", "Executions started.", tw),
            completed: counter(&r, "cairn_executions_completed_total", "Executions completed.", tw),
            failed: counter(&r, "cairn_executions_failed_total", "Executions failed.", tw),
            parked: counter(&r, "cairn_executions_parked_total", "Executions parked.", tw),
            terminated: counter(&r, "cairn_executions_terminated_total", "Executions terminated.", tw),
            activity_attempts: counter(&r, "cairn_activity_attempts_total", "Activity attempts.", ta),
            activity_failures: counter(&r, "cairn_activity_failures_total", "Failed activity attempts.", ta),
            step_seconds: histogram(
                &r,
                "cairn_step_duration_seconds",
                "Live journaled host calls, from the call to its durable answer.",
                &["kind"],
            ),
            commit_seconds: plain_histogram(
                &r,
                "cairn_commit_duration_seconds",
                "Commits of journal entries and a status change.",
            ),
            claim_lag_seconds: plain_histogram(
                &r,
                "cairn_claim_lag_seconds",
                "From an execution being due to a node claiming it.",
            ),
            handoff_lag_seconds: plain_histogram(
                &r,
                "cairn_handoff_lag_seconds",
                "From a start handing an execution to this node to its first activation.",
            ),
            activations: gauge_of(&r, "cairn_activations", "Activations running on this node."),
            instances: gauge_of(&r, "cairn_instances", "Guest instances alive (running or idle)."),
            instances_idle: gauge_of(&r, "cairn_instances_idle", "Guest instances kept idle for a wait."),
            instances_max: gauge_of(&r, "cairn_instances_max", "Guest instances this node may have alive."),
            compile_hits: counter(
                &r,
                "cairn_compile_cache_hits_total",
                "Compiled components found in a cache.",
                &["level"],
            ),
            compile_misses: {
                let c = IntCounter::new("cairn_compile_cache_misses_total", "Components compiled.").expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            running: gauges(
                &r,
                "cairn_executions_running",
                "Executions running or sleeping (store-wide).",
                &["tenant"],
            ),
            queue_depth: gauges(
                &r,
                "cairn_queue_depth",
                "Executions queued under max_running (store-wide).",
                &["tenant"],
            ),
            parked_now: gauges(
                &r,
                "cairn_executions_parked",
                "Executions parked (store-wide).",
                &["tenant"],
            ),
            requests: counter(&r, "cairn_http_requests_total", "API requests.", &["route", "status"]),
            request_seconds: histogram(&r, "cairn_http_request_duration_seconds", "API requests.", &["route"]),
            registry: r,
        }
    }

    /// Sets the store-wide gauges from `(tenant, status, count)` rows.
    pub fn set_store_gauges(&self, counts: &[(String, String, i64)]) {
        for g in [&self.running, &self.queue_depth, &self.parked_now] {
            g.reset();
        }
        for (tenant, status, n) in counts {
            let g = match status.as_str() {
                "running" | "sleeping" => &self.running,
                "queued" => &self.queue_depth,
                "parked" => &self.parked_now,
                _ => continue,
            };
            g.with_label_values(&[tenant]).add(*n);
        }
    }

    /// The metrics in Prometheus' text format (0.0.4). With `tenant`, only
    /// that tenant's series (those labelled with it); without, all.
    pub fn render(&self, tenant: Option<&str>) -> String {
        let mut families = self.registry.gather();
        if let Some(tenant) = tenant {
            families.retain_mut(|family| {
                let metrics = family.take_metric();
                let own: Vec<_> = metrics
                    .into_iter()
                    .filter(|m| {
                        m.get_label()
                            .iter()
                            .any(|l| l.name() == "tenant" && l.value() == tenant)
                    })
                    .collect();
                let keep = !own.is_empty();
                family.set_metric(own);
                keep
            });
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out).expect("text encoding");
        String::from_utf8(out).expect("text format is UTF-8")
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_sees_only_its_own_series() {
        let m = Metrics::new();
        m.started.with_label_values(&["a", "orders"]).inc();
        m.started.with_label_values(&["b", "orders"]).inc();
        m.compile_misses.inc();
        let all = m.render(None);
        assert!(all.contains("cairn_executions_started_total{tenant=\"a\",workflow=\"orders\"} 1"));
        assert!(all.contains("cairn_compile_cache_misses_total 1"));
        let a = m.render(Some("a"));
        assert!(a.contains("tenant=\"a\""), "{a}");
        assert!(!a.contains("tenant=\"b\""), "{a}");
        assert!(!a.contains("cairn_compile_cache_misses_total"), "{a}");
    }

    #[test]
    fn store_gauges_are_replaced_not_added() {
        let m = Metrics::new();
        let rows = vec![
            ("a".to_owned(), "running".to_owned(), 2),
            ("a".to_owned(), "sleeping".to_owned(), 3),
            ("a".to_owned(), "queued".to_owned(), 4),
        ];
        m.set_store_gauges(&rows);
        m.set_store_gauges(&rows);
        assert_eq!(m.running.with_label_values(&["a"]).get(), 5);
        assert_eq!(m.queue_depth.with_label_values(&["a"]).get(), 4);
    }
}
