//! The three request formats, fed to the handler directly (the server's
//! limits and answers are tested through the binary in `tests/http_source.rs`).

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use prost::Message as _;

use super::*;
use logagent_codecs::loki_push::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use logagent_core::event::encode::write_json;

fn intake(extra: &str) -> Intake {
    let config: HttpSourceConfig = toml::from_str(extra).unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    Intake {
        config,
        stream: Arc::new(Stream {
            source: "in".into(),
            path: None,
            id: 7,
        }),
        offset: AtomicU64::new(0),
        batch_max_events: 3,
        batch_max_bytes: 1 << 20,
        log: RateLimiter::default(),
    }
}

fn request(method: Method, path: &str, content_type: &str, body: impl Into<Bytes>) -> Request {
    let mut headers = HeaderMap::new();
    if !content_type.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    }
    Request {
        method,
        path: path.into(),
        headers,
        body: body.into(),
        max_decompressed_bytes: 1 << 20,
    }
}

/// The reply's events as JSON text, its answer and its discarded counts.
fn run(i: &Intake, req: Request) -> (Vec<String>, Answer, Vec<(&'static str, u64)>, usize) {
    match i.handle(&req, &AckToken::detached()) {
        Reply::Answer(a) => (Vec::new(), a, Vec::new(), 0),
        Reply::Deliver {
            batches,
            then,
            discarded,
        } => {
            let n = batches.len();
            let mut lines = Vec::new();
            for b in &batches {
                for e in &b.events {
                    let mut out = Vec::new();
                    write_json(e, &mut out);
                    lines.push(String::from_utf8(out).unwrap());
                }
            }
            (lines, then, discarded, n)
        }
    }
}

fn body(a: &Answer) -> serde_json::Value {
    serde_json::from_slice(&a.body).unwrap()
}

#[test]
fn ndjson_lines_become_events_and_invalid_ones_are_counted() {
    let i = intake("");
    let text = "{\"a\":1}\r\n\n  {\"a\":2}\nnot json\n[1]\n{\"a\":3}\n{\"a\":4}\n{\"a\":";
    let (lines, answer, discarded, batches) = run(&i, request(Method::POST, "/logs", "", text));
    // Unparsed events are written as {"message": line}.
    let messages: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].clone())
        .collect();
    assert_eq!(
        messages,
        ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}", "{\"a\":4}"]
    );
    assert_eq!(batches, 2, "batch_max_events = 3");
    assert_eq!(answer.status, 200);
    assert_eq!(
        body(&answer),
        serde_json::json!({"accepted": 4, "rejected": 3})
    );
    assert_eq!(discarded, [("invalid_json", 3)]);

    let (lines, answer, discarded, _) = run(&i, request(Method::POST, "/logs", "", "nope\n"));
    assert!(lines.is_empty());
    assert_eq!((answer.status, discarded), (400, vec![("invalid_json", 1)]));
}

#[test]
fn a_json_array_of_objects_is_sliced_not_copied() {
    let i = intake("max_line_bytes = 16");
    let text = Bytes::from_static(b" [{\"a\":1}, 2, {\"b\":\"xxxxxxxxxxxxxxx\"}, {\"c\":[3]}] ");
    let req = request(Method::POST, "/logs", "application/json", text.clone());
    let Reply::Deliver {
        batches,
        then,
        discarded,
    } = i.handle(&req, &AckToken::detached())
    else {
        panic!("expected a delivery");
    };
    let events: Vec<&Bytes> = batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| &e.line)
        .collect();
    assert_eq!(
        events,
        [
            &Bytes::from_static(b"{\"a\":1}"),
            &Bytes::from_static(b"{\"c\":[3]}")
        ]
    );
    // Zero copy: the lines point into the request body.
    let range = text.as_ptr() as usize..text.as_ptr() as usize + text.len();
    assert!(
        events
            .iter()
            .all(|l| range.contains(&(l.as_ptr() as usize)))
    );
    assert_eq!(
        body(&then),
        serde_json::json!({"accepted": 2, "rejected": 2})
    );
    assert_eq!(discarded, [("invalid_json", 1), ("oversize", 1)]);
    let (_, answer, _, _) = run(&i, request(Method::POST, "/logs", "", "[{\"a\":1}"));
    assert_eq!(
        (answer.status, answer.error_type),
        (400, Some("invalid_json"))
    );
}

