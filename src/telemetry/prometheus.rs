//! The `/metrics` endpoint's text: every component's counters and labeled
//! series in the Prometheus exposition format (version 0.0.4).
//!
//! Every series carries `component_id`, `component_kind` and `component_type`;
//! other labels come from bounded sets (reasons, statuses, error types — see
//! [`super::labeled::MAX_SERIES_PER_NAME`]), so the series count is bounded by
//! the pipeline's size.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::labeled::{LATENCY_BUCKETS, Reading};
use super::metrics::{DISCARDED_BY_REASON, ERRORS_BY_TYPE, Entry, Registry};

/// Help texts of the families the runtime always exports.
const HELP: &[(&str, &str, &str)] = &[
    (
        "component_received_events_total",
        "counter",
        "Events that entered the component.",
    ),
    (
        "component_received_bytes_total",
        "counter",
        "Line bytes that entered the component.",
    ),
    (
        "component_sent_events_total",
        "counter",
        "Events the component passed on (sinks: written).",
    ),
    (
        "component_sent_bytes_total",
        "counter",
        "Bytes passed on (sinks: bytes written).",
    ),
    (
        DISCARDED_BY_REASON,
        "counter",
        "Events discarded on purpose, by reason.",
    ),
    (ERRORS_BY_TYPE, "counter", "Errors met, by type."),
    (
        "component_blocked",
        "gauge",
        "1 while the component waits for room downstream.",
    ),
];

struct Family {
    kind: &'static str,
    help: String,
    lines: Vec<String>,
}

fn labels(entry: &Entry, extra: &[(&str, &str)]) -> String {
    let mut s = format!(
        "component_id=\"{}\",component_kind=\"{}\",component_type=\"{}\"",
        escape(&entry.id),
        entry.kind.as_str(),
        entry.type_name
    );
    for (k, v) in extra {
        let _ = write!(s, ",{k}=\"{}\"", escape(v));
    }
    s
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every registered component's series.
pub fn render(registry: &Registry) -> String {
    let mut families: BTreeMap<&'static str, Family> = BTreeMap::new();
    for (name, kind, help) in HELP {
        families.insert(
            name,
            Family {
                kind,
                help: (*help).to_owned(),
                lines: Vec::new(),
            },
        );
    }
    let push = |families: &mut BTreeMap<&'static str, Family>,
                name: &'static str,
                kind: &'static str,
                line: String| {
        families
            .entry(name)
            .or_insert_with(|| Family {
                kind,
                help: format!("{} reported by the component.", name.replace('_', " ")),
                lines: Vec::new(),
            })
            .lines
            .push(line);
    };
    for entry in registry.entries() {
        let s = entry.metrics.snapshot();
        let base = labels(&entry, &[]);
        for (name, value) in [
            ("component_received_events_total", s.received_events),
            ("component_received_bytes_total", s.received_bytes),
            ("component_sent_events_total", s.sent_events),
            ("component_sent_bytes_total", s.sent_bytes),
            ("component_blocked", u64::from(s.blocked)),
        ] {
            push(
                &mut families,
                name,
                "counter",
                format!("{name}{{{base}}} {value}"),
            );
        }
        let labeled = entry.metrics.labeled.snapshot();
        // Discards by reason and errors by type: the labeled series, plus what
        // the plain counter has beyond them as "other".
        for (family, label, total) in [
            (DISCARDED_BY_REASON, "reason", s.discarded_events),
            (ERRORS_BY_TYPE, "error_type", s.errors),
        ] {
            let mut claimed = 0u64;
            for (name, l, reading) in &labeled {
                if *name != family {
                    continue;
                }
                if let Reading::Counter(v) = reading {
                    claimed += v;
                    let extra: Vec<(&str, &str)> =
                        l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    push(
                        &mut families,
                        family,
                        "counter",
                        format!("{family}{{{}}} {v}", labels(&entry, &extra)),
                    );
                }
            }
            push(
                &mut families,
                family,
                "counter",
                format!(
                    "{family}{{{}}} {}",
                    labels(&entry, &[(label, "other")]),
                    total.saturating_sub(claimed)
                ),
            );
        }
        for (name, l, reading) in labeled {
            if name == DISCARDED_BY_REASON || name == ERRORS_BY_TYPE {
                continue;
            }
            let extra: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let lbl = labels(&entry, &extra);
            match reading {
                Reading::Counter(v) => push(
                    &mut families,
                    name,
                    "counter",
                    format!("{name}{{{lbl}}} {v}"),
                ),
                Reading::Gauge(v) => {
                    push(&mut families, name, "gauge", format!("{name}{{{lbl}}} {v}"))
                }
                Reading::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    let mut cumulative = 0u64;
                    for (i, n) in buckets.iter().enumerate() {
                        cumulative += n;
                        let le = LATENCY_BUCKETS
                            .get(i)
                            .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                        push(
                            &mut families,
                            name,
                            "histogram",
                            format!("{name}_bucket{{{lbl},le=\"{le}\"}} {cumulative}"),
                        );
                    }
                    push(
                        &mut families,
                        name,
                        "histogram",
                        format!("{name}_sum{{{lbl}}} {sum}"),
                    );
                    push(
                        &mut families,
                        name,
                        "histogram",
                        format!("{name}_count{{{lbl}}} {count}"),
                    );
                }
            }
        }
    }
    let mut out = String::new();
    for (name, family) in families {
        if family.lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        for line in family.lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    // Families transforms define (per-rule redaction counts, log_to_metric).
    out.push_str(&registry.families().render_prometheus());
    out
}

/// Parses exposition text into `(series, value)` pairs (tests, `logagent top`).
pub fn parse(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::{ComponentMetrics, Kind};
    use std::sync::atomic::Ordering;

    #[test]
    fn renders_counters_reasons_and_histograms() {
        let mut r = Registry::default();
        let m = r.register("out", Kind::Sink, "file");
        ComponentMetrics::add(&m.sent_events, 7);
        ComponentMetrics::add(&m.discarded_events, 5);
        m.labeled
            .counter(DISCARDED_BY_REASON, &[("reason", "buffer_full")])
            .fetch_add(3, Ordering::Relaxed);
        m.labeled
            .histogram("component_batch_duration_seconds", &[])
            .observe(std::time::Duration::from_millis(2));
        let text = render(&r);
        let base = r#"component_id="out",component_kind="sink",component_type="file""#;
        let series = parse(&text);
        let get = |s: &str| {
            series
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{s} missing in\n{text}"))
        };
        assert_eq!(get(&format!("component_sent_events_total{{{base}}}")), 7.0);
        assert_eq!(
            get(&format!(
                "component_discarded_events_total{{{base},reason=\"buffer_full\"}}"
            )),
            3.0
        );
        assert_eq!(
            get(&format!(
                "component_discarded_events_total{{{base},reason=\"other\"}}"
            )),
            2.0
        );
        assert_eq!(
            get(&format!(
                "component_batch_duration_seconds_bucket{{{base},le=\"+Inf\"}}"
            )),
            1.0
        );
        assert_eq!(
            text.matches("# TYPE component_sent_events_total counter")
                .count(),
            1
        );
    }
}
