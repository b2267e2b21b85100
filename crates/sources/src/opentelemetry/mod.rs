//! `type = "opentelemetry"`: an OTLP/HTTP logs receiver. Applications
//! instrumented with an OpenTelemetry SDK, and collectors, export logs to
//! `POST /v1/logs`, in protobuf (`application/x-protobuf`) or OTLP/JSON
//! (`application/json`), plain or gzip.
//!
//! Each log record becomes one structured event ([`records`]). The answer is
//! an `ExportLogsServiceResponse` in the request's encoding, sent only once
//! every sink has written the records (a `partial_success` counts the records
//! refused for being over `max_line_bytes`); a full pipeline answers 429 with
//! `Retry-After`, which OTLP exporters retry. A body that is not an export
//! request is refused whole with 400 (counted as `invalid_protobuf` or
//! `invalid_json`). Listening, limits (body size before and after gzip,
//! connections, slow clients), auth and TLS are [`crate::http_server`]'s.

pub mod count;
pub mod records;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::Method;
use prost::Message as _;
use serde::Deserialize;

use crate::DEFAULT_MAX_LINE_BYTES;
use crate::http_server::auth::AuthConfig;
use crate::http_server::{self, Answer, Handler, Reply, Request, ServerOptions};
use crate::tls::ServerTlsConfig;
use logagent_codecs::otlp::{
    self, ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse, Status,
};
use logagent_core::component::{Source, SourceComponent, SourceContext, SourceError};
use logagent_core::event::{AckToken, Event, Stream};
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Options of the opentelemetry source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenTelemetrySourceConfig {
    /// Where to listen, `IP:PORT` (default `127.0.0.1:4318`, OTLP/HTTP's
    /// port, on this host only; write `0.0.0.0:4318` to take exports from
    /// others).
    #[serde(default = "default_address")]
    pub address: String,
    /// The path logs are exported to (default `/v1/logs`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Largest request body as sent (default 10MiB); larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: ByteSize,
    /// Largest body once gzip is inflated (default 64MiB); a body inflating
    /// past it gets 413 (a gzip bomb).
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: ByteSize,
    /// Largest single event, the record as JSON (default 1MiB); larger
    /// records are refused (counted, reported in `partial_success`).
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
    /// Most log records in one export request (default 100000); a larger one
    /// is refused whole with 413 before it is decoded (`too_many_records`):
    /// a record can be encoded in 2 bytes and decodes into hundreds.
    #[serde(default = "default_max_records")]
    pub max_records_per_request: usize,
    /// Most connections open at once (default 256); more are answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client has to send a request's head (default 10s).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: HumanDuration,
    /// A connection idle this long between requests is closed (default 60s).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Time a client has to send a request's body (default 30s); 408 after.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: HumanDuration,
    /// How long a request waits for the sinks to write its records before it
    /// is answered 503 (default 30s; the records may still be delivered).
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: HumanDuration,
    /// The `Retry-After` of a 429 or 503 (default 1s).
    #[serde(default = "default_retry_after")]
    pub retry_after: HumanDuration,
    /// Threads that serve connections (default 2).
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Credentials every request must carry (basic, bearer or api_key; the
    /// network sinks' `auth` table). Without it, anyone who can connect may export.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Serve HTTPS with this certificate and key (`crt_file`, `key_file`, PEM).
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
}

fn default_address() -> String {
    "127.0.0.1:4318".into()
}
fn default_path() -> String {
    otlp::LOGS_PATH.into()
}
fn default_max_body() -> ByteSize {
    ByteSize(10 << 20)
}
fn default_max_decompressed() -> ByteSize {
    ByteSize(64 << 20)
}
fn default_max_line() -> ByteSize {
    ByteSize(DEFAULT_MAX_LINE_BYTES)
}
fn default_max_records() -> usize {
    100_000
}
fn default_max_connections() -> usize {
    256
}
fn default_header_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_body_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_ack_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_retry_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_threads() -> usize {
    2
}

impl OpenTelemetrySourceConfig {
    /// Every problem with the keys.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if let Err(e) = self.address.parse::<SocketAddr>() {
            errors.push(KeyError::new(
                "address",
                format!(
                    "expected IP:PORT (e.g. \"127.0.0.1:4318\"), got {:?}: {e}",
                    self.address
                ),
            ));
        }
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            errors.push(KeyError::new(
                "path",
                format!(
                    "expected an absolute URL path like \"/v1/logs\", got {:?}",
                    self.path
                ),
            ));
        }
        let mut positive = |key: &str, zero: bool| {
            if zero {
                errors.push(KeyError::new(key, "must be greater than zero"));
            }
        };
        positive("max_body_bytes", self.max_body_bytes.0 == 0);
        positive("max_decompressed_bytes", self.max_decompressed_bytes.0 == 0);
        positive("max_line_bytes", self.max_line_bytes.0 == 0);
        positive("max_connections", self.max_connections == 0);
        positive("max_records_per_request", self.max_records_per_request == 0);
        positive("header_timeout", self.header_timeout.0.is_zero());
        positive("idle_timeout", self.idle_timeout.0.is_zero());
        positive("body_timeout", self.body_timeout.0.is_zero());
        positive("ack_timeout", self.ack_timeout.0.is_zero());
        positive("threads", self.threads == 0);
        if self.max_body_bytes.0 > u32::MAX as u64
            || self.max_decompressed_bytes.0 > u32::MAX as u64
        {
            errors.push(KeyError::new(
                "max_body_bytes",
                "max_body_bytes and max_decompressed_bytes must be under 4GiB",
            ));
        }
        if self.max_connections > 65_536 {
            errors.push(KeyError::new("max_connections", "must be at most 65536"));
        }
        if self.threads > 64 {
            errors.push(KeyError::new("threads", "must be at most 64"));
        }
        if let Some(auth) = &self.auth {
            errors.extend(auth.check());
        }
        if let Some(tls) = &self.tls {
            errors.extend(tls.check("tls"));
        }
        errors
    }

    fn options(&self) -> Result<ServerOptions, SourceError> {
        let (address, tls) = http_server::listen_options(&self.address, self.tls.as_ref())?;
        Ok(ServerOptions {
            address,
            max_body_bytes: self.max_body_bytes.as_usize(),
            max_decompressed_bytes: self.max_decompressed_bytes.as_usize(),
            max_connections: self.max_connections,
            header_timeout: self.header_timeout.0,
            idle_timeout: self.idle_timeout.0,
            body_timeout: self.body_timeout.0,
            ack_timeout: self.ack_timeout.0,
            retry_after: self.retry_after.0,
            threads: self.threads,
            auth: self.auth.clone(),
            tls,
        })
    }
}

