//! A real Prometheus (Debian's `prometheus`, which `scripts/test` installs)
//! scrapes a running agent and evaluates the alert rules shipped in
//! `deploy/prometheus/logagent-rules.yml` — the seeds' runbook's nginx 5xx
//! ratio and error rate per service — on metrics the agent derived from known
//! log lines; the values are checked exactly.
//!
//! Exact values from `rate()`: every series is scraped at the same instants,
//! so over a window that starts at a scrape where all of them already exist,
//! Prometheus extrapolates each by the same factor and a ratio of two rates is
//! the ratio of the lines fed.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Guard, bin, free_port, repo, wait_until, write_pipeline};
use logagent::telemetry::api;

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query: (labels, value).
fn query(prom: &str, expr: &str, time: Option<f64>) -> Vec<(serde_json::Value, f64)> {
    let mut path = format!("/api/v1/query?query={}", encode(expr));
    if let Some(t) = time {
        path.push_str(&format!("&time={t:.3}"));
    }
    let Ok((200, body)) = api::get(prom, &path) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let value = r["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            (r["metric"].clone(), value)
        })
        .collect()
}

fn scalar(prom: &str, expr: &str) -> Option<f64> {
    query(prom, expr, None).first().map(|(_, v)| *v)
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn nginx(status: u16, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "10.0.0.{} - - [07/Dec/2026:10:00:00 +0000] \"GET /api/{i} HTTP/1.1\" {status} 512 \"-\" \"curl/8\"",
                i % 250
            )
        })
        .collect()
}

fn app(service: &str, level: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"service":"{service}","level":"{level}","message":"m{i}"}}"#))
        .collect()
}

/// The `expr` of the recording rule `name` in the shipped rules file.
fn recorded_expr(rules: &str, name: &str) -> String {
    let doc: serde_yaml::Value = serde_yaml::from_str(rules).unwrap();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            if rule["record"].as_str() == Some(name) {
                return rule["expr"].as_str().unwrap().to_owned();
            }
        }
    }
    panic!("no recording rule {name}");
}

