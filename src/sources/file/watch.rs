//! File-system notifications (inotify, through `notify`): they make new files
//! show up at once and wake the reader when a file grows, instead of waiting for
//! the next poll. They are a speed-up only: the periodic rescan and polling find
//! everything anyway, so a watch that cannot be set up (a directory that does
//! not exist yet, inotify limits) costs latency, never lines.

use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// What a notification asks the loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Files appeared, disappeared or were renamed: rescan the globs.
    Rescan,
    /// A file changed: read.
    Read,
}

/// Directories watched for the include globs.
pub struct Watch {
    watcher: Option<RecommendedWatcher>,
    roots: Vec<(PathBuf, RecursiveMode, bool)>,
    rx: Receiver<Wake>,
}

impl Watch {
    /// Watches the directories under which `include` patterns can match. Roots
    /// that cannot be watched yet are retried by [`Watch::retry`].
    pub fn new(include: &[String]) -> Watch {
        // Bounded: a burst of events collapses into the few wake-ups needed.
        let (tx, rx) = crossbeam_channel::bounded(16);
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let wake = match res {
                Ok(ev) => match ev.kind {
                    EventKind::Create(_) | EventKind::Remove(_) => Wake::Rescan,
                    EventKind::Modify(ModifyKind::Name(_)) => Wake::Rescan,
                    EventKind::Access(_) => return,
                    _ => Wake::Read,
                },
                // Overflowed queue and the like: look at everything.
                Err(_) => Wake::Rescan,
            };
            send(&tx, wake);
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
}

fn send(tx: &Sender<Wake>, wake: Wake) {
    match tx.try_send(wake) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        // Full: a wake-up is already pending; a rescan must not be lost though.
        Err(TrySendError::Full(_)) => {
            if wake == Wake::Rescan {
                let _ = tx.send_timeout(wake, std::time::Duration::from_millis(10));
            }
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
}
