//! Loki's push wire formats: protobuf `PushRequest` (from Loki's `push.proto`,
//! sent snappy block-compressed) and the JSON form of `/loki/api/v1/push`.
//!
//! The sink encodes straight from a [`Pending`] request — lines are copied once,
//! from the arena into the body — with sizes computed first so every
//! length prefix is written in place. The owned message types below implement
//! [`prost::Message`] by hand (no derive) and serve as the decoder for tests and
//! tools, and as the reference the streaming encoder is checked against.
//!
//! ```text
//! message PushRequest      { repeated StreamAdapter streams = 1; }
//! message StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! message EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
//!                            repeated LabelPairAdapter structuredMetadata = 3; }
//! message LabelPairAdapter { string name = 1; string value = 2; }
//! message Timestamp        { int64 seconds = 1; int32 nanos = 2; }
//! ```

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    self, DecodeContext, WireType, encode_key, encode_varint, encoded_len_varint, key_len,
};
use prost::{DecodeError, Message};

use super::pending::{Entry, Pending};
use crate::event::json;

/// `google.protobuf.Timestamp`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second, 0..1e9.
    pub nanos: i32,
}

/// `logproto.LabelPairAdapter`: one structured metadata pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelPairAdapter {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// `logproto.EntryAdapter`: one log line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryAdapter {
    /// When it happened.
    pub timestamp: Option<Timestamp>,
    /// The line.
    pub line: String,
    /// Structured metadata (Loki 3.x).
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.StreamAdapter`: the entries of one label set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamAdapter {
    /// The label set in LogQL form: `{app="api", level="info"}`.
    pub labels: String,
    /// The entries.
    pub entries: Vec<EntryAdapter>,
    /// Ignored by Loki's distributor (it hashes the labels itself); sent as 0.
    pub hash: u64,
}

/// `logproto.PushRequest`: the body of a protobuf push (before snappy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushRequest {
    /// The streams.
    pub streams: Vec<StreamAdapter>,
}

impl Timestamp {
    /// Splits nanoseconds since the epoch (negative ones too).
    pub fn from_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the epoch.
    pub fn to_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

impl Message for Timestamp {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.seconds != 0 {
            encoding::int64::encode(1, &self.seconds, buf);
        }
        if self.nanos != 0 {
            encoding::int32::encode(2, &self.nanos, buf);
        }
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::int64::merge(wire_type, &mut self.seconds, buf, ctx),
            2 => encoding::int32::merge(wire_type, &mut self.nanos, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }
    fn encoded_len(&self) -> usize {
        timestamp_len(self.seconds, self.nanos)
    }
    fn clear(&mut self) {
        *self = Timestamp::default();
    }
}

impl Message for LabelPairAdapter {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        put_str(1, self.name.as_bytes(), buf);
        put_str(2, self.value.as_bytes(), buf);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.name, buf, ctx),
            2 => encoding::string::merge(wire_type, &mut self.value, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }
    fn encoded_len(&self) -> usize {
        str_len(1, self.name.len()) + str_len(2, self.value.len())
    }
    fn clear(&mut self) {
        *self = LabelPairAdapter::default();
    }
}

impl Message for EntryAdapter {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(ts) = &self.timestamp {
            encoding::message::encode(1, ts, buf);
        }
        put_str(2, self.line.as_bytes(), buf);
        encoding::message::encode_repeated(3, &self.structured_metadata, buf);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::message::merge(
                wire_type,
                self.timestamp.get_or_insert_with(Timestamp::default),
                buf,
                ctx,
            ),
            2 => encoding::string::merge(wire_type, &mut self.line, buf, ctx),
            3 => encoding::message::merge_repeated(
                wire_type,
                &mut self.structured_metadata,
                buf,
                ctx,
            ),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }
    fn encoded_len(&self) -> usize {
        self.timestamp
            .as_ref()
            .map_or(0, |t| encoding::message::encoded_len(1, t))
            + str_len(2, self.line.len())
            + encoding::message::encoded_len_repeated(3, &self.structured_metadata)
    }
    fn clear(&mut self) {
        *self = EntryAdapter::default();
    }
}

impl Message for StreamAdapter {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        put_str(1, self.labels.as_bytes(), buf);
        encoding::message::encode_repeated(2, &self.entries, buf);
        if self.hash != 0 {
            encoding::uint64::encode(3, &self.hash, buf);
        }
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.labels, buf, ctx),
            2 => encoding::message::merge_repeated(wire_type, &mut self.entries, buf, ctx),
            3 => encoding::uint64::merge(wire_type, &mut self.hash, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }
    fn encoded_len(&self) -> usize {
        str_len(1, self.labels.len())
            + encoding::message::encoded_len_repeated(2, &self.entries)
            + if self.hash != 0 {
                encoding::uint64::encoded_len(3, &self.hash)
            } else {
                0
            }
    }
    fn clear(&mut self) {
        *self = StreamAdapter::default();
    }
}

impl Message for PushRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode_repeated(1, &self.streams, buf);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::message::merge_repeated(wire_type, &mut self.streams, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }
    fn encoded_len(&self) -> usize {
        encoding::message::encoded_len_repeated(1, &self.streams)
    }
    fn clear(&mut self) {
        self.streams.clear();
    }
}

/// A proto3 string field: omitted when empty.
fn put_str(tag: u32, s: &[u8], buf: &mut impl BufMut) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.put_slice(s);
    }
}

fn str_len(tag: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(len as u64) + len
    }
}

/// A length-delimited submessage field of `len` bytes, key and prefix included.
fn sub_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn timestamp_len(seconds: i64, nanos: i32) -> usize {
    let mut n = 0;
    if seconds != 0 {
        n += key_len(1) + encoded_len_varint(seconds as u64);
    }
    if nanos != 0 {
        n += key_len(2) + encoded_len_varint(nanos as i64 as u64);
    }
    n
}

fn entry_len(p: &Pending, e: &Entry) -> usize {
    let t = Timestamp::from_nanos(e.ts);
    let mut n = sub_len(1, timestamp_len(t.seconds, t.nanos));
    n += str_len(2, (e.line.1 - e.line.0) as usize);
    for pair in p.meta(e) {
        let len = str_len(1, (pair.name.1 - pair.name.0) as usize)
            + str_len(2, (pair.value.1 - pair.value.0) as usize);
        n += sub_len(3, len);
    }
    n
}

/// Appends `p` as a protobuf `PushRequest` (uncompressed) to `out`.
pub fn encode_protobuf(p: &Pending, out: &mut Vec<u8>) {
    let mut total = 0;
    for s in p.live() {
        if s.entries.is_empty() {
            continue;
        }
        let len = stream_len(p, s);
        total += sub_len(1, len);
    }
    out.reserve(total);
    for s in p.live() {
        if s.entries.is_empty() {
            continue;
        }
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint(stream_len(p, s) as u64, out);
        put_str(1, s.labels.text.as_bytes(), out);
        for e in &s.entries {
            encode_key(2, WireType::LengthDelimited, out);
            encode_varint(entry_len(p, e) as u64, out);
            let t = Timestamp::from_nanos(e.ts);
            encode_key(1, WireType::LengthDelimited, out);
            encode_varint(timestamp_len(t.seconds, t.nanos) as u64, out);
            t.encode_raw(out);
            put_str(2, p.text(e.line), out);
            for pair in p.meta(e) {
                let name = p.text(pair.name);
                let value = p.text(pair.value);
                encode_key(3, WireType::LengthDelimited, out);
                encode_varint(
                    (str_len(1, name.len()) + str_len(2, value.len())) as u64,
                    out,
                );
                put_str(1, name, out);
                put_str(2, value, out);
            }
        }
    }
}

fn stream_len(p: &Pending, s: &super::pending::PendingStream) -> usize {
    str_len(1, s.labels.text.len())
        + s.entries
            .iter()
            .map(|e| sub_len(2, entry_len(p, e)))
            .sum::<usize>()
}

/// Appends `p` as the JSON body of `/loki/api/v1/push` to `out`:
/// `{"streams":[{"stream":{..labels..},"values":[["<ns>","<line>",{..metadata..}]]}]}`.
pub fn encode_json(p: &Pending, out: &mut Vec<u8>) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"streams\":[");
    let mut first_stream = true;
    for s in p.live() {
        if s.entries.is_empty() {
            continue;
        }
        if !first_stream {
            out.push(b',');
        }
        first_stream = false;
        out.extend_from_slice(b"{\"stream\":{");
        for (i, (name, value)) in s.labels.pairs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, name.as_bytes());
            out.push(b':');
            json::write_str(out, value.as_bytes());
        }
        out.extend_from_slice(b"},\"values\":[");
        for (i, e) in s.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = write!(out, "[\"{}\",", e.ts);
            json::write_str(out, p.text(e.line));
            let meta = p.meta(e);
            if !meta.is_empty() {
                out.extend_from_slice(b",{");
                for (j, pair) in meta.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    json::write_str(out, p.text(pair.name));
                    out.push(b':');
                    json::write_str(out, p.text(pair.value));
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::pending::{Pair, StreamLabels, span};
    use super::*;

    fn sample() -> Pending {
        let mut p = Pending::default();
        p.reset(1);
        let labels = Arc::new(StreamLabels {
            text: r#"{app="api", level="info"}"#.into(),
            pairs: vec![
                ("app".into(), "api".into()),
                ("level".into(), "info".into()),
            ]
            .into(),
        });
        let s = p.add_stream(0, labels) as usize;
        for (i, (ts, line, meta)) in [
            (1_700_000_000_123_456_789i64, "first \"line\" é", None),
            (-1_500_000_000, "before 1970", None),
            (0, "", Some(("trace_id", "abc123"))),
            (5, &"x".repeat(300)[..], Some(("k", ""))),
        ]
        .into_iter()
        .enumerate()
        {
            let start = p.arena.len();
            p.arena.extend_from_slice(line.as_bytes());
            let line = span(start..p.arena.len());
            let m0 = p.pairs.len() as u32;
            if let Some((k, v)) = meta {
                let a = p.arena.len();
                p.arena.extend_from_slice(k.as_bytes());
                let b = p.arena.len();
                p.arena.extend_from_slice(v.as_bytes());
                p.pairs.push(Pair {
                    name: span(a..b),
                    value: span(b..p.arena.len()),
                });
            }
            p.streams[s].entries.push(Entry {
                ts,
                line,
                meta: (m0, p.pairs.len() as u32),
            });
            assert_eq!(p.streams[s].entries.len(), i + 1);
        }
        // A second stream, and an emptied one that must not be sent.
        let other = Arc::new(StreamLabels {
            text: r#"{app="db"}"#.into(),
            pairs: vec![("app".into(), "db".into())].into(),
        });
        let s2 = p.add_stream(1, other.clone()) as usize;
        p.arena.extend_from_slice(b"db line");
        let end = p.arena.len();
        p.streams[s2].entries.push(Entry {
            ts: 42,
            line: span(end - 7..end),
            meta: (0, 0),
        });
        p.add_stream(2, other);
        p
    }

    fn reference(p: &Pending) -> PushRequest {
        PushRequest {
            streams: p
                .live()
                .iter()
                .filter(|s| !s.entries.is_empty())
                .map(|s| StreamAdapter {
                    labels: s.labels.text.to_string(),
                    hash: 0,
                    entries: s
                        .entries
                        .iter()
                        .map(|e| EntryAdapter {
                            timestamp: Some(Timestamp::from_nanos(e.ts)),
                            line: String::from_utf8(p.text(e.line).to_vec()).unwrap(),
                            structured_metadata: p
                                .meta(e)
                                .iter()
                                .map(|m| LabelPairAdapter {
                                    name: String::from_utf8(p.text(m.name).to_vec()).unwrap(),
                                    value: String::from_utf8(p.text(m.value).to_vec()).unwrap(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn streaming_encoder_matches_prost_encoding_and_decodes_back() {
        let p = sample();
        let mut out = Vec::new();
        encode_protobuf(&p, &mut out);
        let expected = reference(&p);
        assert_eq!(out, expected.encode_to_vec(), "byte-identical to prost");
        let decoded = PushRequest::decode(&out[..]).unwrap();
        assert_eq!(decoded, expected);
        assert_eq!(decoded.streams.len(), 2);
        assert_eq!(
            decoded.streams[0].entries[1]
                .timestamp
                .as_ref()
                .unwrap()
                .to_nanos(),
            -1_500_000_000
        );
        // Snappy block format round trip, as Loki reads it.
        let compressed = snap::raw::Encoder::new().compress_vec(&out).unwrap();
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        assert_eq!(PushRequest::decode(&back[..]).unwrap(), expected);
    }

    #[test]
    fn json_body_is_lokis_push_format() {
        let p = sample();
        let mut out = Vec::new();
        encode_json(&p, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let streams = v["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0]["stream"]["app"], "api");
        assert_eq!(streams[0]["stream"]["level"], "info");
        let values = streams[0]["values"].as_array().unwrap();
        assert_eq!(values[0][0], "1700000000123456789");
        assert_eq!(values[0][1], "first \"line\" é");
        assert_eq!(values[0].as_array().unwrap().len(), 2);
        assert_eq!(values[1][0], "-1500000000");
        assert_eq!(values[2][2]["trace_id"], "abc123");
        assert_eq!(streams[1]["values"][0][1], "db line");
    }
}
