//! `email`: addresses confirmed around an `@`, with `+tags` and
//! internationalized (UTF-8 or punycode) domains and local parts.

/// An e-mail address around the `@` at `at`.
#[inline(never)]
pub(super) fn email(h: &[u8], at: usize) -> Option<(usize, usize)> {
    let local = |b: u8| {
        b.is_ascii_alphanumeric() || b >= 0x80 || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
    };
    let mut s = at;
    while s > 0 && local(h[s - 1]) && at - s < 64 {
        s -= 1;
    }
    while s < at && h[s] == b'.' {
        s += 1;
    }
    if s == at || h[at - 1] == b'.' {
        return None;
    }
    // Domain: labels of letters, digits and '-', at least two, a TLD of letters.
    let mut e = at + 1;
    let mut label_start = e;
    let mut last_dot = None;
    while e < h.len() && e - at <= 253 {
        let b = h[e];
        if b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80 {
            e += 1;
        } else if b == b'.'
            && e > label_start
            && h.get(e + 1)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
        {
            if h[e - 1] == b'-' || h[label_start] == b'-' {
                return None;
            }
            last_dot = Some(e);
            e += 1;
            label_start = e;
        } else {
            break;
        }
    }
    let dot = last_dot?;
    // An ASCII TLD ends at the first non-ASCII byte (`taro@example.jpです`);
    // an internationalized one (`.テスト`, `.рф`) is all non-ASCII.
    let ascii = h[dot + 1..e].iter().take_while(|b| b.is_ascii()).count();
    let tld = &h[dot + 1..e];
    if ascii > 0 {
        e = dot + 1 + ascii;
        let tld = &h[dot + 1..e];
        if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
    } else if tld.len() < 2 || std::str::from_utf8(tld).is_err() {
        return None;
    }
    // A local part that starts inside a word of text is cut at its first ASCII
    // byte after the non-ASCII run (`連絡先taro@…` → `taro@…`).
    if h[s] >= 0x80
        && let Some(k) = h[s..at].iter().position(|b| b.is_ascii())
        && std::str::from_utf8(&h[s..at]).is_ok()
        && k > 0
        && h[s + k].is_ascii_alphanumeric()
    {
        s += k;
    }
    Some((s, e))
}
