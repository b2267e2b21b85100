//! The injectable clock of the maintenance jobs and the file sink's rotation:
//! the crate's one clock, [`crate::time::clock`], under the path they name.

pub use crate::time::clock::{Clock, ManualClock, SystemClock};
