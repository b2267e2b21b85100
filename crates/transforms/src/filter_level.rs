//! `type = "filter_level"`: drops events below a minimum severity. Understands
//! level names in any case, pino's 10–60 and syslog's 0–7 (see [`Level`]).

use serde::Deserialize;

use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::level::{LEVEL_NAMES, LevelReader};
use logagent_core::event::{Batch, Level};

/// A level as written in the config: a name or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LevelSpec {
    /// `"info"`, `"WARN"`, `"30"`.
    Name(String),
    /// `30` (pino) or `4` (syslog).
    Number(i64),
}

impl std::fmt::Display for LevelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LevelSpec::Name(n) => write!(f, "{n:?}"),
            LevelSpec::Number(n) => write!(f, "{n}"),
        }
    }
}

impl LevelSpec {
    /// The level this spec names, if it names one.
    pub fn resolve(&self) -> Option<Level> {
        match self {
            LevelSpec::Name(n) => Level::from_text(n.as_bytes()),
            LevelSpec::Number(n) => Level::from_number(*n),
        }
    }
}

/// What to do with events whose level is missing or not recognized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnknown {
    /// Keep them (default: never lose a line for lack of a level).
    #[default]
    Keep,
    /// Drop them.
    Drop,
}

/// Options of `filter_level`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterLevelConfig {
    /// Lowest level kept, e.g. `"info"` (drops trace and debug).
    pub min_level: LevelSpec,
    /// Field holding the level (default `level`).
    #[serde(default = "default_field")]
    pub field: String,
    /// For text lines (or JSON lines without `field`): a regex whose first
    /// matching group (or whole match) is the level, e.g. `'\b(ERROR|FATAL)\b'`;
    /// `"auto"` finds upper-case level words and nginx's `[error]`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `keep` (default) or `drop` events without a recognizable level.
    #[serde(default)]
    pub on_unknown: OnUnknown,
}

fn default_field() -> String {
    "level".to_owned()
}

impl FilterLevelConfig {
    /// Checks the level and field.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Resolves the minimum level.
    pub fn build(&self, ctx: TransformContext) -> Result<FilterLevel, Vec<KeyError>> {
        let min = self.min_level.resolve().ok_or_else(|| {
            vec![KeyError::new(
                "min_level",
                format!(
                    "unknown level {} (expected one of {LEVEL_NAMES}, or 10-60 / 0-7)",
                    self.min_level
                ),
            )]
        })?;
        let reader = LevelReader::new(&self.field, self.pattern.as_deref())
            .map_err(|(key, message)| vec![KeyError::new(key, message)])?;
        Ok(FilterLevel {
            min,
            reader,
            on_unknown: self.on_unknown,
            _ctx: ctx,
        })
    }
}

/// The running `filter_level` transform.
#[derive(Debug)]
pub struct FilterLevel {
    min: Level,
    reader: LevelReader,
    on_unknown: OnUnknown,
    _ctx: TransformContext,
}

impl Transform for FilterLevel {
    fn process(&mut self, batch: &mut Batch) {
        let members = &batch.members;
        for event in batch.events.iter_mut() {
            self.reader.read_cached(event, members);
        }
        let (min, keep_unknown) = (self.min, self.on_unknown == OnUnknown::Keep);
        batch.events.retain(|e| match e.meta.level {
            Some(level) => level >= min,
            None => keep_unknown,
        });
    }
}

impl TransformComponent for FilterLevelConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        FilterLevelConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(FilterLevelConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &str, lines: &[&str]) -> Vec<String> {
        let cfg: FilterLevelConfig = toml::from_str(config).unwrap();
        let mut t = cfg.build(TransformContext::detached("f")).unwrap();
        let mut b = logagent_core::event::test_batch::json_batch(lines);
        t.process(&mut b);
        b.events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.line).into_owned())
            .collect()
    }

    #[test]
    fn keeps_info_and_above_in_every_notation() {
        let kept = run(
            r#"min_level = "info""#,
            &[
                r#"{"level":"debug"}"#,
                r#"{"level":"TRACE"}"#,
                r#"{"level":"Info"}"#,
                r#"{"level":"WARN"}"#,
                r#"{"level":20}"#,
                r#"{"level":50}"#,
                r#"{"level":"60"}"#,
                r#"{"msg":"no level"}"#,
                r#"{"level":"chatty"}"#,
                "plain text",
            ],
        );
        assert_eq!(
            kept,
            [
                r#"{"level":"Info"}"#,
                r#"{"level":"WARN"}"#,
                r#"{"level":50}"#,
                r#"{"level":"60"}"#,
                r#"{"msg":"no level"}"#,
                r#"{"level":"chatty"}"#,
                "plain text"
            ]
        );
    }

    #[test]
    fn drops_unknown_when_asked_and_reads_other_fields() {
        let kept = run(
            "min_level = 40\nfield = \"severity\"\non_unknown = \"drop\"",
            &[
                r#"{"severity":"warning"}"#,
                r#"{"severity":"info"}"#,
                r#"{"level":"error"}"#,
            ],
        );
        assert_eq!(kept, [r#"{"severity":"warning"}"#]);
    }

    #[test]
    fn rejects_unknown_min_level() {
        let cfg: FilterLevelConfig = toml::from_str(r#"min_level = "loud""#).unwrap();
        assert_eq!(cfg.check()[0].key, "min_level");
    }
}
