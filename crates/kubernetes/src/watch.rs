//! The one watch per node: pods with `spec.nodeName=<node>` (and, when asked,
//! all namespaces for their labels) through `kube`'s runtime watcher, on one
//! thread with a single-threaded tokio runtime, feeding the [`Cache`].
//!
//! Requests: one paginated list (500 pods a page) at start, then one long watch
//! request per resource, renewed every `watch_timeout` from the last
//! resourceVersion (bookmarks keep it fresh, so a renewal is not a relist).
//! A `410 Gone` (the resourceVersion expired) costs one list and one watch.
//! Errors back off exponentially (kube's default backoff: 800 ms doubling to
//! 30 s, with jitter), so an unreachable API server sees a handful of requests
//! per minute, never a storm.
//!
//! Auth: `kubeconfig` when given (local runs, tests); otherwise kube's
//! inference: `$KUBECONFIG` / `~/.kube/config`, then the in-cluster service
//! account (`/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}`;
//! kube re-reads the token file at least once a minute, so projected tokens
//! rotated by the kubelet are picked up).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use logagent_core::telemetry::ratelimit::RateLimiter;

use crate::cache::Cache;
use crate::meta::{Shaping, namespace_fragment, pod_info};

/// What the watch needs.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// This node's name (the field selector's value); `None` when neither the
    /// config nor `NODE_NAME` gives it.
    pub node_name: Option<String>,
    /// A kubeconfig file to use instead of inference.
    pub kubeconfig: Option<PathBuf>,
    /// Whether to watch namespaces for their labels.
    pub namespace_labels: bool,
    /// How long one watch request lasts before it is renewed.
    pub watch_timeout: Duration,
    /// How pods become cached fields.
    pub shaping: Shaping,
}

/// Why the watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The kubeconfig file could not be read or parsed.
    #[error("reading kubeconfig {path}: {error}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: kube::config::KubeconfigError,
    },
    /// No kubeconfig and not in a cluster.
    #[error("no Kubernetes configuration (not in a cluster, no kubeconfig): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The client could not be built (a bad CA bundle, a bad URL).
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// No node name: watching every pod of the cluster instead is exactly the
    /// load on the API server this transform exists to avoid.
    #[error(
        "no node name: set node_name or the NODE_NAME environment variable (downward API: spec.nodeName)"
    )]
    NoNodeName,
    /// The thread or runtime could not be started.
    #[error("starting the watch thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// What the watch says about itself, read by the transform.
#[derive(Debug)]
pub struct WatchStatus {
    failed: AtomicBool,
    synced: AtomicBool,
    namespaces_synced: AtomicBool,
    /// When the watch started.
    started: Instant,
    /// Since when the pod watch has been failing (or starting): `None` while
    /// its last result was an event, not an error.
    unhealthy_since: Mutex<Option<Instant>>,
}

impl Default for WatchStatus {
    fn default() -> WatchStatus {
        WatchStatus {
            failed: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            namespaces_synced: AtomicBool::new(false),
            started: Instant::now(),
            unhealthy_since: Mutex::new(Some(Instant::now())),
        }
    }
}

