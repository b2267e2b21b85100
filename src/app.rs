//! The commands: load, validate, build, run; signals and exit codes.
//! `anyhow` lives only here, at the binary's edge.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;

use crate::cli::{Cli, Command, MaintenanceArgs, RunArgs};
use crate::config::{self, PipelineConfig};
use crate::maintenance::{self, run::RunError};
use crate::pipeline::topology::Outcome;
use crate::pipeline::{BuildOptions, Topology};
use crate::telemetry;
use crate::time::SystemClock;

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
    install_panic_hook();
    match cli.command {
        Some(Command::Validate {
            inputs,
            no_environment,
        }) => match inputs_files(&inputs) {
            Ok(files) => validate(&files, no_environment),
            Err(code) => code,
        },
        Some(Command::Rotate(args)) => maintenance("rotate", &args.common, args.force, args.state),
        Some(Command::Retain(args)) => maintenance("retain", &args, false, None),
        Some(Command::Test { inputs }) => test(&inputs),
        Some(Command::Convert { file, from }) => crate::convert::main(&file, from),
        Some(Command::Tap {
            patterns,
            outputs_of,
            inputs_of,
            rate,
            limit,
            api,
        }) => tap(
            &api.api,
            &TapSelection {
                patterns,
                outputs_of,
                inputs_of,
            },
            rate,
            limit,
        ),
        Some(Command::Top {
            interval,
            once,
            api,
        }) => top(&api.api, interval, once),
        Some(Command::List { ty, markdown }) => list(ty.as_deref(), markdown.as_deref()),
        Some(Command::Generate { spec }) => generate(&spec),
        None => run(&cli.run),
    }
}

/// `logagent list [TYPE]` and `logagent list --markdown DIR`.
fn list(ty: Option<&str>, markdown: Option<&std::path::Path>) -> i32 {
    use crate::catalog;
    if let Some(dir) = markdown {
        for (path, text) in catalog::reference_pages() {
            let file = dir.join(path);
            let written = file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&file, text));
            if let Err(e) = written {
                eprintln!("logagent: writing {}: {e}", file.display());
                return EXIT_RUNTIME;
            }
        }
        return EXIT_OK;
    }
    let Some(ty) = ty else {
        print!("{}", catalog::list_all());
        return EXIT_OK;
    };
    let found = catalog::find(ty);
    if found.is_empty() {
        eprintln!("logagent: no component type {ty:?}; `logagent list` shows them all");
        return EXIT_CONFIG;
    }
    for (i, c) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", catalog::describe(c));
    }
    EXIT_OK
}

/// `logagent generate SOURCE/TRANSFORM.../SINK`.
fn generate(spec: &str) -> i32 {
    match crate::catalog::generate::pipeline(spec) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("logagent: {e}");
            EXIT_CONFIG
        }
    }
}

/// Panics go through the agent's own log (its format, rate-limited) instead of
/// the default hook's raw stderr lines: the runtime catches a panic on one
/// batch and goes on (`pipeline::isolate`), so a poison line that keeps coming
/// must not flood stderr or break `--log-format json`.
fn install_panic_hook() {
    let limiter = telemetry::ratelimit::RateLimiter::default();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(suppressed) = limiter.check() {
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("unnamed"),
                panic = %info,
                suppressed,
                "panic"
            );
        }
    }));
}

/// Every file `validate` reads: the positional ones, the `--config` ones and
/// those of each `--config-dir`, merged as one pipeline.
fn inputs_files(inputs: &crate::cli::PipelineInputs) -> Result<Vec<PathBuf>, i32> {
    let mut files = inputs.files.clone();
    files.extend(inputs.configs.iter().cloned());
    let files = config::pipeline_files(&files, &inputs.config_dirs).map_err(|errors| {
        eprint!("{errors}");
        EXIT_CONFIG
    })?;
    if files.is_empty() {
        eprintln!("logagent: no pipeline given: name FILEs, --config FILE or --config-dir DIR");
        return Err(EXIT_CONFIG);
    }
    Ok(files)
}

fn load(files: &[PathBuf]) -> Result<PipelineConfig, i32> {
    config::load(files).map_err(|errors| {
        eprint!("{errors}");
        EXIT_CONFIG
    })
}

