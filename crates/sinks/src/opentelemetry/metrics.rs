//! The OpenTelemetry sink's own counters, beyond the generic per-component
//! ones: export requests by outcome, records by outcome, retries, bytes.
//!
//! They live in the component's labeled series (`ctx.metrics.labeled`), where
//! an exporter finds them with every other component's; label values are
//! fixed sets, never event data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use logagent_core::telemetry::labeled::Labeled;

/// Metric names.
pub mod names {
    /// Counter `{outcome}`: export attempts.
    pub const REQUESTS: &str = "otlp_requests_total";
    /// Counter `{outcome}`: log records by final outcome.
    pub const RECORDS: &str = "otlp_records_total";
    /// Counter: attempts repeated after a retryable failure.
    pub const RETRIES: &str = "otlp_retries_total";
    /// Counter: request body bytes accepted, as sent (compressed with gzip).
    pub const SENT_BYTES: &str = "otlp_sent_bytes_total";
    /// Counter: the same requests' bytes before compression.
    pub const UNCOMPRESSED_BYTES: &str = "otlp_uncompressed_bytes_total";
    /// Gauge: export requests in flight.
    pub const IN_FLIGHT: &str = "otlp_requests_in_flight";
}

/// How one HTTP export attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// 2xx and every record taken.
    Success = 0,
    /// 2xx with `partial_success.rejected_log_records` > 0.
    PartialSuccess,
    /// A status OTLP says not to retry (400, 401, 403, 404, 413, 500...): dropped.
    Rejected,
    /// 429: throttled; retried after `Retry-After`.
    RateLimited,
    /// 502, 503, 504: retried after `Retry-After`.
    Unavailable,
    /// No HTTP answer (connection refused, reset, DNS, TLS); retried.
    TransportError,
    /// No answer within `request_timeout`; retried.
    Timeout,
}

impl RequestOutcome {
    const ALL: [RequestOutcome; 7] = [
        RequestOutcome::Success,
        RequestOutcome::PartialSuccess,
        RequestOutcome::Rejected,
        RequestOutcome::RateLimited,
        RequestOutcome::Unavailable,
        RequestOutcome::TransportError,
        RequestOutcome::Timeout,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::PartialSuccess => "partial_success",
            RequestOutcome::Rejected => "rejected",
            RequestOutcome::RateLimited => "rate_limited",
            RequestOutcome::Unavailable => "unavailable",
            RequestOutcome::TransportError => "transport_error",
            RequestOutcome::Timeout => "timeout",
        }
    }
}

/// What became of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Taken by the server.
    Sent = 0,
    /// Counted in a partial success's `rejected_log_records`.
    Rejected,
    /// In a request refused with a status that must not be retried.
    Dropped,
    /// Not delivered: the drain time at shutdown ran out while retrying.
    GivenUp,
}

impl RecordOutcome {
    const ALL: [RecordOutcome; 4] = [
        RecordOutcome::Sent,
        RecordOutcome::Rejected,
        RecordOutcome::Dropped,
        RecordOutcome::GivenUp,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            RecordOutcome::Sent => "sent",
            RecordOutcome::Rejected => "rejected",
            RecordOutcome::Dropped => "dropped",
            RecordOutcome::GivenUp => "given_up",
        }
    }
}

/// Handles to the series of one OpenTelemetry sink.
#[derive(Debug)]
pub struct OtlpMetrics {
    requests: Vec<Arc<AtomicU64>>,
    records: Vec<Arc<AtomicU64>>,
    /// See [`names::RETRIES`].
    pub retries: Arc<AtomicU64>,
    /// See [`names::SENT_BYTES`].
    pub sent_bytes: Arc<AtomicU64>,
    /// See [`names::UNCOMPRESSED_BYTES`].
    pub uncompressed_bytes: Arc<AtomicU64>,
    /// See [`names::IN_FLIGHT`].
    pub in_flight: Arc<AtomicU64>,
}

impl OtlpMetrics {
    /// The series in `registry` (created at zero, or the existing ones: two
    /// views of one registry share counters).
    pub fn new(registry: &Labeled) -> OtlpMetrics {
        OtlpMetrics {
            requests: RequestOutcome::ALL
                .iter()
                .map(|o| registry.counter(names::REQUESTS, &[("outcome", o.name())]))
                .collect(),
            records: RecordOutcome::ALL
                .iter()
                .map(|o| registry.counter(names::RECORDS, &[("outcome", o.name())]))
                .collect(),
            retries: registry.counter(names::RETRIES, &[]),
            sent_bytes: registry.counter(names::SENT_BYTES, &[]),
            uncompressed_bytes: registry.counter(names::UNCOMPRESSED_BYTES, &[]),
            in_flight: registry.gauge(names::IN_FLIGHT, &[]),
        }
    }

    /// Counts an export attempt.
    pub fn request(&self, outcome: RequestOutcome) {
        self.requests[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Export attempts that ended with `outcome`.
    pub fn requests(&self, outcome: RequestOutcome) -> u64 {
        self.requests[outcome as usize].load(Ordering::Relaxed)
    }

    /// Counts `n` records with `outcome`.
    pub fn records_add(&self, outcome: RecordOutcome, n: u64) {
        self.records[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Records that ended with `outcome`.
    pub fn records(&self, outcome: RecordOutcome) -> u64 {
        self.records[outcome as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_land_in_the_components_labeled_registry() {
        let registry = Labeled::default();
        let m = OtlpMetrics::new(&registry);
        m.request(RequestOutcome::RateLimited);
        m.records_add(RecordOutcome::Rejected, 3);
        assert_eq!(
            registry.get(names::REQUESTS, &[("outcome", "rate_limited")]),
            Some(1)
        );
        assert_eq!(
            registry.get(names::RECORDS, &[("outcome", "rejected")]),
            Some(3)
        );
        assert_eq!(
            registry.get(names::RECORDS, &[("outcome", "sent")]),
            Some(0)
        );
        let view = OtlpMetrics::new(&registry);
        assert_eq!(view.records(RecordOutcome::Rejected), 3);
    }
}
