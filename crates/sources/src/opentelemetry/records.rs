//! OTLP log records into events. Each record becomes one event whose line is
//! a JSON object, already scanned (`Root::Json`), so transforms and sinks see
//! its fields without a `parse_json`:
//!
//! ```json
//! {"message":"…","level":"warn","timestamp":"2025-…Z","observed_timestamp":"…",
//!  "trace_id":"hex","span_id":"hex","event_name":"…",
//!  "resource":{"service.name":"checkout",…},"scope":{"name":"…","version":"…"},
//!  …the body's members when it is a map…, …the record's attributes…}
//! ```
//!
//! A string body is the `message`; a map body's members become top-level
//! fields; any other body (number, array, bytes) is the `message` as JSON.
//! Attributes are top-level fields named by their key (`http.method`), which
//! is what the `opentelemetry` sink turns back into attributes. A body member
//! or attribute whose name is already taken goes under `body` or
//! `attributes` instead, so no key is written twice. The severity number
//! (else the severity text) becomes the normalized `level`; the record's time
//! (else its observed time) the event time.

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;

use logagent_codecs::otlp::{
    self, AnyValue, ExportLogsServiceRequest, InstrumentationScope, KeyValue, LogRecord,
    any_value::Value as V,
};
use logagent_core::event::json::{self, write_str};
use logagent_core::event::{AckToken, Batch, Event, KeyFilter, Level, Root, Span, Stream};

/// Limits and batch sizes of the conversion.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest event (its JSON text); larger records are refused.
    pub max_line_bytes: usize,
    /// Events per batch.
    pub batch_max_events: usize,
    /// Bytes of lines per batch.
    pub batch_max_bytes: usize,
}

/// What a request came to.
#[derive(Debug, Default)]
pub struct Converted {
    /// The events, in request order, cut into batches.
    pub batches: Vec<Batch>,
    /// Records accepted.
    pub accepted: u64,
    /// Records refused for being over `max_line_bytes`.
    pub oversize: u64,
}

/// Turns every record of `request` into an event of `stream`; positions
/// (offsets) start at `base`. Every batch holds a clone of `ack`.
pub fn convert(
    request: &ExportLogsServiceRequest,
    stream: &Arc<Stream>,
    ack: &AckToken,
    base: u64,
    limits: Limits,
) -> Converted {
    let mut out = Converted::default();
    let mut current = Batch::new(stream.clone(), ack.clone(), 0);
    let mut bytes = 0usize;
    let mut text = Vec::new();
    let mut position = base;
    for rl in &request.resource_logs {
        let resource = rl
            .resource
            .as_ref()
            .map(|r| &r.attributes[..])
            .unwrap_or(&[]);
        for sl in &rl.scope_logs {
            for record in &sl.log_records {
                text.clear();
                let (level, time) = write_record(&mut text, record, resource, sl.scope.as_ref());
                position += 1;
                if text.len() > limits.max_line_bytes {
                    out.oversize += 1;
                    continue;
                }
                if !current.events.is_empty()
                    && (current.events.len() >= limits.batch_max_events
                        || bytes + text.len() > limits.batch_max_bytes)
                {
                    let full =
                        std::mem::replace(&mut current, Batch::new(stream.clone(), ack.clone(), 0));
                    out.batches.push(full);
                    bytes = 0;
                }
                bytes += text.len();
                let event = scanned_event(&mut current, Bytes::copy_from_slice(&text), position);
                event.meta.level = level;
                event.meta.time = time;
                out.accepted += 1;
            }
        }
    }
    if !current.events.is_empty() {
        out.batches.push(current);
    }
    out
}

/// Adds the event of a JSON object `line` to `batch`, its members scanned into
/// the batch's arena.
fn scanned_event(batch: &mut Batch, line: Bytes, offset: u64) -> &mut Event {
    let mut event = Event::new(line, offset);
    let start = batch.members.len();
    match json::scan_object_summarized(&event.line, json::MAX_DEPTH, &mut batch.members) {
        Ok((object, summary)) => {
            event.meta.keys = KeyFilter::from_summary(summary);
            event.root = Root::Json {
                object,
                members: Span::new(start, batch.members.len()),
            };
        }
        // Cannot happen for what write_record writes; the line stays text
        // rather than the event being lost.
        Err(_) => batch.members.truncate(start),
    }
    batch.events.push(event);
    let last = batch.events.len() - 1;
    &mut batch.events[last]
}

