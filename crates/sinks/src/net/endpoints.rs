//! An endpoint list with failover: round-robin over the nodes, skipping a node
//! that failed for a cool-down while others work. Sinks keep their own
//! per-node client in `T`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The nodes of one sink and their cool-downs. Bounded by the configured list.
#[derive(Debug)]
pub struct Endpoints<T> {
    nodes: Vec<(T, Mutex<Option<Instant>>)>,
    next: AtomicUsize,
    cooldown: Duration,
}

impl<T> Endpoints<T> {
    /// A list of `nodes`; a failed one is skipped for `cooldown`.
    pub fn new(nodes: Vec<T>, cooldown: Duration) -> Endpoints<T> {
        Endpoints {
            nodes: nodes.into_iter().map(|n| (n, Mutex::new(None))).collect(),
            next: AtomicUsize::new(0),
            cooldown,
        }
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.nodes.get(i).map(|(n, _)| n)
    }

    /// All nodes in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.nodes.iter().map(|(n, _)| n)
    }

    /// The next node round-robin, skipping nodes cooling down; when all are,
    /// the one that has cooled longest.
    pub fn pick(&self) -> usize {
        self.pick_at(Instant::now())
    }

    /// [`Endpoints::pick`] at time `now` (injected by tests).
    pub fn pick_at(&self, now: Instant) -> usize {
        let n = self.nodes.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(usize, Instant)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let until = self
                .nodes
                .get(i)
                .and_then(|(_, d)| *d.lock().unwrap_or_else(|p| p.into_inner()));
            match until {
                None => return i,
                Some(t) if t <= now => return i,
                Some(t) => {
                    if best.is_none_or(|(_, b)| t < b) {
                        best = Some((i, t));
                    }
                }
            }
        }
        best.map(|(i, _)| i).unwrap_or(0)
    }

    /// Puts node `i` in the cool-down after a failure (a single node is never
    /// skipped: there is nothing to fail over to).
    pub fn mark_failed(&self, i: usize) {
        self.mark_failed_at(i, Instant::now());
    }

    /// [`Endpoints::mark_failed`] at time `now`.
    pub fn mark_failed_at(&self, i: usize, now: Instant) {
        if self.nodes.len() > 1
            && let Some((_, d)) = self.nodes.get(i)
        {
            *d.lock().unwrap_or_else(|p| p.into_inner()) = Some(now + self.cooldown);
        }
    }

    /// Ends node `i`'s cool-down after a success.
    pub fn mark_ok(&self, i: usize) {
        if let Some((_, d)) = self.nodes.get(i) {
            let mut d = d.lock().unwrap_or_else(|p| p.into_inner());
            if d.is_some() {
                *d = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_a_cooling_node_until_it_recovers() {
        let e = Endpoints::new(vec!["a", "b", "c"], Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!((0..3).map(|_| e.pick_at(t0)).collect::<Vec<_>>(), [0, 1, 2]);
        e.mark_failed_at(1, t0);
        let picks: Vec<usize> = (0..6).map(|_| e.pick_at(t0)).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        let later = t0 + Duration::from_secs(11);
        assert!((0..3).map(|_| e.pick_at(later)).any(|i| i == 1));
        e.mark_failed_at(1, later);
        e.mark_ok(1);
        assert!((0..3).map(|_| e.pick_at(later)).any(|i| i == 1));
    }

    #[test]
    fn when_all_cool_down_the_earliest_back_is_chosen() {
        let e = Endpoints::new(vec!["a", "b"], Duration::from_secs(10));
        let t0 = Instant::now();
        e.mark_failed_at(1, t0);
        e.mark_failed_at(0, t0 + Duration::from_secs(1));
        assert_eq!(e.pick_at(t0 + Duration::from_secs(2)), 1);
        let single = Endpoints::new(vec!["a"], Duration::from_secs(10));
        single.mark_failed_at(0, t0);
        assert_eq!(single.pick_at(t0), 0);
    }
}
