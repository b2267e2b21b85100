//! `[[rotate]]` and `[[retain]]` tables: their options, their checks, and how the
//! commands load them — from their own file or from inside a pipeline file.
//!
//! The pipeline loader ([`crate::config`]) hands these two top-level keys to
//! [`parse_key`], so `logagent validate` reports their errors with file, line,
//! column and key like every other part of a pipeline.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::dates::{DateFormat, DateFormatError, Period, Zone};
use crate::config::format::{Format, parse_document};
use crate::config::{
    self, ByteSize, ConfigError, ConfigErrors, HumanDuration, KeyError, KeySpans, SourceConfig,
    interpolate, located::serde_message,
};

/// Every maintenance job found in a set of files, in file order.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceConfig {
    /// `[[rotate]]` jobs.
    pub rotate: Vec<Job<RotateConfig>>,
    /// `[[retain]]` jobs.
    pub retain: Vec<Job<RetainConfig>>,
}

/// One job as configured.
#[derive(Debug, Clone)]
pub struct Job<T> {
    /// Its name in reports: the `name` key, or `rotate[N]` / `retain[N]`.
    pub name: String,
    /// Its options.
    pub config: T,
    /// The file it was defined in (relative `olddir`s and globs are not resolved
    /// against it: like the agent, the jobs resolve them against the working directory).
    pub file: PathBuf,
}

/// How a file is rotated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Rename the file and create an empty one in its place (default): no line is
    /// lost, but the writer must reopen its file (see `postrotate`).
    #[default]
    Rename,
    /// Copy the file, then truncate it in place: for writers that cannot reopen.
    /// Lines written between the last copy and the truncation are lost (a window
    /// of microseconds, reported per file).
    Copytruncate,
    /// Copy the file and leave it alone (snapshots).
    Copy,
}

/// How rotated versions are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Naming {
    /// `app.log.1` (newest), `app.log.2`, … shifted on every rotation (default).
    #[default]
    Numbered,
    /// `app.log-20261123`, from `date_format` (logrotate's `dateext`).
    Date,
}

/// One `[[rotate]]` table: a set of files rotated alike (logrotate's stanza).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateConfig {
    /// Name in reports and errors (default `rotate[N]`).
    #[serde(default)]
    pub name: Option<String>,
    /// Glob patterns of the files to rotate (`/var/log/nginx/*.log`).
    pub paths: Vec<String>,
    /// Rotate whenever the file is at least this big, whatever the time (logrotate `size`).
    #[serde(default)]
    pub size: Option<ByteSize>,
    /// With `frequency`: rotate only when the period is over *and* the file is at
    /// least this big (logrotate `minsize`).
    #[serde(default)]
    pub min_size: Option<ByteSize>,
    /// With `frequency`: also rotate before the period is over once the file is at
    /// least this big (logrotate `maxsize`).
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// `hourly`, `daily`, `weekly` (ISO weeks), `monthly` or `yearly`: rotate when
    /// the period of the last rotation is over.
    #[serde(default)]
    pub frequency: Option<Period>,
    /// Leave files modified more recently than this (logrotate `minage`).
    #[serde(default)]
    pub min_age: Option<HumanDuration>,
    /// Rotate empty files too (default true, as logrotate's `ifempty`).
    #[serde(default)]
    pub if_empty: Option<bool>,
    /// The opposite spelling of `if_empty` (logrotate's `notifempty`).
    #[serde(default)]
    pub not_if_empty: Option<bool>,
    /// A pattern matching no file is not an error (default false).
    #[serde(default)]
    pub missing_ok: bool,
    /// `rename` (default), `copytruncate` or `copy`.
    #[serde(default)]
    pub method: Method,
    /// With `rename`: create a new empty file in place of the rotated one (default true).
    #[serde(default = "yes")]
    pub create: bool,
    /// Mode of the new file, octal (`"0640"`; default: the rotated file's mode).
    #[serde(default)]
    pub mode: Option<String>,
    /// Owner of the new file, a user name or uid (default: the rotated file's).
    #[serde(default)]
    pub owner: Option<String>,
    /// Group of the new file, a group name or gid (default: the rotated file's).
    #[serde(default)]
    pub group: Option<String>,
    /// `numbered` (default) or `date`.
    #[serde(default)]
    pub naming: Naming,
    /// With `naming = "date"`: appended to the name; must sort by time (default `-%Y%m%d`).
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// Gzip rotated versions (default false).
    #[serde(default)]
    pub compress: bool,
    /// Gzip level 1 (fast) to 9 (small) (default 6).
    #[serde(default = "default_level")]
    pub compress_level: u32,
    /// Leave the newest rotated version uncompressed until the next rotation, for
    /// writers that keep writing to it until told to reopen (default false).
    #[serde(default)]
    pub delay_compress: bool,
    /// Rotated versions kept; older ones are deleted (default 7). 0 deletes a
    /// version as soon as it is rotated — once the agent has shipped it.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Delete rotated versions older than this (by the date in the name, else mtime).
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// Directory for rotated versions (relative to the file's directory); it must
    /// be on the same filesystem.
    #[serde(default)]
    pub olddir: Option<String>,
    /// Shell command run once for the set after its files were rotated (e.g.
    /// `kill -HUP $(cat /run/nginx.pid)`); the rotated files are its arguments.
    #[serde(default)]
    pub postrotate: Option<String>,
    /// Longest time `postrotate` may run before it is killed (default 60s).
    #[serde(default = "default_postrotate_timeout")]
    pub postrotate_timeout: HumanDuration,
    /// How long copytruncate and the compression of a just-rotated file wait for
    /// the agent to acknowledge the file to its end (default 30s).
    #[serde(default = "default_agent_wait")]
    pub agent_wait: HumanDuration,
    /// `local` (default), `utc`, an offset (`+09:00`) or an IANA name
    /// (`Asia/Tokyo`): the clock face for periods and dates in names.
    #[serde(default = "local_zone")]
    pub timezone: Zone,
}

