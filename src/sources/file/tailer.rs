//! The tailer: every file the source knows, driven one step at a time.
//!
//! [`Tailer::scan`] matches what the globs find against known files (by
//! device+inode and fingerprint), [`Tailer::step`] reads every open file one
//! turn, handles end-of-file (truncation, rotation, deletion, partial lines,
//! multiline timeouts) and applies acknowledgements, and
//! [`Tailer::write_checkpoint`] persists the acknowledged offsets. Nothing in
//! here sleeps or reads the clock: time is passed in, so tests drive it
//! synchronously (see `tests` below and `tests/tailer_model.rs`); the source's
//! thread loop is a thin wrapper in `mod.rs`.

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
use super::kubernetes::PodMeta;
use crate::checkpoint::FileCheckpoint;
use crate::codecs::framing::{LineReader, Oversize};
use crate::event::Stream;
use crate::event::ack::Ack;
use crate::pipeline::{Closed, Output};
use crate::sources::batcher::Batcher;
use crate::telemetry::metrics::{ComponentMetrics, ERRORS_BY_TYPE, source_names};
use crate::telemetry::ratelimit::RateLimiter;

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

    /// Matches the files the globs find now against what is known, opening new
    /// ones and reopening known ones where they stopped. Returns how many were
    /// opened. Open files are first checked for truncation, so that content
    /// found elsewhere is compared with what they hold now.
    pub fn scan(&mut self, now: Instant, out: &Output) -> Result<usize, Closed> {
        let open_ids: Vec<u64> = self
            .items
            .values()
            .filter(|i| i.open.is_some() && !i.compressed)
            .map(|i| i.id)
            .collect();
        for id in open_ids {
            if self.truncated_since_last_read(id, None) {
                self.truncated(id, now, out)?;
            }
        }
        let source = self.ctx.source.clone();
        let log = &self.log;
        let found = self.discovery.scan(|pattern, error| {
            if log.check().is_some() {
                tracing::warn!(component = %source, pattern, %error, "cannot read a path matched by include");
            }
        });
        let first = std::mem::replace(&mut self.first_scan, false);
        let mut candidates = Vec::with_capacity(found.len());
        let mut at_path: HashMap<&Path, FileId> = HashMap::new();
        let mut seen: HashMap<FileId, &Path> = HashMap::new();
        for path in &found {
            let Ok(meta) = fs::metadata(path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let id = FileId::of(&meta);
            at_path.insert(path, id);
            seen.insert(id, path);
            candidates.push((path.clone(), id, meta));
        }
        // Open files: follow renames, keep them marked as seen.
        let open: HashMap<FileId, u64> = self
            .items
            .values()
            .filter(|i| i.open.is_some())
            .map(|i| (i.file, i.id))
            .collect();
        self.starved = false;
        // Heads of the files not open, read once: first to notice known
        // contents that left their inode (truncated while closed, inode reused),
        // so that a copy of them elsewhere is recognised whatever the order of
        // the paths; then to decide about each file.
        let want = self.skip() + self.fp_bytes();
        let mut heads: Vec<Option<(Vec<u8>, bool)>> = Vec::with_capacity(candidates.len());
        for (path, file, _) in &candidates {
            if open.contains_key(file) {
                heads.push(None);
                continue;
            }
            match read_head_of(path, want) {
                Ok((head, gz)) => {
                    for item in self.items.values_mut() {
                        if item.open.is_none()
                            && item.file == *file
                            && item.state != State::Detached
                            && (item.compressed != gz || item.fp.is_some_and(|f| !f.matches(&head)))
                        {
                            item.state = State::Detached;
                        }
                    }
                    heads.push(Some((head, gz)));
                }
                Err(error) => {
                    if self.log.check().is_some() {
                        tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot open file");
                    }
                    ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                    heads.push(None);
                }
            }
        }
        let mut opened = 0;
        for ((path, file, meta), head) in candidates.into_iter().zip(heads) {
            if let Some(id) = open.get(&file) {
                if let Some(item) = self.items.get_mut(id) {
                    item.last_seen = now;
                    if at_path.get(item.path.as_path()) != Some(&file) {
                        tracing::debug!(component = %self.ctx.source, from = %item.path.display(), to = %path.display(), "file renamed");
                        item.path = path;
                        if item.state == State::Orphaned {
                            item.state = State::Live;
                        }
                    }
                }
                continue;
            }
            let Some((head, gz)) = head else { continue };
            if self.consider(&path, file, &meta, &head, gz, first, now, &seen) {
                opened += 1;
            }
        }
        self.index_paths(&at_path);
        // Known files nobody has seen for a long time are forgotten, and with
        // them whatever else is kept per file: nothing grows with file churn.
        let retention = self.config.checkpoint_retention.0;
        self.items.retain(|_, i| {
            i.open.is_some()
                || i.acks.in_flight()
                || now.saturating_duration_since(i.last_seen) < retention
        });
        let open_now: HashSet<FileId> = self
            .items
            .values()
            .filter(|i| i.open.is_some())
            .map(|i| i.file)
            .collect();
        self.deferred
            .retain(|f, _| seen.contains_key(f) && !open_now.contains(f));
        if !self.kubernetes.is_empty() {
            let paths: HashSet<&Path> = self.items.values().map(|i| i.path.as_path()).collect();
            self.kubernetes.retain(|p, _| paths.contains(p.as_path()));
        }
        Ok(opened)
    }

    /// Decides what to do with a file that is not open. Returns true if it was opened.
    #[allow(clippy::too_many_arguments)]
    fn consider(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        gz: bool,
        first_scan: bool,
        now: Instant,
        seen: &HashMap<FileId, &Path>,
    ) -> bool {
        let old = self.ignore_older_than_says_old(meta);

        // An entry that never read a byte knows nothing about its file: once
        // the file has content, forget it, so an inode reused by another file
        // (a copy, perhaps) is judged afresh.
        if !head.is_empty() {
            self.items.retain(|_, i| {
                !(i.file == file
                    && i.open.is_none()
                    && i.fp.is_none()
                    && i.offset == 0
                    && !i.acks.in_flight())
            });
        }

        // (a) The same inode, known and not open: resume it.
        let same = self
            .items
            .values()
            .filter(|i| {
                i.open.is_none()
                    && i.file == file
                    && i.state != State::Detached
                    && i.compressed == gz
                    && i.fp.is_none_or(|f| f.matches(head))
            })
            .max_by_key(|i| i.seq)
            .map(|i| i.id);
        if let Some(id) = same {
            let Some(item) = self.items.get_mut(&id) else {
                return false;
            };
            item.last_seen = now;
            item.path = path.to_path_buf();
            let size = meta.len();
            let changed = item.size_at_close != Some(size);
            match item.state {
                // Finished stays finished unless a writer still appends to it.
                State::Finished if gz || size <= item.offset || !changed => {
                    item.size_at_close = Some(size);
                    return false;
                }
                // Closed for max_open_files: reopened once it changes.
                State::Closed if item.size_at_close.is_some() && !changed => return false,
                _ => {}
            }
        }
        // The same inode and head, but not the bytes before where reading
        // stopped: the inode was reused by a file that begins the same way
        // (checked only when about to resume, not at every scan).
        let same = match same {
            Some(id)
                if self
                    .items
                    .get(&id)
                    .and_then(|i| i.tail)
                    .is_some_and(|t| !holds_sample(path, gz, t)) =>
            {
                if let Some(item) = self.items.get_mut(&id) {
                    item.state = State::Detached;
                }
                None
            }
            other => other,
        };
        // Nothing is read as text before it is known not to be gzip, nor a
        // gzip stream before it is complete.
        if !self.admit(path, file, meta, gz, now) {
            return false;
        }
        if let Some(id) = same {
            let fp_bytes = self.fp_bytes();
            let skip = self.skip();
            let Some(item) = self.items.get_mut(&id) else {
                return false;
            };
            let size = meta.len();
            if !gz && size < item.offset {
                // Truncated while not open: its old content is gone.
                tracing::warn!(component = %self.ctx.source, path = %path.display(), size, offset = item.offset,
                    "file is shorter than its checkpoint (truncated while closed); reading it from the start");
                item.state = State::Detached;
                return self.open_new(path, file, head, gz, 0, now);
            }
            if old {
                return false;
            }
            if item.fp.is_none_or(|f| !f.is_full(fp_bytes)) {
                if let Some(f) = Fingerprint::of_head(head, skip, fp_bytes) {
                    item.fp = Some(f);
                }
            }
            return self.reopen(id, now);
        }

        // (b) Another inode whose head is content we know.
        if let Some(fp) = Fingerprint::of_head(head, self.skip(), self.fp_bytes()) {
            match self.known_content(path, file, meta, head, gz, now, seen) {
                Known::Wait => return false,
                Known::Continue(id) => return self.rebind(id, path, file, meta, head, gz, fp, now),
                Known::New => {}
            }
        }

        // (c) A file never seen.
        if old {
            return false;
        }
        let start = if first_scan && self.config.read_from == ReadFrom::End && self.ctx.once {
            // `--once` with read_from = end has nothing to read in old files.
            return false;
        } else if first_scan && self.config.read_from == ReadFrom::End {
            if gz {
                // Its content predates the agent, like what `end` skips of a
                // plain file: known from now on, and finished (else the next
                // scan would take it for a new file and read it).
                self.known_unread_gzip(path, file, meta, head, now);
                return false;
            }
            meta.len()
        } else {
            0
        };
        self.open_new(path, file, head, gz, start, now)
    }

    /// Whether a file may be read now, as what its content says it is. A file
    /// of fewer than two bytes may yet become gzip (a compressor creates its
    /// output empty): it waits for more bytes, or for [`SETTLE`] without
    /// change. A gzip file is decoded to its end first (once per change of
    /// size or mtime): a stream still being written waits; one that stays cut
    /// short for [`SETTLE`] is read as far as it is valid (see
    /// [`Tailer::at_eof`]). With `--once` everything is read as it is.
    fn admit(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        gz: bool,
        now: Instant,
    ) -> bool {
        if self.ctx.once {
            return true;
        }
        let why = if gz {
            WaitFor::GzipEnd
        } else if meta.len() < GZIP_MAGIC.len() as u64 {
            WaitFor::Bytes
        } else {
            if self
                .deferred
                .get(&file)
                .is_some_and(|w| matches!(w.why, WaitFor::Bytes | WaitFor::GzipEnd))
            {
                self.deferred.remove(&file);
            }
            return true;
        };
        let stamp = (meta.len(), meta.modified().ok());
        let w = self.deferred.entry(file).or_insert_with(|| Waiting {
            path: path.to_path_buf(),
            why,
            since: now,
            stamp,
            stable_since: now,
            gzip: None,
            settled: false,
            told: false,
        });
        w.path = path.to_path_buf();
        if w.why != why || w.stamp != stamp {
            if w.why != why {
                w.since = now;
            }
            w.why = why;
            w.stamp = stamp;
            w.stable_since = now;
            w.gzip = None;
            w.settled = false;
        }
        if w.settled {
            return true;
        }
        let stable = now.saturating_duration_since(w.stable_since) >= SETTLE;
        if why == WaitFor::Bytes {
            w.settled = stable;
            return stable;
        }
        let end = match w.gzip {
            Some(end) => end,
            None => match gzip_end(path) {
                Ok(end) => *w.gzip.insert(end),
                Err(error) => {
                    if self.log.check().is_some() {
                        tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot read gzip file; will retry");
                    }
                    return false;
                }
            },
        };
        match end {
            GzipEnd::Complete(_) => {
                w.settled = true;
                true
            }
            GzipEnd::Truncated(valid) if stable => {
                tracing::warn!(component = %self.ctx.source, path = %path.display(), size = meta.len(), valid_bytes = valid,
                    "gzip stream ends early and has not changed for {}s; reading it as far as it is valid", SETTLE.as_secs());
                w.settled = true;
                true
            }
            GzipEnd::Truncated(_) => {
                if !w.told {
                    w.told = true;
                    tracing::debug!(component = %self.ctx.source, path = %path.display(), "gzip file still being written; waiting for its end");
                }
                false
            }
        }
    }

    /// A file on a new inode whose head matches content the tailer knows. Two
    /// files that exist at once on distinct inodes are distinct files whatever
    /// their content: the fingerprint links a file only to content that is
    /// gone from its old identity (truncated away, its inode gone: moved,
    /// compressed, deleted). A live file with a matching head is compared
    /// further: when the new file holds the same bytes just before the shorter
    /// one's end, it is a copy in progress (copytruncate) and waits, at most
    /// [`COPY_GRACE`], for the original's truncation; a compressed copy, or a
    /// copy of a file rotated away and still being read, waits for the original
    /// to be gone. A plain file shorter than the fingerprint never waits.
    #[allow(clippy::too_many_arguments)]
    fn known_content(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        gz: bool,
        now: Instant,
        seen: &HashMap<FileId, &Path>,
    ) -> Known {
        let fp_bytes = self.fp_bytes();
        let short = !gz && meta.len() < self.skip() + fp_bytes;
        let mut matching: Vec<&Item> = self
            .items
            .values()
            // (A detached entry may even have had this inode, for compressed
            // content: inode numbers are reused. Plain content at the inode
            // it was truncated away from is that inode's new content.)
            .filter(|i| i.file != file || (gz && i.state == State::Detached))
            .filter(|i| {
                i.fp.is_some_and(|f| {
                    f.matches(head) && (f.is_full(fp_bytes) || i.state == State::Detached || gz)
                })
            })
            .collect();
        matching.sort_by_key(|i| std::cmp::Reverse(i.seq));
        // Gone content this file holds, best first: verified by the sample of
        // the bytes before where its reading stopped; truncated away (the
        // copytruncate this entry is kept for); gone without a sample (an
        // entry of an older checkpoint). A copy of a live file ranks between
        // the last two: it waits.
        let mut verified = None;
        let mut detached = None;
        let mut unverified = None;
        let mut original = None;
        let mut raced = false;
        for i in matching {
            let live =
                i.state != State::Detached && (i.open.is_some() || seen.contains_key(&i.file));
            if !live {
                if i.resume_offset() == 0 && i.tail.is_none() {
                    // Nothing known was read of it: continuing it is reading
                    // from the start, and says nothing about what this is.
                    continue;
                }
                match i.tail {
                    Some(t) => {
                        if verified.is_none() && holds_sample(path, gz, t) {
                            verified = Some(i.id);
                        }
                    }
                    None if i.state == State::Detached => detached = detached.or(Some(i.id)),
                    None => unverified = unverified.or(Some(i.id)),
                }
                continue;
            }
            if short || original.is_some() {
                continue;
            }
            if holds_copy_of(path, gz, i, seen.get(&i.file).copied()) {
                let bounded = !gz && i.state == State::Live;
                original = Some((i.id, i.path.clone(), bounded));
            } else if !gz && shrunk_below_read(i, seen.get(&i.file).copied()) {
                // Truncated after this scan checked it and before this copy
                // was compared (copytruncate's copy then truncation, between
                // two of our steps): its content is gone from it, which the
                // next scan records first; this file is judged then.
                raced = true;
            }
        }
        if let Some(id) = verified.or(detached) {
            return Known::Continue(id);
        }
        if raced && original.is_none() {
            self.rescan_soon = true;
            return Known::Wait;
        }
        let Some((of, of_path, bounded)) = original else {
            return unverified.map_or(Known::New, Known::Continue);
        };
        let why = if bounded {
            WaitFor::Truncation(of)
        } else {
            WaitFor::Original(of)
        };
        let stamp = (meta.len(), meta.modified().ok());
        let w = self.deferred.entry(file).or_insert_with(|| Waiting {
            path: path.to_path_buf(),
            why,
            since: now,
            stamp,
            stable_since: now,
            gzip: None,
            settled: false,
            told: false,
        });
        if gz {
            // The gzip entry keeps its verdict; it waits without a deadline.
            w.settled = true;
            if !w.told {
                w.told = true;
                tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
                    "compressed copy of a file still being read; its lines are read there, this one waits for it to go");
            }
            return Known::Wait;
        }
        if w.why != why {
            w.why = why;
            w.since = now;
            w.settled = false;
            w.told = false;
        }
        if !bounded {
            w.settled = true;
            if !w.told {
                w.told = true;
                tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
                    "copy of a file rotated away and still being read; waiting for that one to be read to its end");
            }
            return Known::Wait;
        }
        if now.saturating_duration_since(w.since) < COPY_GRACE {
            if !w.told {
                w.told = true;
                tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
                    "same bytes as a file being read: a copy in progress (copytruncate)? waiting up to {}s for the original's truncation",
                    COPY_GRACE.as_secs());
            }
            return Known::Wait;
        }
        w.settled = true;
        tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
            "the file it looked copied from was not truncated; reading it as a file of its own");
        Known::New
    }

    /// Records a gzip file `read_from = end` leaves unread as read to its end
    /// (its decompressed length, known from `admit`).
    fn known_unread_gzip(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        now: Instant,
    ) {
        let end = match self.deferred.get(&file).and_then(|w| w.gzip) {
            Some(GzipEnd::Complete(n) | GzipEnd::Truncated(n)) => n,
            None => 0,
        };
        let id = self.fresh_id();
        let seq = self.seq();
        self.items.insert(
            id,
            Item {
                id,
                seq,
                path: path.to_path_buf(),
                file,
                fp: Fingerprint::of_head(head, self.skip(), self.fp_bytes()),
                offset: end,
                acks: Acks::at(end),
                open: None,
                state: State::Finished,
                compressed: true,
                last_seen: now,
                last_active: now,
                size_at_close: Some(meta.len()),
                identity_saved: false,
                tail: None,
            },
        );
    }

    fn ignore_older_than_says_old(&self, meta: &fs::Metadata) -> bool {
        let Some(limit) = &self.config.ignore_older_than else {
            return false;
        };
        meta.modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > limit.0)
    }

    /// Content known under another identity continues at this one.
    #[allow(clippy::too_many_arguments)]
    fn rebind(
        &mut self,
        id: u64,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        gz: bool,
        fp: Fingerprint,
        now: Instant,
    ) -> bool {
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        let offset = item.resume_offset();
        if !gz && meta.len() < offset {
            // Shares the head but is shorter than what was read: not a copy.
            return self.open_new(path, file, head, gz, 0, now);
        }
        tracing::info!(component = %self.ctx.source, from = %item.path.display(), to = %path.display(), offset,
            "known content found in another file (copied, moved or compressed); continuing where it stopped");
        ComponentMetrics::add(&self.copies, 1);
        item.path = path.to_path_buf();
        item.file = file;
        item.compressed = gz;
        item.offset = offset;
        item.state = State::Closed;
        item.size_at_close = None;
        item.last_seen = now;
        if item.fp.is_none_or(|f| f.len < fp.len) {
            item.fp = Some(fp);
        }
        self.reopen(id, now)
    }

    fn open_new(
        &mut self,
        path: &Path,
        file: FileId,
        head: &[u8],
        gz: bool,
        start: u64,
        now: Instant,
    ) -> bool {
        let id = self.fresh_id();
        let seq = self.seq();
        self.items.insert(
            id,
            Item {
                id,
                seq,
                path: path.to_path_buf(),
                file,
                fp: Fingerprint::of_head(head, self.skip(), self.fp_bytes()),
                offset: start,
                acks: Acks::at(start),
                open: None,
                state: State::Closed,
                compressed: gz,
                last_seen: now,
                last_active: now,
                size_at_close: None,
                identity_saved: false,
                tail: None,
            },
        );
        self.unsaved.insert(id);
        let starved = std::mem::replace(&mut self.starved, false);
        if self.reopen(id, now) {
            self.starved = starved;
            if let Some(open) = self.items.get_mut(&id).and_then(|i| i.open.as_mut()) {
                open.opened_empty = head.len() < GZIP_MAGIC.len();
            }
            return true;
        }
        if self.starved {
            // No descriptor free: it stays known as what it was judged (a file
            // of its own, read from `start`), opened by a later scan; so a
            // copy of it seen meanwhile is recognised as one.
            return false;
        }
        self.starved = starved;
        // Gone (or unreadable): nothing is known about it yet, so the next
        // scan decides afresh rather than by a stale entry.
        self.items.remove(&id);
        false
    }

    /// Opens a known item at its resume offset, making room if needed.
    fn reopen(&mut self, id: u64, now: Instant) -> bool {
        if self.open_files() >= self.config.max_open_files && !self.close_least_active(id) {
            self.starved = true;
            return false;
        }
        let Some(item) = self.items.get(&id) else {
            return false;
        };
        let (path, file, offset, gz) = (item.path.clone(), item.file, item.offset, item.compressed);
        let input = match open_input(&path, file, offset, gz) {
            Ok(Some(input)) => input,
            Ok(None) => {
                // Replaced between the scan and the open; the next scan sees it.
                return false;
            }
            Err(OpenError::GzipShorter) => {
                if let Some(item) = self.items.get_mut(&id) {
                    item.state = State::Finished;
                    item.size_at_close = fs::metadata(&path).ok().map(|m| m.len());
                }
                return false;
            }
            Err(OpenError::Io(error)) => {
                ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                if self.log.check().is_some() {
                    tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot open file; will retry");
                }
                if let Some(item) = self.items.get_mut(&id) {
                    item.size_at_close = None;
                }
                return false;
            }
        };
        let open = self.new_open(id, &path, input, offset, now);
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        tracing::info!(component = %self.ctx.source, path = %path.display(), offset, compressed = gz, "following file");
        item.open = Some(open);
        item.state = State::Live;
        item.last_active = now;
        true
    }

    fn new_open(&mut self, id: u64, path: &Path, input: Input, offset: u64, now: Instant) -> Open {
        let kubernetes = if self.config.kubernetes_metadata {
            self.kubernetes
                .entry(path.to_path_buf())
                .or_insert_with(|| PodMeta::from_path(path).map(|m| Bytes::from(m.to_json())))
                .clone()
        } else {
            None
        };
        let stream = Arc::new(Stream {
            source: self.ctx.source.clone(),
            path: Some(path.to_path_buf()),
            id,
        });
        let max_line = self.config.max_line_bytes.as_usize();
        self.io.path_stats += 1;
        let covered = fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink());
        self.awake.insert(id);
        Open {
            input,
            lines: LineReader::new(
                self.config.read_buffer.as_usize(),
                max_line,
                Oversize::from(self.config.oversize_lines),
                offset,
            ),
            assembler: Assembler::new(
                self.config.format,
                self.config.multiline.as_ref(),
                kubernetes,
                max_line,
            ),
            batcher: Batcher::tracking(
                stream,
                self.ctx.batch_max_events,
                self.ctx.batch_max_bytes,
                self.ack_tx.clone(),
            ),
            at_eof: false,
            last_read: now,
            checked: None,
            broken: false,
            opened_empty: false,
            seen: None,
            path_checked: None,
            woken: true,
            covered,
            next_poll: now,
            poll_every: self.config.poll_interval.0,
        }
    }

    /// Closes the least recently active open file that is at its end and can be
    /// reopened later without loss (not `except`, not rotated away). Returns
    /// whether one was; if none, the file waiting for a descriptor waits for
    /// the next scan (files being read are never closed for it).
    fn close_least_active(&mut self, except: u64) -> bool {
        let mut victims: Vec<(Instant, u64)> = self
            .items
            .values()
            .filter(|i| i.id != except && i.state == State::Live && !i.compressed)
            .filter_map(|i| i.open.as_ref().map(|o| (i, o)))
            .filter(|(_, o)| o.at_eof && o.is_drained())
            .map(|(i, _)| (i.last_active, i.id))
            .collect();
        victims.sort_unstable();
        for (_, id) in victims {
            let Some(item) = self.items.get_mut(&id) else {
                continue;
            };
            // Closing is safe only if the path still leads to the file (so it
            // can be found again) and nothing was written since it was read.
            self.io.path_stats += 1;
            let at_path = fs::metadata(&item.path).is_ok_and(|m| FileId::of(&m) == item.file);
            if !at_path {
                item.state = State::Orphaned;
                continue;
            }
            self.io.fstats += 1;
            let unread = item.open.as_ref().is_some_and(|o| {
                o.input
                    .plain()
                    .and_then(|f| f.metadata().ok())
                    .is_none_or(|m| m.len() != o.read_pos())
            });
            if unread {
                continue;
            }
            self.close(id, State::Closed);
            return true;
        }
        false
    }

    /// Closes an open item; what is held back will be read again.
    fn close(&mut self, id: u64, state: State) {
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        item.collect_sent();
        if let Some(open) = item.open.take() {
            item.offset = open.resume_offset();
            if let Some(t) = open
                .input
                .plain()
                .and_then(|f| tail_sample(f, item.offset, item.fp))
            {
                item.tail = Some(t);
            }
            // Only a file read to its end may stay closed until it changes
            // (its size differs from what was read).
            item.size_at_close =
                (open.lines.pending() == 0 && !item.compressed).then(|| open.read_pos());
        }
        item.state = state;
        tracing::debug!(component = %self.ctx.source, path = %item.path.display(), offset = item.offset, ?state, "closed file");
    }

    // ---------------------------------------------------------------- step

    /// Gives a turn to every open file that may have something to do, handles
    /// their ends, and applies the acknowledgements that came back. Returns
    /// whether anything was read or changed state.
    ///
    /// A file at its end with nothing due costs nothing unless it may have
    /// changed: named by a notification or a rescan, or polled (every step
    /// without reliable notifications, else only symlinked paths, less often
    /// while they stay idle); a poll is one `fstat`, and a file whose stamp did
    /// not change is not read.
    pub fn step(&mut self, now: Instant, out: &Output) -> Result<bool, Closed> {
        self.drain_acks();
        self.save_new_identities(now, out)?;
        let wake_all = std::mem::take(&mut self.wake_all);
        // Every open file is looked at without reliable notifications, after
        // lost ones, or when a symlinked file's poll is due; else only those
        // something asked for.
        let full = wake_all || !self.notified || self.next_look.is_some_and(|t| now >= t);
        let awake = std::mem::take(&mut self.awake);
        let mut ids: Vec<(u64, u64, Look)> = Vec::new();
        let mut still_awake = Vec::new();
        let mut consider = |item: &Item, look: Look| match look {
            Look::Skip
                if item
                    .open
                    .as_ref()
                    .is_some_and(|o| self.keeps_awake(item, o)) =>
            {
                still_awake.push(item.id);
            }
            Look::Skip => {}
            look => ids.push((item.seq, item.id, look)),
        };
        if full {
            for item in self.items.values() {
                consider(item, self.look(item, now, wake_all));
            }
        } else {
            for item in awake.iter().filter_map(|id| self.items.get(id)) {
                consider(item, self.look(item, now, false));
            }
        }
        self.awake.extend(still_awake);
        ids.sort_unstable_by_key(|(seq, _, _)| *seq);
        self.checkpoint_dirty |= !ids.is_empty();
        let mut progressed = false;
        let poll_interval = self.config.poll_interval.0;
        for (_, id, look) in ids {
            let meta = match look {
                Look::Poll => match self.poll(id, now) {
                    Some(meta) => Some(meta),
                    None => continue,
                },
                _ => None,
            };
            progressed |= self.read_turn(id, now, out, meta)?;
            self.touched.insert(id);
            let Some(open) = self.items.get_mut(&id).and_then(|i| i.open.as_mut()) else {
                continue;
            };
            open.woken = false;
            open.poll_every = poll_interval;
            open.next_poll = now + poll_interval;
            if !open.covered {
                self.next_look = Some(
                    self.next_look
                        .map_or(open.next_poll, |t| t.min(open.next_poll)),
                );
            }
            if let Some(item) = self.items.get(&id) {
                if item
                    .open
                    .as_ref()
                    .is_some_and(|o| self.keeps_awake(item, o))
                {
                    self.awake.insert(id);
                }
            }
        }
        if full {
            self.next_look = self
                .items
                .values()
                .filter_map(|i| i.open.as_ref())
                .filter(|o| !o.covered)
                .map(|o| o.next_poll)
                .min();
        }
        self.drain_acks();
        progressed |= self.settle_touched();
        Ok(progressed)
    }

    /// Writes the checkpoint before the first lines of a content never
    /// checkpointed are read, so its stream id survives a crash (one write for
    /// all files new since the last step; none when there are none). Heads are
    /// read first so the entries carry fingerprints. A failed write is counted
    /// and logged by the checkpointer; reading then goes on (after a crash such
    /// a file would be read again under a new id: duplicates, never a loss).
    fn save_new_identities(&mut self, now: Instant, out: &Output) -> Result<(), Closed> {
        let items = &self.items;
        self.unsaved
            .retain(|id| items.get(id).is_some_and(|i| !i.identity_saved));
        let unsaved: Vec<u64> = self
            .unsaved
            .iter()
            .copied()
            .filter(|id| items.get(id).is_some_and(|i| i.open.is_some()))
            .collect();
        if unsaved.is_empty() {
            return Ok(());
        }
        for id in &unsaved {
            if self.truncated_since_last_read(*id, None) {
                self.truncated(*id, now, out)?;
            }
            // (A plain file into which a gzip stream is now being written is
            // treated as rewritten by the check above and judged again by the
            // next scan; a file too short to tell is not opened at all.)
            // Opened while too short to be recognised, and what arrived since
            // is content already known (a copy being made: copytruncate's
            // copy, `cp`): forget it unread, so the next scan judges it by its
            // head like any file (a copy of a live file, or one of its own).
            let copy_of_known = self.items.get(id).is_some_and(|i| {
                i.open
                    .as_ref()
                    .is_some_and(|o| o.opened_empty && o.read_pos() == 0)
                    && i.fp.is_some_and(|f| {
                        self.items
                            .values()
                            .any(|other| other.id != i.id && other.fp == Some(f))
                    })
            });
            if copy_of_known {
                self.items.remove(id);
            }
        }
        // Known by a fingerprint, or (with ignored_header_bytes) holding
        // header bytes only: nothing better will come for a while.
        let header_only = self.skip() > 0;
        let identifiable = |i: &Item| {
            i.fp.is_some()
                || (header_only
                    && i.open
                        .as_ref()
                        .and_then(|o| o.checked)
                        .is_some_and(|(len, _)| len > 0))
        };
        let ready = unsaved
            .iter()
            .any(|id| self.items.get(id).is_some_and(identifiable));
        // Written or not (a failure is counted and logged by the
        // checkpointer), reading goes on: see above.
        if ready {
            self.checkpoint_dirty = true;
            self.write_checkpoint(now);
            for item in self.items.values_mut() {
                if identifiable(item) {
                    item.identity_saved = true;
                }
            }
        }
        Ok(())
    }

    /// Whether an open item must be looked at again without anything naming
    /// it: mid-read, or something of it waits for a timeout or its end.
    fn keeps_awake(&self, item: &Item, open: &Open) -> bool {
        self.ctx.once
            || item.compressed
            || !open.at_eof
            || open.woken
            || open.lines.pending() > 0
            || open.assembler.deadline().is_some()
            || (item.state == State::Orphaned && !open.is_drained())
    }

    /// What an open item needs this step, without a system call.
    fn look(&self, item: &Item, now: Instant, wake_all: bool) -> Look {
        let Some(open) = item.open.as_ref() else {
            return Look::Skip;
        };
        let partial_due = open.lines.pending() > 0
            && now.saturating_duration_since(open.last_read) >= self.config.partial_line_timeout.0;
        let group_due = open.assembler.deadline().is_some_and(|d| d <= now);
        let unfinished = item.state == State::Orphaned && !open.is_drained();
        if self.ctx.once
            || item.compressed
            || !open.at_eof
            || open.woken
            || partial_due
            || group_due
            || unfinished
        {
            return Look::Turn;
        }
        if wake_all || !self.notified || (!open.covered && now >= open.next_poll) {
            return Look::Poll;
        }
        Look::Skip
    }

    /// One `fstat` of an open file at its end: its metadata if it changed
    /// since it was last looked at, else `None` (and, while notifications are
    /// relied on, the next poll comes later: the period doubles up to
    /// [`MAX_POLL_FACTOR`] times `poll_interval`).
    fn poll(&mut self, id: u64, now: Instant) -> Option<fs::Metadata> {
        let poll_interval = self.config.poll_interval.0;
        let notified = self.notified;
        self.io.fstats += 1;
        let open = self.items.get_mut(&id)?.open.as_mut()?;
        let meta = open.input.plain()?.metadata().ok()?;
        let stamp = Stamp::of(&meta);
        if open.seen != Some(stamp) || stamp.len != open.read_pos() {
            return Some(meta);
        }
        if notified {
            open.poll_every = (open.poll_every * 2).min(poll_interval * MAX_POLL_FACTOR);
            open.next_poll = now + open.poll_every;
        }
        None
    }

    fn read_turn(
        &mut self,
        id: u64,
        now: Instant,
        out: &Output,
        meta: Option<fs::Metadata>,
    ) -> Result<bool, Closed> {
        if self.truncated_since_last_read(id, meta) {
            self.truncated(id, now, out)?;
            return Ok(true);
        }
        // A plain file whose id is not saved yet (it was empty so far): read
        // nothing yet (the next step saves its id with a fingerprint first),
        // but still look for rotation at its end.
        let hold = self.items.get(&id).is_some_and(|i| {
            !i.identity_saved && i.open.as_ref().is_some_and(|o| o.input.plain().is_some())
        });
        let per_turn = self.config.max_read_per_turn.0;
        let metrics = self.ctx.metrics.clone();
        let Some(item) = self.items.get_mut(&id) else {
            return Ok(false);
        };
        let Some(open) = item.open.as_mut() else {
            return Ok(false);
        };
        let mut progressed = false;
        let mut read = 0u64;
        let before = open.lines.stats();
        let Open {
            input,
            lines,
            assembler,
            batcher,
            at_eof,
            last_read,
            broken,
            ..
        } = open;
        let mut sent = Ok(());
        if hold {
            *at_eof = true;
        }
        let seen = open.seen;
        while read < per_turn && !hold {
            let filled = match input {
                Input::Plain(file) => {
                    // Read what the last fstat says is there, no more: the
                    // buffer is sized to it, and no read is made to learn
                    // that there is nothing.
                    let there = seen.map_or(0, |s| s.len);
                    let limit =
                        there.saturating_sub(lines.consumed_offset() + lines.pending() as u64);
                    if limit == 0 {
                        Ok(0)
                    } else {
                        self.io.reads += 1;
                        lines.fill_file(file, limit.min(per_turn - read))
                    }
                }
                Input::Gzip(_) => {
                    self.io.reads += 1;
                    lines.fill(input)
                }
            };
            match filled {
                Ok(0) => {
                    *at_eof = true;
                    break;
                }
                Ok(n) => {
                    *at_eof = false;
                    progressed = true;
                    read += n as u64;
                    *last_read = now;
                    if assembler.is_plain() {
                        lines.drain_lines(|line| {
                            if sent.is_ok() {
                                sent = batcher.push(line, out, &metrics);
                            }
                        });
                    } else {
                        lines.drain_lines(|line| {
                            assembler.push(line, now, &mut |event, end| {
                                if sent.is_ok() {
                                    sent = batcher.push_event(event, end, out, &metrics);
                                }
                            });
                        });
                    }
                    sent?;
                }
                Err(error) => {
                    ComponentMetrics::add(&metrics.errors, 1);
                    if item.compressed {
                        *broken = true;
                        *at_eof = true;
                        if self.log.check().is_some() {
                            tracing::warn!(component = %self.ctx.source, path = %item.path.display(), %error,
                                "gzip stream ends early (cut short or corrupt)");
                        }
                    } else if self.log.check().is_some() {
                        tracing::warn!(component = %self.ctx.source, path = %item.path.display(), %error, "read failed; will retry");
                    }
                    break;
                }
            }
        }
        if progressed {
            item.last_active = now;
        }
        let stats = lines.stats();
        let (cut, dropped) = (
            stats.truncated - before.truncated,
            stats.dropped - before.dropped,
        );
        if cut + dropped > 0 {
            ComponentMetrics::add(&metrics.discarded_events, dropped);
            ComponentMetrics::add(&metrics.errors, cut + dropped);
            if let Some(suppressed) = self.oversize_log.check() {
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), truncated = cut, dropped, suppressed,
                    max_line_bytes = %self.config.max_line_bytes, "lines over max_line_bytes");
            }
        }
        let malformed = assembler.take_malformed();
        if malformed > 0 {
            ComponentMetrics::add(&metrics.errors, malformed);
            if let Some(suppressed) = self.oversize_log.check() {
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), lines = malformed, suppressed,
                    format = ?self.config.format, "lines not in the container log format; passed on as text");
            }
        }
        if *at_eof {
            progressed |= self.at_eof(id, now, out)?;
        }
        if let Some(item) = self.items.get_mut(&id) {
            if let Some(o) = &mut item.open {
                o.batcher.flush(out)?;
            }
            item.collect_sent();
        }
        Ok(progressed)
    }

    /// Before reading a plain file: has it shrunk below what was read, or has
    /// its head changed (truncated and rewritten)? Checked before reading, so
    /// new content is never read from an old offset. The head is read again
    /// only when size or mtime changed; a growing fingerprint is extended.
    ///
    /// `meta` is the file's `fstat` if the caller just made it. A change of
    /// stamp marks the file woken (a rescan found it changed).
    fn truncated_since_last_read(&mut self, id: u64, meta: Option<fs::Metadata>) -> bool {
        let (skip, fp_bytes) = (self.skip(), self.fp_bytes());
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        let Some(open) = item.open.as_mut() else {
            return false;
        };
        let Some(file) = open.input.plain() else {
            return false;
        };
        let meta = match meta {
            Some(meta) => meta,
            None => {
                self.io.fstats += 1;
                let Ok(meta) = file.metadata() else {
                    return false;
                };
                meta
            }
        };
        let seen = Stamp::of(&meta);
        if open.seen != Some(seen) {
            open.woken = true;
            open.seen = Some(seen);
            self.awake.insert(id);
        }
        if meta.len() < open.read_pos() {
            return true;
        }
        let stamp = (meta.len(), meta.modified().ok());
        if open.checked == Some(stamp) {
            return false;
        }
        open.checked = Some(stamp);
        self.io.head_reads += 1;
        let Ok(head) = pread_head(file, skip + fp_bytes) else {
            return false;
        };
        if head.starts_with(&GZIP_MAGIC) {
            // Became gzip (it was empty when opened): never read as text.
            return true;
        }
        match item.fp {
            Some(f) if !f.matches(&head) => return true,
            current => {
                if let Some(f) = Fingerprint::of_head(&head, skip, fp_bytes) {
                    if current.is_none_or(|c| f.len > c.len) {
                        item.fp = Some(f);
                    }
                }
            }
        }
        false
    }

    /// End of what is there for now: look for rotation, send
    /// lines that waited long enough, finish files that will not grow.
    fn at_eof(&mut self, id: u64, now: Instant, out: &Output) -> Result<bool, Closed> {
        let once = self.ctx.once;
        let partial_timeout = self.config.partial_line_timeout.0;
        let Some(item) = self.items.get_mut(&id) else {
            return Ok(false);
        };
        let Some(open) = item.open.as_mut() else {
            return Ok(false);
        };
        if item.compressed {
            if open.broken {
                // Admitted complete, or cut short and stable for SETTLE (see
                // `admit`): what decoded is all there is; the rest is counted.
                ComponentMetrics::add(&self.gzip_truncated, 1);
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), valid_bytes = open.read_pos(),
                    "gzip stream ends early; its lines up to there were read, the rest is lost");
            }
            Self::finish(item, now, out, &self.ctx.metrics)?;
            self.close(id, State::Finished);
            return Ok(true);
        }
        let mut progressed = false;
        // The path is looked at only when the file's stamp changed since it
        // last was (a rename or unlink changes its ctime), or a rescan asked.
        let here = if open.path_checked.is_none() || open.path_checked != open.seen {
            self.io.path_stats += 1;
            open.path_checked = open.seen;
            fs::metadata(&item.path).map(|m| FileId::of(&m) == item.file)
        } else {
            Ok(item.state != State::Orphaned)
        };
        match (item.state, here) {
            (State::Live, Ok(false) | Err(_)) => {
                tracing::info!(component = %self.ctx.source, path = %item.path.display(),
                    "file rotated away or deleted; reading it to its end");
                item.state = State::Orphaned;
                progressed = true;
            }
            (State::Orphaned, Ok(true)) => item.state = State::Live,
            _ => {}
        }
        if item.state == State::Orphaned || once {
            if !open.is_drained() {
                Self::finish(item, now, out, &self.ctx.metrics)?;
                progressed = true;
            }
            if once {
                self.close(id, State::Finished);
                return Ok(true);
            }
        } else {
            // A live file: a last line without newline waits for
            // partial_line_timeout, a multiline group for its own timeout.
            let metrics = &self.ctx.metrics;
            let Open {
                lines,
                assembler,
                batcher,
                last_read,
                ..
            } = open;
            let mut sent = Ok(());
            if lines.pending() > 0 && now.saturating_duration_since(*last_read) >= partial_timeout {
                if let Some(line) = lines.finish() {
                    progressed = true;
                    if assembler.is_plain() {
                        sent = batcher.push(line, out, metrics);
                    } else {
                        assembler.push(line, now, &mut |e, end| {
                            if sent.is_ok() {
                                sent = batcher.push_event(e, end, out, metrics);
                            }
                        });
                    }
                }
            }
            sent?;
            assembler.flush_expired(now, &mut |e, end| {
                progressed = true;
                if sent.is_ok() {
                    sent = batcher.push_event(e, end, out, metrics);
                }
            });
            sent?;
        }
        Ok(progressed)
    }

    /// Sends everything read from a file that will not grow: its last line
    /// without newline and whatever the assembler holds.
    fn finish(
        item: &mut Item,
        now: Instant,
        out: &Output,
        metrics: &ComponentMetrics,
    ) -> Result<(), Closed> {
        let Some(open) = item.open.as_mut() else {
            return Ok(());
        };
        let Open {
            lines,
            assembler,
            batcher,
            ..
        } = open;
        let mut sent = Ok(());
        if let Some(line) = lines.finish() {
            if assembler.is_plain() {
                sent = batcher.push(line, out, metrics);
            } else {
                assembler.push(line, now, &mut |e, end| {
                    if sent.is_ok() {
                        sent = batcher.push_event(e, end, out, metrics);
                    }
                });
            }
        }
        sent?;
        let end = lines.consumed_offset();
        assembler.flush(end, now, &mut |e, end| {
            if sent.is_ok() {
                sent = batcher.push_event(e, end, out, metrics);
            }
        });
        sent?;
        batcher.flush(out)?;
        item.collect_sent();
        Ok(())
    }

    /// The file shrank or its head changed: its old content is gone from this
    /// inode. What was read of it stays known (a copy may turn up), and the
    /// inode's new content is read from 0.
    fn truncated(&mut self, id: u64, now: Instant, out: &Output) -> Result<(), Closed> {
        let skip = self.skip();
        let fp_bytes = self.fp_bytes();
        let Some(item) = self.items.get_mut(&id) else {
            return Ok(());
        };
        let Some(open) = item.open.as_mut() else {
            return Ok(());
        };
        tracing::warn!(component = %self.ctx.source, path = %item.path.display(), offset = open.read_pos(),
            "file truncated or rewritten; reading it from the start");
        open.batcher.flush(out)?;
        item.collect_sent();
        let file = item.file;
        let path = item.path.clone();
        let Some(open) = item.open.take() else {
            return Ok(());
        };
        item.offset = open.resume_offset();
        item.state = State::Detached;
        item.last_seen = now;
        let Input::Plain(mut f) = open.input else {
            return Ok(());
        };
        if let Err(error) = f.seek(SeekFrom::Start(0)) {
            tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot rewind file");
            return Ok(());
        }
        let head = pread_head(&f, skip + fp_bytes).unwrap_or_default();
        if head.len() < GZIP_MAGIC.len() || head.starts_with(&GZIP_MAGIC) {
            // Too short to tell, or gzip: not read as text; the next scan
            // (asked for at once) judges the new content like any file's.
            self.rescan_soon = true;
            return Ok(());
        }
        let new_id = self.fresh_id();
        let seq = self.seq();
        let open = self.new_open(new_id, &path, Input::Plain(f), 0, now);
        self.by_path.insert(path.clone(), new_id);
        self.items.insert(
            new_id,
            Item {
                id: new_id,
                seq,
                path,
                file,
                fp: Fingerprint::of_head(&head, skip, fp_bytes),
                offset: 0,
                acks: Acks::at(0),
                open: Some(open),
                state: State::Live,
                compressed: false,
                last_seen: now,
                last_active: now,
                size_at_close: None,
                identity_saved: false,
                tail: None,
            },
        );
        self.unsaved.insert(new_id);
        Ok(())
    }

    /// Applies what can be decided without reading: acknowledged offsets of
    /// quiet files, and closing rotated files that are read and acknowledged.
    fn settle(&mut self) -> bool {
        self.touched.clear();
        self.settle_all = false;
        let mut done = Vec::new();
        for item in self.items.values_mut() {
            Self::settle_item(item, &mut done);
        }
        self.close_settled(done)
    }

    /// [`Tailer::settle`] for the items that were read or acknowledged since
    /// the last one (all of them after a rescan).
    fn settle_touched(&mut self) -> bool {
        if self.settle_all {
            return self.settle();
        }
        let mut done = Vec::new();
        for id in std::mem::take(&mut self.touched) {
            if let Some(item) = self.items.get_mut(&id) {
                Self::settle_item(item, &mut done);
            }
        }
        self.close_settled(done)
    }

    fn settle_item(item: &mut Item, done: &mut Vec<u64>) {
        match &item.open {
            Some(o) if o.is_drained() => {
                item.acks.settle(o.lines.consumed_offset());
                if item.state == State::Orphaned && o.at_eof && !item.acks.in_flight() {
                    done.push(item.id);
                }
            }
            Some(_) => {}
            None => item.acks.settle(item.offset),
        }
    }

    fn close_settled(&mut self, done: Vec<u64>) -> bool {
        let any = !done.is_empty();
        for id in done {
            if let Some(item) = self.items.get(&id) {
                tracing::info!(component = %self.ctx.source, path = %item.path.display(), "finished rotated or deleted file");
            }
            self.close(id, State::Finished);
        }
        any
    }

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

