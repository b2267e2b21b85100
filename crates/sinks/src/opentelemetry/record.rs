//! One event as an OTLP `LogRecord`, written straight into the request body
//! in either encoding: time, observed time, severity from the level
//! normalizer, body, typed attributes, trace and span ids.
//!
//! The event's top-level fields are read from the line and the batch's
//! member arena when no transform edited it (no copy), else from the event
//! re-encoded with its edits (one copy and scan per edited event).

use logagent_codecs::otlp::{self, json as ojson, wire};
use logagent_core::event::json::{self, Member};
use logagent_core::event::level::LevelReader;
use logagent_core::event::{Event, KeyFilter, Level, MESSAGE_KEY, Root, encode};

use super::config::OtlpEncoding;

/// What the record of one event is made of, resolved from the config.
#[derive(Debug)]
pub struct RecordEncoder {
    encoding: OtlpEncoding,
    message_key: Box<[u8]>,
    level: LevelReader,
    /// The level field's name when it is top-level (left out of the attributes).
    level_key: Option<Box<[u8]>>,
    trace_key: Box<[u8]>,
    span_key: Box<[u8]>,
    /// Top-level fields left out of the attributes (`remove_resource_fields`).
    removed: Vec<Box<[u8]>>,
    scratch: Vec<u8>,
    members: Vec<Member>,
    attrs: Vec<usize>,
}

/// The parts of a record found among an event's fields.
struct Found {
    body: Option<usize>,
    trace: Option<[u8; 16]>,
    span: Option<[u8; 8]>,
}

impl RecordEncoder {
    /// An encoder for `encoding`; field names are top-level names except
    /// `level_field`, a path.
    pub fn new(
        encoding: OtlpEncoding,
        message_field: &str,
        level: LevelReader,
        level_field: &str,
        trace_id_field: &str,
        span_id_field: &str,
        removed: Vec<String>,
    ) -> RecordEncoder {
        let top = |s: &str| -> Box<[u8]> { s.as_bytes().into() };
        RecordEncoder {
            encoding,
            message_key: top(message_field),
            level,
            level_key: (!level_field.contains(['.', '[', '*', '"'])).then(|| top(level_field)),
            trace_key: top(trace_id_field),
            span_key: top(span_id_field),
            removed: removed.iter().map(|s| top(s)).collect(),
            scratch: Vec::new(),
            members: Vec::new(),
            attrs: Vec::new(),
        }
    }

    /// Appends the record of `event` to `out`: for protobuf the contents of a
    /// `LogRecord` message (the caller adds its key and length), for JSON one
    /// OTLP/JSON object. `observed` is when the sink took the event (ns).
    pub fn encode(&mut self, event: &Event, arena: &[Member], observed: i64, out: &mut Vec<u8>) {
        let level = event.meta.level.or_else(|| self.level.read(event, arena));
        let time = event.meta.time.filter(|t| *t > 0).map(|t| t as u64);
        let observed = observed.max(0) as u64;
        let text_root = matches!(event.root, Root::Text);
        // Where the fields are: the line and the arena, or a re-encoded copy.
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut members = std::mem::take(&mut self.members);
        let (input, fields): (&[u8], &[Member]) = match event.root {
            Root::Text if event.edits.is_empty() => (&event.line[..], &[]),
            Root::Json { members: span, .. } if event.edits.is_empty() => {
                (&event.line[..], arena.get(span.range()).unwrap_or(&[]))
            }
            _ => {
                scratch.clear();
                members.clear();
                encode::write_json(event, &mut scratch);
                if json::scan_object(&scratch, json::MAX_DEPTH, &mut members).is_err() {
                    members.clear();
                }
                (&scratch[..], &members[..])
            }
        };
        self.attrs.clear();
        // The key filter of an unedited JSON line tells which keys are
        // certainly unique; others are checked against the earlier ones
        // (OTLP attribute keys must be unique: the first one wins).
        let filter = match event.root {
            Root::Json { .. } if event.edits.is_empty() => Some(event.meta.keys),
            _ => None,
        };
        let found = self.classify(input, fields, text_root, level.is_some(), filter);
        let body = Body {
            input,
            member: found.body.map(|i| &fields[i]),
        };
        match self.encoding {
            OtlpEncoding::Protobuf => write_proto(
                out,
                time,
                observed,
                level,
                &body,
                input,
                fields,
                &self.attrs,
                &found,
            ),
            OtlpEncoding::Json => write_json(
                out,
                time,
                observed,
                level,
                &body,
                input,
                fields,
                &self.attrs,
                &found,
            ),
        }
        self.scratch = scratch;
        self.members = members;
    }

