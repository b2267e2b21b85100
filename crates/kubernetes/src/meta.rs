//! What the cache keeps of a pod: the fields the transform adds, pre-encoded
//! as JSON fragments once per watch event (never per line), filtered by the
//! include/exclude lists and capped per value. The API's `Pod` object (often
//! tens of KiB with its spec and managed fields) is dropped right after.

use std::collections::BTreeMap;

use bytes::Bytes;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use logagent_core::event::json::write_str;

/// Which keys of a map (labels or annotations) are kept: a key is kept when it
/// matches `include` (or `include` is empty) and matches no `exclude` pattern.
/// A pattern is an exact key or a prefix ending in `*` (`app.kubernetes.io/*`).
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Keys (or `prefix*`) to keep; empty keeps all.
    pub include: Vec<String>,
    /// Keys (or `prefix*`) to drop, applied after `include`.
    pub exclude: Vec<String>,
}

fn matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

impl KeyFilter {
    /// True when `key` is kept.
    pub fn keeps(&self, key: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| matches(p, key)))
            && !self.exclude.iter().any(|p| matches(p, key))
    }
}

/// How pods are turned into cached fields.
#[derive(Debug, Clone)]
pub struct Shaping {
    /// Which labels are kept.
    pub labels: KeyFilter,
    /// Which annotations are kept.
    pub annotations: KeyFilter,
    /// Longest kept value of a label or annotation, in bytes; longer ones are
    /// cut at a character boundary (an oversized annotation never makes the
    /// pod's metadata fail or vanish, as it does in Fluent Bit's filter).
    pub max_value_bytes: usize,
}

/// One container's fields, from `status.containerStatuses` (and the spec's
/// image while the container has no status yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name (the log path's directory).
    pub name: Box<str>,
    /// `,"container_image":…,"container_id":…` (either may be absent).
    pub fragment: Bytes,
}

/// What the cache keeps of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// `metadata.uid`.
    pub uid: Box<str>,
    /// `metadata.namespace`.
    pub namespace: Box<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    /// The static pod's own uid (`kubernetes.io/config.mirror`) for a mirror
    /// pod: the kubelet names its log directory after that uid, not the API's.
    pub mirror_uid: Option<Box<str>>,
    /// `,"node_name":…,"pod_ip":…,"labels":{…},"annotations":{…},"owner":{…}`.
    pub fragment: Bytes,
    /// Per-container fields.
    pub containers: Vec<ContainerInfo>,
    /// Values cut to `max_value_bytes`.
    pub truncated: u32,
}

/// Fixed cost of one cached pod beyond its strings: the `PodInfo` in its
/// `Arc`, the cache entry in the uid map's slot and the name index's slot
/// (each slot key + value + control byte, with the tables' spare room: a
/// table grows by doubling, so up to half its slots are empty).
const ENTRY_OVERHEAD: usize = std::mem::size_of::<PodInfo>() + 16 + 2 * (72 + 40);

impl PodInfo {
    /// Approximate heap bytes the cache spends on this pod (the cache's bound
    /// is stated and tested with it).
    pub fn approx_bytes(&self) -> usize {
        ENTRY_OVERHEAD
            // The uid map's key, the name index's key (namespace/name) and value (uid).
            + 2 * self.uid.len()
            + self.namespace.len()
            + self.name.len()
            + 1
            + self.uid.len()
            + self.namespace.len()
            + self.name.len()
            + self.mirror_uid.as_ref().map_or(0, |m| m.len())
            + self.fragment.len()
            + self
                .containers
                .iter()
                .map(|c| std::mem::size_of::<ContainerInfo>() + c.name.len() + c.fragment.len())
                .sum::<usize>()
    }

    /// The fragment of container `name`, empty when the pod has no such container.
    pub fn container(&self, name: &str) -> &[u8] {
        self.containers
            .iter()
            .find(|c| &*c.name == name)
            .map_or(&[][..], |c| &c.fragment[..])
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn cap<'a>(s: &'a str, max: usize, truncated: &mut u32) -> &'a str {
    if s.len() <= max {
        return s;
    }
    *truncated += 1;
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    write_str(out, key.as_bytes());
    out.push(b':');
}

