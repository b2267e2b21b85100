//! `type = "file"`: appends NDJSON to files named by a template
//! (`out/{{ service }}-%Y-%m-%d.ndjson`, dates from the event time).
//!
//! Output is buffered per file and written out when a buffer fills, every
//! `flush_interval`, and at shutdown (with an fsync). A batch is acknowledged only
//! after everything it added has been written. A failing write (a full disk) is
//! retried with backoff, holding the pipeline back, until it succeeds or the
//! drain time at shutdown runs out.
//!
//! Optionally the sink rotates its files by size and/or time (`[rotate]`: the
//! file is renamed `PATH.STAMP` and gzipped in the background), deletes closed
//! files by count, age and total size (`[retain]`, the same policy code as
//! `logagent retain`), and writes events below a level to other files with their
//! own retention (`[levels]`). See [`rotation`] and [`housekeeping`].
//!
//! With `durability = "exactly_once"` (the default) the sink keeps a ledger
//! ([`ledger`]): buffers are written out, the files fsynced and the ledger
//! committed every `flush_interval` (group commit), and only then are the
//! batches acknowledged. After a crash the files are cut back to the last
//! commit and events the sources replay are skipped up to where the ledger
//! says they were written, so each line is in the files exactly once.

pub mod housekeeping;
pub mod ledger;
pub mod rotation;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::Encoding;
use super::io_retry::retry;
use housekeeping::{FileSet, Housekeeper, OpenSet, Plan};
use ledger::Ledger;
use logagent_core::component::{Sink, SinkContext, SinkError};
use logagent_core::event::template::Template;
use logagent_core::event::{AckToken, Batch, Event, FieldPath, Level, Member, access};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::time::clock::{Clock, SystemClock};
use logagent_core::{ByteSize, HumanDuration, KeyError};
use logagent_retention::fsops;
use rotation::{LevelSplit, RetainOptions, RotateOptions};

/// Options of the file sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Path template: `{{ field }}` and strftime `%Y-%m-%d` (event time, UTC).
    /// Field values cannot add directories (`/` and `..` are replaced).
    pub path: String,
    /// `json` (default) or `text`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Longest time written data may wait in memory (default 1s).
    #[serde(default = "default_flush")]
    pub flush_interval: HumanDuration,
    /// Buffer per open file; a full buffer is written at once (default 256KiB).
    #[serde(default = "default_buffer")]
    pub buffer_bytes: ByteSize,
    /// Files kept open at once; the least recently used is closed (default 64).
    #[serde(default = "default_max_open")]
    pub max_open_files: usize,
    /// Rotation by size and/or time, with gzip (default: none).
    #[serde(default)]
    pub rotate: Option<Box<RotateOptions>>,
    /// Retention of closed files: count, age, total size (default: keep all).
    #[serde(default)]
    pub retain: Option<Box<RetainOptions>>,
    /// Events below a level go to other files, with their own retention.
    #[serde(default)]
    pub levels: Option<Box<LevelSplit>>,
    /// `exactly_once` (default): commit files and a ledger together so a crash
    /// neither loses nor repeats a line (an fsync of the written files and of
    /// the ledger per `flush_interval`). `at_least_once`: no fsync but at
    /// shutdown and rotation; a crash may write up to a `flush_interval` of
    /// lines twice.
    #[serde(default)]
    pub durability: Durability,
    /// Most input streams (files) the ledger remembers; the least recently
    /// written are forgotten first (default 10000).
    #[serde(default = "default_ledger_streams")]
    pub ledger_max_streams: usize,
    /// A stream not written for this long is forgotten by the ledger (default
    /// 24h, the file source's `checkpoint_retention`).
    #[serde(default = "default_ledger_retention")]
    pub ledger_retention: HumanDuration,
}

/// What a crash may do to the sink's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Nothing lost, nothing written twice (ledger + fsync per commit).
    #[default]
    ExactlyOnce,
    /// Nothing lost; lines after the last acknowledged offset written again.
    AtLeastOnce,
}

fn default_ledger_streams() -> usize {
    10_000
}
fn default_ledger_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(24 * 3600))
}

fn default_flush() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_buffer() -> ByteSize {
    ByteSize(256 << 10)
}
fn default_max_open() -> usize {
    64
}

