//! `type = "parse_json"`: validates each line (or a field holding JSON text, such
//! as Docker's `log`) as a JSON object and records its top-level members — no
//! value tree, no copy. Nested objects are then addressable by path
//! (`metadata.ip`). A line that is not a JSON object is counted and kept as text
//! (or dropped, if asked).

use bytes::Bytes;
use serde::Deserialize;

use super::timestamp::{TimeOptions, TimeSpec};
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::json;
use logagent_core::event::{Batch, EventMut, FieldPath, KeyFilter, MESSAGE_KEY, Root, Span, Value};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::{ByteSize, KeyError};

/// Options of `parse_json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseJsonConfig {
    /// Field holding the JSON text (default `message`: the whole line). A
    /// string field such as `log` is decoded and parsed.
    #[serde(default)]
    pub field: Option<String>,
    /// Put the parsed object under this field instead of merging its members
    /// into the root. For a whole line, the line stays in `message`.
    #[serde(default)]
    pub target: Option<String>,
    /// Keep the source `field` after parsing it (default false: it is removed
    /// once its content is merged or moved).
    #[serde(default)]
    pub keep_field: bool,
    /// Field holding the event time, e.g. `timestamp`.
    #[serde(default)]
    pub time_key: Option<String>,
    /// Format of the time (strftime, `epoch_ms`, ...); default detected.
    #[serde(default)]
    pub time_format: Option<String>,
    /// Zone for times without an offset (`UTC`, `local`, `+09:00`, `Asia/Tokyo`; default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Deepest nesting of objects and arrays accepted (default 64, at most 1024).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Longest JSON text parsed (default 1MiB); longer ones are counted and
    /// kept as text.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Drop lines that are not JSON objects instead of passing them on as text
    /// (default false: nothing is lost by default).
    #[serde(default)]
    pub drop_invalid: bool,
}

fn default_depth() -> usize {
    64
}