#[test]
fn prometheus_evaluates_the_shipped_alert_rules_on_log_derived_metrics() {
    for tool in ["prometheus", "promtool"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        assert!(
            found,
            "{tool} is not installed: scripts/test installs Debian's `prometheus` (apt-get install prometheus)"
        );
    }
    let rules_path = repo().join("deploy/prometheus/logagent-rules.yml");
    let check = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check rules: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let agent_addr = format!("127.0.0.1:{}", free_port());
    let nginx_log = dir.path().join("access.log");
    let app_log = dir.path().join("app.log");
    std::fs::write(&nginx_log, "").unwrap();
    std::fs::write(&app_log, "").unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{agent_addr}"

[sources.nginx]
type = "file"
include = ["{d}/access.log"]
[transforms.parse_nginx]
type = "parse_regex"
inputs = ["nginx"]
preset = "nginx_combined"
[transforms.nginx_metrics]
type = "log_to_metric"
inputs = ["parse_nginx"]
[[transforms.nginx_metrics.metrics]]
type = "counter"
name = "nginx_http_requests_total"
labels = {{ status = "{{{{ status | status_class }}}}", method = "{{{{ method }}}}" }}

[sources.app]
type = "file"
include = ["{d}/app.log"]
[transforms.parse_app]
type = "parse_json"
inputs = ["app"]
[transforms.app_metrics]
type = "log_to_metric"
inputs = ["parse_app"]
[[transforms.app_metrics.metrics]]
type = "counter"
name = "app_log_events_total"
labels = {{ service = "{{{{ service }}}}", level = "{{{{ level }}}}" }}

[sinks.out]
type = "file"
inputs = ["nginx_metrics", "app_metrics"]
path = "{d}/out.ndjson"
durability = "at_least_once"
"#
        ),
    );
    let _agent = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules:?}\nscrape_configs:\n  - job_name: logagent\n    static_configs:\n      - targets: [{agent_addr:?}]\n",
            rules = rules_path.display().to_string(),
        ),
    )
    .unwrap();
    let _prometheus = Guard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--storage.tsdb.path={d}/tsdb"))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(
        Duration::from_secs(60),
        "Prometheus scraping the agent",
        || scalar(&prom_addr, "up{job=\"logagent\"}") == Some(1.0),
    );

    // Phase 1: every series the checks use comes to exist.
    append(&nginx_log, &[nginx(200, 100), nginx(500, 100)].concat());
    append(
        &app_log,
        &[
            app("api", "info", 100),
            app("api", "error", 100),
            app("worker", "info", 100),
            app("worker", "error", 100),
        ]
        .concat(),
    );
    wait_until(Duration::from_secs(60), "the first lines scraped", || {
        scalar(&prom_addr, "sum(nginx_http_requests_total)") == Some(200.0)
            && scalar(&prom_addr, "sum(app_log_events_total)") == Some(400.0)
    });
    // The window starts at a scrape after that one: every series exists there,
    // with the first lines' counts only.
    let seen = scalar(&prom_addr, "timestamp(up{job=\"logagent\"})").unwrap();
    let mut start = seen;
    wait_until(Duration::from_secs(30), "one more scrape", || {
        start = scalar(&prom_addr, "timestamp(up{job=\"logagent\"})").unwrap_or(seen);
        start > seen
    });

    // Phase 2: the lines whose ratios are checked.
    append(&nginx_log, &[nginx(200, 197), nginx(503, 3)].concat());
    append(
        &app_log,
        &[
            app("api", "info", 90),
            app("api", "error", 10),
            app("worker", "info", 99),
            app("worker", "error", 1),
        ]
        .concat(),
    );
    let mut end = start;
    wait_until(Duration::from_secs(60), "the second lines scraped", || {
        end = scalar(&prom_addr, "timestamp(up{job=\"logagent\"})").unwrap_or(start);
        let at = |e: &str| query(&prom_addr, e, Some(end)).first().map(|(_, v)| *v);
        at("sum(nginx_http_requests_total)") == Some(400.0)
            && at("sum(app_log_events_total)") == Some(600.0)
    });
    // A window from `start` to `end` (both inclusive whatever the version).
    let window = format!("[{}ms]", ((end - start) * 1000.0).round() as u64 + 1);
    let rules = std::fs::read_to_string(&rules_path).unwrap();

    let ratio = recorded_expr(&rules, "nginx:http_5xx_ratio:rate5m").replace("[5m]", &window);
    let got = query(&prom_addr, &ratio, Some(end));
    assert_eq!(got.len(), 1, "{ratio}: {got:?}");
    assert!(
        (got[0].1 - 3.0 / 200.0).abs() < 1e-9,
        "5xx ratio {}",
        got[0].1
    );

    let per_service =
        recorded_expr(&rules, "service:log_error_ratio:rate5m").replace("[5m]", &window);
    let mut got = query(&prom_addr, &per_service, Some(end));
    got.sort_by_key(|(m, _)| m["service"].as_str().unwrap().to_owned());
    let got: Vec<(String, f64)> = got
        .into_iter()
        .map(|(m, v)| (m["service"].as_str().unwrap().to_owned(), v))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "api");
    assert!((got[0].1 - 0.1).abs() < 1e-9, "{got:?}");
    assert_eq!(got[1].0, "worker");
    assert!((got[1].1 - 0.01).abs() < 1e-9, "{got:?}");

    // The shipped rules run in Prometheus: api's error rate and nginx's 5xx
    // ratio are over their thresholds (pending for their `for`), worker's is not.
    wait_until(Duration::from_secs(60), "the alerts pending", || {
        let alerts = query(&prom_addr, "ALERTS{alertstate=\"pending\"}", None);
        let named = |n: &str| {
            alerts
                .iter()
                .filter(|(m, _)| m["alertname"] == n)
                .map(|(m, _)| m["service"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        };
        named("Nginx5xxRatioHigh").len() == 1 && named("ServiceErrorRateHigh") == ["api"]
    });
}
