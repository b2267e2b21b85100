//! Metric families defined while the pipeline is built: per-rule
//! redaction counts, metrics derived from logs (`log_to_metric`). The metrics
//! endpoint reads them through [`super::prometheus`]; tests render them alone
//! with [`FamilyRegistry::render_prometheus`].
//!
//! A family has a fixed set of label names and a cap on its series
//! (`max_series`): log content must never create an unbounded number of series,
//! so values past the cap are counted in `overflow` and not recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Default cap on the series of one family.
pub const DEFAULT_MAX_SERIES: usize = 1000;

/// Why a family could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name is already used by a family of another shape.
    #[error(
        "metric {name:?} is already defined with a different type, labels or buckets (each name needs one shape)"
    )]
    Conflict {
        /// The metric name.
        name: String,
    },
    /// The name or a label name is not a valid Prometheus identifier.
    #[error(
        "{what} {name:?} is not a valid Prometheus name (letters, digits, '_', not starting with a digit)"
    )]
    BadName {
        /// `metric name` or `label name`.
        what: &'static str,
        /// The offending name.
        name: String,
    },
    /// A counter's name does not end in `_total`.
    #[error(
        "counter {name:?} must end in \"_total\" (the Prometheus convention; the exporter writes every counter as NAME_total)"
    )]
    CounterSuffix {
        /// The offending name.
        name: String,
    },
}

/// What a family measures.
#[derive(Debug, Clone, PartialEq)]
pub enum FamilyKind {
    /// A monotonically increasing total.
    Counter,
    /// Observations sorted into cumulative buckets with these upper bounds.
    Histogram(Vec<f64>),
}

/// A value that only grows; an `f64` kept in an atomic so increments by a field
/// value (bytes, seconds) are exact enough and lock-free.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `v` (ignored unless positive and finite: counters never go down).
    pub fn add(&self, v: f64) {
        if !(v.is_finite() && v > 0.0) {
            return;
        }
        add_f64(&self.0, v);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

fn add_f64(cell: &AtomicU64, v: f64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + v).to_bits())
    });
}

/// Observations in cumulative buckets, as Prometheus histograms are.
#[derive(Debug)]
pub struct Histogram {
    bounds: Arc<[f64]>,
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: Arc<[f64]>) -> Histogram {
        Histogram {
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            bounds,
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Records one observation (ignored when not finite).
    pub fn observe(&self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        add_f64(&self.sum, v);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// Counts per upper bound, not cumulative (observations above the last
    /// bound are only in [`Histogram::count`]), for the exporter.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// Cumulative counts per upper bound (the `+Inf` bucket is [`Histogram::count`]).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(b, c)| {
                total += c.load(Ordering::Relaxed);
                (*b, total)
            })
            .collect()
    }
}

/// One series of a family: a counter or a histogram.
#[derive(Debug)]
pub enum Series {
    /// See [`Counter`].
    Counter(Counter),
    /// See [`Histogram`].
    Histogram(Histogram),
}

impl Series {
    /// Adds to a counter series, observes into a histogram series.
    pub fn record(&self, v: f64) {
        match self {
            Series::Counter(c) => c.add(v),
            Series::Histogram(h) => h.observe(v),
        }
    }
}

/// Series by their joined label values: (label values, series).
type SeriesMap = HashMap<Box<str>, (Vec<String>, Arc<Series>)>;

/// All series of one metric name.
#[derive(Debug)]
pub struct Family {
    name: String,
    help: String,
    kind: FamilyKind,
    bounds: Arc<[f64]>,
    label_names: Vec<String>,
    max_series: usize,
    series: Mutex<SeriesMap>,
    overflow: AtomicU64,
}

impl Family {
    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The help text.
    pub fn help(&self) -> &str {
        &self.help
    }

    /// What the family measures.
    pub fn kind(&self) -> &FamilyKind {
        &self.kind
    }

    /// The label names, in order.
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    fn lock(&self) -> MutexGuard<'_, SeriesMap> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The series for these label values (in label-name order), created on
    /// first use; `None` when the family is at `max_series` (counted). Callers
    /// on the hot path keep the returned handle instead of asking per event.
    pub fn series(&self, values: &[&str]) -> Option<Arc<Series>> {
        let key = series_key(values);
        let mut map = self.lock();
        if let Some((_, s)) = map.get(key.as_str()) {
            return Some(s.clone());
        }
        if map.len() >= self.max_series {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let s = Arc::new(match &self.kind {
            FamilyKind::Counter => Series::Counter(Counter::default()),
            FamilyKind::Histogram(_) => Series::Histogram(Histogram::new(self.bounds.clone())),
        });
        map.insert(
            key.into_boxed_str(),
            (values.iter().map(|v| (*v).to_owned()).collect(), s.clone()),
        );
        Some(s)
    }

    /// Records that a value could not get a series (the family is full).
    pub fn count_overflow(&self) {
        self.overflow.fetch_add(1, Ordering::Relaxed);
    }

    /// Values that found no series because the family was full.
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }

