//! `remove_fields`, `rename_fields` and `add_fields`: reshaping events by path.
//! Removing and renaming move ranges of the line (a renamed value is not
//! copied); added values are encoded once, or rendered from a template
//! (`"{{ service }}-{{ environment }}"`, strftime from the event time).

use serde::Deserialize;

use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::template::Template;
use logagent_core::event::{Batch, FieldPath, Value};

/// Options of `remove_fields`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveFieldsConfig {
    /// Paths to remove; `*` matches any member (`*.debug`).
    pub fields: Vec<String>,
}

impl RemoveFieldsConfig {
    /// Checks the paths.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Parses the paths.
    pub fn build(&self, _ctx: TransformContext) -> Result<RemoveFields, Vec<KeyError>> {
        if self.fields.is_empty() {
            return Err(vec![KeyError::new(
                "fields",
                "must list at least one field path",
            )]);
        }
        Ok(RemoveFields {
            paths: super::parse_paths("fields", &self.fields)?,
        })
    }
}

/// The running `remove_fields` transform.
#[derive(Debug)]
pub struct RemoveFields {
    paths: Vec<FieldPath>,
}

impl Transform for RemoveFields {
    fn process(&mut self, batch: &mut Batch) {
        for mut ev in batch.iter_mut() {
            for p in &self.paths {
                ev.remove(p);
            }
        }
    }
}

/// Options of `rename_fields`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameFieldsConfig {
    /// `{ "old.path" = "new.path" }`, applied in the order written. A missing
    /// field is skipped; an existing target is replaced.
    pub fields: toml::Table,
}

impl RenameFieldsConfig {
    /// Checks the paths.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Parses the paths.
    pub fn build(&self, _ctx: TransformContext) -> Result<RenameFields, Vec<KeyError>> {
        let mut errors = Vec::new();
        let mut pairs = Vec::new();
        if self.fields.is_empty() {
            errors.push(KeyError::new(
                "fields",
                "must map at least one field to a new name",
            ));
        }
        for (from, to) in &self.fields {
            let key = format!("fields.{from}");
            let Some(to) = to.as_str() else {
                errors.push(KeyError::new(key, "expected the new path as a string"));
                continue;
            };
            match (FieldPath::parse(from), FieldPath::parse(to)) {
                (Ok(f), Ok(t)) if !f.has_wildcard() && !t.has_wildcard() => pairs.push((f, t)),
                (Ok(_), Ok(_)) => errors.push(KeyError::new(
                    key,
                    "renames take plain paths ('*' is not allowed)",
                )),
                (Err(e), _) | (_, Err(e)) => errors.push(KeyError::new(key, e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RenameFields { pairs })
    }
}

/// The running `rename_fields` transform.
#[derive(Debug)]
pub struct RenameFields {
    pairs: Vec<(FieldPath, FieldPath)>,
}

impl Transform for RenameFields {
    fn process(&mut self, batch: &mut Batch) {
        for mut ev in batch.iter_mut() {
            for (from, to) in &self.pairs {
                let Some(value) = ev.value_of(from) else {
                    continue;
                };
                ev.remove(from);
                ev.set(to, value);
            }
        }
    }
}

/// Options of `add_fields`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddFieldsConfig {
    /// Fields to add: `{ index = "{{ service }}-{{ environment }}", team = "core",
    /// retries = 3 }`. Strings with `{{ field }}` (filters: `| lower`, `| upper`,
    /// `| status_class`, `| level`) or strftime `%Y` are templates; write `%%`
    /// for a literal `%`. Names may be paths.
    pub fields: toml::Table,
    /// Replace fields that already exist (default true).
    #[serde(default = "yes")]
    pub overwrite: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug)]
enum Add {
    Static(Value),
    Template(Template),
}

impl AddFieldsConfig {
    /// Checks names and templates.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Parses names and templates.
    pub fn build(&self, ctx: TransformContext) -> Result<AddFields, Vec<KeyError>> {
        let mut errors = Vec::new();
        let mut fields = Vec::new();
        if self.fields.is_empty() {
            errors.push(KeyError::new(
                "fields",
                "must name at least one field to add",
            ));
        }
        for (name, value) in &self.fields {
            let key = format!("fields.{name}");
            let path = match FieldPath::parse(name) {
                Ok(p) if !p.has_wildcard() => p,
                Ok(_) => {
                    errors.push(KeyError::new(key, "a field name to add cannot contain '*'"));
                    continue;
                }
                Err(e) => {
                    errors.push(KeyError::new(key, e.to_string()));
                    continue;
                }
            };
            let add = match value.as_str() {
                Some(s) if s.contains("{{") || s.contains('%') => match Template::parse(s, false) {
                    Ok(t) if t.is_dynamic() => Add::Template(t),
                    Ok(_) => Add::Static(Value::string(s.replace("%%", "%").as_bytes())),
                    Err(e) => {
                        errors.push(KeyError::new(key, e.to_string()));
                        continue;
                    }
                },
                _ => match serde_json::to_vec(value) {
                    Ok(json) => Add::Static(Value::Json(logagent_core::event::static_bytes(json))),
                    Err(e) => {
                        errors.push(KeyError::new(
                            key,
                            format!("cannot be written as JSON: {e}"),
                        ));
                        continue;
                    }
                },
            };
            fields.push((path, add));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(AddFields {
            fields,
            overwrite: self.overwrite,
            ctx,
            buf: String::new(),
        })
    }
}

/// The running `add_fields` transform.
#[derive(Debug)]
pub struct AddFields {
    fields: Vec<(FieldPath, Add)>,
    overwrite: bool,
    ctx: TransformContext,
    buf: String,
}

impl Transform for AddFields {
    fn process(&mut self, batch: &mut Batch) {
        let now = self.ctx.clock.now_ns();
        for mut ev in batch.iter_mut() {
            for (path, add) in &self.fields {
                let value = match add {
                    Add::Static(v) => v.clone(),
                    Add::Template(t) => {
                        self.buf.clear();
                        t.render(ev.event, ev.members, now, &mut self.buf);
                        Value::string(self.buf.as_bytes())
                    }
                };
                if self.overwrite {
                    ev.set(path, value);
                } else {
                    ev.set_if_absent(path, value);
                }
            }
        }
    }
}

impl TransformComponent for RemoveFieldsConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        RemoveFieldsConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(RemoveFieldsConfig::build(self, ctx)?))
    }
}

