//! What a run planned and did: one [`Action`] per step, a [`Summary`], the text
//! forms (`--dry-run` plans, the one-line summary) and the `--json` report.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Rename a rotated version up by one (numbered naming).
    Shift,
    /// Rename the live file to its newest version (`method = "rename"`).
    Rotate,
    /// Create the new, empty live file.
    Create,
    /// Copy the live file, then truncate it.
    Copytruncate,
    /// Copy the live file.
    Copy,
    /// Run the `postrotate` command.
    Postrotate,
    /// Gzip a version and delete the uncompressed one.
    Compress,
    /// Delete a file.
    Delete,
    /// A live file not rotated this time.
    Skip,
}

impl Kind {
    fn verb(self) -> &'static str {
        match self {
            Kind::Shift => "shift",
            Kind::Rotate => "rotate",
            Kind::Create => "create",
            Kind::Copytruncate => "copytruncate",
            Kind::Copy => "copy",
            Kind::Postrotate => "postrotate",
            Kind::Compress => "compress",
            Kind::Delete => "delete",
            Kind::Skip => "skip",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Planned (`--dry-run`), or not run because an earlier step failed.
    Planned,
    /// Done.
    Done,
    /// Not done: the agent has not shipped the file (it is left as it is).
    Held,
    /// Not done, by choice (not due, nothing to do, changed since planned).
    Skipped,
    /// Failed.
    Failed,
}

/// One step of a plan or a run.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    /// The job's name.
    pub job: String,
    /// What the step does.
    pub kind: Kind,
    /// The file it acts on (for `postrotate`, the command).
    pub path: PathBuf,
    /// The destination of a rename, copy or compression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<PathBuf>,
    /// How it ended.
    pub status: Status,
    /// Why: the trigger, the policy reason, what the guard said, or the error.
    pub detail: String,
    /// Bytes involved: the file's size (freed, for deletes).
    pub bytes: u64,
    /// copytruncate only: microseconds between the last size check and the
    /// truncation, when lines written would be lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_us: Option<u64>,
}

impl Action {
    /// A planned step.
    pub fn planned(
        job: &str,
        kind: Kind,
        path: impl Into<PathBuf>,
        detail: impl Into<String>,
    ) -> Action {
        Action {
            job: job.to_owned(),
            kind,
            path: path.into(),
            to: None,
            status: Status::Planned,
            detail: detail.into(),
            bytes: 0,
            window_us: None,
        }
    }

    /// With a destination.
    pub fn to(mut self, to: impl Into<PathBuf>) -> Action {
        self.to = Some(to.into());
        self
    }

    /// With a byte count.
    pub fn bytes(mut self, n: u64) -> Action {
        self.bytes = n;
        self
    }

    /// With a status.
    pub fn status(mut self, s: Status) -> Action {
        self.status = s;
        self
    }

    /// One line of text: `job: verb path -> to (detail)`, prefixed by the status
    /// when it is not the expected one.
    pub fn line(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{}: ", self.job);
        match self.status {
            Status::Held => s.push_str("HOLD "),
            Status::Failed => s.push_str("FAILED "),
            Status::Skipped if self.kind != Kind::Skip => s.push_str("skipped "),
            _ => {}
        }
        let _ = write!(s, "{} {}", self.kind.verb(), self.path.display());
        if let Some(to) = &self.to {
            let _ = write!(s, " -> {}", to.display());
        }
        if !self.detail.is_empty() {
            let _ = write!(s, " ({})", self.detail);
        }
        s
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Live files (rotate) or candidate files (retain) looked at.
    pub files: u64,
    /// Files rotated.
    pub rotated: u64,
    /// Versions compressed.
    pub compressed: u64,
    /// Files deleted.
    pub deleted: u64,
    /// Bytes freed by deletes and compression.
    pub freed_bytes: u64,
    /// Steps held because the agent has not shipped the file.
    pub held: u64,
    /// Steps that failed.
    pub errors: u64,
}

/// The whole report of one command.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `rotate` or `retain`.
    pub command: &'static str,
    /// Whether this was a `--dry-run`.
    pub dry_run: bool,
    /// The agent data directory whose checkpoints protected the files, if any.
    pub data_dir: Option<PathBuf>,
    /// Whether the guard was on.
    pub protected: bool,
    /// Every step, in order.
    pub actions: Vec<Action>,
    /// Totals.
    pub summary: Summary,
    /// Warnings (unprotected run, checkpoint problems).
    pub warnings: Vec<String>,
}

