//! Grafana Loki's push API (`POST /loki/api/v1/push`), as Promtail, Alloy
//! and Loki clients send it: snappy-compressed protobuf
//! (`Content-Type: application/x-protobuf`, the default) or JSON
//! (`application/json`, possibly gzip). Each entry becomes an event whose
//! line is the entry's line; the stream's labels and the entry's structured
//! metadata become fields (strings), its timestamp the event time. A push
//! that cannot be read is refused whole with 400 (Loki does the same); a
//! success is `204 No Content`.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message as _;

use super::{Collector, Intake};
use crate::http_server::{Answer, Reply, Request};
use logagent_codecs::loki_push::{PushRequest, parse_labels};
use logagent_core::event::{AckToken, Edit, EditOp, Span, Value};

/// Labels read from one stream's label set (Loki's own default limit is 15).
const MAX_LABELS: usize = 64;

/// One entry, format-independent.
struct Entry {
    ts: i64,
    line: Bytes,
    metadata: Vec<(String, String)>,
}

/// The fields every entry of a stream gets (its labels), as keys and values.
type Labels = [(Bytes, Value)];

/// What each entry of a push is handed to, with its stream's labels.
type EachEntry<'a> = &'a mut dyn FnMut(&Labels, Entry);

/// Why a push was refused.
struct Bad {
    error_type: &'static str,
    status: u16,
    reason: String,
}

fn bad(error_type: &'static str, reason: impl Into<String>) -> Bad {
    Bad {
        error_type,
        status: 400,
        reason: reason.into(),
    }
}

/// `POST /loki/api/v1/push`.
pub(super) fn handle(intake: &Intake, request: &Request, ack: &AckToken) -> Reply {
    // Positions are entry numbers, which a compressed body can outnumber its
    // bytes with: the range reserved is the most an inflated body may hold.
    let reserve = request.max_decompressed_bytes.max(request.body.len());
    let mut out = intake.collector(ack, reserve);
    let mut oversize = 0u64;
    let result = if request.content_type() == "application/json" {
        read_json(&request.body, &mut |labels, entry| {
            add(intake, &mut out, labels, entry, &mut oversize)
        })
    } else {
        read_protobuf(request, &mut |labels, entry| {
            add(intake, &mut out, labels, entry, &mut oversize)
        })
    };
    if let Err(b) = result {
        intake.warn("refused a Loki push", &b.reason);
        return Reply::Answer(
            Answer::error(b.status, "bad_request", &b.reason).counted(b.error_type),
        );
    }
    let discarded = if oversize > 0 {
        vec![("oversize", oversize)]
    } else {
        Vec::new()
    };
    Reply::Deliver {
        batches: out.finish(),
        then: Answer::empty(204),
        discarded,
    }
}

fn add(
    intake: &Intake,
    out: &mut Collector<'_>,
    labels: &Labels,
    entry: Entry,
    oversize: &mut u64,
) {
    if entry.line.len() > intake.config.max_line_bytes.as_usize() {
        *oversize += 1;
        return;
    }
    let position = out.events() as u64;
    let end = entry.line.len();
    let event = out.push(entry.line, position);
    event.meta.time = Some(entry.ts);
    let at = Span::new(end, end);
    for (key, value) in labels {
        event.edits.push(Edit {
            at,
            op: EditOp::Insert {
                key: key.clone(),
                value: value.clone(),
            },
        });
    }
    for (key, value) in entry.metadata {
        event.edits.push(Edit {
            at,
            op: EditOp::Insert {
                key: Bytes::from(key),
                value: Value::string(value.as_bytes()),
            },
        });
    }
}

/// Labels as the fields every entry of the stream gets.
fn label_fields(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(Bytes, Value)> {
    pairs
        .into_iter()
        .map(|(k, v)| (Bytes::from(k), Value::string(v.as_bytes())))
        .collect()
}

fn read_protobuf(request: &Request, each: EachEntry<'_>) -> Result<(), Bad> {
    let body = &request.body;
    let max = request.max_decompressed_bytes;
    let len = snap::raw::decompress_len(body).map_err(|e| {
        bad(
            "invalid_snappy",
            format!("the body is not snappy-compressed protobuf: {e}"),
        )
    })?;
    if len > max {
        return Err(Bad {
            error_type: "decompressed_too_large",
            status: 413,
            reason: format!(
                "the push inflates to {len} bytes, over max_decompressed_bytes ({max})"
            ),
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| {
            bad(
                "invalid_snappy",
                format!("the body is not valid snappy: {e}"),
            )
        })?;
    let push = PushRequest::decode(&raw[..]).map_err(|e| {
        bad(
            "invalid_protobuf",
            format!("the body is not a Loki PushRequest: {e}"),
        )
    })?;
    drop(raw);
    for stream in push.streams {
        let labels = parse_labels(&stream.labels, MAX_LABELS).map_err(|e| {
            bad(
                "invalid_labels",
                format!("stream labels {:?}: {e}", stream.labels),
            )
        })?;
        let fields = label_fields(labels);
        for entry in stream.entries {
            each(
                &fields,
                Entry {
                    ts: entry.timestamp.map_or(0, |t| t.to_nanos()),
                    line: Bytes::from(entry.line),
                    metadata: entry
                        .structured_metadata
                        .into_iter()
                        .map(|m| (m.name, m.value))
                        .collect(),
                },
            );
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(serde::Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

fn read_json(body: &[u8], each: EachEntry<'_>) -> Result<(), Bad> {
    let push: JsonPush = serde_json::from_slice(body).map_err(|e| {
        bad(
            "invalid_json",
            format!("the body is not a Loki JSON push: {e}"),
        )
    })?;
    for (s, stream) in push.streams.into_iter().enumerate() {
        if stream.stream.len() > MAX_LABELS {
            return Err(bad(
                "invalid_labels",
                format!("streams[{s}] has over {MAX_LABELS} labels"),
            ));
        }
        let fields = label_fields(stream.stream);
        for (v, value) in stream.values.into_iter().enumerate() {
            let at = || format!("streams[{s}].values[{v}]");
            let mut parts = value.into_iter();
            let ts = match parts.next() {
                Some(serde_json::Value::String(t)) => t.parse::<i64>().map_err(|_| {
                    bad(
                        "invalid_json",
                        format!("{}: the timestamp must be nanoseconds in a string", at()),
                    )
                })?,
                _ => {
                    return Err(bad(
                        "invalid_json",
                        format!("{}: expected [\"<ns>\", \"<line>\"]", at()),
                    ));
                }
            };
            let line = match parts.next() {
                Some(serde_json::Value::String(l)) => Bytes::from(l),
                _ => {
                    return Err(bad(
                        "invalid_json",
                        format!("{}: the line must be a string", at()),
                    ));
                }
            };
            let metadata = match parts.next() {
                None => Vec::new(),
                Some(serde_json::Value::Object(m)) => m
                    .into_iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    })
                    .collect(),
                Some(_) => {
                    return Err(bad(
                        "invalid_json",
                        format!("{}: structured metadata must be an object", at()),
                    ));
                }
            };
            each(&fields, Entry { ts, line, metadata });
        }
    }
    Ok(())
}
