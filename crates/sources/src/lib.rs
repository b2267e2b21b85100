//! logagent-sources: where lines come from. Each source runs on its own
//! thread, frames lines with [`logagent_codecs::framing`], and emits batches of
//! one stream at a time through the [`logagent_core::component::Source`] trait.
//!
//! * [`file`](mod@file) — tailing: discovery, identity by device+inode and fingerprint,
//!   rotation, truncation, copies, gzip, container formats, multiline, driven
//!   by a synchronous [`file::tailer::Tailer`] that the tests step directly.
//! * [`checkpoint`] — the file source's durable, atomically written records of
//!   acknowledged offsets (also read by the maintenance jobs' guard).
//! * [`stdin`] — standard input.
//! * [`syslog`] — RFC 3164/5424 over UDP and TCP (a thread per connection).
//! * [`http`] — the aggregator's HTTP receiver: NDJSON, Elasticsearch `_bulk`
//!   and Loki push, on [`http_server`] (limits, auth, 429 on backpressure,
//!   answers after acknowledgement), which later network sources share.
//! * [`opentelemetry`](mod@opentelemetry) — an OTLP/HTTP logs receiver (`/v1/logs`,
//!   protobuf and JSON) on [`http_server`].
//! * [`tls`] — the certificate a listening source serves (rustls).
//! * [`batcher`] — lines into batches of one stream.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod batcher;
pub mod checkpoint;
pub mod file;
pub mod http;
pub mod http_server;
pub mod kafka;
pub mod opentelemetry;
pub mod stdin;
pub mod syslog;
pub mod tls;

use serde::Deserialize;

use logagent_codecs::framing::Oversize;

/// What to do with a line over `max_line_bytes` (config form of [`Oversize`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OversizeLines {
    /// Keep the first `max_line_bytes` bytes (marked truncated).
    #[default]
    Truncate,
    /// Discard the line (counted).
    Drop,
}

impl From<OversizeLines> for Oversize {
    fn from(o: OversizeLines) -> Oversize {
        match o {
            OversizeLines::Truncate => Oversize::Truncate,
            OversizeLines::Drop => Oversize::Drop,
        }
    }
}

/// Default limit on one line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 1 << 20;
