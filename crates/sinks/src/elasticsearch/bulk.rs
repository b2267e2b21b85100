//! Building `_bulk` bodies straight from event bytes: per event, one action
//! line (`{"create":{"_index":"...","_id":"..."}}`) and the document as
//! [`encode::write_json`] writes it (an untouched event is copied byte for byte).
//!
//! Every document remembers where it sits in its body, so a retry can copy just
//! the failed items into a new body and a dead letter can recover the document.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;

use super::config::{Action, ElasticsearchConfig, Mode};
use logagent_core::event::json;
use logagent_core::event::template::Template;
use logagent_core::event::{AckToken, Event, FieldPath, Member, Meta, Stream, encode};

/// Where a set of documents came from: kept alive by every document still in
/// the sink; when the last one is written or dead-lettered, the batch's
/// acknowledgement goes back to its source.
#[derive(Debug)]
pub struct Origin {
    /// The stream the batch was read from.
    pub stream: Arc<Stream>,
    /// The batch's acknowledgement.
    pub ack: AckToken,
}

/// One document in a bulk body.
#[derive(Debug)]
pub struct Item {
    /// Offset of the action line in the body.
    pub start: usize,
    /// Offset of the document (just past the action line).
    pub doc: usize,
    /// Offset just past the document's newline.
    pub end: usize,
    /// The batch it belongs to.
    pub origin: Arc<Origin>,
    /// Time and offset of the event, kept for dead letters.
    pub meta: Meta,
    /// True when it was sent as `create` with an `_id`: a 409 is then a duplicate.
    pub create_with_id: bool,
}

/// A bulk request being filled or in flight.
#[derive(Debug, Default)]
pub struct Bulk {
    /// The NDJSON body.
    pub body: Vec<u8>,
    /// Its documents, in body order.
    pub items: Vec<Item>,
    /// When the first document was added.
    pub started: Option<Instant>,
    /// Attempts made already for these documents.
    pub attempts: u32,
}

impl Bulk {
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// A new bulk of `items` copied out of `body` (a retry of just those).
    pub fn from_items(body: &[u8], items: Vec<Item>, attempts: u32) -> Bulk {
        let len: usize = items.iter().map(|i| i.end - i.start).sum();
        let mut out = Bulk {
            body: Vec::with_capacity(len),
            items: Vec::with_capacity(items.len()),
            started: Some(Instant::now()),
            attempts,
        };
        for mut item in items {
            let start = out.body.len();
            out.body.extend_from_slice(&body[item.start..item.end]);
            let shift = |x: usize| x - item.start + start;
            item.doc = shift(item.doc);
            item.end = shift(item.end);
            item.start = start;
            out.items.push(item);
        }
        out
    }

    /// Moves the last item into a new bulk (when it pushed this one over its
    /// byte limit).
    pub fn split_last(&mut self) -> Option<Bulk> {
        if self.items.len() < 2 {
            return None;
        }
        let mut item = self.items.pop()?;
        let tail = self.body.split_off(item.start);
        item.doc -= item.start;
        item.end -= item.start;
        item.start = 0;
        Some(Bulk {
            body: tail,
            items: vec![item],
            started: Some(Instant::now()),
            attempts: 0,
        })
    }
}

/// Encodes events into bulk bodies as configured.
#[derive(Debug)]
pub struct Encoder {
    index: Template,
    action: Action,
    idempotent: bool,
    id_field: Option<FieldPath>,
    data_stream: bool,
    index_buf: String,
    /// True when the index depends on the event time's second alone (a daily
    /// index): `index_buf` is then kept while events share `index_second`
    /// instead of formatting a date per document.
    index_by_second: bool,
    /// The second `index_buf` was rendered for.
    index_second: Option<i64>,
    id_buf: String,
}

/// What encoding one event found worth counting.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// A field the index template uses was missing.
    pub missing_field: bool,
}

impl Encoder {
    /// An encoder for a checked config.
    pub fn new(config: &ElasticsearchConfig) -> Encoder {
        let index = Template::parse(&config.index_template(), false)
            .unwrap_or_else(|_| Template::parse("logagent-invalid-index", false).expect("literal"));
        Encoder {
            index_by_second: index.depends_on_second_only(),
            index_second: None,
            index,
            action: config.action(),
            idempotent: config.idempotent_ids,
            id_field: config
                .id_field
                .as_deref()
                .and_then(|f| FieldPath::parse(f).ok()),
            data_stream: config.mode == Mode::DataStream,
            index_buf: String::new(),
            id_buf: String::new(),
        }
    }

    /// True when documents need an `@timestamp` (data streams require one).
    pub fn wants_timestamp(&self) -> bool {
        self.data_stream
    }

