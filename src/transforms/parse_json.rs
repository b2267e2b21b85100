//! `type = "parse_json"`: validates each line as a JSON object and records its
//! top-level members — no value tree, no copy. A line that is not a JSON object
//! is counted and kept as text (or dropped, if asked).

use serde::Deserialize;

use super::timestamp::parse_time;
use super::{Transform, TransformContext};
use crate::codecs::json;
use crate::config::KeyError;
use crate::event::{Batch, FieldPath, Root, Span, access};
use crate::telemetry::metrics::ComponentMetrics;
use crate::telemetry::ratelimit::RateLimiter;

/// Options of `parse_json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseJsonConfig {
    /// Field holding the event time (RFC 3339 or epoch s/ms/µs/ns), e.g. `timestamp`.
    #[serde(default)]
    pub time_key: Option<String>,
    /// Deepest nesting of objects and arrays accepted (default 64, at most 1024).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Drop lines that are not JSON objects instead of passing them on as text
    /// (default false: nothing is lost by default).
    #[serde(default)]
    pub drop_invalid: bool,
}

fn default_depth() -> usize {
    64
}

impl ParseJsonConfig {
    /// Checks the keys.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Builds the transform.
    pub fn build(&self, ctx: TransformContext) -> Result<ParseJson, Vec<KeyError>> {
        if self.max_depth == 0 || self.max_depth > json::MAX_DEPTH {
            return Err(vec![KeyError::new(
                "max_depth",
                format!("must be between 1 and {}", json::MAX_DEPTH),
            )]);
        }
        let time_key = match &self.time_key {
            Some(k) => Some(super::parse_path("time_key", k)?),
            None => None,
        };
        Ok(ParseJson {
            time_key,
            max_depth: self.max_depth,
            drop_invalid: self.drop_invalid,
            ctx,
            invalid_log: RateLimiter::default(),
            time_log: RateLimiter::default(),
        })
    }
}

/// The running `parse_json` transform.
#[derive(Debug)]
pub struct ParseJson {
    time_key: Option<FieldPath>,
    max_depth: usize,
    drop_invalid: bool,
    ctx: TransformContext,
    invalid_log: RateLimiter,
    time_log: RateLimiter,
}

/// Fields a source added to a text line (a container log's `stream`,
/// `kubernetes`) were inserts at the end of the text; once the line is an object
/// they belong inside it, before its closing brace. A key the object already
/// has wins over the added one.
fn adopt_source_fields(event: &mut crate::event::Event, members: &[crate::event::Member]) {
    use crate::event::EditOp;
    let Root::Json { object, .. } = event.root else {
        return;
    };
    let text_end = event.line.len() as u32;
    let close = object.end.saturating_sub(1);
    let line = event.line.clone();
    event.edits.retain_mut(|e| {
        let EditOp::Insert { key, .. } = &e.op else {
            return true;
        };
        if !(e.at.is_empty() && e.at.start == text_end) {
            return true;
        }
        if members.iter().any(|m| m.key_eq(&line, key)) {
            return false;
        }
        e.at = Span::new(close as usize, close as usize);
        true
    });
}

