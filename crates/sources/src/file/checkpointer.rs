//! Writing the source's acknowledged offsets to its checkpoint file, and
//! reading them back at start-up.
//!
//! Writes are group commits driven by acknowledgements: once an ack has come
//! back, the checkpoint is written within `checkpoint_interval` (100 ms by
//! default), or at once when `checkpoint_max_acks` acks are waiting, whichever
//! comes first. A crash therefore re-sends only what was acknowledged since the
//! last write (at most `checkpoint_max_acks` batches, or 100 ms of them) plus
//! what was in flight, instead of up to a second of data. Without acks the file
//! is refreshed at most once a second (other changes: files found, finished).
//! Nothing is written when nothing changed, and always at shutdown.
//!
//! A failed write is logged (rate-limited) and counted; the source keeps going
//! and tries again next time. An unreadable checkpoint is reported and the
//! previous good copy used ([`crate::checkpoint::load`]); if none is readable
//! the source starts without one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint::{self, FileCheckpoint, SourceCheckpoint};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// How often the checkpoint is refreshed when no acknowledgement asks for it
/// (a file found or finished changes it too).
const IDLE_REFRESH: Duration = Duration::from_secs(1);

/// A checkpoint is rewritten whole, so its cost grows with the files it
/// lists: the next group commit waits at least this many times as long as the
/// last write took (at most ~2% of a core spent checkpointing, whatever the
/// number of files; at 10,000 files a few hundred ms between commits rather
/// than 100 ms). Writes asked for directly (new identities, shutdown) are not
/// held back.
const COST_SPACING: u32 = 50;

/// When to write: the group-commit policy.
#[derive(Debug, Clone, Copy)]
pub struct CommitPolicy {
    /// Longest an acknowledgement waits to be written.
    pub max_delay: Duration,
    /// Write at once when this many acknowledgements wait.
    pub max_acks: usize,
}

/// Persists one source's checkpoint.
#[derive(Debug)]
pub struct Checkpointer {
    data_dir: PathBuf,
    source: Arc<str>,
    policy: CommitPolicy,
    /// The periodic refresh (no acks needed).
    next_due: Option<Instant>,
    /// Acknowledgements not written yet, and when the first of them came.
    pending_acks: usize,
    pending_since: Option<Instant>,
    last: Option<Vec<FileCheckpoint>>,
    log: RateLimiter,
    /// When the checkpoint on disk was last known to be current.
    current_since: Instant,
    /// When the last write was made and how long it took ([`COST_SPACING`]).
    last_write: Option<Instant>,
    cost: Duration,
}

impl Checkpointer {
    /// A checkpointer writing `DATA_DIR/checkpoints/SOURCE.json`.
    pub fn new(data_dir: PathBuf, source: Arc<str>, policy: CommitPolicy) -> Checkpointer {
        Checkpointer {
            data_dir,
            source,
            policy,
            next_due: None,
            pending_acks: 0,
            pending_since: None,
            last: None,
            log: RateLimiter::default(),
            current_since: Instant::now(),
            last_write: None,
            cost: Duration::ZERO,
        }
    }

