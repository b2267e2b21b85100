//! The `http` source through the library's topology and the real binary:
//! the official Elasticsearch Python client's bulk helper as a sender,
//! Loki pushes, and hostile input with exact counts — invalid lines, a 100 MB
//! body, a gzip bomb, invalid protobuf, too many connections, a slow client,
//! 429 while a stalled sink fills the pipeline — after which the agent still
//! serves.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::Receiver;
use logagent::config;
use logagent::event::Batch;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent::telemetry::metrics::ComponentMetrics;
use logagent_core::component::{Sink, SinkContext, SinkError};
use prost::Message as _;

use common::{Guard, bin, free_port, read_ndjson, wait_until, write_pipeline};

const LIMIT: Duration = Duration::from_secs(60);

/// An HTTP answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Reads one HTTP/1.1 answer from `stream` (the server closes or sends a
/// Content-Length).
fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
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
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// One request on a fresh connection.
fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
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

fn post(addr: &str, path: &str, body: &[u8]) -> Answer {
    send(addr, "POST", path, &[], body)
}

fn counter(m: &ComponentMetrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    m.labeled.get(name, labels).unwrap_or(0)
}

fn errors(m: &ComponentMetrics, error_type: &str) -> u64 {
    counter(m, "component_errors_total", &[("error_type", error_type)])
}

fn responses(m: &ComponentMetrics, code: &str) -> u64 {
    counter(m, "source_http_responses_total", &[("code", code)])
}

/// A pipeline `http source "in" → sink "out"` with `source` keys added.
fn pipeline(dir: &std::path::Path, addr: &str, source: &str, sink: &str) -> config::PipelineConfig {
    let text = format!(
        r#"
data_dir = {:?}

[runtime]
batch_max_events = 100
channel_capacity = 2

[sources.in]
type = "http"
address = "{addr}"
{source}

[sinks.out]
inputs = ["in"]
{sink}
"#,
        dir.join("data").display().to_string()
    );
    config::load_texts(&[(PathBuf::from("http.toml"), text)], |_| None).unwrap()
}

