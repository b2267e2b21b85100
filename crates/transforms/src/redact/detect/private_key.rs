//! `private_key`: a `-----BEGIN … PRIVATE KEY-----` block to its end.

/// A private-key block from `-----BEGIN` at `s` to its `-----END …-----` (or to
/// the end of the text when it is cut).
pub(super) fn private_key(h: &[u8], s: usize) -> Option<(usize, usize)> {
    let header_end = (s + 80).min(h.len());
    memchr::memmem::find(&h[s..header_end], b"PRIVATE KEY-----")?;
    let after = s + 10;
    let end = match memchr::memmem::find(&h[after..], b"-----END") {
        Some(p) => {
            let tail = after + p + 8;
            match memchr::memmem::find(&h[tail..(tail + 80).min(h.len())], b"-----") {
                Some(q) => tail + q + 5,
                None => h.len(),
            }
        }
        None => h.len(),
    };
    Some((s, end))
}
