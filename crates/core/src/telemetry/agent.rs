//! The agent's own series, beside the components': `build_info`,
//! `uptime_seconds`, `config_reloads_total{result}` and
//! `config_last_reload_success_timestamp_seconds` — what a Prometheus user
//! expects of any exporter, to tell versions apart, see restarts and alert on
//! a reload that failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The names of these series; `log_to_metric` may not define them.
pub const NAMES: &[&str] = &[
    "build_info",
    "uptime_seconds",
    "config_reloads_total",
    "config_last_reload_success_timestamp_seconds",
];

/// What the agent reports about itself; shared by the reloader (which counts)
/// and the metrics endpoint (which reads at scrape time).
#[derive(Debug)]
pub struct AgentStatus {
    started: Instant,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Seconds since the epoch of the start or the last good reload, as `f64` bits.
    last_success: AtomicU64,
}

impl Default for AgentStatus {
    fn default() -> AgentStatus {
        AgentStatus {
            started: Instant::now(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_success: AtomicU64::new(epoch_seconds().to_bits()),
        }
    }
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl AgentStatus {
    /// Counts a reload: a good one also moves the last-success time.
    pub fn reloaded(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Ordering::Relaxed);
            self.last_success
                .store(epoch_seconds().to_bits(), Ordering::Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reloads so far: (succeeded, failed).
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    /// Seconds since the agent started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// When the configuration last loaded well (the start, or a reload), in
    /// seconds since the epoch.
    pub fn last_success_seconds(&self) -> f64 {
        f64::from_bits(self.last_success.load(Ordering::Relaxed))
    }
}
