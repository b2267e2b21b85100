//! Stop signals: sources poll [`Shutdown`] to stop reading; sinks check
//! [`Shutdown::is_forced`] to give up retrying once the drain time is over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// Held by components: tells them when to stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    stopped: Receiver<()>,
    stopping: Arc<AtomicBool>,
    forced: Arc<AtomicBool>,
    poisoned: Arc<AtomicBool>,
}

/// Held by the runtime: requests the stop.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: Option<Sender<()>>,
    stopping: Arc<AtomicBool>,
    forced: Arc<AtomicBool>,
    poisoned: Arc<AtomicBool>,
}

/// A linked trigger and listener.
pub fn pair() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = crossbeam_channel::bounded(0);
    let stopping = Arc::new(AtomicBool::new(false));
    let forced = Arc::new(AtomicBool::new(false));
    let poisoned = Arc::new(AtomicBool::new(false));
    (
        ShutdownTrigger {
            tx: Some(tx),
            stopping: stopping.clone(),
            forced: forced.clone(),
            poisoned: poisoned.clone(),
        },
        Shutdown {
            stopped: rx,
            stopping,
            forced,
            poisoned,
        },
    )
}

impl ShutdownTrigger {
    /// Asks sources to stop reading; everything read so far is drained.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.tx = None;
    }

    /// A component failed: what it held may be lost, and acknowledgements from
    /// now on cannot be trusted, so sources stop writing checkpoints (the lines
    /// after the last good checkpoint are read again on restart).
    pub fn poison(&mut self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }

    /// The drain time is over: components stop retrying and give up.
    pub fn force(&mut self) {
        self.forced.store(true, Ordering::SeqCst);
        self.stop();
    }
}

impl Shutdown {
    /// True once a stop was requested.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// True once a component failed (see [`ShutdownTrigger::poison`]).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    /// True once the drain time is over.
    pub fn is_forced(&self) -> bool {
        self.forced.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout`, returning early (true) when a stop is requested.
    /// Sources use this instead of sleeping between polls.
    pub fn wait(&self, timeout: Duration) -> bool {
        if self.is_stopping() {
            return true;
        }
        match self.stopped.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => self.is_stopping(),
            _ => true,
        }
    }

    /// A channel that disconnects when a stop is requested, for `select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_early_on_stop() {
        let (mut trigger, shutdown) = pair();
        assert!(!shutdown.wait(Duration::from_millis(1)));
        let s2 = shutdown.clone();
        let h = std::thread::spawn(move || s2.wait(Duration::from_secs(600)));
        trigger.stop();
        assert!(h.join().unwrap());
        assert!(shutdown.is_stopping() && !shutdown.is_forced() && !shutdown.is_poisoned());
        trigger.poison();
        assert!(shutdown.is_poisoned());
        trigger.force();
        assert!(shutdown.is_forced());
    }
}
