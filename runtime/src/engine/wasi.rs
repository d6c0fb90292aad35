//! The WASI a guest sees.
//!
//! Workflows get deterministic WASI: the wall clock reads the execution's
//! logical time (when the last journaled call was recorded, identical on
//! replay), the monotonic clock counts logical nanoseconds since the start,
//! randomness comes from generators seeded by the journaled seed, and there
//! are no files, sockets, environment or arguments. Activities get real
//! clocks and randomness and outgoing HTTP limited to an allow-list.

use http_body_util::BodyExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpHooks;

/// Wall clock reading the logical time of the execution.
struct LogicalWallClock(Arc<AtomicI64>);

impl HostWallClock for LogicalWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed).max(0) as u64)
    }
}

/// Monotonic clock: logical nanoseconds since the execution started.
struct LogicalMonotonicClock {
    clock: Arc<AtomicI64>,
    start_ms: i64,
}

impl HostMonotonicClock for LogicalMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        let ms = self.clock.load(Ordering::Relaxed) - self.start_ms;
        (ms.max(0) as u64) * 1_000_000
    }
}

/// Deterministic WASI for a workflow. Returns the context and the pipe that
/// collects the guest's stderr (shown when the guest traps).
pub(crate) fn workflow_ctx(clock: Arc<AtomicI64>, start_ms: i64, seed: u64) -> (WasiCtx, MemoryOutputPipe) {
    let stderr = MemoryOutputPipe::new(16 * 1024);
    let mut b = WasiCtxBuilder::new();
    b.wall_clock(LogicalWallClock(clock.clone()))
        .monotonic_clock(LogicalMonotonicClock { clock, start_ms })
        .secure_random(StdRng::seed_from_u64(seed))
        .insecure_random(StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15))
        .insecure_random_seed(u128::from(seed) << 64 | u128::from(!seed))
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    (b.build(), stderr)
}

/// Clocks that read zero and randomness of zeros, for a spare instance's
/// store: any use trips the flag (the component then gets no spares).
struct Tripwire(Arc<AtomicBool>);

impl Tripwire {
    fn trip(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl HostWallClock for Tripwire {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.trip();
        Duration::ZERO
    }
}

impl HostMonotonicClock for Tripwire {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        self.trip();
        0
    }
}

impl rand::TryRng for Tripwire {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.trip();
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.trip();
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.trip();
        dst.fill(0);
        Ok(())
    }
}

/// WASI for a spare instance's store, which has no execution yet: reading
/// a clock or randomness sets `touched` (and gets zeros), so a component
/// that does so while it is instantiated is found out.
pub(crate) fn tripwire_ctx(touched: Arc<AtomicBool>) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.wall_clock(Tripwire(touched.clone()))
        .monotonic_clock(Tripwire(touched.clone()))
        .secure_random(Tripwire(touched.clone()))
        .insecure_random(Tripwire(touched))
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b.build()
}

/// WASI for an activity attempt: real clocks and randomness, stderr captured,
/// no files, no environment, no raw sockets (HTTP goes through wasi:http).
pub(crate) fn activity_ctx() -> (WasiCtx, MemoryOutputPipe) {
    let stderr = MemoryOutputPipe::new(16 * 1024);
    let mut b = WasiCtxBuilder::new();
    b.stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    (b.build(), stderr)
}

/// Lets an activity's outgoing HTTP requests through only to allow-listed
/// hosts (`host` or `host:port`).
pub(crate) struct HttpGate {
    /// Allowed hosts.
    pub(crate) allow: Arc<Vec<String>>,
    /// The trace context of the attempt, sent along as `traceparent`.
    pub(crate) traceparent: Option<String>,
}

impl HttpGate {
    fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else { return false };
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let with_port = format!("{host}:{port}");
        self.allow
            .iter()
            .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(&with_port))
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        mut request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        if !self.allows(request.uri()) {
            tracing::warn!(
                "activity HTTP request to {} denied: not on the allow-list",
                request.uri()
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        if let Some(value) = self
            .traceparent
            .as_deref()
            .and_then(|t| http::HeaderValue::from_str(t).ok())
        {
            request.headers_mut().insert("traceparent", value);
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
