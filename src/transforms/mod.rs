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

/// A source of "now" in nanoseconds since the epoch: the system clock, or a
/// manual one tests move by hand (rates, year inference, fallback times).
#[derive(Clone, Debug)]
pub struct Clock(Option<Arc<std::sync::atomic::AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stays at `ns` until [`Clock::set`] moves it.
    pub fn manual(ns: i64) -> Clock {
        Clock(Some(Arc::new(std::sync::atomic::AtomicI64::new(ns))))
    }

    /// Moves a manual clock (no effect on the system clock).
    pub fn set(&self, ns: i64) {
        if let Some(c) = &self.0 {
            c.store(ns, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Now, in nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> i64 {
        match &self.0 {
            Some(c) => c.load(std::sync::atomic::Ordering::Relaxed),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }
}

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
    pub clock: Clock,
}

impl TransformContext {
    /// A context with fresh counters (tests, benches).
    pub fn detached(id: &str) -> TransformContext {
        TransformContext {
            id: id.into(),
            metrics: Arc::new(ComponentMetrics::default()),
            families: Arc::new(FamilyRegistry::default()),
            clock: Clock::system(),
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
