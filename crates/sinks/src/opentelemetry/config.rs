//! `type = "opentelemetry"` options: where to export, how records and
//! resources are made, how requests are batched, compressed and retried.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

pub use crate::net::{AuthConfig, AuthStrategy, Secret, TlsConfig};
use logagent_codecs::otlp::LOGS_PATH;
use logagent_core::event::FieldPath;
use logagent_core::event::level::LevelReader;
use logagent_core::event::template::Template;
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Options of the OpenTelemetry (OTLP/HTTP) sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenTelemetrySinkConfig {
    /// The OTLP/HTTP endpoint: a base URL (`http://collector:4318`, `/v1/logs`
    /// is appended; `http://loki:3100/otlp` becomes `/otlp/v1/logs`) or a full
    /// URL ending in `/v1/logs` (kept as is). Exactly one of `endpoint` and
    /// `endpoints`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Several equivalent endpoints (same forms as `endpoint`), used
    /// round-robin; one that fails is skipped for `endpoint_cooldown` while
    /// others work.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// How long a failed endpoint is skipped (default 30s).
    #[serde(default = "default_cooldown")]
    pub endpoint_cooldown: HumanDuration,
    /// `protobuf` (default, `application/x-protobuf`) or `json` (OTLP/JSON).
    #[serde(default)]
    pub encoding: OtlpEncoding,
    /// `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: OtlpCompression,
    /// Resource attributes, name → template:
    /// `{ "service.name" = "{{ service }}", "deployment.environment" = "prod" }`.
    /// Records are grouped per distinct resource in each request. An attribute
    /// whose field is missing in an event is left out of that event's resource.
    #[serde(default)]
    pub resource: BTreeMap<String, String>,
    /// Adds `host.name` = this machine's host name to every resource unless
    /// `resource` sets `host.name` itself (default true).
    #[serde(default = "yes")]
    pub add_host_name: bool,
    /// Leave the top-level fields used by `resource` templates out of the
    /// records' attributes (default false).
    #[serde(default)]
    pub remove_resource_fields: bool,
    /// The top-level field whose value is the record's body (default
    /// `message`; for unparsed text, the line). An event without it gets the
    /// whole line (as JSON, edits applied) as its body.
    #[serde(default = "default_message_field")]
    pub message_field: String,
    /// Where the level is read (default `level`), normalized to the OTLP
    /// severity number and text; left out of the attributes when top-level.
    #[serde(default = "default_level_field")]
    pub level_field: String,
    /// A pattern finding the level in unstructured lines (`"auto"` for the
    /// usual level words), as in `filter_level`.
    #[serde(default)]
    pub level_pattern: Option<String>,
    /// A top-level field holding a W3C trace id (32 hex digits), sent as the
    /// record's `trace_id` (default `trace_id`); other values stay attributes.
    #[serde(default = "default_trace_id_field")]
    pub trace_id_field: String,
    /// A top-level field holding a span id (16 hex digits), sent as `span_id`
    /// (default `span_id`).
    #[serde(default = "default_span_id_field")]
    pub span_id_field: String,
    /// Request size and wait.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Export requests in flight at once (default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Longest wait for an answer before the request is retried (default 30s).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: HumanDuration,
    /// Backoff between retries of 429/502/503/504 and transport errors.
    #[serde(default)]
    pub retry: RetryConfig,
    /// HTTP basic, bearer or API key authentication (the shared `auth` table).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS options for `https://` endpoints (the shared `tls` table).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Extra HTTP headers on every request (never logged), e.g. Loki's
    /// `X-Scope-OrgID` or a vendor's API key header.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Check at start, and in `logagent validate`, that each endpoint takes an
    /// empty export request (default true).
    #[serde(default = "yes")]
    pub healthcheck: bool,
}

/// The body's encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpEncoding {
    /// Binary protobuf `ExportLogsServiceRequest`.
    #[default]
    Protobuf,
    /// OTLP/JSON.
    Json,
}

/// The body's compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpCompression {
    /// `Content-Encoding: gzip` (fast level), off the I/O thread.
    #[default]
    Gzip,
    /// Uncompressed.
    None,
}

/// `batch`: when a request is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Largest request before compression (default 1MiB); a single record
    /// larger than this goes alone.
    pub max_bytes: ByteSize,
    /// Most records in a request (default 5000).
    pub max_events: usize,
    /// Longest a record waits for its request to fill (default 1s).
    pub timeout: HumanDuration,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_bytes: ByteSize(1 << 20),
            max_events: 5000,
            timeout: HumanDuration(Duration::from_secs(1)),
        }
    }
}

/// `retry`: backoff for retried requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First delay (default 500ms); doubles per failure, jittered.
    pub initial_backoff: HumanDuration,
    /// Longest delay, also the cap on a `Retry-After` (default 30s).
    pub max_backoff: HumanDuration,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            initial_backoff: HumanDuration(Duration::from_millis(500)),
            max_backoff: HumanDuration(Duration::from_secs(30)),
        }
    }
}

