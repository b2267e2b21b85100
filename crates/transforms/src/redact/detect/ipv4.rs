//! `ipv4`: dotted quads confirmed around a `.` between digits (not versions).

use super::text::{word_after, word_before};

/// An IPv4 address around the `.` at `i`; also returns where scanning goes on.
#[inline(never)]
pub(super) fn ipv4(h: &[u8], i: usize) -> (Option<(usize, usize)>, usize) {
    let dotted = |b: u8| b.is_ascii_digit() || b == b'.';
    let mut s = i;
    while s > 0 && dotted(h[s - 1]) {
        s -= 1;
    }
    let mut e = i;
    while e < h.len() && dotted(h[e]) {
        e += 1;
    }
    let next = e;
    // A sentence may end right after an address.
    while e > s && h[e - 1] == b'.' {
        e -= 1;
    }
    let token = &h[s..e];
    if token.first() == Some(&b'.') || word_before(h, s) || word_after(h, e) {
        return (None, next);
    }
    // `Chrome/126.0.0.0` is a product version; `http://10.0.0.1` and Java's
    // `refused: /10.0.0.1:3306` are hosts (no name before the `/`).
    if s > 1 && h[s - 1] == b'/' && h[s - 2] != b'/' && super::text::is_word(h[s - 2]) {
        return (None, next);
    }
    let mut parts = 0;
    for part in token.split(|b| *b == b'.') {
        parts += 1;
        let ok = match part.len() {
            1 => true,
            2 | 3 => part[0] != b'0' && (part.len() == 2 || part <= b"255".as_slice()),
            _ => false,
        };
        if !ok || parts > 4 {
            return (None, next);
        }
    }
    ((parts == 4).then_some((s, e)), next)
}
