//! The tailer: every file the source knows, driven one step at a time.
//!
//! [`Tailer::scan`] matches what the globs find against known files (by
//! device+inode and fingerprint), [`Tailer::step`] reads every open file one
//! turn, handles end-of-file (truncation, rotation, deletion, partial lines,
//! multiline timeouts) and applies acknowledgements, and
//! [`Tailer::write_checkpoint`] persists the acknowledged offsets. Nothing in
//! here sleeps or reads the clock: time is passed in, so tests drive it
//! synchronously (see `tests.rs` and `tests/tailer_model.rs`); the source's
//! thread loop is a thin wrapper in `../mod.rs`.
//!
//! One `impl Tailer` per job: identity resolution in `scan.rs` (scan,
//! consider, known_content, rebind, admit and the byte comparisons behind
//! them), descriptors in `open.rs`, reading and end of file in `read.rs`;
//! this file holds the state, acknowledgements and checkpoints.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use flate2::read::MultiGzDecoder;

use super::assemble::Assembler;
use super::checkpointer::Checkpointer;
use super::config::{FileSourceConfig, ReadFrom};
use super::discover::Discovery;
use super::identity::{
    FileId, Fingerprint, GZIP_MAGIC, GzipEnd, gzip_end, pread_at, pread_head, read_head,
    window_before,
};
use super::item::{Acks, Input, Item, Open, Stamp, State};
use crate::batcher::Batcher;
use crate::checkpoint::FileCheckpoint;
use logagent_codecs::framing::{LineReader, Oversize};
use logagent_core::event::Stream;
use logagent_core::event::ack::Ack;
use logagent_core::flow::{Closed, Output};
use logagent_core::kubelet::PodPath;
use logagent_core::telemetry::metrics::{ComponentMetrics, ERRORS_BY_TYPE, source_names};
use logagent_core::telemetry::ratelimit::RateLimiter;

mod open;
mod read;
mod scan;

use self::open::read_head_as;
#[cfg(test)]
use self::open::read_head_of;
use self::scan::tail_sample;

/// How long a file that holds the same bytes as a file being read (a copy in
/// progress, most likely: copytruncate) waits for that file's truncation
/// before being read as a file of its own.
const COPY_GRACE: Duration = Duration::from_secs(10);

/// While notifications are relied on, a symlinked file that stays unchanged
/// is polled less and less often, down to once per this many `poll_interval`s
/// (2s by default): notifications never report writes to a symlink's target.
const MAX_POLL_FACTOR: u32 = 8;

/// What an open file needs at a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Look {
    /// Nothing: at its end, unchanged as far as anything says.
    Skip,
    /// An `fstat` decides whether it gets a turn.
    Poll,
    /// A turn: something is due, or it is known to have changed.
    Turn,
}

/// How long a file of fewer than two bytes (it may yet turn out to be gzip),
/// or a gzip file that does not decode to a valid end (still being
/// compressed), must stay unchanged before it is read as it is.
const SETTLE: Duration = Duration::from_secs(10);

/// Bytes compared just before the shorter one's end to tell a copy of a live
/// file (the same bytes there) from a file that only shares its head.
const COPY_CHECK_BYTES: u64 = 4096;

/// Bytes sampled before where a file's reading stopped ([`Item::tail`]).
const TAIL_SAMPLE_BYTES: u64 = 128;

/// Size and modification time: what says a file changed without reading it.
type SizeMtime = (u64, Option<SystemTime>);

/// Why a file found by a scan is not read yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitFor {
    /// Fewer than two bytes: it may become gzip, so it is not read as text yet.
    Bytes,
    /// A gzip stream without a valid end yet.
    GzipEnd,
    /// The same bytes as the live file with this item id: a copy in progress;
    /// waits (at most [`COPY_GRACE`]) for that file's truncation.
    Truncation(u64),
    /// A copy of a file still being read (rotated away, or a compressed copy of
    /// a live file): its content is read there; this one waits for it to go.
    Original(u64),
}

/// A file held back by a scan, and since when.
#[derive(Debug)]
struct Waiting {
    path: PathBuf,
    why: WaitFor,
    /// When it started waiting for this reason.
    since: Instant,
    /// Its size and mtime when last looked at, and since when they are so.
    stamp: SizeMtime,
    stable_since: Instant,
    /// How its gzip stream ended at `stamp` (decoded once per change).
    gzip: Option<GzipEnd>,
    /// The wait is over (or cannot end by waiting): no fast rescan for it.
    settled: bool,
    /// The reason was logged.
    told: bool,
}