impl FileSinkConfig {
    /// Checks the template and limits.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.path.trim().is_empty() {
            errors.push(KeyError::new("path", "must not be empty"));
        } else if let Err(e) = Template::parse(&self.path, true) {
            errors.push(KeyError::new("path", e.to_string()));
        }
        if self.max_open_files == 0 {
            errors.push(KeyError::new("max_open_files", "must be at least 1"));
        }
        if self.ledger_max_streams == 0 {
            errors.push(KeyError::new("ledger_max_streams", "must be at least 1"));
        }
        if self.flush_interval.0.is_zero() {
            errors.push(KeyError::new("flush_interval", "must be greater than zero"));
        }
        if let Some(r) = &self.rotate {
            errors.extend(r.check());
        }
        if let Some(r) = &self.retain {
            errors.extend(r.check("retain"));
        }
        if let Some(l) = &self.levels {
            errors.extend(l.check(&self.path));
        }
        errors
    }

    /// What the housekeeper must do, if anything.
    fn housekeeping(&self) -> Option<Plan> {
        let compress = self.rotate.as_ref().is_some_and(|r| r.compress);
        let any_retain = self.retain.is_some()
            || self
                .levels
                .as_ref()
                .is_some_and(|l| l.below_retain.is_some());
        if !compress && !any_retain && self.rotate.as_ref().is_none_or(|r| r.interval.is_none()) {
            return None;
        }
        let set = |path: &str, retain: Option<&RetainOptions>| FileSet {
            glob: rotation::template_glob(path),
            dated: Template::parse(path, true).is_ok_and(|t| t.uses_time()),
            retain: retain.map(RetainOptions::policy),
        };
        let mut sets = vec![set(&self.path, self.retain.as_deref())];
        if let Some(l) = &self.levels {
            sets.push(set(&l.below_path, l.below_retain.as_ref()));
        }
        let every = self
            .retain
            .as_deref()
            .into_iter()
            .chain(self.levels.as_ref().and_then(|l| l.below_retain.as_ref()))
            .map(|r| r.check_interval.0)
            .min()
            .unwrap_or(Duration::from_secs(60));
        Some(Plan {
            id: String::new(),
            sets,
            rotate: self.rotate.as_deref().cloned(),
            every,
        })
    }

    /// A sink for this config without a data directory: at-least-once
    /// whatever `durability` says (tests, benches).
    pub fn build(&self) -> FileSink {
        self.build_with_clock(Arc::new(SystemClock))
    }

    /// The sink the agent runs: its ledger (if exactly-once) lives under
    /// `data_dir`. Files are opened, and the ledger recovered, on first use.
    pub fn build_in(&self, data_dir: &Path) -> FileSink {
        let mut sink = self.build_with_clock(Arc::new(SystemClock));
        sink.data_dir = Some(data_dir.to_path_buf());
        sink
    }

    /// A sink reading the time from `clock` (rotation tests move it by days),
    /// without a data directory (see [`FileSinkConfig::build`]).
    pub fn build_with_clock(&self, clock: Arc<dyn Clock>) -> FileSink {
        let parse = |p: &str| {
            Template::parse(p, true).unwrap_or_else(|_| {
                Template::parse("invalid-path-template", true).expect("literal template")
            })
        };
        let template = parse(&self.path);
        let split = self.levels.as_ref().and_then(|l| {
            Some(Split {
                min: l.min_level.resolve()?,
                field: FieldPath::parse(&l.field).ok()?,
                below: parse(&l.below_path),
            })
        });
        FileSink {
            rotate: self.rotate.as_deref().cloned(),
            split,
            clock,
            open_set: OpenSet::default(),
            housekeeping: self.housekeeping(),
            housekeeper: None,
            template,
            encoding: self.encoding,
            flush_interval: self.flush_interval.0,
            buffer_bytes: self.buffer_bytes.as_usize().max(1),
            max_open: self.max_open_files.max(1),
            open: HashMap::new(),
            tick: 0,
            pending: Vec::new(),
            buffered: 0,
            path_buf: String::new(),
            log: RateLimiter::default(),
            durability: self.durability,
            data_dir: None,
            ledger_max_streams: self.ledger_max_streams.max(1),
            ledger_retention: self.ledger_retention.0,
            ledger: None,
            ledger_ready: false,
            last_commit: None,
            commit_cost: Duration::ZERO,
            skipped: 0,
            skipped_counter: None,
        }
    }
}

