//! A record on its way from framed lines to an event: the message bytes, the
//! span of the file it came from, and what a container format said about it.

use bytes::Bytes;

use logagent_codecs::framing::Line;

/// Which output stream of a container a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl StdStream {
    /// Index for per-stream state.
    pub fn index(self) -> usize {
        match self {
            StdStream::Stdout => 0,
            StdStream::Stderr => 1,
        }
    }

    /// The stream's name as written by the runtime.
    pub fn name(self) -> &'static str {
        match self {
            StdStream::Stdout => "stdout",
            StdStream::Stderr => "stderr",
        }
    }

    /// Parses the runtime's name.
    pub fn parse(name: &[u8]) -> Option<StdStream> {
        match name {
            b"stdout" => Some(StdStream::Stdout),
            b"stderr" => Some(StdStream::Stderr),
            _ => None,
        }
    }
}

/// One logical line of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The message.
    pub bytes: Bytes,
    /// Offset of its first physical line in the file.
    pub offset: u64,
    /// Offset just past its last physical line.
    pub end: u64,
    /// Cut to `max_line_bytes` (or the multiline limit).
    pub truncated: bool,
    /// The container stream, for `cri` and `docker`.
    pub stream: Option<StdStream>,
    /// The runtime's timestamp: nanoseconds since the epoch.
    pub time: Option<i64>,
    /// The runtime's timestamp as written.
    pub time_text: Option<Bytes>,
}

impl Record {
    /// A record of plain text.
    pub fn plain(bytes: Bytes, offset: u64, end: u64) -> Record {
        Record {
            bytes,
            offset,
            end,
            truncated: false,
            stream: None,
            time: None,
            time_text: None,
        }
    }

    /// A record for a framed line, as is.
    pub fn from_line(line: Line) -> Record {
        Record {
            truncated: line.truncated,
            ..Record::plain(line.bytes, line.offset, line.end)
        }
    }
}
