//! Labeled counters and histograms a component keeps beyond the generic
//! [`ComponentMetrics`](super::metrics::ComponentMetrics): the Elasticsearch
//! sink's requests by status, items by status, dead letters by reason, ...
//!
//! A component asks for a series once (a name plus label pairs) and keeps the
//! returned atomic; the hot path then only adds to it. Label values come from a
//! bounded set (status codes, error types); to stay bounded even when a server
//! invents new ones, each metric name keeps at most [`MAX_SERIES_PER_NAME`]
//! series and folds the rest into one whose label values are `"other"`.
//! An exporter (the `/metrics` endpoint) reads everything with [`Labeled::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Most series one metric name may have before new label values fold into `"other"`.
pub const MAX_SERIES_PER_NAME: usize = 64;

/// Label pairs of one series, in a fixed order.
pub type Labels = Vec<(&'static str, String)>;

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of durations with fixed buckets ([`LATENCY_BUCKETS`]).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    pub buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of the observations, in microseconds.
    pub sum_micros: AtomicU64,
    /// Number of observations.
    pub count: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
enum Series {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicU64>),
    Histogram(Arc<Histogram>),
}

/// One series at one moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A counter's value.
    Counter(u64),
    /// A gauge's current value.
    Gauge(u64),
    /// A histogram: per-bucket counts (not cumulative, last is `+Inf`), sum in
    /// seconds, count.
    Histogram {
        /// Observations per bucket.
        buckets: Vec<u64>,
        /// Sum of observations in seconds.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// The labeled series of one component.
#[derive(Debug, Default)]
pub struct Labeled {
    series: Mutex<Vec<(&'static str, Labels, Series)>>,
}

impl Labeled {
    /// The counter `name{labels}`, created at zero on first use.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Arc<AtomicU64> {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let labels = bounded_labels(&all, name, labels);
        if let Some((_, _, Series::Counter(c))) =
            all.iter().find(|(n, l, _)| *n == name && *l == labels)
        {
            return c.clone();
        }
        let c = Arc::new(AtomicU64::new(0));
        all.push((name, labels, Series::Counter(c.clone())));
        c
    }

    /// The gauge `name{labels}` (a value that goes up and down: store into it),
    /// created at zero on first use.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Arc<AtomicU64> {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let labels = bounded_labels(&all, name, labels);
        if let Some((_, _, Series::Gauge(g))) =
            all.iter().find(|(n, l, _)| *n == name && *l == labels)
        {
            return g.clone();
        }
        let g = Arc::new(AtomicU64::new(0));
        all.push((name, labels, Series::Gauge(g.clone())));
        g
    }

    /// The histogram `name{labels}`, created empty on first use.
    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Arc<Histogram> {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let labels = bounded_labels(&all, name, labels);
        if let Some((_, _, Series::Histogram(h))) =
            all.iter().find(|(n, l, _)| *n == name && *l == labels)
        {
            return h.clone();
        }
        let h = Arc::new(Histogram::default());
        all.push((name, labels, Series::Histogram(h.clone())));
        h
    }

    /// The value of counter or gauge `name{labels}`, if it exists (tests, summaries).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().find_map(|(n, l, s)| match s {
            Series::Counter(c) | Series::Gauge(c) if *n == name && same_labels(l, labels) => {
                Some(c.load(Ordering::Relaxed))
            }
            _ => None,
        })
    }

    /// The sum of every series of counter `name`, whatever its labels.
    pub fn total(&self, name: &str) -> u64 {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, _, s)| match s {
                Series::Counter(c) | Series::Gauge(c) => c.load(Ordering::Relaxed),
                Series::Histogram(h) => h.count.load(Ordering::Relaxed),
            })
            .sum()
    }

    /// Every series with its current value, for an exporter.
    pub fn snapshot(&self) -> Vec<(&'static str, Labels, Reading)> {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|(n, l, s)| {
                let reading = match s {
                    Series::Counter(c) => Reading::Counter(c.load(Ordering::Relaxed)),
                    Series::Gauge(g) => Reading::Gauge(g.load(Ordering::Relaxed)),
                    Series::Histogram(h) => Reading::Histogram {
                        buckets: h
                            .buckets
                            .iter()
                            .map(|b| b.load(Ordering::Relaxed))
                            .collect(),
                        sum: h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                        count: h.count.load(Ordering::Relaxed),
                    },
                };
                (*n, l.clone(), reading)
            })
            .collect()
    }
}

fn same_labels(have: &Labels, want: &[(&str, &str)]) -> bool {
    have.len() == want.len()
        && have
            .iter()
            .zip(want)
            .all(|((hk, hv), (wk, wv))| hk == wk && hv == wv)
}

/// The labels to use: as given, or all `"other"` once `name` has too many series.
fn bounded_labels(
    all: &[(&'static str, Labels, Series)],
    name: &'static str,
    labels: &[(&'static str, &str)],
) -> Labels {
    let exists = all
        .iter()
        .any(|(n, l, _)| *n == name && same_labels(l, labels));
    let count = all.iter().filter(|(n, _, _)| *n == name).count();
    if exists || count < MAX_SERIES_PER_NAME {
        labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    } else {
        labels
            .iter()
            .map(|(k, _)| (*k, "other".to_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_and_bounded() {
        let l = Labeled::default();
        l.counter("req", &[("status", "200")])
            .fetch_add(2, Ordering::Relaxed);
        l.counter("req", &[("status", "200")])
            .fetch_add(1, Ordering::Relaxed);
        assert_eq!(l.get("req", &[("status", "200")]), Some(3));
        for i in 0..200 {
            l.counter("many", &[("reason", &i.to_string())])
                .fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(l.total("many"), 200);
        assert_eq!(
            l.get("many", &[("reason", "other")]),
            Some(200 - MAX_SERIES_PER_NAME as u64)
        );
        // "req" has one series, "many" 64 plus "other".
        assert_eq!(l.snapshot().len(), MAX_SERIES_PER_NAME + 2);
    }

    #[test]
    fn histogram_buckets() {
        let l = Labeled::default();
        let h = l.histogram("lat", &[]);
        h.observe(std::time::Duration::from_millis(3));
        h.observe(std::time::Duration::from_secs(60));
        match &l.snapshot()[0].2 {
            Reading::Histogram { buckets, count, .. } => {
                assert_eq!(*count, 2);
                assert_eq!(buckets[1], 1);
                assert_eq!(buckets[LATENCY_BUCKETS.len()], 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
