//! OpenTelemetry traces, sent over OTLP/HTTP (protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set; without it nothing is made and every call here is a no-op.
//!
//! Spans: one per API request (continuing a `traceparent` the caller sent),
//! one per activation, one per live journaled host call, one per activity
//! attempt (with its idempotency key). The start request's trace context
//! is kept in the execution's `started` entry, so every later activation —
//! on any node, after any crash — continues the same trace, and an
//! activity's outgoing HTTP requests carry it as `traceparent`.
//!
//! The context travels with the futures that do the work
//! ([`opentelemetry::context::FutureExt::with_context`]), so
//! [`Context::current`] inside them is the span of the work at hand.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::collections::HashMap;
use std::sync::OnceLock;

pub use opentelemetry::context::FutureExt;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Starts exporting when the environment names an OTLP endpoint; returns
/// whether it does. Failing to build the exporter is logged, not fatal.
pub fn init_from_env() -> bool {
    let named = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !named || PROVIDER.get().is_some() {
        return PROVIDER.get().is_some();
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!("OTLP trace export is off: {e}");
            return false;
        }
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("cairn")
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let _ = TRACER.set(provider.tracer("cairn"));
    PROVIDER.set(provider).is_ok()
}

/// Sends what is buffered and stops (at the end of the process).
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
        let _ = p.shutdown();
    }
}

/// A new span `name` under `parent`, as the context to run its work in;
/// `None` when traces are off.
pub fn start(name: String, kind: SpanKind, parent: &Context, attributes: Vec<KeyValue>) -> Option<Context> {
    let tracer = TRACER.get()?;
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    Some(parent.with_span(span))
}

/// Runs `work` inside the span of `cx` (when there is one), so the spans
/// it starts hang under it.
pub async fn within<F: std::future::Future>(cx: &Option<Context>, work: F) -> F::Output {
    match cx {
        Some(cx) => work.with_context(cx.clone()).await,
        None => work.await,
    }
}

/// A new span under the current context (see [`start`]).
pub fn start_here(name: String, kind: SpanKind, attributes: Vec<KeyValue>) -> Option<Context> {
    start(name, kind, &Context::current(), attributes)
}

/// Ends the span of `cx`, marking it failed with `error` if given.
pub fn end(cx: Option<Context>, error: Option<&str>) {
    if let Some(cx) = cx {
        let span = cx.span();
        if let Some(e) = error {
            span.set_status(opentelemetry::trace::Status::error(e.to_owned()));
        }
        span.end();
    }
}

/// Adds an attribute to the span of `cx`.
pub fn annotate(cx: &Option<Context>, attribute: KeyValue) {
    if let Some(cx) = cx {
        cx.span().set_attribute(attribute);
    }
}

/// The W3C `traceparent` of a context's span, if traces are on and it has one.
pub fn traceparent(cx: &Context) -> Option<String> {
    TRACER.get()?;
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier.remove("traceparent")
}

/// The `traceparent` of the current context.
pub fn current_traceparent() -> Option<String> {
    traceparent(&Context::current())
}

/// The context a `traceparent` names (an empty one when it names none).
pub fn from_traceparent(text: Option<&str>) -> Context {
    let Some(text) = text else { return Context::new() };
    let carrier = HashMap::from([("traceparent".to_owned(), text.to_owned())]);
    TraceContextPropagator::new().extract(&carrier)
}

/// Whether spans are being made.
pub fn on() -> bool {
    TRACER.get().is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_an_endpoint_nothing_is_made() {
        assert!(super::start_here("x".into(), opentelemetry::trace::SpanKind::Internal, vec![]).is_none());
        assert_eq!(super::current_traceparent(), None);
        let cx = super::from_traceparent(Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        use opentelemetry::trace::TraceContextExt;
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }
}
