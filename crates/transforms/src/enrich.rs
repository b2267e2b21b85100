//! `type = "enrich"`: adds fields: static values (with `${VAR}` from the
//! environment, as the seeds' `record_transformer` does), the host name, the file
//! path, and named captures of a pattern on the file path (Fluentd's `tag_parts`).
//! A file whose path the pattern does not match gets none of its fields: its
//! events are counted ([`PATH_UNMATCHED`]) and the path is logged, rate-limited,
//! so a pattern that misses the real file names is seen, not silent.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::{Batch, FieldPath, Value};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Events from files whose path `path_pattern` did not match (they got none of
/// its fields), a labeled counter of the component.
pub const PATH_UNMATCHED: &str = "enrich_path_unmatched_events_total";

/// Options of `enrich`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// Fields to add: `{ environment = "${NODE_ENV:-production}", team = "core" }`.
    /// Names may be paths (`kubernetes.node`); values any TOML value.
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Add the machine's host name under this field (e.g. `host`).
    #[serde(default)]
    pub host_field: Option<String>,
    /// Add the path of the file the line came from under this field (e.g. `file`).
    #[serde(default)]
    pub file_field: Option<String>,
    /// A regex on the file path whose named groups become fields, e.g.
    /// `'/(?P<service_name>[^/]+)\.log$'`.
    #[serde(default)]
    pub path_pattern: Option<String>,
    /// Replace fields that already exist (default true, like `record_transformer`).
    #[serde(default = "yes")]
    pub overwrite: bool,
}

fn yes() -> bool {
    true
}

