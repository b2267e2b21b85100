//! The closed sets of component types. A new sink is its module (its config
//! implementing [`SinkComponent`]) and one line in `sink_types!`; a new source or
//! transform is still one variant here, one module under its kind, and one arm in
//! each `match`.

use serde::Deserialize;
use toml::de::ValueDeserializer;

use super::{ComponentChecks, KeyError};

// Named outputs: override `ComponentChecks::outputs` in the arms below when a
// component gains them.
use crate::sinks::SinkComponent;
use crate::sinks::elasticsearch::ElasticsearchConfig;
use crate::sinks::file::FileSinkConfig;
use crate::sinks::loki::LokiSinkConfig;
use crate::sinks::stdout::StdoutSinkConfig;
use crate::sources::file::FileSourceConfig;
use crate::sources::stdin::StdinSourceConfig;
use crate::transforms::enrich::EnrichConfig;
use crate::transforms::filter::FilterConfig;
use crate::transforms::filter_level::FilterLevelConfig;
use crate::transforms::log_to_metric::LogToMetricConfig;
use crate::transforms::parse_json::ParseJsonConfig;
use crate::transforms::parse_kv::ParseKvConfig;
use crate::transforms::parse_kv::ParseLogfmtConfig;
use crate::transforms::parse_regex::ParseRegexConfig;
use crate::transforms::redact::RedactConfig;
use crate::transforms::route::RouteConfig;
use crate::transforms::sample::SampleConfig;
use crate::transforms::shape::AddFieldsConfig;
use crate::transforms::shape::RemoveFieldsConfig;
use crate::transforms::shape::RenameFieldsConfig;
use crate::transforms::throttle::ThrottleConfig;

/// Deserializes the rest of a component table into the variant named by `type`.
macro_rules! parse_variant {
    ($de:expr, $variant:path) => {
        Some(Deserialize::deserialize($de).map($variant))
    };
}

/// A configured source.
// The file source has many options; configs are built once, so size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// `type = "file"`: tail files matching globs.
    File(FileSourceConfig),
    /// `type = "stdin"`: read standard input.
    Stdin(StdinSourceConfig),
}

impl SourceConfig {
    /// Picks the variant for `ty`; `None` when the type is unknown.
    pub fn parse(ty: &str, de: ValueDeserializer<'_>) -> Option<Result<Self, toml::de::Error>> {
        match ty {
            "file" => parse_variant!(de, SourceConfig::File),
            "stdin" => parse_variant!(de, SourceConfig::Stdin),
            _ => None,
        }
    }

    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceConfig::File(_) => "file",
            SourceConfig::Stdin(_) => "stdin",
        }
    }
}

impl ComponentChecks for SourceConfig {
    const TYPES: &'static [&'static str] = &["file", "stdin"];
    fn check(&self) -> Vec<KeyError> {
        match self {
            SourceConfig::File(c) => c.check(),
            SourceConfig::Stdin(c) => c.check(),
        }
    }
}

/// A configured transform.
#[derive(Debug, Clone)]
pub enum TransformConfig {
    /// `type = "parse_json"`.
    ParseJson(ParseJsonConfig),
    /// `type = "parse_regex"`.
    ParseRegex(ParseRegexConfig),
    /// `type = "enrich"`.
    Enrich(EnrichConfig),
    /// `type = "filter_level"`.
    FilterLevel(FilterLevelConfig),
    /// `type = "redact"`.
    Redact(RedactConfig),
    /// `type = "parse_logfmt"`.
    ParseLogfmt(ParseLogfmtConfig),
    /// `type = "parse_kv"`.
    ParseKv(ParseKvConfig),
    /// `type = "remove_fields"`.
    RemoveFields(RemoveFieldsConfig),
    /// `type = "rename_fields"`.
    RenameFields(RenameFieldsConfig),
    /// `type = "add_fields"`.
    AddFields(AddFieldsConfig),
    /// `type = "filter"`.
    Filter(FilterConfig),
    /// `type = "sample"`.
    Sample(SampleConfig),
    /// `type = "throttle"`.
    Throttle(ThrottleConfig),
    /// `type = "route"`.
    Route(RouteConfig),
    /// `type = "log_to_metric"`.
    LogToMetric(LogToMetricConfig),
}

