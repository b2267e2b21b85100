//! The options of `type = "file"`, their defaults and their checks.

use std::time::Duration;

use serde::Deserialize;

use super::super::{DEFAULT_MAX_LINE_BYTES, OversizeLines};
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Where to start in files that exist when the agent starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// Read existing content (default: nothing already written is skipped).
    #[default]
    Beginning,
    /// Only lines appended after start-up. Files created later are always read
    /// from their beginning. A file with a checkpoint resumes at it either way.
    End,
}

/// How the bytes of a file are turned into events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One event per line (default).
    #[default]
    Lines,
    /// Kubernetes CRI container logs (`TIME STREAM P|F MESSAGE`): partial lines
    /// reassembled per stream, `stream` and `timestamp` kept as fields.
    Cri,
    /// Docker json-file logs (`{"log":…,"stream":…,"time":…}`): 16 KiB splits
    /// reassembled, `stream` and `timestamp` kept as fields.
    Docker,
}

/// How continuation lines are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultilineMode {
    /// A line matching `pattern` starts an event; other lines continue it
    /// (e.g. `^\d{4}-\d{2}-\d{2}` for logs that begin with a date).
    StartPattern,
    /// A line matching `pattern` continues the previous event; other lines
    /// start one (e.g. `^\s+at |^Caused by:` for Java stack traces).
    ContinuationPattern,
    /// A line beginning with a space or tab continues the previous event.
    Indented,
}

/// `multiline = { … }`: joins continuation lines into one event (`\n` between
/// them). The event's offset for checkpoints is the end of its last line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// `start_pattern`, `continuation_pattern` or `indented`.
    pub mode: MultilineMode,
    /// Regex for the two pattern modes (not used with `indented`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Most lines joined into one event; the next line starts a new one (default 500).
    #[serde(default = "default_ml_lines")]
    pub max_lines: usize,
    /// Most bytes in one joined event; the next line starts a new one (default 1MiB).
    #[serde(default = "default_ml_bytes")]
    pub max_bytes: ByteSize,
    /// An event waiting for continuation lines is sent after this long without
    /// a new line (default 1s).
    #[serde(default = "default_ml_timeout")]
    pub timeout: HumanDuration,
}

fn default_ml_lines() -> usize {
    500
}
fn default_ml_bytes() -> ByteSize {
    ByteSize(1 << 20)
}
fn default_ml_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// Options of the file source. Every size and duration below is also listed in
/// the README's file-source table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to read (`/var/log/app/*.log`, `**` allowed).
    pub include: Vec<String>,
    /// Glob patterns of files to leave out, matched against the full path.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `beginning` (default) or `end`, for files present at start-up that have
    /// no checkpoint.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// `lines` (default), `cri` or `docker`.
    #[serde(default)]
    pub format: Format,
    /// Joining continuation lines (stack traces); off by default.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Add `kubernetes.{pod_namespace,pod_name,pod_uid,container_name,container_id}`
    /// fields taken from paths in the kubelet's layout (`/var/log/pods/NS_POD_UID/CONTAINER/N.log`,
    /// `/var/log/containers/POD_NS_CONTAINER-ID.log`); other paths get none (default true).
    #[serde(default = "default_true")]
    pub kubernetes_metadata: bool,
    /// Longest line (bytes) kept whole (default 1MiB).
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
    /// `truncate` (default) or `drop` lines over `max_line_bytes`; either way
    /// counted and logged at a limited rate.
    #[serde(default)]
    pub oversize_lines: OversizeLines,
    /// A last line without a newline is sent after the file has not grown for
    /// this long (default 5s). Rotated and deleted files send it at their end.
    #[serde(default = "default_partial")]
    pub partial_line_timeout: HumanDuration,
    /// How long to wait at the end of every file before looking again; file
    /// events from inotify cut the wait short (default 250ms).
    #[serde(default = "default_poll")]
    pub poll_interval: HumanDuration,
    /// Full rescan of the include globs: the safety net behind inotify, which
    /// finds new files at once (default 10s; 1s while a watch cannot be set up
    /// or some files are closed for `max_open_files`).
    #[serde(default = "default_glob")]
    pub glob_interval: HumanDuration,
    /// Group commit of acknowledged offsets to the checkpoint file: the
    /// longest an acknowledgement waits before it is written (default 100ms;
    /// also written at shutdown). With `checkpoint_max_acks` it bounds what a
    /// crash re-sends: what was acknowledged since the last write.
    #[serde(default = "default_checkpoint")]
    pub checkpoint_interval: HumanDuration,
    /// Write the checkpoint as soon as this many acknowledgements (batches
    /// written by every sink) are waiting, before `checkpoint_interval` is up
    /// (default 32). Each write is an fsync of a small file.
    #[serde(default = "default_checkpoint_acks")]
    pub checkpoint_max_acks: usize,
    /// Most files open at once (default 1024). Beyond it the least recently
    /// active files are closed and later reopened where they were; rotated or
    /// deleted files being finished are never closed early.
    #[serde(default = "default_max_open")]
    pub max_open_files: usize,
    /// Files not modified for this long are not opened (default: no limit).
    /// Their checkpoints are kept; if they change again they are read.
    #[serde(default)]
    pub ignore_older_than: Option<HumanDuration>,
    /// Bytes of a file's head hashed to recognise it across renames, copies and
    /// inode reuse (default 256).
    #[serde(default = "default_fingerprint")]
    pub fingerprint_bytes: ByteSize,
    /// Bytes at the start of every file left out of the fingerprint, for files
    /// that all begin with the same header (default 0).
    #[serde(default = "default_zero")]
    pub ignored_header_bytes: ByteSize,
    /// How long the checkpoint of a file no glob matches any more is kept
    /// (default 24h).
    #[serde(default = "default_retention")]
    pub checkpoint_retention: HumanDuration,
    /// Bytes read per read call (default 256KiB).
    #[serde(default = "default_read_buffer")]
    pub read_buffer: ByteSize,
    /// Bytes read from one file before turning to the next, so one busy file
    /// cannot starve the others (default 4MiB).
    #[serde(default = "default_per_turn")]
    pub max_read_per_turn: ByteSize,
}