fn validate(files: &[PathBuf], no_environment: bool) -> i32 {
    // Each file is read once: a FIFO (`validate <(...)`) cannot be read again.
    let texts = match config::read_files(files) {
        Ok(t) => t,
        Err(errors) => {
            eprint!("{errors}");
            return EXIT_CONFIG;
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    if maintenance::config::is_maintenance_only(&texts) {
        return match maintenance::config::load_texts(&texts, env) {
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
    let config = match config::load_texts(&texts, env) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return EXIT_CONFIG;
        }
    };
    let mut environment_errors = 0;
    if !no_environment {
        // What the run will need from this machine (globs, directories,
        // unread outputs), then the sinks' servers.
        for finding in crate::pipeline::preflight::check(&config) {
            eprintln!("{finding}");
            if finding.severity == crate::pipeline::preflight::Severity::Error {
                environment_errors += 1;
            }
        }
        sink_health_checks(&config);
    }
    if environment_errors > 0 {
        eprintln!(
            "{environment_errors} error(s) in the environment: the configuration is valid, but the run would fail (use --no-environment to check the configuration alone)"
        );
        return EXIT_CONFIG;
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
    let configs = match config::pipeline_files(&args.configs, &args.config_dirs) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return EXIT_CONFIG;
        }
    };
    let opts = maintenance::run::Options {
        configs,
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
        let Some(check) = sink.config.health_check() else {
            continue;
        };
        let report = check.check(HEALTH_CHECK_LIMIT);
        for line in &report.info {
            eprintln!("info: sinks.{}: {line}", sink.id);
        }
        for line in &report.warnings {
            eprintln!("warning: sinks.{}: {line}", sink.id);
        }
        for line in &report.failures {
            eprintln!(
                "warning: sinks.{}: {}",
                sink.id,
                check.describe_failure(line)
            );
        }
    }
}

/// Time limit of one health-check request.
const HEALTH_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

fn run(args: &RunArgs) -> i32 {
    if args.pipelines.is_empty() && args.config_dirs.is_empty() {
        eprintln!(
            "logagent: no pipeline given: use --pipeline FILE (or LOGAGENT_PIPELINE) or --config-dir DIR, or see --help"
        );
        return EXIT_CONFIG;
    }
    let files = match config::pipeline_files(&args.pipelines, &args.config_dirs) {
        Ok(f) => f,
        Err(errors) => {
            eprint!("{errors}");
            return EXIT_CONFIG;
        }
    };
    let config = match load(&files) {
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
    let (stop, reload_requests) = signals()?;
    let started = Instant::now();
    // What `validate` warns about, logged at start too; `data_dir` is proven
    // writable by the topology (it exits 1 if not), a sink directory is retried.
    for finding in crate::pipeline::preflight::check(config) {
        match finding.severity {
            crate::pipeline::preflight::Severity::Warning => {
                tracing::warn!(component = %finding.subject, "{}", finding.message)
            }
            crate::pipeline::preflight::Severity::Error => {
                tracing::error!(component = %finding.subject, "{}", finding.message)
            }
        }
    }
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
    let registry = topology.registry();
    let health = topology.health();
    if let Some(api) = config.api.as_ref().filter(|a| a.enabled) {
        telemetry::api::start(
            &api.address,
            telemetry::api::ApiState {
                registry: registry.clone(),
                health: health.clone(),
                taps: topology.taps(),
                inputs: topology.inputs(),
            },
        )?;
    }
    let checks = Arc::new(Mutex::new(health_checks(config)));
    start_health_checker(health.clone(), checks.clone())?;
    if args.watch {
        watch_files(
            args.pipelines.clone(),
            args.config_dirs.clone(),
            reload_requests.0.clone(),
        )?;
    }
    let reloads = start_reloader(
        args.pipelines.clone(),
        args.config_dirs.clone(),
        config.clone(),
        reload_requests.1,
        checks,
        registry.agent().clone(),
    )?;
    let outcome = topology.run(&stop, &reloads, args.drain_timeout.0);
    let totals = registry.totals();
    let code = match &outcome {
        Outcome::Drained => EXIT_OK,
        Outcome::Failed(_) | Outcome::TimedOut(_) => EXIT_RUNTIME,
    };
    if let Outcome::TimedOut(running) = &outcome {
        tracing::error!(running = %running.join(", "), timeout = ?args.drain_timeout.0, "drain timed out; unacknowledged lines will be read again on restart");
    }
    for entry in registry.entries() {
        let s = entry.metrics.snapshot();
        // Time spent on batches (summed over a stage's workers; on one thread,
        // including any wait to send downstream): where the pipeline's CPU went.
        let busy_seconds = if entry.kind == crate::telemetry::metrics::Kind::Source {
            0.0
        } else {
            let h = entry
                .metrics
                .labeled
                .histogram(crate::pipeline::topology::names::BATCH_DURATION, &[]);
            h.sum_micros.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
        };
        // One line per component at debug; the totals below at info.
        tracing::debug!(
            component = %entry.id,
            kind = entry.kind.as_str(),
            r#type = entry.type_name,
            received_events = s.received_events,
            sent_events = s.sent_events,
            sent_bytes = s.sent_bytes,
            discarded = s.discarded_events,
            errors = s.errors,
            busy_seconds,
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

/// A named health check of one sink: `Err(reason)` while it fails.
type HealthCheck = (
    String,
    Box<dyn Fn() -> Result<(), logagent_core::component::HealthFailure> + Send>,
);

/// Health checks of the sinks that declare one ([`crate::config::SinkConfig::health_check`]).
fn health_checks(config: &PipelineConfig) -> Vec<HealthCheck> {
    config
        .sinks
        .iter()
        .filter_map(|sink| {
            let check = sink.config.health_check()?;
            let run: Box<dyn Fn() -> Result<(), logagent_core::component::HealthFailure> + Send> =
                Box::new(move || check.check(HEALTH_CHECK_LIMIT).verdict());
            Some((format!("sinks.{}", sink.id), run))
        })
        .collect()
}

/// Runs the sinks' health checks now and every 15 s: the pipeline is ready once
/// they all passed; a failing one is listed by `/health` until it passes again.
fn start_health_checker(
    health: telemetry::health::Health,
    checks: Arc<Mutex<Vec<HealthCheck>>>,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            let mut failing: Vec<String> = Vec::new();
            loop {
                let mut all_ok = true;
                let now_failing: Vec<String> = {
                    let checks = checks.lock().unwrap_or_else(|p| p.into_inner());
                    let mut bad = Vec::new();
                    for (name, check) in checks.iter() {
                        match check() {
                            Ok(()) => health.recover(name),
                            Err(reason) => {
                                all_ok = false;
                                tracing::warn!(component = %name, error = %reason, "sink health check failed");
                                health.fail(name, &reason.to_string());
                                bad.push(name.clone());
                            }
                        }
                    }
                    bad
                };
                // Checks of sinks a reload removed no longer apply.
                for name in failing.iter().filter(|n| !now_failing.contains(n)) {
                    health.recover(name);
                }
                failing = now_failing;
                if all_ok {
                    health.set_ready(true);
                }
                std::thread::sleep(std::time::Duration::from_secs(if all_ok { 15 } else { 5 }));
            }
        })?;
    Ok(())
}

/// `--watch`: polls the pipeline files' size and modification time every second
/// (through symlinks, so a ConfigMap's atomic swap counts), and the list of
/// files in each `--config-dir`, and asks for a reload when they change.
fn watch_files(
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    request: crossbeam_channel::Sender<()>,
) -> anyhow::Result<()> {
    type Stamp = Vec<(PathBuf, Option<(std::time::SystemTime, u64)>)>;
    let stamp = move |files: &[PathBuf]| -> Stamp {
        let listed = config::pipeline_files(files, &dirs).unwrap_or_else(|_| files.to_vec());
        listed
            .into_iter()
            .map(|f| {
                let s = std::fs::metadata(&f)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())));
                (f, s)
            })
            .collect()
    };
    let mut last = stamp(&files);
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let now = stamp(&files);
                if now != last {
                    last = now;
                    tracing::info!("a pipeline file changed; reloading");
                    if request.send(()).is_err() {
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

/// Loads the pipeline files on every reload request (SIGHUP, `--watch`): an
/// invalid config is logged with all its errors and dropped (the running
/// pipeline stays); a valid one goes to the topology.
fn start_reloader(
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    initial: PipelineConfig,
    requests: crossbeam_channel::Receiver<()>,
    checks: Arc<Mutex<Vec<HealthCheck>>>,
    status: Arc<logagent_core::telemetry::agent::AgentStatus>,
) -> anyhow::Result<crossbeam_channel::Receiver<PipelineConfig>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            for () in requests.iter() {
                match config::pipeline_files(&files, &dirs).and_then(|f| config::load(&f)) {
                    Ok(new) => {
                        if new.runtime != initial.runtime
                            || new.data_dir != initial.data_dir
                            || new.api != initial.api
                        {
                            tracing::warn!("[runtime], data_dir and [api] changes take effect at the next restart");
                        }
                        *checks.lock().unwrap_or_else(|p| p.into_inner()) = health_checks(&new);
                        if tx.send(new).is_err() {
                            return;
                        }
                    }
                    Err(errors) => {
                        status.reloaded(false);
                        for e in &errors.0 {
                            tracing::error!(error = %e, "invalid pipeline");
                        }
                        tracing::error!(
                            errors = errors.0.len(),
                            "reload rejected: the new configuration is invalid; the running pipeline is unchanged"
                        );
                    }
                }
            }
        })?;
    Ok(rx)
}

