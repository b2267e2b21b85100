//! `type = "redact"`: masks or removes fields by path, as pino's `redact` does
//! (`req.headers.authorization`, `user.email`, `*.password`). Values are replaced
//! where they stand; the agent never logs them.

use bytes::Bytes;
use serde::Deserialize;

use super::{Transform, TransformContext};
use crate::codecs::json;
use crate::config::KeyError;
use crate::event::{Batch, FieldPath, Value};
use crate::telemetry::metrics::ComponentMetrics;

/// Options of `redact`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Paths of fields to redact; `*` matches any one member name.
    pub paths: Vec<String>,
    /// Text written in place of a redacted value (default `"[REDACTED]"`).
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// Remove the fields instead of masking them (default false).
    #[serde(default)]
    pub remove: bool,
}

fn default_replacement() -> String {
    "[REDACTED]".to_owned()
}

impl RedactConfig {
    /// Checks the paths.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Parses the paths and encodes the replacement once.
    pub fn build(&self, ctx: TransformContext) -> Result<Redact, Vec<KeyError>> {
        if self.paths.is_empty() {
            return Err(vec![KeyError::new(
                "paths",
                "must list at least one field path",
            )]);
        }
        let paths = super::parse_paths("paths", &self.paths)?;
        let mut replacement = Vec::new();
        json::write_str(&mut replacement, self.replacement.as_bytes());
        Ok(Redact {
            paths,
            replacement: Value::Json(Bytes::from(replacement)),
            remove: self.remove,
            ctx,
        })
    }
}

/// The running `redact` transform.
#[derive(Debug)]
pub struct Redact {
    paths: Vec<FieldPath>,
    replacement: Value,
    remove: bool,
    ctx: TransformContext,
}

impl Transform for Redact {
    fn process(&mut self, batch: &mut Batch) {
        let mut hits = 0u64;
        for mut ev in batch.iter_mut() {
            for path in &self.paths {
                hits += if self.remove {
                    ev.remove(path)
                } else {
                    ev.replace_existing(path, &self.replacement)
                } as u64;
            }
        }
        if hits > 0 {
            tracing::trace!(component = %self.ctx.id, hits, "fields redacted");
        }
        let _ = ComponentMetrics::add;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AckToken, Event, Root, Span, Stream, encode};
    use std::sync::Arc;

    fn redact(config: &str, line: &str) -> String {
        let cfg: RedactConfig = toml::from_str(config).unwrap();
        let mut t = cfg.build(TransformContext::detached("r")).unwrap();
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), 1);
        let line = Bytes::copy_from_slice(line.as_bytes());
        let object = json::scan_object(&line, 16, &mut b.members).unwrap();
        let mut ev = Event::new(line, 0);
        ev.root = Root::Json {
            object,
            members: Span::new(0, b.members.len()),
        };
        b.events.push(ev);
        t.process(&mut b);
        let mut out = Vec::new();
        encode::write_json(&b.events[0], &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_nested_paths_in_place() {
        let out = redact(
            r#"paths = ["req.headers.authorization", "user.email", "missing.path"]"#,
            r#"{"req":{"headers":{"host":"a","authorization":"Bearer abc.def.ghi"}},"user":{"id":1,"email":"taro@example.jp"},"msg":"ok"}"#,
        );
        assert_eq!(
            out,
            r#"{"req":{"headers":{"host":"a","authorization":"[REDACTED]"}},"user":{"id":1,"email":"[REDACTED]"},"msg":"ok"}"#
        );
    }

    #[test]
    fn wildcards_and_removal() {
        let out = redact(
            "paths = [\"*.password\", \"token\"]\nremove = true",
            r#"{"a":{"password":"p1","x":1},"b":{"password":"p2"},"token":"t","c":3}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"a":{"x":1},"b":{},"c":3}));
    }

    #[test]
    fn duplicate_keys_are_all_masked() {
        let out = redact(
            r#"paths = ["email"]"#,
            r#"{"email":"a@x.jp","n":1,"email":"b@x.jp"}"#,
        );
        assert!(!out.contains("@x.jp"), "{out}");
    }
}
