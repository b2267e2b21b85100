//! The `opentelemetry` source through the library's topology: the
//! OpenTelemetry Python SDK with its OTLP/HTTP exporter as the sender (plain,
//! gzip, and over TLS), OTLP/JSON, a round trip from our `opentelemetry` sink,
//! and hostile input with exact counts — invalid protobuf and JSON, a gzip
//! bomb, a 100 MB body, a slow client, too many idle connections, 429 while a
//! stalled sink fills the pipeline — after which the agent still serves.
//! Also HTTPS on the `http` source.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::Receiver;
use logagent::config;
use logagent::event::Batch;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent::telemetry::metrics::ComponentMetrics;
use logagent_codecs::otlp::{
    AnyValue, ExportLogsServiceRequest, ExportLogsServiceResponse, KeyValue, LogRecord, Resource,
    ResourceLogs, ScopeLogs,
};
use logagent_core::component::{Sink, SinkContext, SinkError};
use prost::Message as _;
use serde_json::{Value, json};

use common::{free_port, read_ndjson, repo, wait_until};

const LIMIT: Duration = Duration::from_secs(60);

/// An HTTP answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one HTTP/1.1 answer (with a Content-Length) from `stream`.
fn read_answer(stream: &mut impl Read) -> std::io::Result<Answer> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("closed after {:?}", String::from_utf8_lossy(&raw)),
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end..].to_vec();
    if let Some(len) = headers.get("content-length") {
        let len: usize = len.parse().unwrap();
        while body.len() < len {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// One request on a fresh connection.
fn send(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut s).unwrap()
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

fn counter(m: &ComponentMetrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    m.labeled.get(name, labels).unwrap_or(0)
}

fn errors(m: &ComponentMetrics, error_type: &str) -> u64 {
    counter(m, "component_errors_total", &[("error_type", error_type)])
}

fn responses(m: &ComponentMetrics, code: &str) -> u64 {
    counter(m, "source_http_responses_total", &[("code", code)])
}

/// A pipeline `opentelemetry source "in" → sink "out"` plus `extra` text.
fn pipeline(dir: &Path, addr: &str, source: &str, sink: &str) -> config::PipelineConfig {
    pipeline_text(
        dir,
        &format!(
            r#"
[sources.in]
type = "opentelemetry"
address = "{addr}"
{source}

[sinks.out]
inputs = ["in"]
{sink}
"#
        ),
    )
}

fn pipeline_text(dir: &Path, body: &str) -> config::PipelineConfig {
    let text = format!(
        "data_dir = {:?}\n\n[runtime]\nbatch_max_events = 100\nchannel_capacity = 2\n{body}",
        dir.join("data").display().to_string()
    );
    config::load_texts(&[(PathBuf::from("otlp.toml"), text)], |_| None).unwrap()
}

fn file_sink(path: &Path) -> String {
    format!("type = \"file\"\npath = {:?}", path.display().to_string())
}

fn wait_listening(addr: &str) {
    wait_until(LIMIT, "the source to listen", || {
        TcpStream::connect(addr).is_ok()
    });
}

fn stop(mut topology: Topology) {
    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Runs the Python SDK sender (tests/otlp_sender/send.py) against `endpoint`.
fn python_sender(endpoint: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(repo().join("tests/otlp_sender/send.py"))
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        // requests lets these override the exporter's own CA file (a session's
        // `verify` loses to the environment): without them `--ca` is used.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("python3 runs (scripts/test checks it is installed)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the OpenTelemetry Python SDK is missing: scripts/test installs it (python3 -m pip \
         install -r tests/otlp_sender/requirements.txt)\n{stderr}"
    );
    assert!(
        out.status.success(),
        "the sender failed: {}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The records the SDK sender exports, as they must arrive; `ids` is its
/// output (the span's trace and span ids).
fn check_sdk_records(records: &[Value], ids: &Value, extra_info: usize) {
    assert_eq!(records.len(), 4 + extra_info, "{records:#?}");
    let trace = ids["trace_id"].as_str().unwrap();
    let span = ids["span_id"].as_str().unwrap();
    let resource = |r: &Value| {
        assert_eq!(r["resource"]["service.name"], "checkout", "{r}");
        assert_eq!(r["resource"]["deployment.environment"], "test", "{r}");
        assert_eq!(r["resource"]["telemetry.sdk.language"], "python", "{r}");
    };
    let by_message = |m: &str| {
        records
            .iter()
            .find(|r| r["message"] == m)
            .unwrap_or_else(|| panic!("no record {m:?} in {records:#?}"))
    };

    let r = by_message("card declined");
    resource(r);
    assert_eq!(r["level"], "warn");
    assert_eq!(r["order.id"], 1234);
    assert_eq!(r["amount"], 9.5);
    assert_eq!(r["retry"], true);
    assert_eq!(r["trace_id"], trace);
    assert_eq!(r["span_id"], span);
    assert_eq!(r["scope"]["name"], "checkout.payments");
    assert!(r["timestamp"].as_str().unwrap().ends_with('Z'), "{r}");
    assert!(r["observed_timestamp"].is_string(), "{r}");
    assert!(
        r["code.function.name"].is_string() || r["code.function"].is_string(),
        "{r}"
    );

    let r = by_message("payment failed: timeout");
    resource(r);
    assert_eq!(r["level"], "error");
    assert_eq!(r["gateway"], "stripe");
    assert_eq!(r["trace_id"], trace);
    assert_eq!(r["span_id"], span);

    // A map body: its members are fields; the explicit timestamp is kept.
    let r = by_message("cache miss");
    resource(r);
    assert_eq!(r["level"], "debug");
    assert_eq!(r["key"], "user:42");
    assert_eq!(r["sizes"], json!([1, 2, 3]));
    assert_eq!(r["cache.hit"], false);
    assert_eq!(r["timestamp"], "2025-08-20T10:30:45.123456789Z");
    assert_eq!(
        r["scope"],
        json!({"name": "checkout.api", "version": "2.1.0"})
    );
    assert!(r.get("trace_id").is_none(), "{r}");

    // No severity number: the text is normalized.
    let r = by_message("text severity only");
    assert_eq!(r["level"], "notice");

    for i in 0..extra_info {
        let r = by_message(&format!("line {i}"));
        assert_eq!(
            (r["level"].as_str(), r["n"].as_i64()),
            (Some("info"), Some(i as i64))
        );
    }
}

#[test]
fn the_python_sdk_exports_and_every_field_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(dir.path(), &addr, "", &file_sink(&out));
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);

    // Protobuf, uncompressed. The sender's exports succeed only once the
    // records are written: they are in the file when it returns.
    let ids = python_sender(&format!("http://{addr}/v1/logs"), &[]);
    check_sdk_records(&read_ndjson(&out, &[]), &ids, 0);

    // Protobuf with gzip, more records, after the first four.
    let ids = python_sender(
        &format!("http://{addr}/v1/logs"),
        &["--gzip", "--count", "150"],
    );
    check_sdk_records(&read_ndjson(&out, &[])[4..], &ids, 150);

    let s = m.snapshot();
    assert_eq!((s.received_events, s.discarded_events), (158, 0));
    assert_eq!(s.errors, 0);
    stop(topology);
}

fn sample_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue::new("service.name", AnyValue::string("api"))],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1_755_685_845_000_000_000,
                        severity_number: 9,
                        body: Some(AnyValue::string("started")),
                        attributes: vec![KeyValue::new("port", AnyValue::int(8080))],
                        ..LogRecord::default()
                    },
                    LogRecord {
                        severity_number: 17,
                        body: Some(AnyValue::string("x".repeat(3000))),
                        ..LogRecord::default()
                    },
                ],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

