//! The handler fed directly (the server's limits, answers after
//! acknowledgement and a real SDK as the sender are tested through the
//! binary in `tests/otlp_source.rs`).

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::*;
use logagent_codecs::otlp::{AnyValue, KeyValue, LogRecord, Resource, ResourceLogs, ScopeLogs};
use logagent_core::event::encode::write_json;

fn receiver(extra: &str) -> Receiver {
    let config: OpenTelemetrySourceConfig = toml::from_str(extra).unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    Receiver {
        limits: records::Limits {
            max_line_bytes: config.max_line_bytes.as_usize(),
            batch_max_events: 100,
            batch_max_bytes: 1 << 20,
        },
        config,
        stream: Arc::new(Stream {
            source: "otlp".into(),
            path: None,
            id: 3,
        }),
        offset: AtomicU64::new(0),
        log: RateLimiter::default(),
    }
}

fn request(path: &str, content_type: &str, body: impl Into<Bytes>) -> Request {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    Request {
        method: Method::POST,
        path: path.into(),
        headers,
        body: body.into(),
        max_decompressed_bytes: 1 << 20,
    }
}

fn export(bodies: &[&str]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue::new("service.name", AnyValue::string("api"))],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                log_records: bodies
                    .iter()
                    .map(|b| LogRecord {
                        body: Some(AnyValue::string(*b)),
                        severity_number: 17,
                        ..LogRecord::default()
                    })
                    .collect(),
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// The events as JSON, the answer, the discarded counts.
fn run(r: &Receiver, req: Request) -> (Vec<serde_json::Value>, Answer, Vec<(&'static str, u64)>) {
    match r.handle(&req, &AckToken::detached()) {
        Reply::Answer(a) => (Vec::new(), a, Vec::new()),
        Reply::Deliver {
            batches,
            then,
            discarded,
        } => {
            let mut events = Vec::new();
            for b in &batches {
                for e in &b.events {
                    let mut out = Vec::new();
                    write_json(e, &mut out);
                    events.push(serde_json::from_slice(&out).unwrap());
                }
            }
            (events, then, discarded)
        }
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(n, _)| n.as_str() == name)
        .and_then(|(_, v)| v.to_str().ok())
}

#[test]
fn protobuf_is_answered_in_protobuf_and_oversize_records_partially_refused() {
    let r = receiver("max_line_bytes = 200");
    let long = "x".repeat(300);
    let body = export(&["one", &long, "two"]).encode_to_vec();
    let (events, answer, discarded) = run(&r, request("/v1/logs", "application/x-protobuf", body));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message"], "one");
    assert_eq!(events[0]["level"], "error");
    assert_eq!(events[0]["resource"]["service.name"], "api");
    assert_eq!(events[1]["message"], "two");
    assert_eq!(discarded, [("oversize", 1)]);
    assert_eq!(answer.status, 200);
    assert_eq!(
        header(&answer, "content-type"),
        Some("application/x-protobuf")
    );
    let response = ExportLogsServiceResponse::decode(&answer.body[..]).unwrap();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial.error_message.contains("max_line_bytes"),
        "{partial:?}"
    );

    // Everything taken: no partial_success at all.
    let body = export(&["three"]).encode_to_vec();
    let (_, answer, discarded) = run(&r, request("/v1/logs", "application/x-protobuf", body));
    assert!(discarded.is_empty());
    assert_eq!(
        ExportLogsServiceResponse::decode(&answer.body[..]).unwrap(),
        ExportLogsServiceResponse::default()
    );
}

#[test]
fn json_is_answered_in_json() {
    let r = receiver("max_line_bytes = 200");
    let mut text = Vec::new();
    otlp::json::write_request(&export(&["hello", &"y".repeat(300)]), &mut text);
    let (events, answer, _) = run(
        &r,
        request("/v1/logs", "application/json; charset=utf-8", text),
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["message"], "hello");
    assert_eq!(answer.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["partialSuccess"]["rejectedLogRecords"], "1");
    let (_, answer, _) = run(
        &r,
        request("/v1/logs", "application/json", "{\"resourceLogs\":[]}"),
    );
    assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
}

