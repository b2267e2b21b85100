//! Per-component counters, named as in Vector (`component_received_events_total`,
//! ...). Plain atomics: the hot path adds once per batch, not per event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Labeled counter name for discarded events by `reason`; the exporter merges
/// it into `component_discarded_events_total` (what no reason claims is
/// reported as `reason="other"`).
pub const DISCARDED_BY_REASON: &str = "component_discarded_events_total";
/// Labeled counter name for errors by `error_type`; merged into
/// `component_errors_total` like [`DISCARDED_BY_REASON`].
pub const ERRORS_BY_TYPE: &str = "component_errors_total";

/// Labeled gauges a file-reading source keeps (the `/metrics` contract the
/// Grafana dashboard in `deploy/grafana/` reads).
pub mod source_names {
    /// Bytes between where the source has read and the end of its files.
    pub const READ_LAG_BYTES: &str = "source_read_lag_bytes";
    /// Seconds since the source last wrote its checkpoint.
    pub const CHECKPOINT_AGE_SECONDS: &str = "source_checkpoint_age_seconds";
    /// Files the source holds open.
    pub const OPEN_FILES: &str = "source_open_files";
    /// Files the file source treated as a copy of a file it knew (copied then
    /// truncated, moved across devices, compressed) and continued where that
    /// one's reading stopped, instead of reading them from their start.
    pub const FILE_COPIES_TOTAL: &str = "source_file_copies_total";
}

/// Counters of one component.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    /// Events that entered the component.
    pub received_events: AtomicU64,
    /// Bytes (of lines) that entered the component.
    pub received_bytes: AtomicU64,
    /// Events the component passed on (or, for sinks, wrote).
    pub sent_events: AtomicU64,
    /// Bytes the component passed on (for sinks: bytes written).
    pub sent_bytes: AtomicU64,
    /// Events deliberately discarded (filtered, oversized, unwritable).
    pub discarded_events: AtomicU64,
    /// Errors met (bad lines, failed writes); an error need not lose the event.
    pub errors: AtomicU64,
    /// True while the component waits for room in a full downstream channel.
    pub blocked: AtomicBool,
    /// Component-specific series (requests by status, dead letters by reason, ...).
    pub labeled: super::labeled::Labeled,
}

impl ComponentMetrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Reads every counter at once.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            received_events: self.received_events.load(Ordering::Relaxed),
            received_bytes: self.received_bytes.load(Ordering::Relaxed),
            sent_events: self.sent_events.load(Ordering::Relaxed),
            sent_bytes: self.sent_bytes.load(Ordering::Relaxed),
            discarded_events: self.discarded_events.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            blocked: self.blocked.load(Ordering::Relaxed),
        }
    }
}

/// The counters of one component at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`ComponentMetrics::received_events`].
    pub received_events: u64,
    /// See [`ComponentMetrics::received_bytes`].
    pub received_bytes: u64,
    /// See [`ComponentMetrics::sent_events`].
    pub sent_events: u64,
    /// See [`ComponentMetrics::sent_bytes`].
    pub sent_bytes: u64,
    /// See [`ComponentMetrics::discarded_events`].
    pub discarded_events: u64,
    /// See [`ComponentMetrics::errors`].
    pub errors: u64,
    /// See [`ComponentMetrics::blocked`].
    pub blocked: bool,
}

/// Which kind of component a metrics entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A source.
    Source,
    /// A transform.
    Transform,
    /// A sink.
    Sink,
}

impl Kind {
    /// The label value (`source`, `transform`, `sink`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Transform => "transform",
            Kind::Sink => "sink",
        }
    }
}

/// One registered component.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The component id.
    pub id: String,
    /// Source, transform or sink.
    pub kind: Kind,
    /// Its `type`.
    pub type_name: &'static str,
    /// Its counters.
    pub metrics: Arc<ComponentMetrics>,
}

/// The agent's one metrics registry: all components' counters and the
/// families transforms define, shared by the runtime and whoever reports them
/// (the shutdown summary, the `/metrics` endpoint). Clones share one live list,
/// so a reload's new components show up everywhere.
#[derive(Debug, Clone)]
pub struct Registry {
    entries: Arc<RwLock<Vec<Entry>>>,
    families: Arc<super::families::FamilyRegistry>,
    agent: Arc<super::agent::AgentStatus>,
    /// What `/metrics` encodes: collectors reading `entries` and `families`.
    exposition: Arc<prometheus_client::registry::Registry>,
}

impl Default for Registry {
    fn default() -> Registry {
        let entries = Arc::<RwLock<Vec<Entry>>>::default();
        let families = Arc::<super::families::FamilyRegistry>::default();
        let mut exposition = prometheus_client::registry::Registry::default();
        exposition.register_collector(Box::new(super::prometheus::ComponentCollector {
            entries: entries.clone(),
        }));
        exposition.register_collector(Box::new(super::prometheus::FamilyCollector(
            families.clone(),
        )));
        let agent = Arc::<super::agent::AgentStatus>::default();
        exposition.register_collector(Box::new(super::prometheus::AgentCollector(agent.clone())));
        Registry {
            entries,
            families,
            agent,
            exposition: Arc::new(exposition),
        }
    }
}

impl Registry {
    /// The `prometheus-client` registry `/metrics` encodes
    /// ([`super::prometheus::render`]); it reads the live counters at scrape time.
    pub fn exposition(&self) -> &prometheus_client::registry::Registry {
        &self.exposition
    }

    /// Registers a component and returns its counters. A component registered
    /// again under the same id and kind (rebuilt by a reload) keeps its counters,
    /// so exported counters never go backwards.
    pub fn register(
        &mut self,
        id: &str,
        kind: Kind,
        type_name: &'static str,
    ) -> Arc<ComponentMetrics> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entries.iter_mut().find(|e| e.id == id && e.kind == kind) {
            e.type_name = type_name;
            return e.metrics.clone();
        }
        let metrics = Arc::new(ComponentMetrics::default());
        entries.push(Entry {
            id: id.to_owned(),
            kind,
            type_name,
            metrics: metrics.clone(),
        });
        metrics
    }

    /// The labeled counters and histograms components define (per-rule
    /// redaction counts, `log_to_metric`), for the metrics endpoint.
    pub fn families(&self) -> &Arc<super::families::FamilyRegistry> {
        &self.families
    }

    /// The agent's own status (uptime, reloads), for the reloader to count.
    pub fn agent(&self) -> &Arc<super::agent::AgentStatus> {
        &self.agent
    }

    /// Forgets a component a reload removed.
    pub fn remove(&self, id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.retain(|e| e.id != id);
    }

    /// Every registered component (a copy of the list).
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counters of component `id`.
    pub fn get(&self, id: &str) -> Option<Arc<ComponentMetrics>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.metrics.clone())
    }

    /// Totals for the shutdown summary: events read by sources, written by sinks,
    /// and discarded anywhere.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in self.entries() {
            let s = e.metrics.snapshot();
            match e.kind {
                Kind::Source => t.read += s.sent_events,
                Kind::Sink => t.written += s.sent_events,
                Kind::Transform => {}
            }
            t.discarded += s.discarded_events;
            t.errors += s.errors;
        }
        t
    }
}

/// Whole-pipeline totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Events the sources emitted.
    pub read: u64,
    /// Events the sinks wrote.
    pub written: u64,
    /// Events discarded on purpose.
    pub discarded: u64,
    /// Errors counted.
    pub errors: u64,
}
