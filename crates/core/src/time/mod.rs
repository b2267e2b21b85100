//! Time as every part of the agent sees it: one injectable [`Clock`] for
//! "now" and one [`Zone`] for clock-face times. It depends on nothing else of
//! ours, so transforms, the file sink and the maintenance jobs can share it
//! without importing one another.

pub mod clock;
pub mod zone;

pub use self::clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use self::zone::{Zone, ZoneError};

/// Wall-clock time in nanoseconds since the epoch (0 before it), for the
/// timestamps of events that carry none.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
