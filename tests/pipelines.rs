//! The shipped example pipelines, run for real: the nginx pipeline (fields,
//! status metrics, `inputs = ["router.errors"]`) and the pino pipeline with the
//! seed's redact paths.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Guard, bin, free_port, read_ndjson, repo, wait_until, write_pipeline};
use logagent::event::Batch;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent::telemetry::{api, prometheus};
use logagent_core::component::{Sink, SinkContext, SinkError};

/// A temporary directory with the fixtures linked in, as the pipelines expect.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("fixtures"), dir.path().join("fixtures")).unwrap();
    dir
}

#[test]
fn nginx_pipeline_routes_errors_end_to_end() {
    let dir = workdir();
    let out = bin()
        .current_dir(dir.path())
        .arg("-p")
        .arg(repo().join("pipelines/nginx-metrics.toml"))
        .arg("--once")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let access = read_ndjson(&dir.path().join("out/nginx-access-2025-08-20.ndjson"), &[]);
    let errors = read_ndjson(&dir.path().join("out/nginx-errors-2025-08-20.ndjson"), &[]);
    assert_eq!(access.len(), 150);
    // The fixture has 21 4xx and 3 5xx lines (fixtures/README.md).
    assert_eq!(errors.len(), 24);
    assert!(errors.iter().all(|e| e["status"].as_u64().unwrap() >= 400));
    assert!(
        access
            .iter()
            .all(|e| e["status"].is_u64() && e["method"].is_string())
    );
    assert_eq!(access.iter().filter(|e| e["remote_user"] != "-").count(), 2);
}

/// A sink that counts what it gets (and acknowledges it by dropping the
/// batch), so the test writes no files.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<usize>>);

