//! Syslog, BSD (RFC 3164) and IETF (RFC 5424), read two ways:
//!
//! * [`parse`] reads a frame received from the network (the `syslog` source):
//!   strict, or lenient about what real senders write (see [`parse`]), on any
//!   bytes (invalid UTF-8 and newlines stay in the message), with the
//!   timestamp decoded;
//! * [`read_rfc3164`] and [`read_rfc5424`] read lines for `parse_regex`'s
//!   presets (below).
//!
//! The preset readers give exactly the spans of the `parse_regex` presets' patterns
//! (`syslog_rfc3164`, `syslog_rfc5424`), several times faster than the regex's
//! capture engine, which backtracks over every line. Where a line could make
//! them differ from the regex (invalid UTF-8, a `\n`, non-ASCII where the
//! pattern has `\d`) they answer [`Outcome::Unsure`] and the caller runs the
//! regex. Whitespace classes are Unicode's, like the regex's: a no-break space
//! ends a hostname.
//!
//! The patterns read like this; each step below says why it cannot backtrack
//! into another answer.
//!
//! ```text
//! 3164: ^(<pri>)?Mmm dd hh:mm:ss host app([procid])?: ?message$
//! 5424: ^<pri>version ts host app procid msgid (-|[sd]+)( BOM?message)?$
//! ```

mod frame;

pub use super::text_scan::Outcome;
use super::text_scan::{Miss, byte, byte_set, digit, digit_run, digits, plain, skip_token};
pub use frame::{ClockTime, Format, Malformed, Message, SdItem, Stamp, parse};
use logagent_core::event::json::Span;

