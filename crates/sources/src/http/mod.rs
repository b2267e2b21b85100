//! `type = "http"`: the aggregator's front door. Other agents and
//! applications push logs over HTTP, in three formats on one port:
//!
//! * `POST {path}` (default `/logs`): NDJSON (one JSON object per line) or
//!   one JSON array of objects. Answers `{"accepted":N,"rejected":M}`.
//! * Elasticsearch's bulk API (`POST /_bulk`, `POST /INDEX/_bulk`, and
//!   `GET /` answered like a cluster), so Fluent Bit, Vector, Filebeat or an
//!   Elasticsearch client can point their Elasticsearch output here; answered
//!   with per-item results like Elasticsearch's.
//! * Grafana Loki's push API (`POST /loki/api/v1/push`, JSON or
//!   snappy-compressed protobuf), so Promtail and Alloy can; stream labels and
//!   structured metadata become fields, the entry's time the event time.
//!
//! Each JSON object (a line, an array element, a bulk document) becomes one
//! event whose line is the object's text, unparsed, as the file source would
//! read it (add `parse_json` after the source). Objects that are not valid
//! JSON are counted (`component_discarded_events_total{reason="invalid_json"}`)
//! and the rest are delivered. The listening, limits, auth, backpressure (429)
//! and answers-after-acknowledgement are [`crate::http_server`]'s.

mod bulk;
mod loki;
mod ndjson;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde::Deserialize;

use crate::DEFAULT_MAX_LINE_BYTES;
use crate::http_server::auth::AuthConfig;
use crate::http_server::{self, Answer, Handler, Reply, Request, ServerOptions};
use crate::tls::ServerTlsConfig;
use logagent_core::component::{Source, SourceComponent, SourceContext, SourceError};
use logagent_core::event::{AckToken, Batch, Event, Stream};
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Options of the http source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Where to listen, `IP:PORT` (default `127.0.0.1:8080`: only this host;
    /// write `0.0.0.0:8080` to take pushes from others).
    #[serde(default = "default_address")]
    pub address: String,
    /// The path for NDJSON and JSON arrays (default `/logs`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Serve Elasticsearch's bulk API (`/_bulk`, `/INDEX/_bulk`, `GET /`)
    /// (default true).
    #[serde(default = "yes")]
    pub elasticsearch: bool,
    /// The Elasticsearch version `GET /` announces (default `8.17.0`):
    /// shippers check it (Filebeat refuses a cluster older than itself,
    /// Vector picks its request format by the major version).
    #[serde(default = "default_es_version")]
    pub elasticsearch_version: String,
    /// Serve Loki's push API (`/loki/api/v1/push`) (default true).
    #[serde(default = "yes")]
    pub loki: bool,
    /// Largest request body as sent (default 10MiB); larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: ByteSize,
    /// Largest body once decompressed (gzip, deflate, Loki's snappy) (default
    /// 64MiB); a body inflating past it gets 413.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: ByteSize,
    /// Largest single event (a line, an array element, a document) (default
    /// 1MiB); larger ones are refused (counted), the rest delivered.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
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
    /// How long a request waits for the sinks to write its events before it
    /// is answered 503 (default 30s; the events may still be delivered).
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: HumanDuration,
    /// The `Retry-After` of a 429 or 503 (default 1s).
    #[serde(default = "default_retry_after")]
    pub retry_after: HumanDuration,
    /// Threads that serve connections (default 2).
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Credentials every request must carry (basic, bearer or api_key; the
    /// network sinks' `auth` table). Without it, anyone who can connect may push.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Serve HTTPS with this certificate and key (`crt_file`, `key_file`, PEM).
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
}

fn default_address() -> String {
    "127.0.0.1:8080".into()
}
fn default_path() -> String {
    "/logs".into()
}
fn yes() -> bool {
    true
}
fn default_es_version() -> String {
    "8.17.0".into()
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

/// The Elasticsearch paths a push may use; the NDJSON path must not shadow them.
const RESERVED: &[&str] = &["/loki/api/v1/push", "/_bulk"];

impl HttpSourceConfig {
    /// Every problem with the keys.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if let Err(e) = self.address.parse::<SocketAddr>() {
            errors.push(KeyError::new(
                "address",
                format!(
                    "expected IP:PORT (e.g. \"127.0.0.1:8080\"), got {:?}: {e}",
                    self.address
                ),
            ));
        }
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            errors.push(KeyError::new(
                "path",
                format!(
                    "expected an absolute URL path like \"/logs\", got {:?}",
                    self.path
                ),
            ));
        } else if RESERVED.contains(&self.path.as_str()) || self.path.ends_with("/_bulk") {
            errors.push(KeyError::new(
                "path",
                format!(
                    "{:?} is one of the Elasticsearch or Loki endpoints; choose another",
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
        let version: Vec<&str> = self.elasticsearch_version.split('.').collect();
        if version.len() != 3 || version.iter().any(|p| p.parse::<u32>().is_err()) {
            errors.push(KeyError::new(
                "elasticsearch_version",
                format!(
                    "expected MAJOR.MINOR.PATCH like \"8.17.0\", got {:?}",
                    self.elasticsearch_version
                ),
            ));
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

/// The running http source.
#[derive(Debug)]
pub struct HttpSource {
    config: HttpSourceConfig,
}

impl Source for HttpSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let options = self.config.options()?;
        // A stream id of its own per start: document ids derived from
        // (stream, offset) by the Elasticsearch sink never collide with the
        // previous run's.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let handler = Arc::new(Intake {
            config: self.config,
            stream: Arc::new(Stream {
                source: ctx.id.clone(),
                path: None,
                id: start ^ u64::from(std::process::id()).rotate_left(48),
            }),
            offset: AtomicU64::new(0),
            batch_max_events: ctx.batch_max_events.max(1),
            batch_max_bytes: ctx.batch_max_bytes.max(1),
            log: RateLimiter::new(Duration::from_secs(10)),
        });
        http_server::run(options, handler, ctx)
    }
}

/// What the three endpoints share: the stream, offsets, batch limits.
struct Intake {
    config: HttpSourceConfig,
    stream: Arc<Stream>,
    /// Offsets handed out so far: each request takes a range as long as its
    /// body, so every event has its own, increasing offset.
    offset: AtomicU64,
    batch_max_events: usize,
    batch_max_bytes: usize,
    log: RateLimiter,
}

/// The route a request took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Lines,
    BulkInfo,
    Bulk,
    Loki,
}

impl Intake {
    fn route_of(&self, method: &Method, path: &str) -> Result<Route, Answer> {
        let post = |route| {
            if method == Method::POST || method == Method::PUT {
                Ok(route)
            } else {
                Err(Answer::error(405, "method_not_allowed", "use POST")
                    .header("allow", "POST, PUT"))
            }
        };
        if path == self.config.path && method != Method::GET && method != Method::HEAD {
            return post(Route::Lines);
        }
        if self.config.elasticsearch {
            if path == "/" && (method == Method::GET || method == Method::HEAD) {
                return Ok(Route::BulkInfo);
            }
            if bulk::is_bulk_path(path) {
                return post(Route::Bulk);
            }
        }
        if self.config.loki && path == "/loki/api/v1/push" {
            return post(Route::Loki);
        }
        if path == self.config.path {
            return post(Route::Lines);
        }
        Err(Answer::error(
            404,
            "not_found",
            &format!("no endpoint at {path}"),
        ))
    }

    /// A fresh batch collector for one request whose events' positions are
    /// below `reserve` (its body's length, for formats whose positions are
    /// byte offsets in it).
    fn collector<'a>(&'a self, ack: &'a AckToken, reserve: usize) -> Collector<'a> {
        let base = self.offset.fetch_add(reserve as u64 + 1, Ordering::Relaxed);
        Collector {
            intake: self,
            ack,
            base,
            batches: Vec::new(),
            current: Vec::new(),
            bytes: 0,
        }
    }

    fn warn(&self, what: &str, detail: &dyn std::fmt::Display) {
        if let Some(held) = self.log.check() {
            tracing::warn!(component = %self.stream.source, error = %detail, suppressed = held, "{what}");
        }
    }
}

/// Events of one request into batches bounded like the file source's.
struct Collector<'a> {
    intake: &'a Intake,
    ack: &'a AckToken,
    base: u64,
    batches: Vec<Batch>,
    current: Vec<Event>,
    bytes: usize,
}