impl Sink for Collect {
    fn write(&mut self, batch: Batch, _ctx: &SinkContext) -> Result<(), SinkError> {
        *self.0.lock().unwrap() += batch.events.len();
        Ok(())
    }
    fn flush(&mut self, _ctx: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn nginx_pipeline_counts_status_classes() {
    let data = tempfile::tempdir().unwrap();
    let path = repo().join("pipelines/nginx-metrics.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "fixtures/",
        &format!("{}/", repo().join("fixtures").display()),
    );
    let data_dir = data.path().display().to_string();
    let config =
        logagent::config::load_texts(&[(PathBuf::from("nginx-metrics.toml"), text)], |name| {
            (name == "LOGAGENT_DATA_DIR").then(|| data_dir.clone())
        })
        .unwrap();
    let mut overrides: HashMap<String, Box<dyn Sink>> = HashMap::new();
    let access = Collect::default();
    let errors = Collect::default();
    overrides.insert("access".into(), Box::new(access.clone()));
    overrides.insert("errors".into(), Box::new(errors.clone()));
    let topology = Topology::start(
        &config,
        BuildOptions {
            once: true,
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry().clone();
    let (_tx, stop) = no_stop();
    assert_eq!(
        topology.wait(&stop, Duration::from_secs(30)),
        Outcome::Drained
    );
    let requests = registry
        .families()
        .get("nginx_http_requests_total")
        .unwrap();
    let by_class = |class: &str| -> f64 {
        requests
            .all_series()
            .iter()
            .filter(|(labels, _)| labels[1] == class)
            .map(|(labels, _)| {
                requests
                    .counter_value(&[labels[0].as_str(), labels[1].as_str()])
                    .unwrap()
            })
            .sum()
    };
    // Label order is by name: method, status.
    assert_eq!(requests.label_names(), ["method", "status"]);
    assert_eq!(by_class("2xx"), 104.0);
    assert_eq!(by_class("3xx"), 22.0);
    assert_eq!(by_class("4xx"), 21.0);
    assert_eq!(by_class("5xx"), 3.0);
    let text = registry.families().render_prometheus();
    assert!(
        text.contains("# TYPE nginx_http_response_size_bytes histogram"),
        "{text}"
    );
    assert!(
        text.contains("nginx_http_response_size_bytes_count 150"),
        "{text}"
    );
    let events = |c: &Collect| *c.0.lock().unwrap();
    assert_eq!(events(&access), 150);
    assert_eq!(events(&errors), 24);
}

#[test]
fn pino_pipeline_applies_the_seed_redact_paths() {
    let dir = workdir();
    let key = "an-example-key-of-32-bytes-length";
    let run = || {
        let out = bin()
            .current_dir(dir.path())
            .env("LOGAGENT_REDACT_KEY", key)
            .arg("-p")
            .arg(repo().join("pipelines/pino-redact.toml"))
            .arg("--once")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains(key), "the key must never be logged");
        std::fs::read_to_string(dir.path().join("out/worker-redacted.ndjson")).unwrap()
    };
    let text = run();
    // 200 lines, 30 trace + 40 debug dropped (fixtures/README.md).
    assert_eq!(text.lines().count(), 130);
    for leaked in ["Bearer ", "Basic ", "@example", "@mail.example"] {
        assert!(!text.contains(leaked), "{leaked} survived");
    }
    let lines = read_ndjson(&dir.path().join("out/worker-redacted.ndjson"), &[]);
    let with_user: Vec<_> = lines.iter().filter(|l| l.get("user").is_some()).collect();
    assert!(!with_user.is_empty());
    for l in &with_user {
        assert_eq!(l["user"]["email"], "[REDACTED]");
        let id = l["user"]["id"].as_str().unwrap();
        assert!(id.starts_with("hmac:") && id.len() == 21, "{id}");
    }
    assert!(
        lines
            .iter()
            .filter(|l| l.pointer("/req/headers/authorization").is_some())
            .all(|l| l["req"]["headers"]["authorization"] == "[REDACTED]")
    );

    // Without the key the pipeline refuses to start, naming the key's source.
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    let out = bin()
        .current_dir(dir.path())
        .env_remove("LOGAGENT_REDACT_KEY")
        .arg("-p")
        .arg(repo().join("pipelines/pino-redact.toml"))
        .arg("--once")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LOGAGENT_REDACT_KEY"), "{stderr}");
}

/// The families `log_to_metric` and `redact` define reach the agent's
/// `/metrics` endpoint next to the per-component series, so Prometheus can
/// compute the seeds' alerts (5xx rate) from logs.
#[test]
fn log_derived_metrics_are_served_on_the_metrics_endpoint() {
    let dir = workdir();
    let addr = format!("127.0.0.1:{}", free_port());
    let api = write_pipeline(
        dir.path(),
        "api.toml",
        &format!("[api]\naddress = \"{addr}\"\n"),
    );
    let mut child = Guard(
        bin()
            .current_dir(dir.path())
            .arg("-p")
            .arg(repo().join("pipelines/nginx-metrics.toml"))
            .arg("-p")
            .arg(&api)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let access = dir.path().join("out/nginx-access-2025-08-20.ndjson");
    let mut text = String::new();
    wait_until(Duration::from_secs(30), "all 150 requests counted", || {
        text = api::get(&addr, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        prometheus::parse(&text)
            .iter()
            .any(|(k, v)| k == "nginx_http_response_size_bytes_count" && *v == 150.0)
    });
    let series = prometheus::parse(&text);
    let by_class = |class: &str| -> f64 {
        series
            .iter()
            .filter(|(k, _)| {
                k.starts_with("nginx_http_requests_total{")
                    && k.contains(&format!("status=\"{class}\""))
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(
        [
            by_class("2xx"),
            by_class("3xx"),
            by_class("4xx"),
            by_class("5xx")
        ],
        [104.0, 22.0, 21.0, 3.0],
        "{text}"
    );
    assert!(
        text.contains("# TYPE nginx_http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE component_sent_events_total counter"),
        "{text}"
    );
    wait_until(Duration::from_secs(10), "the access file", || {
        std::fs::read_to_string(&access).is_ok_and(|s| s.lines().count() == 150)
    });
    child.kill().unwrap();
}
