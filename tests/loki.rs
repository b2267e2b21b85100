//! The Loki sink against an in-process Loki stand-in (tests/loki_server): the
//! wire formats, labels and tenants, ordering, the cardinality guard, retries,
//! refusals, an outage holding the pipeline back with exact counts, shutdown,
//! the health check, and runs of the real binary.

#![allow(clippy::unwrap_used)]

mod common;
mod loki_server;
#[path = "../crates/kubernetes/tests/standin/mod.rs"]
mod standin;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver;
use logagent::config;
use logagent::event::ack::Ack;
use logagent::event::json;
use logagent::event::{AckToken, Batch, Event, Root, Span, Stream};
use logagent::pipeline::topology::{Outcome, detached_shutdown, no_stop};
use logagent::pipeline::{BuildOptions, Output, Outputs, ShutdownTrigger, Topology};
use logagent::sinks::loki::metrics::{EntryOutcome, LokiMetrics, PushOutcome};
use logagent::sinks::loki::{LokiSink, LokiSinkConfig};
use logagent::telemetry::metrics::ComponentMetrics;
use logagent_core::component::{Sink, SinkContext};

use common::{bin, repo, wait_until, write_pipeline};
use loki_server::LokiServer;

const LIMIT: Duration = Duration::from_secs(30);

/// A sink built from TOML keys (plus the endpoint), and a view of the counters
/// it will keep in `c`'s registry.
fn sink(server: &LokiServer, keys: &str, c: &Ctx) -> (LokiSink, LokiMetrics) {
    let text = format!(
        "endpoint = \"{}\"\nretry = {{ initial_backoff = \"20ms\", max_backoff = \"100ms\" }}\n{keys}",
        server.url()
    );
    let config: LokiSinkConfig = toml::from_str(&text).unwrap();
    let errors = config.check();
    assert!(errors.is_empty(), "{errors:?}");
    (config.build().unwrap(), view(&c.ctx.metrics))
}

/// The Loki series of a component (the same counters the sink adds to).
fn view(metrics: &ComponentMetrics) -> LokiMetrics {
    LokiMetrics::new(&metrics.labeled, &["request".into()])
}

struct Ctx {
    ctx: SinkContext,
    trigger: ShutdownTrigger,
    acks: Receiver<Ack>,
    ack_tx: crossbeam_channel::Sender<Ack>,
    next: u64,
}

fn ctx(id: &str) -> Ctx {
    let metrics = Arc::new(ComponentMetrics::default());
    let (trigger, shutdown) = detached_shutdown();
    let (ack_tx, acks) = crossbeam_channel::unbounded();
    Ctx {
        ctx: SinkContext {
            id: id.into(),
            metrics: metrics.clone(),
            shutdown,
            outputs: Outputs::new(Output::new(Vec::new(), metrics), Vec::new()),
        },
        trigger,
        acks,
        ack_tx,
        next: 0,
    }
}

impl Ctx {
    /// A batch of JSON lines with event times (ns); its ack reports `end_offset` = batch number.
    fn json_batch(&mut self, lines: &[(&str, Option<i64>)]) -> Batch {
        self.next += 1;
        let stream = Arc::new(Stream {
            source: "test".into(),
            path: None,
            id: 1,
        });
        let mut batch = Batch::new(
            stream,
            AckToken::new(1, self.next, self.ack_tx.clone()),
            lines.len(),
        );
        for (i, (line, ts)) in lines.iter().enumerate() {
            let bytes = Bytes::from(line.to_string());
            let start = batch.members.len();
            let mut ev = Event::new(bytes.clone(), i as u64);
            if let Ok(object) = json::scan_object(&bytes, 64, &mut batch.members) {
                ev.root = Root::Json {
                    object,
                    members: Span::new(start, batch.members.len()),
                };
            }
            ev.meta.time = *ts;
            batch.events.push(ev);
        }
        batch
    }

