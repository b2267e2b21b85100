//! Event times from field values: RFC 3339 / ISO 8601, Unix epochs in seconds,
//! milliseconds, microseconds or nanoseconds, strftime formats (`time_format`),
//! the access-log, syslog (no year), nginx-error and apache-error shapes, and
//! a time zone for times written without an offset.
//!
//! Parsers (`parse_json`, `parse_regex`, `parse_logfmt`, `parse_kv`) share
//! [`TimeOptions`]: the event time feeds index names and Loki timestamps, and a
//! missing or unparsable time falls back to the read time, counted.

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, FixedOffset, Utc};
use serde::Deserialize;

use logagent_core::KeyError;
use logagent_core::event::{EventMut, FieldPath};
use logagent_core::time::Zone;

/// Nanoseconds since the epoch for a timestamp field's text, or `None` when it is
/// not a time this parser knows. Times without an offset are UTC; a date
/// without a year (syslog) gets the current year.
pub fn parse_time(text: &[u8]) -> Option<i64> {
    TimeParser::auto().parse(text, Utc::now().timestamp_nanos_opt().unwrap_or(0))
}

/// The time keys every parser accepts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct TimeOptions {
    /// Field holding the event time, e.g. `timestamp`.
    pub time_key: Option<String>,
    /// How it is written: a strftime format (`%d/%b/%Y:%H:%M:%S %z`), or
    /// `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`; default: detected
    /// (RFC 3339/ISO 8601, epochs by magnitude, access-log, syslog, nginx/apache error dates).
    pub time_format: Option<String>,
    /// Zone of times written without an offset: `UTC` (default), `local`, a
    /// fixed offset such as `+09:00`, or an IANA name such as `Asia/Tokyo`.
    pub timezone: Option<String>,
}

impl TimeOptions {
    /// Checks the keys and builds the spec (`None` when no `time_key`).
    pub fn build(&self) -> Result<Option<TimeSpec>, Vec<KeyError>> {
        let mut errors = Vec::new();
        let tz = match &self.timezone {
            Some(t) => {
                Zone::parse(t).map_err(|e| errors.push(KeyError::new("timezone", e.to_string())))
            }
            None => Ok(Zone::Utc),
        };
        let parser = match tz {
            Ok(tz) => TimeParser::new(self.time_format.as_deref(), tz)
                .map_err(|e| errors.push(KeyError::new("time_format", e.to_string()))),
            Err(()) => Err(()),
        };
        let key = match &self.time_key {
            Some(k) => match FieldPath::parse(k) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(KeyError::new("time_key", e.to_string()));
                    None
                }
            },
            None => {
                if self.time_format.is_some() {
                    errors.push(KeyError::new(
                        "time_format",
                        "is set but time_key is not (name the field holding the time)",
                    ));
                }
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(match (key, parser) {
            (Some(key), Ok(parser)) => Some(TimeSpec { key, parser }),
            _ => None,
        })
    }
}

/// Where an event's time is and how to read it.
#[derive(Debug, Clone)]
pub struct TimeSpec {
    /// The field.
    pub key: FieldPath,
    /// How its text is read.
    pub parser: TimeParser,
}

impl TimeSpec {
    /// Sets the event time from the field; `false` (and the time set to
    /// `now_ns`, the read time) when the field is missing or unreadable.
    pub fn apply(&self, ev: &mut EventMut<'_>, now_ns: i64) -> bool {
        let time = ev
            .get(&self.key)
            .and_then(|v| self.parser.parse(&v.text(), now_ns));
        ev.event.meta.time = Some(time.unwrap_or(now_ns));
        time.is_some()
    }
}

/// Why a `time_format` is not one this parser reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeFormatError {
    /// A `%` format chrono cannot compile.
    #[error("bad strftime format {0:?} (see chrono's strftime specifiers)")]
    Strftime(String),
    /// Neither a strftime format nor one of the named ones.
    #[error(
        "unknown time format {0:?} (expected a strftime format such as %Y-%m-%dT%H:%M:%S%z, auto, or epoch_s/epoch_ms/epoch_us/epoch_ns)"
    )]
    Unknown(String),
}

