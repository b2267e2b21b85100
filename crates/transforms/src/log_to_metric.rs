//! `type = "log_to_metric"`: counters and histograms computed from events and
//! exported on the agent's metrics endpoint (Prometheus text), so alert rules
//! such as "error rate > 5%" or "p95 latency > 2s" can be computed from logs.
//! Events pass through unchanged.
//!
//! ```toml
//! [[transforms.metrics.metrics]]
//! type = "counter"
//! name = "http_requests_total"
//! labels = { status = "{{ status | status_class }}", service = "{{ service_name }}" }
//!
//! [[transforms.metrics.metrics]]
//! type = "histogram"
//! name = "http_request_duration_seconds"
//! field = "duration"
//! scale = 0.001            # milliseconds in the log, seconds in the metric
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use super::condition::{Condition, ConditionConfig};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::template::Template;
use logagent_core::event::{Batch, FieldPath, access};
use logagent_core::telemetry::families::{DEFAULT_MAX_SERIES, Family, FamilyKind, Series};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Prometheus' default histogram buckets (seconds).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The kind of a derived metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// Counts events (or adds a field's value).
    Counter,
    /// Observes a field's value into buckets.
    Histogram,
}

/// One derived metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// `counter` or `histogram`.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// The metric name, e.g. `http_requests_total`.
    pub name: String,
    /// Help text shown by the endpoint.
    #[serde(default)]
    pub help: Option<String>,
    /// The numeric field: observed by a histogram (required), added by a
    /// counter instead of 1 (optional). Events without it are skipped.
    #[serde(default)]
    pub field: Option<String>,
    /// Multiplies the field's value (e.g. 0.001 for milliseconds → seconds).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Label name → template, e.g. `{ service = "{{ service }}" }`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Histogram bucket upper bounds, ascending (default Prometheus' 5ms … 10s).
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
    /// Only events meeting this condition count.
    #[serde(default)]
    pub condition: Option<ConditionConfig>,
    /// Most label combinations kept (default 1000); events that would add
    /// more are not recorded (counted, logged).
    #[serde(default)]
    pub max_series: Option<usize>,
}

/// Options of `log_to_metric`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogToMetricConfig {
    /// The metrics to derive.
    pub metrics: Vec<MetricConfig>,
}

