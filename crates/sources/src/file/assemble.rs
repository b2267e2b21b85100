//! From framed lines to events, per file: container format decoding, multiline
//! joining, and the fields they yield (`stream`, `timestamp`, `kubernetes`).
//!
//! Each event goes out with the offset its acknowledgement stands for: the end
//! of its last physical line, held back to the start of anything still waiting
//! (a CRI partial of the other stream, an open multiline group), so a checkpoint
//! never passes a line that has not been sent.

use std::time::Instant;

use bytes::Bytes;

use super::config::{Format, MultilineConfig};
use super::container::{Decoder, Kind};
use super::multiline::Multiline;
use super::record::Record;
use logagent_codecs::framing::Line;
use logagent_core::event::{Edit, EditOp, Event, Span, Value};

/// The per-file assembly state.
#[derive(Debug)]
pub struct Assembler {
    decoder: Option<Decoder>,
    multiline: Option<Multiline>,
    kubernetes: Option<Value>,
    decoded: Vec<Record>,
    joined: Vec<Record>,
}

const STREAM_KEY: &[u8] = b"stream";
const TIMESTAMP_KEY: &[u8] = b"timestamp";
const KUBERNETES_KEY: &[u8] = b"kubernetes";

impl Assembler {
    /// An assembler for one file. `kubernetes` is the encoded `kubernetes`
    /// field value for files in the kubelet's layout.
    pub fn new(
        format: Format,
        multiline: Option<&MultilineConfig>,
        kubernetes: Option<Bytes>,
        max_line_bytes: usize,
    ) -> Assembler {
        let decoder = match format {
            Format::Lines => None,
            Format::Cri => Some(Decoder::new(Kind::Cri, max_line_bytes)),
            Format::Docker => Some(Decoder::new(Kind::Docker, max_line_bytes)),
        };
        Assembler {
            decoder,
            multiline: multiline.map(Multiline::new),
            kubernetes: kubernetes.map(Value::Json),
            decoded: Vec::new(),
            joined: Vec::new(),
        }
    }

    /// True when lines become events unchanged: the zero-copy fast path.
    pub fn is_plain(&self) -> bool {
        self.decoder.is_none() && self.multiline.is_none() && self.kubernetes.is_none()
    }

    /// Takes one framed line; finished events go to `emit` with their ack offset.
    pub fn push(&mut self, line: Line, now: Instant, emit: &mut impl FnMut(Event, u64)) {
        let mut decoded = std::mem::take(&mut self.decoded);
        match &mut self.decoder {
            Some(d) => d.push(line, &mut |r| decoded.push(r)),
            None => decoded.push(Record::from_line(line)),
        }
        self.join_and_emit(&mut decoded, now, emit);
        self.decoded = decoded;
    }

    fn join_and_emit(
        &mut self,
        decoded: &mut Vec<Record>,
        now: Instant,
        emit: &mut impl FnMut(Event, u64),
    ) {
        let mut joined = std::mem::take(&mut self.joined);
        match &mut self.multiline {
            Some(ml) => {
                for r in decoded.drain(..) {
                    ml.push(r, now, &mut |g| joined.push(g));
                }
            }
            None => joined.append(decoded),
        }
        let held = self.held_start().unwrap_or(u64::MAX);
        for r in joined.drain(..) {
            let end = r.end.min(held);
            emit(self.event(r), end);
        }
        self.joined = joined;
    }

    /// Sends everything held back (the end of a file that will not grow);
    /// `end` is the file's end, where held pieces stop.
    pub fn flush(&mut self, end: u64, now: Instant, emit: &mut impl FnMut(Event, u64)) {
        let mut decoded = std::mem::take(&mut self.decoded);
        if let Some(d) = &mut self.decoder {
            d.flush(end, &mut |r| decoded.push(r));
        }
        self.join_and_emit(&mut decoded, now, emit);
        self.decoded = decoded;
        let mut last = Vec::new();
        if let Some(ml) = &mut self.multiline {
            ml.flush(&mut |g| last.push(g));
        }
        for r in last {
            let end = r.end;
            emit(self.event(r), end);
        }
    }

    /// Sends a multiline group that waited longer than its timeout.
    pub fn flush_expired(&mut self, now: Instant, emit: &mut impl FnMut(Event, u64)) {
        let mut out = Vec::new();
        if let Some(ml) = &mut self.multiline {
            ml.flush_expired(now, &mut |g| out.push(g));
        }
        let held = self.held_start().unwrap_or(u64::MAX);
        for r in out {
            let end = r.end.min(held);
            emit(self.event(r), end);
        }
    }

