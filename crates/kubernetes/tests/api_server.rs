//! The `kubernetes_metadata` transform against an API-server stand-in: a
//! small hyper server serving the API's documented list and watch shapes
//! (`PodList` with `metadata.resourceVersion` and `continue`, watch streams of
//! `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`/`ERROR` events, a `410 Gone`
//! `Status`), driven through the real `kube` client via a kubeconfig file.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

use logagent_core::component::{Transform, TransformContext};
use logagent_core::event::test_batch::json_batch_in;
use logagent_core::event::{AckToken, Batch, Stream, encode};
use logagent_kubernetes::{KubernetesMetadata, KubernetesMetadataConfig, MISSING_TOTAL};

/// A response body fed by a channel: a list is one chunk, a watch stays open
/// until the stand-in drops its sender.
struct ChanBody(mpsc::UnboundedReceiver<Bytes>);

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
struct Resource {
    items: Vec<Json>,
    /// Every watch event sent, by resourceVersion: a watch from version N
    /// is sent the events after N first, as the API server does.
    history: Vec<(u64, Bytes)>,
    watches: Vec<mpsc::UnboundedSender<Bytes>>,
    lists: usize,
    watch_requests: Vec<String>,
}

#[derive(Default)]
struct ApiState {
    rv: u64,
    pods: Resource,
    namespaces: Resource,
    authorization: Vec<String>,
    other: Vec<String>,
}

