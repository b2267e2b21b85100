//! Sending one request to Loki until it is taken, refused, or the sink gives up:
//! the retry classifier, the backoff, and the `/ready` health check.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};

use super::metrics::{LokiMetrics, PushOutcome};
use crate::net::backoff::{self, Backoff};
use crate::net::compress;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// The tenant header.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// Most bytes of an error answer kept for the log.
const MAX_REASON_BYTES: usize = 1024;

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Done: Loki took it.
    Delivered,
    /// Loki refused the entries for good (400, 413, 422): retrying the same
    /// request would get the same answer — and Loki may have stored the rest.
    Reject,
    /// Try again after a backoff.
    Retry,
}

/// Classifies an HTTP status as Loki uses them.
pub fn classify(status: u16) -> (Action, PushOutcome) {
    match status {
        200..=299 => (Action::Delivered, PushOutcome::Success),
        400 | 413 | 422 => (Action::Reject, PushOutcome::Rejected),
        429 => (Action::Retry, PushOutcome::RateLimited),
        500..=599 => (Action::Retry, PushOutcome::ServerError),
        // 401/403/404/408 and the rest: a gateway or config problem that a fix
        // on either side resolves; holding the data is better than losing it.
        _ => (Action::Retry, PushOutcome::ClientError),
    }
}

/// A ready-to-send request.
#[derive(Debug)]
pub struct PushJob {
    /// `X-Scope-OrgID`, if any.
    pub tenant: Option<HeaderValue>,
    /// The encoded body (protobuf or JSON), uncompressed.
    pub body: Vec<u8>,
    /// How to compress it before sending.
    pub encoding: BodyEncoding,
}

/// How a push body is compressed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// Sent as encoded (JSON).
    Identity,
    /// Snappy block format, no header: what Loki requires of protobuf pushes.
    Snappy,
    /// Gzip with `Content-Encoding: gzip` (JSON, `compression = "gzip"`).
    Gzip,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    /// Loki took it.
    Delivered {
        /// The body's size as sent.
        body_bytes: u64,
    },
    /// Loki refused it; the status and Loki's reason.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The start of the answer's body.
        reason: String,
    },
}

/// What every push shares.
#[derive(Debug)]
pub struct Shared {
    /// The HTTP client (default headers: auth, custom headers, user agent).
    pub http: reqwest::Client,
    /// `…/loki/api/v1/push`.
    pub push_url: reqwest::Url,
    /// `…/ready`.
    pub ready_url: reqwest::Url,
    /// `application/x-protobuf` or `application/json`.
    pub content_type: HeaderValue,
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Counters.
    pub metrics: Arc<LokiMetrics>,
    /// The component id, for logs.
    pub id: Arc<str>,
    /// Limits retry warnings.
    pub retry_log: RateLimiter,
}

/// Sends `job` until Loki takes or refuses it. Retries 429, 5xx, other 4xx and
/// transport errors forever, backing off; the sink aborts the task when the
/// drain time at shutdown runs out.
pub async fn push(shared: Arc<Shared>, job: PushJob) -> PushResult {
    let gzip = job.encoding == BodyEncoding::Gzip;
    let body = match job.encoding {
        BodyEncoding::Identity => Bytes::from(job.body),
        encoding => {
            let raw = job.body;
            let compressed = if encoding == BodyEncoding::Snappy {
                compress::off_runtime(move || compress::snappy(&raw).map_err(std::io::Error::other))
                    .await
            } else {
                compress::off_runtime(move || compress::gzip(&raw)).await
            };
            match compressed {
                Ok(Ok(b)) => b,
                // Only for bodies over snappy's ~4 GiB limit, which
                // batch.max_bytes rules out (or a failed worker); never send a
                // broken body.
                Ok(Err(e)) | Err(e) => {
                    return PushResult::Rejected {
                        status: 0,
                        reason: format!("cannot compress the request: {e}"),
                    };
                }
            }
        }
    };
    let body_bytes = body.len() as u64;
    let mut backoff = Backoff::jittered(shared.initial_backoff, shared.max_backoff);
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let mut req = shared
            .http
            .post(shared.push_url.clone())
            .header(CONTENT_TYPE, shared.content_type.clone())
            .body(body.clone());
        if gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(t) = &job.tenant {
            req = req.header(TENANT_HEADER, t.clone());
        }
        let (outcome, status, retry_after, detail) = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let (action, outcome) = classify(status);
                if action == Action::Delivered {
                    shared.metrics.push(outcome);
                    return PushResult::Delivered { body_bytes };
                }
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(backoff::parse_retry_after);
                let reason = read_reason(resp).await;
                if action == Action::Reject {
                    shared.metrics.push(outcome);
                    return PushResult::Rejected { status, reason };
                }
                (outcome, Some(status), retry_after, reason)
            }
            Err(e) => {
                let outcome = if e.is_timeout() {
                    PushOutcome::Timeout
                } else {
                    PushOutcome::TransportError
                };
                (outcome, None, None, error_chain(&e))
            }
        };
        shared.metrics.push(outcome);
        shared
            .metrics
            .retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let delay = backoff.next_delay_after(retry_after);
        if let Some(suppressed) = shared.retry_log.check() {
            tracing::warn!(
                component = %shared.id,
                status,
                outcome = outcome.name(),
                error = %detail,
                attempt,
                retry_in = ?delay,
                suppressed,
                "push to Loki failed; retrying (the pipeline waits meanwhile)"
            );
        }
        tokio::time::sleep(delay).await;
    }
}

