//! What the hand-written preset readers ([`super::syslog`], [`super::app_log`])
//! share: their three-way answer, and the `parse_regex` patterns' character
//! classes read byte by byte with the regex's own (Unicode) meaning, so a
//! reader can promise the regex's exact spans or step aside.
//!
//! Every reader first calls [`plain`]: a line that is not valid UTF-8, holds a
//! `\n` (only possible when the matched field is not the raw line) or is too
//! long for a [`Span`] is left to the regex.

use logagent_core::event::json::Span;

/// What reading one line gave; `N` is the number of fields of the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<const N: usize> {
    /// The line matches; the fields' spans (absent ones `None`), in the
    /// reader's `FIELDS` order.
    Match([Option<Span>; N]),
    /// The line certainly does not match.
    NoMatch,
    /// Not decided here; use the regex.
    Unsure,
}

/// Why a reader stopped: the line certainly does not match, or the reader
/// cannot be sure (Unicode digits, case folding): the regex decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Certainly no match.
    No,
    /// Leave it to the regex.
    Unsure,
}

impl<const N: usize> From<Result<[Option<Span>; N], Miss>> for Outcome<N> {
    fn from(r: Result<[Option<Span>; N], Miss>) -> Self {
        match r {
            Ok(fields) => Outcome::Match(fields),
            Err(Miss::No) => Outcome::NoMatch,
            Err(Miss::Unsure) => Outcome::Unsure,
        }
    }
}

/// Whether a reader can handle `line`: valid UTF-8 (the patterns' classes
/// never match invalid bytes, but the regex has the last word), no `\n` (`.`
/// stops there, `[^\]]` does not) and offsets that fit a [`Span`]. The other
/// helpers count on it: they decode characters only where a byte is not ASCII.
pub fn plain(line: &[u8]) -> bool {
    if u32::try_from(line.len()).is_err() {
        return false;
    }
    // One branch-free pass settles the usual all-ASCII line.
    let odd = line
        .iter()
        .fold(0u8, |acc, &b| acc | (b & 0x80) | u8::from(b == b'\n'));
    odd == 0 || (memchr::memchr(b'\n', line).is_none() && simdutf8::basic::from_utf8(line).is_ok())
}

/// The character starting at `at` of a [`plain`] line, and its length.
#[inline]
fn char_at(b: &[u8], at: usize) -> Option<(char, usize)> {
    let len = match *b.get(at)? {
        c if c < 0x80 => 1,
        c if c >= 0xf0 => 4,
        c if c >= 0xe0 => 3,
        _ => 2,
    };
    let c = std::str::from_utf8(b.get(at..at + len)?)
        .ok()?
        .chars()
        .next()?;
    Some((c, len))
}

/// The length of the whitespace character (`\s`: Unicode `White_Space`, as
/// `char::is_whitespace`) at `at`; `0` when there is none (or at the end).
#[inline]
pub fn space_len(b: &[u8], at: usize) -> usize {
    match b.get(at) {
        Some(b'\t'..=b'\r' | b' ') => 1,
        Some(c) if *c < 0x80 => 0,
        Some(_) => match char_at(b, at) {
            Some((c, len)) if c.is_whitespace() => len,
            _ => 0,
        },
        None => 0,
    }
}

/// The end of the run of whitespace (`\s*`) starting at `at`.
#[inline]
pub fn skip_spaces(b: &[u8], mut at: usize) -> usize {
    loop {
        let n = space_len(b, at);
        if n == 0 {
            return at;
        }
        at += n;
    }
}

/// ASCII whitespace as a bit set (`\t`, `\n`, vertical tab, form feed, `\r`,
/// space): the ASCII part of `\s`.
const ASCII_SPACE: u128 = 0x3e00 | 1 << 32;

/// The bit set of the ASCII bytes in `bytes`, for [`skip_token`].
pub const fn byte_set(bytes: &[u8]) -> u128 {
    let mut set = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        set |= 1 << (bytes[i] & 0x7f);
        i += 1;
    }
    set
}

/// The end of the run of characters starting at `at` that are neither
/// whitespace nor one of the ASCII bytes in `stop` (a [`byte_set`]):
/// `[^\s…]*`.
#[inline]
pub fn skip_token(b: &[u8], mut at: usize, stop: u128) -> usize {
    let ends = ASCII_SPACE | stop;
    while let Some(&c) = b.get(at) {
        if c < 0x80 {
            if ends >> c & 1 != 0 {
                return at;
            }
            at += 1;
        } else {
            match char_at(b, at) {
                Some((c, _)) if c.is_whitespace() => return at,
                // A non-space character: step over it whole.
                Some((_, len)) => at += len,
                None => at += 1,
            }
        }
    }
    at
}

/// Whether the byte at `at` is an ASCII digit; `Unsure` on a non-ASCII byte,
/// which may start a Unicode digit (the patterns' `\d`).
#[inline]
pub fn digit(b: &[u8], at: usize) -> Result<bool, Miss> {
    match b.get(at) {
        Some(c) if c.is_ascii_digit() => Ok(true),
        Some(c) if *c >= 0x80 => Err(Miss::Unsure),
        _ => Ok(false),
    }
}

/// `\d{n}` at `at`: the end, or `No`/`Unsure`.
#[inline]
pub fn digits(b: &[u8], at: usize, n: usize) -> Result<usize, Miss> {
    for i in at..at + n {
        if !digit(b, i)? {
            return Err(Miss::No);
        }
    }
    Ok(at + n)
}

/// `\d{min,max}` (greedy) at `at`: the end of the run, or `No`/`Unsure`.
/// A non-ASCII byte anywhere the run could continue is `Unsure`.
#[inline]
pub fn digit_run(b: &[u8], at: usize, min: usize, max: usize) -> Result<usize, Miss> {
    let mut i = at;
    while i - at < max && digit(b, i)? {
        i += 1;
    }
    if i - at < min {
        return Err(Miss::No);
    }
    Ok(i)
}

/// The byte at `at` is `c`, else `No`.
#[inline]
pub fn byte(b: &[u8], at: usize, c: u8) -> Result<usize, Miss> {
    if b.get(at) == Some(&c) {
        Ok(at + 1)
    } else {
        Err(Miss::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_unicode_like_the_regex() {
        let s = "a\u{a0}b\u{3000}c\u{b}d".as_bytes();
        assert_eq!(space_len(s, 1), 2, "no-break space is \\s");
        assert_eq!(skip_token(s, 0, 0), 1);
        assert_eq!(skip_token(s, 3, 0), 4, "ideographic space ends a token");
        assert_eq!(skip_spaces(s, 4), 7);
        assert_eq!(skip_token("é:x".as_bytes(), 0, byte_set(b":")), 2);
        assert_eq!(skip_token(b"ab\x0bc", 0, 0), 2);
        assert_eq!(
            space_len(s, 8),
            1,
            "vertical tab is \\s (unlike u8::is_ascii_whitespace)"
        );
        assert_eq!(digit("٣".as_bytes(), 0), Err(Miss::Unsure));
        assert_eq!(digit_run(b"1234>", 0, 1, 3), Ok(3));
        assert_eq!(digit_run(b">", 0, 1, 3), Err(Miss::No));
        assert!(!plain(b"a\nb"));
        assert!(!plain("\u{e9}\n".as_bytes()));
        assert!(!plain(b"a\xffb"));
        assert!(plain(b"ok"));
        assert!(plain("\u{e9}".as_bytes()));
    }
}
