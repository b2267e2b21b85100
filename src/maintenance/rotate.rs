//! `logagent rotate`: logrotate's useful semantics, one `[[rotate]]` job at a time.
//!
//! For each live file of a job: decide whether it is due ([`due`]), shift the
//! numbered versions up, rotate it (rename + create, copytruncate or copy), record
//! it in the state file; then run `postrotate` once for the job; then, for every
//! file, compress versions and delete those beyond `keep` / `max_age`. Every
//! delete, truncate and compression first asks the [`Guard`]; a file the agent
//! has not shipped is held (left as it is) and reported.
//!
//! Renames never replace an existing file (a replaced file would be a delete the
//! guard never saw). A failure on one file is reported and the others go on.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::compress;
use super::config::{InvalidMode, Job, Method, Naming, RotateConfig};
use super::fsops::{self, Attributes, Identity, Removed};
use super::guard::{Guard, Verdict};
use super::naming::{Namer, Version};
use super::policy::{self, Candidate, Policy};
use super::progress::Progress;
use super::report::{Action, Kind, Report, Status};
use super::state::State;
use crate::config::ByteSize;
use crate::time::Clock;

/// What a rotate run works with.
#[derive(Debug)]
pub struct Context<'a> {
    /// Where "now" comes from.
    pub clock: &'a dyn Clock,
    /// What the agent has shipped.
    pub guard: &'a mut Guard,
    /// When files were last rotated.
    pub state: &'a mut State,
    /// Only plan.
    pub dry_run: bool,
    /// Rotate every file whatever its triggers say (not empty ones with `if_empty = false`).
    pub force: bool,
    /// The progress bar.
    pub progress: &'a mut Progress,
    /// How often waits re-read the checkpoints.
    pub poll: Duration,
}

/// What is known about a live file for [`due`].
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// Its size.
    pub size: u64,
    /// Its modification time.
    pub mtime: SystemTime,
    /// Its creation time, where the filesystem records one.
    pub born: Option<SystemTime>,
}

/// Whether a file is rotated now, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Rotate it.
    Yes(String),
    /// Leave it.
    No(String),
    /// Never seen and its age is unknown: the period starts now (as logrotate does).
    FirstSeen,
}

/// Decides whether a file is due, from the job's triggers (logrotate's rules):
/// `size` alone decides when set; otherwise `max_size` rotates early and
/// `frequency` rotates when the period of the last rotation (or, for a file never
/// rotated, of its creation) is over, unless it is smaller than `min_size`.
pub fn due(
    cfg: &RotateConfig,
    f: &Facts,
    last: Option<SystemTime>,
    now: SystemTime,
    force: bool,
) -> Due {
    if f.size == 0 && !cfg.rotates_empty() {
        return Due::No("empty (if_empty = false)".into());
    }
    if force {
        return Due::Yes("--force".into());
    }
    if let Some(min_age) = cfg.min_age {
        let age = now.duration_since(f.mtime).unwrap_or_default();
        if age < min_age.0 {
            return Due::No(format!(
                "modified {} ago, less than min_age {}",
                policy::human_duration(Duration::from_secs(age.as_secs())),
                policy::human_duration(min_age.0)
            ));
        }
    }
    if let Some(size) = cfg.size {
        return if f.size >= size.0 {
            Due::Yes(format!("size {} >= {}", ByteSize(f.size), size))
        } else {
            Due::No(format!("size {} < {}", ByteSize(f.size), size))
        };
    }
    if let Some(max) = cfg.max_size
        && f.size >= max.0
    {
        return Due::Yes(format!("size {} >= max_size {}", ByteSize(f.size), max));
    }
    let Some(period) = cfg.frequency else {
        return Due::No(format!("size {} below max_size", ByteSize(f.size)));
    };
    let zone = &cfg.timezone;
    let (since, what) = match (last, f.born) {
        (Some(t), _) => (t, "last rotated"),
        (None, Some(b)) => (b, "created"),
        (None, None) => return Due::FirstSeen,
    };
    let stamp = zone.naive(since).format("%Y-%m-%d %H:%M");
    if now <= since || period.key(zone.naive(now)) == period.key(zone.naive(since)) {
        return Due::No(format!(
            "{} period not over ({what} {stamp})",
            period.name()
        ));
    }
    if let Some(min) = cfg.min_size
        && f.size < min.0
    {
        return Due::No(format!(
            "{} period over but size {} < min_size {}",
            period.name(),
            ByteSize(f.size),
            min
        ));
    }
    Due::Yes(format!("{} period over ({what} {stamp})", period.name()))
}

