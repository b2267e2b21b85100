//! Pipeline files: TOML in Vector's shape (`[sources.ID]`, `[transforms.ID]`,
//! `[sinks.ID]`, each with a `type`, transforms and sinks with `inputs`).
//!
//! Loading is pure: it reads the files, interpolates `${VAR}`, deserializes every
//! component into its typed config, runs each component's own checks and checks
//! the graph — and reports *every* problem found, each with file, position,
//! component and key. Nothing is opened or connected here.

pub mod components;
pub mod error;
pub mod interpolate;
pub mod located;
pub mod ops;
pub mod units;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use components::{SinkConfig, SourceConfig, TransformConfig};
pub use error::{ConfigError, ConfigErrors, KeyError};
pub use located::KeySpans;
use located::{quoted_field, serde_message};
pub use ops::{ApiConfig, BufferConfig, DiskBufferConfig, TestCase, WhenFull};
pub use units::{ByteSize, HumanDuration};

/// A validated pipeline, merged from one or more files.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Where the agent keeps its state (checkpoints).
    pub data_dir: PathBuf,
    /// Limits on batches and channels.
    pub runtime: RuntimeConfig,
    /// Sources in file order.
    pub sources: Vec<Component<SourceConfig>>,
    /// Transforms in file order.
    pub transforms: Vec<Component<TransformConfig>>,
    /// Sinks in file order.
    pub sinks: Vec<Component<SinkConfig>>,
    /// `[[rotate]]` and `[[retain]]` jobs, for `logagent rotate` / `logagent retain`.
    pub maintenance: crate::maintenance::MaintenanceConfig,
    /// The HTTP API (`[api]`), when configured.
    pub api: Option<ApiConfig>,
    /// `[[tests]]` cases, for `logagent test`.
    pub tests: Vec<TestCase>,
}

/// One component as configured.
#[derive(Debug, Clone)]
pub struct Component<T> {
    /// Its id (the table name).
    pub id: String,
    /// The ids it reads from (empty for sources).
    pub inputs: Vec<String>,
    /// Its typed configuration.
    pub config: T,
    /// The file it was defined in.
    pub file: PathBuf,
    /// Where its input waits (sinks' `buffer`; memory for everything else).
    pub buffer: BufferConfig,
}

/// The `[runtime]` table: how big batches get and how many wait in each channel.
/// Memory in flight is bounded by roughly
/// `components × (channel_capacity + 1) × batch_max_bytes`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Most events in one batch (default 1024).
    pub batch_max_events: usize,
    /// Most line bytes in one batch (default 1MiB).
    pub batch_max_bytes: ByteSize,
    /// Batches that may wait in each component's input channel (default 4).
    pub channel_capacity: usize,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            batch_max_events: 1024,
            batch_max_bytes: ByteSize(1 << 20),
            channel_capacity: 4,
        }
    }
}

/// Default state directory when a pipeline names none.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/logagent";

const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "runtime",
    "sources",
    "transforms",
    "sinks",
    "rotate",
    "retain",
    "api",
    "tests",
];

/// Loads and validates pipeline files, reading variables from the environment.
pub fn load(paths: &[PathBuf]) -> Result<PipelineConfig, ConfigErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => files.push((path.clone(), text)),
            Err(e) => errors
                .push(ConfigError::new(format!("cannot read pipeline file: {e}")).in_file(path)),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    load_texts(&files, |name| std::env::var(name).ok())
}

