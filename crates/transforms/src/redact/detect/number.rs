//! Written numbers, shared by `credit_card` and `phone`: the token around a
//! digit run, its digit groups, and the ISO dates that are neither.

pub(super) fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// The end of the ISO date `2025-08-20` at `at` when it stands alone (a
/// `T`, a quote or a letter after it, no number joined before it): eight
/// digits are no card and no phone, and timestamps are in most log lines.
pub(super) fn lone_date(h: &[u8], at: usize) -> Option<usize> {
    let d = h.get(at..at + 10)?;
    let shape = d.iter().enumerate().all(|(k, b)| {
        if k == 4 || k == 7 {
            *b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    let after_ok = h
        .get(at + 10)
        .is_none_or(|b| !b.is_ascii_digit() && !is_sep(*b));
    let before_ok = at == 0 || {
        let b = h[at - 1];
        !(b.is_ascii_digit() || is_sep(b) || b == b'+' || b == b'(')
    };
    (shape && after_ok && before_ok).then_some(at + 10)
}

/// The extent of a written number around `at` (a digit, or a `+` before one):
/// digits joined by one separator (space, `-`, `.`, parentheses) or two
/// different ones (`) `, ` (`), with an optional leading `+` or `(`.
pub(super) fn number_token(h: &[u8], at: usize) -> (usize, usize) {
    let digit = |i: usize| h.get(i).is_some_and(u8::is_ascii_digit);
    let (mut s, mut e) = (at, at + 1);
    if h[at] != b'+' {
        loop {
            if s >= 1 && digit(s - 1) {
                s -= 1;
            } else if s >= 2 && is_sep(h[s - 1]) && digit(s - 2) {
                s -= 2;
            } else if s >= 3
                && is_sep(h[s - 1])
                && is_sep(h[s - 2])
                && h[s - 1] != h[s - 2]
                && digit(s - 3)
            {
                s -= 3;
            } else {
                break;
            }
        }
        if s >= 1 && matches!(h[s - 1], b'+' | b'(') {
            s -= 1;
        }
    }
    loop {
        if digit(e) {
            e += 1;
        } else if e > at && h.get(e).is_some_and(|b| is_sep(*b)) && digit(e + 1) {
            e += 2;
        } else if e > at
            && h.get(e).is_some_and(|b| is_sep(*b))
            && h.get(e + 1).is_some_and(|b| is_sep(*b) && *b != h[e])
            && digit(e + 2)
        {
            e += 3;
        } else {
            break;
        }
    }
    (s, e)
}

/// The digit groups of `h[s..e]` (at most 16; `None` when there are more).
fn groups(h: &[u8], s: usize, e: usize) -> Option<([(u32, u32); 16], usize)> {
    let mut out = [(0u32, 0u32); 16];
    let mut n = 0;
    let mut i = s;
    while i < e {
        if !h[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let g = i;
        while i < e && h[i].is_ascii_digit() {
            i += 1;
        }
        if n == out.len() {
            return None;
        }
        out[n] = (g as u32, i as u32);
        n += 1;
    }
    Some((out, n))
}

/// The longest run of whole digit groups of the token `h[s..e]` that `check`
/// accepts (a number may sit next to other numbers: `2025 4111 1111 1111 1111`).
pub(super) fn best_groups(
    h: &[u8],
    s: usize,
    e: usize,
    check: impl Fn(usize, usize) -> bool,
) -> Option<(usize, usize)> {
    let (gs, n) = groups(h, s, e)?;
    for len in (1..=n).rev() {
        for i in 0..=n - len {
            let (mut a, b) = (gs[i].0 as usize, gs[i + len - 1].1 as usize);
            // Keep a prefix that belongs to the number: `+81`, `(03)` (not the
            // `(` of a number in parentheses: `(4111…)`, `(5533.2829…)`).
            let closed = h.get(gs[i].1 as usize) == Some(&b')') && gs[i].1 - gs[i].0 <= 5;
            if i == 0 && a > s {
                a = s;
            } else if a > 0 && (h[a - 1] == b'+' || (h[a - 1] == b'(' && closed)) {
                a -= 1;
            }
            if check(a, b) {
                return Some((a, b));
            }
        }
    }
    None
}

pub(super) fn digit_count(t: &[u8]) -> usize {
    t.iter().filter(|b| b.is_ascii_digit()).count()
}