/// A `mode` that is not octal permission bits (the text, for the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mode {0:?}: expected octal like \"0640\"")]
pub struct InvalidMode(pub String);

/// The jobs' default zone: the machine's, as logrotate and cron use.
fn local_zone() -> Zone {
    Zone::Local
}

fn yes() -> bool {
    true
}
fn default_date_format() -> String {
    "-%Y%m%d".to_owned()
}
fn default_level() -> u32 {
    6
}
fn default_keep() -> usize {
    7
}
fn default_postrotate_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}
fn default_agent_wait() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

impl RotateConfig {
    /// Whether empty files are rotated (`if_empty`/`not_if_empty`, default yes).
    pub fn rotates_empty(&self) -> bool {
        match (self.if_empty, self.not_if_empty) {
            (Some(v), _) => v,
            (None, Some(v)) => !v,
            (None, None) => true,
        }
    }

    /// The parsed `date_format` (checked at load time).
    pub fn date_format(&self) -> Result<DateFormat, DateFormatError> {
        DateFormat::parse(&self.date_format)
    }

    /// The parsed `mode`.
    pub fn mode_bits(&self) -> Result<Option<u32>, InvalidMode> {
        self.mode
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| InvalidMode(m.to_owned()))
            })
            .transpose()
    }

    /// Every problem with the options.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        check_globs("paths", &self.paths, &mut errors);
        if self.size.is_none() && self.max_size.is_none() && self.frequency.is_none() {
            errors.push(KeyError::new(
                "frequency",
                "no trigger: set `size`, `max_size` or `frequency` (daily, weekly, ...)",
            ));
        }
        if self.size.is_some() && (self.min_size.is_some() || self.max_size.is_some()) {
            errors.push(KeyError::new(
                "size",
                "`size` rotates by size alone; it cannot be combined with `min_size`/`max_size` (use those with `frequency`)",
            ));
        }
        if let (Some(a), Some(b)) = (self.if_empty, self.not_if_empty)
            && a == b
        {
            errors.push(KeyError::new(
                "not_if_empty",
                "contradicts `if_empty`; set only one of them",
            ));
        }
        if let Err(e) = self.mode_bits() {
            errors.push(KeyError::new("mode", e.to_string()));
        }
        if self.naming == Naming::Date
            && let Err(e) = self.date_format()
        {
            errors.push(KeyError::new("date_format", e.to_string()));
        }
        if !(1..=9).contains(&self.compress_level) {
            errors.push(KeyError::new(
                "compress_level",
                "must be between 1 (fast) and 9 (small)",
            ));
        }
        if self.delay_compress && !self.compress {
            errors.push(KeyError::new(
                "delay_compress",
                "has no effect without `compress = true`",
            ));
        }
        if self.method != Method::Rename
            && (self.mode.is_some() || self.owner.is_some() || self.group.is_some())
        {
            errors.push(KeyError::new(
                "mode",
                "`mode`, `owner` and `group` apply to the file created by `method = \"rename\"`",
            ));
        }
        if let Some(dir) = &self.olddir
            && dir.trim().is_empty()
        {
            errors.push(KeyError::new("olddir", "must not be empty"));
        }
        if let Some(cmd) = &self.postrotate
            && cmd.trim().is_empty()
        {
            errors.push(KeyError::new("postrotate", "must not be empty"));
        }
        if self.postrotate_timeout.0.is_zero() {
            errors.push(KeyError::new(
                "postrotate_timeout",
                "must be greater than zero",
            ));
        }
        errors
    }
}

