//! Word boundaries and runs: the context tests every detector shares.

pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(super) fn word_before(h: &[u8], s: usize) -> bool {
    s > 0 && is_word(h[s - 1])
}

pub(super) fn word_after(h: &[u8], e: usize) -> bool {
    h.get(e).is_some_and(|b| is_word(*b))
}

pub(super) fn run(h: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut e = from;
    while e < h.len() && ok(h[e]) {
        e += 1;
    }
    e
}
