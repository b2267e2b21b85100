//! Reading a `_bulk` response and deciding, per item, what happens next — a
//! pure classifier (the retry backoff is [`crate::net::Backoff`]). Follows the Elasticsearch reference:
//! the response's `items` are in request order, each under its action name with
//! a `status` and, on failure, an `error` object (`type`, `reason`, `caused_by`).

use serde::Deserialize;

/// The parts of a bulk response the sink uses.
#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    /// True when some item failed.
    #[serde(default)]
    pub errors: bool,
    /// One entry per request item, in order.
    pub items: Vec<Envelope>,
}

/// An item under its action name (`{"create": {...}}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Envelope {
    /// `index` action.
    Index(ItemResult),
    /// `create` action.
    Create(ItemResult),
    /// `update` action.
    Update(ItemResult),
    /// `delete` action.
    Delete(ItemResult),
}

impl Envelope {
    /// The result, whatever the action.
    pub fn into_result(self) -> ItemResult {
        match self {
            Envelope::Index(r)
            | Envelope::Create(r)
            | Envelope::Update(r)
            | Envelope::Delete(r) => r,
        }
    }
}

/// One item's outcome.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ItemResult {
    /// HTTP status of the item.
    pub status: u16,
    /// The index it went to.
    #[serde(default, rename = "_index")]
    pub index: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<ItemError>,
}

/// The `error` object of a failed item.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ItemError {
    /// `mapper_parsing_exception`, `es_rejected_execution_exception`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Human-readable reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// The underlying cause, as sent.
    #[serde(default)]
    pub caused_by: Option<serde_json::Value>,
}

/// The first read of a bulk response: each item's status only, nothing
/// allocated per item. Most responses are all successes; reading every item's
/// `_index` and `error` into strings cost about a tenth of the sink's CPU.
#[derive(Deserialize)]
struct LeanResponse {
    #[serde(default)]
    errors: bool,
    items: Vec<LeanEnvelope>,
}

/// `{"create": {"status": 201, ...}}` read as its status.
struct LeanEnvelope(u16);

/// The action names of bulk items, checked as the full read checks them.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LeanAction {
    Index,
    Create,
    Update,
    Delete,
}

#[derive(Deserialize)]
struct LeanItem {
    status: u16,
}

impl<'de> Deserialize<'de> for LeanEnvelope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = LeanEnvelope;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a bulk item under its action name")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LeanEnvelope, A::Error> {
                let Some((
                    LeanAction::Index
                    | LeanAction::Create
                    | LeanAction::Update
                    | LeanAction::Delete,
                    item,
                )) = map.next_entry::<LeanAction, LeanItem>()?
                else {
                    return Err(serde::de::Error::custom("an empty bulk item"));
                };
                if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::custom("a bulk item with two actions"));
                }
                Ok(LeanEnvelope(item.status))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Parses a bulk response body. A response whose items all succeeded is read
