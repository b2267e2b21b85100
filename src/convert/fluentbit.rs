//! Fluent Bit configs, classic (`[INPUT]` sections of `Key Value` lines) and
//! YAML (`pipeline: { inputs, filters, outputs }`, `parsers`): `tail`,
//! `parser` (input option and filter), `grep`, `modify`, `record_modifier`,
//! outputs `es`, `loki`, `file`, `stdout`, `null`. Both syntaxes are read into
//! the same sections, so they translate alike.
//!
//! Fluent Bit routes by `Match` on tags: each input's chain goes through every
//! filter whose `Match` covers its tag, in order, to every output whose `Match`
//! covers it (unlike Fluentd, an event goes to all matching outputs).

use std::collections::HashMap;
use std::path::Path;

use super::{Converted, Kind, endpoint, strings, table, tag_matches, truthy};
use crate::config::format::{Format, parse_document};

/// One section: its kind (`input`, `filter`, `output`, `parser`, `service`),
/// line and `(lower-case key, value, line)` entries in order.
#[derive(Debug, Clone, Default)]
struct Section {
    kind: String,
    line: usize,
    entries: Vec<(String, String, usize)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = (&'a str, usize)> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _, _)| k == key)
            .map(|(_, v, l)| (v.as_str(), *l))
    }
}

fn classic(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push(Section {
                kind: name.trim().to_ascii_lowercase(),
                line: line_no,
                entries: Vec::new(),
            });
            continue;
        }
        if line.starts_with('@') {
            sections.push(Section {
                kind: line.to_owned(),
                line: line_no,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err((line_no, format!("`{line}` is outside any [SECTION]")));
        };
        let (key, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        section
            .entries
            .push((key.to_ascii_lowercase(), value.to_owned(), line_no));
    }
    Ok(sections)
}

fn yaml(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let doc = parse_document(Format::Yaml, text).map_err(|e| {
        (
            e.offset
                .map_or(0, |o| crate::config::interpolate::line_col(text, o).0),
            e.message,
        )
    })?;
    let line =
        |span: std::ops::Range<usize>| crate::config::interpolate::line_col(text, span.start).0;
    let mut sections = Vec::new();
    let scalar = |v: &toml::de::DeValue<'_>| -> String {
        match v {
            toml::de::DeValue::String(s) => s.to_string(),
            toml::de::DeValue::Integer(i) => i.as_str().to_owned(),
            toml::de::DeValue::Float(f) => f.as_str().to_owned(),
            toml::de::DeValue::Boolean(b) => if *b { "on" } else { "off" }.to_owned(),
            other => other.type_str().to_owned(),
        }
    };
    let mut push_list = |kind: &str, value: &toml::Spanned<toml::de::DeValue<'_>>| {
        if let toml::de::DeValue::Array(items) = value.get_ref() {
            for item in items.iter() {
                if let toml::de::DeValue::Table(t) = item.get_ref() {
                    let mut s = Section {
                        kind: kind.to_owned(),
                        line: line(item.span()),
                        entries: Vec::new(),
                    };
                    for (k, v) in t.iter() {
                        match v.get_ref() {
                            // `add: [a 1, b 2]` style lists repeat the key.
                            toml::de::DeValue::Array(list) => {
                                for e in list.iter() {
                                    s.entries.push((
                                        k.get_ref().to_ascii_lowercase(),
                                        scalar(e.get_ref()),
                                        line(e.span()),
                                    ));
                                }
                            }
                            other => s.entries.push((
                                k.get_ref().to_ascii_lowercase(),
                                scalar(other),
                                line(v.span()),
                            )),
                        }
                    }
                    sections.push(s);
                }
            }
        }
    };
    for (key, value) in doc.get_ref().iter() {
        match key.get_ref().as_ref() {
            "pipeline" => {
                if let toml::de::DeValue::Table(p) = value.get_ref() {
                    for (k, v) in p.iter() {
                        let kind = match k.get_ref().as_ref() {
                            "inputs" => "input",
                            "filters" => "filter",
                            "outputs" => "output",
                            _ => "unknown",
                        };
                        push_list(kind, v);
                    }
                }
            }
            "parsers" => push_list("parser", value),
            "service" => {}
            other => push_list(other, value),
        }
    }
    Ok(sections)
}

/// One input's events on their way: its tag, the id they leave from, and its
/// group — inputs that every filter and output treats alike share one group,
/// and so share transforms (as one Fluent Bit filter serves every tag it matches).
struct Chain {
    tag: String,
    last: String,
    group: usize,
}

