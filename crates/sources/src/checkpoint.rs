//! Checkpoint files: the durable record of how far each file has been read *and
//! acknowledged by every sink*. Written by the file source, read back on restart
//! and by the maintenance jobs (`rotate`, `retain`) so they never delete or
//! truncate what has not been shipped.
//!
//! One JSON file per source, `DATA_DIR/checkpoints/SOURCE.json`, versioned, and
//! written atomically: the new content goes to a temporary file which is fsynced,
//! the current file becomes `SOURCE.json.prev`, the temporary file is renamed into
//! place and the directory is fsynced. A torn or unreadable current file is
//! reported and the previous good copy used instead.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// Everything one source has checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The source's component id.
    pub source: String,
    /// When this was written (RFC 3339, UTC), for humans and `checkpoint age`.
    pub written_at: String,
    /// One entry per file identity the source knows.
    pub files: Vec<FileCheckpoint>,
}

/// How far one file has been acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// The path the file had when last seen (it may have been renamed since).
    pub path: PathBuf,
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub inode: u64,
    /// Fingerprint of the file's first bytes, `SKIP:LEN:HEX` (FNV-1a 64 of
    /// bytes `SKIP..SKIP+LEN`); with dev+inode it tells inode reuse and copies
    /// apart. `LEN` is below the source's `fingerprint_bytes` while the file is
    /// shorter than that. Check it with [`fingerprint_matches`].
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Bytes from the start of the file that every sink has acknowledged.
    pub offset: u64,
    /// True once the file was read to its end after being rotated away or deleted.
    #[serde(default)]
    pub finished: bool,
    /// The content was truncated away from this inode (copytruncate): the entry
    /// is kept only so a copy of that content is recognised by its fingerprint;
    /// it says nothing about what is at `dev`+`inode` now.
    #[serde(default, skip_serializing_if = "is_false")]
    pub detached: bool,
    /// The file is gzip-compressed and `offset` counts decompressed bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub compressed: bool,
    /// The content's stream id: random, given once when the content is first
    /// seen and kept across restarts, renames, copies and compression, so an
    /// exactly-once sink's ledger can tell which lines of it it already wrote.
    /// Never reused for another content (an inode number may be). Absent in
    /// checkpoints written before it existed: such entries get a new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<u64>,
    /// A sample of the bytes just before where reading stopped, `SKIP:LEN:HEX`
    /// (FNV-1a 64 of bytes `SKIP..SKIP+LEN`): a file that shares this one's
    /// head continues this one only if it holds these bytes too, so a new file
    /// that merely begins the same way (a replica's banner) is never taken for
    /// a moved or compressed copy and read from the middle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Whether the file at `path` starts with the content `fingerprint` (a
/// [`FileCheckpoint::fingerprint`]) was taken of: `Ok(None)` when the text is
/// not a fingerprint. Gzip files are checked on their decompressed content.
pub fn fingerprint_matches(fingerprint: &str, path: &Path) -> io::Result<Option<bool>> {
    use crate::file::identity::{Fingerprint, is_gzip, read_head};
    let Some(fp) = Fingerprint::decode(fingerprint) else {
        return Ok(None);
    };
    let head = if is_gzip(path)? {
        read_head(
            &mut flate2::read::MultiGzDecoder::new(File::open(path)?),
            fp.head_len(),
        )
    } else {
        read_head(&mut File::open(path)?, fp.head_len())
    };
    Ok(Some(fp.matches(&head?)))
}

/// Why a checkpoint could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: io::Error,
    },
    /// The file is not a checkpoint this build understands.
    #[error("{path}: not a valid checkpoint: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The directory holding the checkpoint files under `data_dir`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("checkpoints")
}

/// The checkpoint file of `source`.
pub fn path_for(data_dir: &Path, source: &str) -> PathBuf {
    dir(data_dir).join(format!("{source}.json"))
}

fn prev_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".prev");
    PathBuf::from(p)
}

/// Writes `checkpoint` atomically (see the module docs).
pub fn write(data_dir: &Path, checkpoint: &SourceCheckpoint) -> Result<(), CheckpointError> {
    let dir = dir(data_dir);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |error| CheckpointError::Io { path, error }
    };
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = path_for(data_dir, &checkpoint.source);
    let tmp = dir.join(format!(".{}.json.tmp", checkpoint.source));
    let body = serde_json::to_vec_pretty(checkpoint).map_err(|e| CheckpointError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&body).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    if path.exists() {
        fs::rename(&path, prev_path(&path)).map_err(io_err(&path))?;
    }
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))?;
    Ok(())
}

fn read_one(path: &Path) -> Result<Option<SourceCheckpoint>, CheckpointError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(CheckpointError::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    let cp: SourceCheckpoint =
        serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if cp.version != VERSION {
        return Err(CheckpointError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "version {} (this build reads version {VERSION})",
                cp.version
            ),
        });
    }
    Ok(Some(cp))
}

