//! `ipv6`: addresses confirmed around a `:` by `std`'s parser.

use super::text::{word_after, word_before};

/// An IPv6 address around the `:` at `i`; also returns where scanning goes on.
#[inline(never)]
pub(super) fn ipv6(h: &[u8], i: usize) -> (Option<(usize, usize)>, usize) {
    let part = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
    let mut s = i;
    while s > 0 && part(h[s - 1]) {
        s -= 1;
    }
    let mut e = i;
    while e < h.len() && part(h[e]) {
        e += 1;
    }
    let next = e;
    while e > s && h[e - 1] == b'.' {
        e -= 1;
    }
    // A message may go on after a colon (`…:2589: rejected`), not after `::`.
    if e > s + 1 && h[e - 1] == b':' && h[e - 2] != b':' {
        e -= 1;
    }
    let token = &h[s..e];
    let colons = token.iter().filter(|b| **b == b':').count();
    let double = token.windows(2).any(|w| w[0] == b':' && w[1] == b':');
    if colons < 2
        || (!double && colons != 7 && !(colons == 6 && token.contains(&b'.')))
        || word_before(h, s)
        || word_after(h, e)
    {
        return (None, next);
    }
    // At least two groups, unless it starts with `::` (`::1`).
    let groups = token
        .split(|b| *b == b':')
        .filter(|g| !g.is_empty())
        .count();
    if groups < 2 && !token.starts_with(b"::") {
        return (None, next);
    }
    let ok = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        .is_some();
    // A zone (`fe80::1%eth0`, `%25eth0` in a URL) belongs to the address.
    if ok && h.get(e) == Some(&b'%') {
        let z = super::text::run(h, e + 1, |b| {
            b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
        });
        if z > e + 1 {
            return (Some((s, z)), next.max(z));
        }
    }
    (ok.then_some((s, e)), next)
}
