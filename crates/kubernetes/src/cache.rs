//! The node's pods as the watch last saw them, keyed by pod uid, shared by the
//! watch thread (which writes) and the transform (which reads once per batch).
//!
//! Bounds and eviction, named here because this is state that grows with the
//! world:
//! * at most `max_pods` pods. A deleted pod stays until `delete_grace` has
//!   passed since its deletion *and* since the last batch that used it (its
//!   files may still be read: a pod deleted before its last lines are read
//!   keeps enriching them). When full, the deleted pod idle the longest is
//!   evicted; with no deleted pod to evict, the new pod is not cached (its
//!   lines get path metadata only, counted) and a warning is logged.
//! * at most `max_namespaces` namespaces' labels, deleted ones evicted first.
//!
//! Lookups and writes take one mutex (a lookup is a hash probe and two
//! reference-count increments, once per batch, not per line); a condition
//! variable wakes transforms waiting for a pod the watch has not delivered yet.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::meta::PodInfo;

/// The cache's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most pods kept (live and deleted).
    pub max_pods: usize,
    /// Most namespaces' labels kept.
    pub max_namespaces: usize,
    /// How long a deleted pod is kept after its deletion and its last use.
    pub delete_grace: Duration,
}

struct Entry {
    info: Arc<PodInfo>,
    /// When the watch reported the pod gone.
    deleted_at: Option<Instant>,
    /// When a batch last used the pod (only kept up to date once deleted).
    last_used: Instant,
    /// The list/watch epoch that last confirmed the pod (see [`Cache::begin_relist`]).
    epoch: u64,
}

impl Entry {
    fn expired(&self, now: Instant, grace: Duration) -> bool {
        self.deleted_at
            .is_some_and(|d| now >= d.max(self.last_used) + grace)
    }
}

struct Namespace {
    fragment: Bytes,
    deleted: bool,
    epoch: u64,
}

#[derive(Default)]
struct State {
    pods: HashMap<Box<str>, Entry>,
    /// A mirror pod's static uid (the kubelet's directory name) → its API uid.
    aliases: HashMap<Box<str>, Box<str>>,
    /// `namespace/name` → uid of the newest pod of that name (for
    /// `/var/log/containers` paths, which carry no uid).
    by_name: HashMap<Box<str>, Box<str>>,
    namespaces: HashMap<Box<str>, Namespace>,
    bytes: usize,
    pod_epoch: u64,
    ns_epoch: u64,
    refused: u64,
    evicted: u64,
}

/// A cached pod and its namespace's labels fragment.
#[derive(Debug, Clone)]
pub struct Found {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// `,"namespace_labels":{…}`, when the namespace is known.
    pub namespace: Option<Bytes>,
}

/// How the transform names a pod: by uid (`/var/log/pods` paths) or by
/// namespace and name (`/var/log/containers` paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodKey {
    /// `metadata.uid` (or a static pod's config hash).
    Uid(Box<str>),
    /// `namespace/name`.
    Name(Box<str>),
}

/// Counts for `/metrics`-style reporting and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Pods cached (live and deleted).
    pub pods: usize,
    /// Of which deleted (kept for late lines).
    pub deleted: usize,
    /// Namespaces cached.
    pub namespaces: usize,
    /// Approximate bytes of the cached pods ([`PodInfo::approx_bytes`]).
    pub pod_bytes: usize,
    /// Pods not cached because the cache was full of live pods.
    pub refused: u64,
    /// Deleted pods evicted early to make room.
    pub evicted: u64,
}

