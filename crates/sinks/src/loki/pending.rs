//! A push request being assembled: rendered lines in one arena, entries grouped
//! by stream, and the acknowledgements of the batches they came from.
//!
//! Entries are sorted per stream when the request is sealed, and the policy for
//! entries older than what the stream already sent is applied then — the one
//! place where a stream's entries meet in send order.

use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;

use logagent_core::event::AckToken;

/// A stream's identity as sent: the label set in Loki's text form
/// (`{app="api", level="info"}`, for protobuf) and as pairs (for JSON).
#[derive(Debug)]
pub struct StreamLabels {
    /// `{name="value", ...}`, names sorted, values escaped as Go strings.
    pub text: Box<str>,
    /// The same labels as `(name, value)` pairs, sorted by name.
    pub pairs: Box<[(Box<str>, Box<str>)]>,
}

/// One log entry: its time and where its line and structured metadata are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub ts: i64,
    /// The line's bytes in [`Pending::arena`].
    pub line: (u32, u32),
    /// Its structured metadata pairs in [`Pending::pairs`].
    pub meta: (u32, u32),
}

/// A structured metadata `name=value` pair, both ranges of the arena.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// The name's bytes.
    pub name: (u32, u32),
    /// The value's bytes.
    pub value: (u32, u32),
}

/// Entries of one stream in a request.
#[derive(Debug)]
pub struct PendingStream {
    /// Index of the stream in the sink's stream table.
    pub stream: u32,
    /// Its labels.
    pub labels: Arc<StreamLabels>,
    /// Its entries, in arrival order until sealed, then by time.
    pub entries: Vec<Entry>,
}

/// What to do with an entry older than the newest its stream already sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfOrder {
    /// Send it as is: Loki ≥ 2.4 accepts it within its out-of-order window.
    #[default]
    Accept,
    /// Send it with the stream's newest timestamp, for Loki with ordered writes.
    RewriteTimestamp,
    /// Drop it (counted).
    Drop,
}

/// What applying the ordering policy did to one request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrderStats {
    /// Entries whose timestamp was moved up.
    pub rewritten: u64,
    /// Entries dropped for being too old.
    pub dropped: u64,
}

/// A request being filled.
#[derive(Debug, Default)]
pub struct Pending {
    /// Lines and metadata text.
    pub arena: Vec<u8>,
    /// Structured metadata pairs.
    pub pairs: Vec<Pair>,
    /// Entries grouped by stream; only the first `used` are live.
    pub streams: Vec<PendingStream>,
    /// Live streams in `streams` (the rest keep their capacity for reuse).
    pub used: usize,
    /// Entries held.
    pub events: usize,
    /// Estimated size of the encoded request.
    pub bytes: usize,
    /// Acknowledgements of the batches whose events are here.
    pub acks: Vec<AckToken>,
    /// The pipeline batch that last added an event (to take its token once).
    pub last_batch: u64,
    /// Identifies this filling of the request; stream slots from an earlier one are stale.
    pub generation: u64,
}

/// Bytes an entry costs besides its line and metadata, in the estimate.
pub const ENTRY_OVERHEAD: usize = 24;

impl Pending {
    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Adds a stream slot and returns its index.
    pub fn add_stream(&mut self, stream: u32, labels: Arc<StreamLabels>) -> u32 {
        self.bytes += labels.text.len() + 8;
        if let Some(slot) = self.streams.get_mut(self.used) {
            slot.stream = stream;
            slot.labels = labels;
            slot.entries.clear();
        } else {
            self.streams.push(PendingStream {
                stream,
                labels,
                entries: Vec::new(),
            });
        }
        self.used += 1;
        (self.used - 1) as u32
    }

    /// The live stream slots.
    pub fn live(&self) -> &[PendingStream] {
        &self.streams[..self.used]
    }

    /// The live stream slots, mutably.
    pub fn live_mut(&mut self) -> &mut [PendingStream] {
        &mut self.streams[..self.used]
    }

    /// Bytes of an arena range.
    pub fn text(&self, r: (u32, u32)) -> &[u8] {
        &self.arena[r.0 as usize..r.1 as usize]
    }

    /// The metadata pairs of an entry.
    pub fn meta(&self, e: &Entry) -> &[Pair] {
        &self.pairs[e.meta.0 as usize..e.meta.1 as usize]
    }

