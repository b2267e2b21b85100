//! The closed sets of component types. Everything but the list of types is
//! delegated to each component's config through the traits in
//! [`logagent_core::component`] ([`SourceComponent`], [`TransformComponent`],
//! [`SinkComponent`]): a new source, transform or sink is its module (its
//! config implementing the trait) and one line in the list of its kind below.

use serde::Deserialize;
use toml::de::ValueDeserializer;

use super::{ComponentChecks, KeyError};
use logagent_core::component::{
    DEAD_LETTER, HealthCheck, SinkComponent, SourceComponent, TransformComponent,
};
use logagent_kubernetes::KubernetesMetadataConfig;
use logagent_sinks::blackhole::BlackholeSinkConfig;
use logagent_sinks::console::ConsoleSinkConfig;
use logagent_sinks::elasticsearch::ElasticsearchConfig;
use logagent_sinks::file::FileSinkConfig;
use logagent_sinks::kafka::KafkaSinkConfig;
use logagent_sinks::loki::LokiSinkConfig;
use logagent_sinks::opentelemetry::OpenTelemetrySinkConfig;
use logagent_sinks::stdout::StdoutSinkConfig;
use logagent_sources::file::FileSourceConfig;
use logagent_sources::http::HttpSourceConfig;
use logagent_sources::kafka::KafkaSourceConfig;
use logagent_sources::opentelemetry::OpenTelemetrySourceConfig;
use logagent_sources::stdin::StdinSourceConfig;
use logagent_sources::syslog::SyslogSourceConfig;
use logagent_transforms::enrich::EnrichConfig;
use logagent_transforms::filter::FilterConfig;
use logagent_transforms::filter_level::FilterLevelConfig;
use logagent_transforms::log_to_metric::LogToMetricConfig;
use logagent_transforms::parse_json::ParseJsonConfig;
use logagent_transforms::parse_kv::{ParseKvConfig, ParseLogfmtConfig};
use logagent_transforms::parse_regex::ParseRegexConfig;
use logagent_transforms::redact::RedactConfig;
use logagent_transforms::remap::RemapConfig;
use logagent_transforms::route::RouteConfig;
use logagent_transforms::sample::SampleConfig;
use logagent_transforms::shape::{AddFieldsConfig, RemoveFieldsConfig, RenameFieldsConfig};
use logagent_transforms::throttle::ThrottleConfig;

