//! The OpenTelemetry (OTLP/HTTP) sink against a receiver that decodes with
//! the official protobuf definitions (tests/otlp_receiver, Python, the
//! `opentelemetry-proto` package from PyPI, which scripts/test installs):
//! every field of the records in protobuf and OTLP/JSON, gzip, grouping per
//! resource, OTLP's retry rules (429 with Retry-After, 400 dropped, partial
//! success, a hanging server), and a run of the real binary.
//!
//! Set `LOGAGENT_SKIP_PEER_TESTS=1` to skip these on a machine without
//! Python's packages (scripts/test never does).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver as AckRx;
use logagent::event::ack::Ack;
use logagent::event::json;
use logagent::event::{AckToken, Batch, Event, Root, Span, Stream};
use logagent::pipeline::topology::detached_shutdown;
use logagent::pipeline::{Output, Outputs, ShutdownTrigger};
use logagent::sinks::opentelemetry::metrics::{OtlpMetrics, RecordOutcome, RequestOutcome};
use logagent::sinks::opentelemetry::{OpenTelemetrySink, OpenTelemetrySinkConfig};
use logagent::telemetry::metrics::ComponentMetrics;
use logagent_core::component::{Sink, SinkContext};
use serde_json::{Value, json};

use common::{bin, repo, wait_until, write_pipeline};

const LIMIT: Duration = Duration::from_secs(60);

/// The receiver process, stopped (by its own pid) when dropped.
struct Receiver {
    dir: tempfile::TempDir,
    child: Child,
    url: String,
}

