//! What makes a file the same file: device+inode, and a fingerprint of its first
//! bytes.
//!
//! Device+inode alone is not enough: inodes are reused after a delete, and a
//! copied (copytruncate) or compressed file has a new inode but old content. The
//! fingerprint (a hash of `len` bytes after an optional `skip` of header bytes)
//! tells them apart. A file shorter than the configured fingerprint length still
//! has a *partial* fingerprint of what it holds so far, which is extended as it
//! grows; only a full one is trusted to recognise a file on another inode,
//! except for the copies the tailer expects (a truncated file's content, a
//! gzip'd rotated file).
//!
//! A matching head is not enough either: two live files on distinct inodes are
//! distinct whatever their content. The tailer links a file to known content
//! only when that content is gone from its old identity, and checks more bytes
//! than the head: a sample of the bytes before where reading stopped
//! ([`pread_at`], [`window_before`] for gzip), and, against a live file, the
//! bytes before the shorter one's end (a copy in progress). [`gzip_end`] tells a
//! complete gzip stream from one still being written.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Device and inode of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of an open file or a path's target.
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Without inodes, the best available stand-in (creation time if known).
    #[cfg(not(unix))]
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        FileId {
            dev: 0,
            ino: created,
        }
    }

    /// A 64-bit id derived from device+inode and `salt`. Not used for stream
    /// ids any more: an inode reused by another file would get the same one,
    /// and an exactly-once sink would then skip that file's first lines; the
    /// tailer gives each content a random id kept in its checkpoint instead.
    pub fn stream_id(self, salt: u64) -> u64 {
        let mut h = Fnv::new();
        h.write(&self.dev.to_le_bytes());
        h.write(&self.ino.to_le_bytes());
        h.write(&salt.to_le_bytes());
        h.finish()
    }
}

/// A hash of bytes `skip..skip+len` of a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Header bytes left out (`ignored_header_bytes`).
    pub skip: u64,
    /// Bytes hashed; less than the configured length while the file is short.
    pub len: u64,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `data[skip..skip+len]`, `None` if `data` is shorter.
    pub fn of_prefix(data: &[u8], skip: u64, len: u64) -> Option<Fingerprint> {
        let start = usize::try_from(skip).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let bytes = data.get(start..end)?;
        let mut h = Fnv::new();
        h.write(bytes);
        Some(Fingerprint {
            skip,
            len,
            hash: h.finish(),
        })
    }

    /// The fingerprint of the first bytes available in `data` (after `skip`), up
    /// to `max_len`; `None` when there are none.
    pub fn of_head(data: &[u8], skip: u64, max_len: u64) -> Option<Fingerprint> {
        let have = (data.len() as u64).saturating_sub(skip).min(max_len);
        if have == 0 {
            return None;
        }
        Fingerprint::of_prefix(data, skip, have)
    }

    /// True when `data` (a file's head) starts with the bytes this was taken of.
    pub fn matches(&self, data: &[u8]) -> bool {
        Fingerprint::of_prefix(data, self.skip, self.len).is_some_and(|f| f == *self)
    }

    /// True once it covers the configured length.
    pub fn is_full(&self, fingerprint_bytes: u64) -> bool {
        self.len >= fingerprint_bytes
    }

    /// Bytes of the file's head needed to check this fingerprint.
    pub fn head_len(&self) -> u64 {
        self.skip + self.len
    }

    /// The checkpoint form, `SKIP:LEN:HEX`, self-describing so a reader needs no
    /// configuration to check it (see [`crate::checkpoint::fingerprint_matches`]).
    pub fn encode(&self) -> String {
        format!("{}:{}:{:016x}", self.skip, self.len, self.hash)
    }

    /// Parses [`Fingerprint::encode`]'s form.
    pub fn decode(text: &str) -> Option<Fingerprint> {
        let mut parts = text.split(':');
        let skip = parts.next()?.parse().ok()?;
        let len = parts.next()?.parse().ok()?;
        let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
        if parts.next().is_some() || len == 0 {
            return None;
        }
        Some(Fingerprint { skip, len, hash })
    }
}

/// Reads up to `n` bytes from the start of `reader` (fewer at its end).
pub fn read_head(reader: &mut impl Read, n: u64) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(usize::try_from(n.min(1 << 20)).unwrap_or(0));
    reader.take(n).read_to_end(&mut head)?;
    Ok(head)
}

/// Reads up to `n` bytes from offset 0 of an open file without moving its
/// position (the reader keeps reading where it was).
#[cfg(unix)]
pub fn pread_head(file: &File, n: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; usize::try_from(n).unwrap_or(0)];
    let mut got = 0;
    while got < head.len() {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    Ok(head)
}

/// Portable fallback: reads through a second handle.
#[cfg(not(unix))]
pub fn pread_head(file: &File, n: u64) -> io::Result<Vec<u8>> {
    let mut f = file.try_clone()?;
    use std::io::Seek;
    let pos = f.stream_position()?;
    f.seek(io::SeekFrom::Start(0))?;
    let head = read_head(&mut f, n);
    f.seek(io::SeekFrom::Start(pos))?;
    head
}

