//! `credit_card`: 13–19 digit numbers of a card brand's IIN range and length
//! that pass the Luhn check, compact or grouped with any one separator.

use super::number::{best_groups, digit_count};
use super::text::{is_word, word_after};

fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// True when the digits `d` have the IIN prefix and length of a common brand:
/// Visa, Mastercard, American Express, Discover, Diners Club, JCB, UnionPay,
/// Maestro.
fn brand(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| -> u32 {
        d[..k]
            .iter()
            .fold(0u32, |v, b| v * 10 + u32::from(b - b'0'))
    };
    match d[0] {
        b'4' => matches!(n, 13 | 16 | 19),                // Visa
        b'5' if (51..=55).contains(&p(2)) => n == 16,     // Mastercard
        b'2' if (2221..=2720).contains(&p(4)) => n == 16, // Mastercard
        b'3' if matches!(p(2), 34 | 37) => n == 15,       // Amex
        b'3' if (3528..=3589).contains(&p(4)) => (16..=19).contains(&n), // JCB
        b'3' if (300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39) => {
            (14..=19).contains(&n) // Diners Club
        }
        b'6' if p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65 => {
            (16..=19).contains(&n) // Discover
        }
        b'6' if p(2) == 62 => (16..=19).contains(&n), // UnionPay
        b'5' | b'6' if matches!(p(2), 50 | 56..=58) || d[0] == b'6' => {
            (13..=19).contains(&n) // Maestro
        }
        _ => false,
    }
}

/// A card number within the token `h[s..e]`.
pub(super) fn card_in(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if digit_count(&h[s..e]) < 13 {
        return None;
    }
    best_groups(h, s, e, |s, e| {
        let t = &h[s..e];
        if !t.first().is_some_and(|b| (b'2'..=b'6').contains(b))
            || t.iter()
                .any(|b| !(b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.')))
            || !(13..=19).contains(&digit_count(t))
        {
            return false;
        }
        // Grouped numbers use groups of 3 to 6 digits and one kind of separator.
        let mut parts = t.split(|b| !b.is_ascii_digit());
        let mut seps = t.iter().filter(|b| !b.is_ascii_digit());
        let grouped = seps.clone().next().copied();
        if let Some(sep) = grouped
            && (parts.any(|g| !(3..=6).contains(&g.len())) || seps.any(|b| *b != sep))
        {
            return false;
        }
        // 13 to 19 digits (checked above), gathered without allocating.
        let mut digits = [0u8; 19];
        let mut n = 0;
        for &b in t.iter().filter(|b| b.is_ascii_digit()) {
            digits[n] = b;
            n += 1;
        }
        if !brand(&digits[..n]) {
            return false;
        }
        let before = s > 0 && (is_word(h[s - 1]) || h[s - 1] == b'.');
        let after = word_after(h, e)
            || (h.get(e) == Some(&b'.') && h.get(e + 1).is_some_and(u8::is_ascii_digit));
        !before && !after && luhn(t.iter().copied().filter(u8::is_ascii_digit))
    })
}

/// True when the token `h[s..e]` is written like a card number (13–19 digits
/// in groups of four, or compact): one that failed the card checks is an
/// order or account number, with no phone number inside it.
pub(super) fn card_shaped(h: &[u8], s: usize, e: usize) -> bool {
    let t = &h[s..e];
    let n = digit_count(t);
    if !(13..=19).contains(&n) || !t[0].is_ascii_digit() {
        return false;
    }
    let mut groups = t.split(|b| !b.is_ascii_digit()).filter(|g| !g.is_empty());
    groups.all(|g| g.len() == 4 || g.len() == n)
        || t.split(|b| !b.is_ascii_digit())
            .filter(|g| g.len() == 4)
            .count()
            >= 3
}