struct OpenFile {
    file: File,
    buf: Vec<u8>,
    /// Events whose bytes are in `buf`, counted as sent once written.
    events: u64,
    last_used: u64,
    /// Bytes in the file (written out, not counting `buf`).
    written: u64,
    /// Bytes known to be on disk (fsynced), to skip needless fsyncs.
    synced: u64,
    /// Bytes whose write-back to disk was started early (exactly-once), so
    /// the commit's fsync waits only for the rest.
    kicked: u64,
    /// The rotation period the file's data belongs to.
    period: Option<u64>,
}

/// The level split, resolved.
#[derive(Debug)]
struct Split {
    min: Level,
    field: FieldPath,
    below: Template,
}

impl Split {
    /// Below the threshold? Events without a recognizable level are not: they
    /// stay with the longer-kept files.
    fn is_below(&self, event: &Event, members: &[Member]) -> bool {
        let level = event.meta.level.or_else(|| {
            access::get(event, members, &self.field).and_then(|v| Level::from_text(&v.text()))
        });
        level.is_some_and(|l| l < self.min)
    }
}

/// The running file sink.
pub struct FileSink {
    rotate: Option<RotateOptions>,
    split: Option<Split>,
    clock: Arc<dyn Clock>,
    /// Files open now, shared with the housekeeper so it never touches them.
    open_set: OpenSet,
    housekeeping: Option<Plan>,
    housekeeper: Option<Housekeeper>,
    template: Template,
    encoding: Encoding,
    flush_interval: Duration,
    buffer_bytes: usize,
    max_open: usize,
    open: HashMap<String, OpenFile>,
    /// Use counter for least-recently-used eviction.
    tick: u64,
    /// Acks of batches with data still in buffers.
    pending: Vec<AckToken>,
    buffered: usize,
    path_buf: String,
    log: RateLimiter,
    durability: Durability,
    /// Where the ledger lives (none in tests built without one).
    data_dir: Option<PathBuf>,
    ledger_max_streams: usize,
    ledger_retention: Duration,
    /// The exactly-once ledger, once recovered.
    ledger: Option<Ledger>,
    /// Recovery (or removal of a stale ledger) has run.
    ledger_ready: bool,
    /// When the last exactly-once commit ended and how long it took: the
    /// ledger is rewritten whole, so commits are spaced by their cost
    /// ([`COMMIT_COST_SPACING`]).
    last_commit: Option<Instant>,
    commit_cost: Duration,
    /// Replayed events skipped since the last log line.
    skipped: u64,
    skipped_counter: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// Metric: replayed events the exactly-once file sink skipped because they
/// were written before a restart.
pub const REPLAY_SKIPPED: &str = "sink_replay_skipped_events_total";

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("template", &self.template.as_str())
            .field("open_files", &self.open.len())
            .finish()
    }
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl FileSink {
    /// First use: recover the ledger (cut files back to the last commit) or,
    /// at-least-once, remove a stale one. Runs before anything is opened or
    /// the housekeeper starts.
    fn setup_ledger(&mut self, ctx: &SinkContext) {
        self.ledger_ready = true;
        let Some(data_dir) = &self.data_dir else {
            return;
        };
        if self.durability == Durability::AtLeastOnce {
            match ledger::remove(data_dir, &ctx.id) {
                Ok(true) => {
                    tracing::info!(component = %ctx.id, "durability is at_least_once: removed the exactly-once ledger")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(component = %ctx.id, %error, "cannot remove the old exactly-once ledger")
                }
            }
            return;
        }
        let id = ctx.id.clone();
        let (ledger, recovery, error) = Ledger::recover(
            data_dir,
            &ctx.id,
            self.ledger_max_streams,
            self.ledger_retention,
            |w| tracing::warn!(component = %id, "{w}"),
        );
        if let Some(error) = error {
            ComponentMetrics::add(&ctx.metrics.errors, 1);
            tracing::error!(component = %ctx.id, %error,
                "sink ledger unreadable; starting without it (lines written since the last commit may appear twice this once)");
        }
        for (path, bytes) in &recovery.cut {
            tracing::warn!(component = %ctx.id, path, bytes, "cut back to the last commit (written after it, before a crash; the sources replay those lines)");
        }
        if recovery.streams > 0 {
            tracing::info!(component = %ctx.id, streams = recovery.streams, "exactly-once ledger loaded; replayed lines already written will be skipped");
        }
        self.skipped_counter = Some(ctx.metrics.labeled.counter(REPLAY_SKIPPED, &[]));
        self.ledger = Some(ledger);
    }

    /// Exactly-once: the file about to be written is listed in the ledger at
    /// its current length before any byte goes to it.
    fn register(&mut self, path: &str, len: u64, ctx: &SinkContext) -> Result<(), SinkError> {
        let Some(ledger) = self.ledger.as_mut() else {
            return Ok(());
        };
        if ledger.listed_len(path) == Some(len) {
            return Ok(());
        }
        retry(ctx, &self.log, "writing the sink ledger", || {
            ledger
                .register(path, len)
                .map_err(ledger::LedgerError::into_io)
        })
    }

    /// Exactly-once group commit: write out every buffer, fsync the files
    /// written since the last commit, record their lengths and the stream ends
    /// in the ledger, then release the acknowledgements.
    fn commit(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let idle = self.pending.is_empty()
            && self
                .open
                .values()
                .all(|f| f.buf.is_empty() && f.synced == f.written);
        if idle {
            return Ok(());
        }
        for (path, f) in self.open.iter_mut() {
            write_out(path, f, ctx, &self.log)?;
            if f.synced != f.written {
                let file = &f.file;
                retry(ctx, &self.log, &format!("fsync of {path}"), || {
                    file.sync_data()
                })?;
                f.synced = f.written;
            }
        }
        self.buffered = 0;
        let files: BTreeMap<String, u64> = self
            .open
            .iter()
            .map(|(p, f)| (p.clone(), f.written))
            .collect();
        if let Some(ledger) = self.ledger.as_mut() {
            retry(ctx, &self.log, "writing the sink ledger", || {
                ledger
                    .commit(files.clone())
                    .map(|_| ())
                    .map_err(ledger::LedgerError::into_io)
            })?;
        }
        if self.skipped > 0 {
            tracing::info!(component = %ctx.id, events = self.skipped, "skipped replayed events already written before the restart");
            self.skipped = 0;
        }
        self.pending.clear();
        Ok(())
    }

    /// Notes in the ledger that `stream`'s events up to the one at `last` are
    /// written.
    #[inline]
    fn advance(&mut self, tracked: bool, stream: &logagent_core::event::Stream, last: Option<u64>) {
        if let (true, Some(last), Some(ledger)) = (tracked, last, self.ledger.as_mut()) {
            ledger.advance(&stream.source, stream.id, last + 1);
        }
    }

    /// Writes every buffer out without committing, and starts the write-back
    /// of what accumulated since the last start, so that the commit's fsync
    /// does not wait for a whole flush interval of data at once.
    fn write_out_all(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        for (path, f) in self.open.iter_mut() {
            write_out(path, f, ctx, &self.log)?;
            start_writeback(f);
        }
        self.buffered = 0;
        Ok(())
    }

    /// Starts the housekeeper on first use (it needs the component id).
    fn start_housekeeping(&mut self, ctx: &SinkContext) {
        let Some(mut plan) = self.housekeeping.take() else {
            return;
        };
        plan.id = ctx.id.to_string();
        match Housekeeper::start(plan, self.open_set.clone(), self.clock.clone()) {
            Ok(h) => self.housekeeper = Some(h),
            Err(error) => {
                tracing::error!(component = %ctx.id, %error, "cannot start the housekeeping thread; rotated files are not compressed or expired")
            }
        }
    }

    fn open_file(&mut self, path: &str, ctx: &SinkContext) -> Result<(), SinkError> {
        if self.open.len() >= self.max_open {
            self.close_least_recent(ctx)?;
        }
        let now = self.clock.now();
        // Held while the file is checked and opened: the housekeeper does not
        // rotate or delete it meanwhile.
        let set = self.open_set.clone();
        let mut open_set = set.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rotate) = &self.rotate {
            // A file left from before (a restart, or closed as least recently
            // used) that is already over its size or period is rotated first.
            if let Ok(meta) = std::fs::metadata(path) {
                let over_size = rotate.max_size.is_some_and(|m| meta.len() >= m.0);
                let old_period = rotate.period(now).is_some_and(|current| {
                    meta.modified()
                        .ok()
                        .and_then(|t| rotate.period(t))
                        .is_some_and(|p| p < current)
                });
                if meta.len() > 0 && (over_size || old_period) {
                    self.rename_rotated(path, ctx);
                }
            }
        }
        let file = retry(ctx, &self.log, &format!("opening {path}"), || {
            if let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            OpenOptions::new().create(true).append(true).open(path)
        })?;
        let meta = file.metadata().ok();
        let written = meta.as_ref().map_or(0, |m| m.len());
        if let Err(e) = self.register(path, written, ctx) {
            open_set.remove(Path::new(path));
            return Err(e);
        }
        let period = self.rotate.as_ref().and_then(|r| {
            let since = meta
                .as_ref()
                .filter(|m| m.len() > 0)
                .and_then(|m| m.modified().ok())
                .unwrap_or(now);
            r.period(since)
        });
        open_set.insert(PathBuf::from(path));
        drop(open_set);
        self.open.insert(
            path.to_owned(),
            OpenFile {
                file,
                buf: Vec::with_capacity(self.buffer_bytes.min(1 << 20)),
                events: 0,
                last_used: self.tick,
                written,
                synced: written,
                kicked: written,
                period,
            },
        );
        Ok(())
    }

    /// Renames a closed file to its rotated name and hands it to the housekeeper.
    /// A failure is logged and counted; the file then simply goes on growing.
    fn rename_rotated(&self, path: &str, ctx: &SinkContext) {
        let to = rotation::rotated_name(Path::new(path), self.clock.now());
        match fsops::rename_noreplace(Path::new(path), &to) {
            Ok(()) => {
                tracing::info!(component = %ctx.id, path, rotated = %to.display(), "rotated");
                if let Some(h) = &self.housekeeper {
                    h.rotated(to);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                ComponentMetrics::add(&ctx.metrics.errors, 1);
                if let Some(suppressed) = self.log.check() {
                    tracing::warn!(component = %ctx.id, path, %error, suppressed, "cannot rotate; appending to the file instead");
                }
            }
        }
    }

    /// Writes out, closes and rotates an open file. Exactly-once, everything
    /// is committed first, so a rotated file holds committed lines only.
    fn rotate_open(&mut self, path: &str, ctx: &SinkContext) -> Result<(), SinkError> {
        if self.ledger.is_some() {
            self.commit(ctx)?;
        }
        let set = self.open_set.clone();
        let mut open_set = set.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut f) = self.open.remove(path) {
            let n = f.buf.len();
            write_out(path, &mut f, ctx, &self.log)?;
            self.buffered = self.buffered.saturating_sub(n);
            if let Err(error) = f.file.sync_data() {
                tracing::warn!(component = %ctx.id, path, %error, "fsync before rotation failed");
            }
        }
        open_set.remove(Path::new(path));
        self.rename_rotated(path, ctx);
        Ok(())
    }

    /// Rotates every open file whose period is over.
    fn rotate_by_time(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let Some(current) = self
            .rotate
            .as_ref()
            .and_then(|r| r.period(self.clock.now()))
        else {
            return Ok(());
        };
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, f)| {
                f.period.is_some_and(|p| p < current) && f.written + f.buf.len() as u64 > 0
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in due {
            self.rotate_open(&path, ctx)?;
        }
        Ok(())
    }

    fn close_least_recent(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        // Exactly-once: a closed file holds committed lines only.
        if self.ledger.is_some() {
            self.commit(ctx)?;
        }
        let Some(oldest) = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_used)
            .map(|(p, _)| p.clone())
        else {
            return Ok(());
        };
        if let Some(mut f) = self.open.remove(&oldest) {
            let n = f.buf.len();
            write_out(&oldest, &mut f, ctx, &self.log)?;
            self.buffered = self.buffered.saturating_sub(n);
        }
        self.open_set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(Path::new(&oldest));
        Ok(())
    }

    fn write_all_buffers(&mut self, ctx: &SinkContext, sync: bool) -> Result<(), SinkError> {
        if self.ledger.is_some() {
            let now = Instant::now();
            let early = self
                .last_commit
                .is_some_and(|t| now < t + self.commit_cost * COMMIT_COST_SPACING);
            if early && !sync && self.pending.len() < MAX_UNCOMMITTED_BATCHES {
                // Written out (readers see it), committed at a later flush.
                return self.write_out_all(ctx);
            }
            let result = self.commit(ctx);
            let end = Instant::now();
            self.commit_cost = end.saturating_duration_since(now);
            self.last_commit = Some(end);
            return result;
        }
        for (path, f) in self.open.iter_mut() {
            write_out(path, f, ctx, &self.log)?;
            if sync && let Err(error) = f.file.sync_data() {
                tracing::warn!(component = %ctx.id, path, %error, "fsync failed");
            }
        }
        self.buffered = 0;
        // Everything the pending batches added is now written.
        self.pending.clear();
        Ok(())
    }
}