/// The start of an error answer, as text on one line.
async fn read_reason(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_REASON_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_REASON_BYTES);
    String::from_utf8_lossy(&body)
        .trim()
        .replace(['\n', '\r'], " ")
}

pub use crate::net::error_chain;

/// Why `GET /ready` did not answer 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// The HTTP status, if there was an answer.
    pub status: Option<u16>,
    /// What went wrong, for the log.
    pub message: String,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One `GET /ready`: `Ok` on 2xx, else what went wrong.
pub async fn ready_once(shared: &Shared) -> Result<(), NotReady> {
    match shared.http.get(shared.ready_url.clone()).send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => {
            let status = resp.status();
            Err(NotReady {
                status: Some(status.as_u16()),
                message: format!(
                    "GET {} answered {status}: {}",
                    shared.ready_url,
                    read_reason(resp).await
                ),
            })
        }
        Err(e) => Err(NotReady {
            status: None,
            message: format!("GET {}: {}", shared.ready_url, error_chain(&e)),
        }),
    }
}

/// Checks `/ready` at start until Loki answers 200, logging failures (at a
/// limited rate) and backing off. Pushes do not wait for it: they retry on
/// their own; this only tells the operator early that Loki is unreachable.
pub async fn health_loop(shared: Arc<Shared>) {
    let mut backoff = Backoff::jittered(shared.initial_backoff, shared.max_backoff);
    let log = RateLimiter::new(Duration::from_secs(30));
    let mut failures = 0u64;
    loop {
        match ready_once(&shared).await {
            Ok(()) => {
                tracing::info!(component = %shared.id, url = %shared.ready_url, failures, "Loki is ready");
                return;
            }
            Err(error) if error.status == Some(404) => {
                // A gateway in front of Loki may not route /ready: nothing to wait for.
                tracing::info!(component = %shared.id, %error, "Loki endpoint has no /ready; skipping the health check");
                return;
            }
            Err(error) => {
                failures += 1;
                if let Some(suppressed) = log.check() {
                    tracing::warn!(component = %shared.id, %error, suppressed, "Loki health check failed; will retry (pushes retry on their own)");
                }
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_as_loki_uses_them() {
        assert_eq!(classify(204).0, Action::Delivered);
        assert_eq!(classify(200).0, Action::Delivered);
        assert_eq!(classify(400), (Action::Reject, PushOutcome::Rejected));
        assert_eq!(classify(413).0, Action::Reject);
        assert_eq!(classify(429), (Action::Retry, PushOutcome::RateLimited));
        assert_eq!(classify(500), (Action::Retry, PushOutcome::ServerError));
        assert_eq!(classify(503).0, Action::Retry);
        assert_eq!(classify(401), (Action::Retry, PushOutcome::ClientError));
        assert_eq!(classify(404).0, Action::Retry);
    }
}
