//! The Loki sink's own counters, beyond the generic per-component ones: pushes
//! by outcome, entries by outcome, retries, bytes, streams, and what the
//! cardinality guard and ordering policy did.
//!
//! Every running Loki sink registers its counters in a small process-wide list
//! ([`registered`]) under its component id, so a `/metrics` endpoint can render
//! them ([`LokiMetrics::samples`], [`LokiMetrics::render_prometheus`]) without
//! the pipeline knowing about Loki. Label values are fixed sets or configured
//! names — never event data.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// How one HTTP push attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// 2xx: Loki took the entries.
    Success = 0,
    /// 400/413/422: Loki refused entries; not retried.
    Rejected,
    /// 429: over the tenant's rate limit; retried.
    RateLimited,
    /// 5xx; retried.
    ServerError,
    /// Another 4xx (401, 403, 404, 408...): retried, as it needs a fix on the
    /// Loki or config side and dropping would lose data.
    ClientError,
    /// No HTTP answer (connection refused, reset, DNS, TLS); retried.
    TransportError,
    /// No answer within `request_timeout`; retried.
    Timeout,
}

impl PushOutcome {
    const ALL: [PushOutcome; 7] = [
        PushOutcome::Success,
        PushOutcome::Rejected,
        PushOutcome::RateLimited,
        PushOutcome::ServerError,
        PushOutcome::ClientError,
        PushOutcome::TransportError,
        PushOutcome::Timeout,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            PushOutcome::Success => "success",
            PushOutcome::Rejected => "rejected",
            PushOutcome::RateLimited => "rate_limited",
            PushOutcome::ServerError => "server_error",
            PushOutcome::ClientError => "client_error",
            PushOutcome::TransportError => "transport_error",
            PushOutcome::Timeout => "timeout",
        }
    }
}

/// What became of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Accepted by Loki (2xx).
    Sent = 0,
    /// In a push Loki answered 400 (some of its entries may have been stored:
    /// Loki rejects entries one by one and does not say which).
    Rejected,
    /// Dropped by `out_of_order = "drop"`.
    DroppedOutOfOrder,
    /// Not delivered: the drain time at shutdown ran out while retrying.
    GivenUp,
}

impl EntryOutcome {
    const ALL: [EntryOutcome; 4] = [
        EntryOutcome::Sent,
        EntryOutcome::Rejected,
        EntryOutcome::DroppedOutOfOrder,
        EntryOutcome::GivenUp,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            EntryOutcome::Sent => "sent",
            EntryOutcome::Rejected => "rejected",
            EntryOutcome::DroppedOutOfOrder => "dropped_out_of_order",
            EntryOutcome::GivenUp => "given_up",
        }
    }
}

/// Counters of one Loki sink.
#[derive(Debug)]
pub struct LokiMetrics {
    pushes: [AtomicU64; 7],
    entries: [AtomicU64; 4],
    /// Push attempts repeated after a retryable failure.
    pub retries: AtomicU64,
    /// Request body bytes Loki accepted, as sent (snappy-compressed for protobuf).
    pub sent_bytes: AtomicU64,
    /// The same requests' bytes before compression.
    pub uncompressed_bytes: AtomicU64,
    /// Streams known to the sink (seen in the current or the previous guard window).
    pub streams_active: AtomicU64,
    /// New streams sent to the overflow stream by `max_streams`.
    pub streams_overflowed: AtomicU64,
    /// Entries given the stream's newest timestamp by `out_of_order = "rewrite_timestamp"`.
    pub timestamps_rewritten: AtomicU64,
    /// Lines cut at `max_line_bytes`.
    pub lines_truncated: AtomicU64,
    /// Push requests currently in flight.
    pub in_flight: AtomicU64,
    /// Label values replaced by the placeholder, per label name (the tenant as
    /// `X-Scope-OrgID`).
    label_overflows: Vec<(Box<str>, AtomicU64)>,
}

/// One sample, for whoever renders metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Metric name.
    pub name: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// One-line help text.
    pub help: &'static str,
    /// Label pairs (besides the component id).
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: u64,
}

