//! `phone`: international and Japanese phone numbers.

use super::number::{best_groups, digit_count};
use super::text::{word_after, word_before};

/// A phone number within the token `h[s..e]`.
pub(super) fn phone_in(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let total = digit_count(&h[s..e]);
    if total < 8 || (total < 10 && !h[s..e].contains(&b'+')) {
        return None;
    }
    best_groups(h, s, e, |s, e| {
        let t = &h[s..e];
        if word_before(h, s)
            || word_after(h, e)
            || (e < h.len() && h[e] == b'.' && h.get(e + 1).is_some_and(u8::is_ascii_digit))
        {
            return false;
        }
        let digits = digit_count(t);
        let seps = t
            .iter()
            .filter(|b| !b.is_ascii_digit() && **b != b'+')
            .count();
        if t.first() == Some(&b'+') {
            // International: +CC then the national number, 8 to 15 digits in all.
            return t.get(1).is_some_and(|b| (b'1'..=b'9').contains(b))
                && (8..=15).contains(&digits);
        }
        let body = t.strip_prefix(b"(").unwrap_or(t);
        if body.first() != Some(&b'0') || !body.get(1).is_some_and(|b| (b'1'..=b'9').contains(b)) {
            return false;
        }
        // Japanese: 0X-XXXX-XXXX, 0XX-XXX-XXXX, 090-1234-5678, (03) 1234-5678, 0120-123-456.
        if (10..=11).contains(&digits) && seps >= 2 {
            let groups = t
                .split(|b| !b.is_ascii_digit())
                .filter(|g| !g.is_empty())
                .count();
            let last = t
                .rsplit(|b| !b.is_ascii_digit())
                .next()
                .map_or(0, <[u8]>::len);
            if groups == 3 && (3..=4).contains(&last) && !t.contains(&b'.') {
                return true;
            }
        }
        // Mobile and IP phones written without separators: 09012345678.
        digits == 11
            && seps == 0
            && matches!(body.get(1), Some(b'5' | b'7' | b'8' | b'9'))
            && body.get(2) == Some(&b'0')
    })
}