impl Waiting {
    /// Starts waiting now, for `why`, with the file at `stamp`.
    fn new(path: &Path, why: WaitFor, stamp: SizeMtime, now: Instant) -> Waiting {
        Waiting {
            path: path.to_path_buf(),
            why,
            since: now,
            stamp,
            stable_since: now,
            gzip: None,
            settled: false,
            told: false,
        }
    }
}

/// What a file's head says about content the tailer knows (see
/// [`Tailer::known_content`]).
enum Known {
    /// Nothing known: a file of its own.
    New,
    /// The content of this gone item, continued here.
    Continue(u64),
    /// A copy of a live file: wait.
    Wait,
}

/// How many entries the tailer's per-file maps hold (tests, diagnostics): each
/// is bounded by the files that exist plus, for `items`, the gone files whose
/// checkpoint has not expired (`checkpoint_retention`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// Known file contents (checkpoint entries).
    pub items: usize,
    /// Files found but held back (too short, gzip in progress, copies).
    pub waiting: usize,
    /// Cached per-path Kubernetes metadata.
    pub kubernetes: usize,
}

/// Everything the tailer needs besides its config.
pub struct TailerContext {
    /// The source's id (log fields, checkpoint file name, stream source).
    pub source: Arc<str>,
    /// Where checkpoints live.
    pub data_dir: PathBuf,
    /// The source's counters.
    pub metrics: Arc<ComponentMetrics>,
    /// Most events per batch.
    pub batch_max_events: usize,
    /// Most line bytes per batch.
    pub batch_max_bytes: usize,
    /// `--once`: a file at its end is finished (its last line sent) and closed.
    pub once: bool,
}

/// File-system calls the tailer made, by kind: the measure of what following
/// many files costs (tests bound them per idle file; see `Tailer::io_counts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounts {
    /// `read(2)` calls on open files (each fill of a reader).
    pub reads: u64,
    /// `fstat` of open descriptors.
    pub fstats: u64,
    /// `stat`/`lstat` by path outside the rescan's listing (rotation checks,
    /// symlink checks at open).
    pub path_stats: u64,
    /// `pread` of an open file's head, to tell a rewrite from an append
    /// (only after its size or mtime changed).
    pub head_reads: u64,
}

/// Follows the files of one source.
pub struct Tailer {
    config: FileSourceConfig,
    ctx: TailerContext,
    discovery: Discovery,
    items: HashMap<u64, Item>,
    next_seq: u64,
    ack_tx: Sender<Ack>,
    ack_rx: Receiver<Ack>,
    checkpointer: Checkpointer,
    kubernetes: HashMap<PathBuf, Option<Bytes>>,
    first_scan: bool,
    /// Some file could not be opened for lack of descriptors at the last scan.
    starved: bool,
    /// Files found but held back, and why.
    deferred: HashMap<FileId, Waiting>,
    /// A truncated file's new content waits for the next scan to be judged.
    rescan_soon: bool,
    /// `source_file_copies_total`.
    copies: Arc<std::sync::atomic::AtomicU64>,
    /// Errors of type `gzip_truncated` (part of `component_errors_total`).
    gzip_truncated: Arc<std::sync::atomic::AtomicU64>,
    log: RateLimiter,
    oversize_log: RateLimiter,
    /// "No file matches": at most once a minute while nothing does.
    empty_log: RateLimiter,
    /// Notifications are relied on (every watch is set up): unchanged files
    /// are then looked at only when named by one, at a rescan, or (for
    /// symlinked paths) by a polling period that grows while they stay idle.
    /// Otherwise every step polls every open file by `fstat`.
    notified: bool,
    /// Look at every open file at the next step (lost or overflowed
    /// notifications).
    wake_all: bool,
    /// Open items by path, for notifications (rebuilt after each rescan).
    by_path: HashMap<PathBuf, u64>,
    /// Open items that need a look at the next step even while nothing names
    /// them (just opened, woken, mid-read, a line or group waiting for its
    /// timeout): while notifications are relied on, only these are looked at,
    /// so a step costs what changed, not what is open.
    awake: HashSet<u64>,
    /// When the earliest poll of a symlinked file is due (a step then looks
    /// at every open file).
    next_look: Option<Instant>,
    /// Items whose acknowledgements or offsets moved since the last settle.
    touched: HashSet<u64>,
    /// A rescan may have changed any item: the next settle looks at all.
    settle_all: bool,
    /// Something a checkpoint holds may have changed since the last write (a
    /// rescan, a turn, an acknowledgement): idle, no checkpoint is rebuilt.
    checkpoint_dirty: bool,
    /// Items whose stream id may not be in a checkpoint on disk yet, so a step
    /// looks at these only, not at every item.
    unsaved: HashSet<u64>,
    io: IoCounts,
}