#[test]
fn otlp_json_is_accepted_answered_in_json_and_oversize_records_partially_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(dir.path(), &addr, "max_line_bytes = 2000", &file_sink(&out));
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);

    // Written by hand, as a non-SDK client would: camelCase, ids in hex,
    // 64-bit integers as strings, gzip.
    let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
      "scopeLogs":[{"scope":{"name":"curl"},"logRecords":[
        {"timeUnixNano":"1755685845000000000","severityNumber":13,"severityText":"WARN",
         "body":{"stringValue":"disk 91% full"},
         "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",
         "attributes":[{"key":"disk","value":{"stringValue":"/var"}},{"key":"pct","value":{"intValue":"91"}}]}]}]}]}"#;
    let a = send(
        &addr,
        "/v1/logs",
        &[JSON, ("content-encoding", "gzip")],
        &gzip(body),
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.json(), json!({}));
    assert_eq!(
        read_ndjson(&out, &[]),
        [json!({
            "message": "disk 91% full",
            "level": "warn",
            "timestamp": "2025-08-20T10:30:45.000000000Z",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "resource": {"service.name": "web"},
            "scope": {"name": "curl"},
            "disk": "/var",
            "pct": 91,
        })]
    );

    // One record of two over max_line_bytes: partial success, in JSON and in
    // protobuf, counted once each.
    let mut text = Vec::new();
    logagent_codecs::otlp::json::write_request(&sample_request(), &mut text);
    let a = send(&addr, "/v1/logs", &[JSON], &text);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["partialSuccess"]["rejectedLogRecords"], "1");
    let a = send(
        &addr,
        "/v1/logs",
        &[PROTOBUF],
        &sample_request().encode_to_vec(),
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.headers["content-type"], "application/x-protobuf");
    let response = ExportLogsServiceResponse::decode(&a.body[..]).unwrap();
    assert_eq!(response.partial_success.unwrap().rejected_log_records, 1);
    let lines = read_ndjson(&out, &[]);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["message"], "started");
    assert_eq!(lines[1]["port"], 8080);
    assert_eq!(
        counter(
            &m,
            "component_discarded_events_total",
            &[("reason", "oversize")]
        ),
        2
    );
    assert_eq!(m.snapshot().received_events, 3);
    stop(topology);
}