/// A compiled strftime format.
#[derive(Debug, Clone)]
struct Format {
    items: Vec<Item<'static>>,
    /// The access-log format, read without chrono.
    clf: bool,
    /// The syslog (RFC 3164) format, read without chrono.
    syslog: bool,
}

/// The access-log time format (`10/Oct/2000:13:55:36 -0700`).
const CLF: &str = "%d/%b/%Y:%H:%M:%S %z";

/// The BSD syslog time format (`Oct 11 22:14:15`, no year).
const SYSLOG: &str = "%b %e %H:%M:%S";

impl Format {
    fn new(fmt: &str) -> Result<Format, TimeFormatError> {
        let items: Vec<Item<'static>> = StrftimeItems::new(fmt)
            .map(|item| match item {
                Item::Literal(l) => Item::OwnedLiteral(l.into()),
                Item::Space(l) => Item::OwnedSpace(l.into()),
                other => other.to_owned(),
            })
            .collect();
        if items.iter().any(|i| matches!(i, Item::Error)) {
            return Err(TimeFormatError::Strftime(fmt.to_owned()));
        }
        Ok(Format {
            items,
            clf: fmt == CLF,
            syslog: fmt == SYSLOG,
        })
    }

    /// Parses `s`; a missing year is inferred from `now_ns` (the latest year that
    /// does not put the time more than a day in the future).
    fn parse(&self, s: &str, zone: &Zone, now_ns: i64) -> Option<i64> {
        if self.clf
            && let Some(ns) = fast_clf(s.as_bytes())
        {
            return Some(ns);
        }
        if self.syslog
            && let Some(ns) = fast_syslog(s.as_bytes(), zone, now_ns)
        {
            return Some(ns);
        }
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, s, self.items.iter()).ok()?;
        if parsed.offset().is_some() && parsed.year().is_some() {
            return parsed.to_datetime().ok()?.timestamp_nanos_opt();
        }
        if parsed.timestamp().is_some() {
            return parsed
                .to_naive_datetime_with_offset(0)
                .ok()?
                .and_utc()
                .timestamp_nanos_opt();
        }
        let in_text;
        let offset_zone = match parsed.offset() {
            Some(secs) => {
                in_text = Zone::Fixed(FixedOffset::east_opt(secs)?);
                &in_text
            }
            None => zone,
        };
        if parsed.year().is_none() && parsed.year_div_100().is_none() {
            let now = DateTime::from_timestamp_nanos(now_ns);
            let year = now.year();
            let day_ns = 86_400_000_000_000i64;
            for y in [year, year - 1] {
                let mut p = parsed.clone();
                p.set_year(i64::from(y)).ok()?;
                let ns = offset_zone.resolve_ns(p.to_naive_datetime_with_offset(0).ok()?)?;
                if ns <= now_ns.saturating_add(day_ns) {
                    return Some(ns);
                }
            }
            return None;
        }
        offset_zone.resolve_ns(parsed.to_naive_datetime_with_offset(0).ok()?)
    }
}

/// Epoch units for `time_format = "epoch_*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Epoch {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

#[derive(Debug, Clone)]
enum Mode {
    /// Try the common shapes.
    Auto,
    /// One strftime format.
    Format(Format),
    /// An epoch in a fixed unit.
    Epoch(Epoch),
}

/// Reads timestamps: detected shapes or one configured format, in a zone.
#[derive(Debug, Clone)]
pub struct TimeParser {
    mode: Mode,
    zone: Zone,
}

/// Shapes tried by detection when the text is not RFC 3339 or an epoch, with
/// the first byte class they can start with.
type StartsWith = fn(u8) -> bool;

