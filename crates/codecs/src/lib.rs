//! logagent-codecs: line framing over a reusable buffer and
//! hand-written readers for the `parse_regex` presets' formats, Loki's push
//! messages ([`loki_push`]) shared by the Loki sink and the HTTP source, and
//! the OpenTelemetry logs messages and their encodings ([`otlp`]).
//! Nothing here knows about components; it depends on `logagent-core` only.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod access_log;
pub mod app_log;
pub mod framing;
pub mod kv;
pub mod loki_push;
pub mod otlp;
pub mod syslog;
pub mod text_scan;