fn write_map(
    out: &mut Vec<u8>,
    key: &str,
    map: Option<&BTreeMap<String, String>>,
    filter: &KeyFilter,
    max: usize,
    truncated: &mut u32,
) {
    write_key(out, key);
    out.push(b'{');
    let mut first = true;
    for (k, v) in map.into_iter().flatten() {
        if !filter.keeps(k) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k.as_bytes());
        out.push(b':');
        write_str(out, cap(v, max, truncated).as_bytes());
    }
    out.push(b'}');
}

/// The Deployment that owns a ReplicaSet, from the names alone: a
/// Deployment's ReplicaSets are named `<deployment>-<pod-template-hash>` and
/// their pods carry the `pod-template-hash` label, so when the ReplicaSet's
/// name ends in `-<that label>`, the rest is the Deployment's name. No request
/// to the API (the agent needs no access to ReplicaSets); a ReplicaSet made by
/// hand (no such label) stays the owner.
pub fn deployment_of<'a>(
    replicaset: &'a str,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<&'a str> {
    let hash = labels?.get("pod-template-hash")?;
    let name = replicaset.strip_suffix(hash.as_str())?.strip_suffix('-')?;
    (!name.is_empty()).then_some(name)
}

/// Converts a pod from the API into what the cache keeps; `None` for a pod
/// without a uid (the API always sets one).
pub fn pod_info(pod: &Pod, shaping: &Shaping) -> Option<PodInfo> {
    let meta = &pod.metadata;
    let uid = meta.uid.as_deref().filter(|u| !u.is_empty())?;
    let max = shaping.max_value_bytes;
    let mut truncated = 0;
    let mut out = Vec::with_capacity(256);
    if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        write_key(&mut out, "node_name");
        write_str(&mut out, node.as_bytes());
    }
    let status = pod.status.as_ref();
    if let Some(ip) = status.and_then(|s| s.pod_ip.as_deref()) {
        write_key(&mut out, "pod_ip");
        write_str(&mut out, ip.as_bytes());
    }
    write_map(
        &mut out,
        "labels",
        meta.labels.as_ref(),
        &shaping.labels,
        max,
        &mut truncated,
    );
    write_map(
        &mut out,
        "annotations",
        meta.annotations.as_ref(),
        &shaping.annotations,
        max,
        &mut truncated,
    );
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .or_else(|| meta.owner_references.iter().flatten().next());
    if let Some(o) = owner {
        write_key(&mut out, "owner");
        out.extend_from_slice(b"{\"kind\":");
        let deployment = (o.kind == "ReplicaSet")
            .then(|| deployment_of(&o.name, meta.labels.as_ref()))
            .flatten();
        match deployment {
            Some(d) => {
                write_str(&mut out, b"Deployment");
                out.extend_from_slice(b",\"name\":");
                write_str(&mut out, d.as_bytes());
                out.extend_from_slice(b",\"replicaset\":");
                write_str(&mut out, o.name.as_bytes());
            }
            None => {
                write_str(&mut out, o.kind.as_bytes());
                out.extend_from_slice(b",\"name\":");
                write_str(&mut out, o.name.as_bytes());
            }
        }
        out.push(b'}');
    }
    let mut containers: Vec<ContainerInfo> = Vec::new();
    let statuses = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
                .chain(s.ephemeral_container_statuses.iter().flatten())
        })
        .map(|c| {
            (
                c.name.as_str(),
                Some(c.image.as_str()),
                c.container_id.as_deref(),
            )
        });
    let specs = pod.spec.iter().flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .map(|c| (c.name.as_str(), c.image.as_deref(), None))
    });
    for (name, image, id) in statuses.chain(specs) {
        if containers.iter().any(|c| &*c.name == name) {
            continue;
        }
        let mut f = Vec::new();
        if let Some(image) = image.filter(|i| !i.is_empty()) {
            write_key(&mut f, "container_image");
            write_str(&mut f, image.as_bytes());
        }
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            write_key(&mut f, "container_id");
            write_str(&mut f, id.as_bytes());
        }
        f.shrink_to_fit();
        containers.push(ContainerInfo {
            name: name.into(),
            fragment: Bytes::from(f),
        });
    }
    let mirror_uid = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/config.mirror"))
        .filter(|m| !m.is_empty() && m.as_str() != uid)
        .map(|m| m.as_str().into());
    out.shrink_to_fit();
    containers.shrink_to_fit();
    Some(PodInfo {
        uid: uid.into(),
        namespace: meta.namespace.as_deref().unwrap_or_default().into(),
        name: meta.name.as_deref().unwrap_or_default().into(),
        mirror_uid,
        fragment: Bytes::from(out),
        containers,
        truncated,
    })
}

