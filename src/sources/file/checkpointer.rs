//! Writing the source's acknowledged offsets to its checkpoint file, and
//! reading them back at start-up.
//!
//! Writes happen every `checkpoint_interval` when something changed, and at
//! shutdown. A failed write is logged (rate-limited) and counted; the source
//! keeps going and tries again next time. An unreadable checkpoint is reported
//! and the previous good copy used ([`crate::checkpoint::load`]); if none is
//! readable the source starts without one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint::{self, FileCheckpoint, SourceCheckpoint};
use crate::telemetry::metrics::ComponentMetrics;
use crate::telemetry::ratelimit::RateLimiter;

/// Persists one source's checkpoint.
#[derive(Debug)]
pub struct Checkpointer {
    data_dir: PathBuf,
    source: Arc<str>,
    interval: Duration,
    next_due: Option<Instant>,
    last: Option<Vec<FileCheckpoint>>,
    log: RateLimiter,
    /// When the checkpoint on disk was last known to be current.
    current_since: Instant,
}

impl Checkpointer {
    /// A checkpointer writing `DATA_DIR/checkpoints/SOURCE.json`.
    pub fn new(data_dir: PathBuf, source: Arc<str>, interval: Duration) -> Checkpointer {
        Checkpointer {
            data_dir,
            source,
            interval,
            next_due: None,
            last: None,
            log: RateLimiter::default(),
            current_since: Instant::now(),
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

    /// True when the interval has passed since the last write.
    pub fn is_due(&self, now: Instant) -> bool {
        self.next_due.is_none_or(|d| now >= d)
    }

    /// When the next periodic write is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.next_due
    }

    /// Nothing changed since the last write: the checkpoint on disk is
    /// current, without building it again. False if none was written yet.
    pub fn unchanged(&mut self, now: Instant) -> bool {
        if self.last.is_none() {
            return false;
        }
        self.next_due = Some(now + self.interval);
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
        self.next_due = Some(now + self.interval);
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
