//! The commands: load, validate, build, run; signals and exit codes.
//! `anyhow` lives only here, at the binary's edge.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

use crate::cli::{Cli, Command, MaintenanceArgs, RunArgs};
use crate::config::{self, PipelineConfig, SinkConfig, SourceConfig};
use crate::maintenance::{self, clock::SystemClock, run::RunError};
use crate::pipeline::topology::Outcome;
use crate::pipeline::{BuildOptions, Topology};
use crate::telemetry;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the pipeline failed at run time.
pub const EXIT_RUNTIME: i32 = 1;
/// Exit code: bad usage or an invalid configuration.
pub const EXIT_CONFIG: i32 = 2;

/// Runs the binary and returns its exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    if let Err(e) = telemetry::init_logging(&cli.log_level, cli.log_format) {
        eprintln!("logagent: {e}");
        return EXIT_CONFIG;
    }
    match cli.command {
        Some(Command::Validate {
            files,
            no_environment,
        }) => validate(&files, no_environment),
        Some(Command::Rotate(args)) => maintenance("rotate", &args.common, args.force, args.state),
        Some(Command::Retain(args)) => maintenance("retain", &args, false, None),
        None => run(&cli.run),
    }
}

fn load(files: &[PathBuf]) -> Result<PipelineConfig, i32> {
    config::load(files).map_err(|errors| {
        eprint!("{errors}");
        EXIT_CONFIG
    })
}

fn validate(files: &[PathBuf], no_environment: bool) -> i32 {
    if maintenance::config::is_maintenance_only(files) {
        return match maintenance::config::load(files) {
            Ok(l) => {
                println!(
                    "ok: {} rotate job(s), {} retain job(s) in {}",
                    l.jobs.rotate.len(),
                    l.jobs.retain.len(),
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                EXIT_OK
            }
            Err(errors) => {
                eprint!("{errors}");
                EXIT_CONFIG
            }
        };
    }
    let config = match load(files) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !no_environment {
        for source in &config.sources {
            if let SourceConfig::File(f) = &source.config {
                let matched = f.include.iter().any(|p| {
                    glob::glob(p)
                        .map(|mut g| g.next().is_some())
                        .unwrap_or(false)
                });
                if !matched {
                    eprintln!(
                        "warning: sources.{}: no file matches {:?} yet (it will be picked up when it appears)",
                        source.id, f.include
                    );
                }
            }
        }
        sink_health_checks(&config);
    }
    let jobs = &config.maintenance;
    let extra = if jobs.rotate.is_empty() && jobs.retain.is_empty() {
        String::new()
    } else {
        format!(
            ", {} rotate job(s), {} retain job(s)",
            jobs.rotate.len(),
            jobs.retain.len()
        )
    };
    println!(
        "ok: {} source(s), {} transform(s), {} sink(s){extra} in {}",
        config.sources.len(),
        config.transforms.len(),
        config.sinks.len(),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    EXIT_OK
}

/// `rotate` / `retain`: a plan with `--dry-run`, the JSON report with `--json`,
/// otherwise a progress bar on a terminal and one summary line. Held (unshipped)
/// and failed steps are listed on stderr. Exit 1 if any step failed.
fn maintenance(command: &str, args: &MaintenanceArgs, force: bool, state: Option<PathBuf>) -> i32 {
    let opts = maintenance::run::Options {
        configs: args.configs.clone(),
        dry_run: args.dry_run,
        force,
        data_dir: args.data_dir.clone(),
        state,
        progress: !args.json,
        ..maintenance::run::Options::default()
    };
    let result = if command == "rotate" {
        maintenance::run::rotate(&opts, &SystemClock)
    } else {
        maintenance::run::retain(&opts, &SystemClock)
    };
    let report = match result {
        Ok(r) => r,
        Err(RunError::Config(errors)) => {
            eprint!("{errors}");
            return EXIT_CONFIG;
        }
        Err(e) => {
            eprintln!("logagent {command}: {e}");
            return EXIT_RUNTIME;
        }
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("logagent {command}: cannot encode the report: {e}");
                return EXIT_RUNTIME;
            }
        }
    } else if args.dry_run {
        print!("{}", report.lines());
        println!("{}", report.summary_line());
    } else {
        use maintenance::report::Status;
        for a in &report.actions {
            match a.status {
                Status::Held | Status::Failed => eprintln!("{}", a.line()),
                _ => tracing::debug!("{}", a.line()),
            }
        }
        println!("{}", report.summary_line());
    }
    if report.summary.errors > 0 {
        EXIT_RUNTIME
    } else {
        EXIT_OK
    }
}