impl Transform for ParseJson {
    fn process(&mut self, batch: &mut Batch) {
        let mut invalid = 0u64;
        let mut bad_time = 0u64;
        let members = &mut batch.members;
        for event in batch.events.iter_mut() {
            if event.root != Root::Text {
                continue;
            }
            let start = members.len();
            match json::scan_object(&event.line, self.max_depth, members) {
                Ok(object) => {
                    event.root = Root::Json {
                        object,
                        members: Span::new(start, members.len()),
                    };
                    if !event.edits.is_empty() {
                        adopt_source_fields(event, &members[start..]);
                    }
                }
                Err(error) => {
                    invalid += 1;
                    if let Some(suppressed) = self.invalid_log.check() {
                        tracing::warn!(
                            component = %self.ctx.id,
                            stream = ?batch.stream.path,
                            offset = event.meta.offset,
                            %error,
                            suppressed,
                            "line is not a JSON object; {}",
                            if self.drop_invalid { "dropped" } else { "kept as text" }
                        );
                    }
                    continue;
                }
            }
            if let Some(key) = &self.time_key {
                let time = access::get(event, members, key).and_then(|v| parse_time(&v.text()));
                match time {
                    Some(ns) => event.meta.time = Some(ns),
                    None => {
                        bad_time += 1;
                        if let Some(suppressed) = self.time_log.check() {
                            tracing::warn!(component = %self.ctx.id, offset = event.meta.offset, field = %key,
                                suppressed, "missing or unparsable event time; using read time");
                        }
                    }
                }
            }
        }
        if self.drop_invalid && invalid > 0 {
            batch.events.retain(|e| e.root != Root::Text);
        }
        ComponentMetrics::add(&self.ctx.metrics.errors, invalid + bad_time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AckToken, Event, Stream};
    use bytes::Bytes;
    use std::sync::Arc;

    fn batch(lines: &[&[u8]]) -> Batch {
        let stream = Arc::new(Stream {
            source: "t".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), lines.len());
        for (i, l) in lines.iter().enumerate() {
            b.events
                .push(Event::new(Bytes::copy_from_slice(l), i as u64));
        }
        b
    }

    #[test]
    fn parses_objects_keeps_bad_lines_and_reads_time() {
        let cfg = ParseJsonConfig {
            time_key: Some("timestamp".into()),
            max_depth: 8,
            drop_invalid: false,
        };
        let ctx = TransformContext::detached("p");
        let metrics = ctx.metrics.clone();
        let mut t = cfg.build(ctx).unwrap();
        let mut b = batch(&[
            br#"{"timestamp":"2025-08-20T10:30:45.123Z","level":"info"}"#,
            br#"{"level":"info","msg":"trunc"#,
            b"plain text",
            br#"{"timestamp":"not a time"}"#,
        ]);
        t.process(&mut b);
        assert!(matches!(b.events[0].root, Root::Json { .. }));
        assert_eq!(b.events[0].meta.time, Some(1_755_685_845_123_000_000));
        assert_eq!(b.events[1].root, Root::Text);
        assert_eq!(b.events[2].root, Root::Text);
        assert!(matches!(b.events[3].root, Root::Json { .. }));
        assert_eq!(b.events[3].meta.time, None);
        assert_eq!(b.events.len(), 4);
        assert_eq!(metrics.snapshot().errors, 3);
    }

    #[test]
    fn drop_invalid_and_depth_limit() {
        let cfg = ParseJsonConfig {
            time_key: None,
            max_depth: 2,
            drop_invalid: true,
        };
        let mut t = cfg.build(TransformContext::detached("p")).unwrap();
        let mut b = batch(&[br#"{"a":{"b":1}}"#, br#"{"a":{"b":[1]}}"#, b"{"]);
        t.process(&mut b);
        assert_eq!(b.events.len(), 1);
        assert_eq!(&b.events[0].line[..], br#"{"a":{"b":1}}"#);
    }

    #[test]
    fn fields_added_by_the_source_move_into_the_object() {
        use crate::event::{Edit, EditOp, Value};
        let cfg = ParseJsonConfig {
            time_key: None,
            max_depth: 8,
            drop_invalid: false,
        };
        let mut t = cfg.build(TransformContext::detached("p")).unwrap();
        let mut b = batch(&[br#"{"msg":"hi","stream":"mine"}"#, b"{}"]);
        for e in &mut b.events {
            let at = Span::new(e.line.len(), e.line.len());
            for (k, v) in [
                (&b"stream"[..], &br#""stderr""#[..]),
                (b"pod", br#"{"name":"p"}"#),
            ] {
                e.edits.push(Edit {
                    at,
                    op: EditOp::Insert {
                        key: Bytes::copy_from_slice(k),
                        value: Value::Json(Bytes::copy_from_slice(v)),
                    },
                });
            }
        }
        t.process(&mut b);
        let out: Vec<serde_json::Value> = b
            .events
            .iter()
            .map(|e| {
                let mut o = Vec::new();
                crate::event::encode::write_json(e, &mut o);
                serde_json::from_slice(&o).unwrap()
            })
            .collect();
        assert_eq!(
            out[0],
            serde_json::json!({"msg":"hi","stream":"mine","pod":{"name":"p"}})
        );
        assert_eq!(
            out[1],
            serde_json::json!({"stream":"stderr","pod":{"name":"p"}})
        );
    }
}