/// Loads and validates pipeline texts (`(file name, content)` pairs) with the
/// given variable lookup. Pure: used by [`load`] and by tests.
pub fn load_texts(
    files: &[(PathBuf, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<PipelineConfig, ConfigErrors> {
    let mut partial = Partial::default();
    let mut errors = Vec::new();
    if files.is_empty() {
        errors.push(ConfigError::new(
            "no pipeline file given (use --pipeline FILE)",
        ));
    }
    for (path, raw) in files {
        parse_file(path, raw, &env, &mut partial, &mut errors);
    }
    let config = partial.finish(&mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

#[derive(Default)]
struct Partial {
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

fn parse_file(
    path: &Path,
    raw: &str,
    env: &impl Fn(&str) -> Option<String>,
    partial: &mut Partial,
    errors: &mut Vec<ConfigError>,
) {
    let text = match interpolate::interpolate(raw, env) {
        Ok(t) => t,
        Err(missing) => {
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
            return;
        }
    };
    let loc = Locator {
        file: path,
        text: &text,
    };
    let table = match DeTable::parse(&text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            errors.push(loc.error(e.span(), format!("invalid TOML: {}", e.message().trim())));
            return;
        }
    };
    for (key, value) in table {
        let span = value.span();
        match key.get_ref().as_ref() {
            "data_dir" => match value.get_ref().as_str() {
                Some(dir) => set_once(
                    &mut partial.data_dir,
                    (PathBuf::from(dir), path.to_path_buf()),
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
            },
            "runtime" => match RuntimeConfig::deserialize(ValueDeserializer::from(value)) {
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
                        (rt, path.to_path_buf()),
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
                Err(e) => errors.push(serde_error(&loc, e, "runtime", None)),
            },
            kind @ ("sources" | "transforms" | "sinks") => {
                let DeValue::Table(components) = value.into_inner() else {
                    errors.push(loc.error(
                        Some(span),
                        format!("`{kind}` must be a table of components, e.g. [{kind}.my_id]"),
                    ));
                    continue;
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
                            &loc,
                            &name,
                            &id_text,
                            body,
                            false,
                            SourceConfig::parse,
                            errors,
                        )
                        .map(|c| partial.sources.push(c)),
                        "transforms" => parse_component(
                            &loc,
                            &name,
                            &id_text,
                            body,
                            true,
                            TransformConfig::parse,
                            errors,
                        )
                        .map(|c| partial.transforms.push(c)),
                        _ => {
                            let (body, buffer) = take_buffer(&loc, &name, body, errors);
                            parse_component(
                                &loc,
                                &name,
                                &id_text,
                                body,
                                true,
                                SinkConfig::parse,
                                errors,
                            )
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
            "api" => match ApiConfig::deserialize(ValueDeserializer::from(value)) {
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
                        (api, path.to_path_buf()),
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
                Err(e) => errors.push(serde_error(&loc, e, "api", None)),
            },
            "tests" => {
                let DeValue::Array(items) = value.into_inner() else {
                    errors.push(loc.error(
                        Some(span),
                        "`tests` must be an array of tables, e.g. [[tests]]",
                    ));
                    continue;
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
                                let line = interpolate::line_col(&text, item_span.start).0;
                                partial.tests.push((case, path.to_path_buf(), line));
                            }
                        }
                        Err(e) => {
                            let key = quoted_field(&serde_message(&e));
                            let mut err = serde_error(&loc, e, &component, None);
                            if err.position.is_none() {
                                err = err.at(Some(interpolate::line_col(&text, item_span.start)));
                            }
                            if let Some(k) = key {
                                err = err.at_key(k);
                            }
                            errors.push(err);
                        }
                    }
                }
            }
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

/// Per-component checks beyond what serde enforces (regexes, ranges, paths).
pub trait ComponentChecks {
    /// The `type` names of this kind, for error messages.
    const TYPES: &'static [&'static str];
    /// Every problem with this component's keys.
    fn check(&self) -> Vec<KeyError>;
    /// Names of the component's named outputs, read by others as `ID.NAME`
    /// (a router's routes, a sink's dead-letter output).
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }
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
    fn finish(self, errors: &mut Vec<ConfigError>) -> PipelineConfig {
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

/// Ids unique across files and kinds; inputs exist and are not sinks; no cycles;
/// at least one source and one sink; no two file sinks writing one path.
fn check_graph(config: &PipelineConfig, broken: &[(String, bool)], errors: &mut Vec<ConfigError>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Source,
        Transform,
        Sink,
    }
    let mut ids: HashMap<&str, (Kind, &Path, &str)> = HashMap::new();
    let all = config
        .sources
        .iter()
        .map(|c| (c.id.as_str(), Kind::Source, c.file.as_path(), "sources"))
        .chain(config.transforms.iter().map(|c| {
            (
                c.id.as_str(),
                Kind::Transform,
                c.file.as_path(),
                "transforms",
            )
        }))
        .chain(
            config
                .sinks
                .iter()
                .map(|c| (c.id.as_str(), Kind::Sink, c.file.as_path(), "sinks")),
        );
    for (id, kind, file, section) in all {
        if let Some((_, other_file, other_section)) = ids.get(id) {
            errors.push(
                ConfigError::new(format!(
                    "component id {id:?} is used twice (also {other_section}.{id} in {}); ids must be unique",
                    other_file.display()
                ))
                .in_file(file)
                .in_component(format!("{section}.{id}")),
            );
        } else {
            ids.insert(id, (kind, file, section));
        }
    }
    if config.sources.is_empty() && errors.is_empty() && broken.is_empty() {
        errors.push(ConfigError::new(
            "the pipeline has no sources (add a [sources.ID] table)",
        ));
    }
    if config.sinks.is_empty() && errors.is_empty() && broken.is_empty() {
        errors.push(ConfigError::new(
            "the pipeline has no sinks (add a [sinks.ID] table)",
        ));
    }
    let consumers = config
        .transforms
        .iter()
        .map(|c| (&c.id, &c.inputs, &c.file, "transforms"))
        .chain(
            config
                .sinks
                .iter()
                .map(|c| (&c.id, &c.inputs, &c.file, "sinks")),
        );
    // Named outputs (`router.errors`, `es.dead_letter`) declared by each component.
    let ports: HashMap<&str, Vec<String>> = config
        .transforms
        .iter()
        .map(|t| (t.id.as_str(), t.config.outputs()))
        .chain(
            config
                .sinks
                .iter()
                .map(|s| (s.id.as_str(), s.config.outputs())),
        )
        .collect();
    for (id, inputs, file, section) in consumers {
        for input in inputs {
            if let Some((producer, port)) = input.split_once('.') {
                let located = |message: String| {
                    ConfigError::new(message)
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs")
                };
                if broken.iter().any(|(b, _)| b == producer) {
                    continue;
                }
                match (ids.get(producer), ports.get(producer)) {
                    (None, _) => errors.push(located(format!(
                        "input {input:?}: component {producer:?} does not exist"
                    ))),
                    (Some(_), Some(declared)) if declared.iter().any(|p| p == port) => {
                        if producer == id {
                            errors.push(located("a component cannot read its own output".into()));
                        }
                    }
                    (Some(_), declared) => {
                        let declared = declared.cloned().unwrap_or_default();
                        errors.push(located(if declared.is_empty() {
                            format!("input {input:?}: {producer:?} has no named outputs (use {producer:?})")
                        } else {
                            format!(
                                "input {input:?}: {producer:?} has no output named {port:?} (it has: {})",
                                declared.join(", ")
                            )
                        }))
                    }
                }
                continue;
            }
            match ids.get(input.as_str()) {
                None if broken.iter().any(|(id, _)| id == input) => {}
                None => {
                    let mut known: Vec<&str> = ids
                        .iter()
                        .filter(|(_, (k, _, _))| *k != Kind::Sink)
                        .map(|(id, _)| *id)
                        .chain(
                            broken
                                .iter()
                                .filter(|(_, sink)| !sink)
                                .map(|(id, _)| id.as_str()),
                        )
                        .collect();
                    known.sort_unstable();
                    errors.push(
                        ConfigError::new(format!(
                            "input {input:?} does not exist (expected one of: {})",
                            known.join(", ")
                        ))
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs"),
                    );
                }
                Some((Kind::Sink, _, _)) => errors.push(
                    ConfigError::new(format!("input {input:?} is a sink; sinks have no outputs"))
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs"),
                ),
                Some(_) if input == id => errors.push(
                    ConfigError::new("a component cannot read its own output")
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs"),
                ),
                Some(_) => {}
            }
        }
    }
    // Cycles among transforms: depth-first search with colours.
    let graph: BTreeMap<&str, Vec<String>> = config
        .transforms
        .iter()
        .map(|t| {
            let producers = t
                .inputs
                .iter()
                .map(|i| i.split_once('.').map_or(i.as_str(), |(p, _)| p).to_owned())
                .collect();
            (t.id.as_str(), producers)
        })
        .collect();
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported = false;
    for start in graph.keys() {
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((node, next)) = stack.pop() {
            if next == 0 {
                match state.get(node) {
                    Some(2) => continue,
                    Some(1) => {
                        continue;
                    }
                    _ => {
                        state.insert(node, 1);
                    }
                }
            }
            let inputs = graph.get(node).map(|v| v.as_slice()).unwrap_or(&[]);
            if let Some(input) = inputs.get(next) {
                stack.push((node, next + 1));
                if graph.contains_key(input.as_str()) {
                    match state.get(input.as_str()) {
                        Some(1) if !reported && input != node => {
                            reported = true;
                            let mut cycle: Vec<&str> = stack.iter().map(|(n, _)| *n).collect();
                            if let Some(pos) = cycle.iter().position(|n| *n == input) {
                                cycle.drain(..pos);
                            }
                            cycle.push(input);
                            let file = config
                                .transforms
                                .iter()
                                .find(|t| t.id == *input)
                                .map(|t| t.file.clone());
                            let mut e = ConfigError::new(format!(
                                "the transforms form a cycle: {}",
                                cycle.join(" -> ")
                            ))
                            .in_component(format!("transforms.{input}"))
                            .at_key("inputs");
                            e.file = file;
                            errors.push(e);
                        }
                        Some(_) => {}
                        None => stack.push((input.as_str(), 0)),
                    }
                }
            } else {
                state.insert(node, 2);
            }
        }
    }
    // A sink's named output (dead letters) must not flow back into the sink: the
    // documents would loop, and the sink would wait on its own input channel.
    for sink in &config.sinks {
        for port in sink.config.outputs() {
            let start = format!("{}.{port}", sink.id);
            let reads = |inputs: &[String], producer: &str, exact: bool| {
                inputs.iter().any(|i| {
                    i == producer
                        || (!exact && i.split_once('.').is_some_and(|(p, _)| p == producer))
                })
            };
            let mut frontier: Vec<(String, bool)> = vec![(start.clone(), true)];
            let mut seen: Vec<&str> = Vec::new();
            let mut loops = false;
            while let Some((producer, exact)) = frontier.pop() {
                if reads(&sink.inputs, &producer, exact) {
                    loops = true;
                    break;
                }
                for t in &config.transforms {
                    if reads(&t.inputs, &producer, exact) && !seen.contains(&t.id.as_str()) {
                        seen.push(t.id.as_str());
                        frontier.push((t.id.clone(), false));
                    }
                }
            }
            if loops {
                errors.push(
                    ConfigError::new(format!(
                        "its output {start:?} flows back into it; documents it refuses would loop (send them to another sink)"
                    ))
                    .in_file(&sink.file)
                    .in_component(format!("sinks.{}", sink.id))
                    .at_key("inputs"),
                );
            }
        }
    }
    // An exactly-once file sink skips replayed events below the last offset it
    // wrote per stream: a stream reaching it by two paths (a route's two
    // outputs, a dead letter beside the main output) arrives out of order, and
    // a crash could then skip an event of the slower path. Refuse it.
    if !reported {
        check_single_paths(config, errors);
    }
    // Two file sinks appending to one path interleave lines: refuse.
    let mut paths: HashMap<&str, &str> = HashMap::new();
    for sink in &config.sinks {
        if let Some(path) = sink.config.output_path() {
            if let Some(other) = paths.insert(path, &sink.id) {
                errors.push(
                    ConfigError::new(format!(
                        "sinks.{other} already writes to {path:?}; two file sinks on one path would interleave lines"
                    ))
                    .in_file(&sink.file)
                    .in_component(format!("sinks.{}", sink.id))
                    .at_key("path"),
                );
            }
        }
    }
}

/// Refuses a source reaching an exactly-once sink ([`SinkConfig::skips_replays`])
/// by more than one path. The graph has no cycles here (checked before).
fn check_single_paths(config: &PipelineConfig, errors: &mut Vec<ConfigError>) {
    let inputs_of: HashMap<&str, &[String]> = config
        .transforms
        .iter()
        .map(|t| (t.id.as_str(), t.inputs.as_slice()))
        .collect();
    for sink in config.sinks.iter().filter(|s| s.config.skips_replays()) {
        for source in &config.sources {
            // Paths from `source` to each node, memoised; saturating, so a
            // wide graph cannot overflow.
            let mut memo: HashMap<&str, u64> = HashMap::new();
            let count = paths_from(&source.id, &sink.inputs, &inputs_of, &mut memo, 0);
            if count > 1 {
                errors.push(
                    ConfigError::new(format!(
                        "events of source {:?} reach this exactly-once sink by {count} paths; \
                         a stream must arrive by one path (in order) for replays to be skipped \
                         safely: merge the branches before the sink, or set durability = \"at_least_once\"",
                        source.id
                    ))
                    .in_file(&sink.file)
                    .in_component(format!("sinks.{}", sink.id))
                    .at_key("inputs"),
                );
            }
        }
    }
}

/// How many paths lead from `source` into a component reading `inputs`.
fn paths_from<'a>(
    source: &str,
    inputs: &'a [String],
    inputs_of: &HashMap<&'a str, &'a [String]>,
    memo: &mut HashMap<&'a str, u64>,
    depth: usize,
) -> u64 {
    let mut total = 0u64;
    for input in inputs {
        let producer = input.split_once('.').map_or(input.as_str(), |(p, _)| p);
        let n = if producer == source {
            1
        } else if let Some(n) = memo.get(producer) {
            *n
        } else if let (Some(up), true) = (inputs_of.get(producer), depth < 1024) {
            let n = paths_from(source, up, inputs_of, memo, depth + 1);
            memo.insert(producer, n);
            n
        } else {
            0
        };
        total = total.saturating_add(n);
    }
    total
}

#[cfg(test)]
mod tests;

/// A test's `insert_at` and `at` must name components of the pipeline.
fn check_test(
    config: &PipelineConfig,
    case: &TestCase,
    file: &Path,
    line: usize,
    errors: &mut Vec<ConfigError>,
) {
    let located = |key: String, message: String| {
        ConfigError::new(message)
            .in_file(file)
            .at(Some((line, 1)))
            .in_component(format!("tests {:?}", case.name))
            .at_key(key)
    };
    let producers: Vec<&str> = config
        .sources
        .iter()
        .map(|c| c.id.as_str())
        .chain(config.transforms.iter().map(|c| c.id.as_str()))
        .collect();
    if !producers.contains(&case.insert_at.as_str()) {
        errors.push(located(
            "insert_at".into(),
            format!(
                "{:?} is not a source or transform of this pipeline (expected one of: {})",
                case.insert_at,
                producers.join(", ")
            ),
        ));
    }
    for (i, e) in case.expect.iter().enumerate() {
        let (id, port) = match e.at.split_once('.') {
            Some((id, port)) => (id, Some(port)),
            None => (e.at.as_str(), None),
        };
        let outputs = config
            .transforms
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.config.outputs())
            .or_else(|| {
                config
                    .sources
                    .iter()
                    .find(|s| s.id == id)
                    .map(|_| Vec::new())
            });
        let ok = match (&outputs, port) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(names), Some(p)) => names.iter().any(|n| n == p),
        };
        if !ok {
            errors.push(located(
                format!("expect[{i}].at"),
                format!(
                    "{:?} is not an output of a source or transform of this pipeline",
                    e.at
                ),
            ));
        }
    }
}
