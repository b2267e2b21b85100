//! Container runtime log formats: CRI (containerd, CRI-O) and Docker json-file.
//!
//! Both split long lines: CRI marks every piece but the last with `P`, Docker
//! ends every piece but the last without `\n` (at 16 KiB). Pieces are joined per
//! stream (stdout and stderr interleave), up to `max_line_bytes`. A line that is
//! not in the format is passed on whole as text and counted, never dropped.

use bytes::{Bytes, BytesMut};

use super::record::{Record, StdStream};
use logagent_codecs::framing::Line;
use logagent_core::event::Member;
use logagent_core::event::json;

/// Which format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `TIME STREAM P|F MESSAGE`.
    Cri,
    /// `{"log":"…","stream":"…","time":"…"}`.
    Docker,
}

/// Reassembles one file's container log lines into records.
#[derive(Debug)]
pub struct Decoder {
    kind: Kind,
    max_bytes: usize,
    partial: [Option<Partial>; 2],
    members: Vec<Member>,
    /// Lines that were not in the format (passed on as text).
    pub malformed: u64,
}

#[derive(Debug)]
struct Partial {
    buf: BytesMut,
    offset: u64,
    time: Option<i64>,
    time_text: Option<Bytes>,
    truncated: bool,
}

/// One line of either format, parsed.
struct Piece<'a> {
    stream: StdStream,
    time_text: &'a [u8],
    /// The message piece, a range of the line (or decoded from JSON).
    message: MessageBytes,
    last: bool,
}

enum MessageBytes {
    /// A range of the line.
    Slice(usize, usize),
    /// Decoded from a JSON string with escapes.
    Owned(Vec<u8>),
}

impl Decoder {
    /// A decoder for `kind`, joining pieces up to `max_bytes`.
    pub fn new(kind: Kind, max_bytes: usize) -> Decoder {
        Decoder {
            kind,
            max_bytes: max_bytes.max(1),
            partial: [None, None],
            members: Vec::new(),
            malformed: 0,
        }
    }

    /// Decodes one framed line; complete records go to `emit`.
    pub fn push(&mut self, line: Line, emit: &mut impl FnMut(Record)) {
        let parsed = match self.kind {
            Kind::Cri => parse_cri(&line.bytes),
            Kind::Docker => parse_docker(&line.bytes, &mut self.members),
        };
        let Some(piece) = parsed else {
            self.malformed += 1;
            emit(Record::from_line(line));
            return;
        };
        let time = parse_rfc3339(piece.time_text);
        let slot = &mut self.partial[piece.stream.index()];
        let message: &[u8] = match &piece.message {
            MessageBytes::Slice(a, b) => &line.bytes[*a..*b],
            MessageBytes::Owned(v) => v,
        };
        if slot.is_none() && piece.last {
            // The common case: a whole line, kept as a slice of the read buffer.
            let bytes = match piece.message {
                MessageBytes::Slice(a, b) => line.bytes.slice(a..b),
                MessageBytes::Owned(v) => Bytes::from(v),
            };
            let (bytes, cut) = self.cap(bytes);
            emit(Record {
                bytes,
                offset: line.offset,
                end: line.end,
                truncated: line.truncated || cut,
                stream: Some(piece.stream),
                time,
                time_text: Some(line.bytes.slice_ref(piece.time_text)),
            });
            return;
        }
        let p = slot.get_or_insert_with(|| Partial {
            buf: BytesMut::new(),
            offset: line.offset,
            time,
            time_text: Some(line.bytes.slice_ref(piece.time_text)),
            truncated: false,
        });
        let room = self.max_bytes.saturating_sub(p.buf.len());
        if message.len() > room {
            p.truncated = true;
        }
        p.buf.extend_from_slice(&message[..message.len().min(room)]);
        p.truncated |= line.truncated;
        if piece.last
            && let Some(p) = slot.take()
        {
            emit(Record {
                bytes: p.buf.freeze(),
                offset: p.offset,
                end: line.end,
                truncated: p.truncated,
                stream: Some(piece.stream),
                time: p.time,
                time_text: p.time_text,
            });
        }
    }