    /// Empties the request for the next filling, keeping its buffers (up to a
    /// sane size, so one huge request does not pin memory).
    pub fn reset(&mut self, generation: u64) {
        if self.arena.capacity() > 8 << 20 {
            self.arena = Vec::new();
        }
        self.arena.clear();
        self.pairs.clear();
        for s in &mut self.streams[..self.used] {
            s.entries.clear();
        }
        self.streams.truncate(64);
        self.used = 0;
        self.events = 0;
        self.bytes = 0;
        self.acks.clear();
        self.last_batch = u64::MAX;
        self.generation = generation;
    }
}

/// Sorts `entries` by time (stably: equal times keep arrival order) and applies
/// `policy` to those older than `last_sent`. Returns the new newest timestamp
/// of the stream.
pub fn order_entries(
    entries: &mut Vec<Entry>,
    last_sent: Option<i64>,
    policy: OutOfOrder,
    stats: &mut OrderStats,
) -> Option<i64> {
    if !entries.is_sorted_by_key(|e| e.ts) {
        entries.sort_by_key(|e| e.ts);
    }
    if let Some(last) = last_sent {
        let older = entries.partition_point(|e| e.ts < last);
        if older > 0 {
            match policy {
                OutOfOrder::Accept => {}
                OutOfOrder::RewriteTimestamp => {
                    for e in &mut entries[..older] {
                        e.ts = last;
                    }
                    stats.rewritten += older as u64;
                }
                OutOfOrder::Drop => {
                    entries.drain(..older);
                    stats.dropped += older as u64;
                }
            }
        }
    }
    let newest = entries.last().map(|e| e.ts);
    match (last_sent, newest) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The timestamps of `entries`, for tests.
#[cfg(test)]
pub fn times(entries: &[Entry]) -> Vec<i64> {
    entries.iter().map(|e| e.ts).collect()
}

/// A byte range of the arena as the `(start, end)` pair entries store.
pub fn span(r: Range<usize>) -> (u32, u32) {
    (r.start as u32, r.end as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(ts: &[i64]) -> Vec<Entry> {
        ts.iter()
            .enumerate()
            .map(|(i, &ts)| Entry {
                ts,
                line: (i as u32, i as u32 + 1),
                meta: (0, 0),
            })
            .collect()
    }

    #[test]
    fn sorts_stably_within_a_request() {
        let mut e = entries(&[5, 3, 5, 1]);
        let mut stats = OrderStats::default();
        let newest = order_entries(&mut e, None, OutOfOrder::Accept, &mut stats);
        assert_eq!(times(&e), vec![1, 3, 5, 5]);
        // The two entries at 5 keep their arrival order (lines 0 then 2).
        assert_eq!((e[2].line.0, e[3].line.0), (0, 2));
        assert_eq!(newest, Some(5));
        assert_eq!(stats, OrderStats::default());
    }

    #[test]
    fn older_than_last_sent_accept_rewrite_drop() {
        let mut stats = OrderStats::default();
        let mut e = entries(&[10, 2, 7, 12]);
        assert_eq!(
            order_entries(&mut e, Some(8), OutOfOrder::Accept, &mut stats),
            Some(12)
        );
        assert_eq!(times(&e), vec![2, 7, 10, 12]);

        let mut e = entries(&[10, 2, 7, 12]);
        assert_eq!(
            order_entries(&mut e, Some(8), OutOfOrder::RewriteTimestamp, &mut stats),
            Some(12)
        );
        assert_eq!(times(&e), vec![8, 8, 10, 12]);
        assert_eq!(stats.rewritten, 2);

        let mut e = entries(&[10, 2, 7, 12]);
        assert_eq!(
            order_entries(&mut e, Some(8), OutOfOrder::Drop, &mut stats),
            Some(12)
        );
        assert_eq!(times(&e), vec![10, 12]);
        assert_eq!(stats.dropped, 2);

        // Everything too old and dropped: the stream's newest stays.
        let mut e = entries(&[1, 2]);
        assert_eq!(
            order_entries(&mut e, Some(8), OutOfOrder::Drop, &mut stats),
            Some(8)
        );
        assert!(e.is_empty());
        // Equal to last sent is not older.
        let mut e = entries(&[8]);
        order_entries(&mut e, Some(8), OutOfOrder::Drop, &mut stats);
        assert_eq!(times(&e), vec![8]);
    }
}
