//! Emitting batches downstream: fan-out to every consumer over bounded channels.
//!
//! A full channel blocks the sender; since every stage sends this way, a sink that
//! stops draining stops its transforms and finally the source, which stops
//! reading. Memory in flight is bounded by the channels' capacities.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, Weak};

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
///
/// Only the component holds it strongly: when the component drops its last clone
/// (it has ended, or a source is done sending), the senders go with it and the
/// consumers' channels can close, exactly as with plain senders. The runtime
/// keeps an [`OutputHandle`] to re-point it without keeping it alive.
#[derive(Debug, Clone)]
pub struct Output {
    shared: Arc<Shared>,
    metrics: Arc<ComponentMetrics>,
    tap: Tap,
}

#[derive(Debug)]
struct Shared {
    targets: RwLock<Arc<Vec<Sender<Batch>>>>,
    /// Told when the last clone is dropped (the runtime then releases channels).
    on_drop: Mutex<Option<Sender<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let tx = self
            .on_drop
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // Let go of the targets first, so the wake-up finds them gone.
        *self.targets.get_mut().unwrap_or_else(|p| p.into_inner()) = Arc::new(Vec::new());
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }
}

/// A weak reference to an [`Output`]: re-points it while the component holds it.
#[derive(Debug, Clone)]
pub struct OutputHandle(Weak<Shared>);

impl OutputHandle {
    /// Re-points the output if the component still holds it.
    pub fn set_targets(&self, targets: Vec<Sender<Batch>>) {
        if let Some(shared) = self.0.upgrade() {
            let mut slot = shared.targets.write().unwrap_or_else(|p| p.into_inner());
            *slot = Arc::new(targets);
        }
    }

    /// True while the component holds the output (it may still send).
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Output {
    /// An output feeding `targets`, counting into `metrics`.
    pub fn new(targets: Vec<Sender<Batch>>, metrics: Arc<ComponentMetrics>) -> Output {
        Output {
            shared: Arc::new(Shared {
                targets: RwLock::new(Arc::new(targets)),
                on_drop: Mutex::new(None),
            }),
            metrics,
            tap: Tap::default(),
        }
    }

    /// Re-points this output (and every clone of it) at `targets`. Sends already
    /// under way finish on the old targets.
    pub fn set_targets(&self, targets: Vec<Sender<Batch>>) {
        let mut slot = self
            .shared
            .targets
            .write()
            .unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(targets);
    }

    /// A handle that re-points this output without keeping it alive.
    pub fn handle(&self) -> OutputHandle {
        OutputHandle(Arc::downgrade(&self.shared))
    }

    /// Sends `()` on `tx` once every clone of this output is dropped.
    pub fn notify_on_drop(self, tx: Sender<()>) -> Output {
        *self
            .shared
            .on_drop
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tx);
        self
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
        self.shared
            .targets
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

    /// Weak handles on all of them, for the runtime.
    pub fn handles(&self) -> OutputsHandle {
        OutputsHandle {
            default: self.default.handle(),
            named: self
                .named
                .iter()
                .map(|(n, o)| (n.clone(), o.handle()))
                .collect(),
        }
    }
}

/// Weak handles on a component's [`Outputs`]: what the runtime keeps to
/// re-point them on a reload.
#[derive(Debug, Clone)]
pub struct OutputsHandle {
    /// The default output.
    pub default: OutputHandle,
    /// The named outputs.
    pub named: Vec<(String, OutputHandle)>,
}

impl OutputsHandle {
    /// Points every output nowhere.
    pub fn clear(&self) {
        self.default.set_targets(Vec::new());
        for (_, o) in &self.named {
            o.set_targets(Vec::new());
        }
    }
}