    /// Offset of the first line held back, if any.
    pub fn held_start(&self) -> Option<u64> {
        let a = self.decoder.as_ref().and_then(|d| d.held_start());
        let b = self.multiline.as_ref().and_then(|m| m.held_start());
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a held multiline group must be sent.
    pub fn deadline(&self) -> Option<Instant> {
        self.multiline.as_ref().and_then(|m| m.deadline())
    }

    /// Forgets what is held back; it will be read again from [`Assembler::held_start`].
    pub fn discard(&mut self) {
        if let Some(d) = &mut self.decoder {
            d.discard();
        }
        if let Some(m) = &mut self.multiline {
            m.discard();
        }
    }

    /// Lines not in the container format since the last call.
    pub fn take_malformed(&mut self) -> u64 {
        self.decoder
            .as_mut()
            .map_or(0, |d| std::mem::take(&mut d.malformed))
    }

    fn event(&self, r: Record) -> Event {
        let mut event = Event::new(r.bytes, r.offset);
        event.meta.truncated = r.truncated;
        event.meta.time = r.time;
        let at = Span::new(event.line.len(), event.line.len());
        let mut insert = |key: &'static [u8], value: Value| {
            event.edits.push(Edit {
                at,
                op: EditOp::Insert {
                    key: Bytes::from_static(key),
                    value,
                },
            });
        };
        if let Some(s) = r.stream {
            let v: &'static [u8] = match s {
                super::record::StdStream::Stdout => b"\"stdout\"",
                super::record::StdStream::Stderr => b"\"stderr\"",
            };
            insert(STREAM_KEY, Value::Json(Bytes::from_static(v)));
        }
        if let Some(t) = r.time_text.filter(|t| !t.is_empty()) {
            insert(TIMESTAMP_KEY, Value::string(&t));
        }
        if let Some(k) = &self.kubernetes {
            insert(KUBERNETES_KEY, k.clone());
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::encode::write_json;
    use logagent_core::{ByteSize, HumanDuration};
    use std::time::Duration;

    fn feed(a: &mut Assembler, text: &str) -> Vec<(String, u64, u64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut offset = 0;
        for l in text.split_inclusive('\n') {
            let line = Line {
                bytes: Bytes::copy_from_slice(l.trim_end_matches('\n').as_bytes()),
                offset,
                end: offset + l.len() as u64,
                truncated: false,
            };
            offset = line.end;
            a.push(line, now, &mut |e, end| {
                let mut json = Vec::new();
                write_json(&e, &mut json);
                out.push((String::from_utf8(json).unwrap(), e.meta.offset, end));
            });
        }
        out
    }

    #[test]
    fn cri_with_kubernetes_fields() {
        let mut a = Assembler::new(
            Format::Cri,
            None,
            Some(Bytes::from_static(br#"{"pod_name":"p"}"#)),
            1 << 20,
        );
        assert!(!a.is_plain());
        let out = feed(&mut a, "2024-01-01T00:00:00Z stderr F boom\n");
        let v: serde_json::Value = serde_json::from_str(&out[0].0).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message":"boom","stream":"stderr","timestamp":"2024-01-01T00:00:00Z","kubernetes":{"pod_name":"p"}})
        );
    }

    #[test]
    fn ack_offsets_never_pass_a_held_piece() {
        let mut a = Assembler::new(Format::Cri, None, None, 1 << 20);
        let text = "2024-01-01T00:00:00Z stdout P a\n\
                    2024-01-01T00:00:00Z stderr F b\n\
                    2024-01-01T00:00:00Z stdout F c\n";
        let out = feed(&mut a, text);
        assert_eq!(out.len(), 2);
        // The stderr line is sent first, but its ack stops where the stdout
        // partial begins (0); the joined stdout event covers everything.
        assert_eq!(out[0].2, 0);
        assert_eq!(out[1].1, 0);
        assert_eq!(out[1].2, text.len() as u64);
    }

    #[test]
    fn multiline_after_cri() {
        let ml = MultilineConfig {
            mode: crate::file::config::MultilineMode::Indented,
            pattern: None,
            max_lines: 10,
            max_bytes: ByteSize(1000),
            timeout: HumanDuration(Duration::from_secs(1)),
        };
        let mut a = Assembler::new(Format::Cri, Some(&ml), None, 1 << 20);
        let text = "2024-01-01T00:00:00Z stdout F Exception\n\
                    2024-01-01T00:00:00Z stdout F \tat x\n\
                    2024-01-01T00:00:00Z stdout F next\n";
        let out = feed(&mut a, text);
        assert_eq!(out.len(), 1);
        assert!(
            out[0].0.contains(r#""message":"Exception\n\tat x""#),
            "{}",
            out[0].0
        );
        assert_eq!(a.held_start(), Some(out[0].2));
        let mut rest = Vec::new();
        a.flush(text.len() as u64, Instant::now(), &mut |e, end| {
            rest.push((e, end))
        });
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].1, text.len() as u64);
        assert_eq!(a.held_start(), None);
    }
}