/// Converts a Fluent Bit config (YAML when the file ends in .yaml/.yml).
pub fn convert(path: &Path, text: &str) -> Result<Converted, (usize, String)> {
    let sections = match Format::of(path) {
        Format::Yaml => yaml(text)?,
        _ => classic(text)?,
    };
    let mut out = Converted::default();
    let parsers: HashMap<String, Section> = sections
        .iter()
        .filter(|s| s.kind == "parser" || s.kind == "multiline_parser")
        .filter_map(|s| Some((s.get("name")?.to_owned(), s.clone())))
        .collect();
    let mut chains = Vec::new();
    for s in &sections {
        match s.kind.as_str() {
            "input" => input(s, &parsers, &mut out, &mut chains),
            "filter" | "output" | "parser" => {}
            "service" => {
                for (k, v, line) in &s.entries {
                    if !matches!(
                        k.as_str(),
                        "flush"
                            | "log_level"
                            | "daemon"
                            | "parsers_file"
                            | "http_server"
                            | "http_listen"
                            | "http_port"
                    ) {
                        out.note(*line, format!("[SERVICE] {k} {v}"));
                    }
                }
            }
            other => out.note(
                s.line,
                format!("{other}: not translated (@INCLUDE, @SET and unknown sections)"),
            ),
        }
    }
    let routing: Vec<&str> = sections
        .iter()
        .filter(|s| s.kind == "filter" || s.kind == "output")
        .map(|s| s.get("match").unwrap_or("*"))
        .collect();
    let mut signatures: Vec<Vec<bool>> = Vec::new();
    for c in &mut chains {
        let sig: Vec<bool> = routing
            .iter()
            .map(|m| tag_matches(m, &c.tag, true))
            .collect();
        c.group = match signatures.iter().position(|s| *s == sig) {
            Some(g) => g,
            None => {
                signatures.push(sig);
                signatures.len() - 1
            }
        };
    }
    for s in &sections {
        match s.kind.as_str() {
            "filter" => filter(s, &parsers, &mut out, &mut chains),
            "output" => output(s, &mut out, &chains),
            _ => {}
        }
    }
    if !out.components.iter().any(|c| c.kind == Kind::Sink) && !chains.is_empty() {
        let inputs: Vec<String> = chains.iter().map(|c| c.last.clone()).collect();
        out.add(
            Kind::Sink,
            "unmatched",
            "blackhole",
            &inputs,
            toml::Table::new(),
            vec!["No [OUTPUT] matched these events.".into()],
        );
    }
    Ok(out)
}

/// A `[PARSER]` as a transform reading `inputs` (None if it cannot be translated).
fn parser_transform(
    name: &str,
    key_name: Option<&str>,
    line: usize,
    parsers: &HashMap<String, Section>,
    out: &mut Converted,
    inputs: &[String],
    base: &str,
) -> Option<String> {
    // Fluent Bit ships `json` and `docker` parsers in its default parsers.conf.
    let (format, p) = match parsers.get(name) {
        Some(p) => (p.get("format").unwrap_or("").to_ascii_lowercase(), Some(p)),
        None if name == "json" || name == "docker" => ("json".to_owned(), None),
        None => {
            out.note(
                line,
                format!("parser {name}: not defined in this file (a Parsers_File is not read)"),
            );
            return None;
        }
    };
    let mut keys = toml::Table::new();
    if let Some(field) = key_name {
        keys.insert("field".into(), field.into());
    }
    let time_key = p.and_then(|p| p.get("time_key"));
    let ty = match format.as_str() {
        "json" => "parse_json",
        "regex" => {
            let Some(re) = p.and_then(|p| p.get("regex")) else {
                out.note(line, format!("parser {name}: format regex without Regex"));
                return None;
            };
            keys.insert("pattern".into(), re.into());
            "parse_regex"
        }
        "logfmt" => "parse_logfmt",
        other => {
            out.note(
                line,
                format!("parser {name}: format {other} not translated"),
            );
            return None;
        }
    };
    if let Some(t) = time_key {
        keys.insert("time_key".into(), t.into());
    }
    if let Some(f) = p.and_then(|p| p.get("time_format")) {
        keys.insert("time_format".into(), f.into());
    }
    let id = out.unique_id(base);
    out.add(
        Kind::Transform,
        &id,
        ty,
        inputs,
        keys,
        vec![format!("Parser {name} (line {line}).")],
    );
    Some(id)
}

