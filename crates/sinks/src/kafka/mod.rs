//! `type = "kafka"` (sink): produces every event as one Kafka message through
//! librdkafka (the `rdkafka` crate's bundled build), topic and key from
//! templates, acknowledging a batch only when the brokers have every message.
//!
//! * [`config`] — the options and their pure checks (connection options shared
//!   with the `kafka` source live in `logagent_core::kafka`).
//! * [`sink`] — the running sink: bounded in-flight bytes, delivery reports,
//!   the dead-letter output.
//!
//! The user guide is the README's "Kafka" section.

pub mod config;
pub mod sink;

pub use config::KafkaSinkConfig;
pub use sink::{DEAD_LETTER_FIELD, KafkaSink, names};

use logagent_core::KeyError;
use logagent_core::component::{DEAD_LETTER, Sink, SinkComponent, SinkError};

impl SinkComponent for KafkaSinkConfig {
    fn check(&self) -> Vec<KeyError> {
        KafkaSinkConfig::check(self)
    }

    fn build(&self, _data_dir: &std::path::Path) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(KafkaSink::new(self)?))
    }

    fn outputs(&self) -> Vec<String> {
        vec![DEAD_LETTER.to_owned()]
    }
}
