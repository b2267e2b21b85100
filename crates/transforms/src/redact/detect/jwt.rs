//! `jwt`: three base64url segments from `eyJ`.

use super::text::run;

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A JWT starting at `s` (`eyJ…`): three base64url segments, the last may be empty.
pub(super) fn jwt(h: &[u8], s: usize) -> Option<(usize, usize)> {
    if s > 0 && b64url(h[s - 1]) {
        return None;
    }
    let e1 = run(h, s, b64url);
    if e1 - s < 10 || h.get(e1) != Some(&b'.') {
        return None;
    }
    let e2 = run(h, e1 + 1, b64url);
    if e2 - e1 - 1 < 10 || h.get(e2) != Some(&b'.') {
        return None;
    }
    let e3 = run(h, e2 + 1, |b| b64url(b) || b == b'=');
    Some((s, e3))
}