impl TransformComponent for RenameFieldsConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        RenameFieldsConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(RenameFieldsConfig::build(self, ctx)?))
    }
}

impl TransformComponent for AddFieldsConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        AddFieldsConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(AddFieldsConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use logagent_core::event::json;
    use logagent_core::event::{AckToken, Event, Root, Span, Stream, encode};
    use std::sync::Arc;

    fn run(t: &mut dyn Transform, line: &str) -> serde_json::Value {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), 1);
        let line = Bytes::copy_from_slice(line.as_bytes());
        let mut ev = Event::new(line.clone(), 0);
        if let Ok(object) = json::scan_object(&line, 16, &mut b.members) {
            ev.root = Root::Json {
                object,
                members: Span::new(0, b.members.len()),
            };
        }
        ev.meta.time = Some(1_755_685_845_000_000_000);
        b.events.push(ev);
        t.process(&mut b);
        let mut out = Vec::new();
        encode::write_json(&b.events[0], &mut out);
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn remove_rename_add() {
        let mut rm =
            toml::from_str::<RemoveFieldsConfig>(r#"fields = ["pid", "*.secret", "nope"]"#)
                .unwrap()
                .build(TransformContext::detached("r"))
                .unwrap();
        assert_eq!(
            run(&mut rm, r#"{"pid":1,"a":{"secret":"s","k":1},"b":2}"#),
            serde_json::json!({"a":{"k":1},"b":2})
        );
        let mut mv = toml::from_str::<RenameFieldsConfig>(
            "fields = { msg = \"message\", \"req.ip\" = \"client.ip\", missing = \"x\" }",
        )
        .unwrap()
        .build(TransformContext::detached("m"))
        .unwrap();
        assert_eq!(
            run(&mut mv, r#"{"msg":"hi","req":{"ip":"10.0.0.1","m":"GET"}}"#),
            serde_json::json!({"message":"hi","req":{"m":"GET"},"client":{"ip":"10.0.0.1"}})
        );
        let mut add = toml::from_str::<AddFieldsConfig>(
            "fields = { index = \"{{ service }}-{{ environment }}-%Y.%m\", team = \"core\", n = 3, pct = \"100%%\" }\noverwrite = false",
        )
        .unwrap()
        .build(TransformContext::detached("a"))
        .unwrap();
        assert_eq!(
            run(
                &mut add,
                r#"{"service":"api","environment":"prod","team":"web"}"#
            ),
            serde_json::json!({"service":"api","environment":"prod","team":"web","index":"api-prod-2025.08","n":3,"pct":"100%"})
        );
    }

    #[test]
    fn renamed_values_stay_redacted() {
        // A value edited inside (redacted) moves with its edits.
        let (mut ev, members) =
            crate::condition::tests::event(r#"{"req":{"headers":{"authorization":"Bearer x"}}}"#);
        let mut em = logagent_core::event::EventMut {
            event: &mut ev,
            members: &members,
        };
        em.replace_existing(
            &FieldPath::parse("req.headers.authorization").unwrap(),
            &Value::string(b"[REDACTED]"),
        );
        let value = em.value_of(&FieldPath::parse("req").unwrap()).unwrap();
        em.remove(&FieldPath::parse("req").unwrap());
        em.set(&FieldPath::top("request"), value);
        let mut out = Vec::new();
        encode::write_json(&ev, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains("Bearer"), "{s}");
        assert!(s.contains("[REDACTED]"), "{s}");
    }

    #[test]
    fn bad_configs() {
        let e = toml::from_str::<RenameFieldsConfig>("fields = { a = 1 }")
            .unwrap()
            .check();
        assert_eq!(e[0].key, "fields.a");
        let e = toml::from_str::<AddFieldsConfig>("fields = { a = \"{{ x | shout }}\" }")
            .unwrap()
            .check();
        assert!(e[0].message.contains("unknown filter"), "{e:?}");
        let e = toml::from_str::<RemoveFieldsConfig>("fields = []")
            .unwrap()
            .check();
        assert_eq!(e[0].key, "fields");
    }
}
