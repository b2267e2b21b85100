//! Vector configs (TOML, YAML or JSON by extension): the shape is ours
//! already (`sources`, `transforms`, `sinks`, `inputs`), so ids and the graph
//! are kept and each component's keys are translated.
//!
//! `remap` is kept as VRL (`type = "remap"`, the `source` as written), except
//! whole-program idioms that have a native, zero-copy equivalent:
//! `. = parse_json!(.message)` (also `string!(.message)`, `|=`) becomes
//! `parse_json`, `. |= parse_regex!(.message, r'…')` becomes `parse_regex`, and
//! programs of only `.f = "literal"` lines (or only `if !exists(.f) { .f =
//! "literal" }` lines) become `add_fields`.
//! `filter` conditions made of `.field == "x"`, `!=`, `exists(.f)`, `&&` and
//! `||` become native conditions; any other condition runs as VRL in a `remap`
//! that aborts (drops) the events for which it does not hold. A component that
//! is not translated is listed, and what read from it reads from its inputs.

use std::path::Path;

use toml::Value;

use super::{Converted, Kind, strings, table};
use crate::config::format::{Format, parse_document};
use crate::config::interpolate::line_col;

/// Converts a Vector config.
pub fn convert(path: &Path, text: &str) -> Result<Converted, (usize, String)> {
    let doc = parse_document(Format::of(path), text)
        .map_err(|e| (e.offset.map_or(0, |o| line_col(text, o).0), e.message))?;
    let mut out = Converted::default();
    // Lines of each component, for the notes.
    let mut lines = std::collections::HashMap::new();
    for (k, v) in doc.get_ref().iter() {
        if let toml::de::DeValue::Table(t) = v.get_ref() {
            for (id, body) in t.iter() {
                lines.insert(
                    format!("{}.{}", k.get_ref(), id.get_ref()),
                    line_col(text, body.span().start)
                        .0
                        .max(line_col(text, id.span().start).0),
                );
            }
        }
    }
    let root: toml::Table = serde::Deserialize::deserialize(toml::de::ValueDeserializer::from(
        toml::Spanned::new(doc.span(), toml::de::DeValue::Table(doc.into_inner())),
    ))
    .map_err(|e| (0, format!("cannot read the config: {}", e.message())))?;
    let line_of = |kind: &str, id: &str| lines.get(&format!("{kind}.{id}")).copied().unwrap_or(0);
    for (key, value) in &root {
        match key.as_str() {
            "data_dir" => {
                if let Some(d) = value.as_str() {
                    out.data_dir = Some((d.to_owned(), "Vector's data_dir: logagent keeps its own checkpoints there (it does not read Vector's).".into()));
                }
            }
            "sources" | "transforms" | "sinks" => {}
            other => out.note(0, format!("top-level `{other}` not translated")),
        }
    }
    let section = |k: &str| {
        root.get(k)
            .and_then(Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    for (id, body) in section("sources") {
        let line = line_of("sources", &id);
        source(
            &id,
            body.as_table().cloned().unwrap_or_default(),
            line,
            &mut out,
        );
    }
    for (id, body) in section("transforms") {
        let line = line_of("transforms", &id);
        transform(
            &id,
            body.as_table().cloned().unwrap_or_default(),
            line,
            &mut out,
        );
    }
    for (id, body) in section("sinks") {
        let line = line_of("sinks", &id);
        sink(
            &id,
            body.as_table().cloned().unwrap_or_default(),
            line,
            &mut out,
        );
    }
    // What was left out is connected around, so the output validates.
    let mut skipped = std::collections::HashMap::new();
    for kind in ["sources", "transforms", "sinks"] {
        for (id, body) in section(kind) {
            if !out.components.iter().any(|c| c.id == id) {
                let ins = body
                    .as_table()
                    .cloned()
                    .map(|mut t| inputs(&mut t))
                    .unwrap_or_default();
                skipped.insert(id, ins);
            }
        }
    }
    out.connect_around(skipped);
    Ok(out)
}

fn take_str(t: &mut toml::Table, k: &str) -> Option<String> {
    t.remove(k).and_then(|v| v.as_str().map(str::to_owned))
}

fn inputs(t: &mut toml::Table) -> Vec<String> {
    t.remove("inputs")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn leftovers(t: &toml::Table, what: &str, line: usize, out: &mut Converted) {
    for (k, v) in t {
        out.note(line, format!("{what}: `{k} = {v}` not translated"));
    }
}

fn source(id: &str, mut t: toml::Table, line: usize, out: &mut Converted) {
    let ty = take_str(&mut t, "type").unwrap_or_default();
    let mut keys = toml::Table::new();
    let mut comments = vec![format!("Vector source `{ty}`, line {line}.")];
    match ty.as_str() {
        "file" => {
            for k in ["include", "exclude"] {
                if let Some(v) = t.remove(k) {
                    keys.insert(k.into(), v);
                }
            }
            match take_str(&mut t, "read_from").as_deref() {
                Some("end") => {
                    keys.insert("read_from".into(), "end".into());
                }
                Some(_) | None => comments
                    .push("Vector and logagent both read from the beginning by default.".into()),
            }
            if let Some(d) = take_str(&mut t, "data_dir") {
                out.data_dir
                    .get_or_insert((d, format!("sources.{id}.data_dir")));
            }
            for k in [
                "ignore_checkpoints",
                "fingerprint",
                "glob_minimum_cooldown_ms",
            ] {
                if let Some(v) = t.remove(k) {
                    out.note(line, format!("sources.{id}: `{k} = {v}`: logagent identifies files by device and inode and polls globs every `glob_interval`"));
                }
            }
            if let Some(v) = t.remove("max_line_bytes") {
                keys.insert("max_line_bytes".into(), v);
            }
            out.add(Kind::Source, id, "file", &[], keys, comments);
        }
        "stdin" => out.add(Kind::Source, id, "stdin", &[], keys, comments),
        other => {
            out.note(line, format!("sources.{id}: type `{other}` not translated"));
            return;
        }
    }
    leftovers(&t, &format!("sources.{id}"), line, out);
}

/// A remap program that is one native transform, as `(type, keys)`.
fn remap_idiom(program: &str) -> Option<(&'static str, toml::Table)> {
    let lines: Vec<&str> = program
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let [stmt] = lines.as_slice() else {
        return None;
    };
    let stmt = stmt.trim_end_matches(';').replace(' ', "");
    let merge = stmt.starts_with(".|=");
    let rhs = stmt
        .strip_prefix(".=")
        .or_else(|| stmt.strip_prefix(".|="))?;
    if let Some(arg) = rhs
        .strip_prefix("parse_json!(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let arg = arg
            .strip_prefix("string!(")
            .and_then(|a| a.strip_suffix(')'))
            .unwrap_or(arg);
        let field = arg.strip_prefix('.')?;
        let mut keys = toml::Table::new();
        if field != "message" {
            keys.insert("field".into(), field.into());
        }
        if merge {
            // `|=` merges into the event: the parsed field stays.
            keys.insert("keep_field".into(), true.into());
        }
        return Some(("parse_json", keys));
    }
    None
}

/// A program made only of `.f = LITERAL` lines (`add_fields`), or only of
/// `if !exists(.f) { .f = LITERAL }` lines (`add_fields` with `overwrite = false`).
fn fields_idiom(program: &str) -> Option<toml::Table> {
    let lines: Vec<&str> = program
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let mut fields = toml::Table::new();
    let mut overwrite = None;
    for line in lines {
        let line = line.trim_end_matches(';').trim();
        let (assignment, guarded) = match line
            .strip_prefix("if !exists(")
            .and_then(|r| r.split_once(')'))
        {
            Some((guard, body)) => {
                let body = body.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
                let body = body.trim_end_matches(';').trim();
                let (f, _) = body.split_once('=')?;
                if f.trim() != guard.trim() {
                    return None;
                }
                (body, true)
            }
            None => (line, false),
        };
        if *overwrite.get_or_insert(!guarded) == guarded {
            return None;
        }
        let (f, v) = assignment.split_once('=')?;
        let f = f.trim().strip_prefix('.')?;
        if f.is_empty()
            || !f
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return None;
        }
        let v = literal(v)?;
        // A `%` would read as a strftime template in add_fields.
        if v.as_str()
            .is_some_and(|s| s.contains('%') || s.contains("{{"))
        {
            return None;
        }
        fields.insert(f.to_owned(), v);
    }
    let mut keys = table([("fields", Value::Table(fields))]);
    if overwrite == Some(false) {
        keys.insert("overwrite".into(), false.into());
    }
    Some(keys)
}

/// `. |= parse_regex!(.message, r'…')` (spaces inside the pattern kept).
fn regex_idiom(program: &str) -> Option<toml::Table> {
    let p = program.trim();
    let rest = p
        .strip_prefix(". |= parse_regex!(")
        .or_else(|| p.strip_prefix(".|=parse_regex!("))?;
    let (field, rest) = rest.split_once(',')?;
    let rest = rest.trim();
    let pattern = rest.strip_prefix("r'")?.strip_suffix("')")?;
    let mut keys = table([("pattern", pattern.into())]);
    let field = field.trim().strip_prefix('.')?;
    if field != "message" {
        keys.insert("field".into(), field.into());
    }
    Some(keys)
}

/// A VRL condition of comparisons joined by `&&` or `||` as a native condition.
fn condition(vrl: &str) -> Option<Value> {
    let vrl = vrl.trim();
    if vrl.contains("&&") && vrl.contains("||") {
        return None;
    }
    let (joiner, parts): (&str, Vec<&str>) = if vrl.contains("&&") {
        ("all", vrl.split("&&").collect())
    } else if vrl.contains("||") {
        ("any", vrl.split("||").collect())
    } else {
        ("", vec![vrl])
    };
    let mut conds = Vec::new();
    for part in parts {
        let part = part
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        let c = if let Some(inner) = part
            .strip_prefix("exists(.")
            .and_then(|r| r.strip_suffix(')'))
        {
            table([("field", inner.into()), ("exists", true.into())])
        } else if let Some(inner) = part
            .strip_prefix("!exists(.")
            .and_then(|r| r.strip_suffix(')'))
        {
            table([("field", inner.into()), ("exists", false.into())])
        } else if let Some((l, r)) = part.split_once("!=") {
            table([
                ("field", l.trim().strip_prefix('.')?.into()),
                ("not_equals", literal(r)?),
            ])
        } else if let Some((l, r)) = part.split_once("==") {
            table([
                ("field", l.trim().strip_prefix('.')?.into()),
                ("equals", literal(r)?),
            ])
        } else {
            return None;
        };
        conds.push(Value::Table(c));
    }
    if joiner.is_empty() {
        conds.pop()
    } else {
        Some(Value::Table(table([(joiner, Value::Array(conds))])))
    }
}

fn literal(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Some(q) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return (!q.contains('"')).then(|| q.into());
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(f) = s.parse::<f64>() {
        return Some(f.into());
    }
    match s {
        "true" => Some(true.into()),
        "false" => Some(false.into()),
        _ => None,
    }
}

fn transform(id: &str, mut t: toml::Table, line: usize, out: &mut Converted) {
    let ty = take_str(&mut t, "type").unwrap_or_default();
    let ins = inputs(&mut t);
    let comments = vec![format!("Vector transform `{ty}`, line {line}.")];
    match ty.as_str() {
        "remap" => {
            let program = t
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let simple = t.keys().all(|k| k == "source");
            if simple && let Some((native, keys)) = remap_idiom(&program) {
                out.add(Kind::Transform, id, native, &ins, keys, comments);
                return;
            }
            if simple && let Some(keys) = fields_idiom(&program) {
                out.add(Kind::Transform, id, "add_fields", &ins, keys, comments);
                return;
            }
            if simple && let Some(keys) = regex_idiom(&program) {
                out.add(Kind::Transform, id, "parse_regex", &ins, keys, comments);
                return;
            }
            // Kept as VRL: logagent runs it with Vector's own implementation.
            let mut keys = toml::Table::new();
            for k in [
                "source",
                "file",
                "drop_on_error",
                "drop_on_abort",
                "reroute_dropped",
            ] {
                if let Some(v) = t.remove(k) {
                    keys.insert(k.into(), v);
                }
            }
            out.add(Kind::Transform, id, "remap", &ins, keys, comments);
        }
        "filter" => {
            let cond = match t.remove("condition") {
                Some(Value::String(s)) => Some(s),
                Some(Value::Table(mut c)) => {
                    let is_vrl = c
                        .get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "vrl");
                    c.remove("source")
                        .and_then(|s| s.as_str().map(str::to_owned))
                        .filter(|_| is_vrl)
                }
                _ => None,
            };
            match cond.as_deref().map(|c| (c, condition(c))) {
                Some((_, Some(c))) => out.add(
                    Kind::Transform,
                    id,
                    "filter",
                    &ins,
                    table([("keep_if", c)]),
                    comments,
                ),
                // Any other VRL condition runs as VRL: a remap that aborts
                // (and so drops) the events for which it does not hold.
                Some((vrl, None)) => out.add(
                    Kind::Transform,
                    id,
                    "remap",
                    &ins,
                    table([
                        ("source", format!("if !({vrl}) {{\n  abort\n}}\n").into()),
                        ("drop_on_abort", true.into()),
                    ]),
                    comments,
                ),
                None => {
                    out.note(
                        line,
                        format!("transforms.{id}: filter without a VRL `condition`"),
                    );
                    return;
                }
            }
        }
        other => {
            out.note(
                line,
                format!("transforms.{id}: type `{other}` not translated"),
            );
            return;
        }
    }
    leftovers(&t, &format!("transforms.{id}"), line, out);
}

fn sink(id: &str, mut t: toml::Table, line: usize, out: &mut Converted) {
    let ty = take_str(&mut t, "type").unwrap_or_default();
    let ins = inputs(&mut t);
    let comments = vec![format!("Vector sink `{ty}`, line {line}.")];
    let mut keys = toml::Table::new();
    let native = match ty.as_str() {
        "elasticsearch" => {
            let endpoints = t
                .remove("endpoints")
                .or_else(|| t.remove("endpoint").map(|e| Value::Array(vec![e])));
            keys.insert(
                "endpoints".into(),
                endpoints.unwrap_or_else(|| strings(&["http://localhost:9200"])),
            );
            let index = t
                .remove("bulk")
                .and_then(|b| b.get("index").and_then(Value::as_str).map(str::to_owned))
                .or_else(|| take_str(&mut t, "index"))
                .unwrap_or_else(|| "vector-%Y.%m.%d".into());
            keys.insert("index".into(), index.into());
            if let Some(Value::String(m)) = t.remove("mode") {
                keys.insert(
                    "mode".into(),
                    if m == "data_stream" {
                        "data_stream"
                    } else {
                        "bulk"
                    }
                    .into(),
                );
            }
            "elasticsearch"
        }
        "loki" => {
            if let Some(e) = t.remove("endpoint") {
                keys.insert("endpoint".into(), e);
            }
            if let Some(l) = t.remove("labels") {
                keys.insert("labels".into(), l);
            }
            if let Some(tenant) = t.remove("tenant_id") {
                keys.insert("tenant_id".into(), tenant);
            }
            "loki"
        }
        "file" => {
            if let Some(p) = t.remove("path") {
                keys.insert("path".into(), p);
            }
            "file"
        }
        "console" => {
            let codec = t
                .remove("encoding")
                .and_then(|e| e.get("codec").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "json".into());
            keys.insert("encoding".into(), codec.into());
            "console"
        }
        "blackhole" => {
            t.remove("print_interval_secs");
            "blackhole"
        }
        other => {
            out.note(line, format!("sinks.{id}: type `{other}` not translated"));
            return;
        }
    };
    // `encoding.codec = "json"` is what our file and Elasticsearch sinks write.
    if let Some(enc) = t.remove("encoding")
        && (enc.get("codec").and_then(Value::as_str) != Some("json")
            || enc.as_table().is_some_and(|e| e.len() > 1))
    {
        out.note(
            line,
            format!("sinks.{id}: encoding {enc}: logagent writes NDJSON"),
        );
    }
    if let Some(b) = t.remove("buffer") {
        out.note(line, format!("sinks.{id}: buffer {b}: set logagent's `buffer` (memory by default, or type = \"disk\") by hand"));
    }
    t.remove("healthcheck");
    out.add(Kind::Sink, id, native, &ins, keys, comments);
    leftovers(&t, &format!("sinks.{id}"), line, out);
}
