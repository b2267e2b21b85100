//! Grandfather-father-son selection: keep the newest file of each of the last N
//! hours, days, ISO weeks, months and years that have files (restic's `forget`
//! semantics). Pure: times in, a keep/delete verdict per file out.

use chrono::NaiveDateTime;

use super::dates::Period;
use serde::Deserialize;

/// Grandfather-father-son: how many periods of each kind keep their newest file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GfsConfig {
    /// Newest file of each of the last N hours.
    #[serde(default)]
    pub hourly: usize,
    /// Newest file of each of the last N days.
    #[serde(default)]
    pub daily: usize,
    /// Newest file of each of the last N ISO weeks.
    #[serde(default)]
    pub weekly: usize,
    /// Newest file of each of the last N months.
    #[serde(default)]
    pub monthly: usize,
    /// Newest file of each of the last N years.
    #[serde(default)]
    pub yearly: usize,
}

/// For each time (sorted newest first), the periods whose rule keeps it; an
/// empty list means no rule keeps it.
///
/// Each rule walks the files from newest to oldest and keeps the first file it
/// meets in each new period, until it has kept its count. A file can be kept by
/// several rules (the newest file is usually the daily, weekly, monthly and
/// yearly one at once); periods without files do not count.
pub fn select(newest_first: &[NaiveDateTime], cfg: &GfsConfig) -> Vec<Vec<Period>> {
    let mut kept = vec![Vec::new(); newest_first.len()];
    for (period, count) in [
        (Period::Hourly, cfg.hourly),
        (Period::Daily, cfg.daily),
        (Period::Weekly, cfg.weekly),
        (Period::Monthly, cfg.monthly),
        (Period::Yearly, cfg.yearly),
    ] {
        let mut last = None;
        let mut n = 0;
        for (i, t) in newest_first.iter().enumerate() {
            if n >= count {
                break;
            }
            let key = period.key(*t);
            if last != Some(key) {
                last = Some(key);
                n += 1;
                kept[i].push(period);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    /// The worked example of the README: one backup every day at 02:00 from
    /// 2024-01-01 to 2026-11-23 (1058 files), with the seeds' policy
    /// `daily = 7, weekly = 4, monthly = 12, yearly = 5`.
    #[test]
    fn worked_example_daily_backups_for_three_years() {
        let last = NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap();
        let first = NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap();
        let mut times = Vec::new();
        let mut t = last;
        while t >= first {
            times.push(t);
            t -= Duration::days(1);
        }
        assert_eq!(times.len(), 1058);
        let cfg = GfsConfig {
            hourly: 0,
            daily: 7,
            weekly: 4,
            monthly: 12,
            yearly: 5,
        };
        let kept = select(&times, &cfg);
        let mut days: Vec<String> = times
            .iter()
            .zip(&kept)
            .filter(|(_, k)| !k.is_empty())
            .map(|(t, _)| t.format("%Y-%m-%d").to_string())
            .collect();
        days.reverse();
        assert_eq!(
            days,
            [
                // yearly: the newest file of 2024 (and of 2025); 2026's is today's.
                "2024-12-31",
                // monthly: the last day of each of the 11 months before this one.
                "2025-12-31",
                "2026-01-31",
                "2026-02-28",
                "2026-03-31",
                "2026-04-30",
                "2026-05-31",
                "2026-06-30",
                "2026-07-31",
                "2026-08-31",
                "2026-09-30",
                "2026-10-31",
                // weekly: the Sundays ending the 3 ISO weeks before this one
                // (2026-11-23 is a Monday, so this week is today alone).
                "2026-11-08",
                // daily: the last 7 days (2026-11-22 and -15 are also weekly).
                "2026-11-15",
                "2026-11-17",
                "2026-11-18",
                "2026-11-19",
                "2026-11-20",
                "2026-11-21",
                "2026-11-22",
                "2026-11-23",
            ]
        );
        // Today's file is the daily, weekly, monthly and yearly one at once.
        assert_eq!(
            kept[0],
            [
                Period::Daily,
                Period::Weekly,
                Period::Monthly,
                Period::Yearly
            ]
        );
        // 1058 files in, 21 kept.
        assert_eq!(kept.iter().filter(|k| !k.is_empty()).count(), 21);
    }

    #[test]
    fn periods_without_files_do_not_count_and_zero_keeps_nothing() {
        let d = |y, m, day| {
            NaiveDate::from_ymd_opt(y, m, day)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        };
        // Newest first: two files on the 10th, one on the 5th, one on the 1st.
        let times = [d(2026, 1, 10), d(2026, 1, 10), d(2026, 1, 5), d(2026, 1, 1)];
        let kept = select(
            &times,
            &GfsConfig {
                daily: 2,
                ..GfsConfig::default()
            },
        );
        assert_eq!(
            kept.iter().map(|k| !k.is_empty()).collect::<Vec<_>>(),
            [true, false, true, false]
        );
        assert!(
            select(&times, &GfsConfig::default())
                .iter()
                .all(|k| k.is_empty())
        );
    }
}