/// A JSON object written member by member, remembering the keys taken.
struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    keys: HashSet<Vec<u8>>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> ObjectWriter<'a> {
        out.push(b'{');
        ObjectWriter {
            out,
            keys: HashSet::new(),
            first: true,
        }
    }

    /// Writes `key` (the value follows) unless it is taken: false then.
    fn key(&mut self, key: &[u8]) -> bool {
        if !self.keys.insert(key.to_vec()) {
            return false;
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
        true
    }

    fn string(&mut self, key: &[u8], value: &[u8]) {
        if self.key(key) {
            write_str(self.out, value);
        }
    }

    fn finish(self) {
        self.out.push(b'}');
    }
}

/// Writes the JSON object of one record; returns its level and event time.
fn write_record(
    out: &mut Vec<u8>,
    r: &LogRecord,
    resource: &[KeyValue],
    scope: Option<&InstrumentationScope>,
) -> (Option<Level>, Option<i64>) {
    let mut w = ObjectWriter::new(out);
    let kvlist = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(V::StringValue(s)) => {
            w.string(b"message", s.as_bytes());
            None
        }
        Some(V::KvlistValue(list)) => Some(&list.values[..]),
        Some(_) => {
            if w.key(b"message")
                && let Some(body) = &r.body
            {
                any_value(w.out, body, 0);
            }
            None
        }
        None => None,
    };
    let level = otlp::level_of_severity(r.severity_number)
        .or_else(|| Level::from_text(r.severity_text.as_bytes()));
    if let Some(level) = level {
        w.string(b"level", level.name().as_bytes());
    }
    let time = [r.time_unix_nano, r.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t > 0 && *t <= i64::MAX as u64)
        .map(|t| t as i64);
    if r.time_unix_nano > 0 {
        w.string(b"timestamp", rfc3339(r.time_unix_nano).as_bytes());
    }
    if r.observed_time_unix_nano > 0 {
        w.string(
            b"observed_timestamp",
            rfc3339(r.observed_time_unix_nano).as_bytes(),
        );
    }
    if !r.trace_id.is_empty() {
        w.string(b"trace_id", hex(&r.trace_id).as_bytes());
    }
    if !r.span_id.is_empty() {
        w.string(b"span_id", hex(&r.span_id).as_bytes());
    }
    if !r.event_name.is_empty() {
        w.string(b"event_name", r.event_name.as_bytes());
    }
    if !resource.is_empty() && w.key(b"resource") {
        key_values(w.out, resource, 0);
    }
    if let Some(scope) = scope.filter(|s| !s.name.is_empty() || !s.version.is_empty())
        && w.key(b"scope")
    {
        let mut s = ObjectWriter::new(w.out);
        if !scope.name.is_empty() {
            s.string(b"name", scope.name.as_bytes());
        }
        if !scope.version.is_empty() {
            s.string(b"version", scope.version.as_bytes());
        }
        s.finish();
    }
    // Body members, then attributes; those whose names are taken go aside.
    let mut aside: Vec<(&'static [u8], Vec<&KeyValue>)> = Vec::new();
    for (group, list) in [
        (&b"body"[..], kvlist.unwrap_or(&[])),
        (b"attributes", &r.attributes),
    ] {
        let mut taken = Vec::new();
        for kv in list {
            if w.key(kv.key.as_bytes()) {
                value_or_null(w.out, kv.value.as_ref(), 0);
            } else {
                taken.push(kv);
            }
        }
        if !taken.is_empty() {
            aside.push((group, taken));
        }
    }
    for (group, list) in aside {
        // If even the group's name is taken, the pairs go under `_group`.
        let mut name = group.to_vec();
        while !w.key(&name) {
            name.insert(0, b'_');
        }
        let mut inner = ObjectWriter::new(w.out);
        for kv in list {
            if inner.key(kv.key.as_bytes()) {
                value_or_null(inner.out, kv.value.as_ref(), 0);
            }
        }
        inner.finish();
    }
    w.finish();
    (level, time)
}