/// Where the date of a file comes from for `retain`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFrom {
    /// A date in the name when there is one, else the modification time (default).
    #[default]
    Auto,
    /// Only a date in the name; files without one are left alone.
    Name,
    /// Only the modification time (`find -mtime`).
    Mtime,
}

pub use logagent_retention::gfs::GfsConfig;

/// One `[[retain]]` table: a clean-up policy over one directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetainConfig {
    /// Name in reports and errors (default `retain[N]`).
    #[serde(default)]
    pub name: Option<String>,
    /// The directory cleaned; nothing outside it is ever touched.
    pub directory: String,
    /// Glob of the files considered, relative to `directory` (`*.log.*`,
    /// `**/*.gz`); matched against the name, or the relative path when it has a `/`.
    pub pattern: String,
    /// Look into subdirectories (never through symlinks). Implied by `**` or a `/`
    /// in `pattern`.
    #[serde(default)]
    pub recursive: bool,
    /// Delete files older than this (the seeds' `find -mtime +30` is `"30d"`).
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// Keep at most the newest N files.
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// Delete the oldest files until the rest fit in this size.
    #[serde(default)]
    pub max_total_size: Option<ByteSize>,
    /// Keep the newest file of each recent period; delete the others.
    #[serde(default)]
    pub gfs: Option<GfsConfig>,
    /// `auto` (default), `name` or `mtime`.
    #[serde(default)]
    pub date_from: DateFrom,
    /// How dates are written in names (default: recognise `20261123`,
    /// `2026-11-23`, with an optional time).
    #[serde(default)]
    pub date_format: Option<String>,
    /// `local` (default), `utc`, an offset (`+09:00`) or an IANA name
    /// (`Asia/Tokyo`), for dates in names and GFS periods.
    #[serde(default = "local_zone")]
    pub timezone: Zone,
}

impl RetainConfig {
    /// Every problem with the options.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.directory.trim().is_empty() {
            errors.push(KeyError::new("directory", "must not be empty"));
        }
        if self.pattern.trim().is_empty() {
            errors.push(KeyError::new("pattern", "must not be empty"));
        } else if self.pattern.starts_with('/')
            || Path::new(&self.pattern)
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            errors.push(KeyError::new(
                "pattern",
                "must be relative to `directory` and must not contain `..`",
            ));
        } else if let Err(e) = glob::Pattern::new(&self.pattern) {
            errors.push(KeyError::new("pattern", format!("invalid glob: {e}")));
        }
        let gfs_empty = self.gfs.is_none_or(|g| g == GfsConfig::default());
        if self.max_age.is_none()
            && self.keep_last.is_none()
            && self.max_total_size.is_none()
            && gfs_empty
        {
            errors.push(KeyError::new(
                "max_age",
                "no policy: set `max_age`, `keep_last`, `max_total_size` or `gfs`",
            ));
        }
        if self.gfs.is_some() && gfs_empty {
            errors.push(KeyError::new(
                "gfs",
                "keeps nothing: set at least one of hourly, daily, weekly, monthly, yearly",
            ));
        }
        if let Some(f) = &self.date_format {
            if let Err(e) = DateFormat::parse(f) {
                errors.push(KeyError::new("date_format", e.to_string()));
            }
            if self.date_from == DateFrom::Mtime {
                errors.push(KeyError::new(
                    "date_format",
                    "has no effect with `date_from = \"mtime\"`",
                ));
            }
        }
        errors
    }

    /// Whether subdirectories are searched.
    pub fn walks_subdirectories(&self) -> bool {
        self.recursive || self.pattern.contains('/') || self.pattern.contains("**")
    }
}

