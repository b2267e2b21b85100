//! `type = "elasticsearch"`: ships events to Elasticsearch (7.x–9.x) or
//! OpenSearch with the `_bulk` API, losing nothing and duplicating nothing.
//!
//! * [`config`] — the options and their pure checks.
//! * [`bulk`] — NDJSON bodies built from the events' bytes; idempotent `_id`s
//!   from each event's origin, so a replay is a 409, not a duplicate.
//! * [`response`] — the per-item classifier (stored / duplicate / retry alone /
//!   dead-letter) and the retry backoff.
//! * [`client`] — endpoints (round-robin, cool-down), auth, TLS, health check.
//! * [`sink`] — the running sink: bounded in-flight requests, backpressure,
//!   acknowledgements once every document is settled, the dead-letter output.
//!
//! The user guide is the README's "Elasticsearch" section.

pub mod bulk;
pub mod client;
pub mod config;
pub mod response;
pub mod sink;

pub use config::ElasticsearchConfig;
pub use sink::{DEAD_LETTER, DEAD_LETTER_FIELD, ElasticsearchSink, names};
