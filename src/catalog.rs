//! What every component type is and which keys it takes: `logagent list`,
//! `logagent list TYPE`, `logagent generate` and the reference pages under
//! `docs/reference/`.
//!
//! The data is generated at build time (`build.rs`) from the list of types in
//! [`crate::config::components`] and from each type's config struct — its
//! fields, their types, their `serde` defaults and their doc comments — so it
//! cannot drift from what the config accepts; the tests below compare every
//! listing with serde's own list of fields.

use std::fmt::Write as _;

pub mod generate;

/// Which kind of component a type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads events in (`[sources.ID]`).
    Source,
    /// Changes, drops or routes events (`[transforms.ID]`).
    Transform,
    /// Writes events out (`[sinks.ID]`).
    Sink,
}

impl Kind {
    /// The word used in listings (`source`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Transform => "transform",
            Kind::Sink => "sink",
        }
    }

    /// The table the kind lives in (`sources`).
    pub fn table(self) -> &'static str {
        match self {
            Kind::Source => "sources",
            Kind::Transform => "transforms",
            Kind::Sink => "sinks",
        }
    }
}

/// One key of a component's config.
#[derive(Debug)]
pub struct KeyDoc {
    /// The key, dotted for nested tables (`auth.strategy`, `rules[].pattern`).
    pub key: &'static str,
    /// Its type, as written in a pipeline file.
    pub ty: &'static str,
    /// Its default, when it may be left out.
    pub default: Option<&'static str>,
    /// True when it must be given.
    pub required: bool,
    /// The field's doc comment.
    pub doc: &'static str,
}

/// One component type.
#[derive(Debug)]
pub struct ComponentDoc {
    /// Source, transform or sink.
    pub kind: Kind,
    /// Its `type = "..."` name.
    pub name: &'static str,
    /// One line on what it is for.
    pub purpose: &'static str,
    /// The config struct (module path and name), for contributors.
    pub config: &'static str,
    /// The component module's docs.
    pub description: &'static str,
    /// Every key of its config.
    pub keys: &'static [KeyDoc],
}

include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// Keys every component of a kind takes besides its own (read by the config
/// loader, not the component).
pub fn common_keys(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Source => &[("type", "the component type")],
        Kind::Transform | Kind::Sink => &[
            ("type", "the component type"),
            (
                "inputs",
                "list of component ids (or `ID.NAME` named outputs) this one reads",
            ),
        ],
    }
}

/// The components named `name`: a type name (`file`, both a source and a
/// sink), or one kind's (`source/file`, `sinks.file`).
pub fn find(name: &str) -> Vec<&'static ComponentDoc> {
    let (kind, ty) = match name.split_once(['/', '.', ':']) {
        Some((k, t)) => (Some(k.trim_end_matches('s')), t),
        None => (None, name),
    };
    COMPONENTS
        .iter()
        .filter(|c| c.name == ty && kind.is_none_or(|k| k == c.kind.as_str()))
        .collect()
}

/// `logagent list`: every type, its kind and purpose.
pub fn list_all() -> String {
    let width = COMPONENTS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for kind in [Kind::Source, Kind::Transform, Kind::Sink] {
        let _ = writeln!(out, "{}:", kind.table());
        for c in COMPONENTS.iter().filter(|c| c.kind == kind) {
            let _ = writeln!(out, "  {:width$}  {}", c.name, c.purpose);
        }
    }
    out.push_str("\n`logagent list TYPE` shows a type's keys (`source/file`, `sink/file` where a name is both).\n");
    out
}

/// `logagent list TYPE`: the keys of one type.
pub fn describe(c: &ComponentDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {}: {}", c.kind.as_str(), c.name, c.purpose);
    let _ = writeln!(out, "\n[{}.ID]", c.kind.table());
    for (key, doc) in common_keys(c.kind) {
        let _ = writeln!(out, "  {key:<24} {doc}");
    }
    for k in c.keys {
        let default = match (k.required, k.default) {
            (true, _) => "required".to_owned(),
            (false, Some(d)) => format!("default {d}"),
            (false, None) => "optional".to_owned(),
        };
        let _ = writeln!(out, "  {:<24} {} ({default})", k.key, k.ty);
        if !k.doc.is_empty() {
            for line in wrap(k.doc, 72) {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Where a type's reference page lives under `docs/reference/`.
pub fn reference_path(c: &ComponentDoc) -> String {
    format!("{}/{}.md", c.kind.table(), c.name)
}

/// The reference page of one type (Markdown), as committed under `docs/reference/`.
pub fn markdown(c: &ComponentDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated from the config struct by `logagent list --markdown`; do not edit. -->"
    );
    let _ = writeln!(out, "# `{}` {}\n", c.name, c.kind.as_str());
    let _ = writeln!(out, "{}\n", c.purpose);
    if !c.description.is_empty() {
        let _ = writeln!(out, "{}\n", c.description);
    }
    let _ = writeln!(out, "## Keys\n");
    let _ = writeln!(out, "| key | type | default | description |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (key, doc) in common_keys(c.kind) {
        let _ = writeln!(out, "| `{key}` | | required | {} |", cell(doc));
    }
    for k in c.keys {
        let default = if k.required {
            "required".to_owned()
        } else {
            k.default.map(|d| format!("`{d}`")).unwrap_or_default()
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            k.key,
            cell(k.ty),
            cell(&default),
            cell(k.doc)
        );
    }
    let _ = writeln!(out, "\nConfig struct: `{}`.", c.config);
    out
}

/// The index page of `docs/reference/`.
pub fn markdown_index() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated by `logagent list --markdown`; do not edit. -->"
    );
    let _ = writeln!(out, "# Component reference\n");
    let _ = writeln!(
        out,
        "One page per component type, generated from its config struct (`logagent list TYPE` prints the same).\n"
    );
    for kind in [Kind::Source, Kind::Transform, Kind::Sink] {
        let _ = writeln!(out, "## {}\n", kind.table());
        for c in COMPONENTS.iter().filter(|c| c.kind == kind) {
            let _ = writeln!(
                out,
                "- [`{}`]({}) — {}",
                c.name,
                reference_path(c),
                c.purpose
            );
        }
        out.push('\n');
    }
    out
}

/// Every reference page: (path under `docs/reference/`, text).
pub fn reference_pages() -> Vec<(String, String)> {
    let mut pages = vec![("README.md".to_owned(), markdown_index())];
    pages.extend(COMPONENTS.iter().map(|c| (reference_path(c), markdown(c))));
    pages
}

/// A table cell: no pipes or newlines.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests;