/// Deepest nesting written; prost stops decoding at 100 levels anyway, and
/// OTLP/JSON's reader at 64.
const MAX_VALUE_DEPTH: usize = 96;

fn value_or_null(out: &mut Vec<u8>, v: Option<&AnyValue>, depth: usize) {
    match v {
        Some(v) => any_value(out, v, depth),
        None => out.extend_from_slice(b"null"),
    }
}

/// A map of key/value pairs as a JSON object (a repeated key: the first wins).
fn key_values(out: &mut Vec<u8>, kvs: &[KeyValue], depth: usize) {
    let mut w = ObjectWriter::new(out);
    for kv in kvs {
        if w.key(kv.key.as_bytes()) {
            value_or_null(w.out, kv.value.as_ref(), depth + 1);
        }
    }
    w.finish();
}

/// An `AnyValue` as JSON: bytes as base64, a non-finite double as a string.
fn any_value(out: &mut Vec<u8>, v: &AnyValue, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        out.extend_from_slice(b"null");
        return;
    }
    match &v.value {
        None => out.extend_from_slice(b"null"),
        Some(V::StringValue(s)) => write_str(out, s.as_bytes()),
        Some(V::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(V::IntValue(i)) => out.extend_from_slice(i.to_string().as_bytes()),
        Some(V::DoubleValue(d)) if d.is_finite() => {
            out.extend_from_slice(
                serde_json::Number::from_f64(*d)
                    .map_or_else(|| "null".to_owned(), |n| n.to_string())
                    .as_bytes(),
            );
        }
        Some(V::DoubleValue(d)) => write_str(out, d.to_string().as_bytes()),
        Some(V::BytesValue(b)) => write_str(
            out,
            base64::engine::general_purpose::STANDARD
                .encode(b)
                .as_bytes(),
        ),
        Some(V::ArrayValue(a)) => {
            out.push(b'[');
            for (i, e) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any_value(out, e, depth + 1);
            }
            out.push(b']');
        }
        Some(V::KvlistValue(l)) => key_values(out, &l.values, depth + 1),
    }
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for byte in b {
        s.push(DIGITS[(byte >> 4) as usize] as char);
        s.push(DIGITS[(byte & 15) as usize] as char);
    }
    s
}

