//! One severity scale for every naming scheme the agent meets: names in any case,
//! pino's numbers 10–60 and syslog's severities 0–7 — and [`LevelReader`], the
//! one way `filter_level`, `route`, `sample` and sinks find an event's level (a
//! field, or a pattern over unstructured lines).

use std::fmt;

use regex::bytes::Regex;

use super::{Event, FieldPath, MESSAGE_KEY, Member, Root, access};

/// The pattern `level_pattern = "auto"` stands for: an upper-case level word, as
/// in `2025-08-20 10:30:45 ERROR ...` or nginx's `[error]`.
pub const AUTO_LEVEL_PATTERN: &str = r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|ALERT|EMERG|PANIC)\b|\[(debug|info|notice|warn|error|crit|alert|emerg)\]";

/// Finds an event's level: the value of a field (default `level`); for text
/// lines, or JSON lines without that field, the first match of an optional
/// pattern on the message (its first matching capture group, or the whole match).
#[derive(Debug, Clone)]
pub struct LevelReader {
    field: FieldPath,
    pattern: Option<Regex>,
    message: [FieldPath; 2],
}

fn message_paths() -> [FieldPath; 2] {
    [FieldPath::top(MESSAGE_KEY), FieldPath::top("msg")]
}

impl LevelReader {
    /// A reader of `field` (a path) with an optional pattern (`"auto"` for
    /// [`AUTO_LEVEL_PATTERN`]). Errors name what is wrong, for the caller's key.
    pub fn new(field: &str, pattern: Option<&str>) -> Result<LevelReader, (&'static str, String)> {
        let field = FieldPath::parse(field).map_err(|e| ("field", e.to_string()))?;
        let pattern = match pattern {
            None => None,
            Some(p) => {
                let p = if p == "auto" { AUTO_LEVEL_PATTERN } else { p };
                Some(Regex::new(p).map_err(|e| {
                    (
                        "pattern",
                        format!(
                            "invalid regular expression: {}",
                            e.to_string()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    )
                })?)
            }
        };
        Ok(LevelReader {
            field,
            pattern,
            message: message_paths(),
        })
    }

    /// The `level` field, no pattern.
    pub fn standard() -> LevelReader {
        LevelReader {
            field: FieldPath::top("level"),
            pattern: None,
            message: message_paths(),
        }
    }

    /// The event's level, computed without caching.
    pub fn read(&self, event: &Event, members: &[Member]) -> Option<Level> {
        if let Some(v) = access::get(event, members, &self.field)
            && let Some(level) = Level::from_text(&v.text())
        {
            return Some(level);
        }
        let re = self.pattern.as_ref()?;
        let [message, msg] = &self.message;
        let text = match event.root {
            Root::Text => access::get(event, members, message)?,
            Root::Json { .. } => {
                access::get(event, members, message).or_else(|| access::get(event, members, msg))?
            }
        };
        let text = text.text();
        let caps = re.captures(&text)?;
        let m = caps
            .iter()
            .skip(1)
            .flatten()
            .next()
            .or_else(|| caps.get(0))?;
        Level::from_text(m.as_bytes())
    }

    /// The event's level, cached in `meta.level` by the first stage that asks.
    pub fn read_cached(&self, event: &mut Event, members: &[Member]) -> Option<Level> {
        if event.meta.level.is_none() {
            event.meta.level = self.read(event, members);
        }
        event.meta.level
    }
}

/// A normalized severity, ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `trace`, pino 10.
    Trace,
    /// `debug`, pino 20, syslog 7.
    Debug,
    /// `info`, pino 30, syslog 6.
    Info,
    /// `notice`, syslog 5.
    Notice,
    /// `warn`/`warning`, pino 40, syslog 4.
    Warn,
    /// `error`/`err`, pino 50, syslog 3.
    Error,
    /// `fatal`/`critical`/`crit`, pino 60, syslog 2.
    Critical,
    /// `alert`, syslog 1.
    Alert,
    /// `emerg`/`emergency`/`panic`, syslog 0.
    Emergency,
}

/// The names accepted for each level, for help texts and error messages.
pub const LEVEL_NAMES: &str = "trace, debug, info, notice, warn, error, fatal, alert, emergency";

