//! The instruments components count with: per-component counters
//! ([`metrics`]), labeled series ([`labeled`]), the metric families
//! transforms define ([`families`]), rate-limited logging ([`ratelimit`]), the
//! shared metric names ([`names`]), the tap hook ([`tap`]) and their encoding
//! as Prometheus text ([`prometheus`]).
//!
//! Only the instruments and their encoding live here; serving them (the HTTP
//! API, `logagent top`) is the application's job.

pub mod agent;
pub mod families;
pub mod labeled;
pub mod metrics;
pub mod names;
pub mod prometheus;
pub mod ratelimit;
pub mod tap;