/// Loads the checkpoint of `source`: the current file, or the previous good copy
/// when the current one is missing, torn or unreadable (reported through `warn`).
/// `Ok(None)` when the source has never checkpointed.
pub fn load(
    data_dir: &Path,
    source: &str,
    mut warn: impl FnMut(&CheckpointError),
) -> Result<Option<SourceCheckpoint>, CheckpointError> {
    let path = path_for(data_dir, source);
    match read_one(&path) {
        Ok(Some(cp)) => Ok(Some(cp)),
        Ok(None) => read_one(&prev_path(&path)),
        Err(e) => {
            warn(&e);
            read_one(&prev_path(&path))
        }
    }
}

/// Loads every source's checkpoint in `data_dir` (for the maintenance jobs),
/// with the same fallback as [`load`].
pub fn load_all(
    data_dir: &Path,
    mut warn: impl FnMut(&CheckpointError),
) -> Result<Vec<SourceCheckpoint>, CheckpointError> {
    let dir = dir(data_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(CheckpointError::Io { path: dir, error }),
    };
    let mut sources: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let base = name
                .strip_suffix(".json.prev")
                .or_else(|| name.strip_suffix(".json"))?;
            (!base.starts_with('.')).then(|| base.to_owned())
        })
        .collect();
    sources.sort();
    sources.dedup();
    let mut out = Vec::new();
    for source in sources {
        if let Some(cp) = load(data_dir, &source, &mut warn)? {
            out.push(cp);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(offset: u64) -> SourceCheckpoint {
        SourceCheckpoint {
            version: VERSION,
            source: "app".into(),
            written_at: "2026-11-23T00:00:00Z".into(),
            files: vec![FileCheckpoint {
                path: "/var/log/app.log".into(),
                dev: 1,
                inode: 2,
                fingerprint: Some("abcd".into()),
                offset,
                finished: false,
                detached: false,
                compressed: false,
                stream: Some(7),
                tail: None,
            }],
        }
    }

    #[test]
    fn round_trips_and_keeps_the_previous_copy() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "app", |_| {}).unwrap(), None);
        write(dir.path(), &sample(10)).unwrap();
        write(dir.path(), &sample(20)).unwrap();
        assert_eq!(load(dir.path(), "app", |_| {}).unwrap(), Some(sample(20)));
        let prev = prev_path(&path_for(dir.path(), "app"));
        assert_eq!(read_one(&prev).unwrap(), Some(sample(10)));
        assert_eq!(load_all(dir.path(), |_| {}).unwrap(), vec![sample(20)]);
    }

    #[test]
    fn a_torn_file_falls_back_to_the_previous_copy() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample(10)).unwrap();
        write(dir.path(), &sample(20)).unwrap();
        let path = path_for(dir.path(), "app");
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() / 2]).unwrap();
        let mut warned = Vec::new();
        let got = load(dir.path(), "app", |e| warned.push(e.to_string())).unwrap();
        assert_eq!(got, Some(sample(10)));
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("not a valid checkpoint"), "{warned:?}");
    }

    #[test]
    fn a_crash_between_renames_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample(10)).unwrap();
        let path = path_for(dir.path(), "app");
        fs::rename(&path, prev_path(&path)).unwrap();
        assert_eq!(load(dir.path(), "app", |_| {}).unwrap(), Some(sample(10)));
    }

    #[test]
    fn older_files_without_new_fields_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "app");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, r#"{"version":1,"source":"app","written_at":"x","files":[{"path":"/a","dev":1,"inode":2,"offset":3}]}"#).unwrap();
        let cp = load(dir.path(), "app", |_| {}).unwrap().unwrap();
        assert!(
            !cp.files[0].detached
                && !cp.files[0].compressed
                && cp.files[0].fingerprint.is_none()
                && cp.files[0].stream.is_none()
        );
    }

    #[test]
    fn fingerprints_are_checked_against_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        fs::write(&path, "0123456789").unwrap();
        let fp = crate::file::identity::Fingerprint::of_prefix(b"0123456789", 2, 4).unwrap();
        assert_eq!(
            fingerprint_matches(&fp.encode(), &path).unwrap(),
            Some(true)
        );
        fs::write(&path, "01xx456789").unwrap();
        assert_eq!(
            fingerprint_matches(&fp.encode(), &path).unwrap(),
            Some(false)
        );
        assert_eq!(fingerprint_matches("nonsense", &path).unwrap(), None);
    }

    #[test]
    fn other_versions_are_refused_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = sample(5);
        cp.version = 99;
        write(dir.path(), &cp).unwrap();
        let mut warned = 0;
        assert_eq!(load(dir.path(), "app", |_| warned += 1).unwrap(), None);
        assert_eq!(warned, 1);
    }
}