#[test]
fn our_opentelemetry_sink_to_our_opentelemetry_source() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let out = dir.path().join("out.ndjson");
    std::fs::write(
        &log,
        concat!(
            r#"{"timestamp":"2025-08-20T10:30:45.123Z","level":"error","service":"api","message":"payment failed","order":{"id":7},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}"#,
            "\n",
            r#"{"timestamp":"2025-08-20T10:30:46Z","level":"notice","service":"web","message":"deployed","version":"1.2"}"#,
            "\n",
            "plain text line\n",
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline_text(
        dir.path(),
        &format!(
            r#"
[sources.app]
type = "file"
include = [{log:?}]

[transforms.parse]
type = "parse_json"
inputs = ["app"]
time_key = "timestamp"

[sinks.otlp]
type = "opentelemetry"
inputs = ["parse"]
endpoint = "http://{addr}"
add_host_name = false
resource = {{ "service.name" = "{{{{ service }}}}" }}
remove_resource_fields = true

[sources.receiver]
type = "opentelemetry"
address = "{addr}"

[sinks.out]
inputs = ["receiver"]
{sink}
"#,
            log = log.display().to_string(),
            sink = file_sink(&out),
        ),
    );
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let registry = topology.registry().clone();
    wait_until(LIMIT, "three records through both hops", || {
        out.exists() && read_ndjson(&out, &[]).len() == 3
    });
    // The sink's scope is the agent; the line's own `timestamp` field, an
    // attribute on the wire, meets the record's time and goes under
    // `attributes`.
    let scope = json!({"name": "logagent", "version": env!("CARGO_PKG_VERSION")});
    let mut lines = read_ndjson(&out, &["observed_timestamp"]);
    lines.sort_by_key(|v| v["message"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        lines,
        [
            json!({"message": "deployed", "level": "notice",
                   "timestamp": "2025-08-20T10:30:46.000000000Z",
                   "resource": {"service.name": "web"}, "scope": scope, "version": "1.2",
                   "attributes": {"timestamp": "2025-08-20T10:30:46Z"}}),
            json!({"message": "payment failed", "level": "error",
                   "timestamp": "2025-08-20T10:30:45.123000000Z",
                   "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
                   "resource": {"service.name": "api"}, "scope": scope, "order": {"id": 7},
                   "attributes": {"timestamp": "2025-08-20T10:30:45.123Z"}}),
            json!({"message": "plain text line", "scope": scope}),
        ]
    );
    let otlp_sink = registry.get("otlp").unwrap().snapshot();
    assert_eq!((otlp_sink.received_events, otlp_sink.errors), (3, 0));
    assert_eq!(
        registry.get("receiver").unwrap().snapshot().received_events,
        3
    );
    stop(topology);
}

#[test]
fn bad_input_gets_exact_answers_and_counts_and_the_agent_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "max_body_bytes = \"1MiB\"\nmax_decompressed_bytes = \"4MiB\"\nmax_connections = 4\nheader_timeout = \"60s\"",
        &file_sink(&out),
    );
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);

    // Invalid protobuf: a length running past the end.
    let a = send(&addr, "/v1/logs", &[PROTOBUF], b"\x0a\xff\xff\xff\xff\x0f");
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.headers["content-type"], "application/x-protobuf");
    let status = logagent_codecs::otlp::Status::decode(&a.body[..]).unwrap();
    assert!(
        status.message.contains("ExportLogsServiceRequest"),
        "{status:?}"
    );
    // Protobuf of the wrong shape (a string where a message is expected).
    let a = send(&addr, "/v1/logs", &[PROTOBUF], b"\x0a\x03\x0a\x01\xff");
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(errors(&m, "invalid_protobuf"), 2);
    // Invalid JSON, and JSON that is not an export request.
    assert_eq!(
        send(&addr, "/v1/logs", &[JSON], b"{\"resourceLogs\":[").status,
        400
    );
    assert_eq!(
        send(&addr, "/v1/logs", &[JSON], b"{\"resourceLogs\":7}").status,
        400
    );
    assert_eq!(errors(&m, "invalid_json"), 2);
    // Neither encoding.
    assert_eq!(
        send(&addr, "/v1/logs", &[("content-type", "text/plain")], b"hi").status,
        415
    );
    assert_eq!(errors(&m, "unsupported_content_type"), 1);

    // A gzip bomb: 16 MiB of zeros (4 times max_decompressed_bytes) in a body
    // well within max_body_bytes.
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 256 << 10, "{}", bomb.len());
    let a = send(
        &addr,
        "/v1/logs",
        &[PROTOBUF, ("content-encoding", "gzip")],
        &bomb,
    );
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(errors(&m, "decompressed_too_large"), 1);

    // A record bomb: 200,000 empty records in 400 KB (2 bytes each), over the
    // default max_records_per_request (100,000): refused before decoding.
    let records = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 200_000],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
    .encode_to_vec();
    assert!(records.len() < 1 << 20, "{}", records.len());
    let a = send(&addr, "/v1/logs", &[PROTOBUF], &records);
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(errors(&m, "too_many_records"), 1);

    // A 100 MB body announced by Content-Length: 413 before any of it is read.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(
        format!(
            "POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
            100 << 20
        )
        .as_bytes(),
    )
    .unwrap();
    let a = read_answer(&mut s).unwrap();
    assert_eq!(
        (a.status, a.headers.get("connection").map(String::as_str)),
        (413, Some("close"))
    );
    // 100 MB streamed without a length: refused once past the limit.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ntransfer-encoding: chunked\r\n\r\n")?;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            w.write_all(&chunk)?;
            w.write_all(b"\r\n")?;
        }
        w.write_all(b"0\r\n\r\n")
    });
    if let Ok(a) = read_answer(&mut s) {
        assert_eq!(a.status, 413, "{a:?}");
    }
    assert!(
        writer.join().unwrap().is_err(),
        "the server stopped reading the body"
    );
    wait_until(LIMIT, "both large bodies to be counted", || {
        errors(&m, "body_too_large") == 2
    });

    // Too many connections: 4 open (idle), the 5th gets a 503 and is closed.
    wait_until(LIMIT, "the earlier connections to close", || {
        counter(&m, "source_http_connections", &[]) == 0
    });
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    wait_until(LIMIT, "4 open connections", || {
        counter(&m, "source_http_connections", &[]) == 4
    });
    for _ in 0..3 {
        let mut extra = TcpStream::connect(&addr).unwrap();
        extra.set_read_timeout(Some(LIMIT)).unwrap();
        let a = read_answer(&mut extra).unwrap();
        assert_eq!(a.status, 503, "{a:?}");
        assert!(a.headers.contains_key("retry-after"));
    }
    assert_eq!(
        counter(&m, "source_http_rejected_connections_total", &[]),
        3
    );
    drop(idle);
    wait_until(LIMIT, "the idle connections to close", || {
        counter(&m, "source_http_connections", &[]) == 0
    });

    // Still serving: a good export is delivered, and it is all there is.
    let a = send(
        &addr,
        "/v1/logs",
        &[PROTOBUF],
        &sample_request().encode_to_vec(),
    );
    assert_eq!(a.status, 200, "{a:?}");
    let lines = read_ndjson(&out, &[]);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"], "started");
    let s = m.snapshot();
    assert_eq!((s.received_events, s.discarded_events), (2, 0));
    assert_eq!(responses(&m, "400"), 4);
    assert_eq!(responses(&m, "413"), 4);
    assert_eq!(responses(&m, "415"), 1);
    assert_eq!(responses(&m, "503"), 3);
    assert_eq!(responses(&m, "200"), 1);
    stop(topology);
}

