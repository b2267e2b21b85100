//! Line framing over a growable read buffer, ripgrep-style.
//!
//! Reads go into a `Vec`'s spare capacity, never zero-filled first (for a file,
//! `read(2)` straight into it). The complete lines at its front become one
//! frozen chunk, handed out as `Bytes` slices of it (no copy), and only the
//! partial last line stays behind, copied into a buffer of its own size: a
//! reader that is not reading holds no read buffer, only that partial line.
//! A line longer than the limit is truncated or dropped, and the reader
//! resynchronises at the next newline.

use std::fs::File;
use std::io::{self, Read};

use bytes::Bytes;

/// What to do with a line longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversize {
    /// Keep its first `max_line_bytes` bytes, skip the rest.
    Truncate,
    /// Skip the whole line.
    Drop,
}

/// One framed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The line without its `\n` (and without a `\r` before it).
    pub bytes: Bytes,
    /// Offset of the line's first byte in the stream.
    pub offset: u64,
    /// Offset just past the line's newline: where reading resumes after it.
    pub end: u64,
    /// The line was longer than the limit and was cut.
    pub truncated: bool,
}

/// Counts of lines the framer could not pass on whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramingStats {
    /// Lines cut to the limit.
    pub truncated: u64,
    /// Lines skipped for being over the limit.
    pub dropped: u64,
}

/// Frames a byte stream into lines.
#[derive(Debug)]
pub struct LineReader {
    /// Bytes read and not yet framed; allocated per read, sized to it.
    buf: Vec<u8>,
    read_size: usize,
    max_line: usize,
    oversize: Oversize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Skipping the rest of an oversized line until the next newline.
    skipping: bool,
    stats: FramingStats,
}

impl LineReader {
    /// A reader that reads `read_size` bytes at a time and allows lines of up to
    /// `max_line` bytes, starting at stream offset `offset`.
    pub fn new(read_size: usize, max_line: usize, oversize: Oversize, offset: u64) -> LineReader {
        let read_size = read_size.max(1);
        LineReader {
            buf: Vec::new(),
            read_size,
            max_line: max_line.max(1),
            oversize,
            offset,
            skipping: false,
            stats: FramingStats::default(),
        }
    }

    /// Stream offset just past the last byte handed out (or skipped): where a
    /// restart would resume reading.
    pub fn consumed_offset(&self) -> u64 {
        self.offset
    }

    /// Bytes read but not yet framed (a partial line).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Lines truncated or dropped so far.
    pub fn stats(&self) -> FramingStats {
        self.stats
    }

