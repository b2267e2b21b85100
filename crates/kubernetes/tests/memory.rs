//! Heap bytes per cached pod, measured by a counting allocator (a second
//! opinion on the cache's own accounting, `PodInfo::approx_bytes`). This file
//! holds one test so that no other test thread allocates while it counts.

#![allow(clippy::unwrap_used, missing_docs)]

use std::alloc::System;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use logagent_kubernetes::cache::{Cache, Limits};
use logagent_kubernetes::meta::{KeyFilter, Shaping, pod_info};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn pod_json(i: usize) -> Vec<u8> {
    let uid = format!("0f1e2d3c-aaaa-bbbb-cccc-{i:012}");
    serde_json::to_vec(&serde_json::json!({
        "metadata": {
            "name": format!("web-7d4b9c-{i:05}"), "namespace": "shop", "uid": uid, "resourceVersion": "1",
            "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7d4b9c", "team": "payments"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x".repeat(4000), "prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "rs", "controller": true}]
        },
        "spec": {"nodeName": "node-a", "containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoyproxy/envoy:v1.31"}]},
        "status": {"podIP": "10.1.2.3", "containerStatuses": [
            {"name": "nginx", "image": "docker.io/library/nginx:1.27", "imageID": "", "containerID": format!("containerd://{uid}-nginx"), "ready": true, "restartCount": 0},
            {"name": "sidecar", "image": "docker.io/envoyproxy/envoy:v1.31", "imageID": "", "containerID": format!("containerd://{uid}-sidecar"), "ready": true, "restartCount": 0}
        ]}
    }))
    .unwrap()
}

#[test]
fn five_thousand_pods_cost_what_the_cache_says() {
    const PODS: usize = 5000;
    /// The stated bound per cached pod for this shape (3 labels, 2 annotations of
    /// which one kept, an owner, 2 containers with images and ids).
    const BOUND: usize = 1280;
    let shaping = Shaping {
        labels: KeyFilter::default(),
        annotations: KeyFilter {
            include: vec![],
            exclude: vec!["kubectl.kubernetes.io/last-applied-configuration".into()],
        },
        max_value_bytes: 1024,
    };
    let texts: Vec<Vec<u8>> = (0..PODS).map(pod_json).collect();
    let cache = Cache::new(Limits {
        max_pods: 8192,
        max_namespaces: 16,
        delete_grace: Duration::from_secs(300),
    });
    let now = Instant::now();
    let region = Region::new(GLOBAL);
    for text in &texts {
        // What the watch does per event: decode, convert, insert, drop the Pod.
        let pod: Pod = serde_json::from_slice(text).unwrap();
        cache.apply(pod_info(&pod, &shaping).unwrap(), now);
    }
    let change = region.change();
    // stats_alloc adds a reallocation's growth to bytes_allocated (and its
    // shrinking to bytes_deallocated): the net heap growth is their difference.
    let net = change.bytes_allocated - change.bytes_deallocated;
    let accounted = cache.stats().pod_bytes;
    eprintln!(
        "kubernetes_metadata: {PODS} pods: {} heap bytes per pod measured, {} accounted",
        net / PODS,
        accounted / PODS
    );
    assert_eq!(cache.stats().pods, PODS);
    assert!(
        net / PODS <= BOUND,
        "{} bytes per pod > {BOUND}",
        net / PODS
    );
    drop(texts);
}