impl Report {
    /// An empty report.
    pub fn new(command: &'static str, dry_run: bool) -> Report {
        Report {
            command,
            dry_run,
            data_dir: None,
            protected: false,
            actions: Vec::new(),
            summary: Summary::default(),
            warnings: Vec::new(),
        }
    }

    /// Records a finished (or planned) step and counts it.
    pub fn push(&mut self, action: Action) {
        let s = &mut self.summary;
        match action.status {
            Status::Held => s.held += 1,
            Status::Failed => s.errors += 1,
            Status::Done => match action.kind {
                Kind::Rotate | Kind::Copytruncate | Kind::Copy => s.rotated += 1,
                Kind::Compress => {
                    s.compressed += 1;
                    s.freed_bytes += action.bytes;
                }
                Kind::Delete => {
                    s.deleted += 1;
                    s.freed_bytes += action.bytes;
                }
                _ => {}
            },
            Status::Planned | Status::Skipped => {}
        }
        self.actions.push(action);
    }

    /// The one summary line printed at the end of a run.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let dry = self.dry_run;
        let (verb, rotated, deleted, compressed, freed) = if dry {
            let planned = |kinds: &[Kind]| self.count_planned(kinds);
            let freed = self
                .actions
                .iter()
                .filter(|a| a.kind == Kind::Delete && a.status == Status::Planned)
                .map(|a| a.bytes)
                .sum();
            (
                "would ",
                planned(&[Kind::Rotate, Kind::Copy, Kind::Copytruncate]),
                planned(&[Kind::Delete]),
                planned(&[Kind::Compress]),
                freed,
            )
        } else {
            ("", s.rotated, s.deleted, s.compressed, s.freed_bytes)
        };
        let head = match self.command {
            "rotate" => format!("{} file(s) checked; {verb}rotate {rotated}, ", s.files),
            _ => format!("{} file(s) matched; ", s.files),
        };
        format!(
            "{}: {head}{verb}delete {deleted} ({} freed), {verb}compress {compressed}, held {} unshipped, {} error(s){}",
            self.command,
            human_bytes(freed),
            s.held,
            s.errors,
            if self.protected {
                ""
            } else {
                " [UNPROTECTED: no agent checkpoints consulted]"
            }
        )
    }

    fn count_planned(&self, kinds: &[Kind]) -> u64 {
        self.actions
            .iter()
            .filter(|a| a.status == Status::Planned && kinds.contains(&a.kind))
            .count() as u64
    }

    /// The plan or outcome, one line per step (for `--dry-run`).
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for a in &self.actions {
            out.push_str(&a.line());
            out.push('\n');
        }
        out
    }
}

/// `1.5MiB`-style sizes for people.
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n}B");
    }
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1}{}", units[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary() {
        let mut r = Report::new("retain", false);
        r.protected = true;
        r.push(
            Action::planned("logs", Kind::Delete, "/x/a.log.1", "older than 30d")
                .bytes(2048)
                .status(Status::Done),
        );
        r.push(
            Action::planned("logs", Kind::Delete, "/x/a.log.2", "not shipped")
                .bytes(10)
                .status(Status::Held),
        );
        assert_eq!(
            r.actions[1].line(),
            "logs: HOLD delete /x/a.log.2 (not shipped)"
        );
        assert_eq!(r.summary.deleted, 1);
        assert_eq!(r.summary.freed_bytes, 2048);
        assert_eq!(r.summary.held, 1);
        r.summary.files = 2;
        assert_eq!(
            r.summary_line(),
            "retain: 2 file(s) matched; delete 1 (2.0KiB freed), compress 0, held 1 unshipped, 0 error(s)"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["actions"][1]["status"], "held");
        assert_eq!(json["summary"]["freed_bytes"], 2048);
        assert_eq!(human_bytes(5 << 20), "5.0MiB");
    }
}
