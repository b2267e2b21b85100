//! The exactly-once file sink's ledger, `DATA_DIR/sinks/ID.json`: what the
//! sink has durably written, so that a crash neither loses nor repeats a line.
//!
//! At each commit the sink writes its buffers out, fsyncs the files, and then
//! records here (fsynced, replaced atomically by rename) the length of every
//! file it has open and, for every input stream (source id + stream id), the
//! offset just past the last event it wrote. Only then are the batches'
//! acknowledgements released, so a source checkpoint never covers a line the
//! ledger does not. At start ([`Ledger::recover`]) every listed file longer
//! than its committed length is cut back to it (bytes written after the last
//! commit), and events the sources replay from their older checkpoints are
//! skipped while their offset is below the stream's recorded end
//! ([`Ledger::already_written`]).
//!
//! A file is listed before the first byte is written to it ([`Ledger::register`])
//! and a file is closed or rotated only right after a commit, so every byte of
//! a file the ledger does not list is committed. Stream entries expire after
//! `retention` without a write and are capped at `max_streams` (oldest out):
//! forgetting one can only cause a line to be written twice, never lost.
//!
//! There is no previous copy to fall back to: a previous ledger has shorter
//! lengths, and cutting files back to them would delete committed lines. An
//! unreadable ledger is reported and the sink starts without one (no cuts, no
//! skips: after that one crash, duplicates are possible).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// The ledger file of sink `id` under `data_dir`.
pub fn path_for(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("sinks").join(format!("{id}.json"))
}

/// The ledger as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFile {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The sink's component id.
    pub sink: String,
    /// When this was committed (RFC 3339, UTC), for humans.
    pub written_at: String,
    /// Committed length of every file the sink had open, by path.
    pub files: BTreeMap<String, u64>,
    /// Per input stream, where the first event not written yet starts.
    pub streams: Vec<StreamEnd>,
}

/// How far one input stream has been written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// The source component id.
    pub source: String,
    /// The stream id (a file content's id from the source checkpoint).
    pub stream: u64,
    /// Events at offsets below this are in the files.
    pub next: u64,
    /// When the stream was last written (Unix seconds), for expiry.
    pub updated: u64,
}

