//! Checking `data_dir` before anything starts.
//!
//! Checkpoints, disk buffers and the file sink's records all live under
//! `data_dir`. A directory that cannot be written would otherwise surface only at
//! the first checkpoint (a logged error, the run carrying on and re-reading
//! everything after a restart) or at the final one (a warning and exit 0). So a
//! pipeline that needs it checks it once at start: created if missing, then a
//! probe file written, fsynced and removed. Failing that, the pipeline does not
//! start (exit 1) and the error names the directory and the cause.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why `data_dir` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The path exists but is not a directory.
    #[error("data_dir {path} is not a directory")]
    NotADirectory {
        /// The configured `data_dir`.
        path: PathBuf,
    },
    /// It could not be created or written.
    #[error("data_dir {path} is not usable: cannot {action}: {error}")]
    Io {
        /// The configured `data_dir`.
        path: PathBuf,
        /// What was tried.
        action: &'static str,
        /// The cause.
        error: std::io::Error,
    },
}

/// Creates `data_dir` if needed and proves it writable (a probe file is
/// written, fsynced and removed).
pub fn ensure_writable(data_dir: &Path) -> Result<(), DataDirError> {
    let io = |action: &'static str| {
        move |error| DataDirError::Io {
            path: data_dir.to_path_buf(),
            action,
            error,
        }
    };
    match std::fs::metadata(data_dir) {
        Ok(m) if !m.is_dir() => {
            return Err(DataDirError::NotADirectory {
                path: data_dir.to_path_buf(),
            });
        }
        Ok(_) => {}
        // Missing (or a parent is not a directory: the creation says so).
        Err(_) => std::fs::create_dir_all(data_dir).map_err(io("create it"))?,
    }
    let probe = data_dir.join(format!(".logagent-probe-{}", std::process::id()));
    let written = std::fs::File::create(&probe)
        .and_then(|mut f| {
            f.write_all(b"probe")?;
            f.sync_all()
        })
        .map_err(io("write a file in it"));
    let removed = std::fs::remove_file(&probe);
    written?;
    removed.map_err(io("remove a file in it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_created() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        ensure_writable(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "probe removed");
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = ensure_writable(&file).unwrap_err();
        assert!(matches!(e, DataDirError::NotADirectory { .. }), "{e}");
        let e = ensure_writable(&file.join("sub")).unwrap_err();
        assert!(e.to_string().contains("not usable"), "{e}");
    }
}