/// A sample of the bytes before `offset` of an open plain file (see
/// [`Item::tail`]); `None` at offset 0, when they cannot be read, or when the
/// file no longer begins with `fp` (rewritten since it was read: the bytes
/// there now are not the ones read).
fn tail_sample(file: &File, offset: u64, fp: Option<Fingerprint>) -> Option<Fingerprint> {
    if let Some(fp) = fp {
        let head = pread_head(file, fp.head_len()).ok()?;
        if !fp.matches(&head) {
            return None;
        }
    }
    let start = offset.saturating_sub(TAIL_SAMPLE_BYTES);
    let bytes = pread_at(file, start, offset - start).ok()?;
    if bytes.len() as u64 != offset - start {
        return None;
    }
    let f = Fingerprint::of_head(&bytes, 0, bytes.len() as u64)?;
    Some(Fingerprint { skip: start, ..f })
}

/// Whether the file at `path` (decompressed if `gz`) holds the bytes `sample`
/// was taken of, at the same offset.
fn holds_sample(path: &Path, gz: bool, sample: Fingerprint) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let end = sample.skip + sample.len;
    let bytes = if gz {
        let mut d = MultiGzDecoder::new(io::BufReader::new(f));
        match window_before(&mut d, end, sample.len) {
            Ok((at, w)) if at == end => w,
            _ => return false,
        }
    } else {
        match pread_at(&f, sample.skip, sample.len) {
            Ok(w) => w,
            Err(_) => return false,
        }
    };
    Fingerprint::of_head(&bytes, 0, sample.len)
        .is_some_and(|f| f.len == sample.len && f.hash == sample.hash)
}

