//! Zero-copy JSON object scanning for log lines.
//!
//! Log lines are usually one JSON object each. The agent never builds a value
//! tree for them: it validates the line once and records the byte ranges
//! ([`Span`]) of the top-level members ([`Member`]), so that later stages can
//! look up, replace or delete values by splicing the original bytes.
//!
//! Validation is strict RFC 8259 with one deliberate leniency: bytes `>= 0x80`
//! inside strings are accepted without UTF-8 validation, because logs carry
//! stray bytes. Output helpers ([`write_str`], [`write_lossy`]) replace invalid
//! UTF-8 with U+FFFD so that what the agent writes is always valid UTF-8 JSON.
//!
//! Nesting is checked with an explicit, fixed-size stack (no recursion, no
//! allocation), capped at [`MAX_DEPTH`] levels.
//!
//! [`scan_object`] first tries a fast path for compact lines (`compact`:
//! string ends from 64-byte quote/escape bitmasks computed with SSE2 on
//! x86_64 or SWAR elsewhere, branch-free integer digit runs, small nested
//! objects without the depth stack, the key summary folded in). It gives up on
//! anything else, including every invalid input, and the general scanner
//! below then decides, so both give identical results (tests compare them).

mod block;
mod compact;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Hard cap on the nesting depth the scanner tracks (objects + arrays, root
/// object = 1). It exists because the container stack is a fixed-size bitset on
/// the call stack, so that scanning never allocates and a hostile
/// `[[[[...` line can never overflow the stack; a `max_depth` above it is
/// clamped to it.
pub const MAX_DEPTH: usize = 1024;

/// Byte range into the scanned input; u32 because lines are capped far below 4 GiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte of the range.
    pub start: u32,
    /// Offset just past the last byte of the range.
    pub end: u32,
}

impl Span {
    /// Builds a span from `usize` offsets, so scanner code can stay in `usize`.
    /// Offsets above `u32::MAX` saturate; [`scan_object`] rejects such inputs
    /// up front, so this never happens for spans it produces.
    #[inline]
    #[must_use]
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end);
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The span as a range, for slicing the input it was taken from.
    #[inline]
    #[must_use]
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Number of bytes covered, for size accounting when splicing.
    #[inline]
    #[must_use]
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// True when the span covers no bytes (companion of [`Span::len`]).
    #[inline]
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }
}

/// One `"key": value` member of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The key token including its quotes.
    pub key: Span,
    /// The raw value token (string with its quotes, number, literal, or a whole nested object/array).
    pub value: Span,
    /// True when the key contains a backslash escape (so raw comparison is not enough).
    pub key_escaped: bool,
}

impl Member {
    /// Key bytes without the quotes (raw, still escaped if `key_escaped`), for
    /// cheap comparisons and for copying the key verbatim.
    /// Returns an empty slice if the span does not fit `input`.
    #[inline]
    #[must_use]
    pub fn key_raw<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        let start = self.key.start as usize + 1;
        let end = (self.key.end as usize).saturating_sub(1);
        input.get(start..end).unwrap_or(&[])
    }

    /// The raw value token, so callers need not slice with [`Span::range`] themselves.
    /// Returns an empty slice if the span does not fit `input`.
    #[inline]
    #[must_use]
    pub fn value_raw<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input.get(self.value.range()).unwrap_or(&[])
    }

    /// Compares the key to `name` (unescaping when `key_escaped`), so that a
    /// key written as `"\u006cevel"` still matches `level`. Never allocates.
    #[inline]
    #[must_use]
    pub fn key_eq(&self, input: &[u8], name: &[u8]) -> bool {
        let raw = self.key_raw(input);
        if !self.key_escaped {
            return raw == name;
        }
        let mut rest = name;
        let complete = decode_escaped(raw, |chunk| match rest.strip_prefix(chunk) {
            Some(tail) => {
                rest = tail;
                true
            }
            None => false,
        });
        complete && rest.is_empty()
    }
}