fn check_globs(key: &str, globs: &[String], errors: &mut Vec<KeyError>) {
    if globs.is_empty() {
        errors.push(KeyError::new(key, "must list at least one glob pattern"));
    }
    for (i, g) in globs.iter().enumerate() {
        if let Err(e) = glob::Pattern::new(g) {
            errors.push(KeyError::new(
                format!("{key}[{i}]"),
                format!("invalid glob: {e}"),
            ));
        }
    }
}

/// Parses the value of a top-level `rotate` or `retain` key of `file` into `into`,
/// reporting every problem with its position and key. `text` is the file's text
/// after interpolation (the spans point into it).
pub fn parse_key(
    kind: &str,
    value: Spanned<DeValue<'_>>,
    file: &Path,
    text: &str,
    into: &mut MaintenanceConfig,
    errors: &mut Vec<ConfigError>,
) {
    let at = |span: Range<usize>| Some(interpolate::line_col(text, span.start));
    let span = value.span();
    let items: Vec<Spanned<DeValue<'_>>> = match value.into_inner() {
        DeValue::Array(items) => items.into_iter().collect(),
        _ => {
            errors.push(
                ConfigError::new(format!(
                    "`{kind}` must be an array of tables: write [[{kind}]] for each job"
                ))
                .in_file(file)
                .at(at(span))
                .at_key(kind),
            );
            return;
        }
    };
    let first_index = match kind {
        "rotate" => into.rotate.len(),
        _ => into.retain.len(),
    };
    for (i, item) in items.into_iter().enumerate() {
        let item_span = item.span();
        let label = format!("{kind}[{}]", first_index + i);
        let DeValue::Table(table) = item.get_ref() else {
            errors.push(
                ConfigError::new(format!("expected a table ([[{kind}]])"))
                    .in_file(file)
                    .at(at(item_span))
                    .in_component(label),
            );
            continue;
        };
        let keys = KeySpans::of(table);
        let name = table
            .get("name")
            .and_then(|v| v.get_ref().as_str().map(str::to_owned));
        let component = match &name {
            Some(n) => format!("{kind}.{n}"),
            None => label.clone(),
        };
        let locate = |key: Option<String>, span: Option<Range<usize>>, message: String| {
            let mut e = ConfigError::new(message)
                .in_file(file)
                .at(at(span.unwrap_or(item_span.clone())))
                .in_component(component.clone());
            if let Some(k) = key {
                e = e.at_key(k);
            }
            e
        };
        let report_checks = |problems: Vec<KeyError>, errors: &mut Vec<ConfigError>| {
            let failed = !problems.is_empty();
            for KeyError { key, message } in problems {
                let span = keys.value_span(&key);
                errors.push(locate(Some(key), span, message));
            }
            failed
        };
        let de = ValueDeserializer::from(item);
        let display_name = name.clone().unwrap_or(label.clone());
        if kind == "rotate" {
            match RotateConfig::deserialize(de) {
                Ok(c) => {
                    let dup = into.rotate.iter().any(|j| j.name == display_name);
                    if dup {
                        errors.push(duplicate(kind, &display_name, &keys, &locate));
                    }
                    if !report_checks(c.check(), errors) && !dup {
                        into.rotate.push(Job {
                            name: display_name,
                            config: c,
                            file: file.to_path_buf(),
                        });
                    }
                }
                Err(e) => errors.push(serde_located(&e, &keys, &locate)),
            }
        } else {
            match RetainConfig::deserialize(de) {
                Ok(c) => {
                    let dup = into.retain.iter().any(|j| j.name == display_name);
                    if dup {
                        errors.push(duplicate(kind, &display_name, &keys, &locate));
                    }
                    if !report_checks(c.check(), errors) && !dup {
                        into.retain.push(Job {
                            name: display_name,
                            config: c,
                            file: file.to_path_buf(),
                        });
                    }
                }
                Err(e) => errors.push(serde_located(&e, &keys, &locate)),
            }
        }
    }
}

