//! logagent-retention: what deciding and doing a clean-up takes, shared by the
//! file sink's own rotation and retention and by `logagent rotate` / `logagent
//! retain`, so both keep and delete by the same rules.
//!
//! * [`policy`] and [`gfs`] — pure selection of what to delete (count, age,
//!   total size, grandfather-father-son).
//! * [`dates`] — calendar periods, date formats and dates found in file names.
//! * [`fsops`] and [`compress`] — careful file operations (no-replace renames,
//!   identity-checked deletes, atomic gzip).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod compress;
pub mod dates;
pub mod fsops;
pub mod gfs;
pub mod policy;
