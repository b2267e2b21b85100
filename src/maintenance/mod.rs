//! Maintenance jobs: `logagent rotate` (logrotate's useful semantics) and
//! `logagent retain` (clean-up by age, count, total size and
//! grandfather-father-son), both safe beside a running agent.
//!
//! Today these jobs race the log shipper: logrotate deletes or truncates a file the
//! agent has not finished reading, and the lines are gone. Here every destructive
//! step (delete, truncate, replace by a compressed copy) first asks the
//! [`guard`]: has the agent acknowledged this file to its end, according to its
//! checkpoints? If not, the file is left in place and reported as *held*.
//!
//! ```text
//!  config  ──▶  rotate::plan / retain::plan  ──▶  Step list  ──▶  print (--dry-run)
//!  (jobs)        (triggers, naming, policy)        │
//!                                                  └─▶ execute: each destructive step
//!                                                      re-checks the guard just before it
//! ```
//!
//! * [`config`] — `[[rotate]]` and `[[retain]]` tables, in their own file or in a
//!   pipeline file; loading for the commands.
//! * [`guard`] — what the agent has shipped (checkpoints + the tail sources' globs).
//! * [`policy`] and [`gfs`] — pure selection of what to delete (count, age, total
//!   size, grandfather-father-son); from `logagent-retention`, shared with the
//!   file sink's own retention, as are [`dates`], [`fsops`] and [`compress`].
//! * [`naming`] — numbered (`app.log.1`) and dated (`app.log-20261123`) versions.
//! * [`fsops`] and [`compress`] — careful file operations (no-replace renames,
//!   identity-checked deletes, atomic gzip).
//! * [`state`] — the rotation state file and the lock that keeps runs apart.
//! * [`dates`] — calendar periods (the clock is [`crate::time`]'s).
//! * [`report`] and [`progress`] — plans, results, `--json`, the progress bar.
//! * [`run`] — the two commands, as called by the binary.

pub mod config;
pub mod guard;
pub mod naming;
pub mod progress;
pub mod report;
pub mod retain;
pub mod rotate;
pub mod run;
pub mod state;

pub use config::{MaintenanceConfig, RetainConfig, RotateConfig};
// Shared with the file sink, so they live in logagent-retention.
pub use logagent_retention::{compress, dates, fsops, gfs, policy};