/// Facility names by number (`pri / 8`), as rsyslog and Vector name them.
pub const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity keywords by number (`pri % 8`).
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Fields of the RFC 3164 reader, in this order (`pri` is decoded by the
/// caller into facility, severity and level).
pub const FIELDS_3164: [&str; 6] = [
    "pri",
    "timestamp",
    "hostname",
    "appname",
    "procid",
    "message",
];

/// Fields of the RFC 5424 reader, in this order.
pub const FIELDS_5424: [&str; 9] = [
    "pri",
    "version",
    "timestamp",
    "hostname",
    "appname",
    "procid",
    "msgid",
    "structured_data",
    "message",
];

/// Reads `line` as the `syslog_rfc3164` preset's pattern would.
pub fn read_rfc3164(line: &[u8]) -> Outcome<6> {
    if !plain(line) {
        return Outcome::Unsure;
    }
    rfc3164(line).into()
}

/// Reads `line` as the `syslog_rfc5424` preset's pattern would.
pub fn read_rfc5424(line: &[u8]) -> Outcome<9> {
    if !plain(line) {
        return Outcome::Unsure;
    }
    rfc5424(line).into()
}

/// `<\d{1,3}>` at `at` (a `<` there): the digits' span and the end.
fn pri(b: &[u8], at: usize) -> Result<(Span, usize), Miss> {
    let end = digit_run(b, at + 1, 1, 3)?;
    // `\d{1,3}` then `>`: a shorter run leaves a digit where `>` must be.
    let next = byte(b, end, b'>')?;
    Ok((Span::new(at + 1, end), next))
}

fn rfc3164(b: &[u8]) -> Result<[Option<Span>; 6], Miss> {
    let mut f = [None; 6];
    // `(?:<pri>)?`: when it fails, the timestamp's `[A-Z]` cannot start at `<`.
    let mut i = 0;
    if b.first() == Some(&b'<') {
        let (p, next) = pri(b, 0)?;
        f[0] = Some(p);
        i = next;
    }
    // `[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}`: fixed width once ASCII.
    let ts = i;
    match b.get(i) {
        Some(c) if c.is_ascii_uppercase() => {}
        Some(c) if *c >= 0x80 => return Err(Miss::Unsure),
        _ => return Err(Miss::No),
    }
    for at in i + 1..i + 3 {
        match b.get(at) {
            Some(c) if c.is_ascii_lowercase() => {}
            Some(c) if *c >= 0x80 => return Err(Miss::Unsure),
            _ => return Err(Miss::No),
        }
    }
    i = byte(b, i + 3, b' ')?;
    if b.get(i) != Some(&b' ') && !digit(b, i)? {
        return Err(Miss::No);
    }
    i = digits(b, i + 1, 1)?;
    i = byte(b, i, b' ')?;
    i = digits(b, i, 2)?;
    i = byte(b, i, b':')?;
    i = digits(b, i, 2)?;
    i = byte(b, i, b':')?;
    i = digits(b, i, 2)?;
    f[1] = Some(Span::new(ts, i));
    i = byte(b, i, b' ')?;
    // `\S+ `: the run of non-space ends at whitespace, which must be a space.
    let host_end = skip_token(b, i, 0);
    if host_end == i {
        return Err(Miss::No);
    }
    f[2] = Some(Span::new(i, host_end));
    i = byte(b, host_end, b' ')?;
    // `[^\s\[:]+` then `[procid]` or `:`; the run cannot end early (its next
    // character would have to be `[` or `:`).
    let app_end = skip_token(b, i, byte_set(b"[:"));
    if app_end == i {
        return Err(Miss::No);
    }
    f[3] = Some(Span::new(i, app_end));
    i = app_end;
    if b.get(i) == Some(&b'[') {
        // `\[[^\]]+\]` must be followed by `:`; without it the `:` would have
        // to be where the `[` is.
        let close = i + 1 + memchr::memchr(b']', &b[i + 1..]).ok_or(Miss::No)?;
        if close == i + 1 {
            return Err(Miss::No);
        }
        f[4] = Some(Span::new(i + 1, close));
        i = close + 1;
    }
    i = byte(b, i, b':')?;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    f[5] = Some(Span::new(i, b.len()));
    Ok(f)
}

/// `(?:-|(?P<x>\S+)) `: the token and the end of its space; `-` alone is `None`.
fn field(b: &[u8], at: usize) -> Result<(Option<Span>, usize), Miss> {
    let end = skip_token(b, at, 0);
    if end == at {
        return Err(Miss::No);
    }
    let next = byte(b, end, b' ')?;
    let nil = end == at + 1 && b[at] == b'-';
    Ok(((!nil).then(|| Span::new(at, end)), next))
}

/// One structured-data element `[…]` starting at `at` (a `[` there): the end
/// just past its `]`, or `None` when it is not closed. Items are `\x`, quoted
/// strings with escapes, or any other character but `]`: each starts with a
/// different byte, so the reading is the only one; the line being valid UTF-8
/// lets it go byte by byte.
fn sd_element(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += memchr::memchr3(b']', b'\\', b'"', &b[i..])?;
        match b[i] {
            b']' => return Some(i + 1),
            b'\\' => {
                b.get(i + 1)?;
                i += 2;
            }
            _ => {
                // A quoted string: to its first unescaped quote.
                i += 1;
                loop {
                    i += memchr::memchr2(b'"', b'\\', &b[i..])?;
                    if b[i] == b'"' {
                        break;
                    }
                    b.get(i + 1)?;
                    i += 2;
                }
                i += 1;
            }
        }
    }
}