/// Whether the file at `path` (gzip if `gz`) holds the same bytes as `x`, a
/// live plain file whose head it shares, just before the shorter one's end
/// (its last [`COPY_CHECK_BYTES`]): true for a copy of `x` (complete or in
/// progress), false for a file that only begins the same way (two replicas
/// printing one banner diverge after it). `x_now` is where a scan found `x`
/// when it is not open. A compressed `x` cannot be read at an offset: a match
/// of its head counts as a copy, as before this check.
fn holds_copy_of(path: &Path, gz: bool, x: &Item, x_now: Option<&Path>) -> bool {
    if x.compressed {
        return true;
    }
    let reopened;
    let original: &File = match x.open.as_ref().and_then(|o| o.input.plain()) {
        Some(f) => f,
        None => {
            let Some(found) = File::open(x_now.unwrap_or(&x.path)).ok() else {
                return false;
            };
            if found.metadata().map(|m| FileId::of(&m)).ok() != Some(x.file) {
                return false;
            }
            reopened = found;
            &reopened
        }
    };
    let Ok(x_len) = original.metadata().map(|m| m.len()) else {
        return false;
    };
    let Ok(copy) = File::open(path) else {
        return false;
    };
    // A copy is never longer than its original (that only grows until it is
    // truncated): a longer file that begins with all of it is another file.
    let window = if gz {
        let mut d = MultiGzDecoder::new(io::BufReader::new(copy));
        window_before(&mut d, x_len + 1, COPY_CHECK_BYTES)
    } else {
        copy.metadata().and_then(|m| {
            let end = m.len().min(x_len + 1);
            let start = end.saturating_sub(COPY_CHECK_BYTES);
            pread_at(&copy, start, end - start).map(|w| (end, w))
        })
    };
    let Ok((end, window)) = window else {
        return false;
    };
    // A compressed copy is of a rotated file, which no longer grows: it holds
    // all of it. (A gzip that is a mere prefix of a live file is another file,
    // which must not wait for that one to go.)
    if end > x_len || (gz && end != x_len) {
        return false;
    }
    let start = end - window.len() as u64;
    pread_at(original, start, window.len() as u64).is_ok_and(|theirs| theirs == window)
}

