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

/// The level names a log filter accepts (`warning` is taken for `warn`).
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// The `--log-level` (or `LOGAGENT_LOG`) value is not a level or filter.
#[derive(Debug, thiserror::Error)]
pub enum LogLevelError {
    /// A bare word that is no level: taken as a target name it would silently
    /// turn every other log off, so it is refused.
    #[error(
        "invalid log level {directive:?} in {given:?}: expected one of trace, debug, info, warn (or warning), error, off, or TARGET=LEVEL (e.g. info,logagent_sources=debug)"
    )]
    Unknown {
        /// The whole value.
        given: String,
        /// The part that is wrong.
        directive: String,
    },
    /// The filter syntax is wrong.
    #[error("invalid log filter {given:?}: {error}")]
    Filter {
        /// The whole value.
        given: String,
        /// The filter parser's reason.
        error: tracing_subscriber::filter::ParseError,
    },
}

/// Checks a log level or filter (`info`, `warning`, `info,logagent_sources=debug`)
/// and returns it with level aliases spelled as the filter wants them: a bare
/// word must be a level, a `TARGET=LEVEL` directive must name a level.
pub fn parse_log_level(given: &str) -> Result<String, LogLevelError> {
    let unknown = |directive: &str| LogLevelError::Unknown {
        given: given.to_owned(),
        directive: directive.to_owned(),
    };
    let level = |word: &str| -> Option<&'static str> {
        let word = word.trim().to_ascii_lowercase();
        let word = if word == "warning" {
            "warn".to_owned()
        } else {
            word
        };
        LOG_LEVELS.iter().copied().find(|l| *l == word)
    };
    let mut out = Vec::new();
    for directive in given.split(',').map(str::trim) {
        if directive.is_empty() {
            return Err(unknown(directive));
        }
        match directive.rsplit_once('=') {
            Some((target, l)) => {
                let l = level(l).ok_or_else(|| unknown(directive))?;
                out.push(format!("{target}={l}"));
            }
            None => out.push(
                level(directive)
                    .ok_or_else(|| unknown(directive))?
                    .to_owned(),
            ),
        }
    }
    let filter = out.join(",");
    EnvFilter::try_new(&filter).map_err(|error| LogLevelError::Filter {
        given: given.to_owned(),
        error,
    })?;
    Ok(filter)
}

/// Installs the global subscriber writing to stderr. `level` is a level name or a
/// full filter (`info,logagent_sources=debug`); `LOGAGENT_LOG`, a filter of the
/// same form, overrides it. Both are checked by [`parse_log_level`].
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), LogLevelError> {
    let filter = match std::env::var("LOGAGENT_LOG") {
        Ok(env) if !env.is_empty() => parse_log_level(&env)?,
        _ => parse_log_level(level)?,
    };
    let filter = EnvFilter::try_new(&filter).map_err(|error| LogLevelError::Filter {
        given: filter.clone(),
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
