//! The zone that gives clock-face times their instant: times written without
//! an offset in log lines, rotation periods and dates in rotated names.
//!
//! Named IANA zones (`Asia/Tokyo`, `Europe/Berlin`) come from jiff's time zone
//! database: the system's `/usr/share/zoneinfo` when there is one, else the
//! copy bundled into the binary (the `tzdb-bundle-always` feature), so a
//! container image without tzdata still knows every zone. The calendar
//! arithmetic itself stays with chrono; jiff only answers "which offset".

use std::fmt;
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone, Utc};
use jiff::tz::AmbiguousOffset;

/// A time zone: UTC, the machine's, a fixed offset or a named IANA zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// UTC.
    Utc,
    /// The machine's zone (`TZ`, `/etc/localtime`), as logrotate and cron use.
    Local,
    /// A fixed offset such as `+09:00`.
    Fixed(FixedOffset),
    /// A named zone from the time zone database, with its DST rules.
    Named(jiff::tz::TimeZone),
}

/// Why a `timezone` value is not a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Neither a keyword, an offset nor a name the database knows.
    #[error(
        "unknown time zone {0:?} (expected UTC, local, an offset such as +09:00, or an IANA name such as Asia/Tokyo)"
    )]
    Unknown(String),
    /// Starts like an offset but is not `±HH:MM` within a day.
    #[error("bad offset {0:?} (expected ±HH:MM, e.g. +09:00)")]
    BadOffset(String),
}

impl Zone {
    /// Parses `UTC` (or `Z`, `+00:00`), `local`, `±HH:MM` / `±HHMM`, or an
    /// IANA name (`Asia/Tokyo`).
    pub fn parse(text: &str) -> Result<Zone, ZoneError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t == "+00:00" {
            return Ok(Zone::Utc);
        }
        if t.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        let sign = match t.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => {
                return jiff::tz::db()
                    .get(t)
                    .map(Zone::Named)
                    .map_err(|_| ZoneError::Unknown(t.to_owned()));
            }
        };
        let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
        let bad = || ZoneError::BadOffset(t.to_owned());
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let h: i32 = digits[..2].parse().map_err(|_| bad())?;
        let m: i32 = digits[2..].parse().map_err(|_| bad())?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(Zone::Fixed)
            .ok_or_else(bad)
    }

    /// The offset in seconds when it is the same all year (UTC, fixed): the
    /// fast time readers use it and leave the other zones to the general path.
    pub fn fixed_offset_secs(&self) -> Option<i64> {
        match self {
            Zone::Utc => Some(0),
            Zone::Fixed(off) => Some(i64::from(off.local_minus_utc())),
            Zone::Local | Zone::Named(_) => None,
        }
    }

    /// Nanoseconds since the epoch of the clock-face time `naive` in this zone
    /// (the earlier instant when a DST change makes it ambiguous, `None` in a
    /// DST gap or out of range).
    pub fn resolve_ns(&self, naive: NaiveDateTime) -> Option<i64> {
        match self {
            Zone::Utc => naive.and_utc().timestamp_nanos_opt(),
            Zone::Fixed(off) => off
                .from_local_datetime(&naive)
                .earliest()?
                .timestamp_nanos_opt(),
            Zone::Local => Local
                .from_local_datetime(&naive)
                .earliest()?
                .timestamp_nanos_opt(),
            Zone::Named(tz) => named_offset(tz, naive)?
                .from_local_datetime(&naive)
                .earliest()?
                .timestamp_nanos_opt(),
        }
    }

    /// `t` on this zone's clock face.
    pub fn naive(&self, t: SystemTime) -> NaiveDateTime {
        let dt: DateTime<Utc> = t.into();
        match self {
            Zone::Utc => dt.naive_utc(),
            Zone::Local => dt.with_timezone(&Local).naive_local(),
            Zone::Fixed(off) => dt.with_timezone(off).naive_local(),
            Zone::Named(tz) => {
                let secs = jiff::Timestamp::try_from(t)
                    .map(|ts| tz.to_offset(ts).seconds())
                    .unwrap_or(0);
                match FixedOffset::east_opt(secs) {
                    Some(off) => dt.with_timezone(&off).naive_local(),
                    None => dt.naive_utc(),
                }
            }
        }
    }

    /// The instant a clock-face time in this zone stands for (the earlier one
    /// when a DST change makes it ambiguous, `None` in a DST gap).
    pub fn instant(&self, n: NaiveDateTime) -> Option<SystemTime> {
        match self {
            Zone::Utc => Some(n.and_utc().into()),
            Zone::Local => Local.from_local_datetime(&n).earliest().map(Into::into),
            Zone::Fixed(off) => off.from_local_datetime(&n).earliest().map(Into::into),
            Zone::Named(tz) => named_offset(tz, n)?
                .from_local_datetime(&n)
                .earliest()
                .map(Into::into),
        }
    }
}

