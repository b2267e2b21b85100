//! Transforms: change batches in place. Each records ranges and edits on the
//! events (see [`crate::event`]) instead of rebuilding them, and may drop events.

pub mod enrich;
pub mod filter_level;
pub mod parse_json;
pub mod parse_regex;
pub mod redact;
pub mod timestamp;

use std::sync::Arc;

use crate::config::{KeyError, TransformConfig};
use crate::event::Batch;
use crate::pipeline::{Closed, Outputs};
use crate::telemetry::metrics::ComponentMetrics;

/// A running transform.
pub trait Transform: Send {
    /// Processes one batch in place: edits events, drops some. Per-event problems
    /// are counted and logged (rate-limited), never returned.
    fn process(&mut self, batch: &mut Batch);

    /// Processes a batch and sends the result on. Transforms with named outputs
    /// (a router) override this to split the batch; the default sends what
    /// [`Transform::process`] kept to the default output. Returns how many events
    /// were discarded (sent nowhere).
    fn process_into(&mut self, mut batch: Batch, outputs: &Outputs) -> Result<u64, Closed> {
        let before = batch.events.len();
        self.process(&mut batch);
        let discarded = before.saturating_sub(batch.events.len()) as u64;
        outputs.default_output().send(batch)?;
        Ok(discarded)
    }
}

/// What a transform is built with.
#[derive(Clone, Debug)]
pub struct TransformContext {
    /// The component id, for its log lines.
    pub id: Arc<str>,
    /// Its counters (errors are counted by the transform, the rest by the runtime).
    pub metrics: Arc<ComponentMetrics>,
}

impl TransformContext {
    /// A context with fresh counters (tests, benches).
    pub fn detached(id: &str) -> TransformContext {
        TransformContext {
            id: id.into(),
            metrics: Arc::new(ComponentMetrics::default()),
        }
    }
}

/// Builds the transform a config describes. Pure: compiles patterns, opens nothing.
pub fn build(
    config: &TransformConfig,
    ctx: TransformContext,
) -> Result<Box<dyn Transform>, Vec<KeyError>> {
    Ok(match config {
        TransformConfig::ParseJson(c) => Box::new(c.build(ctx)?),
        TransformConfig::ParseRegex(c) => Box::new(c.build(ctx)?),
        TransformConfig::Enrich(c) => Box::new(c.build(ctx)?),
        TransformConfig::FilterLevel(c) => Box::new(c.build(ctx)?),
        TransformConfig::Redact(c) => Box::new(c.build(ctx)?),
    })
}

/// Parses a list of field paths, naming the key of each bad one.
pub(crate) fn parse_paths(
    key: &str,
    paths: &[String],
) -> Result<Vec<crate::event::FieldPath>, Vec<KeyError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        match crate::event::FieldPath::parse(p) {
            Ok(path) => out.push(path),
            Err(e) => errors.push(KeyError::new(format!("{key}[{i}]"), e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parses one field path for `key`.
pub(crate) fn parse_path(key: &str, path: &str) -> Result<crate::event::FieldPath, Vec<KeyError>> {
    crate::event::FieldPath::parse(path).map_err(|e| vec![KeyError::new(key, e.to_string())])
}
