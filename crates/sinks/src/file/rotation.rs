//! The file sink's own rotation, retention and level split: options, and the
//! names of rotated files (`app.ndjson` → `app.ndjson.20261123T101500Z.gz`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use logagent_core::event::Level;
use logagent_core::event::level::LEVEL_NAMES;
use logagent_core::{ByteSize, HumanDuration, KeyError};
use logagent_retention::dates::Zone;
use logagent_retention::policy::Policy;

/// `[sinks.ID.rotate]`: when a written file is closed, renamed and compressed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateOptions {
    /// Rotate a file once it reaches this size (checked per event, so it ends at
    /// most one event larger).
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// Rotate when this period ends. Periods are aligned to the Unix epoch, in
    /// UTC: `"1h"` rotates on the hour, `"1d"` at midnight UTC.
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// Gzip rotated files, in the background (default true).
    #[serde(default = "yes")]
    pub compress: bool,
    /// Gzip level 1 (fast) to 9 (small) (default 6).
    #[serde(default = "default_level")]
    pub compress_level: u32,
}

fn yes() -> bool {
    true
}
fn default_level() -> u32 {
    6
}
fn default_check() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_field() -> String {
    "level".to_owned()
}

impl RotateOptions {
    /// Every problem, keys prefixed with `rotate.`.
    pub fn check(&self) -> Vec<KeyError> {
        let mut e = Vec::new();
        if self.max_size.is_none() && self.interval.is_none() {
            e.push(KeyError::new(
                "rotate",
                "set `max_size`, `interval` or both",
            ));
        }
        if self.max_size.is_some_and(|s| s.0 == 0) {
            e.push(KeyError::new(
                "rotate.max_size",
                "must be greater than zero",
            ));
        }
        if self.interval.is_some_and(|i| i.0 < Duration::from_secs(1)) {
            e.push(KeyError::new("rotate.interval", "must be at least 1s"));
        }
        if !(1..=9).contains(&self.compress_level) {
            e.push(KeyError::new(
                "rotate.compress_level",
                "must be between 1 (fast) and 9 (small)",
            ));
        }
        e
    }

    /// The period `t` falls in (`None` without an interval).
    pub fn period(&self, t: SystemTime) -> Option<u64> {
        let secs = self.interval?.0.as_secs().max(1);
        Some(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                / secs,
        )
    }
}

/// `[sinks.ID.retain]`: which of the sink's closed files are deleted — the same
/// policy code as `logagent retain` (count, age, total size).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetainOptions {
    /// Keep at most this many closed files (rotated, or dated and no longer written).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Delete closed files older than this (by the date in the name, else mtime).
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// Delete the oldest closed files until the rest fit in this size.
    #[serde(default)]
    pub max_total_size: Option<ByteSize>,
    /// How often retention runs besides after each rotation (default 1m).
    #[serde(default = "default_check")]
    pub check_interval: HumanDuration,
}

impl RetainOptions {
    /// Every problem, keys prefixed with `prefix`.
    pub fn check(&self, prefix: &str) -> Vec<KeyError> {
        let mut e = Vec::new();
        if self.max_files.is_none() && self.max_age.is_none() && self.max_total_size.is_none() {
            e.push(KeyError::new(
                prefix,
                "set `max_files`, `max_age` or `max_total_size`",
            ));
        }
        if self.check_interval.0.is_zero() {
            e.push(KeyError::new(
                format!("{prefix}.check_interval"),
                "must be greater than zero",
            ));
        }
        e
    }

    /// As a retention policy (UTC, like the sink's templates).
    pub fn policy(&self) -> Policy {
        Policy {
            max_age: self.max_age.map(|d| d.0),
            keep_last: self.max_files,
            max_total_size: self.max_total_size.map(|s| s.0),
            gfs: None,
            zone: Zone::Utc,
        }
    }
}

/// A level as written in the config: a name or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LevelValue {
    /// `"warn"`, `"40"`.
    Name(String),
    /// `40` (pino) or `4` (syslog).
    Number(i64),
}

impl LevelValue {
    /// The normalized level.
    pub fn resolve(&self) -> Option<Level> {
        match self {
            LevelValue::Name(n) => Level::from_text(n.as_bytes()),
            LevelValue::Number(n) => Level::from_number(*n),
        }
    }
}

/// `[sinks.ID.levels]`: events below `min_level` go to other files
/// (`below_path`) with their own, usually shorter, retention — the seeds' "delete
/// rows older than 90 days with level < 40" without rewriting any file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelSplit {
    /// Events at or above this level (and events without a recognizable level)
    /// go to `path`; the others to `below_path`.
    pub min_level: LevelValue,
    /// The field holding the level (default `level`).
    #[serde(default = "default_field")]
    pub field: String,
    /// Path template for the events below `min_level`.
    pub below_path: String,
    /// Retention for the `below_path` files.
    #[serde(default)]
    pub below_retain: Option<RetainOptions>,
}

