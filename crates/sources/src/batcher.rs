//! Collects framed lines of one stream into batches bounded by events and bytes,
//! each with an acknowledgement token for the offset it ends at.

use std::sync::Arc;

use crossbeam_channel::Sender;

use logagent_codecs::framing::Line;
use logagent_core::event::ack::Ack;
use logagent_core::event::{AckToken, Batch, Event, Stream};
use logagent_core::flow::{Closed, Output};
use logagent_core::telemetry::metrics::ComponentMetrics;

/// Builds batches for one stream.
#[derive(Debug)]
pub struct Batcher {
    stream: Arc<Stream>,
    events: Vec<Event>,
    bytes: usize,
    end_offset: u64,
    max_events: usize,
    max_bytes: usize,
    acks: Sender<Ack>,
    /// End offsets of the batches sent, when the owner tracks them (see
    /// [`Batcher::tracking`]).
    flushed: Option<Vec<u64>>,
}

impl Batcher {
    /// A batcher for `stream` whose acknowledgements go to `acks`.
    pub fn new(
        stream: Arc<Stream>,
        max_events: usize,
        max_bytes: usize,
        acks: Sender<Ack>,
    ) -> Batcher {
        Batcher {
            stream,
            events: Vec::new(),
            bytes: 0,
            end_offset: 0,
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
            acks,
            flushed: None,
        }
    }

    /// Like [`Batcher::new`], and remembers the end offset of every batch sent
    /// until [`Batcher::take_flushed`] collects them: a source that must advance
    /// offsets in order needs to know which batches are in flight.
    pub fn tracking(
        stream: Arc<Stream>,
        max_events: usize,
        max_bytes: usize,
        acks: Sender<Ack>,
    ) -> Batcher {
        Batcher {
            flushed: Some(Vec::new()),
            ..Batcher::new(stream, max_events, max_bytes, acks)
        }
    }

    /// End offsets of the batches sent since the last call, in order.
    pub fn take_flushed(&mut self) -> impl Iterator<Item = u64> + '_ {
        self.flushed.iter_mut().flat_map(|f| f.drain(..))
    }

    /// Adds a line, sending the batch first if the line would overflow it.
    pub fn push(
        &mut self,
        line: Line,
        out: &Output,
        metrics: &ComponentMetrics,
    ) -> Result<(), Closed> {
        let end = line.end;
        let mut event = Event::new(line.bytes, line.offset);
        event.meta.truncated = line.truncated;
        self.push_event(event, end, out, metrics)
    }

    /// Adds an event built by the source (fields, time) whose data ends at
    /// stream offset `end`, sending the batch first if it would overflow.
    pub fn push_event(
        &mut self,
        event: Event,
        end: u64,
        out: &Output,
        metrics: &ComponentMetrics,
    ) -> Result<(), Closed> {
        if !self.events.is_empty() && self.bytes + event.line.len() > self.max_bytes {
            self.send(out, metrics)?;
        }
        self.bytes += event.line.len();
        self.end_offset = end;
        if self.events.capacity() == 0 {
            self.events.reserve_exact(self.max_events.min(4096));
        }
        self.events.push(event);
        if self.events.len() >= self.max_events {
            self.send(out, metrics)?;
        }
        Ok(())
    }

    /// Sends what has been collected, if anything (its lines counted as
    /// received by the output's component).
    pub fn flush(&mut self, out: &Output) -> Result<(), Closed> {
        self.send(out, out.metrics())
    }

    /// Sends the batch, counting its lines as received into `metrics`: once
    /// per batch, not per line (two atomic adds per line were measurable).
    fn send(&mut self, out: &Output, metrics: &ComponentMetrics) -> Result<(), Closed> {
        if self.events.is_empty() {
            return Ok(());
        }
        ComponentMetrics::add(&metrics.received_events, self.events.len() as u64);
        ComponentMetrics::add(&metrics.received_bytes, self.bytes as u64);
        let events = std::mem::take(&mut self.events);
        self.bytes = 0;
        if let Some(f) = &mut self.flushed {
            f.push(self.end_offset);
        }
        let batch = Batch {
            events: events.into(),
            members: Vec::new().into(),
            stream: self.stream.clone(),
            ack: AckToken::new(self.stream.id, self.end_offset, self.acks.clone()),
        };
        out.send(batch)
    }

    /// True when lines are waiting to be sent.
    pub fn has_pending(&self) -> bool {
        !self.events.is_empty()
    }

    /// The stream this batcher serves.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }
}
