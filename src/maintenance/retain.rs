//! `logagent retain`: clean-up by policy over one directory per `[[retain]]` job
//! (the seeds' `find DIR -name PATTERN -mtime +30 -delete`, and backups kept
//! 7 daily / 4 weekly / 12 monthly / 5 yearly).
//!
//! Only plain files whose name (or relative path) matches the pattern are
//! considered; symlinks are never followed, neither to files nor into
//! directories; a file is deleted only if it is still, at that moment, the same
//! plain file inside the configured directory — and the guard allows it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::config::{DateFrom, Job, RetainConfig};
use super::dates::{DateFormat, find_date_in_name};
use super::fsops::{self, Identity, Removed};
use super::guard::{Guard, Verdict};
use super::policy::{self, Candidate, Policy};
use super::progress::Progress;
use super::report::{Action, Kind, Report, Status};
use crate::time::Clock;

/// What a retain run works with.
#[derive(Debug)]
pub struct Context<'a> {
    /// Where "now" comes from.
    pub clock: &'a dyn Clock,
    /// What the agent has shipped.
    pub guard: &'a mut Guard,
    /// Only plan.
    pub dry_run: bool,
    /// The progress bar.
    pub progress: &'a mut Progress,
}

/// Deepest directory level searched below `directory`.
const MAX_DEPTH: usize = 64;

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// A file the job's pattern matched.
#[derive(Debug)]
struct Found {
    path: PathBuf,
    rel: String,
    meta: fs::Metadata,
}

/// Runs (or plans) one job, recording every deletion (or hold) in `report`.
pub fn run_job(job: &Job<RetainConfig>, ctx: &mut Context<'_>, report: &mut Report) {
    let cfg = &job.config;
    let name = job.name.as_str();
    let root = PathBuf::from(&cfg.directory);
    let root_real = match fs::canonicalize(&root) {
        Ok(r) if r.is_dir() => r,
        Ok(_) => {
            report.push(fail(name, &root, "not a directory"));
            return;
        }
        Err(e) => {
            report.push(fail(name, &root, format!("cannot open the directory: {e}")));
            return;
        }
    };
    let pattern = match glob::Pattern::new(&cfg.pattern) {
        Ok(p) => p,
        Err(e) => {
            report.push(fail(name, &root, format!("invalid pattern: {e}")));
            return;
        }
    };
    let mut found = Vec::new();
    walk(&root, "", 0, cfg, &pattern, &mut found, name, report);
    ctx.guard.reload();
    let now = ctx.clock.now();
    let format = cfg
        .date_format
        .as_deref()
        .and_then(|f| DateFormat::parse(f).ok());
    let mut candidates = Vec::new();
    let mut files = Vec::new();
    for f in found {
        let file_name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mtime = f.meta.modified().unwrap_or(now);
        let Some(time) = file_time(cfg, format.as_ref(), &file_name, mtime) else {
            report.push(
                Action::planned(
                    name,
                    Kind::Skip,
                    &f.path,
                    "no date in its name (date_from = \"name\")",
                )
                .status(Status::Skipped),
            );
            continue;
        };
        candidates.push(Candidate {
            name: f.rel.clone(),
            time,
            size: f.meta.len(),
        });
        files.push(f);
    }
    report.summary.files += files.len() as u64;
    let selected = policy::select(
        &candidates,
        &Policy {
            max_age: cfg.max_age.map(|d| d.0),
            keep_last: cfg.keep_last,
            max_total_size: cfg.max_total_size.map(|s| s.0),
            gfs: cfg.gfs,
            zone: cfg.timezone.clone(),
        },
        now,
    );
    let bytes = selected.iter().map(|s| candidates[s.index].size).sum();
    ctx.progress.start(name, selected.len() as u64, bytes);
    for s in selected {
        let f = &files[s.index];
        let mut action =
            Action::planned(name, Kind::Delete, &f.path, s.reason.to_string()).bytes(f.meta.len());
        let verdict = if ctx.dry_run {
            ctx.guard.check(&f.path, &f.meta)
        } else {
            // Re-read: the agent may have moved on since the listing.
            ctx.guard.check_path(&f.path)
        };
        if let Verdict::Unshipped(why) = verdict {
            action.detail = format!("{}; not shipped: {why}", s.reason);
            report.push(action.status(Status::Held));
            ctx.progress.file_done(0);
            continue;
        }
        if !ctx.dry_run {
            action = delete(&f.path, &f.meta, &root_real, action);
        }
        ctx.progress.file_done(action.bytes);
        report.push(action);
    }
}

