//! Emitting batches downstream: fan-out to every consumer over bounded channels.
//!
//! A full channel blocks the sender; since every stage sends this way, a sink that
//! stops draining stops its transforms and finally the source, which stops
//! reading. Memory in flight is bounded by the channels' capacities.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use crossbeam_channel::{Sender, TrySendError};

use super::tap::Tap;
use crate::event::Batch;
use crate::telemetry::metrics::ComponentMetrics;

/// A consumer has gone away (its thread ended); the sender should stop too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a downstream component has stopped")]
pub struct Closed;

/// Why [`Output::try_send`] did not send a batch.
#[derive(Debug)]
pub enum TrySend {
    /// A consumer's channel is full: the pipeline is backed up. The batch is
    /// handed back, unsent.
    Full(Batch),
    /// A consumer has gone away.
    Closed,
}

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
    /// Set on a worker's stand-in ([`Output::capturing`]): what is sent is
    /// kept here for the runtime to pass on in order, instead of being sent.
    capture: Option<Arc<Mutex<Vec<Batch>>>>,
}

/// How full a consumer's input channel is, in events and line bytes: the
/// `component_buffer_events` / `component_buffer_bytes` gauges of the consumer.
/// A producer adds before it sends, the consumer takes away what it receives.
#[derive(Debug, Clone)]
pub struct Fill {
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

pub use crate::telemetry::names::channel::{FILL_BYTES, FILL_EVENTS};

impl Fill {
    /// The fill gauges of the component whose counters are `metrics`.
    pub fn of(metrics: &ComponentMetrics) -> Fill {
        Fill {
            events: metrics.labeled.gauge(FILL_EVENTS, &[]),
            bytes: metrics.labeled.gauge(FILL_BYTES, &[]),
        }
    }

