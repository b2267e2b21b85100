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
use super::{KeySummary, Member, Span, key_bit, scan_escape, scan_nested, scan_scalar};

/// Scans the compact object whose `{` is at `open`, pushing its members to
/// `out` and, when `SUMMARY`, folding their keys into `summary`. Returns the
/// offset just past the closing `}`, or `None` to hand over to the general
/// scanner (the caller then discards what was pushed).
#[inline(always)]
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
                let key = input.get(key_start + 1..key_end - 1).unwrap_or(&[]);
                let bit = key_bit(key);
                summary.multi |= summary.bits & bit;
                summary.bits |= bit;
            }
        }
        let value_start = key_end + 1;
        let value_end = match *input.get(value_start)? {
            b'"' => string_end(cur, input, value_start)?.0,
            b'{' | b'[' => scan_container(cur, input, value_start, max_depth)?,
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
    scan_nested(input, open, 1, max_depth).ok()
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
}
