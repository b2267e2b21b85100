//! Health checks declared by the sinks that talk to servers: `logagent
//! validate` runs each once and the running agent every few seconds
//! (`/health`, readiness). The application asks each sink config for its check
//! ([`SinkComponent::health_check`](super::SinkComponent::health_check)) and
//! knows no sink types.

use std::time::Duration;

/// What one run of a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Facts worth showing (`http://es:9200/: Elasticsearch 8.13.0`).
    pub info: Vec<String>,
    /// Problems that do not fail the check (an old server version).
    pub warnings: Vec<String>,
    /// Why the check failed (one line per endpoint); empty when it passed.
    pub failures: Vec<String>,
}

impl HealthReport {
    /// The verdict for `/health`: `Err` with every reason while it fails.
    pub fn verdict(&self) -> Result<(), HealthFailure> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(HealthFailure(self.failures.clone()))
        }
    }
}

/// A failed health check, with one reason per endpoint; `/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("health check failed: {}", .0.join("; "))]
pub struct HealthFailure(pub Vec<String>);

/// A sink's check of its server, run on a plain thread (it may block for up
/// to `limit` per endpoint).
pub trait HealthCheck: Send + Sync {
    /// Runs the check once, each request within `limit`.
    fn check(&self, limit: Duration) -> HealthReport;

    /// How `logagent validate` words a failure line (after `sinks.ID: `).
    fn describe_failure(&self, failure: &str) -> String {
        failure.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fails_with_every_reason() {
        assert_eq!(HealthReport::default().verdict(), Ok(()));
        let r = HealthReport {
            failures: vec!["a: down".into(), "b: 503".into()],
            ..HealthReport::default()
        };
        assert_eq!(
            r.verdict().map_err(|e| e.to_string()),
            Err("health check failed: a: down; b: 503".into())
        );
    }
}