fn default_cooldown() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_message_field() -> String {
    logagent_core::event::MESSAGE_KEY.to_owned()
}
fn default_level_field() -> String {
    "level".to_owned()
}
fn default_trace_id_field() -> String {
    "trace_id".to_owned()
}
fn default_span_id_field() -> String {
    "span_id".to_owned()
}
fn default_concurrency() -> usize {
    4
}
fn default_request_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn yes() -> bool {
    true
}

/// Headers the sink sets itself.
const RESERVED_HEADERS: &[&str] = &["content-type", "content-length", "content-encoding", "host"];

/// Longest attribute or resource key accepted in the config.
const MAX_KEY_BYTES: usize = 256;

impl OpenTelemetrySinkConfig {
    /// Every problem with the keys (pure: files are read when the sink is built).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        match (&self.endpoint, self.endpoints.is_empty()) {
            (Some(_), false) => errors.push(KeyError::new(
                "endpoints",
                "set either endpoint or endpoints, not both",
            )),
            (None, true) => errors.push(KeyError::new(
                "endpoint",
                "missing (expected e.g. \"http://127.0.0.1:4318\" or Loki's \"http://loki:3100/otlp\")",
            )),
            _ => {}
        }
        if let Some(e) = &self.endpoint
            && let Err(m) = logs_url(e)
        {
            errors.push(KeyError::new("endpoint", m));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if let Err(m) = logs_url(e) {
                errors.push(KeyError::new(format!("endpoints[{i}]"), m));
            }
        }
        if self.endpoints.len() > 64 {
            errors.push(KeyError::new("endpoints", "at most 64 endpoints"));
        }
        for (name, value) in &self.resource {
            let key = format!("resource.{name}");
            if name.is_empty() || name.len() > MAX_KEY_BYTES {
                errors.push(KeyError::new(
                    key.clone(),
                    format!("attribute names are 1 to {MAX_KEY_BYTES} bytes"),
                ));
            }
            if let Err(e) = Template::parse(value, false) {
                errors.push(KeyError::new(key, e.to_string()));
            }
        }
        if self.resource.len() > 128 {
            errors.push(KeyError::new("resource", "at most 128 resource attributes"));
        }
        for (key, value) in [
            ("message_field", &self.message_field),
            ("trace_id_field", &self.trace_id_field),
            ("span_id_field", &self.span_id_field),
        ] {
            if value.is_empty() || value.len() > MAX_KEY_BYTES {
                errors.push(KeyError::new(
                    key,
                    format!("expected a top-level field name of 1 to {MAX_KEY_BYTES} bytes"),
                ));
            }
        }
        if let Err((k, m)) = LevelReader::new(&self.level_field, self.level_pattern.as_deref()) {
            let key = if k == "field" {
                "level_field"
            } else {
                "level_pattern"
            };
            errors.push(KeyError::new(key, m));
        }
        let b = &self.batch;
        if b.max_bytes.0 == 0 || b.max_bytes.0 > 64 << 20 {
            errors.push(KeyError::new(
                "batch.max_bytes",
                "must be between 1B and 64MiB",
            ));
        }
        if b.max_events == 0 || b.max_events > 1_000_000 {
            errors.push(KeyError::new(
                "batch.max_events",
                "must be between 1 and 1000000",
            ));
        }
        if b.timeout.0.is_zero() {
            errors.push(KeyError::new("batch.timeout", "must be greater than zero"));
        }
        if !(1..=64).contains(&self.concurrency) {
            errors.push(KeyError::new("concurrency", "must be between 1 and 64"));
        }
        if self.request_timeout.0.is_zero() {
            errors.push(KeyError::new(
                "request_timeout",
                "must be greater than zero",
            ));
        }
        if self.endpoint_cooldown.0.is_zero() {
            errors.push(KeyError::new(
                "endpoint_cooldown",
                "must be greater than zero",
            ));
        }
        if self.retry.initial_backoff.0.is_zero() {
            errors.push(KeyError::new(
                "retry.initial_backoff",
                "must be greater than zero",
            ));
        }
        if self.retry.max_backoff.0 < self.retry.initial_backoff.0 {
            errors.push(KeyError::new(
                "retry.max_backoff",
                "must be at least retry.initial_backoff",
            ));
        }
        if let Some(a) = &self.auth {
            errors.extend(a.check());
        }
        errors.extend(self.tls.check("tls"));
        if let Err(e) = self.header_map() {
            errors.push(e);
        }
        errors
    }

    /// The export URLs, in order.
    pub fn urls(&self) -> Result<Vec<reqwest::Url>, KeyError> {
        match &self.endpoint {
            Some(e) => Ok(vec![logs_url(e).map_err(|m| KeyError::new("endpoint", m))?]),
            None => self
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| logs_url(e).map_err(|m| KeyError::new(format!("endpoints[{i}]"), m)))
                .collect(),
        }
    }

    /// The custom headers, checked.
    pub fn header_map(&self) -> Result<HeaderMap, KeyError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| KeyError::new(key.clone(), "invalid header name"))?;
            if RESERVED_HEADERS.contains(&n.as_str()) {
                return Err(KeyError::new(key, "is set by the sink itself"));
            }
            if n == reqwest::header::AUTHORIZATION && self.auth.is_some() {
                return Err(KeyError::new(key, "conflicts with auth; keep one"));
            }
            let mut v = HeaderValue::from_str(&value.0).map_err(|_| {
                KeyError::new(key.clone(), "invalid header value (visible ASCII expected)")
            })?;
            v.set_sensitive(true);
            map.insert(n, v);
        }
        Ok(map)
    }

    /// Top-level field names a template reads (`{{ service }}` → `service`;
    /// nested paths are not removed from attributes).
    pub fn template_top_fields(template: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            let inner = after[..close].split('|').next().unwrap_or("").trim();
            if let Ok(p) = FieldPath::parse(inner)
                && !p.as_str().contains(['.', '[', '*', '"'])
            {
                out.push(p.as_str().to_owned());
            }
            rest = &after[close + 2..];
        }
        out
    }
}

