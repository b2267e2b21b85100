//! `type = "kubernetes_metadata"`: the pod's labels, annotations, node, IP,
//! owner, container image and id, and its namespace's labels, from the API
//! server, under `kubernetes`, on every line of a kubelet log file.
//!
//! The pod is named by the batch's file path (`/var/log/pods/<ns>_<pod>_<uid>/
//! <container>/N.log`, or `/var/log/containers/<pod>_<ns>_<container>-<id>.log`),
//! so a batch (one file's lines) costs one cache lookup, and the field is one
//! shared, pre-encoded JSON value per batch. Lines of other streams pass as
//! they are.
//!
//! A pod the cache does not have yet (the watch is still listing, or the API
//! server is unreachable): the batch waits for it, up to `metadata_wait` from
//! the first line of that pod and from the start of the watch's current
//! outage, whichever is first (the transform's thread holds the batch; the
//! pipeline's bounded channels push back on the sources meanwhile, so the
//! delayed lines are bounded by the channel capacities). Past the wait the
//! lines go on with the path's fields only, counted in
//! `kubernetes_metadata_missing_total`; later batches of the same pod do not
//! wait again, but get the metadata as soon as the watch delivers it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;

use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::{Batch, Value};
use logagent_core::telemetry::families::Series;
use logagent_core::units::HumanDuration;

use crate::cache::{Cache, Found, Limits};
use crate::meta::{KeyFilter, Shaping};
use crate::path::PathMeta;
use crate::watch::{Watch, WatchSettings};

/// Include/exclude lists of label or annotation keys (exact keys or
/// `prefix*`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLists {
    /// Keys to keep; empty (the default) keeps all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Keys to drop, after `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl KeyLists {
    fn filter(&self) -> KeyFilter {
        KeyFilter {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
        }
    }
}

/// Options of `kubernetes_metadata`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesMetadataConfig {
    /// This node's name: only its pods are watched (`spec.nodeName`).
    /// Default: the `NODE_NAME` environment variable, which the DaemonSet sets
    /// from the downward API (`spec.nodeName`). Without either, the watch does
    /// not start (an error is logged) and lines keep the path's fields.
    #[serde(default)]
    pub node_name: Option<String>,
    /// A kubeconfig file (local runs). Default: `$KUBECONFIG` or
    /// `~/.kube/config` if present, else the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Watch namespaces too and add `namespace_labels` (default true).
    #[serde(default = "yes")]
    pub namespace_labels: bool,
    /// Which pod (and namespace) labels are kept (default: all).
    #[serde(default)]
    pub labels: KeyLists,
    /// Which annotations are kept (default: all but
    /// `kubectl.kubernetes.io/last-applied-configuration`, a copy of the spec).
    #[serde(default = "default_annotations")]
    pub annotations: KeyLists,
    /// Longest label or annotation value kept, in bytes; longer ones are cut
    /// (default 1024).
    #[serde(default = "default_max_value_bytes")]
    pub max_value_bytes: usize,
    /// Most pods in the cache, live and deleted (default 8192; a node runs
    /// 110 by default).
    #[serde(default = "default_max_pods")]
    pub max_pods: usize,
    /// Most namespaces in the cache (default 4096).
    #[serde(default = "default_max_namespaces")]
    pub max_namespaces: usize,
    /// How long a deleted pod's metadata is kept after its deletion and its
    /// last line (default 5m).
    #[serde(default = "default_delete_grace")]
    pub delete_grace: HumanDuration,
    /// Longest delay of a pod's lines waiting for its metadata (default 5s,
    /// at most 1m).
    #[serde(default = "default_metadata_wait")]
    pub metadata_wait: HumanDuration,
    /// How long one watch request lasts before it is renewed from the last
    /// resourceVersion (default and most 290s: kube's client reads a watch
    /// for at most 295 s; least 1m).
    #[serde(default = "default_watch_timeout")]
    pub watch_timeout: HumanDuration,
}

fn yes() -> bool {
    true
}
fn default_annotations() -> KeyLists {
    KeyLists {
        include: Vec::new(),
        exclude: vec!["kubectl.kubernetes.io/last-applied-configuration".into()],
    }
}
fn default_max_value_bytes() -> usize {
    1024
}
fn default_max_pods() -> usize {
    8192
}
fn default_max_namespaces() -> usize {
    4096
}
fn default_delete_grace() -> HumanDuration {
    HumanDuration(MAX_WATCH_TIMEOUT)
}
fn default_metadata_wait() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_watch_timeout() -> HumanDuration {
    HumanDuration(MAX_WATCH_TIMEOUT)
}

/// The longest `metadata_wait`: a node must not stall longer for the API.
const MAX_METADATA_WAIT: Duration = Duration::from_secs(60);
/// The longest watch request kube accepts (`WatchParams::timeout < 295`).
const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(290);
/// Pods remembered as "waited for" (first line seen, metadata missing).
const MAX_WAITING: usize = 4096;
/// The counter of lines shipped without the API's metadata.
pub const MISSING_TOTAL: &str = "kubernetes_metadata_missing_total";

