//! What a kubelet log path gives the transform: the cache key of its pod and
//! the `kubernetes` object around the cached metadata. The path itself is
//! parsed by [`logagent_core::kubelet`], shared with the file source.

use bytes::Bytes;

use crate::cache::{Found, PodKey};

/// The pod and container a log file belongs to (the kubelet path parser is
/// shared with the file source, in core).
pub use logagent_core::kubelet::PodPath as PathMeta;

/// The cache key of a path: the uid when the path has one, else namespace/name.
pub fn key(meta: &PathMeta) -> PodKey {
    match &meta.pod_uid {
        Some(uid) => PodKey::Uid(uid.as_str().into()),
        None => PodKey::Name(format!("{}/{}", meta.namespace, meta.pod_name).into()),
    }
}

/// The `kubernetes` object: the path's fields, then (when the pod is cached)
/// the pod's, the container's and the namespace's.
pub fn encode(meta: &PathMeta, found: Option<&Found>) -> Bytes {
    let Some(f) = found else {
        return Bytes::from(meta.to_json());
    };
    let mut out = Vec::with_capacity(
        192 + f.pod.fragment.len() + f.namespace.as_ref().map_or(0, |n| n.len()),
    );
    out.push(b'{');
    meta.write_members(&mut out);
    out.extend_from_slice(&f.pod.fragment);
    let container = f.pod.container(&meta.container_name);
    out.extend_from_slice(container);
    if !contains(container, b"\"container_id\"") {
        meta.write_container_id(&mut out);
    }
    if let Some(ns) = &f.namespace {
        out.extend_from_slice(ns);
    }
    out.push(b'}');
    Bytes::from(out)
}
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    #[test]
    fn both_layouts_and_others() {
        let m = PathMeta::from_path(Path::new(
            "/var/log/pods/shop_web-1_0f1e2d3c-aaaa/nginx/0.log",
        ))
        .unwrap();
        assert_eq!(key(&m), PodKey::Uid("0f1e2d3c-aaaa".into()));
        let v: serde_json::Value = serde_json::from_slice(&encode(&m, None)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"pod_namespace":"shop","pod_name":"web-1","pod_uid":"0f1e2d3c-aaaa","container_name":"nginx"})
        );
        let m = PathMeta::from_path(Path::new(
            "/var/log/containers/web-1_shop_nginx-proxy-3f4e.log",
        ))
        .unwrap();
        assert_eq!(key(&m), PodKey::Name("shop/web-1".into()));
        let v: serde_json::Value = serde_json::from_slice(&encode(&m, None)).unwrap();
        assert_eq!(v["container_id"], "3f4e");
        assert_eq!(v["container_name"], "nginx-proxy");
        for p in [
            "/var/log/syslog",
            "/var/log/pods/x/y.log",
            "/var/log/containers/a.log",
        ] {
            assert!(PathMeta::from_path(Path::new(p)).is_none(), "{p}");
        }
    }
}
