//! `type = "route"`: sends each event to every named output whose condition it
//! meets (`routes.errors = { min_level = "error" }` is read as `ID.errors`);
//! events that meet none go to the default output (read as `ID`). An event on
//! several routes is copied; the batch's member arena goes with each part.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::condition::{Condition, ConditionConfig};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::{Batch, Event};
use logagent_core::flow::{Closed, Output, Outputs};

/// Most routes one router may have.
pub const MAX_ROUTES: usize = 64;

/// Options of `route`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Named conditions: `{ errors = { min_level = "error" }, api = { field = "service", equals = "api" } }`.
    pub routes: BTreeMap<String, ConditionConfig>,
}

impl RouteConfig {
    /// The named outputs, for `inputs = ["ID.NAME"]`.
    pub fn outputs(&self) -> Vec<String> {
        self.routes.keys().cloned().collect()
    }

    /// Checks the routes.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Compiles the conditions.
    pub fn build(&self, ctx: TransformContext) -> Result<Route, Vec<KeyError>> {
        let mut errors = Vec::new();
        if self.routes.is_empty() {
            errors.push(KeyError::new("routes", "must name at least one route"));
        }
        if self.routes.len() > MAX_ROUTES {
            errors.push(KeyError::new(
                "routes",
                format!("at most {MAX_ROUTES} routes"),
            ));
        }
        let mut routes = Vec::new();
        for (name, cond) in &self.routes {
            let key = format!("routes.{name}");
            if name == logagent_core::component::DEAD_LETTER {
                errors.push(KeyError::new(
                    key.clone(),
                    "`dead_letter` is every transform's output for events it fails on; name the route otherwise",
                ));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                errors.push(KeyError::new(
                    key.clone(),
                    "route names may contain only letters, digits, '_' and '-'",
                ));
            }
            match cond.build(&key) {
                Ok(c) => routes.push((name.clone(), c)),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Route { routes, ctx })
    }
}

/// The running `route` transform.
#[derive(Debug)]
pub struct Route {
    routes: Vec<(String, Condition)>,
    #[allow(dead_code)]
    ctx: TransformContext,
}

impl Route {
    /// Which routes each event meets, as bit masks.
    fn masks(&self, batch: &Batch) -> Vec<u64> {
        batch
            .events
            .iter()
            .map(|e| {
                self.routes
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, c))| c.eval(e, &batch.members))
                    .fold(0u64, |m, (i, _)| m | (1 << i))
            })
            .collect()
    }
}

impl Transform for Route {
    /// Routing needs the outputs; without them (benches) it only evaluates.
    fn process(&mut self, batch: &mut Batch) {
        let _ = self.masks(batch);
    }

    fn splits(&self) -> bool {
        true
    }

    fn process_into(&mut self, batch: Batch, outputs: &Outputs) -> Result<u64, Closed> {
        let masks = self.masks(&batch);
        // Targets in order: each route, then the default output for the rest.
        let mut targets: Vec<(&Output, u64)> = Vec::with_capacity(self.routes.len() + 1);
        for (i, (name, _)) in self.routes.iter().enumerate() {
            if let Some(out) = outputs.named(name) {
                targets.push((out, 1 << i));
            }
        }
        let wants = |mask: u64, bit: u64| if bit == 0 { mask == 0 } else { mask & bit != 0 };
        targets.push((outputs.default_output(), 0));
        // How many connected targets still want each event: move it on the last.
        let mut remaining: Vec<u32> = masks
            .iter()
            .map(|m| {
                targets
                    .iter()
                    .filter(|(o, bit)| o.is_connected() && wants(*m, *bit))
                    .count() as u32
            })
            .collect();
        let discarded = remaining.iter().filter(|r| **r == 0).count() as u64;
        let live: Vec<usize> = (0..targets.len())
            .filter(|t| {
                let (o, bit) = targets[*t];
                o.is_connected() && masks.iter().any(|m| wants(*m, bit))
            })
            .collect();
        // Every event goes to every live output (a copy to each route, the
        // common case of a route used as a tee): the outputs share the batch.
        let everywhere = remaining.iter().all(|r| *r as usize == live.len());
        if everywhere {
            for (n, t) in live.iter().enumerate() {
                let (out, _) = targets[*t];
                if n + 1 == live.len() {
                    out.send(batch)?;
                    break;
                }
                out.send(batch.clone())?;
            }
            return Ok(discarded);
        }
        let Batch {
            events,
            members,
            stream,
            ack,
        } = batch;
        let mut events: Vec<Option<Event>> = events.into_iter().map(Some).collect();
        let mut members = Some(members);
        for (n, t) in live.iter().enumerate() {
            let (out, bit) = targets[*t];
            let mut part = Vec::new();
            for (i, m) in masks.iter().enumerate() {
                if !wants(*m, bit) {
                    continue;
                }
                remaining[i] -= 1;
                let ev = if remaining[i] == 0 {
                    events[i].take()
                } else {
                    events[i].clone()
                };
                part.extend(ev);
            }
            let last = n + 1 == live.len();
            let arena = if last {
                members.take().unwrap_or_default()
            } else {
                members.clone().unwrap_or_default()
            };
            out.send(Batch {
                events: part.into(),
                members: arena,
                stream: stream.clone(),
                ack: ack.clone(),
            })?;
        }
        Ok(discarded)
    }
}