/// The shared pod cache.
pub struct Cache {
    state: Mutex<State>,
    changed: Condvar,
    limits: Limits,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

fn name_key(ns: &str, name: &str) -> Box<str> {
    format!("{ns}/{name}").into()
}

impl Cache {
    /// An empty cache with `limits`.
    pub fn new(limits: Limits) -> Cache {
        Cache {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a pod (watch `ADDED`/`MODIFIED`, or listed). A pod
    /// seen again after a deletion (a relist that still has it) is live again.
    pub fn apply(&self, info: PodInfo, now: Instant) {
        let mut s = self.lock();
        let epoch = s.pod_epoch;
        let uid: Box<str> = info.uid.clone();
        if !s.pods.contains_key(&uid)
            && s.pods.len() >= self.limits.max_pods
            && !self.make_room(&mut s)
        {
            s.refused += 1;
            if s.refused == 1 || s.refused.is_power_of_two() {
                tracing::warn!(
                    max_pods = self.limits.max_pods,
                    refused = s.refused,
                    "kubernetes_metadata: the pod cache is full of live pods; new pods get path metadata only (raise max_pods)"
                );
            }
            return;
        }
        let info = Arc::new(info);
        if let Some(m) = &info.mirror_uid {
            s.aliases.insert(m.clone(), uid.clone());
        }
        s.by_name
            .insert(name_key(&info.namespace, &info.name), uid.clone());
        let add = info.approx_bytes();
        let old = s.pods.insert(
            uid,
            Entry {
                info,
                deleted_at: None,
                last_used: now,
                epoch,
            },
        );
        s.bytes += add;
        if let Some(old) = old {
            s.bytes -= old.info.approx_bytes();
        }
        drop(s);
        self.changed.notify_all();
    }

    /// Evicts the deleted pod idle the longest; false when none is deleted.
    fn make_room(&self, s: &mut State) -> bool {
        let victim = s
            .pods
            .iter()
            .filter_map(|(uid, e)| e.deleted_at.map(|d| (d.max(e.last_used), uid)))
            .min()
            .map(|(_, uid)| uid.clone());
        match victim {
            Some(uid) => {
                Self::remove(s, &uid);
                s.evicted += 1;
                true
            }
            None => false,
        }
    }

    fn remove(s: &mut State, uid: &str) {
        if let Some(e) = s.pods.remove(uid) {
            s.bytes -= e.info.approx_bytes();
            if let Some(m) = &e.info.mirror_uid
                && s.aliases.get(m).is_some_and(|u| &**u == uid)
            {
                s.aliases.remove(m);
            }
            let key = name_key(&e.info.namespace, &e.info.name);
            if s.by_name.get(&key).is_some_and(|u| &**u == uid) {
                s.by_name.remove(&key);
            }
        }
    }

    /// Marks a pod deleted (watch `DELETED`): kept for `delete_grace` after
    /// this and after its last use.
    pub fn delete(&self, uid: &str, now: Instant) {
        let mut s = self.lock();
        if let Some(e) = s.pods.get_mut(uid) {
            e.deleted_at.get_or_insert(now);
            e.last_used = now;
        }
    }

    /// A new list begins (the watch restarted after `410 Gone`): pods the
    /// list does not confirm are deleted by [`Cache::end_relist`].
    pub fn begin_relist(&self) {
        self.lock().pod_epoch += 1;
    }

    /// The list is complete: every pod it did not contain is marked deleted
    /// (it was deleted while the watch was away), kept for late lines.
    pub fn end_relist(&self, now: Instant) {
        let mut s = self.lock();
        let epoch = s.pod_epoch;
        for e in s.pods.values_mut() {
            if e.epoch < epoch && e.deleted_at.is_none() {
                e.deleted_at = Some(now);
                e.last_used = now;
            }
        }
    }

    /// Drops deleted pods past their grace period.
    pub fn sweep(&self, now: Instant) {
        let mut s = self.lock();
        let grace = self.limits.delete_grace;
        let expired: Vec<Box<str>> = s
            .pods
            .iter()
            .filter(|(_, e)| e.expired(now, grace))
            .map(|(u, _)| u.clone())
            .collect();
        for uid in expired {
            Self::remove(&mut s, &uid);
        }
    }

    /// Adds or replaces a namespace's labels fragment.
    pub fn apply_namespace(&self, name: &str, fragment: Bytes) {
        let mut s = self.lock();
        let epoch = s.ns_epoch;
        if !s.namespaces.contains_key(name) && s.namespaces.len() >= self.limits.max_namespaces {
            let victim = s
                .namespaces
                .iter()
                .find(|(_, n)| n.deleted)
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    s.namespaces.remove(&k);
                }
                None => return,
            }
        }
        s.namespaces.insert(
            name.into(),
            Namespace {
                fragment,
                deleted: false,
                epoch,
            },
        );
        drop(s);
        self.changed.notify_all();
    }

    /// Marks a namespace deleted (its labels stay for late lines until room is needed).
    pub fn delete_namespace(&self, name: &str) {
        if let Some(n) = self.lock().namespaces.get_mut(name) {
            n.deleted = true;
        }
    }

    /// A namespace relist begins.
    pub fn begin_namespace_relist(&self) {
        self.lock().ns_epoch += 1;
    }

    /// A namespace relist is complete: namespaces it did not contain are deleted.
    pub fn end_namespace_relist(&self) {
        let mut s = self.lock();
        let epoch = s.ns_epoch;
        for n in s.namespaces.values_mut() {
            if n.epoch < epoch {
                n.deleted = true;
            }
        }
    }

    fn find(&self, s: &mut State, key: &PodKey, now: Instant) -> Option<Found> {
        let uid = match key {
            PodKey::Uid(uid) => s.aliases.get(uid).cloned().unwrap_or_else(|| uid.clone()),
            PodKey::Name(name) => s.by_name.get(name)?.clone(),
        };
        let e = s.pods.get_mut(&uid)?;
        if e.deleted_at.is_some() {
            e.last_used = now;
        }
        let pod = e.info.clone();
        let namespace = s
            .namespaces
            .get(&*pod.namespace)
            .map(|n| n.fragment.clone());
        Some(Found { pod, namespace })
    }

    /// The pod named by `key`, if cached.
    pub fn lookup(&self, key: &PodKey, now: Instant) -> Option<Found> {
        let mut s = self.lock();
        self.find(&mut s, key, now)
    }

