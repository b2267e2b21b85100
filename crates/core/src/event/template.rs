//! Templates such as `out/{{ service }}-%Y-%m-%d.ndjson`: field references in
//! double braces and strftime fields taken from the event time.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};

use super::access::get;
use super::{Event, FieldPath, Member};

/// What a template renders a missing field as, so one odd event does not stop
/// the pipeline (the file sink counts these).
pub const MISSING_FIELD: &str = "unknown";

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    Field(FieldPath, Option<Filter>),
    Time(Vec<Item<'static>>),
}

/// A transformation of a field value: `{{ status | status_class }}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filter {
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
    /// An HTTP status as its class: `404` → `4xx`.
    StatusClass,
    /// A level in any notation as its canonical name: `50` → `error`.
    Level,
}

/// The filters templates know, for error messages.
pub const FILTER_NAMES: &str = "lower, upper, status_class, level";

impl Filter {
    fn parse(name: &str) -> Option<Filter> {
        Some(match name {
            "lower" => Filter::Lower,
            "upper" => Filter::Upper,
            "status_class" => Filter::StatusClass,
            "level" => Filter::Level,
            _ => return None,
        })
    }

    fn apply(self, s: &str, out: &mut String) {
        match self {
            Filter::Lower => out.extend(s.chars().flat_map(char::to_lowercase)),
            Filter::Upper => out.extend(s.chars().flat_map(char::to_uppercase)),
            Filter::StatusClass => match s.trim().as_bytes() {
                [d @ b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => {
                    out.push(char::from(*d));
                    out.push_str("xx");
                }
                _ => out.push_str(MISSING_FIELD),
            },
            Filter::Level => match super::Level::from_text(s.as_bytes()) {
                Some(l) => out.push_str(l.name()),
                None => out.push_str(MISSING_FIELD),
            },
        }
    }
}

/// A parsed template, ready to render per event.
#[derive(Clone, Debug)]
pub struct Template {
    parts: Vec<Part>,
    text: String,
    sanitize_paths: bool,
}

/// Why a template string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without a matching `}}`.
    #[error("unclosed '{{{{' in template {0:?}")]
    Unclosed(String),
    /// The field reference is not a valid path.
    #[error("bad field reference in template {template:?}: {error}")]
    BadField {
        /// The template text.
        template: String,
        /// What is wrong with the path.
        error: String,
    },
    /// `{{ field | name }}` with a filter that does not exist.
    #[error("unknown filter {filter:?} in template {template:?} (expected one of {FILTER_NAMES})")]
    BadFilter {
        /// The template text.
        template: String,
        /// The filter name.
        filter: String,
    },
    /// A `%` specifier chrono does not know.
    #[error("bad strftime specifier in template {0:?} (see chrono's strftime documentation)")]
    BadTime(String),
}

impl Template {
    /// Parses a template. With `sanitize_paths`, rendered field values cannot add
    /// path components (`/` and `..` are replaced), so log content cannot steer a
    /// file sink outside its directory.
    pub fn parse(text: &str, sanitize_paths: bool) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(open) = rest.find("{{") {
                push_literal(&mut parts, &rest[..open], text)?;
                let after = &rest[open + 2..];
                let close = after
                    .find("}}")
                    .ok_or_else(|| TemplateError::Unclosed(text.to_owned()))?;
                let inner = &after[..close];
                let (field, filter) = match inner.split_once('|') {
                    Some((f, name)) => {
                        let filter =
                            Filter::parse(name.trim()).ok_or_else(|| TemplateError::BadFilter {
                                template: text.to_owned(),
                                filter: name.trim().to_owned(),
                            })?;
                        (f, Some(filter))
                    }
                    None => (inner, None),
                };
                let path = FieldPath::parse(field.trim()).map_err(|e| TemplateError::BadField {
                    template: text.to_owned(),
                    error: e.to_string(),
                })?;
                parts.push(Part::Field(path, filter));
                rest = &after[close + 2..];
            } else {
                push_literal(&mut parts, rest, text)?;
                break;
            }
        }
        Ok(Template {
            parts,
            text: text.to_owned(),
            sanitize_paths,
        })
    }

    /// True when rendering depends on the event (fields or time).
    pub fn is_dynamic(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Literal(_)))
    }

    /// True when the rendering depends on nothing but the event time's whole
    /// second (no field references, no sub-second specifier): a caller may
    /// then keep the last rendering while events share a second, instead of
    /// formatting a date per event.
    pub fn depends_on_second_only(&self) -> bool {
        use chrono::format::{Fixed, Numeric};
        self.parts.iter().all(|p| match p {
            Part::Literal(_) => true,
            Part::Field(..) => false,
            Part::Time(items) => items.iter().all(|i| {
                !matches!(
                    i,
                    Item::Numeric(Numeric::Nanosecond, _)
                        | Item::Fixed(
                            Fixed::Nanosecond
                                | Fixed::Nanosecond3
                                | Fixed::Nanosecond6
                                | Fixed::Nanosecond9
                                | Fixed::Internal(_)
                        )
                )
            }),
        })
    }

    /// True when the template uses the event time.
    pub fn uses_time(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Time(_)))
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Renders for `event`, using `now` when the event has no time. Returns the
    /// rendered string and whether some field was missing.
    pub fn render(&self, event: &Event, arena: &[Member], now_ns: i64, out: &mut String) -> bool {
        use std::fmt::Write as _;
        let mut missing = false;
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Field(path, filter) => match get(event, arena, path) {
                    Some(v) => {
                        let text = v.text();
                        let s = String::from_utf8_lossy(&text);
                        let filtered;
                        let s: &str = match filter {
                            Some(f) => {
                                let mut buf = String::with_capacity(s.len());
                                f.apply(&s, &mut buf);
                                filtered = buf;
                                &filtered
                            }
                            None => &s,
                        };
                        if self.sanitize_paths {
                            out.push_str(&sanitize_component(s));
                        } else {
                            out.push_str(s);
                        }
                    }
                    None => {
                        missing = true;
                        out.push_str(MISSING_FIELD);
                    }
                },
                Part::Time(items) => {
                    let ns = event.meta.time.unwrap_or(now_ns);
                    let t: DateTime<Utc> = DateTime::from_timestamp_nanos(ns);
                    let _ = write!(out, "{}", t.format_with_items(items.iter()));
                }
            }
        }
        missing
    }
}

