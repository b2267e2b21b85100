//! Conditions on events, shared by `filter`, `route`, `log_to_metric` and
//! `sample`: a TOML table whose keys all have to hold, e.g.
//! `{ field = "status", matches = "^5" }`, `{ min_level = "error" }`,
//! `{ any = [{ field = "service", equals = "api" }, { field = "path", contains = "/auth" }] }`.

use regex::bytes::Regex;
use serde::Deserialize;

use super::filter_level::LevelSpec;
use logagent_core::KeyError;
use logagent_core::event::level::{LEVEL_NAMES, LevelReader};
use logagent_core::event::{Event, FieldPath, Level, Member, access};

/// A condition as written in the config. Every key given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// The field the field tests (`equals`, `matches`, ...) read; a path.
    pub field: Option<String>,
    /// The field's value equals this (strings compare as text, numbers numerically:
    /// `"404"` equals `404`).
    pub equals: Option<serde_json::Value>,
    /// The field is absent or differs from this.
    pub not_equals: Option<serde_json::Value>,
    /// The field's value equals one of these.
    pub one_of: Option<Vec<serde_json::Value>>,
    /// The field's text matches this regex (unanchored; use `^...$` to anchor).
    pub matches: Option<String>,
    /// The field's text contains this.
    pub contains: Option<String>,
    /// The field's text starts with this.
    pub starts_with: Option<String>,
    /// The field is present (true) or absent (false).
    pub exists: Option<bool>,
    /// The field is a number (or numeric text) greater than this.
    pub gt: Option<f64>,
    /// ... greater than or equal to this.
    pub ge: Option<f64>,
    /// ... less than this.
    pub lt: Option<f64>,
    /// ... less than or equal to this.
    pub le: Option<f64>,
    /// The event's level is at least this (`"error"` keeps error, fatal, ...).
    pub min_level: Option<LevelSpec>,
    /// The event's level is at most this.
    pub max_level: Option<LevelSpec>,
    /// Field holding the level for `min_level`/`max_level` (default `level`).
    pub level_field: Option<String>,
    /// Regex finding the level in text lines (`"auto"`: upper-case level words).
    pub level_pattern: Option<String>,
    /// Every one of these holds.
    pub all: Option<Vec<ConditionConfig>>,
    /// At least one of these holds.
    pub any: Option<Vec<ConditionConfig>>,
    /// This does not hold.
    pub not: Option<Box<ConditionConfig>>,
}

/// A literal to compare a field with.
#[derive(Debug, Clone)]
struct Literal {
    text: Vec<u8>,
    number: Option<f64>,
}

