//! The options of `type = "kafka"` (sink) and their checks. Pure: nothing
//! here connects or reads a file (the SASL password file is read at build).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use logagent_core::event::FieldPath;
use logagent_core::event::template::Template;
use logagent_core::kafka::{KafkaSasl, KafkaTls, check_connection};
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Options of the Kafka sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Brokers to bootstrap from, `HOST:PORT[,HOST:PORT…]`.
    pub bootstrap_servers: String,
    /// Topic template: `{{ field }}` and strftime from the event time
    /// (`logs-{{ service }}`). A missing field renders as `unknown`.
    pub topic: String,
    /// Message key template (`{{ kubernetes.pod_name }}`): messages with one key
    /// go to one partition, in order. Unset: no key (librdkafka spreads them).
    #[serde(default)]
    pub key: Option<String>,
    /// `json` (default): the event as one JSON object; `text`: the line.
    #[serde(default)]
    pub encoding: MessageEncoding,
    /// Message headers from fields: header name → field path. An event without
    /// the field gets no such header.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `none` (default), `gzip`, `lz4`, `zstd` or `snappy` record batches.
    #[serde(default)]
    pub compression: KafkaCompression,
    /// `all` (default: every in-sync replica has the message), `leader` or `none`.
    #[serde(default)]
    pub acks: Acks,
    /// The idempotent producer (default true; needs `acks = "all"`): librdkafka's
    /// retries neither duplicate nor reorder messages.
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// Most bytes of messages handed to librdkafka and not yet acknowledged by
    /// the brokers (default 32MiB). At the limit the sink waits, which holds
    /// the pipeline and finally the sources back.
    #[serde(default = "default_in_flight")]
    pub max_in_flight_bytes: ByteSize,
    /// How long librdkafka keeps trying to deliver a message before it fails
    /// and goes to the dead-letter output. `0s` (default): for ever, like the
    /// other sinks' default of retrying until the destination is back.
    #[serde(default = "default_message_timeout")]
    pub message_timeout: HumanDuration,
    /// Most time a message waits to fill a record batch (default 5ms).
    #[serde(default = "default_linger")]
    pub linger: HumanDuration,
    /// TLS to the brokers (the table's presence turns it on).
    #[serde(default)]
    pub tls: Option<KafkaTls>,
    /// SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// Any other librdkafka producer property (`"batch.size" = "1000000"`).
    #[serde(default)]
    pub librdkafka_options: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}
fn default_in_flight() -> ByteSize {
    ByteSize(32 << 20)
}
fn default_message_timeout() -> HumanDuration {
    HumanDuration(Duration::ZERO)
}
fn default_linger() -> HumanDuration {
    HumanDuration(Duration::from_millis(5))
}

/// How an event becomes a message value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageEncoding {
    /// One JSON object (text lines become `{"message": ...}`).
    #[default]
    Json,
    /// The line as text, with edits applied.
    Text,
}

/// Record batch compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaCompression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
    /// Snappy.
    Snappy,
}

impl KafkaCompression {
    /// librdkafka's name (`compression.codec`).
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaCompression::None => "none",
            KafkaCompression::Gzip => "gzip",
            KafkaCompression::Lz4 => "lz4",
            KafkaCompression::Zstd => "zstd",
            KafkaCompression::Snappy => "snappy",
        }
    }
}

/// How many brokers must have a message before it counts as delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acks {
    /// Every in-sync replica (`acks=all`).
    #[default]
    All,
    /// The partition leader only (`acks=1`).
    Leader,
    /// Nobody (`acks=0`): a delivery report means only "sent".
    None,
}

impl Acks {
    /// librdkafka's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "1",
            Acks::None => "0",
        }
    }
}

/// The librdkafka properties the sink's own keys set.
pub const OWNED_PROPERTIES: &[&str] = &[
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "compression.codec",
    "compression.type",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "linger.ms",
    "queue.buffering.max.ms",
];

impl KafkaSinkConfig {
    /// Every problem with the options (pure).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = check_connection(
            &self.bootstrap_servers,
            self.tls.as_ref(),
            self.sasl.as_ref(),
            &self.librdkafka_options,
            OWNED_PROPERTIES,
        );
        if self.topic.trim().is_empty() {
            errors.push(KeyError::new(
                "topic",
                "must not be empty, e.g. \"logs-{{ service }}\"",
            ));
        } else if let Err(e) = Template::parse(&self.topic, false) {
            errors.push(KeyError::new("topic", e.to_string()));
        } else if literal_chars(&self.topic)
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            errors.push(KeyError::new(
                "topic",
                "Kafka topic names hold only ASCII letters, digits, '.', '_' and '-'",
            ));
        }
        if let Some(k) = &self.key
            && let Err(e) = Template::parse(k, false)
        {
            errors.push(KeyError::new("key", e.to_string()));
        }
        for (name, path) in &self.headers {
            if name.is_empty() {
                errors.push(KeyError::new("headers", "header names must not be empty"));
            }
            if let Err(e) = FieldPath::parse(path) {
                errors.push(KeyError::new(format!("headers.{name}"), e.to_string()));
            }
        }
        if self.idempotent && self.acks != Acks::All {
            errors.push(KeyError::new(
                "acks",
                "the idempotent producer needs acks = \"all\" (or set idempotent = false)",
            ));
        }
        if self.max_in_flight_bytes.0 < 64 << 10 {
            errors.push(KeyError::new("max_in_flight_bytes", "at least 64KiB"));
        }
        if self.max_in_flight_bytes.0 > 4 << 30 {
            errors.push(KeyError::new("max_in_flight_bytes", "at most 4GiB"));
        }
        if !self.message_timeout.0.is_zero() && self.message_timeout.0 <= self.linger.0 {
            errors.push(KeyError::new(
                "message_timeout",
                "must be longer than linger (or 0s: retry for ever)",
            ));
        }
        if self.linger.0 > Duration::from_secs(10) {
            errors.push(KeyError::new("linger", "at most 10s"));
        }
        errors
    }
}

/// The characters of a template outside `{{ }}` and `%` specifiers.
fn literal_chars(template: &str) -> impl Iterator<Item = char> + '_ {
    let mut out = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") {
            rest = rest.find("}}").map_or("", |e| &rest[e + 2..]);
        } else if c == '%' {
            rest = rest.get(2..).unwrap_or("");
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.into_bytes().into_iter().map(char::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KafkaSinkConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_safe_and_checks_name_keys() {
        let c = parse("bootstrap_servers = \"k:9092\"\ntopic = \"logs-{{ service }}\"");
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.acks, Acks::All);
        assert!(c.idempotent);
        assert_eq!(c.compression, KafkaCompression::None);
        let c = parse(
            "bootstrap_servers = \"\"\ntopic = \"logs {{ service }}\"\nkey = \"{{ a\"\nacks = \"leader\"\n\
             headers = { svc = \"a..b\" }\nlibrdkafka_options = { \"enable.idempotence\" = \"false\" }",
        );
        let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "bootstrap_servers",
                "librdkafka_options.enable.idempotence",
                "topic",
                "key",
                "headers.svc",
                "acks"
            ]
        );
        assert!(
            toml::from_str::<KafkaSinkConfig>(
                "bootstrap_servers = \"k:1\"\ntopic = \"t\"\ncompression = \"brotli\""
            )
            .is_err()
        );
    }
}
