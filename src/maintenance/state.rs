//! The rotation state file (when each file was last rotated, for `daily` …
//! `yearly`) and the lock that keeps two runs from working on the same files.
//!
//! The lock is an advisory `flock` on `STATE.lock` (or `DATA_DIR/retain.lock`):
//! the kernel releases it when the process dies, so a crashed run never leaves a
//! stale lock behind.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Why the state or the lock could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another run holds the lock.
    #[error(
        "another logagent maintenance run is in progress (lock held on {path}); try again when it has finished"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: io::Error,
    },
    /// The state file is not one this build wrote.
    #[error("{path}: not a valid rotate state file ({reason}); move it away to start afresh")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A held lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock at `path` without waiting; [`StateError::Locked`] if another
    /// process has it.
    pub fn acquire(path: &Path) -> Result<Lock, StateError> {
        let io_err = |error| StateError::Io {
            path: path.to_path_buf(),
            error,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err)?;
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                return Err(StateError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(io_err(e)),
        }
        // For people looking at the file: who holds it.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes an exclusive `flock` without waiting: `Ok(false)` when another open
/// file description holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// No advisory locks here: runs are not kept apart.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}

/// The lock file that goes with a state file.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize, Default)]
struct OnDisk {
    version: u32,
    files: BTreeMap<String, FileState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileState {
    /// RFC 3339.
    last_rotated: String,
}

/// When each file was last rotated.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    files: BTreeMap<String, SystemTime>,
    dirty: bool,
}

impl State {
    /// Loads the state file at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, StateError> {
        let files = match fs::read(path) {
            Ok(bytes) => {
                let invalid = |reason: String| StateError::Invalid {
                    path: path.to_path_buf(),
                    reason,
                };
                let disk: OnDisk =
                    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
                if disk.version != VERSION {
                    return Err(invalid(format!("version {}", disk.version)));
                }
                disk.files
                    .into_iter()
                    .filter_map(|(k, v)| {
                        chrono::DateTime::parse_from_rfc3339(&v.last_rotated)
                            .ok()
                            .map(|t| (k, SystemTime::from(t)))
                    })
                    .collect()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => {
                return Err(StateError::Io {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
        Ok(State {
            path: path.to_path_buf(),
            files,
            dirty: false,
        })
    }

    /// When `file` was last rotated, if known.
    pub fn last_rotated(&self, file: &Path) -> Option<SystemTime> {
        self.files.get(&key(file)).copied()
    }

    /// Records a rotation of `file` at `at`.
    pub fn set_rotated(&mut self, file: &Path, at: SystemTime) {
        self.files.insert(key(file), at);
        self.dirty = true;
    }

    /// Writes the state atomically (temp file, fsync, rename) if it changed.
    pub fn save(&mut self) -> Result<(), StateError> {
        if !self.dirty {
            return Ok(());
        }
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |error| StateError::Io { path, error }
        };
        let disk = OnDisk {
            version: VERSION,
            files: self
                .files
                .iter()
                .map(|(k, t)| {
                    let t: chrono::DateTime<chrono::Utc> = (*t).into();
                    (
                        k.clone(),
                        FileState {
                            last_rotated: t.to_rfc3339(),
                        },
                    )
                })
                .collect(),
        };
        let body = serde_json::to_vec_pretty(&disk).map_err(|e| StateError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let tmp = {
            let mut p = self.path.as_os_str().to_owned();
            p.push(".tmp");
            PathBuf::from(p)
        };
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&body).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        self.dirty = false;
        Ok(())
    }
}

fn key(file: &Path) -> String {
    std::path::absolute(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_released() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/rotate.state.json.lock");
        let first = Lock::acquire(&p).unwrap();
        let err = Lock::acquire(&p).unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }));
        assert!(
            err.to_string()
                .contains("another logagent maintenance run is in progress")
        );
        drop(first);
        Lock::acquire(&p).unwrap();
    }

    #[test]
    fn state_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        let mut s = State::load(&p).unwrap();
        assert_eq!(s.last_rotated(Path::new("/var/log/a.log")), None);
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        s.set_rotated(Path::new("/var/log/a.log"), t);
        s.save().unwrap();
        let s = State::load(&p).unwrap();
        assert_eq!(s.last_rotated(Path::new("/var/log/a.log")), Some(t));
        fs::write(&p, "{").unwrap();
        assert!(matches!(State::load(&p), Err(StateError::Invalid { .. })));
    }
}
