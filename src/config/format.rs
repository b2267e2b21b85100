//! Pipeline files in TOML, YAML or JSON, chosen by the file's extension, read
//! into the one tree the loader works on (a TOML [`DeTable`] whose spans point
//! into the file as written), so that the three formats share the schema, the
//! serde structs and the `file:line:col` of every error.
//!
//! YAML and JSON are read with a YAML 1.2 event parser that tells where every
//! node starts (JSON is checked by `serde_json` first, for JSON's own syntax
//! errors and positions). YAML's `null` has no TOML counterpart and is an
//! error that names its position: a key left empty by mistake is never
//! silently dropped.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The syntax a pipeline file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.toml`, and any other extension (a FIFO, `/dev/stdin`).
    Toml,
    /// `.yaml` or `.yml`.
    Yaml,
    /// `.json`.
    Json,
}

/// The extensions `--config-dir` loads, in the order of [`Format`].
pub const EXTENSIONS: &[&str] = &["toml", "yaml", "yml", "json"];

impl Format {
    /// The format of `path`, by its extension (TOML when it has another or none,
    /// as every pipeline file was before YAML and JSON were read).
    pub fn of(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            _ => Format::Toml,
        }
    }

    /// The name used in messages ("invalid YAML: …").
    pub fn name(self) -> &'static str {
        match self {
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        }
    }
}

/// A syntax error: a message and the byte offset it is at, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong, prefixed with "invalid TOML/YAML/JSON".
    pub message: String,
    /// Where, as a byte offset into the (interpolated) text.
    pub offset: Option<usize>,
}

/// Parses `text` (already interpolated) in `format` into a table whose spans
/// are byte ranges of `text`.
pub fn parse_document(format: Format, text: &str) -> Result<Spanned<DeTable<'_>>, SyntaxError> {
    match format {
        Format::Toml => match DeTable::parse(text) {
            Ok(t) => Ok(t),
            Err(e) => Err(SyntaxError {
                message: format!("invalid TOML: {}", e.message().trim()),
                offset: e.span().map(|s| s.start),
            }),
        },
        Format::Json => {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
                return Err(SyntaxError {
                    message: format!("invalid JSON: {}", json_message(&e)),
                    offset: Some(offset_of(text, e.line(), e.column())),
                });
            }
            yaml_document(text, Format::Json)
        }
        Format::Yaml => yaml_document(text, Format::Yaml),
    }
}

/// serde_json's message without its " at line L column C" (we print our own).
fn json_message(e: &serde_json::Error) -> String {
    let m = e.to_string();
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_owned(),
        None => m,
    }
}

/// Byte offset of a 1-based line and column (serde_json counts columns in bytes).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(n) => start += n + 1,
            None => return text.len(),
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

/// A YAML node as the events describe it, before it becomes a TOML value.
#[derive(Debug, Clone)]
enum Node {
    Scalar(String, TScalarStyle, Option<Tag>, usize),
    Seq(Vec<Node>, Range<usize>),
    Map(Vec<(Node, Node)>, Range<usize>),
}

impl Node {
    fn span(&self) -> Range<usize> {
        match self {
            Node::Scalar(s, _, _, start) => *start..*start + s.len().max(1),
            Node::Seq(_, r) | Node::Map(_, r) => r.clone(),
        }
    }
}

/// Builds [`Node`]s from the parser's events.
struct Builder<'t> {
    text: &'t str,
    /// Byte offset of each char index, when the text is not ASCII.
    char_offsets: Option<Vec<usize>>,
    stack: Vec<(Node, Option<Node>)>,
    /// Anchored nodes with their number of values, for aliases.
    anchors: HashMap<usize, (Node, usize)>,
    /// For each open collection: its anchor and the value count when it opened.
    anchor_of_open: Vec<(usize, usize)>,
    docs: Vec<Node>,
    error: Option<SyntaxError>,
    /// Values built so far, aliases counted by what they expand to.
    values: usize,
    /// Collections opened past [`MAX_DEPTH`], ignored until they close.
    ignored_depth: usize,
}

