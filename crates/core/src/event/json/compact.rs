//! The fast path of [`scan_object`](super::scan_object): compact lines.
//!
//! Nearly every log line is one compact object (`{"k":v,"k":v}`, no
//! whitespace between tokens) whose values are scalars or small objects of
//! scalars. This pass handles exactly that shape without the generic
//! machinery: no whitespace checks between tokens, no closure sink, nested
//! objects of scalars walked without the depth bitset, and the key summary
//! ([`KeySummary`]) folded in while each key is at hand.
//!
//! It is *optimistic*: it returns `None` as soon as the input leaves that
//! shape or is invalid, and the caller then truncates what was pushed and
//! runs the general scanner from the start, which computes the exact result
//! (including the error and its offset). So the fast path only has to be
//! right when it returns `Some`, and then it agrees with the general scanner
//! by construction: every token is validated by the same functions
//! (`scan_string`, `scan_scalar`, `scan_nested`), only the structure around
//! them is walked more cheaply. Tests compare both paths on arbitrary input.

use super::block::Cursor;
use super::{KeySummary, Member, Span, scan_escape, scan_nested, scan_scalar};

/// Scans the compact object whose `{` is at `open`, pushing its members to
/// `out` and, when `SUMMARY`, folding their keys into `summary`. Returns the
/// offset just past the closing `}`, or `None` to hand over to the general
/// scanner (the caller then discards what was pushed).
#[inline(never)]
pub(super) fn scan_members_compact<const SUMMARY: bool>(
    input: &[u8],
    open: usize,
    max_depth: usize,
    out: &mut Vec<Member>,
    summary: &mut KeySummary,
) -> Option<usize> {
    if max_depth == 0 {
        return None;
    }
    let cur = &mut Cursor::new(input);
    let mut i = open + 1;
    match input.get(i)? {
        b'}' => return Some(i + 1),
        b'"' => {}
        _ => return None,
    }
    loop {
        // `i` is at the key's opening quote.
        let key_start = i;
        let (key_end, key_escaped) = string_end(cur, input, i)?;
        if input.get(key_end) != Some(&b':') {
            return None;
        }
        if SUMMARY {
            if key_escaped {
                summary.escaped = true;
            } else {
                // `key_bit` of the key's bytes between the quotes, from the
                // length and first byte at hand.
                let len = key_end - key_start - 2;
                let first = if len > 0 {
                    input.get(key_start + 1).copied().unwrap_or(0)
                } else {
                    0
                };
                let bit = 1u64 << ((len.wrapping_mul(7) + first as usize) & 63);
                summary.multi |= summary.bits & bit;
                summary.bits |= bit;
            }
        }
        let value_start = key_end + 1;
        let value_end = match *input.get(value_start)? {
            b'"' => string_end(cur, input, value_start)?.0,
            b'{' | b'[' => scan_container(cur, input, value_start, max_depth)?,
            b'-' | b'0'..=b'9' => number_end(input, value_start)?,
            _ => scan_scalar(input, value_start).ok()?,
        };
        out.push(Member {
            key: Span::new(key_start, key_end),
            value: Span::new(value_start, value_end),
            key_escaped,
        });
        match input.get(value_end)? {
            b',' => {}
            b'}' => return Some(value_end + 1),
            _ => return None,
        }
        i = value_end + 1;
        if input.get(i) != Some(&b'"') {
            return None;
        }
    }
}

/// A nested value at depth 2: a compact object of scalars directly, anything
/// else through the general nested scanner.
#[inline(always)]
fn scan_container(
    cur: &mut Cursor<'_>,
    input: &[u8],
    open: usize,
    max_depth: usize,
) -> Option<usize> {
    if max_depth >= 2
        && input.get(open) == Some(&b'{')
        && let Some(end) = scan_flat_object(cur, input, open)
    {
        return Some(end);
    }
    nested_general(input, open, max_depth)
}

/// The general nested scanner, out of the hot loop's way.
#[cold]
#[inline(never)]
fn nested_general(input: &[u8], open: usize, max_depth: usize) -> Option<usize> {
    scan_nested(input, open, 1, max_depth).ok()
}

/// The general scalar scanner for numbers the fast check leaves out.
#[cold]
#[inline(never)]
fn scalar_general(input: &[u8], start: usize) -> Option<usize> {
    scan_scalar(input, start).ok()
}

