//! Gzip a closed file next to itself, atomically: the `.gz` appears complete
//! (written to a temporary name, fsynced, then renamed) with the original's mode,
//! owner and modification time, or not at all. Deleting the original is the
//! caller's business — after asking the guard.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::fsops::{self, Attributes};

/// `app.log.2` → `app.log.2.gz`.
pub fn gz_name(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".gz");
    PathBuf::from(p)
}

/// The temporary name a compression writes to before the rename.
pub fn temp_name(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dst.with_file_name(format!(".{name}.tmp"))
}

/// Compresses `src` into `dst` (which must not exist) at `level` (1–9) and
/// returns the compressed size. `stop`, when set, abandons the work between
/// chunks (the temporary file is removed). The source is left in place.
pub fn gzip_file(src: &Path, dst: &Path, level: u32, stop: Option<&AtomicBool>) -> io::Result<u64> {
    let tmp = temp_name(dst);
    let result = write_gz(src, &tmp, level, stop).and_then(|()| {
        let size = fs::metadata(&tmp)?.len();
        fsops::rename_noreplace(&tmp, dst)?;
        if let Some(dir) = dst.parent()
            && let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
        {
            let _ = d.sync_all();
        }
        Ok(size)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_gz(src: &Path, tmp: &Path, level: u32, stop: Option<&AtomicBool>) -> io::Result<()> {
    let mut input = File::open(src)?;
    let meta = input.metadata()?;
    let _ = fs::remove_file(tmp);
    let out = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    // Same owner and mode as the original (owner only when we may).
    let attrs = Attributes::of(&meta);
    let _ = fsops::apply(tmp, &out, attrs);
    let mut enc = GzEncoder::new(out, Compression::new(level.clamp(1, 9)));
    let mut buf = vec![0u8; 256 << 10];
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "compression abandoned at shutdown",
            ));
        }
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n])?;
    }
    let out = enc.finish()?;
    if let Ok(mtime) = meta.modified() {
        let _ = out.set_modified(mtime);
    }
    out.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::time::{Duration, SystemTime};

    #[test]
    fn compresses_atomically_keeping_mtime() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("app.log.1");
        let body: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        fs::write(&src, &body).unwrap();
        let old = SystemTime::now() - Duration::from_secs(86_400 * 3);
        File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let dst = gz_name(&src);
        let size = gzip_file(&src, &dst, 6, None).unwrap();
        assert!(size < body.len() as u64 / 3);
        let mut text = String::new();
        GzDecoder::new(File::open(&dst).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, body);
        let mtime = fs::metadata(&dst).unwrap().modified().unwrap();
        assert!(mtime.duration_since(old).unwrap_or_default() < Duration::from_secs(1));
        assert!(src.exists(), "the original is the caller's to delete");
        assert!(!temp_name(&dst).exists());
        // Never replaces an existing archive.
        assert!(gzip_file(&src, &dst, 6, None).is_err());
        assert!(!temp_name(&dst).exists());
        let stop = AtomicBool::new(true);
        let other = d.path().join("other.gz");
        assert!(gzip_file(&src, &other, 6, Some(&stop)).is_err());
        assert!(!other.exists() && !temp_name(&other).exists());
    }
}
