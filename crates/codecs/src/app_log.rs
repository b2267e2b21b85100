//! A hand-written reader for the generic application-log shape of the
//! `parse_regex` `app` preset (`2025-08-20 10:30:45.123 ERROR [main] message`,
//! as Java, Python and Go loggers write it). It gives exactly the preset
//! pattern's spans, several times faster than the regex's capture engine; where
//! it cannot be sure (invalid UTF-8, a `\n`, non-ASCII where the pattern has
//! `\d` or a case-insensitive level word) it answers [`Outcome::Unsure`] and the
//! caller runs the regex. Whitespace is Unicode's, like the regex's `\s`: an
//! ideographic space separates the level from the message.

pub use super::text_scan::Outcome;
use super::text_scan::{Miss, byte, digit_run, digits, plain, skip_spaces, space_len};
use logagent_core::event::json::Span;

/// The fields, in this order.
pub const FIELDS: [&str; 4] = ["timestamp", "level", "thread", "message"];

/// The level words in the pattern's order: the first one followed by an
/// optional `]` and whitespace wins (so `warn` before `warning`).
const LEVELS: [&[u8]; 14] = [
    b"trace",
    b"debug",
    b"info",
    b"notice",
    b"warn",
    b"warning",
    b"error",
    b"err",
    b"fatal",
    b"critical",
    b"crit",
    b"alert",
    b"emerg",
    b"panic",
];

/// Reads `line` as the `app` preset's pattern would.
pub fn read(line: &[u8]) -> Outcome<4> {
    if !plain(line) {
        return Outcome::Unsure;
    }
    app(line).into()
}

/// `word` at `at`, ASCII case-insensitively; `Unsure` on a non-ASCII byte
/// (the regex folds case by Unicode's rules).
fn word_at(b: &[u8], at: usize, word: &[u8]) -> Result<bool, Miss> {
    for (k, w) in word.iter().enumerate() {
        match b.get(at + k) {
            Some(c) if *c >= 0x80 => return Err(Miss::Unsure),
            Some(c) if c.eq_ignore_ascii_case(w) => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// `\]?\s+` at `at`: whether it matches (greedy `]`, given back when no
/// whitespace follows it).
fn closes(b: &[u8], at: usize) -> bool {
    let after = if b.get(at) == Some(&b']') { at + 1 } else { at };
    space_len(b, after) > 0
}

fn app(b: &[u8]) -> Result<[Option<Span>; 4], Miss> {
    let mut f = [None; 4];
    // `\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}`
    let mut i = digits(b, 0, 4)?;
    i = byte(b, i, b'-')?;
    i = digits(b, i, 2)?;
    i = byte(b, i, b'-')?;
    i = digits(b, i, 2)?;
    i = match b.get(i) {
        Some(b'T' | b' ') => i + 1,
        _ => return Err(Miss::No),
    };
    i = digits(b, i, 2)?;
    i = byte(b, i, b':')?;
    i = digits(b, i, 2)?;
    i = byte(b, i, b':')?;
    i = digits(b, i, 2)?;
    // `(?:[.,]\d+)?`: skipping it leaves `.`/`,` where a zone or `\s` must be.
    if matches!(b.get(i), Some(b'.' | b',')) {
        i = digit_run(b, i + 1, 1, usize::MAX)?;
    }
    // `(?:Z|[+-]\d{2}:?\d{2})?`: likewise; `:` is taken exactly when present.
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+' | b'-') => {
            i = digits(b, i + 1, 2)?;
            if b.get(i) == Some(&b':') {
                i += 1;
            }
            i = digits(b, i, 2)?;
        }
        _ => {}
    }
    f[0] = Some(Span::new(0, i));
    // `\s+\[?`: all the whitespace (the level cannot start with any), and a
    // `[` whenever there is one (the level cannot start with it either).
    let ws_end = skip_spaces(b, i);
    if ws_end == i {
        return Err(Miss::No);
    }
    i = ws_end;
    if b.get(i) == Some(&b'[') {
        i += 1;
    }
    // The first level word followed by `\]?\s+`; after that the rest of the
    // pattern always matches.
    let mut level = None;
    for w in LEVELS {
        if word_at(b, i, w)? && closes(b, i + w.len()) {
            level = Some(i + w.len());
            break;
        }
    }
    let level_end = level.ok_or(Miss::No)?;
    f[1] = Some(Span::new(i, level_end));
    i = level_end;
    if b.get(i) == Some(&b']') {
        i += 1;
    }
    i = skip_spaces(b, i);
    // `(?:\[(?P<thread>[^\]]+)\]\s+)?` at the end of the greedy `\s+`; when it
    // does not match, the message starts there.
    if b.get(i) == Some(&b'[')
        && let Some(close) = memchr::memchr(b']', &b[i + 1..]).map(|c| i + 1 + c)
    {
        let after = skip_spaces(b, close + 1);
        if close > i + 1 && after > close + 1 {
            f[2] = Some(Span::new(i + 1, close));
            i = after;
        }
    }
    f[3] = Some(Span::new(i, b.len()));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<Option<&str>> {
        let Outcome::Match(f) = read(line.as_bytes()) else {
            panic!("{line:?}")
        };
        f.iter().map(|s| s.map(|s| &line[s.range()])).collect()
    }

    #[test]
    fn reads_app_lines() {
        assert_eq!(
            texts("2025-08-20 10:30:45,123 ERROR [main] c.e.CaseService - Failed"),
            [
                Some("2025-08-20 10:30:45,123"),
                Some("ERROR"),
                Some("main"),
                Some("c.e.CaseService - Failed")
            ]
        );
        assert_eq!(
            texts("2025-08-20T10:30:46.5+09:00 [warning] retrying"),
            [
                Some("2025-08-20T10:30:46.5+09:00"),
                Some("warning"),
                None,
                Some("retrying")
            ]
        );
        assert_eq!(
            texts("2025-08-20 10:30:47Z\u{3000}info\u{3000}[t]\u{3000}処理完了"),
            [
                Some("2025-08-20 10:30:47Z"),
                Some("info"),
                Some("t"),
                Some("処理完了")
            ]
        );
        assert_eq!(texts("2025-08-20 10:30:47 ERR  [] x")[3], Some("[] x"));
        for no in [
            "   at com.example.CaseService.load(CaseService.java:42)",
            "2025-08-20 10:30:48 STARTING not a level word",
            "2025-08-20 10:30:48.x INFO m",
            "2025-08-20 10:30:48+0900INFO m",
        ] {
            assert_eq!(read(no.as_bytes()), Outcome::NoMatch, "{no}");
        }
        assert_eq!(
            read("2025-08-20 10:30:48 \u{130}NFO m".as_bytes()),
            Outcome::Unsure
        );
    }
}
