//! Kubernetes metadata from the API server for the lines of kubelet log files:
//! the `kubernetes_metadata` transform.
//!
//! ```text
//! transform (per batch: parse the file path → one cache lookup → one JSON value)
//!    │  reads
//!    ▼
//! cache (pods by uid, bounded; deleted pods kept for late lines; namespaces)
//!    ▲  writes
//!    │
//! watch thread (kube's watcher: pods with spec.nodeName=<node>, namespaces)
//! ```
//!
//! Its own crate, beside the transforms rather than in `logagent-transforms`:
//! the `kube` client brings `k8s-openapi` (the whole API's types, one of the
//! slowest crates to compile in the tree), hyper's client stack and rustls.
//! Kept here, they cost nothing to the build and test cycle of the other
//! transforms, and the layering test pins that no other component uses them.

pub mod cache;
pub mod meta;
pub mod path;
pub mod transform;
pub mod watch;

pub use transform::{KubernetesMetadata, KubernetesMetadataConfig, MISSING_TOTAL};
