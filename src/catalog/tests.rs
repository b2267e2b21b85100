use super::*;

use std::collections::BTreeSet;

use toml::de::{DeTable, ValueDeserializer};

use crate::config::components::{SinkConfig, SourceConfig, TransformConfig};

/// The keys serde accepts for `ty` of `kind`, from its own "unknown field"
/// error (every config denies unknown fields).
fn serde_fields(kind: Kind, ty: &str) -> BTreeSet<String> {
    let text = "probe = { __probe__ = 1 }";
    let table = DeTable::parse(text).unwrap().into_inner();
    let (_, value) = table.into_iter().next().unwrap();
    let de = ValueDeserializer::from(value);
    let error = match kind {
        Kind::Source => SourceConfig::parse(ty, de)
            .unwrap()
            .err()
            .map(|e| e.to_string()),
        Kind::Transform => TransformConfig::parse(ty, de)
            .unwrap()
            .err()
            .map(|e| e.to_string()),
        Kind::Sink => SinkConfig::parse(ty, de)
            .unwrap()
            .err()
            .map(|e| e.to_string()),
    };
    let error = error.unwrap_or_else(|| panic!("{ty}: an unknown key was accepted"));
    assert!(
        error.contains("unknown field `__probe__`"),
        "{ty}: unknown keys must be refused: {error}"
    );
    let expected = error.split("expected").nth(1).unwrap_or("");
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn registered() -> Vec<(Kind, &'static str)> {
    let mut all = Vec::new();
    all.extend(SourceConfig::TYPES.iter().map(|t| (Kind::Source, *t)));
    all.extend(TransformConfig::TYPES.iter().map(|t| (Kind::Transform, *t)));
    all.extend(SinkConfig::TYPES.iter().map(|t| (Kind::Sink, *t)));
    all
}

#[test]
fn every_registered_component_is_listed_with_a_purpose() {
    let all = registered();
    assert_eq!(COMPONENTS.len(), all.len(), "one entry per registered type");
    for (kind, ty) in all {
        let c = COMPONENTS
            .iter()
            .find(|c| c.kind == kind && c.name == ty)
            .unwrap_or_else(|| panic!("{} {ty} is not listed", kind.as_str()));
        assert!(
            !c.purpose.is_empty(),
            "{ty} has no one-line purpose in components.rs"
        );
        assert!(list_all().contains(c.purpose));
    }
}

#[test]
fn every_key_a_config_accepts_is_listed() {
    for (kind, ty) in registered() {
        let accepted = serde_fields(kind, ty);
        let c = find(&format!("{}/{ty}", kind.as_str()))[0];
        let listed: BTreeSet<String> = c
            .keys
            .iter()
            .map(|k| k.key)
            .filter(|k| !k.contains(['.', '[']))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            listed,
            accepted,
            "{} {ty}: listed keys vs serde's",
            kind.as_str()
        );
        for k in c.keys {
            assert!(!k.ty.is_empty(), "{ty}.{} has no type", k.key);
            assert!(!k.doc.is_empty(), "{ty}.{} has no description", k.key);
        }
    }
}

#[test]
fn list_type_shows_keys_types_and_defaults() {
    let remap = find("remap");
    assert_eq!(remap.len(), 1);
    let text = describe(remap[0]);
    assert!(text.contains("drop_on_abort"), "{text}");
    assert!(text.contains("bool (default true)"), "{text}");
    assert!(text.contains("inputs"), "{text}");
    // `file` is a source and a sink; a kind picks one.
    assert_eq!(find("file").len(), 2);
    assert_eq!(find("sink/file")[0].kind, Kind::Sink);
    assert_eq!(find("sources.file")[0].kind, Kind::Source);
    assert!(find("nonesuch").is_empty());
    // Nested tables are listed by dotted keys.
    let es = describe(find("elasticsearch")[0]);
    assert!(es.contains("auth."), "{es}");
}

/// The committed reference pages are what the config structs say now:
/// `UPDATE_REFERENCE=1 cargo test -p logagent --lib catalog` rewrites them.
#[test]
fn reference_docs_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference");
    let update = std::env::var_os("UPDATE_REFERENCE").is_some();
    let mut stale = Vec::new();
    let pages = reference_pages();
    for (path, text) in &pages {
        let file = dir.join(path);
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.clone());
        }
    }
    // No page for a type that is gone.
    for kind in ["sources", "transforms", "sinks"] {
        for entry in std::fs::read_dir(dir.join(kind))
            .into_iter()
            .flatten()
            .flatten()
        {
            let rel = format!("{kind}/{}", entry.file_name().to_string_lossy());
            if !pages.iter().any(|(p, _)| *p == rel) {
                if update {
                    std::fs::remove_file(entry.path()).unwrap();
                } else {
                    stale.push(rel);
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/reference is stale ({stale:?}): run `UPDATE_REFERENCE=1 cargo test -p logagent --lib catalog::tests::reference_docs_are_current` (or `logagent list --markdown docs/reference`)"
    );
}