fn rfc5424(b: &[u8]) -> Result<[Option<Span>; 9], Miss> {
    let mut f = [None; 9];
    if b.first() != Some(&b'<') {
        return Err(Miss::No);
    }
    let (p, mut i) = pri(b, 0)?;
    f[0] = Some(p);
    let v_end = digit_run(b, i, 1, 2)?;
    f[1] = Some(Span::new(i, v_end));
    i = byte(b, v_end, b' ')?;
    for slot in &mut f[2..7] {
        let (span, next) = field(b, i)?;
        *slot = span;
        i = next;
    }
    // `-` or one or more elements, then the end or a space.
    match b.get(i) {
        Some(b'-') => i += 1,
        Some(b'[') => {
            let start = i;
            while b.get(i) == Some(&b'[') {
                // An unclosed element: stopping before it leaves a `[` where
                // the pattern wants a space or the end.
                i = sd_element(b, i).ok_or(Miss::No)?;
            }
            f[7] = Some(Span::new(start, i));
        }
        _ => return Err(Miss::No),
    }
    if i < b.len() {
        i = byte(b, i, b' ')?;
        if b[i..].starts_with("\u{feff}".as_bytes()) {
            i += 3;
        }
        f[8] = Some(Span::new(i, b.len()));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<const N: usize>(line: &str, o: Outcome<N>) -> Vec<Option<&str>> {
        let Outcome::Match(f) = o else {
            panic!("{line:?}: {o:?}")
        };
        f.iter().map(|s| s.map(|s| &line[s.range()])).collect()
    }

    #[test]
    fn reads_rfc3164() {
        let line = "<34>Aug  2 10:30:45 web-1 sshd[4242]: Failed password";
        assert_eq!(
            texts(line, read_rfc3164(line.as_bytes())),
            [
                Some("34"),
                Some("Aug  2 10:30:45"),
                Some("web-1"),
                Some("sshd"),
                Some("4242"),
                Some("Failed password")
            ]
        );
        let line = "Aug 20 10:30:47 db-2 kernel:Out of memory";
        assert_eq!(
            texts(line, read_rfc3164(line.as_bytes())),
            [
                None,
                Some("Aug 20 10:30:47"),
                Some("db-2"),
                Some("kernel"),
                None,
                Some("Out of memory")
            ]
        );
        for no in [
            "not syslog at all",
            "<1234>Aug 20 10:30:47 h a: m",
            "Aug 20 10:30:47 h a[]: m",
            "Aug 20 10:30:47 h a[1] m",
            "Aug 20 10:30:47  h a: m",
            "Aug 20 10:30:47 h\ta: m",
        ] {
            assert_eq!(read_rfc3164(no.as_bytes()), Outcome::NoMatch, "{no}");
        }
        for unsure in ["<\u{663}>Aug 20 10:30:47 h a: m", "a\nb", "\u{ff}"] {
            assert_eq!(read_rfc3164(unsure.as_bytes()), Outcome::Unsure, "{unsure}");
        }
        assert_eq!(read_rfc3164(b"Aug 20 10:30:47 h a: \xff"), Outcome::Unsure);
    }

    #[test]
    fn reads_rfc5424() {
        let line = r#"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a@1 x="]\"" y="z"][b] ﻿msg"#;
        assert_eq!(
            texts(line, read_rfc5424(line.as_bytes())),
            [
                Some("165"),
                Some("1"),
                Some("2003-10-11T22:14:15.003Z"),
                Some("host"),
                Some("app"),
                None,
                Some("ID47"),
                Some(r#"[a@1 x="]\"" y="z"][b]"#),
                Some("msg")
            ]
        );
        let line = "<13>1 - - - - - -";
        assert_eq!(
            texts(line, read_rfc5424(line.as_bytes())),
            [
                Some("13"),
                Some("1"),
                None,
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
        let line = "<13>1 - - - - - - ";
        assert_eq!(texts(line, read_rfc5424(line.as_bytes()))[8], Some(""));
        for no in [
            "<13>2025-08-20 not 5424",
            "<13>1 - - - - - [a",
            "<13>1 - - - - - [a][b",
            "<13>1 - - - - - [a]x",
            "<13>1 - - - - - -x",
            "<13>1 - - - -  - -",
            r#"<13>1 - - - - - [a "b]"#,
        ] {
            assert_eq!(read_rfc5424(no.as_bytes()), Outcome::NoMatch, "{no}");
        }
    }
}
