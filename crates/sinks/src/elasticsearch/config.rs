//! The options of `type = "elasticsearch"` and their checks. Pure: nothing here
//! connects or reads a file (secret files are read when the sink is built).

use std::time::Duration;

use serde::Deserialize;

pub use crate::net::{AuthConfig, AuthStrategy, Secret, TlsConfig};
use logagent_core::event::FieldPath;
use logagent_core::event::template::Template;
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Options of the Elasticsearch sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Base URLs of the nodes (`http://es1:9200`, `https://es.example/prefix`);
    /// requests go round-robin, and a node that errors cools down for
    /// `endpoint_cooldown`.
    pub endpoints: Vec<String>,
    /// Index name template: `{{ field }}` and strftime from the event time, UTC
    /// (`workflow-logs-%Y.%m.%d`). Required in `bulk` mode; unused for data streams.
    #[serde(default)]
    pub index: Option<String>,
    /// `bulk` (default) or `data_stream`.
    #[serde(default)]
    pub mode: Mode,
    /// `type`, `dataset` and `namespace` of the data stream (mode `data_stream`).
    #[serde(default)]
    pub data_stream: DataStreamConfig,
    /// `create` or `index`; default `create` (data streams accept only `create`).
    #[serde(default)]
    pub action: Option<Action>,
    /// Ingest pipeline to run on every document (`?pipeline=NAME`).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// `none` (default) or `gzip` request bodies.
    #[serde(default)]
    pub compression: Compression,
    /// Derive each document's `_id` from its origin (source, file identity, byte
    /// offset and content), so a replayed or retried event is a 409, never a
    /// duplicate (default true).
    #[serde(default = "yes")]
    pub idempotent_ids: bool,
    /// Take `_id` from this field instead (events without it fall back to the
    /// derived id, or to none when `idempotent_ids = false`).
    #[serde(default)]
    pub id_field: Option<String>,
    /// Credentials (`strategy = "basic" | "api_key" | "bearer"`; the shared `auth` table).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS options for `https://` endpoints (the shared `tls` table).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Time limit of one HTTP request (default 60s).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: HumanDuration,
    /// Most documents in one bulk request (default 1000).
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Most (uncompressed) bytes in one bulk request (default 10MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Longest time a partly filled bulk request waits for more events (default 1s).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Bulk requests in flight at once, retries included (default 2). While all
    /// are busy the sink stops taking events, which holds back the sources.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries per document before it goes to the dead-letter output; unset
    /// (default) retries for ever, holding the pipeline back.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// First retry delay (default 100ms); doubles per consecutive failure,
    /// jittered, and resets after a success.
    #[serde(default = "default_backoff")]
    pub retry_initial_backoff: HumanDuration,
    /// Longest retry delay (default 30s).
    #[serde(default = "default_max_backoff")]
    pub retry_max_backoff: HumanDuration,
    /// How long a node that failed is skipped while others work (default 10s).
    #[serde(default = "default_cooldown")]
    pub endpoint_cooldown: HumanDuration,
    /// Check the cluster (`GET /`) at start, logging its version (default true).
    #[serde(default = "yes")]
    pub health_check: bool,
}

fn yes() -> bool {
    true
}
fn default_request_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_max_events() -> usize {
    1000
}
fn default_max_bytes() -> ByteSize {
    ByteSize(10 << 20)
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_concurrency() -> usize {
    2
}
fn default_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}
fn default_max_backoff() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_cooldown() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// How documents are addressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Plain indices named by `index`.
    #[default]
    Bulk,
    /// A data stream `TYPE-DATASET-NAMESPACE`; documents get `@timestamp`.
    DataStream,
}

/// The bulk action per document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Fails with 409 when the `_id` exists: with derived ids, a duplicate.
    Create,
    /// Adds or replaces the document.
    Index,
}

impl Action {
    /// The action's name in the bulk body.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Index => "index",
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain NDJSON.
    #[default]
    None,
    /// `Content-Encoding: gzip` (fast level).
    Gzip,
}

/// Name parts of a data stream; each may be a template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStreamConfig {
    /// Default `logs`.
    #[serde(default = "ds_type", rename = "type")]
    pub kind: String,
    /// Default `generic`.
    #[serde(default = "ds_dataset")]
    pub dataset: String,
    /// Default `default`.
    #[serde(default = "ds_namespace")]
    pub namespace: String,
}

fn ds_type() -> String {
    "logs".into()
}
fn ds_dataset() -> String {
    "generic".into()
}
fn ds_namespace() -> String {
    "default".into()
}

impl Default for DataStreamConfig {
    fn default() -> DataStreamConfig {
        DataStreamConfig {
            kind: ds_type(),
            dataset: ds_dataset(),
            namespace: ds_namespace(),
        }
    }
}

impl ElasticsearchConfig {
    /// The action in force.
    pub fn action(&self) -> Action {
        self.action.unwrap_or(Action::Create)
    }

    /// The index template text in force: `index`, or the data stream's name.
    pub fn index_template(&self) -> String {
        match self.mode {
            Mode::Bulk => self.index.clone().unwrap_or_default(),
            Mode::DataStream => format!(
                "{}-{}-{}",
                self.data_stream.kind, self.data_stream.dataset, self.data_stream.namespace
            ),
        }
    }

