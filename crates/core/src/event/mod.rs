//! The event model: a log line as a slice of the read buffer, plus what parsers
//! found in it and what transforms changed.
//!
//! Nothing here copies a line. A parser records the byte ranges of the fields it
//! found ([`Member`]s, kept per batch in [`Batch::members`] so a parsed line costs no
//! allocation), and a transform that changes a value records an [`Edit`]. The
//! encoder ([`encode`]) writes an unedited line byte for byte and splices the edits
//! into an edited one, so only what changed is ever re-encoded.
//!
//! The JSON scanner ([`json`]) lives here, not among the codecs: fields are
//! spans of JSON text, so the event model is built on it (codecs and
//! transforms use it through the event model, never the other way).

pub mod access;
pub mod ack;
pub mod encode;
pub mod json;
pub mod level;
pub mod path;
pub mod shared;
pub mod template;

#[cfg(test)]
mod model_tests;
#[cfg(any(test, feature = "test-support"))]
pub mod test_batch;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

pub use access::ValueRef;
pub use ack::AckToken;
pub use json::{Member, Span};
pub use level::Level;
pub use path::FieldPath;
pub use shared::CowVec;

/// The name under which an unstructured line appears when it is written as JSON.
pub const MESSAGE_KEY: &str = "message";

/// The edits of one event, stored inline in the event (and so in its batch's
/// event vector) up to [`INLINE_EDITS`], on the heap only beyond.
///
/// Most edited events carry one or two edits (an enrichment, a redacted
/// value): a `Vec` per edited event cost a `malloc` and a `free` per line,
/// about 8% of the end-to-end job's CPU. With the edits inline, a batch's
/// edits live in the one allocation of its events.
pub type Edits = smallvec::SmallVec<[Edit; INLINE_EDITS]>;

/// How many edits an event holds without a heap allocation: enrich's field
/// and one more (a redaction, a rename) before spilling.
pub const INLINE_EDITS: usize = 2;

/// One log line travelling through the pipeline.
///
/// `Clone` is written out so that `clone_from` reuses the edit list's
/// allocation: the runtime keeps a copy of each batch a transform is given
/// (to isolate a line that makes it panic), overwritten batch after batch.
#[derive(Debug)]
pub struct Event {
    /// The line as read, without its newline: a slice of the source's read buffer.
    pub line: Bytes,
    /// How the line is structured, as far as a parser has found out.
    pub root: Root,
    /// Changes made by transforms, kept sorted by position (see [`Edit`]).
    pub edits: Edits,
    /// Facts about the event that are not fields of it.
    pub meta: Meta,
}

impl Clone for Event {
    fn clone(&self) -> Event {
        Event {
            line: self.line.clone(),
            root: self.root,
            edits: self.edits.clone(),
            meta: self.meta,
        }
    }

    fn clone_from(&mut self, source: &Event) {
        self.line.clone_from(&source.line);
        self.root = source.root;
        self.edits.clear();
        self.edits.extend(source.edits.iter().cloned());
        self.meta = source.meta;
    }
}

/// What a parser found the line to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// Unparsed text: written as `{"message": line, ...added fields}`.
    Text,
    /// A JSON object occupying `object` in the line, whose top-level members are
    /// `members` (a range into the batch's member arena).
    Json {
        /// The object's span in the line, from `{` to just past `}`.
        object: Span,
        /// Range of this event's top-level members in [`Batch::members`].
        members: Span,
    },
}

/// Facts about an event that are not fields of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Byte offset of the line's first byte in its stream (file), used for
    /// idempotent ids and checkpoints.
    pub offset: u64,
    /// Event time in nanoseconds since the Unix epoch, once a parser found it.
    pub time: Option<i64>,
    /// Normalized severity, cached by the first stage that needed it.
    pub level: Option<Level>,
    /// Set when the line was cut at the source's `max_line_bytes`.
    pub truncated: bool,
    /// A summary of the JSON root's top-level keys (see [`KeyFilter`]), so a
    /// lookup of an absent field skips the member scan.
    pub keys: KeyFilter,
}

/// A small Bloom filter over the top-level keys of a JSON root, filled by
/// `parse_json`. Most field lookups in a chain are for fields a line does not
/// have (paths to redact, fields to add); this answers "absent" without a scan.
/// The empty filter means "not computed": every lookup scans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter {
    bits: u64,
    /// Bits set by more than one key: only a key on such a bit may be duplicated.
    multi: u64,
}

impl KeyFilter {
    /// The filter of an object's keys as the scanner summarized them (none when
    /// a key has escapes: its raw bytes are not its name).
    pub fn from_summary(summary: json::KeySummary) -> KeyFilter {
        if summary.escaped {
            return KeyFilter::default();
        }
        KeyFilter {
            // An empty object still gets a computed (non-zero) filter.
            bits: if summary.bits == 0 {
                1 << 63
            } else {
                summary.bits
            },
            multi: summary.multi,
        }
    }