/// `logagent test`: every positional file's `[[tests]]` on its own, then the
/// `--config` files and `--config-dir` directories as one merged pipeline.
fn test(inputs: &crate::cli::PipelineInputs) -> i32 {
    let mut groups: Vec<Vec<PathBuf>> = inputs.files.iter().map(|f| vec![f.clone()]).collect();
    if !inputs.configs.is_empty() || !inputs.config_dirs.is_empty() {
        match config::pipeline_files(&inputs.configs, &inputs.config_dirs) {
            Ok(files) => groups.push(files),
            Err(errors) => {
                eprint!("{errors}");
                return EXIT_CONFIG;
            }
        }
    }
    if groups.is_empty() {
        eprintln!("logagent: no pipeline given: name FILEs, --config FILE or --config-dir DIR");
        return EXIT_CONFIG;
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for group in &groups {
        let file = &group
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        // Read once: a FIFO cannot be read again.
        let texts = match config::read_files(group) {
            Ok(t) => t,
            Err(errors) => {
                eprint!("{errors}");
                return EXIT_CONFIG;
            }
        };
        if maintenance::config::is_maintenance_only(&texts) {
            println!("{file}: maintenance jobs only, no pipeline to test");
            continue;
        }
        let config = match config::load_texts(&texts, |name| std::env::var(name).ok()) {
            Ok(c) => c,
            Err(errors) => {
                eprint!("{errors}");
                return EXIT_CONFIG;
            }
        };
        if config.tests.is_empty() {
            println!("{file}: no [[tests]]");
        }
        for result in crate::pipeline::testing::run_all(&config) {
            if result.failures.is_empty() {
                passed += 1;
                println!("test {} ... ok ({file})", result.name);
            } else {
                failed += 1;
                println!("test {} ... FAILED ({file})", result.name);
                for f in &result.failures {
                    println!("    {f}");
                }
            }
        }
    }
    println!("pipeline tests: {passed} passed, {failed} failed");
    if failed > 0 { EXIT_RUNTIME } else { EXIT_OK }
}

/// `logagent tap`: streams `/tap/ID` to stdout.
/// What `logagent tap` samples: patterns over output names, and the outputs
/// of, or read by, a component.
struct TapSelection {
    patterns: Vec<String>,
    outputs_of: Option<String>,
    inputs_of: Option<String>,
}

impl TapSelection {
    /// The outputs of the running agent (its `/outputs` answer) selected.
    fn resolve(&self, answer: &serde_json::Value) -> Result<Vec<String>, String> {
        let outputs: Vec<String> = answer["outputs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut chosen: Vec<String> = Vec::new();
        fn add(chosen: &mut Vec<String>, o: &str) {
            if !chosen.iter().any(|c| c == o) {
                chosen.push(o.to_owned());
            }
        }
        for p in &self.patterns {
            let glob = glob::Pattern::new(p).map_err(|e| format!("bad pattern {p:?}: {e}"))?;
            let before = chosen.len();
            for o in outputs.iter().filter(|o| glob.matches(o) || *o == p) {
                add(&mut chosen, o);
            }
            if chosen.len() == before {
                return Err(format!(
                    "no output matches {p:?} (outputs: {})",
                    outputs.join(", ")
                ));
            }
        }
        if let Some(id) = &self.outputs_of {
            let prefix = format!("{id}.");
            let before = chosen.len();
            for o in outputs
                .iter()
                .filter(|o| *o == id || o.starts_with(&prefix))
            {
                add(&mut chosen, o);
            }
            if chosen.len() == before {
                return Err(format!(
                    "no component {id:?} has outputs (outputs: {})",
                    outputs.join(", ")
                ));
            }
        }
        if let Some(id) = &self.inputs_of {
            let inputs = &answer["inputs"];
            let list = [
                format!("transforms.{id}"),
                format!("sinks.{id}"),
                id.clone(),
            ]
            .iter()
            .find_map(|k| inputs[k.as_str()].as_array().cloned())
            .ok_or_else(|| format!("no transform or sink {id:?} in the running agent"))?;
            for i in list.iter().filter_map(|v| v.as_str()) {
                add(&mut chosen, i);
            }
        }
        if chosen.len() > telemetry::api::MAX_TAPS {
            return Err(format!(
                "{} outputs selected; the agent streams at most {} taps at once: narrow the selection",
                chosen.len(),
                telemetry::api::MAX_TAPS
            ));
        }
        Ok(chosen)
    }
}

/// `logagent tap`: streams samples of the selected outputs of a running agent.
fn tap(api: &str, selection: &TapSelection, rate: u32, limit: Option<u64>) -> i32 {
    use std::io::Write;
    let answer = match telemetry::api::get(api, "/outputs") {
        Ok((200, body)) => serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        Ok((status, _)) => {
            eprintln!("logagent tap: the API answered {status}");
            return EXIT_RUNTIME;
        }
        Err(e) => {
            eprintln!(
                "logagent tap: cannot reach the agent's API at {api}: {e} (is [api] enabled?)"
            );
            return EXIT_RUNTIME;
        }
    };
    let outputs = match selection.resolve(&answer) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("logagent tap: {e}");
            return EXIT_CONFIG;
        }
    };
    let tagged = outputs.len() > 1;
    let (tx, rx) = crossbeam_channel::bounded::<Result<String, String>>(1024);
    for output in outputs {
        let tx = tx.clone();
        let api = api.to_owned();
        let mut path = format!("/tap/{output}?rate={rate}");
        if let Some(l) = limit {
            path.push_str(&format!("&limit={l}"));
        }
        std::thread::spawn(move || {
            let label = serde_json::Value::String(output.clone()).to_string();
            let result = telemetry::api::get_lines(&api, &path, None, |line| {
                let line = if tagged {
                    format!("{{\"output\":{label},\"event\":{line}}}")
                } else {
                    line.to_owned()
                };
                tx.send(Ok(line)).is_ok()
            });
            let end = match result {
                Ok(200) => Err(String::new()),
                Ok(status) => Err(format!("tap {output}: the API answered {status}")),
                Err(e) => Err(format!("tap {output}: {e}")),
            };
            let _ = tx.send(end);
        });
    }
    drop(tx);
    let stdout = std::io::stdout();
    let mut printed = 0u64;
    let mut code = EXIT_OK;
    for item in rx.iter() {
        match item {
            Ok(line) => {
                let mut out = stdout.lock();
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return EXIT_OK; // the reader went away (a pipe to head)
                }
                printed += 1;
                if limit.is_some_and(|l| printed >= l) {
                    return EXIT_OK;
                }
            }
            Err(e) if e.is_empty() => {}
            Err(e) => {
                eprintln!("logagent tap: {e}");
                code = EXIT_RUNTIME;
            }
        }
    }
    code
}