impl TransformComponent for RouteConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        RouteConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(RouteConfig::build(self, ctx)?))
    }

    fn outputs(&self) -> Vec<String> {
        RouteConfig::outputs(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use logagent_core::event::encode;
    use logagent_core::telemetry::metrics::ComponentMetrics;

    use std::sync::Arc;

    #[test]
    fn splits_copies_and_defaults() {
        let cfg: RouteConfig = toml::from_str(
            "routes.errors = { min_level = \"error\" }\nroutes.api = { field = \"service\", equals = \"api\" }\nroutes.unread = { field = \"x\", exists = true }",
        )
        .unwrap();
        assert_eq!(cfg.outputs(), ["api", "errors", "unread"]);
        let mut t = cfg.build(TransformContext::detached("r")).unwrap();
        let metrics = Arc::new(ComponentMetrics::default());
        let chan = || crossbeam_channel::unbounded::<Batch>();
        let (etx, erx) = chan();
        let (atx, arx) = chan();
        let (dtx, drx) = chan();
        let outputs = Outputs::new(
            Output::new(vec![dtx], metrics.clone()),
            vec![
                ("errors".into(), Output::new(vec![etx], metrics.clone())),
                ("api".into(), Output::new(vec![atx], metrics.clone())),
                ("unread".into(), Output::new(vec![], metrics.clone())),
            ],
        );
        let b = logagent_core::event::test_batch::json_batch(&[
            r#"{"service":"api","level":"error"}"#,
            r#"{"service":"web","level":"error"}"#,
            r#"{"service":"api","level":"info"}"#,
            r#"{"service":"web","level":"info","x":1}"#,
            r#"{"service":"web","level":"info"}"#,
        ]);
        let discarded = t.process_into(b, &outputs).unwrap();
        assert_eq!(discarded, 1, "the event only the unread route wanted");
        let text = |b: Batch| -> Vec<String> {
            b.events
                .iter()
                .map(|e| {
                    let mut out = Vec::new();
                    encode::write_json(e, &mut out);
                    String::from_utf8(out).unwrap()
                })
                .collect()
        };
        let errors = text(erx.try_recv().unwrap());
        assert_eq!(errors.len(), 2);
        let api = text(arx.try_recv().unwrap());
        assert_eq!(
            api,
            [
                r#"{"service":"api","level":"error"}"#,
                r#"{"service":"api","level":"info"}"#
            ]
        );
        let rest = text(drx.try_recv().unwrap());
        assert_eq!(rest, [r#"{"service":"web","level":"info"}"#]);
        let bad: RouteConfig = toml::from_str("routes.\"a b\" = { min_level = \"warn\" }").unwrap();
        assert!(bad.check()[0].message.contains("route names"));
    }
}