    fn acks(&self) -> Vec<Ack> {
        self.acks.try_iter().collect()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn protobuf_push_carries_labels_tenants_metadata_and_auth() {
    let server = LokiServer::start();
    let mut c = ctx("proto");
    let (mut sink, m) = sink(
        &server,
        r#"
tenant_id = "{{ team }}"
labels = { app = "{{ app }}", env = "prod" }
level_field = "level"
remove_label_fields = true
structured_metadata = { trace_id = "{{ traceId }}" }
auth = { strategy = "basic", user = "agent", password = "s3cret" }
headers = { "X-Custom" = "yes" }
concurrency = 1
healthcheck = false
"#,
        &c,
    );
    let batch = c.json_batch(&[
        (
            r#"{"team":"a","app":"api","level":"WARNING","msg":"one","traceId":"t1"}"#,
            Some(1_000),
        ),
        (
            r#"{"team":"b","app":"api","level":50,"msg":"two"}"#,
            Some(2_000),
        ),
        (r#"{"team":"a","app":"db","msg":"three"}"#, Some(3_000)),
        (
            r#"{"team":"a","app":"api","level":"warn","msg":"four"}"#,
            Some(4_000),
        ),
    ]);
    sink.write(batch, &c.ctx).unwrap();
    assert!(c.acks().is_empty(), "no ack before Loki took the entries");
    sink.close(&c.ctx).unwrap();
    assert_eq!(
        c.acks(),
        vec![Ack {
            stream: 1,
            end_offset: 1,
            delivered: true
        }]
    );

    let pushes = server.pushes();
    assert_eq!(pushes.len(), 2, "one request per tenant");
    let mut tenants: Vec<_> = pushes.iter().map(|p| p.tenant.clone().unwrap()).collect();
    tenants.sort();
    assert_eq!(tenants, vec!["a", "b"]);
    for p in &pushes {
        assert_eq!(p.status, 204);
        assert_eq!(p.content_type, "application/x-protobuf");
        assert_eq!(p.authorization.as_deref(), Some("Basic YWdlbnQ6czNjcmV0"));
        assert_eq!(p.headers.get("x-custom").map(String::as_str), Some("yes"));
        assert!(p.user_agent.as_deref().unwrap().starts_with("logagent/"));
    }
    let stored = server.stored();
    let find = |msg: &str| stored.iter().find(|s| s.entry.line.contains(msg)).unwrap();
    let one = find("\"one\"");
    assert_eq!(one.tenant.as_deref(), Some("a"));
    assert_eq!(
        one.labels,
        labels(&[("app", "api"), ("env", "prod"), ("level", "warn")])
    );
    // Label fields are left out of the line; the rest stays.
    assert_eq!(one.entry.line, r#"{"team":"a","msg":"one","traceId":"t1"}"#);
    assert_eq!(one.entry.ts, 1_000);
    assert_eq!(
        one.entry.metadata,
        vec![("trace_id".to_owned(), "t1".to_owned())]
    );
    let two = find("\"two\"");
    assert_eq!(two.labels["level"], "error", "pino 50 is error");
    assert!(two.entry.metadata.is_empty(), "no traceId, no metadata");
    assert_eq!(find("\"three\"").labels["level"], "unknown");
    // "WARNING" and "warn" are one stream.
    assert_eq!(
        stored
            .iter()
            .filter(|s| s.labels["level"] == "warn")
            .count(),
        2
    );
    assert_eq!(m.entries(EntryOutcome::Sent), 4);
    assert_eq!(m.pushes(PushOutcome::Success), 2);
    assert_eq!(c.ctx.metrics.snapshot().sent_events, 4);
}

#[test]
fn json_protocol_with_key_value_lines() {
    let server = LokiServer::start();
    let mut c = ctx("json");
    let (mut sink, m) = sink(
        &server,
        r#"
protocol = "json"
line_format = "key_value"
labels = { job = "app" }
structured_metadata = { request_id = "{{ requestId }}" }
remove_structured_metadata_fields = true
healthcheck = false
"#,
        &c,
    );
    let batch = c.json_batch(&[
        (
            r#"{"msg":"hello world","status":200,"requestId":"r-1"}"#,
            Some(5),
        ),
        ("not json at all", Some(6)),
    ]);
    sink.write(batch, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    let pushes = server.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].content_type, "application/json");
    assert_eq!(pushes[0].tenant, None, "no tenant_id: no X-Scope-OrgID");
    let stored = server.stored();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].labels, labels(&[("job", "app")]));
    assert_eq!(
        stored[0].entry.line, r#"msg="hello world" status=200"#,
        "metadata fields left out of the line"
    );
    assert_eq!(
        stored[0].entry.metadata,
        vec![("request_id".to_owned(), "r-1".to_owned())]
    );
    assert_eq!(stored[1].entry.line, r#"message="not json at all""#);
    assert_eq!(stored[1].entry.ts, 6);
    assert_eq!(m.entries(EntryOutcome::Sent), 2);
}

#[test]
fn json_pushes_can_be_gzipped() {
    let server = LokiServer::start();
    let mut c = ctx("json-gzip");
    let (mut sink, m) = sink(
        &server,
        r#"
protocol = "json"
compression = "gzip"
labels = { job = "app" }
healthcheck = false
"#,
        &c,
    );
    let lines: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"msg":"repeated text compresses well","n":{i}}}"#))
        .collect();
    let batch = c.json_batch(
        &lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), Some(i as i64 + 1)))
            .collect::<Vec<_>>(),
    );
    sink.write(batch, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    let pushes = server.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].content_type, "application/json");
    assert_eq!(pushes[0].content_encoding.as_deref(), Some("gzip"));
    let stored = server.stored();
    assert_eq!(
        stored.len(),
        200,
        "every entry decoded from the gzipped body"
    );
    assert_eq!(stored[199].entry.line, lines[199]);
    assert_eq!(m.entries(EntryOutcome::Sent), 200);
    let uncompressed = m
        .uncompressed_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    let sent = m.sent_bytes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent * 4 < uncompressed,
        "gzip shrinks the repeated lines: {sent} bytes sent for {uncompressed} encoded"
    );
}