    /// Reads up to the read size from `reader` into the buffer (fewer only at
    /// the end of input). Returns the number of bytes read; 0 means end of
    /// input (for now, when tailing). Readers without a way to
    /// read into uninitialised memory (a decoder) get the read zero-filled by
    /// `std`; a [`File`] should go through [`LineReader::fill_file`].
    pub fn fill<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        let want = self.read_size;
        self.buf.reserve(want);
        // `read_to_end` through `take` fills spare capacity, and stops at the
        // limit without another read. On an error, bytes read before it stay
        // in the buffer (they are valid) and the error is returned.
        let before = self.buf.len();
        (&mut *reader)
            .take(want as u64)
            .read_to_end(&mut self.buf)?;
        Ok(self.buf.len() - before)
    }

    /// Reads at most `limit` bytes (capped at the read size) from `file` with
    /// one `read(2)` into the buffer's spare capacity: no zero-filling, and a
    /// buffer sized to what the caller knows is there (its size by `fstat`)
    /// rather than to the read size. Returns the number of bytes read.
    pub fn fill_file(&mut self, file: &File, limit: u64) -> io::Result<usize> {
        let want = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .clamp(1, self.read_size);
        self.buf.reserve_exact(want);
        read_spare(file, &mut self.buf)
    }

    /// Appends bytes directly (for sources that receive data rather than read it).
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Hands every complete line in the buffer to `emit`, in order.
    pub fn drain_lines(&mut self, mut emit: impl FnMut(Line)) {
        if self.skipping {
            // The rest of an oversized line: skip to its newline.
            match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.buf.drain(..=i);
                    self.offset += i as u64 + 1;
                    self.skipping = false;
                }
                None => {
                    self.offset += self.buf.len() as u64;
                    self.buf.clear();
                    return;
                }
            }
        }
        if let Some(last) = memchr::memrchr(b'\n', &self.buf) {
            // Every complete line is framed from one frozen chunk; the
            // partial line after them moves to a buffer of its own size.
            let tail = self.buf[last + 1..].to_vec();
            let mut whole = std::mem::replace(&mut self.buf, tail);
            whole.truncate(last + 1);
            let chunk = Bytes::from(whole);
            let base = self.offset;
            self.offset += chunk.len() as u64;
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', &chunk) {
                self.emit_line(&chunk, base, start, nl, &mut emit);
                start = nl + 1;
            }
        }
        self.check_oversize(&mut emit);
    }

    fn emit_line(
        &mut self,
        chunk: &Bytes,
        base: u64,
        start: usize,
        nl: usize,
        emit: &mut impl FnMut(Line),
    ) {
        let mut end = nl;
        if end > start && chunk[end - 1] == b'\r' {
            end -= 1;
        }
        if end - start > self.max_line {
            match self.oversize {
                Oversize::Truncate => {
                    self.stats.truncated += 1;
                    emit(Line {
                        bytes: chunk.slice(start..start + self.max_line),
                        offset: base + start as u64,
                        end: base + nl as u64 + 1,
                        truncated: true,
                    });
                }
                Oversize::Drop => self.stats.dropped += 1,
            }
            return;
        }
        emit(Line {
            bytes: chunk.slice(start..end),
            offset: base + start as u64,
            end: base + nl as u64 + 1,
            truncated: false,
        });
    }

    /// A partial line already longer than the limit is cut (or dropped) now, so
    /// the buffer never grows past `max_line` plus one read.
    fn check_oversize(&mut self, emit: &mut impl FnMut(Line)) {
        if self.buf.len() <= self.max_line {
            return;
        }
        let start = self.offset;
        let taken = Bytes::from(std::mem::take(&mut self.buf));
        self.offset += taken.len() as u64;
        self.skipping = true;
        match self.oversize {
            Oversize::Truncate => {
                self.stats.truncated += 1;
                emit(Line {
                    bytes: taken.slice(..self.max_line),
                    offset: start,
                    end: self.offset,
                    truncated: true,
                });
            }
            Oversize::Drop => self.stats.dropped += 1,
        }
    }

    /// At the end of input: hands out the final line that had no newline, if any.
    pub fn finish(&mut self) -> Option<Line> {
        if self.buf.is_empty() {
            self.skipping = false;
            return None;
        }
        let taken = Bytes::from(std::mem::take(&mut self.buf));
        let start = self.offset;
        self.offset += taken.len() as u64;
        if std::mem::take(&mut self.skipping) {
            return None;
        }
        let mut end = taken.len();
        if end > 0 && taken[end - 1] == b'\r' {
            end -= 1;
        }
        Some(Line {
            bytes: taken.slice(..end),
            offset: start,
            end: self.offset,
            truncated: false,
        })
    }
}