impl TransformConfig {
    /// Picks the variant for `ty`; `None` when the type is unknown.
    pub fn parse(ty: &str, de: ValueDeserializer<'_>) -> Option<Result<Self, toml::de::Error>> {
        match ty {
            "parse_json" => parse_variant!(de, TransformConfig::ParseJson),
            "parse_regex" => parse_variant!(de, TransformConfig::ParseRegex),
            "enrich" => parse_variant!(de, TransformConfig::Enrich),
            "filter_level" => parse_variant!(de, TransformConfig::FilterLevel),
            "redact" => parse_variant!(de, TransformConfig::Redact),
            "parse_logfmt" => parse_variant!(de, TransformConfig::ParseLogfmt),
            "parse_kv" => parse_variant!(de, TransformConfig::ParseKv),
            "remove_fields" => parse_variant!(de, TransformConfig::RemoveFields),
            "rename_fields" => parse_variant!(de, TransformConfig::RenameFields),
            "add_fields" => parse_variant!(de, TransformConfig::AddFields),
            "filter" => parse_variant!(de, TransformConfig::Filter),
            "sample" => parse_variant!(de, TransformConfig::Sample),
            "throttle" => parse_variant!(de, TransformConfig::Throttle),
            "route" => parse_variant!(de, TransformConfig::Route),
            "log_to_metric" => parse_variant!(de, TransformConfig::LogToMetric),
            _ => None,
        }
    }

    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            TransformConfig::ParseJson(_) => "parse_json",
            TransformConfig::ParseRegex(_) => "parse_regex",
            TransformConfig::Enrich(_) => "enrich",
            TransformConfig::FilterLevel(_) => "filter_level",
            TransformConfig::Redact(_) => "redact",
            TransformConfig::ParseLogfmt(_) => "parse_logfmt",
            TransformConfig::ParseKv(_) => "parse_kv",
            TransformConfig::RemoveFields(_) => "remove_fields",
            TransformConfig::RenameFields(_) => "rename_fields",
            TransformConfig::AddFields(_) => "add_fields",
            TransformConfig::Filter(_) => "filter",
            TransformConfig::Sample(_) => "sample",
            TransformConfig::Throttle(_) => "throttle",
            TransformConfig::Route(_) => "route",
            TransformConfig::LogToMetric(_) => "log_to_metric",
        }
    }
}

impl ComponentChecks for TransformConfig {
    const TYPES: &'static [&'static str] = &[
        "parse_json",
        "parse_regex",
        "enrich",
        "filter_level",
        "redact",
        "parse_logfmt",
        "parse_kv",
        "remove_fields",
        "rename_fields",
        "add_fields",
        "filter",
        "sample",
        "throttle",
        "route",
        "log_to_metric",
    ];
    fn check(&self) -> Vec<KeyError> {
        match self {
            TransformConfig::ParseJson(c) => c.check(),
            TransformConfig::ParseRegex(c) => c.check(),
            TransformConfig::Enrich(c) => c.check(),
            TransformConfig::FilterLevel(c) => c.check(),
            TransformConfig::Redact(c) => c.check(),
            TransformConfig::ParseLogfmt(c) => c.check(),
            TransformConfig::ParseKv(c) => c.check(),
            TransformConfig::RemoveFields(c) => c.check(),
            TransformConfig::RenameFields(c) => c.check(),
            TransformConfig::AddFields(c) => c.check(),
            TransformConfig::Filter(c) => c.check(),
            TransformConfig::Sample(c) => c.check(),
            TransformConfig::Throttle(c) => c.check(),
            TransformConfig::Route(c) => c.check(),
            TransformConfig::LogToMetric(c) => c.check(),
        }
    }
    fn outputs(&self) -> Vec<String> {
        // Every transform has a dead-letter output for events it panics on
        // (crate::pipeline::isolate).
        let mut outputs = match self {
            TransformConfig::Route(c) => c.outputs(),
            _ => Vec::new(),
        };
        outputs.push(crate::pipeline::isolate::DEAD_LETTER.to_owned());
        outputs
    }
}

/// A configured sink. Everything but the list of types is delegated to the
/// sink's config ([`SinkComponent`]): a new sink is its module and one line in
/// `sink_types!` below.
macro_rules! sink_types {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal,)*) => {
        /// A configured sink.
        #[derive(Debug, Clone)]
        pub enum SinkConfig {
            $($(#[$doc])* $variant($ty),)*
        }

        impl SinkConfig {
            /// Picks the variant for `ty`; `None` when the type is unknown.
            pub fn parse(ty: &str, de: ValueDeserializer<'_>) -> Option<Result<Self, toml::de::Error>> {
                match ty {
                    $($name => parse_variant!(de, SinkConfig::$variant),)*
                    _ => None,
                }
            }

            /// The sink's own config, which answers for it.
            pub fn component(&self) -> &dyn SinkComponent {
                match self {
                    $(SinkConfig::$variant(c) => &**c as &dyn SinkComponent,)*
                }
            }
        }

        impl ComponentChecks for SinkConfig {
            const TYPES: &'static [&'static str] = &[$($name),*];
            fn check(&self) -> Vec<KeyError> {
                self.component().check()
            }
            fn outputs(&self) -> Vec<String> {
                self.component().outputs()
            }
        }
    };
}

sink_types! {
    /// `type = "file"`: NDJSON files from a path template.
    File(Box<FileSinkConfig>) = "file",
    /// `type = "stdout"`.
    Stdout(Box<StdoutSinkConfig>) = "stdout",
    /// `type = "elasticsearch"`: bulk requests with idempotent ids and a
    /// dead-letter output.
    Elasticsearch(Box<ElasticsearchConfig>) = "elasticsearch",
    /// `type = "loki"`: Grafana Loki's push API.
    Loki(Box<LokiSinkConfig>) = "loki",
}

impl SinkConfig {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        self.component().type_name()
    }

    /// True for a sink that skips replayed events by their stream offsets
    /// ([`SinkComponent::skips_replays`]).
    pub fn skips_replays(&self) -> bool {
        self.component().skips_replays()
    }

    /// The path (template) a file-writing sink appends to, to catch two sinks on one file.
    pub fn output_path(&self) -> Option<&str> {
        self.component().output_path()
    }

    /// The check of the server the sink talks to ([`SinkComponent::health_check`]).
    pub fn health_check(&self) -> Option<Box<dyn crate::sinks::net::HealthCheck>> {
        self.component().health_check()
    }
}