const AUTO_FORMATS: &[(&str, StartsWith)] = &[
    // Access logs: 10/Oct/2000:13:55:36 -0700
    ("%d/%b/%Y:%H:%M:%S %z", |b| b.is_ascii_digit()),
    // nginx error log: 2025/08/20 10:30:45
    ("%Y/%m/%d %H:%M:%S", |b| b.is_ascii_digit()),
    // ISO 8601 without an offset (the zone applies), also with a comma (Python).
    ("%Y-%m-%dT%H:%M:%S%.f", |b| b.is_ascii_digit()),
    ("%Y-%m-%d %H:%M:%S%.f", |b| b.is_ascii_digit()),
    ("%Y-%m-%d %H:%M:%S,%3f", |b| b.is_ascii_digit()),
    // syslog (RFC 3164): Oct 11 22:14:15 — no year.
    ("%b %e %H:%M:%S", |b| b.is_ascii_alphabetic()),
    // apache error log: Wed Aug 20 10:30:45.123456 2025
    ("%a %b %e %H:%M:%S%.f %Y", |b| b.is_ascii_alphabetic()),
    // RFC 2822: Wed, 20 Aug 2025 10:30:45 +0000
    ("%a, %d %b %Y %H:%M:%S %z", |b| b.is_ascii_alphabetic()),
];

impl TimeParser {
    /// Detection of the common shapes, UTC for times without an offset.
    pub fn auto() -> TimeParser {
        TimeParser {
            mode: Mode::Auto,
            zone: Zone::Utc,
        }
    }

    /// A parser for `format` (`None`: detection) in `zone`.
    pub fn new(format: Option<&str>, zone: Zone) -> Result<TimeParser, TimeFormatError> {
        let mode = match format {
            None | Some("auto") => Mode::Auto,
            Some("epoch_s") => Mode::Epoch(Epoch::Seconds),
            Some("epoch_ms") => Mode::Epoch(Epoch::Millis),
            Some("epoch_us") => Mode::Epoch(Epoch::Micros),
            Some("epoch_ns") => Mode::Epoch(Epoch::Nanos),
            Some(f) if f.contains('%') => Mode::Format(Format::new(f)?),
            Some(f) => return Err(TimeFormatError::Unknown(f.to_owned())),
        };
        Ok(TimeParser { mode, zone })
    }

    /// Nanoseconds since the epoch for `text`; `now_ns` supplies the year of
    /// dates written without one.
    pub fn parse(&self, text: &[u8], now_ns: i64) -> Option<i64> {
        let t = text.trim_ascii();
        match &self.mode {
            Mode::Epoch(unit) => parse_epoch_unit(t, *unit),
            Mode::Format(f) => f.parse(std::str::from_utf8(t).ok()?, &self.zone, now_ns),
            Mode::Auto => self.detect(t, now_ns),
        }
    }

    fn detect(&self, t: &[u8], now_ns: i64) -> Option<i64> {
        let first = *t.first()?;
        // RFC 3339, the common case, is recognised by its fifth byte before
        // the epoch reader (which would check UTF-8 and parse a float first).
        if t.get(4) == Some(&b'-')
            && let Some(ns) = fast_rfc3339(t)
        {
            return Some(ns);
        }
        if (first.is_ascii_digit() || first == b'-')
            && let Some(ns) = parse_epoch(t)
        {
            return Some(ns);
        }
        if let Some(ns) = fast_rfc3339(t)
            .or_else(|| fast_clf(t))
            .or_else(|| fast_iso_local(t, &self.zone))
        {
            return Some(ns);
        }
        self.detect_general(t, first, now_ns)
    }