/// The URL records are posted to for endpoint `endpoint`: `/v1/logs` is
/// appended unless the path already ends with it.
pub fn logs_url(endpoint: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(endpoint.trim()).map_err(|e| {
        format!("invalid URL {endpoint:?}: {e} (expected e.g. \"http://127.0.0.1:4318\")")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{endpoint:?} is not an http:// or https:// URL (OTLP/HTTP; e.g. \"http://127.0.0.1:4318\")"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{endpoint:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // URLs appear in logs and error messages; credentials must not.
        return Err("put credentials in `auth`, not in the URL".into());
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path.ends_with(LOGS_PATH) {
        url.set_path(&path);
    } else {
        url.set_path(&format!("{path}{LOGS_PATH}"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<OpenTelemetrySinkConfig, String> {
        let endpoint = if extra.contains("endpoint") {
            ""
        } else {
            "endpoint = \"http://127.0.0.1:4318\""
        };
        toml::from_str(&format!("{endpoint}\n{extra}")).map_err(|e| e.to_string())
    }

    fn keys(c: &OpenTelemetrySinkConfig) -> Vec<String> {
        let mut k: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        k.sort();
        k
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.encoding, OtlpEncoding::Protobuf);
        assert_eq!(c.compression, OtlpCompression::Gzip);
        assert_eq!(c.batch.max_bytes.0, 1 << 20);
        assert_eq!(c.concurrency, 4);
        assert!(c.add_host_name && c.healthcheck);
        assert_eq!(
            c.urls().unwrap()[0].as_str(),
            "http://127.0.0.1:4318/v1/logs"
        );
    }

    #[test]
    fn endpoint_forms() {
        for (endpoint, url) in [
            ("http://collector:4318", "http://collector:4318/v1/logs"),
            ("http://collector:4318/", "http://collector:4318/v1/logs"),
            ("http://loki:3100/otlp", "http://loki:3100/otlp/v1/logs"),
            (
                "http://loki:3100/otlp/v1/logs",
                "http://loki:3100/otlp/v1/logs",
            ),
            ("https://gw.example/v1/logs/", "https://gw.example/v1/logs"),
        ] {
            assert_eq!(logs_url(endpoint).unwrap().as_str(), url, "{endpoint}");
        }
        for bad in ["collector:4318", "ftp://x", "http://", "http://u:p@h:4318"] {
            assert!(logs_url(bad).is_err(), "{bad}");
        }
        let c = parse("endpoints = [\"http://a:4318\", \"ftp://b\"]").unwrap();
        assert_eq!(keys(&c), ["endpoints[1]"]);
        let c = parse("").unwrap();
        let both = OpenTelemetrySinkConfig {
            endpoints: vec!["http://b:4318".into()],
            ..c.clone()
        };
        assert_eq!(keys(&both), ["endpoints"]);
        let none = OpenTelemetrySinkConfig {
            endpoint: None,
            ..c
        };
        assert_eq!(keys(&none), ["endpoint"]);
    }

    #[test]
    fn reports_every_bad_key() {
        let c = parse(
            r#"
resource = { "service.name" = "{{ unclosed", "" = "x" }
message_field = ""
level_pattern = "("
concurrency = 0
batch = { max_events = 0, timeout = "0s" }
retry = { initial_backoff = "2s", max_backoff = "1s" }
auth = { strategy = "bearer" }
tls = { key_file = "k.pem" }
headers = { "Content-Type" = "x" }
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            keys(&c),
            [
                "auth.token",
                "batch.max_events",
                "batch.timeout",
                "concurrency",
                "headers.Content-Type",
                "level_pattern",
                "message_field",
                "resource.",
                "resource.service.name",
                "retry.max_backoff",
                "tls",
            ]
        );
        assert!(parse("encoding = \"thrift\"").is_err());
        assert!(parse("compresion = \"gzip\"").is_err());
    }

    #[test]
    fn template_fields() {
        assert_eq!(
            OpenTelemetrySinkConfig::template_top_fields(
                "{{ service }}-{{ k8s.pod }}-{{ level | upper }}"
            ),
            ["service", "level"]
        );
    }
}
