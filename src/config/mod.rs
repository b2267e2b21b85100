//! Pipeline files: TOML in Vector's shape (`[sources.ID]`, `[transforms.ID]`,
//! `[sinks.ID]`, each with a `type`, transforms and sinks with `inputs`).
//!
//! Loading is pure: it reads the files, interpolates `${VAR}`, deserializes every
//! component into its typed config, runs each component's own checks and checks
//! the graph — and reports *every* problem found, each with file, position,
//! component and key. Nothing is opened or connected here.

pub mod components;
pub mod error;
pub mod format;
mod graph;
pub mod interpolate;
pub mod located;
pub mod ops;
mod parse;

use std::path::PathBuf;

use serde::Deserialize;

pub use components::{SinkConfig, SourceConfig, TransformConfig};
pub use error::{ConfigError, ConfigErrors, KeyError};
pub use located::KeySpans;
pub use logagent_core::units::{self, ByteSize, HumanDuration, UnitError};
pub use ops::{ApiConfig, BufferConfig, DiskBufferConfig, TestCase, WhenFull};
use parse::{Partial, parse_file};

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

/// The `[runtime]` table: how big batches get, how many wait in each channel,
/// and how many threads run each stateless transform stage.
/// Memory in flight is bounded by roughly
/// `(components × (channel_capacity + 1) + stages × 2 × workers) × batch_max_bytes`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Most events in one batch (default 1024).
    pub batch_max_events: usize,
    /// Most line bytes in one batch (default 1MiB).
    pub batch_max_bytes: ByteSize,
    /// Batches that may wait in each component's input channel (default 4).
    pub channel_capacity: usize,
    /// Threads running each stage of stateless transforms (default `"auto"`:
    /// one per available core; `1` runs every transform on its own thread,
    /// one batch at a time).
    pub workers: Workers,
}

/// Most workers one stage may have (`[runtime] workers`); `"auto"` is capped
/// here too, so a 256-core node does not start 256 threads per stage.
pub const MAX_WORKERS: usize = 64;

/// `[runtime] workers`: how many threads process the batches of one stage of
/// stateless transforms at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Workers {
    /// One per core the process may run on (`std::thread::available_parallelism`),
    /// at most [`MAX_WORKERS`].
    #[default]
    Auto,
    /// Exactly this many (1 to [`MAX_WORKERS`]).
    Count(usize),
}

impl Workers {
    /// The number of workers this stands for on this machine.
    pub fn resolve(self) -> usize {
        match self {
            Workers::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, MAX_WORKERS),
            Workers::Count(n) => n.clamp(1, MAX_WORKERS),
        }
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Workers, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Workers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "`workers`: \"auto\" or a number of threads from 1 to {MAX_WORKERS}"
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Workers, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "`workers` = {v}: expected \"auto\" or 1 to {MAX_WORKERS}"
                    ))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Workers, E> {
                match usize::try_from(v) {
                    Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(Workers::Count(n)),
                    _ => Err(E::custom(format!(
                        "`workers` = {v}: expected \"auto\" or 1 to {MAX_WORKERS}"
                    ))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Workers, E> {
                if v == "auto" {
                    Ok(Workers::Auto)
                } else {
                    Err(E::custom(format!(
                        "`workers` = {v:?}: expected \"auto\" or a number of threads from 1 to {MAX_WORKERS}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            batch_max_events: 1024,
            batch_max_bytes: ByteSize(1 << 20),
            channel_capacity: 4,
            workers: Workers::Auto,
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
    let files = read_files(paths)?;
    load_texts(&files, |name| std::env::var(name).ok())
}

/// Most pipeline files `--config-dir` loads from one directory: a directory
/// that holds more is a mistake (a log directory given by accident), refused
/// rather than read whole.
pub const MAX_DIR_FILES: usize = 1000;

/// The pipeline files to load: `files` as given, then every `.toml`, `.yaml`,
/// `.yml` and `.json` file directly in each of `dirs` (not in subdirectories;
/// hidden files skipped), by name. All of them are merged into one pipeline,
/// as Vector merges a config directory: a component id may appear once.
pub fn pipeline_files(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigErrors> {
    let mut out = files.to_vec();
    let mut errors = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(
                    ConfigError::new(format!("cannot read the config directory: {e}")).in_file(dir),
                );
                continue;
            }
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let known = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| format::EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if !hidden && known && path.is_file() {
                found.push(path);
            }
            if found.len() > MAX_DIR_FILES {
                break;
            }
        }
        if found.len() > MAX_DIR_FILES {
            errors.push(
                ConfigError::new(format!(
                    "more than {MAX_DIR_FILES} pipeline files in the config directory; is it the right one?"
                ))
                .in_file(dir),
            );
            continue;
        }
        if found.is_empty() {
            errors.push(
                ConfigError::new(format!(
                    "no pipeline file (*.{}) in the config directory",
                    format::EXTENSIONS.join(", *.")
                ))
                .in_file(dir),
            );
        }
        found.sort();
        out.extend(found);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads each file once, as `(file name, content)` pairs for [`load_texts`]:
/// a FIFO or `/dev/stdin` (`logagent validate <(...)`) can be read only once,
/// so whoever needs the texts twice keeps them.
pub fn read_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, ConfigErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => files.push((path.clone(), text)),
            Err(e) => errors
                .push(ConfigError::new(format!("cannot read pipeline file: {e}")).in_file(path)),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(ConfigErrors(errors))
    }
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
            "no pipeline file given (use --pipeline FILE or --config-dir DIR)",
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

#[cfg(test)]
mod tests;
