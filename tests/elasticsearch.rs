//! The Elasticsearch sink against an in-process server implementing the `_bulk`
//! contract (`tests/fake_es`): delivery, per-item retries, dead letters,
//! crash and replay, outages and backpressure, gzip, templated indexes, auth,
//! failover — through the library's topology and through the real binary.

#![allow(clippy::unwrap_used)]

mod common;
mod fake_es;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use logagent::config;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent::sinks::elasticsearch::names;
use logagent::telemetry::metrics::ComponentMetrics;
use serde_json::Value;

use common::{bin, read_ndjson, repo, wait_until, write_pipeline};
use fake_es::{FakeEs, Fault, Root};

const LIMIT: Duration = Duration::from_secs(60);

/// `n` JSON lines, two days' worth of timestamps; `extra(i)` adds fields.
fn lines(n: usize, extra: impl Fn(usize) -> String) -> String {
    (0..n)
        .map(|i| {
            let day = if i < n / 2 { 20 } else { 21 };
            format!(
                "{{\"timestamp\":\"2025-08-{day}T10:00:{:02}.{:03}Z\",\"level\":\"info\",\"message\":\"line {i}\",\"n\":{i}{}}}\n",
                i % 60,
                i % 1000,
                extra(i)
            )
        })
        .collect()
}

