//! logagent-codecs: line framing over a reusable buffer and
//! hand-written readers for the `parse_regex` presets' formats.
//! [`otlp`] holds the OpenTelemetry logs messages and their encodings.
//! Nothing here knows about components; it depends on `logagent-core` only.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod access_log;
pub mod app_log;
pub mod framing;
pub mod kv;
pub mod otlp;
pub mod syslog;
pub mod text_scan;