    /// Sorts the fields into body, ids, left-out and attributes (indices in `self.attrs`).
    fn classify(
        &mut self,
        input: &[u8],
        fields: &[Member],
        text_root: bool,
        has_level: bool,
        filter: Option<KeyFilter>,
    ) -> Found {
        let mut found = Found {
            body: None,
            trace: None,
            span: None,
        };
        for (i, m) in fields.iter().enumerate() {
            let key = wire::member_key(input, m);
            let key = key.as_ref();
            if found.body.is_none()
                && (key == &*self.message_key || (text_root && key == MESSAGE_KEY.as_bytes()))
            {
                found.body = Some(i);
                continue;
            }
            if has_level && self.level_key.as_deref() == Some(key) {
                continue;
            }
            if found.trace.is_none()
                && key == &*self.trace_key
                && let Some(id) =
                    json::decode_str(m.value_raw(input)).and_then(|s| otlp::parse_hex_id::<16>(&s))
            {
                found.trace = Some(id);
                continue;
            }
            if found.span.is_none()
                && key == &*self.span_key
                && let Some(id) =
                    json::decode_str(m.value_raw(input)).and_then(|s| otlp::parse_hex_id::<8>(&s))
            {
                found.span = Some(id);
                continue;
            }
            if self.removed.iter().any(|r| &**r == key) {
                continue;
            }
            let unique = filter.is_some_and(|f| f.single(key));
            if !unique
                && self
                    .attrs
                    .iter()
                    .any(|&j| wire::member_key(input, &fields[j]).as_ref() == key)
            {
                continue;
            }
            self.attrs.push(i);
        }
        found
    }
}

/// Where the body comes from: a field's value, or the whole line.
struct Body<'a> {
    input: &'a [u8],
    member: Option<&'a Member>,
}

#[allow(clippy::too_many_arguments)]
fn write_proto(
    out: &mut Vec<u8>,
    time: Option<u64>,
    observed: u64,
    level: Option<Level>,
    body: &Body<'_>,
    input: &[u8],
    fields: &[Member],
    attrs: &[usize],
    found: &Found,
) {
    if let Some(t) = time {
        wire::fixed64(out, 1, t);
    }
    if let Some(l) = level {
        wire::varint(out, 2, otlp::severity_number(l) as u64);
        wire::string(out, 3, otlp::severity_text(l).as_bytes());
    }
    wire::message(out, 5, |v| match body.member {
        Some(m) => wire::any_value_json(v, m.value_raw(body.input), 0),
        None => wire::string(v, 1, body.input),
    });
    for &i in attrs {
        let m = &fields[i];
        wire::message(out, 6, |kv| {
            wire::string(kv, 1, &wire::member_key(input, m));
            wire::message(kv, 2, |v| wire::any_value_json(v, m.value_raw(input), 0));
        });
    }
    if let Some(id) = &found.trace {
        wire::bytes(out, 9, id);
    }
    if let Some(id) = &found.span {
        wire::bytes(out, 10, id);
    }
    wire::fixed64(out, 11, observed);
}