/// Why the ledger could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading or writing failed.
    #[error("sink ledger {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: io::Error,
    },
    /// The file is not a ledger this build understands.
    #[error("sink ledger {path}: not a valid ledger: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl LedgerError {
    /// As an I/O error, for the sink's retry loop.
    pub fn into_io(self) -> io::Error {
        match self {
            LedgerError::Io { path, error } => {
                io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            }
            e @ LedgerError::Invalid { .. } => io::Error::other(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct End {
    next: u64,
    updated: u64,
}

/// The ledger in memory: the committed file lengths and the stream ends.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    sink: String,
    /// What the file on disk holds: the last commit, plus files registered since.
    last: LedgerFile,
    /// Stream ends as written so far (committed at the next commit).
    streams: HashMap<Arc<str>, HashMap<u64, End>>,
    /// Stream ends as recovered at start: replayed events below them are
    /// skipped. Kept apart from `streams` so that events reaching the sink out
    /// of order within a run are never mistaken for replays.
    replay: HashMap<Arc<str>, HashMap<u64, u64>>,
    count: usize,
    max_streams: usize,
    retention: Duration,
}

/// What [`Ledger::recover`] did, for the start-up log and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Files cut back to their committed length, with the bytes removed.
    pub cut: Vec<(String, u64)>,
    /// Streams whose replay will be skipped up to their end.
    pub streams: usize,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Ledger {
    /// Loads the ledger of sink `id` and cuts each listed file back to its
    /// committed length. Problems with single files are reported through
    /// `warn` and leave that file as it is; an unreadable ledger is returned as
    /// an error together with an empty ledger to go on with.
    pub fn recover(
        data_dir: &Path,
        id: &str,
        max_streams: usize,
        retention: Duration,
        mut warn: impl FnMut(String),
    ) -> (Ledger, Recovery, Option<LedgerError>) {
        let path = path_for(data_dir, id);
        let mut ledger = Ledger {
            path: path.clone(),
            sink: id.to_owned(),
            last: LedgerFile::default(),
            streams: HashMap::new(),
            replay: HashMap::new(),
            count: 0,
            max_streams: max_streams.max(1),
            retention,
        };
        let mut recovery = Recovery::default();
        let stored = match read(&path) {
            Ok(Some(s)) => s,
            Ok(None) => return (ledger, recovery, None),
            Err(e) => return (ledger, recovery, Some(e)),
        };
        for (file, committed) in &stored.files {
            match cut_back(Path::new(file), *committed) {
                Ok(0) => {}
                Ok(n) => recovery.cut.push((file.clone(), n)),
                Err(error) => warn(format!(
                    "cannot cut {file} back to its committed length {committed}: {error} (lines after it may be written twice)"
                )),
            }
        }
        for s in stored.streams.iter().cloned() {
            let source: Arc<str> = s.source.into();
            ledger
                .replay
                .entry(source.clone())
                .or_default()
                .insert(s.stream, s.next);
            ledger.streams.entry(source).or_default().insert(
                s.stream,
                End {
                    next: s.next,
                    updated: s.updated,
                },
            );
            ledger.count += 1;
        }
        recovery.streams = ledger.count;
        // Listed files are committed now; the next commit lists the open ones.
        ledger.last = stored;
        (ledger, recovery, None)
    }

    /// True when the event at `offset` of `stream` is in the files already
    /// (written before a restart and replayed by its source).
    #[inline]
    pub fn already_written(&self, source: &str, stream: u64, offset: u64) -> bool {
        self.replay_next(source, stream)
            .is_some_and(|next| offset < next)
    }

    /// Where, by the ledger found at start, the first event of `stream` not
    /// written before the restart starts.
    #[inline]
    pub fn replay_next(&self, source: &str, stream: u64) -> Option<u64> {
        self.replay.get(source)?.get(&stream).copied()
    }

    /// Records that the events of `stream` before `next` were written (into
    /// buffers or files; durable at the next commit).
    pub fn advance(&mut self, source: &Arc<str>, stream: u64, next: u64) {
        let now = unix_now();
        let map = match self.streams.get_mut(&**source) {
            Some(m) => m,
            None => self.streams.entry(source.clone()).or_default(),
        };
        match map.get_mut(&stream) {
            Some(e) => {
                e.next = e.next.max(next);
                e.updated = now;
            }
            None => {
                map.insert(stream, End { next, updated: now });
                self.count += 1;
            }
        }
    }

    /// The length the file on disk lists for `path`.
    pub fn listed_len(&self, path: &str) -> Option<u64> {
        self.last.files.get(path).copied()
    }

    /// Lists a file about to be written, at its current (committed) length,
    /// before anything is written to it: rewrites the ledger with the last
    /// committed state plus this file. Stream ends are not committed by this.
    pub fn register(&mut self, path: &str, len: u64) -> Result<(), LedgerError> {
        let mut body = self.last.clone();
        body.version = VERSION;
        body.sink = self.sink.clone();
        body.files.insert(path.to_owned(), len);
        write(&self.path, &body)?;
        self.last = body;
        Ok(())
    }

    /// A commit: the files given (every open file, written out and fsynced,
    /// at its length) and every stream end. Expired and surplus stream
    /// entries are dropped first. Returns what was written.
    pub fn commit(&mut self, files: BTreeMap<String, u64>) -> Result<&LedgerFile, LedgerError> {
        self.expire(unix_now());
        let mut streams = Vec::with_capacity(self.count);
        for (source, map) in &self.streams {
            for (id, e) in map {
                streams.push(StreamEnd {
                    source: source.to_string(),
                    stream: *id,
                    next: e.next,
                    updated: e.updated,
                });
            }
        }
        streams.sort_by(|a, b| (&a.source, a.stream).cmp(&(&b.source, b.stream)));
        let body = LedgerFile {
            version: VERSION,
            sink: self.sink.clone(),
            written_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            files,
            streams,
        };
        write(&self.path, &body)?;
        self.last = body;
        Ok(&self.last)
    }

    /// Number of streams known.
    pub fn streams(&self) -> usize {
        self.count
    }

    fn expire(&mut self, now: u64) {
        let retention = self.retention.as_secs();
        let mut count = 0;
        for map in self.streams.values_mut() {
            map.retain(|_, e| now.saturating_sub(e.updated) <= retention);
            count += map.len();
        }
        if count > self.max_streams {
            // Forget the least recently written beyond the cap.
            let mut all: Vec<(u64, Arc<str>, u64)> = self
                .streams
                .iter()
                .flat_map(|(src, m)| m.iter().map(|(id, e)| (e.updated, src.clone(), *id)))
                .collect();
            all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
            for (_, src, id) in all.iter().take(count - self.max_streams) {
                if let Some(m) = self.streams.get_mut(src) {
                    m.remove(id);
                }
            }
            count = self.max_streams;
        }
        self.streams.retain(|_, m| !m.is_empty());
        self.count = count;
    }
}

/// Removes a stale ledger (the sink runs at-least-once now): a later
/// exactly-once run must not cut files back to lengths from long ago.
pub fn remove(data_dir: &Path, id: &str) -> io::Result<bool> {
    match fs::remove_file(path_for(data_dir, id)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Cuts `path` back to `len` if longer; returns the bytes removed. A missing
/// file (rotated away after the commit) is fine; a shorter one is left alone.
fn cut_back(path: &Path, len: u64) -> io::Result<u64> {
    let f = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    if size <= len {
        return Ok(0);
    }
    f.set_len(len)?;
    f.sync_all()?;
    Ok(size - len)
}

fn read(path: &Path) -> Result<Option<LedgerFile>, LedgerError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(LedgerError::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    let l: LedgerFile = serde_json::from_slice(&bytes).map_err(|e| LedgerError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if l.version != VERSION {
        return Err(LedgerError::Invalid {
            path: path.to_path_buf(),
            reason: format!("version {} (this build reads version {VERSION})", l.version),
        });
    }
    Ok(Some(l))
}

/// Writes `body` to a temporary file, fsyncs it, renames it into place and
/// fsyncs the directory.
fn write(path: &Path, body: &LedgerFile) -> Result<(), LedgerError> {
    let io_err = |p: &Path| {
        let path = p.to_path_buf();
        move |error| LedgerError::Io { path, error }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let json = serde_json::to_vec(body).map_err(|e| LedgerError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&json).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn recovery_cuts_files_back_and_skips_written_events() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.ndjson");
        fs::write(&out, "a\nb\n").unwrap();
        let (mut l, rec, err) = Ledger::recover(dir.path(), "o", 10, DAY, |_| {});
        assert!(err.is_none() && rec == Recovery::default());
        let src: Arc<str> = "s".into();
        l.register(&out.display().to_string(), 4).unwrap();
        l.advance(&src, 9, 120);
        let mut files = BTreeMap::new();
        files.insert(out.display().to_string(), 4);
        l.commit(files).unwrap();
        // Written after the commit, then a crash.
        fs::write(&out, "a\nb\nc-uncommitted\n").unwrap();
        let (l, rec, err) = Ledger::recover(dir.path(), "o", 10, DAY, |w| panic!("{w}"));
        assert!(err.is_none());
        assert_eq!(rec.cut, vec![(out.display().to_string(), 14)]);
        assert_eq!(fs::read_to_string(&out).unwrap(), "a\nb\n");
        assert!(l.already_written("s", 9, 119));
        assert!(!l.already_written("s", 9, 120));
        assert!(!l.already_written("s", 8, 0));
        assert!(!l.already_written("t", 9, 0));
    }

    #[test]
    fn missing_and_shorter_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        fs::write(&short, "x").unwrap();
        let mut l = Ledger::recover(dir.path(), "o", 10, DAY, |_| {}).0;
        let mut files = BTreeMap::new();
        files.insert(short.display().to_string(), 5);
        files.insert(dir.path().join("gone").display().to_string(), 5);
        l.commit(files).unwrap();
        let (_, rec, err) = Ledger::recover(dir.path(), "o", 10, DAY, |w| panic!("{w}"));
        assert!(err.is_none() && rec.cut.is_empty());
        assert_eq!(fs::read_to_string(&short).unwrap(), "x");
    }

    #[test]
    fn stream_entries_are_bounded_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::recover(dir.path(), "o", 3, DAY, |_| {}).0;
        let src: Arc<str> = "s".into();
        for id in 0..5 {
            l.advance(&src, id, 10);
        }
        // Make the first two older than the rest.
        for id in 0..2 {
            l.streams
                .get_mut("s")
                .unwrap()
                .get_mut(&id)
                .unwrap()
                .updated -= 10;
        }
        let body = l.commit(BTreeMap::new()).unwrap().clone();
        let kept: Vec<u64> = body.streams.iter().map(|s| s.stream).collect();
        assert_eq!(kept, [2, 3, 4]);
        l.streams.get_mut("s").unwrap().get_mut(&2).unwrap().updated -= 2 * DAY.as_secs();
        let body = l.commit(BTreeMap::new()).unwrap();
        assert_eq!(body.streams.len(), 2, "the stale entry expired");
    }

    #[test]
    fn an_unreadable_ledger_is_reported_and_nothing_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::write(&out, "abc").unwrap();
        let p = path_for(dir.path(), "o");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(
            &p,
            format!(
                "{{\"version\":1,\"files\":{{{:?}:1}}",
                out.display().to_string()
            ),
        )
        .unwrap();
        let (l, rec, err) = Ledger::recover(dir.path(), "o", 10, DAY, |_| {});
        assert!(matches!(err, Some(LedgerError::Invalid { .. })), "{err:?}");
        assert!(rec.cut.is_empty() && l.streams() == 0);
        assert_eq!(fs::read_to_string(&out).unwrap(), "abc");
    }
}
