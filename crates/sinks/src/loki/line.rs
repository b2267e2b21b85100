//! What an entry's line looks like: the event as JSON (edits applied), its
//! fields as `key=value` pairs, or one field's text (the raw message).

use serde::Deserialize;

use logagent_core::event::access::get;
use logagent_core::event::json;
use logagent_core::event::{Event, EventMut, FieldPath, Member, encode};

/// The line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineFormat {
    /// The whole event as one JSON object, with every transform's edits.
    #[default]
    Json,
    /// Top-level fields as `key=value` pairs (logfmt); strings with spaces,
    /// quotes or `=` are quoted, objects and arrays written as quoted JSON.
    KeyValue,
    /// The text of one field (`message_field`, default `message`: the line
    /// itself for unparsed text); the event as JSON when that field is absent.
    Raw,
}

/// Renders lines, reusing its buffers.
#[derive(Debug)]
pub struct LineRenderer {
    format: LineFormat,
    raw_field: FieldPath,
    /// Fields removed from the line (label fields, with `remove_label_fields`).
    remove: Vec<FieldPath>,
    scratch: Vec<u8>,
    members: Vec<Member>,
}

impl LineRenderer {
    /// A renderer writing `format`, taking raw lines from `raw_field` and
    /// leaving out the `remove` fields.
    pub fn new(format: LineFormat, raw_field: FieldPath, remove: Vec<FieldPath>) -> LineRenderer {
        LineRenderer {
            format,
            raw_field,
            remove,
            scratch: Vec::new(),
            members: Vec::new(),
        }
    }

    /// Appends the line of `event` (valid UTF-8) to `out`.
    pub fn render(&mut self, event: &Event, arena: &[Member], out: &mut Vec<u8>) {
        if !self.remove.is_empty() && self.remove.iter().any(|p| get(event, arena, p).is_some()) {
            // Removal records edits: work on a copy (the line itself is shared,
            // only the edit list is cloned), so other sinks see the event whole.
            let mut copy = event.clone();
            let mut m = EventMut {
                event: &mut copy,
                members: arena,
            };
            for p in &self.remove {
                m.remove(p);
            }
            self.render_event(&copy, arena, out);
        } else {
            self.render_event(event, arena, out);
        }
    }

    fn render_event(&mut self, event: &Event, arena: &[Member], out: &mut Vec<u8>) {
        match self.format {
            LineFormat::Json => encode::write_json(event, out),
            LineFormat::Raw => match get(event, arena, &self.raw_field) {
                Some(v) => json::write_lossy(out, &v.text()),
                None => encode::write_json(event, out),
            },
            LineFormat::KeyValue => {
                self.scratch.clear();
                encode::write_json(event, &mut self.scratch);
                self.members.clear();
                match json::scan_object(&self.scratch, json::MAX_DEPTH, &mut self.members) {
                    Ok(_) => write_key_values(&self.scratch, &self.members, out),
                    Err(_) => out.extend_from_slice(&self.scratch),
                }
            }
        }
    }
}

/// `key=value key2="quoted value"` from the top-level members of a JSON object.
fn write_key_values(src: &[u8], members: &[Member], out: &mut Vec<u8>) {
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let key = json::decode_str(&src[m.key.range()]).unwrap_or_default();
        for &b in key.iter() {
            out.push(if b <= b' ' || b == b'=' || b == b'"' {
                b'_'
            } else {
                b
            });
        }
        out.push(b'=');
        let raw = &src[m.value.range()];
        let text = if raw.first() == Some(&b'"') {
            json::decode_str(raw).unwrap_or_default()
        } else {
            std::borrow::Cow::Borrowed(raw)
        };
        let needs_quotes = text.is_empty()
            || text
                .iter()
                .any(|&b| b <= b' ' || b == b'=' || b == b'"' || b == b'\\');
        if needs_quotes {
            json::write_str(out, &text);
        } else {
            json::write_lossy(out, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use logagent_core::event::{Root, Span, Value};

    fn json_event(line: &str) -> (Event, Vec<Member>) {
        let mut members = Vec::new();
        let line = Bytes::from(line.to_owned());
        let object = json::scan_object(&line, 32, &mut members).unwrap();
        let mut ev = Event::new(line, 0);
        ev.root = Root::Json {
            object,
            members: Span::new(0, members.len()),
        };
        (ev, members)
    }

    fn render(r: &mut LineRenderer, ev: &Event, m: &[Member]) -> String {
        let mut out = Vec::new();
        r.render(ev, m, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_with_edits_and_removed_label_fields() {
        let (mut ev, m) = json_event(r#"{"level":"info","pod":"api-1","msg":"hi","password":"s"}"#);
        EventMut {
            event: &mut ev,
            members: &m,
        }
        .set(&FieldPath::top("password"), Value::string(b"[REDACTED]"));
        let mut plain = LineRenderer::new(LineFormat::Json, FieldPath::top("message"), vec![]);
        assert_eq!(
            render(&mut plain, &ev, &m),
            r#"{"level":"info","pod":"api-1","msg":"hi","password":"[REDACTED]"}"#
        );
        let mut without = LineRenderer::new(
            LineFormat::Json,
            FieldPath::top("message"),
            vec![FieldPath::top("pod"), FieldPath::top("level")],
        );
        assert_eq!(
            render(&mut without, &ev, &m),
            r#"{"msg":"hi","password":"[REDACTED]"}"#
        );
        // The event itself is untouched for other sinks.
        assert_eq!(ev.edits.len(), 1);
    }

    #[test]
    fn key_value_quotes_what_needs_it() {
        let (ev, m) = json_event(
            r#"{"level":"info","msg":"two words","n":42,"ok":true,"obj":{"a":1},"e":"","k y":"a=b"}"#,
        );
        let mut r = LineRenderer::new(LineFormat::KeyValue, FieldPath::top("message"), vec![]);
        assert_eq!(
            render(&mut r, &ev, &m),
            r#"level=info msg="two words" n=42 ok=true obj="{\"a\":1}" e="" k_y="a=b""#
        );
        let text = Event::new(Bytes::from_static(b"plain text"), 0);
        assert_eq!(render(&mut r, &text, &[]), r#"message="plain text""#);
    }

    #[test]
    fn raw_is_the_message_field_or_the_line() {
        let mut r = LineRenderer::new(LineFormat::Raw, FieldPath::top("message"), vec![]);
        let (ev, m) = json_event(r#"{"message":"disk \"full\"","level":"error"}"#);
        assert_eq!(render(&mut r, &ev, &m), r#"disk "full""#);
        let (ev, m) = json_event(r#"{"msg":"no message field"}"#);
        assert_eq!(render(&mut r, &ev, &m), r#"{"msg":"no message field"}"#);
        let text = Event::new(Bytes::from_static(b"GET /x 200 \xff"), 0);
        assert_eq!(render(&mut r, &text, &[]), "GET /x 200 \u{FFFD}");
    }
}