fn write_log(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A pipeline: file source → parse_json (time from `timestamp`) → the sink.
fn pipeline(log: &str, es: &FakeEs, sink_extra: &str, rest: &str) -> String {
    // Checkpoints next to the log, never in the machine's /var/lib/logagent.
    let state = format!("{log}.state");
    format!(
        r#"
data_dir = {state:?}

# One thread per transform: the outage test counts batches held by `parse`
# (tests/backpressure.rs counts them through a stage of four workers).
[runtime]
batch_max_events = 10
channel_capacity = 2
workers = 1

[sources.app]
type = "file"
include = [{log:?}]

[transforms.parse]
type = "parse_json"
inputs = ["app"]
time_key = "timestamp"

[sinks.es]
type = "elasticsearch"
inputs = ["parse"]
endpoints = ["{url}"]
retry_initial_backoff = "10ms"
retry_max_backoff = "100ms"
{sink_extra}
{rest}
"#,
        url = es.url()
    )
}

fn start(text: &str) -> Topology {
    let cfg = config::load_texts(&[(PathBuf::from("es.toml"), text.to_owned())], |_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    Topology::start(
        &cfg,
        BuildOptions {
            once: true,
            ..BuildOptions::default()
        },
    )
    .unwrap()
}

fn run(text: &str) -> Arc<ComponentMetrics> {
    let topology = start(text);
    let metrics = topology.registry().get("es").unwrap().clone();
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
    metrics
}

fn counter(m: &ComponentMetrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    m.labeled.get(name, labels).unwrap_or(0)
}

/// Every stored document's `n`, sorted: each line exactly once.
fn stored_ns(es: &FakeEs) -> Vec<u64> {
    let mut ns: Vec<u64> = es
        .all_docs()
        .iter()
        .map(|(_, _, _, d)| d["n"].as_u64().unwrap())
        .collect();
    ns.sort_unstable();
    ns
}

#[test]
fn every_line_lands_once_in_date_templated_indexes_byte_for_byte() {
    let es = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    let text = lines(100, |_| String::new());
    let log = write_log(dir.path(), "app.log", &text);
    let m = run(&pipeline(
        &log,
        &es,
        "index = \"workflow-logs-%Y.%m.%d\"\nmax_events = 30",
        "",
    ));
    assert_eq!(
        es.indices(),
        ["workflow-logs-2025.08.20", "workflow-logs-2025.08.21"]
    );
    assert_eq!(es.docs("workflow-logs-2025.08.20").len(), 50);
    assert_eq!(stored_ns(&es), (0..100).collect::<Vec<_>>());
    // The documents are the lines as read.
    let originals: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (_, _, version, doc) in es.all_docs() {
        assert_eq!(version, 1);
        assert_eq!(doc, originals[doc["n"].as_u64().unwrap() as usize]);
    }
    let s = m.snapshot();
    assert_eq!(s.received_events, 100);
    assert_eq!(s.sent_events, 100);
    assert_eq!(counter(&m, names::ITEMS, &[("status", "201")]), 100);
    assert_eq!(
        counter(&m, names::REQUESTS, &[("status", "200")]),
        es.requests().len() as u64
    );
    assert!(es.requests().iter().all(|r| r.items <= 30 && !r.gzip));
    assert_eq!(counter(&m, names::PENDING, &[]), 0);
}

#[test]
fn a_partial_failure_retries_only_the_failed_items() {
    let es = FakeEs::start();
    // Two documents are refused twice with 429, one once with 503.
    es.rule("\"retry-me\"", 429, Some(4));
    es.rule("\"shard-down\"", 503, Some(1));
    let dir = tempfile::tempdir().unwrap();
    let text = lines(40, |i| match i {
        5 | 27 => ",\"tag\":\"retry-me\"".into(),
        12 => ",\"tag\":\"shard-down\"".into(),
        _ => String::new(),
    });
    let log = write_log(dir.path(), "app.log", &text);
    let m = run(&pipeline(
        &log,
        &es,
        "index = \"logs\"\nmax_events = 40\nconcurrency = 1",
        "",
    ));
    assert_eq!(stored_ns(&es), (0..40).collect::<Vec<_>>());
    let requests = es.requests();
    assert_eq!(requests[0].items, 40, "first request: everything");
    // Then only the refused documents, never the 37 that were stored.
    assert_eq!(
        requests[1..].iter().map(|r| r.items).collect::<Vec<_>>(),
        [3, 2],
        "{requests:?}"
    );
    let attempts = es.with(|s| s.attempts.clone());
    let by_n: HashMap<u64, u32> = es
        .all_docs()
        .into_iter()
        .map(|(_, id, _, d)| (d["n"].as_u64().unwrap(), attempts[&id]))
        .collect();
    for n in 0..40 {
        let expected = match n {
            5 | 27 => 3,
            12 => 2,
            _ => 1,
        };
        assert_eq!(by_n[&n], expected, "line {n}");
    }
    assert_eq!(counter(&m, names::RETRIES, &[("scope", "item")]), 5);
    assert_eq!(counter(&m, names::RETRIES, &[("scope", "request")]), 0);
    assert_eq!(counter(&m, names::ITEMS, &[("status", "429")]), 4);
    assert_eq!(counter(&m, names::ITEMS, &[("status", "503")]), 1);
    assert_eq!(counter(&m, names::ITEMS, &[("status", "201")]), 40);
    assert_eq!(m.snapshot().sent_events, 40);
}

#[test]
fn refused_documents_land_in_the_dead_letter_output_with_reasons() {
    let es = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    // `user` is an object first; a string later conflicts with the mapping.
    let text = lines(30, |i| match i {
        0 => ",\"user\":{\"id\":1}".into(),
        7 | 19 => ",\"user\":\"alice\"".into(),
        _ => String::new(),
    }) + "{\"timestamp\":\"2025-08-21T11:00:00Z\",\"n\":30,\"service\":\"API\"}\n";
    let log = write_log(dir.path(), "app.log", &text);
    let dlq = dir.path().join("dlq.ndjson");
    let m = run(&pipeline(
        &log,
        &es,
        "index = \"logs-{{ service }}\"",
        &format!(
            r#"
[sinks.dlq]
type = "file"
inputs = ["es.dead_letter"]
path = {:?}
"#,
            dlq.display().to_string()
        ),
    ));
    // 28 stored; two mapping conflicts and one invalid (uppercase) index name refused.
    assert_eq!(es.doc_count(), 28);
    let dead = read_ndjson(&dlq, &[]);
    assert_eq!(dead.len(), 3);
    let mut ns: Vec<u64> = dead.iter().map(|d| d["n"].as_u64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, [7, 19, 30]);
    for d in &dead {
        let why = &d["_dead_letter"];
        assert_eq!(why["status"], 400, "{d}");
        assert_eq!(why["attempts"], 1);
        if d["n"] == 30 {
            assert_eq!(why["type"], "invalid_index_name_exception");
            assert_eq!(why["index"], "logs-API");
        } else {
            assert_eq!(why["type"], "mapper_parsing_exception");
            assert!(
                why["reason"]
                    .as_str()
                    .unwrap()
                    .contains("failed to parse field [user]"),
                "{why}"
            );
            assert_eq!(d["user"], "alice", "the document itself is kept");
        }
    }
    assert_eq!(
        counter(
            &m,
            names::DEAD_LETTERED,
            &[("reason", "mapper_parsing_exception")]
        ),
        2
    );
    assert_eq!(
        counter(
            &m,
            names::DEAD_LETTERED,
            &[("reason", "invalid_index_name_exception")]
        ),
        1
    );
    assert_eq!(counter(&m, names::ITEMS, &[("status", "201")]), 28);
    assert_eq!(counter(&m, names::ITEMS, &[("status", "400")]), 3);
    // Stored, plus passed on to the dead-letter output (counted by the output).
    assert_eq!(m.snapshot().sent_events, 28 + 3);
    assert_eq!(m.snapshot().discarded_events, 0);
}

#[test]
fn without_a_dead_letter_consumer_refused_documents_are_counted_as_discarded() {
    let es = FakeEs::start();
    es.rule("\"bad\"", 400, None);
    let dir = tempfile::tempdir().unwrap();
    let text = lines(10, |i| {
        if i == 3 {
            ",\"x\":\"bad\"".into()
        } else {
            String::new()
        }
    });
    let log = write_log(dir.path(), "app.log", &text);
    let m = run(&pipeline(&log, &es, "index = \"logs\"", ""));
    assert_eq!(es.doc_count(), 9);
    assert_eq!(m.snapshot().discarded_events, 1);
    assert_eq!(m.snapshot().sent_events, 9);
}

#[test]
fn dropped_and_slow_connections_are_retried_without_duplicates() {
    let es = FakeEs::start();
    // Lost before processing, lost after processing (stored, answer lost), too
    // slow (stored, answer after the client's timeout), then a 502.
    es.fault([
        Fault::DropBefore,
        Fault::DropAfter,
        Fault::SlowAfter(Duration::from_secs(3)),
        Fault::Status(502),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), "app.log", &lines(50, |_| String::new()));
    let m = run(&pipeline(
        &log,
        &es,
        "index = \"logs\"\nconcurrency = 1\nrequest_timeout = \"500ms\"",
        "",
    ));
    assert_eq!(stored_ns(&es), (0..50).collect::<Vec<_>>());
    assert!(
        es.all_docs().iter().all(|(_, _, v, _)| *v == 1),
        "never overwritten"
    );
    // The stored-but-unanswered documents came back as 409s: duplicates, not errors.
    assert!(counter(&m, names::ITEMS, &[("status", "409")]) >= 1);
    assert_eq!(counter(&m, names::RETRIES, &[("scope", "request")]), 4);
    assert_eq!(counter(&m, names::REQUESTS, &[("status", "502")]), 1);
    assert!(counter(&m, names::REQUESTS, &[("status", "timeout")]) >= 1);
    assert!(counter(&m, names::REQUESTS, &[("status", "error")]) >= 2);
    assert_eq!(m.snapshot().sent_events, 50);
}

#[test]
fn an_outage_blocks_the_source_with_exact_counts_and_loses_nothing() {
    let es = FakeEs::start();
    es.outage(Some(503));
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), "app.log", &lines(2000, |_| String::new()));
    let topology = start(&pipeline(
        &log,
        &es,
        "index = \"logs\"\nmax_events = 10\nconcurrency = 1",
        "",
    ));
    let registry = topology.registry().clone();
    let source = registry.get("app").unwrap().clone();
    let sink = registry.get("es").unwrap().clone();
    // The sink holds one request (retrying) and one full bulk waiting for its
    // slot; the channels before it are full; the source waits to send.
    let parse_metrics = registry.get("parse").unwrap().clone();
    wait_until(LIMIT, "the pipeline to stall", || {
        source.snapshot().blocked
            && source.snapshot().sent_events == 70
            && parse_metrics.snapshot().sent_events == 40
            && sink.snapshot().received_events == 20
            && counter(&sink, names::PENDING, &[]) == 20
            && counter(&sink, names::REQUESTS, &[("status", "503")]) >= 3
    });
    let s = source.snapshot();
    let parse = registry.get("parse").unwrap().snapshot();
    assert_eq!(
        sink.snapshot().received_events,
        20,
        "two batches in the sink"
    );
    assert_eq!(parse.sent_events, 20 + 20, "+ two in the sink's channel");
    assert_eq!(
        s.sent_events,
        40 + 20 + 10,
        "+ two in parse's channel, one in parse"
    );
    assert_eq!(counter(&sink, names::PENDING, &[]), 20);
    assert_eq!(sink.snapshot().sent_events, 0);
    assert_eq!(es.doc_count(), 0);

    es.outage(None);
    let (_keep, stop) = no_stop();
    assert_eq!(topology.wait(&stop, LIMIT), Outcome::Drained);
    assert_eq!(stored_ns(&es), (0..2000).collect::<Vec<_>>());
    assert_eq!(sink.snapshot().sent_events, 2000);
    assert_eq!(counter(&sink, names::PENDING, &[]), 0);
}

