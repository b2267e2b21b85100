//! `logagent convert FILE`: an equivalent logagent pipeline (TOML) for a
//! Fluentd, Fluent Bit (classic or YAML) or Vector (TOML or YAML) config.
//!
//! Each reader translates the directives it knows into our components and
//! lists every directive it cannot translate with its file and line ([`Note`]),
//! on stderr and as comments at the top of the output, so that nothing is
//! dropped without a word. The output is a pipeline `logagent validate`
//! accepts; what it does differently from the original tool (where reading
//! starts, where positions are kept) is said in comments beside the keys.

mod fluentbit;
mod fluentd;
mod vector;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The tool a config file is written for (`--from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum From {
    /// Fluentd (`<source>`, `<filter>`, `<match>`).
    Fluentd,
    /// Fluent Bit, classic (`[INPUT]`) or YAML (`pipeline:`).
    FluentBit,
    /// Vector, TOML or YAML (`sources`, `transforms`, `sinks`).
    Vector,
}

/// Most bytes of a config file `convert` reads: configs are small; a larger
/// file is the wrong file.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A directive that was not translated, or translated with a difference the
/// user should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line in the input file.
    pub line: usize,
    /// What was not translated, and why.
    pub message: String,
}

/// The kind of a pipeline component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[sources.ID]`.
    Source,
    /// `[transforms.ID]`.
    Transform,
    /// `[sinks.ID]`.
    Sink,
}

/// One component of the converted pipeline.
#[derive(Debug, Clone)]
pub struct Component {
    /// Source, transform or sink.
    pub kind: Kind,
    /// Its id.
    pub id: String,
    /// Comment lines printed above it (where it came from, what differs).
    pub comments: Vec<String>,
    /// Its keys, `type` and `inputs` first.
    pub table: toml::Table,
}

/// A converted pipeline, before it is printed.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// `data_dir`, with a comment on where it came from.
    pub data_dir: Option<(String, String)>,
    /// Components in order.
    pub components: Vec<Component>,
    /// Directives not translated.
    pub notes: Vec<Note>,
}

impl Converted {
    /// Adds a component of `kind` with the given `type`, `inputs` and keys.
    pub fn add(
        &mut self,
        kind: Kind,
        id: &str,
        ty: &str,
        inputs: &[String],
        keys: toml::Table,
        comments: Vec<String>,
    ) {
        let mut table = toml::Table::new();
        table.insert("type".into(), ty.into());
        if kind != Kind::Source {
            table.insert(
                "inputs".into(),
                toml::Value::Array(inputs.iter().map(|i| i.as_str().into()).collect()),
            );
        }
        table.extend(keys);
        self.components.push(Component {
            kind,
            id: id.to_owned(),
            comments,
            table,
        });
    }

    /// Records an untranslated directive.
    pub fn note(&mut self, line: usize, message: impl Into<String>) {
        self.notes.push(Note {
            line,
            message: message.into(),
        });
    }

    /// Connects around components that were not translated: an input naming
    /// one of `skipped` (id → its own inputs) is replaced by that component's
    /// inputs, so the events flow past it instead of the output naming an id
    /// that does not exist; a component left with no input is removed (and
    /// noted), and so on downstream. The output then validates.
    pub fn connect_around(&mut self, mut skipped: std::collections::HashMap<String, Vec<String>>) {
        loop {
            let mut removed = Vec::new();
            for c in &mut self.components {
                if c.kind == Kind::Source {
                    continue;
                }
                let Some(toml::Value::Array(inputs)) = c.table.get("inputs") else {
                    continue;
                };
                let mut new: Vec<String> = Vec::new();
                for i in inputs.iter().filter_map(toml::Value::as_str) {
                    let mut stack = vec![i.to_owned()];
                    let mut seen = 0;
                    while let Some(id) = stack.pop() {
                        seen += 1;
                        let base = id.split('.').next().unwrap_or(&id).to_owned();
                        match skipped.get(&base) {
                            Some(up) if seen < 1000 => stack.extend(up.iter().cloned()),
                            Some(_) => {}
                            None => {
                                if !new.contains(&id) {
                                    new.push(id);
                                }
                            }
                        }
                    }
                }
                if new.is_empty() {
                    removed.push(c.id.clone());
                } else {
                    c.table.insert("inputs".into(), strings(&new));
                }
            }
            if removed.is_empty() {
                return;
            }
            for id in removed {
                self.components.retain(|c| c.id != id);
                self.note(
                    0,
                    format!("`{id}` is left out: everything it read from was left out"),
                );
                skipped.insert(id, Vec::new());
            }
        }
    }

