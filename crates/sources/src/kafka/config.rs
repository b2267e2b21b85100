//! The options of `type = "kafka"` (source) and their checks (pure).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use logagent_core::kafka::{KafkaSasl, KafkaTls, check_connection};
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// Options of the Kafka source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Brokers to bootstrap from, `HOST:PORT[,HOST:PORT…]`.
    pub bootstrap_servers: String,
    /// The consumer group: agents with one group share the partitions, each
    /// message going to one of them.
    pub group_id: String,
    /// Topics to read (exactly one of `topics` and `topic_pattern`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression: every matching topic is read, new ones included
    /// once the brokers' metadata shows them (`^logs-.*`).
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// Where a group without committed offsets starts: `earliest` (default:
    /// nothing already in the topic is skipped) or `latest`.
    #[serde(default)]
    pub auto_offset_reset: OffsetReset,
    /// `json` (default): a message value that is a JSON object becomes the
    /// event's fields; anything else is a text line. `text`: always a line.
    #[serde(default)]
    pub decoding: Decoding,
    /// Field the message's topic, partition, offset, key, timestamp and headers
    /// go under (default `kafka`).
    #[serde(default = "default_metadata_field")]
    pub metadata_field: String,
    /// Longest message value kept (default 1MiB); longer ones are dropped,
    /// counted and logged.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: ByteSize,
    /// Most bytes librdkafka fetches ahead per partition set (default 16MiB):
    /// with the pipeline's channels, what bounds the source's memory.
    #[serde(default = "default_prefetch")]
    pub max_prefetch_bytes: ByteSize,
    /// How often acknowledged offsets are committed (default 1s).
    #[serde(default = "default_commit_interval")]
    pub commit_interval: HumanDuration,
    /// How long a rebalance waits for the sinks to acknowledge what was read
    /// from the partitions being taken away, before committing what is
    /// acknowledged (default 10s; the rest is read again by the new owner).
    #[serde(default = "default_rebalance_wait")]
    pub rebalance_wait: HumanDuration,
    /// The group's session timeout (default 30s): how long a silent member
    /// keeps its partitions.
    #[serde(default = "default_session_timeout")]
    pub session_timeout: HumanDuration,
    /// TLS to the brokers (the table's presence turns it on).
    #[serde(default)]
    pub tls: Option<KafkaTls>,
    /// SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// Any other librdkafka consumer property.
    #[serde(default)]
    pub librdkafka_options: BTreeMap<String, String>,
}

fn default_metadata_field() -> String {
    "kafka".into()
}
fn default_max_message() -> ByteSize {
    ByteSize(1 << 20)
}
fn default_prefetch() -> ByteSize {
    ByteSize(16 << 20)
}
fn default_commit_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_rebalance_wait() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_session_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

/// Where to start without a committed offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    /// The oldest message kept.
    #[default]
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// How a message value becomes an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decoding {
    /// JSON objects become fields; other values are lines.
    #[default]
    Json,
    /// Always a text line.
    Text,
}

/// The librdkafka properties the source sets itself.
pub const OWNED_PROPERTIES: &[&str] = &[
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "session.timeout.ms",
    "statistics.interval.ms",
];

impl KafkaSourceConfig {
    /// Every problem with the options (pure).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = check_connection(
            &self.bootstrap_servers,
            self.tls.as_ref(),
            self.sasl.as_ref(),
            &self.librdkafka_options,
            OWNED_PROPERTIES,
        );
        if self.group_id.trim().is_empty() {
            errors.push(KeyError::new(
                "group_id",
                "must not be empty, e.g. \"logagent-aggregators\"",
            ));
        }
        match (&self.topics[..], &self.topic_pattern) {
            ([], None) => errors.push(KeyError::new(
                "topics",
                "missing: list topics (e.g. [\"logs\"]) or set topic_pattern (e.g. \"^logs-.*\")",
            )),
            ([_, ..], Some(_)) => errors.push(KeyError::new(
                "topic_pattern",
                "set either topics or topic_pattern, not both",
            )),
            (_, Some(p)) => {
                if let Err(e) = regex::Regex::new(p) {
                    errors.push(KeyError::new(
                        "topic_pattern",
                        format!("not a regular expression: {e}"),
                    ));
                }
            }
            (topics, None) => {
                for (i, t) in topics.iter().enumerate() {
                    if t.is_empty()
                        || t.len() > 249
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                    {
                        errors.push(KeyError::new(
                            format!("topics[{i}]"),
                            "a topic name: 1-249 ASCII letters, digits, '.', '_' or '-'",
                        ));
                    }
                }
            }
        }
        if self.metadata_field.is_empty() {
            errors.push(KeyError::new("metadata_field", "must not be empty"));
        }
        if self.max_message_bytes.0 == 0 {
            errors.push(KeyError::new(
                "max_message_bytes",
                "must be greater than zero",
            ));
        }
        if self.max_prefetch_bytes.0 < 1 << 20 {
            errors.push(KeyError::new("max_prefetch_bytes", "at least 1MiB"));
        }
        for (key, d) in [
            ("commit_interval", self.commit_interval.0),
            ("session_timeout", self.session_timeout.0),
        ] {
            if d.is_zero() {
                errors.push(KeyError::new(key, "must be greater than zero"));
            }
        }
        errors
    }

    /// The subscription as librdkafka takes it (a pattern starts with `^`).
    pub fn subscription(&self) -> Vec<String> {
        match &self.topic_pattern {
            Some(p) if p.starts_with('^') => vec![p.clone()],
            Some(p) => vec![format!("^{p}")],
            None => self.topics.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KafkaSourceConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn topics_or_a_pattern() {
        let c = parse("bootstrap_servers = \"k:9092\"\ngroup_id = \"g\"\ntopics = [\"logs\"]");
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.subscription(), ["logs"]);
        let c =
            parse("bootstrap_servers = \"k:9092\"\ngroup_id = \"g\"\ntopic_pattern = \"logs-.*\"");
        assert_eq!(c.subscription(), ["^logs-.*"]);
        let c = parse("bootstrap_servers = \"k:9092\"\ngroup_id = \"\"");
        let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["group_id", "topics"]);
        let c = parse(
            "bootstrap_servers = \"k:9092\"\ngroup_id = \"g\"\ntopics = [\"a b\"]\ntopic_pattern = \"(\"\n\
             librdkafka_options = { \"enable.auto.commit\" = \"true\" }",
        );
        let keys: Vec<String> = c.check().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            ["librdkafka_options.enable.auto.commit", "topic_pattern"]
        );
    }
}