/// The running opentelemetry source.
#[derive(Debug)]
pub struct OpenTelemetrySource {
    config: OpenTelemetrySourceConfig,
}

impl Source for OpenTelemetrySource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let options = self.config.options()?;
        // A stream id of its own per start (see the http source).
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let handler = Arc::new(Receiver {
            limits: records::Limits {
                max_line_bytes: self.config.max_line_bytes.as_usize(),
                batch_max_events: ctx.batch_max_events.max(1),
                batch_max_bytes: ctx.batch_max_bytes.max(1),
            },
            config: self.config,
            stream: Arc::new(Stream {
                source: ctx.id.clone(),
                path: None,
                id: start ^ u64::from(std::process::id()).rotate_left(48),
            }),
            offset: AtomicU64::new(0),
            log: RateLimiter::new(Duration::from_secs(10)),
        });
        http_server::run(options, handler, ctx)
    }
}

/// The encoding of a request, and so of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// The handler of `POST /v1/logs`.
struct Receiver {
    config: OpenTelemetrySourceConfig,
    limits: records::Limits,
    stream: Arc<Stream>,
    /// Records numbered so far: every event has its own, increasing offset.
    offset: AtomicU64,
    log: RateLimiter,
}

impl Receiver {
    /// An answer in the request's encoding: a protobuf or JSON message.
    fn answer(status: u16, encoding: Encoding, proto: Vec<u8>, json: String) -> Answer {
        match encoding {
            Encoding::Protobuf => {
                Answer::json(status, proto).header("content-type", otlp::CONTENT_TYPE_PROTOBUF)
            }
            Encoding::Json => Answer::json(status, json),
        }
    }

    /// A refusal: a `google.rpc.Status` in the request's encoding (OTLP/HTTP's
    /// error body), counted as `error_type`.
    fn refuse(
        &self,
        status: u16,
        encoding: Encoding,
        error_type: &'static str,
        message: String,
    ) -> Answer {
        if let Some(held) = self.log.check() {
            tracing::warn!(component = %self.stream.source, error = %message, suppressed = held, "refused an OTLP export");
        }
        // gRPC's INVALID_ARGUMENT (3) for what the client sent wrong.
        let rpc = Status { code: 3, message };
        let json = serde_json::json!({"code": rpc.code, "message": rpc.message}).to_string();
        Self::answer(status, encoding, rpc.encode_to_vec(), json).counted(error_type)
    }

