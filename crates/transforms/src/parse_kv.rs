//! `type = "parse_logfmt"` and `type = "parse_kv"`: `key=value` pairs become
//! fields. On an unparsed line the fields are ranges of the line (no copy);
//! quoted values with escapes are decoded.

use super::text_parser::parse_lines;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;

use super::fields::{FieldType, Types, typed_value};
use super::timestamp::{TimeOptions, TimeSpec};
use logagent_codecs::kv::{self, Pair, Syntax};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::{Batch, EditOp, EventMut, FieldPath, MESSAGE_KEY, Root, Value};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Options of `parse_logfmt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseLogfmtConfig {
    /// The field holding the text (default `message`: the whole line).
    #[serde(default)]
    pub field: Option<String>,
    /// Types of fields: `{ status = "int", took = "float", ok = "bool" }` (default string).
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
    /// Field holding the event time.
    #[serde(default)]
    pub time_key: Option<String>,
    /// Its format (strftime, `epoch_ms`, ...; default detected).
    #[serde(default)]
    pub time_format: Option<String>,
    /// Zone for times without an offset (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Drop lines with no pair (default false: kept unchanged, counted).
    #[serde(default)]
    pub drop_unmatched: bool,
}

/// Options of `parse_kv`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseKvConfig {
    /// The field holding the text (default `message`: the whole line).
    #[serde(default)]
    pub field: Option<String>,
    /// Between pairs (default `" "`: any run of blanks); e.g. `","` or `"&"`.
    #[serde(default = "space")]
    pub field_separator: String,
    /// Between a key and its value (default `"="`); e.g. `":"`.
    #[serde(default = "equals")]
    pub value_separator: String,
    /// Types of fields (default string).
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
    /// Field holding the event time.
    #[serde(default)]
    pub time_key: Option<String>,
    /// Its format (default detected).
    #[serde(default)]
    pub time_format: Option<String>,
    /// Zone for times without an offset (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Drop lines with no pair (default false).
    #[serde(default)]
    pub drop_unmatched: bool,
}

fn space() -> String {
    " ".to_owned()
}

fn equals() -> String {
    "=".to_owned()
}

struct Common<'a> {
    field: &'a Option<String>,
    types: &'a BTreeMap<String, FieldType>,
    time: TimeOptions,
    drop_unmatched: bool,
}

fn build(
    common: Common<'_>,
    syntax: Syntax,
    ctx: TransformContext,
) -> Result<ParseKv, Vec<KeyError>> {
    let mut errors = Vec::new();
    let time = common.time.build().unwrap_or_else(|e| {
        errors.extend(e);
        None
    });
    let field = match common.field {
        Some(f) if f != MESSAGE_KEY => match super::parse_path("field", f) {
            Ok(p) if p.has_wildcard() => {
                errors.push(KeyError::new(
                    "field",
                    "must name one field ('*' is not allowed here)",
                ));
                None
            }
            Ok(p) => Some(p),
            Err(e) => {
                errors.extend(e);
                None
            }
        },
        _ => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ParseKv {
        syntax,
        field,
        message: FieldPath::top(MESSAGE_KEY),
        types: Types::new(common.types),
        time,
        drop_unmatched: common.drop_unmatched,
        ctx,
        pairs: Vec::new(),
        log: RateLimiter::default(),
    })
}

impl ParseLogfmtConfig {
    /// Checks the keys.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Builds the transform.
    pub fn build(&self, ctx: TransformContext) -> Result<ParseKv, Vec<KeyError>> {
        build(
            Common {
                field: &self.field,
                types: &self.types,
                time: TimeOptions {
                    time_key: self.time_key.clone(),
                    time_format: self.time_format.clone(),
                    timezone: self.timezone.clone(),
                },
                drop_unmatched: self.drop_unmatched,
            },
            Syntax::logfmt(),
            ctx,
        )
    }
}

impl ParseKvConfig {
    /// Checks the keys.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Builds the transform.
    pub fn build(&self, ctx: TransformContext) -> Result<ParseKv, Vec<KeyError>> {
        let mut errors = Vec::new();
        for (key, sep) in [
            ("field_separator", &self.field_separator),
            ("value_separator", &self.value_separator),
        ] {
            if sep.is_empty() {
                errors.push(KeyError::new(key, "must not be empty"));
            }
        }
        if self.field_separator == self.value_separator {
            errors.push(KeyError::new(
                "value_separator",
                "must differ from field_separator",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        build(
            Common {
                field: &self.field,
                types: &self.types,
                time: TimeOptions {
                    time_key: self.time_key.clone(),
                    time_format: self.time_format.clone(),
                    timezone: self.timezone.clone(),
                },
                drop_unmatched: self.drop_unmatched,
            },
            Syntax {
                field_separator: self.field_separator.clone().into_bytes(),
                value_separator: self.value_separator.clone().into_bytes(),
                bare_keys: false,
            },
            ctx,
        )
    }
}

/// The running `parse_logfmt` / `parse_kv` transform.
#[derive(Debug)]
pub struct ParseKv {
    syntax: Syntax,
    /// The field holding the text; `None` for the message (the whole line).
    field: Option<FieldPath>,
    message: FieldPath,
    types: Types,
    time: Option<TimeSpec>,
    drop_unmatched: bool,
    ctx: TransformContext,
    pairs: Vec<Pair>,
    log: RateLimiter,
}

impl ParseKv {
    /// Parses one event; false when no pair was found. Counts failed conversions.
    fn apply(&mut self, ev: &mut EventMut<'_>, bad_types: &mut u64) -> bool {
        let unchanged_line = ev.event.root == Root::Text
            && self.field.is_none()
            && !ev
                .event
                .edits
                .iter()
                .any(|e| matches!(e.op, EditOp::Replace(_)));
        let (text, in_line) = if unchanged_line {
            (ev.event.line.clone(), true)
        } else {
            let path = self.field.as_ref().unwrap_or(&self.message);
            match ev.get(path) {
                Some(v) => (Bytes::from(v.text().into_owned()), false),
                None => return false,
            }
        };
        self.pairs.clear();
        kv::scan(&text, &self.syntax, &mut self.pairs);
        // Bare words alone are prose, not logfmt: at least one real pair.
        if self.pairs.iter().all(|p| p.value.is_none()) {
            return false;
        }
        for p in &self.pairs {
            let key = text.slice(p.key.range());
            let value = match p.value {
                None => Value::Json(Bytes::from_static(b"true")),
                Some(span) if p.escaped => Value::string(&kv::unescape(&text[span.range()])),
                Some(span) => {
                    let (v, bad) = typed_value(&text, in_line, span, self.types.of(&key));
                    *bad_types += u64::from(bad);
                    v
                }
            };
            ev.set_key(&key, value);
        }
        true
    }
}

impl Transform for ParseKv {
    fn process(&mut self, batch: &mut Batch) {
        let now = self.ctx.clock.now_ns();
        let (mut bad_types, mut bad_time) = (0u64, 0u64);
        let unmatched = parse_lines(batch, self.drop_unmatched, |ev| {
            let matched = self.apply(ev, &mut bad_types);
            if let Some(spec) = self.time.as_ref().filter(|_| matched) {
                bad_time += u64::from(!spec.apply(ev, now));
            }
            matched
        });
        unmatched.log(
            &self.ctx,
            &self.log,
            "no key=value pair found",
            self.drop_unmatched,
        );
        ComponentMetrics::add(
            &self.ctx.metrics.errors,
            unmatched.count + bad_types + bad_time,
        );
    }
}

impl TransformComponent for ParseKvConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        ParseKvConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(ParseKvConfig::build(self, ctx)?))
    }
}

impl TransformComponent for ParseLogfmtConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        ParseLogfmtConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(ParseLogfmtConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::{AckToken, Event, Stream, encode};
    use std::sync::Arc;

    fn run(t: &mut ParseKv, lines: &[&str]) -> Vec<serde_json::Value> {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), lines.len());
        for l in lines {
            b.events
                .push(Event::new(Bytes::copy_from_slice(l.as_bytes()), 0));
        }
        t.process(&mut b);
        b.events
            .iter()
            .map(|e| {
                let mut out = Vec::new();
                encode::write_json(e, &mut out);
                serde_json::from_slice(&out).unwrap()
            })
            .collect()
    }

    #[test]
    fn logfmt_fields_with_types_and_time() {
        let cfg: ParseLogfmtConfig = toml::from_str(
            "types = { status = \"int\", took = \"float\", cached = \"bool\" }\ntime_key = \"ts\"",
        )
        .unwrap();
        let mut t = cfg.build(TransformContext::detached("l")).unwrap();
        let got = run(
            &mut t,
            &[
                r#"ts=2025-08-20T10:30:45Z level=warn status=503 took=1.5 cached msg="upstream \"a\" slow""#,
            ],
        );
        assert_eq!(got[0]["level"], "warn");
        assert_eq!(got[0]["status"], 503);
        assert_eq!(got[0]["took"], 1.5);
        assert_eq!(got[0]["cached"], true);
        assert_eq!(got[0]["msg"], "upstream \"a\" slow");
    }

    #[test]
    fn kv_with_separators() {
        let cfg: ParseKvConfig =
            toml::from_str("field_separator = \",\"\nvalue_separator = \":\"").unwrap();
        let mut t = cfg.build(TransformContext::detached("k")).unwrap();
        let got = run(&mut t, &["user: alice, action: login", "no pairs here"]);
        assert_eq!(got[0]["user"], "alice");
        assert_eq!(got[0]["action"], "login");
        assert_eq!(got[1], serde_json::json!({"message": "no pairs here"}));
        let bad: ParseKvConfig = toml::from_str("field_separator = \"=\"").unwrap();
        assert_eq!(bad.check()[0].key, "value_separator");
    }
}
