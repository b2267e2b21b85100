//! Grafana Loki's push messages (`logproto.PushRequest` from Loki's
//! `push.proto`, sent snappy block-compressed to `/loki/api/v1/push`) and the
//! LogQL label-set text they carry (`{app="api", level="info"}`).
//!
//! Shared by the `loki` sink (its reference for the streaming encoder) and the
//! `http` source (which decodes pushes from Promtail and Alloy), so neither
//! component depends on the other.
//!
//! ```text
//! message PushRequest      { repeated StreamAdapter streams = 1; }
//! message StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! message EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
//!                            repeated LabelPairAdapter structuredMetadata = 3; }
//! message LabelPairAdapter { string name = 1; string value = 2; }
//! message Timestamp        { int64 seconds = 1; int32 nanos = 2; }
//! ```

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0..1e9.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `logproto.LabelPairAdapter`: one structured metadata pair.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelPairAdapter {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `logproto.EntryAdapter`: one log line.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EntryAdapter {
    /// When it happened.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata (Loki 3.x).
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.StreamAdapter`: the entries of one label set.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StreamAdapter {
    /// The label set in LogQL form: `{app="api", level="info"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Ignored by Loki's distributor (it hashes the labels itself); sent as 0.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.PushRequest`: the body of a protobuf push (before snappy).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

impl Timestamp {
    /// Splits nanoseconds since the epoch (negative ones too).
    pub fn from_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the epoch.
    pub fn to_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

/// Why a label set's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label set at byte {offset}: expected {expected}")]
pub struct LabelsError {
    /// Where reading stopped.
    pub offset: usize,
    /// What was expected there.
    pub expected: &'static str,
}

/// Reads a LogQL label set (`{app="api", level="info"}`, as Promtail and
/// Alloy send it in [`StreamAdapter::labels`]) into name/value pairs, in
/// order. Values are Go-quoted strings: `\"`, `\\`, `\n`, `\t` and `\r` are
/// unescaped; names are `[a-zA-Z_][a-zA-Z0-9_]*`. At most `max_labels` pairs
/// (a label set is an index key in Loki, never large).
pub fn parse_labels(text: &str, max_labels: usize) -> Result<Vec<(String, String)>, LabelsError> {
    let b = text.as_bytes();
    let err = |offset, expected| LabelsError { offset, expected };
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0);
    if b.get(i) != Some(&b'{') {
        return Err(err(i, "'{'"));
    }
    i = skip_ws(i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') {
        return if skip_ws(i + 1) == b.len() {
            Ok(out)
        } else {
            Err(err(skip_ws(i + 1), "the end"))
        };
    }
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i == start || b[start].is_ascii_digit() {
            return Err(err(start, "a label name"));
        }
        let name = &text[start..i];
        i = skip_ws(i);
        if b.get(i) != Some(&b'=') {
            return Err(err(i, "'='"));
        }
        i = skip_ws(i + 1);
        if b.get(i) != Some(&b'"') {
            return Err(err(i, "'\"'"));
        }
        i += 1;
        let mut value = String::new();
        loop {
            match b.get(i) {
                None => return Err(err(i, "'\"'")),
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(b'\\') => {
                    value.push(match b.get(i + 1) {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        _ => return Err(err(i, "an escape (\\\" \\\\ \\n \\t \\r)")),
                    });
                    i += 2;
                }
                Some(_) => {
                    // Copy up to the next quote or backslash in one go (UTF-8 safe:
                    // both are ASCII, so the cut is on a character boundary).
                    let run = b[i..]
                        .iter()
                        .position(|c| *c == b'"' || *c == b'\\')
                        .map_or(b.len(), |p| i + p);
                    value.push_str(&text[i..run]);
                    i = run;
                }
            }
        }
        if out.len() == max_labels {
            return Err(err(start, "fewer labels"));
        }
        out.push((name.to_owned(), value));
        i = skip_ws(i);
        match b.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b'}') => {
                let end = skip_ws(i + 1);
                return if end == b.len() {
                    Ok(out)
                } else {
                    Err(err(end, "the end"))
                };
            }
            _ => return Err(err(i, "',' or '}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn label_sets_as_promtail_writes_them() {
        assert_eq!(
            parse_labels(r#"{app="api", level="info"}"#, 30).unwrap(),
            pairs(&[("app", "api"), ("level", "info")])
        );
        assert_eq!(parse_labels(" {} ", 30).unwrap(), pairs(&[]));
        assert_eq!(
            parse_labels(r#"{msg="say \"hi\"\n", p="C:\\x", u="é"}"#, 30).unwrap(),
            pairs(&[("msg", "say \"hi\"\n"), ("p", "C:\\x"), ("u", "é")])
        );
    }

    #[test]
    fn bad_label_sets_say_where() {
        for (text, offset) in [
            ("app=\"x\"", 0),
            ("{app=x}", 5),
            ("{1app=\"x\"}", 1),
            ("{app=\"x\"", 8),
            ("{app=\"x\"} junk", 10),
            ("{app=\"x\\q\"}", 7),
            ("{a=\"1\",}", 7),
        ] {
            assert_eq!(parse_labels(text, 30).unwrap_err().offset, offset, "{text}");
        }
        assert!(parse_labels(r#"{a="1", b="2"}"#, 1).is_err());
    }

    #[test]
    fn timestamps_and_messages_round_trip() {
        let ts = Timestamp::from_nanos(-1_500_000_000);
        assert_eq!((ts.seconds, ts.nanos), (-2, 500_000_000));
        assert_eq!(ts.to_nanos(), -1_500_000_000);
        let push = PushRequest {
            streams: vec![StreamAdapter {
                labels: "{a=\"b\"}".into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(7)),
                    line: "x".into(),
                    structured_metadata: vec![],
                }],
                hash: 0,
            }],
        };
        let bytes = push.encode_to_vec();
        assert_eq!(PushRequest::decode(&bytes[..]).unwrap(), push);
        assert!(PushRequest::decode(&b"\xff\xff\xff"[..]).is_err());
    }
}