impl Level {
    /// Parses a level name in any case (`WARN`, `Warning`, `err`, `FATAL`, ...).
    pub fn from_name(name: &[u8]) -> Option<Level> {
        if name.len() > 13 {
            return None;
        }
        let mut buf = [0u8; 13];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"trace" | b"verbose" => Level::Trace,
            b"debug" | b"dbg" => Level::Debug,
            b"info" | b"information" | b"informational" => Level::Info,
            b"notice" => Level::Notice,
            b"warn" | b"warning" => Level::Warn,
            b"error" | b"err" => Level::Error,
            b"fatal" | b"critical" | b"crit" => Level::Critical,
            b"alert" => Level::Alert,
            b"emerg" | b"emergency" | b"panic" => Level::Emergency,
            _ => return None,
        })
    }

    /// Maps a numeric level: pino's 10–60 (values in between round down) and
    /// syslog's 0–7.
    pub fn from_number(n: i64) -> Option<Level> {
        Some(match n {
            0 => Level::Emergency,
            1 => Level::Alert,
            2 => Level::Critical,
            3 => Level::Error,
            4 => Level::Warn,
            5 => Level::Notice,
            6 => Level::Info,
            7 => Level::Debug,
            10..=19 => Level::Trace,
            20..=29 => Level::Debug,
            30..=39 => Level::Info,
            40..=49 => Level::Warn,
            50..=59 => Level::Error,
            60..=69 => Level::Critical,
            _ => return None,
        })
    }

    /// Normalizes a field value: a name, a number, or a number written as a string.
    pub fn from_text(text: &[u8]) -> Option<Level> {
        let trimmed = text.trim_ascii();
        if !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit) {
            let n = std::str::from_utf8(trimmed).ok()?.parse::<i64>().ok()?;
            return Level::from_number(n);
        }
        Level::from_name(trimmed)
    }

    /// The canonical lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "fatal",
            Level::Alert => "alert",
            Level::Emergency => "emergency",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A level name or number that is none of ours (the text, for the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?} (expected one of {LEVEL_NAMES}, or 10-60 / 0-7)")]
pub struct UnknownLevel(pub String);

impl std::str::FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Level, UnknownLevel> {
        Level::from_text(s.as_bytes()).ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_case() {
        for (name, level) in [
            ("TRACE", Level::Trace),
            ("Debug", Level::Debug),
            ("info", Level::Info),
            ("notice", Level::Notice),
            ("WARN", Level::Warn),
            ("warning", Level::Warn),
            ("Error", Level::Error),
            ("err", Level::Error),
            ("FATAL", Level::Critical),
            ("critical", Level::Critical),
            ("crit", Level::Critical),
            ("alert", Level::Alert),
            ("emerg", Level::Emergency),
        ] {
            assert_eq!(Level::from_text(name.as_bytes()), Some(level), "{name}");
        }
        assert_eq!(Level::from_text(b"verbose-ish"), None);
        assert_eq!(Level::from_text(b"a-very-long-unknown-level"), None);
    }

    #[test]
    fn reader_uses_the_field_then_the_pattern() {
        use crate::event::Span;
        use crate::event::json;
        use bytes::Bytes;
        let r = LevelReader::new("severity", Some("auto")).unwrap();
        let text = Event::new(Bytes::from_static(b"2025-08-20 10:30:45 ERROR db down"), 0);
        assert_eq!(r.read(&text, &[]), Some(Level::Error));
        let nginx = Event::new(
            Bytes::from_static(b"2025/08/20 10:30:45 [warn] 12#12: *1 upstream slow"),
            0,
        );
        assert_eq!(r.read(&nginx, &[]), Some(Level::Warn));
        let plain = Event::new(Bytes::from_static(b"an error happened"), 0);
        assert_eq!(r.read(&plain, &[]), None, "lower-case prose is not a level");
        let line = Bytes::from_static(br#"{"severity":"crit","message":"x"}"#);
        let mut members = Vec::new();
        let object = json::scan_object(&line, 8, &mut members).unwrap();
        let mut ev = Event::new(line, 0);
        ev.root = Root::Json {
            object,
            members: Span::new(0, members.len()),
        };
        assert_eq!(r.read_cached(&mut ev, &members), Some(Level::Critical));
        assert_eq!(ev.meta.level, Some(Level::Critical));
        let custom = LevelReader::new("level", Some(r"^\S+ (?P<l>[A-Z]+):")).unwrap();
        let ev = Event::new(Bytes::from_static(b"app FATAL: out of memory"), 0);
        assert_eq!(custom.read(&ev, &[]), Some(Level::Critical));
        assert!(LevelReader::new("level", Some("(")).is_err());
    }

    #[test]
    fn pino_and_syslog_numbers() {
        assert_eq!(Level::from_text(b"10"), Some(Level::Trace));
        assert_eq!(Level::from_text(b"30"), Some(Level::Info));
        assert_eq!(Level::from_text(b"60"), Some(Level::Critical));
        assert_eq!(Level::from_text(b"3"), Some(Level::Error));
        assert_eq!(Level::from_text(b"7"), Some(Level::Debug));
        assert_eq!(Level::from_text(b"99"), None);
        assert!(Level::Trace < Level::Debug && Level::Warn < Level::Error);
    }
}
