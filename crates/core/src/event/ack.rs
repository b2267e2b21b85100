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

/// A completion called once with the batch's [`Ack`].
type Completion = Box<dyn FnOnce(Ack) + Send + Sync>;

/// Where the one [`Ack`] of a token goes.
enum Notify {
    /// Nowhere (tests, benches).
    Nobody,
    /// A source's acknowledgement channel (the file source's checkpointer).
    Channel(Sender<Ack>),
    /// A completion (a network source answering its client once the batch
    /// is written); taken when it is called.
    Completion(Option<Completion>),
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Notify::Nobody => "Nobody",
            Notify::Channel(_) => "Channel",
            Notify::Completion(_) => "Completion",
        })
    }
}

#[derive(Debug)]
struct Inner {
    stream: u64,
    end_offset: u64,
    failed: AtomicBool,
    notify: Notify,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A batch dropped while its holder panics was not written: never
        // report it delivered (the source would checkpoint past it).
        let delivered = !self.failed.load(Ordering::Relaxed) && !std::thread::panicking();
        let ack = Ack {
            stream: self.stream,
            end_offset: self.end_offset,
            delivered,
        };
        match &mut self.notify {
            Notify::Nobody => {}
            // The source may have finished already; then nobody needs the ack.
            Notify::Channel(tx) => {
                let _ = tx.send(ack);
            }
            Notify::Completion(done) => {
                if let Some(done) = done.take() {
                    done(ack);
                }
            }
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
            notify: Notify::Channel(notify),
        }))
    }

    /// A token that calls `done` once, when the last copy of the batch (or of
    /// every batch sharing this token) has been written everywhere or given
    /// up on: how a network source answers its client only after delivery.
    /// `done` runs on whichever thread drops the last copy, so it must be
    /// quick (wake a waiter, never block).
    pub fn with_completion(
        stream: u64,
        end_offset: u64,
        done: impl FnOnce(Ack) + Send + Sync + 'static,
    ) -> AckToken {
        AckToken(Arc::new(Inner {
            stream,
            end_offset,
            failed: AtomicBool::new(false),
            notify: Notify::Completion(Some(Box::new(done))),
        }))
    }

    /// A token nobody listens to (tests, benches).
    pub fn detached() -> AckToken {
        AckToken(Arc::new(Inner {
            stream: 0,
            end_offset: 0,
            failed: AtomicBool::new(false),
            notify: Notify::Nobody,
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
    fn a_completion_is_called_once_with_the_verdict_of_every_copy() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let token = AckToken::with_completion(2, 40, move |ack| {
            let _ = tx.send(ack);
        });
        let copies = [token.clone(), token.clone()];
        drop(token);
        copies[0].fail();
        assert!(rx.try_recv().is_err(), "copies are still held");
        drop(copies);
        let ack = rx.try_recv().unwrap();
        assert_eq!((ack.stream, ack.end_offset, ack.delivered), (2, 40, false));
        assert!(rx.try_recv().is_err(), "called once");
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