/// The live files of a job: plain files matching its globs, without the ones
/// that are themselves rotated versions of another match (`*.log*` would match
/// `app.log.1`) or gzip archives. Patterns matching nothing are errors unless
/// `missing_ok`.
pub fn live_files(job: &Job<RotateConfig>, report: &mut Report) -> Vec<PathBuf> {
    let cfg = &job.config;
    let mut found = Vec::new();
    for pattern in &cfg.paths {
        let mut matched = 0;
        match glob::glob(pattern) {
            Ok(paths) => {
                for p in paths.flatten() {
                    match fs::symlink_metadata(&p) {
                        Ok(m) if m.file_type().is_file() => {
                            matched += 1;
                            found.push(p);
                        }
                        Ok(m) if m.file_type().is_symlink() => report.push(
                            Action::planned(
                                &job.name,
                                Kind::Skip,
                                &p,
                                "a symlink; rotate its target instead",
                            )
                            .status(Status::Skipped),
                        ),
                        _ => {}
                    }
                }
            }
            Err(e) => report.push(
                Action::planned(&job.name, Kind::Skip, pattern, format!("invalid glob: {e}"))
                    .status(Status::Failed),
            ),
        }
        if matched == 0 && !cfg.missing_ok {
            report.push(
                Action::planned(
                    &job.name,
                    Kind::Skip,
                    pattern,
                    "no file matches (set missing_ok = true if that is expected)",
                )
                .status(Status::Failed),
            );
        }
    }
    found.sort();
    found.dedup();
    let namers: Vec<Option<Namer>> = found.iter().map(|p| Namer::new(p, cfg).ok()).collect();
    let mut keep = Vec::new();
    for (i, p) in found.iter().enumerate() {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let version_of = found.iter().enumerate().find(|(j, other)| {
            *j != i
                && other.parent() == p.parent()
                && namers[*j]
                    .as_ref()
                    .is_some_and(|n| n.is_version_name(&name))
        });
        if let Some((_, other)) = version_of {
            report.push(
                Action::planned(
                    &job.name,
                    Kind::Skip,
                    p,
                    format!("a rotated version of {}", other.display()),
                )
                .status(Status::Skipped),
            );
        } else if name.ends_with(".gz") {
            report.push(
                Action::planned(&job.name, Kind::Skip, p, "already compressed")
                    .status(Status::Skipped),
            );
        } else {
            keep.push(p.clone());
        }
    }
    keep
}

