//! Names of rotated versions: numbered (`app.log.1` newest, `.2`, … shifted on
//! each rotation) or dated (`app.log-20261123`, logrotate's `dateext`), each
//! optionally `.gz`; in the file's directory or an `olddir`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::NaiveDateTime;
use regex::Regex;

use super::config::{Naming, RotateConfig};
use super::dates::{DateFormat, DateFormatError};
use super::fsops::Identity;

/// One rotated version found on disk.
#[derive(Debug, Clone)]
pub struct Version {
    /// Where it is (or, in a dry run's simulation, where it would be).
    pub path: PathBuf,
    /// Where it is on disk now (differs from `path` only in simulations).
    pub on_disk: PathBuf,
    /// Its creation time, where the filesystem records one.
    pub born: Option<std::time::SystemTime>,
    /// Its number (numbered naming).
    pub index: Option<u32>,
    /// Its date (dated naming), on the job's clock face.
    pub date: Option<NaiveDateTime>,
    /// Whether it ends in `.gz`.
    pub compressed: bool,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time.
    pub mtime: SystemTime,
    /// Its device and inode.
    pub identity: Identity,
}

/// Names the versions of one live file.
#[derive(Debug, Clone)]
pub struct Namer {
    dir: PathBuf,
    base: String,
    naming: Naming,
    format: Option<DateFormat>,
    pattern: Regex,
}

/// Why a live file's versions cannot be named.
#[derive(Debug, thiserror::Error)]
pub enum NamerError {
    /// The path ends in `..` or is a root.
    #[error("{} has no file name", .0.display())]
    NoFileName(PathBuf),
    /// The job's `date_format` (checked at load time, so not expected here).
    #[error(transparent)]
    DateFormat(#[from] DateFormatError),
    /// The versions' pattern did not compile.
    #[error(transparent)]
    Pattern(#[from] regex::Error),
}

impl Namer {
    /// The namer for `live` under `cfg` (`olddir` resolved against the file's directory).
    pub fn new(live: &Path, cfg: &RotateConfig) -> Result<Namer, NamerError> {
        let base = live
            .file_name()
            .ok_or_else(|| NamerError::NoFileName(live.to_path_buf()))?
            .to_string_lossy()
            .into_owned();
        let parent = live.parent().unwrap_or(Path::new("."));
        let dir = match &cfg.olddir {
            Some(d) => parent.join(d),
            None => parent.to_path_buf(),
        };
        let (format, suffix) = match cfg.naming {
            Naming::Numbered => (None, r"\.(\d+)".to_owned()),
            Naming::Date => {
                let f = cfg.date_format()?;
                let p = f.pattern().to_owned();
                (Some(f), p)
            }
        };
        let pattern = Regex::new(&format!(r"^{}{suffix}(\.gz)?$", regex::escape(&base)))?;
        Ok(Namer {
            dir,
            base,
            naming: cfg.naming,
            format,
            pattern,
        })
    }

    /// The directory versions live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of version `n` (numbered naming).
    pub fn numbered(&self, n: u32, compressed: bool) -> PathBuf {
        self.dir.join(format!(
            "{}.{n}{}",
            self.base,
            if compressed { ".gz" } else { "" }
        ))
    }

    /// The path of the version rotated at `t` (dated naming).
    pub fn dated(&self, t: NaiveDateTime) -> PathBuf {
        let rendered = self
            .format
            .as_ref()
            .map(|f| f.render(t))
            .unwrap_or_default();
        self.dir.join(format!("{}{rendered}", self.base))
    }

    /// Whether `name` is a version of this file.
    pub fn is_version_name(&self, name: &str) -> bool {
        self.pattern.is_match(name)
    }

    /// The versions on disk, newest first (lowest number, or latest date). Only
    /// plain files count; a missing directory means no versions.
    pub fn versions(&self) -> io::Result<Vec<Version>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(caps) = self.pattern.captures(&name) else {
                continue;
            };
            let meta = match fs::symlink_metadata(entry.path()) {
                Ok(m) if m.file_type().is_file() => m,
                _ => continue,
            };
            let (index, date) = match self.naming {
                Naming::Numbered => (caps.get(1).and_then(|m| m.as_str().parse().ok()), None),
                Naming::Date => (None, self.format.as_ref().and_then(|f| f.extract(&caps, 1))),
            };
            if index.is_none() && date.is_none() {
                continue;
            }
            if index == Some(0) {
                continue;
            }
            out.push(Version {
                path: entry.path(),
                on_disk: entry.path(),
                born: meta.created().ok(),
                index,
                date,
                compressed: name.ends_with(".gz"),
                size: meta.len(),
                mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                identity: Identity::of(&meta),
            });
        }
        out.sort_by(|a, b| match self.naming {
            Naming::Numbered => a.index.cmp(&b.index).then(a.compressed.cmp(&b.compressed)),
            Naming::Date => b.date.cmp(&a.date).then(a.compressed.cmp(&b.compressed)),
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> RotateConfig {
        toml::from_str(&format!("paths = [\"x\"]\nsize = 1\n{extra}")).unwrap()
    }

    #[test]
    fn numbered_versions_sorted_newest_first() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("app.log");
        for n in [
            "app.log",
            "app.log.1",
            "app.log.10.gz",
            "app.log.2.gz",
            "app.log.x",
            "app.log.0",
            "other.log.1",
        ] {
            fs::write(d.path().join(n), "x").unwrap();
        }
        let namer = Namer::new(&live, &cfg("")).unwrap();
        let v: Vec<_> = namer
            .versions()
            .unwrap()
            .iter()
            .map(|v| v.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(v, ["app.log.1", "app.log.2.gz", "app.log.10.gz"]);
        assert_eq!(namer.numbered(3, true), d.path().join("app.log.3.gz"));
    }

    #[test]
    fn dated_versions_in_an_olddir() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("app.log");
        fs::create_dir(d.path().join("old")).unwrap();
        for n in [
            "app.log-20261120.gz",
            "app.log-20261122",
            "app.log-20261121.gz",
            "app.log-2026112",
        ] {
            fs::write(d.path().join("old").join(n), "x").unwrap();
        }
        let namer = Namer::new(&live, &cfg("naming = \"date\"\nolddir = \"old\"")).unwrap();
        let v: Vec<_> = namer
            .versions()
            .unwrap()
            .iter()
            .map(|v| v.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            v,
            [
                "app.log-20261122",
                "app.log-20261121.gz",
                "app.log-20261120.gz"
            ]
        );
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(namer.dated(t), d.path().join("old/app.log-20261123"));
        assert!(namer.is_version_name("app.log-20261123.gz"));
        assert!(!namer.is_version_name("app.log"));
    }
}
