//! The layering of the workspace. The compiler enforces what a crate may
//! import (only what its `Cargo.toml` names) and that the crate graph has no
//! cycles; these tests pin *which* edges may exist, so a convenient new
//! dependency (a sink on a transform, the core on a component) fails here with
//! the rule it breaks instead of slowly turning the graph into a web:
//!
//! ```text
//!   logagent (app: config, pipeline, telemetry's API, maintenance, CLI)
//!      │
//!      ├── logagent-sources ─┐
//!      ├── logagent-transforms ──── logagent-codecs ──┐
//!      ├── logagent-kubernetes (kube client) ─────────┤
//!      ├── logagent-sinks ───┴── logagent-retention ──┴── logagent-core
//! ```
//!
//! Inside crates, two module rules the compiler cannot see: the application's
//! telemetry (the HTTP API, health, `top`) imports nothing of the pipeline it
//! observes, and the event model and the codecs do not import telemetry.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The workspace crates each crate may depend on (normal and dev dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("logagent-core", &[]),
    ("logagent-codecs", &["logagent-core"]),
    ("logagent-retention", &["logagent-core"]),
    ("logagent-sources", &["logagent-core", "logagent-codecs"]),
    ("logagent-transforms", &["logagent-core", "logagent-codecs"]),
    ("logagent-kubernetes", &["logagent-core"]),
    (
        "logagent-sinks",
        &["logagent-core", "logagent-codecs", "logagent-retention"],
    ),
];

/// Each library crate's name and the workspace crates its manifest names.
fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for entry in std::fs::read_dir(common::repo().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let name = doc["package"]["name"].as_str().unwrap().to_owned();
        let mut deps = BTreeSet::new();
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(t) = doc.get(table).and_then(|t| t.as_table()) {
                deps.extend(t.keys().filter(|k| k.starts_with("logagent")).cloned());
            }
        }
        edges.insert(name, deps);
    }
    edges
}

#[test]
fn every_crate_depends_only_on_the_layers_below_it() {
    let edges = workspace_edges();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let names: BTreeSet<&str> = edges.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = allowed.keys().copied().collect();
    assert_eq!(
        names, expected,
        "a crate was added or removed: give it its place in ALLOWED"
    );
    let mut broken = Vec::new();
    for (name, deps) in &edges {
        for dep in deps {
            if !allowed[name.as_str()].contains(&dep.as_str()) {
                broken.push(format!("{name} depends on {dep}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn components_never_depend_on_one_another_nor_on_the_application() {
    let edges = workspace_edges();
    for component in [
        "logagent-sources",
        "logagent-transforms",
        "logagent-kubernetes",
        "logagent-sinks",
    ] {
        for other in [
            "logagent-sources",
            "logagent-transforms",
            "logagent-kubernetes",
            "logagent-sinks",
            "logagent",
        ] {
            assert!(
                !edges[component].contains(other),
                "{component} depends on {other}"
            );
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines under `dir` (relative to the repository) that name one of `forbidden`.
fn violations(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = common::repo().join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn telemetry_depends_on_no_pipeline_component_config_or_app() {
    let found = violations(
        "src/telemetry",
        &[
            "crate::pipeline",
            "crate::sources",
            "crate::transforms",
            "crate::sinks",
            "crate::config",
            "crate::app",
            "crate::maintenance",
            "logagent_sources::",
            "logagent_transforms::",
            "logagent_sinks::",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn event_model_and_codecs_do_not_import_telemetry() {
    let found = violations("crates/core/src/event", &["crate::telemetry"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
    let found = violations("crates/codecs/src", &["logagent_core::telemetry"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
