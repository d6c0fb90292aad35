//! OpenTelemetry traces over OTLP/HTTP: a real receiver in the test (an
//! HTTP server decoding the protobuf `ExportTraceServiceRequest`s the
//! server's exporter posts) sees one trace from the start request through
//! the activation, its host calls and each activity attempt (with its
//! idempotency key), and the activity's own HTTP request carries it on as
//! `traceparent`.

use crate::common::*;
use crate::server::Server;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// An OTLP/HTTP receiver on an ephemeral port: every span it was sent.
struct Receiver {
    port: u16,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let store = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut out = stream;
                    // Requests on a kept-alive connection, one after another.
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut length = 0;
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                                break;
                            }
                            if let Some((name, value)) = h.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        if line.starts_with("POST /v1/traces") {
                            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
                            let mut all = store.lock().unwrap();
                            for resource in request.resource_spans {
                                for scope in resource.scope_spans {
                                    all.extend(scope.spans);
                                }
                            }
                        }
                        let _ = write!(
                            out,
                            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
                        );
                    }
                });
            }
        });
        Receiver { port, spans }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[test]
fn one_trace_runs_from_the_start_request_through_activities_to_their_http_calls() {
    let receiver = Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let data = data_dir();
    let d = data.path();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = Server::start_with_env(d, &[], &env);
    let http = TestServer::start(0, 0);
    let allow = format!("fetch=127.0.0.1:{}", http.port);
    let steps = wasm("http-steps").display().to_string();
    let fetch = wasm("http-fetch").display().to_string();
    let out = server.cli(
        d,
        &["deploy", "steps", &steps, "--activity", &fetch, "--allow-http", &allow],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // The caller's own trace: the start continues it.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{caller_span}-01");
    // The first attempt of each step answers 500: two attempts each.
    let url = format!("http://127.0.0.1:{}/fail=1", http.port);
    let body = serde_json::json!({"workflow": "steps", "id": "traced", "input": {"url": url, "n": 2}});
    let (status, answer) = server.http_with(
        &[("traceparent", &traceparent)],
        "POST",
        "/v1/executions?wait_ms=30000",
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(
        (status, &answer["status"]),
        (200, &serde_json::json!("completed")),
        "{answer}"
    );

    let spans = wait_for(20, "the request's, the activation's and the attempts' spans", || {
        let spans = receiver.spans();
        let has = |name: &str| spans.iter().any(|s| s.name == name);
        let attempts = spans.iter().filter(|s| s.name == "activity fetch").count();
        (attempts >= 4 && has("POST /v1/executions") && has("activation steps")).then_some(spans)
    });
    let ours: Vec<&Span> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
    let named = |name: &str| ours.iter().filter(|s| s.name == name).copied().collect::<Vec<_>>();

    let request = named("POST /v1/executions");
    assert_eq!(request.len(), 1, "the start request's span: {:?}", names(&spans));
    assert_eq!(
        hex(&request[0].parent_span_id),
        caller_span,
        "it continues the caller's span"
    );
    let activations = named("activation steps");
    assert!(
        !activations.is_empty(),
        "an activation span in the trace: {:?}",
        names(&spans)
    );
    assert!(
        activations.iter().all(|a| a.parent_span_id == request[0].span_id),
        "activations hang under the start request"
    );
    let starts = named("activity.start");
    assert_eq!(starts.len(), 2, "a span per activity call: {:?}", names(&spans));
    let attempts = named("activity fetch");
    assert_eq!(attempts.len(), 4, "a span per attempt (each step failed once)");
    let keys: Vec<String> = attempts
        .iter()
        .map(|a| attribute(a, "cairn.idempotency_key").expect("attempts carry their idempotency key"))
        .collect();
    assert_eq!(keys.iter().filter(|k| k.as_str() == "traced/1").count(), 2, "{keys:?}");
    assert!(
        attempts
            .iter()
            .any(|a| attribute(a, "cairn.attempt").as_deref() == Some("2"))
    );
    let failed = attempts
        .iter()
        .filter(|a| a.status.as_ref().is_some_and(|s| s.code == 2))
        .count();
    assert_eq!(failed, 2, "the 500 attempts are marked failed");

    // Out of the activity: its HTTP requests carry the trace on.
    let seen = http.requests();
    assert_eq!(seen.len(), 4, "four requests reached the test server");
    for request in &seen {
        let tp = request.traceparent.as_deref().expect("a traceparent header");
        assert_eq!(tp.split('-').nth(1), Some(trace), "{tp}");
        let parent = tp.split('-').nth(2).unwrap();
        assert!(
            attempts.iter().any(|a| hex(&a.span_id) == parent),
            "the header names an attempt's span: {tp}"
        );
    }
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}