/// Waits until the source accepts connections.
fn wait_listening(addr: &str) {
    wait_until(LIMIT, "the http source to listen", || {
        TcpStream::connect(addr).is_ok()
    });
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
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
        &format!("type = \"file\"\npath = {:?}", out.display().to_string()),
    );
    let mut topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);

    // 3 good lines, 2 bad: the good ones are delivered, the bad ones counted.
    let a = post(
        &addr,
        "/logs",
        b"{\"n\":1}\nnot json\n{\"n\":2}\n{\"n\":\n{\"n\":3}\n",
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&a.body).unwrap(),
        serde_json::json!({"accepted": 3, "rejected": 2})
    );
    assert_eq!(
        counter(
            &m,
            "component_discarded_events_total",
            &[("reason", "invalid_json")]
        ),
        2
    );
    // Acknowledged means written: the lines are in the file when the answer comes.
    assert_eq!(read_ndjson(&out, &[]).len(), 3);

    // A 100 MB body announced by Content-Length: 413 before any of it is read.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(
        format!(
            "POST /logs HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            100 << 20
        )
        .as_bytes(),
    )
    .unwrap();
    let a = read_answer(&mut s).unwrap();
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(
        a.headers.get("connection").map(String::as_str),
        Some("close")
    );
    assert_eq!(errors(&m, "body_too_large"), 1);

    // 100 MB streamed in chunks without a length: refused once past the limit,
    // never buffered whole. The writer is cut off; the answer is a 413 unless
    // the reset outran it, and the count is exact either way.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(b"POST /logs HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")?;
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
    wait_until(LIMIT, "the streamed body to be counted", || {
        errors(&m, "body_too_large") == 2
    });

    // A gzip bomb: 16 MiB of zeros (4 times max_decompressed_bytes) in a body
    // well within max_body_bytes.
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 256 << 10, "{}", bomb.len());
    let a = send(
        &addr,
        "POST",
        "/logs",
        &[("content-encoding", "gzip")],
        &bomb,
    );
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(errors(&m, "decompressed_too_large"), 1);
    // A body that is not gzip at all.
    let a = send(
        &addr,
        "POST",
        "/logs",
        &[("content-encoding", "gzip")],
        b"{\"n\":1}\n",
    );
    assert_eq!(
        (a.status, errors(&m, "invalid_encoding")),
        (400, 1),
        "{a:?}"
    );
    // A gzip body within the limits is inflated and delivered.
    let a = send(
        &addr,
        "POST",
        "/logs",
        &[("content-encoding", "gzip")],
        &gzip(b"{\"n\":4}\n"),
    );
    assert_eq!(a.status, 200, "{a:?}");

    // Invalid protobuf to the Loki endpoint.
    let junk = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
        .unwrap();
    let a = send(
        &addr,
        "POST",
        "/loki/api/v1/push",
        &[("content-type", "application/x-protobuf")],
        &junk,
    );
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("PushRequest"), "{}", a.body);
    assert_eq!(errors(&m, "invalid_protobuf"), 1);

    // Too many connections: 4 are open (idle), the 5th gets a 503 and is closed.
    wait_until(LIMIT, "the earlier connections to close", || {
        counter(&m, "source_http_connections", &[]) == 0
    });
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    wait_until(LIMIT, "4 open connections", || {
        counter(&m, "source_http_connections", &[]) == 4
    });
    let mut fifth = TcpStream::connect(&addr).unwrap();
    fifth.set_read_timeout(Some(LIMIT)).unwrap();
    let a = read_answer(&mut fifth).unwrap();
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(
        counter(&m, "source_http_rejected_connections_total", &[]),
        1
    );
    drop(idle);
    wait_until(LIMIT, "the idle connections to close", || {
        counter(&m, "source_http_connections", &[]) == 0
    });

    // Wrong paths and methods.
    assert_eq!(post(&addr, "/nowhere", b"{}").status, 404);
    assert_eq!(send(&addr, "GET", "/logs", &[], b"").status, 405);

    // Still serving, and every line that was accepted is in the file once.
    let a = post(&addr, "/logs", b"[{\"n\":5},{\"n\":6}]");
    assert_eq!(a.status, 200, "{a:?}");
    let ns: Vec<i64> = read_ndjson(&out, &[])
        .iter()
        .map(|v| {
            let inner: serde_json::Value =
                serde_json::from_str(v["message"].as_str().unwrap()).unwrap();
            inner["n"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ns, [1, 2, 3, 4, 5, 6]);
    let s = m.snapshot();
    assert_eq!((s.received_events, s.discarded_events), (6, 2));
    assert_eq!(responses(&m, "413"), 3);
    assert_eq!(responses(&m, "503"), 1);

    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
}

#[test]
fn slow_and_idle_clients_are_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "header_timeout = \"300ms\"\nidle_timeout = \"300ms\"\nbody_timeout = \"300ms\"",
        &format!(
            "type = \"file\"\npath = {:?}",
            dir.path().join("out.ndjson").display().to_string()
        ),
    );
    let mut topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);
    let closed = |s: &mut TcpStream| {
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut rest = Vec::new();
        // Ends (EOF or reset) when the server drops the connection.
        let _ = s.read_to_end(&mut rest);
        String::from_utf8_lossy(&rest).into_owned()
    };
    // Slowloris: half a request head, then nothing.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /logs HTTP/1.1\r\nhost: x\r\n").unwrap();
    closed(&mut s);
    // A connection that never sends anything.
    let mut s = TcpStream::connect(&addr).unwrap();
    closed(&mut s);
    // A body that stops half-way: 408.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /logs HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"n\":")
        .unwrap();
    let answer = closed(&mut s);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(errors(&m, "body_timeout"), 1);
    // A keep-alive connection idle after its request.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"POST /logs HTTP/1.1\r\nhost: x\r\ncontent-length: 7\r\n\r\n{\"n\":1}")
        .unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    closed(&mut s);
    wait_until(LIMIT, "every connection to be closed", || {
        counter(&m, "source_http_connections", &[]) == 0
    });
    assert_eq!(post(&addr, "/logs", b"{\"n\":2}").status, 200);
    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
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
fn a_full_pipeline_answers_429_and_requests_are_answered_only_once_written() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "retry_after = \"2s\"",
        "type = \"stdout\"",
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
    let mut topology = Topology::start(
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

    // Request 1 is taken by the sink (which stalls), 2 and 3 fill its channel
    // (capacity 2). None is answered: none is written.
    let mut waiting = Vec::new();
    for n in 1..=3u64 {
        let addr = addr.clone();
        waiting.push(std::thread::spawn(move || {
            post(&addr, "/logs", format!("{{\"n\":{n}}}\n").as_bytes())
        }));
        wait_until(LIMIT, "the request to enter the pipeline", || {
            m.snapshot().sent_events == n && (n > 1 || sink.snapshot().received_events == 1)
        });
    }
    assert!(waiting.iter().all(|t| !t.is_finished()));
    assert_eq!(written.load(Ordering::SeqCst), 0);

    // Request 4 finds the pipeline full: 429 with Retry-After, nothing sent.
    let a = post(&addr, "/logs", b"{\"n\":4}\n");
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.headers.get("retry-after").map(String::as_str), Some("2"));
    assert_eq!(responses(&m, "429"), 1);
    assert_eq!(
        m.snapshot().received_events,
        3,
        "a refused request is not received"
    );

    // The sink moves: the three waiting requests are answered 200.
    gate_tx.send(()).unwrap();
    for t in waiting {
        let a = t.join().unwrap();
        assert_eq!(a.status, 200, "{a:?}");
    }
    assert_eq!(written.load(Ordering::SeqCst), 3);
    assert_eq!(post(&addr, "/logs", b"{\"n\":4}\n").status, 200);
    assert_eq!(written.load(Ordering::SeqCst), 4);
    assert_eq!(responses(&m, "200"), 4);

    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
}