impl LogToMetricConfig {
    /// Checks the metrics.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Registers the metrics and compiles labels and conditions.
    pub fn build(&self, ctx: TransformContext) -> Result<LogToMetric, Vec<KeyError>> {
        let mut errors = Vec::new();
        if self.metrics.is_empty() {
            errors.push(KeyError::new(
                "metrics",
                "must define at least one metric ([[transforms.ID.metrics]])",
            ));
        }
        let mut metrics = Vec::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let key = |k: &str| format!("metrics[{i}].{k}");
            let before = errors.len();
            if logagent_core::telemetry::names::is_reserved(&m.name) {
                errors.push(KeyError::new(
                    key("name"),
                    format!(
                        "{:?} is reserved for logagent's own series (names starting with {}, or {}); choose another, e.g. \"app_{}\"",
                        m.name,
                        logagent_core::telemetry::names::RESERVED_PREFIXES.join(", "),
                        logagent_core::telemetry::agent::NAMES.join(", "),
                        m.name
                    ),
                ));
                continue;
            }
            let field = match &m.field {
                Some(f) => super::parse_path(&key("field"), f)
                    .map_err(|e| errors.extend(e))
                    .ok(),
                None => None,
            };
            if m.kind == MetricType::Histogram && m.field.is_none() {
                errors.push(KeyError::new(
                    key("field"),
                    "a histogram needs the field it observes",
                ));
            }
            if m.kind == MetricType::Counter && m.buckets.is_some() {
                errors.push(KeyError::new(
                    key("buckets"),
                    "only histograms have buckets",
                ));
            }
            let buckets = m
                .buckets
                .clone()
                .unwrap_or_else(|| DEFAULT_BUCKETS.to_vec());
            if buckets.is_empty()
                || buckets.windows(2).any(|w| w[0] >= w[1])
                || buckets.iter().any(|b| !b.is_finite())
            {
                errors.push(KeyError::new(
                    key("buckets"),
                    "must be finite and strictly ascending",
                ));
            }
            if m.scale.is_some_and(|s| !s.is_finite() || s == 0.0) {
                errors.push(KeyError::new(key("scale"), "must be a non-zero number"));
            }
            let mut labels = Vec::new();
            for (name, tpl) in &m.labels {
                match Template::parse(tpl, false) {
                    Ok(t) => labels.push((name.clone(), t)),
                    Err(e) => {
                        errors.push(KeyError::new(key(&format!("labels.{name}")), e.to_string()))
                    }
                }
            }
            let condition = match &m.condition {
                Some(c) => c
                    .build(&key("condition"))
                    .map_err(|e| errors.extend(e))
                    .ok(),
                None => None,
            };
            if errors.len() > before {
                continue;
            }
            let kind = match m.kind {
                MetricType::Counter => FamilyKind::Counter,
                MetricType::Histogram => FamilyKind::Histogram(buckets),
            };
            let names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
            let help = m.help.clone().unwrap_or_else(|| {
                format!(
                    "Derived from logs by the log_to_metric transform {}",
                    ctx.id
                )
            });
            match ctx.families.register(
                &m.name,
                &help,
                kind,
                &names,
                m.max_series.unwrap_or(DEFAULT_MAX_SERIES),
            ) {
                Ok(family) => metrics.push(Metric {
                    family,
                    field,
                    scale: m.scale.unwrap_or(1.0),
                    labels: labels.into_iter().map(|(_, t)| t).collect(),
                    condition,
                    series: HashMap::new(),
                }),
                Err(e) => errors.push(KeyError::new(key("name"), e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(LogToMetric {
            metrics,
            ctx,
            key: String::new(),
            log: RateLimiter::default(),
        })
    }
}

#[derive(Debug)]
struct Metric {
    family: Arc<Family>,
    field: Option<FieldPath>,
    scale: f64,
    labels: Vec<Template>,
    condition: Option<Condition>,
    /// Series already looked up, by their joined label values: no lock and no
    /// allocation per event once a label combination is known.
    series: HashMap<String, Arc<Series>>,
}

/// The running `log_to_metric` transform.
#[derive(Debug)]
pub struct LogToMetric {
    metrics: Vec<Metric>,
    ctx: TransformContext,
    key: String,
    log: RateLimiter,
}

impl Transform for LogToMetric {
    fn process(&mut self, batch: &mut Batch) {
        let now = self.ctx.clock.now_ns();
        let mut skipped = 0u64;
        let members = &batch.members;
        for event in &batch.events {
            for m in &mut self.metrics {
                if m.condition
                    .as_ref()
                    .is_some_and(|c| !c.eval(event, members))
                {
                    continue;
                }
                let value = match &m.field {
                    Some(f) => {
                        let v = access::get(event, members, f).and_then(|v| {
                            std::str::from_utf8(&v.text())
                                .ok()?
                                .trim()
                                .parse::<f64>()
                                .ok()
                        });
                        match v {
                            Some(v) => v * m.scale,
                            None => {
                                skipped += 1;
                                continue;
                            }
                        }
                    }
                    None => 1.0,
                };
                self.key.clear();
                for t in &m.labels {
                    t.render(event, members, now, &mut self.key);
                    self.key.push('\u{1}');
                }
                let series = match m.series.get(self.key.as_str()) {
                    Some(s) => s.clone(),
                    None => {
                        let values: Vec<&str> =
                            self.key.split('\u{1}').take(m.labels.len()).collect();
                        match m.family.series(&values) {
                            Some(s) => {
                                m.series.insert(self.key.clone(), s.clone());
                                s
                            }
                            None => {
                                if let Some(suppressed) = self.log.check() {
                                    tracing::warn!(component = %self.ctx.id, metric = m.family.name(), suppressed,
                                        "metric has reached max_series; new label values are not recorded");
                                }
                                continue;
                            }
                        }
                    }
                };
                series.record(value);
            }
        }
        ComponentMetrics::add(&self.ctx.metrics.errors, skipped);
    }
}

impl TransformComponent for LogToMetricConfig {
    fn check(&self) -> Vec<KeyError> {
        LogToMetricConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(LogToMetricConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A metric named like the agent's own series would print a second
    /// `# TYPE` for that name on `/metrics`: refused at validation.
    #[test]
    fn names_of_our_own_series_are_refused() {
        for name in [
            "component_errors_total",
            "buffer_events",
            "loki_pushes_total",
            "uptime_seconds",
            "config_reloads_total",
        ] {
            let cfg: LogToMetricConfig = toml::from_str(&format!(
                "[[metrics]]\ntype = \"counter\"\nname = \"{name}\"\n"
            ))
            .unwrap();
            let errors = cfg.check();
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            assert_eq!(errors[0].key, "metrics[0].name");
            assert!(errors[0].message.contains("reserved"), "{errors:?}");
        }
        let ok: LogToMetricConfig =
            toml::from_str("[[metrics]]\ntype = \"counter\"\nname = \"app_errors_total\"\n")
                .unwrap();
        assert!(ok.check().is_empty());
    }

    #[test]
    fn counters_by_status_class_and_latency_histogram() {
        let cfg: LogToMetricConfig = toml::from_str(
            r#"
            [[metrics]]
            type = "counter"
            name = "http_requests_total"
            labels = { status = "{{ status | status_class }}", service = "{{ service }}" }

            [[metrics]]
            type = "counter"
            name = "http_errors_total"
            condition = { field = "status", ge = 500 }

            [[metrics]]
            type = "histogram"
            name = "http_request_duration_seconds"
            field = "duration"
            scale = 0.001
            buckets = [0.1, 0.5, 1.0]
            "#,
        )
        .unwrap();
        let ctx = TransformContext::detached("m");
        let registry = ctx.families.clone();
        let mut t = cfg.build(ctx).unwrap();
        let mut b = logagent_core::event::test_batch::json_batch(&[
            r#"{"status":200,"service":"api","duration":50}"#,
            r#"{"status":"404","service":"api","duration":700}"#,
            r#"{"status":503,"service":"api","duration":2000}"#,
            r#"{"status":201,"service":"web"}"#,
        ]);
        t.process(&mut b);
        assert_eq!(b.events.len(), 4, "events pass through");
        let req = registry.get("http_requests_total").unwrap();
        assert_eq!(req.counter_value(&["api", "2xx"]), Some(1.0));
        assert_eq!(req.counter_value(&["api", "4xx"]), Some(1.0));
        assert_eq!(req.counter_value(&["api", "5xx"]), Some(1.0));
        assert_eq!(req.counter_value(&["web", "2xx"]), Some(1.0));
        assert_eq!(
            registry
                .get("http_errors_total")
                .unwrap()
                .counter_value(&[]),
            Some(1.0)
        );
        let text = registry.render_prometheus();
        assert!(
            text.contains("http_request_duration_seconds_bucket{le=\"0.1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{le=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("http_requests_total{service=\"api\",status=\"5xx\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn bad_metrics_are_reported_by_key() {
        let cfg: LogToMetricConfig = toml::from_str(
            "[[metrics]]\ntype = \"histogram\"\nname = \"x\"\n[[metrics]]\ntype = \"counter\"\nname = \"bad name\"",
        )
        .unwrap();
        let keys: Vec<String> = cfg.check().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["metrics[0].field", "metrics[1].name"]);
    }
}
