//! logagent: a log-ingestion agent built around a zero-copy event model.
//!
//! # Architecture
//!
//! Data flows one way, `source → transform → sink`, as [`event::Batch`]es of
//! [`event::Event`]s moving through bounded channels:
//!
//! ```text
//!  sources (file, stdin, syslog,  transforms (parsers, enrich, redact,          sinks (file, stdout, console, es,
//!  http)                                                                          loki, blackhole)
//!  read into a BytesMut,   ──▶     route, filter, ...): record ranges      ──▶  serialize each line with
//!  frame lines (codecs)            and edits, never re-encode                   its edits applied (event/encode)
//! ```
//!
//! This package is the application; the rest of the agent is a workspace of
//! library crates under `crates/` (see `crates/README.md`), each depending
//! only on the ones below it, which the compiler enforces:
//!
//! * `logagent-core` — [`event`] (an event is a `Bytes` slice of the read buffer
//!   plus ranges of the fields a parser found and the *edits* transforms made;
//!   the JSON scanner [`event::json`]), the component traits
//!   (`logagent_core::component`), how batches move ([`pipeline::channel`],
//!   [`pipeline::shutdown`]), the metric instruments ([`telemetry::metrics`]),
//!   [`time`] (one clock, one zone), units and the shared backoff.
//! * `logagent-codecs` ([`codecs`]) — line framing over a reusable buffer, the
//!   key/value scanner, the presets' readers, and the OTLP logs messages
//!   ([`codecs::otlp`]: protobuf and OTLP/JSON).
//! * `logagent-sources` ([`sources`], [`checkpoint`]), `logagent-transforms`
//!   ([`transforms`]), `logagent-sinks` ([`sinks`], with [`sinks::net`], the
//!   layer under every network sink) — the components; they never import one
//!   another.
//! * `logagent-retention` — what to keep and delete, shared by the file sink
//!   and `logagent retain` (re-exported as [`maintenance::policy`] and friends).
//!
//! The application's own modules:
//!
//! * [`config`] — pipelines in TOML, YAML or JSON (one tree, `config::format`): `${VAR}` interpolation, the component enums
//!   (one line per type; everything else is delegated to the component's
//!   config), and pure validation that reports every error with file,
//!   component, key and position.
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
//! * [`maintenance`] — `logagent rotate` and `logagent retain`: logrotate and
//!   `find -delete` that never delete or truncate what the agent has not shipped.
//! * [`convert`] — `logagent convert`: Fluentd, Fluent Bit and Vector configs
//!   translated into a pipeline, every untranslated directive listed by line.
//! * [`telemetry`] — the agent's own logs, component health, the HTTP API
//!   (`/health`, `/ready`, `/metrics` in Prometheus text, `/tap`), `logagent top`.
//! * [`catalog`] — every component type and its keys, generated at build
//!   time from the config structs (`logagent list`, `logagent generate`,
//!   `docs/reference/`).
//! * [`cli`] / [`app`] — argument parsing, exit codes and the commands.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod convert;
pub mod maintenance;
pub mod pipeline;
pub mod telemetry;

// The workspace's library crates, under the paths the application, the
// integration tests and the benches name them by.
pub use logagent_codecs as codecs;
pub use logagent_core::{event, time};
pub use logagent_sinks as sinks;
pub use logagent_sources as sources;
pub use logagent_sources::checkpoint;
pub use logagent_transforms as transforms;
