//! Helpers for the other crates' unit tests (feature `test-support`), so each
//! crate does not keep its own copy.

use std::time::{Duration, Instant};

/// Polls `cond` until it holds, failing the test after 30 s: tests wait for
/// what they need instead of sleeping a fixed time.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
