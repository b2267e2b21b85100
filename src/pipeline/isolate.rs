//! One bad batch does not stop the node.
//!
//! A transform or sink that panics on a batch used to end its thread, and one
//! failed component stops the whole pipeline; after a restart the source read
//! the same line again and the agent crash-looped on it. Now the runtime
//! catches the panic per batch:
//!
//! * **transforms** — a transform that edits in place is run on the batch by
//!   reference, so the batch survives a panic at no cost on the happy path.
//!   After a panic the batch is processed again one event at a time, the events
//!   as the failed attempt left them: the events that do not panic go on as
//!   usual (in order); each one that does is a *poison* event. A router (which
//!   takes the batch by value, [`Transform::splits`]) gets a copy kept for it
//!   ([`Snapshot`]) and its retry starts from the events as they came in. A
//!   poison event goes, with a `_dead_letter` field (`component`, `error`), to
//!   the transform's `dead_letter` output when something reads it
//!   (`inputs = ["parse.dead_letter"]`), else it is dropped;
//! * **sinks** — the batch that made `write` panic is dropped (a sink has no
//!   copy of what it half wrote).
//!
//! Either way the batch's acknowledgement completes as *delivered*: dropping or
//! dead-lettering a poison line is a decision, so the source's checkpoint moves
//! past it and a restart does not read it again. Each poison is counted
//! (`component_errors_total{error_type="panic"}`, and
//! `component_discarded_events_total{reason="panic"}` or
//! `component_dead_lettered_events_total`) and logged with its file and offset
//! (rate-limited). A component that fails [`UNHEALTHY_AFTER`] times within
//! [`HEALTH_WINDOW`] is listed as failing on `/health` until a window passes
//! without failures; the rest of the pipeline keeps running.
//!
//! The events before the poison in its batch go through the transform twice
//! (the failed attempt, then the retry). The field setters, parsers, filters
//! and redaction give the same result the second time; a stateful transform
//! (sample, throttle, log_to_metric) counts those events twice.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::channel::{Closed, Output, Outputs};
use crate::event::{Batch, CowVec, Event, EventMut, Member, Value};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON, ERRORS_BY_TYPE};
use crate::telemetry::ratelimit::RateLimiter;
use logagent_core::component::Transform;

/// Name of every transform's dead-letter output (`ID.dead_letter`).
pub use logagent_core::component::DEAD_LETTER;
/// Field added to a dead-lettered event: `{"component": ..., "error": ...}`.
pub const DEAD_LETTER_FIELD: &str = "_dead_letter";
/// Labeled counter of events sent to a dead-letter output.
pub const DEAD_LETTERED: &str = "component_dead_lettered_events_total";
/// Failures within [`HEALTH_WINDOW`] that mark a component failing on `/health`.
pub const UNHEALTHY_AFTER: usize = 3;
/// How far back failures count for `/health`.
pub const HEALTH_WINDOW: Duration = Duration::from_secs(60);

/// The batch a splitting transform was given, kept in case it panics: its
/// events and member arena, shared with the batch (copy on write), so keeping
/// them costs a reference count, not a copy.
#[derive(Default)]
pub struct Snapshot {
    events: CowVec<Event>,
    members: CowVec<Member>,
}

impl Snapshot {
    /// Keeps `batch`'s events and members (shared, not copied).
    pub fn take(&mut self, batch: &Batch) {
        self.events = batch.events.clone();
        self.members = batch.members.clone();
    }

    /// Lets go of the kept batch once it went through, so a consumer that
    /// changes it downstream need not copy it because this copy still holds it.
    pub fn release(&mut self) {
        self.events = CowVec::default();
        self.members = CowVec::default();
    }
}

/// What a component's runtime needs to survive a bad batch: counters, the
/// log limiter, the failure window for `/health`.
pub struct Faults {
    name: String,
    id: Arc<str>,
    health: Health,
    metrics: Arc<ComponentMetrics>,
    panics: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    dead_lettered: Arc<AtomicU64>,
    recent: VecDeque<Instant>,
    unhealthy: bool,
    log: RateLimiter,
}

