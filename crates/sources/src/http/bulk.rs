//! Elasticsearch's bulk API, as far as shippers use it: `POST /_bulk` or
//! `POST /INDEX/_bulk` with NDJSON pairs of an action line
//! (`{"create":{"_index":"logs"}}` or `index`) and a document line. Each
//! document becomes an event (its line, unparsed); the answer lists one item
//! per action like Elasticsearch's (`201 created`, or `400` with the reason
//! for a document that is not a JSON object and for `update`/`delete`, which
//! a log pipeline cannot apply), with `errors` set when any item failed, so a
//! shipper retries nothing that was accepted. `GET /` answers like a cluster,
//! since clients probe it for the version.

use std::fmt::Write as _;
use std::time::Instant;

use super::Intake;
use super::ndjson::{self, MAX_DEPTH, Refused, Tally};
use crate::http_server::{Answer, Reply, Request};
use logagent_core::event::AckToken;
use logagent_core::event::json::{self, Span};

/// The header Elasticsearch clients since 7.14 require on every success.
const PRODUCT: (&str, &str) = ("x-elastic-product", "Elasticsearch");

/// Index given to documents when neither the path nor the action names one.
const DEFAULT_INDEX: &str = "logagent";

/// True for `/_bulk` and `/INDEX/_bulk`.
pub(super) fn is_bulk_path(path: &str) -> bool {
    path == "/_bulk"
        || path
            .strip_suffix("/_bulk")
            .and_then(|p| p.strip_prefix('/'))
            .is_some_and(|index| !index.is_empty() && !index.contains('/'))
}

/// `GET /`: a cluster's self-description.
pub(super) fn info(version: &str) -> Answer {
    let body = serde_json::json!({
        "name": "logagent",
        "cluster_name": "logagent",
        "cluster_uuid": "logagent-http-source",
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "logagent",
            "build_hash": "logagent",
            "build_date": "2025-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    });
    Answer::json(200, body.to_string()).header(PRODUCT.0, PRODUCT.1)
}

/// A JSON string token for `s`.
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The string value of `name` in the action's object, if it has one.
fn meta_str(line: &[u8], object: Span, name: &[u8]) -> Option<String> {
    let m = json::find_member(line, object, name)?;
    let raw = m.value_raw(line);
    let decoded = json::decode_str(raw)?;
    Some(String::from_utf8_lossy(&decoded).into_owned())
}

/// A request whose NDJSON is not action/document pairs: refused whole, as
/// Elasticsearch does.
fn malformed(line_no: usize, why: &str) -> Reply {
    Reply::Answer(
        Answer::error(
            400,
            "illegal_argument_exception",
            &format!("Malformed action/metadata line [{line_no}], {why}"),
        )
        .counted("malformed_bulk"),
    )
}

/// `POST /_bulk`, `POST /INDEX/_bulk`.
pub(super) fn handle(intake: &Intake, request: &Request, ack: &AckToken) -> Reply {
    let started = Instant::now();
    let body = &request.body;
    let path_index = request
        .path
        .strip_suffix("/_bulk")
        .and_then(|p| p.strip_prefix('/'))
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_INDEX)
        .to_owned();
    let mut lines = Vec::new();
    ndjson::for_each_line(body, |s, e| lines.push((s, e)));
    let mut out = intake.collector(ack, body.len());
    let mut tally = Tally::default();
    let mut unsupported = 0u64;
    let mut scratch = Vec::new();
    let mut items = String::with_capacity(lines.len() / 2 * 160 + 2);
    let mut errors = false;
    let mut i = 0;
    while i < lines.len() {
        let (s, e) = lines[i];
        let line = &body[s..e];
        let line_no = i + 1;
        scratch.clear();
        let Ok(object) = json::scan_object(line, MAX_DEPTH, &mut scratch) else {
            return malformed(line_no, "expected START_OBJECT");
        };
        let _ = object;
        if scratch.len() != 1 {
            return malformed(line_no, "expected exactly one action");
        }
        let member = scratch[0];
        let action = member.key_raw(line).to_vec();
        let meta = member.value;
        if line.get(meta.start as usize) != Some(&b'{') {
            return malformed(line_no, "expected the action's metadata object");
        }
        let action = match &action[..] {
            b"index" | b"create" | b"update" | b"delete" => {
                String::from_utf8_lossy(&action).into_owned()
            }
            other => {
                return malformed(
                    line_no,
                    &format!(
                        "expected one of [create, delete, index, update] but found [{}]",
                        String::from_utf8_lossy(other)
                    ),
                );
            }
        };
        let index = meta_str(line, meta, b"_index").unwrap_or_else(|| path_index.clone());
        let given_id = meta_str(line, meta, b"_id");
        if !items.is_empty() {
            items.push(',');
        }
        let head = |items: &mut String, id: &str| {
            let _ = write!(
                items,
                "{{{}:{{\"_index\":{},\"_id\":{},",
                quoted(&action),
                quoted(&index),
                quoted(id)
            );
        };
        if action == "delete" {
            // A delete has no document line.
            errors = true;
            unsupported += 1;
            head(&mut items, given_id.as_deref().unwrap_or(""));
            items.push_str(
                "\"status\":400,\"error\":{\"type\":\"illegal_argument_exception\",\"reason\":\"logagent accepts index and create actions only\"}}}",
            );
            i += 1;
            continue;
        }
        let Some(&(ds, de)) = lines.get(i + 1) else {
            return malformed(line_no + 1, "the action has no document line");
        };
        i += 2;
        if action == "update" {
            errors = true;
            unsupported += 1;
            head(&mut items, given_id.as_deref().unwrap_or(""));
            items.push_str(
                "\"status\":400,\"error\":{\"type\":\"illegal_argument_exception\",\"reason\":\"logagent accepts index and create actions only\"}}}",
            );
            continue;
        }
        match ndjson::check_object(intake, body, ds, de, &mut scratch) {
            Ok(()) => {
                let seq = out.events() as u64;
                let event = out.push(body.slice(ds..de), ds as u64);
                let id = given_id.unwrap_or_else(|| {
                    format!("{:016x}{:012x}", intake.stream.id, event.meta.offset)
                });
                tally.accepted += 1;
                head(&mut items, &id);
                let _ = write!(
                    items,
                    "\"_version\":1,\"result\":\"created\",\"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\"_seq_no\":{seq},\"_primary_term\":1,\"status\":201}}}}"
                );
            }
            Err((why, detail)) => {
                intake.warn("refused a bulk document", &detail);
                tally.refuse(why);
                errors = true;
                head(&mut items, given_id.as_deref().unwrap_or(""));
                let (status, kind) = match why {
                    Refused::Invalid => (400, "document_parsing_exception"),
                    Refused::Oversize => (413, "content_too_long_exception"),
                };
                let _ = write!(
                    items,
                    "\"status\":{status},\"error\":{{\"type\":\"{kind}\",\"reason\":{}}}}}}}",
                    quoted(&format!("failed to parse the document: {detail}"))
                );
            }
        }
    }
    let mut discarded = tally.discarded();
    if unsupported > 0 {
        discarded.push(("unsupported_action", unsupported));
    }
    let took = started.elapsed().as_millis();
    let answer = Answer::json(
        200,
        format!("{{\"took\":{took},\"errors\":{errors},\"items\":[{items}]}}"),
    )
    .header(PRODUCT.0, PRODUCT.1);
    Reply::Deliver {
        batches: out.finish(),
        then: answer,
        discarded,
    }
}