    fn add(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Takes a received batch off the gauges.
    pub fn take(&self, batch: &Batch) {
        let sub = |g: &AtomicU64, n: u64| {
            let _ = g.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.events, batch.events.len() as u64);
        sub(&self.bytes, batch.line_bytes() as u64);
    }
}

/// One consumer's input: its channel and, when the runtime tracks it, its fill.
#[derive(Debug, Clone)]
pub struct Inlet {
    /// The channel.
    pub tx: Sender<Batch>,
    /// The consumer's fill gauges.
    pub fill: Option<Fill>,
}

#[derive(Debug)]
struct Shared {
    targets: RwLock<Arc<Vec<Inlet>>>,
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
    pub fn set_targets(&self, targets: Vec<Inlet>) {
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
                targets: RwLock::new(Arc::new(
                    targets
                        .into_iter()
                        .map(|tx| Inlet { tx, fill: None })
                        .collect(),
                )),
                on_drop: Mutex::new(None),
            }),
            metrics,
            tap: Tap::default(),
            capture: None,
        }
    }

    /// A stand-in for this output that keeps what is sent to it (see
    /// [`Output::take_captured`]) instead of sending it: a transform running on
    /// one of a parallel stage's workers sends through it, and the stage passes
    /// the batches on in the order they came in. It answers
    /// [`Output::is_connected`] like this output (a router asks), counts
    /// nothing and offers nothing to the tap (the real send does both).
    pub fn capturing(&self) -> Output {
        Output {
            shared: self.shared.clone(),
            metrics: self.metrics.clone(),
            tap: Tap::default(),
            capture: Some(Arc::new(Mutex::new(Vec::new()))),
        }
    }

    /// What was sent to this stand-in since the last call, in order (empty for
    /// a real output).
    pub fn take_captured(&self) -> Vec<Batch> {
        match &self.capture {
            Some(c) => std::mem::take(&mut *c.lock().unwrap_or_else(|p| p.into_inner())),
            None => Vec::new(),
        }
    }

    /// Re-points this output (and every clone of it) at `targets`. Sends already
    /// under way finish on the old targets.
    pub fn set_targets(&self, targets: Vec<Inlet>) {
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

    fn current(&self) -> Arc<Vec<Inlet>> {
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
        if let Some(c) = &self.capture {
            c.lock().unwrap_or_else(|p| p.into_inner()).push(batch);
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

    /// Sends `batch` like [`Output::send`] only if no consumer's channel is
    /// full; otherwise hands it back untouched ([`TrySend::Full`]): for a source
    /// that must answer its client now (HTTP 429) rather than wait for room.
    ///
    /// The check and the send are not one step: if another producer fills a
    /// channel in between, this waits for room like [`Output::send`] (rare, and
    /// bounded by the consumer's pace).
    pub fn try_send(&self, batch: Batch) -> Result<(), TrySend> {
        if batch.events.is_empty() {
            return Ok(());
        }
        if self.current().iter().any(|t| t.tx.is_full()) {
            return Err(TrySend::Full(batch));
        }
        self.send(batch).map_err(|Closed| TrySend::Closed)
    }

    fn send_one(&self, target: &Inlet, batch: Batch) -> Result<(), Closed> {
        let (events, bytes) = (batch.events.len() as u64, batch.line_bytes() as u64);
        // Counted before the send so the consumer never takes away more than
        // was added; undone if the consumer is gone.
        if let Some(f) = &target.fill {
            f.add(events, bytes);
        }
        let result = match target.tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(Closed),
            Err(TrySendError::Full(batch)) => {
                self.metrics.blocked.store(true, Ordering::Relaxed);
                let result = target.tx.send(batch).map_err(|_| Closed);
                self.metrics.blocked.store(false, Ordering::Relaxed);
                result
            }
        };
        if result.is_err()
            && let Some(f) = &target.fill
        {
            f.events.fetch_sub(
                events.min(f.events.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            f.bytes.fetch_sub(
                bytes.min(f.bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        result
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

    /// Stand-ins for all of them ([`Output::capturing`]), for one worker of a
    /// parallel stage.
    pub fn capturing(&self) -> Outputs {
        Outputs {
            default: self.default.capturing(),
            named: self
                .named
                .iter()
                .map(|(n, o)| (n.clone(), o.capturing()))
                .collect(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AckToken, Event, Stream};

    fn batch(n: usize) -> Batch {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), n);
        for _ in 0..n {
            b.events
                .push(Event::new(bytes::Bytes::from_static(b"0123456789"), 0));
        }
        b
    }

    #[test]
    fn fan_out_shares_the_events_and_a_change_on_one_side_stays_there() {
        let (tx1, rx1) = crossbeam_channel::bounded(1);
        let (tx2, rx2) = crossbeam_channel::bounded(1);
        let out = Output::new(vec![tx1, tx2], Arc::new(ComponentMetrics::default()));
        out.send(batch(3)).unwrap();
        let (mut a, b) = (rx1.recv().unwrap(), rx2.recv().unwrap());
        assert!(
            std::ptr::eq(a.events.as_ptr(), b.events.as_ptr()),
            "both consumers read the same events: no deep copy"
        );
        assert!(!a.events.is_unique());
        a.events[0].line = bytes::Bytes::from_static(b"changed");
        assert_eq!(&b.events[0].line[..], b"0123456789");
        assert_eq!(&a.events[0].line[..], b"changed");
        assert!(a.events.is_unique() && b.events.is_unique());
    }

    #[test]
    fn try_send_hands_the_batch_back_when_a_consumer_is_full() {
        let (tx1, rx1) = crossbeam_channel::bounded(2);
        let (tx2, rx2) = crossbeam_channel::bounded(1);
        let out = Output::new(vec![tx1, tx2], Arc::new(ComponentMetrics::default()));
        out.try_send(batch(3)).unwrap();
        match out.try_send(batch(2)) {
            Err(TrySend::Full(b)) => assert_eq!(b.events.len(), 2),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(rx1.len(), 1, "nothing was sent to the consumer with room");
        assert_eq!(out.metrics().snapshot().sent_events, 3);
        rx2.recv().unwrap();
        out.try_send(batch(2)).unwrap();
        drop((rx1, rx2));
        let (tx, rx) = crossbeam_channel::bounded(1);
        drop(rx);
        let gone = Output::new(vec![tx], Arc::new(ComponentMetrics::default()));
        assert!(matches!(gone.try_send(batch(1)), Err(TrySend::Closed)));
    }

    #[test]
    fn a_capturing_stand_in_keeps_batches_in_order_and_answers_for_the_real_output() {
        let metrics = Arc::new(ComponentMetrics::default());
        let out = Output::new(Vec::new(), metrics.clone());
        let stand_in = out.capturing();
        assert!(!stand_in.is_connected(), "no reader yet, like the real one");
        let (tx, rx) = crossbeam_channel::bounded(4);
        out.set_targets(vec![Inlet { tx, fill: None }]);
        assert!(stand_in.is_connected(), "re-pointing the real one shows");
        stand_in.send(batch(3)).unwrap();
        stand_in.send(batch(0)).unwrap();
        stand_in.send(batch(2)).unwrap();
        assert!(rx.try_recv().is_err(), "nothing is sent");
        assert_eq!(ComponentMetrics::snapshot(&metrics).sent_events, 0);
        let kept: Vec<usize> = stand_in
            .take_captured()
            .iter()
            .map(|b| b.events.len())
            .collect();
        assert_eq!(kept, [3, 2], "in order, the empty batch dropped");
        assert!(stand_in.take_captured().is_empty());
        assert!(out.take_captured().is_empty());
    }

    #[test]
    fn fill_follows_what_waits_in_the_channel_and_outputs_close_with_their_holder() {
        let consumer = ComponentMetrics::default();
        let fill = Fill::of(&consumer);
        let (tx, rx) = crossbeam_channel::bounded(4);
        let (wake_tx, wake_rx) = crossbeam_channel::unbounded();
        let out =
            Output::new(Vec::new(), Arc::new(ComponentMetrics::default())).notify_on_drop(wake_tx);
        out.set_targets(vec![Inlet {
            tx,
            fill: Some(fill.clone()),
        }]);
        let handle = out.handle();
        out.send(batch(3)).unwrap();
        out.send(batch(2)).unwrap();
        assert_eq!(consumer.labeled.get(FILL_EVENTS, &[]), Some(5));
        assert_eq!(consumer.labeled.get(FILL_BYTES, &[]), Some(50));
        let b = rx.recv().unwrap();
        fill.take(&b);
        assert_eq!(consumer.labeled.get(FILL_EVENTS, &[]), Some(2));
        // The runtime's handle does not keep the output (or its senders) alive.
        assert!(handle.is_alive());
        drop(out);
        assert!(!handle.is_alive());
        assert!(wake_rx.try_recv().is_ok(), "the runtime is woken");
        let b = rx.recv().unwrap();
        fill.take(&b);
        assert!(rx.recv().is_err(), "the channel closed with the output");
        assert_eq!(consumer.labeled.get(FILL_EVENTS, &[]), Some(0));
    }
}