    /// The success answer: `partial_success` when records were refused.
    fn success(encoding: Encoding, rejected: u64, max_line: usize) -> Answer {
        let partial = (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected as i64,
            error_message: format!(
                "{rejected} log records exceed max_line_bytes ({max_line} bytes as JSON)"
            ),
        });
        let json = match &partial {
            None => "{}".to_owned(),
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedLogRecords": p.rejected_log_records.to_string(),
                "errorMessage": p.error_message,
            }})
            .to_string(),
        };
        let proto = ExportLogsServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec();
        Self::answer(200, encoding, proto, json)
    }

    /// Decodes the body per its content type.
    fn decode(&self, request: &Request) -> Result<(Encoding, ExportLogsServiceRequest), Answer> {
        let max = self.config.max_records_per_request;
        let too_many = |encoding| {
            self.refuse(
                413,
                encoding,
                "too_many_records",
                format!("the request holds more than max_records_per_request ({max}) log records"),
            )
        };
        match request.content_type().as_str() {
            otlp::CONTENT_TYPE_PROTOBUF | "application/protobuf" => {
                if count::protobuf(&request.body, max).is_err() {
                    return Err(too_many(Encoding::Protobuf));
                }
                ExportLogsServiceRequest::decode(&request.body[..])
                    .map(|r| (Encoding::Protobuf, r))
                    .map_err(|e| {
                        self.refuse(
                            400,
                            Encoding::Protobuf,
                            "invalid_protobuf",
                            format!("the body is not an OTLP ExportLogsServiceRequest: {e}"),
                        )
                    })
            }
            otlp::CONTENT_TYPE_JSON => {
                if count::json(&request.body, max).is_err() {
                    return Err(too_many(Encoding::Json));
                }
                otlp::json::parse_request(&request.body)
                    .map(|r| (Encoding::Json, r))
                    .map_err(|e| self.refuse(400, Encoding::Json, "invalid_json", e.to_string()))
            }
            other => Err(self.refuse(
                415,
                Encoding::Json,
                "unsupported_content_type",
                format!(
                    "Content-Type {other:?} is not supported (application/x-protobuf or application/json)"
                ),
            )),
        }
    }
}

impl Handler for Receiver {
    fn route(&self, method: &Method, path: &str) -> Result<(), Answer> {
        if path != self.config.path {
            return Err(Answer::error(
                404,
                "not_found",
                &format!("no endpoint at {path} (logs go to {})", self.config.path),
            ));
        }
        if method != Method::POST {
            return Err(
                Answer::error(405, "method_not_allowed", "use POST").header("allow", "POST")
            );
        }
        Ok(())
    }

    fn handle(&self, request: &Request, ack: &AckToken) -> Reply {
        if let Err(answer) = self.route(&request.method, &request.path) {
            return Reply::Answer(answer);
        }
        let (encoding, export) = match self.decode(request) {
            Ok(x) => x,
            Err(answer) => return Reply::Answer(answer),
        };
        let total: u64 = export
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len() as u64)
            .sum();
        let base = self.offset.fetch_add(total, Ordering::Relaxed);
        let converted = records::convert(&export, &self.stream, ack, base, self.limits);
        drop(export);
        let discarded = if converted.oversize > 0 {
            vec![("oversize", converted.oversize)]
        } else {
            Vec::new()
        };
        Reply::Deliver {
            batches: converted.batches,
            then: Self::success(encoding, converted.oversize, self.limits.max_line_bytes),
            discarded,
        }
    }
}

impl SourceComponent for OpenTelemetrySourceConfig {
    fn check(&self) -> Vec<KeyError> {
        OpenTelemetrySourceConfig::check(self)
    }

    fn build(&self) -> Box<dyn Source> {
        Box::new(OpenTelemetrySource {
            config: self.clone(),
        })
    }

    /// `logagent test` lines at this source are OTLP/JSON export requests
    /// (one per line); their records become the events the source would
    /// emit. A line that is not one yields no event (and fails the case's
    /// expected count).
    fn decode_for_test(&self, lines: &[&[u8]]) -> Option<Vec<Event>> {
        let stream = Arc::new(Stream {
            source: "test".into(),
            path: None,
            id: 0,
        });
        let limits = records::Limits {
            max_line_bytes: self.max_line_bytes.as_usize(),
            batch_max_events: usize::MAX,
            batch_max_bytes: usize::MAX,
        };
        let mut events = Vec::new();
        for line in lines {
            let Ok(export) = otlp::json::parse_request(line) else {
                continue;
            };
            let converted = records::convert(&export, &stream, &AckToken::detached(), 0, limits);
            // The caller scans each JSON object again into its own arena.
            events.extend(converted.batches.into_iter().flat_map(|b| b.events));
        }
        Some(events)
    }
}

#[cfg(test)]
mod tests;
