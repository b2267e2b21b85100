//! The Loki sink's own counters, beyond the generic per-component ones: pushes
//! by outcome, entries by outcome, retries, bytes, streams, and what the
//! cardinality guard and ordering policy did.
//!
//! They live in the component's labeled series
//! ([`logagent_core::telemetry::labeled::Labeled`], `ctx.metrics.labeled`), where an
//! exporter finds them with every other component's; this struct only keeps the
//! handles so the hot path adds to an atomic. Label values are fixed sets or
//! configured label names — never event data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use logagent_core::telemetry::labeled::Labeled;

/// Metric names.
pub mod names {
    /// Counter `{outcome}`: HTTP push attempts.
    pub const PUSHES: &str = "loki_pushes_total";
    /// Counter `{outcome}`: entries by final outcome.
    pub const ENTRIES: &str = "loki_entries_total";
    /// Counter: push attempts repeated after a retryable failure.
    pub const RETRIES: &str = "loki_retries_total";
    /// Counter: request body bytes Loki accepted, as sent (snappy-compressed for protobuf).
    pub const SENT_BYTES: &str = "loki_sent_bytes_total";
    /// Counter: the same requests' bytes before compression.
    pub const UNCOMPRESSED_BYTES: &str = "loki_uncompressed_bytes_total";
    /// Gauge: streams known (seen in the current or the previous guard window).
    pub const STREAMS_ACTIVE: &str = "loki_streams_active";
    /// Counter: new streams sent to the overflow stream by `max_streams`.
    pub const STREAMS_OVERFLOWED: &str = "loki_streams_overflowed_total";
    /// Counter `{label}`: label values replaced by the placeholder.
    pub const LABEL_OVERFLOW: &str = "loki_label_overflow_total";
    /// Counter: entries moved up to their stream's newest timestamp.
    pub const TIMESTAMPS_REWRITTEN: &str = "loki_timestamps_rewritten_total";
    /// Counter: lines cut at `max_line_bytes`.
    pub const LINES_TRUNCATED: &str = "loki_lines_truncated_total";
    /// Gauge: push requests in flight.
    pub const IN_FLIGHT: &str = "loki_requests_in_flight";
}

/// The label a templated tenant's overflow is counted under.
pub const TENANT_LABEL: &str = "X-Scope-OrgID";

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

/// Handles to the series of one Loki sink.
#[derive(Debug)]
pub struct LokiMetrics {
    pushes: Vec<Arc<AtomicU64>>,
    entries: Vec<Arc<AtomicU64>>,
    /// See [`names::RETRIES`].
    pub retries: Arc<AtomicU64>,
    /// See [`names::SENT_BYTES`].
    pub sent_bytes: Arc<AtomicU64>,
    /// See [`names::UNCOMPRESSED_BYTES`].
    pub uncompressed_bytes: Arc<AtomicU64>,
    /// See [`names::STREAMS_ACTIVE`].
    pub streams_active: Arc<AtomicU64>,
    /// See [`names::STREAMS_OVERFLOWED`].
    pub streams_overflowed: Arc<AtomicU64>,
    /// See [`names::TIMESTAMPS_REWRITTEN`].
    pub timestamps_rewritten: Arc<AtomicU64>,
    /// See [`names::LINES_TRUNCATED`].
    pub lines_truncated: Arc<AtomicU64>,
    /// See [`names::IN_FLIGHT`].
    pub in_flight: Arc<AtomicU64>,
    /// Per guarded label (the tenant last, as [`TENANT_LABEL`]).
    label_overflows: Vec<(Box<str>, Arc<AtomicU64>)>,
}

impl LokiMetrics {
    /// The series of a sink whose labels are `labels`, in `registry` (created at
    /// zero, or the existing ones: two views of one registry share counters).
    pub fn new(registry: &Labeled, labels: &[Box<str>]) -> LokiMetrics {
        let counter = |name| registry.counter(name, &[]);
        LokiMetrics {
            pushes: PushOutcome::ALL
                .iter()
                .map(|o| registry.counter(names::PUSHES, &[("outcome", o.name())]))
                .collect(),
            entries: EntryOutcome::ALL
                .iter()
                .map(|o| registry.counter(names::ENTRIES, &[("outcome", o.name())]))
                .collect(),
            retries: counter(names::RETRIES),
            sent_bytes: counter(names::SENT_BYTES),
            uncompressed_bytes: counter(names::UNCOMPRESSED_BYTES),
            streams_active: registry.gauge(names::STREAMS_ACTIVE, &[]),
            streams_overflowed: counter(names::STREAMS_OVERFLOWED),
            timestamps_rewritten: counter(names::TIMESTAMPS_REWRITTEN),
            lines_truncated: counter(names::LINES_TRUNCATED),
            in_flight: registry.gauge(names::IN_FLIGHT, &[]),
            label_overflows: labels
                .iter()
                .map(|l| &**l)
                .chain(std::iter::once(TENANT_LABEL))
                .map(|l| {
                    (
                        l.into(),
                        registry.counter(names::LABEL_OVERFLOW, &[("label", l)]),
                    )
                })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_land_in_the_components_labeled_registry() {
        let registry = Labeled::default();
        let m = LokiMetrics::new(&registry, &["pod".into()]);
        m.push(PushOutcome::RateLimited);
        m.entries_add(EntryOutcome::Sent, 5);
        m.set_label_overflow(0, 3);
        m.set_label_overflow(1, 2);
        m.in_flight.store(2, Ordering::Relaxed);
        let get = |name, labels: &[(&str, &str)]| registry.get(name, labels);
        assert_eq!(get(names::PUSHES, &[("outcome", "rate_limited")]), Some(1));
        assert_eq!(get(names::PUSHES, &[("outcome", "success")]), Some(0));
        assert_eq!(get(names::ENTRIES, &[("outcome", "sent")]), Some(5));
        assert_eq!(get(names::LABEL_OVERFLOW, &[("label", "pod")]), Some(3));
        assert_eq!(
            get(names::LABEL_OVERFLOW, &[("label", TENANT_LABEL)]),
            Some(2)
        );
        assert_eq!(get(names::IN_FLIGHT, &[]), Some(2));
        // A second view of the same registry reads the same counters.
        let view = LokiMetrics::new(&registry, &[]);
        assert_eq!(view.entries(EntryOutcome::Sent), 5);
        assert_eq!(view.label_overflow(TENANT_LABEL), 2);
        assert_eq!(view.pushes(PushOutcome::RateLimited), 1);
    }
}
