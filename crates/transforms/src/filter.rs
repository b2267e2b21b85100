//! `type = "filter"`: keeps events that meet a condition (`keep_if`, alias
//! `condition`) or drops those that meet one (`drop_if`). See
//! [`super::condition`] for what a condition can test.

use serde::Deserialize;

use super::condition::{Condition, ConditionConfig};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::Batch;

/// Options of `filter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Keep only events for which this holds.
    #[serde(default, alias = "condition")]
    pub keep_if: Option<Box<ConditionConfig>>,
    /// Drop the events for which this holds.
    #[serde(default)]
    pub drop_if: Option<Box<ConditionConfig>>,
}

impl FilterConfig {
    /// Checks the condition.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Compiles the condition.
    pub fn build(&self, _ctx: TransformContext) -> Result<Filter, Vec<KeyError>> {
        match (&self.keep_if, &self.drop_if) {
            (Some(c), None) => Ok(Filter {
                condition: c.build("keep_if")?,
                keep: true,
            }),
            (None, Some(c)) => Ok(Filter {
                condition: c.build("drop_if")?,
                keep: false,
            }),
            (Some(_), Some(_)) => Err(vec![KeyError::new(
                "drop_if",
                "set either keep_if or drop_if, not both",
            )]),
            (None, None) => Err(vec![KeyError::new(
                "keep_if",
                "missing: set keep_if (or condition) or drop_if, e.g. keep_if = { field = \"status\", matches = \"^5\" }",
            )]),
        }
    }
}

/// The running `filter` transform.
#[derive(Debug)]
pub struct Filter {
    condition: Condition,
    keep: bool,
}

impl Transform for Filter {
    fn process(&mut self, batch: &mut Batch) {
        let members = &batch.members;
        let (condition, keep) = (&self.condition, self.keep);
        batch.events.retain(|e| condition.eval(e, members) == keep);
    }
}

impl TransformComponent for FilterConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        FilterConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(FilterConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use logagent_core::event::{AckToken, Event, Stream};
    use std::sync::Arc;

    #[test]
    fn keeps_or_drops() {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let lines = [r#"{"path":"/health"}"#, r#"{"path":"/api"}"#, "GET /health"];
        let make = || {
            let mut b = Batch::new(stream.clone(), AckToken::detached(), 3);
            for l in lines {
                let (ev, members) = crate::condition::tests::event(l);
                let start = b.members.len();
                let mut ev: Event = ev;
                if let logagent_core::event::Root::Json { object, .. } = ev.root {
                    b.members.extend(members);
                    ev.root = logagent_core::event::Root::Json {
                        object,
                        members: logagent_core::event::Span::new(start, b.members.len()),
                    };
                }
                b.events.push(ev);
            }
            b
        };
        let drop: FilterConfig =
            toml::from_str("drop_if = { field = \"path\", equals = \"/health\" }").unwrap();
        let mut b = make();
        drop.build(TransformContext::detached("f"))
            .unwrap()
            .process(&mut b);
        let kept: Vec<Bytes> = b.events.iter().map(|e| e.line.clone()).collect();
        assert_eq!(kept, [&br#"{"path":"/api"}"#[..], b"GET /health"]);
        let keep: FilterConfig =
            toml::from_str("condition = { field = \"message\", contains = \"health\" }").unwrap();
        let mut b = make();
        keep.build(TransformContext::detached("f"))
            .unwrap()
            .process(&mut b);
        assert_eq!(b.events.len(), 1);
        let none: FilterConfig = toml::from_str("").unwrap();
        assert_eq!(none.check()[0].key, "keep_if");
    }
}
