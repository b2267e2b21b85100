//! `password`: values of pairs and JSON members whose name is a secret's.

use super::text::run;

/// Names whose values are secrets (matched case-insensitively, ignoring `_`,
/// `-` and `.`, at the end of a name: `db_password`, `X-Api-Key`, `accessToken`).
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "credentials",
    "authorization",
];

/// Last three letters (lower-cased) of the secret names: a cheap first test for
/// the name before each `=` and `:`.
pub(super) const SECRET_TAILS: [&[u8; 3]; 10] = [
    b"ord", b"swd", b"pwd", b"ase", b"ret", b"ken", b"key", b"ial", b"als", b"ion",
];

/// A multiplier that sends each of [`SECRET_TAILS`] to its own slot of
/// [`TAIL_SLOTS`] (checked by a test).
const TAIL_HASH: u32 = 0x414c_343d;

const fn tail_word(t: [u8; 3]) -> u32 {
    t[0] as u32 | (t[1] as u32) << 8 | (t[2] as u32) << 16
}

/// [`SECRET_TAILS`] by hash slot (0 is no tail: lower-cased bytes are never 0).
const TAIL_SLOTS: [u32; 16] = {
    let mut slots = [0u32; 16];
    let mut i = 0;
    while i < SECRET_TAILS.len() {
        let w = tail_word(*SECRET_TAILS[i]);
        slots[(w.wrapping_mul(TAIL_HASH) >> 28) as usize] = w;
        i += 1;
    }
    slots
};

/// True when `t` (any case) is the end of a secret's name: one multiply and
/// one table load, as it runs for most `:` of a JSON line.
#[inline(always)]
pub(super) fn secret_tail(t: [u8; 3]) -> bool {
    let w = tail_word([t[0] | 0x20, t[1] | 0x20, t[2] | 0x20]);
    TAIL_SLOTS[(w.wrapping_mul(TAIL_HASH) >> 28) as usize] == w
}

/// The three bytes before the separator at `sep`, past a closing quote and blanks.
#[inline(always)]
pub(super) fn name_tail(h: &[u8], sep: usize) -> Option<[u8; 3]> {
    let mut e = sep;
    while e > 0 && h[e - 1] == b' ' {
        e -= 1;
    }
    if e > 0 && matches!(h[e - 1], b'"' | b'\'') {
        e -= 1;
    }
    (e >= 3).then(|| [h[e - 3], h[e - 2], h[e - 1]])
}

/// The pair at the separator `sep`: (name start, name end, value start,
/// value end), when the name ends like a secret's.
pub(super) fn pair_at(h: &[u8], sep: usize) -> Option<(usize, usize, usize, usize)> {
    // Back over an optional closing quote and blanks to the name's end.
    let mut e = sep;
    while e > 0 && h[e - 1] == b' ' {
        e -= 1;
    }
    if e > 0 && matches!(h[e - 1], b'"' | b'\'') {
        e -= 1;
    }
    if e < 3 || !secret_tail([h[e - 3], h[e - 2], h[e - 1]]) {
        return None;
    }
    let name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let mut ks = e;
    while ks > 0 && name(h[ks - 1]) && e - ks < 64 {
        ks -= 1;
    }
    if ks == e {
        return None;
    }
    let mut i = sep + 1;
    while h.get(i) == Some(&b' ') {
        i += 1;
    }
    let (vs, ve) = match h.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            let vs = i + 1;
            let mut ve = vs;
            // Up to the closing quote, stepping over backslash escapes.
            while ve < h.len() && h[ve] != q {
                ve += if h[ve] == b'\\' { 2 } else { 1 };
            }
            (vs, ve.min(h.len()))
        }
        _ => {
            let stop = |b: u8| {
                !(b.is_ascii_whitespace()
                    || matches!(
                        b,
                        b',' | b';' | b'&' | b'"' | b'\'' | b'}' | b']' | b')' | b'<' | b'>'
                    ))
            };
            // `Authorization: Bearer abc…`: the scheme and its credentials.
            let word = run(h, i, stop);
            let scheme = &h[i..word];
            if (scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"basic"))
                && h.get(word) == Some(&b' ')
            {
                let ve = run(h, word + 1, stop);
                if ve > word + 1 {
                    return Some((ks, e, i, ve));
                }
            }
            let ve = run(h, i, |b| {
                !(b.is_ascii_whitespace()
                    || matches!(
                        b,
                        b',' | b';' | b'&' | b'"' | b'\'' | b'}' | b']' | b')' | b'<' | b'>'
                    ))
            });
            (i, ve)
        }
    };
    (ve > vs).then_some((ks, e, vs, ve))
}

/// True when `v` is a word that says something about a secret without being
/// one: yes/no, true/false, null/nil/none, empty, n/a, `-`.
pub(super) fn no_secret_word(v: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"yes", b"no", b"true", b"false", b"null", b"nil", b"none", b"empty", b"n/a", b"-",
    ];
    v.len() <= 5 && WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// Shannon entropy threshold of `generic_secret` values, in bits per character
/// (gitleaks' generic rule uses the same figure).
pub(super) const ENTROPY_BITS: f64 = 3.5;

/// Shortest `generic_secret` value.
const GENERIC_MIN: usize = 16;

/// True when `v`, the value of a `…key = value` pair (`signing_key`,
/// `X-Client-Key`) whose name is no secret's by itself, looks random: 16 to
/// 256 characters of a token alphabet with letters and digits and at least
/// [`ENTROPY_BITS`] bits of entropy per character.
pub(super) fn generic_value(v: &[u8]) -> bool {
    (GENERIC_MIN..=256).contains(&v.len())
        && v.iter().enumerate().all(|(k, b)| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.')
                // PHP's JSON escapes `/` as `\/`.
                || (*b == b'\\' && v.get(k + 1) == Some(&b'/'))
        })
        && random_looking(v)
        && entropy(v) >= ENTROPY_BITS
}

/// Keys are mixed-case letters with digits, or long hex: not words joined by
/// `_` (`user_profile_1234567`), which reach the entropy threshold too.
fn random_looking(v: &[u8]) -> bool {
    let has = |f: fn(&u8) -> bool| v.iter().any(f);
    (has(u8::is_ascii_digit) && has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase))
        || (v.len() >= 32 && v.iter().all(u8::is_ascii_hexdigit))
}

/// Shannon entropy of `v` in bits per byte.
pub(super) fn entropy(v: &[u8]) -> f64 {
    let mut counts = [0u16; 256];
    for b in v {
        counts[usize::from(*b)] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// True when a member name is a secret's (`password`, `db_password`,
/// `X-Api-Key`, `accessToken`), used for JSON members whatever their value.
pub fn secret_name(name: &[u8]) -> bool {
    // The name's end, lower-cased and reversed, without separators: long
    // enough for the longest secret name.
    let mut rev = [0u8; 16];
    let mut n = 0;
    for b in name.iter().rev() {
        if matches!(b, b'_' | b'-' | b'.') {
            continue;
        }
        if n == rev.len() {
            break;
        }
        rev[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let rev = &rev[..n];
    SECRET_NAMES
        .iter()
        .any(|w| w.len() <= n && w.bytes().rev().zip(rev).all(|(a, b)| a == *b))
}
