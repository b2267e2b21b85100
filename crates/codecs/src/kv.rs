//! Key/value text: logfmt (`level=info msg="user logged in" took=12ms`) and
//! general `key=value` lists with configurable separators
//! (`user: alice, action: login`).
//!
//! The scanner records byte ranges of keys and values ([`Pair`]) into a reused
//! vector; it never copies. Quoted values keep their quotes' inside as the range,
//! with a flag when it holds backslash escapes to decode.

use memchr::memmem;

use logagent_core::event::json::Span;

/// One `key=value` found in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The key's bytes.
    pub key: Span,
    /// The value's bytes (inside its quotes, if it was quoted); `None` for a
    /// bare key (`debug` in logfmt means `debug=true`).
    pub value: Option<Span>,
    /// The value was quoted and contains `\` escapes.
    pub escaped: bool,
}

/// How pairs are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syntax {
    /// Between pairs; a single space means "any run of whitespace".
    pub field_separator: Vec<u8>,
    /// Between a key and its value.
    pub value_separator: Vec<u8>,
    /// Keep keys without a value separator (logfmt's boolean flags).
    pub bare_keys: bool,
}

impl Syntax {
    /// logfmt: whitespace between pairs, `=` inside, bare keys are flags.
    pub fn logfmt() -> Syntax {
        Syntax {
            field_separator: b" ".to_vec(),
            value_separator: b"=".to_vec(),
            bare_keys: true,
        }
    }