/// An exactly-once commit (fsync, and the ledger rewritten whole: its cost
/// grows with the streams it lists) is made at most once per this many times
/// its own duration, so that at thousands of input files committing stays
/// under ~2% of a core; in between, flushes only write the buffers out.
const COMMIT_COST_SPACING: u32 = 50;

/// Batches acknowledged only at the next commit, beyond which a commit is
/// made whatever its spacing (bounds what waits for it).
const MAX_UNCOMMITTED_BATCHES: usize = 8192;

/// Bytes written before their write-back is started ahead of the commit.
const WRITEBACK_STEP: u64 = 4 << 20;

/// Asks the kernel to start writing `f`'s new bytes to disk now, without
/// waiting (`POSIX_FADV_DONTNEED` starts write-back of dirty pages, and drops
/// the pages already clean: an output file is not read back). Only a hint: a
/// failure changes nothing, the commit's fsync is what makes the bytes durable.
fn start_writeback(f: &mut OpenFile) {
    let new = f.written.saturating_sub(f.kicked.max(f.synced));
    if new < WRITEBACK_STEP {
        return;
    }
    let from = f.kicked.max(f.synced);
    #[cfg(unix)]
    {
        let _ = rustix::fs::fadvise(
            &f.file,
            from,
            std::num::NonZeroU64::new(new),
            rustix::fs::Advice::DontNeed,
        );
    }
    f.kicked = f.written;
}

