//! Reading one pipeline file into the partial config: interpolation, TOML, the
//! top-level keys, and each component deserialized and checked, every problem
//! located by file, position, component and key.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::graph::{check_graph, check_test};
use super::located::{KeySpans, quoted_field, serde_message};
use super::{
    ApiConfig, BufferConfig, Component, ComponentChecks, ConfigError, DEFAULT_DATA_DIR, KeyError,
    PipelineConfig, RuntimeConfig, SinkConfig, SourceConfig, TOP_LEVEL_KEYS, TestCase,
    TransformConfig, format, interpolate, ops,
};
use format::Format;

#[derive(Default)]
pub(super) struct Partial {
    data_dir: Option<(PathBuf, PathBuf)>,
    runtime: Option<(RuntimeConfig, PathBuf)>,
    sources: Vec<Component<SourceConfig>>,
    transforms: Vec<Component<TransformConfig>>,
    sinks: Vec<Component<SinkConfig>>,
    broken: Vec<(String, bool)>,
    maintenance: crate::maintenance::MaintenanceConfig,
    api: Option<(ApiConfig, PathBuf)>,
    tests: Vec<(TestCase, PathBuf, usize)>,
}

/// Locates a byte span of one file for error messages.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::new(message)
            .in_file(self.file)
            .at(span.map(|s| interpolate::line_col(self.text, s.start)))
    }
}

/// Reads one file into `partial`: interpolation, TOML, then each top-level key
/// by its own reader.
pub(super) fn parse_file(
    path: &Path,
    raw: &str,
    env: &impl Fn(&str) -> Option<String>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let Some(text) = interpolated(path, raw, env, errors) else {
        return;
    };
    let loc = Locator {
        file: path,
        text: &text,
    };
    let table = match format::parse_document(Format::of(path), &text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            errors.push(loc.error(e.offset.map(|o| o..o), e.message));
            return;
        }
    };
    for (key, value) in table {
        match key.get_ref().as_ref() {
            "data_dir" => parse_data_dir(&loc, value, partial, errors),
            "runtime" => parse_runtime(&loc, value, partial, errors),
            kind @ ("sources" | "transforms" | "sinks") => {
                parse_components(&loc, kind, value, partial, errors)
            }
            "api" => parse_api(&loc, value, partial, errors),
            "tests" => parse_tests(&loc, value, partial, errors),
            kind @ ("rotate" | "retain") => crate::maintenance::config::parse_key(
                kind,
                value,
                path,
                &text,
                &mut partial.maintenance,
                errors,
            ),
            other => errors.push(loc.error(
                Some(key.span()),
                format!(
                    "unknown top-level key `{other}` (expected one of {})",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            )),
        }
    }
}

/// The file's text with `${VAR}`s replaced, after reporting each variable
/// that is unset or malformed (left as written, so that the rest of the file
/// is still checked and every error reported in one pass).
fn interpolated(
    path: &Path,
    raw: &str,
    env: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    match interpolate::interpolate_format(raw, Format::of(path), env) {
        (t, missing) if missing.is_empty() => Some(t),
        (t, missing) => {
            for m in missing {
                let message = if m.name.is_empty() {
                    "malformed variable reference (expected ${NAME} or ${NAME:-default}; write $$ for a literal $)"
                        .to_owned()
                } else {
                    format!(
                        "environment variable {} is not set and has no default (write ${{{}:-default}})",
                        m.name, m.name
                    )
                };
                errors.push(
                    ConfigError::new(message)
                        .in_file(path)
                        .at(Some((m.line, m.column))),
                );
            }
            Some(t)
        }
    }
}

/// `data_dir = "…"`: a path, the same in every file that sets it.
fn parse_data_dir(
    loc: &Locator<'_>,
    value: Spanned<DeValue<'_>>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let span = value.span();
    match value.get_ref().as_str() {
        Some(dir) => set_once(
            &mut partial.data_dir,
            (PathBuf::from(dir), loc.file.to_path_buf()),
            |a, b| a.0 == b.0,
            || {
                loc.error(
                    Some(span.clone()),
                    "data_dir is set differently in another pipeline file",
                )
                .at_key("data_dir")
            },
            errors,
        ),
        None => errors.push(
            loc.error(Some(span), "expected a string (a directory path)")
                .at_key("data_dir"),
        ),
    }
}