/// A compact object whose values are all scalars, `{` at `open`; `None` when
/// it is anything else (the caller then validates it the general way).
#[inline(always)]
fn scan_flat_object(cur: &mut Cursor<'_>, input: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    match input.get(i)? {
        b'}' => return Some(i + 1),
        b'"' => {}
        _ => return None,
    }
    loop {
        let (key_end, _) = string_end(cur, input, i)?;
        if input.get(key_end) != Some(&b':') {
            return None;
        }
        let value_start = key_end + 1;
        let value_end = match *input.get(value_start)? {
            b'"' => string_end(cur, input, value_start)?.0,
            b'{' | b'[' => return None,
            b'-' | b'0'..=b'9' => number_end(input, value_start)?,
            _ => scan_scalar(input, value_start).ok()?,
        };
        match input.get(value_end)? {
            b',' => {}
            b'}' => return Some(value_end + 1),
            _ => return None,
        }
        i = value_end + 1;
        if input.get(i) != Some(&b'"') {
            return None;
        }
    }
}

/// The string token whose opening quote is at `start`: the offset just past
/// its closing quote and whether it has escapes (as `scan_string`), or `None`
/// if it is invalid or unterminated.
#[inline(always)]
fn string_end(cur: &mut Cursor<'_>, input: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        let (at, is_quote) = cur.next_special(i)?;
        if is_quote {
            return Some((at + 1, escaped));
        }
        if input.get(at) != Some(&b'\\') {
            return None;
        }
        escaped = true;
        i = scan_escape(input, at).ok()?;
    }
}

/// Length of the run of ASCII digits at the start of `word` (little-endian
/// bytes), 0..=8, without a branch per digit.
#[inline(always)]
fn digit_run(word: u64) -> usize {
    const LOW4: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const HIGH4: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    const TENS: u64 = 0x1010_1010_1010_1010;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let t = word ^ 0x3030_3030_3030_3030;
    // A byte of `t` is a digit's value (0..=9) when its high nibble is 0 and
    // its low nibble plus 6 stays below 16; no carry crosses bytes.
    let not_digit = (t & HIGH4) | ((t & LOW4) + SIXES) & TENS;
    // High bit of each non-zero byte of `not_digit`, exactly.
    let marks = (((not_digit & LOW7) + LOW7) | not_digit) & HIGHS;
    (marks.trailing_zeros() >> 3) as usize
}

/// The number token at `start`: its end offset, or `None` if invalid. Integers
/// of up to 8 digits take a branch-free digit count; anything else (longer,
/// fraction, exponent, leading zero) is left to the general `scan_scalar`.
#[inline(always)]
fn number_end(input: &[u8], start: usize) -> Option<usize> {
    let digits = start + usize::from(input.get(start) == Some(&b'-'));
    let run = match input.get(digits..).and_then(|s| s.first_chunk::<8>()) {
        Some(word) => digit_run(u64::from_le_bytes(*word)),
        None => 0,
    };
    let end = digits + run;
    // A plain integer: 1..8 digits, no leading zero unless alone, and not
    // followed by a digit, a fraction or an exponent.
    let first_ok = run == 1 || input.get(digits) != Some(&b'0');
    if (1..8).contains(&run) && first_ok && !matches!(input.get(end), Some(b'.' | b'e' | b'E')) {
        return Some(end);
    }
    scalar_general(input, start)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn compact_lines_take_the_fast_path() {
        let line = br#"{"timestamp":"2025-08-20T10:30:45.123Z","level":"info","n":-1.5e3,"t":true,"e":"a\"b","context":{"caseId":456,"x":null},"metadata":{"ip":"192.168.1.100"},"a":[1,{"b":[]}]}"#;
        let mut out = Vec::new();
        let mut summary = KeySummary::default();
        let end = scan_members_compact::<true>(line, 0, 64, &mut out, &mut summary);
        assert_eq!(end, Some(line.len()));
        assert_eq!(out.len(), 8);
    }

    #[test]
    fn digit_runs() {
        for (text, run) in [
            (&b"12345678"[..], 8),
            (b"1234567,", 7),
            (b"0,......", 1),
            (b"9}......", 1),
            (b"/:......", 0),
            (b"12\xff45678", 2),
            (b"1\x00234567", 1),
            (b"123456 8", 6),
        ] {
            let word = u64::from_le_bytes(*text.first_chunk::<8>().unwrap());
            assert_eq!(digit_run(word), run, "{}", String::from_utf8_lossy(text));
        }
        // Every byte value in every lane.
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut w = *b"99999999";
                w[lane] = b;
                let want = if b.is_ascii_digit() { 8 } else { lane };
                assert_eq!(digit_run(u64::from_le_bytes(w)), want, "{b:#x} at {lane}");
            }
        }
    }
}