    /// Detection through chrono, for what the fast readers leave.
    fn detect_general(&self, t: &[u8], first: u8, now_ns: i64) -> Option<i64> {
        let s = std::str::from_utf8(t).ok()?;
        if first.is_ascii_digit() {
            if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                return dt.timestamp_nanos_opt();
            }
            // ISO 8601 with a space instead of 'T', or a compact offset.
            if s.len() > 10 && matches!(s.as_bytes()[10], b' ' | b'T') {
                let fixed = format!("{}T{}", &s[..10], &s[11..]);
                if let Ok(dt) = DateTime::parse_from_rfc3339(&fixed) {
                    return dt.timestamp_nanos_opt();
                }
                if let Ok(dt) = DateTime::parse_from_str(&fixed, "%Y-%m-%dT%H:%M:%S%.f%z") {
                    return dt.timestamp_nanos_opt();
                }
            }
        }
        for (fmt, starts) in AUTO_FORMATS {
            if !starts(first) {
                continue;
            }
            // Formats are few and fixed: compiled on use, only on this slow path.
            if let Ok(f) = Format::new(fmt)
                && let Some(ns) = f.parse(s, &self.zone, now_ns)
            {
                return Some(ns);
            }
        }
        None
    }
}

/// The common RFC 3339 shape, `2025-08-20T10:30:45.123Z` (or with a space,
/// or an offset `+09:00` / `+0900`), read without chrono: this runs once per
/// event. Anything else — leap seconds included — returns `None` and goes to
/// the general parser.
fn fast_rfc3339(t: &[u8]) -> Option<i64> {
    fn num(t: &[u8], at: usize, len: usize) -> Option<i64> {
        let digits = t.get(at..at + len)?;
        let mut v = 0i64;
        for d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
        }
        Some(v)
    }
    if t.len() < 20
        || t[4] != b'-'
        || t[7] != b'-'
        || !matches!(t[10], b'T' | b't' | b' ')
        || t[13] != b':'
        || t[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(t, 0, 4)?, num(t, 5, 2)?, num(t, 8, 2)?);
    let (hour, min, sec) = (num(t, 11, 2)?, num(t, 14, 2)?, num(t, 17, 2)?);
    let mut i = 19;
    let mut nanos = 0i64;
    if t.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000i64;
        while let Some(d) = t.get(i).filter(|d| d.is_ascii_digit()) {
            nanos += i64::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match t.get(i)? {
        b'Z' | b'z' if i + 1 == t.len() => 0,
        &sign @ (b'+' | b'-') => {
            let (h, m) = match t.len() - i {
                6 if t[i + 3] == b':' => (num(t, i + 1, 2)?, num(t, i + 4, 2)?),
                5 => (num(t, i + 1, 2)?, num(t, i + 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    civil_ns(year, month, day, hour, min, sec, offset)?.checked_add(nanos)
}

/// Nanoseconds since the epoch of a civil date and time at a UTC offset.
fn civil_ns(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    offset: i64,
) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hour * 3600 + min * 60 + sec - offset).checked_mul(1_000_000_000)
}

/// English month abbreviations, as `%b` writes them.
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The access-log shape `20/Aug/2025:10:30:45 +0000`, read without chrono.
fn fast_clf(t: &[u8]) -> Option<i64> {
    fn num(t: &[u8], at: usize, len: usize) -> Option<i64> {
        t.get(at..at + len)?.iter().try_fold(0i64, |v, d| {
            d.is_ascii_digit().then(|| v * 10 + i64::from(d - b'0'))
        })
    }
    if t.len() != 26
        || t[2] != b'/'
        || t[6] != b'/'
        || t[11] != b':'
        || t[14] != b':'
        || t[17] != b':'
        || t[20] != b' '
    {
        return None;
    }
    let month = MONTHS.iter().position(|m| t[3..6] == m[..])? as i64 + 1;
    let sign = match t[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(t, 22, 2)?, num(t, 24, 2)?);
    if oh > 23 || om > 59 {
        return None;
    }
    civil_ns(
        num(t, 7, 4)?,
        month,
        num(t, 0, 2)?,
        num(t, 12, 2)?,
        num(t, 15, 2)?,
        num(t, 18, 2)?,
        sign * (oh * 3600 + om * 60),
    )
}

/// The syslog shape `Aug 20 10:30:45` / `Aug  2 10:30:45`, read without
/// chrono, in a UTC or fixed `zone`; the year as [`Format::parse`] infers it.
/// `None` (the general parser decides) for anything else, the local zone
/// included.
fn fast_syslog(t: &[u8], zone: &Zone, now_ns: i64) -> Option<i64> {
    fn num(t: &[u8], at: usize) -> Option<i64> {
        t.get(at..at + 2)?.iter().try_fold(0i64, |v, d| {
            d.is_ascii_digit().then(|| v * 10 + i64::from(d - b'0'))
        })
    }
    let offset = zone.fixed_offset_secs()?;
    if t.len() != 15 || t[3] != b' ' || t[6] != b' ' || t[9] != b':' || t[12] != b':' {
        return None;
    }
    let month = MONTHS.iter().position(|m| t[..3] == m[..])? as i64 + 1;
    let day = if t[4] == b' ' {
        num(&[b'0', t[5]], 0)?
    } else {
        num(t, 4)?
    };
    let (hour, min, sec) = (num(t, 7)?, num(t, 10)?, num(t, 13)?);
    let year = utc_year(now_ns);
    let day_ns = 86_400_000_000_000i64;
    for y in [year, year - 1] {
        let ns = civil_ns(y, month, day, hour, min, sec, offset)?;
        if ns <= now_ns.saturating_add(day_ns) {
            return Some(ns);
        }
    }
    None
}

/// ISO 8601 without an offset, `2025-08-20T10:30:45.123` or with a space and
/// a fraction after a comma (`2025-08-20 10:30:45,123`, Python/log4j), in a
/// UTC or fixed `zone`, read without chrono: what detection's `%Y-%m-%d…`
/// formats give. `None` (the general parser decides) for anything else.
fn fast_iso_local(t: &[u8], zone: &Zone) -> Option<i64> {
    fn num(t: &[u8], at: usize, len: usize) -> Option<i64> {
        t.get(at..at + len)?.iter().try_fold(0i64, |v, d| {
            d.is_ascii_digit().then(|| v * 10 + i64::from(d - b'0'))
        })
    }
    let offset = zone.fixed_offset_secs()?;
    if t.len() < 19
        || t[4] != b'-'
        || t[7] != b'-'
        || !matches!(t[10], b'T' | b' ')
        || t[13] != b':'
        || t[16] != b':'
    {
        return None;
    }
    let nanos = match (t.get(19), t[10]) {
        (None, _) => 0,
        // `%.f`: one to nine digits (more are left to chrono).
        (Some(b'.'), _) if (21..=29).contains(&t.len()) => {
            let digits = &t[20..];
            let mut v = num(digits, 0, digits.len())?;
            for _ in digits.len()..9 {
                v *= 10;
            }
            v
        }
        // `%Y-%m-%d %H:%M:%S,%3f`: milliseconds.
        (Some(b','), b' ') if t.len() == 23 => num(t, 20, 3)? * 1_000_000,
        _ => return None,
    };
    let ns = civil_ns(
        num(t, 0, 4)?,
        num(t, 5, 2)?,
        num(t, 8, 2)?,
        num(t, 11, 2)?,
        num(t, 14, 2)?,
        num(t, 17, 2)?,
        offset,
    )?;
    ns.checked_add(nanos)
}

/// The UTC year of a time (Howard Hinnant's civil_from_days).
fn utc_year(ns: i64) -> i64 {
    let days = ns.div_euclid(86_400_000_000_000) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

fn parse_epoch_unit(t: &[u8], unit: Epoch) -> Option<i64> {
    let mult: i64 = match unit {
        Epoch::Seconds => 1_000_000_000,
        Epoch::Millis => 1_000_000,
        Epoch::Micros => 1_000,
        Epoch::Nanos => 1,
    };
    decimal_times(t, mult)
}

/// `t` (an optionally negative decimal number) times `mult`, exactly: the
/// fraction is scaled digit by digit, so `1755685845.123` seconds is exact.
fn decimal_times(t: &[u8], mult: i64) -> Option<i64> {
    let (neg, digits) = match t.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = match memchr::memchr(b'.', digits) {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &[][..]),
    };
    if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let whole: i64 = std::str::from_utf8(int).ok()?.parse().ok()?;
    let mut total = whole.checked_mul(mult)?;
    let mut scale = mult;
    for d in frac {
        scale /= 10;
        if scale == 0 {
            break;
        }
        total = total.checked_add(i64::from(d - b'0') * scale)?;
    }
    Some(if neg { -total } else { total })
}

/// An epoch number: up to 1e11 is seconds, then milliseconds, microseconds,
/// nanoseconds. Fractions are allowed for seconds and milliseconds.
fn parse_epoch(t: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(t).ok()?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    let value: f64 = s.parse().ok()?;
    let abs = value.abs();
    let ns = if abs < 1e11 {
        value * 1e9
    } else if abs < 1e14 {
        value * 1e6
    } else if abs < 1e17 {
        value * 1e3
    } else {
        // Integers this large lose precision in f64: parse them exactly.
        return s.parse::<i64>().ok();
    };
    if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
        return None;
    }
    // Whole milliseconds must stay exact: go through integers when there is no fraction.
    if !s.contains('.') {
        let n: i64 = s.parse().ok()?;
        let mult = if abs < 1e11 {
            1_000_000_000
        } else if abs < 1e14 {
            1_000_000
        } else {
            1_000
        };
        return n.checked_mul(mult);
    }
    Some(ns.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_755_685_845_123_000_000;
    const S: i64 = 1_755_685_845_000_000_000;

    #[test]
    fn formats() {
        let ms = MS;
        assert_eq!(parse_time(b"2025-08-20T10:30:45.123Z"), Some(ms));
        assert_eq!(parse_time(b"2025-08-20T19:30:45.123+09:00"), Some(ms));
        assert_eq!(parse_time(b"2025-08-20 10:30:45.123Z"), Some(ms));
        assert_eq!(parse_time(b"1755685845123"), Some(ms));
        assert_eq!(parse_time(b"1755685845"), Some(1_755_685_845_000_000_000));
        assert_eq!(parse_time(b"1755685845.5"), Some(1_755_685_845_500_000_000));
        assert_eq!(parse_time(b"1755685845123000"), Some(ms));
        assert_eq!(parse_time(b"1755685845123000000"), Some(ms));
        assert_eq!(parse_time(b"yesterday"), None);
        assert_eq!(parse_time(b""), None);
    }

    proptest::proptest! {
        /// The fast RFC 3339 reader agrees with chrono wherever it answers.
        #[test]
        fn fast_rfc3339_matches_chrono(
            y in 1900i32..2200, mo in 1u32..=12, d in 1u32..=31, h in 0u32..=23, mi in 0u32..=59,
            s in 0u32..=59, frac in proptest::option::of("[0-9]{1,9}"), off in -1439i32..=1439,
            sep in proptest::sample::select(vec!["T", " ", "t"]), zulu in proptest::bool::ANY,
        ) {
            let zone = if zulu { "Z".to_owned() } else {
                format!("{}{:02}:{:02}", if off < 0 { '-' } else { '+' }, off.abs() / 60, off.abs() % 60)
            };
            let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{}{zone}",
                frac.map(|f| format!(".{f}")).unwrap_or_default());
            let fixed = text.replacen(sep, "T", 1);
            let want = DateTime::parse_from_rfc3339(&fixed).ok().and_then(|dt| dt.timestamp_nanos_opt());
            proptest::prop_assert_eq!(fast_rfc3339(text.as_bytes()), want, "{}", text);
        }

        /// The fast access-log time reader agrees with chrono.
        #[test]
        fn fast_clf_matches_chrono(
            y in 1900i32..2200, mo in 0usize..12, d in 1u32..=31, h in 0u32..=23, mi in 0u32..=59,
            s in 0u32..=59, off in -1439i32..=1439,
        ) {
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let text = format!("{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} {}{:02}{:02}", months[mo],
                if off < 0 { '-' } else { '+' }, off.abs() / 60, off.abs() % 60);
            let want = DateTime::parse_from_str(&text, CLF).ok().and_then(|dt| dt.timestamp_nanos_opt());
            proptest::prop_assert_eq!(fast_clf(text.as_bytes()), want, "{}", text);
        }
    }

    proptest::proptest! {
        /// The fast syslog time reader agrees with chrono, year inference and
        /// zones included.
        #[test]
        fn fast_syslog_matches_chrono(
            mo in 0usize..12, d in 0u32..=32, h in 0u32..=24, mi in 0u32..=59, s in 0u32..=60,
            pad in proptest::sample::select(vec!["space", "zero", "none"]),
            now in 0i64..4_102_444_800_000_000_000, off in proptest::option::of(-1439i32..=1439),
        ) {
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let day = match pad {
                "space" => format!("{d:>2}"),
                "zero" => format!("{d:02}"),
                _ => d.to_string(),
            };
            let text = format!("{} {day} {h:02}:{mi:02}:{s:02}", months[mo]);
            let zone = match off {
                Some(o) => Zone::Fixed(FixedOffset::east_opt(o * 60).unwrap()),
                None => Zone::Utc,
            };
            let mut chrono_only = Format::new(SYSLOG).unwrap();
            chrono_only.syslog = false;
            let want = chrono_only.parse(&text, &zone, now);
            if let Some(fast) = fast_syslog(text.as_bytes(), &zone, now) {
                proptest::prop_assert_eq!(Some(fast), want, "{}", text);
            }
            proptest::prop_assert_eq!(Format::new(SYSLOG).unwrap().parse(&text, &zone, now), want, "{}", text);
        }

        /// The fast reader of ISO times without an offset agrees with detection
        /// through chrono.
        #[test]
        fn fast_iso_local_matches_chrono(
            y in 1900i32..2200, mo in 0u32..=13, d in 0u32..=32, h in 0u32..=24, mi in 0u32..=60,
            s in 0u32..=60, sep in proptest::sample::select(vec!["T", " ", "t"]),
            frac in proptest::sample::select(vec!["", ".1", ".123", ".123456789", ".1234567891", ",123", ",12", ",1234", ".", ","]),
            off in proptest::option::of(-1439i32..=1439),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}");
            let zone = match off {
                Some(o) => Zone::Fixed(FixedOffset::east_opt(o * 60).unwrap()),
                None => Zone::Utc,
            };
            let p = TimeParser { mode: Mode::Auto, zone: zone.clone() };
            let want = p.detect_general(text.as_bytes(), text.as_bytes()[0], 0);
            if let Some(fast) = fast_iso_local(text.as_bytes(), &zone) {
                proptest::prop_assert_eq!(Some(fast), want, "{}", text);
            }
            proptest::prop_assert_eq!(p.parse(text.as_bytes(), 0), want, "{}", text);
        }

        /// The year of a time, as chrono computes it.
        #[test]
        fn utc_year_matches_chrono(ns in i64::MIN..i64::MAX) {
            proptest::prop_assert_eq!(utc_year(ns), i64::from(DateTime::from_timestamp_nanos(ns).year()));
        }
    }

    #[test]
    fn detects_log_shapes() {
        let p = TimeParser::auto();
        let now = S + 3_600_000_000_000;
        assert_eq!(p.parse(b"20/Aug/2025:19:30:45 +0900", now), Some(S));
        assert_eq!(p.parse(b"2025/08/20 10:30:45", now), Some(S));
        assert_eq!(p.parse(b"2025-08-20 10:30:45,123", now), Some(MS));
        assert_eq!(p.parse(b"2025-08-20T10:30:45", now), Some(S));
        assert_eq!(p.parse(b"Aug 20 10:30:45", now), Some(S));
        assert_eq!(
            p.parse(b"Wed Aug 20 10:30:45.123000 2025", now),
            Some(MS),
            "apache error log"
        );
        assert_eq!(p.parse(b"Wed, 20 Aug 2025 10:30:45 +0000", now), Some(S));
    }

    #[test]
    fn syslog_dates_without_a_year_take_the_latest_year_not_in_the_future() {
        let p = TimeParser::auto();
        // Read on 2026-01-01 00:10 UTC: "Dec 31 23:59:00" is from 2025.
        let now = 1_767_226_200_000_000_000; // 2026-01-01T00:10:00Z
        let got = p.parse(b"Dec 31 23:59:00", now).unwrap();
        assert_eq!(got, 1_767_225_540_000_000_000); // 2025-12-31T23:59:00Z
        // And "Jan  1 00:05:00" is from 2026.
        let got = p.parse(b"Jan  1 00:05:00", now).unwrap();
        assert_eq!(got, 1_767_225_900_000_000_000);
    }

    #[test]
    fn strftime_formats_epochs_and_zones() {
        let tokyo = Zone::parse("+09:00").unwrap();
        let p = TimeParser::new(Some("%Y-%m-%d %H:%M:%S"), tokyo.clone()).unwrap();
        assert_eq!(p.parse(b"2025-08-20 19:30:45", 0), Some(S));
        let p = TimeParser::new(Some("%Y-%m-%d %H:%M:%S %z"), tokyo).unwrap();
        assert_eq!(
            p.parse(b"2025-08-20 10:30:45 +0000", 0),
            Some(S),
            "an offset in the text wins over the zone"
        );
        let p = TimeParser::new(Some("epoch_ms"), Zone::Utc).unwrap();
        assert_eq!(p.parse(b"1755685845123", 0), Some(MS));
        let p = TimeParser::new(Some("epoch_s"), Zone::Utc).unwrap();
        assert_eq!(p.parse(b"1755685845.123", 0), Some(MS));
        assert_eq!(p.parse(b"soon", 0), None);
        let p = TimeParser::new(Some("%s"), Zone::Utc).unwrap();
        assert_eq!(p.parse(b"1755685845", 0), Some(S));
        assert!(TimeParser::new(Some("%Q"), Zone::Utc).is_err());
        assert!(TimeParser::new(Some("iso"), Zone::Utc).is_err());
        // Named zones are known since issue 14; an unknown name is still an error.
        assert!(Zone::parse("Asia/Tokyo").is_ok());
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
        assert_eq!(Zone::parse("utc").unwrap(), Zone::Utc);
    }

    #[test]
    fn a_named_zone_applies_to_times_without_an_offset() {
        // 19:30:45 in Tokyo (+09:00, no DST) is 10:30:45Z; in New York in
        // August (EDT, -04:00) 06:30:45 is the same instant.
        const S: i64 = 1_755_685_845_000_000_000;
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        let p = TimeParser::new(Some("%Y-%m-%d %H:%M:%S"), tokyo.clone()).unwrap();
        assert_eq!(p.parse(b"2025-08-20 19:30:45", 0), Some(S));
        let auto = TimeParser::new(None, tokyo).unwrap();
        assert_eq!(auto.parse(b"2025-08-20T19:30:45", 0), Some(S));
        assert_eq!(auto.parse(b"2025-08-20T10:30:45Z", 0), Some(S));
        let ny = TimeParser::new(None, Zone::parse("America/New_York").unwrap()).unwrap();
        assert_eq!(ny.parse(b"2025-08-20 06:30:45", 0), Some(S));
        // Syslog has no year: it is inferred as for the other zones.
        assert_eq!(ny.parse(b"Aug 20 06:30:45", S), Some(S));
    }

    #[test]
    fn options_report_bad_keys() {
        let bad = TimeOptions {
            time_key: None,
            time_format: Some("%Y".into()),
            timezone: Some("Mars/Olympus".into()),
        };
        let keys: Vec<String> = bad
            .build()
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["timezone", "time_format"]);
        let ok = TimeOptions {
            time_key: Some("ts".into()),
            time_format: None,
            timezone: None,
        };
        assert!(ok.build().unwrap().is_some());
    }
}
