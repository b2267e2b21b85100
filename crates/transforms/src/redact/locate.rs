//! Finding, in a JSON line already validated, the string token that holds a
//! byte position — so a finding of the raw-line scan is rewritten inside its
//! string value, and only there.

use logagent_core::event::{Member, Span};

/// Where a position of a JSON line lies.
pub(super) enum Place {
    /// Inside the string value token `token`; `member` when it is a top-level
    /// member's value.
    Value { token: Span, member: Option<Member> },
    /// Inside the key token `key` of a member whose value is at `value`.
    Key {
        key: Span,
        value: Span,
        member: Option<Member>,
    },
    /// Not in a string.
    Other,
}

pub(super) fn string_end(line: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while let Some(p) = memchr::memchr2(b'"', b'\\', &line[i..]) {
        if line[i + p] == b'\\' {
            i += p + 2;
            continue;
        }
        return i + p + 1;
    }
    line.len()
}

pub(super) fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `v` (validated input).
pub(super) fn value_end(line: &[u8], v: usize) -> usize {
    match line.get(v) {
        Some(b'"') => string_end(line, v),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = v;
            while i < line.len() {
                match line[i] {
                    b'"' => {
                        i = string_end(line, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            line.len()
        }
        _ => {
            let mut i = v;
            while i < line.len()
                && !matches!(line[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                i += 1;
            }
            i
        }
    }
}

/// Finds the string token holding `pos` in the JSON object whose top-level
/// members are `members`.
pub(super) fn locate(line: &[u8], members: &[Member], pos: usize) -> Place {
    let idx = members.partition_point(|m| m.key.start as usize <= pos);
    let Some(m) = idx.checked_sub(1).map(|i| members[i]) else {
        return Place::Other;
    };
    if pos < m.key.end as usize {
        return Place::Key {
            key: m.key,
            value: m.value,
            member: Some(m),
        };
    }
    if pos < m.value.start as usize || pos >= m.value.end as usize {
        return Place::Other;
    }
    match line[m.value.start as usize] {
        b'"' => Place::Value {
            token: m.value,
            member: Some(m),
        },
        b'{' | b'[' => walk(line, m.value, pos),
        _ => Place::Other,
    }
}

/// Finds the string token holding `pos` inside a nested object or array.
fn walk(line: &[u8], container: Span, pos: usize) -> Place {
    let end = container.end as usize;
    let mut i = container.start as usize + 1;
    while i < end {
        let Some(o) = memchr::memchr(b'"', &line[i..end]) else {
            return Place::Other;
        };
        let s = i + o;
        if s > pos {
            return Place::Other;
        }
        let e = string_end(line, s);
        if pos < e {
            let after = skip_ws(line, e);
            if line.get(after) == Some(&b':') {
                let v = skip_ws(line, after + 1);
                return Place::Key {
                    key: Span::new(s, e),
                    value: Span::new(v, value_end(line, v)),
                    member: None,
                };
            }
            return Place::Value {
                token: Span::new(s, e),
                member: None,
            };
        }
        i = e;
    }
    Place::Other
}
