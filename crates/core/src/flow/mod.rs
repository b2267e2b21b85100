//! How batches move between components: [`channel`] (emitting a batch to every
//! consumer over bounded channels), [`shutdown`] (noticing a stop) and [`tap`]
//! (copies for `logagent tap`). These are the only parts of the runtime that
//! components see; the application's topology wires them up.

pub mod channel;
pub mod shutdown;
pub mod tap;

pub use channel::{Closed, Output, Outputs, TrySend};
pub use shutdown::{Shutdown, ShutdownTrigger};

/// A shutdown pair not tied to a running topology (tests, benches, tools).
pub fn detached_shutdown() -> (ShutdownTrigger, Shutdown) {
    shutdown::pair()
}