#[test]
fn slow_clients_are_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "header_timeout = \"300ms\"\nidle_timeout = \"60s\"\nbody_timeout = \"300ms\"",
        &file_sink(&dir.path().join("out.ndjson")),
    );
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);
    let closed = |s: &mut TcpStream| {
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        String::from_utf8_lossy(&rest).into_owned()
    };
    // Slowloris: half a request head, then nothing; and a silent connection.
    let mut a = TcpStream::connect(&addr).unwrap();
    a.write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let mut b = TcpStream::connect(&addr).unwrap();
    // Both are closed at header_timeout (not idle_timeout: no request head
    // came), counted.
    closed(&mut a);
    closed(&mut b);
    assert_eq!(errors(&m, "header_timeout"), 2);
    // A body that stops half-way: 408, counted.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 100\r\n\r\n\x0a")
        .unwrap();
    let answer = closed(&mut s);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(errors(&m, "body_timeout"), 1);
    wait_until(LIMIT, "every connection to be closed", || {
        counter(&m, "source_http_connections", &[]) == 0
    });
    let a = send(
        &addr,
        "/v1/logs",
        &[PROTOBUF],
        &sample_request().encode_to_vec(),
    );
    assert_eq!(a.status, 200, "{a:?}");
    stop(topology);
}