impl KubernetesMetadataConfig {
    /// Every problem with the keys.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if let Some(node) = &self.node_name
            && (node.trim().is_empty() || node.contains([',', '=', '!', ' ']))
        {
            errors.push(KeyError::new(
                "node_name",
                format!("{node:?} is not a node name (leave it out to use $NODE_NAME)"),
            ));
        }
        let bounded = [
            ("max_pods", self.max_pods, 1, 1_000_000),
            ("max_namespaces", self.max_namespaces, 1, 1_000_000),
            ("max_value_bytes", self.max_value_bytes, 1, 256 * 1024),
        ];
        for (key, value, min, max) in bounded {
            if !(min..=max).contains(&value) {
                errors.push(KeyError::new(
                    key,
                    format!("{value} is out of range (expected {min} to {max})"),
                ));
            }
        }
        if self.metadata_wait.0 > MAX_METADATA_WAIT {
            errors.push(KeyError::new(
                "metadata_wait",
                "is longer than 1m: lines would stall the node while the API server is away",
            ));
        }
        if !(Duration::from_secs(60)..=MAX_WATCH_TIMEOUT).contains(&self.watch_timeout.0) {
            errors.push(KeyError::new(
                "watch_timeout",
                "is out of range (expected 1m to 290s)",
            ));
        }
        for (key, lists) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            for p in lists.include.iter().chain(&lists.exclude) {
                if p.is_empty() || p[..p.len() - 1].contains('*') {
                    errors.push(KeyError::new(
                        key,
                        format!("{p:?}: expected a key or a prefix ending in '*'"),
                    ));
                }
            }
        }
        errors
    }

    fn settings(&self) -> WatchSettings {
        WatchSettings {
            node_name: self
                .node_name
                .clone()
                .or_else(|| std::env::var("NODE_NAME").ok())
                .filter(|n| !n.trim().is_empty()),
            kubeconfig: self.kubeconfig.clone(),
            namespace_labels: self.namespace_labels,
            watch_timeout: self.watch_timeout.0,
            shaping: Shaping {
                labels: self.labels.filter(),
                annotations: self.annotations.filter(),
                max_value_bytes: self.max_value_bytes,
            },
        }
    }

    /// Builds the transform. Pure: the watch starts with the first batch
    /// from a kubelet log file (so `logagent test` and `validate` connect to
    /// nothing).
    pub fn build(&self, ctx: TransformContext) -> Result<KubernetesMetadata, Vec<KeyError>> {
        let errors = self.check();
        if !errors.is_empty() {
            return Err(errors);
        }
        let missing = ctx
            .families
            .counter(
                MISSING_TOTAL,
                "Lines shipped with the log path's Kubernetes fields only: the API's metadata did not arrive within metadata_wait.",
                &["component_id"],
            )
            .ok()
            .and_then(|f| f.series(&[&ctx.id]));
        let cache = Arc::new(Cache::new(Limits {
            max_pods: self.max_pods,
            max_namespaces: self.max_namespaces,
            delete_grace: self.delete_grace.0,
        }));
        Ok(KubernetesMetadata {
            settings: self.settings(),
            cache,
            watch: OnceLock::new(),
            wait: self.metadata_wait.0,
            waiting: HashMap::new(),
            missing,
            key: Bytes::from_static(b"kubernetes"),
            ctx,
        })
    }
}

/// The running `kubernetes_metadata` transform.
#[derive(Debug)]
pub struct KubernetesMetadata {
    settings: WatchSettings,
    cache: Arc<Cache>,
    /// The watch, started with the first kubelet log batch; `None` inside when
    /// it could not start.
    watch: OnceLock<Option<Watch>>,
    wait: Duration,
    /// When the first line of each pod still without metadata was seen.
    waiting: HashMap<crate::cache::PodKey, Instant>,
    missing: Option<Arc<Series>>,
    key: Bytes,
    ctx: TransformContext,
}

impl KubernetesMetadata {
    /// The cache (tests and the memory figures read its stats).
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// Starts the watch now (it otherwise starts with the first kubelet log
    /// batch); true when it is running.
    pub fn start(&self) -> bool {
        self.watch
            .get_or_init(
                || match crate::watch::start(self.settings.clone(), self.cache.clone()) {
                    Ok(w) => Some(w),
                    Err(error) => {
                        tracing::error!(component = %self.ctx.id, %error, "kubernetes_metadata: cannot start the watch; lines get path metadata only");
                        None
                    }
                },
            )
            .as_ref()
            .is_some_and(|w| !w.status.failed())
    }

    /// True once the watch has listed the node's pods and the namespaces.
    pub fn synced(&self) -> bool {
        self.watch
            .get()
            .and_then(|w| w.as_ref())
            .is_some_and(|w| w.status.synced() && w.status.namespaces_synced())
    }

