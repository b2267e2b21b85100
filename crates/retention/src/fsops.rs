//! File operations done carefully: renames that never replace, deletes that check
//! the file is still the one planned, new files with a given mode and owner, and
//! byte-range copies for copytruncate.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A file's identity: device and inode (what the agent's checkpoints key on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub inode: u64,
}

impl Identity {
    /// The identity of a file's metadata.
    #[cfg(unix)]
    pub fn of(meta: &fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            inode: meta.ino(),
        }
    }

    /// Without inodes, nothing can be matched to a checkpoint.
    #[cfg(not(unix))]
    pub fn of(_meta: &fs::Metadata) -> Identity {
        Identity { dev: 0, inode: 0 }
    }
}

/// Renames `from` to `to` unless `to` exists (an existing file is never replaced:
/// replacing it would delete it without asking the guard). Uses a hard link and
/// an unlink where the filesystem allows, which makes the check atomic.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists(to)),
        Err(_) => {
            // No hard links here (some filesystems, protected_hardlinks): check, then rename.
            if fs::symlink_metadata(to).is_ok() {
                return Err(exists(to));
            }
            fs::rename(from, to)
        }
    }
}

fn exists(to: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} already exists; not replacing it", to.display()),
    )
}

/// What happened to a file [`remove_if_same`] was asked to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Deleted; this many bytes freed.
    Deleted(u64),
    /// Already gone.
    Gone,
    /// Replaced by another file, a directory or a symlink since it was planned: left alone.
    Changed,
}

/// Deletes `path` only if it is still the plain file `expected`.
pub fn remove_if_same(path: &Path, expected: Identity) -> io::Result<Removed> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removed::Gone),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() || Identity::of(&meta) != expected {
        return Ok(Removed::Changed);
    }
    fs::remove_file(path)?;
    Ok(Removed::Deleted(meta.len()))
}

/// Ownership and permissions for a created file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes {
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Group gid.
    pub gid: Option<u32>,
}

impl Attributes {
    /// The attributes of an existing file.
    #[cfg(unix)]
    pub fn of(meta: &fs::Metadata) -> Attributes {
        use std::os::unix::fs::MetadataExt;
        Attributes {
            mode: Some(meta.mode() & 0o7777),
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        }
    }

    /// Not available off Unix.
    #[cfg(not(unix))]
    pub fn of(_meta: &fs::Metadata) -> Attributes {
        Attributes::default()
    }

    /// `self`, with each unset field taken from `other`.
    pub fn or(self, other: Attributes) -> Attributes {
        Attributes {
            mode: self.mode.or(other.mode),
            uid: self.uid.or(other.uid),
            gid: self.gid.or(other.gid),
        }
    }

    /// `mode 0640, owner 1000:4` for plans.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.mode {
            parts.push(format!("mode {m:04o}"));
        }
        match (self.uid, self.gid) {
            (Some(u), Some(g)) => parts.push(format!("owner {u}:{g}")),
            (Some(u), None) => parts.push(format!("owner {u}")),
            (None, Some(g)) => parts.push(format!("group {g}")),
            (None, None) => {}
        }
        parts.join(", ")
    }
}

/// Creates `path` empty (it must not exist) and applies `attrs`. Changing the
/// owner needs privileges; when that fails because we lack them, the file keeps
/// our own and the error says so.
pub fn create_with(path: &Path, attrs: Attributes) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(attrs.mode.unwrap_or(0o640));
    }
    let file = options.open(path)?;
    apply(path, &file, attrs)?;
    Ok(file)
}

/// Sets mode (regardless of the umask) and owner on an open file.
pub fn apply(path: &Path, file: &File, attrs: Attributes) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Some(mode) = attrs.mode {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        if attrs.uid.is_some() || attrs.gid.is_some() {
            let meta = file.metadata()?;
            let current = Attributes::of(&meta);
            if current.uid != attrs.uid.or(current.uid) || current.gid != attrs.gid.or(current.gid)
            {
                std::os::unix::fs::fchown(file, attrs.uid, attrs.gid).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot set owner of {} ({}): {e}",
                            path.display(),
                            attrs.describe()
                        ),
                    )
                })?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file, attrs);
    Ok(())
}

/// Looks up a user name (or a number) in `/etc/passwd`.
pub fn resolve_user(name: &str) -> io::Result<u32> {
    resolve(name, Path::new("/etc/passwd"), "user")
}

/// Looks up a group name (or a number) in `/etc/group`.
pub fn resolve_group(name: &str) -> io::Result<u32> {
    resolve(name, Path::new("/etc/group"), "group")
}

fn resolve(name: &str, db: &Path, what: &str) -> io::Result<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let text = fs::read_to_string(db)?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let id = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(id)
        })
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no {what} named {name:?} in {}", db.display()),
            )
        })
}

/// Copies bytes `[from, to)` of `src` to the end of `dst`; returns the count
/// copied (less than asked if `src` shrank meanwhile).
pub fn copy_range(src: &mut File, dst: &mut File, from: u64, to: u64) -> io::Result<u64> {
    if to <= from {
        return Ok(0);
    }
    src.seek(SeekFrom::Start(from))?;
    let mut limited = src.take(to - from);
    let mut buf = vec![0u8; 256 << 10];
    let mut copied = 0u64;
    loop {
        let n = limited.read(&mut buf)?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])?;
        copied += n as u64;
    }
    Ok(copied)
}

/// True when `a` and `b` (existing paths) are on one filesystem, so a rename
/// between them is possible.
pub fn same_filesystem(a: &Path, b: &Path) -> io::Result<bool> {
    Ok(Identity::of(&fs::metadata(a)?).dev == Identity::of(&fs::metadata(b)?).dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"b");
        fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"a");
    }

    #[test]
    fn remove_checks_identity_and_kind() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        fs::write(&a, "12345").unwrap();
        let id = Identity::of(&fs::metadata(&a).unwrap());
        // Replaced by another file under the same name: left alone.
        let other = d.path().join("other");
        fs::write(&other, "x").unwrap();
        fs::rename(&other, &a).unwrap();
        assert_eq!(remove_if_same(&a, id).unwrap(), Removed::Changed);
        assert!(a.exists());
        let id = Identity::of(&fs::metadata(&a).unwrap());
        assert_eq!(remove_if_same(&a, id).unwrap(), Removed::Deleted(1));
        assert_eq!(remove_if_same(&a, id).unwrap(), Removed::Gone);
    }

    #[cfg(unix)]
    #[test]
    fn create_applies_mode_despite_umask_and_copy_range_copies() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("new.log");
        create_with(
            &p,
            Attributes {
                mode: Some(0o604),
                ..Attributes::default()
            },
        )
        .unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o604
        );
        assert!(
            create_with(&p, Attributes::default()).is_err(),
            "never replaces"
        );
        let src_path = d.path().join("src");
        fs::write(&src_path, "0123456789").unwrap();
        let mut src = File::open(&src_path).unwrap();
        let mut dst = OpenOptions::new().append(true).open(&p).unwrap();
        assert_eq!(copy_range(&mut src, &mut dst, 2, 5).unwrap(), 3);
        assert_eq!(copy_range(&mut src, &mut dst, 8, 20).unwrap(), 2);
        assert_eq!(fs::read(&p).unwrap(), b"23489");
        assert_eq!(resolve_user("0").unwrap(), 0);
        assert_eq!(resolve_user("root").unwrap(), 0);
        assert!(resolve_group("no-such-group-here").is_err());
    }
}
