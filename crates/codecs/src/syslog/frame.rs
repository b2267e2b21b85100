//! One syslog frame from the network, read into spans of the frame plus a
//! decoded priority and timestamp. RFC 5424 is read by the same steps as the
//! preset reader ([`super::rfc5424`]); RFC 3164 strictly by
//! [`super::rfc3164`], or leniently by [`lenient_bsd`].

use super::{rfc3164, rfc5424};
use logagent_core::event::json::Span;

/// Which syslog format a frame was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// BSD syslog (RFC 3164), or what passes for it.
    Rfc3164,
    /// IETF syslog (RFC 5424).
    Rfc5424,
}

/// A frame's timestamp, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// A complete time with its offset (RFC 3339): nanoseconds since the epoch.
    Instant(i64),
    /// A clock-face time without offset, and usually without year (BSD's
    /// `Oct 11 22:14:15`): the caller supplies the zone and infers the year.
    Clock(ClockTime),
}

/// A time as written without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockTime {
    /// The year when the frame gave one (`Oct 11 2024 22:14:15`).
    pub year: Option<i32>,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=60 (a leap second is kept as written).
    pub second: u8,
    /// Fraction of the second.
    pub nanos: u32,
}

/// What a frame says, as spans of the frame. Absent and nil (`-`) fields are
/// `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The format it was read as.
    pub format: Format,
    /// The priority (`facility * 8 + severity`), 0..=191.
    pub pri: Option<u8>,
    /// RFC 5424's version.
    pub version: Option<Span>,
    /// The timestamp as written.
    pub timestamp: Option<Span>,
    /// The timestamp decoded (`None` when absent or unreadable).
    pub time: Option<Stamp>,
    /// The sending host.
    pub hostname: Option<Span>,
    /// The program (RFC 3164's tag without its `[pid]`).
    pub appname: Option<Span>,
    /// The process id.
    pub procid: Option<Span>,
    /// RFC 5424's message id.
    pub msgid: Option<Span>,
    /// RFC 5424's structured data, raw (`[id k="v"]...`); see [`Message::sd_params`].
    pub structured_data: Option<Span>,
    /// The free-form message (possibly empty).
    pub message: Span,
}

/// Why a frame is not syslog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// `<…>` at the start is not a priority from 0 to 191.
    #[error("the priority <…> is not a number from 0 to 191")]
    BadPriority,
    /// It starts like RFC 5424 (`<pri>1 `) but the header does not follow it.
    #[error("not a valid RFC 5424 header")]
    BadRfc5424,
    /// Strict mode: not `<pri>Mmm dd hh:mm:ss host tag: message`.
    #[error("not a valid RFC 3164 header")]
    BadRfc3164,
    /// Lenient mode: neither a priority nor a timestamp, i.e. no syslog header.
    #[error("no syslog header (no <priority> and no timestamp)")]
    NoHeader,
    /// Longer than a span can address (4 GiB).
    #[error("frame too long")]
    TooLong,
}

/// The longest RFC 3164 tag the lenient reader looks for (the RFC says 32;
/// real tags such as `sshd(pam_unix)[19939]` or `syslogd 1.4.1` run longer).
const MAX_TAG: usize = 64;