/// `read(2)` into `buf`'s spare capacity (rustix: safe, and nothing zeroed).
#[cfg(unix)]
fn read_spare(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match rustix::io::read(file, rustix::buffer::spare_capacity(buf)) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Elsewhere, `std`'s own read into spare capacity.
#[cfg(not(unix))]
fn read_spare(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = (buf.capacity() - buf.len()) as u64;
    let mut f = file;
    f.take(spare).read_to_end(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `data` in chunks of the given sizes and collects the lines.
    fn frame(data: &[u8], chunks: &[usize], max_line: usize, oversize: Oversize) -> Vec<Line> {
        let mut reader = LineReader::new(7, max_line, oversize, 0);
        let mut lines = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < data.len() {
            let n = chunks
                .get(i % chunks.len().max(1))
                .copied()
                .unwrap_or(1)
                .max(1);
            let end = (pos + n).min(data.len());
            reader.push(&data[pos..end]);
            reader.drain_lines(|l| lines.push(l));
            pos = end;
            i += 1;
        }
        lines.extend(reader.finish());
        lines
    }

    fn oracle(data: &[u8]) -> Vec<Vec<u8>> {
        let mut parts: Vec<Vec<u8>> = data.split(|b| *b == b'\n').map(|l| l.to_vec()).collect();
        if data.ends_with(b"\n") || data.is_empty() {
            parts.pop();
        }
        parts
            .into_iter()
            .map(|mut l| {
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                l
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_naive_split_under_any_chunking(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..400),
            chunks in proptest::collection::vec(1usize..50, 1..10),
        ) {
            let lines = frame(&data, &chunks, 1 << 20, Oversize::Truncate);
            let got: Vec<Vec<u8>> = lines.iter().map(|l| l.bytes.to_vec()).collect();
            prop_assert_eq!(got, oracle(&data));
            // Offsets chain: each line ends where the next begins, and the last ends at the input's end.
            let mut expect = 0u64;
            for l in &lines {
                prop_assert_eq!(l.offset, expect);
                expect = l.end;
            }
            prop_assert_eq!(expect, data.len() as u64);
        }

        #[test]
        fn long_lines_are_cut_and_the_rest_survives(
            lines in proptest::collection::vec(proptest::collection::vec(b'a'..=b'z', 0..40), 1..20),
            chunks in proptest::collection::vec(1usize..30, 1..5),
        ) {
            let max = 10;
            let mut data = Vec::new();
            for l in &lines { data.extend_from_slice(l); data.push(b'\n'); }
            let got = frame(&data, &chunks, max, Oversize::Truncate);
            prop_assert_eq!(got.len(), lines.len());
            for (g, l) in got.iter().zip(&lines) {
                prop_assert_eq!(&g.bytes[..], &l[..l.len().min(max)]);
                prop_assert_eq!(g.truncated, l.len() > max);
            }
            let kept = frame(&data, &chunks, max, Oversize::Drop);
            let expected: Vec<&Vec<u8>> = lines.iter().filter(|l| l.len() <= max).collect();
            prop_assert_eq!(kept.len(), expected.len());
        }
    }

    #[test]
    fn reads_from_a_reader_and_keeps_partial_tail() {
        let mut reader = LineReader::new(4, 100, Oversize::Truncate, 10);
        let mut src: &[u8] = b"ab\ncd\r\nef";
        let mut lines = Vec::new();
        while reader.fill(&mut src).unwrap() > 0 {
            reader.drain_lines(|l| lines.push(l));
        }
        assert_eq!(reader.pending(), 2);
        let tail = reader.finish().unwrap();
        assert_eq!(&tail.bytes[..], b"ef");
        assert_eq!(tail.end, 10 + 9);
        assert_eq!(lines.len(), 2);
        assert_eq!(&lines[1].bytes[..], b"cd");
        assert_eq!(lines[1].offset, 13);
    }

    #[test]
    fn buffer_stays_bounded_by_a_huge_line() {
        let mut reader = LineReader::new(1024, 4096, Oversize::Drop, 0);
        let huge = vec![b'x'; 1 << 20];
        let mut src: &[u8] = &huge;
        let mut n = 0;
        while reader.fill(&mut src).unwrap() > 0 {
            reader.drain_lines(|_| n += 1);
            assert!(reader.pending() <= 4096 + 1024);
        }
        reader.push(b"\nnext\n");
        let mut lines = Vec::new();
        reader.drain_lines(|l| lines.push(l));
        assert_eq!(n, 0);
        assert_eq!(lines.len(), 1);
        assert_eq!(&lines[0].bytes[..], b"next");
        assert_eq!(reader.stats().dropped, 1);
    }
}