#[test]
fn offsets_increase_across_requests() {
    let i = intake("");
    let offsets = |r: Reply| -> Vec<u64> {
        let Reply::Deliver { batches, .. } = r else {
            panic!()
        };
        batches
            .iter()
            .flat_map(|b| &b.events)
            .map(|e| e.meta.offset)
            .collect()
    };
    let ack = AckToken::detached();
    let a = offsets(i.handle(&request(Method::POST, "/logs", "", "{}\n{}\n"), &ack));
    let b = offsets(i.handle(&request(Method::POST, "/logs", "", "{}\n"), &ack));
    assert_eq!(a, [0, 3]);
    assert_eq!(b, [7]);
}

#[test]
fn routes_and_methods() {
    let i = intake("path = \"/ingest\"");
    assert!(i.route(&Method::POST, "/ingest").is_ok());
    assert_eq!(i.route(&Method::GET, "/ingest").unwrap_err().status, 405);
    assert_eq!(i.route(&Method::POST, "/logs").unwrap_err().status, 404);
    assert!(i.route(&Method::POST, "/_bulk").is_ok());
    assert!(i.route(&Method::PUT, "/app-2025/_bulk").is_ok());
    assert_eq!(
        i.route(&Method::POST, "/a/b/_bulk").unwrap_err().status,
        404
    );
    assert!(i.route(&Method::GET, "/").is_ok());
    assert!(i.route(&Method::HEAD, "/").is_ok());
    assert!(i.route(&Method::POST, "/loki/api/v1/push").is_ok());
    let off = intake("elasticsearch = false\nloki = false");
    assert_eq!(off.route(&Method::POST, "/_bulk").unwrap_err().status, 404);
    assert_eq!(
        off.route(&Method::POST, "/loki/api/v1/push")
            .unwrap_err()
            .status,
        404
    );
    let (_, info, _, _) = run(&i, request(Method::GET, "/", "", ""));
    assert_eq!(body(&info)["version"]["number"], "8.17.0");
    assert!(
        info.headers
            .iter()
            .any(|(n, v)| n == "x-elastic-product" && v == "Elasticsearch")
    );
}

#[test]
fn bulk_answers_per_item_like_elasticsearch() {
    let i = intake("");
    let text = concat!(
        "{\"create\":{\"_index\":\"app\",\"_id\":\"x1\"}}\n",
        "{\"message\":\"one\"}\n",
        "{\"index\":{}}\n",
        "{\"message\":\"two\"}\n",
        "{\"index\":{\"_index\":\"app\"}}\n",
        "not a document\n",
        "{\"delete\":{\"_index\":\"app\",\"_id\":\"x1\"}}\n",
        "{\"update\":{\"_index\":\"app\",\"_id\":\"x1\"}}\n",
        "{\"doc\":{\"a\":1}}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"three\"}\n",
    );
    let (lines, answer, discarded, _) = run(
        &i,
        request(Method::POST, "/def/_bulk", "application/x-ndjson", text),
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains("\\\"one\\\""), "{}", lines[0]);
    assert!(lines[2].contains("\\\"three\\\""), "{}", lines[2]);
    let v = body(&answer);
    assert_eq!(v["errors"], true);
    let items = v["items"].as_array().unwrap();
    let summary: Vec<(String, String, u64)> = items
        .iter()
        .map(|item| {
            let (op, r) = item.as_object().unwrap().iter().next().unwrap();
            (
                op.clone(),
                r["_index"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("create", "app", 201),
        ("index", "def", 201),
        ("index", "app", 400),
        ("delete", "app", 400),
        ("update", "app", 400),
        ("create", "def", 201),
    ];
    let expect: Vec<(String, String, u64)> = expect
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect();
    assert_eq!(summary, expect);
    assert_eq!(items[0]["create"]["_id"], "x1");
    assert_eq!(items[0]["create"]["result"], "created");
    assert_eq!(
        items[2]["index"]["error"]["type"],
        "document_parsing_exception"
    );
    assert_eq!(discarded, [("invalid_json", 1), ("unsupported_action", 2)]);

    // Not action/document pairs: refused whole, nothing delivered.
    for bad in [
        "{\"index\":{}}\n",
        "nope\n{}\n",
        "{\"upsert\":{}}\n{}\n",
        "{\"index\":1}\n{}\n",
    ] {
        let (lines, answer, _, _) = run(&i, request(Method::POST, "/_bulk", "", bad));
        assert!(lines.is_empty(), "{bad}");
        assert_eq!(
            (answer.status, answer.error_type),
            (400, Some("malformed_bulk")),
            "{bad}"
        );
    }
}

fn push() -> PushRequest {
    PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{app="api", env="prod"}"#.into(),
            entries: vec![
                EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(1_700_000_000_123_456_789)),
                    line: "GET /health 200".into(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                },
                EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(1_700_000_001_000_000_000)),
                    line: "{\"level\":\"warn\"}".into(),
                    structured_metadata: vec![],
                },
            ],
            hash: 0,
        }],
    }
}

