//! logagent-core: what every part of the agent shares, and nothing else.
//!
//! The bottom of the workspace: the codecs, the components (sources,
//! transforms, sinks), the retention library and the application all depend
//! on this crate, and it depends on none of them.
//!
//! * [`event`] — an event is a `Bytes` slice of the read buffer plus ranges of
//!   the fields a parser found and the *edits* transforms made; batches, acks,
//!   levels, field paths, templates and the JSON scanner ([`event::json`]).
//! * [`component`] — the traits a source, transform or sink implements, what
//!   each is run with, and the config-side traits the application's component
//!   enums delegate to.
//! * [`flow`] — emitting batches over bounded channels, noticing a stop, taps.
//! * [`telemetry`] — the counters, labeled series and rate-limited logging
//!   components count with (their exposition is the application's).
//! * [`time`] — the one injectable clock and the one time zone type.
//! * [`units`] and [`error`] — byte sizes and durations as configs spell them,
//!   and the key errors a component's checks report.
//! * [`backoff`] — capped, jittered exponential backoff honouring
//!   `Retry-After`, shared by every retry loop (network sinks, the file sink,
//!   the disk buffer).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod backoff;
pub mod component;
pub mod error;
pub mod event;
pub mod flow;
pub mod kafka;
pub mod kubelet;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod time;
pub mod units;

pub use error::KeyError;
pub use units::{ByteSize, HumanDuration, UnitError};
