//! Retention policy: which files to delete by age, count, total size and
//! grandfather-father-son. Pure and shared by `logagent retain`, `logagent
//! rotate` (`keep`, `max_age`) and the file sink's own retention, so the three
//! agree on what a policy means.
//!
//! Each limit is a reason to delete on its own (`max_age` deletes what is older,
//! `keep_last` what is beyond the newest N, `gfs` what no period keeps);
//! `max_total_size` then deletes the oldest of the remaining files until the rest
//! fit. Whether a selected file may really go is the guard's business, not this.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::dates::Zone;
use super::gfs;
use crate::gfs::GfsConfig;

/// A file the policy may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its name or path: breaks ties between equal times, deterministically.
    pub name: String,
    /// Its date (from its name or its modification time).
    pub time: SystemTime,
    /// Its size in bytes.
    pub size: u64,
}

/// The limits of one job.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Delete files older than this.
    pub max_age: Option<Duration>,
    /// Keep at most the newest N files.
    pub keep_last: Option<usize>,
    /// Delete the oldest files until the rest fit in this many bytes.
    pub max_total_size: Option<u64>,
    /// Keep the newest file of each recent period, delete the others.
    pub gfs: Option<GfsConfig>,
    /// The clock face for GFS periods.
    pub zone: Zone,
}

impl Default for Policy {
    /// No limits, periods on the local clock face (as logrotate and cron).
    fn default() -> Policy {
        Policy {
            max_age: None,
            keep_last: None,
            max_total_size: None,
            gfs: None,
            zone: Zone::Local,
        }
    }
}

/// Why a file was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Older than `max_age`.
    OlderThan(Duration),
    /// Beyond the newest `keep` files.
    BeyondCount(usize),
    /// No grandfather-father-son period keeps it.
    NotKeptByGfs,
    /// Keeping it would exceed `max_total_size`.
    OverTotalSize(u64),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::OlderThan(d) => write!(f, "older than {}", human_duration(*d)),
            Reason::BeyondCount(n) => write!(f, "beyond the newest {n}"),
            Reason::NotKeptByGfs => f.write_str("not the newest of any kept period (gfs)"),
            Reason::OverTotalSize(n) => write!(
                f,
                "the newer files already fill max_total_size ({})",
                logagent_core::ByteSize(*n)
            ),
        }
    }
}

/// `30d`, `12h`, `90s`: the largest whole unit.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= secs && s.is_multiple_of(secs) {
            return format!("{}{unit}", s / secs);
        }
    }
    if d.subsec_nanos() == 0 {
        format!("{s}s")
    } else {
        format!("{:?}", d)
    }
}

/// A selected file: its index in the candidates and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// Index into the candidate slice.
    pub index: usize,
    /// The first reason found.
    pub reason: Reason,
}

/// The files `policy` deletes at `now`, oldest first. Candidates are ranked by
/// time, newest first (equal times by name, descending).
pub fn select(candidates: &[Candidate], policy: &Policy, now: SystemTime) -> Vec<Selected> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        candidates[b]
            .time
            .cmp(&candidates[a].time)
            .then_with(|| candidates[b].name.cmp(&candidates[a].name))
    });
    select_in_order(candidates, &order, policy, now)
}

/// [`select`] for candidates whose rank is known: `order` lists their indexes
/// newest first (numbered versions rank by number, whatever their mtimes say).
pub fn select_in_order(
    candidates: &[Candidate],
    order: &[usize],
    policy: &Policy,
    now: SystemTime,
) -> Vec<Selected> {
    let mut reason: Vec<Option<Reason>> = vec![None; candidates.len()];
    if let Some(max_age) = policy.max_age {
        for &i in order {
            let age = now.duration_since(candidates[i].time).unwrap_or_default();
            if age > max_age {
                reason[i].get_or_insert(Reason::OlderThan(max_age));
            }
        }
    }
    if let Some(keep) = policy.keep_last {
        for &i in order.iter().skip(keep) {
            reason[i].get_or_insert(Reason::BeyondCount(keep));
        }
    }
    if let Some(cfg) = &policy.gfs {
        let times: Vec<_> = order
            .iter()
            .map(|&i| policy.zone.naive(candidates[i].time))
            .collect();
        for (pos, kept) in gfs::select(&times, cfg).into_iter().enumerate() {
            if kept.is_empty() {
                reason[order[pos]].get_or_insert(Reason::NotKeptByGfs);
            }
        }
    }
    if let Some(limit) = policy.max_total_size {
        let mut total = 0u64;
        for &i in order {
            if reason[i].is_some() {
                continue;
            }
            total = total.saturating_add(candidates[i].size);
            if total > limit {
                reason[i] = Some(Reason::OverTotalSize(limit));
            }
        }
    }
    order
        .iter()
        .rev()
        .filter_map(|&i| reason[i].map(|reason| Selected { index: i, reason }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn files(ages_days: &[(u64, u64)], now: SystemTime) -> Vec<Candidate> {
        ages_days
            .iter()
            .enumerate()
            .map(|(i, (age, size))| Candidate {
                name: format!("f{i}"),
                time: now - Duration::from_secs(age * DAY),
                size: *size,
            })
            .collect()
    }

    fn names(c: &[Candidate], s: &[Selected]) -> Vec<String> {
        s.iter().map(|s| c[s.index].name.clone()).collect()
    }

    #[test]
    fn age_count_and_size_each_delete() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 * DAY);
        // f0 newest … f4 oldest.
        let c = files(&[(0, 10), (1, 10), (2, 10), (40, 10), (50, 10)], now);
        let by_age = select(
            &c,
            &Policy {
                max_age: Some(Duration::from_secs(30 * DAY)),
                ..Policy::default()
            },
            now,
        );
        assert_eq!(names(&c, &by_age), ["f4", "f3"]);
        assert_eq!(by_age[0].reason.to_string(), "older than 30d");
        let by_count = select(
            &c,
            &Policy {
                keep_last: Some(2),
                ..Policy::default()
            },
            now,
        );
        assert_eq!(names(&c, &by_count), ["f4", "f3", "f2"]);
        let by_size = select(
            &c,
            &Policy {
                max_total_size: Some(25),
                ..Policy::default()
            },
            now,
        );
        assert_eq!(names(&c, &by_size), ["f4", "f3", "f2"]);
        // Files another limit deletes do not count towards the total.
        let both = select(
            &c,
            &Policy {
                max_age: Some(Duration::from_secs(30 * DAY)),
                max_total_size: Some(25),
                ..Policy::default()
            },
            now,
        );
        assert_eq!(names(&c, &both), ["f4", "f3", "f2"]);
        assert_eq!(both[2].reason, Reason::OverTotalSize(25));
        assert!(select(&c, &Policy::default(), now).is_empty());
    }

    #[test]
    fn gfs_deletes_what_no_period_keeps() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 * DAY + 3600);
        let c = files(&[(0, 1), (1, 1), (2, 1), (3, 1)], now);
        let s = select(
            &c,
            &Policy {
                gfs: Some(GfsConfig {
                    daily: 2,
                    ..GfsConfig::default()
                }),
                zone: Zone::Utc,
                ..Policy::default()
            },
            now,
        );
        assert_eq!(names(&c, &s), ["f3", "f2"]);
        assert_eq!(s[0].reason, Reason::NotKeptByGfs);
    }
}