/// Reads one frame (without its framing: no trailing newline).
///
/// A frame starting `<pri>` followed by a version digit and a space is RFC
/// 5424; anything else is read as RFC 3164. Strict mode wants each format's
/// header exactly. Lenient mode (what senders in the wild need) also takes:
/// no priority; a timestamp with a year (`Oct 11 2024 22:14:15`), fractional
/// seconds, an RFC 3339 timestamp or none at all; no hostname (`Oct 11
/// 22:14:15 sshd[42]: …`, as from `/dev/log`); runs of spaces between fields;
/// tags with spaces (`syslogd 1.4.1: restart.`, up to two spaces) or after a
/// `--` marker (`-- root[2421]: ROOT LOGIN`); and no tag (the rest is the
/// message). An RFC 5424 frame that fails its header is read leniently as
/// BSD. Only a frame with neither a priority nor a timestamp (no syslog
/// header) or with a bad priority is refused.
pub fn parse(frame: &[u8], lenient: bool) -> Result<Message, Malformed> {
    if u32::try_from(frame.len()).is_err() {
        return Err(Malformed::TooLong);
    }
    let (pri, after_pri) = match read_pri(frame)? {
        Some((p, end)) => (Some(p), end),
        None => (None, 0),
    };
    if pri.is_some() && looks_5424(frame, after_pri) {
        match rfc5424(frame) {
            Ok(f) => return Ok(from_5424(frame, pri, f)),
            Err(_) if !lenient => return Err(Malformed::BadRfc5424),
            Err(_) => {}
        }
    }
    if !lenient {
        return match rfc3164(frame) {
            Ok(f) => Ok(Message {
                format: Format::Rfc3164,
                pri,
                version: None,
                timestamp: f[1],
                time: f[1].and_then(|s| bsd_time(&frame[s.range()]).map(|(t, _)| t)),
                hostname: f[2],
                appname: f[3],
                procid: f[4],
                msgid: None,
                structured_data: None,
                message: f[5].unwrap_or(Span::new(frame.len(), frame.len())),
            }),
            Err(_) => Err(Malformed::BadRfc3164),
        };
    }
    lenient_bsd(frame, pri, after_pri)
}

/// `<digits>` at the start: the priority and the end, `None` when the frame
/// does not start with `<` and a digit, an error when the number is bad.
fn read_pri(b: &[u8]) -> Result<Option<(u8, usize)>, Malformed> {
    if b.first() != Some(&b'<') || !b.get(1).is_some_and(u8::is_ascii_digit) {
        return Ok(None);
    }
    let mut n = 0u32;
    let mut i = 1;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        if i > 3 {
            return Err(Malformed::BadPriority);
        }
        n = n * 10 + u32::from(d - b'0');
        i += 1;
    }
    if b.get(i) != Some(&b'>') || n > 191 {
        return Err(Malformed::BadPriority);
    }
    Ok(Some((n as u8, i + 1)))
}

/// `1 ` (one or two digits and a space) after the priority.
fn looks_5424(b: &[u8], at: usize) -> bool {
    let digits = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=2).contains(&digits) && b.get(at + digits) == Some(&b' ')
}

fn from_5424(frame: &[u8], pri: Option<u8>, f: [Option<Span>; 9]) -> Message {
    Message {
        format: Format::Rfc5424,
        pri,
        version: f[1],
        timestamp: f[2],
        time: f[2].and_then(|s| rfc3339(&frame[s.range()])),
        hostname: f[3],
        appname: f[4],
        procid: f[5],
        msgid: f[6],
        structured_data: f[7],
        message: f[8].unwrap_or(Span::new(frame.len(), frame.len())),
    }
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

fn token_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| *c != b' ') {
        i += 1;
    }
    i
}

/// The lenient BSD reader (see [`parse`]), from just after the priority.
fn lenient_bsd(b: &[u8], pri: Option<u8>, at: usize) -> Result<Message, Malformed> {
    let mut i = skip_spaces(b, at);
    let mut timestamp = None;
    let mut time = None;
    if let Some((t, end)) = bsd_time(&b[i..]) {
        timestamp = Some(Span::new(i, i + end));
        time = Some(t);
        i += end;
    } else {
        let end = token_end(b, i);
        if let Some(t) = rfc3339(&b[i..end]) {
            timestamp = Some(Span::new(i, end));
            time = Some(t);
            i = end;
        }
    }
    if pri.is_none() && timestamp.is_none() {
        return Err(Malformed::NoHeader);
    }
    let mut hostname = None;
    if timestamp.is_some() {
        // After a timestamp comes the host, unless the word is already a tag
        // (a local sender leaves the host out).
        let start = skip_spaces(b, i);
        let end = token_end(b, start);
        if end > start && !is_tag_word(&b[start..end]) && end < b.len() {
            hostname = Some(Span::new(start, end));
            i = end;
        }
    }
    i = skip_spaces(b, i);
    let (appname, procid, msg_start) = match tag(b, i) {
        Some((app, pid, next)) => (app, pid, skip_spaces(b, next)),
        None => (None, None, i),
    };
    Ok(Message {
        format: Format::Rfc3164,
        pri,
        version: None,
        timestamp,
        time,
        hostname,
        appname,
        procid,
        msgid: None,
        structured_data: None,
        message: Span::new(msg_start, b.len()),
    })
}

