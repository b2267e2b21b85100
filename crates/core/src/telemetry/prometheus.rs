//! The `/metrics` endpoint's text: every component's counters and labeled
//! series and the families transforms define, encoded by `prometheus-client`
//! in the Prometheus text format (version 0.0.4).
//!
//! The values stay where the hot path keeps them — plain atomics a component
//! adds to once per batch ([`ComponentMetrics`](super::metrics::ComponentMetrics),
//! [`Labeled`](super::labeled::Labeled), [`Family`]) — and the collectors here
//! read them only when `/metrics` is scraped. They are registered once, in the
//! agent's one exposition registry ([`Registry::exposition`]).
//!
//! Every component series carries `component_id`, `component_kind` and
//! `component_type`; other labels come from bounded sets (reasons, statuses,
//! error types — see [`super::labeled::MAX_SERIES_PER_NAME`]), so the series
//! count is bounded by the pipeline's size.
//!
//! `prometheus-client` appends `_total` to every counter's name, so a counter
//! is handed over by its name without that suffix: every counter name ends in
//! `_total` ([`FamilyRegistry::register`](super::families::FamilyRegistry::register)
//! enforces it for configured families).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::families::{Family, FamilyKind, FamilyRegistry, Series};
use super::labeled::{LATENCY_BUCKETS, Reading};
use super::metrics::{DISCARDED_BY_REASON, ERRORS_BY_TYPE, Entry, Registry};

/// The `Content-Type` of the `/metrics` reply.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Help texts of the families the runtime always exports.
const HELP: &[(&str, MetricType, &str)] = &[
    (
        "component_received_events_total",
        MetricType::Counter,
        "Events that entered the component.",
    ),
    (
        "component_received_bytes_total",
        MetricType::Counter,
        "Line bytes that entered the component.",
    ),
    (
        "component_sent_events_total",
        MetricType::Counter,
        "Events the component passed on (sinks: written).",
    ),
    (
        "component_sent_bytes_total",
        MetricType::Counter,
        "Bytes passed on (sinks: bytes written).",
    ),
    (
        DISCARDED_BY_REASON,
        MetricType::Counter,
        "Events discarded on purpose, by reason.",
    ),
    (ERRORS_BY_TYPE, MetricType::Counter, "Errors met, by type."),
    (
        "component_blocked",
        MetricType::Gauge,
        "1 while the component waits for room downstream.",
    ),
];

/// Renders the registry's exposition (what `/metrics` serves).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) =
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry.exposition())
    {
        // Writing to a String cannot fail; an encoder error would leave the
        // text cut short, which a scraper reports, so say why here.
        tracing::warn!(error = %e, "metrics: cannot encode the exposition");
    }
    out
}

/// Renders only `families` (the families transforms define), as
/// [`FamilyRegistry::render_prometheus`] does.
pub(super) fn render_families(families: Vec<Arc<Family>>) -> String {
    let mut exposition = prometheus_client::registry::Registry::default();
    exposition.register_collector(Box::new(FamilySnapshot(families)));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &exposition) {
        tracing::warn!(error = %e, "metrics: cannot encode the metric families");
    }
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