#[test]
fn auth_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
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
        &format!(
            "type = \"file\"\npath = {:?}",
            dir.path().join("out.ndjson").display().to_string()
        ),
    );
    let mut topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);
    let a = post(&addr, "/logs", b"{}");
    assert_eq!(a.status, 401);
    assert_eq!(
        a.headers.get("www-authenticate").map(String::as_str),
        Some("Bearer")
    );
    let a = send(
        &addr,
        "POST",
        "/logs",
        &[("authorization", "Bearer wrong!")],
        b"{}",
    );
    assert_eq!(a.status, 401);
    let a = send(
        &addr,
        "POST",
        "/logs",
        &[("authorization", "Bearer s3cret")],
        b"{}",
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(errors(&m, "unauthorized"), 2);
    assert_eq!(m.snapshot().received_events, 1);
    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
}

/// The agent's own Loki sink pushing (snappy protobuf) to another agent's
/// http source: labels arrive as fields, lines and times intact.
#[test]
fn loki_pushes_arrive_with_labels_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "",
        &format!("type = \"file\"\npath = {:?}", out.display().to_string()),
    );
    let mut topology = Topology::start(&cfg, BuildOptions::default()).unwrap();
    wait_listening(&addr);
    use logagent_codecs::loki_push::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
    let push = PushRequest {
        streams: vec![StreamAdapter {
            labels: "{job=\"varlogs\", host=\"web-1\"}".into(),
            entries: (0..3)
                .map(|i| EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(1_700_000_000_000_000_000 + i)),
                    line: format!("line {i}"),
                    structured_metadata: vec![],
                })
                .collect(),
            hash: 0,
        }],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&push.encode_to_vec())
        .unwrap();
    let a = send(
        &addr,
        "POST",
        "/loki/api/v1/push",
        &[("content-type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(a.status, 204, "{a:?}");
    let json =
        r#"{"streams":[{"stream":{"job":"api"},"values":[["1700000000000000009","from json"]]}]}"#;
    let gz = gzip(json.as_bytes());
    let a = send(
        &addr,
        "POST",
        "/loki/api/v1/push",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &gz,
    );
    assert_eq!(a.status, 204, "{a:?}");
    let got = read_ndjson(&out, &[]);
    assert_eq!(
        got,
        [
            serde_json::json!({"message": "line 0", "job": "varlogs", "host": "web-1"}),
            serde_json::json!({"message": "line 1", "job": "varlogs", "host": "web-1"}),
            serde_json::json!({"message": "line 2", "job": "varlogs", "host": "web-1"}),
            serde_json::json!({"message": "from json", "job": "api"}),
        ]
    );
    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
}

/// The official Elasticsearch Python client (`pip install elasticsearch`,
/// done by scripts/test) and its bulk helper, against the real binary:
/// `info()`, then 2,000 documents in chunks of 500; what arrives in the file
/// sink is exactly what was sent.
#[test]
fn the_elasticsearch_python_clients_bulk_helper_delivers_through_the_binary() {
    let check = std::process::Command::new("python3")
        .args(["-c", "import elasticsearch"])
        .status()
        .unwrap();
    assert!(
        check.success(),
        "the Python package `elasticsearch` is missing: `python3 -m pip install elasticsearch` (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let pipeline = write_pipeline(
        dir.path(),
        "agg.toml",
        &format!(
            r#"
data_dir = {:?}

[sources.in]
type = "http"
address = "{addr}"

[transforms.parse]
type = "parse_json"
inputs = ["in"]

[sinks.out]
type = "file"
inputs = ["parse"]
path = {:?}
"#,
            dir.path().join("data").display().to_string(),
            out.display().to_string()
        ),
    );
    let mut agent = Guard(
        bin()
            .arg("-p")
            .arg(&pipeline)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&addr);
    let script = r#"
import sys
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], request_timeout=60)
info = es.info()
assert info["version"]["number"].startswith("8."), info
docs = ({"_index": "app-logs", "_id": f"doc-{i}", "message": f"event {i}", "n": i, "tags": ["a", "b"]} for i in range(2000))
ok, errors = helpers.bulk(es, docs, chunk_size=500, stats_only=True)
print(ok, errors)
"#;
    let run = std::process::Command::new("python3")
        .args(["-c", script, &format!("http://{addr}")])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the bulk helper failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "2000 0");
    // Answered after acknowledgement: everything is in the file already.
    let got = read_ndjson(&out, &[]);
    assert_eq!(got.len(), 2000);
    for (i, v) in got.iter().enumerate() {
        assert_eq!(
            *v,
            serde_json::json!({"message": format!("event {i}"), "n": i, "tags": ["a", "b"]})
        );
    }
    agent.kill().unwrap();
    agent.wait().unwrap();
}

