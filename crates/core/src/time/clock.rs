//! An injectable clock, so tests move time by hand (rates, year inference,
//! fallback event times, rotation periods) instead of waiting for it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from. Transforms, the file sink's rotation and the
/// maintenance jobs read the time only through this trait.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// Now, in nanoseconds since the Unix epoch (the unit of event times).
    fn now_ns(&self) -> i64 {
        to_ns(self.now())
    }
}

/// A clock shared by the components that read it: cheap to clone, and a test
/// keeps its own handle to a [`ManualClock`] to move it.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The real clock as a [`SharedClock`], what components get outside tests.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: SystemTime) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    /// A clock standing at `ns` nanoseconds since the epoch.
    pub fn at_ns(ns: i64) -> ManualClock {
        ManualClock::new(from_ns(ns))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: SystemTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Sets the clock to `ns` nanoseconds since the epoch.
    pub fn set_ns(&self, ns: i64) {
        self.set(from_ns(ns));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Nanoseconds since the epoch (saturating past year 2262; negative before 1970).
fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The time `ns` nanoseconds from the epoch.
fn from_ns(ns: i64) -> SystemTime {
    let d = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let c = ManualClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(Duration::from_secs(86_400));
        assert_eq!(c.now(), start + Duration::from_secs(86_400));
    }

    #[test]
    fn nanoseconds_round_trip() {
        for ns in [0, 42, 1_000_500_000_000, -1_500] {
            let c = ManualClock::at_ns(ns);
            assert_eq!(c.now_ns(), ns);
            c.set_ns(ns + 7);
            assert_eq!(c.now_ns(), ns + 7);
        }
        assert!(SystemClock.now_ns() > 1_700_000_000_000_000_000);
    }
}
