//! `type = "parse_regex"`: named captures of a regular expression become fields.
//! On a text line the captures are ranges of the line (no copy).

use bytes::Bytes;
use regex::bytes::{CaptureLocations, Regex};
use serde::Deserialize;

use super::{Transform, TransformContext};
use crate::config::KeyError;
use crate::event::{Batch, EventMut, FieldPath, MESSAGE_KEY, Root, Span, Value};
use crate::telemetry::metrics::ComponentMetrics;
use crate::telemetry::ratelimit::RateLimiter;

/// Options of `parse_regex`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRegexConfig {
    /// The expression (Rust `regex` syntax) with named groups: `(?P<status>\d{3})`.
    pub pattern: String,
    /// The field to match (default `message`: the whole line of a text event).
    #[serde(default = "default_field")]
    pub field: String,
    /// Drop events that do not match (default false: they pass unchanged, counted).
    #[serde(default)]
    pub drop_unmatched: bool,
}

fn default_field() -> String {
    MESSAGE_KEY.to_owned()
}

impl ParseRegexConfig {
    /// Checks that the pattern compiles and has named groups.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Compiles the pattern.
    pub fn build(&self, ctx: TransformContext) -> Result<ParseRegex, Vec<KeyError>> {
        let regex = Regex::new(&self.pattern).map_err(|e| {
            vec![KeyError::new(
                "pattern",
                format!("invalid regular expression: {}", one_line(&e.to_string())),
            )]
        })?;
        let names: Vec<(usize, Bytes)> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, Bytes::copy_from_slice(n.as_bytes()))))
            .collect();
        if names.is_empty() {
            return Err(vec![KeyError::new(
                "pattern",
                "has no named groups, so it would add no fields (write (?P<name>...))",
            )]);
        }
        let field = super::parse_path("field", &self.field)?;
        Ok(ParseRegex {
            locations: regex.capture_locations(),
            regex,
            names,
            field,
            drop_unmatched: self.drop_unmatched,
            ctx,
            log: RateLimiter::default(),
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The running `parse_regex` transform.
#[derive(Debug)]
pub struct ParseRegex {
    regex: Regex,
    locations: CaptureLocations,
    names: Vec<(usize, Bytes)>,
    field: FieldPath,
    drop_unmatched: bool,
    ctx: TransformContext,
    log: RateLimiter,
}

impl ParseRegex {
    fn apply(&mut self, mut ev: EventMut<'_>) -> bool {
        let is_message = self.field.as_str() == MESSAGE_KEY;
        if ev.event.root == Root::Text && is_message && ev.event.edits.is_empty() {
            // Captures are ranges of the line itself.
            let line = ev.event.line.clone();
            if self
                .regex
                .captures_read(&mut self.locations, &line)
                .is_none()
            {
                return false;
            }
            for (i, name) in &self.names {
                if let Some((s, e)) = self.locations.get(*i) {
                    ev.set(
                        &FieldPath::top(&String::from_utf8_lossy(name)),
                        Value::LineStr(Span::new(s, e)),
                    );
                }
            }
            return true;
        }
        let Some(text) = ev.get(&self.field).map(|v| v.text().into_owned()) else {
            return false;
        };
        if self
            .regex
            .captures_read(&mut self.locations, &text)
            .is_none()
        {
            return false;
        }
        for (i, name) in &self.names {
            if let Some((s, e)) = self.locations.get(*i) {
                ev.set(
                    &FieldPath::top(&String::from_utf8_lossy(name)),
                    Value::string(&text[s..e]),
                );
            }
        }
        true
    }
}

impl Transform for ParseRegex {
    fn process(&mut self, batch: &mut Batch) {
        let mut unmatched = 0u64;
        let mut keep = Vec::with_capacity(if self.drop_unmatched {
            batch.events.len()
        } else {
            0
        });
        let members = std::mem::take(&mut batch.members);
        for event in batch.events.iter_mut() {
            let matched = self.apply(EventMut {
                event,
                members: &members,
            });
            if !matched {
                unmatched += 1;
                if let Some(suppressed) = self.log.check() {
                    tracing::warn!(component = %self.ctx.id, offset = event.meta.offset, suppressed,
                        "line does not match the pattern; {}", if self.drop_unmatched { "dropped" } else { "passed on unchanged" });
                }
            }
            if self.drop_unmatched {
                keep.push(matched);
            }
        }
        batch.members = members;
        if self.drop_unmatched {
            let mut flags = keep.into_iter();
            batch.events.retain(|_| flags.next().unwrap_or(true));
        }
        ComponentMetrics::add(&self.ctx.metrics.errors, unmatched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AckToken, Event, Stream, encode};
    use std::sync::Arc;

    #[test]
    fn captures_become_fields_without_copying() {
        let cfg = ParseRegexConfig {
            pattern: r#"^(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d{3})"#.into(),
            field: "message".into(),
            drop_unmatched: true,
        };
        let mut t = cfg.build(TransformContext::detached("r")).unwrap();
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), 2);
        b.events.push(Event::new(
            Bytes::from_static(br#"10.0.0.1 - - [20/Aug/2025:10:30:45 +0000] "GET /api/cases HTTP/1.1" 200 512 "-" "curl""#),
            0,
        ));
        b.events.push(Event::new(Bytes::from_static(b"garbage"), 1));
        t.process(&mut b);
        assert_eq!(b.events.len(), 1);
        let mut out = Vec::new();
        encode::write_json(&b.events[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ip"], "10.0.0.1");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/api/cases");
        assert_eq!(v["status"], "200");
        assert!(v["message"].as_str().unwrap().starts_with("10.0.0.1"));
    }

    #[test]
    fn reports_bad_patterns() {
        let bad = ParseRegexConfig {
            pattern: "(?P<a>".into(),
            field: "message".into(),
            drop_unmatched: false,
        };
        assert_eq!(bad.check()[0].key, "pattern");
        let unnamed = ParseRegexConfig {
            pattern: "(a)".into(),
            field: "message".into(),
            drop_unmatched: false,
        };
        assert!(unnamed.check()[0].message.contains("named groups"));
    }
}