impl Tailer {
    /// A tailer for `config`, resuming from the source's checkpoint if any.
    pub fn new(config: &FileSourceConfig, ctx: TailerContext, now: Instant) -> Tailer {
        let (ack_tx, ack_rx) = crossbeam_channel::unbounded();
        let mut checkpointer = Checkpointer::new(
            ctx.data_dir.clone(),
            ctx.source.clone(),
            super::checkpointer::CommitPolicy {
                max_delay: config.checkpoint_interval.0,
                max_acks: config.checkpoint_max_acks,
            },
        );
        let saved = checkpointer.load();
        let copies = ctx
            .metrics
            .labeled
            .counter(source_names::FILE_COPIES_TOTAL, &[]);
        let gzip_truncated = ctx
            .metrics
            .labeled
            .counter(ERRORS_BY_TYPE, &[("error_type", "gzip_truncated")]);
        let mut t = Tailer {
            config: config.clone(),
            discovery: Discovery::new(&config.include, &config.exclude),
            ctx,
            items: HashMap::new(),
            next_seq: 0,
            ack_tx,
            ack_rx,
            checkpointer,
            kubernetes: HashMap::new(),
            first_scan: true,
            starved: false,
            deferred: HashMap::new(),
            rescan_soon: false,
            copies,
            gzip_truncated,
            log: RateLimiter::default(),
            oversize_log: RateLimiter::default(),
            empty_log: RateLimiter::new(std::time::Duration::from_secs(60)),
            notified: false,
            wake_all: false,
            by_path: HashMap::new(),
            awake: HashSet::new(),
            next_look: None,
            touched: HashSet::new(),
            settle_all: true,
            checkpoint_dirty: true,
            unsaved: HashSet::new(),
            io: IoCounts::default(),
        };
        for cp in saved {
            t.restore(cp, now);
        }
        t
    }