/// Writes a file's buffer, retrying while the error persists.
fn write_out(
    path: &str,
    f: &mut OpenFile,
    ctx: &SinkContext,
    log: &RateLimiter,
) -> Result<(), SinkError> {
    if f.buf.is_empty() {
        return Ok(());
    }
    let n = f.buf.len();
    let file = &mut f.file;
    let buf = &f.buf;
    retry(ctx, log, &format!("writing {path}"), || file.write_all(buf))?;
    ComponentMetrics::add(&ctx.metrics.sent_bytes, n as u64);
    f.written += n as u64;
    ComponentMetrics::add(&ctx.metrics.sent_events, std::mem::take(&mut f.events));
    f.buf.clear();
    Ok(())
}

impl logagent_core::component::SinkComponent for FileSinkConfig {
    fn check(&self) -> Vec<KeyError> {
        FileSinkConfig::check(self)
    }
    fn build(&self, data_dir: &Path) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(self.build_in(data_dir)))
    }
    fn skips_replays(&self) -> bool {
        self.durability == Durability::ExactlyOnce
    }
    fn output_path(&self) -> Option<&str> {
        Some(self.path.as_str())
    }
}

impl Drop for FileSink {
    /// Batches whose data never reached the file (the sink stopped on an error)
    /// are reported as not delivered, so their source does not checkpoint past
    /// them; a dropped token would otherwise count as delivered.
    fn drop(&mut self) {
        for token in self.pending.drain(..) {
            token.fail();
        }
    }
}

