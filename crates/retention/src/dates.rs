//! Calendar arithmetic for the maintenance jobs: time zones, rotation periods
//! (hourly … yearly), sortable date formats for rotated names, and dates found in
//! file names.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Which clock face periods and dates in names follow: the crate's one zone
/// type, named here for the file sink and the jobs.
pub use logagent_core::time::Zone;

/// A calendar period: rotation frequencies and grandfather-father-son buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One clock hour.
    Hourly,
    /// One calendar day.
    Daily,
    /// One ISO week (Monday to Sunday).
    Weekly,
    /// One calendar month.
    Monthly,
    /// One calendar year.
    Yearly,
}

/// Identifies the period a time falls in; equal keys mean the same period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeriodKey(i32, u32, u32);

impl Period {
    /// The key of the period containing `t`.
    pub fn key(self, t: NaiveDateTime) -> PeriodKey {
        match self {
            Period::Hourly => PeriodKey(t.year(), t.ordinal(), t.hour()),
            Period::Daily => PeriodKey(t.year(), t.ordinal(), 0),
            Period::Weekly => {
                let w = t.iso_week();
                PeriodKey(w.year(), w.week(), 0)
            }
            Period::Monthly => PeriodKey(t.year(), t.month(), 0),
            Period::Yearly => PeriodKey(t.year(), 0, 0),
        }
    }

    /// The lower-case name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Epoch,
}

/// Why a `date_format` cannot name rotated files (each names the format).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DateFormatError {
    /// A `/` would put versions in other directories.
    #[error("date format {0:?} must not contain '/'")]
    Slash(String),
    /// A lone `%` at the end.
    #[error("date format {0:?} ends with '%'")]
    TrailingPercent(String),
    /// A specifier other than `%Y %m %d %H %M %S %s %%`.
    #[error(
        "date format {format:?}: %{spec} is not allowed (use %Y %m %d %H %M %S in that order, or %s, so names sort by time)"
    )]
    NotAllowed {
        /// The format.
        format: String,
        /// The specifier's letter.
        spec: char,
    },
    /// Fields out of order or with gaps: names would not sort by time.
    #[error(
        "date format {0:?} does not sort by time: use %Y, then optionally %m, %d, %H, %M, %S in that order (or %s alone)"
    )]
    NotSortable(String),
    /// The search pattern built from it did not compile.
    #[error("date format {format:?}: {source}")]
    Pattern {
        /// The format.
        format: String,
        /// The regex error.
        source: regex::Error,
    },
}

/// A strftime format whose rendering sorts like time (`-%Y%m%d`, `.%Y-%m-%dT%H%M%S`),
/// so rotated names can be ordered and parsed back.
#[derive(Debug, Clone)]
pub struct DateFormat {
    text: String,
    pattern: String,
    search: Regex,
    fields: Vec<Field>,
}

impl DateFormat {
    /// Checks that `fmt` uses only `%Y %m %d %H %M %S` (in that order, without
    /// gaps, starting with `%Y`) or `%s` alone, plus literal text without `/`.
    pub fn parse(fmt: &str) -> Result<DateFormat, DateFormatError> {
        let mut fields = Vec::new();
        let mut pattern = String::new();
        let mut chars = fmt.chars();
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            if c == '/' {
                return Err(DateFormatError::Slash(fmt.to_owned()));
            }
            if c != '%' {
                literal.push(c);
                continue;
            }
            let spec = chars
                .next()
                .ok_or_else(|| DateFormatError::TrailingPercent(fmt.to_owned()))?;
            let (field, re) = match spec {
                '%' => {
                    literal.push('%');
                    continue;
                }
                'Y' => (Field::Year, r"(\d{4})"),
                'm' => (Field::Month, r"(\d{2})"),
                'd' => (Field::Day, r"(\d{2})"),
                'H' => (Field::Hour, r"(\d{2})"),
                'M' => (Field::Minute, r"(\d{2})"),
                'S' => (Field::Second, r"(\d{2})"),
                's' => (Field::Epoch, r"(\d+)"),
                other => {
                    return Err(DateFormatError::NotAllowed {
                        format: fmt.to_owned(),
                        spec: other,
                    });
                }
            };
            pattern.push_str(&regex::escape(&literal));
            literal.clear();
            pattern.push_str(re);
            fields.push(field);
        }
        pattern.push_str(&regex::escape(&literal));
        let sortable = if fields == [Field::Epoch] {
            true
        } else {
            let order = [
                Field::Year,
                Field::Month,
                Field::Day,
                Field::Hour,
                Field::Minute,
                Field::Second,
            ];
            !fields.is_empty() && fields.len() <= order.len() && fields == order[..fields.len()]
        };
        if !sortable {
            return Err(DateFormatError::NotSortable(fmt.to_owned()));
        }
        let search = Regex::new(&pattern).map_err(|source| DateFormatError::Pattern {
            format: fmt.to_owned(),
            source,
        })?;
        Ok(DateFormat {
            text: fmt.to_owned(),
            pattern,
            search,
            fields,
        })
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Renders `t` (a clock-face time).
    pub fn render(&self, t: NaiveDateTime) -> String {
        t.format(&self.text).to_string()
    }

    /// A regex fragment matching a rendering, with one capture group per field.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Rebuilds the time from the capture groups starting at `first` (1-based
    /// group index of the first field); `None` for an impossible date.
    pub fn extract(&self, caps: &regex::Captures<'_>, first: usize) -> Option<NaiveDateTime> {
        let mut parts = [1970i64, 1, 1, 0, 0, 0];
        for (i, field) in self.fields.iter().enumerate() {
            let v: i64 = caps.get(first + i)?.as_str().parse().ok()?;
            match field {
                Field::Epoch => return DateTime::from_timestamp(v, 0).map(|d| d.naive_utc()),
                Field::Year => parts[0] = v,
                Field::Month => parts[1] = v,
                Field::Day => parts[2] = v,
                Field::Hour => parts[3] = v,
                Field::Minute => parts[4] = v,
                Field::Second => parts[5] = v,
            }
        }
        naive(parts)
    }