/// Why a line is not a usable JSON object; offsets are byte positions in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// The input ended inside a value (or was empty / only whitespace);
    /// `offset` is where more input was needed, i.e. the input length.
    Truncated {
        /// Byte position where the input ended.
        offset: usize,
    },
    /// A byte that the grammar does not allow at that position.
    Unexpected {
        /// Byte position of the offending byte.
        offset: usize,
        /// What the grammar wanted there, e.g. `"a string key"`, `"',' or '}'"`.
        expected: &'static str,
    },
    /// Objects and arrays nest deeper than the caller's limit.
    TooDeep {
        /// Byte position of the `{` or `[` that went one level too deep.
        offset: usize,
        /// The limit in force (after clamping to [`MAX_DEPTH`]).
        max_depth: usize,
    },
    /// The input starts a valid JSON value, but the top level is not an object.
    NotAnObject {
        /// Byte position of the first byte of that value.
        offset: usize,
    },
    /// Something other than whitespace follows the object's closing brace.
    TrailingData {
        /// Byte position of the first such byte.
        offset: usize,
    },
    /// The input is longer than the scanner can address (`u32` offsets).
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Truncated { offset } => {
                write!(f, "JSON input ends unexpectedly at byte {offset}")
            }
            JsonError::Unexpected { offset, expected } => {
                write!(f, "invalid JSON at byte {offset}: expected {expected}")
            }
            JsonError::TooDeep { offset, max_depth } => write!(
                f,
                "JSON nesting deeper than {max_depth} levels at byte {offset}"
            ),
            JsonError::NotAnObject { offset } => {
                write!(f, "JSON value at byte {offset} is not an object")
            }
            JsonError::TrailingData { offset } => {
                write!(f, "unexpected data after the JSON object at byte {offset}")
            }
            JsonError::TooLarge { len, max } => {
                write!(
                    f,
                    "JSON input of {len} bytes exceeds the limit of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// The JSON type of a raw value token, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `"..."`
    String,
    /// `-?[0-9]...`
    Number,
    /// `true` or `false`
    Bool,
    /// `null`
    Null,
    /// `{...}`
    Object,
    /// `[...]`
    Array,
}

/// Tells the JSON type of a raw value token (as recorded in [`Member::value`])
/// from its first byte, so stages can branch on type without parsing.
/// Returns `None` for an empty slice or a byte that cannot start a value.
#[inline]
#[must_use]
pub fn kind_of(raw: &[u8]) -> Option<Kind> {
    match raw.first()? {
        b'"' => Some(Kind::String),
        b'-' | b'0'..=b'9' => Some(Kind::Number),
        b't' | b'f' => Some(Kind::Bool),
        b'n' => Some(Kind::Null),
        b'{' => Some(Kind::Object),
        b'[' => Some(Kind::Array),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Scanner internals
// ---------------------------------------------------------------------------

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte lane of `x` that is `"`, `\` or < 0x20. Lanes
/// above the first true hit may be false positives (borrow propagation), but
/// the lowest set bit is always exact, which is all the callers use.
#[inline(always)]
fn string_special_mask(x: u64) -> u64 {
    let q = x ^ (ONES * u64::from(b'"'));
    let b = x ^ (ONES * u64::from(b'\\'));
    let has_q = q.wrapping_sub(ONES) & !q;
    let has_b = b.wrapping_sub(ONES) & !b;
    let has_c = x.wrapping_sub(ONES * 0x20) & !x;
    (has_q | has_b | has_c) & HIGHS
}

/// Bytes that end a run of plain string content: `"`, `\` and control bytes.
static STRING_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Position of the first `"`, `\` or control byte at or after `i`, if any.
#[inline(always)]
fn find_string_special(input: &[u8], mut i: usize) -> Option<usize> {
    // Most strings in logs are short (keys, levels, ids): one word first, so
    // they cost a single mask.
    if let Some(chunk) = input.get(i..).and_then(|s| s.first_chunk::<8>()) {
        let m = string_special_mask(u64::from_le_bytes(*chunk));
        if m != 0 {
            return Some(i + (m.trailing_zeros() >> 3) as usize);
        }
        i += 8;
        // Longer ones: two independent words per step (one branch per 16
        // bytes, the two masks computed in parallel).
        while let Some(chunk) = input.get(i..).and_then(|s| s.first_chunk::<16>()) {
            let both = u128::from_le_bytes(*chunk);
            let lo = string_special_mask(both as u64);
            let hi = string_special_mask((both >> 64) as u64);
            if lo | hi != 0 {
                let at = if lo != 0 {
                    lo.trailing_zeros() >> 3
                } else {
                    8 + (hi.trailing_zeros() >> 3)
                };
                return Some(i + at as usize);
            }
            i += 16;
        }
    }
    while let Some(chunk) = input.get(i..).and_then(|s| s.first_chunk::<8>()) {
        let m = string_special_mask(u64::from_le_bytes(*chunk));
        if m != 0 {
            return Some(i + (m.trailing_zeros() >> 3) as usize);
        }
        i += 8;
    }
    while let Some(&b) = input.get(i) {
        if STRING_SPECIAL[b as usize] {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[inline(always)]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline(always)]
fn skip_ws(input: &[u8], mut i: usize) -> usize {
    while let Some(&b) = input.get(i) {
        if !is_ws(b) {
            break;
        }
        i += 1;
    }
    i
}

#[inline(always)]
fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

#[inline(always)]
fn truncated(input: &[u8]) -> JsonError {
    JsonError::Truncated {
        offset: input.len(),
    }
}

/// Validates an escape sequence whose backslash is at `i`; returns the offset
/// just past it.
#[cold]
#[inline(never)]
fn scan_escape(input: &[u8], i: usize) -> Result<usize, JsonError> {
    match input.get(i + 1) {
        None => Err(truncated(input)),
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            for k in i + 2..i + 6 {
                match input.get(k) {
                    None => return Err(truncated(input)),
                    Some(&h) if is_hex(h) => {}
                    Some(_) => {
                        return Err(JsonError::Unexpected {
                            offset: k,
                            expected: "a hex digit",
                        });
                    }
                }
            }
            Ok(i + 6)
        }
        Some(_) => Err(JsonError::Unexpected {
            offset: i + 1,
            expected: "an escape character",
        }),
    }
}

/// Scans a string token whose opening quote is at `start`; returns the offset
/// just past the closing quote and whether it contained an escape.
#[inline(always)]
fn scan_string(input: &[u8], start: usize) -> Result<(usize, bool), JsonError> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        let Some(at) = find_string_special(input, i) else {
            return Err(truncated(input));
        };
        match input.get(at) {
            Some(b'"') => return Ok((at + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                i = scan_escape(input, at)?;
            }
            _ => {
                return Err(JsonError::Unexpected {
                    offset: at,
                    expected: "an escaped control character",
                });
            }
        }
    }
}

#[inline(always)]
fn skip_digits(input: &[u8], mut i: usize) -> usize {
    while let Some(b) = input.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        i += 1;
    }
    i
}

/// Requires at least one digit at `i`, then skips the run.
#[inline(always)]
fn require_digits(input: &[u8], i: usize) -> Result<usize, JsonError> {
    match input.get(i) {
        Some(b) if b.is_ascii_digit() => Ok(skip_digits(input, i + 1)),
        Some(_) => Err(JsonError::Unexpected {
            offset: i,
            expected: "a digit",
        }),
        None => Err(truncated(input)),
    }
}

/// Scans `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` starting at `i`.
#[inline(always)]
fn scan_number(input: &[u8], mut i: usize) -> Result<usize, JsonError> {
    if input.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match input.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => skip_digits(input, i + 1),
        Some(_) => {
            return Err(JsonError::Unexpected {
                offset: i,
                expected: "a digit",
            });
        }
        None => return Err(truncated(input)),
    };
    if input.get(i) == Some(&b'.') {
        i = require_digits(input, i + 1)?;
    }
    if matches!(input.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(input.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = require_digits(input, i)?;
    }
    Ok(i)
}

/// Checks the literal `lit` at `i` (whose first byte already matched).
#[inline(always)]
fn scan_literal(
    input: &[u8],
    i: usize,
    lit: &'static [u8],
    expected: &'static str,
) -> Result<usize, JsonError> {
    if input.get(i..i + lit.len()) == Some(lit) {
        return Ok(i + lit.len());
    }
    for (k, &want) in lit.iter().enumerate().skip(1) {
        match input.get(i + k) {
            None => return Err(truncated(input)),
            Some(&b) if b == want => {}
            Some(_) => {
                return Err(JsonError::Unexpected {
                    offset: i + k,
                    expected,
                });
            }
        }
    }
    Ok(i + lit.len())
}

/// Scans a scalar (string, number, literal) starting exactly at `i`.
#[inline(always)]
fn scan_scalar(input: &[u8], i: usize) -> Result<usize, JsonError> {
    match input.get(i) {
        Some(b'"') => scan_string(input, i).map(|(end, _)| end),
        Some(b'-' | b'0'..=b'9') => scan_number(input, i),
        Some(b't') => scan_literal(input, i, b"true", "'true'"),
        Some(b'f') => scan_literal(input, i, b"false", "'false'"),
        Some(b'n') => scan_literal(input, i, b"null", "'null'"),
        Some(_) => Err(JsonError::Unexpected {
            offset: i,
            expected: "a value",
        }),
        None => Err(truncated(input)),
    }
}

/// Fixed-size bitset recording, per nesting level, whether the container is
/// an object (bit set) or an array.
struct DepthStack([u64; MAX_DEPTH / 64]);

impl DepthStack {
    #[inline(always)]
    fn set(&mut self, depth: usize, is_object: bool) {
        let (w, b) = (depth / 64, depth % 64);
        if let Some(word) = self.0.get_mut(w) {
            if is_object {
                *word |= 1 << b;
            } else {
                *word &= !(1 << b);
            }
        }
    }

    #[inline(always)]
    fn is_object(&self, depth: usize) -> bool {
        let (w, b) = (depth / 64, depth % 64);
        self.0.get(w).is_some_and(|word| word & (1 << b) != 0)
    }
}

/// Scans a key string at `i` (which must be `"`), the `:` and the whitespace
/// after it; returns (key end, key escaped, value start).
#[inline(always)]
fn scan_key_colon(input: &[u8], i: usize) -> Result<(usize, bool, usize), JsonError> {
    match input.get(i) {
        Some(b'"') => {}
        Some(_) => {
            return Err(JsonError::Unexpected {
                offset: i,
                expected: "a string key",
            });
        }
        None => return Err(truncated(input)),
    }
    let (key_end, escaped) = scan_string(input, i)?;
    let mut j = key_end;
    if input.get(j) != Some(&b':') {
        j = skip_ws(input, j);
        match input.get(j) {
            Some(b':') => {}
            Some(_) => {
                return Err(JsonError::Unexpected {
                    offset: j,
                    expected: "':'",
                });
            }
            None => return Err(truncated(input)),
        }
    }
    Ok((key_end, escaped, skip_ws(input, j + 1)))
}

/// Validates the object or array whose opening bracket is at `i`, nested at
/// `base_depth + 1` (the enclosing container is at `base_depth`). Iterative:
/// the only state is a fixed bitset, so hostile nesting cannot overflow the
/// call stack. Returns the offset just past the closing bracket.
#[inline(never)]
fn scan_nested(
    input: &[u8],
    mut i: usize,
    base_depth: usize,
    max_depth: usize,
) -> Result<usize, JsonError> {
    let mut stack = DepthStack([0; MAX_DEPTH / 64]);
    let mut depth = base_depth;
    'value: loop {
        // `i` is at the first byte of a value (whitespace already skipped).
        match input.get(i) {
            Some(&open @ (b'{' | b'[')) => {
                if depth >= max_depth {
                    return Err(JsonError::TooDeep {
                        offset: i,
                        max_depth,
                    });
                }
                let is_object = open == b'{';
                stack.set(depth, is_object);
                depth += 1;
                i = skip_ws(input, i + 1);
                let close = if is_object { b'}' } else { b']' };
                match input.get(i) {
                    None => return Err(truncated(input)),
                    Some(&b) if b == close => {
                        i += 1;
                        depth -= 1;
                        if depth == base_depth {
                            return Ok(i);
                        }
                    }
                    Some(b'"') if is_object => {
                        (_, _, i) = scan_key_colon(input, i)?;
                        continue 'value;
                    }
                    Some(_) if is_object => {
                        return Err(JsonError::Unexpected {
                            offset: i,
                            expected: "a string key or '}'",
                        });
                    }
                    Some(_) => continue 'value,
                }
            }
            Some(_) => i = scan_scalar(input, i)?,
            None => return Err(truncated(input)),
        }
        // After a complete value inside the container at `depth`.
        loop {
            i = skip_ws(input, i);
            let is_object = stack.is_object(depth - 1);
            match input.get(i) {
                Some(b',') => {
                    i = skip_ws(input, i + 1);
                    if is_object {
                        (_, _, i) = scan_key_colon(input, i)?;
                    }
                    continue 'value;
                }
                Some(b'}') if is_object => {}
                Some(b']') if !is_object => {}
                Some(_) => {
                    return Err(JsonError::Unexpected {
                        offset: i,
                        expected: if is_object {
                            "',' or '}'"
                        } else {
                            "',' or ']'"
                        },
                    });
                }
                None => return Err(truncated(input)),
            }
            i += 1;
            depth -= 1;
            if depth == base_depth {
                return Ok(i);
            }
        }
    }
}

/// Scans any value starting exactly at `i`, inside a container at depth `depth`.
#[inline(always)]
fn scan_value(input: &[u8], i: usize, depth: usize, max_depth: usize) -> Result<usize, JsonError> {
    match input.get(i) {
        Some(b'"') => scan_string(input, i).map(|(end, _)| end),
        Some(b'{' | b'[') => scan_nested(input, i, depth, max_depth),
        _ => scan_scalar(input, i),
    }
}

/// Validates the object whose `{` is at `open` and reports each top-level
/// member to `sink`; `sink` returning `false` stops early (`Ok(None)`).
/// Otherwise returns the offset just past the closing `}`.
#[inline(always)]
fn scan_members<F: FnMut(Member) -> bool>(
    input: &[u8],
    open: usize,
    max_depth: usize,
    mut sink: F,
) -> Result<Option<usize>, JsonError> {
    if max_depth == 0 {
        return Err(JsonError::TooDeep {
            offset: open,
            max_depth,
        });
    }
    let mut i = skip_ws(input, open + 1);
    match input.get(i) {
        Some(b'}') => return Ok(Some(i + 1)),
        Some(b'"') => {}
        Some(_) => {
            return Err(JsonError::Unexpected {
                offset: i,
                expected: "a string key or '}'",
            });
        }
        None => return Err(truncated(input)),
    }
    loop {
        let key_start = i;
        let (key_end, key_escaped, value_start) = scan_key_colon(input, i)?;
        let value_end = scan_value(input, value_start, 1, max_depth)?;
        let member = Member {
            key: Span::new(key_start, key_end),
            value: Span::new(value_start, value_end),
            key_escaped,
        };
        if !sink(member) {
            return Ok(None);
        }
        i = value_end;
        // Fast path for compact JSON: the separator follows immediately.
        let mut sep = input.get(i);
        if !matches!(sep, Some(b',' | b'}')) {
            i = skip_ws(input, i);
            sep = input.get(i);
        }
        match sep {
            Some(b',') => {
                i += 1;
                if input.get(i) != Some(&b'"') {
                    i = skip_ws(input, i);
                }
            }
            Some(b'}') => return Ok(Some(i + 1)),
            Some(_) => {
                return Err(JsonError::Unexpected {
                    offset: i,
                    expected: "',' or '}'",
                });
            }
            None => return Err(truncated(input)),
        }
    }
}

/// Validates that `input` is exactly one JSON object (optionally surrounded by
/// JSON whitespace) and pushes its top-level members, in order, into `out`
/// (not cleared first: the caller owns the arena). This is the agent's single
/// pass over each line: afterwards stages work on byte ranges only.
///
/// Returns the span of the object from `{` to just past `}`. `max_depth`
/// bounds nesting of objects + arrays (the root object is depth 1) and is
/// clamped to [`MAX_DEPTH`]; deeper input gives [`JsonError::TooDeep`]. No
/// recursion and no allocation besides pushing to `out`. On error, `out` is
/// truncated back to its length on entry.
///
/// # Errors
///
/// Any [`JsonError`]: the input ending early (including empty or
/// whitespace-only input) is [`JsonError::Truncated`]; inputs longer than
/// `u32::MAX` bytes are [`JsonError::TooLarge`].
pub fn scan_object(
    input: &[u8],
    max_depth: usize,
    out: &mut Vec<Member>,
) -> Result<Span, JsonError> {
    scan_object_with::<false>(input, max_depth, out, true).map(|(span, _)| span)
}

/// [`scan_object`] and [`scan_object_summarized`]: the length check, the
/// clamp, and `out` restored on error. `fast` false skips the compact fast
/// path (tests compare both paths).
#[inline(always)]
fn scan_object_with<const SUMMARY: bool>(
    input: &[u8],
    max_depth: usize,
    out: &mut Vec<Member>,
    fast: bool,
) -> Result<(Span, KeySummary), JsonError> {
    if input.len() > u32::MAX as usize {
        return Err(JsonError::TooLarge {
            len: input.len(),
            max: u32::MAX as usize,
        });
    }
    let max_depth = max_depth.min(MAX_DEPTH);
    let entry_len = out.len();
    let result = scan_object_inner::<SUMMARY>(input, max_depth, out, fast);
    if result.is_err() {
        out.truncate(entry_len);
    }
    result
}

/// The 64-bit Bloom filter bit of an object key (its bytes between the
/// quotes), from its length and first byte: cheap enough to compute while
/// scanning, and good enough to tell most absent keys apart.
#[inline(always)]
#[must_use]
pub fn key_bit(key: &[u8]) -> u64 {
    let first = key.first().copied().unwrap_or(0) as usize;
    1u64 << ((key.len().wrapping_mul(7) + first) & 63)
}

/// Top-level keys of a scanned object summarized for lookups (see
/// [`scan_object_summarized`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeySummary {
    /// The [`key_bit`]s of every key.
    pub bits: u64,
    /// The bits set by more than one key (only those keys can be duplicated).
    pub multi: u64,
    /// Some key has escapes (its raw bytes are not its name).
    pub escaped: bool,
}

/// [`scan_object`] that also summarizes the top-level keys while they are in
/// cache, so later lookups of absent fields need no member scan.
///
/// # Errors
///
/// As [`scan_object`].
pub fn scan_object_summarized(
    input: &[u8],
    max_depth: usize,
    out: &mut Vec<Member>,
) -> Result<(Span, KeySummary), JsonError> {
    scan_object_with::<true>(input, max_depth, out, true)
}

/// The summary of `members` (keys in `input`), for the general path; the
/// compact fast path folds the same computation into its scan.
fn summarize(input: &[u8], members: &[Member]) -> KeySummary {
    let mut summary = KeySummary::default();
    for m in members {
        if m.key_escaped {
            summary.escaped = true;
            continue;
        }
        let bit = key_bit(m.key_raw(input));
        summary.multi |= summary.bits & bit;
        summary.bits |= bit;
    }
    summary
}

#[inline(always)]
fn scan_object_inner<const SUMMARY: bool>(
    input: &[u8],
    max_depth: usize,
    out: &mut Vec<Member>,
    fast: bool,
) -> Result<(Span, KeySummary), JsonError> {
    let open = skip_ws(input, 0);
    match input.get(open) {
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(JsonError::NotAnObject { offset: open });
        }
        Some(_) => {
            return Err(JsonError::Unexpected {
                offset: open,
                expected: "'{'",
            });
        }
        None => return Err(truncated(input)),
    }
    let entry_len = out.len();
    let mut summary = KeySummary::default();
    let compact = if fast {
        compact::scan_members_compact::<SUMMARY>(input, open, max_depth, out, &mut summary)
    } else {
        None
    };
    let end = match compact {
        Some(end) => end,
        None => {
            // Not the compact shape (or invalid): the general scanner decides.
            out.truncate(entry_len);
            let end = scan_members(input, open, max_depth, |m| {
                out.push(m);
                true
            })?
            .unwrap_or(input.len());
            if SUMMARY {
                summary = summarize(input, &out[entry_len..]);
            }
            end
        }
    };
    let trailing = skip_ws(input, end);
    if trailing != input.len() {
        return Err(JsonError::TrailingData { offset: trailing });
    }
    Ok((Span::new(open, end), summary))
}