fn fail(job: &str, path: &Path, why: impl Into<String>) -> Action {
    Action::planned(job, Kind::Delete, path, why).status(Status::Failed)
}

/// Lists matching plain files under `dir`, never through symlinks.
#[allow(clippy::too_many_arguments)]
fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    cfg: &RetainConfig,
    pattern: &glob::Pattern,
    out: &mut Vec<Found>,
    job: &str,
    report: &mut Report,
) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report.push(fail(job, dir, format!("cannot list: {e}")));
            return;
        }
    };
    let by_path = cfg.pattern.contains('/');
    let mut sorted: Vec<_> = entries.filter_map(Result::ok).collect();
    sorted.sort_by_key(|e| e.file_name());
    for entry in sorted {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if kind.is_dir() {
            if cfg.walks_subdirectories() && depth < MAX_DEPTH {
                walk(
                    &entry.path(),
                    &rel,
                    depth + 1,
                    cfg,
                    pattern,
                    out,
                    job,
                    report,
                );
            }
        } else if kind.is_file() {
            let matched = if by_path {
                pattern.matches_with(&rel, MATCH)
            } else {
                pattern.matches_with(&name, MATCH)
            };
            if matched {
                // DirEntry::metadata does not follow symlinks.
                if let Ok(meta) = entry.metadata() {
                    out.push(Found {
                        path: entry.path(),
                        rel,
                        meta,
                    });
                }
            }
        }
    }
}

/// Deletes `path` if it is still the listed plain file and still inside `root`.
fn delete(path: &Path, listed: &fs::Metadata, root: &Path, mut action: Action) -> Action {
    let inside = path
        .parent()
        .and_then(|p| fs::canonicalize(p).ok())
        .is_some_and(|p| p.starts_with(root));
    if !inside {
        action.detail = format!(
            "no longer inside {} (a directory was replaced by a symlink?); left alone",
            root.display()
        );
        return action.status(Status::Skipped);
    }
    match fsops::remove_if_same(path, Identity::of(listed)) {
        Ok(Removed::Deleted(n)) => {
            action.bytes = n;
            action.status(Status::Done)
        }
        Ok(Removed::Gone) => {
            action.detail = "already gone".into();
            action.bytes = 0;
            action.status(Status::Skipped)
        }
        Ok(Removed::Changed) => {
            action.detail = "replaced since it was listed; left alone".into();
            action.bytes = 0;
            action.status(Status::Skipped)
        }
        Err(e) => {
            action.detail = e.to_string();
            action.status(Status::Failed)
        }
    }
}

/// The date `retain` gives a file: the date in its name when the job reads names
/// (`format`, else the usual spellings), else its modification time; `None` when
/// `date_from = "name"` and the name has no date.
pub fn file_time(
    cfg: &RetainConfig,
    format: Option<&DateFormat>,
    name: &str,
    mtime: SystemTime,
) -> Option<SystemTime> {
    let from_name = || {
        match format {
            Some(f) => f.find_in(name),
            None => find_date_in_name(name),
        }
        .and_then(|d| cfg.timezone.instant(d))
    };
    match cfg.date_from {
        DateFrom::Mtime => Some(mtime),
        DateFrom::Auto => Some(from_name().unwrap_or(mtime)),
        DateFrom::Name => from_name(),
    }
}

#[cfg(test)]
mod tests;