/// `[runtime]`: batch and channel sizes, nonzero, the same in every file.
fn parse_runtime(
    loc: &Locator<'_>,
    value: Spanned<DeValue<'_>>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let span = value.span();
    match RuntimeConfig::deserialize(ValueDeserializer::from(value)) {
        Ok(rt) => {
            for (k, bad) in [
                ("batch_max_events", rt.batch_max_events == 0),
                ("batch_max_bytes", rt.batch_max_bytes.0 == 0),
                ("channel_capacity", rt.channel_capacity == 0),
            ] {
                if bad {
                    errors.push(
                        loc.error(Some(span.clone()), "must be greater than zero")
                            .in_component("runtime")
                            .at_key(k),
                    );
                }
            }
            set_once(
                &mut partial.runtime,
                (rt, loc.file.to_path_buf()),
                |a, b| a.0 == b.0,
                || {
                    loc.error(
                        Some(span.clone()),
                        "[runtime] is set differently in another pipeline file",
                    )
                },
                errors,
            );
        }
        Err(e) => errors.push(serde_error(loc, e, "runtime", None)),
    }
}

/// `[sources.ID]`, `[transforms.ID]` or `[sinks.ID]` tables: each component
/// parsed and checked; the ids of broken ones kept so that inputs naming them
/// are not reported again as dangling.
fn parse_components(
    loc: &Locator<'_>,
    kind: &str,
    value: Spanned<DeValue<'_>>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let span = value.span();
    let DeValue::Table(components) = value.into_inner() else {
        errors.push(loc.error(
            Some(span),
            format!("`{kind}` must be a table of components, e.g. [{kind}.my_id]"),
        ));
        return;
    };
    for (id, body) in components {
        let id_text = id.get_ref().to_string();
        let name = format!("{kind}.{id_text}");
        if !valid_id(&id_text) {
            errors.push(
                loc.error(
                    Some(id.span()),
                    "component ids may contain only letters, digits, '_' and '-'",
                )
                .in_component(&name),
            );
            continue;
        }
        let parsed = match kind {
            "sources" => parse_component(
                loc,
                &name,
                &id_text,
                body,
                false,
                SourceConfig::parse,
                errors,
            )
            .map(|c| partial.sources.push(c)),
            "transforms" => parse_component(
                loc,
                &name,
                &id_text,
                body,
                true,
                TransformConfig::parse,
                errors,
            )
            .map(|c| partial.transforms.push(c)),
            _ => {
                let (body, buffer) = take_buffer(loc, &name, body, errors);
                parse_component(loc, &name, &id_text, body, true, SinkConfig::parse, errors)
                    .and_then(|mut c| {
                        c.buffer = buffer?;
                        partial.sinks.push(c);
                        Some(())
                    })
            }
        };
        if parsed.is_none() {
            // Already reported; keep the id so inputs naming it are not
            // reported again as dangling.
            partial.broken.push((id_text, kind == "sinks"));
        }
    }
}

/// `[api]`: the HTTP API's address and options, the same in every file.
fn parse_api(
    loc: &Locator<'_>,
    value: Spanned<DeValue<'_>>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let span = value.span();
    match ApiConfig::deserialize(ValueDeserializer::from(value)) {
        Ok(api) => {
            for KeyError { key, message } in api.check() {
                errors.push(
                    loc.error(Some(span.clone()), message)
                        .in_component("api")
                        .at_key(key),
                );
            }
            set_once(
                &mut partial.api,
                (api, loc.file.to_path_buf()),
                |a, b| a.0 == b.0,
                || {
                    loc.error(
                        Some(span.clone()),
                        "[api] is set differently in another pipeline file",
                    )
                },
                errors,
            );
        }
        Err(e) => errors.push(serde_error(loc, e, "api", None)),
    }
}

