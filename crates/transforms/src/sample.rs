//! `type = "sample"`: keeps 1 event in `rate`, never dropping errors and above
//! (unless `keep_level = "none"`). With `key_field`, the choice follows a hash of
//! that field, so every event of one trace or request is kept or dropped together.

use std::hash::{Hash, Hasher};

use serde::Deserialize;

use super::condition::{Condition, ConditionConfig};
use super::filter_level::LevelSpec;
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::level::{LEVEL_NAMES, LevelReader};
use logagent_core::event::{Batch, FieldPath, Level, access};

/// Options of `sample`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Keep 1 event in this many (≥ 1).
    pub rate: u64,
    /// Decide by a hash of this field (e.g. `traceId`) instead of by count.
    #[serde(default)]
    pub key_field: Option<String>,
    /// Events at or above this level are always kept (default `"error"`;
    /// `"none"` samples every level).
    #[serde(default)]
    pub keep_level: Option<LevelSpec>,
    /// Field holding the level (default `level`).
    #[serde(default)]
    pub level_field: Option<String>,
    /// Regex finding the level in text lines (`"auto"`: upper-case level words).
    #[serde(default)]
    pub level_pattern: Option<String>,
    /// Events meeting this condition are always kept.
    #[serde(default)]
    pub exclude: Option<Box<ConditionConfig>>,
}

impl SampleConfig {
    /// Checks the keys.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Builds the transform.
    pub fn build(&self, _ctx: TransformContext) -> Result<Sample, Vec<KeyError>> {
        let mut errors = Vec::new();
        if self.rate == 0 {
            errors.push(KeyError::new(
                "rate",
                "must be at least 1 (keep 1 event in rate)",
            ));
        }
        let keep_level = match &self.keep_level {
            None => Some(Level::Error),
            Some(LevelSpec::Name(n)) if n.eq_ignore_ascii_case("none") => None,
            Some(spec) => match spec.resolve() {
                Some(l) => Some(l),
                None => {
                    errors.push(KeyError::new(
                        "keep_level",
                        format!(
                            "unknown level {spec} (expected one of {LEVEL_NAMES}, or \"none\")"
                        ),
                    ));
                    None
                }
            },
        };
        let reader = LevelReader::new(
            self.level_field.as_deref().unwrap_or("level"),
            self.level_pattern.as_deref(),
        )
        .map_err(|(k, m)| {
            errors.push(KeyError::new(
                if k == "field" {
                    "level_field"
                } else {
                    "level_pattern"
                },
                m,
            ))
        })
        .ok();
        let key_field = match &self.key_field {
            Some(k) => super::parse_path("key_field", k)
                .map_err(|e| errors.extend(e))
                .ok(),
            None => None,
        };
        let exclude = match &self.exclude {
            Some(c) => c.build("exclude").map_err(|e| errors.extend(e)).ok(),
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Sample {
            rate: self.rate,
            key_field,
            keep_level,
            reader: reader.unwrap_or_else(LevelReader::standard),
            exclude,
            count: 0,
        })
    }
}

/// The running `sample` transform.
#[derive(Debug)]
pub struct Sample {
    rate: u64,
    key_field: Option<FieldPath>,
    keep_level: Option<Level>,
    reader: LevelReader,
    exclude: Option<Condition>,
    count: u64,
}

impl Transform for Sample {
    fn process(&mut self, batch: &mut Batch) {
        if self.rate == 1 {
            return;
        }
        let members = &batch.members;
        let mut keep = Vec::with_capacity(batch.events.len());
        for event in batch.events.iter_mut() {
            let exempt = self.keep_level.is_some_and(|min| {
                self.reader
                    .read_cached(event, members)
                    .is_some_and(|l| l >= min)
            }) || self
                .exclude
                .as_ref()
                .is_some_and(|c| c.eval(event, members));
            let chosen = exempt
                || match self
                    .key_field
                    .as_ref()
                    .and_then(|k| access::get(event, members, k))
                {
                    Some(v) => {
                        let mut h = std::hash::DefaultHasher::new();
                        v.text().hash(&mut h);
                        h.finish().is_multiple_of(self.rate)
                    }
                    None => {
                        let pick = self.count.is_multiple_of(self.rate);
                        self.count = self.count.wrapping_add(1);
                        pick
                    }
                };
            keep.push(chosen);
        }
        let mut flags = keep.into_iter();
        batch.events.retain(|_| flags.next().unwrap_or(true));
    }
}

impl TransformComponent for SampleConfig {
    fn check(&self) -> Vec<KeyError> {
        SampleConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(SampleConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[String]) -> Batch {
        logagent_core::event::test_batch::json_batch(lines)
    }

    #[test]
    fn keeps_one_in_n_and_every_error() {
        let lines: Vec<String> = (0..100)
            .map(|i| {
                let level = if i % 10 == 0 { "error" } else { "info" };
                format!(r#"{{"i":{i},"level":"{level}"}}"#)
            })
            .collect();
        let mut t = toml::from_str::<SampleConfig>("rate = 5")
            .unwrap()
            .build(TransformContext::detached("s"))
            .unwrap();
        let mut b = batch(&lines);
        t.process(&mut b);
        let errors = b
            .events
            .iter()
            .filter(|e| e.meta.level == Some(Level::Error))
            .count();
        let infos = b.events.len() - errors;
        assert_eq!(errors, 10, "every error is kept");
        assert_eq!(infos, 18, "1 in 5 of the 90 info lines");

        let mut t = toml::from_str::<SampleConfig>("rate = 5\nkeep_level = \"none\"")
            .unwrap()
            .build(TransformContext::detached("s"))
            .unwrap();
        let mut b = batch(&lines);
        t.process(&mut b);
        assert_eq!(b.events.len(), 20);
    }

    #[test]
    fn keyed_sampling_keeps_whole_traces() {
        let lines: Vec<String> = (0..400)
            .map(|i| format!(r#"{{"trace":"t{}","level":"info"}}"#, i % 40))
            .collect();
        let mut t = toml::from_str::<SampleConfig>("rate = 4\nkey_field = \"trace\"")
            .unwrap()
            .build(TransformContext::detached("s"))
            .unwrap();
        let mut b = batch(&lines);
        t.process(&mut b);
        let mut kept: Vec<String> = b
            .events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.line).into_owned())
            .collect();
        kept.sort();
        kept.dedup();
        // Each kept trace is kept whole: 10 events each.
        assert_eq!(b.events.len(), kept.len() * 10);
        assert!(!kept.is_empty() && kept.len() < 40);
        assert_eq!(
            toml::from_str::<SampleConfig>("rate = 0").unwrap().check()[0].key,
            "rate"
        );
    }
}
