//! `type = "loki"` options: where to push, how to label, how to batch and retry.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::line::LineFormat;
use super::pending::OutOfOrder;
use super::streams::valid_label_name;
pub use crate::net::{AuthConfig, AuthStrategy, Secret, TlsConfig};
use logagent_core::event::FieldPath;
use logagent_core::event::template::Template;
use logagent_core::{ByteSize, HumanDuration, KeyError};

use crate::net::{UrlError, parse_http_url};

/// Options of the Loki sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiSinkConfig {
    /// Loki's base URL (`http://loki:3100`) or its full push URL ending in
    /// `/loki/api/v1/push`. The health check asks `<base>/ready`.
    pub endpoint: String,
    /// Wire format: `protobuf` (snappy-compressed, default, as Loki's own
    /// clients send) or `json`.
    #[serde(default)]
    pub protocol: Protocol,
    /// `none` (default) or `gzip` (`Content-Encoding: gzip`, which Loki's push
    /// endpoint accepts): for `protocol = "json"` only — protobuf pushes are
    /// always snappy-compressed, as Loki requires.
    #[serde(default)]
    pub compression: Compression,
    /// The tenant, sent as `X-Scope-OrgID`: a fixed id or a template
    /// (`"{{ tenant }}"`); events are batched per tenant. Unset: no header.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Stream labels, name → template: `{ service = "{{ service }}", job = "app" }`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Adds a `level` label with the severity from this field, normalized
    /// (`WARNING`, `warn`, pino `40` → `warn`); `unknown` when absent.
    #[serde(default)]
    pub level_field: Option<String>,
    /// Leave the fields used by labels (and `level_field`) out of the line
    /// (default false).
    #[serde(default)]
    pub remove_label_fields: bool,
    /// Structured metadata (Loki 3.x), name → template:
    /// `{ trace_id = "{{ traceId }}" }`; omitted per entry when the field is absent.
    #[serde(default)]
    pub structured_metadata: BTreeMap<String, String>,
    /// Leave the fields used by `structured_metadata` out of the line (default false).
    #[serde(default)]
    pub remove_structured_metadata_fields: bool,
    /// `json` (default): the event as JSON; `key_value`: `key=value` pairs;
    /// `raw`: the text of `message_field`.
    #[serde(default)]
    pub line_format: LineFormat,
    /// The field `line_format = "raw"` sends (default `message`: the line itself
    /// for unparsed text).
    #[serde(default = "default_message_field")]
    pub message_field: String,
    /// Longest line sent; longer ones are cut and counted (default 256KiB,
    /// Loki's default `max_line_size`, so Loki does not refuse them).
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
    /// Entries older than what their stream already sent: `accept` (default;
    /// Loki ≥ 2.4 takes them), `rewrite_timestamp` or `drop` (counted).
    #[serde(default)]
    pub out_of_order: OutOfOrder,
    /// Request size and wait.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Push requests in flight at once (default 4). A stream is only ever in one
    /// of them, so each stream's entries arrive in order.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Longest wait for an answer before the push is retried (default 30s).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: HumanDuration,
    /// Backoff between retries of 429, 5xx and transport errors.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Limits on distinct streams.
    #[serde(default)]
    pub cardinality: CardinalityConfig,
    /// HTTP basic, bearer or API key authentication (the shared `auth` table).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS options for `https://` endpoints (the shared `tls` table).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Extra HTTP headers on every request (never logged).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Check `GET /ready` at start (logging until Loki answers) and in
    /// `logagent validate` (default true).
    #[serde(default = "yes")]
    pub healthcheck: bool,
}

/// The push wire format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `application/x-protobuf`, snappy block-compressed `PushRequest`.
    #[default]
    Protobuf,
    /// `application/json`, `{"streams":[...]}`.
    Json,
}

/// `compression`: how a JSON push body is compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Sent as encoded.
    #[default]
    None,
    /// Gzipped, with `Content-Encoding: gzip`.
    Gzip,
}