#[test]
fn loki_protobuf_pushes_become_events_with_label_fields() {
    let i = intake("");
    let raw = push().encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let req = request(
        Method::POST,
        "/loki/api/v1/push",
        "application/x-protobuf",
        body,
    );
    let Reply::Deliver { batches, then, .. } = i.handle(&req, &AckToken::detached()) else {
        panic!("expected a delivery");
    };
    assert_eq!(then.status, 204);
    let events: Vec<&Event> = batches.iter().flat_map(|b| &b.events).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].meta.time, Some(1_700_000_000_123_456_789));
    let mut out = Vec::new();
    write_json(events[0], &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"message": "GET /health 200", "app": "api", "env": "prod", "trace_id": "abc"})
    );
}

#[test]
fn loki_json_pushes_too() {
    let i = intake("");
    let text = r#"{"streams":[{"stream":{"job":"x"},"values":[["1700000000000000000","hello"],["1700000000000000001","bye",{"user":"u1"}]]}]}"#;
    let (lines, answer, _, _) = run(
        &i,
        request(
            Method::POST,
            "/loki/api/v1/push",
            "application/json; charset=utf-8",
            text,
        ),
    );
    assert_eq!(answer.status, 204);
    let v: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        v,
        [
            serde_json::json!({"message": "hello", "job": "x"}),
            serde_json::json!({"message": "bye", "job": "x", "user": "u1"}),
        ]
    );
    for (bad, error_type) in [
        ("{\"streams\":[{\"values\":[[1,\"x\"]]}]}", "invalid_json"),
        ("{\"streams\":", "invalid_json"),
        ("{\"streams\":[{\"values\":[[\"1\"]]}]}", "invalid_json"),
    ] {
        let (lines, answer, _, _) = run(
            &i,
            request(Method::POST, "/loki/api/v1/push", "application/json", bad),
        );
        assert!(lines.is_empty());
        assert_eq!(
            (answer.status, answer.error_type),
            (400, Some(error_type)),
            "{bad}"
        );
    }
}

#[test]
fn bad_loki_protobuf_is_refused_whole() {
    let i = intake("");
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        // Not snappy at all.
        (
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
            400,
            "invalid_snappy",
        ),
        // Valid snappy of bytes that are not a PushRequest.
        (
            snap::raw::Encoder::new()
                .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
                .unwrap(),
            400,
            "invalid_protobuf",
        ),
        // A snappy header claiming 2 GiB (a snappy bomb): refused before inflating.
        (
            vec![0x80, 0x80, 0x80, 0x80, 0x08, 0x00],
            413,
            "decompressed_too_large",
        ),
        // Labels that are not a LogQL label set.
        (
            snap::raw::Encoder::new()
                .compress_vec(
                    &PushRequest {
                        streams: vec![StreamAdapter {
                            labels: "app=api".into(),
                            entries: vec![],
                            hash: 0,
                        }],
                    }
                    .encode_to_vec(),
                )
                .unwrap(),
            400,
            "invalid_labels",
        ),
    ];
    for (body, status, error_type) in cases {
        let (lines, answer, _, _) = run(
            &i,
            request(
                Method::POST,
                "/loki/api/v1/push",
                "application/x-protobuf",
                body,
            ),
        );
        assert!(lines.is_empty());
        assert_eq!(
            (answer.status, answer.error_type),
            (status, Some(error_type))
        );
    }
}

#[test]
fn config_errors_name_the_key() {
    let keys = |text: &str| -> Vec<String> {
        toml::from_str::<HttpSourceConfig>(text)
            .unwrap()
            .check()
            .into_iter()
            .map(|e| e.key)
            .collect()
    };
    assert!(keys("").is_empty());
    assert_eq!(keys("address = \"localhost\""), ["address"]);
    assert_eq!(keys("path = \"logs\""), ["path"]);
    assert_eq!(keys("path = \"/_bulk\""), ["path"]);
    assert_eq!(
        keys("max_body_bytes = 0\nmax_connections = 0"),
        ["max_body_bytes", "max_connections"]
    );
    assert_eq!(keys("auth = { strategy = \"bearer\" }"), ["auth.token"]);
    assert!(toml::from_str::<HttpSourceConfig>("adress = \"x\"").is_err());
}