/// Deepest nesting of mappings and sequences in a YAML or JSON pipeline file
/// (serde_json's own limit): deeper is refused, never a stack overflow.
pub const MAX_DEPTH: usize = 128;

/// Most values a YAML file may expand to through aliases (`&a` … `*a`): a
/// "billion laughs" file is refused instead of filling memory.
pub const MAX_VALUES: usize = 1 << 20;

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Builder<'t> {
        let char_offsets = (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            v.push(text.len());
            v
        });
        Builder {
            text,
            char_offsets,
            stack: Vec::new(),
            anchors: HashMap::new(),
            anchor_of_open: Vec::new(),
            docs: Vec::new(),
            error: None,
            values: 0,
            ignored_depth: 0,
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        match &self.char_offsets {
            Some(v) => v.get(mark.index()).copied().unwrap_or(self.text.len()),
            None => mark.index().min(self.text.len()),
        }
    }

    /// Adds a finished node to its parent (or as a document).
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((Node::Seq(items, _), _)) => items.push(node),
            Some((Node::Map(entries, _), pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
            Some((Node::Scalar(..), _)) => {}
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = self.offset(&mark);
        if self.error.is_some() {
            return;
        }
        if self.ignored_depth > 0 {
            match ev {
                Event::SequenceStart(..) | Event::MappingStart(..) => self.ignored_depth += 1,
                Event::SequenceEnd | Event::MappingEnd => self.ignored_depth -= 1,
                _ => {}
            }
            return;
        }
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node::Scalar(value, style, tag, at);
                self.values += 1;
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.push(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, count)) => {
                    self.values += count;
                    if self.values > MAX_VALUES {
                        self.error = Some(SyntaxError {
                            message: format!(
                                "invalid YAML: aliases expand the file to more than {MAX_VALUES} values"
                            ),
                            offset: Some(at),
                        });
                        return;
                    }
                    let node = node.clone();
                    self.push(node);
                }
                None => {
                    self.error = Some(SyntaxError {
                        message: "invalid YAML: an alias names an unknown anchor".into(),
                        offset: Some(at),
                    });
                }
            },
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.error = Some(SyntaxError {
                        message: format!("invalid YAML: nested deeper than {MAX_DEPTH} levels"),
                        offset: Some(at),
                    });
                    self.ignored_depth = 1;
                    return;
                }
                self.values += 1;
                self.anchor_of_open.push((anchor, self.values));
                let node = if matches!(ev, Event::SequenceStart(..)) {
                    Node::Seq(Vec::new(), at..at)
                } else {
                    Node::Map(Vec::new(), at..at)
                };
                self.stack.push((node, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, opened_at) = self.anchor_of_open.pop().unwrap_or((0, 0));
                if let Some((mut node, _)) = self.stack.pop() {
                    if let Node::Seq(_, r) | Node::Map(_, r) = &mut node {
                        r.end = at.max(r.start + 1);
                    }
                    if anchor > 0 {
                        let count = self.values + 1 - opened_at;
                        self.anchors.insert(anchor, (node.clone(), count));
                    }
                    self.push(node);
                }
            }
            _ => {}
        }
    }
}

/// A YAML (or JSON) document as a table.
fn yaml_document(text: &str, format: Format) -> Result<Spanned<DeTable<'_>>, SyntaxError> {
    let mut builder = Builder::new(text);
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let offset = builder.offset(e.marker());
        return Err(SyntaxError {
            message: format!("invalid {}: {}", format.name(), e.info()),
            offset: Some(offset),
        });
    }
    if let Some(e) = builder.error.take() {
        return Err(e);
    }
    let mut docs = std::mem::take(&mut builder.docs).into_iter();
    let doc = match (docs.next(), docs.next()) {
        (_, Some(second)) => {
            return Err(SyntaxError {
                message: format!(
                    "invalid {}: more than one document (a pipeline file holds one; merge them or use several files)",
                    format.name()
                ),
                offset: Some(second.span().start),
            });
        }
        (None, None) => return Ok(Spanned::new(0..0, DeTable::new())),
        (Some(doc), None) => doc,
    };
    match doc {
        // An empty document.
        Node::Scalar(s, TScalarStyle::Plain, None, _) if is_null(&s) => {
            Ok(Spanned::new(0..0, DeTable::new()))
        }
        Node::Map(..) => {
            let span = doc.span();
            match to_value(text, doc, format)? {
                DeValue::Table(t) => Ok(Spanned::new(span, t)),
                _ => unreachable_table(span),
            }
        }
        other => Err(SyntaxError {
            message: format!(
                "expected a mapping of top-level keys (sources, transforms, sinks, …) at the top of the {} document",
                format.name()
            ),
            offset: Some(other.span().start),
        }),
    }
}