    fn whitespace_fields(&self) -> bool {
        self.field_separator == b" "
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// Appends the pairs of `text` to `out`. Malformed parts (an unclosed quote, a
/// key that is empty) end or skip a pair; scanning never fails.
pub fn scan(text: &[u8], syntax: &Syntax, out: &mut Vec<Pair>) {
    let vsep = syntax.value_separator.as_slice();
    let fsep = syntax.field_separator.as_slice();
    let ws_fields = syntax.whitespace_fields();
    let mut i = 0;
    let n = text.len();
    while i < n {
        // Skip separators and blanks between pairs.
        while i < n && (is_space(text[i]) || (!ws_fields && text[i..].starts_with(fsep))) {
            i += if is_space(text[i]) { 1 } else { fsep.len() };
        }
        if i >= n {
            break;
        }
        // The key runs to the value separator, a field separator or a blank.
        let key_start = i;
        let mut key_end = i;
        let mut has_value = false;
        while i < n {
            if text[i..].starts_with(vsep) {
                key_end = i;
                i += vsep.len();
                has_value = true;
                break;
            }
            if (ws_fields && is_space(text[i])) || (!ws_fields && text[i..].starts_with(fsep)) {
                break;
            }
            i += 1;
            key_end = i;
        }
        let key = trim(text, key_start, key_end);
        if !has_value {
            if syntax.bare_keys && !key.is_empty() {
                out.push(Pair {
                    key,
                    value: None,
                    escaped: false,
                });
            }
            // Not a pair: skip to the next field.
            while i < n && !(is_space(text[i]) || (!ws_fields && text[i..].starts_with(fsep))) {
                i += 1;
            }
            continue;
        }
        if !ws_fields {
            while i < n && is_space(text[i]) {
                i += 1;
            }
        }
        let (value, escaped, next) = match text.get(i) {
            Some(&q @ (b'"' | b'\'')) => quoted(text, i, q),
            _ => {
                let end = if ws_fields {
                    text[i..]
                        .iter()
                        .position(|b| is_space(*b))
                        .map_or(n, |p| i + p)
                } else {
                    memmem::find(&text[i..], fsep).map_or(n, |p| i + p)
                };
                (trim(text, i, end), false, end)
            }
        };
        i = next;
        if key.is_empty() || key_has_quote(text, key) {
            continue;
        }
        out.push(Pair {
            key,
            value: Some(value),
            escaped,
        });
    }
}

fn key_has_quote(text: &[u8], key: Span) -> bool {
    text[key.range()].iter().any(|b| matches!(b, b'"' | b'\''))
}

fn trim(text: &[u8], mut s: usize, mut e: usize) -> Span {
    while s < e && is_space(text[s]) {
        s += 1;
    }
    while e > s && is_space(text[e - 1]) {
        e -= 1;
    }
    Span::new(s, e)
}

/// A quoted value starting at `open`: its inside, whether it has escapes, and
/// where scanning goes on. An unclosed quote takes the rest of the text.
fn quoted(text: &[u8], open: usize, q: u8) -> (Span, bool, usize) {
    let mut i = open + 1;
    let mut escaped = false;
    while let Some(p) = memchr::memchr2(q, b'\\', &text[i..]) {
        let at = i + p;
        if text[at] == b'\\' {
            escaped = true;
            i = at + 2;
            if i > text.len() {
                break;
            }
            continue;
        }
        return (Span::new(open + 1, at), escaped, at + 1);
    }
    (Span::new(open + 1, text.len()), escaped, text.len())
}

/// Decodes the backslash escapes of a quoted value (`\"`, `\\`, `\n`, `\t`,
/// `\r`; anything else keeps the backslash).
pub fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter().copied();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(c @ (b'"' | b'\\' | b'\'')) => out.push(c),
            Some(c) => {
                out.push(b'\\');
                out.push(c);
            }
            None => out.push(b'\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str, syntax: &Syntax) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        scan(text.as_bytes(), syntax, &mut out);
        out.iter()
            .map(|p| {
                let b = text.as_bytes();
                let key = String::from_utf8_lossy(&b[p.key.range()]).into_owned();
                let value = p.value.map(|v| {
                    let raw = &b[v.range()];
                    String::from_utf8_lossy(&if p.escaped {
                        unescape(raw)
                    } else {
                        raw.to_vec()
                    })
                    .into_owned()
                });
                (key, value)
            })
            .collect()
    }

    fn kv(k: &str, v: &str) -> (String, Option<String>) {
        (k.into(), Some(v.into()))
    }

    #[test]
    fn logfmt() {
        let got = pairs(
            r#"level=info msg="user \"taro\" logged in" took=12ms  debug path=/a=b empty= trailing"#,
            &Syntax::logfmt(),
        );
        assert_eq!(
            got,
            [
                kv("level", "info"),
                kv("msg", "user \"taro\" logged in"),
                kv("took", "12ms"),
                ("debug".into(), None),
                kv("path", "/a=b"),
                kv("empty", ""),
                ("trailing".into(), None),
            ]
        );
    }

    #[test]
    fn malformed_logfmt_never_fails() {
        assert_eq!(
            pairs(r#"a=1 msg="unclosed b=2"#, &Syntax::logfmt()),
            [kv("a", "1"), kv("msg", "unclosed b=2")]
        );
        assert_eq!(pairs("=x ==  =", &Syntax::logfmt()), []);
        assert_eq!(pairs("", &Syntax::logfmt()), []);
        assert_eq!(pairs(r#"a="x\"#, &Syntax::logfmt()), [kv("a", "x\\")]);
    }

    #[test]
    fn custom_separators() {
        let s = Syntax {
            field_separator: b",".to_vec(),
            value_separator: b":".to_vec(),
            bare_keys: false,
        };
        assert_eq!(
            pairs("user: alice, action : 'log in', note, ip:10.0.0.1", &s),
            [
                kv("user", "alice"),
                kv("action", "log in"),
                kv("ip", "10.0.0.1")
            ]
        );
        let s = Syntax {
            field_separator: b"&".to_vec(),
            value_separator: b"=".to_vec(),
            bare_keys: false,
        };
        assert_eq!(
            pairs("a=1&b=&c=x y", &s),
            [kv("a", "1"), kv("b", ""), kv("c", "x y")]
        );
    }
}