    /// An id not used yet, from `base` (made of letters, digits, `_`, `-`).
    pub fn unique_id(&self, base: &str) -> String {
        let mut clean: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            clean = "component".into();
        }
        if !self.components.iter().any(|c| c.id == clean) {
            return clean;
        }
        (2..)
            .map(|n| format!("{clean}_{n}"))
            .find(|id| !self.components.iter().any(|c| &c.id == id))
            .unwrap_or(clean)
    }

    /// The pipeline as TOML, with the notes as comments at the top.
    pub fn render(&self, file: &Path, from: From) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Converted by `logagent convert` from {} ({}).",
            file.display(),
            match from {
                From::Fluentd => "Fluentd",
                From::FluentBit => "Fluent Bit",
                From::Vector => "Vector",
            }
        );
        if self.notes.is_empty() {
            out.push_str("# Every directive was translated.\n");
        } else {
            out.push_str("#\n# NOT TRANSLATED (check these by hand):\n");
            for n in &self.notes {
                let _ = writeln!(out, "#   {}: {}", where_(file, n.line), n.message);
            }
        }
        out.push('\n');
        if let Some((dir, comment)) = &self.data_dir {
            for line in comment.lines() {
                let _ = writeln!(out, "# {line}");
            }
            let _ = writeln!(out, "data_dir = {}\n", toml::Value::from(dir.as_str()));
        }
        for c in &self.components {
            let kind = match c.kind {
                Kind::Source => "sources",
                Kind::Transform => "transforms",
                Kind::Sink => "sinks",
            };
            for line in &c.comments {
                let _ = writeln!(out, "# {line}");
            }
            let mut inner = toml::Table::new();
            inner.insert(c.id.clone(), toml::Value::Table(c.table.clone()));
            let mut outer = toml::Table::new();
            outer.insert(kind.into(), toml::Value::Table(inner));
            match toml::to_string(&outer) {
                Ok(text) => out.push_str(&text),
                Err(e) => {
                    let _ = writeln!(out, "# cannot print {kind}.{}: {e}", c.id);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Errors that stop a conversion (the file cannot be read or parsed).
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{}: larger than {MAX_CONFIG_BYTES} bytes; not a config file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file's syntax is broken.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing tells which tool the file is for.
    #[error("{}: cannot tell whether this is a Fluentd, Fluent Bit or Vector config; say it with --from", path.display())]
    Unknown {
        /// The file.
        path: PathBuf,
    },
}

/// Guesses the tool from the content, then the extension.
pub fn detect(path: &Path, text: &str) -> Option<From> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let trimmed = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for line in trimmed {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("<source")
            || lower.starts_with("<match")
            || lower.starts_with("<filter")
            || lower.starts_with("<system")
            || lower.starts_with("<label")
            || lower.starts_with("@include")
        {
            return Some(From::Fluentd);
        }
        if lower.starts_with("[input]")
            || lower.starts_with("[output]")
            || lower.starts_with("[filter]")
            || lower.starts_with("[service]")
            || lower.starts_with("[parser]")
            || lower.starts_with("@include")
            || lower.starts_with("pipeline:")
            || lower.starts_with("service:")
            || lower.starts_with("parsers:")
        {
            return Some(From::FluentBit);
        }
        if lower.starts_with("[sources.")
            || lower.starts_with("[transforms.")
            || lower.starts_with("[sinks.")
            || lower.starts_with("sources:")
            || lower.starts_with("transforms:")
            || lower.starts_with("sinks:")
        {
            return Some(From::Vector);
        }
    }
    match ext.as_deref() {
        Some("toml") => Some(From::Vector),
        _ => None,
    }
}

/// Converts the config at `path` (read whole, at most [`MAX_CONFIG_BYTES`]).
pub fn convert_file(path: &Path, from: Option<From>) -> Result<(From, Converted), ConvertError> {
    let read = |source| ConvertError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConvertError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let from = match from.or_else(|| detect(path, &text)) {
        Some(f) => f,
        None => {
            return Err(ConvertError::Unknown {
                path: path.to_path_buf(),
            });
        }
    };
    let syntax = |(line, message)| ConvertError::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    };
    let converted = match from {
        From::Fluentd => fluentd::convert(&text).map_err(syntax)?,
        From::FluentBit => fluentbit::convert(path, &text).map_err(syntax)?,
        From::Vector => vector::convert(path, &text).map_err(syntax)?,
    };
    Ok((from, converted))
}

