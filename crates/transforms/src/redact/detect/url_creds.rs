//! `url_credentials`: the userinfo of a URL or DSN, any scheme
//! (`postgres://app:pw@db:5432/app`, `redis://:pw@cache`, `amqp://u:p@mq`).

/// Bytes that end a URL's authority (or the URL).
fn authority_end(b: u8) -> bool {
    matches!(
        b,
        b'/' | b'?'
            | b'#'
            | b'"'
            | b'\''
            | b'<'
            | b'>'
            | b'\\'
            | b'`'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'|'
            | b'^'
    ) || b.is_ascii_whitespace()
}

/// The userinfo after the `://` at `s..e`: from the scheme separator to the
/// last `@` of the authority, when it holds a `:` (a password) or is long
/// enough to be a token (`https://ghp_…@github.com`).
pub(super) fn url_credentials(h: &[u8], e: usize) -> Option<(usize, usize)> {
    let limit = (e + 512).min(h.len());
    let mut at = None;
    let mut i = e;
    while i < limit && !authority_end(h[i]) {
        if h[i] == b'@' {
            at = Some(i);
        }
        i += 1;
    }
    let at = at?;
    let info = &h[e..at];
    let has_password = info.contains(&b':');
    (has_password || info.len() >= 20).then_some((e, at))
}
