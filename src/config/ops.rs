//! The operational tables of a pipeline file: `[api]`, a sink's `buffer`, and
//! `[[tests]]` (unit tests of the pipeline, run by `logagent test`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ByteSize, KeyError};

/// Default address of the HTTP API (`/health`, `/ready`, `/metrics`, `/tap`).
pub const DEFAULT_API_ADDRESS: &str = "127.0.0.1:8686";

/// The `[api]` table: the agent's HTTP API. Off unless the table is present
/// (then `enabled` defaults to true).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Serve the API (default true when `[api]` is present).
    pub enabled: bool,
    /// `host:port` to listen on (default 127.0.0.1:8686; use 0.0.0.0:8686 in a
    /// container so the kubelet's probes reach it).
    pub address: String,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            enabled: true,
            address: DEFAULT_API_ADDRESS.to_owned(),
        }
    }
}

impl ApiConfig {
    /// Checks the address.
    pub fn check(&self) -> Vec<KeyError> {
        match self.address.parse::<std::net::SocketAddr>() {
            Ok(_) => Vec::new(),
            Err(e) => vec![KeyError::new(
                "address",
                format!(
                    "invalid address {:?}: {e} (expected host:port, e.g. \"127.0.0.1:8686\")",
                    self.address
                ),
            )],
        }
    }
}

/// What a sink does when its buffer is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room, holding the pipeline (and the sources) back (default).
    #[default]
    Block,
    /// Discard the incoming batch, counted as `buffer_full`, and go on.
    DropNewest,
}

/// Where a sink's input waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BufferConfig {
    /// The bounded in-memory channel every component has (`[runtime]
    /// channel_capacity` batches); a full channel blocks.
    #[default]
    Memory,
    /// A write-ahead log under `DATA_DIR/buffers/SINK_ID/`.
    Disk(DiskBufferConfig),
}

/// Options of a disk buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskBufferConfig {
    /// Most bytes on disk (records not yet acknowledged by the sink).
    pub max_size: ByteSize,
    /// `block` or `drop_newest`.
    pub when_full: WhenFull,
}

/// Default `max_size` of a disk buffer: 256 MiB.
pub const DEFAULT_DISK_BUFFER: u64 = 256 << 20;
/// Smallest `max_size` accepted: 1 MiB.
pub const MIN_DISK_BUFFER: u64 = 1 << 20;

/// The `buffer` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    /// `memory` (default) or `disk`.
    #[serde(rename = "type", default = "memory")]
    pub kind: String,
    /// Disk buffers: most bytes on disk (default 256MiB, at least 1MiB).
    pub max_size: Option<ByteSize>,
    /// Disk buffers: `block` (default) or `drop_newest`.
    pub when_full: Option<WhenFull>,
}

fn memory() -> String {
    "memory".to_owned()
}

impl RawBuffer {
    /// The buffer it describes, or every problem with it.
    pub fn resolve(self) -> Result<BufferConfig, Vec<KeyError>> {
        match self.kind.as_str() {
            "memory" => {
                let mut errors = Vec::new();
                if self.max_size.is_some() {
                    errors.push(KeyError::new(
                        "buffer.max_size",
                        "applies to type = \"disk\" only (a memory buffer is [runtime] channel_capacity batches)",
                    ));
                }
                if self.when_full.is_some_and(|w| w != WhenFull::Block) {
                    errors.push(KeyError::new(
                        "buffer.when_full",
                        "a memory buffer always blocks; use type = \"disk\" for drop_newest",
                    ));
                }
                if errors.is_empty() {
                    Ok(BufferConfig::Memory)
                } else {
                    Err(errors)
                }
            }
            "disk" => {
                let max_size = self.max_size.unwrap_or(ByteSize(DEFAULT_DISK_BUFFER));
                if max_size.0 < MIN_DISK_BUFFER {
                    return Err(vec![KeyError::new(
                        "buffer.max_size",
                        "must be at least 1MiB",
                    )]);
                }
                Ok(BufferConfig::Disk(DiskBufferConfig {
                    max_size,
                    when_full: self.when_full.unwrap_or_default(),
                }))
            }
            other => Err(vec![KeyError::new(
                "buffer.type",
                format!("unknown buffer type {other:?} (expected \"memory\" or \"disk\")"),
            )]),
        }
    }
}

/// One `[[tests]]` case: lines into a component, expectations at outputs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the test checks, printed with its result.
    pub name: String,
    /// The component the lines enter: a transform (its input), or a source (as
    /// if the source had read them).
    pub insert_at: String,
    /// The input lines, one event each.
    pub lines: Vec<String>,
    /// The file the lines came from, as a file source would tell (what
    /// `path_pattern` and `file_field` read); none by default.
    #[serde(default)]
    pub path: Option<std::path::PathBuf>,
    /// What must come out where.
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

/// What must come out of one output in a test.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The output: a component id, or `ID.NAME` for a named output.
    pub at: String,
    /// Exactly this many events come out (default: at least one, unless
    /// `dropped`).
    pub count: Option<usize>,
    /// Nothing comes out here (the events were dropped or went elsewhere).
    #[serde(default)]
    pub dropped: bool,
    /// Fields every event out must have, by path (`user.name`), with these
    /// values (TOML values compared as JSON).
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Fields no event out may have.
    #[serde(default)]
    pub absent: Vec<String>,
}

impl TestCase {
    /// Checks the case on its own; names are checked against the graph later.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.lines.is_empty() {
            errors.push(KeyError::new("lines", "must list at least one input line"));
        }
        if self.expect.is_empty() {
            errors.push(KeyError::new(
                "expect",
                "must have at least one [[tests.expect]] (an output and what comes out)",
            ));
        }
        for (i, e) in self.expect.iter().enumerate() {
            if e.dropped && (e.count.is_some_and(|c| c > 0) || !e.fields.is_empty()) {
                errors.push(KeyError::new(
                    format!("expect[{i}].dropped"),
                    "dropped = true cannot be combined with count > 0 or fields",
                ));
            }
        }
        errors
    }
}
