//! `api_key`: a known prefix followed by a fixed alphabet and length.

use super::text::{run, word_after, word_before};

/// A key made of a prefix `s..e` and `min..=max` characters accepted by `ok`.
pub(super) fn fixed_key(
    h: &[u8],
    s: usize,
    e: usize,
    min: usize,
    max: usize,
    ok: impl Fn(u8) -> bool,
) -> Option<(usize, usize)> {
    if word_before(h, s) {
        return None;
    }
    let end = run(h, e, &ok);
    let len = end - e;
    ((min..=max).contains(&len) && !word_after(h, end)).then_some((s, end))
}