    /// False when `key` is certainly not a top-level key; true when it may be
    /// (or when the filter was not computed).
    #[inline]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bits == 0 || self.bits & json::key_bit(key) != 0
    }

    /// True when the filter is computed and at most one member can be named
    /// `key`, so the first match is the only one.
    #[inline]
    pub fn single(&self, key: &[u8]) -> bool {
        self.bits != 0 && self.multi & json::key_bit(key) == 0
    }
}

/// A change to an event, positioned in the line so the encoder can splice it.
///
/// Edits of one event never overlap (an edit that replaces or deletes a region
/// first removes the edits inside it), and inserts sharing a position keep the
/// order they were made in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The region of the line the edit replaces; empty for an insert.
    pub at: Span,
    /// What happens there.
    pub op: EditOp,
}

/// The kinds of [`Edit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditOp {
    /// Replace the region with these bytes: JSON text in a JSON line, raw text in a
    /// [`Root::Text`] line.
    Replace(Bytes),
    /// Remove an object member; the region already includes its separating comma.
    Delete,
    /// Add a member to the object that closes at `at.start` (or, for a text line,
    /// to the implicit object around it).
    Insert {
        /// The member's name, unescaped.
        key: Bytes,
        /// The member's value.
        value: Value,
    },
}

/// A value a transform added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Already encoded JSON text (`"a string"`, `42`, `{"a":1}`).
    Json(Bytes),
    /// A region of the line, written as a JSON string (a regex capture).
    LineStr(Span),
    /// A region of the line that already is JSON text (a number a parser
    /// checked, or a value moved by `rename_fields`), written as is.
    LineRaw(Span),
}

impl Value {
    /// A JSON string value holding `s`, encoded once when the transform is built.
    pub fn string(s: &[u8]) -> Value {
        let mut out = Vec::with_capacity(s.len() + 2);
        json::write_str(&mut out, s);
        Value::Json(Bytes::from(out))
    }
}

/// Bytes that live as long as the process: configuration constants copied into
/// every event (enrichment values). Cloning them costs nothing — no reference
/// count on the hot path — and they are made once per transform build.
pub fn static_bytes(v: Vec<u8>) -> Bytes {
    Bytes::from_static(Box::leak(v.into_boxed_slice()))
}

/// Where a batch's lines came from: one file (or stdin) of one source.
#[derive(Debug)]
pub struct Stream {
    /// The id of the source component.
    pub source: Arc<str>,
    /// The file path, for file sources.
    pub path: Option<PathBuf>,
    /// The identity of the stream within its source (e.g. a file's device+inode),
    /// echoed back in acknowledgements.
    pub id: u64,
}

impl Stream {
    /// Where the stream comes from, for the agent's own logs: the file's path,
    /// else the source's id (never `Some("…")`/`None` Debug text).
    pub fn origin(&self) -> StreamOrigin<'_> {
        StreamOrigin(self)
    }
}

/// [`Stream::origin`]'s display: the path of a file stream, the source id of
/// any other.
#[derive(Debug, Clone, Copy)]
pub struct StreamOrigin<'a>(&'a Stream);

impl std::fmt::Display for StreamOrigin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.path {
            Some(path) => write!(f, "{}", path.display()),
            None => write!(f, "{}", self.0.source),
        }
    }
}

/// Events from one stream, in order, moving through the pipeline together.
///
/// Cloning a batch is cheap: its events and member arena are shared
/// ([`CowVec`]) until one copy changes them, so fan-out to several consumers
/// hands each the same events instead of a deep copy.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The events, in stream order.
    pub events: CowVec<Event>,
    /// Arena of the top-level members of the events' JSON objects.
    pub members: CowVec<Member>,
    /// Where the events came from.
    pub stream: Arc<Stream>,
    /// Tells the source when every sink has written the batch.
    pub ack: AckToken,
}

impl Batch {
    /// An empty batch from `stream` with room for `capacity` events.
    pub fn new(stream: Arc<Stream>, ack: AckToken, capacity: usize) -> Batch {
        Batch {
            events: Vec::with_capacity(capacity).into(),
            members: CowVec::default(),
            stream,
            ack,
        }
    }

    /// Total bytes of the batch's lines, as they were read.
    pub fn line_bytes(&self) -> usize {
        self.events.iter().map(|e| e.line.len()).sum()
    }

    /// Pairs each event with the member arena so it can be read and edited.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = EventMut<'_>> {
        let members = &self.members[..];
        self.events
            .make_mut()
            .iter_mut()
            .map(move |event| EventMut { event, members })
    }
}

impl Event {
    /// A new unparsed event for `line` read at `offset`.
    pub fn new(line: Bytes, offset: u64) -> Event {
        Event {
            line,
            root: Root::Text,
            edits: Edits::new(),
            meta: Meta {
                offset,
                ..Meta::default()
            },
        }
    }
}

/// An event together with its batch's member arena: the handle transforms use to
/// read and change fields (see [`access`]).
pub struct EventMut<'a> {
    /// The event.
    pub event: &'a mut Event,
    /// The batch's member arena.
    pub members: &'a [Member],
}
