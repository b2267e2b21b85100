//! `phone`: E.164 numbers and the national formats of JP, US/CA, GB, DE, FR,
//! IN, CN, KR and BR, validated with libphonenumber's numbering plans (the
//! `phonenumber` crate) behind cheap shape tests, so most digit runs never
//! reach the parser.

use phonenumber::country::Id;

use super::number::{best_groups, digit_count};
use super::text::{word_after, word_before};

/// The regions whose national formats are recognised, tried in this order.
const REGIONS: [Id; 10] = [
    Id::JP,
    Id::US,
    Id::CA,
    Id::GB,
    Id::DE,
    Id::FR,
    Id::IN,
    Id::CN,
    Id::KR,
    Id::BR,
];

/// True when `t` is a valid number: international with `+`, else national in
/// one of [`REGIONS`]. The parser has panicked on odd input in past releases:
/// a panic there is taken as "not a number" rather than allowed to stop the
/// worker (the candidate reached it only after the shape tests, so it is
/// masked by nothing else either way).
fn valid(t: &[u8]) -> bool {
    std::panic::catch_unwind(|| parse_valid(t)).unwrap_or(false)
}

fn parse_valid(t: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(t) else {
        return false;
    };
    if t.first() == Some(&b'+') {
        return phonenumber::parse(None, text).is_ok_and(|n| phonenumber::is_valid(&n));
    }
    REGIONS
        .iter()
        .any(|r| phonenumber::parse(Some(*r), text).is_ok_and(|n| phonenumber::is_valid(&n)))
}

/// Cheap shape tests before the parser: a leading `+`, or separators between
/// groups (bare national digit runs are ids far more often than numbers).
fn plausible(h: &[u8], s: usize, e: usize) -> bool {
    let t = &h[s..e];
    if word_before(h, s)
        || word_after(h, e)
        || (e < h.len() && h[e] == b'.' && h.get(e + 1).is_some_and(u8::is_ascii_digit))
        || (s > 0 && h[s - 1] == b'.' && t[0].is_ascii_digit())
    {
        return false;
    }
    let digits = digit_count(t);
    let groups = t
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .count();
    if t.first() == Some(&b'+') {
        return t.get(1).is_some_and(|b| (b'1'..=b'9').contains(b)) && (8..=15).contains(&digits);
    }
    if !(8..=13).contains(&digits) {
        return false;
    }
    // Mobile and IP phones written without separators: 09012345678.
    if groups == 1 {
        let body = t.strip_prefix(b"(").unwrap_or(t);
        return digits == 11
            && body.first() == Some(&b'0')
            && matches!(body.get(1), Some(b'5' | b'7' | b'8' | b'9'))
            && body.get(2) == Some(&b'0');
    }
    // A dotted quad is an address; a group of a hyphenated hex id (a UUID's
    // `0676-1458`) is no number.
    if t.contains(&b'.') && groups == 4 && t.split(|b| *b == b'.').all(|g| g.len() <= 3) {
        return false;
    }
    if (s >= 2 && h[s - 1] == b'-' && h[s - 2].is_ascii_alphanumeric())
        || (h.get(e) == Some(&b'-') && h.get(e + 1).is_some_and(u8::is_ascii_alphanumeric))
    {
        return false;
    }
    let body = t.strip_prefix(b"(").unwrap_or(t);
    let first = body.split(|b| !b.is_ascii_digit()).next().unwrap_or(&[]);
    // Without the trunk prefix 0, only US/CA, CN, IN and BR numbers: 10 or
    // 11 digits (so no date or time of 8 digits reads as a number).
    if body.first() != Some(&b'0') && !(10..=11).contains(&digits) {
        return false;
    }
    // A first group of four digits starts with the trunk 0 (`0120-…`, not a
    // year: `2025-08-20 10`).
    if first.len() == 4 && first[0] != b'0' {
        return false;
    }
    // Groups after the first have two digits or more (`192.168.1.1`), and
    // only one kind of separator besides parentheses.
    let mut seps = t
        .iter()
        .enumerate()
        .filter(|(i, b)| {
            let after_paren = **b == b' ' && *i > 0 && t[i - 1] == b')';
            !(b.is_ascii_digit() || matches!(b, b'(' | b')') || after_paren)
        })
        .map(|(_, b)| b);
    let sep = seps.clone().next();
    // `67 2956-6447`, `+1 415-555-2671`: a space and dashes go together.
    if seps
        .any(|b| Some(b) != sep && !(matches!(b, b' ' | b'-') && matches!(sep, Some(b' ' | b'-'))))
        || t.split(|b| !b.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .skip(1)
            .any(|g| g.len() < 2)
    {
        return false;
    }
    true
}

/// A phone number within the token `h[s..e]`.
pub(super) fn phone_in(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let total = digit_count(&h[s..e]);
    if total < 8 {
        return None;
    }
    best_groups(h, s, e, |s, e| plausible(h, s, e) && valid(&h[s..e]))
}
