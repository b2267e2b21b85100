//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::HumanDuration;
use crate::telemetry::{LogFormat, parse_log_level};

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
  logagent -c pipeline.yaml
      Run a pipeline written in YAML (or JSON: pipeline.json); the same keys as TOML.
  logagent --config-dir /etc/logagent/conf.d
      Merge every *.toml, *.yaml, *.yml and *.json file in the directory into one pipeline.
  logagent convert /etc/td-agent/td-agent.conf > pipeline.toml
      Translate a Fluentd, Fluent Bit or Vector config; what cannot be translated goes to stderr.
  logagent test pipelines/*.toml
      Run the [[tests]] cases in pipeline files (exit 0 all pass, 1 a case failed).
  logagent -p pipeline.toml --watch
      Run, and reload changed components when a pipeline file changes (or on SIGHUP).
  logagent tap parse --limit 20
      Print a rate-limited sample of the events leaving component `parse` ([api] needed).
  logagent tap 'parse*' --inputs-of out
      Sample every output whose id starts with `parse` and everything sink `out` reads.
  logagent top
      A live table of per-component rates and buffer fill ([api] needed).
  tail -f app.log | logagent -p pipelines/stdin-to-stdout.toml
      Parse JSON lines from standard input and print them as NDJSON.
  logagent -p pipelines/syslog-to-loki.toml
      Receive syslog (RFC 3164/5424, TCP and UDP on 127.0.0.1:5514) and ship it to Loki.
  logagent -p pipelines/aggregator.toml
      Receive pushes over HTTP (NDJSON, Elasticsearch _bulk, Loki push) from other agents.
  OTLP_UPSTREAM=http://collector:4318 logagent -p pipelines/otlp-gateway.toml
      Receive OTLP/HTTP logs from OpenTelemetry SDKs on 127.0.0.1:4318, redact, forward over OTLP.
  logagent rotate --config /etc/logagent/maintenance.toml --config /etc/logagent/pipeline.toml --dry-run
      Print what rotation would do; files the agent has not shipped are held.
  logagent retain --config /etc/logagent/maintenance.toml --data-dir /var/lib/logagent
      Delete old files by [[retain]] policy, never ones the agent has not shipped.

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

    /// The agent's own log level (trace, debug, info, warn or warning, error, off)
    /// or filter (e.g. `info,logagent_sources=debug`); `LOGAGENT_LOG`, a filter of
    /// the same form, overrides it.
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "LOGAGENT_LOG_LEVEL",
        value_parser = parse_log_level
    )]
    pub log_level: String,

    /// Format of the agent's own logs on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Options of the default (run) command.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file, TOML, YAML or JSON by its extension (.toml, .yaml/.yml,
    /// .json); repeat to merge several files into one pipeline. `-c/--config`
    /// is the same option.
    #[arg(
        short = 'p',
        long = "pipeline",
        visible_short_alias = 'c',
        visible_alias = "config",
        value_name = "FILE",
        env = "LOGAGENT_PIPELINE",
        value_delimiter = ','
    )]
    pub pipelines: Vec<PathBuf>,

    /// Load every pipeline file (*.toml, *.yaml, *.yml, *.json) directly in
    /// DIR, merged into one pipeline with the files given by --pipeline (as
    /// Vector does: a component id may be defined once). Repeatable.
    #[arg(
        long = "config-dir",
        value_name = "DIR",
        env = "LOGAGENT_CONFIG_DIR",
        value_delimiter = ','
    )]
    pub config_dirs: Vec<PathBuf>,

    /// Stop when the sources reach the end of their input, instead of following it.
    #[arg(long)]
    pub once: bool,

    /// How long to let in-flight events drain after SIGINT/SIGTERM before giving up.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: HumanDuration,

    /// Reload when a pipeline file changes (checked every second), as on SIGHUP.
    #[arg(long)]
    pub watch: bool,
}

/// How `tap` and `top` reach a running agent.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The agent's API address (its `[api] address`).
    #[arg(long, value_name = "HOST:PORT", default_value = crate::config::ops::DEFAULT_API_ADDRESS, env = "LOGAGENT_API")]
    pub api: String,
}

/// The pipeline files of `validate` and `test`: the same inputs as a run.
#[derive(Debug, Args)]
pub struct PipelineInputs {
    /// Pipeline files (TOML, YAML or JSON by extension).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Pipeline files merged into one pipeline, as when running (`-p/--pipeline`
    /// is the same option).
    #[arg(
        short = 'c',
        long = "config",
        visible_short_alias = 'p',
        visible_alias = "pipeline",
        value_name = "FILE"
    )]
    pub configs: Vec<PathBuf>,
    /// Every pipeline file in DIR, merged into one pipeline with the --config files.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dirs: Vec<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files without running them; prints every problem found.
    Validate {
        /// The pipeline files: all of them (positional, --config and
        /// --config-dir) merged into one pipeline, as with --pipeline.
        #[command(flatten)]
        inputs: PipelineInputs,
        /// Skip checks that look at this machine and its network (whether include
        /// globs match files; sink health checks such as Elasticsearch's `GET /`,
        /// Loki's `GET /ready` and an empty OTLP export request).
        #[arg(long)]
        no_environment: bool,
    },
    /// Run the `[[tests]]` cases of pipeline files: lines into a component,
    /// expectations at outputs. Exit 0 when all pass, 1 when one fails.
    Test {
        /// Positional files are each tested on their own; the --config files
        /// and --config-dir directories are merged into one pipeline and tested
        /// together.
        #[command(flatten)]
        inputs: PipelineInputs,
    },
    /// Print an equivalent logagent pipeline (TOML) for a Fluentd, Fluent Bit or
    /// Vector config. What cannot be translated is listed on stderr with its
    /// file and line, and as comments in the output. Exit 0 when a pipeline was
    /// printed, 2 when the file cannot be read, parsed or recognised.
    Convert {
        /// The Fluentd (.conf), Fluent Bit (.conf, .yaml) or Vector (.toml, .yaml) config.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The tool the file is for, when its content and extension do not tell.
        #[arg(long, value_enum, value_name = "TOOL")]
        from: Option<crate::convert::From>,
    },
    /// Print a live, rate-limited sample of the events leaving a component of a
    /// running agent (through its API).
    Tap {
        /// Outputs to sample: a component id, `ID.NAME` for a named output, or
        /// a glob (`'parse*'`); several may be given. With more than one output,
        /// each line is `{"output": ID, "event": {...}}`.
        #[arg(required_unless_present_any = ["outputs_of", "inputs_of"])]
        patterns: Vec<String>,
        /// Also every output of this component (`ID` and `ID.*`).
        #[arg(long, value_name = "ID")]
        outputs_of: Option<String>,
        /// Also every output this component reads (its `inputs`).
        #[arg(long, value_name = "ID")]
        inputs_of: Option<String>,
        /// Most events per second.
        #[arg(long, default_value_t = 10)]
        rate: u32,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// Where the agent's API listens.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A live table of per-component event rates and buffer fill of a running
    /// agent (through its API).
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 2)]
        interval: u64,
        /// Print one table (rates over one interval) and exit.
        #[arg(long)]
        once: bool,
        /// Where the agent's API listens.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Rotate log files as the `[[rotate]]` jobs say (logrotate's semantics),
    /// never deleting or truncating what the agent has not shipped.
    Rotate(RotateArgs),
    /// Delete files by age, count, total size or grandfather-father-son as the
    /// `[[retain]]` jobs say, never ones the agent has not shipped.
    Retain(MaintenanceArgs),
    /// Every component type with its kind and purpose; with a TYPE, its keys,
    /// their types, defaults and descriptions (from the config structs).
    List {
        /// A type (`remap`), or `KIND/TYPE` where a name is both a source and
        /// a sink (`sink/file`).
        #[arg(value_name = "TYPE")]
        ty: Option<String>,
        /// Write the reference pages (one Markdown file per type and an
        /// index) into DIR instead, as committed under docs/reference/.
        #[arg(long, value_name = "DIR", conflicts_with = "ty")]
        markdown: Option<PathBuf>,
    },
    /// Print a commented starting pipeline: `logagent generate
    /// file/parse_json/elasticsearch` (a source, any transforms, a sink;
    /// `,` works as a separator too). `logagent validate` accepts it.
    Generate {
        /// SOURCE/TRANSFORM.../SINK types.
        #[arg(value_name = "SOURCE/TRANSFORMS/SINK")]
        spec: String,
    },
}

/// Options shared by `rotate` and `retain`.
#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// A file with `[[rotate]]`/`[[retain]]` tables, or the agent's pipeline file
    /// (repeat to give both: the pipeline tells which files the agent tails).
    /// `-p/--pipeline` is the same option.
    #[arg(
        short = 'c',
        long = "config",
        visible_short_alias = 'p',
        visible_alias = "pipeline",
        value_name = "FILE",
        required_unless_present = "config_dirs"
    )]
    pub configs: Vec<PathBuf>,

    /// Every config file (*.toml, *.yaml, *.yml, *.json) in DIR, as if each were
    /// given with --config.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dirs: Vec<PathBuf>,

    /// Print every action that would be taken, and do nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub json: bool,

    /// The agent's data directory, whose checkpoints say what has been shipped
    /// (default: the pipeline's `data_dir`).
    #[arg(long, value_name = "DIR", env = "LOGAGENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Options of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Options shared with `retain`.
    #[command(flatten)]
    pub common: MaintenanceArgs,

    /// Rotate every file now, whatever its triggers say (logrotate -f).
    #[arg(long)]
    pub force: bool,

    /// The state file recording when files were last rotated
    /// (default: DATA_DIR/rotate.state.json).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<HumanDuration, crate::config::UnitError> {
    HumanDuration::parse(s)
}