/// Runs (or, with `dry_run`, plans) one job, recording every step in `report`.
pub fn run_job(job: &Job<RotateConfig>, ctx: &mut Context<'_>, report: &mut Report) {
    let cfg = &job.config;
    let files = live_files(job, report);
    let total_bytes = files
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    ctx.progress
        .start(&job.name, files.len() as u64, total_bytes);
    ctx.guard.reload();
    let now = ctx.clock.now();
    let mut rotated_paths = Vec::new();
    let mut to_clean: Vec<ToClean> = Vec::new();
    for live in files {
        report.summary.files += 1;
        let meta = match fs::symlink_metadata(&live) {
            Ok(m) => m,
            Err(e) => {
                report.push(fail(&job.name, Kind::Skip, &live, e));
                continue;
            }
        };
        let namer = match Namer::new(&live, cfg) {
            Ok(n) => n,
            Err(e) => {
                report.push(fail(&job.name, Kind::Skip, &live, e));
                continue;
            }
        };
        let facts = Facts {
            size: meta.len(),
            mtime: meta.modified().unwrap_or(now),
            born: meta.created().ok(),
        };
        match due(cfg, &facts, ctx.state.last_rotated(&live), now, ctx.force) {
            Due::Yes(reason) => {
                match rotate_file(job, &live, &meta, &namer, &reason, now, ctx, report) {
                    Ok(Some(Rotated { fresh, simulated })) => {
                        rotated_paths.push(fresh.path.clone());
                        to_clean.push(ToClean {
                            namer,
                            fresh: Some(fresh),
                            simulated,
                            size: meta.len(),
                            live: live.clone(),
                        });
                    }
                    Ok(None) => to_clean.push(ToClean::unrotated(namer, meta.len(), &live)),
                    Err(()) => ctx.progress.file_done(meta.len()),
                }
            }
            Due::No(reason) => {
                report.push(
                    Action::planned(&job.name, Kind::Skip, &live, reason).status(Status::Skipped),
                );
                to_clean.push(ToClean::unrotated(namer, meta.len(), &live));
            }
            Due::FirstSeen => {
                if !ctx.dry_run {
                    ctx.state.set_rotated(&live, now);
                }
                report.push(
                    Action::planned(
                        &job.name,
                        Kind::Skip,
                        &live,
                        "first seen and its creation time is unknown: its period starts now",
                    )
                    .status(Status::Skipped),
                );
                to_clean.push(ToClean::unrotated(namer, meta.len(), &live));
            }
        }
    }
    if let (Some(cmd), false) = (&cfg.postrotate, rotated_paths.is_empty()) {
        let mut action = Action::planned(
            &job.name,
            Kind::Postrotate,
            cmd,
            format!("{} file(s)", rotated_paths.len()),
        );
        if !ctx.dry_run {
            action = match run_postrotate(cmd, &rotated_paths, cfg.postrotate_timeout.0) {
                Ok(()) => action.status(Status::Done),
                Err(e) => {
                    action.detail = e.to_string();
                    action.status(Status::Failed)
                }
            };
        }
        report.push(action);
    }
    for t in to_clean {
        clean_versions(
            job,
            &t.live,
            &t.namer,
            t.fresh.as_ref(),
            t.simulated,
            now,
            ctx,
            report,
        );
        // A file counts as done once its versions are compressed and expired too.
        ctx.progress.file_done(t.size);
    }
}

/// A rotation done (or planned).
struct Rotated {
    /// The version it made.
    fresh: Version,
    /// In a dry run, the versions as they would be afterwards.
    simulated: Option<Vec<Version>>,
}

/// A live file whose versions are cleaned after `postrotate`.
struct ToClean {
    namer: Namer,
    fresh: Option<Version>,
    simulated: Option<Vec<Version>>,
    /// The live file's size, for the progress bar.
    size: u64,
    /// The live file: every version had its name once (the guard asks the
    /// sources reading that name too).
    live: PathBuf,
}

impl ToClean {
    fn unrotated(namer: Namer, size: u64, live: &Path) -> ToClean {
        ToClean {
            live: live.to_path_buf(),
            namer,
            fresh: None,
            simulated: None,
            size,
        }
    }
}

fn fail(job: &str, kind: Kind, path: &Path, e: impl std::fmt::Display) -> Action {
    Action::planned(job, kind, path, e.to_string()).status(Status::Failed)
}

