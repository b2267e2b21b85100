//! Event times from field values: RFC 3339 / ISO 8601 strings and Unix epochs in
//! seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude).

use chrono::DateTime;

/// Nanoseconds since the epoch for a timestamp field's text, or `None` when it is
/// not a time this parser knows.
pub fn parse_time(text: &[u8]) -> Option<i64> {
    let t = text.trim_ascii();
    let first = *t.first()?;
    if first.is_ascii_digit() || first == b'-' {
        if let Some(ns) = parse_epoch(t) {
            return Some(ns);
        }
    }
    let s = std::str::from_utf8(t).ok()?;
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt();
    }
    // ISO 8601 with a space instead of 'T'.
    if s.len() > 10 && s.as_bytes()[10] == b' ' {
        let fixed = format!("{}T{}", &s[..10], &s[11..]);
        if let Ok(dt) = DateTime::parse_from_rfc3339(&fixed) {
            return dt.timestamp_nanos_opt();
        }
    }
    None
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

    #[test]
    fn formats() {
        let ms = 1_755_685_845_123_000_000i64;
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
}
