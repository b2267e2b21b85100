//! The file sink's housekeeper: a background thread that gzips rotated files and
//! applies retention, so neither compression nor directory listings stall the
//! pipeline. It never touches a file the sink has open: the sink registers its
//! open files in a shared set, and the housekeeper holds that set's lock while it
//! renames or deletes a file that is not rotated yet.
//!
//! At start it also picks up what a crash or a shutdown left: rotated files not
//! compressed yet, temporary `.gz` files, and files whose rotation period ended
//! while the agent was down.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::rotation::{RotateOptions, is_rotated_name, rotated_name};
use logagent_core::time::clock::Clock;
use logagent_retention::compress;
use logagent_retention::dates::{Zone, find_date_in_name};
use logagent_retention::fsops::{self, Identity, Removed};
use logagent_retention::policy::{self, Candidate, Policy};

/// Paths the sink has open; shared with the housekeeper.
pub type OpenSet = Arc<Mutex<HashSet<PathBuf>>>;

/// One set of files the sink writes: a template's glob and its retention.
#[derive(Debug, Clone)]
pub struct FileSet {
    /// Matches every path the template renders.
    pub glob: String,
    /// Whether the template holds a date, so files stop being written when the
    /// date moves on (they count for retention once the sink has closed them).
    pub dated: bool,
    /// Retention, if any.
    pub retain: Option<Policy>,
}

/// What the housekeeper does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The sink's id, for logs.
    pub id: String,
    /// The file sets.
    pub sets: Vec<FileSet>,
    /// Rotation (for compression and for files whose period ended while closed).
    pub rotate: Option<RotateOptions>,
    /// How often retention and the sweep run besides after each rotation.
    pub every: Duration,
}

/// Handle on the running housekeeper; dropping it stops and joins the thread
/// (a compression in progress is abandoned and redone at the next start).
#[derive(Debug)]
pub struct Housekeeper {
    tx: Option<Sender<PathBuf>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Housekeeper {
    /// Starts the thread.
    pub fn start(plan: Plan, open: OpenSet, clock: Arc<dyn Clock>) -> std::io::Result<Housekeeper> {
        // Bounded: a sink rotating faster than files compress waits here.
        let (tx, rx) = crossbeam_channel::bounded(64);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            plan,
            open,
            clock,
            stop: stop.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("{}-housekeeping", worker.plan.id))
            .spawn(move || worker.run(rx))?;
        Ok(Housekeeper {
            tx: Some(tx),
            stop,
            handle: Some(handle),
        })
    }

    /// Hands over a just-rotated file (to compress, then apply retention).
    pub fn rotated(&self, path: PathBuf) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(path);
        }
    }
}

