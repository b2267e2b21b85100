//! Counting the log records of an export request before it is decoded: a
//! record can be encoded in two bytes (`0x12 0x00`, an empty `LogRecord`) or
//! three (`{}`) and decodes into a few hundred, so a body within
//! `max_decompressed_bytes` could still ask for gigabytes. The count walks the
//! encoding without building anything; a request over `max_records` is
//! refused before a struct is made.

use logagent_core::event::json::{self, Kind, Span};

/// The request holds more records than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

/// Reads a varint at `*at`; `None` when malformed.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Calls `each` with the contents of every length-delimited field `tag` of
/// the message `b`. Stops quietly at malformed input (the decoder that
/// follows reports it).
fn fields<'a>(
    b: &'a [u8],
    tag: u64,
    mut each: impl FnMut(&'a [u8]) -> Result<(), TooMany>,
) -> Result<(), TooMany> {
    let mut at = 0;
    while at < b.len() {
        let Some(key) = varint(b, &mut at) else {
            return Ok(());
        };
        let skip = match key & 7 {
            0 => varint(b, &mut at).map(|_| 0),
            1 => Some(8),
            5 => Some(4),
            2 => varint(b, &mut at).and_then(|n| usize::try_from(n).ok()),
            _ => None,
        };
        let Some(len) = skip else { return Ok(()) };
        let Some(end) = at.checked_add(len).filter(|e| *e <= b.len()) else {
            return Ok(());
        };
        if key & 7 == 2 && key >> 3 == tag {
            each(&b[at..end])?;
        }
        at = end;
    }
    Ok(())
}

/// The number of `LogRecord`s in a protobuf `ExportLogsServiceRequest`, or
/// `TooMany` past `max`.
pub fn protobuf(body: &[u8], max: usize) -> Result<usize, TooMany> {
    let mut n = 0usize;
    // resource_logs = 1 → scope_logs = 2 → log_records = 2.
    fields(body, 1, |rl| {
        fields(rl, 2, |sl| {
            fields(sl, 2, |_| {
                n += 1;
                if n > max { Err(TooMany) } else { Ok(()) }
            })
        })
    })?;
    Ok(n)
}

/// The elements of the array that member `camel` (or `snake`) of the object
/// at `object` holds.
fn elements(body: &[u8], object: Span, camel: &str, snake: &str, out: &mut Vec<Span>) {
    out.clear();
    let member = json::find_member(body, object, camel.as_bytes())
        .or_else(|| json::find_member(body, object, snake.as_bytes()));
    if let Some(m) = member
        && json::kind_of(&body[m.value.range()]) == Some(Kind::Array)
    {
        let _ = json::array_elements(body, m.value, out);
    }
}

/// The number of log records in an OTLP/JSON request, or `TooMany` past
/// `max`. Malformed JSON counts what it can (the parser reports the rest).
pub fn json(body: &[u8], max: usize) -> Result<usize, TooMany> {
    let body = body.trim_ascii_end();
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let root = Span::new(start, body.len());
    if json::kind_of(&body[start..]) != Some(Kind::Object) {
        return Ok(0);
    }
    let (mut rls, mut sls, mut lrs) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0usize;
    elements(body, root, "resourceLogs", "resource_logs", &mut rls);
    for rl in &rls {
        elements(body, *rl, "scopeLogs", "scope_logs", &mut sls);
        for sl in &sls {
            elements(body, *sl, "logRecords", "log_records", &mut lrs);
            n += lrs.len();
            if n > max {
                return Err(TooMany);
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_codecs::otlp::{ExportLogsServiceRequest, LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message as _;

    fn request(shape: &[&[usize]]) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: shape
                .iter()
                .map(|scopes| ResourceLogs {
                    scope_logs: scopes
                        .iter()
                        .map(|n| ScopeLogs {
                            log_records: vec![LogRecord::default(); *n],
                            ..ScopeLogs::default()
                        })
                        .collect(),
                    ..ResourceLogs::default()
                })
                .collect(),
        }
    }

    #[test]
    fn protobuf_and_json_counts_agree_with_the_request() {
        let r = request(&[&[3, 0, 2], &[], &[5]]);
        assert_eq!(protobuf(&r.encode_to_vec(), 100), Ok(10));
        assert_eq!(protobuf(&r.encode_to_vec(), 9), Err(TooMany));
        let mut text = Vec::new();
        logagent_codecs::otlp::json::write_request(&r, &mut text);
        assert_eq!(json(&text, 100), Ok(10));
        assert_eq!(json(&text, 9), Err(TooMany));
        assert_eq!(
            json(
                br#" {"resource_logs":[{"scope_logs":[{"log_records":[{},{}]}]}]} "#,
                100
            ),
            Ok(2)
        );
    }

    #[test]
    fn a_bomb_of_empty_records_is_caught_before_decoding() {
        // 1 MiB of empty records: half a million of them.
        let mut records = Vec::new();
        for _ in 0..(1 << 19) {
            records.extend_from_slice(&[0x12, 0x00]);
        }
        let mut scope = vec![0x12];
        prost::encoding::encode_varint(records.len() as u64, &mut scope);
        scope.extend_from_slice(&records);
        let mut body = vec![0x0a];
        prost::encoding::encode_varint(scope.len() as u64, &mut body);
        body.extend_from_slice(&scope);
        assert_eq!(protobuf(&body, 100_000), Err(TooMany));
        assert_eq!(protobuf(&body, 1 << 20), Ok(1 << 19));
    }

    #[test]
    fn malformed_input_counts_what_it_can() {
        assert_eq!(protobuf(b"\x0a\xff\xff\xff\xff\x0f", 10), Ok(0));
        assert_eq!(protobuf(b"\x0b", 10), Ok(0));
        assert_eq!(json(b"{\"resourceLogs\":[", 10), Ok(0));
        assert_eq!(json(b"[1]", 10), Ok(0));
    }
}