/// Checks that `object` fits `input` and starts with `{`; returns the input
/// cut at the span's end, so scanning cannot run past it.
fn object_bounds(input: &[u8], object: Span) -> Result<&[u8], JsonError> {
    let (start, end) = (object.start as usize, object.end as usize);
    if start > end || end > input.len() {
        return Err(JsonError::NotAnObject { offset: start });
    }
    let bounded = &input[..end];
    match bounded.get(start) {
        Some(b'{') => Ok(bounded),
        Some(_) => Err(JsonError::NotAnObject { offset: start }),
        None => Err(truncated(bounded)),
    }
}

/// Lists the members of an already-validated object whose raw text is
/// `input[object]` (absolute offsets), for nested path lookups like
/// `metadata.ip`. The object is re-validated (cheaply) so a wrong span gives
/// an error rather than garbage. On error `out` is truncated back to its
/// length on entry.
///
/// # Errors
///
/// `Err` if `input[object]` is not exactly one valid object; a span not
/// fitting `input` or not starting at `{` is [`JsonError::NotAnObject`].
pub fn object_members(input: &[u8], object: Span, out: &mut Vec<Member>) -> Result<(), JsonError> {
    let bounded = object_bounds(input, object)?;
    let entry_len = out.len();
    let result = scan_members(bounded, object.start as usize, MAX_DEPTH, |m| {
        out.push(m);
        true
    })
    .and_then(|end| match end {
        Some(end) if end == bounded.len() => Ok(()),
        Some(end) => Err(JsonError::TrailingData { offset: end }),
        None => Ok(()),
    });
    if result.is_err() {
        out.truncate(entry_len);
    }
    result
}

/// Finds the member named `name` in the validated object `input[object]`
/// without allocating, for single-field lookups (routing on `level`, nested
/// `metadata.ip`). With duplicate keys the first occurrence wins; scanning
/// stops there. Returns `None` if absent or if the span is not a valid object
/// (up to the match).
#[must_use]
pub fn find_member(input: &[u8], object: Span, name: &[u8]) -> Option<Member> {
    let bounded = object_bounds(input, object).ok()?;
    let mut found = None;
    scan_members(bounded, object.start as usize, MAX_DEPTH, |m| {
        if m.key_eq(bounded, name) {
            found = Some(m);
            false
        } else {
            true
        }
    })
    .ok()?;
    found
}

/// Lists the element spans of the array `input[array]` (absolute offsets), for
/// paths into arrays (`users.0.email`, `users.*.email`). The elements are
/// validated on the way; on error `out` is truncated back to its length on entry.
///
/// # Errors
///
/// `Err` if `input[array]` is not exactly one valid array.
pub fn array_elements(input: &[u8], array: Span, out: &mut Vec<Span>) -> Result<(), JsonError> {
    let (start, end) = (array.start as usize, array.end as usize);
    if start >= end || end > input.len() || input[start] != b'[' {
        return Err(JsonError::Unexpected {
            offset: start,
            expected: "'['",
        });
    }
    let bounded = &input[..end];
    let entry_len = out.len();
    let result = (|| {
        let mut i = skip_ws(bounded, start + 1);
        if bounded.get(i) == Some(&b']') {
            return Ok(());
        }
        loop {
            let value_end = scan_value(bounded, i, 1, MAX_DEPTH)?;
            out.push(Span::new(i, value_end));
            i = skip_ws(bounded, value_end);
            match bounded.get(i) {
                Some(b',') => i = skip_ws(bounded, i + 1),
                Some(b']') if i + 1 == end => return Ok(()),
                Some(_) => {
                    return Err(JsonError::Unexpected {
                        offset: i,
                        expected: "',' or ']'",
                    });
                }
                None => return Err(truncated(bounded)),
            }
        }
    })();
    if result.is_err() {
        out.truncate(entry_len);
    }
    result
}

// ---------------------------------------------------------------------------
// String decoding
// ---------------------------------------------------------------------------

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

fn hex4(b: &[u8]) -> Option<u32> {
    let digits = b.get(..4)?;
    let mut v = 0u32;
    for &d in digits {
        v = (v << 4) | char::from(d).to_digit(16)?;
    }
    Some(v)
}

/// Decodes the content of a string token (between the quotes) and feeds the
/// decoded bytes to `emit` in chunks; stops and returns `false` as soon as
/// `emit` does or an escape is malformed.
fn decode_escaped(mut s: &[u8], mut emit: impl FnMut(&[u8]) -> bool) -> bool {
    loop {
        let Some(bs) = memchr::memchr(b'\\', s) else {
            return s.is_empty() || emit(s);
        };
        if bs > 0 && !emit(&s[..bs]) {
            return false;
        }
        let Some(&esc) = s.get(bs + 1) else {
            return false;
        };
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return false,
        };
        if let Some(byte) = simple {
            if !emit(&[byte]) {
                return false;
            }
            s = &s[bs + 2..];
            continue;
        }
        let Some(hi) = s.get(bs + 2..).and_then(hex4) else {
            return false;
        };
        let mut consumed = 6;
        let cp = match hi {
            0xD800..=0xDBFF => {
                let lo = match s.get(bs + 6..bs + 8) {
                    Some(b"\\u") => s.get(bs + 8..).and_then(hex4),
                    _ => None,
                };
                match lo {
                    Some(lo @ 0xDC00..=0xDFFF) => {
                        consumed = 12;
                        0x1_0000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    _ => 0xFFFD,
                }
            }
            0xDC00..=0xDFFF => 0xFFFD,
            other => other,
        };
        let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        if !emit(c.encode_utf8(&mut buf).as_bytes()) {
            return false;
        }
        s = &s[bs + consumed..];
    }
}