/// Whether `x`'s file is now shorter than where its reading stopped: it was
/// truncated and the tailer has not yet seen it.
fn shrunk_below_read(x: &Item, x_now: Option<&Path>) -> bool {
    let (len, read) = match x.open.as_ref() {
        Some(open) => match open.input.plain() {
            Some(f) => (f.metadata().map(|m| m.len()), open.read_pos()),
            None => return false,
        },
        None => {
            let Ok(meta) = fs::metadata(x_now.unwrap_or(&x.path)) else {
                return false;
            };
            if FileId::of(&meta) != x.file {
                return false;
            }
            (Ok(meta.len()), x.resume_offset())
        }
    };
    len.is_ok_and(|len| len < read)
}

enum OpenError {
    GzipShorter,
    Io(io::Error),
}

/// Reads the head of a file (decompressed if it is gzip). Returns it and
/// whether the file is gzip.
fn read_head_of(path: &Path, n: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut f, &mut magic)?;
    if got == 2 && magic == GZIP_MAGIC {
        f.seek(SeekFrom::Start(0))?;
        let mut d = MultiGzDecoder::new(f);
        // An incomplete gzip still has a readable head.
        let mut head = Vec::new();
        let _ = (&mut d).take(n).read_to_end(&mut head);
        return Ok((head, true));
    }
    f.seek(SeekFrom::Start(0))?;
    Ok((read_head(&mut f, n)?, false))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Opens `path` at `offset`, checking it is still `file`.
