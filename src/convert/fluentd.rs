//! Fluentd configs: `<source>` (tail), `<filter>` (record_transformer, grep),
//! `<match>` (elasticsearch, loki, file, stdout, copy, null).
//!
//! Fluentd routes by tag: a filter applies to the events whose tag its pattern
//! matches, and an event goes to the first `<match>` that matches it. The
//! translation follows each source's tag through the filters in file order to
//! its first match, giving each source its own chain (a filter shared by two
//! sources becomes one transform per source, so their events never mix).

use std::path::Path;

use super::{Converted, Kind, endpoint, strings, table, tag_matches, truthy};

/// One `<directive arg>` block.
#[derive(Debug, Clone, Default)]
struct Element {
    name: String,
    arg: String,
    line: usize,
    params: Vec<(String, String, usize)>,
    children: Vec<Element>,
}

impl Element {
    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Parses the directive tree (lines of `key value`, `<name arg>` … `</name>`).
fn parse(text: &str) -> Result<Element, (usize, String)> {
    let mut stack = vec![Element::default()];
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("</") {
            let name = name.trim_end_matches('>').trim();
            let Some(done) = stack.pop() else {
                return Err((line_no, format!("`</{name}>` closes nothing")));
            };
            if done.name != name || stack.is_empty() {
                return Err((
                    line_no,
                    format!("`</{name}>` does not close `<{}>`", done.name),
                ));
            }
            if let Some(parent) = stack.last_mut() {
                parent.children.push(done);
            }
        } else if let Some(open) = line.strip_prefix('<') {
            let Some(open) = open.strip_suffix('>') else {
                return Err((line_no, format!("`{line}`: a directive must end with `>`")));
            };
            let (name, arg) = match open.split_once(char::is_whitespace) {
                Some((n, a)) => (n, a.trim()),
                None => (open, ""),
            };
            stack.push(Element {
                name: name.to_owned(),
                arg: arg.to_owned(),
                line: line_no,
                ..Element::default()
            });
        } else {
            let (key, value) = match line.split_once(char::is_whitespace) {
                Some((k, v)) => (k, v.trim()),
                None => (line, ""),
            };
            let value = unquote(value);
            if let Some(top) = stack.last_mut() {
                top.params.push((key.to_owned(), value, line_no));
            }
        }
    }
    if stack.len() > 1 {
        let open = stack
            .last()
            .map(|e| (e.line, e.name.clone()))
            .unwrap_or_default();
        return Err((open.0, format!("`<{}>` is never closed", open.1)));
    }
    Ok(stack.pop().unwrap_or_default())
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

/// One source's chain so far: its tag (a pattern with `*` for what the path
/// fills in), its tail paths, and the id its events leave from.
struct Chain {
    line: usize,
    tag: String,
    sample_tag: String,
    paths: Vec<String>,
    last: String,
    done: bool,
}

/// Converts a Fluentd config.
pub fn convert(text: &str) -> Result<Converted, (usize, String)> {
    let root = parse(text)?;
    let mut out = Converted::default();
    let mut chains = Vec::new();
    for (k, _, line) in &root.params {
        out.note(
            *line,
            format!("top-level `{k}` (not a directive logagent knows)"),
        );
    }
    for el in &root.children {
        match el.name.as_str() {
            "source" => source(el, &mut out, &mut chains),
            "filter" | "match" => {}
            "system" => out.note(
                el.line,
                "<system>: logagent's own settings are command-line flags (--log-level) and [runtime]",
            ),
            other => out.note(el.line, format!("<{other}> (labels and includes are not translated)")),
        }
    }
    for el in &root.children {
        match el.name.as_str() {
            "filter" => filter(el, &mut out, &mut chains),
            "match" => matcher(el, &mut out, &mut chains),
            _ => {}
        }
    }
    for c in &chains {
        if !c.done {
            out.note(
                c.line,
                format!(
                    "<source>: no <match> takes the events tagged `{}`: Fluentd would drop them with a warning; they are not connected to a sink",
                    c.tag
                ),
            );
        }
    }
    // A pipeline needs a sink: connect unmatched chains to a blackhole only
    // when there is no sink at all, so the output still validates.
    if !out.components.iter().any(|c| c.kind == Kind::Sink) {
        let inputs: Vec<String> = chains.iter().map(|c| c.last.clone()).collect();
        if !inputs.is_empty() {
            out.add(
                Kind::Sink,
                "unmatched",
                "blackhole",
                &inputs,
                toml::Table::new(),
                vec!["Nothing in the Fluentd config matched these events.".into()],
            );
        }
    }
    Ok(out)
}

/// The tag's dot-separated parts for a tail source: `tag workflow.*` on
/// `/var/log/workflow/api.log` is `workflow.var.log.workflow.api.log`.
fn sample_tag(tag: &str, path: &str) -> String {
    let filled = path
        .trim_start_matches('/')
        .replace('/', ".")
        .replace('*', "x");
    tag.replacen('*', &filled, 1)
}

fn source(el: &Element, out: &mut Converted, chains: &mut Vec<Chain>) {
    let ty = el.get("@type").or_else(|| el.get("type")).unwrap_or("");
    if ty != "tail" {
        out.note(
            el.line,
            format!("<source> @type {ty}: only `tail` is translated (logagent has syslog, http and kafka sources: write those by hand)"),
        );
        return;
    }
    let tag = el.get("tag").unwrap_or("tail").to_owned();
    let id = out.unique_id(
        el.get("@id")
            .unwrap_or(tag.trim_end_matches(".*").trim_end_matches(".**")),
    );
    let paths: Vec<String> = el
        .get("path")
        .unwrap_or("")
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let mut keys = table([("include", strings(&paths))]);
    let mut comments = vec![format!("<source> @type tail, line {}.", el.line)];
    if let Some(ex) = el.get("exclude_path") {
        match serde_json::from_str::<Vec<String>>(ex) {
            Ok(v) => {
                keys.insert("exclude".into(), strings(&v));
            }
            Err(_) => out.note(
                el.line,
                format!("exclude_path {ex}: expected a JSON array of globs"),
            ),
        }
    }
    if el.get("read_from_head").is_some_and(truthy) {
        comments.push("read_from_head true: logagent reads from the beginning by default.".into());
    } else {
        keys.insert("read_from".into(), "end".into());
        comments.push(
            "Fluentd's in_tail starts at the end of files it has no position for (read_from_head false); so does this. logagent's default is the beginning.".into(),
        );
    }
    if let Some(pos) = el.get("pos_file") {
        let dir = Path::new(pos)
            .parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        if out.data_dir.is_none() {
            out.data_dir = Some((
                dir,
                format!(
                    "pos_file {pos} (line {}): logagent keeps its checkpoints in data_dir.\nIt does not read Fluentd's positions: with read_from = \"end\" no line is read twice, lines written during the switch may be missed.",
                    el.line
                ),
            ));
        }
    }
    for (k, v, line) in &el.params {
        if !matches!(
            k.as_str(),
            "@type"
                | "type"
                | "@id"
                | "tag"
                | "path"
                | "exclude_path"
                | "read_from_head"
                | "pos_file"
                | "format"
                | "time_key"
                | "time_format"
                | "keep_time_key"
                | "refresh_interval"
                | "rotate_wait"
        ) {
            out.note(*line, format!("<source> {k} {v}"));
        }
    }
    out.add(Kind::Source, &id, "file", &[], keys, comments);
    let mut last = id.clone();
    // The parser: `format json` (v0.12) or `<parse> @type json`.
    let parse_el = el.child("parse");
    let format = parse_el
        .and_then(|p| p.get("@type"))
        .or_else(|| el.get("format"))
        .unwrap_or("none");
    let param = |k: &str| parse_el.and_then(|p| p.get(k)).or_else(|| el.get(k));
    let line = parse_el.map_or(el.line, |p| p.line);
    match format {
        "json" => {
            let time_key = param("time_key").unwrap_or("time").to_owned();
            let mut keys = table([("time_key", time_key.as_str().into())]);
            if let Some(f) = param("time_format") {
                keys.insert("time_format".into(), f.into());
            }
            let pid = out.unique_id(&format!("parse_{id}"));
            out.add(
                Kind::Transform,
                &pid,
                "parse_json",
                &[last.clone()],
                keys,
                vec![format!("format json (line {line}): time_key {time_key}.")],
            );
            last = pid;
            if !param("keep_time_key").is_some_and(truthy) {
                let rid = out.unique_id(&format!("drop_{time_key}"));
                out.add(
                    Kind::Transform,
                    &rid,
                    "remove_fields",
                    &[last.clone()],
                    table([("fields", strings(&[time_key.as_str()]))]),
                    vec![format!(
                        "Fluentd moves `{time_key}` into the event time and removes it from the record (keep_time_key false)."
                    )],
                );
                last = rid;
            }
        }
        "regexp" => {
            match param("expression").or_else(|| (format.starts_with('/')).then_some(format)) {
                Some(expr) => {
                    let pattern = expr.trim().trim_start_matches('/').trim_end_matches('/');
                    let pid = out.unique_id(&format!("parse_{id}"));
                    let mut keys = table([("pattern", pattern.into())]);
                    if let Some(t) = param("time_key") {
                        keys.insert("time_key".into(), t.into());
                    }
                    out.add(
                        Kind::Transform,
                        &pid,
                        "parse_regex",
                        &[last.clone()],
                        keys,
                        vec![format!("<parse> @type regexp (line {line}).")],
                    );
                    last = pid;
                }
                None => out.note(line, "<parse> @type regexp without `expression`"),
            }
        }
        f if f.starts_with('/') => {
            let pattern = f.trim_start_matches('/').trim_end_matches('/');
            let pid = out.unique_id(&format!("parse_{id}"));
            out.add(
                Kind::Transform,
                &pid,
                "parse_regex",
                &[last.clone()],
                table([("pattern", pattern.into())]),
                vec![format!("format /regexp/ (line {line}).")],
            );
            last = pid;
        }
        "none" => {}
        other => out.note(
            line,
            format!("format {other}: only json, regexp and none are translated"),
        ),
    }
    chains.push(Chain {
        line: el.line,
        sample_tag: sample_tag(&tag, paths.first().map_or("", String::as_str)),
        tag,
        paths,
        last,
        done: false,
    });
}

/// A `#{ENV['X']}` / `#{ENV["X"]}` inside a value as `${X:-}` (Fluentd
/// evaluates it once at start-up; an unset variable is empty there too).
fn env_refs(value: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("#{") {
        out.push_str(&rest[..i].replace('$', "$$"));
        let body = &rest[i + 2..];
        let close = body.find('}')?;
        let expr = body[..close].trim();
        let name = expr
            .strip_prefix("ENV[")?
            .strip_suffix(']')?
            .trim_matches(|c| c == '"' || c == '\'');
        out.push_str(&format!("${{{name}:-}}"));
        rest = &body[close + 1..];
    }
    out.push_str(&rest.replace('$', "$$"));
    Some(out)
}

fn filter(el: &Element, out: &mut Converted, chains: &mut [Chain]) {
    let ty = el.get("@type").or_else(|| el.get("type")).unwrap_or("");
    let pattern = if el.arg.is_empty() {
        "**"
    } else {
        el.arg.as_str()
    };
    let matching: Vec<usize> = chains
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.done && tag_matches(pattern, &c.sample_tag, false))
        .map(|(i, _)| i)
        .collect();
    if matching.is_empty() {
        out.note(
            el.line,
            format!("<filter {pattern}> matches no translated source"),
        );
        return;
    }
    for i in matching {
        let base = if chains.len() > 1 {
            format!("{ty}_{}", chains[i].last)
        } else {
            ty.to_owned()
        };
        let added = match ty {
            "record_transformer" => record_transformer(el, out, &chains[i], &base),
            "grep" => grep(el, out, &chains[i], &base),
            other => {
                out.note(el.line, format!("<filter> @type {other}: not translated"));
                None
            }
        };
        if let Some(id) = added {
            chains[i].last = id;
        }
    }
}

