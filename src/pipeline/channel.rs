//! Emitting batches downstream: fan-out to every consumer over bounded channels.
//!
//! A full channel blocks the sender; since every stage sends this way, a sink that
//! stops draining stops its transforms and finally the source, which stops
//! reading. Memory in flight is bounded by the channels' capacities.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use crossbeam_channel::{Sender, TrySendError};

use super::tap::Tap;
use crate::event::Batch;
use crate::telemetry::metrics::ComponentMetrics;

/// A consumer has gone away (its thread ended); the sender should stop too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a downstream component has stopped")]
pub struct Closed;

/// Where a component's batches go: the input channels of every component that
/// lists it in `inputs`.
///
/// The targets can be re-pointed while the component runs (a reload replaced a
/// consumer): a send reads the current list once per batch, so a batch goes
/// either to the old consumer (which drains it before it ends) or to the new one,
/// never to both and never nowhere.
#[derive(Debug, Clone)]
pub struct Output {
    targets: Arc<RwLock<Arc<Vec<Sender<Batch>>>>>,
    metrics: Arc<ComponentMetrics>,
    tap: Tap,
}

impl Output {
    /// An output feeding `targets`, counting into `metrics`.
    pub fn new(targets: Vec<Sender<Batch>>, metrics: Arc<ComponentMetrics>) -> Output {
        Output {
            targets: Arc::new(RwLock::new(Arc::new(targets))),
            metrics,
            tap: Tap::default(),
        }
    }

    /// Re-points this output (and every clone of it) at `targets`. Sends already
    /// under way finish on the old targets.
    pub fn set_targets(&self, targets: Vec<Sender<Batch>>) {
        let mut slot = self.targets.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(targets);
    }

    /// The same output sampled by `tap` (kept across reloads, so a watcher keeps
    /// watching a component that was rebuilt).
    pub fn with_tap(mut self, tap: Tap) -> Output {
        self.tap = tap;
        self
    }

    /// The live-sample hook of this output (`logagent tap`).
    pub fn tap(&self) -> &Tap {
        &self.tap
    }

    fn current(&self) -> Arc<Vec<Sender<Batch>>> {
        self.targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends `batch` to every consumer (clones for all but the last), blocking
    /// while a consumer's channel is full. Empty batches are dropped here, which
    /// acknowledges them.
    pub fn send(&self, batch: Batch) -> Result<(), Closed> {
        if batch.events.is_empty() {
            return Ok(());
        }
        let (events, bytes) = (batch.events.len() as u64, batch.line_bytes() as u64);
        self.tap.offer(&batch);
        let targets = self.current();
        let Some((last, rest)) = targets.split_last() else {
            return Ok(());
        };
        for target in rest {
            self.send_one(target, batch.clone())?;
        }
        self.send_one(last, batch)?;
        // Counted once every consumer has it, so "sent" never includes a batch
        // still waiting for room.
        ComponentMetrics::add(&self.metrics.sent_events, events);
        ComponentMetrics::add(&self.metrics.sent_bytes, bytes);
        Ok(())
    }

    fn send_one(&self, target: &Sender<Batch>, batch: Batch) -> Result<(), Closed> {
        match target.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(Closed),
            Err(TrySendError::Full(batch)) => {
                self.metrics.blocked.store(true, Ordering::Relaxed);
                let result = target.send(batch).map_err(|_| Closed);
                self.metrics.blocked.store(false, Ordering::Relaxed);
                result
            }
        }
    }

    /// True when some component reads this output (otherwise what is sent to it
    /// is dropped, acknowledged).
    pub fn is_connected(&self) -> bool {
        !self.current().is_empty()
    }

    /// The counters this output adds to.
    pub fn metrics(&self) -> &Arc<ComponentMetrics> {
        &self.metrics
    }
}

/// All outputs of a component: the default one (read as `ID`) and its named ones
/// (read as `ID.NAME`). A named output nobody reads drops what is sent to it
/// (acknowledging it), like an unread default output.
#[derive(Debug, Clone)]
pub struct Outputs {
    default: Output,
    named: Vec<(String, Output)>,
}

impl Outputs {
    /// Outputs made of a default and named ones.
    pub fn new(default: Output, named: Vec<(String, Output)>) -> Outputs {
        Outputs { default, named }
    }

    /// The default output.
    pub fn default_output(&self) -> &Output {
        &self.default
    }

    /// The named output `name`, if the component declared it.
    pub fn named(&self, name: &str) -> Option<&Output> {
        self.named.iter().find(|(n, _)| n == name).map(|(_, o)| o)
    }

    /// Every named output with its name.
    pub fn all_named(&self) -> &[(String, Output)] {
        &self.named
    }
}
