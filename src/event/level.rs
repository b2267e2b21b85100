//! One severity scale for every naming scheme the agent meets: names in any case,
//! pino's numbers 10–60 and syslog's severities 0–7.

use std::fmt;

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

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Level, String> {
        Level::from_text(s.as_bytes()).ok_or_else(|| {
            format!("unknown level {s:?} (expected one of {LEVEL_NAMES}, or 10-60 / 0-7)")
        })
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