impl Faults {
    /// The fault state of component `name` (`kind.id`).
    pub fn new(name: &str, id: Arc<str>, metrics: Arc<ComponentMetrics>, health: Health) -> Faults {
        let l = &metrics.labeled;
        Faults {
            panics: l.counter(ERRORS_BY_TYPE, &[("error_type", "panic")]),
            dropped: l.counter(DISCARDED_BY_REASON, &[("reason", "panic")]),
            dead_lettered: l.counter(DEAD_LETTERED, &[]),
            name: name.to_owned(),
            id,
            health,
            metrics,
            recent: VecDeque::with_capacity(UNHEALTHY_AFTER + 1),
            unhealthy: false,
            log: RateLimiter::default(),
        }
    }

    /// A batch went through: clears `/health` once the window is quiet.
    pub fn ok(&mut self) {
        if !self.unhealthy {
            return;
        }
        let now = Instant::now();
        if self
            .recent
            .back()
            .is_none_or(|t| now.saturating_duration_since(*t) >= HEALTH_WINDOW)
        {
            self.unhealthy = false;
            self.recent.clear();
            self.health.recover(&self.name);
            tracing::info!(component = %self.name, "no failed batch for a minute; healthy again");
        }
    }

    /// Counts one failure (a panic on `events` events) and updates `/health`.
    fn failed(&mut self, now: Instant, message: &str) {
        ComponentMetrics::add(&self.metrics.errors, 1);
        ComponentMetrics::add(&self.panics, 1);
        self.recent.push_back(now);
        while self.recent.len() > UNHEALTHY_AFTER
            || self
                .recent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= HEALTH_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= UNHEALTHY_AFTER {
            self.unhealthy = true;
            self.health.fail(
                &self.name,
                &format!(
                    "{} batches failed within {}s; last: {message}",
                    self.recent.len(),
                    HEALTH_WINDOW.as_secs()
                ),
            );
        }
    }

    /// A sink's `write` panicked on a batch of `events` events from
    /// `stream`: counted and logged; the batch is gone.
    pub fn sink_panicked(&mut self, panic: &(dyn std::any::Any + Send), batch: BatchInfo) {
        let message = panic_message(panic);
        self.failed(Instant::now(), &message);
        ComponentMetrics::add(&self.metrics.discarded_events, batch.events);
        ComponentMetrics::add(&self.dropped, batch.events);
        if let Some(suppressed) = self.log.check() {
            tracing::error!(component = %self.name, panic = %message, stream = %batch.stream.origin(),
                offsets = ?batch.offsets, events = batch.events, suppressed,
                "sink panicked on a batch: batch dropped and counted, the sink goes on");
        }
    }
}

/// Where a batch came from, for the log line of a failure.
pub struct BatchInfo {
    /// The stream (its source file, if any).
    pub stream: Arc<crate::event::Stream>,
    /// Offsets of its first and last line.
    pub offsets: Option<(u64, u64)>,
    /// How many events it had.
    pub events: u64,
}