fn duplicate(
    kind: &str,
    name: &str,
    keys: &KeySpans,
    locate: &impl Fn(Option<String>, Option<Range<usize>>, String) -> ConfigError,
) -> ConfigError {
    let span = keys.value_span("name");
    locate(
        Some("name".to_owned()),
        span,
        format!("another {kind} job is named {name:?}; names must be unique"),
    )
}

/// A serde error located at the key it is about.
fn serde_located(
    e: &toml::de::Error,
    keys: &KeySpans,
    locate: &impl Fn(Option<String>, Option<Range<usize>>, String) -> ConfigError,
) -> ConfigError {
    locate(keys.serde_key(e), e.span(), serde_message(e))
}

/// A tail source of a pipeline: the files the agent reads.
#[derive(Debug, Clone)]
pub struct TailSource {
    /// The source id (its checkpoint file's name).
    pub id: String,
    /// Its include globs.
    pub include: Vec<String>,
    /// Its exclude globs.
    pub exclude: Vec<String>,
}

/// What the maintenance commands were given.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The jobs.
    pub jobs: MaintenanceConfig,
    /// The agent's data directory, when a file names one or a pipeline is given
    /// (a pipeline without `data_dir` uses the agent's default).
    pub data_dir: Option<PathBuf>,
    /// The file sources of the pipeline, if one was given.
    pub sources: Vec<TailSource>,
    /// True when a pipeline (sources, transforms, sinks) was among the files.
    pub has_pipeline: bool,
}

const PIPELINE_KEYS: &[&str] = &["sources", "transforms", "sinks", "runtime"];
const MAINTENANCE_KEYS: &[&str] = &["data_dir", "rotate", "retain"];

/// Loads the files given to `rotate` / `retain` / `validate`: maintenance-only files
/// (`data_dir`, `[[rotate]]`, `[[retain]]`), or pipeline files with these tables in
/// them. When any file holds a pipeline, all are loaded as one pipeline (so the
/// agent's sources and data_dir are known).
pub fn load(paths: &[PathBuf]) -> Result<Loaded, ConfigErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => files.push((path.clone(), text)),
            Err(e) => {
                errors.push(ConfigError::new(format!("cannot read config file: {e}")).in_file(path))
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    load_texts(&files, |name| std::env::var(name).ok())
}

/// True when no file is a pipeline but some file has `[[rotate]]` or
/// `[[retain]]` tables: `logagent validate` then checks them as a maintenance
/// config instead of asking for sources and sinks. Takes the texts, read once
/// ([`crate::config::read_files`]), so a FIFO works.
pub fn is_maintenance_only(files: &[(PathBuf, String)]) -> bool {
    let mut maintenance = false;
    for (path, raw) in files {
        let format = Format::of(path);
        let text = interpolate::interpolate_format(raw, format, |v| std::env::var(v).ok()).0;
        let Ok(table) = parse_document(format, &text) else {
            return false;
        };
        for key in table.get_ref().keys() {
            match key.get_ref().as_ref() {
                k if PIPELINE_KEYS.contains(&k) => return false,
                "rotate" | "retain" => maintenance = true,
                _ => {}
            }
        }
    }
    maintenance
}