/// Health checks of the sinks that talk to servers (short timeout). An
/// unreachable server is a warning: the pipeline is valid and would wait for it.
fn sink_health_checks(config: &PipelineConfig) {
    for sink in &config.sinks {
        if let SinkConfig::Elasticsearch(es) = &sink.config {
            use crate::sinks::elasticsearch::client;
            for (endpoint, result) in client::check_endpoints(es, std::time::Duration::from_secs(5))
            {
                match result {
                    Ok(flavor) => {
                        eprintln!("info: sinks.{}: {endpoint}: {flavor}", sink.id);
                        let data_stream =
                            es.mode == crate::sinks::elasticsearch::config::Mode::DataStream;
                        if let Some(w) = client::compatibility_warning(&flavor, data_stream) {
                            eprintln!("warning: sinks.{}: {endpoint}: {w}", sink.id);
                        }
                    }
                    Err(e) => eprintln!("warning: sinks.{}: {endpoint}: {e}", sink.id),
                }
            }
        }
        if let SinkConfig::Loki(loki) = &sink.config
            && loki.healthcheck
        {
            if let Err(e) = loki.check_environment(std::time::Duration::from_secs(5)) {
                eprintln!(
                    "warning: sinks.{}: Loki health check failed: {e} (the agent would start and retry)",
                    sink.id
                );
            }
        }
    }
}

fn run(args: &RunArgs) -> i32 {
    if args.pipelines.is_empty() {
        eprintln!(
            "logagent: no pipeline given: use --pipeline FILE (or LOGAGENT_PIPELINE), or see --help"
        );
        return EXIT_CONFIG;
    }
    let config = match load(&args.pipelines) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run_pipeline(&config, args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot run the pipeline");
            EXIT_RUNTIME
        }
    }
}

fn run_pipeline(config: &PipelineConfig, args: &RunArgs) -> anyhow::Result<i32> {
    let stop = signals()?;
    let started = Instant::now();
    let topology = Topology::start(
        config,
        BuildOptions {
            once: args.once,
            ..BuildOptions::default()
        },
    )?;
    tracing::info!(
        sources = config.sources.len(),
        transforms = config.transforms.len(),
        sinks = config.sinks.len(),
        once = args.once,
        "pipeline started"
    );
    let registry = topology.registry().clone();
    let outcome = topology.wait(&stop, args.drain_timeout.0);
    let totals = registry.totals();
    let code = match &outcome {
        Outcome::Drained => EXIT_OK,
        Outcome::Failed(_) | Outcome::TimedOut(_) => EXIT_RUNTIME,
    };
    if let Outcome::TimedOut(running) = &outcome {
        tracing::error!(?running, timeout = ?args.drain_timeout.0, "drain timed out; unacknowledged lines will be read again on restart");
    }
    for entry in registry.entries() {
        let s = entry.metrics.snapshot();
        tracing::info!(
            component = %entry.id,
            kind = ?entry.kind,
            r#type = entry.type_name,
            received_events = s.received_events,
            sent_events = s.sent_events,
            sent_bytes = s.sent_bytes,
            discarded = s.discarded_events,
            errors = s.errors,
            "component totals"
        );
    }
    tracing::info!(
        read = totals.read,
        written = totals.written,
        discarded = totals.discarded,
        errors = totals.errors,
        elapsed = ?started.elapsed(),
        "pipeline stopped"
    );
    Ok(code)
}

/// First SIGINT/SIGTERM: drain and stop. Second: exit at once.
fn signals() -> anyhow::Result<crossbeam_channel::Receiver<()>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen == 1 {
                    tracing::info!(
                        signal,
                        "stopping: draining in-flight events (send again to exit at once)"
                    );
                    let _ = tx.try_send(());
                } else {
                    tracing::warn!(signal, "second signal: exiting now without draining");
                    std::process::exit(EXIT_RUNTIME);
                }
            }
        })?;
    Ok(rx)
}
