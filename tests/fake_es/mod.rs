//! An in-process Elasticsearch stand-in on 127.0.0.1 for the sink's tests.
//!
//! It implements the `_bulk` contract as the Elasticsearch reference describes
//! it: NDJSON bodies (the last line must end with a newline), `index`/`create`
//! actions with `_index` and `_id` (generated when absent), one response item
//! per action in request order with `status` and, on failure, an `error`
//! object (`type`, `reason`), `errors: true` when any item failed, 409
//! `version_conflict_engine_exception` for `create` on an existing `_id`, a
//! dynamic mapping whose type conflicts give 400 `mapper_parsing_exception`,
//! data streams that accept only `create` and need `@timestamp`, gzip request
//! bodies, `Content-Type` checks, `GET /` with a version, and basic-auth.
//!
//! Faults are scripted: whole-request statuses, dropped connections (before or
//! after the request was processed), slow answers, an outage (every request
//! answered 503), a hold (requests wait until released), and per-item statuses
//! for documents containing a marker.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

/// A scripted whole-request fault, used by the next bulk request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and an Elasticsearch-style error body).
    Status(u16),
    /// Close the connection without answering, before processing.
    DropBefore,
    /// Process the request, then close the connection without answering (the
    /// client cannot know the documents are stored).
    DropAfter,
    /// Process the request, then wait this long before answering.
    SlowAfter(Duration),
}

/// Per-item status for documents whose source contains `marker`.
#[derive(Debug, Clone)]
pub struct ItemRule {
    /// Substring of the document source.
    pub marker: String,
    /// Status to answer (429, 500, 503, 400 ...).
    pub status: u16,
    /// How many times; `None` for always.
    pub remaining: Option<u32>,
}

/// What `GET /` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// Elasticsearch 8.
    Es8,
    /// OpenSearch 2.
    OpenSearch,
    /// 404: a bulk-only server.
    BulkOnly,
}

/// One logged bulk request.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Number of actions.
    pub items: usize,
    /// `_id`s in the request (generated ones are not listed).
    pub ids: Vec<String>,
    /// Content-Encoding was gzip.
    pub gzip: bool,
    /// Bytes on the wire.
    pub wire_bytes: usize,
    /// Bytes after decoding.
    pub body_bytes: usize,
    /// Status answered (0 when the connection was dropped).
    pub status: u16,
    /// The `pipeline` query parameter.
    pub pipeline: Option<String>,
}

#[derive(Debug, Default)]
struct Index {
    docs: BTreeMap<String, (u64, Value)>,
    mapping: HashMap<String, &'static str>,
}

/// The server's state, shared with the test.
#[derive(Debug, Default)]
pub struct State {
    indices: BTreeMap<String, Index>,
    /// Every bulk request, in arrival order.
    pub requests: Vec<Logged>,
    /// Times each `_id` was seen in a bulk request.
    pub attempts: HashMap<String, u32>,
    /// Whole-request faults for the next requests, in order.
    pub faults: VecDeque<Fault>,
    /// Per-item rules.
    pub rules: Vec<ItemRule>,
    /// When set, every bulk request is answered with this status.
    pub outage: Option<u16>,
    /// Expected `Authorization` header.
    pub auth: Option<String>,
    root: Option<Root>,
    next_auto_id: u64,
    /// Requests currently parked by a hold.
    pub parked: usize,
    /// `GET /` requests seen (health checks).
    pub root_requests: usize,
    /// Benchmark mode: accept every document without storing it (only counted).
    pub discard: bool,
    /// Documents accepted in `discard` mode.
    pub discarded: u64,
}

