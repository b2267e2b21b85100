//! What `/health` and `/ready` report: which components are failing and why,
//! and whether the pipeline is ready (built, sinks' health checks passed).
//!
//! Failures are set by the runtime (a component's thread ended with an error or
//! panicked) and by health checkers (a sink whose server does not answer); a
//! checker clears its own entry when the check passes again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Shared health state; clones see the same state.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    failing: Mutex<BTreeMap<String, String>>,
    ready: AtomicBool,
}

impl Health {
    /// Marks `component` (`kind.id`) as failing for `reason`.
    pub fn fail(&self, component: &str, reason: &str) {
        let mut f = self.0.failing.lock().unwrap_or_else(|p| p.into_inner());
        f.insert(component.to_owned(), reason.to_owned());
    }

    /// Clears a failure a checker had set (the check passes again).
    pub fn recover(&self, component: &str) {
        let mut f = self.0.failing.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(component);
    }

    /// Failing components and why, sorted by name.
    pub fn failing(&self) -> BTreeMap<String, String> {
        self.0
            .failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Marks the pipeline ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::SeqCst);
    }

    /// True once the pipeline is built and its sinks' health checks passed, and
    /// nothing is failing.
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::SeqCst) && self.failing().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_named_and_cleared() {
        let h = Health::default();
        h.set_ready(true);
        assert!(h.is_ready());
        h.fail("sinks.es", "connection refused");
        assert!(!h.is_ready());
        assert_eq!(h.failing().get("sinks.es").unwrap(), "connection refused");
        h.recover("sinks.es");
        assert!(h.is_ready());
    }
}