    /// A pod found before the namespaces were listed waits for its
    /// namespace's labels too, but only in the watch's first `metadata_wait`
    /// (a namespace watch that cannot list, e.g. forbidden, costs that once).
    fn with_namespace(&self, mut found: Found, key: &crate::cache::PodKey) -> Found {
        let Some(status) = self
            .watch
            .get()
            .and_then(|w| w.as_ref())
            .map(|w| w.status.clone())
        else {
            return found;
        };
        let deadline = status.started() + self.wait;
        while found.namespace.is_none()
            && !status.namespaces_synced()
            && !status.failed()
            && Instant::now() < deadline
        {
            self.cache.wait_change(deadline);
            match self.cache.lookup(key, Instant::now()) {
                Some(f) => found = f,
                None => break,
            }
        }
        found
    }

    fn find(&mut self, meta: &PathMeta) -> Option<Found> {
        let running = self.start();
        let key = crate::path::key(meta);
        let now = Instant::now();
        if let Some(found) = self.cache.lookup(&key, now) {
            self.waiting.remove(&key);
            return Some(self.with_namespace(found, &key));
        }
        if !running {
            return None;
        }
        if self.waiting.len() >= MAX_WAITING && !self.waiting.contains_key(&key) {
            let wait = self.wait;
            self.waiting.retain(|_, first| now < *first + wait);
            if self.waiting.len() >= MAX_WAITING {
                self.waiting.clear();
            }
        }
        let status = self
            .watch
            .get()
            .and_then(|w| w.as_ref())
            .map(|w| w.status.clone());
        let first = *self.waiting.entry(key.clone()).or_insert(now);
        let outage = status.as_ref().and_then(|s| s.unhealthy_since());
        let deadline = wait_deadline(first, outage, self.wait);
        if now >= deadline {
            return None;
        }
        let wait = self.wait;
        let found = self.cache.wait_for(&key, deadline, || {
            status.as_ref().is_none_or(|s| {
                s.failed()
                    || s.unhealthy_since()
                        .is_some_and(|t| Instant::now() >= t + wait)
            })
        })?;
        self.waiting.remove(&key);
        Some(self.with_namespace(found, &key))
    }
}

/// Until when a batch of a pod first seen at `first` may wait for its
/// metadata: `wait` past its first line, and no later than `wait` past the
/// start of the watch's current outage (so an API server that is down delays
/// the node once, not once per pod).
fn wait_deadline(first: Instant, outage: Option<Instant>, wait: Duration) -> Instant {
    let own = first + wait;
    match outage {
        Some(since) => own.min(since + wait),
        None => own,
    }
}

impl Transform for KubernetesMetadata {
    fn process(&mut self, batch: &mut Batch) {
        if batch.events.is_empty() {
            return;
        }
        let Some(meta) = batch.stream.path.as_deref().and_then(PathMeta::from_path) else {
            return;
        };
        let found = self.find(&meta);
        if found.is_none()
            && let Some(m) = &self.missing
        {
            m.record(batch.events.len() as f64);
        }
        let value = Value::Json(crate::path::encode(&meta, found.as_ref()));
        for mut ev in batch.iter_mut() {
            ev.set_key(&self.key, value.clone());
        }
    }
}

impl TransformComponent for KubernetesMetadataConfig {
    /// Holds the node's pod cache and its watch: one instance, one thread
    /// (its per-batch work is one lookup under a mutex, not worth a crew).
    fn stateless(&self) -> bool {
        false
    }

    fn check(&self) -> Vec<KeyError> {
        KubernetesMetadataConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(KubernetesMetadataConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> KubernetesMetadataConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn an_outage_delays_the_node_once_not_once_per_pod() {
        let t0 = Instant::now();
        let wait = Duration::from_secs(5);
        // Healthy: each pod waits for its own event, from its first line.
        assert_eq!(wait_deadline(t0, None, wait), t0 + wait);
        // A pod first seen 4s into an outage waits 1s, one seen after 5s not at all.
        let late = t0 + Duration::from_secs(4);
        assert_eq!(wait_deadline(late, Some(t0), wait), t0 + wait);
        let later = t0 + Duration::from_secs(9);
        assert!(wait_deadline(later, Some(t0), wait) <= later);
    }

    #[test]
    fn defaults_and_checks() {
        let c = parse(r#"node_name = "node-a""#);
        assert!(c.check().is_empty());
        assert!(
            parse("").check().is_empty(),
            "node_name defaults to $NODE_NAME"
        );
        assert_eq!(c.metadata_wait.0, Duration::from_secs(5));
        assert_eq!(c.max_pods, 8192);
        let c = parse(
            r#"
            node_name = ""
            metadata_wait = "2m"
            max_pods = 0
            watch_timeout = "10s"
            labels = { include = ["a*b"] }
            "#,
        );
        let keys: Vec<String> = c
            .check()
            .iter()
            .map(|e| format!("{}: {}", e.key, e.message))
            .collect();
        let text = keys.join("\n");
        for key in [
            "node_name",
            "metadata_wait",
            "max_pods",
            "watch_timeout",
            "labels",
        ] {
            assert!(text.contains(key), "{key} missing in {text}");
        }
        assert!(
            toml::from_str::<KubernetesMetadataConfig>("node_name = \"a\"\nbogus = 1").is_err()
        );
    }
}
