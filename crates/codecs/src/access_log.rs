//! A hand-written reader for the nginx/Apache access-log formats (common and
//! combined), the busiest text format an agent parses. It gives exactly what the
//! `parse_regex` presets' patterns give, an order of magnitude faster; on any
//! line it cannot be sure about (bytes outside printable ASCII, backslash
//! escapes in quoted parts) it answers [`Outcome::Unsure`] and the caller runs
//! the regex instead.

use logagent_core::event::json::Span;

/// The fields, in this order: remote_addr, remote_user, time_local, method,
/// path, protocol, request, status, body_bytes_sent, referer, user_agent.
pub const FIELDS: [&str; 11] = [
    "remote_addr",
    "remote_user",
    "time_local",
    "method",
    "path",
    "protocol",
    "request",
    "status",
    "body_bytes_sent",
    "referer",
    "user_agent",
];

/// What reading one line gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The line matches; the spans of [`FIELDS`] (absent ones `None`).
    Match([Option<Span>; 11]),
    /// The line certainly does not match.
    NoMatch,
    /// Not decided here; use the regex.
    Unsure,
}

fn token(line: &[u8], from: usize) -> Option<(Span, usize)> {
    let len = memchr::memchr(b' ', &line[from..]).unwrap_or(line.len() - from);
    (len > 0).then(|| (Span::new(from, from + len), from + len))
}

fn expect(line: &[u8], at: usize, lit: &[u8]) -> Option<usize> {
    line.get(at..at + lit.len())
        .filter(|s| *s == lit)
        .map(|_| at + lit.len())
}

/// A quoted part starting after its opening quote: its content's end, or `None`
/// (unsure) when it has escapes or is not closed.
fn quoted(line: &[u8], from: usize) -> Option<usize> {
    let end = from + memchr::memchr(b'"', &line[from..])?;
    if memchr::memchr(b'\\', &line[from..end]).is_some() {
        return None;
    }
    Some(end)
}

/// The request line `METHOD path[ protocol]`, as the preset pattern splits it.
fn request_parts(line: &[u8], s: usize, e: usize) -> Option<(Span, Span, Option<Span>)> {
    let r = &line[s..e];
    let m = r.iter().position(|b| !b.is_ascii_uppercase())?;
    if m == 0 || r[m] != b' ' {
        return None;
    }
    let rest = &r[m + 1..];
    let (path, protocol) = match memchr::memchr(b' ', rest) {
        Some(p) => (&rest[..p], Some(&rest[p + 1..])),
        None => (rest, None),
    };
    if path.is_empty() || protocol.is_some_and(|p| p.is_empty() || p.contains(&b' ')) {
        return None;
    }
    let path_s = s + m + 1;
    Some((
        Span::new(s, s + m),
        Span::new(path_s, path_s + path.len()),
        protocol.map(|p| Span::new(e - p.len(), e)),
    ))
}

/// Reads `line` as the common (`combined = false`) or combined format.
pub fn read(line: &[u8], combined: bool) -> Outcome {
    // Anything but printable ASCII and spaces: leave it to the regex, whose
    // classes are Unicode-aware.
    if line.iter().any(|b| !(0x20..0x7f).contains(b)) {
        return Outcome::Unsure;
    }
    match read_ascii(line, combined) {
        Ok(fields) => Outcome::Match(fields),
        Err(sure) if sure => Outcome::NoMatch,
        Err(_) => Outcome::Unsure,
    }
}

/// `Err(true)`: certainly no match; `Err(false)`: unsure.
fn read_ascii(line: &[u8], combined: bool) -> Result<[Option<Span>; 11], bool> {
    let no = true;
    let mut f: [Option<Span>; 11] = [None; 11];
    let (addr, i) = token(line, 0).ok_or(no)?;
    let i = expect(line, i, b" ").ok_or(no)?;
    let (_ident, i) = token(line, i).ok_or(no)?;
    let i = expect(line, i, b" ").ok_or(no)?;
    let (user, i) = token(line, i).ok_or(no)?;
    let i = expect(line, i, b" [").ok_or(no)?;
    let close = i + memchr::memchr(b']', &line[i..]).ok_or(no)?;
    if close == i {
        return Err(no);
    }
    let time = Span::new(i, close);
    let i = expect(line, close, b"] \"").ok_or(no)?;
    let req_end = quoted(line, i).ok_or(false)?;
    match request_parts(line, i, req_end) {
        Some((method, path, protocol)) => {
            f[3] = Some(method);
            f[4] = Some(path);
            f[5] = protocol;
        }
        None => f[6] = Some(Span::new(i, req_end)),
    }
    let i = expect(line, req_end, b"\" ").ok_or(no)?;
    let status = line.get(i..i + 3).ok_or(no)?;
    if !status.iter().all(u8::is_ascii_digit) {
        return Err(no);
    }
    f[7] = Some(Span::new(i, i + 3));
    let i = expect(line, i + 3, b" ").ok_or(no)?;
    let bytes_end = if line.get(i) == Some(&b'-') {
        i + 1
    } else {
        let n = line[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return Err(no);
        }
        i + n
    };
    f[8] = Some(Span::new(i, bytes_end));
    if combined {
        let i = expect(line, bytes_end, b" \"").ok_or(no)?;
        let ref_end = quoted(line, i).ok_or(false)?;
        f[9] = Some(Span::new(i, ref_end));
        let i = expect(line, ref_end, b"\" \"").ok_or(no)?;
        let ua_end = quoted(line, i).ok_or(false)?;
        f[10] = Some(Span::new(i, ua_end));
    }
    f[0] = Some(addr);
    f[1] = Some(user);
    f[2] = Some(time);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats() {
        let line = br#"10.0.0.1 - alice [20/Aug/2025:10:30:45 +0000] "GET /a?b=c HTTP/1.1" 200 512 "https://x.jp/" "curl/8.5.0" "extra""#;
        let Outcome::Match(f) = read(line, true) else {
            panic!()
        };
        let text = |i: usize| f[i].map(|s| String::from_utf8_lossy(&line[s.range()]).into_owned());
        assert_eq!(text(0).as_deref(), Some("10.0.0.1"));
        assert_eq!(text(1).as_deref(), Some("alice"));
        assert_eq!(text(3).as_deref(), Some("GET"));
        assert_eq!(text(4).as_deref(), Some("/a?b=c"));
        assert_eq!(text(5).as_deref(), Some("HTTP/1.1"));
        assert_eq!(text(6), None);
        assert_eq!(text(10).as_deref(), Some("curl/8.5.0"));
        assert!(matches!(read(b"garbage", true), Outcome::NoMatch));
        assert!(matches!(
            read("caf\u{e9} - - [x] \"a\" 200 1".as_bytes(), false),
            Outcome::Unsure
        ));
        assert!(matches!(
            read(br#"1 - - [t] "GET /\"x" 200 1"#, false),
            Outcome::Unsure
        ));
    }
}