/// Nanoseconds since the epoch as RFC 3339 in UTC with nanoseconds.
fn rfc3339(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = (ns % 1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos).map_or_else(
        || ns.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_codecs::otlp::{ArrayValue, KeyValueList, Resource, ResourceLogs, ScopeLogs};
    use logagent_core::event::encode::write_json;

    fn record() -> LogRecord {
        LogRecord {
            time_unix_nano: 1_755_685_845_123_456_789,
            observed_time_unix_nano: 1_755_685_846_000_000_000,
            severity_number: 13,
            severity_text: "WARN".into(),
            body: Some(AnyValue::string("slow query")),
            attributes: vec![
                KeyValue::new("http.method", AnyValue::string("GET")),
                KeyValue::new("retries", AnyValue::int(3)),
                KeyValue::new("message", AnyValue::string("shadowed")),
                KeyValue::new(
                    "tags",
                    AnyValue {
                        value: Some(V::ArrayValue(ArrayValue {
                            values: vec![AnyValue::string("a"), AnyValue::int(1)],
                        })),
                    },
                ),
                KeyValue::new(
                    "ratio",
                    AnyValue {
                        value: Some(V::DoubleValue(0.5)),
                    },
                ),
                KeyValue::new(
                    "raw",
                    AnyValue {
                        value: Some(V::BytesValue(vec![1, 2, 255])),
                    },
                ),
            ],
            trace_id: (1..=16).collect(),
            span_id: (1..=8).collect(),
            ..LogRecord::default()
        }
    }

    fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue::new("service.name", AnyValue::string("checkout"))],
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app.logger".into(),
                        version: "1.2".into(),
                        ..InstrumentationScope::default()
                    }),
                    log_records: records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn limits() -> Limits {
        Limits {
            max_line_bytes: 1 << 20,
            batch_max_events: 2,
            batch_max_bytes: 1 << 20,
        }
    }

    fn stream() -> Arc<Stream> {
        Arc::new(Stream {
            source: "otlp".into(),
            path: None,
            id: 1,
        })
    }

    fn json_of(b: &Batch, i: usize) -> serde_json::Value {
        let mut out = Vec::new();
        write_json(&b.events[i], &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_record_becomes_a_structured_event() {
        let c = convert(
            &request(vec![record()]),
            &stream(),
            &AckToken::detached(),
            10,
            limits(),
        );
        assert_eq!((c.accepted, c.oversize, c.batches.len()), (1, 0, 1));
        let b = &c.batches[0];
        let e = &b.events[0];
        assert!(matches!(e.root, Root::Json { .. }));
        assert_eq!(e.meta.level, Some(Level::Warn));
        assert_eq!(e.meta.time, Some(1_755_685_845_123_456_789));
        assert_eq!(e.meta.offset, 11);
        assert_eq!(
            json_of(b, 0),
            serde_json::json!({
                "message": "slow query",
                "level": "warn",
                "timestamp": "2025-08-20T10:30:45.123456789Z",
                "observed_timestamp": "2025-08-20T10:30:46.000000000Z",
                "trace_id": "0102030405060708090a0b0c0d0e0f10",
                "span_id": "0102030405060708",
                "resource": {"service.name": "checkout"},
                "scope": {"name": "app.logger", "version": "1.2"},
                "http.method": "GET",
                "retries": 3,
                "tags": ["a", 1],
                "ratio": 0.5,
                "raw": "AQL/",
                "attributes": {"message": "shadowed"},
            })
        );
    }

    #[test]
    fn a_map_body_becomes_fields_and_the_text_severity_is_read() {
        let r = LogRecord {
            severity_text: "Error".into(),
            body: Some(AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: vec![
                        KeyValue::new("message", AnyValue::string("boom")),
                        KeyValue::new("code", AnyValue::int(7)),
                        KeyValue::new("level", AnyValue::string("x")),
                    ],
                })),
            }),
            observed_time_unix_nano: 5,
            ..LogRecord::default()
        };
        let other = LogRecord {
            body: Some(AnyValue::int(42)),
            ..LogRecord::default()
        };
        let c = convert(
            &ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![r, other],
                        ..ScopeLogs::default()
                    }],
                    ..ResourceLogs::default()
                }],
            },
            &stream(),
            &AckToken::detached(),
            0,
            limits(),
        );
        let b = &c.batches[0];
        assert_eq!(
            json_of(b, 0),
            serde_json::json!({
                "level": "error",
                "observed_timestamp": "1970-01-01T00:00:00.000000005Z",
                "message": "boom",
                "code": 7,
                "body": {"level": "x"},
            })
        );
        assert_eq!(b.events[0].meta.time, Some(5));
        assert_eq!(json_of(b, 1), serde_json::json!({"message": 42}));
        assert_eq!(b.events[1].meta.level, None);
    }

    #[test]
    fn batches_are_cut_and_oversize_records_refused() {
        let mut big = record();
        big.body = Some(AnyValue::string("x".repeat(2000)));
        let c = convert(
            &request(vec![record(), big, record(), record()]),
            &stream(),
            &AckToken::detached(),
            0,
            Limits {
                max_line_bytes: 1000,
                ..limits()
            },
        );
        assert_eq!((c.accepted, c.oversize), (3, 1));
        let sizes: Vec<usize> = c.batches.iter().map(|b| b.events.len()).collect();
        assert_eq!(sizes, [2, 1]);
    }

    #[test]
    fn deep_values_are_bounded() {
        let mut v = AnyValue::string("leaf");
        for _ in 0..200 {
            v = AnyValue {
                value: Some(V::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        let r = LogRecord {
            body: Some(v),
            ..LogRecord::default()
        };
        let c = convert(
            &request(vec![r]),
            &stream(),
            &AckToken::detached(),
            0,
            limits(),
        );
        assert!(matches!(c.batches[0].events[0].root, Root::Json { .. }));
    }
}