    /// How long since the checkpoint on disk was last known to be current
    /// (written, or found equal to what would be written): the
    /// `source_checkpoint_age_seconds` gauge.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.current_since)
    }

    /// The entries saved by an earlier run (empty when there are none or none
    /// can be read; both are reported).
    pub fn load(&mut self) -> Vec<FileCheckpoint> {
        let source = self.source.clone();
        let loaded = checkpoint::load(&self.data_dir, &source, |e| {
            tracing::warn!(component = %source, error = %e, "checkpoint file unreadable; using the previous copy");
        });
        match loaded {
            Ok(Some(cp)) => {
                tracing::info!(component = %self.source, files = cp.files.len(), written_at = %cp.written_at, "resuming from checkpoint");
                self.last = Some(cp.files.clone());
                cp.files
            }
            Ok(None) => Vec::new(),
            Err(error) => {
                tracing::error!(component = %self.source, %error,
                    "no readable checkpoint (current and previous copies); starting without one");
                Vec::new()
            }
        }
    }

    /// Notes `n` acknowledgements that came back at `now` (they make a write
    /// due within the policy's delay).
    pub fn note_acks(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.pending_acks = self.pending_acks.saturating_add(n);
            self.pending_since.get_or_insert(now);
        }
    }

    /// True when a write is due: enough acks wait, the oldest has waited
    /// long enough, or the periodic refresh is due — and the last write's
    /// cost has been paid back (`COST_SPACING`).
    pub fn is_due(&self, now: Instant) -> bool {
        let wanted = self.pending_acks >= self.policy.max_acks
            || self.due_by_time().is_none_or(|d| now >= d);
        wanted && self.not_before().is_none_or(|t| now >= t)
    }

    /// When the next write is due (the earlier of the group commit's deadline
    /// and the periodic refresh, not before the last write's cost is paid).
    pub fn next_due(&self) -> Option<Instant> {
        self.due_by_time()
            .map(|d| self.not_before().map_or(d, |t| d.max(t)))
    }

    fn due_by_time(&self) -> Option<Instant> {
        let commit = self.pending_since.map(|t| t + self.policy.max_delay);
        match (commit, self.next_due) {
            (Some(c), Some(p)) => Some(c.min(p)),
            (c, p) => c.or(p),
        }
        .filter(|_| self.next_due.is_some())
    }

    fn not_before(&self) -> Option<Instant> {
        self.last_write.map(|t| t + self.cost * COST_SPACING)
    }

    /// Records how long building and writing the last checkpoint took (real
    /// time, whatever clock `now` is on), which spaces the next group commit.
    pub fn note_cost(&mut self, took: Duration) {
        self.cost = took;
    }

    /// Nothing changed since the last write: the checkpoint on disk is
    /// current, without building it again. False if none was written yet.
    pub fn unchanged(&mut self, now: Instant) -> bool {
        if self.last.is_none() {
            return false;
        }
        self.next_due = Some(now + IDLE_REFRESH.max(self.policy.max_delay));
        self.pending_acks = 0;
        self.pending_since = None;
        self.current_since = now;
        true
    }

    /// Writes `files` unless they equal what was last written. Returns whether
    /// the file is now up to date.
    pub fn write(
        &mut self,
        now: Instant,
        files: Vec<FileCheckpoint>,
        metrics: &ComponentMetrics,
    ) -> bool {
        self.next_due = Some(now + IDLE_REFRESH.max(self.policy.max_delay));
        self.pending_acks = 0;
        self.pending_since = None;
        self.last_write = Some(now);
        if self.last.as_ref() == Some(&files) {
            self.current_since = now;
            return true;
        }
        let cp = SourceCheckpoint {
            version: checkpoint::VERSION,
            source: self.source.to_string(),
            written_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            files,
        };
        match checkpoint::write(&self.data_dir, &cp) {
            Ok(()) => {
                self.last = Some(cp.files);
                self.current_since = now;
                true
            }
            Err(error) => {
                ComponentMetrics::add(&metrics.errors, 1);
                if let Some(suppressed) = self.log.check() {
                    tracing::error!(component = %self.source, %error, suppressed,
                        "cannot write checkpoint; will retry (lines after the last good checkpoint would be read again after a restart)");
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpointer(dir: &std::path::Path, max_acks: usize) -> Checkpointer {
        Checkpointer::new(
            dir.to_path_buf(),
            "t".into(),
            CommitPolicy {
                max_delay: Duration::from_millis(100),
                max_acks,
            },
        )
    }

    #[test]
    fn acks_make_a_write_due_after_the_delay_or_the_count_whichever_first() {
        let d = tempfile::tempdir().unwrap();
        let metrics = ComponentMetrics::default();
        let mut c = checkpointer(d.path(), 3);
        let t0 = Instant::now();
        assert!(c.is_due(t0), "the first write is due at once");
        assert!(c.write(t0, Vec::new(), &metrics));
        // Nothing acknowledged: only the idle refresh, a second later.
        assert!(!c.is_due(t0 + Duration::from_millis(500)));
        assert_eq!(c.next_due(), Some(t0 + IDLE_REFRESH));
        // One ack: due 100 ms after it, not before.
        let t1 = t0 + Duration::from_millis(10);
        c.note_acks(1, t1);
        assert_eq!(c.next_due(), Some(t1 + Duration::from_millis(100)));
        assert!(!c.is_due(t1 + Duration::from_millis(99)));
        assert!(c.is_due(t1 + Duration::from_millis(100)));
        // Later acks do not push the deadline back; the third makes it due now.
        c.note_acks(1, t1 + Duration::from_millis(50));
        assert_eq!(c.next_due(), Some(t1 + Duration::from_millis(100)));
        assert!(!c.is_due(t1 + Duration::from_millis(51)));
        c.note_acks(1, t1 + Duration::from_millis(52));
        assert!(c.is_due(t1 + Duration::from_millis(52)));
        // A write clears what was pending.
        let t2 = t1 + Duration::from_millis(52);
        assert!(c.write(t2, Vec::new(), &metrics));
        assert!(!c.is_due(t2 + Duration::from_millis(200)));
    }

    /// A checkpoint that took 10 ms to write (thousands of files) holds the
    /// next group commit back to 50 times that, acks or not.
    #[test]
    fn an_expensive_write_spaces_the_next_commit_by_its_cost() {
        let d = tempfile::tempdir().unwrap();
        let metrics = ComponentMetrics::default();
        let mut c = checkpointer(d.path(), 3);
        let t0 = Instant::now();
        assert!(c.write(t0, Vec::new(), &metrics));
        c.note_cost(Duration::from_millis(10));
        c.note_acks(5, t0 + Duration::from_millis(1));
        assert!(
            !c.is_due(t0 + Duration::from_millis(100)),
            "enough acks, but too soon"
        );
        assert_eq!(c.next_due(), Some(t0 + Duration::from_millis(500)));
        assert!(c.is_due(t0 + Duration::from_millis(500)));
        // A cheap write lets the policy's own delay rule again.
        let t1 = t0 + Duration::from_millis(500);
        assert!(c.write(t1, Vec::new(), &metrics));
        c.note_cost(Duration::from_micros(100));
        c.note_acks(1, t1);
        assert!(c.is_due(t1 + Duration::from_millis(100)));
    }
}