impl WatchStatus {
    /// Since when the watch has been failing or starting; `None` when it is
    /// delivering events. Lines wait for metadata at most `metadata_wait`
    /// past this, whatever the number of pods: an outage delays the node's
    /// lines once, not once per pod.
    pub fn unhealthy_since(&self) -> Option<Instant> {
        *self
            .unhealthy_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn healthy(&self, ok: bool) {
        let mut since = self
            .unhealthy_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if ok {
            *since = None;
        } else if since.is_none() {
            *since = Some(Instant::now());
        }
    }

    /// True when the watch could not start (no configuration): nothing will
    /// ever arrive, so lines are not delayed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// True once the first list of pods is in the cache.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// When the watch started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// True once the first list of namespaces is in the cache (or namespaces
    /// are not watched): a pod's namespace labels are then waited for no more.
    pub fn namespaces_synced(&self) -> bool {
        self.namespaces_synced.load(Ordering::Acquire)
    }
}

/// The running watch; stopping it (drop) ends its thread.
#[derive(Debug)]
pub struct Watch {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Its status.
    pub status: Arc<WatchStatus>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn client(settings: &WatchSettings) -> Result<Client, WatchError> {
    let config = match &settings.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|error| {
                WatchError::Kubeconfig {
                    path: path.clone(),
                    error,
                }
            })?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|error| WatchError::Kubeconfig {
                    path: path.clone(),
                    error,
                })?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// How often deleted pods past their grace are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Starts the watch thread.
pub fn start(settings: WatchSettings, cache: Arc<Cache>) -> Result<Watch, WatchError> {
    let node = settings.node_name.clone().ok_or(WatchError::NoNodeName)?;
    let status = Arc::new(WatchStatus::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let st = status.clone();
    let thread = std::thread::Builder::new()
        .name("kubernetes-watch".into())
        .spawn(move || {
            runtime.block_on(run(settings, node, cache, st, stop_rx));
        })?;
    Ok(Watch {
        stop: Some(stop_tx),
        thread: Some(thread),
        status,
    })
}

async fn run(
    settings: WatchSettings,
    node: String,
    cache: Arc<Cache>,
    status: Arc<WatchStatus>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let client = match client(&settings).await {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "kubernetes_metadata: cannot watch the API server; lines get path metadata only");
            status.failed.store(true, Ordering::Release);
            cache.wake();
            return;
        }
    };
    let timeout = u32::try_from(settings.watch_timeout.as_secs()).unwrap_or(u32::MAX);
    let pods_config = watcher::Config::default()
        .fields(&format!("spec.nodeName={node}"))
        .timeout(timeout);
    let mut pods = watcher::watcher(Api::<Pod>::all(client.clone()), pods_config)
        .default_backoff()
        .boxed();
    if !settings.namespace_labels {
        status.namespaces_synced.store(true, Ordering::Release);
    }
    let mut namespaces = if settings.namespace_labels {
        watcher::watcher(
            Api::<Namespace>::all(client),
            watcher::Config::default().timeout(timeout),
        )
        .default_backoff()
        .boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let errors = RateLimiter::new(Duration::from_secs(10));
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = sweep.tick() => cache.sweep(Instant::now()),
            ev = pods.next() => match ev {
                Some(Ok(ev)) => {
                    status.healthy(true);
                    on_pod(ev, &settings.shaping, &cache, &status);
                }
                Some(Err(error)) => {
                    status.healthy(false);
                    cache.wake();
                    if let Some(suppressed) = errors.check() {
                        tracing::warn!(%error, suppressed, "kubernetes_metadata: pod watch failed; retrying with backoff");
                    }
                }
                None => return,
            },
            ev = namespaces.next() => match ev {
                Some(Ok(ev)) => on_namespace(ev, &settings.shaping, &cache, &status),
                Some(Err(error)) => {
                    if let Some(suppressed) = errors.check() {
                        tracing::warn!(%error, suppressed, "kubernetes_metadata: namespace watch failed; retrying with backoff");
                    }
                }
                None => return,
            },
        }
    }
}

fn on_pod(ev: Event<Pod>, shaping: &Shaping, cache: &Cache, status: &WatchStatus) {
    let now = Instant::now();
    match ev {
        Event::Init => cache.begin_relist(),
        Event::InitApply(pod) | Event::Apply(pod) => {
            if let Some(info) = pod_info(&pod, shaping) {
                cache.apply(info, now);
            }
        }
        Event::Delete(pod) => {
            if let Some(uid) = pod.metadata.uid.as_deref() {
                cache.delete(uid, now);
            }
        }
        Event::InitDone => {
            cache.end_relist(now);
            status.synced.store(true, Ordering::Release);
            cache.wake();
        }
    }
}

fn on_namespace(ev: Event<Namespace>, shaping: &Shaping, cache: &Cache, status: &WatchStatus) {
    match ev {
        Event::Init => cache.begin_namespace_relist(),
        Event::InitApply(ns) | Event::Apply(ns) => {
            if let Some(name) = ns.metadata.name.as_deref() {
                cache.apply_namespace(name, namespace_fragment(&ns, shaping));
            }
        }
        Event::Delete(ns) => {
            if let Some(name) = ns.metadata.name.as_deref() {
                cache.delete_namespace(name);
            }
        }
        Event::InitDone => {
            cache.end_namespace_relist();
            status.namespaces_synced.store(true, Ordering::Release);
            cache.wake();
        }
    }
}
