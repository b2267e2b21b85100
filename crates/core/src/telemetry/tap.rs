//! What the API's `/tap/ID` needs from the pipeline: a trait the pipeline's
//! taps implement, so telemetry never imports the pipeline it observes (and can
//! become a crate of its own).

use crossbeam_channel::Receiver;

/// One watcher's subscription to an output. Samples arrive on
/// [`TapSubscription::rx`]; dropping the subscription unsubscribes, because it
/// owns the pipeline's side of the watch.
pub struct TapSubscription {
    /// JSON lines of sampled events.
    pub rx: Receiver<String>,
    _watch: Box<dyn Send>,
}

impl TapSubscription {
    /// A subscription reading `rx`, keeping `watch` (whatever keeps the
    /// pipeline sending) alive until it is dropped.
    pub fn new(rx: Receiver<String>, watch: impl Send + 'static) -> TapSubscription {
        TapSubscription {
            rx,
            _watch: Box::new(watch),
        }
    }
}

impl std::fmt::Debug for TapSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapSubscription").finish_non_exhaustive()
    }
}

/// The outputs a watcher can tap.
pub trait TapSource: Send + Sync {
    /// The name of every output that can be tapped (`ID` or `ID.NAME`), for
    /// the reply to an unknown name.
    fn outputs(&self) -> Vec<String>;

    /// Subscribes to `output` at most `per_second` samples a second; `None`
    /// when no output has that name.
    fn subscribe(&self, output: &str, per_second: u32) -> Option<TapSubscription>;
}
