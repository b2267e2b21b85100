//! `type = "opentelemetry"`: exports log records over OTLP/HTTP
//! (`POST /v1/logs`, protobuf or OTLP/JSON, gzip) to an OpenTelemetry
//! Collector, Grafana Loki 3's native `/otlp/v1/logs`, or any OTLP backend.
//!
//! * [`config`] — the options and their checks.
//! * [`record`] — one event as a `LogRecord` (time, severity, body, attributes).
//! * [`request`] — a request being filled: records grouped per resource.
//! * [`export`] — one request until it is taken: OTLP's retry rules,
//!   `Retry-After`, partial success, the health probe.
//! * [`client`] — the HTTP client, the health check, the component trait.
//! * [`sink`] — the running sink: resources, batching, in-flight limit, acks.
//! * [`metrics`] — the sink's own counters.
//!
//! The messages and encodings themselves are `logagent_codecs::otlp`'s.

pub mod client;
pub mod config;
pub mod export;
pub mod metrics;
pub mod record;
pub mod request;
pub mod sink;

pub use config::OpenTelemetrySinkConfig;
pub use sink::OpenTelemetrySink;