/// A running fake server; stopped on drop.
pub struct FakeEs {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    hold: watch::Sender<bool>,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeEs {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub fn start() -> FakeEs {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (hold, hold_rx) = watch::channel(false);
        let stop = Arc::new(Notify::new());
        let (st, stop2) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        _ = stop2.notified() => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let st = st.clone();
                            let hold_rx = hold_rx.clone();
                            tokio::spawn(async move {
                                let kill = Arc::new(Notify::new());
                                let k2 = kill.clone();
                                let service = hyper::service::service_fn(move |req| {
                                    handle(req, st.clone(), hold_rx.clone(), k2.clone())
                                });
                                let conn = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service);
                                tokio::select! {
                                    _ = conn => {}
                                    _ = kill.notified() => {}
                                }
                            });
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        FakeEs {
            addr,
            state,
            hold,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `f` on the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Queues whole-request faults.
    pub fn fault(&self, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| s.faults.extend(faults));
    }

    /// Adds a per-item rule.
    pub fn rule(&self, marker: &str, status: u16, times: Option<u32>) {
        self.with(|s| {
            s.rules.push(ItemRule {
                marker: marker.into(),
                status,
                remaining: times,
            })
        });
    }

    /// Answers every bulk request with `status` until `outage(None)`.
    pub fn outage(&self, status: Option<u16>) {
        self.with(|s| s.outage = status);
    }

    /// Parks bulk requests (true) until released (false).
    pub fn hold(&self, on: bool) {
        self.hold.send_replace(on);
    }

    /// Requires this `Authorization` header.
    pub fn require_auth(&self, header: &str) {
        self.with(|s| s.auth = Some(header.into()));
    }

    /// Chooses what `GET /` answers.
    pub fn root(&self, root: Root) {
        self.with(|s| s.root = Some(root));
    }

    /// Documents stored, over every index.
    pub fn doc_count(&self) -> usize {
        self.with(|s| s.indices.values().map(|i| i.docs.len()).sum())
    }

    /// Names of the indices holding documents.
    pub fn indices(&self) -> Vec<String> {
        self.with(|s| {
            s.indices
                .iter()
                .filter(|(_, i)| !i.docs.is_empty())
                .map(|(n, _)| n.clone())
                .collect()
        })
    }