/// `logagent convert`: prints the pipeline on stdout and the notes on stderr.
/// Exit 0 when a pipeline was printed (with or without notes), 2 when the
/// file cannot be read, parsed or recognised.
pub fn main(path: &Path, from: Option<From>) -> i32 {
    match convert_file(path, from) {
        Ok((from, converted)) => {
            for n in &converted.notes {
                eprintln!(
                    "logagent convert: {}: not translated: {}",
                    where_(path, n.line),
                    n.message
                );
            }
            print!("{}", converted.render(path, from));
            0
        }
        Err(e) => {
            eprintln!("logagent convert: {e}");
            2
        }
    }
}

/// `FILE:LINE`, or `FILE` for a note about the whole file (line 0).
fn where_(file: &Path, line: usize) -> String {
    if line == 0 {
        file.display().to_string()
    } else {
        format!("{}:{line}", file.display())
    }
}

/// A glob of the kind Fluentd and Fluent Bit use for tags (`app.*`, `app.**`,
/// `{a,b}.*`) as a test on one tag. `*` matches one dot-separated part (Fluent
/// Bit: any characters), `**` any number of parts.
pub fn tag_matches(pattern: &str, tag: &str, star_crosses_dots: bool) -> bool {
    pattern.split_whitespace().any(|p| {
        expand_braces(p)
            .iter()
            .any(|p| glob_tag(p, tag, star_crosses_dots))
    })
}

fn expand_braces(p: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (p.find('{'), p.find('}')) else {
        return vec![p.to_owned()];
    };
    if close < open {
        return vec![p.to_owned()];
    }
    p[open + 1..close]
        .split(',')
        .flat_map(|alt| expand_braces(&format!("{}{alt}{}", &p[..open], &p[close + 1..])))
        .collect()
}

fn glob_tag(pattern: &str, tag: &str, star_crosses_dots: bool) -> bool {
    let mut re = String::from("^");
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(".**") {
            re.push_str(r"(\..*)?");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("**") {
            re.push_str(".*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('*') {
            re.push_str(if star_crosses_dots { ".*" } else { "[^.]*" });
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            re.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    re.push('$');
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(tag))
}

/// A `toml::Table` from pairs.
pub fn table<const N: usize>(pairs: [(&str, toml::Value); N]) -> toml::Table {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A string array value.
pub fn strings<S: AsRef<str>>(items: &[S]) -> toml::Value {
    toml::Value::Array(items.iter().map(|s| s.as_ref().into()).collect())
}

/// True for the words the three tools take as true.
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "1"
    )
}

/// `(host, port, scheme)` as one endpoint URL.
pub fn endpoint(scheme: &str, host: &str, port: &str) -> String {
    format!("{scheme}://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_patterns() {
        assert!(tag_matches("workflow.**", "workflow.var.log.a.log", false));
        assert!(tag_matches("workflow.**", "workflow", false));
        assert!(tag_matches("workflow.*", "workflow.a", false));
        assert!(!tag_matches("workflow.*", "workflow.a.b", false));
        assert!(tag_matches("app.*", "app.a.b", true));
        assert!(tag_matches("{a,b}.*", "b.x", false));
        assert!(tag_matches("other.* workflow.**", "workflow.x", false));
        assert!(!tag_matches("other.**", "workflow.x", false));
        assert!(tag_matches("*", "anything", true));
        assert!(tag_matches("**", "a.b.c", false));
    }

    #[test]
    fn ids_are_unique_and_clean() {
        let mut c = Converted::default();
        c.add(Kind::Source, "a", "stdin", &[], toml::Table::new(), vec![]);
        assert_eq!(c.unique_id("a"), "a_2");
        assert_eq!(c.unique_id("x.y z"), "x_y_z");
    }
}