    /// Appends the action line and document of `event` to `out`; returns the
    /// document's offset, whether it was sent as create-with-id, and what to count.
    pub fn encode(
        &mut self,
        event: &Event,
        members: &[Member],
        stream_seed: u64,
        now_ns: i64,
        out: &mut Vec<u8>,
    ) -> (usize, bool, Encoded) {
        let mut info = Encoded::default();
        let second = event.meta.time.unwrap_or(now_ns).div_euclid(1_000_000_000);
        let reuse = !self.index_buf.is_empty()
            && (!self.index.is_dynamic()
                || (self.index_by_second && self.index_second == Some(second)));
        if !reuse {
            self.index_buf.clear();
            info.missing_field = self
                .index
                .render(event, members, now_ns, &mut self.index_buf);
            self.index_second = Some(second);
        }
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(self.action.as_str().as_bytes());
        out.extend_from_slice(b"\":{\"_index\":");
        json::write_str(out, self.index_buf.as_bytes());
        let mut has_id = false;
        if let Some(path) = &self.id_field
            && let Some(v) = logagent_core::event::access::get(event, members, path)
        {
            let text = v.text();
            if !text.is_empty() {
                out.extend_from_slice(b",\"_id\":");
                json::write_str(out, &text);
                has_id = true;
            }
        }
        if !has_id && self.idempotent {
            self.id_buf.clear();
            document_id(stream_seed, event, &mut self.id_buf);
            out.extend_from_slice(b",\"_id\":\"");
            out.extend_from_slice(self.id_buf.as_bytes());
            out.push(b'"');
            has_id = true;
        }
        out.extend_from_slice(b"}}\n");
        let doc = out.len();
        encode::write_json(event, out);
        out.push(b'\n');
        (doc, has_id && self.action == Action::Create, info)
    }
}