fn open_input(
    path: &Path,
    file: FileId,
    offset: u64,
    gz: bool,
) -> Result<Option<Input>, OpenError> {
    let mut f = File::open(path).map_err(OpenError::Io)?;
    let meta = f.metadata().map_err(OpenError::Io)?;
    if FileId::of(&meta) != file {
        return Ok(None);
    }
    if gz {
        let mut d = MultiGzDecoder::new(f);
        let skipped = io::copy(&mut (&mut d).take(offset), &mut io::sink());
        return match skipped {
            Ok(n) if n == offset => Ok(Some(Input::Gzip(Box::new(d)))),
            Ok(_) => Err(OpenError::GzipShorter),
            Err(e) => Err(OpenError::Io(e)),
        };
    }
    f.seek(SeekFrom::Start(offset)).map_err(OpenError::Io)?;
    Ok(Some(Input::Plain(f)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteSize, HumanDuration};
    use crate::event::Batch;
    use std::io::Write;

    /// A tailer over `dir/*.log` with its batches collected by the test.
    struct T {
        dir: tempfile::TempDir,
        config: FileSourceConfig,
        tailer: Tailer,
        out: Output,
        rx: Receiver<Batch>,
        now: Instant,
        metrics: Arc<ComponentMetrics>,
    }

    impl T {
        fn new(edit: impl FnOnce(&mut FileSourceConfig)) -> T {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("logs")).unwrap();
            let mut config = FileSourceConfig::with_include(vec![format!(
                "{}/logs/*.log*",
                dir.path().display()
            )]);
            edit(&mut config);
            let (tx, rx) = crossbeam_channel::unbounded();
            let metrics = Arc::new(ComponentMetrics::default());
            let out = Output::new(vec![tx], metrics.clone());
            let now = Instant::now();
            let tailer = Self::make(&dir, &config, &metrics, now);
            T {
                dir,
                config,
                tailer,
                out,
                rx,
                now,
                metrics,
            }
        }

        fn make(
            dir: &tempfile::TempDir,
            config: &FileSourceConfig,
            metrics: &Arc<ComponentMetrics>,
            now: Instant,
        ) -> Tailer {
            Tailer::new(
                config,
                TailerContext {
                    source: "t".into(),
                    data_dir: dir.path().join("data"),
                    metrics: metrics.clone(),
                    batch_max_events: 100,
                    batch_max_bytes: 1 << 20,
                    once: false,
                },
                now,
            )
        }

        fn restart(&mut self) {
            self.tailer = Self::make(&self.dir, &self.config, &self.metrics, self.now);
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join("logs").join(name)
        }

        fn append(&self, name: &str, text: &str) {
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(name))
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        }

        /// Scans, steps until nothing moves, and returns the lines sent (acknowledged).
        fn run(&mut self, advance: Duration) -> Vec<String> {
            self.now += advance;
            self.tailer.scan(self.now, &self.out).unwrap();
            let mut lines = Vec::new();
            for _ in 0..100 {
                let progressed = self.tailer.step(self.now, &self.out).unwrap();
                let mut got = false;
                for batch in self.rx.try_iter() {
                    got = true;
                    lines.extend(
                        batch
                            .events
                            .iter()
                            .map(|e| String::from_utf8_lossy(&e.line).into_owned()),
                    );
                }
                if !progressed && !got {
                    break;
                }
            }
            self.tailer.drain_acks();
            lines
        }
    }

    /// Steps without a rescan; returns the lines that came out.
    fn steps(t: &mut T, n: usize, advance: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..n {
            t.now += advance;
            t.tailer.step(t.now, &t.out).unwrap();
            for batch in t.rx.try_iter() {
                lines.extend(
                    batch
                        .events
                        .iter()
                        .map(|e| String::from_utf8_lossy(&e.line).into_owned()),
                );
            }
        }
        t.tailer.drain_acks();
        lines
    }

    fn since(t: &T, before: IoCounts) -> IoCounts {
        let now = t.tailer.io_counts();
        IoCounts {
            reads: now.reads - before.reads,
            fstats: now.fstats - before.fstats,
            path_stats: now.path_stats - before.path_stats,
            head_reads: now.head_reads - before.head_reads,
        }
    }

    #[test]
    fn idle_files_cost_no_read_and_at_most_one_fstat_per_look() {
        const N: u64 = 40;
        const K: u64 = 25;
        let mut t = T::new(|c| c.partial_line_timeout = HumanDuration(Duration::from_secs(5)));
        for i in 0..N {
            t.append(&format!("f{i:02}.log"), &format!("{{\"n\":{i}}}\n"));
        }
        let mut got = t.run(Duration::ZERO);
        got.extend(t.run(Duration::from_millis(1)));
        assert_eq!(got.len(), N as usize);
        assert_eq!(t.tailer.open_files(), N as usize);

        // Without notifications every step polls every file: one fstat each,
        // no read, no look at the path.
        let before = t.tailer.io_counts();
        assert!(steps(&mut t, K as usize, Duration::from_millis(300)).is_empty());
        let cost = since(&t, before);
        assert_eq!(
            (cost.reads, cost.path_stats, cost.head_reads),
            (0, 0, 0),
            "{cost:?}"
        );
        assert_eq!(cost.fstats, N * K, "{cost:?}");

        // Relying on notifications: one look at everything, then nothing at
        // all for files nothing names.
        t.tailer.set_notified(true);
        let before = t.tailer.io_counts();
        assert!(steps(&mut t, K as usize, Duration::from_millis(300)).is_empty());
        let cost = since(&t, before);
        assert_eq!(
            cost,
            IoCounts {
                reads: 0,
                fstats: N,
                path_stats: 0,
                head_reads: 0,
            }
        );

        // A rescan lists and stats: one fstat per open file, no read.
        let before = t.tailer.io_counts();
        t.now += Duration::from_secs(10);
        t.tailer.scan(t.now, &t.out).unwrap();
        assert!(steps(&mut t, 1, Duration::ZERO).is_empty());
        let cost = since(&t, before);
        assert_eq!(
            cost,
            IoCounts {
                reads: 0,
                fstats: N,
                path_stats: 0,
                head_reads: 0,
            }
        );

        // A write named by a notification costs that file one fstat, one read
        // and one look at its path; the others nothing.
        t.append("f07.log", "{\"n\":\"more\"}\n");
        t.tailer.wake_path(&t.path("f07.log"));
        let before = t.tailer.io_counts();
        assert_eq!(
            steps(&mut t, 3, Duration::from_millis(1)),
            ["{\"n\":\"more\"}"]
        );
        let cost = since(&t, before);
        assert_eq!(
            cost,
            IoCounts {
                reads: 1,
                fstats: 1,
                path_stats: 1,
                head_reads: 1,
            }
        );

        // A partial line's timeout fires without any notification.
        t.append("f08.log", "half");
        t.tailer.wake_path(&t.path("f08.log"));
        assert!(steps(&mut t, 1, Duration::ZERO).is_empty());
        assert!(steps(&mut t, 1, Duration::from_secs(4)).is_empty());
        assert_eq!(steps(&mut t, 1, Duration::from_secs(1)), ["half"]);

        // A file written without a notification is found by the next rescan.
        t.append("f09.log", "unannounced\n");
        assert!(steps(&mut t, 3, Duration::from_secs(1)).is_empty());
        t.now += Duration::from_secs(10);
        t.tailer.scan(t.now, &t.out).unwrap();
        assert_eq!(steps(&mut t, 1, Duration::ZERO), ["unannounced"]);

        // A deleted idle file is noticed by the rescan, read to its end and closed.
        fs::remove_file(t.path("f10.log")).unwrap();
        t.now += Duration::from_secs(10);
        t.tailer.scan(t.now, &t.out).unwrap();
        steps(&mut t, 2, Duration::ZERO);
        assert_eq!(t.tailer.open_files(), N as usize - 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_polled_since_notifications_miss_its_writes() {
        let mut t = T::new(|_| {});
        let target = t.dir.path().join("target.txt");
        fs::write(&target, "first\n").unwrap();
        std::os::unix::fs::symlink(&target, t.path("link.log")).unwrap();
        assert_eq!(t.run(Duration::ZERO), ["first"]);
        t.tailer.set_notified(true);
        // Idle, it is polled less and less often: at most one fstat per
        // poll_interval, fewer as the period doubles.
        let before = t.tailer.io_counts();
        assert!(steps(&mut t, 40, Duration::from_millis(250)).is_empty());
        let cost = since(&t, before);
        assert_eq!((cost.reads, cost.path_stats, cost.head_reads), (0, 0, 0));
        assert!(cost.fstats >= 2 && cost.fstats <= 10, "{cost:?}");
        // A write to the target, which no notification names, is read within
        // the longest period (8 poll intervals).
        let mut f = fs::OpenOptions::new().append(true).open(&target).unwrap();
        f.write_all(b"second\n").unwrap();
        assert_eq!(steps(&mut t, 9, Duration::from_millis(250)), ["second"]);
    }

    #[test]
    fn a_file_shorter_than_the_fingerprint_is_read_and_bound_later() {
        let mut t = T::new(|_| {});
        t.append("a.log", "one\n");
        assert_eq!(t.run(Duration::ZERO), ["one"]);
        let e = &t.tailer.checkpoint_entries()[0];
        let fp = Fingerprint::decode(e.fingerprint.as_deref().unwrap()).unwrap();
        assert_eq!(
            (fp.len, e.offset),
            (4, 4),
            "a partial fingerprint of what is there"
        );
        t.append("a.log", &"x".repeat(300));
        t.append("a.log", "\n");
        assert_eq!(t.run(Duration::from_millis(10)).len(), 1);
        let e = &t.tailer.checkpoint_entries()[0];
        let fp = Fingerprint::decode(e.fingerprint.as_deref().unwrap()).unwrap();
        assert_eq!(fp.len, 256, "bound once long enough");
    }

    /// The stream ids the checkpoint on disk holds, by path.
    fn saved_streams(t: &T) -> Vec<(PathBuf, Option<u64>)> {
        crate::checkpoint::load(&t.dir.path().join("data"), "t", |_| {})
            .unwrap()
            .map(|cp| cp.files.into_iter().map(|f| (f.path, f.stream)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_new_files_stream_id_is_saved_before_its_first_line_is_sent() {
        let mut t = T::new(|_| {});
        // Created empty (as after a rename rotation): opened, nothing to send.
        t.append("a.log", "");
        assert!(t.run(Duration::ZERO).is_empty());
        t.append("a.log", "1\n");
        t.now += Duration::from_millis(1);
        t.tailer.scan(t.now, &t.out).unwrap();
        t.tailer.step(t.now, &t.out).unwrap();
        let sent: Vec<Batch> = t.rx.try_iter().collect();
        assert_eq!(sent.len(), 1);
        // Sent, not acknowledged, no periodic checkpoint yet: the id is on disk.
        assert_eq!(
            saved_streams(&t),
            [(t.path("a.log"), Some(sent[0].stream.id))]
        );
        assert_eq!(t.tailer.checkpoint_entries()[0].offset, 0);
    }

    #[test]
    fn stream_ids_survive_a_restart_and_an_inode_reused_gets_a_new_one() {
        let mut t = T::new(|_| {});
        t.append("a.log", "1\n");
        t.now += Duration::from_millis(1);
        t.tailer.scan(t.now, &t.out).unwrap();
        t.tailer.step(t.now, &t.out).unwrap();
        let first = t.rx.try_iter().next().unwrap().stream.id;
        t.restart();
        t.append("a.log", "2\n");
        t.now += Duration::from_millis(1);
        t.tailer.scan(t.now, &t.out).unwrap();
        t.tailer.step(t.now, &t.out).unwrap();
        let batches: Vec<Batch> = t.rx.try_iter().collect();
        assert!(
            batches.iter().all(|b| b.stream.id == first),
            "same content, same id"
        );
        drop(batches);
        t.tailer.drain_acks();
        // Another content at the same path (and perhaps the same inode).
        fs::remove_file(t.path("a.log")).unwrap();
        t.append("a.log", "other\n");
        t.restart();
        t.now += Duration::from_millis(1);
        t.tailer.scan(t.now, &t.out).unwrap();
        t.tailer.step(t.now, &t.out).unwrap();
        let b = t.rx.try_iter().next().unwrap();
        assert_eq!(&b.events[0].line[..], b"other");
        assert_ne!(b.stream.id, first);
    }

    #[test]
    fn a_restart_resumes_at_the_acknowledged_offset() {
        let mut t = T::new(|_| {});
        t.append("a.log", "1\n2\n");
        assert_eq!(t.run(Duration::ZERO), ["1", "2"]);
        assert!(t.tailer.write_checkpoint(t.now));
        t.append("a.log", "3\n");
        t.restart();
        assert_eq!(t.run(Duration::ZERO), ["3"]);
    }

    #[test]
    fn unacknowledged_lines_are_read_again_after_a_restart() {
        let mut t = T::new(|_| {});
        t.append("a.log", "1\n");
        assert_eq!(t.run(Duration::ZERO), ["1"]);
        t.append("a.log", "2\n");
        t.now += Duration::from_millis(1);
        t.tailer.scan(t.now, &t.out).unwrap();
        t.tailer.step(t.now, &t.out).unwrap();
        let held: Vec<Batch> = t.rx.try_iter().collect(); // not acknowledged yet
        assert!(t.tailer.write_checkpoint(t.now));
        assert_eq!(t.tailer.checkpoint_entries()[0].offset, 2);
        drop(held);
        t.restart();
        assert_eq!(t.run(Duration::ZERO), ["2"]);
    }

    #[test]
    fn a_corrupt_checkpoint_is_reported_and_the_source_starts_anyway() {
        let mut t = T::new(|_| {});
        t.append("a.log", "1\n");
        let cp = crate::checkpoint::path_for(&t.dir.path().join("data"), "t");
        fs::create_dir_all(cp.parent().unwrap()).unwrap();
        fs::write(&cp, "{\"version\":1,\"sou").unwrap();
        t.restart();
        assert_eq!(t.run(Duration::ZERO), ["1"]);
        assert!(t.tailer.write_checkpoint(t.now));
        let back = crate::checkpoint::load(&t.dir.path().join("data"), "t", |_| {})
            .unwrap()
            .unwrap();
        assert_eq!(back.files[0].offset, 2);
    }

    #[test]
    fn a_partial_last_line_waits_for_its_timeout() {
        let mut t = T::new(|c| c.partial_line_timeout = HumanDuration(Duration::from_secs(5)));
        t.append("a.log", "done\nhalf");
        assert_eq!(t.run(Duration::ZERO), ["done"]);
        assert_eq!(
            t.tailer.next_deadline(),
            Some(t.now + Duration::from_secs(5))
        );
        assert!(t.run(Duration::from_secs(4)).is_empty());
        assert_eq!(t.run(Duration::from_secs(1)), ["half"]);
    }

    #[test]
    fn a_rotated_file_is_read_to_its_end_and_its_last_line_sent() {
        let mut t = T::new(|c| {
            c.include = vec![format!(
                "{}/logs/app.log",
                c.include[0].rsplit_once("/logs/").unwrap().0
            )];
        });
        t.append("app.log", "a\n");
        assert_eq!(t.run(Duration::ZERO), ["a"]);
        t.append("app.log", "b\nlast");
        fs::rename(t.path("app.log"), t.path("app.log.1")).unwrap();
        t.append("app.log", "new\n");
        let mut got = t.run(Duration::from_millis(1));
        got.extend(t.run(Duration::from_millis(1)));
        got.sort();
        assert_eq!(got, ["b", "last", "new"]);
        // Acknowledged and read to its end: closed and finished.
        assert_eq!(t.tailer.open_files(), 1);
        assert!(
            t.tailer
                .checkpoint_entries()
                .iter()
                .any(|e| e.finished && e.offset == 8)
        );
    }

    #[test]
    fn gzip_files_never_checkpointed_are_read() {
        let mut t = T::new(|_| {});
        let mut enc = flate2::write::GzEncoder::new(
            fs::File::create(t.path("old.log.1.gz")).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(b"z1\nz2\n").unwrap();
        enc.finish().unwrap();
        let mut got = t.run(Duration::ZERO);
        got.sort();
        assert_eq!(got, ["z1", "z2"]);
        let e = &t.tailer.checkpoint_entries()[0];
        assert!(e.compressed && e.finished && e.offset == 6);
        assert!(t.run(Duration::from_secs(20)).is_empty(), "read once");
    }

    #[test]
    fn descriptors_stay_within_max_open_files() {
        let mut t = T::new(|c| c.max_open_files = 3);
        for i in 0..10 {
            t.append(&format!("f{i}.log"), &format!("line{i}\n"));
        }
        let mut got = Vec::new();
        for _ in 0..10 {
            got.extend(t.run(Duration::from_secs(1)));
            assert!(t.tailer.open_files() <= 3);
        }
        got.sort();
        let want: Vec<String> = (0..10).map(|i| format!("line{i}")).collect();
        assert_eq!(got, want);
        // A closed file that grows is reopened where it stopped.
        t.append("f0.log", "more\n");
        let mut more = Vec::new();
        for _ in 0..5 {
            more.extend(t.run(Duration::from_secs(1)));
        }
        assert_eq!(more, ["more"]);
    }

    #[test]
    fn old_files_are_ignored_but_their_checkpoints_kept() {
        let mut t =
            T::new(|c| c.ignore_older_than = Some(HumanDuration(Duration::from_secs(3600))));
        t.append("a.log", "1\n");
        assert_eq!(t.run(Duration::ZERO), ["1"]);
        assert!(t.tailer.write_checkpoint(t.now));
        let f = fs::File::options()
            .write(true)
            .open(t.path("a.log"))
            .unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        t.append("b.log", "b\n");
        let f = fs::File::options()
            .write(true)
            .open(t.path("b.log"))
            .unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        t.restart();
        assert!(t.run(Duration::ZERO).is_empty(), "old files are not opened");
        assert_eq!(
            t.tailer.checkpoint_entries().len(),
            1,
            "the checkpoint is kept"
        );
        t.append("a.log", "2\n");
        assert_eq!(
            t.run(Duration::from_secs(1)),
            ["2"],
            "resumed at its checkpoint"
        );
    }

    #[test]
    fn long_lines_are_cut_or_dropped_and_counted() {
        let mut t = T::new(|c| {
            c.max_line_bytes = ByteSize(8);
            c.oversize_lines = crate::sources::OversizeLines::Drop;
        });
        t.append("a.log", &format!("ok\n{}\nafter\n", "x".repeat(50)));
        assert_eq!(t.run(Duration::ZERO), ["ok", "after"]);
        assert_eq!(t.metrics.snapshot().discarded_events, 1);
        assert_eq!(t.tailer.checkpoint_entries()[0].offset, 60);
    }

    #[test]
    fn read_from_end_skips_existing_content_only() {
        let mut t = T::new(|c| c.read_from = ReadFrom::End);
        t.append("a.log", "old\n");
        assert!(t.run(Duration::ZERO).is_empty());
        t.append("a.log", "new\n");
        t.append("b.log", "fresh file\n");
        let mut got = t.run(Duration::from_secs(1));
        got.sort();
        assert_eq!(got, ["fresh file", "new"]);
    }

    #[test]
    fn multiline_groups_flush_on_timeout_and_checkpoints_stay_before_them() {
        let mut t = T::new(|c| {
            c.multiline = Some(crate::sources::file::config::MultilineConfig {
                mode: crate::sources::file::config::MultilineMode::Indented,
                pattern: None,
                max_lines: 100,
                max_bytes: ByteSize(1 << 20),
                timeout: HumanDuration(Duration::from_secs(2)),
            });
        });
        t.append("a.log", "Exception\n  at a\n  at b\n");
        assert!(t.run(Duration::ZERO).is_empty());
        assert!(t.tailer.write_checkpoint(t.now));
        assert_eq!(
            t.tailer.checkpoint_entries()[0].offset,
            0,
            "the open group is not acknowledged"
        );
        assert_eq!(t.run(Duration::from_secs(2)), ["Exception\n  at a\n  at b"]);
        assert!(t.tailer.write_checkpoint(t.now));
        assert_eq!(t.tailer.checkpoint_entries()[0].offset, 24);
    }

    fn copies(t: &T) -> u64 {
        t.metrics
            .labeled
            .counter(source_names::FILE_COPIES_TOTAL, &[])
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same start-up banner, longer than the fingerprint.
    fn banner() -> String {
        format!("{}\n", "=".repeat(299))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    /// Regression: the second of two replicas printing the same banner was
    /// never read (taken for a copy of the first).
    #[test]
    fn two_live_files_with_the_same_banner_are_both_read_in_full() {
        let mut t = T::new(|_| {});
        let b = banner();
        t.append("a.log", &format!("{b}a1\n"));
        t.append("b.log", &format!("{b}b1\n"));
        let ban = b.trim_end().to_string();
        assert_eq!(
            sorted(t.run(Duration::ZERO)),
            sorted(vec![ban.clone(), ban.clone(), "a1".into(), "b1".into()])
        );
        t.append("a.log", "a2\n");
        t.append("b.log", "b2\n");
        assert_eq!(sorted(t.run(Duration::from_millis(10))), ["a2", "b2"]);
        assert!(t.tailer.write_checkpoint(t.now));
        t.append("a.log", "a3\n");
        t.append("b.log", "b3\n");
        t.restart();
        assert_eq!(sorted(t.run(Duration::ZERO)), ["a3", "b3"]);
        assert_eq!(copies(&t), 0, "neither is a copy");
    }

    /// Files that are the same bytes, not just the same head: the second may
    /// be a copy in progress, so it waits for the first's truncation, at most
    /// COPY_GRACE, then is read as a file of its own.
    #[test]
    fn identical_live_files_are_both_read_after_the_copy_grace() {
        let mut t = T::new(|_| {});
        let b = banner();
        t.append("a.log", &b);
        assert_eq!(t.run(Duration::ZERO).len(), 1);
        t.append("b.log", &b);
        assert!(
            t.run(Duration::from_millis(10)).is_empty(),
            "a copy in progress?"
        );
        assert!(
            t.tailer.wants_fast_rescan(),
            "the wait is ended by a rescan"
        );
        assert!(t.run(Duration::from_secs(5)).is_empty());
        assert_eq!(t.run(COPY_GRACE), [b.trim_end()]);
        assert!(!t.tailer.wants_fast_rescan());
        t.append("b.log", "b1\n");
        assert_eq!(t.run(Duration::from_millis(10)), ["b1"]);
        assert_eq!(copies(&t), 0);
    }

    #[test]
    fn files_shorter_than_the_fingerprint_are_read_at_once() {
        let mut t = T::new(|_| {});
        t.append("a.log", "hello\n");
        assert_eq!(t.run(Duration::ZERO), ["hello"]);
        t.append("b.log", "hello\n");
        assert_eq!(t.run(Duration::from_millis(10)), ["hello"]);
    }

    /// copytruncate seen half way: the copy waits, and once the original is
    /// truncated it continues where reading stopped; nothing is read twice.
    #[test]
    fn a_copy_in_progress_waits_for_the_truncation_then_continues() {
        let mut t = T::new(|_| {});
        let body: String = (0..40).map(|i| format!("line-{i:04}\n")).collect();
        t.append("app.log", &body);
        assert_eq!(t.run(Duration::ZERO).len(), 40);
        t.append("app.log", "tail-1\n");
        // The copy has the first 300 bytes so far (more than the fingerprint).
        fs::write(t.path("app.log.1"), &body[..300]).unwrap();
        assert_eq!(t.run(Duration::from_millis(10)), ["tail-1"]);
        let full = fs::read(t.path("app.log")).unwrap();
        fs::write(t.path("app.log.1"), &full).unwrap();
        assert!(t.run(Duration::from_millis(10)).is_empty());
        fs::File::options()
            .write(true)
            .open(t.path("app.log"))
            .unwrap()
            .set_len(0)
            .unwrap();
        assert!(t.run(Duration::from_millis(10)).is_empty());
        t.append("app.log", "after\n");
        assert_eq!(t.run(Duration::from_millis(10)), ["after"]);
        assert_eq!(copies(&t), 1, "the copy continued the original");
    }

    /// Regression (torture, copytruncate): the copy was compared after the
    /// original's truncation but before the tailer noticed it, found no bytes
    /// to match, and was read from the start as a file of its own.
    #[test]
    fn a_copy_judged_between_the_truncation_and_its_notice_waits_then_continues() {
        let mut t = T::new(|_| {});
        let body: String = (0..40).map(|i| format!("line-{i:04}\n")).collect();
        t.append("app.log", &body);
        assert_eq!(t.run(Duration::ZERO).len(), 40);
        // copytruncate completes between the scan's truncation check and its
        // look at the copy: the copy is judged with the original still open.
        let copy = t.path("app.log.1");
        fs::write(&copy, &body).unwrap();
        fs::File::options()
            .write(true)
            .open(t.path("app.log"))
            .unwrap()
            .set_len(0)
            .unwrap();
        let meta = fs::metadata(&copy).unwrap();
        let file = FileId::of(&meta);
        let (head, gz) = read_head_of(&copy, t.tailer.skip() + t.tailer.fp_bytes()).unwrap();
        let seen = HashMap::from([(file, copy.as_path())]);
        let verdict = t
            .tailer
            .known_content(&copy, file, &meta, &head, gz, t.now, &seen);
        assert!(
            matches!(verdict, Known::Wait),
            "judged after the truncation is recorded"
        );
        assert!(t.tailer.wants_rescan(), "and that at once");
        assert!(
            t.run(Duration::from_millis(10)).is_empty(),
            "nothing read twice"
        );
        assert_eq!(copies(&t), 1, "the copy continued the original");
        t.append("app.log", "after\n");
        assert_eq!(t.run(Duration::from_millis(10)), ["after"]);
    }

    /// Regression: a gzip file under a matched name, first seen empty, was
    /// read as text.
    #[test]
    fn gzip_written_in_steps_is_read_once_and_never_as_text() {
        let mut t = T::new(|_| {});
        let text: String = (0..500).map(|i| format!("z-{i:05}\n")).collect();
        let gz = gzip(text.as_bytes());
        let name = "x.log.2.gz.tmp";
        t.append(name, "");
        let mut got = t.run(Duration::ZERO);
        assert!(
            t.tailer.wants_fast_rescan(),
            "an empty file waits for bytes"
        );
        let mut at = 0;
        for step in [1, 1, 10, 100, 300] {
            let end = (at + step).min(gz.len());
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(t.path(name))
                .unwrap();
            f.write_all(&gz[at..end]).unwrap();
            drop(f);
            at = end;
            got.extend(t.run(Duration::from_millis(100)));
            assert!(got.is_empty(), "nothing before the stream is complete");
        }
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(t.path(name))
            .unwrap();
        f.write_all(&gz[at..]).unwrap();
        drop(f);
        got.extend(t.run(Duration::from_millis(100)));
        got.extend(t.run(SETTLE));
        let want: Vec<String> = text.lines().map(String::from).collect();
        assert_eq!(got, want);
        assert!(t.run(SETTLE * 2).is_empty(), "read once");
        assert_eq!(t.metrics.snapshot().errors, 0);
    }

    #[test]
    fn a_plain_file_that_becomes_gzip_after_being_opened_is_not_read_as_text() {
        let mut t = T::new(|_| {});
        t.append("y.log", "");
        assert!(t.run(Duration::ZERO).is_empty());
        assert!(t.run(SETTLE).is_empty(), "opened empty, as text");
        fs::write(t.path("y.log"), gzip(b"g1\ng2\n")).unwrap();
        let mut got = t.run(Duration::from_millis(10));
        got.extend(t.run(Duration::from_millis(10)));
        assert_eq!(got, ["g1", "g2"]);
    }

    #[test]
    fn a_truncated_gzip_is_read_as_far_as_valid_once_it_settles_and_counted() {
        let mut t = T::new(|_| {});
        let text: String = (0..4000)
            .map(|i| format!("t-{i:05} {}\n", i * 7919 % 1000))
            .collect();
        let gz = gzip(text.as_bytes());
        fs::write(t.path("cut.log.gz"), &gz[..gz.len() / 2]).unwrap();
        assert!(
            t.run(Duration::ZERO).is_empty(),
            "may still be being written"
        );
        assert!(t.run(Duration::from_secs(1)).is_empty());
        let got = t.run(SETTLE);
        assert!(!got.is_empty() && got.len() < 4000, "{} lines", got.len());
        let want: Vec<&str> = text.lines().take(got.len()).collect();
        assert_eq!(got[..got.len() - 1], want[..got.len() - 1]);
        let truncated = t
            .metrics
            .labeled
            .counter(ERRORS_BY_TYPE, &[("error_type", "gzip_truncated")])
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(truncated, 1);
        assert!(t.run(SETTLE).is_empty(), "finished");
    }

    #[test]
    fn a_compressed_rotation_continues_where_the_plain_file_stopped() {
        let mut t = T::new(|_| {});
        let b = banner();
        t.append("app.log", &format!("{b}1\n2\n"));
        assert_eq!(t.run(Duration::ZERO).len(), 3);
        fs::rename(t.path("app.log"), t.path("app.log.1")).unwrap();
        assert!(t.run(Duration::from_millis(10)).is_empty());
        let plain = fs::read(t.path("app.log.1")).unwrap();
        let gz = gzip(&plain);
        fs::write(t.path("app.log.1.gz"), &gz[..gz.len() / 2]).unwrap();
        assert!(t.run(Duration::from_millis(10)).is_empty());
        fs::write(t.path("app.log.1.gz"), &gz).unwrap();
        assert!(
            t.run(Duration::from_millis(10)).is_empty(),
            "its original is still there"
        );
        fs::remove_file(t.path("app.log.1")).unwrap();
        assert!(t.run(Duration::from_millis(10)).is_empty());
        assert!(
            t.run(Duration::from_secs(1)).is_empty(),
            "nothing read twice"
        );
        assert_eq!(copies(&t), 1);
    }

    /// Pod churn: what the tailer keeps per file goes with the files once
    /// their checkpoints expire.
    #[test]
    fn per_file_state_is_forgotten_with_the_files() {
        let mut t = T::new(|c| {
            c.include = vec![format!(
                "{}/pods/*/*/*.log",
                c.include[0].rsplit_once("/logs/").unwrap().0
            )];
            c.kubernetes_metadata = true;
            c.checkpoint_retention = HumanDuration(Duration::from_secs(3600));
        });
        let pods = t.dir.path().join("pods");
        for round in 0..3 {
            let mut dirs = Vec::new();
            for i in 0..20 {
                let d = pods
                    .join(format!("ns_pod{round}x{i}_uid{round}x{i}"))
                    .join("app");
                fs::create_dir_all(&d).unwrap();
                let text = if i % 5 == 0 {
                    String::new()
                } else {
                    format!("{round}-{i}\n")
                };
                fs::write(d.join("0.log"), text).unwrap();
                dirs.push(d);
            }
            assert_eq!(t.run(Duration::from_secs(1)).len(), 16);
            let now = t.tailer.tracked();
            assert_eq!((now.items, now.kubernetes, now.waiting), (16, 16, 4));
            for d in dirs {
                fs::remove_dir_all(d.parent().unwrap()).unwrap();
            }
            t.run(Duration::from_secs(1));
            assert_eq!(t.tailer.tracked().waiting, 0);
            t.run(Duration::from_secs(2 * 3600));
            assert_eq!(
                t.tailer.tracked(),
                Tracked {
                    items: 0,
                    waiting: 0,
                    kubernetes: 0
                }
            );
        }
    }

    /// Regression: with `read_from = end`, a gzip file there at the start was
    /// skipped by the first scan only, and read by the next.
    #[test]
    fn read_from_end_leaves_existing_gzip_files_unread_for_good() {
        let mut t = T::new(|c| c.read_from = ReadFrom::End);
        fs::write(t.path("old.log.1.gz"), gzip(b"old1\nold2\n")).unwrap();
        assert!(t.run(Duration::ZERO).is_empty());
        assert!(
            t.run(Duration::from_secs(20)).is_empty(),
            "not at a later scan either"
        );
        let e = &t.tailer.checkpoint_entries()[0];
        assert!(e.compressed && e.finished && e.offset == 10);
        fs::write(t.path("new.log.2.gz"), gzip(b"new1\n")).unwrap();
        assert_eq!(t.run(Duration::from_secs(1)), ["new1"], "a new one is read");
    }
}