/// Label pairs of one sample, in the order they are written.
type LabelSet = Vec<(&'static str, String)>;

/// One sample's value.
enum Value {
    Counter(u64),
    Gauge(u64),
    /// Per-bucket (not cumulative) counts by upper bound; `+Inf` may be last.
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

/// The samples of one metric name, gathered before it is written.
struct Samples {
    kind: MetricType,
    help: Cow<'static, str>,
    samples: Vec<(LabelSet, Value)>,
}

/// Reads every registered component's counters and labeled series.
#[derive(Debug)]
pub(super) struct ComponentCollector {
    /// The registry's live component list (shared, so reloads show up).
    pub(super) entries: Arc<RwLock<Vec<Entry>>>,
}

fn component_labels(entry: &Entry, extra: &[(&'static str, String)]) -> LabelSet {
    let mut l: LabelSet = Vec::with_capacity(3 + extra.len());
    l.push(("component_id", entry.id.clone()));
    l.push(("component_kind", entry.kind.as_str().to_owned()));
    l.push(("component_type", entry.type_name.to_owned()));
    l.extend(extra.iter().cloned());
    l
}

impl Collector for ComponentCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut families: BTreeMap<&'static str, Samples> = BTreeMap::new();
        for (name, kind, help) in HELP {
            families.insert(
                name,
                Samples {
                    kind: *kind,
                    help: Cow::Borrowed(help),
                    samples: Vec::new(),
                },
            );
        }
        let mut push = |name: &'static str, kind: MetricType, labels: LabelSet, value: Value| {
            families
                .entry(name)
                .or_insert_with(|| Samples {
                    kind,
                    help: Cow::Owned(format!(
                        "{} reported by the component.",
                        name.replace('_', " ")
                    )),
                    samples: Vec::new(),
                })
                .samples
                .push((labels, value));
        };
        for entry in &entries {
            let s = entry.metrics.snapshot();
            for (name, value) in [
                ("component_received_events_total", s.received_events),
                ("component_received_bytes_total", s.received_bytes),
                ("component_sent_events_total", s.sent_events),
                ("component_sent_bytes_total", s.sent_bytes),
            ] {
                push(
                    name,
                    MetricType::Counter,
                    component_labels(entry, &[]),
                    Value::Counter(value),
                );
            }
            push(
                "component_blocked",
                MetricType::Gauge,
                component_labels(entry, &[]),
                Value::Gauge(u64::from(s.blocked)),
            );
            let labeled = entry.metrics.labeled.snapshot();
            // Discards by reason and errors by type: the labeled series, plus
            // what the plain counter has beyond them as "other".
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
                        push(
                            family,
                            MetricType::Counter,
                            component_labels(entry, l),
                            Value::Counter(*v),
                        );
                    }
                }
                push(
                    family,
                    MetricType::Counter,
                    component_labels(entry, &[(label, "other".to_owned())]),
                    Value::Counter(total.saturating_sub(claimed)),
                );
            }
            for (name, l, reading) in labeled {
                if name == DISCARDED_BY_REASON || name == ERRORS_BY_TYPE {
                    continue;
                }
                let labels = component_labels(entry, &l);
                match reading {
                    Reading::Counter(v) => {
                        push(name, MetricType::Counter, labels, Value::Counter(v))
                    }
                    Reading::Gauge(v) => push(name, MetricType::Gauge, labels, Value::Gauge(v)),
                    Reading::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        let buckets = buckets
                            .iter()
                            .enumerate()
                            .map(|(i, n)| {
                                (LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), *n)
                            })
                            .collect();
                        push(
                            name,
                            MetricType::Histogram,
                            labels,
                            Value::Histogram {
                                buckets,
                                sum,
                                count,
                            },
                        );
                    }
                }
            }
        }
        for (name, family) in &families {
            if family.samples.is_empty() {
                continue;
            }
            let mut metric = encoder.encode_descriptor(
                base_name(name, family.kind),
                &family.help,
                None,
                family.kind,
            )?;
            for (labels, value) in &family.samples {
                encode_value(metric.encode_family(labels)?, value)?;
            }
        }
        Ok(())
    }
}

/// Reads the families transforms define, live.
#[derive(Debug)]
pub(super) struct FamilyCollector(pub(super) Arc<FamilyRegistry>);

impl Collector for FamilyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_families(&self.0.families(), &mut encoder)
    }
}

/// Families taken at one moment (for [`render_families`]).
#[derive(Debug)]
struct FamilySnapshot(Vec<Arc<Family>>);

impl Collector for FamilySnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_families(&self.0, &mut encoder)
    }
}

/// Every family in registration order; a family without series still gets its
/// `# HELP` and `# TYPE` lines.
fn encode_families(
    families: &[Arc<Family>],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    for f in families {
        let kind = match f.kind() {
            FamilyKind::Counter => MetricType::Counter,
            FamilyKind::Histogram(_) => MetricType::Histogram,
        };
        let mut metric =
            encoder.encode_descriptor(base_name(f.name(), kind), f.help(), None, kind)?;
        for (values, series) in f.all_series() {
            let labels: Vec<(&str, &str)> = f
                .label_names()
                .iter()
                .map(String::as_str)
                .zip(values.iter().map(String::as_str))
                .collect();
            let mut sample = metric.encode_family(&labels)?;
            match series.as_ref() {
                Series::Counter(c) => encode_f64_counter(&mut sample, c.get())?,
                Series::Histogram(h) => {
                    sample.encode_histogram::<NoLabelSet>(h.sum(), h.count(), &h.buckets(), None)?
                }
            }
        }
    }
    Ok(())
}

/// The name `prometheus-client` is given: counters lose their `_total`, which
/// the encoder writes back.
/// The agent's own series ([`super::agent`]), read at scrape time.
#[derive(Debug)]
pub(super) struct AgentCollector(pub(super) Arc<super::agent::AgentStatus>);