impl Collector<'_> {
    /// Adds an event for `line`, found at `position` in the request.
    fn push(&mut self, line: Bytes, position: u64) -> &mut Event {
        if !self.current.is_empty()
            && (self.current.len() >= self.intake.batch_max_events
                || self.bytes + line.len() > self.intake.batch_max_bytes)
        {
            self.cut();
        }
        self.bytes += line.len();
        self.current.push(Event::new(line, self.base + position));
        let last = self.current.len() - 1;
        &mut self.current[last]
    }

    fn cut(&mut self) {
        let events = std::mem::take(&mut self.current);
        self.bytes = 0;
        self.batches.push(Batch {
            events: events.into(),
            members: Vec::new().into(),
            stream: self.intake.stream.clone(),
            ack: self.ack.clone(),
        });
    }

    fn events(&self) -> usize {
        self.batches.iter().map(|b| b.events.len()).sum::<usize>() + self.current.len()
    }

    fn finish(mut self) -> Vec<Batch> {
        if !self.current.is_empty() {
            self.cut();
        }
        self.batches
    }
}

impl Handler for Intake {
    fn route(&self, method: &Method, path: &str) -> Result<(), Answer> {
        self.route_of(method, path).map(|_| ())
    }

    fn handle(&self, request: &Request, ack: &AckToken) -> Reply {
        match self.route_of(&request.method, &request.path) {
            Err(answer) => Reply::Answer(answer),
            Ok(Route::Lines) => ndjson::handle(self, request, ack),
            Ok(Route::BulkInfo) => Reply::Answer(bulk::info(&self.config.elasticsearch_version)),
            Ok(Route::Bulk) => bulk::handle(self, request, ack),
            Ok(Route::Loki) => loki::handle(self, request, ack),
        }
    }
}

impl SourceComponent for HttpSourceConfig {
    fn check(&self) -> Vec<KeyError> {
        HttpSourceConfig::check(self)
    }

    fn build(&self) -> Box<dyn Source> {
        Box::new(HttpSource {
            config: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests;
