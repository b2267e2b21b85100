//! The agent's own observability: its logs (tracing, to stderr), the HTTP API
//! that serves `/health`, `/ready`, `/metrics` and `/tap` ([`api`]), component
//! health ([`health`]) and `logagent top` ([`top`]).
//!
//! The instruments components count with (and their Prometheus encoding) live
//! in `logagent-core`, since components depend on it and not on the
//! application; they are re-exported here under their old paths.

pub mod api;
pub mod health;
pub mod top;

pub use logagent_core::telemetry::{families, labeled, metrics, names, prometheus, ratelimit, tap};

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Format of the agent's own log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for shipping the agent's logs with itself.
    Json,
}

/// The `--log-level` (or `LOGAGENT_LOG`) value is not a level or filter directive.
#[derive(Debug, thiserror::Error)]
#[error("invalid log level {level:?}: {error}")]
pub struct LogLevelError {
    /// What was given.
    pub level: String,
    /// The filter parser's reason.
    pub error: tracing_subscriber::filter::ParseError,
}

/// Installs the global subscriber writing to stderr. `level` is a level name or a
/// full filter directive (`info,logagent::sources=debug`); `LOGAGENT_LOG`
/// overrides it.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), LogLevelError> {
    let filter = match std::env::var("LOGAGENT_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(level),
    }
    .map_err(|error| LogLevelError {
        level: level.to_owned(),
        error,
    })?;
    use std::io::IsTerminal as _;
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}