fn input(
    s: &Section,
    parsers: &HashMap<String, Section>,
    out: &mut Converted,
    chains: &mut Vec<Chain>,
) {
    let name = s.get("name").unwrap_or("").to_ascii_lowercase();
    let tag = s.get("tag").unwrap_or(&name).to_owned();
    let id = out.unique_id(
        s.get("alias")
            .unwrap_or(tag.trim_end_matches(".*").trim_end_matches('*')),
    );
    let (ty, mut keys, mut comments) = match name.as_str() {
        "tail" => {
            let include: Vec<&str> = s
                .get("path")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            let mut keys = table([("include", strings(&include))]);
            if let Some(ex) = s.get("exclude_path") {
                let ex: Vec<&str> = ex.split(',').map(str::trim).collect();
                keys.insert("exclude".into(), strings(&ex));
            }
            let mut comments = vec![format!("[INPUT] tail, line {}.", s.line)];
            if s.get("read_from_head").is_some_and(truthy) {
                comments.push("Read_from_Head on: logagent's default (the beginning).".into());
            } else {
                keys.insert("read_from".into(), "end".into());
                comments.push("Fluent Bit's tail starts at the end of files without a DB offset (Read_from_Head off); so does this. logagent's default is the beginning.".into());
            }
            ("file", keys, comments)
        }
        "stdin" => (
            "stdin",
            toml::Table::new(),
            vec![format!("[INPUT] stdin, line {}.", s.line)],
        ),
        other => {
            out.note(
                s.line,
                format!("[INPUT] {other}: only tail and stdin are translated"),
            );
            return;
        }
    };
    if let Some(db) = s.get("db") {
        let dir = Path::new(db)
            .parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        if out.data_dir.is_none() {
            out.data_dir = Some((
                dir,
                format!(
                    "DB {db} (line {}): logagent keeps its checkpoints in data_dir; it does not read Fluent Bit's SQLite offsets.",
                    s.line
                ),
            ));
        }
    }
    if let Some(limit) = s.get("mem_buf_limit") {
        comments.push(format!("Mem_Buf_Limit {limit}: logagent's channels are bounded ([runtime] channel_capacity × batch_max_bytes) and hold the source back when full; nothing is paused or dropped."));
    }
    for (k, v, line) in &s.entries {
        if !matches!(
            k.as_str(),
            "name"
                | "tag"
                | "alias"
                | "path"
                | "exclude_path"
                | "read_from_head"
                | "db"
                | "mem_buf_limit"
                | "parser"
                | "refresh_interval"
                | "rotate_wait"
                | "skip_long_lines"
                | "db.sync"
        ) {
            out.note(*line, format!("[INPUT] {k} {v}"));
        }
    }
    keys.extend(toml::Table::new());
    out.add(Kind::Source, &id, ty, &[], keys, comments);
    let mut last = id.clone();
    if let Some(p) = s.get("parser") {
        let line = s.all("parser").next().map_or(s.line, |(_, l)| l);
        if let Some(pid) = parser_transform(
            p,
            None,
            line,
            parsers,
            out,
            std::slice::from_ref(&last),
            &format!("parse_{id}"),
        ) {
            last = pid;
        }
    }
    chains.push(Chain {
        tag,
        last,
        group: 0,
    });
}

