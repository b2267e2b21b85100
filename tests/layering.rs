//! The module layering that will become crate boundaries, checked on the
//! source until it is: telemetry imports nothing of the pipeline it observes
//! (nor of the components, config or app), and the event model and codecs do
//! not import telemetry.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

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

/// Lines under `src/<module>` that name `crate::<forbidden>`.
fn violations(module: &str, forbidden: &[&str]) -> Vec<String> {
    let root = common::repo().join("src").join(module);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for f in forbidden {
                if line.contains(&format!("crate::{f}")) {
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
        "telemetry",
        &[
            "pipeline",
            "sources",
            "transforms",
            "sinks",
            "config",
            "app",
            "maintenance",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn event_model_and_codecs_do_not_import_telemetry() {
    for module in ["event", "codecs"] {
        let found = violations(module, &["telemetry"]);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
