//! Kubernetes pod metadata from the kubelet's log paths:
//!
//! * `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`
//! * `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`
//!
//! Names of namespaces, pods and containers cannot contain `_`, so the split is
//! unambiguous. The metadata becomes one `kubernetes` object field, encoded once
//! per file.

use std::path::Path;

/// What the path says about the pod.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodMeta {
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

impl PodMeta {
    /// Parses either layout; `None` for other paths.
    pub fn from_path(path: &Path) -> Option<PodMeta> {
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
            return Some(PodMeta {
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
            return Some(PodMeta {
                namespace: ns.into(),
                pod_name: pod.into(),
                pod_uid: None,
                container_name: container.into(),
                container_id: Some(id.into()),
            });
        }
        None
    }

    /// The `kubernetes` field's value, as JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        let mut o = serde_json::Map::new();
        o.insert("pod_namespace".into(), self.namespace.clone().into());
        o.insert("pod_name".into(), self.pod_name.clone().into());
        if let Some(uid) = &self.pod_uid {
            o.insert("pod_uid".into(), uid.clone().into());
        }
        o.insert("container_name".into(), self.container_name.clone().into());
        if let Some(id) = &self.container_id {
            o.insert("container_id".into(), id.clone().into());
        }
        serde_json::to_vec(&o).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_layout() {
        let m = PodMeta::from_path(Path::new(
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
        assert_eq!(v["pod_uid"], "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab");
        assert!(v.get("container_id").is_none());
    }

    #[test]
    fn containers_layout() {
        let m = PodMeta::from_path(Path::new(
            "/var/log/containers/web-7d4b9c-xyz12_shop_nginx-proxy-3f4e5d6c7b8a.log",
        ))
        .unwrap();
        assert_eq!(m.pod_name, "web-7d4b9c-xyz12");
        assert_eq!(m.namespace, "shop");
        assert_eq!(m.container_name, "nginx-proxy");
        assert_eq!(m.container_id.as_deref(), Some("3f4e5d6c7b8a"));
    }

    #[test]
    fn other_paths_have_none() {
        for p in [
            "/var/log/app/api.log",
            "/var/log/pods/bad/c/0.log",
            "/var/log/containers/nounderscores.log",
            "/var/log/pods/ns_pod_uid/c/0.txt",
        ] {
            assert_eq!(PodMeta::from_path(Path::new(p)), None, "{p}");
        }
    }
}