    /// The documents of `index`, by `_id` order.
    pub fn docs(&self, index: &str) -> Vec<Value> {
        self.with(|s| {
            s.indices
                .get(index)
                .map(|i| i.docs.values().map(|(_, d)| d.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// Every document with its `_id` and version.
    pub fn all_docs(&self) -> Vec<(String, String, u64, Value)> {
        self.with(|s| {
            s.indices
                .iter()
                .flat_map(|(n, i)| {
                    i.docs
                        .iter()
                        .map(|(id, (v, d))| (n.clone(), id.clone(), *v, d.clone()))
                })
                .collect()
        })
    }

    /// The logged bulk requests.
    pub fn requests(&self) -> Vec<Logged> {
        self.with(|s| s.requests.clone())
    }
}

impl Drop for FakeEs {
    fn drop(&mut self) {
        self.hold.send_replace(false);
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    reply_bytes(status, serde_json::to_vec(&body).unwrap())
}

fn reply_bytes(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .header("x-elastic-product", "Elasticsearch")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// The top-level error document of the REST API.
fn error_doc(status: u16, kind: &str, reason: &str) -> Value {
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason
        },
        "status": status
    })
}

fn status_error(status: u16) -> (&'static str, &'static str) {
    match status {
        429 => (
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [shard_detail=[test][0]]",
        ),
        500 => ("internal_server_error", "internal failure"),
        502 => ("bad_gateway", "upstream failure"),
        503 => (
            "unavailable_shards_exception",
            "[test][0] primary shard is not active Timeout: [1m]",
        ),
        401 => (
            "security_exception",
            "missing authentication credentials for REST request [/_bulk]",
        ),
        413 => ("content_too_long", "Request Entity Too Large"),
        _ => ("mapper_parsing_exception", "failed to parse"),
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    mut hold: watch::Receiver<bool>,
    kill: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let wire = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(reply(400, error_doc(400, "parse_exception", "body"))),
    };
    let expected_auth = state.lock().unwrap().auth.clone();
    if let Some(expected) = expected_auth
        && header("authorization").as_deref() != Some(expected.as_str())
    {
        let (t, r) = status_error(401);
        return Ok(reply(401, error_doc(401, t, r)));
    }
    if method == hyper::Method::GET && path == "/" {
        let root = {
            let mut s = state.lock().unwrap();
            s.root_requests += 1;
            s.root.unwrap_or(Root::Es8)
        };
        return Ok(match root {
            Root::Es8 => reply(
                200,
                json!({"name":"fake","cluster_name":"test","cluster_uuid":"u",
                       "version":{"number":"8.15.1","build_flavor":"default","lucene_version":"9.11.1",
                                  "minimum_wire_compatibility_version":"7.17.0"},
                       "tagline":"You Know, for Search"}),
            ),
            Root::OpenSearch => reply(
                200,
                json!({"name":"fake","version":{"distribution":"opensearch","number":"2.15.0"},
                       "tagline":"The OpenSearch Project: https://opensearch.org/"}),
            ),
            Root::BulkOnly => reply(404, json!({"message":"not found"})),
        });
    }
    let default_index = match path.strip_suffix("/_bulk") {
        Some("") => None,
        Some(p) => Some(p.trim_start_matches('/').to_owned()),
        None => {
            return Ok(reply(
                400,
                error_doc(
                    400,
                    "illegal_argument_exception",
                    "no handler found for uri",
                ),
            ));
        }
    };
    if method != hyper::Method::POST && method != hyper::Method::PUT {
        return Ok(reply(405, error_doc(405, "method_not_allowed", "use POST")));
    }
    match header("content-type").as_deref() {
        Some(ct)
            if ct.starts_with("application/x-ndjson") || ct.starts_with("application/json") => {}
        other => {
            return Ok(reply(
                406,
                json!({"error": format!("Content-Type header [{}] is not supported", other.unwrap_or("")), "status": 406}),
            ));
        }
    }
    let gzip = header("content-encoding").as_deref() == Some("gzip");
    let body = if gzip {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&wire[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return Ok(reply(
                400,
                error_doc(400, "parse_exception", "bad gzip body"),
            ));
        }
        Bytes::from(out)
    } else {
        wire.clone()
    };
    let pipeline = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("pipeline="))
        .map(str::to_owned);
    // A hold parks the request (the client waits) until released.
    if *hold.borrow() {
        state.lock().unwrap().parked += 1;
        while *hold.borrow() {
            if hold.changed().await.is_err() {
                break;
            }
        }
        state.lock().unwrap().parked -= 1;
    }
    let mut logged = Logged {
        items: 0,
        ids: Vec::new(),
        gzip,
        wire_bytes: wire.len(),
        body_bytes: body.len(),
        status: 0,
        pipeline,
    };
    let (fault, outage) = {
        let mut s = state.lock().unwrap();
        (s.faults.pop_front(), s.outage)
    };
    let status_fault = match (&fault, outage) {
        (Some(Fault::Status(s)), _) => Some(*s),
        (_, Some(s)) => Some(s),
        _ => None,
    };
    if let Some(status) = status_fault {
        logged.status = status;
        state.lock().unwrap().requests.push(logged);
        let (t, r) = status_error(status);
        return Ok(reply(status, error_doc(status, t, r)));
    }
    if matches!(fault, Some(Fault::DropBefore)) {
        state.lock().unwrap().requests.push(logged.clone());
        kill.notify_one();
        std::future::pending::<()>().await;
    }
    if state.lock().unwrap().discard {
        return Ok(reply_bytes(200, sink_hole(&state, &body)));
    }
    let (status, response) = {
        let mut s = state.lock().unwrap();
        let r = bulk(&mut s, &body, default_index.as_deref(), &mut logged);
        logged.status = r.0;
        s.requests.push(logged);
        r
    };
    match fault {
        Some(Fault::DropAfter) => {
            kill.notify_one();
            std::future::pending::<()>().await;
        }
        Some(Fault::SlowAfter(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    Ok(reply(status, response))
}

/// Benchmark mode: every action is answered 201, documents are not parsed or
/// kept. The response is written directly (no JSON value tree per item): the
/// stand-in shares the machine's cores with the agent it measures, so its own
/// cost should stay small.
fn sink_hole(state: &Mutex<State>, body: &[u8]) -> Vec<u8> {
    /// The action line's one entry, with the fields the response echoes.
    #[derive(serde::Deserialize)]
    struct ActionMeta<'a> {
        #[serde(borrow, default)]
        _index: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        _id: Option<std::borrow::Cow<'a, str>>,
    }
    let mut out = Vec::with_capacity(body.len() / 4 + 64);
    out.extend_from_slice(br#"{"took":1,"errors":false,"items":["#);
    let mut count = 0usize;
    let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    while let Some(action) = lines.next() {
        let _doc = lines.next();
        let parsed: Option<BTreeMap<std::borrow::Cow<'_, str>, ActionMeta<'_>>> =
            serde_json::from_slice(action).ok();
        let (op, index, id) = parsed
            .as_ref()
            .and_then(|m| m.iter().next())
            .map(|(op, m)| (op.as_ref(), m._index.as_deref(), m._id.as_deref()))
            .unwrap_or(("index", None, None));
        if count > 0 {
            out.push(b',');
        }
        count += 1;
        out.extend_from_slice(b"{");
        serde_json::to_writer(&mut out, op).unwrap();
        out.extend_from_slice(br#":{"_index":"#);
        serde_json::to_writer(&mut out, &index).unwrap();
        out.extend_from_slice(br#","_id":"#);
        serde_json::to_writer(&mut out, &id).unwrap();
        out.extend_from_slice(br#","status":201,"result":"created"}}"#);
    }
    out.extend_from_slice(b"]}");
    let mut s = state.lock().unwrap();
    s.discarded += count as u64;
    s.requests.push(Logged {
        items: count,
        ids: Vec::new(),
        gzip: false,
        wire_bytes: body.len(),
        body_bytes: body.len(),
        status: 200,
        pipeline: None,
    });
    out
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "long",
        Value::String(_) => "text",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Processes a bulk body against the state, as Elasticsearch would.
fn bulk(
    s: &mut State,
    body: &[u8],
    default_index: Option<&str>,
    logged: &mut Logged,
) -> (u16, Value) {
    if !body.is_empty() && body.last() != Some(&b'\n') {
        return (
            400,
            error_doc(
                400,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            ),
        );
    }
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return (400, error_doc(400, "parse_exception", "invalid UTF-8")),
    };
    let mut lines = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    while let Some((n, action_line)) = lines.next() {
        let Ok(Value::Object(action)) = serde_json::from_str::<Value>(action_line) else {
            return (
                400,
                error_doc(
                    400,
                    "illegal_argument_exception",
                    &format!(
                        "Malformed action/metadata line [{}], expected START_OBJECT",
                        n + 1
                    ),
                ),
            );
        };
        let Some((op, meta)) = action.into_iter().next() else {
            return (
                400,
                error_doc(400, "illegal_argument_exception", "empty action"),
            );
        };
        if !matches!(op.as_str(), "index" | "create") {
            return (
                400,
                error_doc(
                    400,
                    "illegal_argument_exception",
                    &format!(
                        "Action/metadata line [{}] contains an unknown parameter [{op}]",
                        n + 1
                    ),
                ),
            );
        }
        let Some((_, source_line)) = lines.next() else {
            return (
                400,
                error_doc(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: no requests added;",
                ),
            );
        };
        logged.items += 1;
        let index = meta
            .get("_index")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| default_index.map(str::to_owned));
        let Some(index) = index else {
            return (
                400,
                error_doc(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index is missing;",
                ),
            );
        };
        let id = match meta.get("_id").and_then(Value::as_str) {
            Some(id) => {
                logged.ids.push(id.to_owned());
                *s.attempts.entry(id.to_owned()).or_default() += 1;
                id.to_owned()
            }
            None => {
                s.next_auto_id += 1;
                format!("auto{:016}", s.next_auto_id)
            }
        };
        let item = |status: u16, extra: Value| {
            let mut v = json!({"_index": index, "_id": id, "status": status});
            if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
                o.extend(e);
            }
            json!({ op.clone(): v })
        };
        let fail = |status: u16, kind: &str, reason: String| {
            item(
                status,
                json!({"error": {"type": kind, "reason": reason, "index": index, "shard": "0", "index_uuid": "uuid"}}),
            )
        };
        // Scripted per-item statuses.
        let rule = s
            .rules
            .iter_mut()
            .find(|r| source_line.contains(&r.marker) && r.remaining.is_none_or(|n| n > 0));
        if let Some(rule) = rule {
            if let Some(n) = &mut rule.remaining {
                *n -= 1;
            }
            let status = rule.status;
            let (kind, reason) = status_error(status);
            errors = true;
            items.push(fail(status, kind, reason.to_owned()));
            continue;
        }
        if index.chars().any(|c| c.is_ascii_uppercase()) || index.starts_with(['_', '-', '+']) {
            errors = true;
            items.push(fail(
                400,
                "invalid_index_name_exception",
                format!("Invalid index name [{index}], must be lowercase"),
            ));
            continue;
        }
        let doc: Value = match serde_json::from_str(source_line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                errors = true;
                items.push(fail(
                    400,
                    "mapper_parsing_exception",
                    "failed to parse: source is not a JSON object".into(),
                ));
                continue;
            }
        };
        let data_stream = (index.starts_with("logs-") || index.starts_with("metrics-"))
            && index.matches('-').count() >= 2;
        if data_stream && op != "create" {
            errors = true;
            items.push(fail(
                400,
                "illegal_argument_exception",
                "only write ops with an op_type of create are allowed in data streams".into(),
            ));
            continue;
        }
        if data_stream && doc.get("@timestamp").is_none() {
            errors = true;
            items.push(fail(
                400,
                "document_parsing_exception",
                "data stream timestamp field [@timestamp] is missing".into(),
            ));
            continue;
        }
        let idx = s.indices.entry(index.clone()).or_default();
        // Dynamic mapping: the first value of a field fixes its type.
        let mut conflict = None;
        if let Value::Object(fields) = &doc {
            for (k, v) in fields {
                let kind = kind_of(v);
                if kind == "null" {
                    continue;
                }
                match idx.mapping.get(k.as_str()) {
                    Some(&mapped)
                        if mapped != kind
                            && (mapped == "object"
                                || kind == "object"
                                || (mapped == "long"
                                    && kind == "text"
                                    && v.as_str().is_some_and(|t| t.parse::<f64>().is_err()))) =>
                    {
                        conflict = Some((k.clone(), mapped, v.to_string()));
                        break;
                    }
                    _ => {}
                }
            }
        }
        if let Some((field, mapped, preview)) = conflict {
            errors = true;
            items.push(fail(
                400,
                "mapper_parsing_exception",
                format!(
                    "failed to parse field [{field}] of type [{mapped}] in document with id '{id}'. Preview of field's value: '{}'",
                    preview.chars().take(40).collect::<String>()
                ),
            ));
            continue;
        }
        if let Value::Object(fields) = &doc {
            for (k, v) in fields {
                let kind = kind_of(v);
                if kind != "null" {
                    idx.mapping.entry(k.clone()).or_insert(kind);
                }
            }
        }
        match idx.docs.get_mut(&id) {
            Some((version, _)) if op == "create" => {
                errors = true;
                let v = *version;
                items.push(fail(
                    409,
                    "version_conflict_engine_exception",
                    format!(
                        "[{id}]: version conflict, document already exists (current version [{v}])"
                    ),
                ));
            }
            Some((version, stored)) => {
                *version += 1;
                *stored = doc;
                let v = *version;
                items.push(item(200, json!({"_version": v, "result": "updated",
                    "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 1, "_primary_term": 1})));
            }
            None => {
                idx.docs.insert(id.clone(), (1, doc));
                items.push(item(201, json!({"_version": 1, "result": "created",
                    "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1})));
            }
        }
    }
    (200, json!({"took": 3, "errors": errors, "items": items}))
}
