//! The crate's one clock ([`crate::time::clock`]) under the path the file sink
//! imports it from (`sinks/file`); the maintenance jobs use `crate::time`.

pub use crate::time::clock::{Clock, ManualClock, SystemClock};