impl EnrichConfig {
    /// Checks field names and the path pattern.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = self
            .build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default();
        if self.fields.is_empty()
            && self.host_field.is_none()
            && self.file_field.is_none()
            && self.path_pattern.is_none()
        {
            errors.push(KeyError::new(
                "fields",
                "enrich adds nothing: set fields, host_field, file_field or path_pattern",
            ));
        }
        errors
    }

    /// Encodes the static values once.
    pub fn build(&self, ctx: TransformContext) -> Result<Enrich, Vec<KeyError>> {
        let mut errors = Vec::new();
        let mut statics = Vec::new();
        for (name, value) in &self.fields {
            match FieldPath::parse(name) {
                Ok(path) if !path.has_wildcard() => {
                    let json = serde_json::to_vec(value).unwrap_or_default();
                    statics.push((path, Value::Json(logagent_core::event::static_bytes(json))));
                }
                Ok(_) => errors.push(KeyError::new(
                    format!("fields.{name}"),
                    "a field name to add cannot contain '*'",
                )),
                Err(e) => errors.push(KeyError::new(format!("fields.{name}"), e.to_string())),
            }
        }
        if let Some(host_field) = &self.host_field {
            match FieldPath::parse(host_field) {
                Ok(path) => {
                    let host = hostname::get()
                        .map(|h| h.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| "unknown".into());
                    let mut json = Vec::new();
                    logagent_core::event::json::write_str(&mut json, host.as_bytes());
                    statics.push((path, Value::Json(logagent_core::event::static_bytes(json))));
                }
                Err(e) => errors.push(KeyError::new("host_field", e.to_string())),
            }
        }
        let file_field = match &self.file_field {
            Some(f) => match FieldPath::parse(f) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(KeyError::new("file_field", e.to_string()));
                    None
                }
            },
            None => None,
        };
        let path_pattern = match &self.path_pattern {
            Some(p) => match Regex::new(p) {
                Ok(re) if re.capture_names().flatten().next().is_some() => {
                    let names: Vec<(String, FieldPath)> = re
                        .capture_names()
                        .flatten()
                        .map(|n| (n.to_owned(), FieldPath::top(n)))
                        .collect();
                    Some((re, names))
                }
                Ok(_) => {
                    errors.push(KeyError::new(
                        "path_pattern",
                        "has no named groups (write (?P<name>...))",
                    ));
                    None
                }
                Err(e) => {
                    errors.push(KeyError::new(
                        "path_pattern",
                        format!(
                            "invalid regular expression: {}",
                            e.to_string()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    ));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let static_keys = statics
            .iter()
            .map(|(path, _)| match path.segments() {
                [logagent_core::event::path::Segment::Key(k)] => {
                    Some(logagent_core::event::static_bytes(k.to_vec()))
                }
                _ => None,
            })
            .collect();
        Ok(Enrich {
            static_keys,
            statics,
            file_field,
            path_pattern,
            overwrite: self.overwrite,
            unmatched: ctx.metrics.labeled.counter(PATH_UNMATCHED, &[]),
            unmatched_log: RateLimiter::default(),
            ctx,
            per_stream: Vec::new(),
        })
    }
}

/// The running `enrich` transform.
#[derive(Debug)]
pub struct Enrich {
    statics: Vec<(FieldPath, Value)>,
    /// For top-level static fields, their name as build-time bytes.
    static_keys: Vec<Option<bytes::Bytes>>,
    file_field: Option<FieldPath>,
    path_pattern: Option<(Regex, Vec<(String, FieldPath)>)>,
    overwrite: bool,
    ctx: TransformContext,
    /// [`PATH_UNMATCHED`] of this component.
    unmatched: std::sync::Arc<std::sync::atomic::AtomicU64>,
    unmatched_log: RateLimiter,
    /// Scratch: the fields for the current batch's stream.
    per_stream: Vec<(FieldPath, Value)>,
}

impl Enrich {
    /// Fields that depend on the batch's file, computed once per batch.
    fn stream_fields(&mut self, batch: &Batch) {
        self.per_stream.clear();
        let Some(path) = &batch.stream.path else {
            return;
        };
        let text = path.to_string_lossy();
        if let Some(field) = &self.file_field {
            self.per_stream
                .push((field.clone(), Value::string(text.as_bytes())));
        }
        if let Some((re, names)) = &self.path_pattern {
            if let Some(caps) = re.captures(&text) {
                for (name, field) in names {
                    if let Some(m) = caps.name(name) {
                        self.per_stream
                            .push((field.clone(), Value::string(m.as_str().as_bytes())));
                    }
                }
            } else {
                ComponentMetrics::add(&self.unmatched, batch.events.len() as u64);
                if let Some(suppressed) = self.unmatched_log.check() {
                    tracing::warn!(
                        component = %self.ctx.id,
                        path = %text,
                        pattern = re.as_str(),
                        suppressed,
                        "path_pattern does not match the file's path; its fields are not added"
                    );
                }
            }
        }
    }
}

impl Transform for Enrich {
    fn process(&mut self, batch: &mut Batch) {
        self.stream_fields(batch);
        let count = self.statics.len() + self.per_stream.len();
        let overwrite = self.overwrite;
        for mut ev in batch.iter_mut() {
            ev.event.edits.reserve(count);
            for (i, (path, value)) in self.statics.iter().enumerate() {
                // Top-level names go through the shared key made at build time.
                match &self.static_keys[i] {
                    Some(key) if overwrite => ev.set_key(key, value.clone()),
                    Some(key) => ev.set_key_if_absent(key, value.clone()),
                    None if overwrite => ev.set(path, value.clone()),
                    None => ev.set_if_absent(path, value.clone()),
                }
            }
            for (path, value) in &self.per_stream {
                if overwrite {
                    ev.set(path, value.clone());
                } else {
                    ev.set_if_absent(path, value.clone());
                }
            }
        }
    }
}

impl TransformComponent for EnrichConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        EnrichConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(EnrichConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use logagent_core::event::json;
    use logagent_core::event::{AckToken, Event, Root, Span, Stream, encode};
    use std::sync::Arc;

    #[test]
    fn adds_static_and_path_fields() {
        let cfg: EnrichConfig = toml::from_str(
            r#"
            fields = { environment = "production", "k8s.node" = "n1", retries = 3 }
            file_field = "file"
            path_pattern = '/(?P<service_name>[^/]+)\.log$'
            overwrite = false
            "#,
        )
        .unwrap();
        let mut t = cfg.build(TransformContext::detached("e")).unwrap();
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: Some("/var/log/workflow/api.log".into()),
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), 1);
        let line = Bytes::from_static(br#"{"environment":"staging","msg":"x"}"#);
        let object = json::scan_object(&line, 8, &mut b.members).unwrap();
        let mut ev = Event::new(line, 0);
        ev.root = Root::Json {
            object,
            members: Span::new(0, b.members.len()),
        };
        b.events.push(ev);
        t.process(&mut b);
        let mut out = Vec::new();
        encode::write_json(&b.events[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["environment"], "staging",
            "overwrite = false keeps the line's value"
        );
        assert_eq!(v["k8s"]["node"], "n1");
        assert_eq!(v["retries"], 3);
        assert_eq!(v["file"], "/var/log/workflow/api.log");
        assert_eq!(v["service_name"], "api");
    }

    fn batch_from(path: &str, n: usize) -> Batch {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: Some(path.into()),
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), n);
        for i in 0..n {
            b.events
                .push(Event::new(Bytes::from_static(b"text"), i as u64));
        }
        b
    }

    #[test]
    fn a_path_the_pattern_misses_is_counted() {
        let cfg: EnrichConfig =
            toml::from_str(r#"path_pattern = '/(?:workflow\.)?(?P<service_name>[^/.]+)\.log$'"#)
                .unwrap();
        let ctx = TransformContext::detached("e");
        let metrics = ctx.metrics.clone();
        let mut t = cfg.build(ctx).unwrap();
        let mut b = batch_from("/var/log/workflow/workflow.api.log", 2);
        t.process(&mut b);
        let mut out = Vec::new();
        encode::write_json(&b.events[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["service_name"], "api",
            "the runbook's workflow.<service>.log"
        );
        assert_eq!(metrics.labeled.get(PATH_UNMATCHED, &[]), Some(0));
        let mut b = batch_from("/var/log/workflow/api.log.1", 3);
        t.process(&mut b);
        out.clear();
        encode::write_json(&b.events[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("service_name").is_none());
        assert_eq!(
            metrics.labeled.get(PATH_UNMATCHED, &[]),
            Some(3),
            "every event of the unmatched file is counted"
        );
    }

    #[test]
    fn rejects_empty_and_bad_configs() {
        let empty: EnrichConfig = toml::from_str("").unwrap();
        assert_eq!(empty.check()[0].key, "fields");
        let bad: EnrichConfig = toml::from_str("path_pattern = '(unclosed'").unwrap();
        assert_eq!(bad.check()[0].key, "path_pattern");
    }
}