/// The per-stream part of document ids: which source and which file (its
/// identity, stable across renames), hashed once per batch.
pub fn stream_seed(stream: &Stream) -> u64 {
    let mut buf = Vec::with_capacity(stream.source.len() + 9);
    buf.extend_from_slice(stream.source.as_bytes());
    buf.push(0xff);
    buf.extend_from_slice(&stream.id.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// Writes the idempotent `_id` of `event`: XXH3-128 of the line's original
/// bytes, seeded by its stream and byte offset, as 22 base64url characters.
///
/// The same line read again from the same place (a replay after a crash, a
/// retry) gets the same id; two equal lines at different offsets, or new
/// content at a reused offset (a truncated file), get different ones. For a
/// source without offsets it is a content hash per stream.
pub fn document_id(stream_seed: u64, event: &Event, out: &mut String) {
    let seed = stream_seed ^ event.meta.offset.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hash = xxhash_rust::xxh3::xxh3_128_with_seed(&event.line, seed);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(hash.to_le_bytes(), out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use logagent_core::event::Root;

    fn config(extra: &str) -> ElasticsearchConfig {
        toml::from_str(&format!("endpoints = [\"http://h:9200\"]\n{extra}")).unwrap()
    }

    fn json_event(line: &str, offset: u64) -> (Event, Vec<Member>) {
        let mut members = Vec::new();
        let line = Bytes::from(line.to_owned());
        let object = json::scan_object(&line, 32, &mut members).unwrap();
        let mut ev = Event::new(line, offset);
        ev.root = Root::Json {
            object,
            members: logagent_core::event::Span::new(0, members.len()),
        };
        (ev, members)
    }

    fn stream(id: u64) -> Stream {
        Stream {
            source: "app".into(),
            path: None,
            id,
        }
    }

    #[test]
    fn action_line_then_the_untouched_bytes() {
        let mut enc = Encoder::new(&config("index = \"logs-{{ service }}-%Y.%m.%d\""));
        let line = r#"{"service":"api", "n": 1.50, "msg":"caf\u00e9"}"#;
        let (mut ev, m) = json_event(line, 7);
        ev.meta.time = Some(1_755_685_845_000_000_000);
        let mut out = Vec::new();
        let (doc, create_with_id, info) = enc.encode(&ev, &m, stream_seed(&stream(1)), 0, &mut out);
        assert!(create_with_id && !info.missing_field);
        let text = String::from_utf8(out.clone()).unwrap();
        let (action, document) = text.split_at(doc);
        let a: serde_json::Value = serde_json::from_str(action.trim_end()).unwrap();
        assert_eq!(a["create"]["_index"], "logs-api-2025.08.20");
        assert_eq!(a["create"]["_id"].as_str().unwrap().len(), 22);
        assert_eq!(document, format!("{line}\n"), "byte for byte");
    }

    #[test]
    fn ids_depend_on_stream_offset_and_content_only() {
        let mut enc = Encoder::new(&config("index = \"i\""));
        let id = |enc: &mut Encoder, line: &str, offset: u64, s: u64| {
            let (ev, m) = json_event(line, offset);
            let mut out = Vec::new();
            enc.encode(&ev, &m, stream_seed(&stream(s)), 0, &mut out);
            let text = String::from_utf8(out).unwrap();
            let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            v["create"]["_id"].as_str().unwrap().to_owned()
        };
        let a = id(&mut enc, r#"{"a":1}"#, 0, 1);
        assert_eq!(
            a,
            id(&mut enc, r#"{"a":1}"#, 0, 1),
            "a replay gets the same id"
        );
        assert_ne!(
            a,
            id(&mut enc, r#"{"a":1}"#, 8, 1),
            "a repeated line is another document"
        );
        assert_ne!(a, id(&mut enc, r#"{"a":1}"#, 0, 2), "another file");
        assert_ne!(
            a,
            id(&mut enc, r#"{"a":2}"#, 0, 1),
            "new content at a reused offset"
        );
        // Pinned: ids must survive upgrades, or a replay across one duplicates.
        assert_eq!(a, "SDz2syD9e8eQLuO8QhpYng");
    }

    #[test]
    fn a_daily_index_follows_each_events_time() {
        let mut enc = Encoder::new(&config("index = \"logs-%Y.%m.%d\""));
        let mut index_of = |time: Option<i64>, now: i64| {
            let (mut ev, m) = json_event(r#"{"a":1}"#, 0);
            ev.meta.time = time;
            let mut out = Vec::new();
            enc.encode(&ev, &m, 0, now, &mut out);
            let line = String::from_utf8(out).unwrap();
            line.split('"').nth(5).unwrap().to_owned()
        };
        let day = 86_400 * 1_000_000_000i64;
        let t = 1_755_685_845_123_000_000i64; // 2025-08-20T10:30:45.123Z
        assert_eq!(index_of(Some(t), 0), "logs-2025.08.20");
        assert_eq!(index_of(Some(t + 1), 0), "logs-2025.08.20", "same second");
        assert_eq!(index_of(Some(t + day), 0), "logs-2025.08.21");
        assert_eq!(index_of(Some(t), 0), "logs-2025.08.20", "back again");
        assert_eq!(index_of(None, t - day), "logs-2025.08.19", "no time: now");
    }

    #[test]
    fn id_field_and_no_ids() {
        let mut enc = Encoder::new(&config(
            "index = \"i\"\nid_field = \"req\"\naction = \"index\"",
        ));
        let (ev, m) = json_event(r#"{"req":"r-1"}"#, 0);
        let mut out = Vec::new();
        let (_, create_with_id, _) = enc.encode(&ev, &m, 0, 0, &mut out);
        assert!(!create_with_id, "index action: a 409 is not a duplicate");
        assert!(out.starts_with(br#"{"index":{"_index":"i","_id":"r-1"}}"#));

        let mut enc = Encoder::new(&config("index = \"i\"\nidempotent_ids = false"));
        let mut out = Vec::new();
        enc.encode(&ev, &m, 0, 0, &mut out);
        assert!(out.starts_with(b"{\"create\":{\"_index\":\"i\"}}\n"));
    }

    #[test]
    fn retries_copy_only_the_chosen_items() {
        let mut enc = Encoder::new(&config("index = \"i\""));
        let mut bulk = Bulk::default();
        let origin = Arc::new(Origin {
            stream: Arc::new(stream(1)),
            ack: AckToken::detached(),
        });
        for (n, line) in [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#]
            .iter()
            .enumerate()
        {
            let (ev, m) = json_event(line, n as u64 * 8);
            let start = bulk.body.len();
            let (doc, cwi, _) = enc.encode(&ev, &m, 1, 0, &mut bulk.body);
            bulk.items.push(Item {
                start,
                doc,
                end: bulk.body.len(),
                origin: origin.clone(),
                meta: ev.meta,
                create_with_id: cwi,
            });
        }
        let body = bulk.body.clone();
        let mut items = std::mem::take(&mut bulk.items);
        let last = items.pop().unwrap();
        items.remove(0);
        let retry = Bulk::from_items(&body, vec![items.pop().unwrap(), last], 1);
        let text = String::from_utf8(retry.body.clone()).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert_eq!(
            &retry.body[retry.items[0].doc..retry.items[0].end],
            b"{\"n\":1}\n"
        );
        assert_eq!(
            &retry.body[retry.items[1].doc..retry.items[1].end],
            b"{\"n\":2}\n"
        );
        let mut b = Bulk::from_items(&body, Vec::new(), 0);
        assert!(b.split_last().is_none());
    }
}
