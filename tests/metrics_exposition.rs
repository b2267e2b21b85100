//! The agent's whole `/metrics` reply, read by a strict parser of the
//! Prometheus text format (version 0.0.4) rather than by looking for a few
//! lines: every sample belongs to a family announced by `# TYPE` (once, before
//! its samples, which stay together), names and labels are well formed, values
//! are numbers, counters are not negative and every histogram's buckets grow
//! up to `+Inf` = `_count`. A second, ignored test hands the same text to
//! Prometheus's own checker (`promtool check metrics`, Debian's `prometheus`
//! package).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{Guard, bin, free_port, repo, wait_until, write_pipeline};
use logagent::telemetry::{api, prometheus};

/// Label pairs in the order written.
type Labels = Vec<(String, String)>;

/// One parsed sample: metric name, labels in order, value.
type Sample = (String, Labels, f64);

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `{a="x",b="y"}` (after the name) into pairs; the rest of the line
/// after the closing brace is returned with them.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((labels, s));
    };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = &rest[..eq];
        if !valid_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("newline in label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} twice"));
        }
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by ','".into());
        }
    }
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// Checks the whole text; returns the families' types and every sample.
fn check(text: &str) -> Result<(BTreeMap<String, String>, Vec<Sample>), String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(keyword), Some(name)) = (parts.next(), parts.next()) else {
                return Err(at("short comment".into()));
            };
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            if !valid_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if current.as_deref() != Some(name) {
                if let Some(done) = current.take() {
                    finished.insert(done);
                }
                if finished.contains(name) {
                    return Err(at(format!("family {name} split in two")));
                }
                current = Some(name.to_owned());
            }
            match keyword {
                "HELP" => {
                    if !helps.insert(name.to_owned()) {
                        return Err(at(format!("second HELP for {name}")));
                    }
                }
                _ => {
                    let kind = parts.next().unwrap_or_default();
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind:?}")));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at(format!("second TYPE for {name}")));
                    }
                }
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(at)?;
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?;
        let value = parse_value(value.split(' ').next().unwrap_or_default()).map_err(at)?;
        let family = current
            .clone()
            .ok_or_else(|| at("sample before any # TYPE".into()))?;
        let kind = types
            .get(&family)
            .ok_or_else(|| at(format!("family {family} has no # TYPE")))?;
        let fits = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s) == Some(family.as_str())),
            _ => name == family,
        };
        if !fits {
            return Err(at(format!("sample {name} under family {family} ({kind})")));
        }
        if kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(at("negative counter".into()));
        }
        if name.ends_with("_bucket") && !labels.iter().any(|(k, _)| k == "le") {
            return Err(at("bucket without le".into()));
        }
        samples.push((name.to_owned(), labels, value));
    }
    check_histograms(&types, &samples)?;
    Ok((types, samples))
}

/// Per histogram series: buckets in increasing `le`, counts not decreasing,
/// the last `+Inf` and equal to `_count`.
fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) -> Result<(), String> {
    type Key = (String, Vec<(String, String)>);
    let mut buckets: HashMap<Key, Vec<(f64, f64)>> = HashMap::new();
    let mut counts: HashMap<Key, f64> = HashMap::new();
    for (name, labels, value) in samples {
        if let Some(family) = name.strip_suffix("_bucket") {
            if types.get(family).map(String::as_str) != Some("histogram") {
                continue;
            }
            let le = labels.iter().find(|(k, _)| k == "le").map(|(_, v)| v);
            let le = parse_value(le.map_or("", String::as_str))?;
            let rest: Vec<_> = labels.iter().filter(|(k, _)| k != "le").cloned().collect();
            buckets
                .entry((family.to_owned(), rest))
                .or_default()
                .push((le, *value));
        } else if let Some(family) = name.strip_suffix("_count")
            && types.get(family).map(String::as_str) == Some("histogram")
        {
            counts.insert((family.to_owned(), labels.clone()), *value);
        }
    }
    for (key, list) in &buckets {
        if !list.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
            return Err(format!("{key:?}: buckets out of order {list:?}"));
        }
        let last = list.last().ok_or("no buckets")?;
        if last.0 != f64::INFINITY {
            return Err(format!("{key:?}: no +Inf bucket"));
        }
        if counts.get(key) != Some(&last.1) {
            return Err(format!("{key:?}: +Inf bucket {} != _count", last.1));
        }
    }
    Ok(())
}

/// The nginx pipeline (log-derived counters and a histogram, file source
/// gauges, channel probes, two file sinks) with the API, after it has read the
/// whole fixture; returns the agent and its `/metrics` text.
fn scrape_nginx() -> (tempfile::TempDir, Guard, String) {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("fixtures"), dir.path().join("fixtures")).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let api = write_pipeline(
        dir.path(),
        "api.toml",
        &format!("[api]\naddress = \"{addr}\"\n"),
    );
    let child = Guard(
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
    let mut text = String::new();
    wait_until(Duration::from_secs(30), "all 150 requests counted", || {
        text = api::get(&addr, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        prometheus::parse(&text)
            .iter()
            .any(|(k, v)| k == "nginx_http_response_size_bytes_count" && *v == 150.0)
    });
    (dir, child, text)
}

#[test]
fn the_whole_metrics_reply_is_valid_exposition_text() {
    let (_dir, _child, text) = scrape_nginx();
    let (types, samples) = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for (family, kind) in [
        ("component_sent_events_total", "counter"),
        ("component_discarded_events_total", "counter"),
        ("component_errors_total", "counter"),
        ("component_blocked", "gauge"),
        ("component_batch_duration_seconds", "histogram"),
        ("component_buffer_events", "gauge"),
        ("source_open_files", "gauge"),
        ("nginx_http_requests_total", "counter"),
        ("nginx_http_response_size_bytes", "histogram"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}\n{text}"
        );
    }
    // Every component series names its component, kind and type.
    for (name, labels, _) in &samples {
        if name.starts_with("component_") {
            let keys: Vec<&str> = labels.iter().take(3).map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                ["component_id", "component_kind", "component_type"],
                "{name}"
            );
        }
    }
}

#[test]
fn the_checker_rejects_what_prometheus_would() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n";
    assert!(check(ok).is_ok());
    for bad in [
        "a_total 1\n",
        "# TYPE a_total counter\nb_total 1\n",
        "# TYPE a_total counter\na_total{x=\"1} 1\n",
        "# TYPE a_total counter\na_total{x=\"1\",x=\"2\"} 1\n",
        "# TYPE a_total counter\na_total one\n",
        "# TYPE a_total counter\na_total -1\n",
        "# TYPE a counter\n# TYPE a counter\n",
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n",
    ] {
        assert!(check(bad).is_err(), "accepted {bad:?}");
    }
}

/// Prometheus's own parser on the same text. Needs `promtool` on `PATH`
/// (Debian's `prometheus`, which `scripts/test` installs).
#[test]
fn promtool_accepts_the_metrics_reply() {
    use std::io::Write as _;
    let (_dir, _child, text) = scrape_nginx();
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool on PATH");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // promtool exits 1 on a parse error, 3 on lint findings (naming
    // advice), 0 when it has nothing to say.
    assert_ne!(out.status.code(), Some(1), "{report}\n{text}");
    assert!(!report.contains("error while linting"), "{report}\n{text}");
    assert!(report.trim().is_empty(), "promtool's advice:\n{report}");
}
