//! Acknowledgements: how a source learns that every sink has written a batch.
//!
//! A batch carries an [`AckToken`]. Fan-out clones the token with the batch; sinks
//! drop it once the data is written (or mark it failed first). When the last
//! clone is dropped, one [`Ack`] goes back to the source. Transforms that drop
//! events need do nothing: dropping is a kind of delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;

/// What a source hears back about one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The stream (file identity) the batch came from.
    pub stream: u64,
    /// Offset just past the batch's last line in that stream.
    pub end_offset: u64,
    /// False when some sink gave up on the batch.
    pub delivered: bool,
}

#[derive(Debug)]
struct Inner {
    stream: u64,
    end_offset: u64,
    failed: AtomicBool,
    notify: Option<Sender<Ack>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tx) = &self.notify {
            // A batch dropped while its holder panics was not written: never
            // report it delivered (the source would checkpoint past it).
            let delivered = !self.failed.load(Ordering::Relaxed) && !std::thread::panicking();
            // The source may have finished already; then nobody needs the ack.
            let _ = tx.send(Ack {
                stream: self.stream,
                end_offset: self.end_offset,
                delivered,
            });
        }
    }
}

/// Shared by every copy of a batch; reports once, when the last copy is done.
#[derive(Clone, Debug)]
pub struct AckToken(Arc<Inner>);

impl AckToken {
    /// A token that reports to `notify` when the batch up to `end_offset` of
    /// `stream` has been written everywhere.
    ///
    /// The channel may be unbounded: it holds at most one message per batch in
    /// flight, and batches in flight are bounded by the pipeline's channels.
    pub fn new(stream: u64, end_offset: u64, notify: Sender<Ack>) -> AckToken {
        AckToken(Arc::new(Inner {
            stream,
            end_offset,
            failed: AtomicBool::new(false),
            notify: Some(notify),
        }))
    }

    /// A token nobody listens to (tests, benches).
    pub fn detached() -> AckToken {
        AckToken(Arc::new(Inner {
            stream: 0,
            end_offset: 0,
            failed: AtomicBool::new(false),
            notify: None,
        }))
    }

    /// Marks the batch as not delivered by this holder.
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_when_last_clone_drops() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let token = AckToken::new(7, 100, tx);
        let copy = token.clone();
        drop(token);
        assert!(rx.try_recv().is_err());
        drop(copy);
        assert_eq!(
            rx.try_recv().unwrap(),
            Ack {
                stream: 7,
                end_offset: 100,
                delivered: true
            }
        );
    }

    #[test]
    fn a_batch_dropped_by_a_panicking_holder_is_not_delivered() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let token = AckToken::new(3, 9, tx);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = token;
            panic!("sink bug");
        }));
        assert!(result.is_err());
        assert!(!rx.try_recv().unwrap().delivered);
    }

    #[test]
    fn failure_by_any_holder_is_reported() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let token = AckToken::new(1, 5, tx);
        token.clone().fail();
        drop(token);
        assert!(!rx.try_recv().unwrap().delivered);
    }
}
