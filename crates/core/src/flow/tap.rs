//! `logagent tap`: a live, rate-limited sample of the events leaving a component.
//!
//! Every [`Output`](super::Output) carries a [`Tap`]. With nobody watching, a send
//! pays one relaxed atomic load. A watcher (the API's `/tap/ID` endpoint)
//! subscribes with an events-per-second limit and a bounded channel; the sending
//! component encodes at most that many events per second for it and never
//! blocks on it (a slow watcher misses samples, counted in what it is told).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::event::{Batch, encode};
use crate::telemetry::tap::{TapSource, TapSubscription};

/// Most samples waiting for one watcher before new ones are skipped.
pub const TAP_QUEUE: usize = 256;

/// The hook on one output.
#[derive(Debug, Clone, Default)]
pub struct Tap(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    watchers: AtomicUsize,
    subscribers: Mutex<Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    alive: std::sync::Weak<()>,
    tx: Sender<String>,
    per_second: u32,
    window: Instant,
    used: u32,
}

impl Tap {
    /// Subscribes: at most `per_second` events a second, as JSON lines. Dropping
    /// the [`Watcher`] unsubscribes.
    pub fn subscribe(&self, per_second: u32) -> Watcher {
        let (tx, rx) = crossbeam_channel::bounded(TAP_QUEUE);
        let alive = Arc::new(());
        let mut subs = self.0.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| s.alive.strong_count() > 0);
        subs.push(Subscriber {
            alive: Arc::downgrade(&alive),
            tx,
            per_second: per_second.max(1),
            window: Instant::now(),
            used: 0,
        });
        self.0.watchers.store(subs.len(), Ordering::Relaxed);
        Watcher { rx, _alive: alive }
    }

    /// True while someone watches.
    pub fn is_watched(&self) -> bool {
        self.0.watchers.load(Ordering::Relaxed) > 0
    }

    /// Offers a batch to the watchers (cheap when there are none).
    pub fn offer(&self, batch: &Batch) {
        if !self.is_watched() {
            return;
        }
        let mut subs = self.0.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut buf = Vec::new();
        subs.retain_mut(|s| {
            if s.alive.strong_count() == 0 {
                return false;
            }
            if now.duration_since(s.window) >= Duration::from_secs(1) {
                s.window = now;
                s.used = 0;
            }
            for event in &batch.events {
                if s.used >= s.per_second {
                    break;
                }
                s.used += 1;
                buf.clear();
                encode::write_json(event, &mut buf);
                let line = String::from_utf8_lossy(&buf).into_owned();
                match s.tx.try_send(line) {
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
            true
        });
        self.0.watchers.store(subs.len(), Ordering::Relaxed);
    }
}

/// One watcher's end of a tap: samples arrive on [`Watcher::rx`].
#[derive(Debug)]
pub struct Watcher {
    /// JSON lines of sampled events.
    pub rx: Receiver<String>,
    _alive: Arc<()>,
}

/// The API reads the live map of every output's tap (`topology::Taps`)
/// through this, without knowing the pipeline.
impl TapSource for RwLock<BTreeMap<String, Tap>> {
    fn outputs(&self) -> Vec<String> {
        self.read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn subscribe(&self, output: &str, per_second: u32) -> Option<TapSubscription> {
        let tap = self
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(output)
            .cloned()?;
        let watcher = tap.subscribe(per_second);
        Some(TapSubscription::new(watcher.rx.clone(), watcher))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AckToken, Event, Stream};
    use bytes::Bytes;

    fn batch(n: usize) -> Batch {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), n);
        for i in 0..n {
            b.events
                .push(Event::new(Bytes::from(format!("line {i}")), i as u64));
        }
        b
    }

    #[test]
    fn samples_are_rate_limited_and_watchers_leave() {
        let tap = Tap::default();
        assert!(!tap.is_watched());
        let w = tap.subscribe(3);
        assert!(tap.is_watched());
        tap.offer(&batch(10));
        tap.offer(&batch(10));
        let got: Vec<String> = w.rx.try_iter().collect();
        assert_eq!(got.len(), 3, "3 per second: {got:?}");
        assert_eq!(got[0], r#"{"message":"line 0"}"#);
        drop(w);
        tap.offer(&batch(1));
        assert!(!tap.is_watched());
    }
}
