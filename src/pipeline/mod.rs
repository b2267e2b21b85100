//! The runtime: builds the component graph, runs each component (or stage of
//! fused transforms, on `[runtime] workers` threads: [`stage`]) on its own
//! thread, moves batches through bounded channels, and drains on shutdown.
//!
//! [`channel`] and [`shutdown`] are the only parts components see (how to emit a
//! batch, how to notice a stop); they live in `logagent-core` ([`logagent_core::flow`])
//! so that components need not depend on the application. [`topology`] is the
//! only part that knows every component type.

pub mod data_dir;
pub mod disk_buffer;
pub mod isolate;
pub mod preflight;
pub mod stage;
pub mod testing;
pub mod topology;

// What components see of the runtime lives in logagent-core (they depend on it,
// not on the application); re-exported under the runtime's own paths.
pub use logagent_core::flow::{
    Closed, Output, Outputs, Shutdown, ShutdownTrigger, channel, shutdown, tap,
};
pub use topology::{BuildError, BuildOptions, Topology};