/// Rotates one file. Returns the version it made (and, in a dry run, the versions
/// as they would be afterwards), `None` when the rotation was held, `Err` when it
/// failed (already reported).
#[allow(clippy::too_many_arguments)]
fn rotate_file(
    job: &Job<RotateConfig>,
    live: &Path,
    meta: &fs::Metadata,
    namer: &Namer,
    reason: &str,
    now: SystemTime,
    ctx: &mut Context<'_>,
    report: &mut Report,
) -> Result<Option<Rotated>, ()> {
    let cfg = &job.config;
    let name = job.name.as_str();
    let dir = namer.dir().to_path_buf();
    if !dir.exists() {
        if ctx.dry_run {
            report.push(Action::planned(
                name,
                Kind::Create,
                &dir,
                "olddir (directory)",
            ));
        } else if let Err(e) = fs::create_dir_all(&dir) {
            report.push(fail(
                name,
                Kind::Create,
                &dir,
                format!("cannot create olddir: {e}"),
            ));
            return Err(());
        }
    }
    if cfg.method == Method::Rename && cfg.olddir.is_some() && dir.exists() {
        let parent = live.parent().unwrap_or(Path::new("."));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if !fsops::same_filesystem(parent, &dir).unwrap_or(false) {
            report.push(fail(
                name,
                Kind::Rotate,
                live,
                format!(
                    "olddir {} is on another filesystem; a rename cannot move the file there",
                    dir.display()
                ),
            ));
            return Err(());
        }
    }
    let versions = match namer.versions() {
        Ok(v) => v,
        Err(e) => {
            report.push(fail(
                name,
                Kind::Rotate,
                live,
                format!("cannot list {}: {e}", dir.display()),
            ));
            return Err(());
        }
    };
    let target = match cfg.naming {
        Naming::Numbered => namer.numbered(1, false),
        Naming::Date => namer.dated(cfg.timezone.naive(now)),
    };
    if cfg.naming == Naming::Date {
        let gz = compress::gz_name(&target);
        if let Some(existing) = [&target, &gz]
            .into_iter()
            .find(|p| fs::symlink_metadata(p).is_ok())
        {
            report.push(fail(
                name,
                Kind::Rotate,
                live,
                format!(
                    "{} exists: already rotated this period (use a finer date_format to rotate more often)",
                    existing.display()
                ),
            ));
            return Err(());
        }
    }
    let attrs = match new_file_attributes(cfg, meta) {
        Ok(a) => a,
        Err(e) => {
            report.push(fail(name, Kind::Create, live, e));
            return Err(());
        }
    };
    // copytruncate truncates the live file: wait for the agent first, before
    // anything is renamed, so a held file leaves no trace.
    let deadline = Instant::now() + cfg.agent_wait.0;
    let mut wait_note = String::new();
    if cfg.method == Method::Copytruncate {
        if ctx.dry_run {
            if let Verdict::Unshipped(why) = ctx.guard.check(live, meta) {
                wait_note = format!(
                    "; waits up to {} for the agent: {why}",
                    policy::human_duration(cfg.agent_wait.0)
                );
            }
        } else if let Verdict::Unshipped(why) = ctx.guard.wait_shipped(live, deadline, ctx.poll) {
            report.push(
                Action::planned(
                    name,
                    Kind::Copytruncate,
                    live,
                    format!("{reason}; not truncated: {why}"),
                )
                .to(&target)
                .bytes(meta.len())
                .status(Status::Held),
            );
            return Ok(None);
        }
    }
    // Numbered: shift every version up by one, highest first.
    if cfg.naming == Naming::Numbered {
        for v in versions.iter().rev() {
            let Some(index) = v.index else { continue };
            let to = namer.numbered(index + 1, v.compressed);
            let mut action = Action::planned(name, Kind::Shift, &v.path, "")
                .to(&to)
                .bytes(v.size);
            if !ctx.dry_run {
                match fsops::rename_noreplace(&v.path, &to) {
                    Ok(()) => action = action.status(Status::Done),
                    Err(e) => {
                        action.detail = e.to_string();
                        report.push(action.status(Status::Failed));
                        return Err(());
                    }
                }
            }
            report.push(action);
        }
    }
    let size = meta.len();
    match cfg.method {
        Method::Rename => {
            let mut action = Action::planned(name, Kind::Rotate, live, reason)
                .to(&target)
                .bytes(size);
            if !ctx.dry_run {
                if let Err(e) = fsops::rename_noreplace(live, &target) {
                    action.detail = format!("{reason}: {e}");
                    report.push(action.status(Status::Failed));
                    return Err(());
                }
                action = action.status(Status::Done);
            }
            report.push(action);
            if cfg.create {
                let mut action = Action::planned(name, Kind::Create, live, attrs.describe());
                if !ctx.dry_run {
                    action = match fsops::create_with(live, attrs) {
                        Ok(_) => action.status(Status::Done),
                        // A writer that opens by name may have re-created it already.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            action.detail = "the writer already re-created it".into();
                            action.status(Status::Skipped)
                        }
                        Err(e) => {
                            action.detail = e.to_string();
                            action.status(Status::Failed)
                        }
                    };
                }
                report.push(action);
            }
        }
        Method::Copy => {
            let mut action = Action::planned(name, Kind::Copy, live, reason)
                .to(&target)
                .bytes(size);
            if !ctx.dry_run {
                match copy_file(live, &target) {
                    Ok(n) => {
                        action.bytes = n;
                        action = action.status(Status::Done);
                    }
                    Err(e) => {
                        action.detail = format!("{reason}: {e}");
                        report.push(action.status(Status::Failed));
                        return Err(());
                    }
                }
            }
            report.push(action);
        }
        Method::Copytruncate => {
            let mut action = Action::planned(
                name,
                Kind::Copytruncate,
                live,
                format!("{reason}{wait_note}"),
            )
            .to(&target)
            .bytes(size);
            if !ctx.dry_run {
                match copytruncate(live, &target, ctx.guard, deadline, ctx.poll) {
                    Ok(CopyTruncate::Done { bytes, window }) => {
                        action.bytes = bytes;
                        action.window_us = Some(window.as_micros() as u64);
                        action = action.status(Status::Done);
                    }
                    Ok(CopyTruncate::Held(why)) => {
                        action.detail = format!("{reason}; not truncated: {why}");
                        report.push(action.status(Status::Held));
                        return Ok(None);
                    }
                    Err(e) => {
                        action.detail = format!("{reason}: {e}");
                        report.push(action.status(Status::Failed));
                        return Err(());
                    }
                }
            }
            report.push(action);
        }
    }
    if !ctx.dry_run {
        ctx.state.set_rotated(live, now);
        let fresh = match fs::symlink_metadata(&target) {
            Ok(m) => fresh_version(&target, &target, &m, now),
            Err(_) => fresh_version(&target, &target, meta, now),
        };
        return Ok(Some(Rotated {
            fresh,
            simulated: None,
        }));
    }
    Ok(Some(Rotated {
        fresh: fresh_version(&target, live, meta, now),
        simulated: Some(simulate(&versions, namer, &target, live, meta, now, cfg)),
    }))
}