impl LevelSplit {
    /// Every problem, keys prefixed with `levels.`.
    pub fn check(&self, main_path: &str) -> Vec<KeyError> {
        let mut e = Vec::new();
        if self.min_level.resolve().is_none() {
            e.push(KeyError::new(
                "levels.min_level",
                format!("unknown level (expected one of {LEVEL_NAMES}, or 10-60 / 0-7)"),
            ));
        }
        if let Err(err) = logagent_core::event::FieldPath::parse(&self.field) {
            e.push(KeyError::new("levels.field", err.to_string()));
        }
        if let Err(err) = logagent_core::event::template::Template::parse(&self.below_path, true) {
            e.push(KeyError::new("levels.below_path", err.to_string()));
        }
        if self.below_path == main_path {
            e.push(KeyError::new(
                "levels.below_path",
                "must differ from `path` (it holds the other events)",
            ));
        }
        if let Some(r) = &self.below_retain {
            e.extend(r.check("levels.below_retain"));
        }
        e
    }
}

/// `20261123T101500.123Z`: when a file was rotated (UTC, milliseconds), sortable.
pub fn stamp(t: SystemTime) -> String {
    let t: DateTime<Utc> = t.into();
    t.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// The name `active` gets when rotated at `now`: `ACTIVE.STAMP`, with `-0001`,
/// `-0002`… added when a file (or its `.gz`) of that name exists (several
/// rotations in one millisecond), so names still sort in rotation order.
pub fn rotated_name(active: &Path, now: SystemTime) -> PathBuf {
    let base = format!("{}.{}", active.display(), stamp(now));
    let free = |p: &Path| {
        std::fs::symlink_metadata(p).is_err()
            && std::fs::symlink_metadata(logagent_retention::compress::gz_name(p)).is_err()
    };
    let first = PathBuf::from(&base);
    if free(&first) {
        return first;
    }
    (1u32..)
        .map(|n| PathBuf::from(format!("{base}-{n:04}")))
        .find(|p| free(p))
        .unwrap_or(first)
}

/// Whether `name` ends like a rotated file (`.STAMP[-N][.gz]`).
pub fn is_rotated_name(name: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\.\d{8}T\d{6}(\.\d{3})?Z(-\d+)?(\.gz)?$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(name))
}

/// A glob matching every path a template can render: `{{ field }}` and strftime
/// fields become `*`, the rest is matched literally.
pub fn template_glob(template: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = template;
    let flush = |literal: &mut String, out: &mut String| {
        out.push_str(&glob::Pattern::escape(literal));
        literal.clear();
    };
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{")
            && let Some(end) = rest.find("}}")
        {
            flush(&mut literal, &mut out);
            if !out.ends_with('*') {
                out.push('*');
            }
            rest = &rest[end + 2..];
            continue;
        }
        if c == '%' {
            let mut chars = rest.chars();
            chars.next();
            match chars.next() {
                Some('%') => {
                    literal.push('%');
                    rest = &rest[2..];
                }
                Some(spec) => {
                    flush(&mut literal, &mut out);
                    if !out.ends_with('*') {
                        out.push('*');
                    }
                    rest = &rest[1 + spec.len_utf8()..];
                }
                None => {
                    literal.push('%');
                    rest = &rest[1..];
                }
            }
            continue;
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut literal, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_from_templates() {
        assert_eq!(
            template_glob("out/{{ service }}-%Y-%m-%d.ndjson"),
            "out/*-*-*-*.ndjson"
        );
        assert_eq!(template_glob("out/app.ndjson"), "out/app.ndjson");
        assert_eq!(
            template_glob("out/[x]%%-{{a}}{{b}}.log"),
            "out/[[]x[]]%-*.log"
        );
        let g = glob::Pattern::new(&template_glob("out/{{ service }}-%Y-%m-%d.ndjson")).unwrap();
        assert!(g.matches("out/api-2026-11-23.ndjson"));
        assert!(!g.matches("out/api.ndjson"));
    }

    #[test]
    fn rotated_names_are_unique_and_recognised() {
        let d = tempfile::tempdir().unwrap();
        let active = d.path().join("app.ndjson");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_428_900);
        let first = rotated_name(&active, t);
        assert_eq!(
            first.file_name().unwrap().to_string_lossy(),
            "app.ndjson.20261123T101500.000Z"
        );
        std::fs::write(logagent_retention::compress::gz_name(&first), "").unwrap();
        let second = rotated_name(&active, t);
        assert_eq!(
            second.file_name().unwrap().to_string_lossy(),
            "app.ndjson.20261123T101500.000Z-0001"
        );
        assert!(is_rotated_name("app.ndjson.20261123T101500.000Z-0001"));
        assert!(is_rotated_name("app.ndjson.20261123T101500Z.gz"));
        assert!(!is_rotated_name("app.ndjson"));
        assert!(!is_rotated_name("app-2026-11-23.ndjson"));
    }
}
