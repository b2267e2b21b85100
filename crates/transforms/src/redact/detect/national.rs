//! National identifiers with their check rules: US SSN (issued ranges), JP My
//! Number (check digit), IBAN (length per country, mod 97).

use super::text::{is_word, word_after, word_before};

/// A US SSN `AAA-GG-SSSS` at `h[s..e]` (dashes or spaces): area 001–899 but
/// not 666, group 01–99, serial 0001–9999.
pub(super) fn us_ssn(h: &[u8], s: usize, e: usize) -> bool {
    let t = &h[s..e];
    if t.len() != 11 || word_before(h, s) || word_after(h, e) {
        return false;
    }
    let sep = t[3];
    if !matches!(sep, b'-' | b' ') || t[6] != sep {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        t[r].iter().try_fold(0u32, |v, b| {
            b.is_ascii_digit().then(|| v * 10 + u32::from(b - b'0'))
        })
    };
    let (Some(area), Some(group), Some(serial)) = (num(0..3), num(4..6), num(7..11)) else {
        return false;
    };
    (1..900).contains(&area) && area != 666 && group != 0 && serial != 0
}

/// A JP My Number at `h[s..e]`: 12 digits (`123456789012`, `1234 5678 9012`,
/// `1234-5678-9012`) whose last is the check digit of the other eleven.
pub(super) fn jp_my_number(h: &[u8], s: usize, e: usize) -> bool {
    let t = &h[s..e];
    // The last group of a UUID or another hex-dash run is no My Number.
    let hex_dash = (s >= 2 && h[s - 1] == b'-' && h[s - 2].is_ascii_hexdigit())
        || (h.get(e) == Some(&b'-') && h.get(e + 1).is_some_and(u8::is_ascii_hexdigit));
    if word_before(h, s) || word_after(h, e) || hex_dash {
        return false;
    }
    let mut digits = [0u8; 12];
    match t.len() {
        12 => digits.copy_from_slice(t),
        14 if t[4] == t[9] && matches!(t[4], b' ' | b'-') => {
            digits[..4].copy_from_slice(&t[0..4]);
            digits[4..8].copy_from_slice(&t[5..9]);
            digits[8..].copy_from_slice(&t[10..14]);
        }
        _ => return false,
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d = |i: usize| u32::from(digits[i] - b'0');
    // P(n) is the n-th digit from the right of the first eleven; Q(n) its weight.
    let sum: u32 = (1..=11)
        .map(|n| {
            let q = if n <= 6 { n + 1 } else { n - 5 };
            d(11 - n) * q as u32
        })
        .sum();
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    d(11) == check
}

/// IBAN lengths per country (the SWIFT registry's common entries).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VG", 24),
    (b"XK", 20),
];

/// An IBAN starting at `s` (two capital letters, two digits, then the BBAN,
/// compact or in groups of four separated by single spaces); returns its end.
pub(super) fn iban_at(h: &[u8], s: usize) -> Option<usize> {
    let head = h.get(s..s + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
        || word_before(h, s)
    {
        return None;
    }
    let want = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c[..] == head[..2])
        .map(|(_, n)| *n)?;
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = s;
    while n < want && i < h.len() {
        let b = h[i];
        if b.is_ascii_digit() || b.is_ascii_uppercase() {
            chars[n] = b;
            n += 1;
            i += 1;
        } else if b == b' ' && n % 4 == 0 && n > 0 && h.get(i + 1).is_some_and(|b| is_word(*b)) {
            i += 1;
        } else {
            break;
        }
    }
    if n != want || word_after(h, i) {
        return None;
    }
    // Move the first four to the end, letters as 10..35, mod 97 must be 1.
    let mut rem = 0u32;
    for &b in chars[4..n].iter().chain(&chars[..4]) {
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(b - b'A' + 10)) % 97;
        }
    }
    (rem == 1).then_some(i)
}

/// Where an IBAN holding the digit run at `at` would start: back over
/// capitals, digits and single spaces to two capitals and two digits.
pub(super) fn iban_start(h: &[u8], at: usize) -> Option<usize> {
    let mut s = at;
    let floor = at.saturating_sub(34);
    while s > floor {
        let b = h[s - 1];
        if b.is_ascii_digit() || b.is_ascii_uppercase() || (b == b' ' && s >= 2 && h[s - 2] != b' ')
        {
            s -= 1;
        } else {
            break;
        }
    }
    // The first position at or after `s` that starts like an IBAN.
    (s..=at).find(|&p| {
        (p == 0 || !is_word(h[p - 1]))
            && h[p].is_ascii_uppercase()
            && h.get(p + 1).is_some_and(u8::is_ascii_uppercase)
            && h.get(p + 2).is_some_and(u8::is_ascii_digit)
            && h.get(p + 3).is_some_and(u8::is_ascii_digit)
    })
}
