//! Batches built from literal lines for unit tests: JSON objects are scanned
//! into the batch's member arena as `parse_json` would, anything else stays a
//! text line. One helper instead of a copy in every transform's tests.

use std::sync::Arc;

use bytes::Bytes;

use super::{AckToken, Batch, Event, Root, Span, Stream};
use crate::event::json;

/// A batch of `lines` from an unnamed stream, with a detached ack token.
pub fn json_batch<S: AsRef<str>>(lines: &[S]) -> Batch {
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: None,
        id: 0,
    });
    json_batch_in(stream, AckToken::detached(), lines)
}

/// A batch of `lines` from `stream`, carrying `ack`.
pub fn json_batch_in<S: AsRef<str>>(stream: Arc<Stream>, ack: AckToken, lines: &[S]) -> Batch {
    let mut b = Batch::new(stream, ack, lines.len());
    for l in lines {
        let line = Bytes::copy_from_slice(l.as_ref().as_bytes());
        let start = b.members.len();
        let mut ev = Event::new(line.clone(), 0);
        if let Ok(object) = json::scan_object(&line, 32, &mut b.members) {
            ev.root = Root::Json {
                object,
                members: Span::new(start, b.members.len()),
            };
        }
        b.events.push(ev);
    }
    b
}
