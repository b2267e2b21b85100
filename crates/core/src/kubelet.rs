//! What a kubelet log path names. Both the file source's Kubernetes mode and
//! the `kubernetes_metadata` transform read these two layouts, so the parser
//! lives here, below both:
//!
//! - `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`
//! - `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`
//!
//! Names of namespaces, pods and containers cannot contain `_`, so the split is
//! unambiguous.

use std::path::Path;

use crate::event::json::write_str;

/// The pod and container a log file belongs to, as its path says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodPath {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub pod_name: String,
    /// `metadata.uid` (only in `/var/log/pods` paths).
    pub pod_uid: Option<String>,
    /// The container's name.
    pub container_name: String,
    /// The runtime's container id (only in `/var/log/containers` paths).
    pub container_id: Option<String>,
}

impl PodPath {
    /// Parses either layout; `None` for other paths.
    pub fn from_path(path: &Path) -> Option<PodPath> {
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
            return Some(PodPath {
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
            return Some(PodPath {
                namespace: ns.into(),
                pod_name: pod.into(),
                pod_uid: None,
                container_name: container.into(),
                container_id: Some(id.into()),
            });
        }
        None
    }

    /// Appends the members every `kubernetes` object starts with (namespace,
    /// pod name, uid, container name), without braces or the container id,
    /// so a caller can add what it knows beyond the path.
    pub fn write_members(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"pod_namespace\":");
        write_str(out, self.namespace.as_bytes());
        out.extend_from_slice(b",\"pod_name\":");
        write_str(out, self.pod_name.as_bytes());
        if let Some(uid) = &self.pod_uid {
            out.extend_from_slice(b",\"pod_uid\":");
            write_str(out, uid.as_bytes());
        }
        out.extend_from_slice(b",\"container_name\":");
        write_str(out, self.container_name.as_bytes());
    }

    /// Appends `,"container_id":…` when the path has one.
    pub fn write_container_id(&self, out: &mut Vec<u8>) {
        if let Some(id) = &self.container_id {
            out.extend_from_slice(b",\"container_id\":");
            write_str(out, id.as_bytes());
        }
    }

    /// The `kubernetes` object of what the path alone says, as JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(b'{');
        self.write_members(&mut out);
        self.write_container_id(&mut out);
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pods_layout() {
        let m = PodPath::from_path(Path::new(
            "/var/log/pods/kube-system_coredns-5d78c9869d-abcde_0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/coredns/0.log",
        ))
        .unwrap();
        assert_eq!(m.namespace, "kube-system");
        assert_eq!(m.pod_name, "coredns-5d78c9869d-abcde");
        assert_eq!(
            m.pod_uid.as_deref(),
            Some("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")
        );
        assert_eq!(m.container_name, "coredns");
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"pod_namespace": "kube-system",
                "pod_name": "coredns-5d78c9869d-abcde",
                "pod_uid": "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab",
                "container_name": "coredns"})
        );
    }

    #[test]
    fn containers_layout() {
        let m = PodPath::from_path(Path::new(
            "/var/log/containers/web-7d4b9c-xyz12_shop_nginx-proxy-3f4e5d6c7b8a.log",
        ))
        .unwrap();
        assert_eq!(m.pod_name, "web-7d4b9c-xyz12");
        assert_eq!(m.namespace, "shop");
        assert_eq!(m.container_name, "nginx-proxy");
        assert_eq!(m.container_id.as_deref(), Some("3f4e5d6c7b8a"));
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(v["container_id"], "3f4e5d6c7b8a");
        assert!(v.get("pod_uid").is_none());
    }

    #[test]
    fn other_paths_have_none() {
        for p in [
            "/var/log/app/api.log",
            "/var/log/pods/bad/c/0.log",
            "/var/log/containers/nounderscores.log",
            "/var/log/pods/ns_pod_uid/c/0.txt",
        ] {
            assert_eq!(PodPath::from_path(Path::new(p)), None, "{p}");
        }
    }
}
