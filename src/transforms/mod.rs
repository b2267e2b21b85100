//! Transforms: change batches in place. Each records ranges and edits on the
//! events (see [`crate::event`]) instead of rebuilding them, and may drop events.

pub mod condition;
pub mod enrich;
pub mod fields;
pub mod filter;
pub mod filter_level;
pub mod log_to_metric;
pub mod parse_json;
pub mod parse_kv;
pub mod parse_regex;
pub mod redact;
pub mod route;
pub mod sample;
pub mod shape;
mod text_parser;
pub mod throttle;
pub mod timestamp;

use std::sync::Arc;

use crate::config::{KeyError, TransformConfig};
use crate::event::Batch;
use crate::pipeline::{Closed, Outputs};
use crate::telemetry::families::FamilyRegistry;
use crate::telemetry::metrics::ComponentMetrics;
use crate::time::{SharedClock, SystemClock};

/// A running transform.
pub trait Transform: Send {
    /// Processes one batch in place: edits events, drops some. Per-event problems
    /// are counted and logged (rate-limited), never returned.
    fn process(&mut self, batch: &mut Batch);

    /// True for a transform that overrides [`Transform::process_into`] (splits
    /// a batch between outputs): the runtime then keeps a copy of each batch to
    /// retry it event by event after a panic (`pipeline::isolate`); the others
    /// are run on the batch by reference, at no cost.
    fn splits(&self) -> bool {
        false
    }

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
    /// Where it registers labeled counters and histograms (exported by the
    /// metrics endpoint).
    pub families: Arc<FamilyRegistry>,
    /// The clock for rates and fallback event times (a fixed one in tests).
    pub clock: SharedClock,
}

impl TransformContext {
    /// A context with fresh counters (tests, benches).
    pub fn detached(id: &str) -> TransformContext {
        TransformContext {
            id: id.into(),
            metrics: Arc::new(ComponentMetrics::default()),
            families: Arc::new(FamilyRegistry::default()),
            clock: SystemClock::shared(),
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
        TransformConfig::ParseLogfmt(c) => Box::new(c.build(ctx)?),
        TransformConfig::ParseKv(c) => Box::new(c.build(ctx)?),
        TransformConfig::RemoveFields(c) => Box::new(c.build(ctx)?),
        TransformConfig::RenameFields(c) => Box::new(c.build(ctx)?),
        TransformConfig::AddFields(c) => Box::new(c.build(ctx)?),
        TransformConfig::Filter(c) => Box::new(c.build(ctx)?),
        TransformConfig::Sample(c) => Box::new(c.build(ctx)?),
        TransformConfig::Throttle(c) => Box::new(c.build(ctx)?),
        TransformConfig::Route(c) => Box::new(c.build(ctx)?),
        TransformConfig::LogToMetric(c) => Box::new(c.build(ctx)?),
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
