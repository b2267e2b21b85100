//! Writing events as NDJSON with their edits spliced in.
//!
//! An event no transform changed is copied byte for byte (after a UTF-8 check);
//! an edited one is the original bytes with replacements, deletions and inserts
//! applied in one pass. Nothing is parsed again here.

use super::{EditOp, Event, Root, Span, Value};
use crate::event::json;

/// Appends `event` as one JSON object (no newline) to `out`.
///
/// Invalid UTF-8 in the line is replaced with U+FFFD so the output is always
/// valid JSON; the line itself is never dropped for it.
pub fn write_json(event: &Event, out: &mut Vec<u8>) {
    match event.root {
        Root::Json { .. } => write_json_root(event, out),
        Root::Text => write_text_root(event, out),
    }
}

/// Appends the event's line with its edits applied, as text: JSON lines come out
/// as JSON, text lines as the (edited) text.
pub fn write_text(event: &Event, out: &mut Vec<u8>) {
    match event.root {
        Root::Json { .. } => write_json_root(event, out),
        Root::Text => {
            let mut pos = 0;
            for e in &event.edits {
                if let EditOp::Replace(b) = &e.op {
                    json::write_lossy(out, &event.line[pos..e.at.start as usize]);
                    json::write_lossy(out, b);
                    pos = e.at.end as usize;
                }
            }
            json::write_lossy(out, &event.line[pos..]);
        }
    }
}

fn write_json_root(event: &Event, out: &mut Vec<u8>) {
    if event.edits.is_empty() {
        json::write_lossy(out, &event.line);
        return;
    }
    write_span(event, Span::new(0, event.line.len()), out);
}

/// Appends the bytes of `span` of a JSON line with the edits inside it applied
/// (used for whole lines and for reading an edited nested value).
pub(crate) fn write_span(event: &Event, span: Span, out: &mut Vec<u8>) {
    let line = &event.line[..];
    let mut pos = span.start as usize;
    let end = span.end as usize;
    for e in &event.edits {
        let start = e.at.start as usize;
        if start < pos || start >= end || (e.at.end as usize) > end {
            // Outside the span, or inside a region already replaced (covered
            // edits are dropped when the covering edit is made).
            continue;
        }
        json::write_lossy(out, &line[pos..start]);
        match &e.op {
            EditOp::Replace(b) => {
                // Edited values get the same U+FFFD replacement as the
                // untouched line: a transform may copy raw bytes of the line
                // (a value rewritten around its invalid bytes).
                json::write_lossy(out, b);
                pos = e.at.end as usize;
            }
            EditOp::Delete => pos = e.at.end as usize,
            EditOp::Insert { key, value } => {
                if needs_comma(out) {
                    out.push(b',');
                }
                json::write_str(out, key);
                out.push(b':');
                write_value(event, value, out);
                pos = start;
            }
        }
    }
    json::write_lossy(out, &line[pos..end]);
}

fn write_text_root(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(super::MESSAGE_KEY.as_bytes());
    out.extend_from_slice(b"\":");
    let has_replace = event
        .edits
        .iter()
        .any(|e| matches!(e.op, EditOp::Replace(_)));
    if has_replace {
        let mut text = Vec::with_capacity(event.line.len());
        write_text(event, &mut text);
        json::write_str(out, &text);
    } else {
        json::write_str(out, &event.line);
    }
    for e in &event.edits {
        if let EditOp::Insert { key, value } = &e.op {
            out.push(b',');
            json::write_str(out, key);
            out.push(b':');
            write_value(event, value, out);
        }
    }
    out.push(b'}');
}

fn write_value(event: &Event, value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Json(b) => json::write_lossy(out, b),
        Value::LineStr(span) => json::write_str(out, &event.line[span.range()]),
        Value::LineRaw(span) => json::write_lossy(out, &event.line[span.range()]),
    }
}

/// True unless the last significant byte written opens an object, i.e. unless the
/// member about to be inserted is the object's first.
fn needs_comma(out: &[u8]) -> bool {
    out.iter()
        .rev()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .is_some_and(|b| *b != b'{')
}
