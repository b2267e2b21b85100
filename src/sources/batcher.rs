//! Collects framed lines of one stream into batches bounded by events and bytes,
//! each with an acknowledgement token for the offset it ends at.

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::codecs::framing::Line;
use crate::event::ack::Ack;
use crate::event::{AckToken, Batch, Event, Stream};
use crate::pipeline::{Closed, Output};
use crate::telemetry::metrics::ComponentMetrics;

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
        }
    }

    /// Adds a line, sending the batch first if the line would overflow it.
    pub fn push(
        &mut self,
        line: Line,
        out: &Output,
        metrics: &ComponentMetrics,
    ) -> Result<(), Closed> {
        if !self.events.is_empty() && self.bytes + line.bytes.len() > self.max_bytes {
            self.flush(out)?;
        }
        ComponentMetrics::add(&metrics.received_events, 1);
        ComponentMetrics::add(&metrics.received_bytes, line.bytes.len() as u64);
        self.bytes += line.bytes.len();
        self.end_offset = line.end;
        let mut event = Event::new(line.bytes, line.offset);
        event.meta.truncated = line.truncated;
        if self.events.capacity() == 0 {
            self.events.reserve_exact(self.max_events.min(4096));
        }
        self.events.push(event);
        if self.events.len() >= self.max_events {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Sends what has been collected, if anything.
    pub fn flush(&mut self, out: &Output) -> Result<(), Closed> {
        if self.events.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.events);
        self.bytes = 0;
        let batch = Batch {
            events,
            members: Vec::new(),
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