/// Two requests to a Loki with ordered writes: the first has its entries out of
/// order (sorted by the sink), the second has two entries older than what the
/// first sent, handled by `policy`.
fn two_requests(policy: &str) -> (LokiServer, LokiMetrics, Ctx) {
    let server = LokiServer::start();
    server.set_ordered(true);
    let mut c = ctx(policy);
    let (mut sink, m) = sink(
        &server,
        &format!("labels = {{ job = \"app\" }}\nout_of_order = \"{policy}\"\nhealthcheck = false"),
        &c,
    );
    let first = c.json_batch(&[
        (r#"{"n":"a"}"#, Some(50)),
        (r#"{"n":"b"}"#, Some(30)),
        (r#"{"n":"c"}"#, Some(90)),
        (r#"{"n":"d"}"#, Some(10)),
    ]);
    sink.write(first, &c.ctx).unwrap();
    // A timer flush sends the request without waiting for the answer; the next
    // request of the same stream waits for it.
    sink.flush(&c.ctx).unwrap();
    let second = c.json_batch(&[
        (r#"{"n":"e"}"#, Some(40)),
        (r#"{"n":"f"}"#, Some(100)),
        (r#"{"n":"g"}"#, Some(20)),
        (r#"{"n":"h"}"#, Some(120)),
    ]);
    sink.write(second, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    (server, m, c)
}

fn stored_times(server: &LokiServer) -> Vec<(String, i64)> {
    server
        .stored()
        .into_iter()
        .map(|s| (s.entry.line, s.entry.ts))
        .collect()
}

#[test]
fn entries_are_sorted_per_stream_and_rewritten_when_older_than_sent() {
    let (server, m, c) = two_requests("rewrite_timestamp");
    assert_eq!(
        stored_times(&server),
        vec![
            (r#"{"n":"d"}"#.into(), 10),
            (r#"{"n":"b"}"#.into(), 30),
            (r#"{"n":"a"}"#.into(), 50),
            (r#"{"n":"c"}"#.into(), 90),
            (r#"{"n":"g"}"#.into(), 90),
            (r#"{"n":"e"}"#.into(), 90),
            (r#"{"n":"f"}"#.into(), 100),
            (r#"{"n":"h"}"#.into(), 120),
        ]
    );
    assert!(server.pushes().iter().all(|p| p.status == 204));
    assert_eq!(
        m.timestamps_rewritten
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(m.entries(EntryOutcome::Sent), 8);
    assert!(c.acks().iter().all(|a| a.delivered));
}

#[test]
fn entries_older_than_sent_are_dropped_and_counted() {
    let (server, m, c) = two_requests("drop");
    let lines: Vec<i64> = stored_times(&server).iter().map(|(_, t)| *t).collect();
    assert_eq!(lines, vec![10, 30, 50, 90, 100, 120]);
    assert_eq!(m.entries(EntryOutcome::DroppedOutOfOrder), 2);
    assert_eq!(m.entries(EntryOutcome::Sent), 6);
    assert_eq!(c.ctx.metrics.snapshot().discarded_events, 2);
    assert_eq!(c.acks().len(), 2);
}

#[test]
fn accepted_out_of_order_entries_refused_by_loki_are_logged_counted_and_acked() {
    let (server, m, c) = two_requests("accept");
    let pushes = server.pushes();
    assert_eq!(
        pushes.iter().map(|p| p.status).collect::<Vec<_>>(),
        vec![204, 400],
        "sent once each: a 400 is not retried"
    );
    // Loki stores what it can and refuses the rest of the request.
    let times: Vec<i64> = stored_times(&server).iter().map(|(_, t)| *t).collect();
    assert_eq!(times, vec![10, 30, 50, 90, 100, 120]);
    assert_eq!(m.pushes(PushOutcome::Rejected), 1);
    assert_eq!(
        m.entries(EntryOutcome::Rejected),
        4,
        "the whole request is counted"
    );
    let snap = c.ctx.metrics.snapshot();
    assert_eq!(
        (snap.sent_events, snap.discarded_events, snap.errors),
        (4, 4, 1)
    );
    let acks = c.acks();
    assert_eq!(acks.len(), 2);
    assert!(
        acks.iter().all(|a| a.delivered),
        "acknowledged: nothing waits forever"
    );
}

#[test]
fn lines_too_long_for_loki_are_refused_or_cut_by_the_sink() {
    let server = LokiServer::start();
    server.set_max_line(64);
    let long = format!(r#"{{"msg":"{}"}}"#, "x".repeat(100));
    // Sink limit above Loki's: Loki answers 400 "Max entry size ... exceeded".
    let mut c = ctx("long");
    let (mut loose, m) = sink(&server, "labels = { job = \"a\" }\nhealthcheck = false", &c);
    let b = c.json_batch(&[(long.as_str(), Some(1)), (r#"{"msg":"short"}"#, Some(2))]);
    loose.write(b, &c.ctx).unwrap();
    loose.close(&c.ctx).unwrap();
    assert_eq!(server.pushes()[0].status, 400);
    assert_eq!(server.stored_count(), 1, "the short line was stored");
    assert_eq!(m.entries(EntryOutcome::Rejected), 2);
    assert!(c.acks()[0].delivered);
    // The sink's own limit at Loki's: the line is cut, counted, and stored.
    let mut c = ctx("strict");
    let (mut strict, m) = sink(
        &server,
        "labels = { job = \"b\" }\nmax_line_bytes = 64\nhealthcheck = false",
        &c,
    );
    let b = c.json_batch(&[(long.as_str(), Some(3))]);
    strict.write(b, &c.ctx).unwrap();
    strict.close(&c.ctx).unwrap();
    assert_eq!(server.pushes()[1].status, 204);
    let stored = server.stored();
    assert_eq!(stored[1].entry.line.len(), 64);
    assert_eq!(
        m.lines_truncated.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn cardinality_guard_sends_new_values_to_one_overflow_stream() {
    let server = LokiServer::start();
    let mut c = ctx("guard");
    let (mut sink, m) = sink(
        &server,
        r#"
labels = { app = "api", request = "{{ request_id }}" }
cardinality = { max_values_per_label = 3 }
healthcheck = false
"#,
        &c,
    );
    let lines: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"request_id":"r{i}"}}"#))
        .collect();
    let refs: Vec<(&str, Option<i64>)> = lines.iter().map(|l| (l.as_str(), Some(1))).collect();
    let b = c.json_batch(&refs);
    sink.write(b, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    let streams = server.lines_by_stream();
    let values: Vec<&str> = streams.keys().map(|l| l["request"].as_str()).collect();
    assert_eq!(values, vec!["__overflow__", "r0", "r1", "r2"]);
    assert_eq!(
        streams[&labels(&[("app", "api"), ("request", "__overflow__")])].len(),
        7
    );
    assert_eq!(
        server.stored_count(),
        10,
        "nothing is lost, only relabelled"
    );
    assert_eq!(m.label_overflow("request"), 7);
    assert_eq!(
        m.streams_active.load(std::sync::atomic::Ordering::Relaxed),
        4
    );
}

#[test]
fn rate_limits_and_server_errors_are_retried_until_loki_takes_the_entries() {
    let server = LokiServer::start();
    server.script(&[429, 500, 401, 503, 429]);
    let mut c = ctx("retry");
    let (mut sink, m) = sink(&server, "labels = { job = \"a\" }\nhealthcheck = false", &c);
    let b = c.json_batch(&[(r#"{"n":1}"#, Some(1)), (r#"{"n":2}"#, Some(2))]);
    sink.write(b, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    let statuses: Vec<u16> = server.pushes().iter().map(|p| p.status).collect();
    assert_eq!(statuses, vec![429, 500, 401, 503, 429, 204]);
    assert_eq!(server.stored_count(), 2, "stored once");
    assert_eq!(m.pushes(PushOutcome::RateLimited), 2);
    assert_eq!(m.pushes(PushOutcome::ServerError), 2);
    assert_eq!(m.pushes(PushOutcome::ClientError), 1);
    assert_eq!(m.pushes(PushOutcome::Success), 1);
    assert_eq!(m.retries.load(std::sync::atomic::Ordering::Relaxed), 5);
    assert_eq!(m.entries(EntryOutcome::Sent), 2);
    assert!(c.acks()[0].delivered);
    // Every retry resent the same request.
    let pushes = server.pushes();
    assert!(pushes.iter().all(|p| p.streams == pushes[0].streams));
}

#[test]
fn a_hanging_loki_times_out_and_the_push_is_retried() {
    let server = LokiServer::start();
    server.script(&[0, 0]);
    let mut c = ctx("hang");
    let (mut sink, m) = sink(
        &server,
        "labels = { job = \"a\" }\nrequest_timeout = \"200ms\"\nhealthcheck = false",
        &c,
    );
    let b = c.json_batch(&[(r#"{"n":1}"#, Some(1))]);
    sink.write(b, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    let statuses: Vec<u16> = server.pushes().iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        vec![0, 0, 204],
        "two unanswered attempts, then taken"
    );
    assert_eq!(m.pushes(PushOutcome::Timeout), 2);
    assert_eq!(server.stored_count(), 1);
    assert!(c.acks()[0].delivered);
}

#[test]
fn concurrent_requests_keep_each_streams_order_through_retries() {
    let server = LokiServer::start();
    server.set_ordered(true);
    // Failures land on whichever requests come first; each stream's later
    // entries must still wait for its earlier ones.
    server.script(&[503, 429, 503, 500, 429, 503]);
    let mut c = ctx("lanes");
    let (mut sink, m) = sink(
        &server,
        r#"
labels = { app = "{{ app }}" }
concurrency = 4
batch = { max_events = 5 }
healthcheck = false
"#,
        &c,
    );
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    let mut ts = 0;
    for _ in 0..20 {
        let mut lines = Vec::new();
        for app in ["a", "b", "c", "d", "e", "f"] {
            ts += 1;
            let line = format!(r#"{{"app":"{app}","n":{ts}}}"#);
            expected
                .entry(app.to_owned())
                .or_default()
                .push(line.clone());
            lines.push(line);
        }
        let refs: Vec<(&str, Option<i64>)> = lines.iter().map(|l| (l.as_str(), Some(ts))).collect();
        let b = c.json_batch(&refs);
        sink.write(b, &c.ctx).unwrap();
    }
    sink.close(&c.ctx).unwrap();
    assert!(
        server.pushes().iter().all(|p| p.status != 400),
        "nothing out of order"
    );
    let got = server.lines_by_stream();
    assert_eq!(got.len(), 6);
    for (labels, lines) in got {
        assert_eq!(lines, expected[&labels["app"]], "stream {labels:?}");
    }
    assert_eq!(m.entries(EntryOutcome::Sent), 120);
    assert_eq!(c.acks().len(), 20);
}

#[test]
fn forced_shutdown_gives_up_and_reports_batches_undelivered() {
    let server = LokiServer::start();
    server.set_down(Some(503));
    let mut c = ctx("forced");
    let (mut sink, m) = sink(&server, "labels = { job = \"a\" }\nhealthcheck = false", &c);
    let b = c.json_batch(&[(r#"{"n":1}"#, Some(1)), (r#"{"n":2}"#, Some(2))]);
    sink.write(b, &c.ctx).unwrap();
    let ctx2 = c.ctx.clone();
    let flushing = std::thread::spawn(move || {
        let r = sink.close(&ctx2);
        (r.is_err(), sink)
    });
    wait_until(LIMIT, "a few failed attempts", || server.push_count() >= 2);
    c.trigger.force();
    let (failed, sink) = flushing.join().unwrap();
    assert!(failed, "flush reports the give-up");
    drop(sink);
    let acks = c.acks();
    assert_eq!(acks.len(), 1);
    assert!(
        !acks[0].delivered,
        "the source is told the batch was not delivered"
    );
    assert_eq!(m.entries(EntryOutcome::GivenUp), 2);
    assert_eq!(c.ctx.metrics.snapshot().discarded_events, 2);
    assert_eq!(server.stored_count(), 0);
}

#[test]
fn an_outage_holds_the_pipeline_with_exact_counts_then_drains_in_order() {
    let server = LokiServer::start();
    server.set_down(Some(503));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let total = 500;
    let text: String = (0..total)
        .map(|i| format!("{{\"level\":\"info\",\"n\":{i}}}\n"))
        .collect();
    std::fs::write(&log, text).unwrap();
    let pipeline = format!(
        r#"
data_dir = {data:?}
[runtime]
batch_max_events = 10
channel_capacity = 2

[sources.app]
type = "file"
include = [{log:?}]

[sinks.loki]
type = "loki"
inputs = ["app"]
endpoint = "{url}"
labels = {{ job = "app" }}
line_format = "raw"
concurrency = 1
batch = {{ max_events = 10, timeout = "1h" }}
retry = {{ initial_backoff = "10ms", max_backoff = "50ms" }}
healthcheck = false
"#,
        data = dir.path().display().to_string(),
        log = log.display().to_string(),
        url = server.url(),
    );
    let cfg = config::load_texts(&[(PathBuf::from("outage.toml"), pipeline)], |_| None).unwrap();
    let logagent::config::SinkConfig::Loki(lc) = &cfg.sinks[0].config else {
        panic!("not a loki sink")
    };
    let sink = lc.build().unwrap();
    let mut overrides: HashMap<String, Box<dyn Sink>> = HashMap::new();
    overrides.insert("loki".into(), Box::new(sink));
    let topology = Topology::start(
        &cfg,
        BuildOptions {
            once: true,
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry().clone();
    let source = registry.get("app").unwrap().clone();
    let sink_metrics = registry.get("loki").unwrap().clone();
    let lm = view(&sink_metrics);
    // The sink holds 3 batches: one request in flight (failing), one full
    // request waiting for its lane, and the batch it cannot place; the channel
    // holds 2 more; the source waits to send the next.
    wait_until(LIMIT, "the source to block", || {
        let s = source.snapshot();
        s.blocked && s.sent_events == 50 && sink_metrics.snapshot().received_events == 30
    });
    wait_until(LIMIT, "retries", || {
        lm.retries.load(std::sync::atomic::Ordering::Relaxed) >= 3
    });
    assert_eq!(source.snapshot().sent_events, 50);
    assert_eq!(sink_metrics.snapshot().received_events, 30);
    assert_eq!(sink_metrics.snapshot().sent_events, 0);
    assert_eq!(server.stored_count(), 0);
    assert_eq!(lm.in_flight.load(std::sync::atomic::Ordering::Relaxed), 1);

    server.set_down(None);
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
    let lines = server.lines_by_stream();
    let got = &lines[&labels(&[("job", "app")])];
    let expected: Vec<String> = (0..total)
        .map(|i| format!("{{\"level\":\"info\",\"n\":{i}}}"))
        .collect();
    assert_eq!(got.len(), expected.len(), "every line once");
    assert!(*got == expected, "in order: {:?}", &got[..5]);
    assert_eq!(lm.entries(EntryOutcome::Sent), total as u64);
    assert_eq!(sink_metrics.snapshot().sent_events, total as u64);
}

#[test]
fn the_binary_ships_a_file_to_loki_and_checks_ready() {
    let server = LokiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    std::fs::write(
        &log,
        "{\"timestamp\":\"2025-08-20T10:30:45.123Z\",\"level\":\"INFO\",\"service\":\"api\",\"msg\":\"up\",\"password\":\"p\"}\n\
         {\"timestamp\":\"2025-08-20T10:30:46Z\",\"level\":\"error\",\"service\":\"api\",\"msg\":\"down\",\"password\":\"q\"}\n\
         plain text line\n",
    )
    .unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"
data_dir = {data:?}
[sources.app]
type = "file"
include = [{log:?}]
[transforms.parse]
type = "parse_json"
inputs = ["app"]
time_key = "timestamp"
[transforms.redact]
type = "redact"
inputs = ["parse"]
paths = ["password"]
[sinks.loki]
type = "loki"
inputs = ["redact"]
endpoint = "{url}"
tenant_id = "team-a"
labels = {{ service = "{{{{ service }}}}" }}
level_field = "level"
"#,
            data = dir.path().display().to_string(),
            log = log.display().to_string(),
            url = server.url(),
        ),
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.ready_calls(), 1, "validate checks /ready");
    let out = bin()
        .arg("validate")
        .arg("--no-environment")
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(server.ready_calls(), 1, "--no-environment skips it");

    let out = bin().arg("-p").arg(&p).arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(server.ready_calls() >= 2, "the running sink checks /ready");
    assert!(stderr.contains("Loki sink totals"), "{stderr}");
    let stored = server.stored();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|s| s.tenant.as_deref() == Some("team-a")));
    let up = stored
        .iter()
        .find(|s| s.entry.line.contains("\"up\""))
        .unwrap();
    assert_eq!(up.labels, labels(&[("level", "info"), ("service", "api")]));
    assert_eq!(up.entry.ts, 1_755_685_845_123_000_000);
    assert!(up.entry.line.contains(r#""password":"[REDACTED]""#));
    let text = stored
        .iter()
        .find(|s| s.entry.line.contains("plain"))
        .unwrap();
    assert_eq!(
        text.labels,
        labels(&[("level", "unknown"), ("service", "unknown")])
    );
}

#[test]
fn validate_warns_when_loki_is_not_ready() {
    let server = LokiServer::start();
    server.set_ready(false);
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[sources.in]\ntype = \"stdin\"\n[sinks.loki]\ntype = \"loki\"\ninputs = [\"in\"]\nendpoint = \"{}\"\nlabels = {{ job = \"x\" }}\n",
            server.url()
        ),
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "an environment problem is a warning: {stderr}"
    );
    assert!(
        stderr.contains("warning: sinks.loki:") && stderr.contains("503"),
        "{stderr}"
    );
}

#[test]
fn the_kubernetes_example_ships_cri_logs_with_kubernetes_labels() {
    let server = LokiServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The API server (a stand-in) knows the pod: its app.kubernetes.io/name
    // becomes the `app` label.
    let api = standin::ApiServer::start();
    api.set_pods(vec![standin::pod(
        "checkout-7d9f",
        "0f1e2d3c-aaaa-bbbb",
        "checkout",
    )]);
    api.set_namespaces(vec![standin::namespace("shop")]);
    let kubeconfig = api.kubeconfig(dir.path());
    let container = dir
        .path()
        .join("pods/shop_checkout-7d9f_0f1e2d3c-aaaa-bbbb/checkout");
    std::fs::create_dir_all(&container).unwrap();
    std::fs::write(
        container.join("0.log"),
        "2025-08-20T10:30:45.123456789Z stdout F {\"level\":\"info\",\"msg\":\"order placed\",\"user\":{\"email\":\"a@b.c\"}}\n\
         2025-08-20T10:30:46.000000000Z stderr F {\"level\":\"ERROR\",\"msg\":\"payment failed\",\"password\":\"x\"}\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(repo())
        .arg("-p")
        .arg(repo().join("pipelines/kubernetes-loki.toml"))
        .arg("--once")
        .env("LOKI_ENDPOINT", server.url())
        .env(
            "K8S_POD_LOGS",
            format!("{}/pods/*/*/*.log", dir.path().display()),
        )
        .env("LOGAGENT_DATA_DIR", dir.path().join("data"))
        .env("KUBECONFIG", &kubeconfig)
        .env("NODE_NAME", "node-a")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = server.stored();
    assert_eq!(stored.len(), 2);
    let info = stored
        .iter()
        .find(|s| s.entry.line.contains("order placed"))
        .unwrap();
    assert_eq!(
        info.labels,
        labels(&[
            ("container", "checkout"),
            ("level", "info"),
            ("namespace", "shop"),
            ("app", "checkout"),
        ])
    );
    let err = stored
        .iter()
        .find(|s| s.entry.line.contains("payment failed"))
        .unwrap();
    assert_eq!(err.labels["level"], "error");
    // The payload was parsed and redacted with pino's paths.
    assert!(!info.entry.line.contains("a@b.c"), "{}", info.entry.line);
    assert!(
        !err.entry.line.contains("\"password\":\"x\""),
        "{}",
        err.entry.line
    );
    assert!(err.entry.line.contains("[REDACTED]"), "{}", err.entry.line);
}

fn tls_config(url: &str, tls: &str) -> LokiSinkConfig {
    let text = format!(
        "endpoint = \"{url}\"\nlabels = {{ job = \"tls\" }}\nhealthcheck = false\ntls = {{ {tls} }}"
    );
    let c: LokiSinkConfig = toml::from_str(&text).unwrap();
    assert!(c.check().is_empty(), "{:?}", c.check());
    c
}

fn tls_file(name: &str) -> String {
    loki_server::tls_dir().join(name).display().to_string()
}

fn push_one(config: &LokiSinkConfig) {
    let mut sink = config.build().unwrap();
    let mut c = ctx("tls");
    let b = c.json_batch(&[(r#"{"msg":"over tls"}"#, Some(1))]);
    sink.write(b, &c.ctx).unwrap();
    sink.close(&c.ctx).unwrap();
    assert!(c.acks()[0].delivered);
}

#[test]
fn https_with_a_private_ca_and_mutual_tls() {
    let server = LokiServer::start_tls(false);
    let url = server.https_url();
    // Not trusted by default.
    let err = tls_config(&url, "")
        .check_environment(LIMIT)
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    // Trusted with ca_file.
    let trusted = tls_config(&url, &format!("ca_file = {:?}", tls_file("ca.pem")));
    trusted.check_environment(LIMIT).unwrap();
    push_one(&trusted);
    // Or without verification, when asked.
    push_one(&tls_config(&url, "verify_certificate = false"));
    assert_eq!(server.stored_count(), 2);

    // Mutual TLS: the server requires a client certificate.
    let mtls = LokiServer::start_tls(true);
    let url = mtls.https_url();
    let no_cert = tls_config(&url, &format!("ca_file = {:?}", tls_file("ca.pem")));
    assert!(no_cert.check_environment(LIMIT).is_err());
    let with_cert = tls_config(
        &url,
        &format!(
            "ca_file = {:?}, crt_file = {:?}, key_file = {:?}",
            tls_file("ca.pem"),
            tls_file("client.pem"),
            tls_file("client.key")
        ),
    );
    with_cert.check_environment(LIMIT).unwrap();
    push_one(&with_cert);
    assert_eq!(mtls.stored_count(), 1);
    // A missing file is a clear build error naming the key.
    let missing = tls_config(&url, "ca_file = \"/nonexistent/ca.pem\"");
    let err = missing.build().unwrap_err().to_string();
    assert!(
        err.contains("tls.ca_file") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}