#[test]
fn gzip_bodies_decode_and_bytes_are_counted_both_ways() {
    let es = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), "app.log", &lines(200, |_| String::new()));
    let m = run(&pipeline(
        &log,
        &es,
        "index = \"logs\"\ncompression = \"gzip\"\npipeline = \"geoip\"",
        "",
    ));
    assert_eq!(stored_ns(&es), (0..200).collect::<Vec<_>>());
    let requests = es.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.gzip && r.pipeline.as_deref() == Some("geoip"))
    );
    let wire: usize = requests.iter().map(|r| r.wire_bytes).sum();
    let body: usize = requests.iter().map(|r| r.body_bytes).sum();
    assert_eq!(
        counter(&m, names::BODY_BYTES, &[("encoding", "gzip")]),
        wire as u64
    );
    assert_eq!(
        counter(&m, names::BODY_BYTES, &[("encoding", "uncompressed")]),
        body as u64
    );
    assert!(wire * 3 < body, "gzip {wire} of {body} bytes");
    assert_eq!(m.snapshot().sent_bytes, wire as u64);
}

#[test]
fn data_streams_get_create_and_a_timestamp() {
    let es = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), "app.log", "{\"message\":\"no time\",\"n\":0}\n");
    run(&pipeline(
        &log,
        &es,
        "mode = \"data_stream\"\ndata_stream = { dataset = \"workflow\" }",
        "",
    ));
    let docs = es.docs("logs-workflow-default");
    assert_eq!(docs.len(), 1, "{:?}", es.indices());
    assert!(docs[0]["@timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn fails_over_to_a_working_endpoint_with_basic_auth_from_a_file() {
    let es = FakeEs::start();
    es.require_auth("Basic ZWxhc3RpYzpzM2NyZXQ=");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead); // nothing listens there now: connection refused
    let log = write_log(dir.path(), "app.log", &lines(60, |_| String::new()));
    let text = pipeline(
        &log,
        &es,
        &format!(
            "index = \"logs\"\nauth = {{ strategy = \"basic\", user = \"elastic\", password_file = {:?} }}",
            secret.display().to_string()
        ),
        "",
    )
    .replace(
        &format!("endpoints = [\"{}\"]", es.url()),
        &format!("endpoints = [\"{dead_url}\", \"{}\"]", es.url()),
    );
    let m = run(&text);
    assert_eq!(stored_ns(&es), (0..60).collect::<Vec<_>>());
    assert!(counter(&m, names::REQUESTS, &[("status", "error")]) >= 1);
    assert_eq!(counter(&m, names::REQUESTS, &[("status", "401")]), 0);
}