impl Receiver {
    /// Starts the receiver; `None` when peer tests are switched off.
    fn start() -> Option<Receiver> {
        if std::env::var_os("LOGAGENT_SKIP_PEER_TESTS").is_some_and(|v| v != "0") {
            eprintln!("LOGAGENT_SKIP_PEER_TESTS is set: skipping the OTLP receiver test");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(repo().join("tests/otlp_receiver/receiver.py"))
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test checks it is installed)");
        let port_file = dir.path().join("port");
        let deadline = std::time::Instant::now() + LIMIT;
        while !port_file.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!(
                    "the OTLP test receiver exited ({status}) — it needs the opentelemetry-proto \
                     package from PyPI (scripts/test installs it: python3 -m pip install -r \
                     tests/otlp_receiver/requirements.txt):\n{err}"
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "receiver did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        Some(Receiver {
            url: format!("http://127.0.0.1:{}", port.trim()),
            dir,
            child,
        })
    }

    fn script(&self, steps: Value) {
        std::fs::write(self.dir.path().join("script.json"), steps.to_string()).unwrap();
    }

    /// Every request received, in order.
    fn received(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.dir.path().join("received.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Requests that carried records.
    fn exports(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| {
                assert!(r["error"].is_null(), "the receiver could not decode: {r}");
                records_of(r).next().is_some()
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn records_of(request: &Value) -> impl Iterator<Item = &Value> {
    request["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["scopes"].as_array().unwrap())
        .flat_map(|s| s["records"].as_array().unwrap())
}

struct Ctx {
    ctx: SinkContext,
    trigger: ShutdownTrigger,
    acks: AckRx<Ack>,
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
    /// A batch of lines (JSON objects are parsed) with event times (ns).
    fn batch(&mut self, lines: &[(&str, Option<i64>)]) -> Batch {
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

/// A sink built from TOML keys (plus the endpoint and fast retries), and a
/// view of the counters it keeps in `c`'s registry.
fn sink(r: &Receiver, keys: &str, c: &Ctx) -> (OpenTelemetrySink, OtlpMetrics) {
    let text = format!(
        "endpoint = \"{}\"\nretry = {{ initial_backoff = \"20ms\", max_backoff = \"5s\" }}\nhealthcheck = false\nadd_host_name = false\n{keys}",
        r.url
    );
    let config: OpenTelemetrySinkConfig = toml::from_str(&text).unwrap();
    let errors = config.check();
    assert!(errors.is_empty(), "{errors:?}");
    (
        config.build().unwrap(),
        OtlpMetrics::new(&c.ctx.metrics.labeled),
    )
}

const T1: i64 = 1_755_685_845_123_456_789;

/// Four events over three resources: every kind of value, ids, a pino level,
/// a line without a time, an unparsed line without the resource field.
fn sample(c: &mut Ctx) -> Batch {
    c.batch(&[
        (
            r#"{"level":"WARNING","message":"disk low","service":"api","n":3,"ratio":0.25,"ok":true,"none":null,"ctx":{"a":"b","deep":{"x":[1,"y"]}},"tags":["t1",2],"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","big":18446744073709551616}"#,
            Some(T1),
        ),
        (
            r#"{"level":50,"message":"db down","service":"db","code":-1}"#,
            None,
        ),
        ("plain text ERROR line \u{e9}", Some(T1 + 1)),
        (
            r#"{"level":"info","message":{"structured":true},"service":"api"}"#,
            Some(T1 + 2),
        ),
    ])
}

/// Sends `sample` through a sink with `keys` and returns the one export.
fn export_sample(keys: &str) -> Option<(Value, i64, i64)> {
    let r = Receiver::start()?;
    let mut c = ctx("otlp");
    let (mut s, m) = sink(
        &r,
        &format!(
            "resource = {{ \"service.name\" = \"{{{{ service }}}}\", \"deployment.environment\" = \"prod\" }}\nremove_resource_fields = true\nlevel_pattern = \"auto\"\n{keys}"
        ),
        &c,
    );
    let b = sample(&mut c);
    let before = logagent::time::now_ns();
    s.write(b, &c.ctx).unwrap();
    let after = logagent::time::now_ns();
    assert!(
        c.acks().is_empty(),
        "nothing acknowledged before the answer"
    );
    s.close(&c.ctx).unwrap();
    let acks = c.acks();
    assert_eq!(acks.len(), 1);
    assert!(acks[0].delivered);
    assert_eq!(m.records(RecordOutcome::Sent), 4);
    assert_eq!(m.requests(RequestOutcome::Success), 1);
    assert_eq!(c.ctx.metrics.snapshot().sent_events, 4);
    let exports = r.exports();
    assert_eq!(exports.len(), 1, "one request: {exports:?}");
    Some((exports[0].clone(), before, after))
}

/// The request without what differs between runs (observed times, transport).
fn content(request: &Value) -> Value {
    let mut resources = request["resources"].clone();
    for r in resources.as_array_mut().unwrap() {
        for s in r["scopes"].as_array_mut().unwrap() {
            for rec in s["records"].as_array_mut().unwrap() {
                rec["observed"] = json!(0);
            }
        }
    }
    resources
}

#[test]
fn protobuf_gzip_records_carry_every_field_grouped_per_resource() {
    let Some((req, before, after)) = export_sample(
        "auth = { strategy = \"bearer\", token = \"t0k\" }\nheaders = { \"X-Scope-OrgID\" = \"team-a\" }",
    ) else {
        return;
    };
    assert_eq!(req["path"], "/v1/logs");
    assert_eq!(req["content_type"], "application/x-protobuf");
    assert_eq!(req["content_encoding"], "gzip");
    assert_eq!(req["headers"]["authorization"], "Bearer t0k");
    assert_eq!(req["headers"]["x-scope-orgid"], "team-a");
    assert!(
        req["headers"]["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("logagent/")
    );
    let resources = req["resources"].as_array().unwrap();
    assert_eq!(
        resources.len(),
        3,
        "api, db, and the line without a service"
    );
    let attrs: Vec<&Value> = resources.iter().map(|r| &r["attributes"]).collect();
    assert_eq!(
        attrs,
        [
            &json!({"deployment.environment": {"string": "prod"}, "service.name": {"string": "api"}}),
            &json!({"deployment.environment": {"string": "prod"}, "service.name": {"string": "db"}}),
            &json!({"deployment.environment": {"string": "prod"}}),
        ]
    );
    for r in resources {
        let scopes = r["scopes"].as_array().unwrap();
        assert_eq!(scopes.len(), 1);
        assert_eq!(scopes[0]["name"], "logagent");
        assert_eq!(scopes[0]["version"], env!("CARGO_PKG_VERSION"));
        for rec in scopes[0]["records"].as_array().unwrap() {
            let observed = rec["observed"].as_i64().unwrap();
            assert!(
                (before..=after).contains(&observed),
                "observed {observed} is when the sink took the batch"
            );
        }
    }
    let api = &resources[0]["scopes"][0]["records"];
    assert_eq!(api.as_array().unwrap().len(), 2);
    let first = &api[0];
    assert_eq!(first["time"], json!(T1));
    assert_eq!(first["severity_number"], 13);
    assert_eq!(first["severity_text"], "WARN");
    assert_eq!(first["body"], json!({"string": "disk low"}));
    assert_eq!(
        first["attributes"],
        json!({
            "n": {"int": 3},
            "ratio": {"double": 0.25},
            "ok": {"bool": true},
            "none": null,
            "ctx": {"kvlist": {"a": {"string": "b"}, "deep": {"kvlist": {"x": {"array": [{"int": 1}, {"string": "y"}]}}}}},
            "tags": {"array": [{"string": "t1"}, {"int": 2}]},
            "big": {"string": "18446744073709551616"},
        }),
        "service (a resource field) and level, message, ids are not attributes"
    );
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first["span_id"], "00f067aa0ba902b7");
    assert_eq!(
        (
            &first["flags"],
            &first["dropped_attributes_count"],
            &first["event_name"]
        ),
        (&json!(0), &json!(0), &json!(""))
    );
    let structured = &api[1];
    assert_eq!(structured["time"], json!(T1 + 2));
    assert_eq!(structured["severity_number"], 9);
    assert_eq!(structured["severity_text"], "INFO");
    assert_eq!(
        structured["body"],
        json!({"kvlist": {"structured": {"bool": true}}})
    );
    assert_eq!(structured["attributes"], json!({}));
    let db = &resources[1]["scopes"][0]["records"][0];
    assert_eq!(db["time"], 0, "no parsed time: unknown, as OTLP says");
    assert_eq!(db["severity_number"], 17, "pino 50");
    assert_eq!(db["severity_text"], "ERROR");
    assert_eq!(db["body"], json!({"string": "db down"}));
    assert_eq!(db["attributes"], json!({"code": {"int": -1}}));
    assert_eq!((&db["trace_id"], &db["span_id"]), (&json!(""), &json!("")));
    let text = &resources[2]["scopes"][0]["records"][0];
    assert_eq!(
        text["body"],
        json!({"string": "plain text ERROR line \u{e9}"})
    );
    assert_eq!(text["severity_number"], 17, "level_pattern = auto");
    assert_eq!(text["time"], json!(T1 + 1));
    assert_eq!(text["attributes"], json!({}));
}

#[test]
fn json_and_uncompressed_requests_carry_the_same_records() {
    let Some((reference, _, _)) = export_sample("") else {
        return;
    };
    for (keys, ctype, encoding) in [
        ("encoding = \"json\"", "application/json", "gzip"),
        (
            "encoding = \"json\"\ncompression = \"none\"",
            "application/json",
            "",
        ),
        ("compression = \"none\"", "application/x-protobuf", ""),
    ] {
        let (req, _, _) = export_sample(keys).unwrap();
        assert_eq!(req["content_type"], ctype, "{keys}");
        assert_eq!(req["content_encoding"], encoding, "{keys}");
        assert_eq!(content(&req), content(&reference), "{keys}");
    }
}

#[test]
fn status_429_with_retry_after_is_retried_then_delivered_once() {
    let Some(r) = Receiver::start() else { return };
    r.script(json!([{"status": 429, "retry_after": "1"}, {"status": 503}]));
    let mut c = ctx("throttled");
    let (mut s, m) = sink(&r, "", &c);
    let b = c.batch(&[(r#"{"message":"a"}"#, None), (r#"{"message":"b"}"#, None)]);
    s.write(b, &c.ctx).unwrap();
    s.close(&c.ctx).unwrap();
    let exports = r.exports();
    assert_eq!(exports.len(), 3, "429, 503, then taken");
    assert_eq!(
        content(&exports[0]),
        content(&exports[2]),
        "the same request again"
    );
    let waited = exports[1]["t"].as_f64().unwrap() - exports[0]["t"].as_f64().unwrap();
    assert!(waited >= 0.95, "Retry-After: 1 was honoured ({waited:.3}s)");
    assert_eq!(m.requests(RequestOutcome::RateLimited), 1);
    assert_eq!(m.requests(RequestOutcome::Unavailable), 1);
    assert_eq!(m.requests(RequestOutcome::Success), 1);
    assert_eq!(m.retries.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(m.records(RecordOutcome::Sent), 2);
    let acks = c.acks();
    assert_eq!(acks.len(), 1, "acknowledged once");
    assert!(acks[0].delivered);
    assert_eq!(c.ctx.metrics.snapshot().sent_events, 2);
}

#[test]
fn status_400_drops_the_records_counts_them_and_goes_on() {
    let Some(r) = Receiver::start() else { return };
    r.script(json!([{"status": 400, "text": "bad data"}]));
    let mut c = ctx("refused");
    let (mut s, m) = sink(&r, "concurrency = 1", &c);
    let b = c.batch(&[
        (r#"{"message":"a"}"#, None),
        (r#"{"message":"b"}"#, None),
        (r#"{"message":"c"}"#, None),
    ]);
    s.write(b, &c.ctx).unwrap();
    s.flush(&c.ctx).unwrap();
    let b = c.batch(&[(r#"{"message":"d"}"#, None)]);
    s.write(b, &c.ctx).unwrap();
    s.close(&c.ctx).unwrap();
    assert_eq!(r.exports().len(), 2, "the refused request is not retried");
    assert_eq!(m.requests(RequestOutcome::Rejected), 1);
    assert_eq!(m.records(RecordOutcome::Dropped), 3);
    assert_eq!(m.records(RecordOutcome::Sent), 1);
    assert_eq!(m.retries.load(std::sync::atomic::Ordering::Relaxed), 0);
    let snap = c.ctx.metrics.snapshot();
    assert_eq!(
        (snap.discarded_events, snap.sent_events, snap.errors),
        (3, 1, 1)
    );
    assert_eq!(c.acks().len(), 2, "both batches are done with");
}

#[test]
fn partial_success_is_counted_in_protobuf_and_json() {
    for encoding in ["protobuf", "json"] {
        let Some(r) = Receiver::start() else { return };
        r.script(json!([{"status": 200, "rejected": 2, "message": "2 records too old"}]));
        let mut c = ctx("partial");
        let (mut s, m) = sink(&r, &format!("encoding = \"{encoding}\""), &c);
        let b = c.batch(&[
            (r#"{"message":"a"}"#, None),
            (r#"{"message":"b"}"#, None),
            (r#"{"message":"c"}"#, None),
            (r#"{"message":"d"}"#, None),
            (r#"{"message":"e"}"#, None),
        ]);
        s.write(b, &c.ctx).unwrap();
        s.close(&c.ctx).unwrap();
        assert_eq!(r.exports().len(), 1, "{encoding}: not retried");
        assert_eq!(m.requests(RequestOutcome::PartialSuccess), 1, "{encoding}");
        assert_eq!(m.records(RecordOutcome::Rejected), 2, "{encoding}");
        assert_eq!(m.records(RecordOutcome::Sent), 3, "{encoding}");
        let snap = c.ctx.metrics.snapshot();
        assert_eq!(
            (snap.discarded_events, snap.sent_events),
            (2, 3),
            "{encoding}"
        );
        assert_eq!(c.acks().len(), 1);
    }
}

#[test]
fn a_hanging_server_times_out_and_the_export_is_retried() {
    let Some(r) = Receiver::start() else { return };
    r.script(json!([{"hang": 30}]));
    let mut c = ctx("hang");
    let (mut s, m) = sink(&r, "request_timeout = \"500ms\"", &c);
    let b = c.batch(&[(r#"{"message":"a"}"#, None)]);
    s.write(b, &c.ctx).unwrap();
    s.close(&c.ctx).unwrap();
    let exports = r.exports();
    assert_eq!(
        exports.len(),
        2,
        "the hung request reached the server, then the retry (at least once)"
    );
    assert_eq!(m.requests(RequestOutcome::Timeout), 1);
    assert_eq!(m.requests(RequestOutcome::Success), 1);
    assert_eq!(m.records(RecordOutcome::Sent), 1);
    assert!(c.acks()[0].delivered);
}

#[test]
fn requests_are_split_at_max_events_and_acks_wait_for_every_part() {
    let Some(r) = Receiver::start() else { return };
    let mut c = ctx("split");
    let (mut s, m) = sink(&r, "batch = { max_events = 2 }\nconcurrency = 1", &c);
    let lines: Vec<String> = (0..5)
        .map(|i| format!("{{\"message\":\"m{i}\"}}"))
        .collect();
    let refs: Vec<(&str, Option<i64>)> = lines.iter().map(|l| (l.as_str(), None)).collect();
    let b = c.batch(&refs);
    s.write(b, &c.ctx).unwrap();
    s.close(&c.ctx).unwrap();
    let exports = r.exports();
    let sizes: Vec<usize> = exports.iter().map(|e| records_of(e).count()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let bodies: Vec<String> = exports
        .iter()
        .flat_map(|e| records_of(e).map(|r| r["body"]["string"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(m.records(RecordOutcome::Sent), 5);
    assert_eq!(c.acks().len(), 1);
}

#[test]
fn forced_shutdown_gives_up_and_reports_the_batch_undelivered() {
    let Some(r) = Receiver::start() else { return };
    r.script(json!(vec![json!({"status": 503}); 1000]));
    let mut c = ctx("forced");
    let (mut s, m) = sink(&r, "", &c);
    let b = c.batch(&[(r#"{"message":"a"}"#, None), (r#"{"message":"b"}"#, None)]);
    s.write(b, &c.ctx).unwrap();
    let ctx2 = c.ctx.clone();
    let closing = std::thread::spawn(move || {
        let failed = s.close(&ctx2).is_err();
        (failed, s)
    });
    wait_until(LIMIT, "a few failed attempts", || r.exports().len() >= 2);
    c.trigger.force();
    let (failed, s) = closing.join().unwrap();
    assert!(failed, "close reports the give-up");
    drop(s);
    let acks = c.acks();
    assert_eq!(acks.len(), 1);
    assert!(
        !acks[0].delivered,
        "the source is told the batch was not delivered"
    );
    assert_eq!(m.records(RecordOutcome::GivenUp), 2);
    assert_eq!(c.ctx.metrics.snapshot().discarded_events, 2);
}

fn binary_pipeline(dir: &Path, url: &str, log: &Path) -> PathBuf {
    write_pipeline(
        dir,
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
[sinks.otlp]
type = "opentelemetry"
inputs = ["parse"]
endpoint = "{url}"
resource = {{ "service.name" = "{{{{ service }}}}" }}
"#,
            data = dir.display().to_string(),
            log = log.display().to_string(),
        ),
    )
}

#[test]
fn the_binary_validates_and_ships_a_file_over_otlp() {
    let Some(r) = Receiver::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    std::fs::write(
        &log,
        "{\"timestamp\":\"2025-08-20T10:30:45.123Z\",\"level\":\"INFO\",\"service\":\"api\",\"message\":\"up\"}\n\
         plain text line\n",
    )
    .unwrap();
    let p = binary_pipeline(dir.path(), &r.url, &log);
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r.received().len(), 1, "validate sends one empty export");
    let out = bin().arg("-p").arg(&p).arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("OpenTelemetry sink totals"), "{stderr}");
    wait_until(LIMIT, "the export", || !r.exports().is_empty());
    let exports = r.exports();
    let records: Vec<&Value> = exports.iter().flat_map(records_of).collect();
    assert_eq!(records.len(), 2);
    let up = records
        .iter()
        .find(|r| r["body"] == json!({"string": "up"}))
        .unwrap();
    assert_eq!(up["time"], json!(1_755_685_845_123_000_000i64));
    assert_eq!(up["severity_text"], "INFO");
    let attrs = up["attributes"].as_object().unwrap();
    assert_eq!(attrs["service"], json!({"string": "api"}));
    assert!(
        !attrs.contains_key("level") && !attrs.contains_key("message"),
        "{attrs:?}"
    );
    let resources: Vec<&Value> = exports
        .iter()
        .flat_map(|e| e["resources"].as_array().unwrap())
        .collect();
    assert!(resources.iter().any(|r| {
        r["attributes"]["service.name"] == json!({"string": "api"})
            && r["attributes"]["host.name"]["string"]
                .as_str()
                .is_some_and(|h| !h.is_empty())
    }));
}

#[test]
fn validate_warns_when_the_endpoint_is_unreachable_and_refuses_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[sources.in]\ntype = \"stdin\"\n[sinks.otlp]\ntype = \"opentelemetry\"\ninputs = [\"in\"]\nendpoint = \"http://127.0.0.1:{port}\"\nencoding = \"json\"\n"
        ),
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "an environment problem is a warning: {stderr}"
    );
    assert!(
        stderr.contains("warning: sinks.otlp:") && stderr.contains("OTLP health check failed"),
        "{stderr}"
    );
    let bad = write_pipeline(
        dir.path(),
        "bad.toml",
        "[sources.in]\ntype = \"stdin\"\n[sinks.otlp]\ntype = \"opentelemetry\"\ninputs = [\"in\"]\nendpoint = \"collector:4318\"\nbatch = { max_events = 0 }\n",
    );
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("endpoint")
            && stderr.contains("batch.max_events"),
        "{stderr}"
    );
}

#[test]
fn a_dead_endpoint_is_failed_over_and_skipped_while_it_cools_down() {
    let Some(r) = Receiver::start() else { return };
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let config: OpenTelemetrySinkConfig = toml::from_str(&format!(
        "endpoints = [\"{dead}\", \"{}\"]\nretry = {{ initial_backoff = \"20ms\", max_backoff = \"1s\" }}\nhealthcheck = false\nconcurrency = 1\n",
        r.url
    ))
    .unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    let mut c = ctx("failover");
    let mut s = config.build().unwrap();
    let m = OtlpMetrics::new(&c.ctx.metrics.labeled);
    for i in 0..3 {
        let line = format!("{{\"message\":\"m{i}\"}}");
        let b = c.batch(&[(line.as_str(), None)]);
        s.write(b, &c.ctx).unwrap();
        s.flush(&c.ctx).unwrap();
    }
    s.close(&c.ctx).unwrap();
    assert_eq!(
        r.exports().len(),
        3,
        "every request reached the live endpoint once"
    );
    assert_eq!(
        m.requests(RequestOutcome::TransportError),
        1,
        "the dead endpoint was tried once, then skipped while cooling down"
    );
    assert_eq!(m.records(RecordOutcome::Sent), 3);
    assert!(c.acks().iter().all(|a| a.delivered));
}