    /// Every problem with the options (pure: no file is opened).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.endpoints.is_empty() {
            errors.push(KeyError::new(
                "endpoints",
                "must list at least one URL, e.g. [\"http://127.0.0.1:9200\"]",
            ));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if let Err(e) = super::client::parse_endpoint(e) {
                errors.push(KeyError::new(format!("endpoints[{i}]"), e.to_string()));
            }
        }
        match (self.mode, &self.index) {
            (Mode::Bulk, None) => errors.push(KeyError::new(
                "index",
                "missing: the index to write to, e.g. \"workflow-logs\" or \"workflow-logs-%Y.%m.%d\"",
            )),
            (Mode::Bulk, Some(i)) if i.trim().is_empty() => {
                errors.push(KeyError::new("index", "must not be empty"))
            }
            (Mode::Bulk, Some(i)) => {
                if let Err(e) = Template::parse(i, false) {
                    errors.push(KeyError::new("index", e.to_string()));
                } else if literal_text(i).chars().any(|c| {
                    c.is_ascii_uppercase()
                        || matches!(c, ' ' | '"' | '\\' | '/' | '*' | '?' | '<' | '>' | '|' | ',' | '#')
                }) {
                    errors.push(KeyError::new(
                        "index",
                        "index names must be lowercase without spaces or any of \\ / * ? \" < > | , #",
                    ));
                }
            }
            (Mode::DataStream, Some(_)) => errors.push(KeyError::new(
                "index",
                "not used with mode = \"data_stream\" (set data_stream.type/dataset/namespace)",
            )),
            (Mode::DataStream, None) => {
                for (key, v) in [
                    ("data_stream.type", &self.data_stream.kind),
                    ("data_stream.dataset", &self.data_stream.dataset),
                    ("data_stream.namespace", &self.data_stream.namespace),
                ] {
                    if v.trim().is_empty() || (v.contains('-') && !v.contains("{{")) {
                        errors.push(KeyError::new(key, "must be non-empty and contain no '-'"));
                    } else if let Err(e) = Template::parse(v, false) {
                        errors.push(KeyError::new(key, e.to_string()));
                    }
                }
            }
        }
        if self.mode == Mode::DataStream && self.action == Some(Action::Index) {
            errors.push(KeyError::new(
                "action",
                "data streams accept only \"create\"",
            ));
        }
        if let Some(f) = &self.id_field
            && let Err(e) = FieldPath::parse(f)
        {
            errors.push(KeyError::new("id_field", e.to_string()));
        }
        if let Some(p) = &self.pipeline
            && p.trim().is_empty()
        {
            errors.push(KeyError::new(
                "pipeline",
                "must not be empty (omit it for none)",
            ));
        }
        if let Some(auth) = &self.auth {
            errors.extend(auth.check());
        }
        errors.extend(self.tls.check("tls.key_file"));
        if self.tls.verify_certificate && !self.tls.verify_hostname {
            errors.push(KeyError::new(
                "tls.verify_hostname",
                "the Elasticsearch client checks host names with the certificate: \
                 set verify_certificate = false to turn off both",
            ));
        }
        for (key, zero) in [
            ("max_events", self.max_events == 0),
            ("max_bytes", self.max_bytes.0 == 0),
            ("concurrency", self.concurrency == 0),
            ("timeout", self.timeout.0.is_zero()),
            ("request_timeout", self.request_timeout.0.is_zero()),
            (
                "retry_initial_backoff",
                self.retry_initial_backoff.0.is_zero(),
            ),
        ] {
            if zero {
                errors.push(KeyError::new(key, "must be greater than zero"));
            }
        }
        if self.concurrency > 256 {
            errors.push(KeyError::new("concurrency", "at most 256"));
        }
        if self.retry_max_backoff.0 < self.retry_initial_backoff.0 {
            errors.push(KeyError::new(
                "retry_max_backoff",
                "must be at least retry_initial_backoff",
            ));
        }
        errors
    }
}

/// The literal parts of a template: without `{{ field }}` references and
/// `%` time specifiers (whose output is digits and names chosen by the user).
fn literal_text(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") {
            rest = rest.find("}}").map_or("", |e| &rest[e + 2..]);
        } else if c == '%' {
            let end = rest[1..]
                .find(|c: char| c.is_ascii_alphabetic())
                .map_or(rest.len(), |e| e + 2);
            rest = &rest[end..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ElasticsearchConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let c =
            parse("endpoints = [\"http://127.0.0.1:9200\"]\nindex = \"workflow-logs-%Y.%m.%d\"");
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.action(), Action::Create);
        assert!(c.idempotent_ids);
        assert_eq!(c.max_bytes.0, 10 << 20);

        let c = parse("endpoints = []\nmax_events = 0");
        let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["endpoints", "index", "max_events"]);

        let c = parse(
            "endpoints = [\"ftp://x\", \"http://u:p@h:9200\"]\nindex = \"Logs\"\nmode = \"data_stream\"\naction = \"index\"",
        );
        let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["endpoints[0]", "endpoints[1]", "index", "action"]);
    }

    #[test]
    fn auth_needs_exactly_one_secret_and_never_prints_it() {
        let c = parse(
            "endpoints = [\"http://h:9200\"]\nindex = \"i\"\nauth = { strategy = \"basic\", user = \"elastic\", password = \"hunter2\" }",
        );
        assert!(c.check().is_empty());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("***"),
            "{shown}"
        );

        let c = parse(
            "endpoints = [\"http://h:9200\"]\nindex = \"i\"\nauth = { strategy = \"bearer\", token = \"t\", token_file = \"/f\" }",
        );
        assert_eq!(c.check()[0].key, "auth.token");
        assert!(
            toml::from_str::<ElasticsearchConfig>(
                "endpoints = [\"http://h:9200\"]\nindex = \"i\"\nauth = { strategy = \"basic\", user = \"u\", pasword = \"x\" }"
            )
            .is_err(),
            "unknown keys in auth are refused"
        );
    }
}
