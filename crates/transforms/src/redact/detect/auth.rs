//! `auth_header`: the credentials after `Bearer` / `Basic`.

use super::text::{run, word_before};

/// The credentials after `Bearer`/`Basic` at `s..e`.
pub(super) fn auth(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if word_before(h, s) {
        return None;
    }
    let mut v = e;
    while v < h.len() && h[v] == b' ' {
        v += 1;
    }
    if v == e {
        return None;
    }
    let end = run(h, v, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
    });
    (end - v >= 8).then_some((v, end))
}
