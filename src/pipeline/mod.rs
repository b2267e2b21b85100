//! The runtime: builds the component graph, runs each component on its own
//! thread, moves batches through bounded channels, and drains on shutdown.
//!
//! [`channel`] and [`shutdown`] are the only parts components see (how to emit a
//! batch, how to notice a stop); [`topology`] is the only part that knows every
//! component type.

pub mod channel;
pub mod data_dir;
pub mod disk_buffer;
pub mod isolate;
pub mod shutdown;
pub mod tap;
pub mod testing;
pub mod topology;

pub use channel::{Closed, Output, Outputs};
pub use shutdown::{Shutdown, ShutdownTrigger};
pub use topology::{BuildError, BuildOptions, Topology};
