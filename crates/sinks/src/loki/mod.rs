//! `type = "loki"`: pushes to Grafana Loki's `/loki/api/v1/push`.
//!
//! * [`config`] — the options and their checks.
//! * [`client`] — the HTTP client (auth, headers, TLS) and the `validate` check.
//! * [`streams`] — label sets, the cardinality guard, stream state.
//! * [`line`](mod@line) — what an entry's line looks like (JSON, `key=value`, raw).
//! * [`pending`] — requests being filled; per-stream ordering policy.
//! * [`proto`] — the protobuf and JSON wire formats.
//! * [`push`] — one request until Loki takes it: retries, backoff, `/ready`.
//! * [`sink`] — the running sink: lanes per tenant, in-flight limit, acks.
//! * [`metrics`] — the sink's own counters, readable by a `/metrics` endpoint.

pub mod client;
pub mod config;
pub mod line;
pub mod metrics;
pub mod pending;
pub mod proto;
pub mod push;
pub mod sink;
pub mod streams;

pub use config::LokiSinkConfig;
pub use sink::LokiSink;