impl LokiMetrics {
    /// Counters for a sink whose guarded labels are `labels`.
    pub fn new(labels: &[Box<str>]) -> LokiMetrics {
        LokiMetrics {
            pushes: Default::default(),
            entries: Default::default(),
            retries: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            uncompressed_bytes: AtomicU64::new(0),
            streams_active: AtomicU64::new(0),
            streams_overflowed: AtomicU64::new(0),
            timestamps_rewritten: AtomicU64::new(0),
            lines_truncated: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            label_overflows: labels
                .iter()
                .map(|l| (l.clone(), AtomicU64::new(0)))
                .chain(std::iter::once(("X-Scope-OrgID".into(), AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Counts a push attempt.
    pub fn push(&self, outcome: PushOutcome) {
        self.pushes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Push attempts that ended with `outcome`.
    pub fn pushes(&self, outcome: PushOutcome) -> u64 {
        self.pushes[outcome as usize].load(Ordering::Relaxed)
    }

    /// Counts `n` entries with `outcome`.
    pub fn entries_add(&self, outcome: EntryOutcome, n: u64) {
        self.entries[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Entries that ended with `outcome`.
    pub fn entries(&self, outcome: EntryOutcome) -> u64 {
        self.entries[outcome as usize].load(Ordering::Relaxed)
    }

    /// Sets the overflow count of label slot `i` (the last is the tenant).
    pub fn set_label_overflow(&self, i: usize, n: u64) {
        if let Some((_, c)) = self.label_overflows.get(i) {
            c.store(n, Ordering::Relaxed);
        }
    }

    /// Values of `label` replaced by the placeholder.
    pub fn label_overflow(&self, label: &str) -> u64 {
        self.label_overflows
            .iter()
            .find(|(l, _)| &**l == label)
            .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
    }

    /// Every counter as a sample.
    pub fn samples(&self) -> Vec<Sample> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = Vec::new();
        for o in PushOutcome::ALL {
            out.push(Sample {
                name: "loki_pushes_total",
                kind: "counter",
                help: "HTTP push attempts by outcome.",
                labels: vec![("outcome", o.name().to_owned())],
                value: self.pushes(o),
            });
        }
        for o in EntryOutcome::ALL {
            out.push(Sample {
                name: "loki_entries_total",
                kind: "counter",
                help: "Log entries by final outcome.",
                labels: vec![("outcome", o.name().to_owned())],
                value: self.entries(o),
            });
        }
        let simple: [(&'static str, &'static str, &'static str, &AtomicU64); 8] = [
            (
                "loki_retries_total",
                "counter",
                "Push attempts repeated after a retryable failure.",
                &self.retries,
            ),
            (
                "loki_sent_bytes_total",
                "counter",
                "Request body bytes accepted by Loki, as sent.",
                &self.sent_bytes,
            ),
            (
                "loki_uncompressed_bytes_total",
                "counter",
                "Accepted request bytes before compression.",
                &self.uncompressed_bytes,
            ),
            (
                "loki_streams_active",
                "gauge",
                "Streams seen in the current or previous guard window.",
                &self.streams_active,
            ),
            (
                "loki_streams_overflowed_total",
                "counter",
                "New streams sent to the overflow stream by max_streams.",
                &self.streams_overflowed,
            ),
            (
                "loki_timestamps_rewritten_total",
                "counter",
                "Entries moved up to their stream's newest timestamp.",
                &self.timestamps_rewritten,
            ),
            (
                "loki_lines_truncated_total",
                "counter",
                "Lines cut at max_line_bytes.",
                &self.lines_truncated,
            ),
            (
                "loki_requests_in_flight",
                "gauge",
                "Push requests in flight.",
                &self.in_flight,
            ),
        ];
        for (name, kind, help, a) in simple {
            out.push(Sample {
                name,
                kind,
                help,
                labels: Vec::new(),
                value: get(a),
            });
        }
        for (label, c) in &self.label_overflows {
            out.push(Sample {
                name: "loki_label_overflow_total",
                kind: "counter",
                help: "Label values replaced by the placeholder by the cardinality guard.",
                labels: vec![("label", label.to_string())],
                value: get(c),
            });
        }
        out
    }

    /// Appends the samples in Prometheus text format, labelled with `component`.
    pub fn render_prometheus(&self, component: &str, out: &mut String) {
        let mut last = "";
        for s in self.samples() {
            if s.name != last {
                let _ = writeln!(out, "# HELP {} {}", s.name, s.help);
                let _ = writeln!(out, "# TYPE {} {}", s.name, s.kind);
                last = s.name;
            }
            let _ = write!(out, "{}{{component_id=\"{}\"", s.name, escape(component));
            for (k, v) in &s.labels {
                let _ = write!(out, ",{k}=\"{}\"", escape(v));
            }
            let _ = writeln!(out, "}} {}", s.value);
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

type Entries = Mutex<Vec<(Arc<str>, Weak<LokiMetrics>)>>;

fn list() -> &'static Entries {
    static LIST: OnceLock<Entries> = OnceLock::new();
    LIST.get_or_init(|| Mutex::new(Vec::new()))
}

/// Records a running sink's counters under its component id.
pub fn register(id: &Arc<str>, metrics: &Arc<LokiMetrics>) {
    let mut list = list().lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|(_, w)| w.strong_count() > 0);
    list.push((id.clone(), Arc::downgrade(metrics)));
}

/// The counters of every running Loki sink, by component id.
pub fn registered() -> Vec<(Arc<str>, Arc<LokiMetrics>)> {
    let list = list().lock().unwrap_or_else(|p| p.into_inner());
    list.iter()
        .filter_map(|(id, w)| w.upgrade().map(|m| (id.clone(), m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_fixed_labels() {
        let m = Arc::new(LokiMetrics::new(&["pod".into()]));
        m.push(PushOutcome::RateLimited);
        m.entries_add(EntryOutcome::Sent, 5);
        m.set_label_overflow(0, 3);
        let mut out = String::new();
        m.render_prometheus("lo\"ki", &mut out);
        assert!(out.contains("# TYPE loki_pushes_total counter\n"));
        assert!(
            out.contains(
                "loki_pushes_total{component_id=\"lo\\\"ki\",outcome=\"rate_limited\"} 1\n"
            )
        );
        assert!(out.contains("loki_entries_total{component_id=\"lo\\\"ki\",outcome=\"sent\"} 5\n"));
        assert!(
            out.contains("loki_label_overflow_total{component_id=\"lo\\\"ki\",label=\"pod\"} 3\n")
        );
        assert_eq!(out.matches("# TYPE loki_pushes_total").count(), 1);
        let id: Arc<str> = "sink-under-test".into();
        register(&id, &m);
        assert!(registered().iter().any(|(i, _)| **i == *"sink-under-test"));
        drop(m);
        assert!(!registered().iter().any(|(i, _)| **i == *"sink-under-test"));
    }
}