#[test]
fn retries_can_be_limited_and_then_dead_letter() {
    let es = FakeEs::start();
    es.rule("\"stuck\"", 429, None);
    let dir = tempfile::tempdir().unwrap();
    let text = lines(5, |i| {
        if i == 2 {
            ",\"x\":\"stuck\"".into()
        } else {
            String::new()
        }
    });
    let log = write_log(dir.path(), "app.log", &text);
    let dlq = dir.path().join("dlq.ndjson");
    let m = run(&pipeline(
        &log,
        &es,
        "index = \"logs\"\nmax_retries = 2",
        &format!(
            "[sinks.dlq]\ntype = \"file\"\ninputs = [\"es.dead_letter\"]\npath = {:?}\n",
            dlq.display().to_string()
        ),
    ));
    assert_eq!(es.doc_count(), 4);
    let dead = read_ndjson(&dlq, &[]);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["_dead_letter"]["type"], "retries_exhausted");
    assert_eq!(dead[0]["_dead_letter"]["status"], 429);
    assert_eq!(dead[0]["_dead_letter"]["attempts"], 3);
    assert_eq!(counter(&m, names::ITEMS, &[("status", "429")]), 3);
}

// ---- through the real binary ----

#[test]
fn a_replay_after_a_crash_duplicates_nothing() {
    let es = FakeEs::start();
    // The first request is stored but its answer is lost; the agent then waits
    // (a long backoff) and is killed before it learns anything.
    es.fault([Fault::DropAfter]);
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), "app.log", &lines(300, |_| String::new()));
    // Both runs share the checkpoints that `pipeline` keeps next to the log.
    let data_dir = String::new();
    let crashing = write_pipeline(
        dir.path(),
        "crash.toml",
        &(data_dir.clone()
            + &pipeline(
                &log,
                &es,
                "index = \"logs\"\nmax_events = 50\nconcurrency = 1",
                "",
            ))
            .replace(
                "retry_initial_backoff = \"10ms\"",
                "retry_initial_backoff = \"1h\"",
            )
            .replace(
                "retry_max_backoff = \"100ms\"",
                "retry_max_backoff = \"1h\"",
            ),
    );
    let mut child = bin()
        .arg("-p")
        .arg(&crashing)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(LIMIT, "the first 50 documents to be stored", || {
        es.doc_count() == 50 && es.requests().len() == 1
    });
    child.kill().unwrap(); // SIGKILL: no drain, no acknowledgement
    child.wait().unwrap();

    let replay = write_pipeline(
        dir.path(),
        "replay.toml",
        &(data_dir + &pipeline(&log, &es, "index = \"logs\"\nmax_events = 50", "")),
    );
    let out = bin().arg("-p").arg(&replay).arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("written=300"), "{stderr}");
    assert_eq!(
        stored_ns(&es),
        (0..300).collect::<Vec<_>>(),
        "no duplicates, none lost"
    );
    assert!(es.all_docs().iter().all(|(_, _, v, _)| *v == 1));
    let attempts = es.with(|s| s.attempts.clone());
    assert_eq!(
        attempts.values().filter(|a| **a == 2).count(),
        50,
        "the replayed ones"
    );
    assert_eq!(attempts.len(), 300);
}