impl Sink for FileSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.tick += 1;
        if !self.ledger_ready {
            self.setup_ledger(ctx);
        }
        if self.housekeeping.is_some() {
            self.start_housekeeping(ctx);
        }
        // Files whose period ended are rotated before this batch is written, so
        // its events land in the new files.
        if let Err(e) = self.rotate_by_time(ctx) {
            batch.ack.fail();
            return Err(e);
        }
        let now = nanos(self.clock.now());
        let split = self.split.is_some();
        let dynamic = self.template.is_dynamic() || split;
        let max_size = self.rotate.as_ref().and_then(|r| r.max_size).map(|s| s.0);
        let mut missing = 0u64;
        let mut current: Option<String> = None;
        // Exactly-once, for streams with stable ids (files): events written
        // before a restart are skipped, and how far the stream got is noted.
        let stream = &batch.stream;
        let tracked = self.ledger.is_some() && stream.path.is_some();
        let replay_next = self
            .ledger
            .as_ref()
            .filter(|_| tracked)
            .and_then(|l| l.replay_next(&stream.source, stream.id));
        let mut skipped = 0u64;
        let mut last_written: Option<u64> = None;
        // The open file `current` names, looked up once per change of path
        // rather than once per event (a static path is rendered and hashed
        // once per batch).
        let mut file: Option<&mut OpenFile> = None;
        for event in &batch.events {
            if replay_next.is_some_and(|next| event.meta.offset < next) {
                skipped += 1;
                continue;
            }
            if dynamic || file.is_none() {
                self.path_buf.clear();
                let template = match &self.split {
                    Some(s) if s.is_below(event, &batch.members) => &s.below,
                    _ => &self.template,
                };
                if template.render(event, &batch.members, now, &mut self.path_buf) {
                    missing += 1;
                }
                if file.is_none() || current.as_deref() != Some(self.path_buf.as_str()) {
                    if !self.open.contains_key(self.path_buf.as_str()) {
                        let path = self.path_buf.clone();
                        // Opening may commit (closing another file): note this
                        // batch's progress first.
                        self.advance(tracked, stream, last_written);
                        if let Err(e) = self.open_file(&path, ctx) {
                            batch.ack.fail();
                            return Err(e);
                        }
                    }
                    if current.as_deref() != Some(self.path_buf.as_str()) {
                        current = Some(self.path_buf.clone());
                    }
                    file = self.open.get_mut(self.path_buf.as_str());
                }
            }
            let Some(f) = file.as_deref_mut() else {
                continue;
            };
            f.last_used = self.tick;
            let before = f.buf.len();
            self.encoding.write(event, &mut f.buf);
            f.events += 1;
            last_written = Some(event.meta.offset);
            self.buffered += f.buf.len() - before;
            let full = max_size.is_some_and(|m| f.written + f.buf.len() as u64 >= m);
            if f.buf.len() >= self.buffer_bytes || full {
                let path = current.as_deref().unwrap_or_default();
                let n = f.buf.len();
                if let Err(e) = write_out(path, f, ctx, &self.log) {
                    batch.ack.fail();
                    return Err(e);
                }
                if self.ledger.is_some() {
                    start_writeback(f);
                }
                self.buffered = self.buffered.saturating_sub(n);
                if full {
                    // The next event for this path opens a new file.
                    file = None;
                    let path = current.take().unwrap_or_default();
                    self.advance(tracked, stream, last_written);
                    if let Err(e) = self.rotate_open(&path, ctx) {
                        batch.ack.fail();
                        return Err(e);
                    }
                }
            }
        }
        if missing > 0 {
            ComponentMetrics::add(&ctx.metrics.errors, missing);
            if let Some(suppressed) = self.log.check() {
                tracing::warn!(component = %ctx.id, events = missing, suppressed,
                    "path template field missing; wrote to '{}'", logagent_core::event::template::MISSING_FIELD);
            }
        }
        self.advance(tracked, stream, last_written);
        if skipped > 0 {
            self.skipped += skipped;
            if let Some(c) = &self.skipped_counter {
                ComponentMetrics::add(c, skipped);
            }
        }
        self.pending.push(batch.ack);
        if self.pending.len() >= 1024
            || (self.ledger.is_none() && self.buffered >= self.buffer_bytes)
        {
            self.write_all_buffers(ctx, false)?;
        } else if self.buffered >= self.buffer_bytes {
            // Exactly-once: out of memory, into the files; committed (and
            // acknowledged) at the next flush.
            self.write_out_all(ctx)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        if !self.ledger_ready {
            self.setup_ledger(ctx);
        }
        if self.housekeeping.is_some() {
            self.start_housekeeping(ctx);
        }
        let result = self
            .rotate_by_time(ctx)
            .and_then(|()| self.write_all_buffers(ctx, ctx.shutdown.is_stopping()));
        if result.is_err() {
            // Giving up (drain time over): what is still buffered is not written;
            // its batches are reported undelivered and the events counted.
            for f in self.open.values_mut() {
                ComponentMetrics::add(&ctx.metrics.discarded_events, std::mem::take(&mut f.events));
                f.buf.clear();
            }
            for token in self.pending.drain(..) {
                token.fail();
            }
        }
        result
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.flush_interval)
    }

    /// The last flush commits whatever the spacing of commits says.
    fn close(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.last_commit = None;
        self.flush(ctx)
    }
}

#[cfg(test)]
mod tests;
