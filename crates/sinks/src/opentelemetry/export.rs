//! Sending one export request until the server takes it, refuses it, or the
//! sink gives up — the retry rules of OTLP/HTTP: 429, 502, 503 and 504 (and
//! no answer at all) are retried after a backoff that honours `Retry-After`;
//! every other non-2xx status is final and the records are dropped (counted,
//! logged); a 2xx answer may still report records it refused
//! (`partial_success`), which are counted and logged, not retried.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};

use super::config::OtlpEncoding;
use super::metrics::{OtlpMetrics, RequestOutcome};
use crate::net::backoff::{self, Backoff};
use crate::net::{Endpoints, compress};
use logagent_codecs::otlp::{self, ExportLogsServiceResponse, Status};
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Most bytes of an answer read (a partial success or an error message).
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Longest error text kept for the log.
const MAX_REASON_CHARS: usize = 1024;

/// What to do after an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// 2xx: taken (perhaps partly).
    Delivered,
    /// Retry after a backoff (and `Retry-After`).
    Retry(RequestOutcome),
    /// Final: OTLP says not to retry; the records are dropped.
    Drop,
}

/// Classifies a status as the OTLP/HTTP spec does.
pub fn classify(status: u16) -> Action {
    match status {
        200..=299 => Action::Delivered,
        429 => Action::Retry(RequestOutcome::RateLimited),
        502..=504 => Action::Retry(RequestOutcome::Unavailable),
        _ => Action::Drop,
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportResult {
    /// 2xx.
    Delivered {
        /// The body's size as sent.
        body_bytes: u64,
        /// Records the server said it refused (`rejected_log_records`).
        rejected: u64,
        /// The server's message (a partial success's reason, or a warning).
        message: String,
    },
    /// A final refusal; every record of the request is dropped.
    Dropped {
        /// The HTTP status (0: the request could not be made at all).
        status: u16,
        /// Why, from the answer.
        reason: String,
    },
}

/// What every export shares.
#[derive(Debug)]
pub struct Shared {
    /// The HTTP client (default headers: auth, custom headers, user agent).
    pub http: reqwest::Client,
    /// The export URLs, with failover.
    pub urls: Endpoints<reqwest::Url>,
    /// The body's encoding.
    pub encoding: OtlpEncoding,
    /// Gzip bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Longest retry delay (and cap on `Retry-After`).
    pub max_backoff: Duration,
    /// Counters.
    pub metrics: Arc<OtlpMetrics>,
    /// The component id, for logs.
    pub id: Arc<str>,
    /// Limits retry warnings.
    pub retry_log: RateLimiter,
}

impl Shared {
    fn content_type(&self) -> HeaderValue {
        HeaderValue::from_static(match self.encoding {
            OtlpEncoding::Protobuf => otlp::CONTENT_TYPE_PROTOBUF,
            OtlpEncoding::Json => otlp::CONTENT_TYPE_JSON,
        })
    }

    fn post(&self, url: &reqwest::Url, body: Bytes) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, self.content_type())
            .body(body);
        if self.gzip {
            req = req.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        req
    }
}

/// Sends `body` (uncompressed) until the server takes or refuses it; retries
/// forever otherwise, backing off — the sink aborts the task when the drain
/// time at shutdown runs out.
pub async fn export(shared: Arc<Shared>, body: Vec<u8>) -> ExportResult {
    let body = if shared.gzip {
        match compress::off_runtime(move || compress::gzip(&body)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) | Err(e) => {
                return ExportResult::Dropped {
                    status: 0,
                    reason: format!("cannot compress the request: {e}"),
                };
            }
        }
    } else {
        Bytes::from(body)
    };
    let body_bytes = body.len() as u64;
    let mut backoff = Backoff::jittered(shared.initial_backoff, shared.max_backoff);
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let node = shared.urls.pick();
        let Some(url) = shared.urls.get(node) else {
            return ExportResult::Dropped {
                status: 0,
                reason: "no endpoint configured".into(),
            };
        };
        let (outcome, status, retry_after, detail) =
            match shared.post(url, body.clone()).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let action = classify(status);
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(backoff::parse_retry_after);
                    let kind = AnswerKind::of(&resp);
                    let answer = read_answer(resp).await;
                    match action {
                        Action::Delivered => {
                            shared.urls.mark_ok(node);
                            let (rejected, message) = partial_success(&answer, kind, &shared);
                            shared.metrics.request(if rejected > 0 {
                                RequestOutcome::PartialSuccess
                            } else {
                                RequestOutcome::Success
                            });
                            return ExportResult::Delivered {
                                body_bytes,
                                rejected,
                                message,
                            };
                        }
                        Action::Drop => {
                            shared.metrics.request(RequestOutcome::Rejected);
                            return ExportResult::Dropped {
                                status,
                                reason: reason(&answer, kind),
                            };
                        }
                        Action::Retry(outcome) => {
                            (outcome, Some(status), retry_after, reason(&answer, kind))
                        }
                    }
                }
                Err(e) => {
                    let outcome = if e.is_timeout() {
                        RequestOutcome::Timeout
                    } else {
                        RequestOutcome::TransportError
                    };
                    (outcome, None, None, crate::net::error_chain(&e))
                }
            };
        shared.urls.mark_failed(node);
        shared.metrics.request(outcome);
        shared
            .metrics
            .retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let delay = backoff.next_delay_after(retry_after);
        if let Some(suppressed) = shared.retry_log.check() {
            tracing::warn!(
                component = %shared.id,
                url = %url,
                status,
                outcome = outcome.name(),
                error = %detail,
                attempt,
                retry_in = ?delay,
                suppressed,
                "OTLP export failed; retrying (the pipeline waits meanwhile)"
            );
        }
        tokio::time::sleep(delay).await;
    }
}