/// Decodes a raw JSON string token (with quotes) into its bytes: `Borrowed`
/// when there are no escapes, so the common case costs no allocation.
/// `\uXXXX` including surrogate pairs decode to UTF-8; a lone surrogate
/// becomes U+FFFD. Bytes `>= 0x80` pass through unchanged (they may not be
/// valid UTF-8). Returns `None` if `raw` is not exactly one valid string token.
#[must_use]
pub fn decode_str(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    if raw.first() != Some(&b'"') {
        return None;
    }
    let (end, escaped) = scan_string(raw, 0).ok()?;
    if end != raw.len() {
        return None;
    }
    let inner = &raw[1..end - 1];
    if !escaped {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = Vec::with_capacity(inner.len());
    let ok = decode_escaped(inner, |chunk| {
        out.extend_from_slice(chunk);
        true
    });
    ok.then_some(Cow::Owned(out))
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Escapes valid UTF-8 `s` into `out` (no quotes added).
#[inline]
fn write_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let mut run = 0;
    while let Some(at) = find_string_special(s, run) {
        out.extend_from_slice(&s[run..at]);
        let b = s[at];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        run = at + 1;
    }
    out.extend_from_slice(&s[run..]);
}

/// Appends `s` to `out` as a JSON string with quotes, for writing arbitrary
/// bytes (replacement values, enrichment fields) into a JSON line. Escapes
/// `"`, `\` and control bytes (`\n \r \t \b \f`, others `\u00XX`) and replaces
/// invalid UTF-8 sequences with U+FFFD (same policy as
/// `String::from_utf8_lossy`), so output is always valid JSON and UTF-8.
/// Runs of safe bytes are copied in bulk.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    if simdutf8::basic::from_utf8(s).is_ok() {
        write_escaped(out, s);
    } else {
        for chunk in s.utf8_chunks() {
            write_escaped(out, chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                out.extend_from_slice(REPLACEMENT);
            }
        }
    }
    out.push(b'"');
}