fn unreachable_table(span: Range<usize>) -> Result<Spanned<DeTable<'static>>, SyntaxError> {
    Err(SyntaxError {
        message: "expected a mapping".into(),
        offset: Some(span.start),
    })
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// A node as a TOML value: YAML 1.2 core-schema plain scalars become
/// booleans, integers and floats; quoted ones and `!!str` stay strings.
fn to_value<'a>(text: &'a str, node: Node, format: Format) -> Result<DeValue<'a>, SyntaxError> {
    Ok(match node {
        Node::Scalar(s, style, tag, start) => {
            let tag = tag.map(|t| t.suffix);
            if style != TScalarStyle::Plain || tag.as_deref() == Some("str") {
                return Ok(DeValue::String(s.into()));
            }
            if is_null(&s) {
                return Err(SyntaxError {
                    message: format!(
                        "invalid {}: a null value (an empty key or `null`) is not allowed: give a value or remove the key",
                        format.name()
                    ),
                    offset: Some(start),
                });
            }
            match s.as_str() {
                "true" | "True" | "TRUE" => return Ok(DeValue::Boolean(true)),
                "false" | "False" | "FALSE" => return Ok(DeValue::Boolean(false)),
                _ => {}
            }
            if let Some(v) = number(text, &s, start) {
                return Ok(v);
            }
            DeValue::String(s.into())
        }
        Node::Seq(items, _) => {
            let mut array = DeArray::new();
            for item in items {
                let span = item.span();
                array.push(Spanned::new(span, to_value(text, item, format)?));
            }
            DeValue::Array(array)
        }
        Node::Map(entries, _) => {
            let mut table = DeTable::new();
            for (key, value) in entries {
                let key_span = key.span();
                let name = match key {
                    Node::Scalar(s, ..) => s,
                    _ => {
                        return Err(SyntaxError {
                            message: format!("invalid {}: keys must be strings", format.name()),
                            offset: Some(key_span.start),
                        });
                    }
                };
                if matches!(&value, Node::Scalar(v, TScalarStyle::Plain, None, _) if v.is_empty()) {
                    return Err(SyntaxError {
                        message: format!(
                            "invalid {}: key `{name}` has no value (YAML reads it as null): give a value or remove the key",
                            format.name()
                        ),
                        offset: Some(key_span.start),
                    });
                }
                let value_span = value.span();
                let value = to_value(text, value, format)?;
                if table
                    .insert(
                        Spanned::new(key_span.clone(), name.clone().into()),
                        Spanned::new(value_span, value),
                    )
                    .is_some()
                {
                    return Err(SyntaxError {
                        message: format!("invalid {}: duplicate key `{name}`", format.name()),
                        offset: Some(key_span.start),
                    });
                }
            }
            DeValue::Table(table)
        }
    })
}

/// A plain scalar that is a YAML 1.2 integer or float, as a TOML number,
/// read from the file's own text (so the value borrows nothing new). Numbers
/// TOML cannot spell (`.5`, `1.`) stay strings, which the key's type then
/// refuses with a message naming it.
fn number<'a>(text: &'a str, s: &str, start: usize) -> Option<DeValue<'a>> {
    let special: Option<&'static str> = match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some("inf"),
        "-.inf" | "-.Inf" | "-.INF" => Some("-inf"),
        ".nan" | ".NaN" | ".NAN" => Some("nan"),
        _ => None,
    };
    if let Some(repr) = special {
        return DeValue::parse(repr).ok().map(Spanned::into_inner);
    }
    let numeric = !s.is_empty()
        && s.chars().any(|c| c.is_ascii_digit())
        && (s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            || s.starts_with("0x")
            || s.starts_with("0o"));
    if !numeric {
        return None;
    }
    let slice = text.get(start..start + s.len()).filter(|t| *t == s)?;
    DeValue::parse(slice)
        .ok()
        .map(Spanned::into_inner)
        .filter(|v| v.is_integer() || v.is_float())
}