/// A word that is a whole tag by itself: `app:` or `app[pid]:`.
fn is_tag_word(w: &[u8]) -> bool {
    w.ends_with(b":") && w.len() > 1
}

/// The tag at `at`: app, procid and the index after the `:`. The tag is what
/// comes before the first `:` followed by a space (or the end), within
/// [`MAX_TAG`] bytes and with at most two spaces; a leading `-- ` marker is
/// skipped and a trailing `[pid]` is the process id.
fn tag(b: &[u8], at: usize) -> Option<(Option<Span>, Option<Span>, usize)> {
    let window = &b[at..b.len().min(at + MAX_TAG + 1)];
    let mut spaces = 0;
    let mut colon = None;
    for (k, c) in window.iter().enumerate() {
        match c {
            b':' if k > 0 && matches!(b.get(at + k + 1), None | Some(b' ')) => {
                colon = Some(at + k);
                break;
            }
            b' ' => {
                spaces += 1;
                if spaces > 2 {
                    return None;
                }
            }
            b'\t' | b'\n' | b'\r' | b'"' | b'=' => return None,
            _ => {}
        }
    }
    let colon = colon?;
    let mut start = at;
    if b[start..colon].starts_with(b"-- ") {
        start = skip_spaces(b, start + 3);
    }
    let mut app_end = colon;
    let mut procid = None;
    if b[..colon].ends_with(b"]")
        && let Some(open) = memchr::memrchr(b'[', &b[start..colon]).map(|o| start + o)
        && open + 2 < colon
    {
        procid = Some(Span::new(open + 1, colon - 1));
        app_end = open;
    }
    while app_end > start && b[app_end - 1] == b' ' {
        app_end -= 1;
    }
    let appname = (app_end > start).then(|| Span::new(start, app_end));
    if appname.is_none() && procid.is_none() {
        return None;
    }
    Some((appname, procid, colon + 1))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn num(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = b.get(at..at + n)?;
    digits.iter().try_fold(0u32, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

/// `.digits` at `at`: nanoseconds and the end (up to 9 digits kept, more
/// skipped).
fn fraction(b: &[u8], at: usize) -> (u32, usize) {
    if b.get(at) != Some(&b'.') || !b.get(at + 1).is_some_and(u8::is_ascii_digit) {
        return (0, at);
    }
    let mut i = at + 1;
    let mut nanos = 0u32;
    let mut scale = 100_000_000u32;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        nanos += u32::from(d - b'0') * scale;
        scale /= 10;
        i += 1;
    }
    (nanos, i)
}

/// `Mmm dd hh:mm:ss` (day space-padded or not), optionally with a year
/// before the time (`Mmm dd yyyy hh:mm:ss`) and a fraction: the time and
/// its length.
fn bsd_time(b: &[u8]) -> Option<(Stamp, usize)> {
    let month = MONTHS.iter().position(|m| b.get(..3) == Some(&m[..]))? as u8 + 1;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = skip_spaces(b, 4);
    let day_len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let day = num(b, i, day_len)? as u8;
    i += day_len;
    if b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let mut year = None;
    if b.get(i + 4) == Some(&b' ') {
        year = Some(num(b, i, 4)? as i32);
        i += 5;
    }
    let hour = num(b, i, 2)? as u8;
    let minute = (b.get(i + 2) == Some(&b':')).then(|| num(b, i + 3, 2))?? as u8;
    let second = (b.get(i + 5) == Some(&b':')).then(|| num(b, i + 6, 2))?? as u8;
    let (nanos, end) = fraction(b, i + 8);
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // The time must end the word.
    if b.get(end).is_some_and(|c| *c != b' ') {
        return None;
    }
    Some((
        Stamp::Clock(ClockTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
        }),
        end,
    ))
}

/// An RFC 3339 timestamp (`2003-10-11T22:14:15.003Z`, `…+02:00`), the whole
/// of `b`: an instant; without an offset a clock time.
fn rfc3339(b: &[u8]) -> Option<Stamp> {
    let year = num(b, 0, 4)? as i32;
    let month = (b.get(4) == Some(&b'-')).then(|| num(b, 5, 2))?? as u8;
    let day = (b.get(7) == Some(&b'-')).then(|| num(b, 8, 2))?? as u8;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = num(b, 11, 2)? as u8;
    let minute = (b.get(13) == Some(&b':')).then(|| num(b, 14, 2))?? as u8;
    let second = (b.get(16) == Some(&b':')).then(|| num(b, 17, 2))?? as u8;
    let (nanos, i) = fraction(b, 19);
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if day < 1 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    let clock = ClockTime {
        year: Some(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    let offset_secs: i64 = match &b[i..] {
        [] => return Some(Stamp::Clock(clock)),
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let h = i64::from(num(rest, 0, 2)?);
            let m = i64::from(num(rest, 3, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let s = (h * 60 + m) * 60;
            if *sign == b'-' { -s } else { s }
        }
        _ => return None,
    };
    Some(Stamp::Instant(
        clock.utc_ns()? - offset_secs * 1_000_000_000,
    ))
}

fn days_in_month(year: i64, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl ClockTime {
    /// Nanoseconds since the epoch of this clock time read as UTC (`None`
    /// without a year, or for a day the month does not have).
    pub fn utc_ns(&self) -> Option<i64> {
        let year = i64::from(self.year?);
        if self.day > days_in_month(year, self.month) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        secs.checked_mul(1_000_000_000)?
            .checked_add(i64::from(self.nanos))
    }
}

impl Message {
    /// The facility number (`pri / 8`).
    pub fn facility(&self) -> Option<u8> {
        self.pri.map(|p| p / 8)
    }

    /// The severity number (`pri % 8`, 0 emergency … 7 debug).
    pub fn severity(&self) -> Option<u8> {
        self.pri.map(|p| p % 8)
    }

    /// Calls `visit` with each structured-data element's id, then with each
    /// of its parameters, values unescaped (`\"`, `\\`, `\]`). Returns
    /// false (having called nothing) when the structured data is not made of
    /// `[id name="value" …]` elements.
    pub fn sd_params(&self, frame: &[u8], mut visit: impl FnMut(SdItem<'_>)) -> bool {
        let Some(sd) = self.structured_data else {
            return true;
        };
        let sd = &frame[sd.range()];
        if read_sd(sd, &mut |_| {}).is_none() {
            return false;
        }
        read_sd(sd, &mut visit).is_some()
    }
}

/// One step of walking structured data ([`Message::sd_params`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdItem<'a> {
    /// An element starts: its SD-ID.
    Element(&'a [u8]),
    /// A parameter of the current element: name and unescaped value.
    Param(&'a [u8], &'a [u8]),
}

/// Walks `[id k="v" …][…]`; `None` on anything else.
fn read_sd(b: &[u8], visit: &mut dyn FnMut(SdItem<'_>)) -> Option<()> {
    let mut i = 0;
    let mut value = Vec::new();
    while i < b.len() {
        if b[i] != b'[' {
            return None;
        }
        let id_end = i
            + 1
            + b[i + 1..]
                .iter()
                .position(|c| matches!(c, b' ' | b']' | b'=' | b'"'))?;
        if id_end == i + 1 {
            return None;
        }
        visit(SdItem::Element(&b[i + 1..id_end]));
        i = id_end;
        loop {
            match b.get(i)? {
                b']' => {
                    i += 1;
                    break;
                }
                b' ' => i += 1,
                _ => {
                    let eq = i + b[i..]
                        .iter()
                        .position(|c| matches!(c, b'=' | b' ' | b']' | b'"'))?;
                    if eq == i || b.get(eq) != Some(&b'=') || b.get(eq + 1) != Some(&b'"') {
                        return None;
                    }
                    let name = &b[i..eq];
                    value.clear();
                    let mut j = eq + 2;
                    loop {
                        match *b.get(j)? {
                            b'"' => break,
                            b'\\' if matches!(b.get(j + 1), Some(b'"' | b'\\' | b']')) => {
                                value.push(b[j + 1]);
                                j += 2;
                            }
                            c => {
                                value.push(c);
                                j += 1;
                            }
                        }
                    }
                    visit(SdItem::Param(name, &value));
                    i = j + 1;
                }
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frame: &str, s: Option<Span>) -> Option<&str> {
        s.map(|s| &frame[s.range()])
    }

    fn fields(frame: &str, lenient: bool) -> [Option<&str>; 5] {
        let m = parse(frame.as_bytes(), lenient).unwrap_or_else(|e| panic!("{frame:?}: {e}"));
        [
            text(frame, m.timestamp),
            text(frame, m.hostname),
            text(frame, m.appname),
            text(frame, m.procid),
            Some(&frame[m.message.range()]),
        ]
    }

    #[test]
    fn rfc5424_with_structured_data_and_an_instant() {
        let f = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\"ic\]ation"][b@1 x="y"] An application event"#;
        for lenient in [false, true] {
            let m = parse(f.as_bytes(), lenient).unwrap();
            assert_eq!(m.format, Format::Rfc5424);
            assert_eq!((m.facility(), m.severity()), (Some(20), Some(5)));
            assert_eq!(text(f, m.hostname), Some("mymachine.example.com"));
            assert_eq!(text(f, m.appname), Some("evntslog"));
            assert_eq!(m.procid, None);
            assert_eq!(text(f, m.msgid), Some("ID47"));
            assert_eq!(&f[m.message.range()], "An application event");
            assert_eq!(m.time, Some(Stamp::Instant(1_065_910_455_003_000_000)));
            let mut seen = Vec::new();
            assert!(m.sd_params(f.as_bytes(), |item| seen.push(match item {
                SdItem::Element(id) => format!("[{}]", String::from_utf8_lossy(id)),
                SdItem::Param(k, v) => format!(
                    "{}={}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                ),
            })));
            assert_eq!(
                seen,
                [
                    "[exampleSDID@32473]",
                    "iut=3",
                    "eventSource=Appl\"ic]ation",
                    "[b@1]",
                    "x=y"
                ]
            );
        }
        let m = parse(b"<14>1 2026-12-07T21:00:00.5+01:30 h a 42 - - m", false).unwrap();
        assert_eq!(
            m.time,
            Some(Stamp::Instant(
                1_796_677_200_000_000_000 - 5_400_000_000_000 + 500_000_000
            ))
        );
    }

    #[test]
    fn rfc3164_strict_and_lenient() {
        let f = "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed";
        for lenient in [false, true] {
            assert_eq!(
                fields(f, lenient),
                [
                    Some("Oct 11 22:14:15"),
                    Some("mymachine"),
                    Some("su"),
                    Some("230"),
                    Some("'su root' failed")
                ]
            );
        }
        let m = parse(f.as_bytes(), true).unwrap();
        assert_eq!(
            m.time,
            Some(Stamp::Clock(ClockTime {
                year: None,
                month: 10,
                day: 11,
                hour: 22,
                minute: 14,
                second: 15,
                nanos: 0
            }))
        );
    }

    #[test]
    fn lenient_reads_what_real_senders_write() {
        // A tag with a version in it (loghub's Linux set).
        assert_eq!(
            fields("<13>Jun 14 15:16:01 combo syslogd 1.4.1: restart.", true),
            [
                Some("Jun 14 15:16:01"),
                Some("combo"),
                Some("syslogd 1.4.1"),
                None,
                Some("restart.")
            ]
        );
        assert!(parse(b"<13>Jun 14 15:16:01 combo syslogd 1.4.1: restart.", false).is_err());
        // Two spaces and a `--` marker before the tag.
        assert_eq!(
            fields(
                "Jun 15 04:06:18 combo  -- root[2421]: ROOT LOGIN ON tty2",
                true
            ),
            [
                Some("Jun 15 04:06:18"),
                Some("combo"),
                Some("root"),
                Some("2421"),
                Some("ROOT LOGIN ON tty2")
            ]
        );
        // No hostname (a local sender), a one-digit day without padding.
        assert_eq!(
            fields("<38>Dec 7 21:00:00 sshd[99]: Accepted key", true),
            [
                Some("Dec 7 21:00:00"),
                None,
                Some("sshd"),
                Some("99"),
                Some("Accepted key")
            ]
        );
        // A year and a fraction; an RFC 3339 stamp in a BSD frame (rsyslog's
        // forward format); no tag at all.
        assert_eq!(
            fields("<13>Dec  7 2026 21:00:00.250 gw link down", true),
            [
                Some("Dec  7 2026 21:00:00.250"),
                Some("gw"),
                None,
                None,
                Some("link down")
            ]
        );
        let f = "<13>2026-12-07T21:00:00.123456+00:00 web nginx: GET /";
        assert_eq!(
            fields(f, true),
            [
                Some("2026-12-07T21:00:00.123456+00:00"),
                Some("web"),
                Some("nginx"),
                None,
                Some("GET /")
            ]
        );
        assert_eq!(
            parse(f.as_bytes(), true).unwrap().time,
            Some(Stamp::Instant(1_796_677_200_123_456_000))
        );
        // A priority and nothing else of a header.
        assert_eq!(
            fields("<13>hello there", true),
            [None, None, None, None, Some("hello there")]
        );
        // Invalid UTF-8 and a newline stay in the message.
        let m = parse(b"<13>Dec  7 21:00:00 h app: a\xff\nb", true).unwrap();
        assert_eq!(m.message, Span::new(27, 31));
        // A bad 5424 header falls back to BSD.
        let m = parse(b"<13>1 2026-12-07T21:00:00Z  double space", true).unwrap();
        assert_eq!(m.format, Format::Rfc3164);
    }

    #[test]
    fn malformed_frames_say_why() {
        assert_eq!(
            parse(b"<192>Dec  7 21:00:00 h a: m", true),
            Err(Malformed::BadPriority)
        );
        assert_eq!(parse(b"<1234>x", true), Err(Malformed::BadPriority));
        assert_eq!(parse(b"<13", true), Err(Malformed::BadPriority));
        assert_eq!(parse(b"just text", true), Err(Malformed::NoHeader));
        assert_eq!(parse(b"", true), Err(Malformed::NoHeader));
        assert_eq!(
            parse(b"<13>1 - - - - - [unclosed", false),
            Err(Malformed::BadRfc5424)
        );
        assert_eq!(parse(b"<13>garbage", false), Err(Malformed::BadRfc3164));
        assert_eq!(
            parse(b"<abc>Dec  7 21:00:00 h a: m", true),
            Err(Malformed::NoHeader)
        );
    }

    #[test]
    fn structured_data_that_is_not_params_is_refused() {
        let f = b"<13>1 - - - - - [a b] m";
        let m = parse(f, false).unwrap();
        assert!(!m.sd_params(f, |_| panic!("called on bad structured data")));
        assert_eq!(rfc3339(b"2026-02-30T00:00:00Z"), None);
        assert_eq!(rfc3339(b"2026-02-28T00:00:00+24:00"), None);
        assert!(matches!(
            rfc3339(b"2026-02-28T00:00:00"),
            Some(Stamp::Clock(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_spans_fit(frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), lenient: bool) {
            if let Ok(m) = parse(&frame, lenient) {
                for s in [m.version, m.timestamp, m.hostname, m.appname, m.procid, m.msgid, m.structured_data, Some(m.message)].into_iter().flatten() {
                    proptest::prop_assert!(s.start <= s.end && (s.end as usize) <= frame.len());
                }
            }
        }
    }
}