#[derive(Clone)]
struct ApiServer {
    state: Arc<Mutex<ApiState>>,
    port: u16,
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
    fn start() -> ApiServer {
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

    fn set_pods(&self, pods: Vec<Json>) {
        self.state.lock().unwrap().pods.items = pods;
    }

    fn set_namespaces(&self, ns: Vec<Json>) {
        self.state.lock().unwrap().namespaces.items = ns;
    }

    /// Sends a watch event on every open pod watch, with a new resourceVersion.
    fn pod_event(&self, kind: &str, mut pod: Json) {
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

    fn pod_raw(&self, line: Json) {
        let line = format!("{line}\n");
        let mut s = self.state.lock().unwrap();
        s.pods
            .watches
            .retain(|w| w.send(Bytes::from(line.clone())).is_ok());
    }

    /// Ends the open pod watches (as the API server does at `timeoutSeconds`).
    fn close_pod_watches(&self) {
        self.state.lock().unwrap().pods.watches.clear();
    }

    fn counts(&self) -> (usize, usize, usize, usize) {
        let s = self.state.lock().unwrap();
        (
            s.pods.lists,
            s.pods.watch_requests.len(),
            s.namespaces.lists,
            s.namespaces.watch_requests.len(),
        )
    }

    fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
        kubeconfig_for(dir, &format!("http://127.0.0.1:{}", self.port))
    }
}

fn kubeconfig_for(dir: &std::path::Path, server: &str) -> PathBuf {
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

fn pod(name: &str, uid: &str, app: &str) -> Json {
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

fn namespace(name: &str) -> Json {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": format!("ns-{name}"), "resourceVersion": "1", "labels": {"kubernetes.io/metadata.name": name, "tier": "prod"}}})
}

fn transform(kubeconfig: &std::path::Path, wait: &str) -> (KubernetesMetadata, TransformContext) {
    let cfg: KubernetesMetadataConfig = toml::from_str(&format!(
        "node_name = \"node-a\"\nkubeconfig = {:?}\nmetadata_wait = \"{wait}\"\n",
        kubeconfig.display().to_string()
    ))
    .unwrap();
    let ctx = TransformContext::detached("k8s");
    (cfg.build(ctx.clone()).unwrap(), ctx)
}

fn batch(path: &str, lines: &[&str]) -> Batch {
    let stream = Arc::new(Stream {
        source: "pods".into(),
        path: Some(PathBuf::from(path)),
        id: 1,
    });
    json_batch_in(stream, AckToken::detached(), lines)
}

fn events(t: &mut KubernetesMetadata, path: &str, lines: &[&str]) -> Vec<Json> {
    let mut b = batch(path, lines);
    t.process(&mut b);
    b.events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            encode::write_json(e, &mut out);
            serde_json::from_slice(&out).unwrap()
        })
        .collect()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn path_of(uid: &str, name: &str, container: &str) -> String {
    format!("/var/log/pods/shop_{name}_{uid}/{container}/0.log")
}

fn missing(ctx: &TransformContext) -> f64 {
    ctx.families
        .get(MISSING_TOTAL)
        .and_then(|f| f.counter_value(&["k8s"]))
        .unwrap_or(0.0)
}

#[test]
fn labels_appear_on_lines() {
    let api = ApiServer::start();
    api.set_pods(vec![pod("web-7d4b9c-aaaaa", "uid-1", "web")]);
    api.set_namespaces(vec![namespace("shop")]);
    let dir = tempfile::tempdir().unwrap();
    let (mut t, ctx) = transform(&api.kubeconfig(dir.path()), "30s");
    assert!(t.start());
    wait_until("the first list", || t.synced());

    let got = events(
        &mut t,
        &path_of("uid-1", "web-7d4b9c-aaaaa", "nginx"),
        &[r#"{"msg":"hello"}"#, "plain text"],
    );
    let k = &got[0]["kubernetes"];
    assert_eq!(got[0]["msg"], "hello");
    assert_eq!(k["pod_name"], "web-7d4b9c-aaaaa");
    assert_eq!(k["pod_uid"], "uid-1");
    assert_eq!(k["container_name"], "nginx");
    assert_eq!(k["labels"]["app.kubernetes.io/name"], "web");
    assert_eq!(k["labels"]["team"], "payments");
    assert_eq!(
        k["annotations"],
        json!({"prometheus.io/scrape": "true"}),
        "last-applied-configuration is excluded by default"
    );
    assert_eq!(k["node_name"], "node-a");
    assert_eq!(k["pod_ip"], "10.1.2.3");
    assert_eq!(k["owner"]["kind"], "Deployment");
    assert_eq!(k["owner"]["name"], "web");
    assert_eq!(k["owner"]["replicaset"], "web-7d4b9c");
    assert_eq!(k["container_image"], "docker.io/library/nginx:1.27");
    assert_eq!(k["container_id"], "containerd://uid-1-nginx");
    assert_eq!(k["namespace_labels"]["tier"], "prod");
    assert_eq!(got[1]["kubernetes"], *k, "a text line gets the same field");

    // A pod that appears after the list, through the watch: its first batch
    // waits for the ADDED event if it is not there yet (the batch returns
    // as soon as it lands, well before metadata_wait).
    let writer = {
        let api = api.clone();
        std::thread::spawn(move || api.pod_event("ADDED", pod("api-7d4b9c-bbbbb", "uid-2", "api")))
    };
    let got = events(
        &mut t,
        &path_of("uid-2", "api-7d4b9c-bbbbb", "sidecar"),
        &["x"],
    );
    writer.join().unwrap();
    assert_eq!(
        got[0]["kubernetes"]["labels"]["app.kubernetes.io/name"],
        "api"
    );
    assert_eq!(
        got[0]["kubernetes"]["container_image"],
        "docker.io/envoyproxy/envoy:v1.31"
    );
    assert_eq!(missing(&ctx), 0.0);

    // One watch on this node's pods, authenticated with the kubeconfig's token.
    let s = api.state.lock().unwrap();
    assert!(s.authorization.iter().all(|a| a == "Bearer s3cr3t-token"));
    assert!(!s.authorization.is_empty());
    assert!(s.other.is_empty(), "unexpected requests: {:?}", s.other);
}

#[test]
fn a_deleted_pod_still_enriches_its_last_lines_and_a_restart_gets_new_metadata() {
    let api = ApiServer::start();
    api.set_pods(vec![pod("web-7d4b9c-aaaaa", "uid-1", "web")]);
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _ctx) = transform(&api.kubeconfig(dir.path()), "30s");
    assert!(t.start());
    wait_until("the first list", || t.synced());

    api.pod_event("DELETED", pod("web-7d4b9c-aaaaa", "uid-1", "web"));
    wait_until("the deletion", || t.cache().stats().deleted == 1);
    // The pod comes back under the same name with a new uid and new labels.
    let mut new = pod("web-7d4b9c-aaaaa", "uid-9", "web");
    new["metadata"]["labels"]["team"] = json!("checkout");
    api.pod_event("ADDED", new);
    wait_until("the new pod", || t.cache().stats().pods == 2);

    let old = events(
        &mut t,
        &path_of("uid-1", "web-7d4b9c-aaaaa", "nginx"),
        &["late line"],
    );
    assert_eq!(old[0]["kubernetes"]["labels"]["team"], "payments");
    assert_eq!(
        old[0]["kubernetes"]["container_id"],
        "containerd://uid-1-nginx"
    );
    let fresh = events(
        &mut t,
        &path_of("uid-9", "web-7d4b9c-aaaaa", "nginx"),
        &["new line"],
    );
    assert_eq!(fresh[0]["kubernetes"]["labels"]["team"], "checkout");
    assert_eq!(
        fresh[0]["kubernetes"]["container_id"],
        "containerd://uid-9-nginx"
    );
    // `/var/log/containers` paths (no uid) follow the newest pod of the name.
    let by_name = events(
        &mut t,
        "/var/log/containers/web-7d4b9c-aaaaa_shop_nginx-0123abcd.log",
        &["x"],
    );
    assert_eq!(by_name[0]["kubernetes"]["labels"]["team"], "checkout");
}

#[test]
fn an_expired_watch_resumes_without_a_relist_storm() {
    let api = ApiServer::start();
    api.set_pods(vec![
        pod("web-7d4b9c-aaaaa", "uid-1", "web"),
        pod("gone-7d4b9c-ccccc", "uid-3", "gone"),
    ]);
    api.set_namespaces(vec![namespace("shop")]);
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _ctx) = transform(&api.kubeconfig(dir.path()), "30s");
    assert!(t.start());
    wait_until("the first watch", || api.counts() == (1, 1, 1, 1));
    {
        let s = api.state.lock().unwrap();
        assert_eq!(s.pods.watch_requests, vec!["1".to_owned()]);
    }

    // The server ends the watch at its timeout after a bookmark: the watch is
    // renewed from the bookmark's resourceVersion, without a list.
    api.pod_raw(json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "40"}}}));
    api.close_pod_watches();
    wait_until("the renewed watch", || api.counts().1 == 2);
    assert_eq!(api.state.lock().unwrap().pods.watch_requests[1], "40");

    // The resourceVersion expires: 410 Gone as a watch event → one list, one watch.
    // Meanwhile uid-3 was deleted: the relist marks it deleted (kept for late lines).
    api.state
        .lock()
        .unwrap()
        .pods
        .items
        .retain(|p| p["metadata"]["uid"] != "uid-3");
    api.pod_raw(json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "too old resource version: 40 (1234)", "reason": "Expired", "code": 410}}));
    wait_until("the relist", || api.counts().0 == 2 && api.counts().1 == 3);
    wait_until("the relisted deletion", || t.cache().stats().deleted == 1);

    // The watch works after all that; prove it is settled by a round trip…
    api.pod_event("MODIFIED", pod("web-7d4b9c-aaaaa", "uid-1", "web2"));
    wait_until("the modification", || {
        events(
            &mut t,
            &path_of("uid-1", "web-7d4b9c-aaaaa", "nginx"),
            &["x"],
        )[0]["kubernetes"]["labels"]["app.kubernetes.io/name"]
            == "web2"
    });
    let late = events(
        &mut t,
        &path_of("uid-3", "gone-7d4b9c-ccccc", "nginx"),
        &["late"],
    );
    assert_eq!(
        late[0]["kubernetes"]["labels"]["app.kubernetes.io/name"],
        "gone"
    );
    // …then count every request: 2 pod lists, 3 pod watches, 1 namespace
    // list and 1 namespace watch. Nothing else.
    assert_eq!(api.counts(), (2, 3, 1, 1));
}