fn filter(
    s: &Section,
    parsers: &HashMap<String, Section>,
    out: &mut Converted,
    chains: &mut [Chain],
) {
    let name = s.get("name").unwrap_or("").to_ascii_lowercase();
    let pattern = s.get("match").unwrap_or("*");
    let matching: Vec<usize> = (0..chains.len())
        .filter(|&i| tag_matches(pattern, &chains[i].tag, true))
        .collect();
    if matching.is_empty() {
        out.note(
            s.line,
            format!("[FILTER] {name} Match {pattern}: matches no translated input"),
        );
        return;
    }
    let known: &[&str] = match name.as_str() {
        "parser" => &[
            "name",
            "match",
            "alias",
            "key_name",
            "parser",
            "reserve_data",
            "preserve_key",
        ],
        "grep" => &["name", "match", "alias", "regex", "exclude", "logical_op"],
        "modify" => &[
            "name",
            "match",
            "alias",
            "add",
            "set",
            "remove",
            "rename",
            "hard_rename",
            "copy",
        ],
        "record_modifier" => &[
            "name",
            "match",
            "alias",
            "record",
            "remove_key",
            "allowlist_key",
            "whitelist_key",
        ],
        other => {
            out.note(s.line, format!("[FILTER] {other}: not translated"));
            return;
        }
    };
    for (k, v, line) in &s.entries {
        if !known.contains(&k.as_str()) {
            out.note(*line, format!("[FILTER] {name} {k} {v}"));
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &matching {
        match groups
            .iter_mut()
            .find(|g| chains[g[0]].group == chains[i].group)
        {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    for group in groups {
        let base = s
            .get("alias")
            .map(str::to_owned)
            .unwrap_or_else(|| name.clone());
        let mut ins: Vec<String> = Vec::new();
        for &i in &group {
            if !ins.contains(&chains[i].last) {
                ins.push(chains[i].last.clone());
            }
        }
        let mut stages: Vec<(&str, toml::Table)> = Vec::new();
        match name.as_str() {
            "parser" => {
                let key = s.get("key_name").unwrap_or("log");
                // An unparsed tail line is our `message`; Fluent Bit calls it `log`.
                let field = if key == "log" { None } else { Some(key) };
                if let Some(p) = s.get("parser")
                    && let Some(id) = parser_transform(p, field, s.line, parsers, out, &ins, &base)
                {
                    for &i in &group {
                        chains[i].last = id.clone();
                    }
                }
                continue;
            }
            "grep" => {
                let cond = |v: &str| {
                    let (k, re) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
                    toml::Value::Table(table([
                        ("field", k.trim_start_matches('$').into()),
                        ("matches", re.trim().into()),
                    ]))
                };
                let mut keep: Vec<toml::Value> = s.all("regex").map(|(v, _)| cond(v)).collect();
                let drop: Vec<toml::Value> = s.all("exclude").map(|(v, _)| cond(v)).collect();
                let or = s
                    .get("logical_op")
                    .is_some_and(|o| o.eq_ignore_ascii_case("or"));
                if keep.is_empty() {
                    // Only Exclude rules: drop what any of them matches.
                    let d = toml::Value::Table(table([("any", toml::Value::Array(drop))]));
                    stages.push(("filter", table([("drop_if", d)])));
                } else {
                    if !drop.is_empty() {
                        let d = toml::Value::Table(table([("any", toml::Value::Array(drop))]));
                        keep.push(toml::Value::Table(table([("not", d)])));
                    }
                    let key = if or { "any" } else { "all" };
                    let k = toml::Value::Table(table([(key, toml::Value::Array(keep))]));
                    stages.push(("filter", table([("keep_if", k)])));
                }
            }
            "modify" | "record_modifier" => {
                let pair = |v: &str| -> (String, String) {
                    let (k, val) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
                    (k.to_owned(), val.trim().to_owned())
                };
                let mut set = toml::Table::new();
                let mut add = toml::Table::new();
                let mut rename = toml::Table::new();
                let mut remove = Vec::new();
                for (k, v, _) in &s.entries {
                    match k.as_str() {
                        "set" | "record" => {
                            let (f, val) = pair(v);
                            set.insert(f, val.into());
                        }
                        "add" => {
                            let (f, val) = pair(v);
                            add.insert(f, val.into());
                        }
                        "rename" | "hard_rename" => {
                            let (f, val) = pair(v);
                            rename.insert(f, val.into());
                        }
                        "remove" | "remove_key" => remove.push(v.clone()),
                        _ => {}
                    }
                }
                if !rename.is_empty() {
                    stages.push((
                        "rename_fields",
                        table([("fields", toml::Value::Table(rename))]),
                    ));
                }
                if !set.is_empty() {
                    stages.push(("add_fields", table([("fields", toml::Value::Table(set))])));
                }
                if !add.is_empty() {
                    stages.push((
                        "add_fields",
                        table([
                            ("fields", toml::Value::Table(add)),
                            ("overwrite", false.into()),
                        ]),
                    ));
                }
                if !remove.is_empty() {
                    stages.push(("remove_fields", table([("fields", strings(&remove))])));
                }
            }
            _ => {}
        }
        for (ty, keys) in stages {
            let id = out.unique_id(&base);
            out.add(
                Kind::Transform,
                &id,
                ty,
                &ins,
                keys,
                vec![format!("[FILTER] {name} Match {pattern}, line {}.", s.line)],
            );
            for &i in &group {
                chains[i].last = id.clone();
            }
            ins = vec![id];
        }
    }
}

fn output(s: &Section, out: &mut Converted, chains: &[Chain]) {
    let name = s.get("name").unwrap_or("").to_ascii_lowercase();
    let pattern = s.get("match").unwrap_or("*");
    let mut inputs: Vec<String> = Vec::new();
    for c in chains.iter().filter(|c| tag_matches(pattern, &c.tag, true)) {
        if !inputs.contains(&c.last) {
            inputs.push(c.last.clone());
        }
    }
    if inputs.is_empty() {
        out.note(
            s.line,
            format!("[OUTPUT] {name} Match {pattern}: matches no translated input"),
        );
        return;
    }
    let mut known = vec!["name", "match", "alias"];
    let (ty, keys) = match name.as_str() {
        "es" | "elasticsearch" => {
            known.extend([
                "host",
                "port",
                "index",
                "tls",
                "http_user",
                "http_passwd",
                "logstash_format",
                "logstash_prefix",
                "logstash_dateformat",
                "suppress_type_name",
            ]);
            let scheme = if s.get("tls").is_some_and(truthy) {
                "https"
            } else {
                "http"
            };
            let index = if s.get("logstash_format").is_some_and(truthy) {
                format!(
                    "{}-{}",
                    s.get("logstash_prefix").unwrap_or("logstash"),
                    s.get("logstash_dateformat").unwrap_or("%Y.%m.%d")
                )
            } else {
                s.get("index").unwrap_or("fluent-bit").to_owned()
            };
            let mut keys = table([
                (
                    "endpoints",
                    strings(&[endpoint(
                        scheme,
                        s.get("host").unwrap_or("127.0.0.1"),
                        s.get("port").unwrap_or("9200"),
                    )]),
                ),
                ("index", index.into()),
            ]);
            if let (Some(u), Some(p)) = (s.get("http_user"), s.get("http_passwd")) {
                keys.insert(
                    "auth".into(),
                    toml::Value::Table(table([
                        ("strategy", "basic".into()),
                        ("user", u.into()),
                        ("password", p.into()),
                    ])),
                );
            }
            ("elasticsearch", keys)
        }
        "loki" => {
            known.extend(["host", "port", "tls", "labels", "tenant_id", "label_keys"]);
            let scheme = if s.get("tls").is_some_and(truthy) {
                "https"
            } else {
                "http"
            };
            let mut keys = table([(
                "endpoint",
                endpoint(
                    scheme,
                    s.get("host").unwrap_or("127.0.0.1"),
                    s.get("port").unwrap_or("3100"),
                )
                .into(),
            )]);
            let mut labels = toml::Table::new();
            for l in s
                .get("labels")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                match l.split_once('=') {
                    Some((k, v)) if v.starts_with('$') => {
                        labels.insert(
                            k.trim().into(),
                            format!("{{{{ {} }}}}", v.trim().trim_start_matches('$')).into(),
                        );
                    }
                    Some((k, v)) => {
                        labels.insert(k.trim().into(), v.trim().into());
                    }
                    None => {
                        labels.insert(
                            l.trim_start_matches('$').into(),
                            format!("{{{{ {} }}}}", l.trim_start_matches('$')).into(),
                        );
                    }
                }
            }
            for l in s
                .get("label_keys")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                let f = l.trim_start_matches('$');
                labels.insert(f.into(), format!("{{{{ {f} }}}}").into());
            }
            if labels.is_empty() {
                labels.insert("job".into(), "fluent-bit".into());
            }
            keys.insert("labels".into(), toml::Value::Table(labels));
            if let Some(t) = s.get("tenant_id") {
                keys.insert("tenant_id".into(), t.into());
            }
            ("loki", keys)
        }
        "file" => {
            known.extend(["path", "file", "format"]);
            let dir = s.get("path").unwrap_or(".");
            let file = s
                .get("file")
                .map(str::to_owned)
                .unwrap_or_else(|| "{{ _tag }}".into());
            let file = if file.contains("{{") {
                "out".to_owned()
            } else {
                file
            };
            (
                "file",
                table([(
                    "path",
                    format!("{}/{}", dir.trim_end_matches('/'), file).into(),
                )]),
            )
        }
        "stdout" => {
            known.push("format");
            ("console", table([("encoding", "json".into())]))
        }
        "null" => ("blackhole", toml::Table::new()),
        other => {
            out.note(s.line, format!("[OUTPUT] {other}: not translated"));
            return;
        }
    };
    for (k, v, line) in &s.entries {
        if !known.contains(&k.as_str()) {
            out.note(*line, format!("[OUTPUT] {name} {k} {v}"));
        }
    }
    let id = out.unique_id(s.get("alias").unwrap_or(&name));
    out.add(
        Kind::Sink,
        &id,
        ty,
        &inputs,
        keys,
        vec![format!("[OUTPUT] {name} Match {pattern}, line {}.", s.line)],
    );
}