/// A sink that blocks in its first write until the test opens the gate.
struct StalledSink {
    gate: Receiver<()>,
    opened: bool,
    written: Arc<AtomicU64>,
}

impl Sink for StalledSink {
    fn write(&mut self, batch: Batch, _ctx: &SinkContext) -> Result<(), SinkError> {
        if !self.opened {
            let _ = self.gate.recv();
            self.opened = true;
        }
        self.written
            .fetch_add(batch.events.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    fn flush(&mut self, _ctx: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_full_pipeline_answers_429_and_exports_are_answered_only_once_written() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "retry_after = \"2s\"",
        "type = \"blackhole\"",
    );
    let (gate_tx, gate) = crossbeam_channel::bounded(1);
    let written = Arc::new(AtomicU64::new(0));
    let mut overrides: HashMap<String, Box<dyn Sink>> = HashMap::new();
    overrides.insert(
        "out".into(),
        Box::new(StalledSink {
            gate,
            opened: false,
            written: written.clone(),
        }),
    );
    let topology = Topology::start(
        &cfg,
        BuildOptions {
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry().clone();
    let m = registry.get("in").unwrap();
    let sink = registry.get("out").unwrap();
    wait_listening(&addr);
    let one = |body: &str| {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        body: Some(AnyValue::string(body)),
                        ..LogRecord::default()
                    }],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        }
        .encode_to_vec()
    };

    // Export 1 is taken by the sink (which stalls), 2 and 3 fill its channel
    // (capacity 2). None is answered: none is written.
    let mut waiting = Vec::new();
    for n in 1..=3u64 {
        let addr = addr.clone();
        let body = one(&format!("n{n}"));
        waiting.push(std::thread::spawn(move || {
            send(&addr, "/v1/logs", &[PROTOBUF], &body)
        }));
        wait_until(LIMIT, "the export to enter the pipeline", || {
            m.snapshot().sent_events == n && (n > 1 || sink.snapshot().received_events == 1)
        });
    }
    assert!(waiting.iter().all(|t| !t.is_finished()));
    assert_eq!(written.load(Ordering::SeqCst), 0);

    // Export 4 finds the pipeline full: 429 with Retry-After, nothing taken.
    let a = send(&addr, "/v1/logs", &[PROTOBUF], &one("n4"));
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.headers.get("retry-after").map(String::as_str), Some("2"));
    assert_eq!(m.snapshot().received_events, 3);

