//! The sink side: a running [`Sink`], what it is run with, why it stops, and
//! the config that builds one.

use std::sync::Arc;
use std::time::Duration;

use super::health::HealthCheck;
use crate::error::KeyError;
use crate::event::Batch;
use crate::flow::{Outputs, Shutdown};
use crate::telemetry::metrics::ComponentMetrics;

/// A running sink. Called from one thread: batches in order, flushes between.
pub trait Sink: Send {
    /// Accepts a batch. The sink may buffer it, but keeps its ack token until the
    /// data is written. An `Err` is fatal: the sink cannot go on.
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError>;

    /// Writes out whatever is buffered and releases the acknowledgements.
    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError>;

    /// Called once when the input has ended: writes out everything, waits for
    /// it to be accepted and releases the acknowledgements. Sinks whose `flush`
    /// already does all that need not override it.
    fn close(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.flush(ctx)
    }

    /// How often the runtime should call [`Sink::flush`] while data flows.
    fn flush_interval(&self) -> Option<Duration> {
        None
    }
}

/// What a sink is run with.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The component id.
    pub id: Arc<str>,
    /// Its counters; sinks count `sent_*` (written) themselves.
    pub metrics: Arc<ComponentMetrics>,
    /// Tells retry loops when to give up.
    pub shutdown: Shutdown,
    /// The sink's named outputs (e.g. a dead-letter output), if it declares any.
    pub outputs: Outputs,
}

/// Why a sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The destination is gone for good (stdout closed, drain time over).
    #[error("{what}: {error}")]
    Io {
        /// What failed.
        what: String,
        /// The cause.
        error: std::io::Error,
    },
    /// The sink cannot be built or had to give up (bad credentials file, drain
    /// time over with data unsent).
    #[error("{what}: {message}")]
    Failed {
        /// What failed.
        what: String,
        /// Why.
        message: String,
    },
}

/// What every sink config provides, so the application's component enum only
/// lists the types and delegates: a new sink is its module (implementing
/// this) and one line in that list.
pub trait SinkComponent: Send + Sync {
    /// Every problem with the keys (pure: no file is read, nothing connects).
    fn check(&self) -> Vec<KeyError>;

    /// Builds the running sink; `data_dir` holds what a sink keeps across
    /// restarts (the file sink's exactly-once ledger).
    fn build(&self, data_dir: &std::path::Path) -> Result<Box<dyn Sink>, SinkError>;

    /// Names of the sink's named outputs (a dead-letter output).
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    /// True for a sink that skips replayed events by their stream offsets (the
    /// file sink's exactly-once ledger): it relies on each stream's events
    /// arriving by one path, in order, so the graph check refuses two paths.
    fn skips_replays(&self) -> bool {
        false
    }

    /// The path (template) a file-writing sink appends to, to catch two sinks on one file.
    fn output_path(&self) -> Option<&str> {
        None
    }

    /// The check of the server the sink talks to, if it talks to one and the
    /// check is enabled.
    fn health_check(&self) -> Option<Box<dyn HealthCheck>> {
        None
    }
}