impl Collector for AgentCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = &self.0;
        let build: Vec<(&str, &str)> = vec![("version", env!("CARGO_PKG_VERSION"))];
        encoder
            .encode_descriptor(
                "build_info",
                "The agent's version, always 1.",
                None,
                MetricType::Gauge,
            )?
            .encode_family(&build)?
            .encode_gauge(&1u64)?;
        encoder
            .encode_descriptor(
                "uptime_seconds",
                "Seconds since the agent started.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&status.uptime_seconds())?;
        let (ok, failed) = status.reloads();
        let mut reloads = encoder.encode_descriptor(
            "config_reloads",
            "Configuration reloads (SIGHUP, --watch) by result.",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in [("success", ok), ("failure", failed)] {
            reloads
                .encode_family(&vec![("result", result)])?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        encoder
            .encode_descriptor(
                "config_last_reload_success_timestamp_seconds",
                "When the configuration last loaded well (start or reload), in seconds since the epoch.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&status.last_success_seconds())?;
        Ok(())
    }
}

fn base_name(name: &str, kind: MetricType) -> &str {
    match kind {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

fn encode_value(mut sample: MetricEncoder, value: &Value) -> Result<(), std::fmt::Error> {
    match value {
        Value::Counter(v) => sample.encode_counter::<NoLabelSet, _, u64>(v, None),
        Value::Gauge(v) => sample.encode_gauge(v),
        Value::Histogram {
            buckets,
            sum,
            count,
        } => sample.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None),
    }
}

/// A float counter, written as an integer while it is one (`2`, not `2.0`).
fn encode_f64_counter(sample: &mut MetricEncoder, v: f64) -> Result<(), std::fmt::Error> {
    const EXACT: f64 = (1u64 << 53) as f64;
    if v.fract() == 0.0 && (0.0..EXACT).contains(&v) {
        sample.encode_counter::<NoLabelSet, _, u64>(&(v as u64), None)
    } else {
        sample.encode_counter::<NoLabelSet, _, f64>(&v, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::{ComponentMetrics, Kind};
    use std::sync::atomic::Ordering;

    #[test]
    fn the_agents_own_series_are_rendered() {
        let r = Registry::default();
        r.agent().reloaded(true);
        r.agent().reloaded(false);
        r.agent().reloaded(false);
        let text = render(&r);
        for line in [
            "# TYPE build_info gauge",
            &format!("build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
            "# TYPE uptime_seconds gauge",
            "# TYPE config_reloads_total counter",
            "config_reloads_total{result=\"success\"} 1",
            "config_reloads_total{result=\"failure\"} 2",
            "# TYPE config_last_reload_success_timestamp_seconds gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
    }

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

    #[test]
    fn names_types_help_and_order_are_kept() {
        let mut r = Registry::default();
        let m = r.register("in\"x", Kind::Source, "file");
        m.blocked.store(true, Ordering::Relaxed);
        m.labeled
            .gauge("source_open_files", &[])
            .store(4, Ordering::Relaxed);
        m.labeled
            .histogram("component_batch_duration_seconds", &[])
            .observe(std::time::Duration::from_millis(30));
        let f = r
            .families()
            .counter("redact_matches_total", "Values redacted.", &["rule"])
            .unwrap();
        f.series(&["email"]).unwrap().record(2.0);
        let text = render(&r);
        let base = r#"component_id="in\"x",component_kind="source",component_type="file""#;
        for line in [
            "# HELP component_blocked 1 while the component waits for room downstream.",
            "# TYPE component_blocked gauge",
            &format!("component_blocked{{{base}}} 1"),
            "# HELP component_received_events_total Events that entered the component.",
            "# TYPE source_open_files gauge",
            "# HELP source_open_files source open files reported by the component.",
            &format!("source_open_files{{{base}}} 4"),
            "# TYPE component_batch_duration_seconds histogram",
            &format!("component_batch_duration_seconds_bucket{{{base},le=\"0.025\"}} 0"),
            &format!("component_batch_duration_seconds_bucket{{{base},le=\"0.05\"}} 1"),
            &format!("component_batch_duration_seconds_bucket{{{base},le=\"10\"}} 1"),
            &format!("component_batch_duration_seconds_count{{{base}}} 1"),
            "# HELP redact_matches_total Values redacted.",
            "# TYPE redact_matches_total counter",
            "redact_matches_total{rule=\"email\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
        // Components' families sorted by name, then the configured families
        // (the agent's own series are checked by their own test).
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter(|t| {
                !super::super::agent::NAMES
                    .iter()
                    .any(|n| t.split(' ').next() == Some(n))
            })
            .collect();
        let components = &types[..types.len() - 1];
        assert!(components.windows(2).all(|w| w[0] < w[1]), "{types:?}");
        assert_eq!(types.last(), Some(&"redact_matches_total counter"));
    }
}
