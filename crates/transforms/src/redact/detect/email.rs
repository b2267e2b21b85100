//! `email`: addresses confirmed around an `@`.

/// An e-mail address around the `@` at `at`.
#[inline(never)]
pub(super) fn email(h: &[u8], at: usize) -> Option<(usize, usize)> {
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
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
        if b.is_ascii_alphanumeric() || b == b'-' {
            e += 1;
        } else if b == b'.'
            && e > label_start
            && h.get(e + 1).is_some_and(u8::is_ascii_alphanumeric)
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
    let tld = &h[dot + 1..e];
    if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    Some((s, e))
}