/// [`load`] over texts, with the given variable lookup (pure; for tests).
pub fn load_texts(
    files: &[(PathBuf, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    if files.is_empty() {
        errors.push(ConfigError::new("no config file given (use --config FILE)"));
        return Err(ConfigErrors(errors));
    }
    let has_pipeline = files.iter().any(|(path, raw)| {
        let (t, _) = interpolate::interpolate_format(raw, Format::of(path), &env);
        parse_document(Format::of(path), &t).is_ok_and(|t| {
            t.get_ref()
                .keys()
                .any(|k| PIPELINE_KEYS.contains(&k.get_ref().as_ref()))
        })
    });
    if has_pipeline {
        let pipeline = config::load_texts(files, env)?;
        let sources = pipeline
            .sources
            .iter()
            .filter_map(|s| match &s.config {
                SourceConfig::File(f) => Some(TailSource {
                    id: s.id.clone(),
                    include: f.include.clone(),
                    exclude: f.exclude.clone(),
                }),
                _ => None,
            })
            .collect();
        return Ok(Loaded {
            jobs: pipeline.maintenance,
            data_dir: Some(pipeline.data_dir),
            sources,
            has_pipeline: true,
        });
    }
    let mut loaded = Loaded::default();
    let mut data_dir: Option<(PathBuf, PathBuf)> = None;
    for (path, raw) in files {
        let format = Format::of(path);
        let text = match interpolate::interpolate_format(raw, format, &env) {
            (t, missing) if missing.is_empty() => t,
            (_, missing) => {
                for m in missing {
                    errors.push(
                        ConfigError::new(if m.name.is_empty() {
                            "malformed variable reference (expected ${NAME} or ${NAME:-default})"
                                .to_owned()
                        } else {
                            format!(
                                "environment variable {} is not set and has no default",
                                m.name
                            )
                        })
                        .in_file(path)
                        .at(Some((m.line, m.column))),
                    );
                }
                continue;
            }
        };
        let table = match parse_document(format, &text) {
            Ok(t) => t.into_inner(),
            Err(e) => {
                errors.push(
                    ConfigError::new(e.message)
                        .in_file(path)
                        .at(e.offset.map(|o| interpolate::line_col(&text, o))),
                );
                continue;
            }
        };
        for (key, value) in table {
            let pos = Some(interpolate::line_col(&text, key.span().start));
            match key.get_ref().as_ref() {
                "data_dir" => match value.get_ref().as_str() {
                    Some(d) => match &data_dir {
                        Some((other, _)) if other != Path::new(d) => errors.push(
                            ConfigError::new("data_dir is set differently in another file")
                                .in_file(path)
                                .at(pos)
                                .at_key("data_dir"),
                        ),
                        _ => data_dir = Some((PathBuf::from(d), path.clone())),
                    },
                    None => errors.push(
                        ConfigError::new("expected a string (a directory path)")
                            .in_file(path)
                            .at(pos)
                            .at_key("data_dir"),
                    ),
                },
                kind @ ("rotate" | "retain") => {
                    parse_key(kind, value, path, &text, &mut loaded.jobs, &mut errors)
                }
                other => errors.push(
                    ConfigError::new(format!(
                        "unknown top-level key `{other}` (expected one of {}, or a pipeline's {})",
                        MAINTENANCE_KEYS.join(", "),
                        PIPELINE_KEYS.join(", ")
                    ))
                    .in_file(path)
                    .at(pos),
                ),
            }
        }
    }
    if errors.is_empty() && loaded.jobs.rotate.is_empty() && loaded.jobs.retain.is_empty() {
        errors.push(ConfigError::new(
            "no maintenance jobs: add [[rotate]] or [[retain]] tables",
        ));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    loaded.data_dir = data_dir.map(|(d, _)| d);
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, ConfigErrors> {
        load_texts(&[(PathBuf::from("m.toml"), text.to_owned())], |v| {
            (v == "LOGS").then(|| "/var/log/app".to_owned())
        })
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn a_maintenance_file_loads_with_defaults_and_interpolation() {
        let l = load(
            r#"
data_dir = "/var/lib/logagent"

[[rotate]]
name = "app"
paths = ["${LOGS}/*.log"]
frequency = "daily"
compress = true

[[retain]]
directory = "${LOGS}"
pattern = "*.log.*"
max_age = "30d"
gfs = { daily = 7, weekly = 4, monthly = 12, yearly = 5 }
"#,
        )
        .unwrap();
        assert_eq!(l.data_dir, Some(PathBuf::from("/var/lib/logagent")));
        assert!(!l.has_pipeline);
        let r = &l.jobs.rotate[0];
        assert_eq!(r.name, "app");
        assert_eq!(r.config.paths, ["/var/log/app/*.log"]);
        assert_eq!(r.config.keep, 7);
        assert_eq!(r.config.method, Method::Rename);
        assert!(r.config.rotates_empty());
        let k = &l.jobs.retain[0];
        assert_eq!(k.name, "retain[0]");
        assert_eq!(k.config.gfs.unwrap().yearly, 5);
        assert_eq!(
            k.config.max_age.unwrap().0,
            std::time::Duration::from_secs(30 * 86400)
        );
    }

    #[test]
    fn errors_name_file_position_job_and_key() {
        let errs = errors(
            r#"[[rotate]]
name = "web"
paths = ["/var/log/*.log"]
frequency = "fortnightly"

[[rotate]]
paths = ["/x/*.log"]
size = "10MiB"
naming = "date"
date_format = "-%d%m%Y"
compress_level = 12
mode = "rw-r--r--"

[[retain]]
directory = "/x"
pattern = "../*.log"
"#,
        );
        assert!(
            errs.iter().any(|e| e.starts_with(
                "m.toml:4:13: rotate.web: key `frequency`: unknown variant `fortnightly`"
            )),
            "{errs:#?}"
        );
        for needle in [
            "m.toml:10:15: rotate[1]: key `date_format`: date format \"-%d%m%Y\" does not sort by time",
            "m.toml:11:18: rotate[1]: key `compress_level`: must be between 1",
            "m.toml:12:8: rotate[1]: key `mode`: invalid mode",
            "m.toml:16:11: retain[0]: key `pattern`: must be relative",
            "retain[0]: key `max_age`: no policy",
        ] {
            assert!(
                errs.iter().any(|e| e.contains(needle)),
                "{needle}\n{errs:#?}"
            );
        }
    }

    #[test]
    fn timezones_are_keywords_offsets_or_iana_names() {
        let l = load(
            "[[retain]]\ndirectory = \"/x\"\npattern = \"*\"\nmax_age = \"1d\"\ntimezone = \"Asia/Tokyo\"\n\n[[retain]]\ndirectory = \"/y\"\npattern = \"*\"\nmax_age = \"1d\"\n",
        )
        .unwrap();
        assert_eq!(l.jobs.retain[0].config.timezone.to_string(), "Asia/Tokyo");
        assert_eq!(l.jobs.retain[1].config.timezone, crate::time::Zone::Local);
        let errs = errors(
            "[[rotate]]\nname = \"web\"\npaths = [\"/a\"]\nkeep = 3\nfrequency = \"daily\"\ntimezone = \"Mars/Olympus\"\n",
        );
        assert!(
            errs[0].starts_with(
                "m.toml:6:12: rotate.web: key `timezone`: unknown time zone \"Mars/Olympus\" (expected UTC, local, an offset"
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn a_job_needs_a_trigger_and_unknown_keys_are_refused() {
        let errs = errors("[[rotate]]\npaths = [\"/a\"]\nkeep = 3\nrotate_count = 4\n");
        assert!(
            errs[0].contains("key `rotate_count`: unknown field"),
            "{errs:?}"
        );
        let errs = errors("[[rotate]]\npaths = [\"/a\"]\n");
        assert!(errs[0].contains("no trigger"), "{errs:?}");
        let errs = errors("[rotate]\npaths = [\"/a\"]\n");
        assert!(errs[0].contains("write [[rotate]]"), "{errs:?}");
        let errs = errors("rotat = 1\n");
        assert!(
            errs[0].contains("unknown top-level key `rotat`"),
            "{errs:?}"
        );
    }

    #[test]
    fn jobs_inside_a_pipeline_file_bring_its_sources_and_data_dir() {
        let l = load(
            r#"
data_dir = "/d"
[sources.app]
type = "file"
include = ["/var/log/app/*.log"]
exclude = ["/var/log/app/debug.log"]
[sinks.out]
type = "stdout"
inputs = ["app"]
[[rotate]]
paths = ["/var/log/app/*.log"]
size = "1MiB"
"#,
        )
        .unwrap();
        assert!(l.has_pipeline);
        assert_eq!(l.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(l.sources[0].id, "app");
        assert_eq!(l.sources[0].exclude, ["/var/log/app/debug.log"]);
        assert_eq!(l.jobs.rotate.len(), 1);
    }

    #[test]
    fn the_pipeline_loader_reports_maintenance_errors_too() {
        let text = r#"
[sources.app]
type = "stdin"
[sinks.out]
type = "stdout"
inputs = ["app"]
[[retain]]
directory = "/x"
pattern = "*.gz"
keep_last = "many"
"#;
        let errs =
            crate::config::load_texts(&[(PathBuf::from("p.toml"), text.to_owned())], |_| None)
                .unwrap_err()
                .to_string();
        assert!(
            errs.contains("p.toml:10:13: retain[0]: key `keep_last`"),
            "{errs}"
        );
    }
}
