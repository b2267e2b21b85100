//! Sources: where lines come from. Each runs on its own thread, frames lines with
//! [`crate::codecs::framing`], and emits batches of one stream at a time.

pub mod batcher;
pub mod file;
pub mod stdin;

use std::sync::Arc;

use serde::Deserialize;

use crate::codecs::framing::Oversize;
use crate::pipeline::{Closed, Output, Shutdown};
use crate::telemetry::metrics::ComponentMetrics;

/// What a running source is given.
pub struct SourceContext {
    /// The source's component id.
    pub id: Arc<str>,
    /// Where its batches go.
    pub output: Output,
    /// Tells it when to stop reading.
    pub shutdown: Shutdown,
    /// Its counters.
    pub metrics: Arc<ComponentMetrics>,
    /// Most events per batch.
    pub batch_max_events: usize,
    /// Most line bytes per batch.
    pub batch_max_bytes: usize,
    /// Stop at the end of the input instead of following it.
    pub once: bool,
    /// The agent's state directory (checkpoints live under it).
    pub data_dir: std::path::PathBuf,
}

/// A runnable source.
pub trait Source: Send {
    /// Reads until the input ends (`once`, or stdin at EOF) or a stop is requested.
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError>;
}

/// Why a source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading failed in a way the source cannot recover from.
    #[error("reading {what} failed: {error}")]
    Io {
        /// What was being read.
        what: String,
        /// The cause.
        error: std::io::Error,
    },
    /// Every consumer went away.
    #[error(transparent)]
    Closed(#[from] Closed),
}

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
