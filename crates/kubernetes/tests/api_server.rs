//! The `kubernetes_metadata` transform against an API-server stand-in: a
//! small hyper server serving the API's documented list and watch shapes
//! (`PodList` with `metadata.resourceVersion` and `continue`, watch streams of
//! `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`/`ERROR` events, a `410 Gone`
//! `Status`), driven through the real `kube` client via a kubeconfig file.

#![allow(clippy::unwrap_used, missing_docs)]

mod standin;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use standin::{ApiServer, kubeconfig_for, namespace, pod};

use logagent_core::component::{Transform, TransformContext};
use logagent_core::event::test_batch::json_batch_in;
use logagent_core::event::{AckToken, Batch, Stream, encode};
use logagent_kubernetes::{KubernetesMetadata, KubernetesMetadataConfig, MISSING_TOTAL};

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
    encoded(&b)
}

fn encoded(b: &Batch) -> Vec<Json> {
    b.events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            encode::write_json(e, &mut out);
            let text = String::from_utf8(out).unwrap();
            // One `kubernetes` member (serde_json would hide a duplicate).
            assert!(text.matches("\"kubernetes\":").count() <= 1, "{text}");
            serde_json::from_str(&text).unwrap()
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

    // The file source's own path fields (its Kubernetes mode) are replaced,
    // not duplicated, whether they are an edit or a member of the line.
    let mut b = batch(
        &path_of("uid-1", "web-7d4b9c-aaaaa", "nginx"),
        &[
            r#"{"kubernetes":{"pod_name":"from-the-line"},"msg":"a"}"#,
            "text",
        ],
    );
    let key = bytes::Bytes::from_static(b"kubernetes");
    for mut ev in b.iter_mut() {
        ev.set_key(
            &key,
            logagent_core::event::Value::Json(bytes::Bytes::from_static(
                b"{\"pod_name\":\"from-the-source\"}",
            )),
        );
    }
    t.process(&mut b);
    for e in encoded(&b) {
        assert_eq!(e["kubernetes"], *k);
    }

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