/// for their statuses only; one with a failure is read whole (index, error
/// type, reason, cause) for the dead-letter output.
pub fn parse(body: &[u8]) -> Result<Vec<ItemResult>, String> {
    if let Ok(lean) = serde_json::from_slice::<LeanResponse>(body)
        && !lean.errors
        && lean.items.iter().all(|i| (200..300).contains(&i.0))
    {
        return Ok(lean
            .items
            .into_iter()
            .map(|i| ItemResult {
                status: i.0,
                index: None,
                error: None,
            })
            .collect());
    }
    let r: BulkResponse = serde_json::from_slice(body).map_err(|e| {
        format!(
            "unreadable bulk response ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    Ok(r.items.into_iter().map(Envelope::into_result).collect())
}

/// What to do with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored.
    Ok,
    /// Already stored (409 on `create` with our `_id`): a replay or retry.
    Duplicate,
    /// Overloaded or failing node (429, 5xx): send again later.
    Retry,
    /// The document itself was refused (mapping error, bad index name, ...).
    Reject,
}

/// Classifies an item status.
pub fn classify(status: u16, create_with_id: bool) -> Verdict {
    match status {
        200..=299 => Verdict::Ok,
        409 if create_with_id => Verdict::Duplicate,
        429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

/// What a whole-request status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Read the items.
    Items,
    /// The body is too large for the server: no retry can succeed.
    TooLarge,
    /// Try again (429, 5xx, and anything else: a misconfigured proxy or
    /// credentials must hold the pipeline back, not throw data away).
    Retry,
}

/// Classifies a whole-request status.
pub fn classify_request(status: u16) -> RequestVerdict {
    match status {
        200..=299 => RequestVerdict::Items,
        413 => RequestVerdict::TooLarge,
        _ => RequestVerdict::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_response() {
        // The example response of the Bulk API reference, with a failed item.
        let body = br#"{
          "took": 30, "errors": true,
          "items": [
            {"index": {"_index": "test", "_id": "1", "_version": 1, "result": "created",
                       "_shards": {"total": 2, "successful": 1, "failed": 0}, "status": 201,
                       "_seq_no": 0, "_primary_term": 1}},
            {"delete": {"_index": "test", "_id": "2", "_version": 1, "result": "not_found", "status": 404}},
            {"create": {"_index": "test", "_id": "3", "status": 409,
                        "error": {"type": "version_conflict_engine_exception",
                                  "reason": "[3]: version conflict, document already exists (current version [1])",
                                  "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0", "index": "test"}}},
            {"update": {"_index": "test", "_id": "1", "status": 400,
                        "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [n]",
                                  "caused_by": {"type": "number_format_exception", "reason": "For input string: \"x\""}}}}
          ]
        }"#;
        let items = parse(body).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].status, 201);
        assert_eq!(
            items[2].error.as_ref().unwrap().kind,
            "version_conflict_engine_exception"
        );
        let e = items[3].error.as_ref().unwrap();
        assert_eq!(e.kind, "mapper_parsing_exception");
        assert_eq!(
            e.caused_by.as_ref().unwrap()["type"],
            "number_format_exception"
        );
        assert!(parse(b"<html>bad gateway</html>").is_err());
    }

    #[test]
    fn an_all_success_response_is_read_for_statuses_and_a_failure_whole() {
        let ok = br#"{"took":3,"errors":false,"items":[
            {"create":{"_index":"logs","_id":"a","status":201,"result":"created","_shards":{"total":2}}},
            {"index":{"_index":"logs","_id":"b","status":200}}]}"#;
        let items = parse(ok).unwrap();
        assert_eq!(
            items.iter().map(|i| i.status).collect::<Vec<_>>(),
            vec![201, 200]
        );
        assert!(items.iter().all(|i| i.index.is_none() && i.error.is_none()));
        // "errors": false with a failed item (a server that does not set the
        // flag) still gets the whole read, error and index included.
        let odd = br#"{"errors":false,"items":[{"create":{"_index":"logs","status":400,
            "error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}"#;
        let items = parse(odd).unwrap();
        assert_eq!(items[0].index.as_deref(), Some("logs"));
        assert_eq!(
            items[0].error.as_ref().unwrap().kind,
            "mapper_parsing_exception"
        );
        // Unknown actions are refused by both reads.
        assert!(parse(br#"{"errors":false,"items":[{"upsert":{"status":201}}]}"#).is_err());
        assert!(parse(br#"{"errors":false,"items":[{}]}"#).is_err());
    }

    #[test]
    fn classifies_items_and_requests() {
        assert_eq!(classify(201, true), Verdict::Ok);
        assert_eq!(classify(200, false), Verdict::Ok);
        assert_eq!(classify(409, true), Verdict::Duplicate);
        assert_eq!(classify(409, false), Verdict::Reject);
        assert_eq!(classify(429, true), Verdict::Retry);
        assert_eq!(classify(503, true), Verdict::Retry);
        assert_eq!(classify(400, true), Verdict::Reject);
        assert_eq!(classify(404, true), Verdict::Reject);
        assert_eq!(classify_request(200), RequestVerdict::Items);
        assert_eq!(classify_request(413), RequestVerdict::TooLarge);
        for s in [401, 403, 404, 429, 500, 502, 503] {
            assert_eq!(classify_request(s), RequestVerdict::Retry, "{s}");
        }
    }
}