    /// The first date in `name` written in this format (unanchored search).
    pub fn find_in(&self, name: &str) -> Option<NaiveDateTime> {
        self.search
            .captures_iter(name)
            .find_map(|c| self.extract(&c, 1))
    }
}

fn naive(p: [i64; 6]) -> Option<NaiveDateTime> {
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(p[0]).ok()?,
        u32::try_from(p[1]).ok()?,
        u32::try_from(p[2]).ok()?,
    )?;
    date.and_hms_opt(
        u32::try_from(p[3]).ok()?,
        u32::try_from(p[4]).ok()?,
        u32::try_from(p[5]).ok()?,
    )
}

/// Finds a date written the usual ways in a file name: `20261123`, `2026-11-23`,
/// `2026_11_23`, optionally followed by a time (`T101500`, `-10-15-00`,
/// `_10:15:00`). Years outside 1970–9999 and impossible dates are ignored.
pub fn find_date_in_name(name: &str) -> Option<NaiveDateTime> {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(
                r"(?:^|\D)(\d{4})([-_.]?)(\d{2})([-_.]?)(\d{2})(?:[T_\-.]?(\d{2})[:\-_.]?(\d{2})[:\-_.]?(\d{2}))?(?:\D|$)",
            )
            .ok()
        })
        .as_ref()?;
    for c in re.captures_iter(name) {
        let num = |i: usize| -> Option<i64> { c.get(i)?.as_str().parse().ok() };
        // The two separators of the date must agree (2026-11-23, not 2026-1123).
        if c.get(2).map(|m| m.as_str()) != c.get(4).map(|m| m.as_str()) {
            continue;
        }
        let year = num(1)?;
        if !(1970..=9999).contains(&year) {
            continue;
        }
        let time = match (num(6), num(7), num(8)) {
            (Some(h), Some(m), Some(s)) => [h, m, s],
            _ => [0, 0, 0],
        };
        if let Some(t) = naive([year, num(3)?, num(5)?, time[0], time[1], time[2]]) {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn period_keys() {
        let a = t("2026-11-23 10:00:00");
        assert_eq!(
            Period::Daily.key(a),
            Period::Daily.key(t("2026-11-23 23:59:59"))
        );
        assert_ne!(
            Period::Daily.key(a),
            Period::Daily.key(t("2026-11-24 00:00:00"))
        );
        // 2026-11-23 is a Monday: the ISO week runs to Sunday the 29th.
        assert_eq!(
            Period::Weekly.key(a),
            Period::Weekly.key(t("2026-11-29 23:00:00"))
        );
        assert_ne!(
            Period::Weekly.key(a),
            Period::Weekly.key(t("2026-11-22 23:00:00"))
        );
        assert_ne!(
            Period::Hourly.key(a),
            Period::Hourly.key(t("2026-11-23 11:00:00"))
        );
        assert_eq!(
            Period::Monthly.key(a),
            Period::Monthly.key(t("2026-11-01 00:00:00"))
        );
        assert_eq!(
            Period::Yearly.key(a),
            Period::Yearly.key(t("2026-01-01 00:00:00"))
        );
    }

    #[test]
    fn sortable_formats_render_and_parse_back() {
        let f = DateFormat::parse("-%Y%m%d").unwrap();
        let when = t("2026-11-23 00:00:00");
        assert_eq!(f.render(when), "-20261123");
        let re = Regex::new(&format!("^app\\.log{}$", f.pattern())).unwrap();
        let caps = re.captures("app.log-20261123").unwrap();
        assert_eq!(f.extract(&caps, 1), Some(when));
        assert!(re.captures("app.log-20261323").is_some());
        assert_eq!(
            f.extract(&re.captures("app.log-20261323").unwrap(), 1),
            None,
            "month 13 is not a date"
        );
        let g = DateFormat::parse(".%Y-%m-%dT%H%M%S").unwrap();
        assert_eq!(g.render(t("2026-11-23 10:15:00")), ".2026-11-23T101500");
        assert_eq!(
            g.find_in("x.2026-11-23T101500.gz"),
            Some(t("2026-11-23 10:15:00"))
        );
        assert!(DateFormat::parse("-%s").is_ok());
        assert!(DateFormat::parse("100%%-%Y").is_ok());
    }

    #[test]
    fn unsortable_formats_are_refused() {
        for bad in [
            "-%d%m%Y", "-%m%d", "-%Y%d", "-%Y/%m", "-%b", "-%Y%", "plain",
        ] {
            assert!(DateFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_in_names() {
        assert_eq!(
            find_date_in_name("app.log-20261123"),
            Some(t("2026-11-23 00:00:00"))
        );
        assert_eq!(
            find_date_in_name("backup-2026-11-23.sql.gz"),
            Some(t("2026-11-23 00:00:00"))
        );
        assert_eq!(
            find_date_in_name("out.ndjson.20261123T101500Z.gz"),
            Some(t("2026-11-23 10:15:00"))
        );
        assert_eq!(
            find_date_in_name("db_2026_01_02_03-04-05.dump"),
            Some(t("2026-01-02 03:04:05"))
        );
        assert_eq!(find_date_in_name("app.log.3"), None);
        assert_eq!(find_date_in_name("id-12345678.log"), None);
        assert_eq!(find_date_in_name("x-2026-1123"), None);
        assert_eq!(find_date_in_name("bad-20261340"), None);
    }
}