/// An agent (file → the `loki` and `elasticsearch` sinks) shipping to an
/// aggregator (http source → file): the two halves of logagent agree on both
/// wire formats, and the aggregator's answers (204, per-item 201) satisfy the
/// sinks, which acknowledge every line.
#[test]
fn an_agent_ships_to_the_aggregator_with_its_loki_and_elasticsearch_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("aggregated.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "",
        &format!("type = \"file\"\npath = {:?}", out.display().to_string()),
    );
    let mut aggregator = Topology::start(&cfg, BuildOptions::default()).unwrap();
    wait_listening(&addr);

    let log = dir.path().join("app.log");
    let text: String = (0..50)
        .map(|i| format!("{{\"level\":\"warn\",\"app\":\"shop\",\"message\":\"line {i}\"}}\n"))
        .collect();
    std::fs::write(&log, text).unwrap();
    let agent_text = format!(
        r#"
data_dir = {:?}

[sources.app]
type = "file"
include = [{:?}]

[transforms.parse]
type = "parse_json"
inputs = ["app"]

[sinks.loki]
type = "loki"
inputs = ["parse"]
endpoint = "http://{addr}"
labels = {{ app = "{{{{ app }}}}", env = "test" }}
healthcheck = false

[sinks.es]
type = "elasticsearch"
inputs = ["parse"]
endpoints = ["http://{addr}"]
index = "shop"
"#,
        dir.path().join("agent-data").display().to_string(),
        log.display().to_string()
    );
    let agent_cfg =
        config::load_texts(&[(PathBuf::from("agent.toml"), agent_text)], |_| None).unwrap();
    let agent = Topology::start(
        &agent_cfg,
        BuildOptions {
            once: true,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let agent_metrics = agent.registry().clone();
    let (_keep, stop) = no_stop();
    assert_eq!(agent.wait(&stop, LIMIT), Outcome::Drained);
    assert_eq!(
        agent_metrics.get("loki").unwrap().snapshot().sent_events,
        50
    );
    assert_eq!(agent_metrics.get("es").unwrap().snapshot().sent_events, 50);

    let got = read_ndjson(&out, &[]);
    assert_eq!(got.len(), 100);
    let from_loki: Vec<&serde_json::Value> =
        got.iter().filter(|v| v.get("env").is_some()).collect();
    assert_eq!(from_loki.len(), 50);
    for (i, v) in from_loki.iter().enumerate() {
        assert_eq!(v["app"], "shop");
        assert_eq!(v["env"], "test");
        let line: serde_json::Value = serde_json::from_str(v["message"].as_str().unwrap()).unwrap();
        assert_eq!(line["message"], format!("line {i}"));
    }
    let from_es: Vec<String> = got
        .iter()
        .filter(|v| v.get("env").is_none())
        .map(|v| {
            let doc: serde_json::Value =
                serde_json::from_str(v["message"].as_str().unwrap()).unwrap();
            doc["message"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        from_es,
        (0..50).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );

    aggregator.stop();
    assert_eq!(aggregator.wait(&stop, LIMIT), Outcome::Drained);
}

/// A request whose events are not written within `ack_timeout` is answered
/// 503 with `Retry-After` (they may still be delivered: at least once).
#[test]
fn an_unacknowledged_request_is_answered_503_at_ack_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = pipeline(
        dir.path(),
        &addr,
        "ack_timeout = \"300ms\"",
        "type = \"stdout\"",
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
    let mut topology = Topology::start(
        &cfg,
        BuildOptions {
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let m = topology.registry().get("in").unwrap();
    wait_listening(&addr);
    let a = post(&addr, "/logs", b"{\"n\":1}\n");
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.headers.get("retry-after").map(String::as_str), Some("1"));
    assert_eq!(errors(&m, "ack_timeout"), 1);
    gate_tx.send(()).unwrap();
    wait_until(LIMIT, "the late write", || {
        written.load(Ordering::SeqCst) == 1
    });
    assert_eq!(post(&addr, "/logs", b"{\"n\":2}\n").status, 200);
    topology.stop();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
}