    fn cap(&self, bytes: Bytes) -> (Bytes, bool) {
        if bytes.len() > self.max_bytes {
            (bytes.slice(..self.max_bytes), true)
        } else {
            (bytes, false)
        }
    }

    /// Sends pieces still waiting for their last part (end of a finished file).
    pub fn flush(&mut self, end: u64, emit: &mut impl FnMut(Record)) {
        let mut waiting: Vec<(usize, Partial)> = self
            .partial
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| p.take().map(|p| (i, p)))
            .collect();
        waiting.sort_by_key(|(_, p)| p.offset);
        for (i, p) in waiting {
            emit(Record {
                bytes: p.buf.freeze(),
                offset: p.offset,
                end,
                truncated: p.truncated,
                stream: Some(if i == 0 {
                    StdStream::Stdout
                } else {
                    StdStream::Stderr
                }),
                time: p.time,
                time_text: p.time_text,
            });
        }
    }

    /// Offset of the earliest piece held back, for checkpoints.
    pub fn held_start(&self) -> Option<u64> {
        self.partial.iter().flatten().map(|p| p.offset).min()
    }

    /// Drops pieces held back (they will be read again).
    pub fn discard(&mut self) {
        self.partial = [None, None];
    }
}

/// `2016-10-06T00:17:09.669794202Z stdout F message` (the tag may carry more
/// `:`-separated parts after `P`/`F`).
fn parse_cri(line: &[u8]) -> Option<Piece<'_>> {
    let sp1 = memchr::memchr(b' ', line)?;
    let rest = &line[sp1 + 1..];
    let sp2 = memchr::memchr(b' ', rest)?;
    let stream = StdStream::parse(&rest[..sp2])?;
    let after = sp1 + 1 + sp2 + 1;
    let tail = &line[after..];
    let (tag, msg_start) = match memchr::memchr(b' ', tail) {
        Some(sp3) => (&tail[..sp3], after + sp3 + 1),
        None => (tail, line.len()),
    };
    let last = match tag.split(|b| *b == b':').next() {
        Some(b"F") => true,
        Some(b"P") => false,
        _ => return None,
    };
    Some(Piece {
        stream,
        time_text: &line[..sp1],
        message: MessageBytes::Slice(msg_start, line.len()),
        last,
    })
}

/// `{"log":"message\n","stream":"stdout","time":"2019-…Z"}`.
fn parse_docker<'a>(line: &'a [u8], members: &mut Vec<Member>) -> Option<Piece<'a>> {
    members.clear();
    let object = json::scan_object(line, 8, members).ok()?;
    let _ = object;
    let mut log = None;
    let mut stream = None;
    let mut time: &[u8] = b"";
    for m in members.iter() {
        if m.key_eq(line, b"log") {
            log = Some(m.value_raw(line));
        } else if m.key_eq(line, b"stream") {
            stream = json::decode_str(m.value_raw(line)).and_then(|s| StdStream::parse(&s));
        } else if m.key_eq(line, b"time") {
            let raw = m.value_raw(line);
            if raw.len() >= 2 && raw[0] == b'"' {
                time = &raw[1..raw.len() - 1];
            }
        }
    }
    let raw = log?;
    let decoded = json::decode_str(raw)?;
    let (message, last) = match decoded.strip_suffix(b"\n") {
        Some(m) => (m, true),
        None => (&decoded[..], false),
    };
    let message = message.strip_suffix(b"\r").unwrap_or(message);
    let message = match &decoded {
        std::borrow::Cow::Borrowed(_) => {
            // Unescaped: the message is a range of the line (inside the quotes).
            let start = raw.as_ptr() as usize - line.as_ptr() as usize + 1;
            MessageBytes::Slice(start, start + message.len())
        }
        std::borrow::Cow::Owned(_) => MessageBytes::Owned(message.to_vec()),
    };
    Some(Piece {
        stream: stream.unwrap_or(StdStream::Stdout),
        time_text: time,
        message,
        last,
    })
}

