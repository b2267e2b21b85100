//! logagent-sinks: where events end. Each sink serializes events with their
//! edits applied ([`logagent_core::event::encode`]) and releases a batch's
//! acknowledgement only once its data has been handed to the destination.
//! Each config implements [`logagent_core::component::SinkComponent`], so the
//! application's component enum only lists the types.
//!
//! * [`net`] — what every network sink shares (endpoints, TLS, auth, backoff,
//!   compression off the async runtime); a network sink is its request format
//!   on top of it ([`elasticsearch`], [`loki`], [`opentelemetry`]).
//! * [`file`](mod@file) — files by template, with rotation and retention (through
//!   `logagent-retention`) and an exactly-once ledger; [`stdout`].
//!   [`console`] is the stdout sink's writer with Vector's name and a logfmt
//!   encoding; [`blackhole`] counts and drops (benchmarks, tap-only pipelines).
//! * [`io_retry`] — the local sinks' retry of a failing write.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod blackhole;
pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod io_retry;
pub mod kafka;
pub mod loki;
pub mod net;
pub mod opentelemetry;
pub mod stdout;

use serde::Deserialize;

use logagent_core::event::{Event, encode};

/// How events are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One JSON object per line (NDJSON); text lines become `{"message": ...}`.
    #[default]
    Json,
    /// The line as text, with edits applied.
    Text,
}

impl Encoding {
    /// Appends `event` and a newline to `out`.
    pub fn write(self, event: &Event, out: &mut Vec<u8>) {
        match self {
            Encoding::Json => encode::write_json(event, out),
            Encoding::Text => encode::write_text(event, out),
        }
        out.push(b'\n');
    }
}
