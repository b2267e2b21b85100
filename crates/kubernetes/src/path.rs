//! What a kubelet log path names (the same two layouts the file source's
//! Kubernetes mode reads; repeated here because components do not depend on
//! one another):
//!
//! * `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`
//! * `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`
//!
//! Names of namespaces, pods and containers cannot contain `_`, so the split
//! is unambiguous.

use std::path::Path;

use bytes::Bytes;
use logagent_core::event::json::write_str;

use crate::cache::{Found, PodKey};

/// The pod and container a log file belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMeta {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub pod_name: String,
    /// `metadata.uid` (`/var/log/pods` paths only).
    pub pod_uid: Option<String>,
    /// The container's name.
    pub container_name: String,
    /// The runtime's container id (`/var/log/containers` paths only).
    pub container_id: Option<String>,
}

impl PathMeta {
    /// Parses either layout; `None` for other paths.
    pub fn from_path(path: &Path) -> Option<PathMeta> {
        let parts: Vec<&str> = path
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect();
        let n = parts.len();
        if n >= 4 && parts[n - 4] == "pods" && parts[n - 1].ends_with(".log") {
            let mut it = parts[n - 3].splitn(3, '_');
            let (ns, pod, uid) = (it.next()?, it.next()?, it.next()?);
            if ns.is_empty() || pod.is_empty() || uid.is_empty() || parts[n - 2].is_empty() {
                return None;
            }
            return Some(PathMeta {
                namespace: ns.into(),
                pod_name: pod.into(),
                pod_uid: Some(uid.into()),
                container_name: parts[n - 2].into(),
                container_id: None,
            });
        }
        if n >= 2 && parts[n - 2] == "containers" {
            let stem = parts[n - 1].strip_suffix(".log")?;
            let mut it = stem.splitn(3, '_');
            let (pod, ns, rest) = (it.next()?, it.next()?, it.next()?);
            let (container, id) = rest.rsplit_once('-')?;
            if pod.is_empty() || ns.is_empty() || container.is_empty() || id.is_empty() {
                return None;
            }
            return Some(PathMeta {
                namespace: ns.into(),
                pod_name: pod.into(),
                pod_uid: None,
                container_name: container.into(),
                container_id: Some(id.into()),
            });
        }
        None
    }

    /// The cache key: the uid when the path has one, else namespace/name.
    pub fn key(&self) -> PodKey {
        match &self.pod_uid {
            Some(uid) => PodKey::Uid(uid.as_str().into()),
            None => PodKey::Name(format!("{}/{}", self.namespace, self.pod_name).into()),
        }
    }

    /// The `kubernetes` object: the path's fields, then (when the pod is
    /// cached) the pod's, the container's and the namespace's.
    pub fn encode(&self, found: Option<&Found>) -> Bytes {
        let mut out = Vec::with_capacity(
            128 + found.map_or(0, |f| {
                f.pod.fragment.len() + 64 + f.namespace.as_ref().map_or(0, |n| n.len())
            }),
        );
        out.extend_from_slice(b"{\"pod_namespace\":");
        write_str(&mut out, self.namespace.as_bytes());
        out.extend_from_slice(b",\"pod_name\":");
        write_str(&mut out, self.pod_name.as_bytes());
        if let Some(uid) = &self.pod_uid {
            out.extend_from_slice(b",\"pod_uid\":");
            write_str(&mut out, uid.as_bytes());
        }
        out.extend_from_slice(b",\"container_name\":");
        write_str(&mut out, self.container_name.as_bytes());
        match found {
            Some(f) => {
                out.extend_from_slice(&f.pod.fragment);
                let container = f.pod.container(&self.container_name);
                out.extend_from_slice(container);
                if let (Some(id), false) =
                    (&self.container_id, contains(container, b"\"container_id\""))
                {
                    out.extend_from_slice(b",\"container_id\":");
                    write_str(&mut out, id.as_bytes());
                }
                if let Some(ns) = &f.namespace {
                    out.extend_from_slice(ns);
                }
            }
            None => {
                if let Some(id) = &self.container_id {
                    out.extend_from_slice(b",\"container_id\":");
                    write_str(&mut out, id.as_bytes());
                }
            }
        }
        out.push(b'}');
        Bytes::from(out)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_layouts_and_others() {
        let m = PathMeta::from_path(Path::new(
            "/var/log/pods/shop_web-1_0f1e2d3c-aaaa/nginx/0.log",
        ))
        .unwrap();
        assert_eq!(m.key(), PodKey::Uid("0f1e2d3c-aaaa".into()));
        let v: serde_json::Value = serde_json::from_slice(&m.encode(None)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"pod_namespace":"shop","pod_name":"web-1","pod_uid":"0f1e2d3c-aaaa","container_name":"nginx"})
        );
        let m = PathMeta::from_path(Path::new(
            "/var/log/containers/web-1_shop_nginx-proxy-3f4e.log",
        ))
        .unwrap();
        assert_eq!(m.key(), PodKey::Name("shop/web-1".into()));
        let v: serde_json::Value = serde_json::from_slice(&m.encode(None)).unwrap();
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