/// The offset a named zone has at the clock-face time `n`: the earlier
/// instant's in a fold (as chrono's `earliest`), `None` in a gap or when `n`
/// is outside jiff's range (years -9999 to 9999).
fn named_offset(tz: &jiff::tz::TimeZone, n: NaiveDateTime) -> Option<FixedOffset> {
    use chrono::{Datelike, Timelike};
    let dt = jiff::civil::DateTime::new(
        i16::try_from(n.year()).ok()?,
        i8::try_from(n.month()).ok()?,
        i8::try_from(n.day()).ok()?,
        i8::try_from(n.hour()).ok()?,
        i8::try_from(n.minute()).ok()?,
        i8::try_from(n.second()).ok()?,
        // A leap second (chrono's nanosecond >= 1e9) has the offset of the second before.
        i32::try_from(n.nanosecond() % 1_000_000_000).ok()?,
    )
    .ok()?;
    let offset = match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Fold { before, .. } => before,
        AmbiguousOffset::Gap { .. } => return None,
    };
    FixedOffset::east_opt(offset.seconds())
}

impl fmt::Display for Zone {
    /// The config spelling, which [`Zone::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("utc"),
            Zone::Local => f.write_str("local"),
            Zone::Fixed(off) => write!(f, "{off}"),
            Zone::Named(tz) => f.write_str(tz.iana_name().unwrap_or("UTC")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        let text = String::deserialize(d)?;
        Zone::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .unwrap()
    }

    #[test]
    fn keywords_offsets_and_names() {
        assert_eq!(Zone::parse("utc").unwrap(), Zone::Utc);
        assert_eq!(Zone::parse(" Z ").unwrap(), Zone::Utc);
        assert_eq!(Zone::parse("LOCAL").unwrap(), Zone::Local);
        assert_eq!(
            Zone::parse("+0930").unwrap(),
            Zone::Fixed(FixedOffset::east_opt(9 * 3600 + 1800).unwrap())
        );
        assert!(matches!(Zone::parse("Asia/Tokyo").unwrap(), Zone::Named(_)));
        assert_eq!(
            Zone::parse("Mars/Olympus").unwrap_err(),
            ZoneError::Unknown("Mars/Olympus".into())
        );
        assert!(
            Zone::parse("Mars/Olympus")
                .unwrap_err()
                .to_string()
                .contains("IANA name such as Asia/Tokyo")
        );
        assert_eq!(
            Zone::parse("+25:00").unwrap_err(),
            ZoneError::BadOffset("+25:00".into())
        );
    }

    #[test]
    fn a_named_zone_follows_its_dst_rules() {
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        let utc_ns = at(2025, 8, 20, 1, 30).and_utc().timestamp_nanos_opt();
        assert_eq!(tokyo.resolve_ns(at(2025, 8, 20, 10, 30)), utc_ns);
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        // Summer: +02:00; winter: +01:00.
        let summer = berlin.instant(at(2025, 7, 1, 12, 0)).unwrap();
        assert_eq!(summer, SystemTime::from(at(2025, 7, 1, 10, 0).and_utc()));
        let winter = berlin.instant(at(2025, 1, 1, 12, 0)).unwrap();
        assert_eq!(winter, SystemTime::from(at(2025, 1, 1, 11, 0).and_utc()));
        assert_eq!(berlin.naive(summer), at(2025, 7, 1, 12, 0));
        assert_eq!(berlin.naive(winter), at(2025, 1, 1, 12, 0));
        // 02:30 on the last Sunday of March does not exist; 02:30 on the last
        // Sunday of October happens twice (the earlier, still +02:00, wins).
        assert_eq!(berlin.instant(at(2025, 3, 30, 2, 30)), None);
        let fold = berlin.instant(at(2025, 10, 26, 2, 30)).unwrap();
        assert_eq!(fold, SystemTime::from(at(2025, 10, 26, 0, 30).and_utc()));
    }

    #[test]
    fn config_spelling_round_trips() {
        for text in ["utc", "local", "+09:00", "-05:30", "Asia/Tokyo"] {
            let z = Zone::parse(text).unwrap();
            assert_eq!(z.to_string(), text);
            assert_eq!(Zone::parse(&z.to_string()).unwrap(), z);
        }
    }
}
