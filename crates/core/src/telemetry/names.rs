//! Names of the labeled series the runtime keeps on components, defined here
//! (not in `pipeline`) because the API's `/components` reads them: telemetry
//! must not depend on the pipeline it observes.

/// Series the runtime keeps for every transform and sink's input channel.
pub mod channel {
    /// Gauge: events waiting in a component's input channel.
    pub const FILL_EVENTS: &str = "component_buffer_events";
    /// Gauge: line bytes waiting in a component's input channel.
    pub const FILL_BYTES: &str = "component_buffer_bytes";
    /// Gauge: batches waiting in the component's input channel.
    pub const CHANNEL_BATCHES: &str = "component_buffer_batches";
    /// Gauge: capacity of that channel, in batches.
    pub const CHANNEL_MAX_BATCHES: &str = "component_buffer_max_batches";
    /// Histogram: time to process (transforms) or write (sinks) one batch.
    pub const BATCH_DURATION: &str = "component_batch_duration_seconds";
}

/// Series a disk buffer keeps on its sink.
pub mod disk_buffer {
    /// Gauge: events in the buffer not yet acknowledged by the sink.
    pub const EVENTS: &str = "buffer_events";
    /// Gauge: bytes of the buffer's segment files.
    pub const BYTES: &str = "buffer_byte_size";
    /// Gauge: the configured `max_size`.
    pub const MAX_BYTES: &str = "buffer_max_byte_size";
    /// Counter: records dropped at start-up because they were cut or corrupted.
    pub const CORRUPTED: &str = "buffer_corrupted_records_total";
}

/// Name prefixes of the agent's own series: a metric a pipeline defines
/// (`log_to_metric`) may not start with one, so `/metrics` never shows one
/// name with two `# TYPE` lines.
pub const RESERVED_PREFIXES: &[&str] = &[
    "component_",
    "buffer_",
    "elasticsearch_",
    "loki_",
    "redact_",
    "source_",
    "sink_",
    "kafka_",
    "otlp_",
    "kubernetes_metadata_",
    "logagent_",
];

/// True for a name the agent's own series use or may use
/// ([`RESERVED_PREFIXES`], [`super::agent::NAMES`]).
pub fn is_reserved(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || super::agent::NAMES
            .iter()
            .any(|n| name == *n || name.strip_suffix("_total") == Some(n))
}
