//! `credit_card`: 13–19 digit numbers that pass the Luhn check.

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
    sum % 10 == 0
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
                .any(|b| !(b.is_ascii_digit() || *b == b' ' || *b == b'-'))
            || !(13..=19).contains(&digit_count(t))
        {
            return false;
        }
        // Grouped numbers use groups of 3 to 6 digits.
        let mut parts = t.split(|b| !b.is_ascii_digit());
        let grouped = t.iter().any(|b| !b.is_ascii_digit());
        if grouped && parts.any(|g| !(3..=6).contains(&g.len())) {
            return false;
        }
        let before = s > 0 && (is_word(h[s - 1]) || h[s - 1] == b'.');
        let after = word_after(h, e)
            || (h.get(e) == Some(&b'.') && h.get(e + 1).is_some_and(u8::is_ascii_digit));
        !before && !after && luhn(t.iter().copied().filter(u8::is_ascii_digit))
    })
}