/// The regex over a tail path that captures `tag_parts[N]` for each wanted N:
/// the tag's parts before `*` are fixed, the rest are the path's parts split
/// on `/` and `.`.
fn tag_parts_pattern(prefix_parts: usize, wanted: &[(usize, String)]) -> String {
    let mut re = String::from("^/?");
    let mut at = 0;
    let mut sorted: Vec<&(usize, String)> = wanted.iter().collect();
    sorted.sort();
    for (n, name) in sorted {
        let part = n - prefix_parts;
        if part < at {
            continue;
        }
        for _ in at..part {
            re.push_str(r"[^/.]*[/.]");
        }
        re.push_str(&format!("(?P<{name}>[^/.]*)"));
        at = part + 1;
        re.push_str(r"(?:[/.]|$)");
    }
    re
}

fn record_transformer(
    el: &Element,
    out: &mut Converted,
    chain: &Chain,
    base: &str,
) -> Option<String> {
    let mut fields = toml::Table::new();
    let mut from_path: Vec<(usize, String)> = Vec::new();
    let mut host_field = None;
    let mut comments = vec![format!(
        "<filter {}> @type record_transformer, line {}.",
        el.arg, el.line
    )];
    let tag_parts: Vec<&str> = chain.tag.split('.').collect();
    let prefix_parts = tag_parts
        .iter()
        .position(|p| p.contains('*'))
        .unwrap_or(tag_parts.len());
    let record = el.child("record");
    for (k, v, line) in record.map(|r| r.params.as_slice()).unwrap_or(&[]) {
        let v = v.trim();
        if let Some(n) = v
            .strip_prefix("${tag_parts[")
            .and_then(|r| r.strip_suffix("]}"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            if n < prefix_parts {
                fields.insert(k.clone(), tag_parts[n].into());
            } else if chain.paths.len() == 1 {
                from_path.push((n, k.clone()));
                let sample: Vec<&str> = chain.sample_tag.split('.').collect();
                comments.push(format!(
                    "{k} = ${{tag_parts[{n}]}}: the tag is `{}` + the path with / as dots, so for {} it is {:?}.",
                    chain.tag,
                    chain.paths[0],
                    sample.get(n).copied().unwrap_or("")
                ));
            } else {
                out.note(*line, format!("{k} {v}: the tag comes from several paths"));
            }
        } else if matches!(
            v,
            "${hostname}" | "#{Socket.gethostname}" | "\"#{Socket.gethostname}\""
        ) {
            host_field = Some(k.clone());
        } else if v.contains("${") {
            out.note(
                *line,
                format!(
                    "{k} {v}: only ${{tag_parts[N]}} and ${{hostname}} placeholders are translated"
                ),
            );
        } else {
            match env_refs(v) {
                Some(value) => {
                    fields.insert(k.clone(), value.into());
                }
                None => out.note(
                    *line,
                    format!("{k} {v}: Ruby code other than ENV[...] is not translated"),
                ),
            }
        }
    }
    for (k, v, line) in &el.params {
        match k.as_str() {
            "@type" | "type" => {}
            "remove_keys" => {}
            _ => out.note(*line, format!("record_transformer {k} {v}")),
        }
    }
    let mut keys = toml::Table::new();
    if !fields.is_empty() {
        keys.insert("fields".into(), toml::Value::Table(fields));
    }
    if let Some(h) = host_field {
        keys.insert("host_field".into(), h.into());
    }
    if !from_path.is_empty() {
        keys.insert(
            "path_pattern".into(),
            tag_parts_pattern(prefix_parts, &from_path).into(),
        );
    }
    let mut last = chain.last.clone();
    if !keys.is_empty() {
        let id = out.unique_id(base);
        out.add(Kind::Transform, &id, "enrich", &[last], keys, comments);
        last = id;
    }
    if let Some(remove) = el.get("remove_keys") {
        let fields: Vec<&str> = remove
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let id = out.unique_id(&format!("{base}_remove"));
        out.add(
            Kind::Transform,
            &id,
            "remove_fields",
            &[last],
            table([("fields", strings(&fields))]),
            vec![format!(
                "record_transformer remove_keys (line {}).",
                el.line
            )],
        );
        last = id;
    }
    (last != chain.last).then_some(last)
}

fn grep(el: &Element, out: &mut Converted, chain: &Chain, base: &str) -> Option<String> {
    let mut keep = Vec::new();
    let mut drop = Vec::new();
    let cond = |key: &str, pattern: &str| {
        let re = pattern.trim().trim_start_matches('/').trim_end_matches('/');
        toml::Value::Table(table([("field", key.into()), ("matches", re.into())]))
    };
    for c in &el.children {
        let (Some(key), Some(pattern)) = (c.get("key"), c.get("pattern")) else {
            out.note(c.line, format!("<{}> needs key and pattern", c.name));
            continue;
        };
        match c.name.as_str() {
            "regexp" => keep.push(cond(key, pattern)),
            "exclude" => drop.push(cond(key, pattern)),
            other => out.note(
                c.line,
                format!("grep <{other}> (and/or blocks) not translated"),
            ),
        }
    }
    for (k, v, line) in &el.params {
        if let Some((key, pattern)) = v.split_once(char::is_whitespace) {
            if k.starts_with("regexp") {
                keep.push(cond(key, pattern));
                continue;
            }
            if k.starts_with("exclude") {
                drop.push(cond(key, pattern));
                continue;
            }
        }
        if !matches!(k.as_str(), "@type" | "type") {
            out.note(*line, format!("grep {k} {v}"));
        }
    }
    if keep.is_empty() && drop.is_empty() {
        return None;
    }
    // Every <regexp> must match and no <exclude> may.
    let keys = if keep.is_empty() {
        table([(
            "drop_if",
            toml::Value::Table(table([("any", toml::Value::Array(drop))])),
        )])
    } else {
        if !drop.is_empty() {
            keep.push(toml::Value::Table(table([(
                "not",
                toml::Value::Table(table([("any", toml::Value::Array(drop))])),
            )])));
        }
        table([(
            "keep_if",
            toml::Value::Table(table([("all", toml::Value::Array(keep))])),
        )])
    };
    let id = out.unique_id(base);
    out.add(
        Kind::Transform,
        &id,
        "filter",
        std::slice::from_ref(&chain.last),
        keys,
        vec![format!("<filter {}> @type grep, line {}.", el.arg, el.line)],
    );
    Some(id)
}

fn matcher(el: &Element, out: &mut Converted, chains: &mut [Chain]) {
    let pattern = if el.arg.is_empty() {
        "**"
    } else {
        el.arg.as_str()
    };
    let inputs: Vec<String> = chains
        .iter_mut()
        .filter(|c| !c.done && tag_matches(pattern, &c.sample_tag, false))
        .map(|c| {
            c.done = true;
            c.last.clone()
        })
        .collect();
    if inputs.is_empty() {
        out.note(
            el.line,
            format!("<match {pattern}> matches no translated source"),
        );
        return;
    }
    let ty = el.get("@type").or_else(|| el.get("type")).unwrap_or("");
    if ty == "copy" {
        for store in el.children.iter().filter(|c| c.name == "store") {
            sink(store, out, &inputs, pattern);
        }
    } else {
        sink(el, out, &inputs, pattern);
    }
}

fn sink(el: &Element, out: &mut Converted, inputs: &[String], pattern: &str) {
    let ty = el.get("@type").or_else(|| el.get("type")).unwrap_or("");
    let comments = vec![format!("<match {pattern}> @type {ty}, line {}.", el.line)];
    let mut known: Vec<&str> = vec!["@type", "type", "@id"];
    let id_base = el.get("@id").unwrap_or(ty);
    let (kind, keys) = match ty {
        "elasticsearch" => {
            known.extend([
                "host",
                "port",
                "scheme",
                "hosts",
                "index_name",
                "logstash_format",
                "logstash_prefix",
                "logstash_dateformat",
                "user",
                "password",
            ]);
            let scheme = el.get("scheme").unwrap_or("http");
            let endpoints: Vec<String> = match el.get("hosts") {
                Some(h) => h
                    .split(',')
                    .map(|h| {
                        let h = h.trim();
                        if h.contains("://") {
                            h.to_owned()
                        } else {
                            format!("{scheme}://{h}")
                        }
                    })
                    .collect(),
                None => vec![endpoint(
                    scheme,
                    el.get("host").unwrap_or("localhost"),
                    el.get("port").unwrap_or("9200"),
                )],
            };
            let index = if el.get("logstash_format").is_some_and(truthy) {
                format!(
                    "{}-{}",
                    el.get("logstash_prefix").unwrap_or("logstash"),
                    el.get("logstash_dateformat").unwrap_or("%Y.%m.%d")
                )
            } else {
                el.get("index_name").unwrap_or("fluentd").to_owned()
            };
            let mut keys = table([("endpoints", strings(&endpoints)), ("index", index.into())]);
            if let (Some(u), Some(p)) = (el.get("user"), el.get("password")) {
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
            known.extend(["url", "extra_labels", "tenant"]);
            let mut labels = toml::Table::new();
            if let Some(extra) = el.get("extra_labels") {
                match serde_json::from_str::<std::collections::BTreeMap<String, String>>(extra) {
                    Ok(m) => labels.extend(m.into_iter().map(|(k, v)| (k, v.into()))),
                    Err(_) => out.note(
                        el.line,
                        format!("extra_labels {extra}: expected a JSON object"),
                    ),
                }
            }
            if let Some(l) = el.child("label") {
                for (k, v, _) in &l.params {
                    let field = if v.is_empty() {
                        k.as_str()
                    } else {
                        v.trim_start_matches("$.")
                    };
                    labels.insert(k.clone(), format!("{{{{ {field} }}}}").into());
                }
            }
            let mut keys = table([(
                "endpoint",
                el.get("url").unwrap_or("http://localhost:3100").into(),
            )]);
            if !labels.is_empty() {
                keys.insert("labels".into(), toml::Value::Table(labels));
            }
            if let Some(t) = el.get("tenant") {
                keys.insert("tenant_id".into(), t.into());
            }
            ("loki", keys)
        }
        "file" => {
            known.push("path");
            let path = el.get("path").unwrap_or("out");
            (
                "file",
                table([("path", format!("{path}.%Y%m%d.log").into())]),
            )
        }
        "stdout" => ("console", table([("encoding", "json".into())])),
        "null" => ("blackhole", toml::Table::new()),
        other => {
            out.note(
                el.line,
                format!("<match {pattern}> @type {other}: not translated; its events go nowhere"),
            );
            return;
        }
    };
    for (k, v, line) in &el.params {
        if !known.contains(&k.as_str()) {
            let why = if k == "type_name" {
                " (mapping types were removed in Elasticsearch 7; not needed)"
            } else {
                ""
            };
            out.note(*line, format!("<match> {k} {v}{why}"));
        }
    }
    for c in &el.children {
        if c.name == "buffer" {
            out.note(c.line, "<buffer>: logagent's sinks hold events in bounded memory channels by default; for a disk buffer set `buffer = { type = \"disk\", max_size = \"…\" }` on the sink");
        } else if !(ty == "loki" && c.name == "label") {
            out.note(c.line, format!("<{}> in <match>", c.name));
        }
    }
    let id = out.unique_id(id_base);
    out.add(Kind::Sink, &id, kind, inputs, keys, comments);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_parts_become_path_captures() {
        let re = tag_parts_pattern(1, &[(1, "a".into()), (5, "svc".into())]);
        let re = regex::Regex::new(&re).unwrap();
        let c = re.captures("/var/log/workflow/workflow.api.log").unwrap();
        assert_eq!(&c["a"], "var");
        assert_eq!(&c["svc"], "api");
    }

    #[test]
    fn env_references() {
        assert_eq!(
            env_refs("#{ENV['NODE_ENV']}").as_deref(),
            Some("${NODE_ENV:-}")
        );
        assert_eq!(
            env_refs("x-#{ENV[\"A\"]}-$y").as_deref(),
            Some("x-${A:-}-$$y")
        );
        assert_eq!(env_refs("#{1 + 1}"), None);
    }

    #[test]
    fn unclosed_directives_are_errors() {
        assert!(parse("<source>\n@type tail\n").is_err());
        assert!(parse("<source>\n</match>\n").is_err());
    }
}