#[allow(clippy::too_many_arguments)]
fn write_json(
    out: &mut Vec<u8>,
    time: Option<u64>,
    observed: u64,
    level: Option<Level>,
    body: &Body<'_>,
    input: &[u8],
    fields: &[Member],
    attrs: &[usize],
    found: &Found,
) {
    out.push(b'{');
    if let Some(t) = time {
        out.extend_from_slice(b"\"timeUnixNano\":");
        ojson::quoted_int(out, t);
        out.push(b',');
    }
    out.extend_from_slice(b"\"observedTimeUnixNano\":");
    ojson::quoted_int(out, observed);
    if let Some(l) = level {
        out.extend_from_slice(b",\"severityNumber\":");
        out.extend_from_slice(otlp::severity_number(l).to_string().as_bytes());
        out.extend_from_slice(b",\"severityText\":\"");
        out.extend_from_slice(otlp::severity_text(l).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"body\":");
    match body.member {
        Some(m) => ojson::any_value_json(out, m.value_raw(body.input), 0),
        None => ojson::string_value(out, body.input),
    }
    if !attrs.is_empty() {
        out.extend_from_slice(b",\"attributes\":[");
        for (n, &i) in attrs.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let m = &fields[i];
            out.extend_from_slice(b"{\"key\":");
            json::write_lossy(out, &input[m.key.range()]);
            out.extend_from_slice(b",\"value\":");
            ojson::any_value_json(out, m.value_raw(input), 0);
            out.push(b'}');
        }
        out.push(b']');
    }
    if let Some(id) = &found.trace {
        out.extend_from_slice(b",\"traceId\":");
        ojson::hex(out, id);
    }
    if let Some(id) = &found.span {
        out.extend_from_slice(b",\"spanId\":");
        ojson::hex(out, id);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message as _;

    use super::*;
    use logagent_codecs::otlp::messages::{
        AnyValue, KeyValue, KeyValueList, LogRecord, any_value::Value,
    };
    use logagent_core::event::{EventMut, FieldPath, Span, Value as EditValue};

    fn json_event(line: &str, members: &mut Vec<Member>) -> Event {
        let line = Bytes::from(line.to_owned());
        let start = members.len();
        let object = json::scan_object(&line, 32, members).unwrap();
        let mut ev = Event::new(line, 0);
        ev.root = Root::Json {
            object,
            members: Span::new(start, members.len()),
        };
        ev
    }

    fn encoder(encoding: OtlpEncoding, removed: &[&str]) -> RecordEncoder {
        RecordEncoder::new(
            encoding,
            "message",
            LevelReader::new("level", Some("auto")).unwrap(),
            "level",
            "trace_id",
            "span_id",
            removed.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn proto(ev: &Event, arena: &[Member], removed: &[&str]) -> LogRecord {
        let mut out = Vec::new();
        encoder(OtlpEncoding::Protobuf, removed).encode(ev, arena, 7, &mut out);
        LogRecord::decode(&out[..]).unwrap()
    }

    fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue::new(k, v)
    }

    #[test]
    fn a_json_event_becomes_a_typed_record() {
        let mut arena = Vec::new();
        let mut ev = json_event(
            r#"{"level":"WARNING","message":"disk low","service":"api","n":3,"ratio":0.5,"ok":true,"ctx":{"a":"b"},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}"#,
            &mut arena,
        );
        ev.meta.time = Some(1_700_000_000_123_456_789);
        let r = proto(&ev, &arena, &["service"]);
        assert_eq!(r.time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(r.observed_time_unix_nano, 7);
        assert_eq!((r.severity_number, r.severity_text.as_str()), (13, "WARN"));
        assert_eq!(r.body, Some(AnyValue::string("disk low")));
        assert_eq!(
            r.attributes,
            vec![
                kv("n", AnyValue::int(3)),
                kv(
                    "ratio",
                    AnyValue {
                        value: Some(Value::DoubleValue(0.5))
                    }
                ),
                kv(
                    "ok",
                    AnyValue {
                        value: Some(Value::BoolValue(true))
                    }
                ),
                kv(
                    "ctx",
                    AnyValue {
                        value: Some(Value::KvlistValue(KeyValueList {
                            values: vec![kv("a", AnyValue::string("b"))]
                        }))
                    }
                ),
            ]
        );
        assert_eq!(hex(&r.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&r.span_id), "00f067aa0ba902b7");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn text_lines_edits_and_missing_messages() {
        // Unparsed text: the line is the body; the level comes from the pattern.
        let ev = Event::new(Bytes::from_static(b"2025-01-01 ERROR db \xff down"), 0);
        let r = proto(&ev, &[], &[]);
        assert_eq!(
            r.body,
            Some(AnyValue::string("2025-01-01 ERROR db \u{FFFD} down"))
        );
        assert_eq!((r.severity_number, r.time_unix_nano), (17, 0));
        assert!(r.attributes.is_empty());
        // Text with an added field: the field is an attribute, the line the body.
        let mut ev = Event::new(Bytes::from_static(b"plain"), 0);
        EventMut {
            event: &mut ev,
            members: &[],
        }
        .set(&FieldPath::top("env"), EditValue::string(b"prod"));
        let r = proto(&ev, &[], &[]);
        assert_eq!(r.body, Some(AnyValue::string("plain")));
        assert_eq!(r.attributes, vec![kv("env", AnyValue::string("prod"))]);
        assert_eq!(r.severity_number, 0);
        // JSON without a message: the whole (edited) line is the body, the
        // fields are attributes; an invalid trace id stays an attribute.
        let mut arena = Vec::new();
        let mut ev = json_event(r#"{"a":1,"trace_id":"nope"}"#, &mut arena);
        EventMut {
            event: &mut ev,
            members: &arena,
        }
        .set(
            &FieldPath::top("a"),
            EditValue::Json(Bytes::from_static(b"2")),
        );
        let r = proto(&ev, &arena, &[]);
        assert_eq!(
            r.body,
            Some(AnyValue::string(r#"{"a":2,"trace_id":"nope"}"#))
        );
        assert_eq!(
            r.attributes,
            vec![
                kv("a", AnyValue::int(2)),
                kv("trace_id", AnyValue::string("nope"))
            ]
        );
        assert!(r.trace_id.is_empty());
    }

    #[test]
    fn duplicate_keys_keep_the_first_and_an_unknown_level_stays_an_attribute() {
        let mut arena = Vec::new();
        let ev = json_event(r#"{"a":1,"level":"chatty","a":2,"b":"x"}"#, &mut arena);
        let r = proto(&ev, &arena, &[]);
        assert_eq!(r.severity_number, 0);
        assert_eq!(
            r.attributes,
            vec![
                kv("a", AnyValue::int(1)),
                kv("level", AnyValue::string("chatty")),
                kv("b", AnyValue::string("x")),
            ]
        );
    }

    #[test]
    fn json_encoding_matches_the_reference_writer() {
        let mut arena = Vec::new();
        let mut ev = json_event(
            r#"{"level":"info","message":"hi","n":-2,"tags":["x",1.5],"span_id":"00f067aa0ba902b7"}"#,
            &mut arena,
        );
        ev.meta.time = Some(5);
        let mut ours = Vec::new();
        encoder(OtlpEncoding::Json, &[]).encode(&ev, &arena, 7, &mut ours);
        let record = proto(&ev, &arena, &[]);
        let mut reference = Vec::new();
        ojson::write_record(&record, &mut reference);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(reference).unwrap()
        );
    }
}