fn push_literal(parts: &mut Vec<Part>, s: &str, template: &str) -> Result<(), TemplateError> {
    if s.is_empty() {
        return Ok(());
    }
    if !s.contains('%') {
        parts.push(Part::Literal(s.to_owned()));
        return Ok(());
    }
    let items: Vec<Item<'static>> = StrftimeItems::new(s)
        .map(|item| match item {
            Item::Literal(l) => Item::OwnedLiteral(l.into()),
            Item::Space(l) => Item::OwnedSpace(l.into()),
            other => other.to_owned(),
        })
        .collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(TemplateError::BadTime(template.to_owned()));
    }
    parts.push(Part::Time(items));
    Ok(())
}

/// Makes a field value safe to use as (part of) one path component.
fn sanitize_component(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        cleaned.replace('.', "_") + if cleaned.is_empty() { "_" } else { "" }
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Root;
    use bytes::Bytes;

    fn json_event(line: &str) -> (Event, Vec<Member>) {
        let mut members = Vec::new();
        let line = Bytes::from(line.to_owned());
        let object = crate::event::json::scan_object(&line, 32, &mut members).unwrap();
        let mut ev = Event::new(line, 0);
        ev.root = Root::Json {
            object,
            members: crate::event::Span::new(0, members.len()),
        };
        (ev, members)
    }

    #[test]
    fn renders_fields_and_time() {
        let t = Template::parse("out/{{ service }}-%Y-%m-%d.ndjson", true).unwrap();
        let (mut ev, m) = json_event(r#"{"service":"api"}"#);
        ev.meta.time = Some(1_755_685_845_123_000_000);
        let mut s = String::new();
        assert!(!t.render(&ev, &m, 0, &mut s));
        assert_eq!(s, "out/api-2025-08-20.ndjson");
    }

    #[test]
    fn only_time_templates_without_sub_second_specifiers_depend_on_the_second_alone() {
        for (text, only) in [
            ("logs-%Y.%m.%d", true),
            ("logs-%Y.%m.%d-%H:%M:%S", true),
            ("static", true),
            ("logs-{{ service }}-%Y", false),
            ("logs-%Y-%f", false),
            ("logs-%S%.3f", false),
        ] {
            let t = Template::parse(text, false).unwrap();
            assert_eq!(t.depends_on_second_only(), only, "{text}");
        }
    }

    #[test]
    fn field_values_cannot_escape_the_directory() {
        let t = Template::parse("out/{{ service }}.log", true).unwrap();
        for (value, expected) in [
            ("../../etc/passwd", "out/.._.._etc_passwd.log"),
            ("..", "out/__.log"),
        ] {
            let (ev, m) = json_event(&format!(r#"{{"service":"{value}"}}"#));
            let mut s = String::new();
            t.render(&ev, &m, 0, &mut s);
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn missing_field_is_reported() {
        let t = Template::parse("{{ nope }}", false).unwrap();
        let (ev, m) = json_event(r#"{"a":1}"#);
        let mut s = String::new();
        assert!(t.render(&ev, &m, 0, &mut s));
        assert_eq!(s, MISSING_FIELD);
    }

    #[test]
    fn filters() {
        let t = Template::parse(
            "{{ status | status_class }}/{{ level|level }}/{{ svc | upper }}",
            false,
        )
        .unwrap();
        let (ev, m) = json_event(r#"{"status":404,"level":50,"svc":"api"}"#);
        let mut s = String::new();
        t.render(&ev, &m, 0, &mut s);
        assert_eq!(s, "4xx/error/API");
        assert!(matches!(
            Template::parse("{{ a | nope }}", false),
            Err(TemplateError::BadFilter { .. })
        ));
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(Template::parse("a/{{ x", false).is_err());
        assert!(Template::parse("%Q-%", false).is_err());
    }
}
