//! One rule for local writes (the stdout and file sinks), so both treat the
//! same error the same way:
//!
//! * the reader is gone (`EPIPE`, `ECONNRESET`: `logagent | head`, a FIFO whose
//!   reader exited) — permanent: the sink gives up at once, the batch is not
//!   acknowledged and the pipeline stops with exit 1; the next run reads the
//!   lines again;
//! * anything else (`ENOSPC` a full disk, `EIO`, `EDQUOT`, ...) — transient: the
//!   write is retried with backoff (100 ms doubling to 5 s) while the pipeline
//!   waits, every failure counted in `component_errors_total` and logged
//!   (rate-limited), until it succeeds or the drain time after a stop is over.

use std::time::Duration;

use super::net::Backoff;
use logagent_core::component::{SinkContext, SinkError};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// True for errors that no retry can cure: the reader of a pipe went away.
pub fn is_permanent(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
    )
}

/// Runs `op` until it succeeds, backing off from 100ms to 5s; gives up on a
/// permanent error (see [`is_permanent`]) or once the drain time is over.
pub fn retry<T>(
    ctx: &SinkContext,
    log: &RateLimiter,
    what: &str,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> Result<T, SinkError> {
    let mut backoff = Backoff::fixed(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(error) => {
                ComponentMetrics::add(&ctx.metrics.errors, 1);
                if is_permanent(&error) || ctx.shutdown.is_forced() {
                    return Err(SinkError::Io {
                        what: what.to_owned(),
                        error,
                    });
                }
                let delay = backoff.next_delay();
                if let Some(suppressed) = log.check() {
                    tracing::error!(component = %ctx.id, %error, suppressed, retry_in = ?delay, "{what} failed; holding the pipeline until it works");
                }
                // Not a test sleep: real backoff, cut short by a forced shutdown.
                let deadline = std::time::Instant::now() + delay;
                while std::time::Instant::now() < deadline && !ctx.shutdown.is_forced() {
                    std::thread::sleep(Duration::from_millis(20).min(delay));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_gone_reader_is_permanent_a_full_disk_is_not() {
        assert!(is_permanent(&Error::from(ErrorKind::BrokenPipe)));
        assert!(is_permanent(&Error::from_raw_os_error(32))); // EPIPE
        assert!(!is_permanent(&Error::from_raw_os_error(28))); // ENOSPC
        assert!(!is_permanent(&Error::from(ErrorKind::Interrupted)));
    }
}
