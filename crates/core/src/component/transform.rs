//! The transform side: a running [`Transform`], what it is built with, and the
//! config that builds one.

use std::sync::Arc;

use crate::error::KeyError;
use crate::event::Batch;
use crate::flow::{Closed, Outputs};
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
    /// retry it event by event after a panic (the application's panic
    /// isolation); the others are run on the batch by reference, at no cost.
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

/// What every transform config provides, so the application's component enum
/// only lists the types and delegates: a new transform is its module
/// (implementing this) and one line in that list.
pub trait TransformComponent: Send + Sync {
    /// Every problem with the keys (pure: compiles patterns, opens nothing).
    fn check(&self) -> Vec<KeyError>;

    /// Builds the running transform. Pure: compiles patterns, opens nothing.
    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>>;

    /// Names of the transform's own named outputs (a router's routes); the
    /// dead-letter output every transform has is added by the application.
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    /// True when the transform keeps no state from one batch to the next that
    /// changes what it does (parsers, setters, filters, redaction, routing):
    /// the runtime may then build one instance per worker and process several
    /// batches at once, re-sequencing the results so every stream keeps its
    /// order (`[runtime] workers`). False (the default, the safe answer) for
    /// anything that counts, samples or aggregates across batches: it runs on
    /// one thread, one batch at a time.
    fn stateless(&self) -> bool {
        false
    }
}
