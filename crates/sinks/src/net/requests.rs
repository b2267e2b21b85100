//! Request concurrency for network sinks: requests run as tasks on the sink's
//! own small tokio runtime, at most `limit` at once, while the sink's thread
//! goes on encoding; each finished request comes back to that thread with
//! what the sink kept for it (its acknowledgements, its items), so settling
//! stays single-threaded and in the sink's hands.
//!
//! Every network sink needs the same four things — a bounded number of
//! requests in flight, waiting for one to finish without missing the end of
//! the drain time, taking finished ones without waiting, and aborting the rest
//! when it gives up — so they live here once.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use logagent_core::flow::Shutdown;

/// How long [`Requests::wait_one`] blocks before it looks at the shutdown again.
const TICK: Duration = Duration::from_millis(100);

/// Identifies one request among those in flight (see [`Requests::spawn`]).
pub type RequestId = u64;

/// The requests of one sink in flight: `P` is what the sink keeps for a
/// request until it ends, `R` what the request's task reports.
pub struct Requests<P, R> {
    runtime: tokio::runtime::Runtime,
    in_flight: HashMap<RequestId, (P, tokio::task::AbortHandle)>,
    next_id: RequestId,
    done_tx: Sender<(RequestId, R)>,
    done_rx: Receiver<(RequestId, R)>,
    limit: usize,
}

impl<P, R> std::fmt::Debug for Requests<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests")
            .field("in_flight", &self.in_flight.len())
            .field("limit", &self.limit)
            .finish()
    }
}

/// What [`Requests::wait_one`] found.
#[derive(Debug)]
pub enum Waited<P, R> {
    /// A request ended: what the sink kept for it and what it reported.
    Done(RequestId, P, R),
    /// Nothing is in flight.
    Idle,
    /// The drain time at shutdown is over: the sink should give up.
    Forced,
}

impl<P, R: Send + 'static> Requests<P, R> {
    /// An empty set of at most `limit` (at least 1) requests, with its runtime
    /// of one I/O thread named `thread_name`.
    ///
    /// The runtime's blocking pool — where request bodies are compressed (see
    /// [`super::compress::off_runtime`]) — holds at most one thread per request
    /// in flight (and at least two, for name resolution beside one
    /// compression): every request can compress at once, the single I/O thread
    /// never compresses, and the thread count stays bounded by the sink's
    /// `concurrency` instead of tokio's default of 512.
    pub fn new(thread_name: &str, limit: usize) -> std::io::Result<Requests<P, R>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(limit.max(2))
            .thread_name(thread_name)
            .enable_all()
            .build()?;
        // Unbounded only in name: at most `limit` tasks can report, once each.
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Ok(Requests {
            runtime,
            in_flight: HashMap::new(),
            next_id: 0,
            done_tx,
            done_rx,
            limit: limit.max(1),
        })
    }

    /// The runtime, for the sink's other tasks (a health loop).
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// How many requests are in flight.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// True when none is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// True when another request must wait for one to end.
    pub fn is_full(&self) -> bool {
        self.in_flight.len() >= self.limit
    }

    /// What the sink keeps for the requests in flight.
    pub fn kept(&self) -> impl Iterator<Item = &P> {
        self.in_flight.values().map(|(p, _)| p)
    }

    /// Starts `request` on the runtime, keeping `kept` until it ends. The
    /// caller waits for room first ([`Requests::is_full`]); the limit is the
    /// sink's to keep, this only counts.
    pub fn spawn<F>(&mut self, kept: P, request: F) -> RequestId
    where
        F: Future<Output = R> + Send + 'static,
    {
        let id = self.next_id;
        self.next_id += 1;
        let done = self.done_tx.clone();
        let handle = self.runtime.spawn(async move {
            let result = request.await;
            let _ = done.send((id, result));
        });
        self.in_flight.insert(id, (kept, handle.abort_handle()));
        id
    }

    /// A request that has ended, without waiting.
    pub fn try_done(&mut self) -> Option<(RequestId, P, R)> {
        while let Ok((id, result)) = self.done_rx.try_recv() {
            if let Some((kept, _)) = self.in_flight.remove(&id) {
                return Some((id, kept, result));
            }
        }
        None
    }

    /// Waits until a request ends, nothing is in flight, or the drain time at
    /// shutdown is over.
    pub fn wait_one(&mut self, shutdown: &Shutdown) -> Waited<P, R> {
        loop {
            if self.in_flight.is_empty() {
                return Waited::Idle;
            }
            if shutdown.is_forced() {
                return Waited::Forced;
            }
            match self.done_rx.recv_timeout(TICK) {
                Ok((id, result)) => {
                    if let Some((kept, _)) = self.in_flight.remove(&id) {
                        return Waited::Done(id, kept, result);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Never: this holds a sender.
                Err(RecvTimeoutError::Disconnected) => return Waited::Forced,
            }
        }
    }

    /// Aborts every request in flight and hands back what was kept for them
    /// (the sink reports them undelivered).
    pub fn abort_all(&mut self) -> Vec<P> {
        self.in_flight
            .drain()
            .map(|(_, (kept, abort))| {
                abort.abort();
                kept
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::flow::detached_shutdown;

    #[test]
    fn requests_end_in_any_order_and_each_brings_back_what_was_kept() {
        let mut r: Requests<&str, u32> = Requests::new("t", 2).unwrap();
        let (_trigger, shutdown) = detached_shutdown();
        assert!(matches!(r.wait_one(&shutdown), Waited::Idle));
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = r.spawn("slow", async move {
            let _ = release_rx.await;
            1
        });
        assert!(!r.is_full());
        let fast = r.spawn("fast", async { 2 });
        assert!(r.is_full());
        match r.wait_one(&shutdown) {
            Waited::Done(id, kept, result) => assert_eq!((id, kept, result), (fast, "fast", 2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.len(), 1);
        assert!(r.try_done().is_none());
        release_tx.send(()).unwrap();
        match r.wait_one(&shutdown) {
            Waited::Done(id, kept, result) => assert_eq!((id, kept, result), (slow, "slow", 1)),
            other => panic!("{other:?}"),
        }
        assert!(r.is_empty());
    }

    #[test]
    fn a_forced_shutdown_ends_the_wait_and_aborting_returns_what_was_kept() {
        let mut r: Requests<u8, ()> = Requests::new("t", 4).unwrap();
        let (mut trigger, shutdown) = detached_shutdown();
        r.spawn(7, std::future::pending());
        r.spawn(8, std::future::pending());
        trigger.force();
        assert!(matches!(r.wait_one(&shutdown), Waited::Forced));
        let mut kept = r.abort_all();
        kept.sort();
        assert_eq!(kept, vec![7, 8]);
        assert!(r.is_empty());
    }
}
