//! `kubernetes_metadata` through the binary: a kubelet-style CRI log under
//! `pods/<ns>_<pod>_<uid>/<container>/0.log`, the file source, the transform
//! watching an API-server stand-in (crates/kubernetes/tests/standin) through a
//! kubeconfig, and the file sink: the pod's labels are on the lines written.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "../crates/kubernetes/tests/standin/mod.rs"]
mod standin;

use common::{bin, read_ndjson, write_pipeline};
use standin::{ApiServer, namespace, pod};

#[test]
fn lines_of_a_pod_log_carry_its_labels_through_the_binary() {
    let api = ApiServer::start();
    api.set_pods(vec![pod("web-7d4b9c-aaaaa", "uid-1", "web")]);
    api.set_namespaces(vec![namespace("shop")]);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("pods/shop_web-7d4b9c-aaaaa_uid-1/nginx");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("0.log"),
        "2025-08-20T10:30:00.000000000Z stdout F {\"level\":\"info\",\"msg\":\"hello\"}\n\
         2025-08-20T10:30:01.000000000Z stderr P partial \n\
         2025-08-20T10:30:01.000000000Z stderr F line\n",
    )
    .unwrap();
    let kubeconfig = api.kubeconfig(dir.path());
    let out = dir.path().join("out.ndjson");
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"
data_dir = {data:?}

[sources.pods]
type = "file"
include = [{include:?}]
format = "cri"

[transforms.k8s]
type = "kubernetes_metadata"
inputs = ["pods"]
node_name = "node-a"
kubeconfig = {kubeconfig:?}
metadata_wait = "30s"

[transforms.parse]
type = "parse_json"
inputs = ["k8s"]

[sinks.out]
type = "file"
inputs = ["parse"]
path = {out:?}
"#,
            data = dir.path().join("data").display().to_string(),
            include = dir.path().join("pods/*/*/*.log").display().to_string(),
            kubeconfig = kubeconfig.display().to_string(),
            out = out.display().to_string(),
        ),
    );
    let run = bin().arg("-p").arg(&p).arg("--once").output().unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got = read_ndjson(&out, &[]);
    assert_eq!(got.len(), 2, "{got:?}");
    for line in &got {
        let k = &line["kubernetes"];
        assert_eq!(k["pod_uid"], "uid-1");
        assert_eq!(k["labels"]["app.kubernetes.io/name"], "web");
        assert_eq!(k["owner"]["name"], "web");
        assert_eq!(k["container_image"], "docker.io/library/nginx:1.27");
        assert_eq!(k["namespace_labels"]["tier"], "prod");
    }
    assert_eq!(got[0]["msg"], "hello");
    assert_eq!(got[1]["message"], "partial line");
    assert_eq!(got[1]["stream"], "stderr");
    // One list and one watch per resource: no request per line or per file.
    let (pod_lists, pod_watches, _, _) = api.counts();
    assert_eq!(pod_lists, 1);
    assert!(pod_watches <= 1);
}
