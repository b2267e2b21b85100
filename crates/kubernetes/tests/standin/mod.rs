//! An API-server stand-in for the tests: a small hyper server serving the
//! Kubernetes API's documented list and watch shapes (`PodList` with
//! `metadata.resourceVersion` and `continue` pages, watch streams of
//! `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`/`ERROR` events, replayed from a
//! requested resourceVersion), counting every request. Shared by the crate's
//! tests and the application's end-to-end test (`tests/kubernetes.rs`).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

/// A response body fed by a channel: a list is one chunk, a watch stays open
/// until the stand-in drops its sender.
pub struct ChanBody(mpsc::UnboundedReceiver<Bytes>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

#[derive(Default)]
pub struct Resource {
    pub items: Vec<Json>,
    /// Every watch event sent, by resourceVersion: a watch from version N
    /// is sent the events after N first, as the API server does.
    pub history: Vec<(u64, Bytes)>,
    pub watches: Vec<mpsc::UnboundedSender<Bytes>>,
    pub lists: usize,
    pub watch_requests: Vec<String>,
}

#[derive(Default)]
pub struct ApiState {
    pub rv: u64,
    pub pods: Resource,
    pub namespaces: Resource,
    pub authorization: Vec<String>,
    pub other: Vec<String>,
}

#[derive(Clone)]
pub struct ApiServer {
    pub state: Arc<Mutex<ApiState>>,
    pub port: u16,
    _rt: Arc<tokio::runtime::Runtime>,
}

fn query(uri: &hyper::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3D", "=").replace("%2F", "/")))
        .collect()
}

fn handle(
    state: &Arc<Mutex<ApiState>>,
    req: &Request<hyper::body::Incoming>,
) -> Response<ChanBody> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut s = state.lock().unwrap();
    if let Some(a) = req.headers().get("authorization") {
        s.authorization.push(a.to_str().unwrap_or("").to_owned());
    }
    let q = query(req.uri());
    let rv = s.rv;
    let (res, kind) = match req.uri().path() {
        "/api/v1/pods" => (&mut s.pods, "PodList"),
        "/api/v1/namespaces" => (&mut s.namespaces, "NamespaceList"),
        other => {
            let other = other.to_owned();
            s.other.push(other);
            let _ = tx.send(Bytes::from_static(
                br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"NotFound","code":404}"#,
            ));
            return Response::builder().status(404).body(ChanBody(rx)).unwrap();
        }
    };
    if q.get("watch").map(String::as_str) == Some("true") {
        let from = q.get("resourceVersion").cloned().unwrap_or_default();
        let after: u64 = from.parse().unwrap_or(0);
        for (_, line) in res.history.iter().filter(|(v, _)| *v > after) {
            let _ = tx.send(line.clone());
        }
        res.watch_requests.push(from);
        res.watches.push(tx);
    } else {
        res.lists += 1;
        let limit: usize = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(usize::MAX);
        let from: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let to = from.saturating_add(limit).min(res.items.len());
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if to < res.items.len() {
            metadata["continue"] = json!(to.to_string());
            metadata["remainingItemCount"] = json!(res.items.len() - to);
        }
        let body = json!({"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": &res.items[from..to]});
        let _ = tx.send(Bytes::from(serde_json::to_vec(&body).unwrap()));
    }
    Response::builder()
        .header("content-type", "application/json")
        .body(ChanBody(rx))
        .unwrap()
}

impl ApiServer {
    pub fn start() -> ApiServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ApiState {
            rv: 1,
            ..ApiState::default()
        }));
        let st = state.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let r = handle(&st, &req);
                        async move { Ok::<_, Infallible>(r) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ApiServer {
            state,
            port,
            _rt: Arc::new(rt),
        }
    }

    pub fn set_pods(&self, pods: Vec<Json>) {
        self.state.lock().unwrap().pods.items = pods;
    }

    pub fn set_namespaces(&self, ns: Vec<Json>) {
        self.state.lock().unwrap().namespaces.items = ns;
    }

    /// Sends a watch event on every open pod watch, with a new resourceVersion.
    pub fn pod_event(&self, kind: &str, mut pod: Json) {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        pod["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        let uid = pod["metadata"]["uid"].clone();
        match kind {
            "DELETED" => s.pods.items.retain(|p| p["metadata"]["uid"] != uid),
            _ => {
                s.pods.items.retain(|p| p["metadata"]["uid"] != uid);
                s.pods.items.push(pod.clone());
            }
        }
        let line = Bytes::from(format!("{}\n", json!({"type": kind, "object": pod})));
        let rv = s.rv;
        s.pods.history.push((rv, line.clone()));
        s.pods.watches.retain(|w| w.send(line.clone()).is_ok());
    }

    pub fn pod_raw(&self, line: Json) {
        let line = format!("{line}\n");
        let mut s = self.state.lock().unwrap();
        s.pods
            .watches
            .retain(|w| w.send(Bytes::from(line.clone())).is_ok());
    }

    /// Ends the open pod watches (as the API server does at `timeoutSeconds`).
    pub fn close_pod_watches(&self) {
        self.state.lock().unwrap().pods.watches.clear();
    }

    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let s = self.state.lock().unwrap();
        (
            s.pods.lists,
            s.pods.watch_requests.len(),
            s.namespaces.lists,
            s.namespaces.watch_requests.len(),
        )
    }

    pub fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
        kubeconfig_for(dir, &format!("http://127.0.0.1:{}", self.port))
    }
}

pub fn kubeconfig_for(dir: &std::path::Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {server}\nusers:\n- name: agent\n  user:\n    token: s3cr3t-token\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: agent\ncurrent-context: standin\n"
        ),
    )
    .unwrap();
    path
}

pub fn pod(name: &str, uid: &str, app: &str) -> Json {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "shop", "uid": uid, "resourceVersion": "1",
            "labels": {"app.kubernetes.io/name": app, "pod-template-hash": "7d4b9c", "team": "payments"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(4000),
                "prometheus.io/scrape": "true"
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d4b9c"), "uid": "rs-1", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoyproxy/envoy:v1.31"}]
        },
        "status": {
            "phase": "Running", "podIP": "10.1.2.3",
            "containerStatuses": [
                {"name": "nginx", "image": "docker.io/library/nginx:1.27", "imageID": "docker.io/library/nginx@sha256:abc", "containerID": format!("containerd://{uid}-nginx"), "ready": true, "restartCount": 0},
                {"name": "sidecar", "image": "docker.io/envoyproxy/envoy:v1.31", "imageID": "", "containerID": format!("containerd://{uid}-sidecar"), "ready": true, "restartCount": 0}
            ]
        }
    })
}

pub fn namespace(name: &str) -> Json {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": format!("ns-{name}"), "resourceVersion": "1", "labels": {"kubernetes.io/metadata.name": name, "tier": "prod"}}})
}