/// A namespace's labels as the `,"namespace_labels":{…}` fragment.
pub fn namespace_fragment(ns: &Namespace, shaping: &Shaping) -> Bytes {
    let mut out = Vec::new();
    let mut truncated = 0;
    write_map(
        &mut out,
        "namespace_labels",
        ns.metadata.labels.as_ref(),
        &shaping.labels,
        shaping.max_value_bytes,
        &mut truncated,
    );
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn shaping() -> Shaping {
        Shaping {
            labels: KeyFilter::default(),
            annotations: KeyFilter {
                include: vec![],
                exclude: vec!["kubectl.kubernetes.io/*".into()],
            },
            max_value_bytes: 8,
        }
    }

    fn parse(fragment: &[u8]) -> serde_json::Value {
        let mut text = b"{\"x\":0".to_vec();
        text.extend_from_slice(fragment);
        text.push(b'}');
        serde_json::from_slice(&text).unwrap()
    }

    #[test]
    fn a_pod_becomes_its_fields() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web-7d4b9c-xyz12", "namespace": "shop", "uid": "u1",
                "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7d4b9c"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "payments-and-billing"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "r", "controller": true}]
            },
            "spec": {"nodeName": "node-a", "containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}]},
            "status": {"podIP": "10.0.0.7", "containerStatuses": [{"name": "nginx", "image": "docker.io/library/nginx:1.27", "imageID": "", "containerID": "containerd://abc", "ready": true, "restartCount": 0}]}
        }))
        .unwrap();
        let info = pod_info(&pod, &shaping()).unwrap();
        let v = parse(&info.fragment);
        assert_eq!(v["node_name"], "node-a");
        assert_eq!(v["pod_ip"], "10.0.0.7");
        assert_eq!(v["labels"]["app.kubernetes.io/name"], "web");
        assert_eq!(v["annotations"], serde_json::json!({"team": "payments"}));
        assert_eq!(info.truncated, 1);
        assert_eq!(
            v["owner"],
            serde_json::json!({"kind": "Deployment", "name": "web", "replicaset": "web-7d4b9c"})
        );
        let c = parse(info.container("nginx"));
        assert_eq!(c["container_image"], "docker.io/library/nginx:1.27");
        assert_eq!(c["container_id"], "containerd://abc");
        let side = parse(info.container("side"));
        assert_eq!(side["container_image"], "busybox");
        assert!(side.get("container_id").is_none());
        assert!(info.container("nope").is_empty());
    }

    #[test]
    fn a_replicaset_without_the_hash_label_stays_the_owner() {
        assert_eq!(deployment_of("web-7d4b9c", None), None);
        let labels: BTreeMap<String, String> =
            [("pod-template-hash".to_owned(), "zzz".to_owned())].into();
        assert_eq!(deployment_of("web-7d4b9c", Some(&labels)), None);
        let labels: BTreeMap<String, String> =
            [("pod-template-hash".to_owned(), "7d4b9c".to_owned())].into();
        assert_eq!(deployment_of("web-7d4b9c", Some(&labels)), Some("web"));
        assert_eq!(deployment_of("-7d4b9c", Some(&labels)), None);
    }

    #[test]
    fn caps_cut_at_a_character_boundary() {
        let mut n = 0;
        assert_eq!(cap("ééé", 3, &mut n), "é");
        assert_eq!(n, 1);
        assert_eq!(cap("ab", 3, &mut n), "ab");
        assert_eq!(n, 1);
    }

    #[test]
    fn key_filters() {
        let f = KeyFilter {
            include: vec!["app.kubernetes.io/*".into(), "team".into()],
            exclude: vec!["app.kubernetes.io/version".into()],
        };
        assert!(f.keeps("app.kubernetes.io/name"));
        assert!(f.keeps("team"));
        assert!(!f.keeps("teams"));
        assert!(!f.keeps("app.kubernetes.io/version"));
    }
}