/// Why `logagent top` could not read the agent's `/components`.
#[derive(Debug, thiserror::Error)]
enum TopError {
    /// Nothing answered at the API address.
    #[error("cannot reach the agent's API at {api}: {error} (is [api] enabled?)")]
    Unreachable {
        /// The address tried.
        api: String,
        /// The connection error.
        error: std::io::Error,
    },
    /// The API answered with another status than 200.
    #[error("the API answered {0}")]
    Status(u16),
    /// The answer was not the JSON `/components` gives.
    #[error("bad /components answer: {0}")]
    Json(#[from] serde_json::Error),
}

/// `logagent top`: refreshes a table of rates every `interval` seconds. On a
/// terminal it takes the whole screen, `q` (or Ctrl-C) quits, and it waits
/// for the agent when the API stops answering (a restart) instead of exiting;
/// `--once` prints one table and exits.
fn top(api: &str, interval: u64, once: bool) -> i32 {
    let read = || -> Result<serde_json::Value, TopError> {
        let (status, body) =
            telemetry::api::get(api, "/components").map_err(|error| TopError::Unreachable {
                api: api.to_owned(),
                error,
            })?;
        if status != 200 {
            return Err(TopError::Status(status));
        }
        Ok(serde_json::from_str(&body)?)
    };
    let interval = std::time::Duration::from_secs(interval.max(1));
    if once {
        let before = match read() {
            Ok(v) => v,
            Err(e) => {
                eprintln!("logagent top: {e}");
                return EXIT_RUNTIME;
            }
        };
        let at = Instant::now();
        std::thread::sleep(interval);
        return match read() {
            Ok(after) => {
                print!(
                    "{}",
                    telemetry::top::table(&before, &after, at.elapsed().as_secs_f64())
                );
                EXIT_OK
            }
            Err(e) => {
                eprintln!("logagent top: {e}");
                EXIT_RUNTIME
            }
        };
    }
    use std::io::IsTerminal as _;
    let terminal = std::io::stdout().is_terminal();
    let _screen = if terminal {
        match TopScreen::enter() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("logagent top: cannot use the terminal: {e}");
                return EXIT_RUNTIME;
            }
        }
    } else {
        None
    };
    let mut before: Option<(serde_json::Value, Instant)> = None;
    let mut next = Instant::now();
    loop {
        // Wait for the next refresh, quitting on q / Ctrl-C meanwhile.
        if terminal {
            match top_quit_requested(next.saturating_duration_since(Instant::now())) {
                Ok(true) => return EXIT_OK,
                Ok(false) => {}
                Err(e) => {
                    drop(_screen);
                    eprintln!("logagent top: {e}");
                    return EXIT_RUNTIME;
                }
            }
        } else {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        next = Instant::now() + interval;
        let width = crossterm::terminal::size().map_or(200, |(w, _)| w as usize);
        let text = match (read(), &before) {
            (Ok(after), Some((then, at))) => {
                let text =
                    telemetry::top::screen(api, then, &after, at.elapsed().as_secs_f64(), width);
                before = Some((after, Instant::now()));
                text
            }
            (Ok(after), None) => {
                before = Some((after, Instant::now()));
                format!("logagent top: reading {api} ...\n")
            }
            (Err(e), _) => {
                // The agent restarted or is not up yet: wait for it.
                before = None;
                let line = format!("logagent top: retrying every {interval:?} (q quits): {e}");
                line.chars().take(width.max(20)).collect::<String>() + "\n"
            }
        };
        // Clear the screen and home the cursor, then the table; raw mode
        // needs \r\n line ends.
        let text = if terminal {
            text.replace('\n', "\r\n")
        } else {
            text
        };
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\x1b[2J\x1b[H{text}");
        let _ = out.flush();
    }
}

/// The terminal as `top` uses it: raw mode (keys without Enter) on the
/// alternate screen, both undone when dropped, even on an early return.
struct TopScreen;

impl TopScreen {
    fn enter() -> std::io::Result<TopScreen> {
        crossterm::terminal::enable_raw_mode()?;
        let screen = TopScreen;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )?;
        Ok(screen)
    }
}

impl Drop for TopScreen {
    fn drop(&mut self) {
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::cursor::Show,
            crossterm::terminal::LeaveAlternateScreen
        );
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Waits up to `wait` for a key: true for `q`, `Q`, Esc or Ctrl-C.
fn top_quit_requested(wait: std::time::Duration) -> std::io::Result<bool> {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !crossterm::event::poll(left)? {
            return Ok(false);
        }
        if let Event::Key(k) = crossterm::event::read()? {
            if k.kind == KeyEventKind::Release {
                continue;
            }
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if ctrl_c || matches!(k.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) {
                return Ok(true);
            }
        }
        if left.is_zero() {
            return Ok(false);
        }
    }
}

/// Channel pair on which SIGHUP (and `--watch`) ask for a reload.
type ReloadRequests = (
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<()>,
);

/// First SIGINT/SIGTERM: drain and stop. Second: exit at once. SIGHUP: reload.
fn signals() -> anyhow::Result<(crossbeam_channel::Receiver<()>, ReloadRequests)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (reload_tx, reload_rx) = crossbeam_channel::unbounded();
    let reload = reload_tx.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    tracing::info!("SIGHUP: reloading the pipeline files");
                    let _ = reload.send(());
                    continue;
                }
                seen += 1;
                if seen == 1 {
                    // Act first, then log: the log may go to a closed pipe.
                    let _ = tx.try_send(());
                    tracing::info!(
                        signal,
                        "stopping: draining in-flight events (send again to exit at once)"
                    );
                } else {
                    tracing::warn!(signal, "second signal: exiting now without draining");
                    std::process::exit(EXIT_RUNTIME);
                }
            }
        })?;
    Ok((rx, (reload_tx, reload_rx)))
}
