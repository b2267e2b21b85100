//! `type = "file"`: follows files matching include globs.
//!
//! This is the core's file source: discovery by glob with a periodic rescan,
//! reading from the beginning or the end, following appended lines, and the
//! simple cases of rotation (a new file at the path is read after the old one is
//! finished) and truncation (reading restarts at 0). Checkpoints, fingerprints
//! and the rest of rotation handling build on this.

mod discover;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::Deserialize;

use super::batcher::Batcher;
use super::{DEFAULT_MAX_LINE_BYTES, OversizeLines, Source, SourceContext, SourceError};
use crate::codecs::framing::LineReader;
use crate::config::{ByteSize, HumanDuration, KeyError};
use crate::event::Stream;
use crate::event::ack::Ack;
use crate::telemetry::metrics::ComponentMetrics;
use crate::telemetry::ratelimit::RateLimiter;
use discover::Discovery;

/// Where to start in files that exist when the agent starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Read existing content (default: nothing already written is skipped).
    #[default]
    Beginning,
    /// Only lines appended after start-up. Files created later are always read
    /// from their beginning.
    End,
}

/// Options of the file source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to read (`/var/log/app/*.log`, `**` allowed).
    pub include: Vec<String>,
    /// Glob patterns of files to leave out, matched against the full path.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `beginning` (default) or `end`, for files present at start-up.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Longest line kept whole (default 1MiB).
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
    /// `truncate` (default) or `drop` lines over the limit.
    #[serde(default)]
    pub oversize_lines: OversizeLines,
    /// How long to wait at the end of every file before looking again (default 250ms).
    #[serde(default = "default_poll")]
    pub poll_interval: HumanDuration,
    /// How often to look for new files matching the globs (default 1s).
    #[serde(default = "default_glob")]
    pub glob_interval: HumanDuration,
    /// Bytes read per read call (default 256KiB).
    #[serde(default = "default_read_buffer")]
    pub read_buffer: ByteSize,
    /// Bytes read from one file before turning to the next, so one busy file
    /// cannot starve the others (default 4MiB).
    #[serde(default = "default_per_turn")]
    pub max_read_per_turn: ByteSize,
}

fn default_max_line() -> ByteSize {
    ByteSize(DEFAULT_MAX_LINE_BYTES)
}
fn default_poll() -> HumanDuration {
    HumanDuration(Duration::from_millis(250))
}
fn default_glob() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_read_buffer() -> ByteSize {
    ByteSize(256 << 10)
}
fn default_per_turn() -> ByteSize {
    ByteSize(4 << 20)
}

impl FileSourceConfig {
    /// Checks globs and limits.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.include.is_empty() {
            errors.push(KeyError::new(
                "include",
                "must list at least one glob pattern",
            ));
        }
        for (key, list) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, pattern) in list.iter().enumerate() {
                if let Err(e) = glob::Pattern::new(pattern) {
                    errors.push(KeyError::new(
                        format!("{key}[{i}]"),
                        format!("invalid glob {pattern:?}: {e}"),
                    ));
                }
            }
        }
        if self.max_line_bytes.0 == 0 {
            errors.push(KeyError::new("max_line_bytes", "must be greater than zero"));
        }
        if self.read_buffer.0 < 4096 || self.read_buffer.0 > (64 << 20) {
            errors.push(KeyError::new(
                "read_buffer",
                "must be between 4KiB and 64MiB",
            ));
        }
        if self.poll_interval.0.is_zero() {
            errors.push(KeyError::new("poll_interval", "must be greater than zero"));
        }
        if self.glob_interval.0.is_zero() {
            errors.push(KeyError::new("glob_interval", "must be greater than zero"));
        }
        errors
    }

    /// A source following the configured files.
    pub fn build(&self) -> FileSource {
        FileSource {
            config: self.clone(),
        }
    }
}

/// The running file source.
#[derive(Debug)]
pub struct FileSource {
    config: FileSourceConfig,
}

/// One open file being followed.
struct Tailed {
    path: PathBuf,
    file: File,
    identity: (u64, u64),
    reader: LineReader,
    batcher: Batcher,
    at_eof: bool,
    /// Set once a newer file took the path: read to the end, then close.
    superseded: bool,
    acked: u64,
}

impl Source for FileSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let mut runner = Runner::new(&self.config, &ctx);
        runner.run()
    }
}