    /// The counter total of the series with these label values (tests, reports).
    pub fn counter_value(&self, values: &[&str]) -> Option<f64> {
        match self.lock().get(series_key(values).as_str()) {
            Some((_, s)) => match s.as_ref() {
                Series::Counter(c) => Some(c.get()),
                Series::Histogram(_) => None,
            },
            None => None,
        }
    }

    /// Every series with its label values, sorted by them.
    pub fn all_series(&self) -> Vec<(Vec<String>, Arc<Series>)> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

fn series_key(values: &[&str]) -> String {
    let mut key = String::with_capacity(values.iter().map(|v| v.len() + 1).sum());
    for v in values {
        key.push_str(v);
        key.push('\u{1}');
    }
    key
}

/// The labeled metrics of one agent process.
#[derive(Debug, Default)]
pub struct FamilyRegistry {
    families: Mutex<Vec<Arc<Family>>>,
}

impl FamilyRegistry {
    /// Registers (or finds, when the same shape is registered again — e.g. two
    /// redact components) a family. A counter's name must end in `_total`:
    /// the exporter (`prometheus-client`) writes every counter as `NAME_total`,
    /// so any other name could not be exported as given.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        kind: FamilyKind,
        label_names: &[&str],
        max_series: usize,
    ) -> Result<Arc<Family>, RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::BadName {
                what: "metric name",
                name: name.to_owned(),
            });
        }
        if kind == FamilyKind::Counter && !name.ends_with("_total") {
            return Err(RegistryError::CounterSuffix {
                name: name.to_owned(),
            });
        }
        if let Some(bad) = label_names.iter().find(|l| !valid_name(l)) {
            return Err(RegistryError::BadName {
                what: "label name",
                name: (*bad).to_owned(),
            });
        }
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = families.iter().find(|f| f.name == name) {
            if f.kind == kind && f.label_names.iter().eq(label_names.iter()) {
                return Ok(f.clone());
            }
            return Err(RegistryError::Conflict {
                name: name.to_owned(),
            });
        }
        let bounds: Arc<[f64]> = match &kind {
            FamilyKind::Counter => Arc::from(Vec::new()),
            FamilyKind::Histogram(b) => Arc::from(b.clone()),
        };
        let family = Arc::new(Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            bounds,
            label_names: label_names.iter().map(|l| (*l).to_owned()).collect(),
            max_series: max_series.max(1),
            series: Mutex::new(HashMap::new()),
            overflow: AtomicU64::new(0),
        });
        families.push(family.clone());
        Ok(family)
    }

    /// A counter family; see [`FamilyRegistry::register`].
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
    ) -> Result<Arc<Family>, RegistryError> {
        self.register(
            name,
            help,
            FamilyKind::Counter,
            label_names,
            DEFAULT_MAX_SERIES,
        )
    }

    /// The family named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Family>> {
        self.families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|f| f.name == name)
            .cloned()
    }

    /// Every family in registration order.
    pub fn families(&self) -> Vec<Arc<Family>> {
        self.families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// All families in the Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        super::prometheus::render_families(self.families())
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_as_prometheus_text() {
        let r = FamilyRegistry::default();
        let c = r
            .counter("redact_matches_total", "values redacted", &["rule"])
            .unwrap();
        c.series(&["email"]).unwrap().record(2.0);
        c.series(&["e\"x"]).unwrap().record(1.0);
        let h = r
            .register(
                "request_seconds",
                "latency",
                FamilyKind::Histogram(vec![0.1, 1.0]),
                &[],
                10,
            )
            .unwrap();
        let s = h.series(&[]).unwrap();
        for v in [0.05, 0.5, 5.0] {
            s.record(v);
        }
        let text = r.render_prometheus();
        assert!(
            text.contains("# TYPE redact_matches_total counter"),
            "{text}"
        );
        assert!(
            text.contains("redact_matches_total{rule=\"email\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("redact_matches_total{rule=\"e\\\"x\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("request_seconds_bucket{le=\"0.1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("request_seconds_bucket{le=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("request_seconds_bucket{le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(text.contains("request_seconds_count 3"), "{text}");
        assert!(text.contains("request_seconds_sum 5.55"), "{text}");
    }

    #[test]
    fn same_shape_is_shared_other_shape_conflicts_and_series_are_capped() {
        let r = FamilyRegistry::default();
        let a = r.counter("x_total", "x", &["a"]).unwrap();
        let b = r.counter("x_total", "x", &["a"]).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(matches!(
            r.counter("x_total", "x", &["b"]),
            Err(RegistryError::Conflict { .. })
        ));
        assert!(r.counter("9bad", "x", &[]).is_err());
        assert!(matches!(
            r.counter("x_count", "x", &[]),
            Err(RegistryError::CounterSuffix { .. })
        ));
        let f = r
            .register("y_total", "y", FamilyKind::Counter, &["k"], 2)
            .unwrap();
        assert!(f.series(&["1"]).is_some());
        assert!(f.series(&["2"]).is_some());
        assert!(f.series(&["1"]).is_some(), "existing series still found");
        assert!(f.series(&["3"]).is_none());
        assert_eq!(f.overflow(), 1);
    }
}