/// `batch`: when a request is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Largest request, estimated before compression (default 1MiB).
    pub max_bytes: ByteSize,
    /// Most entries in a request (default 10000).
    pub max_events: usize,
    /// Longest an entry waits for its request to fill (default 1s).
    pub timeout: HumanDuration,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_bytes: ByteSize(1 << 20),
            max_events: 10_000,
            timeout: HumanDuration(Duration::from_secs(1)),
        }
    }
}

/// `retry`: backoff for retried pushes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First delay (default 500ms); doubles per failure, jittered.
    pub initial_backoff: HumanDuration,
    /// Longest delay (default 30s).
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

/// `cardinality`: the guard against stream explosions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardinalityConfig {
    /// Distinct streams per window; new ones beyond it go to the overflow
    /// stream (default 5000, Loki's default streams-per-tenant limit).
    pub max_streams: usize,
    /// Distinct values per templated label (and tenant) per window; new values
    /// beyond it become `placeholder` (default 1000).
    pub max_values_per_label: usize,
    /// How long values are remembered (default 1h).
    pub window: HumanDuration,
    /// The value that replaces one beyond a limit (default `__overflow__`).
    pub placeholder: String,
}

impl Default for CardinalityConfig {
    fn default() -> CardinalityConfig {
        CardinalityConfig {
            max_streams: 5000,
            max_values_per_label: 1000,
            window: HumanDuration(Duration::from_secs(3600)),
            placeholder: "__overflow__".into(),
        }
    }
}

fn default_message_field() -> String {
    logagent_core::event::MESSAGE_KEY.to_owned()
}
fn default_max_line() -> ByteSize {
    ByteSize(256 << 10)
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

/// The push path Loki serves.
pub const PUSH_PATH: &str = "/loki/api/v1/push";

/// Headers the sink sets itself.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "host",
    "x-scope-orgid",
];