/// The byte ranges of YAML comments (from a `#` that starts the line or follows
/// a space, outside quoted scalars and block scalars, to the end of the line).
pub fn yaml_comments(text: &str) -> Vec<(usize, usize)> {
    let mut comments = Vec::new();
    let mut offset = 0;
    let mut in_double = false;
    let mut in_single = false;
    // Indentation of the line that opened a block scalar (`|` or `>`).
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches(' ').len();
        if let Some(parent) = block {
            if content.trim().is_empty() || indent > parent {
                continue;
            }
            block = None;
        }
        let bytes = content.as_bytes();
        let mut prev_significant: Option<u8> = None;
        let mut i = 0;
        let mut comment_at = None;
        while i < bytes.len() {
            let b = bytes[i];
            if in_double {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_double = false,
                    _ => {}
                }
            } else if in_single {
                if b == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        in_single = false;
                    }
                }
            } else {
                match b {
                    b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t') => {
                        comment_at = Some(i);
                        break;
                    }
                    b'"' | b'\''
                        if matches!(
                            prev_significant,
                            None | Some(b':' | b'-' | b'[' | b'{' | b',' | b'?')
                        ) =>
                    {
                        if b == b'"' {
                            in_double = true;
                        } else {
                            in_single = true;
                        }
                    }
                    b' ' | b'\t' => {}
                    _ => prev_significant = Some(b),
                }
            }
            i += 1;
        }
        if let Some(c) = comment_at {
            comments.push((start + c, start + content.len()));
        }
        let code = content[..comment_at.unwrap_or(content.len())].trim_end();
        if !in_double && !in_single && opens_block_scalar(code) {
            block = Some(indent);
        }
    }
    comments
}