/// Declares one kind's component enum from its list of types: the enum, the
/// parser that picks a variant by `type`, the `type` name of each variant and
/// the view of a variant as its config's trait object, which answers for it.
macro_rules! component_types {
    (
        $(#[$enum_doc:meta])*
        enum $enum:ident: $trait:ident {
            $($(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal,)*
        }
    ) => {
        $(#[$enum_doc])*
        // Configs are built once, so the size of the largest variant is moot.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone)]
        pub enum $enum {
            $($(#[$doc])* $variant($ty),)*
        }

        impl $enum {
            /// Every `type` name of this kind, in the order of the list.
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// Picks the variant for `ty`; `None` when the type is unknown.
            pub fn parse(ty: &str, de: ValueDeserializer<'_>) -> Option<Result<Self, toml::de::Error>> {
                match ty {
                    $($name => Some(Deserialize::deserialize(de).map($enum::$variant)),)*
                    _ => None,
                }
            }

            /// The `type` name.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => $name,)*
                }
            }

            /// The component's own config, which answers for it.
            pub fn component(&self) -> &dyn $trait {
                match self {
                    $($enum::$variant(c) => &**c as &dyn $trait,)*
                }
            }
        }
    };
}

component_types! {
    /// A configured source.
    enum SourceConfig: SourceComponent {
        /// `type = "file"`: tail files matching globs.
        File(Box<FileSourceConfig>) = "file",
        /// `type = "stdin"`: read standard input.
        Stdin(Box<StdinSourceConfig>) = "stdin",
        /// `type = "syslog"`: RFC 3164/5424 over UDP or TCP.
        Syslog(Box<SyslogSourceConfig>) = "syslog",
        /// `type = "http"`: receive NDJSON, Elasticsearch `_bulk` and Loki pushes.
        Http(Box<HttpSourceConfig>) = "http",
        /// `type = "kafka"`: a consumer-group member, offsets committed once acknowledged.
        Kafka(Box<KafkaSourceConfig>) = "kafka",
        /// `type = "opentelemetry"`: an OTLP/HTTP logs receiver (`/v1/logs`).
        OpenTelemetry(Box<OpenTelemetrySourceConfig>) = "opentelemetry",
    }
}

component_types! {
    /// A configured transform.
    enum TransformConfig: TransformComponent {
        /// `type = "parse_json"`: parse each line (or a field such as Docker's `log`) as a JSON object, without copying it.
        ParseJson(Box<ParseJsonConfig>) = "parse_json",
        /// `type = "parse_regex"`: named captures of a regex (or a built-in preset: nginx/apache, syslog) become fields.
        ParseRegex(Box<ParseRegexConfig>) = "parse_regex",
        /// `type = "enrich"`: add static fields (with `${VAR}`), the host name, the file path and captures of a pattern on it.
        Enrich(Box<EnrichConfig>) = "enrich",
        /// `type = "filter_level"`: drop events below a severity level.
        FilterLevel(Box<FilterLevelConfig>) = "filter_level",
        /// `type = "redact"`: keep personal data and secrets out of what is shipped (by path, or by detectors).
        Redact(Box<RedactConfig>) = "redact",
        /// `type = "parse_logfmt"`: parse `key=value` logfmt lines into fields.
        ParseLogfmt(Box<ParseLogfmtConfig>) = "parse_logfmt",
        /// `type = "parse_kv"`: parse key/value pairs with chosen separators into fields.
        ParseKv(Box<ParseKvConfig>) = "parse_kv",
        /// `type = "remove_fields"`: remove fields.
        RemoveFields(Box<RemoveFieldsConfig>) = "remove_fields",
        /// `type = "rename_fields"`: rename fields (moving their values, never re-encoding them).
        RenameFields(Box<RenameFieldsConfig>) = "rename_fields",
        /// `type = "add_fields"`: add fields with fixed values or templates.
        AddFields(Box<AddFieldsConfig>) = "add_fields",
        /// `type = "filter"`: keep or drop events by a condition on their fields.
        Filter(Box<FilterConfig>) = "filter",
        /// `type = "sample"`: keep 1 event in `rate` (never errors), by a hash of `key_field` if set.
        Sample(Box<SampleConfig>) = "sample",
        /// `type = "throttle"`: at most `rate` events per second per key (a token bucket), the rest dropped.
        Throttle(Box<ThrottleConfig>) = "throttle",
        /// `type = "route"`: send events to named outputs by conditions.
        Route(Box<RouteConfig>) = "route",
        /// `type = "log_to_metric"`: counters and histograms computed from events, on the metrics endpoint.
        LogToMetric(Box<LogToMetricConfig>) = "log_to_metric",
        /// `type = "remap"`: a VRL program (Vector's Remap Language).
        Remap(Box<RemapConfig>) = "remap",
        /// `type = "kubernetes_metadata"`: the pod's labels, annotations, node and owner from the API server, on kubelet log lines.
        KubernetesMetadata(Box<KubernetesMetadataConfig>) = "kubernetes_metadata",
    }
}

component_types! {
    /// A configured sink.
    enum SinkConfig: SinkComponent {
        /// `type = "file"`: NDJSON files from a path template.
        File(Box<FileSinkConfig>) = "file",
        /// `type = "stdout"`: NDJSON (or text) on standard output.
        Stdout(Box<StdoutSinkConfig>) = "stdout",
        /// `type = "elasticsearch"`: bulk requests with idempotent ids and a
        /// dead-letter output.
        Elasticsearch(Box<ElasticsearchConfig>) = "elasticsearch",
        /// `type = "loki"`: Grafana Loki's push API.
        Loki(Box<LokiSinkConfig>) = "loki",
        /// `type = "blackhole"`: counts and drops (benchmarks).
        Blackhole(Box<BlackholeSinkConfig>) = "blackhole",
        /// `type = "console"`: stdout as json, text or logfmt.
        Console(Box<ConsoleSinkConfig>) = "console",
        /// `type = "opentelemetry"`: OTLP/HTTP logs export.
        OpenTelemetry(Box<OpenTelemetrySinkConfig>) = "opentelemetry",
        /// `type = "kafka"`: one message per event, acknowledged on delivery.
        Kafka(Box<KafkaSinkConfig>) = "kafka",
    }
}

impl ComponentChecks for SourceConfig {
    const TYPES: &'static [&'static str] = SourceConfig::TYPES;
    fn check(&self) -> Vec<KeyError> {
        self.component().check()
    }
}

impl ComponentChecks for TransformConfig {
    const TYPES: &'static [&'static str] = TransformConfig::TYPES;
    fn check(&self) -> Vec<KeyError> {
        self.component().check()
    }
    fn outputs(&self) -> Vec<String> {
        // Every transform has a dead-letter output for events it panics on
        // (crate::pipeline::isolate).
        let mut outputs = self.component().outputs();
        outputs.push(DEAD_LETTER.to_owned());
        outputs
    }
}

impl ComponentChecks for SinkConfig {
    const TYPES: &'static [&'static str] = SinkConfig::TYPES;
    fn check(&self) -> Vec<KeyError> {
        self.component().check()
    }
    fn outputs(&self) -> Vec<String> {
        self.component().outputs()
    }
}

impl SinkConfig {
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
    pub fn health_check(&self) -> Option<Box<dyn HealthCheck>> {
        self.component().health_check()
    }
}
