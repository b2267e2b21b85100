//! The source side: a running [`Source`] and the config that builds one.

use std::sync::Arc;

use crate::error::KeyError;
use crate::flow::{Closed, Output, Shutdown};
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

/// What every source config provides, so the application's component enum only
/// lists the types and delegates: a new source is its module (implementing
/// this) and one line in that list.
pub trait SourceComponent: Send + Sync {
    /// Every problem with the keys (pure: no file is read).
    fn check(&self) -> Vec<KeyError>;

    /// Builds the runnable source.
    fn build(&self) -> Box<dyn Source>;

    /// The events this source makes of `lines` received as they are (a
    /// network source's frames, decoded by its own parser), so `logagent
    /// test` cases inserted at the source see what it would emit. `None`
    /// (the default) passes the lines on unparsed, as a file source reads them.
    /// An event whose root is a JSON object has its members scanned again by
    /// the caller into the batch's arena (its member span is not used).
    fn decode_for_test(&self, lines: &[&[u8]]) -> Option<Vec<crate::event::Event>> {
        let _ = lines;
        None
    }
}
