//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::HumanDuration;
use crate::telemetry::LogFormat;

const EXAMPLES: &str = "\
Examples:
  logagent --pipeline pipelines/quickstart.toml --once
      Run the quickstart pipeline to the end of its input, then exit.
  logagent -p base.toml -p sinks.toml
      Merge two files into one pipeline and run it until SIGINT/SIGTERM.
  LOGAGENT_PIPELINE=/etc/logagent/pipeline.toml logagent
      Take the pipeline file(s) from the environment (comma-separated).
  logagent validate pipelines/*.toml
      Check pipelines without running them (exit 0 valid, 2 invalid).
  tail -f app.log | logagent -p stdin-to-stdout.toml

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid configuration.";

/// logagent: tail, parse, enrich, redact, filter and ship logs.
#[derive(Debug, Parser)]
#[command(name = "logagent", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do; without a command, runs the pipeline given by --pipeline.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options for running a pipeline.
    #[command(flatten)]
    pub run: RunArgs,

    /// The agent's own log level or filter (e.g. `debug`, `info,logagent::sources=debug`).
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "LOGAGENT_LOG_LEVEL"
    )]
    pub log_level: String,

    /// Format of the agent's own logs on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Options of the default (run) command.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file; repeat to merge several files into one pipeline.
    #[arg(
        short,
        long = "pipeline",
        value_name = "FILE",
        env = "LOGAGENT_PIPELINE",
        value_delimiter = ','
    )]
    pub pipelines: Vec<PathBuf>,

    /// Stop when the sources reach the end of their input, instead of following it.
    #[arg(long)]
    pub once: bool,

    /// How long to let in-flight events drain after SIGINT/SIGTERM before giving up.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: HumanDuration,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files without running them; prints every problem found.
    Validate {
        /// The pipeline files (merged, as with --pipeline).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Skip checks that look at this machine and its network (whether include
        /// globs match files; sink health checks such as Elasticsearch's `GET /`).
        #[arg(long)]
        no_environment: bool,
    },
}

fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    HumanDuration::parse(s)
}