#[test]
fn the_example_pipeline_ships_the_seed_logs_to_workflow_logs() {
    let es = FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let api = repo().join("fixtures/logs/app/api.log");
    std::fs::copy(&api, logs.join("api.log")).unwrap();
    let bytes = std::fs::read(&api).unwrap();
    let expected = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let out = bin()
        .current_dir(dir.path())
        .arg("-p")
        .arg(repo().join("pipelines/elasticsearch.toml"))
        .arg("--once")
        .env("ES_URL", es.url())
        .env("LOG_DIR", &logs)
        .env("LOGAGENT_DATA_DIR", dir.path().join("data"))
        .env("NODE_ENV", "production")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("health check passed: Elasticsearch 8.15.1"),
        "{stderr}"
    );
    assert_eq!(es.indices(), ["workflow-logs"]);
    let docs = es.docs("workflow-logs");
    assert_eq!(docs.len(), expected);
    for d in &docs {
        assert_eq!(d["service_name"], "api", "{d}");
        assert_eq!(d["environment"], "production");
        assert!(d["server_name"].is_string());
    }
}

#[test]
fn validate_runs_the_health_check_unless_told_not_to() {
    let es = FakeEs::start();
    es.root(Root::OpenSearch);
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &pipeline("/nonexistent/*.log", &es, "index = \"logs\"", ""),
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OpenSearch 2.15.0"), "{stderr}");
    assert_eq!(es.with(|s| s.root_requests), 1);

    let out = bin()
        .arg("validate")
        .arg("--no-environment")
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(es.with(|s| s.root_requests), 1, "not contacted");

    drop(es);
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert!(out.status.success(), "an unreachable cluster is a warning");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: sinks.es:") && stderr.contains("unreachable"),
        "{stderr}"
    );
}

#[test]
fn dead_letters_may_not_flow_back_into_their_sink() {
    let text = r#"
[sources.app]
type = "stdin"
[transforms.fix]
type = "enrich"
inputs = ["app", "es.dead_letter"]
fields = { fixed = "yes" }
[sinks.es]
type = "elasticsearch"
inputs = ["fix"]
endpoints = ["http://127.0.0.1:9200"]
index = "logs"
"#;
    let errors = config::load_texts(&[(PathBuf::from("loop.toml"), text.to_owned())], |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("sinks.es: key `inputs`: its output \"es.dead_letter\" flows back into it"),
        "{errors}"
    );
}