/// RFC 3339 with any fraction, as container runtimes write it.
pub fn parse_rfc3339(text: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(text).ok()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Line> {
        let mut offset = 0;
        text.split_inclusive('\n')
            .map(|l| {
                let body = l.trim_end_matches('\n');
                let line = Line {
                    bytes: Bytes::copy_from_slice(body.as_bytes()),
                    offset,
                    end: offset + l.len() as u64,
                    truncated: false,
                };
                offset = line.end;
                line
            })
            .collect()
    }

    fn decode(kind: Kind, max: usize, text: &str) -> (Vec<Record>, Decoder) {
        let mut d = Decoder::new(kind, max);
        let mut out = Vec::new();
        for l in lines(text) {
            d.push(l, &mut |r| out.push(r));
        }
        (out, d)
    }

    #[test]
    fn cri_joins_partials_per_stream() {
        let text = "2024-01-01T00:00:00.000000001Z stdout P hello \n\
                    2024-01-01T00:00:01Z stderr F oops\n\
                    2024-01-01T00:00:02Z stdout P big \n\
                    2024-01-01T00:00:03Z stdout F world\n\
                    2024-01-01T00:00:04Z stdout F\n";
        let (out, d) = decode(Kind::Cri, 1 << 20, text);
        assert_eq!(d.malformed, 0);
        let msgs: Vec<&[u8]> = out.iter().map(|r| &r.bytes[..]).collect();
        assert_eq!(msgs, [&b"oops"[..], b"hello big world", b""]);
        assert_eq!(out[0].stream, Some(StdStream::Stderr));
        assert_eq!(out[1].stream, Some(StdStream::Stdout));
        assert_eq!(out[1].offset, 0, "starts at its first piece");
        assert_eq!(out[1].time, Some(1_704_067_200_000_000_001));
        assert_eq!(
            out[1].time_text.as_deref(),
            Some(&b"2024-01-01T00:00:00.000000001Z"[..])
        );
        let l = lines(text);
        assert_eq!(out[1].end, l[3].end, "ends with its last piece");
    }

    #[test]
    fn cri_malformed_lines_pass_through_and_held_pieces_are_reported() {
        let (out, d) = decode(
            Kind::Cri,
            1 << 20,
            "not a cri line\n2024-01-01T00:00:00Z stdout P part\n",
        );
        assert_eq!(d.malformed, 1);
        assert_eq!(&out[0].bytes[..], b"not a cri line");
        assert_eq!(out[0].stream, None);
        assert_eq!(d.held_start(), Some(15));
    }

    #[test]
    fn joined_pieces_are_capped() {
        let (out, _) = decode(
            Kind::Cri,
            8,
            "2024-01-01T00:00:00Z stdout P 12345\n2024-01-01T00:00:00Z stdout F 67890\n",
        );
        assert_eq!(&out[0].bytes[..], b"12345678");
        assert!(out[0].truncated);
    }

    #[test]
    fn docker_joins_16k_splits_and_unescapes() {
        let text = concat!(
            r#"{"log":"first half ","stream":"stdout","time":"2024-01-01T00:00:00.5Z"}"#,
            "\n",
            r#"{"log":"second \"half\"\n","stream":"stdout","time":"2024-01-01T00:00:01Z"}"#,
            "\n",
            r#"{"log":"err line\n","stream":"stderr","time":"2024-01-01T00:00:02Z"}"#,
            "\n",
            "garbage\n"
        );
        let (out, d) = decode(Kind::Docker, 1 << 20, text);
        let msgs: Vec<&[u8]> = out.iter().map(|r| &r.bytes[..]).collect();
        assert_eq!(
            msgs,
            [&b"first half second \"half\""[..], b"err line", b"garbage"]
        );
        assert_eq!(out[0].time, Some(1_704_067_200_500_000_000));
        assert_eq!(out[1].stream, Some(StdStream::Stderr));
        assert_eq!(d.malformed, 1);
    }
}