fn default_zero() -> ByteSize {
    ByteSize(0)
}
fn default_true() -> bool {
    true
}
fn default_max_line() -> ByteSize {
    ByteSize(DEFAULT_MAX_LINE_BYTES)
}
fn default_partial() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_poll() -> HumanDuration {
    HumanDuration(Duration::from_millis(250))
}
fn default_glob() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_checkpoint() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}
fn default_checkpoint_acks() -> usize {
    32
}
fn default_max_open() -> usize {
    1024
}
fn default_fingerprint() -> ByteSize {
    ByteSize(256)
}
fn default_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(24 * 3600))
}
fn default_read_buffer() -> ByteSize {
    ByteSize(256 << 10)
}
fn default_per_turn() -> ByteSize {
    ByteSize(4 << 20)
}

impl FileSourceConfig {
    /// A config with every default, for tests and embedding.
    pub fn with_include(include: Vec<String>) -> FileSourceConfig {
        FileSourceConfig {
            include,
            exclude: Vec::new(),
            read_from: ReadFrom::default(),
            format: Format::default(),
            multiline: None,
            kubernetes_metadata: true,
            max_line_bytes: default_max_line(),
            oversize_lines: OversizeLines::default(),
            partial_line_timeout: default_partial(),
            poll_interval: default_poll(),
            glob_interval: default_glob(),
            checkpoint_interval: default_checkpoint(),
            checkpoint_max_acks: default_checkpoint_acks(),
            max_open_files: default_max_open(),
            ignore_older_than: None,
            fingerprint_bytes: default_fingerprint(),
            ignored_header_bytes: ByteSize(0),
            checkpoint_retention: default_retention(),
            read_buffer: default_read_buffer(),
            max_read_per_turn: default_per_turn(),
        }
    }

