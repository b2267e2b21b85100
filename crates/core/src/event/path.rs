//! Field paths such as `req.headers.authorization` or `*.password`.

use std::fmt;

use bytes::Bytes;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A member name.
    Key(Box<[u8]>),
    /// `*`: any member at this level (pino's wildcard).
    Any,
}

/// A dotted path to a field, parsed once when a component is built. A step
/// that is a number addresses an array element (`users.0.email`, also written
/// `users[0].email`); `*` matches every member of an object or element of an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
    text: String,
    /// Each step's name as shared bytes, so adding the field to an event copies
    /// no key (a `*` step holds `*`).
    names: Vec<Bytes>,
}

/// Why a field path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is the empty string.
    #[error("a field path must not be empty")]
    Empty,
    /// Two dots in a row, or a leading/trailing dot.
    #[error("field path {0:?} has an empty segment (expected names separated by single dots)")]
    EmptySegment(String),
    /// A quoted segment was not closed.
    #[error("field path {0:?} has an unclosed quote")]
    UnclosedQuote(String),
}

impl FieldPath {
    /// Parses `a.b.c`; a segment in double quotes may contain dots (`a."b.c"`),
    /// and `*` matches any member.
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        // pino's bracket form for arrays: `users[0].email`, `users[*].email`.
        if text.contains('[') && !text.contains('"') {
            let dotted = text.replace("[", ".").replace("]", "");
            let mut path = FieldPath::parse(&dotted)?;
            path.text = text.to_owned();
            return Ok(path);
        }
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            let (segment, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| PathError::UnclosedQuote(text.to_owned()))?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                match rest.find('.') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, ""),
                }
            };
            if segment.is_empty() {
                return Err(PathError::EmptySegment(text.to_owned()));
            }
            segments.push(if segment == "*" && !rest.starts_with('"') {
                Segment::Any
            } else {
                Segment::Key(segment.as_bytes().into())
            });
            if after.is_empty() {
                break;
            }
            rest = after
                .strip_prefix('.')
                .ok_or_else(|| PathError::EmptySegment(text.to_owned()))?;
            if rest.is_empty() {
                return Err(PathError::EmptySegment(text.to_owned()));
            }
        }
        Ok(FieldPath::from_segments(segments, text.to_owned()))
    }

    fn from_segments(segments: Vec<Segment>, text: String) -> FieldPath {
        let names = segments
            .iter()
            .map(|s| match s {
                Segment::Key(k) => Bytes::copy_from_slice(k),
                Segment::Any => Bytes::from_static(b"*"),
            })
            .collect();
        FieldPath {
            segments,
            text,
            names,
        }
    }

    /// A single-segment path naming a top-level field.
    pub fn top(name: &str) -> FieldPath {
        FieldPath::from_segments(vec![Segment::Key(name.as_bytes().into())], name.to_owned())
    }

    /// The steps' names as shared bytes (what an inserted field's key is made of).
    pub fn names(&self) -> &[Bytes] {
        &self.names
    }

    /// The path's steps.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when any step is `*`.
    pub fn has_wildcard(&self) -> bool {
        self.segments.contains(&Segment::Any)
    }

    /// The path as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotted_quoted_and_wildcards() {
        let p = FieldPath::parse("req.headers.authorization").unwrap();
        assert_eq!(p.segments().len(), 3);
        let p = FieldPath::parse("a.\"b.c\".*").unwrap();
        assert_eq!(
            p.segments(),
            &[
                Segment::Key(b"a".to_vec().into()),
                Segment::Key(b"b.c".to_vec().into()),
                Segment::Any
            ]
        );
        assert!(p.has_wildcard());
    }

    #[test]
    fn rejects_empty_segments() {
        assert_eq!(FieldPath::parse(""), Err(PathError::Empty));
        for bad in ["a..b", ".a", "a.", "\"a"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }
}