fn default_max_bytes() -> ByteSize {
    ByteSize(1 << 20)
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
        let mut errors = Vec::new();
        if self.max_depth == 0 || self.max_depth > json::MAX_DEPTH {
            errors.push(KeyError::new(
                "max_depth",
                format!("must be between 1 and {}", json::MAX_DEPTH),
            ));
        }
        if self.max_bytes.0 == 0 {
            errors.push(KeyError::new("max_bytes", "must be greater than zero"));
        }
        let time = TimeOptions {
            time_key: self.time_key.clone(),
            time_format: self.time_format.clone(),
            timezone: self.timezone.clone(),
        }
        .build()
        .unwrap_or_else(|e| {
            errors.extend(e);
            None
        });
        let field = match &self.field {
            Some(f) => super::parse_path("field", f)
                .map_err(|e| errors.extend(e))
                .ok(),
            None => None,
        }
        .filter(|f| f.as_str() != MESSAGE_KEY);
        let target = match &self.target {
            Some(t) => super::parse_path("target", t)
                .map_err(|e| errors.extend(e))
                .ok(),
            None => None,
        };
        if field.as_ref().is_some_and(FieldPath::has_wildcard)
            || target.as_ref().is_some_and(FieldPath::has_wildcard)
        {
            errors.push(KeyError::new(
                if target.as_ref().is_some_and(FieldPath::has_wildcard) {
                    "target"
                } else {
                    "field"
                },
                "must name one field ('*' is not allowed here)",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ParseJson {
            field,
            target,
            keep_field: self.keep_field,
            time,
            max_depth: self.max_depth,
            max_bytes: self.max_bytes.as_usize(),
            drop_invalid: self.drop_invalid,
            ctx,
            scratch: Vec::new(),
            members_per_event: 16,
            invalid_log: RateLimiter::default(),
            time_log: RateLimiter::default(),
        })
    }
}

/// The running `parse_json` transform.
#[derive(Debug)]
pub struct ParseJson {
    /// The field holding JSON text; `None` for the whole line.
    field: Option<FieldPath>,
    target: Option<FieldPath>,
    keep_field: bool,
    time: Option<TimeSpec>,
    max_depth: usize,
    max_bytes: usize,
    drop_invalid: bool,
    ctx: TransformContext,
    scratch: Vec<json::Member>,
    /// Top-level members per event in the last batch (rounded up): the member
    /// arena is sized from it once per batch instead of doubling its way up —
    /// a dozen reallocations and copies of a growing arena per batch.
    members_per_event: usize,
    invalid_log: RateLimiter,
    time_log: RateLimiter,
}

/// True when the whole line is parsed (no `field`): then every event adds its
/// top-level members to the batch's arena.
fn source_field_is_line(field: &Option<FieldPath>) -> bool {
    field.is_none()
}

/// Fields a source added to a text line (a container log's `stream`,
/// `kubernetes`) were inserts at the end of the text; once the line is an object
/// they belong inside it, before its closing brace. A key the object already
/// has wins over the added one.
fn adopt_source_fields(
    event: &mut logagent_core::event::Event,
    members: &[logagent_core::event::Member],
) {
    use logagent_core::event::EditOp;
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

/// What parsing one event gave.
#[derive(PartialEq)]
enum Outcome {
    Parsed,
    Invalid,
    /// Nothing to parse (the field is absent, or the line is already JSON).
    Skipped,
}

impl ParseJson {
    fn log_invalid(
        &self,
        stream: &logagent_core::event::Stream,
        offset: u64,
        error: &dyn std::fmt::Display,
    ) {
        if let Some(suppressed) = self.invalid_log.check() {
            tracing::warn!(
                component = %self.ctx.id,
                stream = %stream.origin(),
                offset,
                %error,
                suppressed,
                "not a JSON object; {}",
                if self.drop_invalid { "dropped" } else { "kept as it was" }
            );
        }
    }

    /// Parses the JSON text in a field and merges it into the event (or puts it
    /// under `target`). The text is decoded once; the members are slices of it.
    fn parse_field(
        &mut self,
        ev: &mut EventMut<'_>,
        field: &FieldPath,
    ) -> Result<bool, FieldError> {
        let Some(value) = ev.get(field) else {
            return Ok(false);
        };
        if value.is_object() {
            // Already an object (an earlier parse): only moving it may be needed.
            let raw = Bytes::copy_from_slice(&value.text());
            return self.merge(ev, field, raw).map(|()| true);
        }
        if !value.is_string() {
            return Err(FieldError::NotAString(field.to_string()));
        }
        let text = Bytes::from(value.text().into_owned());
        self.merge(ev, field, text).map(|()| true)
    }

    fn merge(
        &mut self,
        ev: &mut EventMut<'_>,
        field: &FieldPath,
        text: Bytes,
    ) -> Result<(), FieldError> {
        if text.len() > self.max_bytes {
            return Err(FieldError::TooLong {
                len: text.len(),
                max: self.max_bytes,
            });
        }
        self.scratch.clear();
        let object = json::scan_object(&text, self.max_depth, &mut self.scratch)?;
        if !self.keep_field && self.target.as_ref() != Some(field) {
            ev.remove(field);
        }
        match &self.target {
            Some(target) => ev.set(target, Value::Json(text.slice(object.range()))),
            None => {
                for m in &self.scratch {
                    let key = if m.key_escaped {
                        match json::decode_str(&text[m.key.range()]) {
                            Some(k) => Bytes::from(k.into_owned()),
                            None => continue,
                        }
                    } else {
                        text.slice(m.key.start as usize + 1..m.key.end as usize - 1)
                    };
                    ev.set_key(&key, Value::Json(text.slice(m.value.range())));
                }
            }
        }
        Ok(())
    }
}

/// Why one event's field was not parsed (logged, rate-limited, and counted).
#[derive(Debug, thiserror::Error)]
enum FieldError {
    /// The field holds a number, a bool or an array.
    #[error("field {0} is not a string")]
    NotAString(String),
    /// The text is longer than `max_bytes`.
    #[error("JSON text of {len} bytes exceeds max_bytes ({max})")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a JSON object.
    #[error(transparent)]
    Json(#[from] json::JsonError),
}

impl Transform for ParseJson {
    fn process(&mut self, batch: &mut Batch) {
        let mut invalid = 0u64;
        let mut bad_time = 0u64;
        let now = self.ctx.clock.now_ns();
        let stream = batch.stream.clone();
        // Taken once per batch: each `make_mut` checks the sharing count.
        let members = batch.members.make_mut();
        let events = batch.events.make_mut();
        let arena_start = members.len();
        if source_field_is_line(&self.field) {
            members.reserve(events.len() * self.members_per_event);
        }
        let mut outcomes: Vec<bool> = Vec::new();
        // Taken out for the loop so `self` can be borrowed mutably beside it.
        let source_field = self.field.take();
        for slot in events.iter_mut() {
            let outcome = match &source_field {
                None => {
                    let event = &mut *slot;
                    if event.root != Root::Text {
                        Outcome::Skipped
                    } else if event.line.len() > self.max_bytes {
                        self.log_invalid(&stream, event.meta.offset, &"line exceeds max_bytes");
                        Outcome::Invalid
                    } else {
                        let start = members.len();
                        match json::scan_object_summarized(&event.line, self.max_depth, members) {
                            Ok((object, summary)) => {
                                event.meta.keys = KeyFilter::from_summary(summary);
                                event.root = Root::Json {
                                    object,
                                    members: Span::new(start, members.len()),
                                };
                                if self.target.is_none() && !event.edits.is_empty() {
                                    adopt_source_fields(event, &members[start..]);
                                }
                                if let Some(target) = &self.target {
                                    // The object goes under `target`; the line stays the message.
                                    event.root = Root::Text;
                                    event.meta.keys = KeyFilter::default();
                                    members.truncate(start);
                                    let value = Value::Json(event.line.slice(object.range()));
                                    EventMut { event, members }.set(target, value);
                                }
                                Outcome::Parsed
                            }
                            Err(error) => {
                                let offset = event.meta.offset;
                                self.log_invalid(&stream, offset, &error);
                                Outcome::Invalid
                            }
                        }
                    }
                }
                Some(field) => {
                    let mut ev = EventMut {
                        event: &mut *slot,
                        members,
                    };
                    match self.parse_field(&mut ev, field) {
                        Ok(true) => Outcome::Parsed,
                        Ok(false) => Outcome::Skipped,
                        Err(error) => {
                            let offset = slot.meta.offset;
                            self.log_invalid(&stream, offset, &error);
                            Outcome::Invalid
                        }
                    }
                }
            };
            if outcome == Outcome::Invalid {
                invalid += 1;
            }
            if self.drop_invalid {
                outcomes.push(outcome != Outcome::Invalid);
            }
            if outcome == Outcome::Parsed
                && let Some(spec) = &self.time
            {
                let mut ev = EventMut {
                    event: &mut *slot,
                    members,
                };
                if !spec.apply(&mut ev, now) {
                    bad_time += 1;
                    if let Some(suppressed) = self.time_log.check() {
                        tracing::warn!(component = %self.ctx.id, offset = ev.event.meta.offset, field = %spec.key,
                                suppressed, "missing or unparsable event time; using read time");
                    }
                }
            }
        }
        self.field = source_field;
        if !events.is_empty() && members.len() > arena_start {
            self.members_per_event = ((members.len() - arena_start) / events.len() + 1).min(256);
        }
        if self.drop_invalid && invalid > 0 {
            let mut keep = outcomes.into_iter();
            events.retain(|_| keep.next().unwrap_or(true));
        }
        ComponentMetrics::add(&self.ctx.metrics.errors, invalid + bad_time);
    }
}

impl TransformComponent for ParseJsonConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        ParseJsonConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(ParseJsonConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use logagent_core::event::{AckToken, Event, Stream};
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
        let cfg: ParseJsonConfig =
            toml::from_str("time_key = \"timestamp\"\nmax_depth = 8").unwrap();
        let mut ctx = TransformContext::detached("p");
        ctx.clock = std::sync::Arc::new(logagent_core::time::ManualClock::at_ns(42));
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
        assert_eq!(b.events[3].meta.time, Some(42), "bad time: read time");
        assert_eq!(b.events.len(), 4);
        assert_eq!(metrics.snapshot().errors, 3);
    }

    #[test]
    fn drop_invalid_and_depth_limit() {
        let cfg: ParseJsonConfig = toml::from_str("max_depth = 2\ndrop_invalid = true").unwrap();
        let mut t = cfg.build(TransformContext::detached("p")).unwrap();
        let mut b = batch(&[br#"{"a":{"b":1}}"#, br#"{"a":{"b":[1]}}"#, b"{"]);
        t.process(&mut b);
        assert_eq!(b.events.len(), 1);
        assert_eq!(&b.events[0].line[..], br#"{"a":{"b":1}}"#);
    }

    #[test]
    fn fields_added_by_the_source_move_into_the_object() {
        use logagent_core::event::{Edit, EditOp, Value};
        let cfg: ParseJsonConfig = toml::from_str("max_depth = 8").unwrap();
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
                logagent_core::event::encode::write_json(e, &mut o);
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