#[test]
fn five_thousand_pods_stay_within_the_memory_bound() {
    const PODS: usize = 5000;
    /// The stated bound per cached pod for this pod shape (3 labels, 2 kept
    /// annotations, an owner, 2 containers with images and ids).
    const BOUND: usize = 1280;
    let api = ApiServer::start();
    api.set_pods(
        (0..PODS)
            .map(|i| {
                pod(
                    &format!("web-7d4b9c-{i:05}"),
                    &format!("0f1e2d3c-aaaa-bbbb-cccc-{i:012}"),
                    "web",
                )
            })
            .collect(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _ctx) = transform(&api.kubeconfig(dir.path()), "30s");
    assert!(t.start());
    wait_until("the first list", || t.synced());
    let stats = t.cache().stats();
    assert_eq!(stats.pods, PODS);
    let per_pod = stats.pod_bytes / PODS;
    eprintln!(
        "kubernetes_metadata: {PODS} pods cached in {} bytes, {per_pod} bytes per pod",
        stats.pod_bytes
    );
    assert!(per_pod <= BOUND, "{per_pod} bytes per cached pod > {BOUND}");
    // Listed in pages of 500, one watch after.
    assert_eq!(api.counts().0, PODS / 500);
    let got = events(
        &mut t,
        &path_of(
            "0f1e2d3c-aaaa-bbbb-cccc-000000004999",
            "web-7d4b9c-04999",
            "nginx",
        ),
        &["x"],
    );
    assert_eq!(
        got[0]["kubernetes"]["labels"]["app.kubernetes.io/name"],
        "web"
    );
}

#[test]
fn api_down_lines_ship_with_path_metadata_after_the_wait_and_are_counted() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(dir.path(), &format!("http://127.0.0.1:{port}"));
    let (mut t, ctx) = transform(&kc, "200ms");
    let path = path_of("uid-1", "web-7d4b9c-aaaaa", "nginx");
    let started = Instant::now();
    let got = events(&mut t, &path, &["one", r#"{"msg":"two"}"#]);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "the lines waited"
    );
    assert_eq!(got.len(), 2, "never dropped");
    assert_eq!(
        got[1]["kubernetes"],
        json!({"pod_namespace": "shop", "pod_name": "web-7d4b9c-aaaaa", "pod_uid": "uid-1", "container_name": "nginx"})
    );
    assert_eq!(got[1]["msg"], "two");
    assert_eq!(missing(&ctx), 2.0);
    // The pod already waited: its next lines go on at once, still counted.
    let got = events(&mut t, &path, &["three"]);
    assert_eq!(got[0]["kubernetes"]["pod_uid"], "uid-1");
    assert_eq!(missing(&ctx), 3.0);
    // Lines of other files are not touched, nor counted.
    let mut b = batch("/var/log/syslog", &["sys"]);
    t.process(&mut b);
    assert!(b.events[0].edits.is_empty());
    assert_eq!(missing(&ctx), 3.0);
}