/// `[[tests]]`: each case checked on its own here, against the graph once
/// every file is read ([`check_test`]).
fn parse_tests(
    loc: &Locator<'_>,
    value: Spanned<DeValue<'_>>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        errors.push(loc.error(
            Some(span),
            "`tests` must be an array of tables, e.g. [[tests]]",
        ));
        return;
    };
    for (i, item) in items.into_iter().enumerate() {
        let item_span = item.span();
        let component = format!("tests[{i}]");
        match TestCase::deserialize(ValueDeserializer::from(item)) {
            Ok(case) => {
                let problems = case.check();
                for KeyError { key, message } in &problems {
                    errors.push(
                        loc.error(Some(item_span.clone()), message.clone())
                            .in_component(&component)
                            .at_key(key),
                    );
                }
                if problems.is_empty() {
                    let line = interpolate::line_col(loc.text, item_span.start).0;
                    partial.tests.push((case, loc.file.to_path_buf(), line));
                }
            }
            Err(e) => {
                let key = quoted_field(&serde_message(&e));
                let mut err = serde_error(loc, e, &component, None);
                if err.position.is_none() {
                    err = err.at(Some(interpolate::line_col(loc.text, item_span.start)));
                }
                if let Some(k) = key {
                    err = err.at_key(k);
                }
                errors.push(err);
            }
        }
    }
}