    /// Checks globs, patterns and limits; every problem names its key.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.include.is_empty() {
            errors.push(KeyError::new(
                "include",
                "must list at least one glob pattern",
            ));
        }
        for (key, list) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, pattern) in list.iter().enumerate() {
                if let Err(e) = glob::Pattern::new(pattern) {
                    errors.push(KeyError::new(
                        format!("{key}[{i}]"),
                        format!("invalid glob {pattern:?}: {e}"),
                    ));
                }
            }
        }
        if self.max_line_bytes.0 == 0 {
            errors.push(KeyError::new("max_line_bytes", "must be greater than zero"));
        }
        if self.read_buffer.0 < 4096 || self.read_buffer.0 > (64 << 20) {
            errors.push(KeyError::new(
                "read_buffer",
                "must be between 4KiB and 64MiB",
            ));
        }
        if self.max_read_per_turn.0 == 0 {
            errors.push(KeyError::new(
                "max_read_per_turn",
                "must be greater than zero",
            ));
        }
        if self.checkpoint_max_acks == 0 {
            errors.push(KeyError::new(
                "checkpoint_max_acks",
                "must be greater than zero",
            ));
        }
        for (key, d) in [
            ("poll_interval", &self.poll_interval),
            ("glob_interval", &self.glob_interval),
            ("checkpoint_interval", &self.checkpoint_interval),
            ("partial_line_timeout", &self.partial_line_timeout),
            ("checkpoint_retention", &self.checkpoint_retention),
        ] {
            if d.0.is_zero() {
                errors.push(KeyError::new(key, "must be greater than zero"));
            }
        }
        if let Some(d) = &self.ignore_older_than
            && d.0.is_zero()
        {
            errors.push(KeyError::new(
                "ignore_older_than",
                "must be greater than zero (leave it out to read files of any age)",
            ));
        }
        if self.max_open_files == 0 {
            errors.push(KeyError::new("max_open_files", "must be at least 1"));
        }
        if self.fingerprint_bytes.0 < 16 || self.fingerprint_bytes.0 > (64 << 10) {
            errors.push(KeyError::new(
                "fingerprint_bytes",
                "must be between 16B and 64KiB",
            ));
        }
        if self.ignored_header_bytes.0 > (1 << 20) {
            errors.push(KeyError::new(
                "ignored_header_bytes",
                "must be at most 1MiB",
            ));
        }
        if let Some(ml) = &self.multiline {
            errors.extend(ml.check());
        }
        errors
    }
}

impl MultilineConfig {
    /// Checks the pattern against the mode, and the limits.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        match (self.mode, &self.pattern) {
            (MultilineMode::Indented, Some(_)) => errors.push(KeyError::new(
                "multiline.pattern",
                "is not used with mode \"indented\" (remove it, or use start_pattern / continuation_pattern)",
            )),
            (MultilineMode::Indented, None) => {}
            (_, None) => errors.push(KeyError::new(
                "multiline.pattern",
                "is required with modes start_pattern and continuation_pattern",
            )),
            (_, Some(p)) => {
                if let Err(e) = regex::bytes::Regex::new(p) {
                    errors.push(KeyError::new(
                        "multiline.pattern",
                        format!("invalid regex {p:?}: {e}"),
                    ));
                }
            }
        }
        if self.max_lines < 2 {
            errors.push(KeyError::new("multiline.max_lines", "must be at least 2"));
        }
        if self.max_bytes.0 == 0 {
            errors.push(KeyError::new(
                "multiline.max_bytes",
                "must be greater than zero",
            ));
        }
        if self.timeout.0.is_zero() {
            errors.push(KeyError::new(
                "multiline.timeout",
                "must be greater than zero",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileSourceConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = parse(r#"include = ["/x/*.log"]"#).unwrap();
        assert!(c.check().is_empty());
        assert_eq!(c.fingerprint_bytes, ByteSize(256));
        assert_eq!(c.max_open_files, 1024);
        assert_eq!(c.glob_interval.0, Duration::from_secs(10));
        assert_eq!(c.format, Format::Lines);
    }

    #[test]
    fn every_bad_key_is_reported() {
        let c = parse(
            r#"
include = []
format = "cri"
max_open_files = 0
fingerprint_bytes = 4
checkpoint_interval = "0s"
multiline = { mode = "start_pattern", pattern = "([", max_lines = 1, timeout = "0s" }
"#,
        )
        .unwrap();
        let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        for k in [
            "include",
            "max_open_files",
            "fingerprint_bytes",
            "checkpoint_interval",
            "multiline.pattern",
            "multiline.max_lines",
            "multiline.timeout",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} not in {keys:?}");
        }
        let c = parse(
            r#"include = ["a"]
multiline = { mode = "indented", pattern = "x" }"#,
        )
        .unwrap();
        assert_eq!(c.check()[0].key, "multiline.pattern");
        let c = parse(
            r#"include = ["a"]
multiline = { mode = "continuation_pattern" }"#,
        )
        .unwrap();
        assert!(c.check()[0].message.contains("required"));
        assert!(
            parse(
                r#"include = ["a"]
format = "json""#
            )
            .is_err()
        );
    }
}