/// True when a line ends with a block scalar indicator (`key: |`, `- >-`).
fn opens_block_scalar(code: &str) -> bool {
    let last = code.rsplit([' ', '\t']).next().unwrap_or("");
    let Some(rest) = last.strip_prefix(['|', '>']) else {
        return false;
    };
    let before = code[..code.len() - last.len()].trim_end();
    (before.is_empty() || before.ends_with(':') || before.ends_with('-'))
        && rest
            .chars()
            .all(|c| matches!(c, '+' | '-') || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(format: Format, text: &str) -> toml::Table {
        let doc = parse_document(format, text).unwrap();
        serde::Deserialize::deserialize(toml::de::ValueDeserializer::from(Spanned::new(
            doc.span(),
            DeValue::Table(doc.into_inner()),
        )))
        .unwrap()
    }

    #[test]
    fn extensions_choose_the_format() {
        assert_eq!(Format::of(Path::new("a.yaml")), Format::Yaml);
        assert_eq!(Format::of(Path::new("a.YML")), Format::Yaml);
        assert_eq!(Format::of(Path::new("a.json")), Format::Json);
        assert_eq!(Format::of(Path::new("a.toml")), Format::Toml);
        assert_eq!(Format::of(Path::new("/dev/fd/63")), Format::Toml);
    }

    #[test]
    fn yaml_scalars_follow_the_core_schema() {
        let t = table_of(
            Format::Yaml,
            "a: 12\nb: -3\nc: 1.5\nd: true\ne: 'true'\nf: \"12\"\ng: 0x1f\nh: .inf\ni: !!str 7\nj: 1e3\nk: abc\nl: 2025-08-20\nm: [1, x]\n",
        );
        assert_eq!(t["a"], toml::Value::Integer(12));
        assert_eq!(t["b"], toml::Value::Integer(-3));
        assert_eq!(t["c"], toml::Value::Float(1.5));
        assert_eq!(t["d"], toml::Value::Boolean(true));
        assert_eq!(t["e"], toml::Value::String("true".into()));
        assert_eq!(t["f"], toml::Value::String("12".into()));
        assert_eq!(t["g"], toml::Value::Integer(31));
        assert_eq!(t["h"], toml::Value::Float(f64::INFINITY));
        assert_eq!(t["i"], toml::Value::String("7".into()));
        assert_eq!(t["j"], toml::Value::Float(1000.0));
        assert_eq!(t["k"], toml::Value::String("abc".into()));
        assert_eq!(t["l"], toml::Value::String("2025-08-20".into()));
        assert_eq!(t["m"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn anchors_and_aliases_are_copied() {
        let t = table_of(
            Format::Yaml,
            "base: &b\n  type: stdin\nsources:\n  one: *b\n  two: *b\n",
        );
        assert_eq!(t["sources"]["two"]["type"].as_str(), Some("stdin"));
    }

    #[test]
    fn spans_point_at_the_text_even_after_non_ascii() {
        let text = "# é ü\nsources:\n  app:\n    type: stdin\n";
        let doc = parse_document(Format::Yaml, text).unwrap();
        let sources = doc.get_ref().get("sources").unwrap();
        let DeValue::Table(t) = sources.get_ref() else {
            panic!("not a table")
        };
        let (k, _) = t.iter().next().unwrap();
        assert_eq!(&text[k.span().start..k.span().start + 3], "app");
    }

    #[test]
    fn json_errors_are_located_and_json_is_read_like_yaml() {
        let e = parse_document(Format::Json, "{\n  \"a\": 1,\n}\n").unwrap_err();
        assert!(e.message.starts_with("invalid JSON"), "{e:?}");
        // serde_json points just past the trailing comma.
        assert_eq!(e.offset, Some(12));
        let t = table_of(Format::Json, r#"{"a":{"b":[1,2.5,"x\/y",true]},"c":"d"}"#);
        assert_eq!(t["a"]["b"][2].as_str(), Some("x/y"));
        assert_eq!(t["a"]["b"][1], toml::Value::Float(2.5));
    }

    #[test]
    fn deep_nesting_and_alias_bombs_are_refused() {
        // Flow nesting: the YAML parser's own limit.
        let deep = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse_document(Format::Yaml, &deep).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e:?}");
        // Block nesting: ours.
        let block: String = (0..200)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect::<String>()
            + &"  ".repeat(200)
            + "v\n";
        let e = parse_document(Format::Yaml, &block).unwrap_err();
        assert!(e.message.contains("nested deeper than 128"), "{e:?}");
        let deep_json = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_document(Format::Json, &deep_json).is_err());
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                [prev.as_str(); 10].join(", ")
            ));
        }
        let e = parse_document(Format::Yaml, &bomb).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{e:?}");
    }

    #[test]
    fn more_than_one_document_or_a_top_level_list_is_refused() {
        assert!(parse_document(Format::Yaml, "a: 1\n---\nb: 2\n").is_err());
        assert!(parse_document(Format::Yaml, "- a\n- b\n").is_err());
        assert!(parse_document(Format::Yaml, "a: 1\na: 2\n").is_err());
        assert!(
            parse_document(Format::Yaml, "")
                .unwrap()
                .get_ref()
                .is_empty()
        );
    }

    #[test]
    fn yaml_comments_skip_quotes_and_block_scalars() {
        let text = "# top ${A}\nk: v # tail ${B}\nq: \"x # ${C}\"\ns: 'it''s # ${D}'\n\
                    p: it's # ${E}\nb: |\n  # ${F} not a comment\n  line\nc: 1 # ${G}\nu: a#b\n";
        let comments: Vec<&str> = yaml_comments(text)
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect();
        assert_eq!(
            comments,
            vec!["# top ${A}", "# tail ${B}", "# ${E}", "# ${G}"]
        );
    }
}
