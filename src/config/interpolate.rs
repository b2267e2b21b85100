//! `${VAR}` and `${VAR:-default}` in pipeline files, as Vector and Docker Compose
//! write them. `$$` is a literal `$`. References inside TOML comments are left
//! as they are: a comment that shows `${LOKI_URL}` must not need it set. The
//! same holds for YAML's `#` comments; JSON has none.

use super::format::{Format, yaml_comments};

/// A variable that is referenced, unset, and has no default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar {
    /// The variable's name.
    pub name: String,
    /// 1-based line of the reference.
    pub line: usize,
    /// 1-based column of the reference.
    pub column: usize,
}

/// Replaces references in `text` using `lookup`; collects every unset variable
/// that has no default (and every malformed reference, reported with an empty name).
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<MissingVar>> {
    let (out, missing) = interpolate_all(text, lookup);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// [`interpolate`] that always gives the text: a reference that cannot be
/// replaced stays as written, so the rest of the file can still be checked
/// and every problem reported in one pass.
pub fn interpolate_all(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (String, Vec<MissingVar>) {
    interpolate_format(text, Format::Toml, lookup)
}

/// [`interpolate_all`] for a file in `format`, whose comments (TOML's and
/// YAML's `#`) are left as written.
pub fn interpolate_format(
    text: &str,
    format: Format,
    lookup: impl Fn(&str) -> Option<String>,
) -> (String, Vec<MissingVar>) {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let comments = match format {
        Format::Toml => toml_comments(text),
        Format::Yaml => yaml_comments(text),
        Format::Json => Vec::new(),
    };
    let in_comment = |offset: usize| {
        let i = comments.partition_point(|&(_, end)| end <= offset);
        comments.get(i).is_some_and(|&(start, _)| start <= offset)
    };
    let mut rest = text;
    let mut consumed = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let here = consumed + i;
        if in_comment(here) {
            out.push('$');
            consumed = here + 1;
            rest = after;
            continue;
        }
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            consumed = here + 2;
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            consumed = here + 1;
            rest = after;
            continue;
        };
        let Some(close) = body.find('}') else {
            missing.push(position(text, here, String::new()));
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let inner = &body[..close];
        let (name, default) = match inner.find(":-") {
            Some(d) => (&inner[..d], Some(&inner[d + 2..])),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let reference = &rest[i..i + 3 + close];
        if !valid {
            missing.push(position(text, here, String::new()));
            out.push_str(reference);
        } else {
            match lookup(name).filter(|v| !(v.is_empty() && default.is_some())) {
                Some(v) => out.push_str(&v),
                None => match default {
                    Some(d) => out.push_str(d),
                    None => {
                        missing.push(position(text, here, name.to_owned()));
                        out.push_str(reference);
                    }
                },
            }
        }
        consumed = here + 2 + close + 1;
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    (out, missing)
}

fn position(text: &str, offset: usize, name: String) -> MissingVar {
    let (line, column) = line_col(text, offset);
    MissingVar { name, line, column }
}

/// The byte ranges of TOML comments in `text` (from `#` to the end of its
/// line, outside strings), in order. A lexer of strings and comments only: the
/// rest of the syntax is the TOML parser's to judge.
fn toml_comments(text: &str) -> Vec<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Normal,
        Basic,
        Literal,
        MultiBasic,
        MultiLiteral,
    }
    let bytes = text.as_bytes();
    let mut comments = Vec::new();
    let mut state = State::Normal;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        match state {
            State::Normal => match bytes[i] {
                b'#' => {
                    let end = memchr::memchr(b'\n', rest).map_or(bytes.len(), |n| i + n);
                    comments.push((i, end));
                    i = end;
                    continue;
                }
                b'"' if rest.starts_with(b"\"\"\"") => {
                    state = State::MultiBasic;
                    i += 3;
                    continue;
                }
                b'\'' if rest.starts_with(b"'''") => {
                    state = State::MultiLiteral;
                    i += 3;
                    continue;
                }
                b'"' => state = State::Basic,
                b'\'' => state = State::Literal,
                _ => {}
            },
            State::Basic => match bytes[i] {
                b'\\' => i += 1,
                b'"' | b'\n' => state = State::Normal,
                _ => {}
            },
            State::Literal => {
                if matches!(bytes[i], b'\'' | b'\n') {
                    state = State::Normal;
                }
            }
            State::MultiBasic => {
                if bytes[i] == b'\\' {
                    i += 1;
                } else if rest.starts_with(b"\"\"\"") {
                    state = State::Normal;
                    i += 3;
                    continue;
                }
            }
            State::MultiLiteral => {
                if rest.starts_with(b"'''") {
                    state = State::Normal;
                    i += 3;
                    continue;
                }
            }
        }
        i += 1;
    }
    comments
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/home/x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        assert_eq!(
            interpolate("a=${HOME_DIR} b=${NOPE:-dflt} c=$$ d=${EMPTY:-e} f=$x", env).unwrap(),
            "a=/home/x b=dflt c=$ d=e f=$x"
        );
    }

    #[test]
    fn reports_every_missing_variable_with_position() {
        let err = interpolate("x = 1\ny = \"${A}\"\nz = \"${B}\"", env).unwrap_err();
        assert_eq!(
            err,
            vec![
                MissingVar {
                    name: "A".into(),
                    line: 2,
                    column: 6
                },
                MissingVar {
                    name: "B".into(),
                    line: 3,
                    column: 6
                },
            ]
        );
        assert!(interpolate("${bad name}", env).is_err());
        assert!(interpolate("${UNCLOSED", env).is_err());
    }

    /// A comment may show a variable without it being set; a `#` inside a
    /// string starts no comment.
    #[test]
    fn variables_in_comments_are_left_alone() {
        let text = "# set ${LOKI_URL} first\nurl = \"${HOME_DIR}\" # or ${NOPE}\n\
                    a = \"#${HOME_DIR}\"\nb = '#'\nc = \"${HOME_DIR}\"\n\
                    d = \"\"\"\n# ${HOME_DIR}\n\"\"\"\ne = \"\\\"#\" # ${NOPE}\n";
        assert_eq!(
            interpolate(text, env).unwrap(),
            "# set ${LOKI_URL} first\nurl = \"/home/x\" # or ${NOPE}\n\
             a = \"#/home/x\"\nb = '#'\nc = \"/home/x\"\n\
             d = \"\"\"\n# /home/x\n\"\"\"\ne = \"\\\"#\" # ${NOPE}\n"
        );
        assert!(interpolate("x = 1 # ${UNCLOSED", env).is_ok());
    }
}