    /// The pod named by `key`, waiting until `deadline` for the watch to
    /// deliver it; `None` once the deadline has passed or `give_up` says so
    /// (checked whenever the cache changes or [`Cache::wake`] is called).
    pub fn wait_for(
        &self,
        key: &PodKey,
        deadline: Instant,
        give_up: impl Fn() -> bool,
    ) -> Option<Found> {
        let mut s = self.lock();
        loop {
            let now = Instant::now();
            if let Some(found) = self.find(&mut s, key, now) {
                return Some(found);
            }
            if now >= deadline || give_up() {
                return None;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until the cache changes, [`Cache::wake`] is called, or `deadline`.
    pub fn wait_change(&self, deadline: Instant) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let s = self.lock();
        drop(
            self.changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner()),
        );
    }

    /// Wakes every waiting transform (the watch gave up: nothing more will come).
    pub fn wake(&self) {
        self.changed.notify_all();
    }

    /// Current counts.
    pub fn stats(&self) -> CacheStats {
        let s = self.lock();
        CacheStats {
            pods: s.pods.len(),
            deleted: s.pods.values().filter(|e| e.deleted_at.is_some()).count(),
            namespaces: s.namespaces.len(),
            pod_bytes: s.bytes,
            refused: s.refused,
            evicted: s.evicted,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn info(uid: &str, name: &str) -> PodInfo {
        PodInfo {
            uid: uid.into(),
            namespace: "ns".into(),
            name: name.into(),
            mirror_uid: None,
            fragment: Bytes::from_static(b",\"labels\":{}"),
            containers: Vec::new(),
            truncated: 0,
        }
    }

    fn cache(max_pods: usize) -> Cache {
        Cache::new(Limits {
            max_pods,
            max_namespaces: 2,
            delete_grace: Duration::from_secs(60),
        })
    }

    fn uid(u: &str) -> PodKey {
        PodKey::Uid(u.into())
    }

    #[test]
    fn a_deleted_pod_stays_while_it_is_used_then_goes() {
        let c = cache(10);
        let t0 = Instant::now();
        c.apply(info("u1", "a"), t0);
        c.delete("u1", t0);
        c.sweep(t0 + Duration::from_secs(59));
        // Lines still arrive: each use extends the grace.
        assert!(c.lookup(&uid("u1"), t0 + Duration::from_secs(50)).is_some());
        c.sweep(t0 + Duration::from_secs(100));
        assert!(
            c.lookup(&uid("u1"), t0 + Duration::from_secs(100))
                .is_some()
        );
        c.sweep(t0 + Duration::from_secs(161));
        assert!(
            c.lookup(&uid("u1"), t0 + Duration::from_secs(161))
                .is_none()
        );
        assert_eq!(c.stats().pods, 0);
        assert_eq!(c.stats().pod_bytes, 0);
    }

    #[test]
    fn full_of_live_pods_refuses_and_evicts_deleted_first() {
        let c = cache(2);
        let t0 = Instant::now();
        c.apply(info("u1", "a"), t0);
        c.apply(info("u2", "b"), t0);
        c.apply(info("u3", "c"), t0);
        assert_eq!(c.stats().refused, 1);
        assert!(c.lookup(&uid("u3"), t0).is_none());
        c.delete("u1", t0);
        c.apply(info("u3", "c"), t0);
        assert_eq!((c.stats().pods, c.stats().evicted), (2, 1));
        assert!(c.lookup(&uid("u1"), t0).is_none());
        assert!(c.lookup(&uid("u3"), t0).is_some());
    }

    #[test]
    fn a_relist_marks_missing_pods_deleted_and_names_follow_the_newest_uid() {
        let c = cache(10);
        let t0 = Instant::now();
        c.apply(info("u1", "a"), t0);
        c.apply(info("u2", "b"), t0);
        c.begin_relist();
        c.apply(info("u2", "b"), t0);
        c.apply(info("u9", "a"), t0); // "a" restarted with a new uid
        c.end_relist(t0);
        let s = c.stats();
        assert_eq!((s.pods, s.deleted), (3, 1));
        let by_name = c.lookup(&PodKey::Name("ns/a".into()), t0).unwrap();
        assert_eq!(&*by_name.pod.uid, "u9");
        // The old uid's files still enrich with the old pod.
        assert_eq!(&*c.lookup(&uid("u1"), t0).unwrap().pod.uid, "u1");
    }

    #[test]
    fn waiting_returns_when_the_pod_arrives_or_at_the_deadline() {
        let c = Arc::new(cache(10));
        let start = Instant::now();
        assert!(
            c.wait_for(&uid("u1"), start + Duration::from_millis(20), || false)
                .is_none()
        );
        let writer = {
            let c = c.clone();
            std::thread::spawn(move || c.apply(info("u1", "a"), Instant::now()))
        };
        let got = c.wait_for(&uid("u1"), Instant::now() + Duration::from_secs(30), || {
            false
        });
        writer.join().unwrap();
        assert!(got.is_some());
    }
}