fn fresh_version(path: &Path, on_disk: &Path, meta: &fs::Metadata, now: SystemTime) -> Version {
    Version {
        path: path.to_path_buf(),
        on_disk: on_disk.to_path_buf(),
        born: meta.created().ok(),
        index: Some(1),
        date: None,
        compressed: false,
        size: meta.len(),
        mtime: meta.modified().unwrap_or(now),
        identity: Identity::of(meta),
    }
}

/// The versions as a rotation would leave them (for dry runs).
fn simulate(
    before: &[Version],
    namer: &Namer,
    target: &Path,
    live: &Path,
    live_meta: &fs::Metadata,
    now: SystemTime,
    cfg: &RotateConfig,
) -> Vec<Version> {
    let mut fresh = fresh_version(target, live, live_meta, now);
    fresh.date = Some(cfg.timezone.naive(now));
    let mut out = vec![fresh];
    for v in before {
        let mut v = v.clone();
        if let (Naming::Numbered, Some(i)) = (cfg.naming, v.index) {
            v.index = Some(i + 1);
            v.path = namer.numbered(i + 1, v.compressed);
        }
        out.push(v);
    }
    out
}

/// Why the new live file's mode or owner cannot be set as configured.
#[derive(Debug, thiserror::Error)]
enum AttributesError {
    /// `mode` is not octal (checked at load time, so not expected here).
    #[error(transparent)]
    Mode(#[from] InvalidMode),
    /// `owner` names no user.
    #[error("owner: {0}")]
    Owner(std::io::Error),
    /// `group` names no group.
    #[error("group: {0}")]
    Group(std::io::Error),
}

fn new_file_attributes(
    cfg: &RotateConfig,
    meta: &fs::Metadata,
) -> Result<Attributes, AttributesError> {
    let mode = cfg.mode_bits()?;
    let uid = cfg
        .owner
        .as_deref()
        .map(fsops::resolve_user)
        .transpose()
        .map_err(AttributesError::Owner)?;
    let gid = cfg
        .group
        .as_deref()
        .map(fsops::resolve_group)
        .transpose()
        .map_err(AttributesError::Group)?;
    Ok(Attributes { mode, uid, gid }.or(Attributes::of(meta)))
}

fn copy_file(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut src = fs::File::open(from)?;
    let meta = src.metadata()?;
    let mut dst = fsops::create_with(to, Attributes::of(&meta))?;
    let n = fsops::copy_range(&mut src, &mut dst, 0, u64::MAX)?;
    dst.sync_all()?;
    Ok(n)
}

/// How a copytruncate ended.
#[derive(Debug)]
pub enum CopyTruncate {
    /// Copied and truncated. `window` is the time between the last size check and
    /// the end of the truncation: lines written in it are lost.
    Done {
        /// Bytes copied.
        bytes: u64,
        /// The loss window.
        window: Duration,
    },
    /// Not truncated (the copy is removed); why.
    Held(String),
}

/// Copies `live` to `to`, waits (until `deadline`) for the agent to have
/// acknowledged the file to its end, then truncates it.
///
/// The copy is made durable (fsync) before anything is truncated. Growth while
/// waiting is copied too. The truncation happens right after a size check that
/// found nothing new; only lines written between that check and the truncation
/// are lost — the unavoidable copytruncate window, measured and returned. If the
/// agent has not caught up (or the writer never pauses) by the deadline, nothing
/// is truncated and the copy is removed.
pub fn copytruncate(
    live: &Path,
    to: &Path,
    guard: &mut Guard,
    deadline: Instant,
    poll: Duration,
) -> Result<CopyTruncate, std::io::Error> {
    let mut file = OpenOptions::new().read(true).write(true).open(live)?;
    let meta = file.metadata()?;
    let mut copy = fsops::create_with(to, Attributes::of(&meta))?;
    let abandon = |why: String| {
        let _ = fs::remove_file(to);
        Ok(CopyTruncate::Held(why))
    };
    let mut copied = fsops::copy_range(&mut file, &mut copy, 0, meta.len())?;
    copy.sync_data()?;
    loop {
        let size = file.metadata()?.len();
        if size < copied {
            // Someone else truncated it: the copy holds data the file no longer has.
            return Err(std::io::Error::other(format!(
                "{} shrank from {copied} to {size} bytes while being copied (truncated by someone else?); the copy {} is kept",
                live.display(),
                to.display()
            )));
        }
        if size > copied {
            copied += fsops::copy_range(&mut file, &mut copy, copied, size)?;
            if Instant::now() >= deadline {
                return abandon(
                    "the writer never paused long enough to truncate without losing lines".into(),
                );
            }
            continue;
        }
        if guard.is_on() {
            let verdict = guard.check(live, &file.metadata()?);
            if let Verdict::Unshipped(why) = verdict {
                if Instant::now() >= deadline {
                    return abandon(why);
                }
                std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
                guard.reload();
                continue;
            }
        }
        let started = Instant::now();
        if file.metadata()?.len() != copied {
            continue;
        }
        file.set_len(0)?;
        let window = started.elapsed();
        copy.sync_all()?;
        return Ok(CopyTruncate::Done {
            bytes: copied,
            window,
        });
    }
}

/// Runs `postrotate` with `sh -c`, the rotated files as `$1…`; its output goes to
/// stderr (stdout is for the report). Killed after `timeout`.
/// How a `postrotate` command failed.
#[derive(Debug, thiserror::Error)]
enum PostrotateError {
    /// `sh` could not be started.
    #[error("cannot run sh: {0}")]
    Spawn(std::io::Error),
    /// It exited unsuccessfully.
    #[error("postrotate failed: {0}")]
    Failed(std::process::ExitStatus),
    /// It ran past `postrotate_timeout` and was killed.
    #[error("postrotate did not finish within {}; killed", policy::human_duration(*.0))]
    Timeout(Duration),
    /// Waiting for it failed.
    #[error("waiting for postrotate: {0}")]
    Wait(std::io::Error),
}

fn run_postrotate(cmd: &str, files: &[PathBuf], timeout: Duration) -> Result<(), PostrotateError> {
    use std::os::fd::AsFd;
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .arg("logagent-postrotate")
        .args(files)
        .stdin(Stdio::null())
        .stdout(stdout)
        .spawn()
        .map_err(PostrotateError::Spawn)?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(PostrotateError::Failed(status)),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PostrotateError::Timeout(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(PostrotateError::Wait(e)),
        }
    }
}