impl LokiSinkConfig {
    /// Every problem with the keys (pure: files are read when the sink is built).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if let Err(e) = self.urls() {
            errors.push(KeyError::new("endpoint", e.to_string()));
        }
        if self.compression == Compression::Gzip && self.protocol == Protocol::Protobuf {
            errors.push(KeyError::new(
                "compression",
                "gzip applies to protocol = \"json\"; protobuf pushes are always snappy-compressed (Loki requires it)",
            ));
        }
        if let Some(t) = &self.tenant_id {
            if t.trim().is_empty() {
                errors.push(KeyError::new(
                    "tenant_id",
                    "must not be empty (remove the key to send no X-Scope-OrgID)",
                ));
            } else {
                match Template::parse(t, false) {
                    Err(e) => errors.push(KeyError::new("tenant_id", e.to_string())),
                    Ok(tpl) if !tpl.is_dynamic() => {
                        let mut clean = t.clone();
                        super::streams::sanitize_tenant(&mut clean);
                        if clean != *t {
                            errors.push(KeyError::new(
                                "tenant_id",
                                "a Loki tenant id is at most 150 letters, digits and !-_.*'() characters",
                            ));
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        if self.labels.is_empty() && self.level_field.is_none() {
            errors.push(KeyError::new(
                "labels",
                "Loki needs at least one label per stream: set labels (e.g. { job = \"app\" }) or level_field",
            ));
        }
        for (name, value) in &self.labels {
            let key = format!("labels.{name}");
            if !valid_label_name(name) {
                errors.push(KeyError::new(
                    key.clone(),
                    "invalid label name (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                ));
            }
            if let Err(e) = Template::parse(value, false) {
                errors.push(KeyError::new(key, e.to_string()));
            } else if value.is_empty() {
                errors.push(KeyError::new(
                    key,
                    "must not be empty (Loki drops empty labels)",
                ));
            }
        }
        if let Some(f) = &self.level_field {
            if let Err(e) = FieldPath::parse(f) {
                errors.push(KeyError::new("level_field", e.to_string()));
            }
            if self.labels.contains_key("level") {
                errors.push(KeyError::new(
                    "level_field",
                    "adds the `level` label, which labels.level also sets; keep one",
                ));
            }
        }
        for (name, value) in &self.structured_metadata {
            let key = format!("structured_metadata.{name}");
            if !valid_label_name(name) {
                errors.push(KeyError::new(
                    key.clone(),
                    "invalid name (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                ));
            }
            if let Err(e) = Template::parse(value, false) {
                errors.push(KeyError::new(key, e.to_string()));
            }
        }
        if let Err(e) = FieldPath::parse(&self.message_field) {
            errors.push(KeyError::new("message_field", e.to_string()));
        }
        if self.max_line_bytes.0 == 0 {
            errors.push(KeyError::new("max_line_bytes", "must be greater than zero"));
        }
        let b = &self.batch;
        if b.max_bytes.0 == 0 || b.max_bytes.0 > 64 << 20 {
            errors.push(KeyError::new(
                "batch.max_bytes",
                "must be between 1B and 64MiB",
            ));
        }
        if b.max_events == 0 {
            errors.push(KeyError::new("batch.max_events", "must be at least 1"));
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
        let c = &self.cardinality;
        if c.max_streams == 0 {
            errors.push(KeyError::new(
                "cardinality.max_streams",
                "must be at least 1",
            ));
        }
        if c.max_values_per_label == 0 {
            errors.push(KeyError::new(
                "cardinality.max_values_per_label",
                "must be at least 1",
            ));
        }
        if c.window.0.is_zero() {
            errors.push(KeyError::new(
                "cardinality.window",
                "must be greater than zero",
            ));
        }
        if c.placeholder.is_empty() {
            errors.push(KeyError::new(
                "cardinality.placeholder",
                "must not be empty",
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

    /// The push and ready URLs.
    pub fn urls(&self) -> Result<(reqwest::Url, reqwest::Url), UrlError> {
        let mut url = parse_http_url(&self.endpoint, "http://loki:3100")?;
        let path = url.path().trim_end_matches('/').to_owned();
        let base = path.strip_suffix(PUSH_PATH).unwrap_or(&path).to_owned();
        url.set_path(&format!("{base}{PUSH_PATH}"));
        let mut ready = url.clone();
        ready.set_path(&format!("{base}/ready"));
        ready.set_query(None);
        Ok((url, ready))
    }

    /// The custom headers, checked.
    pub fn header_map(&self) -> Result<HeaderMap, KeyError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| KeyError::new(key.clone(), "invalid header name"))?;
            if RESERVED_HEADERS.contains(&n.as_str()) {
                return Err(KeyError::new(
                    key,
                    if n.as_str() == "x-scope-orgid" {
                        "set the tenant with tenant_id"
                    } else {
                        "is set by the sink itself"
                    },
                ));
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

    /// Paths of the fields a template reads (`{{ a.b }}` → `a.b`).
    pub fn template_fields(template: &str) -> Vec<FieldPath> {
        let mut out = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            if let Ok(p) = FieldPath::parse(after[..close].trim()) {
                out.push(p);
            }
            rest = &after[close + 2..];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::AuthHeader as _;

    fn parse(extra: &str) -> Result<LokiSinkConfig, String> {
        let labels = if extra.contains("labels =") {
            ""
        } else {
            "labels = { job = \"app\" }"
        };
        let text = format!("endpoint = \"http://loki:3100\"\n{labels}\n{extra}");
        toml::from_str(&text).map_err(|e| e.to_string())
    }

    fn keys(c: &LokiSinkConfig) -> Vec<String> {
        c.check().into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn gzip_is_for_json_pushes_only() {
        let parse = |extra: &str| -> LokiSinkConfig {
            toml::from_str(&format!(
                "endpoint = \"http://loki:3100\"\nlabels = {{ job = \"a\" }}\n{extra}"
            ))
            .unwrap()
        };
        let errors = parse("compression = \"gzip\"").check();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "compression");
        assert!(
            errors[0].message.contains("snappy"),
            "{}",
            errors[0].message
        );
        assert!(
            parse("protocol = \"json\"\ncompression = \"gzip\"")
                .check()
                .is_empty()
        );
        assert!(
            toml::from_str::<LokiSinkConfig>(
                "endpoint = \"http://loki:3100\"\ncompression = \"brotli\""
            )
            .is_err()
        );
    }

    #[test]
    fn defaults_are_lokis() {
        let c = parse("").unwrap();
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.protocol, Protocol::Protobuf);
        assert_eq!(c.batch.max_bytes.0, 1 << 20);
        assert_eq!(c.batch.timeout.0, Duration::from_secs(1));
        assert_eq!(c.out_of_order, OutOfOrder::Accept);
        let (push, ready) = c.urls().unwrap();
        assert_eq!(push.as_str(), "http://loki:3100/loki/api/v1/push");
        assert_eq!(ready.as_str(), "http://loki:3100/ready");
    }

    #[test]
    fn endpoint_may_be_the_push_url_or_under_a_prefix() {
        let c = parse("").unwrap();
        for (endpoint, push, ready) in [
            (
                "https://gw.example/loki/api/v1/push",
                "https://gw.example/loki/api/v1/push",
                "https://gw.example/ready",
            ),
            (
                "http://gw:8080/tenant-a/",
                "http://gw:8080/tenant-a/loki/api/v1/push",
                "http://gw:8080/tenant-a/ready",
            ),
        ] {
            let c = LokiSinkConfig {
                endpoint: endpoint.into(),
                ..c.clone()
            };
            let (p, r) = c.urls().unwrap();
            assert_eq!((p.as_str(), r.as_str()), (push, ready));
        }
        for bad in ["loki:3100", "ftp://loki", "http://", "http://u:p@loki:3100"] {
            let c = LokiSinkConfig {
                endpoint: bad.into(),
                ..c.clone()
            };
            assert_eq!(keys(&c), vec!["endpoint"], "{bad}");
        }
    }

    #[test]
    fn reports_every_bad_key() {
        let c = parse(
            r#"
labels = { "bad-name" = "x", ok = "{{ unclosed" }
level_field = "level"
structured_metadata = { __x = "{{ a }}" }
concurrency = 0
batch = { max_events = 0, timeout = "0s" }
retry = { initial_backoff = "2s", max_backoff = "1s" }
cardinality = { max_streams = 0, placeholder = "" }
auth = { strategy = "basic", token = "t" }
tls = { key_file = "k.pem" }
headers = { "X-Scope-OrgID" = "t" }
tenant_id = "team a"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut k = keys(&c);
        k.sort();
        assert_eq!(
            k,
            vec![
                "auth.password",
                "auth.token",
                "auth.user",
                "batch.max_events",
                "batch.timeout",
                "cardinality.max_streams",
                "cardinality.placeholder",
                "concurrency",
                "headers.X-Scope-OrgID",
                "labels.bad-name",
                "labels.ok",
                "retry.max_backoff",
                "structured_metadata.__x",
                "tenant_id",
                "tls",
            ]
        );
        assert!(
            parse("labels = {}")
                .unwrap()
                .check()
                .iter()
                .any(|e| e.key == "labels")
        );
        assert!(parse("unknown_key = 1").is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c =
            parse(r#"auth = { strategy = "basic", user = "u", password = "hunter2" }"#).unwrap();
        assert!(c.check().is_empty());
        assert!(!format!("{c:?}").contains("hunter2"));
        let h = c.auth.as_ref().unwrap().header().unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic dTpodW50ZXIy");
        assert!(h.is_sensitive());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc.def\n").unwrap();
        let c = parse(&format!(
            "auth = {{ strategy = \"bearer\", token_file = {:?} }}",
            f.display().to_string()
        ))
        .unwrap();
        assert_eq!(
            c.auth.unwrap().header().unwrap().to_str().unwrap(),
            "Bearer abc.def"
        );
    }

    #[test]
    fn template_fields_are_found() {
        let f = LokiSinkConfig::template_fields("{{ kubernetes.pod }}-{{app}}-x");
        let names: Vec<&str> = f.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, vec!["kubernetes.pod", "app"]);
    }
}
