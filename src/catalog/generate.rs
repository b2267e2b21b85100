//! `logagent generate file/parse_json/elasticsearch`: a commented starting
//! pipeline. The keys come from the catalog (so every optional key is shown,
//! commented out, with its default); the values of the keys a component needs
//! are examples from [`EXAMPLES`]. A test generates a pipeline with every
//! component type and loads it, so a new type without a working example fails.

use std::fmt::Write as _;

use super::{COMPONENTS, ComponentDoc, Kind};

/// Why a spec was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenerateError {
    /// Fewer than a source and a sink.
    #[error("expected SOURCE/TRANSFORM.../SINK (e.g. file/parse_json/elasticsearch), got {0:?}")]
    Shape(String),
    /// A name that is not a type of the kind its position asks for.
    #[error("{name:?} is not a {kind} type; `logagent list` shows them all")]
    Unknown {
        /// The name given.
        name: String,
        /// The kind its position asks for.
        kind: &'static str,
    },
}

/// A type's example: its kind, its name and `(key, TOML value)` pairs.
pub type Example = (Kind, &'static str, &'static [(&'static str, &'static str)]);

/// The values a working minimal config of a type needs, beyond what the type
/// makes optional: `(kind, type, [(key, TOML value)])`. Keys not here that
/// are required get a placeholder for their type.
pub const EXAMPLES: &[Example] = &[
    (
        Kind::Source,
        "file",
        &[("include", r#"["/var/log/app/*.log"]"#)],
    ),
    (
        Kind::Source,
        "syslog",
        &[("address", r#""127.0.0.1:5514""#)],
    ),
    (Kind::Source, "http", &[("address", r#""127.0.0.1:8080""#)]),
    (
        Kind::Source,
        "kafka",
        &[
            ("bootstrap_servers", r#""127.0.0.1:9092""#),
            ("topics", r#"["logs"]"#),
            ("group_id", r#""logagent""#),
        ],
    ),
    (
        Kind::Transform,
        "parse_regex",
        &[("pattern", r#"'^(?P<level>\w+) (?P<message>.*)$'"#)],
    ),
    (
        Kind::Transform,
        "enrich",
        &[("fields", r#"{ environment = "${NODE_ENV:-development}" }"#)],
    ),
    (
        Kind::Transform,
        "filter_level",
        &[("min_level", r#""info""#)],
    ),
    (
        Kind::Transform,
        "redact",
        &[("paths", r#"["password", "user.email"]"#)],
    ),
    (
        Kind::Transform,
        "remove_fields",
        &[("fields", r#"["password"]"#)],
    ),
    (
        Kind::Transform,
        "rename_fields",
        &[("fields", r#"{ msg = "message" }"#)],
    ),
    (
        Kind::Transform,
        "add_fields",
        &[("fields", r#"{ environment = "production" }"#)],
    ),
    (
        Kind::Transform,
        "filter",
        &[("condition", r#"{ field = "level", equals = "debug" }"#)],
    ),
    (Kind::Transform, "sample", &[("rate", "10")]),
    (Kind::Transform, "throttle", &[("rate", "1000")]),
    (
        Kind::Transform,
        "route",
        &[("routes", r#"{ errors = { min_level = "error" } }"#)],
    ),
    (
        Kind::Transform,
        "log_to_metric",
        &[(
            "metrics",
            r#"[{ type = "counter", name = "log_events_total", labels = { level = "{{ level }}" } }]"#,
        )],
    ),
    (
        Kind::Transform,
        "remap",
        &[(
            "source",
            r#"'''
.environment = "production"
del(.password)
'''"#,
        )],
    ),
    (
        Kind::Sink,
        "file",
        &[("path", r#""/var/lib/logagent/out/app-%Y-%m-%d.ndjson""#)],
    ),
    (
        Kind::Sink,
        "elasticsearch",
        &[
            ("endpoints", r#"["${ES_URL:-http://127.0.0.1:9200}"]"#),
            ("index", r#""logs""#),
        ],
    ),
    (
        Kind::Sink,
        "loki",
        &[
            ("endpoint", r#""http://127.0.0.1:3100""#),
            ("labels", r#"{ job = "logagent" }"#),
        ],
    ),
    (
        Kind::Sink,
        "opentelemetry",
        &[("endpoint", r#""http://127.0.0.1:4318""#)],
    ),
    (
        Kind::Sink,
        "kafka",
        &[
            ("bootstrap_servers", r#""127.0.0.1:9092""#),
            ("topic", r#""logs""#),
        ],
    ),
];

fn lookup(kind: Kind, name: &str) -> Option<&'static ComponentDoc> {
    COMPONENTS.iter().find(|c| c.kind == kind && c.name == name)
}

fn examples(c: &ComponentDoc) -> &'static [(&'static str, &'static str)] {
    EXAMPLES
        .iter()
        .find(|(k, n, _)| *k == c.kind && *n == c.name)
        .map(|(_, _, e)| *e)
        .unwrap_or(&[])
}

/// A placeholder for a required key without an example.
fn placeholder(ty: &str) -> &'static str {
    if ty.starts_with("list") {
        r#"["CHANGE_ME"]"#
    } else if ty.starts_with("table") {
        "{}"
    } else if ty == "integer" {
        "1"
    } else if ty == "bool" {
        "false"
    } else {
        r#""CHANGE_ME""#
    }
}

/// The doc's first sentence (not cut at `e.g.` or `i.e.`).
fn first_sentence(doc: &str) -> &str {
    let mut from = 0;
    while let Some(i) = doc[from..].find(". ").map(|i| i + from) {
        if !(doc[..i].ends_with("e.g") || doc[..i].ends_with("i.e")) {
            return &doc[..=i];
        }
        from = i + 2;
    }
    doc
}

fn component(out: &mut String, c: &ComponentDoc, id: &str, inputs: Option<&str>) {
    let _ = writeln!(out, "# {}: {}", c.name, c.purpose);
    let _ = writeln!(
        out,
        "# Every key: `logagent list {}/{}`.",
        c.kind.as_str(),
        c.name
    );
    let _ = writeln!(out, "[{}.{id}]", c.kind.table());
    let _ = writeln!(out, "type = {:?}", c.name);
    if let Some(input) = inputs {
        let _ = writeln!(out, "inputs = [{input:?}]");
    }
    let given = examples(c);
    for (key, value) in given {
        let doc = c
            .keys
            .iter()
            .find(|k| k.key == *key)
            .map(|k| first_sentence(k.doc));
        if let Some(doc) = doc {
            let _ = writeln!(out, "# {doc}");
        }
        let _ = writeln!(out, "{key} = {value}");
    }
    for k in c.keys.iter().filter(|k| !k.key.contains(['.', '['])) {
        if given.iter().any(|(key, _)| *key == k.key) {
            continue;
        }
        if k.required {
            let _ = writeln!(out, "# {} (required, {})", first_sentence(k.doc), k.ty);
            let _ = writeln!(out, "{} = {}", k.key, placeholder(k.ty));
        } else {
            let default = k.default.unwrap_or("none");
            let _ = writeln!(
                out,
                "# {} ({}, default {default}): {}",
                k.key,
                k.ty,
                first_sentence(k.doc)
            );
        }
    }
    out.push('\n');
}

/// The pipeline for `SOURCE/TRANSFORM.../SINK` (`/` or `,` between names).
pub fn pipeline(spec: &str) -> Result<String, GenerateError> {
    let names: Vec<&str> = spec
        .split(['/', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.len() < 2 {
        return Err(GenerateError::Shape(spec.to_owned()));
    }
    let unknown = |name: &str, kind: Kind| GenerateError::Unknown {
        name: name.to_owned(),
        kind: kind.as_str(),
    };
    let source = lookup(Kind::Source, names[0]).ok_or_else(|| unknown(names[0], Kind::Source))?;
    let last = names[names.len() - 1];
    let sink = lookup(Kind::Sink, last).ok_or_else(|| unknown(last, Kind::Sink))?;
    let mut transforms = Vec::new();
    for name in &names[1..names.len() - 1] {
        transforms
            .push(lookup(Kind::Transform, name).ok_or_else(|| unknown(name, Kind::Transform))?);
    }
    let mut out = String::new();
    let _ = writeln!(out, "# A starting pipeline: `logagent generate {spec}`.");
    let _ = writeln!(
        out,
        "# Change the example values, uncomment the keys you need, then check it with"
    );
    let _ = writeln!(
        out,
        "# `logagent validate FILE` and run it with `logagent --pipeline FILE`."
    );
    let _ = writeln!(out, "# Reference: `logagent list TYPE`, docs/reference/.\n");
    let _ = writeln!(out, "# Where checkpoints and buffers live.");
    let _ = writeln!(
        out,
        "data_dir = \"${{LOGAGENT_DATA_DIR:-/var/lib/logagent}}\"\n"
    );
    let mut ids: Vec<String> = Vec::new();
    let mut unique = |name: &str| {
        let mut id = name.to_owned();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{name}_{n}");
            n += 1;
        }
        ids.push(id.clone());
        id
    };
    let source_id = unique(source.name);
    component(&mut out, source, &source_id, None);
    let mut previous = source_id;
    for t in transforms {
        let id = unique(t.name);
        component(&mut out, t, &id, Some(&previous));
        previous = id;
    }
    let sink_id = unique(&format!("{}_out", sink.name));
    component(&mut out, sink, &sink_id, Some(&previous));
    Ok(out.trim_end().to_owned() + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn loads(spec: &str) -> Result<(), String> {
        let text = pipeline(spec).map_err(|e| e.to_string())?;
        crate::config::load_texts(&[(PathBuf::from("generated.toml"), text.clone())], |_| None)
            .map(|_| ())
            .map_err(|e| format!("{spec}:\n{e}\n{text}"))
    }

    #[test]
    fn the_issues_example_loads() {
        loads("file/parse_json/elasticsearch").unwrap();
        loads("file,parse_json,elasticsearch").unwrap();
    }

    #[test]
    fn every_component_type_generates_a_pipeline_that_loads() {
        let mut failures = Vec::new();
        for c in COMPONENTS {
            let spec = match c.kind {
                Kind::Source => format!("{}/stdout", c.name),
                Kind::Transform => format!("stdin/{}/stdout", c.name),
                Kind::Sink => format!("stdin/{}", c.name),
            };
            if let Err(e) = loads(&spec) {
                failures.push(e);
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn first_sentences_are_not_cut_at_abbreviations() {
        assert_eq!(
            first_sentence("Field holding the time, e.g. `ts`. More."),
            "Field holding the time, e.g. `ts`."
        );
        assert_eq!(first_sentence("One. Two."), "One.");
        assert_eq!(first_sentence("No stop"), "No stop");
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(matches!(pipeline("file"), Err(GenerateError::Shape(_))));
        assert_eq!(
            pipeline("parse_json/stdout"),
            Err(GenerateError::Unknown {
                name: "parse_json".into(),
                kind: "source"
            })
        );
        assert!(pipeline("file/nope/stdout").is_err());
        // The same type twice gets two ids.
        let text = pipeline("stdin/add_fields/add_fields/stdout").unwrap();
        assert!(text.contains("[transforms.add_fields_2]"), "{text}");
    }
}