impl BatchInfo {
    /// Notes what to log about `batch` should it fail (no allocation).
    pub fn of(batch: &Batch) -> BatchInfo {
        BatchInfo {
            stream: batch.stream.clone(),
            offsets: batch
                .events
                .first()
                .zip(batch.events.last())
                .map(|(a, b)| (a.meta.offset, b.meta.offset)),
            events: batch.events.len() as u64,
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Runs `transform` on `batch`; if it panics, processes the batch again one
/// event at a time and dead-letters (or drops) the events that panic. Returns
/// the events discarded, or `Closed` when downstream is gone.
///
/// A transform that only edits in place ([`Transform::process`]) is run on the
/// batch by reference, so the batch survives a panic: nothing is copied on the
/// way (no cost per line), and the retry takes the events as the failed
/// attempt left them. A splitting transform (a router, [`Transform::splits`])
/// takes the batch by value; for it the runtime keeps a copy ([`Snapshot`]).
pub fn process(
    transform: &mut Box<dyn Transform>,
    batch: Batch,
    outputs: &Outputs,
    snapshot: &mut Snapshot,
    faults: &mut Faults,
) -> Result<u64, Closed> {
    if transform.splits() {
        return process_splitting(transform, batch, outputs, snapshot, faults);
    }
    let mut batch = batch;
    let before = batch.events.len();
    let attempt = std::panic::catch_unwind(AssertUnwindSafe(|| transform.process(&mut batch)));
    match attempt {
        Ok(()) => {
            faults.ok();
            let discarded = before.saturating_sub(batch.events.len()) as u64;
            outputs.default_output().send(batch)?;
            Ok(discarded)
        }
        Err(panic) => {
            let events = std::mem::take(&mut batch.events);
            let mut retry = Retry::new(faults, outputs, &batch, panic_message(&*panic));
            for event in events {
                let mut one = retry.single(event);
                let again =
                    std::panic::catch_unwind(AssertUnwindSafe(|| transform.process(&mut one)));
                match again {
                    Ok(()) => {
                        retry.discarded += 1u64.saturating_sub(one.events.len() as u64);
                        outputs.default_output().send(one)?;
                    }
                    Err(again) => {
                        if let Some(event) = one.events.pop() {
                            retry.poison(event, &batch.members, panic_message(&*again))?;
                        }
                    }
                }
            }
            Ok(retry.finish())
        }
    }
}

/// [`process`] for a transform that takes the batch by value: a copy is kept
/// so the retry starts from the events as they came in.
fn process_splitting(
    transform: &mut Box<dyn Transform>,
    batch: Batch,
    outputs: &Outputs,
    snapshot: &mut Snapshot,
    faults: &mut Faults,
) -> Result<u64, Closed> {
    snapshot.take(&batch);
    let shell = Batch {
        events: Vec::new().into(),
        members: Vec::new().into(),
        stream: batch.stream.clone(),
        // Held across the call: a batch dropped by the panicking transform
        // then does not report "not delivered"; the retry decides its fate.
        ack: batch.ack.clone(),
    };
    let attempt =
        std::panic::catch_unwind(AssertUnwindSafe(|| transform.process_into(batch, outputs)));
    let panic = match attempt {
        Ok(result) => {
            snapshot.release();
            faults.ok();
            return result;
        }
        Err(panic) => panic,
    };
    let mut retry = Retry::new(faults, outputs, &shell, panic_message(&*panic));
    for event in &snapshot.events {
        let mut one = retry.single(event.clone());
        one.members = snapshot.members.clone();
        match std::panic::catch_unwind(AssertUnwindSafe(|| transform.process_into(one, outputs))) {
            Ok(result) => retry.discarded += result?,
            Err(again) => retry.poison(event.clone(), &snapshot.members, panic_message(&*again))?,
        }
    }
    Ok(retry.finish())
}

/// The retry of one failed batch, event by event.
struct Retry<'a> {
    faults: &'a mut Faults,
    dead_letter: Option<&'a Output>,
    stream: Arc<crate::event::Stream>,
    ack: crate::event::AckToken,
    members: CowVec<Member>,
    message: String,
    discarded: u64,
    poisoned: u64,
}

impl<'a> Retry<'a> {
    fn new(
        faults: &'a mut Faults,
        outputs: &'a Outputs,
        batch: &Batch,
        message: String,
    ) -> Retry<'a> {
        Retry {
            faults,
            dead_letter: outputs.named(DEAD_LETTER).filter(|o| o.is_connected()),
            stream: batch.stream.clone(),
            ack: batch.ack.clone(),
            members: batch.members.clone(),
            message,
            discarded: 0,
            poisoned: 0,
        }
    }

    /// A batch of just `event` (the member arena of its batch, the same ack).
    fn single(&self, event: Event) -> Batch {
        Batch {
            events: vec![event].into(),
            members: self.members.clone(),
            stream: self.stream.clone(),
            ack: self.ack.clone(),
        }
    }

    /// `event` panicked alone: counted, logged, dead-lettered or dropped.
    fn poison(&mut self, event: Event, members: &[Member], message: String) -> Result<(), Closed> {
        self.poisoned += 1;
        let faults = &mut *self.faults;
        faults.failed(Instant::now(), &message);
        if let Some(suppressed) = faults.log.check() {
            tracing::error!(component = %faults.name, panic = %message, stream = %self.stream.origin(),
                offset = event.meta.offset, suppressed,
                dead_letter = self.dead_letter.is_some(),
                "transform panicked on an event: the rest of its batch goes on; the event is {}",
                if self.dead_letter.is_some() { "dead-lettered" } else { "dropped and counted" });
        }
        match self.dead_letter {
            Some(out) => {
                send_dead_letter(
                    out,
                    event,
                    members,
                    &self.stream,
                    &self.ack,
                    faults,
                    &message,
                )?;
                ComponentMetrics::add(&faults.dead_lettered, 1);
            }
            None => {
                self.discarded += 1;
                ComponentMetrics::add(&faults.dropped, 1);
            }
        }
        Ok(())
    }

    /// The events discarded; a batch that panicked although none of its events
    /// does alone is counted once.
    fn finish(self) -> u64 {
        if self.poisoned == 0 {
            self.faults.failed(Instant::now(), &self.message);
            if let Some(suppressed) = self.faults.log.check() {
                tracing::error!(component = %self.faults.name, panic = %self.message, stream = %self.stream.origin(), suppressed,
                    "transform panicked on a batch but on none of its events alone; they were sent on one by one");
            }
        }
        self.discarded
    }
}

fn send_dead_letter(
    out: &Output,
    event: Event,
    members: &[Member],
    stream: &Arc<crate::event::Stream>,
    ack: &crate::event::AckToken,
    faults: &Faults,
    message: &str,
) -> Result<(), Closed> {
    let mut batch = Batch {
        events: vec![event].into(),
        members: members.to_vec().into(),
        stream: stream.clone(),
        ack: ack.clone(),
    };
    let info = serde_json::json!({"component": &*faults.id, "error": message});
    let value = Value::Json(Bytes::from(info.to_string().into_bytes()));
    let key = Bytes::from_static(DEAD_LETTER_FIELD.as_bytes());
    for e in &mut batch.events {
        EventMut {
            event: e,
            members: &batch.members,
        }
        .set_key(&key, value.clone());
    }
    out.send(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_batch::json_batch_in;

    /// A router-like transform (takes the batch by value) with a bug on poison.
    struct Splitter;

    impl Transform for Splitter {
        fn process(&mut self, _batch: &mut Batch) {}
        fn splits(&self) -> bool {
            true
        }
        fn process_into(&mut self, batch: Batch, outputs: &Outputs) -> Result<u64, Closed> {
            assert!(
                !batch
                    .events
                    .iter()
                    .any(|e| e.line.windows(6).any(|w| w == b"POISON")),
                "router bug"
            );
            outputs.default_output().send(batch)?;
            Ok(0)
        }
    }

    #[test]
    fn a_splitting_transform_is_retried_from_its_copy_and_the_ack_completes() {
        let metrics = Arc::new(ComponentMetrics::default());
        let (main_tx, main_rx) = crossbeam_channel::unbounded();
        let (dead_tx, dead_rx) = crossbeam_channel::unbounded();
        let outputs = Outputs::new(
            Output::new(vec![main_tx], metrics.clone()),
            vec![(
                DEAD_LETTER.to_owned(),
                Output::new(vec![dead_tx], metrics.clone()),
            )],
        );
        let (ack_tx, ack_rx) = crossbeam_channel::unbounded();
        let stream = Arc::new(crate::event::Stream {
            source: "s".into(),
            path: None,
            id: 1,
        });
        let batch = json_batch_in(
            stream,
            crate::event::AckToken::new(1, 99, ack_tx),
            &[r#"{"n":0}"#, r#"{"n":1,"m":"POISON"}"#, r#"{"n":2}"#],
        );
        let mut t: Box<dyn Transform> = Box::new(Splitter);
        let mut faults = Faults::new(
            "transforms.r",
            "r".into(),
            metrics.clone(),
            Health::default(),
        );
        let mut snapshot = Snapshot::default();
        let discarded = process(&mut t, batch, &outputs, &mut snapshot, &mut faults).unwrap();
        assert_eq!(discarded, 0);
        let passed: Vec<String> = main_rx
            .try_iter()
            .flat_map(|b| {
                b.events
                    .into_iter()
                    .map(|e| String::from_utf8_lossy(&e.line).into_owned())
            })
            .collect();
        assert_eq!(passed, [r#"{"n":0}"#, r#"{"n":2}"#]);
        let dead: Vec<Batch> = dead_rx.try_iter().collect();
        assert_eq!(dead.len(), 1);
        let mut out = Vec::new();
        crate::event::encode::write_json(&dead[0].events[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["n"], 1);
        assert_eq!(v["_dead_letter"]["component"], "r");
        drop(dead);
        drop(snapshot);
        let ack = ack_rx.try_recv().unwrap();
        assert!(ack.delivered, "a dead-lettered poison batch counts as done");
        assert_eq!(ComponentMetrics::snapshot(&metrics).errors, 1);
    }
}