/// Deletes the versions `keep` and `max_age` no longer allow and compresses the
/// rest (all but the newest with `delay_compress`), each after asking the guard.
#[allow(clippy::too_many_arguments)]
fn clean_versions(
    job: &Job<RotateConfig>,
    live: &Path,
    namer: &Namer,
    fresh: Option<&Version>,
    simulated: Option<Vec<Version>>,
    now: SystemTime,
    ctx: &mut Context<'_>,
    report: &mut Report,
) {
    let cfg = &job.config;
    let name = job.name.as_str();
    let versions = match simulated {
        Some(v) => v,
        None => match namer.versions() {
            Ok(v) => v,
            Err(e) => {
                report.push(fail(
                    name,
                    Kind::Delete,
                    namer.dir(),
                    format!("cannot list versions: {e}"),
                ));
                return;
            }
        },
    };
    if versions.is_empty() {
        return;
    }
    let candidates: Vec<Candidate> = versions
        .iter()
        .map(|v| Candidate {
            name: v.path.to_string_lossy().into_owned(),
            time: v
                .date
                .filter(|_| cfg.naming == Naming::Date)
                .and_then(|d| cfg.timezone.instant(d))
                .unwrap_or(v.mtime),
            size: v.size,
        })
        .collect();
    // Versions come newest first (by number or by the date in the name).
    let order: Vec<usize> = (0..candidates.len()).collect();
    let selected = policy::select_in_order(
        &candidates,
        &order,
        &Policy {
            max_age: cfg.max_age.map(|d| d.0),
            keep_last: Some(cfg.keep),
            max_total_size: None,
            gfs: None,
            zone: cfg.timezone.clone(),
        },
        now,
    );
    let doomed: HashSet<usize> = selected.iter().map(|s| s.index).collect();
    let is_fresh = |v: &Version| fresh.is_some_and(|f| f.path == v.path);
    // In a dry run versions are not where the plan puts them yet: ask about the
    // file where it is now. Dry and real runs ask the same question: every
    // version was the live file once, so sources reading the live name count.
    let verdict_now = |guard: &Guard, v: &Version| -> Verdict {
        guard.check_version(&v.on_disk, live, v.identity, v.size, v.born, Some(v.mtime))
    };
    for s in &selected {
        let v = &versions[s.index];
        let mut action =
            Action::planned(name, Kind::Delete, &v.path, s.reason.to_string()).bytes(v.size);
        let verdict = if ctx.dry_run {
            verdict_now(ctx.guard, v)
        } else if is_fresh(v) {
            ctx.guard
                .wait_shipped_as(&v.path, live, Instant::now() + cfg.agent_wait.0, ctx.poll)
        } else {
            ctx.guard.check_path_as(&v.path, live)
        };
        if let Verdict::Unshipped(why) = verdict {
            action.detail = format!("{}; not shipped: {why}", s.reason);
            report.push(action.status(Status::Held));
            continue;
        }
        if !ctx.dry_run {
            action = match fsops::remove_if_same(&v.path, v.identity) {
                Ok(Removed::Deleted(n)) => {
                    action.bytes = n;
                    action.status(Status::Done)
                }
                Ok(Removed::Gone) => {
                    action.detail = "already gone".into();
                    action.status(Status::Skipped)
                }
                Ok(Removed::Changed) => {
                    action.detail = "replaced since it was listed; left alone".into();
                    action.status(Status::Skipped)
                }
                Err(e) => {
                    action.detail = e.to_string();
                    action.status(Status::Failed)
                }
            };
        }
        report.push(action);
    }
    if !cfg.compress {
        return;
    }
    for (i, v) in versions.iter().enumerate() {
        if v.compressed || doomed.contains(&i) || (cfg.delay_compress && i == 0) {
            continue;
        }
        let to = compress::gz_name(&v.path);
        let detail = format!("gzip level {}", cfg.compress_level);
        let mut action = Action::planned(name, Kind::Compress, &v.path, detail).to(&to);
        if fs::symlink_metadata(&to).is_ok() {
            action.detail = format!("{} already exists", to.display());
            report.push(action.status(Status::Failed));
            continue;
        }
        let verdict = if ctx.dry_run {
            verdict_now(ctx.guard, v)
        } else if is_fresh(v) {
            ctx.guard
                .wait_shipped_as(&v.path, live, Instant::now() + cfg.agent_wait.0, ctx.poll)
        } else {
            ctx.guard.check_path_as(&v.path, live)
        };
        if let Verdict::Unshipped(why) = verdict {
            if ctx.dry_run && is_fresh(v) {
                action.detail = format!(
                    "{}; waits up to {} for the agent: {why}",
                    action.detail,
                    policy::human_duration(cfg.agent_wait.0)
                );
                report.push(action);
            } else {
                action.detail = format!("{}; not shipped: {why}", action.detail);
                report.push(action.status(Status::Held));
            }
            continue;
        }
        if !ctx.dry_run {
            action = compress_version(v, live, &to, cfg.compress_level, ctx.guard, action);
        }
        report.push(action);
    }
}