#[test]
fn a_stop_during_an_outage_gives_up_after_the_drain_timeout() {
    let es = FakeEs::start();
    es.outage(Some(503));
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), "app.log", &lines(100, |_| String::new()));
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &pipeline(&log, &es, "index = \"logs\"", ""),
    );
    let child = bin()
        .arg("-p")
        .arg(&p)
        .args(["--drain-timeout", "300ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(LIMIT, "the agent to retry", || es.requests().len() >= 2);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("drain timed out"), "{stderr}");
    assert!(stderr.contains("bulk request failed; retrying"), "{stderr}");
    assert_eq!(es.doc_count(), 0);
}

// ---- the sink alone: when acknowledgements go back ----

mod acks {
    use super::*;
    use bytes::Bytes;
    use logagent::event::ack::Ack;
    use logagent::event::{AckToken, Batch, Event, Stream};
    use logagent::pipeline::topology::detached_shutdown;
    use logagent::pipeline::{Output, Outputs};
    use logagent::sinks::elasticsearch::{ElasticsearchConfig, ElasticsearchSink};
    use logagent_core::component::{Sink, SinkContext};

    fn sink(es: &FakeEs, extra: &str) -> ElasticsearchSink {
        let c: ElasticsearchConfig = toml::from_str(&format!(
            "endpoints = [\"{}\"]\nindex = \"logs\"\nretry_initial_backoff = \"10ms\"\nretry_max_backoff = \"50ms\"\n{extra}",
            es.url()
        ))
        .unwrap();
        ElasticsearchSink::new(&c).unwrap()
    }

    fn batch(lines: &[&str], acks: &crossbeam_channel::Sender<Ack>) -> Batch {
        let stream = Arc::new(Stream {
            source: "app".into(),
            path: None,
            id: 1,
        });
        let mut b = Batch::new(stream, AckToken::new(1, 99, acks.clone()), lines.len());
        let mut offset = 0;
        for l in lines {
            b.events
                .push(Event::new(Bytes::from(l.to_string()), offset));
            offset += l.len() as u64 + 1;
        }
        b
    }

    fn context(
        dead_letter: crossbeam_channel::Sender<Batch>,
    ) -> (SinkContext, logagent::pipeline::shutdown::ShutdownTrigger) {
        let metrics = Arc::new(ComponentMetrics::default());
        let (trigger, shutdown) = detached_shutdown();
        let outputs = Outputs::new(
            Output::new(Vec::new(), metrics.clone()),
            vec![(
                "dead_letter".into(),
                Output::new(vec![dead_letter], metrics.clone()),
            )],
        );
        let ctx = SinkContext {
            id: "es".into(),
            metrics,
            shutdown,
            outputs,
        };
        (ctx, trigger)
    }

    #[test]
    fn a_batch_is_acknowledged_only_once_every_document_is_settled() {
        let es = FakeEs::start();
        es.rule("refuse me", 400, None);
        es.hold(true);
        let (ack_tx, acks) = crossbeam_channel::unbounded();
        let (dl_tx, dead) = crossbeam_channel::unbounded();
        let (ctx, _trigger) = context(dl_tx);
        let mut sink = sink(&es, "max_events = 2");
        sink.write(batch(&["one", "two", "refuse me", "four"], &ack_tx), &ctx)
            .unwrap();
        wait_until(LIMIT, "both requests to be parked", || {
            es.with(|s| s.parked) == 2
        });
        assert!(
            acks.try_recv().is_err(),
            "nothing is acknowledged while in flight"
        );
        es.hold(false);
        sink.close(&ctx).unwrap();
        // The refused document went to the dead-letter output; its batch holds the ack.
        let dl = dead.try_recv().unwrap();
        assert_eq!(dl.events.len(), 1);
        assert!(
            acks.try_recv().is_err(),
            "not before the dead letter is written"
        );
        drop(dl);
        assert_eq!(
            acks.try_recv().unwrap(),
            Ack {
                stream: 1,
                end_offset: 99,
                delivered: true
            }
        );
        assert_eq!(es.doc_count(), 3);
    }

    #[test]
    fn giving_up_at_the_drain_timeout_reports_the_batch_undelivered() {
        let es = FakeEs::start();
        es.outage(Some(503));
        let (ack_tx, acks) = crossbeam_channel::unbounded();
        let (dl_tx, _dead) = crossbeam_channel::unbounded();
        let (ctx, mut trigger) = context(dl_tx);
        let mut sink = sink(&es, "");
        sink.write(batch(&["a", "b"], &ack_tx), &ctx).unwrap();
        sink.flush(&ctx).unwrap();
        let mut sink = Some(sink);
        let closing = std::thread::spawn(move || {
            let mut s = sink.take().unwrap();
            let r = s.close(&ctx);
            drop(s);
            r
        });
        wait_until(LIMIT, "retries", || es.requests().len() >= 2);
        trigger.force();
        let err = closing.join().unwrap().unwrap_err().to_string();
        assert!(err.contains("2 event(s) not yet accepted"), "{err}");
        assert!(!acks.try_recv().unwrap().delivered);
        assert_eq!(es.doc_count(), 0);
    }
}
