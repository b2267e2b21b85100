//! logagent: a log-ingestion agent built around a zero-copy event model.
//!
//! # Architecture
//!
//! Data flows one way, `source → transform → sink`, as [`event::Batch`]es of
//! [`event::Event`]s moving through bounded channels:
//!
//! ```text
//!  sources/ (file, stdin)          transforms/ (parsers, enrich, redact,         sinks/ (file, stdout, es, loki)
//!  read into a BytesMut,   ──▶     route, filter, ...): record ranges      ──▶  serialize each line with
//!  frame lines (codecs/)           and edits, never re-encode                   its edits applied (event/encode)
//! ```
//!
//! * [`event`] — an event is a `Bytes` slice of the read buffer plus ranges of the
//!   fields a parser found and the *edits* transforms made; an event nobody changed
//!   is written out byte for byte. The JSON scanner ([`event::json`]) lives here:
//!   fields are spans of JSON text.
//! * [`codecs`] — line framing over a reusable buffer, the key/value (logfmt)
//!   scanner and the presets' readers; they depend on [`event`] only.
//! * [`config`] — TOML pipelines: `${VAR}` interpolation, typed component configs and
//!   pure validation that reports every error with file, component, key and position.
//! * [`pipeline`] — builds the graph, runs each component on its own thread with
//!   bounded channels (a full channel blocks its producer, back to the source),
//!   carries acknowledgements back to sources, and drains on shutdown. A reload
//!   (SIGHUP, `--watch`) diffs the new config against the running graph and
//!   rebuilds only what changed, re-pointing outputs without losing a batch
//!   ([`pipeline::topology`]); a sink may read through a write-ahead disk buffer
//!   ([`pipeline::disk_buffer`]); `logagent test` runs `[[tests]]`
//!   ([`pipeline::testing`]); outputs carry taps for `logagent tap`. A panic on
//!   one batch is caught there, the poison events dead-lettered or dropped and
//!   counted ([`pipeline::isolate`]); `data_dir` is proven writable at start
//!   ([`pipeline::data_dir`]).
//! * [`sources`], [`transforms`], [`sinks`] — the components; they never import one
//!   another, only `pipeline` and `config` know all of them.
//! * [`sinks::net`] — what every network sink shares: endpoints with failover, one
//!   TLS and one auth config, one `Backoff` (also used by the file sink and the disk
//!   buffer), compression off the async runtime, sink-declared health checks.
//! * [`sinks::elasticsearch`] — `_bulk` bodies from the events' bytes, idempotent
//!   ids, per-item retries and a dead-letter output; async I/O on its own small
//!   tokio runtime, bounded in-flight requests.
//! * [`maintenance`] — `logagent rotate` and `logagent retain`: logrotate and
//!   `find -delete` that never delete or truncate what the agent has not shipped.
//! * [`checkpoint`] — durable, atomically written records of acknowledged offsets;
//!   [`sources::file`] keeps them (identity by device+inode and fingerprint,
//!   rotation, truncation, copies, gzip, container formats, multiline), driven by
//!   a synchronous [`sources::file::tailer::Tailer`] that the tests step directly.
//! * [`telemetry`] — the agent's own logs, per-component counters, the metric
//!   families transforms define (redaction per rule, `log_to_metric`), the HTTP
//!   API (`/health`, `/ready`, `/metrics` in Prometheus text, `/tap`), `logagent top`.
//! * [`time`] — the one injectable clock and the one time zone type (UTC, local,
//!   offsets, IANA names) that transforms, sinks and maintenance share.
//! * [`cli`] / [`app`] — argument parsing, exit codes and the commands.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod checkpoint;
pub mod cli;
pub mod codecs;
pub mod config;
pub mod event;
pub mod maintenance;
pub mod pipeline;
pub mod sinks;
pub mod sources;
pub mod telemetry;
pub mod time;
pub mod transforms;