struct Runner<'a> {
    config: &'a FileSourceConfig,
    ctx: &'a SourceContext,
    discovery: Discovery,
    files: Vec<Tailed>,
    /// Identities already read, so a file seen again under another name (renamed
    /// by rotation) is not read twice.
    seen: HashMap<(u64, u64), PathBuf>,
    ack_tx: Sender<Ack>,
    ack_rx: Receiver<Ack>,
    open_errors: RateLimiter,
    first_scan: bool,
}

impl<'a> Runner<'a> {
    fn new(config: &'a FileSourceConfig, ctx: &'a SourceContext) -> Runner<'a> {
        let (ack_tx, ack_rx) = crossbeam_channel::unbounded();
        Runner {
            config,
            ctx,
            discovery: Discovery::new(&config.include, &config.exclude),
            files: Vec::new(),
            seen: HashMap::new(),
            ack_tx,
            ack_rx,
            open_errors: RateLimiter::default(),
            first_scan: true,
        }
    }

    fn run(&mut self) -> Result<(), SourceError> {
        let mut next_scan = Instant::now();
        loop {
            if Instant::now() >= next_scan {
                self.scan();
                next_scan = Instant::now() + self.config.glob_interval.0;
            }
            let progressed = self.read_round()?;
            self.drain_acks();
            if self.ctx.shutdown.is_stopping() {
                break;
            }
            if self.ctx.once && !progressed && self.files.iter().all(|f| f.at_eof) {
                // Files that end without a newline still have their last line.
                for f in &mut self.files {
                    if let Some(line) = f.reader.finish() {
                        f.batcher.push(line, &self.ctx.output, &self.ctx.metrics)?;
                    }
                    f.batcher.flush(&self.ctx.output)?;
                }
                break;
            }
            if !progressed {
                let wait = self
                    .config
                    .poll_interval
                    .0
                    .min(next_scan.saturating_duration_since(Instant::now()));
                if self.ctx.shutdown.wait(wait) {
                    break;
                }
            }
        }
        // Stopping: complete lines already read are sent; a partial line is
        // left for the next run to read whole.
        for f in &mut self.files {
            f.batcher.flush(&self.ctx.output)?;
        }
        self.drain_acks();
        Ok(())
    }

    fn scan(&mut self) {
        let found = self.discovery.scan(|pattern, error| {
            if self.open_errors.check().is_some() {
                tracing::warn!(component = %self.ctx.id, pattern, %error, "cannot read a path matched by include");
            }
        });
        let first = std::mem::replace(&mut self.first_scan, false);
        for path in found {
            if self.files.iter().any(|f| f.path == path && !f.superseded) {
                continue;
            }
            self.open(&path, first);
        }
    }

    fn open(&mut self, path: &Path, at_startup: bool) {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(error) => {
                if self.open_errors.check().is_some() {
                    tracing::warn!(component = %self.ctx.id, path = %path.display(), %error, "cannot open file");
                }
                ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                return;
            }
        };
        let Ok(meta) = file.metadata() else { return };
        let identity = identity_of(&meta);
        if let Some(previous) = self.seen.get(&identity) {
            if previous != path {
                // Renamed (e.g. app.log → app.log.1): the content is already read
                // or being read under its old name.
                return;
            }
            if self.files.iter().any(|f| f.identity == identity) {
                return;
            }
        }
        let mut file = file;
        let start = if at_startup && self.config.read_from == ReadFrom::End {
            file.seek(SeekFrom::End(0)).unwrap_or(0)
        } else {
            0
        };
        tracing::info!(component = %self.ctx.id, path = %path.display(), offset = start, "following file");
        let stream = Arc::new(Stream {
            source: self.ctx.id.clone(),
            path: Some(path.to_path_buf()),
            id: identity.0.rotate_left(32) ^ identity.1,
        });
        // The file that used to be at this path is read to its end, then closed.
        for f in &mut self.files {
            if f.path == path {
                f.superseded = true;
            }
        }
        self.seen.insert(identity, path.to_path_buf());
        self.files.push(Tailed {
            path: path.to_path_buf(),
            file,
            identity,
            reader: LineReader::new(
                self.config.read_buffer.as_usize(),
                self.config.max_line_bytes.as_usize(),
                self.config.oversize_lines.into(),
                start,
            ),
            batcher: Batcher::new(
                stream,
                self.ctx.batch_max_events,
                self.ctx.batch_max_bytes,
                self.ack_tx.clone(),
            ),
            at_eof: false,
            superseded: false,
            acked: start,
        });
    }

    /// Reads every file up to its turn limit. Returns whether anything was read.
    fn read_round(&mut self) -> Result<bool, SourceError> {
        let mut progressed = false;
        let per_turn = self.config.max_read_per_turn.0;
        let mut closed = Vec::new();
        for (i, f) in self.files.iter_mut().enumerate() {
            let mut read_this_turn = 0u64;
            let dropped_before = f.reader.stats().dropped;
            loop {
                if self.ctx.shutdown.is_stopping() {
                    break;
                }
                match f.reader.fill(&mut f.file) {
                    Ok(0) => {
                        f.at_eof = true;
                        break;
                    }
                    Ok(n) => {
                        f.at_eof = false;
                        progressed = true;
                        read_this_turn += n as u64;
                        let (out, metrics) = (&self.ctx.output, &self.ctx.metrics);
                        let mut sent = Ok(());
                        let batcher = &mut f.batcher;
                        f.reader.drain_lines(|line| {
                            if sent.is_ok() {
                                sent = batcher.push(line, out, metrics);
                            }
                        });
                        sent?;
                        if read_this_turn >= per_turn {
                            break;
                        }
                    }
                    Err(error) => {
                        ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                        if self.open_errors.check().is_some() {
                            tracing::warn!(component = %self.ctx.id, path = %f.path.display(), %error, "read failed; will retry");
                        }
                        break;
                    }
                }
            }
            let dropped = f.reader.stats().dropped - dropped_before;
            ComponentMetrics::add(&self.ctx.metrics.discarded_events, dropped);
            // What was read goes on now rather than waiting for a full batch.
            f.batcher.flush(&self.ctx.output)?;
            if f.at_eof {
                match check_path(f) {
                    PathState::Same => {}
                    PathState::Truncated(len) => {
                        tracing::warn!(component = %self.ctx.id, path = %f.path.display(), size = len,
                            offset = f.reader.consumed_offset(), "file shrank (truncated); reading from the start");
                        let _ = f.file.seek(SeekFrom::Start(0));
                        f.reader = LineReader::new(
                            self.config.read_buffer.as_usize(),
                            self.config.max_line_bytes.as_usize(),
                            self.config.oversize_lines.into(),
                            0,
                        );
                        f.at_eof = false;
                        progressed = true;
                    }
                    PathState::Replaced | PathState::Gone if !self.ctx.once => {
                        f.superseded = true;
                    }
                    _ => {}
                }
                if f.superseded && f.at_eof {
                    // Rotated away and read to its end: its last line is complete.
                    if let Some(line) = f.reader.finish() {
                        f.batcher.push(line, &self.ctx.output, &self.ctx.metrics)?;
                    }
                    f.batcher.flush(&self.ctx.output)?;
                    closed.push(i);
                }
            }
        }
        for i in closed.into_iter().rev() {
            let f = self.files.remove(i);
            tracing::info!(component = %self.ctx.id, path = %f.path.display(), "finished rotated or deleted file");
            progressed = true;
        }
        if progressed {
            // A replacement file may already be waiting at the path.
            if self.files.iter().any(|f| f.superseded) {
                self.scan();
            }
        }
        Ok(progressed)
    }

    fn drain_acks(&mut self) {
        for ack in self.ack_rx.try_iter() {
            if let Some(f) = self
                .files
                .iter_mut()
                .find(|f| f.batcher.stream().id == ack.stream)
            {
                f.acked = f.acked.max(ack.end_offset);
            }
        }
    }
}

enum PathState {
    Same,
    Truncated(u64),
    Replaced,
    Gone,
}

fn check_path(f: &Tailed) -> PathState {
    match std::fs::metadata(&f.path) {
        Ok(meta) if identity_of(&meta) != f.identity => PathState::Replaced,
        Ok(meta) if meta.len() < f.reader.consumed_offset() + f.reader.pending() as u64 => {
            PathState::Truncated(meta.len())
        }
        Ok(_) => PathState::Same,
        Err(_) => PathState::Gone,
    }
}

#[cfg(unix)]
fn identity_of(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity_of(meta: &std::fs::Metadata) -> (u64, u64) {
    (0, meta.len())
}