/// The start of an answer's body.
async fn read_answer(mut resp: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_ANSWER_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ANSWER_BYTES);
    body
}

/// How an answer's body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    /// `application/json`.
    Json,
    /// `application/x-protobuf` (or `application/protobuf`).
    Protobuf,
    /// Anything else, or no content type.
    Other,
}

impl AnswerKind {
    fn of(resp: &reqwest::Response) -> AnswerKind {
        match resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(v) if v.starts_with("application/json") => AnswerKind::Json,
            Some(v) if v.contains("protobuf") => AnswerKind::Protobuf,
            _ => AnswerKind::Other,
        }
    }
}

/// `rejected_log_records` and the message of a 2xx answer. An answer that
/// cannot be read counts as full success (the server did say 2xx), with a
/// warning.
fn partial_success(answer: &[u8], kind: AnswerKind, shared: &Shared) -> (u64, String) {
    if answer.trim_ascii().is_empty() {
        return (0, String::new());
    }
    let json = match kind {
        AnswerKind::Json => true,
        AnswerKind::Protobuf => false,
        // No content type: the server answers in the request's encoding.
        AnswerKind::Other => shared.encoding == OtlpEncoding::Json,
    };
    let parsed = if json {
        otlp::json::parse_response(answer).map_err(|e| e.to_string())
    } else {
        ExportLogsServiceResponse::decode(answer)
            .map(|r| r.partial_success)
            .map_err(|e| format!("not an ExportLogsServiceResponse: {e}"))
    };
    match parsed {
        Ok(Some(p)) => (p.rejected_log_records.max(0) as u64, p.error_message),
        Ok(None) => (0, String::new()),
        Err(e) => {
            tracing::warn!(component = %shared.id, error = %e, "OTLP server answered 2xx with a body that is not an export response; counting the request as delivered");
            (0, String::new())
        }
    }
}

/// An error answer as one line: a protobuf `google.rpc.Status`'s message, or the text.
fn reason(answer: &[u8], kind: AnswerKind) -> String {
    let status = (kind == AnswerKind::Protobuf)
        .then(|| Status::decode(answer).ok())
        .flatten()
        .filter(|s| !s.message.is_empty());
    let text = match status {
        Some(s) => s.message,
        None => String::from_utf8_lossy(answer).into_owned(),
    };
    let one_line = text.trim().replace(['\n', '\r'], " ");
    one_line.chars().take(MAX_REASON_CHARS).collect()
}

/// One empty export request (a valid OTLP request with no records) to node
/// `i`: `Ok` on 2xx, else what went wrong.
pub async fn probe(shared: &Shared, i: usize) -> Result<(), String> {
    let Some(url) = shared.urls.get(i) else {
        return Err("no endpoint".into());
    };
    let body = match shared.encoding {
        OtlpEncoding::Protobuf => Bytes::new(),
        OtlpEncoding::Json => Bytes::from_static(b"{\"resourceLogs\":[]}"),
    };
    let body = if shared.gzip {
        compress::gzip(&body).map_err(|e| e.to_string())?
    } else {
        body
    };
    match shared.post(url, body).send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => {
            let status = resp.status();
            let kind = AnswerKind::of(&resp);
            let answer = read_answer(resp).await;
            Err(format!(
                "POST {url} (an empty export request) answered {status}: {}",
                reason(&answer, kind)
            ))
        }
        Err(e) => Err(format!("POST {url}: {}", crate::net::error_chain(&e))),
    }
}

/// Probes every endpoint at start until each answers 2xx, logging failures
/// (at a limited rate) and backing off. Exports do not wait for it: they
/// retry on their own; this only tells the operator early.
pub async fn health_loop(shared: Arc<Shared>) {
    let log = RateLimiter::new(Duration::from_secs(30));
    for i in 0..shared.urls.len() {
        let mut backoff = Backoff::jittered(shared.initial_backoff, shared.max_backoff);
        let mut failures = 0u64;
        loop {
            match probe(&shared, i).await {
                Ok(()) => {
                    tracing::info!(component = %shared.id, url = ?shared.urls.get(i).map(|u| u.as_str()), failures, "OTLP endpoint takes exports");
                    break;
                }
                Err(error) => {
                    failures += 1;
                    if let Some(suppressed) = log.check() {
                        tracing::warn!(component = %shared.id, %error, suppressed, "OTLP health check failed; will retry (exports retry on their own)");
                    }
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_as_the_otlp_spec_says() {
        assert_eq!(classify(200), Action::Delivered);
        assert_eq!(classify(202), Action::Delivered);
        assert_eq!(classify(429), Action::Retry(RequestOutcome::RateLimited));
        for s in [502, 503, 504] {
            assert_eq!(classify(s), Action::Retry(RequestOutcome::Unavailable));
        }
        for s in [400, 401, 403, 404, 413, 500, 501] {
            assert_eq!(classify(s), Action::Drop, "{s}");
        }
    }

    #[test]
    fn error_answers_become_one_line() {
        let status = Status {
            code: 3,
            message: "bad\nrecord".into(),
        };
        assert_eq!(
            reason(&status.encode_to_vec(), AnswerKind::Protobuf),
            "bad record"
        );
        assert_eq!(reason(b"bad request\n", AnswerKind::Other), "bad request");
        assert_eq!(
            reason(&[b'a'; 5000], AnswerKind::Json).len(),
            MAX_REASON_CHARS
        );
    }
}