/// Appends `s` (a span of JSON text already validated) to `out`, replacing
/// invalid UTF-8 sequences with U+FFFD, so that a line with stray bytes inside
/// its strings (accepted by [`scan_object`]) is still written as valid UTF-8
/// JSON. If `s` is valid UTF-8 this is a single copy.
pub fn write_lossy(out: &mut Vec<u8>, s: &[u8]) {
    if simdutf8::basic::from_utf8(s).is_ok() {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(s.len() + 8);
    for chunk in s.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(REPLACEMENT);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lists_array_elements() {
        let line = br#"{"a":[1, "x,]", {"b":[2]} ,[]],"e":[]}"#;
        let mut members = Vec::new();
        scan_object(line, 8, &mut members).unwrap();
        let mut elems = Vec::new();
        array_elements(line, members[0].value, &mut elems).unwrap();
        let texts: Vec<&[u8]> = elems.iter().map(|s| &line[s.range()]).collect();
        assert_eq!(texts, [&b"1"[..], b"\"x,]\"", br#"{"b":[2]}"#, b"[]"]);
        elems.clear();
        array_elements(line, members[1].value, &mut elems).unwrap();
        assert!(elems.is_empty());
        assert!(array_elements(line, members[0].key, &mut elems).is_err());
    }
    use serde_json::{Map, Value};

    const LINE: &[u8] = br#"{"timestamp":"2025-08-20T10:30:45.123Z","level":"info","message":"UseCase executed","service":"api","userId":123,"context":{"caseId":456},"metadata":{"ip":"192.168.1.100"}}"#;

    fn scan(input: &[u8]) -> Result<Vec<Member>, JsonError> {
        let mut out = Vec::new();
        scan_object(input, MAX_DEPTH, &mut out).map(|_| out)
    }

    fn err(input: &[u8]) -> JsonError {
        scan(input).unwrap_err()
    }

    fn unexpected(offset: usize, expected: &'static str) -> JsonError {
        JsonError::Unexpected { offset, expected }
    }

    /// (raw key without quotes, raw value) pairs, for compact assertions.
    fn pairs(input: &[u8]) -> Vec<(String, String)> {
        scan(input)
            .unwrap()
            .iter()
            .map(|m| {
                (
                    String::from_utf8_lossy(m.key_raw(input)).into_owned(),
                    String::from_utf8_lossy(&input[m.value.range()]).into_owned(),
                )
            })
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    // ---- Span / Member basics ------------------------------------------------

    #[test]
    fn span_basics() {
        let s = Span::new(3, 7);
        assert_eq!(s, Span { start: 3, end: 7 });
        assert_eq!(s.range(), 3..7);
        assert_eq!(s.len(), 4);
        assert!(!s.is_empty());
        assert!(Span::new(5, 5).is_empty());
        assert!(Span::default().is_empty());
        assert_eq!(Span::default().len(), 0);
    }

    #[test]
    fn realistic_line() {
        let mut out = Vec::new();
        let span = scan_object(LINE, 64, &mut out).unwrap();
        assert_eq!(span, Span::new(0, LINE.len()));
        assert_eq!(
            pairs(LINE),
            vec![
                p("timestamp", r#""2025-08-20T10:30:45.123Z""#),
                p("level", r#""info""#),
                p("message", r#""UseCase executed""#),
                p("service", r#""api""#),
                p("userId", "123"),
                p("context", r#"{"caseId":456}"#),
                p("metadata", r#"{"ip":"192.168.1.100"}"#),
            ]
        );
        assert!(out.iter().all(|m| !m.key_escaped));
        assert_eq!(out[0].key, Span::new(1, 12));
        assert_eq!(out[0].value_raw(LINE), br#""2025-08-20T10:30:45.123Z""#);
        assert_eq!(kind_of(out[4].value_raw(LINE)), Some(Kind::Number));
        assert_eq!(kind_of(out[5].value_raw(LINE)), Some(Kind::Object));
    }

    #[test]
    fn empty_object_and_whitespace() {
        assert_eq!(scan(b"{}").unwrap(), vec![]);
        let mut out = Vec::new();
        assert_eq!(
            scan_object(b" \t\r\n{ \n }\r\n ", 8, &mut out),
            Ok(Span::new(4, 9))
        );
        assert!(out.is_empty());
        let input = b" { \"a\" :\t1 ,\n\"b\" : [ 1 , { } , [ ] ] , \"c\" : { \"d\" : null } } \n";
        assert_eq!(
            pairs(input),
            vec![
                p("a", "1"),
                p("b", "[ 1 , { } , [ ] ]"),
                p("c", r#"{ "d" : null }"#)
            ]
        );
        let mut out = Vec::new();
        assert_eq!(
            scan_object(input, 8, &mut out),
            Ok(Span::new(1, input.len() - 2))
        );
    }

    #[test]
    fn all_value_kinds() {
        let input = br#"{"s":"x","n":-1.5e+3,"z":0,"t":true,"f":false,"u":null,"o":{"a":[1,{"b":[]}]},"a":[[],[{}],"]"]}"#;
        assert_eq!(
            pairs(input),
            vec![
                p("s", r#""x""#),
                p("n", "-1.5e+3"),
                p("z", "0"),
                p("t", "true"),
                p("f", "false"),
                p("u", "null"),
                p("o", r#"{"a":[1,{"b":[]}]}"#),
                p("a", r#"[[],[{}],"]"]"#),
            ]
        );
        let kinds: Vec<_> = scan(input)
            .unwrap()
            .iter()
            .map(|m| kind_of(m.value_raw(input)).unwrap())
            .collect();
        use Kind::*;
        assert_eq!(
            kinds,
            vec![String, Number, Number, Bool, Bool, Null, Object, Array]
        );
        assert_eq!(kind_of(b""), None);
        assert_eq!(kind_of(b" 1"), None);
        assert_eq!(kind_of(b"x"), None);
    }

    #[test]
    fn numbers_accepted() {
        for n in [
            "0",
            "-0",
            "1",
            "-1",
            "10",
            "123456789012345678901234567890",
            "0.5",
            "-0.0",
            "1e5",
            "1E5",
            "1e+5",
            "1e-5",
            "1.25E-007",
            "0e0",
        ] {
            let line = format!(r#"{{"n":{n}}}"#);
            assert_eq!(pairs(line.as_bytes()), vec![p("n", n)], "{n}");
        }
    }

    #[test]
    fn duplicate_keys_recorded_in_order() {
        let input = br#"{"a":1,"b":2,"a":3}"#;
        assert_eq!(pairs(input), vec![p("a", "1"), p("b", "2"), p("a", "3")]);
        let obj = Span::new(0, input.len());
        assert_eq!(
            find_member(input, obj, b"a").unwrap().value_raw(input),
            b"1"
        );
    }

    #[test]
    fn escapes_in_strings_and_keys() {
        let input = br#"{"\u006cevel":"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00","a\"b":1,"plain":2,"\ud83d\ude00":3,"\\":4}"#;
        let members = scan(input).unwrap();
        assert_eq!(members.len(), 5);
        assert!(members[0].key_escaped);
        assert!(members[1].key_escaped);
        assert!(!members[2].key_escaped);
        assert!(members[3].key_escaped);
        assert!(members[4].key_escaped);
        assert_eq!(members[0].key_raw(input), br"\u006cevel");
        assert!(members[0].key_eq(input, b"level"));
        assert!(!members[0].key_eq(input, b"leve"));
        assert!(!members[0].key_eq(input, b"levels"));
        assert!(!members[0].key_eq(input, br"\u006cevel"));
        assert!(members[1].key_eq(input, b"a\"b"));
        assert!(members[2].key_eq(input, b"plain"));
        assert!(!members[2].key_eq(input, b"plai"));
        assert!(members[3].key_eq(input, "😀".as_bytes()));
        assert!(members[4].key_eq(input, b"\\"));
        assert_eq!(
            decode_str(members[0].value_raw(input)).unwrap().as_ref(),
            "a\"b\\c/d\u{8}\u{c}\n\r\té😀".as_bytes()
        );
        let obj = Span::new(0, input.len());
        assert_eq!(find_member(input, obj, b"level"), Some(members[0]));
        assert_eq!(find_member(input, obj, "😀".as_bytes()), Some(members[3]));
        assert_eq!(find_member(input, obj, b"\\"), Some(members[4]));
    }

    #[test]
    fn stray_high_bytes_accepted_in_strings() {
        let input = b"{\"k\xff\":\"v\xc3\x28\x80\"}";
        let members = scan(input).unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].key_raw(input), b"k\xff");
        assert_eq!(
            decode_str(members[0].value_raw(input)).unwrap().as_ref(),
            b"v\xc3\x28\x80"
        );
        // ...but not outside strings.
        assert_eq!(err(b"{\"a\":\xff}"), unexpected(5, "a value"));
    }

    // ---- errors ------------------------------------------------------------

    #[test]
    fn truncated_errors() {
        for input in [
            &b""[..],
            b"  \n",
            b"{",
            b"{ ",
            b"{\"",
            b"{\"a",
            b"{\"a\"",
            b"{\"a\" ",
            b"{\"a\":",
            b"{\"a\": ",
            b"{\"a\":\"b",
            b"{\"a\":\"b\\",
            b"{\"a\":\"b\\u",
            b"{\"a\":\"b\\u12",
            b"{\"a\":1",
            b"{\"a\":1 ",
            b"{\"a\":-",
            b"{\"a\":1.",
            b"{\"a\":1e",
            b"{\"a\":1e-",
            b"{\"a\":t",
            b"{\"a\":fals",
            b"{\"a\":nul",
            b"{\"a\":1,",
            b"{\"a\":1, ",
            b"{\"a\":[",
            b"{\"a\":[1",
            b"{\"a\":[1,",
            b"{\"a\":{",
            b"{\"a\":{\"b\"",
            b"{\"a\":{\"b\":",
            b"{\"a\":{\"b\":[]",
            b"{\"a\":{\"b\":[]}",
        ] {
            assert_eq!(
                err(input),
                JsonError::Truncated {
                    offset: input.len()
                },
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn unexpected_errors() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"x", 0, "'{'"),
            (b"  }", 2, "'{'"),
            (b"{a:1}", 1, "a string key or '}'"),
            (b"{,}", 1, "a string key or '}'"),
            (b"{\"a\" 1}", 5, "':'"),
            (b"{\"a\"}", 4, "':'"),
            (b"{\"a\":}", 5, "a value"),
            (b"{\"a\":x}", 5, "a value"),
            (b"{\"a\":+1}", 5, "a value"),
            (b"{\"a\":'x'}", 5, "a value"),
            (b"{\"a\":1 \"b\":2}", 7, "',' or '}'"),
            (b"{\"a\":1]", 6, "',' or '}'"),
            (b"{\"a\":1,}", 7, "a string key"),
            (b"{\"a\":1,,}", 7, "a string key"),
            (b"{\"a\":01}", 6, "',' or '}'"),
            (b"{\"a\":1.}", 7, "a digit"),
            (b"{\"a\":.5}", 5, "a value"),
            (b"{\"a\":-x}", 6, "a digit"),
            (b"{\"a\":1e+}", 8, "a digit"),
            (b"{\"a\":1ex}", 7, "a digit"),
            (b"{\"a\":tru}", 8, "'true'"),
            (b"{\"a\":fxlse}", 6, "'false'"),
            (b"{\"a\":nil}", 6, "'null'"),
            (b"{\"a\":\"\\x\"}", 7, "an escape character"),
            (b"{\"a\\'\":1}", 4, "an escape character"),
            (b"{\"a\":\"\\u12g4\"}", 10, "a hex digit"),
            (b"{\"a\":\"\\uZ\"}", 8, "a hex digit"),
            (b"{\"a\":\"x\ny\"}", 7, "an escaped control character"),
            (b"{\"a\":\"\x00\"}", 6, "an escaped control character"),
            (b"{\"a\x1f\":1}", 3, "an escaped control character"),
            (b"{\"a\":[1,]}", 8, "a value"),
            (b"{\"a\":[,1]}", 6, "a value"),
            (b"{\"a\":[1 2]}", 8, "',' or ']'"),
            (b"{\"a\":[1}", 7, "',' or ']'"),
            (b"{\"a\":{\"b\":1]}", 11, "',' or '}'"),
            (b"{\"a\":{1:2}}", 6, "a string key or '}'"),
            (b"{\"a\":{\"b\":1,}}", 12, "a string key"),
            (b"{\"a\":{\"b\" 1}}", 10, "':'"),
            (b"{\"a\":[\"x\ty\"]}", 8, "an escaped control character"),
            (b"\xef\xbb\xbf{}", 0, "'{'"),
        ];
        for &(input, offset, expected) in cases {
            assert_eq!(
                err(input),
                unexpected(offset, expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn not_an_object() {
        for (input, offset) in [
            (&b"[1]"[..], 0),
            (b"  \"x\"", 2),
            (b"123", 0),
            (b"-1", 0),
            (b"\ntrue", 1),
            (b"false", 0),
            (b"null", 0),
            (b"[", 0),
        ] {
            assert_eq!(err(input), JsonError::NotAnObject { offset });
        }
    }

    #[test]
    fn trailing_data() {
        assert_eq!(err(b"{} x"), JsonError::TrailingData { offset: 3 });
        assert_eq!(err(b"{}{}"), JsonError::TrailingData { offset: 2 });
        assert_eq!(err(b"{\"a\":1}}"), JsonError::TrailingData { offset: 7 });
        assert_eq!(err(b"{}\n\0"), JsonError::TrailingData { offset: 3 });
        assert_eq!(err(b" {} \x0b"), JsonError::TrailingData { offset: 4 });
    }

    #[test]
    fn too_deep() {
        let mut out = Vec::new();
        assert_eq!(
            scan_object(b"{}", 0, &mut out),
            Err(JsonError::TooDeep {
                offset: 0,
                max_depth: 0
            })
        );
        assert_eq!(scan_object(b" {}", 1, &mut out), Ok(Span::new(1, 3)));
        assert_eq!(
            scan_object(b"{\"a\":{}}", 1, &mut out),
            Err(JsonError::TooDeep {
                offset: 5,
                max_depth: 1
            })
        );
        assert!(scan_object(b"{\"a\":[[1]]}", 3, &mut out).is_ok());
        assert_eq!(
            scan_object(b"{\"a\":[[1]]}", 2, &mut out),
            Err(JsonError::TooDeep {
                offset: 6,
                max_depth: 2
            })
        );
        assert_eq!(
            scan_object(b"{\"a\":[{},{\"b\":[]}]}", 3, &mut out),
            Err(JsonError::TooDeep {
                offset: 14,
                max_depth: 3
            })
        );
        // Depth is tracked correctly across siblings.
        assert!(scan_object(b"{\"a\":[[1],[2],[[]]],\"b\":[[3]]}", 4, &mut out).is_ok());
        // Exactly MAX_DEPTH levels fit; one more does not, whatever the caller asks.
        let ok = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(scan_object(ok.as_bytes(), usize::MAX, &mut out).is_ok());
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(
            scan_object(deep.as_bytes(), usize::MAX, &mut out),
            Err(JsonError::TooDeep {
                offset: 5 + MAX_DEPTH - 1,
                max_depth: MAX_DEPTH
            })
        );
    }

    #[test]
    fn million_brackets_is_too_deep_without_stack_overflow() {
        let mut input = b"{\"a\":".to_vec();
        input.resize(input.len() + 1_000_000, b'[');
        let mut out = Vec::new();
        assert_eq!(
            scan_object(&input, usize::MAX, &mut out),
            Err(JsonError::TooDeep {
                offset: 5 + MAX_DEPTH - 1,
                max_depth: MAX_DEPTH
            })
        );
        // Objects: `{"a":` + `{"k":` * 200_000; level 101 opens at 5 + 99 * 5.
        let mut input2 = b"{\"a\":".to_vec();
        for _ in 0..200_000 {
            input2.extend_from_slice(b"{\"k\":");
        }
        assert_eq!(
            scan_object(&input2, 100, &mut out),
            Err(JsonError::TooDeep {
                offset: 5 + 99 * 5,
                max_depth: 100
            })
        );
        // Alternating objects/arrays, nested under the limit, then truncated.
        let mut input3 = b"{\"a\":".to_vec();
        for _ in 0..500 {
            input3.extend_from_slice(b"[{\"k\":");
        }
        assert_eq!(
            scan_object(&input3, MAX_DEPTH, &mut out),
            Err(JsonError::Truncated {
                offset: input3.len()
            })
        );
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn too_large() {
        // Zeroed allocation: the OS maps it lazily and the scanner rejects on length alone.
        let big = vec![0u8; u32::MAX as usize + 1];
        let mut out = Vec::new();
        assert_eq!(
            scan_object(&big, 8, &mut out),
            Err(JsonError::TooLarge {
                len: big.len(),
                max: u32::MAX as usize
            })
        );
    }

    #[test]
    fn out_is_appended_and_restored_on_error() {
        let mut out = Vec::new();
        scan_object(b"{\"x\":0}", 8, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        scan_object(b"{\"a\":1,\"b\":2}", 8, &mut out).unwrap();
        assert_eq!(out.len(), 3, "not cleared first");
        let before = out.clone();
        assert!(scan_object(b"{\"a\":1,\"b\":2,\"c\":x}", 8, &mut out).is_err());
        assert_eq!(out, before);
        assert!(scan_object(b"{\"a\":1} x", 8, &mut out).is_err());
        assert_eq!(out, before);
    }

    #[test]
    fn error_display() {
        let e: Box<dyn std::error::Error> = Box::new(unexpected(3, "',' or '}'"));
        assert_eq!(e.to_string(), "invalid JSON at byte 3: expected ',' or '}'");
        assert_eq!(
            JsonError::Truncated { offset: 7 }.to_string(),
            "JSON input ends unexpectedly at byte 7"
        );
        assert!(
            JsonError::TooDeep {
                offset: 1,
                max_depth: 2
            }
            .to_string()
            .contains("deeper than 2")
        );
        assert!(
            JsonError::NotAnObject { offset: 1 }
                .to_string()
                .contains("not an object")
        );
        assert!(
            JsonError::TrailingData { offset: 9 }
                .to_string()
                .contains("byte 9")
        );
        assert!(
            JsonError::TooLarge { len: 10, max: 5 }
                .to_string()
                .contains("10 bytes")
        );
    }

    // ---- object_members / find_member --------------------------------------

    #[test]
    fn nested_lookup() {
        let mut out = Vec::new();
        let root = scan_object(LINE, 64, &mut out).unwrap();
        let metadata = find_member(LINE, root, b"metadata").unwrap();
        assert_eq!(kind_of(metadata.value_raw(LINE)), Some(Kind::Object));
        let ip = find_member(LINE, metadata.value, b"ip").unwrap();
        assert_eq!(ip.value_raw(LINE), br#""192.168.1.100""#);
        assert_eq!(
            decode_str(ip.value_raw(LINE)).unwrap().as_ref(),
            b"192.168.1.100"
        );
        assert_eq!(find_member(LINE, metadata.value, b"level"), None);
        assert_eq!(find_member(LINE, root, b"missing"), None);
        assert_eq!(find_member(LINE, root, b""), None);

        let mut nested = Vec::new();
        object_members(LINE, metadata.value, &mut nested).unwrap();
        assert_eq!(nested, vec![ip]);
        // Absolute offsets.
        assert_eq!(&LINE[nested[0].key.range()], br#""ip""#);

        let ctx = find_member(LINE, root, b"context").unwrap();
        object_members(LINE, ctx.value, &mut nested).unwrap();
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[1].value_raw(LINE), b"456");
    }

    #[test]
    fn object_members_errors() {
        let input = br#"{"a":[1],"b":"s","c":{ },"d":{"x":1}}"#;
        let members = scan(input).unwrap();
        let mut out = vec![members[0]];
        assert_eq!(
            object_members(input, members[0].value, &mut out),
            Err(JsonError::NotAnObject { offset: 5 })
        );
        assert_eq!(
            object_members(input, members[1].value, &mut out),
            Err(JsonError::NotAnObject { offset: 13 })
        );
        assert_eq!(out.len(), 1);
        object_members(input, members[2].value, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        // Span past the end of the input, or reversed.
        assert!(object_members(input, Span::new(0, input.len() + 1), &mut out).is_err());
        assert!(object_members(input, Span { start: 5, end: 2 }, &mut out).is_err());
        assert_eq!(
            object_members(input, Span::new(input.len(), input.len()), &mut out),
            Err(JsonError::Truncated {
                offset: input.len()
            })
        );
        // A span cut short: truncated, and out restored.
        let d = members[3].value;
        assert_eq!(
            object_members(
                input,
                Span {
                    start: d.start,
                    end: d.end - 1
                },
                &mut out
            ),
            Err(JsonError::Truncated {
                offset: d.end as usize - 1
            })
        );
        assert_eq!(out.len(), 1);
        // A span covering more than one value.
        let two = br#"{"a":{}, "b":1}"#;
        assert_eq!(
            object_members(two, Span::new(5, 10), &mut out),
            Err(JsonError::TrailingData { offset: 7 })
        );
        assert_eq!(find_member(two, Span::new(0, 3), b"a"), None);
        assert_eq!(find_member(two, Span::new(1, 3), b"a"), None);
        assert_eq!(find_member(two, Span::new(0, 99), b"a"), None);
    }

    // ---- decode_str ------------------------------------------------------------

    #[test]
    fn decode_str_cases() {
        assert!(matches!(
            decode_str(br#""abc""#),
            Some(Cow::Borrowed(b"abc"))
        ));
        assert!(matches!(decode_str(br#""""#), Some(Cow::Borrowed(b""))));
        assert!(matches!(decode_str(br#""a\nb""#), Some(Cow::Owned(_))));
        let d = |raw: &[u8]| decode_str(raw).map(|c| c.into_owned());
        assert_eq!(d(br#""a\nb""#).unwrap(), b"a\nb");
        assert_eq!(d(br#""\u0041\u00e9\u20AC""#).unwrap(), "Aé€".as_bytes());
        assert_eq!(d(br#""\ud834\udd1e""#).unwrap(), "𝄞".as_bytes());
        assert_eq!(d(br#""\ud834""#).unwrap(), "\u{FFFD}".as_bytes());
        assert_eq!(d(br#""\udd1e""#).unwrap(), "\u{FFFD}".as_bytes());
        assert_eq!(d(br#""\ud834x""#).unwrap(), "\u{FFFD}x".as_bytes());
        assert_eq!(d(br#""\ud834\n""#).unwrap(), "\u{FFFD}\n".as_bytes());
        assert_eq!(d(br#""\ud834\u0041""#).unwrap(), "\u{FFFD}A".as_bytes());
        assert_eq!(
            d(br#""\ud834\ud834\udd1e""#).unwrap(),
            "\u{FFFD}𝄞".as_bytes()
        );
        assert_eq!(
            d(br#""\udd1e\ud834""#).unwrap(),
            "\u{FFFD}\u{FFFD}".as_bytes()
        );
        assert_eq!(d(br#""\u0000""#).unwrap(), b"\0");
        assert_eq!(d(b"\"\xff\\n\"").unwrap(), b"\xff\n");
        for bad in [
            &b""[..],
            b"\"",
            b"abc",
            b"\"abc",
            b"\"a\"b\"",
            b"\"a\" ",
            b" \"a\"",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"a\nb\"",
            b"1",
        ] {
            assert_eq!(decode_str(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    // ---- write_str / write_lossy ---------------------------------------------

    fn ws(s: &[u8]) -> Vec<u8> {
        let mut out = b"prefix:".to_vec();
        write_str(&mut out, s);
        out.split_off(7)
    }

    #[test]
    fn write_str_cases() {
        assert_eq!(ws(b""), b"\"\"");
        assert_eq!(ws(b"plain text 123"), b"\"plain text 123\"");
        assert_eq!(ws(b"a\"b\\c"), br#""a\"b\\c""#);
        assert_eq!(ws(b"\n\r\t\x08\x0c"), br#""\n\r\t\b\f""#);
        assert_eq!(ws(b"\x00\x01\x1f\x7f"), b"\"\\u0000\\u0001\\u001f\x7f\"");
        assert_eq!(ws("é€😀/".as_bytes()), "\"é€😀/\"".as_bytes());
        assert_eq!(ws(b"a\xffb"), "\"a\u{FFFD}b\"".as_bytes());
        assert_eq!(ws(b"\xc3\x28"), "\"\u{FFFD}(\"".as_bytes());
        assert_eq!(ws(b"\xe2\x82"), "\"\u{FFFD}\"".as_bytes());
        assert_eq!(ws(b"\xf0\x9f\x98\n\""), "\"\u{FFFD}\\n\\\"\"".as_bytes());
        let long = b"0123456789abcdef0123456789abcdef\"0123456789abcdef\n".repeat(3);
        let out = ws(&long);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back.as_bytes(), &long[..]);
    }

    #[test]
    fn write_lossy_cases() {
        let mut out = b"x".to_vec();
        write_lossy(&mut out, br#"{"a":"b"}"#);
        assert_eq!(out, br#"x{"a":"b"}"#);
        let line = b"{\"k\xff\":\"v\xc3\x28\xe2\x82\"}";
        assert!(scan(line).is_ok());
        let mut out = Vec::new();
        write_lossy(&mut out, line);
        assert_eq!(out, "{\"k\u{FFFD}\":\"v\u{FFFD}(\u{FFFD}\"}".as_bytes());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["k\u{FFFD}"], "v\u{FFFD}(\u{FFFD}");
        let mut out = Vec::new();
        write_lossy(&mut out, b"");
        assert!(out.is_empty());
    }

    // ---- property tests ----------------------------------------------------

    /// Floats that print and parse back exactly, so comparisons with the
    /// original value do not depend on serde_json's float parsing precision.
    fn arb_float() -> impl Strategy<Value = f64> {
        (-1_000_000i64..1_000_000, 0u32..10).prop_map(|(m, e)| m as f64 / f64::from(1u32 << e))
    }

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-c\"\\\\/\\x00-\\x1f\\x7f é€😀]{0,12}",
            "[a-z]{0,3}",
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            arb_float().prop_map(Value::from),
            arb_text().prop_map(Value::String),
        ];
        leaf.prop_recursive(8, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((arb_text(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn arb_map() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec((arb_text(), arb_value()), 0..8)
            .prop_map(|kv| kv.into_iter().collect())
    }

    /// Checks that the scanned members of `input` are exactly `entries`, in order.
    fn check_members(input: &[u8], entries: &[(&String, &Value)]) -> Result<(), TestCaseError> {
        let mut out = vec![Member {
            key: Span::new(0, 0),
            value: Span::new(0, 0),
            key_escaped: false,
        }];
        let span = scan_object(input, MAX_DEPTH, &mut out);
        prop_assert!(
            span.is_ok(),
            "{:?} on {}",
            span,
            String::from_utf8_lossy(input)
        );
        let members = &out[1..];
        prop_assert_eq!(members.len(), entries.len());
        for (m, (k, v)) in members.iter().zip(entries) {
            let key: String = serde_json::from_slice(&input[m.key.range()]).unwrap();
            prop_assert_eq!(&key, *k);
            prop_assert!(m.key_eq(input, k.as_bytes()));
            prop_assert_eq!(m.key_escaped, m.key_raw(input).contains(&b'\\'));
            let value: Value = serde_json::from_slice(&input[m.value.range()]).unwrap();
            prop_assert_eq!(&value, *v);
            if let Value::String(s) = v {
                let decoded = decode_str(m.value_raw(input)).unwrap();
                prop_assert_eq!(decoded.as_ref(), s.as_bytes());
            }
            if let Value::Object(inner) = v {
                let mut nested = Vec::new();
                prop_assert!(object_members(input, m.value, &mut nested).is_ok());
                prop_assert_eq!(nested.len(), inner.len());
            }
            let kind = kind_of(m.value_raw(input));
            let expected_kind = match v {
                Value::Null => Kind::Null,
                Value::Bool(_) => Kind::Bool,
                Value::Number(_) => Kind::Number,
                Value::String(_) => Kind::String,
                Value::Array(_) => Kind::Array,
                Value::Object(_) => Kind::Object,
            };
            prop_assert_eq!(kind, Some(expected_kind));
        }
        // find_member returns the first occurrence of each key.
        let obj = span.unwrap();
        for (k, _) in entries {
            let first = members
                .iter()
                .find(|m| m.key_eq(input, k.as_bytes()))
                .copied();
            prop_assert_eq!(find_member(input, obj, k.as_bytes()), first);
        }
        Ok(())
    }

    /// serde_json's verdict on `input` as a top-level object, or `None` when
    /// it rejects for a reason this scanner deliberately does not check
    /// (lone surrogate escapes, float overflow, its recursion limit).
    fn serde_verdict(input: &[u8]) -> Option<bool> {
        match serde_json::from_slice::<Map<String, Value>>(input) {
            Ok(_) => Some(true),
            Err(e) => {
                let msg = e.to_string();
                let excused = [
                    "surrogate",
                    "end of hex escape",
                    "number out of range",
                    "recursion limit",
                ]
                .iter()
                .any(|m| msg.contains(m));
                if excused { None } else { Some(false) }
            }
        }
    }

    fn check_agrees(input: &[u8]) -> Result<(), TestCaseError> {
        let mut out = Vec::new();
        let ours = scan_object(input, MAX_DEPTH, &mut out);
        if ours.is_err() {
            prop_assert!(out.is_empty());
        }
        if std::str::from_utf8(input).is_err() {
            return Ok(());
        }
        if let Some(theirs) = serde_verdict(input) {
            prop_assert_eq!(
                ours.is_ok(),
                theirs,
                "ours {:?} on {:?}",
                ours,
                String::from_utf8_lossy(input)
            );
        }
        if let Ok(span) = ours {
            // Accepting implies each recorded value is itself a complete token.
            for m in &out {
                prop_assert!(kind_of(m.value_raw(input)).is_some());
            }
            prop_assert_eq!(
                input.get(span.range()).map(|s| (s.first(), s.last())),
                Some((Some(&b'{'), Some(&b'}')))
            );
        }
        Ok(())
    }

    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"a\"",
        "\"\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"x\\y\"",
        "\"\\\"",
        "\"\t\"",
        "\"é\"",
        "0",
        "-1.5e3",
        "01",
        "1.",
        "-",
        "true",
        "tru",
        "null",
        "false",
        "1e",
        ".5",
        "+1",
        "\"",
        "\\",
        "e",
        "x",
    ];

    fn arb_tokens() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(TOKENS), 0..24).prop_map(|t| {
            let mut v = b"{".to_vec();
            v.extend(t.concat().into_bytes());
            v
        })
    }

    /// Scalars on both sides of the grammar's edges.
    const EDGE_SCALARS: &[&str] = &[
        "0",
        "-0",
        "01",
        "-01",
        "1.",
        "1.0",
        ".1",
        "-",
        "--1",
        "+1",
        "1e",
        "1e+",
        "1e5",
        "1E-5",
        "1e400",
        "-1e400",
        "0.0e0",
        "1.5e+300",
        "123456789012345678901234567890",
        "00",
        "0x1",
        "Infinity",
        "NaN",
        "true",
        "tru",
        "truex",
        "false",
        "FALSE",
        "null",
        "nul",
        "\"\"",
        "\"a\"",
        "\"\\u00e9\"",
        "\"\\u00E9\"",
        "\"\\u00g9\"",
        "\"\\u12\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800x\"",
        "\"\\/\\b\\f\\n\\r\\t\"",
        "\"\\a\"",
        "\"\\'\"",
        "\"\t\"",
        "\"\u{7f}\"",
        "\"é😀\"",
        "'a'",
        "[]",
        "{}",
        "[1,]",
        "[,]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "[1 2]",
        "{\"a\" 1}",
        "\"\\\"",
        "\"\\\\\"",
    ];

    fn arb_edge_doc() -> impl Strategy<Value = Vec<u8>> {
        let member = (
            prop::sample::select(EDGE_SCALARS),
            0u8..4,
            prop::sample::select(&[":", " : ", ":\n"][..]),
        );
        (
            prop::collection::vec(member, 0..5),
            prop::sample::select(&[",", " , ", ",\n  "][..]),
        )
            .prop_map(|(members, sep)| {
                let body: Vec<String> = members
                    .iter()
                    .enumerate()
                    .map(|(i, (tok, wrap, colon))| {
                        let v = match wrap {
                            0 | 1 => (*tok).to_owned(),
                            2 => format!("[{tok}, {tok}]"),
                            _ => format!("{{\"in\":{tok}}}"),
                        };
                        format!("\"k{i}\"{colon}{v}")
                    })
                    .collect();
                format!("{{{}}}", body.join(sep)).into_bytes()
            })
    }

    fn arb_mutated() -> impl Strategy<Value = Vec<u8>> {
        let alphabet: &[u8] = b"{}[]\",:0123456789-+.eEtrufalsn \t\n\\uxX\x01\x7f";
        (
            arb_map(),
            any::<bool>(),
            prop::collection::vec(
                (
                    any::<prop::sample::Index>(),
                    0u8..3,
                    prop::sample::select(alphabet),
                ),
                1..4,
            ),
        )
            .prop_map(|(map, pretty, edits)| {
                let mut v = if pretty {
                    serde_json::to_vec_pretty(&map)
                } else {
                    serde_json::to_vec(&map)
                }
                .unwrap();
                for (at, op, byte) in edits {
                    let i = at.index(v.len() + 1);
                    match op {
                        0 => v.insert(i, byte),
                        1 if i < v.len() => {
                            v.remove(i);
                        }
                        _ if i < v.len() => v[i] = byte,
                        _ => v.push(byte),
                    }
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn prop_serialized_maps_roundtrip(map in arb_map()) {
            let entries: Vec<_> = map.iter().collect();
            check_members(&serde_json::to_vec(&map).unwrap(), &entries)?;
            check_members(&serde_json::to_vec_pretty(&map).unwrap(), &entries)?;
        }

        #[test]
        fn prop_duplicate_keys_in_order(kv in prop::collection::vec(("[ab]{0,1}", arb_value()), 0..8), pretty in any::<bool>()) {
            let sep: &[u8] = if pretty { b" ,\n " } else { b"," };
            let mut line = b"{".to_vec();
            for (i, (k, v)) in kv.iter().enumerate() {
                if i > 0 {
                    line.extend_from_slice(sep);
                }
                line.extend(serde_json::to_vec(k).unwrap());
                line.extend_from_slice(if pretty { b" : " } else { b":" });
                line.extend(if pretty { serde_json::to_vec_pretty(v) } else { serde_json::to_vec(v) }.unwrap());
            }
            line.push(b'}');
            let entries: Vec<_> = kv.iter().map(|(k, v)| (k, v)).collect();
            check_members(&line, &entries)?;
        }

        #[test]
        fn prop_agrees_with_serde_on_tokens(input in arb_tokens()) {
            check_agrees(&input)?;
        }

        #[test]
        fn prop_agrees_with_serde_on_edge_values(input in arb_edge_doc()) {
            check_agrees(&input)?;
        }

        #[test]
        fn prop_agrees_with_serde_on_mutations(input in arb_mutated()) {
            check_agrees(&input)?;
        }

        #[test]
        fn prop_agrees_with_serde_on_jsonish_bytes(input in "\\{[\\{\\}\\[\\]\",:0-9\\-+.eEtrufalsn \\\\u]{0,40}") {
            check_agrees(input.as_bytes())?;
        }

        #[test]
        fn prop_arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
            check_agrees(&input)?;
            let mut out = Vec::new();
            let _ = object_members(&input, Span::new(0, input.len()), &mut out);
            let _ = find_member(&input, Span::new(0, input.len()), b"a");
            let _ = decode_str(&input);
            let _ = kind_of(&input);
        }

        #[test]
        fn prop_truncation_is_always_an_error(map in arb_map(), pretty in any::<bool>()) {
            let full = if pretty { serde_json::to_vec_pretty(&map) } else { serde_json::to_vec(&map) }.unwrap();
            let mut out = Vec::new();
            prop_assert!(scan_object(&full, MAX_DEPTH, &mut out).is_ok());
            for cut in 0..full.len() {
                out.clear();
                let r = scan_object(&full[..cut], MAX_DEPTH, &mut out);
                prop_assert!(r.is_err(), "prefix {} accepted", cut);
                prop_assert!(out.is_empty());
            }
        }

        #[test]
        fn prop_write_str_roundtrips(s in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            any::<String>().prop_map(String::into_bytes),
            "[\"\\\\\\x00-\\x1f a]{0,20}".prop_map(String::into_bytes),
        ]) {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            let back: String = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(back, String::from_utf8_lossy(&s).into_owned());
            // And it is a valid string token for our own scanner and decoder.
            let decoded = decode_str(&out).unwrap();
            let lossy = String::from_utf8_lossy(&s);
            prop_assert_eq!(decoded.as_ref(), lossy.as_bytes());
        }

        #[test]
        fn prop_write_lossy_matches_from_utf8_lossy(s in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            write_lossy(&mut out, &s);
            prop_assert_eq!(out, String::from_utf8_lossy(&s).as_bytes().to_vec());
        }
    }

    // ---- compact fast path vs the general scanner ---------------------------

    /// The full result of one path: span, summary and members on success.
    type Outcome = Result<(Span, KeySummary, Vec<Member>), JsonError>;

    fn run_path(input: &[u8], max_depth: usize, fast: bool) -> Outcome {
        // A non-empty arena, to check that only our members are appended/restored.
        let sentinel = Member {
            key: Span::new(7, 7),
            value: Span::new(9, 9),
            key_escaped: true,
        };
        let mut out = vec![sentinel];
        let result = scan_object_with::<true>(input, max_depth, &mut out, fast);
        assert_eq!(out.first(), Some(&sentinel));
        match result {
            Ok((span, summary)) => Ok((span, summary, out.split_off(1))),
            Err(e) => {
                assert_eq!(out.len(), 1, "out restored on error");
                Err(e)
            }
        }
    }

    /// The fast path (with the general one behind it) gives exactly what the
    /// general scanner alone gives, for several depth limits; `scan_object`
    /// agrees with the summarized variant.
    fn check_paths_agree(input: &[u8]) -> Result<(), TestCaseError> {
        for max_depth in [0, 1, 2, 3, 5, MAX_DEPTH] {
            let general = run_path(input, max_depth, false);
            let fast = run_path(input, max_depth, true);
            prop_assert_eq!(
                &fast,
                &general,
                "max_depth {} on {:?}",
                max_depth,
                String::from_utf8_lossy(input)
            );
            let mut out = Vec::new();
            let plain = scan_object(input, max_depth, &mut out).map(|span| (span, out));
            prop_assert_eq!(plain, general.map(|(span, _, members)| (span, members)));
        }
        Ok(())
    }

    /// Compact serialization of a map, then byte edits (including control
    /// bytes, invalid UTF-8, escapes and whitespace) and leading whitespace
    /// that moves every token across the 64-byte block edges.
    fn arb_compact_edited() -> impl Strategy<Value = Vec<u8>> {
        let alphabet: &[u8] = b"{}[]\",:0123456789-.eE \t\n\\u\x00\x1f\x7f\x80\xff";
        (
            arb_map(),
            0usize..70,
            prop::collection::vec(
                (
                    any::<prop::sample::Index>(),
                    0u8..3,
                    prop::sample::select(alphabet),
                ),
                0..3,
            ),
        )
            .prop_map(|(map, indent, edits)| {
                let mut v = vec![b' '; indent];
                v.extend(serde_json::to_vec(&map).unwrap());
                for (at, op, byte) in edits {
                    let i = at.index(v.len() + 1);
                    match op {
                        0 => v.insert(i, byte),
                        1 if i < v.len() => {
                            v.remove(i);
                        }
                        _ if i < v.len() => v[i] = byte,
                        _ => v.push(byte),
                    }
                }
                v
            })
    }

    /// Lines shaped like the bench corpus (scalars, small nested objects,
    /// numbers of every length), with optional escapes and stray bytes, cut at
    /// every length so truncation hits every token and block position.
    fn arb_log_line() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(
                (
                    "[a-zA-Z_]{1,12}",
                    prop_oneof![
                        "\"[ -!#-\\[\\]-~]{0,40}\"",
                        "\"([a-z]|\\\\[nt\"\\\\/]|\\\\u00e9|\\xc3\\xa9|\\xff){0,12}\"",
                        "-?(0|[1-9][0-9]{0,12})(\\.[0-9]{1,3})?([eE][-+]?[0-9]{1,2})?",
                        "(true|false|null)",
                        "\\{(\"[a-z]{1,6}\":([0-9]{1,4}|\"[a-z.]{0,16}\"|\\[\\]),?){0,3}\\}",
                    ],
                ),
                0..16,
            ),
            0usize..70,
        )
            .prop_map(|(members, indent)| {
                let mut v = vec![b' '; indent];
                v.push(b'{');
                for (k, (key, value)) in members.iter().enumerate() {
                    if k > 0 {
                        v.push(b',');
                    }
                    v.extend(format!("\"{key}\":").into_bytes());
                    v.extend(value.as_bytes());
                }
                v.push(b'}');
                v
            })
    }

    #[test]
    fn paths_agree_on_every_prefix_of_a_corpus_line() {
        let line = br#"{"timestamp":"2025-08-20T10:00:01.001Z","level":"info","message":"UseCase executed","service":"api","version":"1.1.0","traceId":"trace_1234567890","requestId":"req_0123456789ab","userId":42,"email":"user7@example.co.jp","duration":1234,"context":{"caseId":12,"processId":345},"metadata":{"ip":"192.168.1.2","method":"POST","path":"/api/cases"}}"#;
        for indent in 0..64 {
            let mut input = vec![b' '; indent];
            input.extend_from_slice(line);
            for len in 0..=input.len() {
                check_paths_agree(&input[..len]).unwrap();
            }
        }
    }

    #[test]
    fn cursor_matches_find_string_special_at_every_offset() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for len in 0..200 {
            for density in [2u64, 16, 200] {
                let input: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next();
                        if r % density == 0 {
                            [b'"', b'\\', 0x00, 0x1f, b'\n'][(r >> 8) as usize % 5]
                        } else {
                            [b'a', b' ', 0x20, 0x7f, 0x80, 0xff, b'}'][(r >> 8) as usize % 7]
                        }
                    })
                    .collect();
                let mut cur = block::Cursor::new(&input);
                for i in 0..=len + 1 {
                    let want = find_string_special(&input, i).map(|at| (at, input[at] == b'"'));
                    assert_eq!(cur.next_special(i), want, "len {len} at {i}");
                }
                // A fresh cursor per query, and queries going backwards.
                for i in (0..=len).rev() {
                    let want = find_string_special(&input, i).map(|at| (at, input[at] == b'"'));
                    assert_eq!(block::Cursor::new(&input).next_special(i), want);
                    assert_eq!(cur.next_special(i), want);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn prop_paths_agree_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..200)) {
            check_paths_agree(&input)?;
        }

        #[test]
        fn prop_paths_agree_on_braced_bytes(body in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut input = b"{\"a\":".to_vec();
            input.extend(body);
            check_paths_agree(&input)?;
        }

        #[test]
        fn prop_paths_agree_on_jsonish_bytes(input in "\\{[\\{\\}\\[\\]\",:0-9\\-+.eEtrufalsn \\\\u\\x00\\x1f]{0,60}") {
            check_paths_agree(input.as_bytes())?;
        }

        #[test]
        fn prop_paths_agree_on_edited_json(input in arb_compact_edited()) {
            check_paths_agree(&input)?;
        }

        #[test]
        fn prop_paths_agree_on_log_lines(line in arb_log_line(), cut in any::<prop::sample::Index>()) {
            check_paths_agree(&line)?;
            check_paths_agree(&line[..cut.index(line.len() + 1)])?;
            check_agrees(&line)?;
        }

        #[test]
        fn prop_block_masks_match_bytes(block in prop::array::uniform32(any::<u8>()), more in prop::array::uniform32(any::<u8>()), salt in prop::collection::vec(prop::sample::select(&[b'"', b'\\', 0u8, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80][..]), 64)) {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&block);
            bytes[32..].copy_from_slice(&more);
            for (k, s) in salt.iter().enumerate() {
                if k % 3 == 0 {
                    bytes[k] = *s;
                }
            }
            let (mut quote, mut other) = (0u64, 0u64);
            for (k, &b) in bytes.iter().enumerate() {
                quote |= u64::from(b == b'"') << k;
                other |= u64::from(b == b'\\' || b < 0x20) << k;
            }
            let want = block::Masks { quote, other };
            prop_assert_eq!(block::block_masks(&bytes), want);
            prop_assert_eq!(block::block_masks_swar(&bytes), want);
        }
    }

    // ---- throughput (run: cargo test --release -- --ignored --nocapture throughput)

    /// Scans `lines` round-robin until ~1 GiB has been processed; returns MB/s.
    fn measure(name: &str, lines: &[Vec<u8>]) -> f64 {
        let avg = lines.iter().map(Vec::len).sum::<usize>() / lines.len();
        let mut out = Vec::with_capacity(64);
        let (mut bytes, mut checksum) = (0usize, 0usize);
        let start = std::time::Instant::now();
        while bytes < 1 << 30 {
            for line in lines {
                out.clear();
                let span = scan_object(std::hint::black_box(line), 64, &mut out).unwrap();
                checksum += out.len() + span.len();
                bytes += line.len();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let mbps = bytes as f64 / secs / 1e6;
        println!(
            "throughput[{name}]: {mbps:.0} MB/s, {:.1} M lines/s (avg line {avg} B, {bytes} B in {secs:.3}s, checksum {checksum})",
            bytes as f64 / avg as f64 / secs / 1e6
        );
        mbps
    }

    #[test]
    #[ignore = "benchmark; run in release with --ignored --nocapture"]
    fn throughput() {
        let realistic: Vec<Vec<u8>> = (0..64)
            .map(|i| {
                format!(
                    r#"{{"timestamp":"2025-08-20T10:30:{:02}.{:03}Z","level":"{}","message":"UseCase executed for tenant acme-corp in region eu-west-1","service":"api-gateway","userId":{},"requestId":"req-7f3a9c{:04}","context":{{"caseId":{},"action":"update","retries":0}},"metadata":{{"ip":"192.168.1.{}","userAgent":"Mozilla/5.0 (X11; Linux x86_64)","latencyMs":12.5}}}}"#,
                    i % 60, i * 7 % 1000, ["info", "warn", "error", "debug"][i % 4], 100 + i, i, 400 + i, i
                )
                .into_bytes()
            })
            .collect();
        measure("realistic ~340 B lines", &realistic);
        measure("brief's example line", &[LINE.to_vec()]);
        let escaped: Vec<Vec<u8>> = realistic
            .iter()
            .map(|l| {
                String::from_utf8_lossy(l)
                    .replace("executed for", "executed \\\"quoted\\\" \\n\\u00e9 for")
                    .into_bytes()
            })
            .collect();
        assert!(scan(&escaped[0]).is_ok());
        measure("with escapes", &escaped);
        let pretty: Vec<Vec<u8>> = realistic
            .iter()
            .map(|l| {
                serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(l).unwrap()).unwrap()
            })
            .collect();
        measure("pretty-printed", &pretty);
    }
}
