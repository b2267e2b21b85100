//! `type = "console"`: events on standard output as `json` (NDJSON), `text`
//! (the line with its edits) or `logfmt` (`key=value` pairs) — Vector's name
//! for what our `stdout` sink does, plus logfmt. It is the stdout sink's
//! writer with another encoder, so the two share one way of writing and one
//! retry rule ([`super::io_retry`]).

use std::cell::RefCell;

use serde::Deserialize;

use super::stdout::{LineEncoder, StdoutSink};
use logagent_core::KeyError;
use logagent_core::component::{Sink, SinkComponent, SinkError};
use logagent_core::event::json::{self, Kind, Member, Span};
use logagent_core::event::{Event, encode};

/// How the console sink writes an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleEncoding {
    /// One JSON object per line (NDJSON).
    #[default]
    Json,
    /// The line as text, with edits applied.
    Text,
    /// `key=value` pairs, nested objects flattened with dots (`user.id=7`),
    /// values quoted when they hold spaces, quotes, `=` or control characters.
    Logfmt,
}

/// Options of the console sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {
    /// `json` (default), `text` or `logfmt`. Required by Vector; optional here.
    #[serde(default)]
    pub encoding: ConsoleEncoding,
}

impl ConsoleSinkConfig {
    /// Nothing to check beyond types.
    pub fn check(&self) -> Vec<KeyError> {
        Vec::new()
    }

    /// The running sink: the stdout sink with this encoding.
    pub fn build(&self) -> StdoutSink {
        let encode: LineEncoder = match self.encoding {
            ConsoleEncoding::Json => |e, out| {
                encode::write_json(e, out);
                out.push(b'\n');
            },
            ConsoleEncoding::Text => |e, out| {
                encode::write_text(e, out);
                out.push(b'\n');
            },
            ConsoleEncoding::Logfmt => |e, out| {
                write_logfmt(e, out);
                out.push(b'\n');
            },
        };
        StdoutSink::new(encode)
    }
}

impl SinkComponent for ConsoleSinkConfig {
    fn check(&self) -> Vec<KeyError> {
        ConsoleSinkConfig::check(self)
    }

    fn build(&self, _data_dir: &std::path::Path) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(ConsoleSinkConfig::build(self)))
    }
}

thread_local! {
    /// The event as JSON, reused from event to event (a sink runs on one thread).
    static SCRATCH: RefCell<(Vec<u8>, Vec<Member>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Appends `event` as logfmt (no newline): its JSON form's members in order,
/// nested objects flattened with dotted keys, arrays as their JSON text.
pub fn write_logfmt(event: &Event, out: &mut Vec<u8>) {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let (buf, members) = &mut *scratch;
        buf.clear();
        encode::write_json(event, buf);
        let mut key = Vec::new();
        write_object(buf, Span::new(0, buf.len()), &mut key, members, out, 0);
        if buf.capacity() > (1 << 20) {
            *buf = Vec::new();
        }
    });
}

/// Deeper objects are written as JSON text rather than flattened further.
const MAX_FLATTEN: usize = 8;

fn write_object(
    input: &[u8],
    object: Span,
    prefix: &mut Vec<u8>,
    members: &mut Vec<Member>,
    out: &mut Vec<u8>,
    depth: usize,
) {
    let from = members.len();
    if json::object_members(input, object, members).is_err() {
        // The encoder only writes valid JSON; keep the text if it ever did not.
        pair(prefix, &input[object.range()], true, out);
        return;
    }
    let mine: Vec<Member> = members.drain(from..).collect();
    for m in mine {
        let at = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'.');
        }
        let raw_key = &input[m.key.range()];
        match json::decode_str(raw_key) {
            Some(k) => push_key(prefix, &k),
            None => push_key(prefix, m.key_raw(input)),
        }
        let raw = m.value_raw(input);
        match json::kind_of(raw) {
            Some(Kind::Object) if depth < MAX_FLATTEN && raw.len() > 2 => {
                write_object(input, m.value, prefix, members, out, depth + 1)
            }
            Some(Kind::String) => match json::decode_str(raw) {
                Some(text) => pair(prefix, &text, false, out),
                None => pair(prefix, raw, true, out),
            },
            _ => pair(prefix, raw, false, out),
        }
        prefix.truncate(at);
    }
}

/// A key: bytes that would end it (space, `=`, `"`, control) become `_`.
fn push_key(prefix: &mut Vec<u8>, key: &[u8]) {
    prefix.extend(key.iter().map(|&b| {
        if b <= b' ' || b == b'=' || b == b'"' || b == 0x7f {
            b'_'
        } else {
            b
        }
    }));
}

fn pair(key: &[u8], value: &[u8], force_quotes: bool, out: &mut Vec<u8>) {
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b' ');
    }
    out.extend_from_slice(key);
    out.push(b'=');
    let quote = force_quotes
        || value.is_empty()
        || value
            .iter()
            .any(|&b| b <= b' ' || b == b'=' || b == b'"' || b == b'\\' || b == 0x7f);
    if !quote {
        json::write_lossy(out, value);
        return;
    }
    out.push(b'"');
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if c.is_control() => {
                    out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes())
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::test_batch::json_batch;

    fn logfmt(line: &str) -> String {
        let batch = json_batch(&[line]);
        let mut out = Vec::new();
        write_logfmt(&batch.events[0], &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn logfmt_flattens_objects_and_quotes_what_needs_it() {
        assert_eq!(
            logfmt(
                r#"{"level":"info","msg":"user logged in","user":{"id":7,"name":"a=b"},"ok":true,"tags":["x","y"],"e":""}"#
            ),
            r#"level=info msg="user logged in" user.id=7 user.name="a=b" ok=true tags="[\"x\",\"y\"]" e="""#
        );
        assert_eq!(
            logfmt(r#"{"m":"line\nbreak \"q\" back\\slash","k y":1}"#),
            r#"m="line\nbreak \"q\" back\\slash" k_y=1"#
        );
    }

    #[test]
    fn text_lines_are_a_message_pair() {
        let mut out = Vec::new();
        write_logfmt(
            &Event::new(bytes::Bytes::from_static(b"plain text"), 0),
            &mut out,
        );
        assert_eq!(out, b"message=\"plain text\"");
        let mut out = Vec::new();
        write_logfmt(
            &Event::new(bytes::Bytes::from_static(b"bad \xff byte"), 0),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "message=\"bad \u{fffd} byte\""
        );
    }

    #[test]
    fn unknown_encodings_and_keys_are_refused() {
        assert!(toml::from_str::<ConsoleSinkConfig>("encoding = \"yaml\"").is_err());
        assert!(toml::from_str::<ConsoleSinkConfig>("target = \"stderr\"").is_err());
        let c: ConsoleSinkConfig = toml::from_str("encoding = \"logfmt\"").unwrap();
        assert_eq!(c.encoding, ConsoleEncoding::Logfmt);
    }
}