/// Gzips one version, then deletes the original if it did not change meanwhile
/// and the guard still allows it.
fn compress_version(
    v: &Version,
    live: &Path,
    to: &Path,
    level: u32,
    guard: &Guard,
    mut action: Action,
) -> Action {
    let before = match fs::symlink_metadata(&v.path) {
        Ok(m) => m,
        Err(e) => {
            action.detail = e.to_string();
            return action.status(Status::Failed);
        }
    };
    let gz_size = match compress::gzip_file(&v.path, to, level, None) {
        Ok(n) => n,
        Err(e) => {
            action.detail = e.to_string();
            return action.status(Status::Failed);
        }
    };
    let after = fs::symlink_metadata(&v.path);
    let unchanged = after.as_ref().is_ok_and(|a| {
        Identity::of(a) == Identity::of(&before)
            && a.len() == before.len()
            && a.modified().ok() == before.modified().ok()
    });
    if !unchanged {
        let _ = fs::remove_file(to);
        action.detail = "changed while being compressed: a writer still has it open (use delay_compress, or a postrotate that makes the writer reopen)".into();
        return action.status(Status::Held);
    }
    if let Verdict::Unshipped(why) = guard.check_path_as(&v.path, live) {
        let _ = fs::remove_file(to);
        action.detail = format!("not shipped: {why}");
        return action.status(Status::Held);
    }
    match fsops::remove_if_same(&v.path, Identity::of(&before)) {
        Ok(Removed::Deleted(n)) => {
            action.bytes = n.saturating_sub(gz_size);
            action.detail = format!("{} -> {}", ByteSize(n), ByteSize(gz_size));
            action.status(Status::Done)
        }
        Ok(_) => {
            let _ = fs::remove_file(to);
            action.detail = "replaced while being compressed; left alone".into();
            action.status(Status::Skipped)
        }
        Err(e) => {
            action.detail = format!("compressed, but the original could not be removed: {e}");
            action.status(Status::Failed)
        }
    }
}

#[cfg(test)]
mod tests;
