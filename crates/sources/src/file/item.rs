//! One file's content as the tailer knows it: where it is, how far it was read
//! and acknowledged, and, while open, its reader.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use flate2::read::MultiGzDecoder;

use super::assemble::Assembler;
use super::identity::{FileId, Fingerprint};
use crate::batcher::Batcher;
use crate::checkpoint::FileCheckpoint;
use logagent_codecs::framing::LineReader;

/// Where an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Open, and its path still leads to it.
    Live,
    /// Open, but its path is gone or leads elsewhere (rotated or deleted): read
    /// to its end, held until acknowledged, then finished.
    Orphaned,
    /// Not open: known from a checkpoint, or closed for `max_open_files`;
    /// reopened where it stopped when seen again.
    Closed,
    /// Read to its end after it was rotated away or deleted (or, for `--once`,
    /// at the end of input).
    Finished,
    /// Its inode was truncated: the content it had is gone from there, and is
    /// remembered only so that a copy of it (copytruncate) resumes where
    /// reading stopped.
    Detached,
}

/// Sent batches of one item, and the acknowledged offset they add up to.
#[derive(Debug, Default)]
pub struct Acks {
    /// End offsets of batches in flight, in order, with whether each came back.
    pending: VecDeque<(u64, bool)>,
    /// Every byte before this was delivered everywhere (or deliberately dropped).
    pub acked: u64,
    /// A batch failed: `acked` stays where it was for the rest of the run, so a
    /// restart reads it again.
    pub failed: bool,
}

impl Acks {
    /// Starts at `offset` (already acknowledged in an earlier run).
    pub fn at(offset: u64) -> Acks {
        Acks {
            acked: offset,
            ..Acks::default()
        }
    }

    /// A batch ending at `end` was sent.
    pub fn sent(&mut self, end: u64) {
        self.pending.push_back((end, false));
    }

    /// A batch ending at `end` came back. Offsets only advance in order: to the
    /// end of the last batch of an unbroken run of acknowledged ones.
    pub fn ack(&mut self, end: u64, delivered: bool) {
        if let Some(slot) = self
            .pending
            .iter_mut()
            .find(|(e, done)| *e == end && !*done)
        {
            slot.1 = true;
        }
        if !delivered {
            self.failed = true;
        }
        while let Some(&(e, true)) = self.pending.front() {
            self.pending.pop_front();
            if !self.failed {
                self.acked = self.acked.max(e);
            }
        }
    }

    /// True while batches are in flight.
    pub fn in_flight(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Nothing in flight and nothing held: everything before `offset` was sent
    /// and acknowledged or deliberately dropped (oversize lines), so the
    /// acknowledged offset may move there.
    pub fn settle(&mut self, offset: u64) {
        if self.pending.is_empty() && !self.failed {
            self.acked = self.acked.max(offset);
        }
    }
}

/// What an open item reads from.
pub enum Input {
    /// A plain file.
    Plain(File),
    /// A gzip file, read once from the start through the decoder.
    Gzip(Box<MultiGzDecoder<File>>),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(f) => f.read(buf),
            Input::Gzip(d) => d.read(buf),
        }
    }
}

impl Input {
    /// The plain file, to stat it.
    pub fn plain(&self) -> Option<&File> {
        match self {
            Input::Plain(f) => Some(f),
            Input::Gzip(_) => None,
        }
    }
}

/// The reading state of an open item.
pub struct Open {
    /// What bytes come from.
    pub input: Input,
    /// Frames lines.
    pub lines: LineReader,
    /// Turns lines into events.
    pub assembler: Assembler,
    /// Collects events into batches.
    pub batcher: Batcher,
    /// The last read returned nothing.
    pub at_eof: bool,
    /// When bytes last arrived (for `partial_line_timeout`).
    pub last_read: Instant,
    /// Size and mtime at the last end-of-file check, to skip unchanged files.
    pub checked: Option<(u64, Option<SystemTime>)>,
    /// A gzip stream ended early (still being written, or corrupt).
    pub broken: bool,
    /// Opened as a new file while too short to be recognised (under two
    /// bytes): what arrives later may be a copy of known content or a gzip
    /// stream, judged again before anything of it is read.
    pub opened_empty: bool,
    /// What the last `fstat` said, so an unchanged file costs no read.
    pub seen: Option<Stamp>,
    /// The stamp when its path was last checked to still lead to it.
    pub path_checked: Option<Stamp>,
    /// A notification or a rescan says it changed: check it at the next step.
    pub woken: bool,
    /// Notifications cover it (its path is not a symlink, whose target's
    /// writes a directory watch never reports): no periodic polling needed.
    pub covered: bool,
    /// When to poll it by `fstat` next, while notifications are relied on.
    pub next_poll: Instant,
    /// The current polling period (doubles while the file stays unchanged).
    pub poll_every: std::time::Duration,
}

/// The parts of a file's `fstat` that change when it is written, truncated,
/// renamed or deleted: equal stamps mean there is nothing new to read and the
/// path needs no look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Size in bytes.
    pub len: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Status-change time: a rename or unlink changes it.
    pub ctime: (i64, i64),
    /// Number of links: 0 once deleted.
    pub nlink: u64,
}