impl Literal {
    fn new(v: &serde_json::Value) -> Literal {
        let text = match v {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        Literal {
            number: v.as_f64(),
            text,
        }
    }

    fn matches(&self, text: &[u8]) -> bool {
        if text == self.text.as_slice() {
            return true;
        }
        match (self.number, parse_number(text)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

fn parse_number(text: &[u8]) -> Option<f64> {
    let t = text.trim_ascii();
    if t.is_empty() || t.len() > 64 {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Always true (an empty table).
    True,
    /// Every part holds.
    All(Vec<Condition>),
    /// Some part holds.
    Any(Vec<Condition>),
    /// The part does not hold.
    Not(Box<Condition>),
    /// A test on one field.
    Field(FieldPath, FieldTest),
    /// A test on the level.
    Level {
        /// How the level is found.
        reader: Box<LevelReader>,
        /// Lowest level accepted.
        min: Option<Level>,
        /// Highest level accepted.
        max: Option<Level>,
    },
}

/// What a field is tested for.
#[derive(Debug, Clone)]
pub enum FieldTest {
    /// Present or absent.
    Exists(bool),
    /// Equal to one of these.
    OneOf(Vec<LiteralValue>),
    /// Absent or different.
    NotEquals(LiteralValue),
    /// Matches the regex.
    Matches(Regex),
    /// Contains the bytes.
    Contains(Vec<u8>),
    /// Starts with the bytes.
    StartsWith(Vec<u8>),
    /// Numeric comparison.
    Compare(CmpOp, f64),
}

/// A compiled literal (opaque).
#[derive(Debug, Clone)]
pub struct LiteralValue(Literal);

/// A numeric comparison (opaque).
#[derive(Debug, Clone, Copy)]
pub struct CmpOp(Cmp);

impl ConditionConfig {
    /// Compiles the condition; errors name keys relative to `prefix`.
    pub fn build(&self, prefix: &str) -> Result<Condition, Vec<KeyError>> {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_owned()
            } else {
                format!("{prefix}.{k}")
            }
        };
        let mut errors = Vec::new();
        let mut parts = Vec::new();
        let field = match &self.field {
            Some(f) => match FieldPath::parse(f) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(KeyError::new(key("field"), e.to_string()));
                    None
                }
            },
            None => None,
        };
        let mut tests: Vec<(&str, FieldTest)> = Vec::new();
        if let Some(v) = &self.equals {
            tests.push((
                "equals",
                FieldTest::OneOf(vec![LiteralValue(Literal::new(v))]),
            ));
        }
        if let Some(v) = &self.not_equals {
            tests.push((
                "not_equals",
                FieldTest::NotEquals(LiteralValue(Literal::new(v))),
            ));
        }
        if let Some(vs) = &self.one_of {
            tests.push((
                "one_of",
                FieldTest::OneOf(vs.iter().map(|v| LiteralValue(Literal::new(v))).collect()),
            ));
        }
        if let Some(p) = &self.matches {
            match Regex::new(p) {
                Ok(re) => tests.push(("matches", FieldTest::Matches(re))),
                Err(e) => errors.push(KeyError::new(
                    key("matches"),
                    format!(
                        "invalid regular expression: {}",
                        e.to_string()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )),
            }
        }
        if let Some(s) = &self.contains {
            tests.push(("contains", FieldTest::Contains(s.clone().into_bytes())));
        }
        if let Some(s) = &self.starts_with {
            tests.push(("starts_with", FieldTest::StartsWith(s.clone().into_bytes())));
        }
        if let Some(b) = self.exists {
            tests.push(("exists", FieldTest::Exists(b)));
        }
        for (name, v, op) in [
            ("gt", self.gt, Cmp::Gt),
            ("ge", self.ge, Cmp::Ge),
            ("lt", self.lt, Cmp::Lt),
            ("le", self.le, Cmp::Le),
        ] {
            if let Some(v) = v {
                tests.push((name, FieldTest::Compare(CmpOp(op), v)));
            }
        }
        let tested = !tests.is_empty() || self.matches.is_some();
        match (&field, !tested) {
            (Some(f), false) => {
                for (_, t) in tests {
                    parts.push(Condition::Field(f.clone(), t));
                }
            }
            (None, false) => {
                if self.field.is_none() {
                    errors.push(KeyError::new(
                        key(tests.first().map_or("matches", |t| t.0)),
                        "needs `field` (the field to test)",
                    ));
                }
            }
            (Some(_), true) => errors.push(KeyError::new(
                key("field"),
                "names a field but no test (add equals, one_of, matches, contains, starts_with, exists, gt/ge/lt/le)",
            )),
            (None, true) => {}
        }
        if self.min_level.is_some()
            || self.max_level.is_some()
            || self.level_field.is_some()
            || self.level_pattern.is_some()
        {
            let mut resolve = |name: &str, spec: &Option<LevelSpec>| match spec {
                Some(s) => {
                    match s.resolve() {
                        Some(l) => Some(l),
                        None => {
                            errors.push(KeyError::new(
                            key(name),
                            format!("unknown level {s} (expected one of {LEVEL_NAMES}, or 10-60 / 0-7)"),
                        ));
                            None
                        }
                    }
                }
                None => None,
            };
            let min = resolve("min_level", &self.min_level);
            let max = resolve("max_level", &self.max_level);
            if self.min_level.is_none() && self.max_level.is_none() {
                errors.push(KeyError::new(
                    key("level_field"),
                    "is set but neither min_level nor max_level is",
                ));
            }
            match LevelReader::new(
                self.level_field.as_deref().unwrap_or("level"),
                self.level_pattern.as_deref(),
            ) {
                Ok(reader) => parts.push(Condition::Level {
                    reader: Box::new(reader),
                    min,
                    max,
                }),
                Err((k, m)) => errors.push(KeyError::new(
                    key(if k == "field" {
                        "level_field"
                    } else {
                        "level_pattern"
                    }),
                    m,
                )),
            }
        }
        for (name, list, any) in [("all", &self.all, false), ("any", &self.any, true)] {
            if let Some(list) = list {
                let mut sub = Vec::new();
                for (i, c) in list.iter().enumerate() {
                    match c.build(&key(&format!("{name}[{i}]"))) {
                        Ok(c) => sub.push(c),
                        Err(e) => errors.extend(e),
                    }
                }
                parts.push(if any {
                    Condition::Any(sub)
                } else {
                    Condition::All(sub)
                });
            }
        }
        if let Some(not) = &self.not {
            match not.build(&key("not")) {
                Ok(c) => parts.push(Condition::Not(Box::new(c))),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(match parts.len() {
            0 => Condition::True,
            1 => parts.pop().unwrap_or(Condition::True),
            _ => Condition::All(parts),
        })
    }
}

impl Condition {
    /// True when the condition holds for the event.
    pub fn eval(&self, event: &Event, members: &[Member]) -> bool {
        match self {
            Condition::True => true,
            Condition::All(parts) => parts.iter().all(|c| c.eval(event, members)),
            Condition::Any(parts) => parts.iter().any(|c| c.eval(event, members)),
            Condition::Not(c) => !c.eval(event, members),
            Condition::Level { reader, min, max } => {
                let Some(level) = event.meta.level.or_else(|| reader.read(event, members)) else {
                    return false;
                };
                min.is_none_or(|m| level >= m) && max.is_none_or(|m| level <= m)
            }
            Condition::Field(path, test) => {
                let value = access::get(event, members, path);
                match test {
                    FieldTest::Exists(want) => value.is_some() == *want,
                    FieldTest::NotEquals(lit) => value.is_none_or(|v| !lit.0.matches(&v.text())),
                    _ => {
                        let Some(v) = value else {
                            return false;
                        };
                        let text = v.text();
                        match test {
                            FieldTest::OneOf(lits) => lits.iter().any(|l| l.0.matches(&text)),
                            FieldTest::Matches(re) => re.is_match(&text),
                            FieldTest::Contains(needle) => {
                                memchr::memmem::find(&text, needle).is_some()
                            }
                            FieldTest::StartsWith(prefix) => text.starts_with(prefix),
                            FieldTest::Compare(CmpOp(op), bound) => match parse_number(&text) {
                                Some(n) => match op {
                                    Cmp::Gt => n > *bound,
                                    Cmp::Ge => n >= *bound,
                                    Cmp::Lt => n < *bound,
                                    Cmp::Le => n <= *bound,
                                },
                                None => false,
                            },
                            FieldTest::Exists(_) | FieldTest::NotEquals(_) => false,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::Bytes;
    use logagent_core::event::json;
    use logagent_core::event::{Root, Span};

    /// A parsed JSON event (or a text one) and its arena, for tests.
    pub(crate) fn event(line: &str) -> (Event, Vec<Member>) {
        let line = Bytes::copy_from_slice(line.as_bytes());
        let mut members = Vec::new();
        let mut ev = Event::new(line.clone(), 0);
        if let Ok(object) = json::scan_object(&line, 16, &mut members) {
            ev.root = Root::Json {
                object,
                members: Span::new(0, members.len()),
            };
        }
        (ev, members)
    }

    fn holds(cond: &str, line: &str) -> bool {
        let cfg: ConditionConfig = toml::from_str(cond).unwrap();
        let c = cfg.build("").unwrap();
        let (ev, m) = event(line);
        c.eval(&ev, &m)
    }

    #[test]
    fn field_tests() {
        let l = r#"{"status":"404","service":"api","duration":250,"req":{"path":"/auth/login"}}"#;
        assert!(holds("field = \"status\"\nequals = 404", l));
        assert!(holds("field = \"status\"\nequals = \"404\"", l));
        assert!(!holds("field = \"status\"\nequals = 500", l));
        assert!(holds("field = \"service\"\none_of = [\"web\", \"api\"]", l));
        assert!(holds("field = \"status\"\nmatches = \"^4\"", l));
        assert!(holds("field = \"req.path\"\nstarts_with = \"/auth\"", l));
        assert!(holds("field = \"req.path\"\ncontains = \"login\"", l));
        assert!(holds("field = \"duration\"\ngt = 200\nle = 250", l));
        assert!(!holds("field = \"duration\"\nlt = 200", l));
        assert!(holds("field = \"nope\"\nexists = false", l));
        assert!(holds("field = \"nope\"\nnot_equals = 1", l));
        assert!(!holds("field = \"nope\"\nequals = 1", l));
    }

    #[test]
    fn levels_and_combinators() {
        assert!(holds("min_level = \"error\"", r#"{"level":50}"#));
        assert!(!holds("min_level = \"error\"", r#"{"level":"warn"}"#));
        assert!(holds("max_level = \"info\"", r#"{"level":"debug"}"#));
        assert!(holds(
            "min_level = \"error\"\nlevel_pattern = \"auto\"",
            "2025-08-20 10:00:00 FATAL boom"
        ));
        assert!(holds(
            "any = [{ field = \"a\", equals = 1 }, { field = \"b\", equals = 2 }]",
            r#"{"b":2}"#
        ));
        assert!(!holds(
            "all = [{ field = \"a\", equals = 1 }, { field = \"b\", equals = 2 }]",
            r#"{"b":2}"#
        ));
        assert!(holds(
            "not = { field = \"a\", exists = true }",
            r#"{"b":2}"#
        ));
        assert!(holds("", r#"{"b":2}"#), "an empty condition holds");
    }

    #[test]
    fn reports_bad_conditions_by_key() {
        let bad = |s: &str| -> Vec<String> {
            let cfg: ConditionConfig = toml::from_str(s).unwrap();
            cfg.build("routes.x")
                .unwrap_err()
                .into_iter()
                .map(|e| e.key)
                .collect()
        };
        assert_eq!(bad("equals = 1"), ["routes.x.equals"]);
        assert_eq!(bad("field = \"a\""), ["routes.x.field"]);
        assert_eq!(bad("field = \"a\"\nmatches = \"(\""), ["routes.x.matches"]);
        assert_eq!(bad("min_level = \"loud\""), ["routes.x.min_level"]);
        assert_eq!(
            bad("any = [{ field = \"a..b\", exists = true }]"),
            ["routes.x.any[0].field"]
        );
    }
}