/// Removes a sink's `buffer` table from `body` and resolves it (`None` after
/// reporting errors).
fn take_buffer<'a>(
    loc: &Locator<'_>,
    name: &str,
    body: Spanned<DeValue<'a>>,
    errors: &mut Vec<ConfigError>,
) -> (Spanned<DeValue<'a>>, Option<BufferConfig>) {
    if !matches!(body.get_ref(), DeValue::Table(_)) {
        // parse_component reports it.
        return (body, Some(BufferConfig::Memory));
    }
    let span = body.span();
    let DeValue::Table(mut table) = body.into_inner() else {
        return (Spanned::new(span, DeValue::Table(Default::default())), None);
    };
    let buffer = match table.remove("buffer") {
        None => Some(BufferConfig::Memory),
        Some(v) => {
            let vspan = v.span();
            match ops::RawBuffer::deserialize(ValueDeserializer::from(v)) {
                Ok(raw) => match raw.resolve() {
                    Ok(b) => Some(b),
                    Err(problems) => {
                        for KeyError { key, message } in problems {
                            errors.push(
                                loc.error(Some(vspan.clone()), message)
                                    .in_component(name)
                                    .at_key(key),
                            );
                        }
                        None
                    }
                },
                Err(e) => {
                    let key = quoted_field(&serde_message(&e))
                        .map(|k| format!("buffer.{k}"))
                        .unwrap_or_else(|| "buffer".into());
                    errors.push(serde_error(loc, e, name, Some(&key)));
                    None
                }
            }
        }
    };
    (Spanned::new(span, DeValue::Table(table)), buffer)
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    same: impl Fn(&T, &T) -> bool,
    conflict: impl FnOnce() -> ConfigError,
    errors: &mut Vec<ConfigError>,
) {
    match slot {
        Some(existing) if !same(existing, &value) => errors.push(conflict()),
        Some(_) => {}
        None => *slot = Some(value),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A parser for one component kind: given the `type` and the remaining keys.
type ParseFn<T> = fn(&str, ValueDeserializer<'_>) -> Option<Result<T, toml::de::Error>>;

fn parse_component<T: ComponentChecks>(
    loc: &Locator<'_>,
    name: &str,
    id: &str,
    body: Spanned<DeValue<'_>>,
    takes_inputs: bool,
    parse: ParseFn<T>,
    errors: &mut Vec<ConfigError>,
) -> Option<Component<T>> {
    let span = body.span();
    let DeValue::Table(mut table) = body.into_inner() else {
        errors.push(loc.error(Some(span), "expected a table").in_component(name));
        return None;
    };
    let ty = match table.remove("type") {
        Some(v) => match v.get_ref().as_str() {
            Some(t) => Some((t.to_owned(), v.span())),
            None => {
                errors.push(
                    loc.error(
                        Some(v.span()),
                        format!("expected a string, one of: {}", T::TYPES.join(", ")),
                    )
                    .in_component(name)
                    .at_key("type"),
                );
                None
            }
        },
        None => {
            errors.push(
                loc.error(
                    Some(span.clone()),
                    format!(
                        "missing key `type` (expected one of: {})",
                        T::TYPES.join(", ")
                    ),
                )
                .in_component(name)
                .at_key("type"),
            );
            None
        }
    };
    let mut inputs = Vec::new();
    match table.remove("inputs") {
        Some(v) if takes_inputs => {
            let ok = match v.get_ref() {
                DeValue::Array(items) => items.iter().all(|i| match i.get_ref().as_str() {
                    Some(s) => {
                        inputs.push(s.to_owned());
                        true
                    }
                    None => false,
                }),
                _ => false,
            };
            if !ok {
                errors.push(
                    loc.error(
                        Some(v.span()),
                        "expected an array of component ids, e.g. inputs = [\"app\"]",
                    )
                    .in_component(name)
                    .at_key("inputs"),
                );
            } else if inputs.is_empty() {
                errors.push(
                    loc.error(Some(v.span()), "must name at least one input component")
                        .in_component(name)
                        .at_key("inputs"),
                );
            }
        }
        Some(v) => errors.push(
            loc.error(Some(v.span()), "sources read no inputs; remove this key")
                .in_component(name)
                .at_key("inputs"),
        ),
        None if takes_inputs => errors.push(
            loc.error(
                Some(span.clone()),
                "missing key `inputs` (the ids of the components this one reads from)",
            )
            .in_component(name)
            .at_key("inputs"),
        ),
        None => {}
    }
    let (ty, ty_span) = ty?;
    let key_spans = KeySpans::of(&table);
    let de = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(table)));
    let config = match parse(&ty, de) {
        None => {
            errors.push(
                loc.error(
                    Some(ty_span),
                    format!(
                        "unknown type {ty:?} (expected one of: {})",
                        T::TYPES.join(", ")
                    ),
                )
                .in_component(name)
                .at_key("type"),
            );
            return None;
        }
        Some(Err(e)) => {
            errors.push(serde_error_with_keys(loc, e, name, &key_spans));
            return None;
        }
        Some(Ok(c)) => c,
    };
    let mut failed = false;
    for KeyError { key, message } in config.check() {
        failed = true;
        let at = key_spans.value_span(&key).unwrap_or(span.clone());
        errors.push(loc.error(Some(at), message).in_component(name).at_key(key));
    }
    if failed {
        return None;
    }
    Some(Component {
        id: id.to_owned(),
        inputs,
        config,
        file: loc.file.to_path_buf(),
        buffer: BufferConfig::Memory,
    })
}

fn serde_error(
    loc: &Locator<'_>,
    e: toml::de::Error,
    component: &str,
    key: Option<&str>,
) -> ConfigError {
    let mut err = loc
        .error(e.span(), serde_message(&e))
        .in_component(component);
    if let Some(k) = key {
        err = err.at_key(k);
    }
    err
}

/// Turns a serde error into one naming the key it is about (see
/// [`KeySpans::serde_key`]).
fn serde_error_with_keys(
    loc: &Locator<'_>,
    e: toml::de::Error,
    component: &str,
    keys: &KeySpans,
) -> ConfigError {
    let key = keys.serde_key(&e);
    let mut err = serde_error(loc, e, component, None);
    if let Some(k) = key {
        err = err.at_key(k);
    }
    err
}

impl Partial {
    pub(super) fn finish(self, errors: &mut Vec<ConfigError>) -> PipelineConfig {
        let config = PipelineConfig {
            data_dir: self
                .data_dir
                .map(|(d, _)| d)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            runtime: self.runtime.map(|(r, _)| r).unwrap_or_default(),
            sources: self.sources,
            transforms: self.transforms,
            sinks: self.sinks,
            maintenance: self.maintenance,
            api: self.api.map(|(a, _)| a),
            tests: Vec::new(),
        };
        check_graph(&config, &self.broken, errors);
        let mut config = config;
        for (case, file, line) in self.tests {
            check_test(&config, &case, &file, line, errors);
            config.tests.push(case);
        }
        config
    }
}
