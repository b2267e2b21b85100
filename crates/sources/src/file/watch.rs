//! File-system notifications (inotify, through `notify`): they make new files
//! show up at once and name the file that grew, so only that file is read,
//! instead of waiting for the next poll. They are a speed-up only: the periodic
//! rescan and polling find everything anyway, so a watch that cannot be set up
//! (a directory that does not exist yet, inotify limits) costs latency, never
//! lines; notifications lost to a full queue make every file be looked at.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// What a notification asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// Files appeared, disappeared or were renamed: rescan the globs.
    Rescan,
    /// These files changed: read them.
    Read(Vec<PathBuf>),
    /// Something changed, nobody says what: look at every open file.
    All,
}

/// How many notifications may wait; past that, they collapse into one
/// "look at everything" (see [`Watch::take_overflow`]).
const QUEUE: usize = 1024;

/// Directories watched for the include globs.
pub struct Watch {
    watcher: Option<RecommendedWatcher>,
    roots: Vec<(PathBuf, RecursiveMode, bool)>,
    rx: Receiver<Wake>,
    overflow: Arc<AtomicBool>,
}

impl Watch {
    /// Watches the directories under which `include` patterns can match. Roots
    /// that cannot be watched yet are retried by [`Watch::retry`].
    pub fn new(include: &[String]) -> Watch {
        // Bounded: past QUEUE waiting events, read wake-ups collapse into the
        // overflow flag.
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let flag = overflow.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let wake = match res {
                // The kernel's queue overflowed: events were lost.
                Ok(ev) if ev.need_rescan() => Wake::Rescan,
                Ok(ev) => match ev.kind {
                    EventKind::Create(_) | EventKind::Remove(_) => Wake::Rescan,
                    EventKind::Modify(ModifyKind::Name(_)) => Wake::Rescan,
                    EventKind::Access(_) => return,
                    _ if ev.paths.is_empty() => Wake::All,
                    _ => Wake::Read(ev.paths),
                },
                Err(_) => Wake::Rescan,
            };
            send(&tx, &flag, wake);
        })
        .map_err(|error| {
            tracing::warn!(%error, "file notifications unavailable; relying on polling and rescans");
        })
        .ok();
        let mut w = Watch {
            watcher,
            roots: roots(include)
                .into_iter()
                .map(|(p, m)| (p, m, false))
                .collect(),
            rx,
            overflow,
        };
        w.retry();
        w
    }

    /// Tries again to watch roots that could not be watched.
    pub fn retry(&mut self) {
        let Some(watcher) = &mut self.watcher else {
            return;
        };
        for (path, mode, ok) in &mut self.roots {
            if !*ok && path.is_dir() {
                *ok = watcher.watch(path, *mode).is_ok();
            }
        }
    }

    /// True when every root is watched (rescans can then be rare).
    pub fn complete(&self) -> bool {
        self.watcher.is_some() && self.roots.iter().all(|(_, _, ok)| *ok)
    }

    /// The channel notifications arrive on.
    pub fn receiver(&self) -> &Receiver<Wake> {
        &self.rx
    }

    /// True (once) when notifications were dropped because the queue was
    /// full: every open file must then be looked at.
    pub fn take_overflow(&self) -> bool {
        self.overflow.swap(false, Ordering::AcqRel)
    }
}

fn send(tx: &Sender<Wake>, overflow: &AtomicBool, wake: Wake) {
    match tx.try_send(wake) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        // Full: what it said is lost, so everything is looked at; a rescan is
        // still queued if it can be (the loop also rescans periodically).
        Err(TrySendError::Full(wake)) => {
            overflow.store(true, Ordering::Release);
            if wake == Wake::Rescan {
                let _ = tx.send_timeout(wake, std::time::Duration::from_millis(10));
            }
            // The full queue wakes the loop, which then reads the flag.
        }
    }
}

/// The directory to watch for each pattern: its longest literal prefix, watched
/// recursively when a wildcard is above the file name.
pub fn roots(include: &[String]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut out: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for pattern in include {
        let path = Path::new(pattern);
        let comps: Vec<_> = path.components().collect();
        let wild = |c: &std::path::Component<'_>| {
            c.as_os_str()
                .to_str()
                .is_some_and(|s| s.contains(['*', '?', '[', '{']))
        };
        let first_wild = comps.iter().position(wild);
        let (root, mode) = match first_wild {
            None => (
                path.parent().map(Path::to_path_buf),
                RecursiveMode::NonRecursive,
            ),
            Some(i) if i + 1 == comps.len() => (
                path.parent().map(Path::to_path_buf),
                RecursiveMode::NonRecursive,
            ),
            Some(i) => (
                Some(comps[..i].iter().collect::<PathBuf>()),
                RecursiveMode::Recursive,
            ),
        };
        let root = match root {
            Some(r) if !r.as_os_str().is_empty() => r,
            _ => PathBuf::from("."),
        };
        match out.iter_mut().find(|(p, _)| *p == root) {
            Some(existing) => {
                if mode == RecursiveMode::Recursive {
                    existing.1 = mode;
                }
            }
            None => out.push((root, mode)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_patterns() {
        let r = roots(&[
            "/var/log/app/*.log".into(),
            "/var/log/pods/*/*/*.log".into(),
            "/etc/x.log".into(),
            "rel/**/*.log".into(),
            "/var/log/app/other*.log".into(),
        ]);
        assert_eq!(
            r,
            vec![
                ("/var/log/app".into(), RecursiveMode::NonRecursive),
                ("/var/log/pods".into(), RecursiveMode::Recursive),
                ("/etc".into(), RecursiveMode::NonRecursive),
                ("rel".into(), RecursiveMode::Recursive),
            ]
        );
    }

    #[test]
    fn a_new_file_wakes_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let w = Watch::new(&[format!("{}/*.log", dir.path().display())]);
        assert!(w.complete());
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        let got = w
            .receiver()
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        assert_eq!(got, Wake::Rescan);
    }

    #[test]
    fn a_write_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "x\n").unwrap();
        let w = Watch::new(&[format!("{}/*.log", dir.path().display())]);
        assert!(w.complete());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"y\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match w.receiver().recv_timeout(left).unwrap() {
                Wake::Read(paths) => {
                    assert_eq!(paths, vec![path]);
                    break;
                }
                other => assert_ne!(other, Wake::All, "a write with a path"),
            }
        }
    }
}