    fn restore(&mut self, cp: FileCheckpoint, now: Instant) {
        let file = FileId {
            dev: cp.dev,
            ino: cp.inode,
        };
        // The id saved with the entry, unless a damaged checkpoint repeats it.
        let saved_id = cp.stream.filter(|s| *s != 0 && !self.items.contains_key(s));
        let id = saved_id.unwrap_or_else(|| self.fresh_id());
        let seq = self.seq();
        let state = if cp.detached {
            State::Detached
        } else if cp.finished {
            State::Finished
        } else {
            State::Closed
        };
        self.items.insert(
            id,
            Item {
                id,
                seq,
                path: cp.path,
                file,
                fp: cp.fingerprint.as_deref().and_then(Fingerprint::decode),
                offset: cp.offset,
                acks: Acks::at(cp.offset),
                open: None,
                state,
                compressed: cp.compressed,
                last_seen: now,
                last_active: now,
                size_at_close: None,
                identity_saved: saved_id.is_some(),
                tail: cp.tail.as_deref().and_then(Fingerprint::decode),
            },
        );
        if saved_id.is_none() {
            self.unsaved.insert(id);
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A stream id for content never seen before: random (64 bits), so it
    /// is not given again to another content after a restart, whatever inode
    /// that content has. 0 is left out (detached tokens use it).
    fn fresh_id(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let state = std::collections::hash_map::RandomState::new();
        (0u64..)
            .map(|n| {
                let mut h = state.build_hasher();
                h.write_u64(n);
                h.write_u64(self.next_seq);
                h.finish()
            })
            .find(|id| *id != 0 && !self.items.contains_key(id))
            .unwrap_or(u64::MAX)
    }

    fn skip(&self) -> u64 {
        self.config.ignored_header_bytes.0
    }

    fn fp_bytes(&self) -> u64 {
        self.config.fingerprint_bytes.0
    }

    /// Number of files open now.
    pub fn open_files(&self) -> usize {
        self.items.values().filter(|i| i.open.is_some()).count()
    }

    /// Bytes between where each open file has been read and its end as last
    /// seen by `fstat` (compressed files, whose size says nothing, are left
    /// out): the `source_read_lag_bytes` gauge. No system call: a file that
    /// grew since it was last looked at shows up when it is looked at.
    pub fn read_lag_bytes(&self) -> u64 {
        self.items
            .values()
            .filter(|i| !i.compressed)
            .filter_map(|i| {
                let open = i.open.as_ref()?;
                Some(open.seen?.len.saturating_sub(open.read_pos()))
            })
            .sum()
    }

    /// The file-system calls made so far (tests, diagnostics).
    pub fn io_counts(&self) -> IoCounts {
        self.io
    }

    /// Whether notifications can be relied on to name changed files (the
    /// source's loop says so while every watch is set up). When not, every
    /// step polls every open file by `fstat`.
    pub fn set_notified(&mut self, reliable: bool) {
        if reliable != self.notified {
            self.notified = reliable;
            self.wake_all = true;
        }
    }

    /// A notification named `path`: the open file there is looked at next step.
    pub fn wake_path(&mut self, path: &Path) {
        let Some(id) = self.by_path.get(path) else {
            return;
        };
        if let Some(open) = self.items.get_mut(id).and_then(|i| i.open.as_mut()) {
            open.woken = true;
            self.awake.insert(*id);
        }
    }

    /// Notifications were lost (a full queue, an inotify overflow): every open
    /// file is looked at next step.
    pub fn wake_all(&mut self) {
        self.wake_all = true;
    }

    /// Open items by path, for [`Tailer::wake_path`]; the paths of items that
    /// no longer lead to them are woken, so the turn that follows notices the
    /// rotation (a symlink pointed elsewhere changes nothing `fstat` sees).
    fn index_paths(&mut self, at_path: &HashMap<&Path, FileId>) {
        self.by_path.clear();
        self.settle_all = true;
        self.checkpoint_dirty = true;
        for item in self.items.values_mut() {
            let Some(open) = item.open.as_mut() else {
                continue;
            };
            if item.state == State::Live && at_path.get(item.path.as_path()) != Some(&item.file) {
                open.woken = true;
                open.path_checked = None;
            }
            if open.woken {
                self.awake.insert(item.id);
            }
            self.by_path.insert(item.path.clone(), item.id);
        }
    }

    /// How long since the checkpoint was last current.
    pub fn checkpoint_age(&self, now: Instant) -> Duration {
        self.checkpointer.age(now)
    }

    /// True while the file with this identity is open (tests use it to know
    /// whether a delete may lose lines).
    pub fn is_open(&self, file: FileId) -> bool {
        self.items
            .values()
            .any(|i| i.file == file && i.open.is_some())
    }

    /// True when some files wait for a descriptor, or for the end of a bounded
    /// wait that only a rescan can end (their first bytes, a gzip stream's
    /// end, a copy's original's truncation): the loop then rescans every
    /// second (as it does while a watch is missing).
    pub fn wants_fast_rescan(&self) -> bool {
        self.starved || self.deferred.values().any(|w| !w.settled)
    }

    /// True when a scan should run now rather than at its interval: a file
    /// truncated while open has new content to judge, or a file seen empty got
    /// its first bytes (one `stat` per such file; usually there is none).
    pub fn wants_rescan(&mut self) -> bool {
        std::mem::take(&mut self.rescan_soon)
            || self.deferred.values().any(|w| {
                w.why == WaitFor::Bytes
                    && !w.settled
                    && fs::metadata(&w.path).is_ok_and(|m| m.len() != w.stamp.0)
            })
    }

    /// How many entries the per-file maps hold.
    pub fn tracked(&self) -> Tracked {
        Tracked {
            items: self.items.len(),
            waiting: self.deferred.len(),
            kubernetes: self.kubernetes.len(),
        }
    }

    // ---------------------------------------------------------------- scan

    /// Applies acknowledgements that came back.
    pub fn drain_acks(&mut self) {
        while let Ok(ack) = self.ack_rx.try_recv() {
            self.apply_ack(ack);
        }
    }

    /// Applies one acknowledgement (received by the caller, e.g. the source
    /// loop woken by it) and counts it toward the next group commit.
    pub fn apply_ack(&mut self, ack: Ack) {
        if let Some(item) = self.items.get_mut(&ack.stream) {
            if !ack.delivered && !item.acks.failed {
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), offset = ack.end_offset,
                    "a sink gave up on a batch; this file's checkpoint stays before it so a restart reads it again");
            }
            item.acks.ack(ack.end_offset, ack.delivered);
            self.touched.insert(ack.stream);
            self.checkpoint_dirty = true;
        }
        self.checkpointer.note_acks(1, Instant::now());
    }