#[test]
fn invalid_bodies_and_content_types_are_refused_and_counted() {
    let r = receiver("");
    let (_, a, _) = run(
        &r,
        request(
            "/v1/logs",
            "application/x-protobuf",
            &b"\x0a\xff\xff\xff\xff\x0f"[..],
        ),
    );
    assert_eq!((a.status, a.error_type), (400, Some("invalid_protobuf")));
    let status = Status::decode(&a.body[..]).unwrap();
    assert!(
        status.message.contains("ExportLogsServiceRequest"),
        "{status:?}"
    );
    let (_, a, _) = run(
        &r,
        request("/v1/logs", "application/json", "{\"resourceLogs\":"),
    );
    assert_eq!((a.status, a.error_type), (400, Some("invalid_json")));
    let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(body["code"], 3);
    let (_, a, _) = run(&r, request("/v1/logs", "text/plain", "hi"));
    assert_eq!(
        (a.status, a.error_type),
        (415, Some("unsupported_content_type"))
    );
}

#[test]
fn too_many_records_are_refused_before_decoding() {
    let r = receiver("max_records_per_request = 2");
    let body = export(&["a", "b", "c"]).encode_to_vec();
    let (events, a, _) = run(&r, request("/v1/logs", "application/x-protobuf", body));
    assert!(events.is_empty());
    assert_eq!((a.status, a.error_type), (413, Some("too_many_records")));
    let mut text = Vec::new();
    otlp::json::write_request(&export(&["a", "b", "c"]), &mut text);
    let (_, a, _) = run(&r, request("/v1/logs", "application/json", text));
    assert_eq!((a.status, a.error_type), (413, Some("too_many_records")));
    let body = export(&["a", "b"]).encode_to_vec();
    let (events, a, _) = run(&r, request("/v1/logs", "application/x-protobuf", body));
    assert_eq!((events.len(), a.status), (2, 200));
}

#[test]
fn routes() {
    let r = receiver("path = \"/otlp/v1/logs\"");
    assert!(r.route(&Method::POST, "/otlp/v1/logs").is_ok());
    assert_eq!(r.route(&Method::POST, "/v1/logs").unwrap_err().status, 404);
    assert_eq!(
        r.route(&Method::GET, "/otlp/v1/logs").unwrap_err().status,
        405
    );
}

#[test]
fn config_defaults_and_errors() {
    let c: OpenTelemetrySourceConfig = toml::from_str("").unwrap();
    assert_eq!(c.address, "127.0.0.1:4318");
    assert_eq!(c.path, "/v1/logs");
    assert!(c.check().is_empty());
    let c: OpenTelemetrySourceConfig = toml::from_str(
        "address = \"localhost\"\npath = \"v1\"\nmax_body_bytes = 0\nthreads = 100\ntls = { crt_file = \"c.pem\" }",
    )
    .unwrap();
    let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        [
            "address",
            "path",
            "max_body_bytes",
            "threads",
            "tls.key_file"
        ]
    );
    assert!(toml::from_str::<OpenTelemetrySourceConfig>("port = 4318").is_err());
}

#[test]
fn test_lines_are_otlp_json_requests() {
    let c: OpenTelemetrySourceConfig = toml::from_str("").unwrap();
    let mut line = Vec::new();
    otlp::json::write_request(&export(&["a", "b"]), &mut line);
    let events = c.decode_for_test(&[&line, b"not json"]).unwrap();
    assert_eq!(events.len(), 2);
    let v: serde_json::Value = serde_json::from_slice(&events[1].line).unwrap();
    assert_eq!(v["message"], "b");
    assert_eq!(v["level"], "error");
    assert_eq!(v["resource"]["service.name"], "api");
    assert!(matches!(
        events[1].root,
        logagent_core::event::Root::Json { .. }
    ));
}