impl Stamp {
    /// The stamp of `meta`.
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            nlink: meta.nlink(),
        }
    }

    /// The stamp of `meta` (size and modification time only).
    #[cfg(not(unix))]
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or((0, 0), |d| {
                (d.as_secs() as i64, i64::from(d.subsec_nanos()))
            });
        Stamp {
            len: meta.len(),
            mtime,
            ctime: (0, 0),
            nlink: 1,
        }
    }
}

impl Open {
    /// Offset from which reading would have to start again so that nothing
    /// held back is lost: the consumed offset, or the start of a held piece.
    pub fn resume_offset(&self) -> u64 {
        let consumed = self.lines.consumed_offset();
        self.assembler
            .held_start()
            .map_or(consumed, |h| h.min(consumed))
    }

    /// Offset of the next byte to read from the file.
    pub fn read_pos(&self) -> u64 {
        self.lines.consumed_offset() + self.lines.pending() as u64
    }

    /// True when nothing read is waiting to be sent.
    pub fn is_drained(&self) -> bool {
        self.lines.pending() == 0
            && self.assembler.held_start().is_none()
            && !self.batcher.has_pending()
    }
}

/// One file content known to the tailer.
pub struct Item {
    /// Stream id (acknowledgements find the item by it).
    pub id: u64,
    /// Creation order, for stable iteration and "newest wins".
    pub seq: u64,
    /// Where the file was last seen.
    pub path: PathBuf,
    /// Its device and inode.
    pub file: FileId,
    /// Fingerprint of its head, once it has bytes.
    pub fp: Option<Fingerprint>,
    /// Where reading resumes when it is not open.
    pub offset: u64,
    /// Acknowledgement tracking.
    pub acks: Acks,
    /// Present while open.
    pub open: Option<Open>,
    /// Where it stands.
    pub state: State,
    /// Gzip content; offsets count decompressed bytes.
    pub compressed: bool,
    /// When a scan last saw it (for `checkpoint_retention`).
    pub last_seen: Instant,
    /// When bytes were last read from it (for closing the least active first).
    pub last_active: Instant,
    /// File size when it was closed, to tell whether it changed since.
    pub size_at_close: Option<u64>,
    /// The checkpoint on disk holds this item's stream id with a fingerprint,
    /// so a restart finds the same id again. Lines are read only once it does
    /// (see `Tailer::save_new_identities`): a sink's ledger may record lines by
    /// stream id before the next periodic checkpoint.
    pub identity_saved: bool,
    /// A sample of the bytes before some offset it was read to (taken when it
    /// is closed and when checkpointed), which a copy of it must hold too.
    pub tail: Option<Fingerprint>,
}

impl Item {
    /// The resume offset, open or not.
    pub fn resume_offset(&self) -> u64 {
        self.open.as_ref().map_or(self.offset, Open::resume_offset)
    }

    /// Moves the end offsets of batches just sent into the ack tracker.
    pub fn collect_sent(&mut self) {
        if let Some(o) = &mut self.open {
            for end in o.batcher.take_flushed() {
                self.acks.sent(end);
            }
        }
    }

    /// The checkpoint entry: the acknowledged offset, never the read one.
    pub fn checkpoint(&self) -> FileCheckpoint {
        FileCheckpoint {
            path: self.path.clone(),
            dev: self.file.dev,
            inode: self.file.ino,
            fingerprint: self.fp.map(|f| f.encode()),
            offset: self.acks.acked,
            // Finished for good only once everything read was acknowledged:
            // otherwise a restart must read the rest again.
            finished: self.state == State::Finished
                && !self.acks.in_flight()
                && self.acks.acked >= self.offset,
            detached: self.state == State::Detached,
            compressed: self.compressed,
            stream: Some(self.id),
            tail: self.tail.map(|t| t.encode()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_advance_only_over_an_unbroken_run() {
        let mut a = Acks::at(10);
        a.sent(20);
        a.sent(30);
        a.sent(40);
        a.ack(30, true);
        assert_eq!(a.acked, 10, "20 is still in flight");
        a.ack(20, true);
        assert_eq!(a.acked, 30);
        a.ack(40, true);
        assert_eq!(a.acked, 40);
        assert!(!a.in_flight());
        a.settle(45);
        assert_eq!(a.acked, 45);
    }

    #[test]
    fn a_failed_batch_freezes_the_offset() {
        let mut a = Acks::at(0);
        a.sent(10);
        a.sent(20);
        a.ack(10, false);
        a.ack(20, true);
        assert_eq!(a.acked, 0);
        assert!(!a.in_flight());
        a.settle(20);
        assert_eq!(a.acked, 0);
    }

    #[test]
    fn repeated_end_offsets_are_matched_one_by_one() {
        let mut a = Acks::at(0);
        a.sent(5);
        a.sent(5);
        a.sent(9);
        a.ack(5, true);
        assert_eq!(a.acked, 5);
        assert!(a.in_flight());
        a.ack(5, true);
        a.ack(9, true);
        assert_eq!(a.acked, 9);
    }
}