    /// Where acknowledgements arrive: the source loop waits on it too, so a
    /// group commit is not delayed by an idle wait.
    pub fn ack_receiver(&self) -> Receiver<Ack> {
        self.ack_rx.clone()
    }

    /// Waits up to `timeout` for acknowledgements (shutdown).
    pub fn wait_acks(&mut self, timeout: Duration) {
        if let Ok(ack) = self.ack_rx.recv_timeout(timeout) {
            self.apply_ack(ack);
        }
        self.drain_acks();
        self.settle();
    }

    /// True when no batch is waiting for acknowledgement.
    pub fn all_acked(&self) -> bool {
        self.items.values().all(|i| !i.acks.in_flight())
    }

    /// True when no file is open (with `--once`: everything was read).
    pub fn nothing_open(&self) -> bool {
        self.open_files() == 0
    }

    /// Sends what is batched (stopping): lines held back stay unsent and
    /// unacknowledged, to be read whole by the next run.
    pub fn flush_batches(&mut self, out: &Output) -> Result<(), Closed> {
        for item in self.items.values_mut() {
            if let Some(o) = &mut item.open {
                o.batcher.flush(out)?;
            }
            item.collect_sent();
        }
        Ok(())
    }

    /// The earliest time a waiting line or group must be sent.
    /// Items with a waiting line or group stay awake, so while notifications
    /// are relied on only those are looked at; the next symlink poll counts.
    pub fn next_deadline(&self) -> Option<Instant> {
        let partial = self.config.partial_line_timeout.0;
        let opens: Box<dyn Iterator<Item = &Open>> = if self.notified && !self.wake_all {
            Box::new(
                self.awake
                    .iter()
                    .filter_map(|id| self.items.get(id))
                    .filter_map(|i| i.open.as_ref()),
            )
        } else {
            Box::new(self.items.values().filter_map(|i| i.open.as_ref()))
        };
        let polls = if self.notified { self.next_look } else { None };
        opens
            .flat_map(|o| {
                let p = (o.lines.pending() > 0).then(|| o.last_read + partial);
                [p, o.assembler.deadline()]
            })
            .flatten()
            .chain(polls)
            .min()
    }

    // ---------------------------------------------------------- checkpoints

    /// Writes the checkpoint if the group commit (or the periodic refresh) is
    /// due.
    pub fn checkpoint_if_due(&mut self, now: Instant) {
        if self.checkpointer.is_due(now) {
            self.write_checkpoint(now);
        }
    }

    /// When the next periodic checkpoint is due.
    pub fn next_checkpoint(&self) -> Option<Instant> {
        self.checkpointer.next_due()
    }

    /// Writes the checkpoint now (if anything changed). Returns whether the
    /// file on disk is up to date.
    pub fn write_checkpoint(&mut self, now: Instant) -> bool {
        self.drain_acks();
        if !self.checkpoint_dirty && self.checkpointer.unchanged(now) {
            return true;
        }
        let started = Instant::now();
        self.settle();
        // Samples of where open files' reading stands, for the entries to be
        // recognised by (one small read per file that moved since the last).
        for item in self.items.values_mut() {
            let Some(open) = &item.open else { continue };
            let offset = open.resume_offset();
            if item.tail.is_some_and(|t| t.skip + t.len == offset) {
                continue;
            }
            if let Some(t) = open
                .input
                .plain()
                .and_then(|f| tail_sample(f, offset, item.fp))
            {
                item.tail = Some(t);
            }
        }
        let mut items: Vec<&Item> = self.items.values().collect();
        items.sort_by_key(|i| i.seq);
        let files = items.iter().map(|i| i.checkpoint()).collect();
        let written = self.checkpointer.write(now, files, &self.ctx.metrics);
        self.checkpointer.note_cost(started.elapsed());
        if written {
            self.checkpoint_dirty = false;
        }
        written
    }

    /// The entries the next checkpoint would hold (tests, diagnostics).
    pub fn checkpoint_entries(&self) -> Vec<FileCheckpoint> {
        let mut items: Vec<&Item> = self.items.values().collect();
        items.sort_by_key(|i| i.seq);
        items.iter().map(|i| i.checkpoint()).collect()
    }
}

#[cfg(test)]
mod tests;
