//! The guard: has the agent shipped this file? Read from the agent's checkpoints
//! (`DATA_DIR/checkpoints/*.json`) and the include/exclude globs of its file
//! sources. A destructive step (delete, truncate, replace by a compressed copy)
//! goes ahead only when the answer allows it.
//!
//! The rules, most cautious first:
//! * a checkpoint entry with the file's device+inode must have acknowledged the
//!   file to its current size — *every* such entry, from every source;
//! * a file matched by a tail source's include glob (and not its exclude) must
//!   have an entry from that source: matched but never checkpointed is unshipped
//!   (the agent may simply not have reached it yet);
//! * a file no source matches and no entry names is not the agent's: it may go;
//! * checkpoints that cannot be read hold everything.
//!
//! An entry written before the file was born (by its creation time) describes an
//! earlier file that had the same inode, and is ignored; so is an entry whose
//! fingerprint (the file source's hash of the first bytes) no longer matches the
//! file's head.

use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::config::TailSource;
use super::fsops::Identity;
use crate::checkpoint;

/// The guard's answer for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No agent is known (no data_dir): nothing can be checked.
    Unprotected,
    /// No source reads this file and no checkpoint names it.
    NotTailed,
    /// Every source reading it has acknowledged it to its end.
    Shipped,
    /// Not (or not provably) shipped; the reason says what is missing.
    Unshipped(String),
}