impl Drop for Housekeeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Worker {
    plan: Plan,
    open: OpenSet,
    clock: Arc<dyn Clock>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self, rx: Receiver<PathBuf>) {
        self.sweep();
        self.retain();
        loop {
            match rx.recv_timeout(self.plan.every) {
                Ok(path) => {
                    self.compress(&path);
                    // Several rotations may be queued: compress them all first.
                    while let Ok(p) = rx.try_recv() {
                        self.compress(&p);
                    }
                    self.retain();
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.sweep();
                    self.retain();
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    fn matches(&self, set: &FileSet) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for pattern in [set.glob.clone(), format!("{}.*", set.glob)] {
            if let Ok(paths) = glob::glob(&pattern) {
                out.extend(paths.flatten());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Leftovers: temporary archives, rotated files not compressed yet, and files
    /// whose period ended while nobody had them open.
    fn sweep(&self) {
        let Some(rotate) = &self.plan.rotate else {
            return;
        };
        let now = self.clock.now();
        for set in &self.plan.sets {
            for path in self.matches(set) {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if is_rotated_name(&name) {
                    if rotate.compress && !name.ends_with(".gz") {
                        self.compress(&path);
                    }
                    continue;
                }
                if !glob::Pattern::new(&set.glob).is_ok_and(|g| g.matches_path(&path)) {
                    continue;
                }
                let Some(current) = rotate.period(now) else {
                    continue;
                };
                let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
                if open.contains(&path) {
                    continue;
                }
                let stale = fs::symlink_metadata(&path).is_ok_and(|m| {
                    m.is_file()
                        && m.len() > 0
                        && m.modified()
                            .ok()
                            .and_then(|t| rotate.period(t))
                            .is_some_and(|p| p < current)
                });
                if stale {
                    let to = rotated_name(&path, now);
                    match fsops::rename_noreplace(&path, &to) {
                        Ok(()) => {
                            drop(open);
                            tracing::info!(component = %self.plan.id, path = %path.display(), rotated = %to.display(), "rotated a file whose period ended while it was closed");
                            if rotate.compress {
                                self.compress(&to);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(component = %self.plan.id, path = %path.display(), %error, "cannot rotate")
                        }
                    }
                }
            }
            // Temporary archives of an interrupted compression.
            if let Some(dir) = Path::new(&set.glob).parent()
                && let Ok(entries) = glob::glob(&format!("{}/.*.gz.tmp", dir.display()))
            {
                for p in entries.flatten() {
                    let _ = fs::remove_file(p);
                }
            }
        }
    }

    fn compress(&self, path: &Path) {
        let Some(rotate) = &self.plan.rotate else {
            return;
        };
        if !rotate.compress {
            return;
        }
        let to = compress::gz_name(path);
        let Ok(before) = fs::symlink_metadata(path) else {
            return;
        };
        if !before.is_file() {
            return;
        }
        if fs::symlink_metadata(&to).is_ok() {
            // A crash after the archive was renamed into place (complete: it is
            // written under a temporary name first) but before the plain file
            // was deleted: delete it now, or its lines would be there twice.
            if let Ok(Removed::Deleted(_)) = fsops::remove_if_same(path, Identity::of(&before)) {
                tracing::info!(component = %self.plan.id, path = %path.display(), "removed a rotated file already compressed before a restart");
            }
            return;
        }
        match compress::gzip_file(path, &to, rotate.compress_level, Some(&self.stop)) {
            Ok(_) => match fsops::remove_if_same(path, Identity::of(&before)) {
                Ok(Removed::Deleted(_)) => {
                    tracing::debug!(component = %self.plan.id, path = %to.display(), "compressed")
                }
                _ => {
                    let _ = fs::remove_file(&to);
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!(component = %self.plan.id, path = %path.display(), %error, "cannot compress rotated file; it stays uncompressed")
            }
        }
    }

    fn retain(&self) {
        let now = self.clock.now();
        for set in &self.plan.sets {
            let Some(policy) = &set.retain else { continue };
            let dated = glob::Pattern::new(&set.glob).ok();
            let mut files = Vec::new();
            for path in self.matches(set) {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Closed files only: rotated ones, and dated ones the sink has closed.
                let closed = is_rotated_name(&name)
                    || (set.dated && dated.as_ref().is_some_and(|g| g.matches_path(&path)));
                if !closed {
                    continue;
                }
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let time = find_date_in_name(&name)
                    .and_then(|d| Zone::Utc.instant(d))
                    .or_else(|| meta.modified().ok())
                    .unwrap_or(now);
                files.push((path, meta, time));
            }
            let candidates: Vec<Candidate> = files
                .iter()
                .map(|(p, m, t)| Candidate {
                    name: p.to_string_lossy().into_owned(),
                    time: *t,
                    size: m.len(),
                })
                .collect();
            for s in policy::select(&candidates, policy, now) {
                let (path, meta, _) = &files[s.index];
                let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
                if open.contains(path) {
                    continue;
                }
                match fsops::remove_if_same(path, Identity::of(meta)) {
                    Ok(Removed::Deleted(n)) => {
                        tracing::info!(component = %self.plan.id, path = %path.display(), bytes = n, reason = %s.reason, "deleted by retention")
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(component = %self.plan.id, path = %path.display(), %error, "retention cannot delete")
                    }
                }
            }
        }
    }
}
