//! The `rotate` and `retain` commands: load the jobs, decide what protects the
//! files, take the lock, run every job, and return the report.
//!
//! Which agent protects the files, in order:
//! 1. `--data-dir DIR` (or `LOGAGENT_DATA_DIR`);
//! 2. the pipeline given with `--config` (its `data_dir`, or the agent's default
//!    when it sets none — that is where that agent keeps its checkpoints), or a
//!    `data_dir` key in a maintenance file;
//! 3. the default data directory, if it holds checkpoints (an agent runs here).
//!
//! With none of these there is no agent to ask: the jobs run *unprotected*, like
//! logrotate and `find -delete`, and every report says so loudly. Refusing would
//! make `logagent rotate` useless on hosts without an agent; pretending would be
//! worse. Give the pipeline file too (`--config pipeline.toml --config
//! rotate.toml`) so files the agent tails but has not checkpointed yet are
//! protected as well; with checkpoints alone, only files named by a checkpoint are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{self, Loaded};
use super::guard::Guard;
use super::progress::Progress;
use super::report::Report;
use super::state::{self, Lock, State, StateError};
use super::{retain, rotate};
use crate::config::{ConfigErrors, DEFAULT_DATA_DIR};
use crate::time::Clock;

/// How a command was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Maintenance and/or pipeline files.
    pub configs: Vec<PathBuf>,
    /// Only print the plan.
    pub dry_run: bool,
    /// `rotate`: rotate whatever the triggers say.
    pub force: bool,
    /// The agent's data directory (overrides the pipeline's).
    pub data_dir: Option<PathBuf>,
    /// `rotate`: the state file (default `DATA_DIR/rotate.state.json`).
    pub state: Option<PathBuf>,
    /// Show a progress bar if stderr is a terminal.
    pub progress: bool,
    /// How often waits for the agent re-read its checkpoints.
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            configs: Vec::new(),
            dry_run: false,
            force: false,
            data_dir: None,
            state: None,
            progress: false,
            poll: Duration::from_millis(100),
        }
    }
}

/// Why a command could not run at all (per-file problems are in the report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(ConfigErrors),
    /// The lock or the state file.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The data directory that protects the files, and why (for the report).
fn data_dir(loaded: &Loaded, flag: Option<&Path>, warnings: &mut Vec<String>) -> Option<PathBuf> {
    if let Some(d) = flag {
        return Some(d.to_path_buf());
    }
    if let Some(d) = &loaded.data_dir {
        return Some(d.clone());
    }
    let default = Path::new(DEFAULT_DATA_DIR);
    if crate::checkpoint::dir(default).is_dir() {
        warnings.push(format!(
            "no data_dir given; using the agent checkpoints found in {DEFAULT_DATA_DIR}"
        ));
        return Some(default.to_path_buf());
    }
    warnings.push(
        "UNPROTECTED: no agent data_dir given (--data-dir, or the agent's pipeline with --config) and none found: \
         files are rotated and deleted without checking what a log agent has shipped"
            .to_owned(),
    );
    None
}

fn setup(opts: &Options, command: &'static str) -> Result<(Loaded, Guard, Report), RunError> {
    let loaded = config::load(&opts.configs).map_err(RunError::Config)?;
    let mut report = Report::new(command, opts.dry_run);
    let dir = data_dir(&loaded, opts.data_dir.as_deref(), &mut report.warnings);
    let guard = match &dir {
        Some(d) => {
            if !crate::checkpoint::dir(d).is_dir() {
                report.warnings.push(format!(
                    "{} has no checkpoints: {}",
                    d.display(),
                    if loaded.sources.is_empty() {
                        "no file is known to be tailed (give the agent's pipeline with --config to protect the files it reads)"
                    } else {
                        "every file the pipeline's sources match is treated as unshipped"
                    }
                ));
            }
            Guard::new(d, &loaded.sources)
        }
        None => Guard::off(),
    };
    report.data_dir = dir;
    report.protected = guard.is_on();
    Ok((loaded, guard, report))
}

/// `logagent rotate`.
pub fn rotate(opts: &Options, clock: &dyn Clock) -> Result<Report, RunError> {
    let (loaded, mut guard, mut report) = setup(opts, "rotate")?;
    if loaded.jobs.rotate.is_empty() {
        report
            .warnings
            .push("no [[rotate]] jobs in the given files".into());
        return Ok(report);
    }
    let state_path = opts.state.clone().unwrap_or_else(|| {
        report
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
            .join("rotate.state.json")
    });
    let _lock = if opts.dry_run {
        None
    } else {
        Some(Lock::acquire(&state::lock_path(&state_path))?)
    };
    let mut state = State::load(&state_path)?;
    let mut progress = if opts.progress && !opts.dry_run {
        Progress::new(true)
    } else {
        Progress::hidden()
    };
    for job in &loaded.jobs.rotate {
        let mut ctx = rotate::Context {
            clock,
            guard: &mut guard,
            state: &mut state,
            dry_run: opts.dry_run,
            force: opts.force,
            progress: &mut progress,
            poll: opts.poll,
        };
        rotate::run_job(job, &mut ctx, &mut report);
    }
    progress.finish();
    report.warnings.extend(guard.take_warnings());
    if !opts.dry_run {
        state.save()?;
    }
    Ok(report)
}

/// `logagent retain`.
pub fn retain(opts: &Options, clock: &dyn Clock) -> Result<Report, RunError> {
    let (loaded, mut guard, mut report) = setup(opts, "retain")?;
    if loaded.jobs.retain.is_empty() {
        report
            .warnings
            .push("no [[retain]] jobs in the given files".into());
        return Ok(report);
    }
    let _lock = if opts.dry_run {
        None
    } else {
        let path = match &report.data_dir {
            Some(d) => d.join("retain.lock"),
            None => std::env::temp_dir().join("logagent-retain.lock"),
        };
        Some(Lock::acquire(&path)?)
    };
    let mut progress = if opts.progress && !opts.dry_run {
        Progress::new(true)
    } else {
        Progress::hidden()
    };
    for job in &loaded.jobs.retain {
        let mut ctx = retain::Context {
            clock,
            guard: &mut guard,
            dry_run: opts.dry_run,
            progress: &mut progress,
        };
        retain::run_job(job, &mut ctx, &mut report);
    }
    progress.finish();
    report.warnings.extend(guard.take_warnings());
    Ok(report)
}