    gate_tx.send(()).unwrap();
    for t in waiting {
        let a = t.join().unwrap();
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(
            ExportLogsServiceResponse::decode(&a.body[..]).unwrap(),
            ExportLogsServiceResponse::default()
        );
    }
    assert_eq!(written.load(Ordering::SeqCst), 3);
    assert_eq!(responses(&m, "429"), 1);
    stop(topology);
}

#[test]
fn auth_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let cfg = pipeline(
        dir.path(),
        &addr,
        &format!(
            "auth = {{ strategy = \"bearer\", token_file = {:?} }}",
            token.display().to_string()
        ),
        &file_sink(&out),
    );
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);
    let body = sample_request().encode_to_vec();
    assert_eq!(send(&addr, "/v1/logs", &[PROTOBUF], &body).status, 401);
    let wrong = send(
        &addr,
        "/v1/logs",
        &[PROTOBUF, ("authorization", "Bearer nope")],
        &body,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(errors(&m, "unauthorized"), 2);
    // The SDK sender with the header.
    let ids = python_sender(
        &format!("http://{addr}/v1/logs"),
        &["--header", "Authorization=Bearer s3cret"],
    );
    check_sdk_records(&read_ndjson(&out, &[]), &ids, 0);
    stop(topology);
}

/// A self-signed certificate for 127.0.0.1 made with `openssl req`: (cert, key).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let crt = dir.join("server.pem");
    let key = dir.join("server.key");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=logagent test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs (scripts/test installs it)");
    assert!(status.success(), "openssl req failed");
    (crt, key)
}

fn tls_keys(crt: &Path, key: &Path) -> String {
    format!(
        "tls = {{ crt_file = {:?}, key_file = {:?} }}",
        crt.display().to_string(),
        key.display().to_string()
    )
}