/// Reads up to `n` bytes at `offset` of an open file without moving its
/// position: the copy check compares two files at the same offset.
#[cfg(unix)]
pub fn pread_at(file: &File, offset: u64, n: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(n).unwrap_or(0)];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Portable fallback: reads through a second handle.
#[cfg(not(unix))]
pub fn pread_at(file: &File, offset: u64, n: u64) -> io::Result<Vec<u8>> {
    let mut f = file.try_clone()?;
    use std::io::Seek;
    let pos = f.stream_position()?;
    f.seek(io::SeekFrom::Start(offset))?;
    let bytes = read_head(&mut f, n);
    f.seek(io::SeekFrom::Start(pos))?;
    bytes
}

/// The last (up to) `w` bytes of `reader` before offset `end` (or before its
/// end, if shorter), and the offset they end at: the copy check's window on a
/// stream that cannot be read at an offset (a gzip file's decompressed content).
/// Reads at most `end` bytes; an error past the first bytes (a gzip stream
/// still being written) ends the stream there.
pub fn window_before(reader: &mut impl Read, end: u64, w: u64) -> io::Result<(u64, Vec<u8>)> {
    let w = usize::try_from(w).unwrap_or(usize::MAX);
    let mut window: std::collections::VecDeque<u8> = std::collections::VecDeque::with_capacity(w);
    let mut chunk = [0u8; 8192];
    let mut at = 0u64;
    while at < end {
        let want = usize::try_from((end - at).min(chunk.len() as u64)).unwrap_or(chunk.len());
        let n = match reader.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if at > 0 => break,
            Err(e) => return Err(e),
        };
        at += n as u64;
        for b in &chunk[..n] {
            if window.len() == w {
                window.pop_front();
            }
            window.push_back(*b);
        }
    }
    Ok((at, window.into_iter().collect()))
}

/// How a gzip stream ends, decoded to its end: complete (every member has its
/// trailer) or cut short (still being written, or damaged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipEnd {
    /// The decoder reached a valid end; this many decompressed bytes.
    Complete(u64),
    /// The stream stops early; this many decompressed bytes are valid.
    Truncated(u64),
}

/// Decodes the gzip file at `path` to its end (to a sink) and says whether it
/// is complete: a file still being compressed is not read until it is.
pub fn gzip_end(path: &Path) -> io::Result<GzipEnd> {
    let f = File::open(path)?;
    let mut d = flate2::read::MultiGzDecoder::new(io::BufReader::new(f));
    let mut chunk = [0u8; 8192];
    let mut total = 0u64;
    loop {
        match d.read(&mut chunk) {
            Ok(0) => return Ok(GzipEnd::Complete(total)),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(GzipEnd::Truncated(total)),
        }
    }
}

/// The gzip magic number, checked instead of trusting a `.gz` name.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when the file at `path` starts with the gzip magic number.
pub fn is_gzip(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let head = read_head(&mut f, 2)?;
    Ok(head == GZIP_MAGIC)
}

/// FNV-1a, 64 bit: tiny, stable across builds and platforms (the fingerprint
/// is persisted), and ample for a few hundred bytes.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_encoding() {
        let data = b"header|0123456789abcdef";
        let full = Fingerprint::of_prefix(data, 7, 16).unwrap();
        assert!(full.matches(data));
        assert!(!full.matches(b"header|0123456789abcdeX"));
        assert!(!full.matches(b"header|0123"), "too short to match");
        assert_eq!(Fingerprint::decode(&full.encode()), Some(full));
        assert_eq!(Fingerprint::decode("1:2"), None);
        assert_eq!(Fingerprint::decode("0:0:00"), None);

        let partial = Fingerprint::of_head(b"header|0123", 7, 16).unwrap();
        assert_eq!(partial.len, 4);
        assert!(!partial.is_full(16));
        assert!(
            partial.matches(data),
            "a partial fingerprint matches the grown file"
        );
        assert_eq!(Fingerprint::of_head(b"head", 7, 16), None);
    }

    #[test]
    fn gzip_streams_are_complete_only_with_their_trailer() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&b"line\n".repeat(1000)).unwrap();
        let full = enc.finish().unwrap();
        std::fs::write(&path, &full).unwrap();
        assert_eq!(gzip_end(&path).unwrap(), GzipEnd::Complete(5000));
        std::fs::write(&path, &full[..full.len() - 4]).unwrap();
        assert!(matches!(gzip_end(&path).unwrap(), GzipEnd::Truncated(_)));
        std::fs::write(&path, &full[..2]).unwrap();
        assert_eq!(gzip_end(&path).unwrap(), GzipEnd::Truncated(0));
    }

    #[test]
    fn windows_end_where_asked_or_at_the_end() {
        let data = b"0123456789";
        assert_eq!(
            window_before(&mut &data[..], 6, 3).unwrap(),
            (6, b"345".to_vec())
        );
        assert_eq!(
            window_before(&mut &data[..], 99, 4).unwrap(),
            (10, b"6789".to_vec())
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data).unwrap();
        let f = File::open(&path).unwrap();
        assert_eq!(pread_at(&f, 7, 9).unwrap(), b"789");
    }

    #[test]
    fn stream_ids_differ_by_salt_and_identity() {
        let a = FileId { dev: 1, ino: 2 };
        let b = FileId { dev: 2, ino: 1 };
        assert_ne!(a.stream_id(0), a.stream_id(1));
        assert_ne!(a.stream_id(0), b.stream_id(0));
        assert_eq!(a.stream_id(0), a.stream_id(0));
    }
}