impl Verdict {
    /// Whether a destructive step may go ahead.
    pub fn allows(&self) -> bool {
        !matches!(self, Verdict::Unshipped(_))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    source: String,
    offset: u64,
    written_at: Option<i64>,
    /// The file source's fingerprint of the head, when it had one.
    fingerprint: Option<String>,
}

#[derive(Debug)]
struct Globs {
    id: String,
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

/// What the agent has shipped, as of the last [`Guard::reload`].
#[derive(Debug)]
pub struct Guard {
    data_dir: Option<PathBuf>,
    sources: Vec<Globs>,
    entries: HashMap<Identity, Vec<Entry>>,
    /// When each source's checkpoint was last written (ms since the epoch).
    written: HashMap<String, Option<i64>>,
    load_error: Option<String>,
    warnings: Vec<String>,
}

/// How long after a file's last change a source's checkpoint must have been
/// written for the guard to believe the source saw the file and let it go
/// (the agent finds new files within its glob interval, 10 s by default).
const CAUGHT_UP_AFTER: Duration = Duration::from_secs(60);

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Guard {
    /// No protection: every verdict is [`Verdict::Unprotected`].
    pub fn off() -> Guard {
        Guard {
            data_dir: None,
            sources: Vec::new(),
            entries: HashMap::new(),
            written: HashMap::new(),
            load_error: None,
            warnings: Vec::new(),
        }
    }

    /// Protection from the agent whose state is in `data_dir` and whose file
    /// sources are `sources` (empty when no pipeline was given: then only files
    /// named by a checkpoint are protected). Loads the checkpoints.
    pub fn new(data_dir: &Path, sources: &[TailSource]) -> Guard {
        let cwd = std::env::current_dir().unwrap_or_default();
        let pattern = |p: &String| {
            let abs = if Path::new(p).is_absolute() {
                p.clone()
            } else {
                cwd.join(p).to_string_lossy().into_owned()
            };
            glob::Pattern::new(&abs).ok()
        };
        let mut guard = Guard {
            data_dir: Some(data_dir.to_path_buf()),
            sources: sources
                .iter()
                .map(|s| Globs {
                    id: s.id.clone(),
                    include: s.include.iter().filter_map(pattern).collect(),
                    exclude: s.exclude.iter().filter_map(pattern).collect(),
                })
                .collect(),
            entries: HashMap::new(),
            written: HashMap::new(),
            load_error: None,
            warnings: Vec::new(),
        };
        guard.reload();
        guard
    }

    /// Whether an agent's checkpoints are consulted.
    pub fn is_on(&self) -> bool {
        self.data_dir.is_some()
    }

    /// The agent's data directory, when protection is on.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Problems met reading checkpoints (a torn file replaced by its previous copy…).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Reads the checkpoints again (they only move forward while the agent runs).
    pub fn reload(&mut self) {
        let Some(dir) = &self.data_dir else { return };
        let mut warnings = Vec::new();
        match checkpoint::load_all(dir, |e| warnings.push(e.to_string())) {
            Ok(all) => {
                let mut entries: HashMap<Identity, Vec<Entry>> = HashMap::new();
                let mut written = HashMap::new();
                for cp in all {
                    let at = chrono::DateTime::parse_from_rfc3339(&cp.written_at).ok();
                    let written_at = at.map(|t| t.timestamp());
                    written.insert(cp.source.clone(), at.map(|t| t.timestamp_millis()));
                    for f in cp.files {
                        entries
                            .entry(Identity {
                                dev: f.dev,
                                inode: f.inode,
                            })
                            .or_default()
                            .push(Entry {
                                source: cp.source.clone(),
                                offset: f.offset,
                                written_at,
                                fingerprint: f.fingerprint,
                            });
                    }
                }
                self.entries = entries;
                self.written = written;
                self.load_error = None;
            }
            Err(e) => {
                self.entries.clear();
                self.load_error = Some(e.to_string());
            }
        }
        self.warnings.extend(warnings);
    }

    /// The ids of the sources whose globs match `path`.
    fn tailed_by(&self, path: &Path) -> Vec<&str> {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let canonical = std::fs::canonicalize(path).ok();
        let matches = |pats: &[glob::Pattern]| {
            pats.iter().any(|p| {
                p.matches_path_with(&abs, MATCH)
                    || canonical
                        .as_ref()
                        .is_some_and(|c| p.matches_path_with(c, MATCH))
            })
        };
        self.sources
            .iter()
            .filter(|s| matches(&s.include) && !matches(&s.exclude))
            .map(|s| s.id.as_str())
            .collect()
    }

    /// The verdict for `path`, whose current metadata is `meta`.
    pub fn check(&self, path: &Path, meta: &Metadata) -> Verdict {
        self.check_parts(path, Identity::of(meta), meta.len(), meta.created().ok())
    }

    /// The verdict for the file at `path` with this identity, size and creation time.
    pub fn check_parts(
        &self,
        path: &Path,
        identity: Identity,
        size: u64,
        born: Option<SystemTime>,
    ) -> Verdict {
        if self.data_dir.is_none() {
            return Verdict::Unprotected;
        }
        if let Some(e) = &self.load_error {
            return Verdict::Unshipped(format!("the agent's checkpoints cannot be read ({e})"));
        }
        let entries = self.entries_for(path, identity, born);
        for e in &entries {
            if e.offset < size {
                return Verdict::Unshipped(format!(
                    "the agent (source {}) has acknowledged {} of its {} bytes",
                    e.source, e.offset, size
                ));
            }
        }
        let tailed = self.tailed_by(path);
        for source in &tailed {
            if !entries.iter().any(|e| e.source == *source) {
                return Verdict::Unshipped(format!(
                    "source {source} reads it but has not checkpointed it yet"
                ));
            }
        }
        if entries.is_empty() {
            Verdict::NotTailed
        } else {
            Verdict::Shipped
        }
    }

    /// The entries that describe this file (not an earlier file with the same
    /// inode).
    fn entries_for(
        &self,
        path: &Path,
        identity: Identity,
        born: Option<SystemTime>,
    ) -> Vec<&Entry> {
        let born = born
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        self.entries
            .get(&identity)
            .map(|v| {
                v.iter()
                    // An entry written before this file existed is about an
                    // earlier file with the same inode.
                    .filter(|e| match (born, e.written_at) {
                        (Some(b), Some(w)) => b <= w,
                        _ => true,
                    })
                    // A fingerprint that no longer matches the file's first
                    // bytes: the inode was reused by another file.
                    .filter(|e| match &e.fingerprint {
                        Some(fp) => {
                            !matches!(checkpoint::fingerprint_matches(fp, path), Ok(Some(false)))
                        }
                        None => true,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The verdict for a rotated version of a live file: as [`Guard::check_parts`]
    /// for where it is now, and the sources whose globs match the name it had
    /// (`was_named`, the live file) count as reading it too. A version renamed
    /// out of the globs before the agent read it (the agent was down, or had not
    /// found it yet) is thus unshipped; one the agent saw is known by its inode.
    /// Such a source without an entry for the file is believed to have seen it
    /// only if its checkpoint was written well after the file last changed
    /// (`CAUGHT_UP_AFTER`): entries of files shipped long ago expire.
    #[allow(clippy::too_many_arguments)]
    pub fn check_version(
        &self,
        path: &Path,
        was_named: &Path,
        identity: Identity,
        size: u64,
        born: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Verdict {
        let verdict = self.check_parts(path, identity, size, born);
        if !verdict.allows() || self.data_dir.is_none() {
            return verdict;
        }
        let entries = self.entries_for(path, identity, born);
        let direct = self.tailed_by(path);
        let mtime_ms = mtime
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        for source in self.tailed_by(was_named) {
            if direct.contains(&source) || entries.iter().any(|e| e.source == source) {
                continue;
            }
            let written = self.written.get(source).copied().flatten();
            let caught_up = match (written, mtime_ms) {
                (Some(w), Some(m)) => w >= m + CAUGHT_UP_AFTER.as_millis() as i64,
                _ => false,
            };
            if !caught_up {
                return Verdict::Unshipped(format!(
                    "source {source} reads it as {} but has not checkpointed it (the agent has not run since it was written)",
                    was_named.display()
                ));
            }
        }
        verdict
    }

    /// [`Guard::check_version`] for the version at `path` as it is on disk now.
    pub fn check_path_as(&self, path: &Path, was_named: &Path) -> Verdict {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => self.check_version(
                path,
                was_named,
                Identity::of(&meta),
                meta.len(),
                meta.created().ok(),
                meta.modified().ok(),
            ),
            Err(e) => Verdict::Unshipped(format!("cannot stat it: {e}")),
        }
    }

    /// [`Guard::wait_shipped`] for a rotated version ([`Guard::check_version`]).
    pub fn wait_shipped_as(
        &mut self,
        path: &Path,
        was_named: &Path,
        deadline: Instant,
        poll: Duration,
    ) -> Verdict {
        loop {
            let verdict = self.check_path_as(path, was_named);
            if verdict.allows() || Instant::now() >= deadline {
                return verdict;
            }
            std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
            self.reload();
        }
    }

    /// The verdict for `path` as it is on disk now (re-read).
    pub fn check_path(&self, path: &Path) -> Verdict {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => self.check(path, &meta),
            Err(e) => Verdict::Unshipped(format!("cannot stat it: {e}")),
        }
    }

    /// Waits until the agent has shipped `path` to its current end, reloading the
    /// checkpoints every `poll`, until `deadline`. Returns the last verdict.
    pub fn wait_shipped(&mut self, path: &Path, deadline: Instant, poll: Duration) -> Verdict {
        loop {
            let verdict = self.check_path(path);
            if verdict.allows() || Instant::now() >= deadline {
                return verdict;
            }
            std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
            self.reload();
        }
    }
}

/// Helpers for the maintenance tests: an agent's checkpoint, and polling.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::checkpoint::{FileCheckpoint, SourceCheckpoint, VERSION};

    /// Writes `source`'s checkpoint as an agent would: each file at its offset.
    pub(crate) fn checkpoint(data_dir: &Path, source: &str, files: &[(&Path, u64)]) {
        let files = files
            .iter()
            .map(|(p, offset)| {
                let meta = std::fs::metadata(p).unwrap();
                let id = Identity::of(&meta);
                FileCheckpoint {
                    path: p.to_path_buf(),
                    dev: id.dev,
                    inode: id.inode,
                    fingerprint: None,
                    detached: false,
                    compressed: false,
                    offset: *offset,
                    finished: false,
                    stream: None,
                    tail: None,
                }
            })
            .collect();
        checkpoint::write(
            data_dir,
            &SourceCheckpoint {
                version: VERSION,
                source: source.into(),
                written_at: chrono::Utc::now().to_rfc3339(),
                files,
            },
        )
        .unwrap();
    }

    /// Polls `cond` until it holds; fails after 30 s.
    pub(crate) use logagent_core::test_support::wait_until;
}

#[cfg(test)]
mod tests {
    use super::tests_support::checkpoint as write_checkpoint;
    use super::*;

    #[test]
    fn verdicts_follow_checkpoints_and_globs() {
        let d = tempfile::tempdir().unwrap();
        let logs = d.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let data = d.path().join("data");
        let shipped = logs.join("a.log");
        let partial = logs.join("b.log");
        let unseen = logs.join("c.log");
        let excluded = logs.join("skip.log");
        let elsewhere = d.path().join("other.txt");
        for p in [&shipped, &partial, &unseen, &excluded, &elsewhere] {
            std::fs::write(p, "0123456789\n").unwrap();
        }
        write_checkpoint(&data, "app", &[(&shipped, 11), (&partial, 4)]);
        let sources = [TailSource {
            id: "app".into(),
            include: vec![format!("{}/*.log", logs.display())],
            exclude: vec![format!("{}/skip*", logs.display())],
        }];
        let g = Guard::new(&data, &sources);
        assert_eq!(g.check_path(&shipped), Verdict::Shipped);
        assert_eq!(
            g.check_path(&partial),
            Verdict::Unshipped("the agent (source app) has acknowledged 4 of its 11 bytes".into())
        );
        assert!(
            matches!(g.check_path(&unseen), Verdict::Unshipped(r) if r.contains("not checkpointed"))
        );
        assert_eq!(g.check_path(&excluded), Verdict::NotTailed);
        assert_eq!(g.check_path(&elsewhere), Verdict::NotTailed);
        // Renamed out of the glob, a file is still known by its inode.
        let rotated = logs.join("b.log.1");
        std::fs::rename(&partial, &rotated).unwrap();
        assert!(!g.check_path(&rotated).allows());
        // Grown after being shipped: unshipped again.
        std::fs::write(&shipped, "0123456789\nmore\n").unwrap();
        assert!(!g.check_path(&shipped).allows());
        assert_eq!(Guard::off().check_path(&shipped), Verdict::Unprotected);
    }

    #[test]
    fn unreadable_checkpoints_hold_everything() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        // A file where the checkpoint directory should be.
        std::fs::write(data.join("checkpoints"), "not a directory").unwrap();
        let f = d.path().join("x.log");
        std::fs::write(&f, "x\n").unwrap();
        let g = Guard::new(&data, &[]);
        assert!(matches!(g.check_path(&f), Verdict::Unshipped(r) if r.contains("cannot be read")));
    }

    #[test]
    fn waits_for_the_agent_to_catch_up() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        let f = d.path().join("x.log");
        std::fs::write(&f, "0123456789\n").unwrap();
        write_checkpoint(&data, "app", &[(&f, 5)]);
        let mut g = Guard::new(&data, &[]);
        let verdict = g.wait_shipped(&f, Instant::now(), Duration::from_millis(10));
        assert!(!verdict.allows(), "deadline passed at once: still held");
        let (data2, f2) = (data.clone(), f.clone());
        let agent = std::thread::spawn(move || write_checkpoint(&data2, "app", &[(&f2, 11)]));
        let verdict = g.wait_shipped(
            &f,
            Instant::now() + Duration::from_secs(20),
            Duration::from_millis(10),
        );
        agent.join().unwrap();
        assert_eq!(verdict, Verdict::Shipped);
    }
}