#[test]
fn tls_with_a_self_signed_certificate_for_the_sdk_and_the_http_source() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = self_signed(dir.path());
    let out = dir.path().join("out.ndjson");
    let http_out = dir.path().join("http.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let http_addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline_text(
        dir.path(),
        &format!(
            r#"
[sources.in]
type = "opentelemetry"
address = "{addr}"
header_timeout = "2s"
{tls}

[sources.web]
type = "http"
address = "{http_addr}"
{tls}

[sinks.out]
inputs = ["in"]
{sink}

[sinks.http_out]
inputs = ["web"]
{http_sink}
"#,
            tls = tls_keys(&crt, &key),
            sink = file_sink(&out),
            http_sink = file_sink(&http_out),
        ),
    );
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);
    wait_listening(&http_addr);

    // The SDK over HTTPS, trusting the certificate.
    let ids = python_sender(
        &format!("https://{addr}/v1/logs"),
        &["--ca", crt.to_str().unwrap()],
    );
    check_sdk_records(&read_ndjson(&out, &[]), &ids, 0);

    // The http source over HTTPS: Python's urllib trusting the certificate.
    let script = format!(
        r#"
import ssl, urllib.request
ctx = ssl.create_default_context(cafile={crt:?})
req = urllib.request.Request("https://{http_addr}/logs", data=b'{{"n":1}}\n', method="POST")
print(urllib.request.urlopen(req, context=ctx).read().decode())
"#,
        crt = crt.display().to_string()
    );
    let o = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        json!({"accepted": 1, "rejected": 0})
    );
    assert_eq!(read_ndjson(&http_out, &[]).len(), 1);

    // A client that does not trust the certificate is refused by its own
    // TLS stack, and plain HTTP to the TLS port fails the handshake (counted).
    let script = format!(
        "import urllib.request\nurllib.request.urlopen('https://{addr}/v1/logs', data=b'x')"
    );
    let o = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("CERTIFICATE_VERIFY_FAILED"));
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(!rest.starts_with(b"HTTP/1.1 200"));
    wait_until(LIMIT, "the failed handshakes to be counted", || {
        errors(&m, "tls_handshake") == 2
    });
    // A client that connects and says nothing is dropped after header_timeout.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let _ = s.read_to_end(&mut rest);
    wait_until(LIMIT, "the stalled handshake to be counted", || {
        errors(&m, "tls_handshake_timeout") == 1
    });
    assert_eq!(m.snapshot().received_events, 4);
    // The probes that waited for the listeners closed without a byte: no error.
    assert_eq!(errors(&m, "tls_handshake"), 2);
    stop(topology);
}

#[test]
fn a_missing_certificate_is_a_clear_error_at_check_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = {:?}\n[sources.in]\ntype = \"opentelemetry\"\ntls = {{ crt_file = \"/nonexistent/c.pem\" }}\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
        dir.path().display().to_string()
    );
    let err = config::load_texts(&[(PathBuf::from("p.toml"), text)], |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tls.key_file") && err.contains("p.toml"),
        "{err}"
    );
}

#[test]
fn a_gateway_forwards_records_with_their_service_as_the_resource() {
    // pipelines/otlp-gateway.toml's shape: source → sink whose resource comes
    // from the record's `resource."service.name"`, into a second source.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let front = format!("127.0.0.1:{}", free_port());
    let back = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline_text(
        dir.path(),
        &format!(
            r#"
[sources.gateway]
type = "opentelemetry"
address = "{front}"

[sinks.upstream]
type = "opentelemetry"
inputs = ["gateway"]
endpoint = "http://{back}"
add_host_name = false
resource = {{ "service.name" = "{{{{ resource.\"service.name\" }}}}" }}

[sources.backend]
type = "opentelemetry"
address = "{back}"

[sinks.out]
inputs = ["backend"]
{sink}
"#,
            sink = file_sink(&out),
        ),
    );
    let topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    wait_listening(&front);
    wait_listening(&back);
    let a = send(
        &front,
        "/v1/logs",
        &[PROTOBUF],
        &sample_request().encode_to_vec(),
    );
    assert_eq!(a.status, 200, "{a:?}");
    // Answered once the upstream took it: the backend has written it.
    let lines = read_ndjson(&out, &[]);
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["resource"]["service.name"], "api", "{l}");
    }
    assert_eq!(lines[0]["message"], "started");
    assert_eq!(lines[0]["port"], 8080);
    assert_eq!(lines[0]["level"], "info");
    assert_eq!(lines[0]["timestamp"], "2025-08-20T10:30:45.000000000Z");
    stop(topology);
}
