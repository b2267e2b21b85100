use super::*;
use logagent_core::event::{AckToken, Stream, encode};
use proptest::prelude::*;

fn batch(lines: &[&str]) -> Batch {
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: None,
        id: 0,
    });
    let mut b = Batch::new(stream, AckToken::detached(), lines.len());
    for l in lines {
        let line = Bytes::copy_from_slice(l.as_bytes());
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

fn out(b: &Batch) -> Vec<String> {
    b.events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            encode::write_json(e, &mut out);
            let s = String::from_utf8(out).unwrap();
            serde_json::from_str::<serde_json::Value>(&s)
                .unwrap_or_else(|e| panic!("invalid JSON out: {e}: {s}"));
            s
        })
        .collect()
}

fn build(config: &str) -> Redact {
    let cfg: RedactConfig = toml::from_str(config).unwrap();
    cfg.build(TransformContext::detached("r")).unwrap()
}

fn redact(config: &str, line: &str) -> String {
    let mut t = build(config);
    let mut b = batch(&[line]);
    t.process(&mut b);
    out(&b).remove(0)
}

const ALL: &str = r#"detectors = ["all"]"#;

#[test]
fn masks_nested_paths_in_place() {
    let out = redact(
        r#"paths = ["req.headers.authorization", "user.email", "missing.path"]"#,
        r#"{"req":{"headers":{"host":"a","authorization":"Bearer abc.def.ghi"}},"user":{"id":1,"email":"taro@example.jp"},"msg":"ok"}"#,
    );
    assert_eq!(
        out,
        r#"{"req":{"headers":{"host":"a","authorization":"[REDACTED]"}},"user":{"id":1,"email":"[REDACTED]"},"msg":"ok"}"#
    );
}

#[test]
fn wildcards_and_removal() {
    let out = redact(
        "paths = [\"*.password\", \"token\"]\nremove = true",
        r#"{"a":{"password":"p1","x":1},"b":{"password":"p2"},"token":"t","c":3}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, serde_json::json!({"a":{"x":1},"b":{},"c":3}));
}

#[test]
fn duplicate_keys_are_all_masked() {
    let out = redact(
        r#"paths = ["email"]"#,
        r#"{"email":"a@x.jp","n":1,"email":"b@x.jp"}"#,
    );
    assert!(!out.contains("@x.jp"), "{out}");
}

#[test]
fn detectors_in_json_string_values_only() {
    let line = r#"{"msg":"login by taro@example.co.jp from 203.0.113.7","ip":"10.0.0.1","port":8080,"version":"1.2.3.4.5","ua":"Chrome/126.0.0.0","n":4111111111111111,"nested":{"list":["call 090-1234-5678",{"card":"4111-1111-1111-1111"}]}}"#;
    let out = redact(ALL, line);
    for leaked in [
        "taro@example",
        "203.0.113.7",
        "10.0.0.1",
        "090-1234-5678",
        "4111-1111",
    ] {
        assert!(!out.contains(leaked), "{leaked} in {out}");
    }
    // Not detections: a version string, a product version, a JSON number.
    assert!(
        out.contains("1.2.3.4.5") && out.contains("Chrome/126.0.0.0"),
        "{out}"
    );
    assert!(
        out.contains("4111111111111111"),
        "numbers are not strings: {out}"
    );
    assert!(out.contains("\"port\":8080"), "{out}");
}

#[test]
fn secret_members_lose_whole_values_whatever_their_type() {
    let out = redact(
        ALL,
        r#"{"user":"u","password":"a \"quoted\" pass","db":{"apiKey":12345,"client_secret":{"k":"v"}},"tokenizer":"bert","note":"token=abc123 ok"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["password"], "[REDACTED]");
    assert_eq!(v["db"]["apiKey"], "[REDACTED]");
    assert_eq!(v["db"]["client_secret"], "[REDACTED]");
    assert_eq!(v["tokenizer"], "bert");
    assert_eq!(v["note"], "token=[REDACTED] ok");
}

#[test]
fn escapes_cannot_hide_values() {
    let out = redact(
        ALL,
        r#"{"msg":"mail a\u0040b.example.com \"now\"","key":"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["msg"], "mail [REDACTED] \"now\"");
    assert_eq!(v["key"], "[REDACTED]");
}

#[test]
fn base64_secret_with_escaped_slash_under_a_key_name() {
    let out = redact(
        ALL,
        r#"{"data":{"encryption_key":"yeeRmC9\/RTTNFDorrZVHhR3uCyNj0xjzWPPCVPAY"},"encryption_key":"IoqDBfe\/5IQvl0Q\/H0NaqbfF\/uXn7GkfteSzxn03","n":"a\/b"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["encryption_key"], "[REDACTED]", "{out}");
    assert_eq!(v["encryption_key"], "[REDACTED]", "{out}");
    assert_eq!(v["n"], "a/b", "{out}");
}

#[test]
fn text_lines_and_their_captures() {
    // A text line, and a field a parser captured from it.
    let mut t = build(ALL);
    let mut b = batch(&[
        "GET /login?email=hanako@example.jp from 198.51.100.23 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz",
    ]);
    let span = {
        let line = &b.events[0].line;
        let s = memchr::memmem::find(line, b"198.51").unwrap();
        Span::new(s, s + 13)
    };
    let end = b.events[0].line.len();
    b.events[0].push_edit(Edit {
        at: Span::new(end, end),
        op: EditOp::Insert {
            key: Bytes::from_static(b"client"),
            value: Value::LineStr(span),
        },
    });
    t.process(&mut b);
    let o = out(&b).remove(0);
    for leaked in ["hanako@", "198.51.100.23", "eyJhbGci", "c2lnbmF0"] {
        assert!(!o.contains(leaked), "{leaked} in {o}");
    }
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["client"], "[REDACTED]");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("GET /login?email=[REDACTED] from [REDACTED]")
    );
}

#[test]
fn added_values_are_scanned_too() {
    let mut t = build(ALL);
    let mut b = batch(&[r#"{"a":1}"#]);
    let close = b.events[0].line.len() - 1;
    b.events[0].push_edit(Edit {
        at: Span::new(close, close),
        op: EditOp::Insert {
            key: Bytes::from_static(b"who"),
            value: Value::string(b"copied taro@example.jp"),
        },
    });
    t.process(&mut b);
    assert_eq!(out(&b)[0], r#"{"a":1,"who":"copied [REDACTED]"}"#);
}

#[test]
fn actions_partial_hash_drop() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let config = format!(
        r#"
        hash_key_file = {:?}
        [[rules]]
        detectors = ["credit_card"]
        action = "partial"
        keep_last = 4
        [[rules]]
        detectors = ["email"]
        action = "hash"
        [[rules]]
        name = "phones"
        detectors = ["phone"]
        action = "drop_field"
        [[rules]]
        name = "customer"
        pattern = 'CUST-\d{{6}}'
        replacement = "<customer>"
        [[rules]]
        paths = ["user.name"]
        action = "hash"
        "#,
        key.display().to_string()
    );
    let mut t = build(&config);
    let mut b = batch(&[
        r#"{"card":"4111 1111 1111 1111","mail":"taro@example.jp","tel":"090-1234-5678","note":"for CUST-123456","user":{"name":"Taro"}}"#,
        r#"{"mail":"taro@example.jp","user":{"name":"Taro"}}"#,
    ]);
    t.process(&mut b);
    let o = out(&b);
    let a: serde_json::Value = serde_json::from_str(&o[0]).unwrap();
    let c: serde_json::Value = serde_json::from_str(&o[1]).unwrap();
    assert_eq!(a["card"], "***************1111");
    let h = a["mail"].as_str().unwrap();
    assert!(h.starts_with("hmac:") && h.len() == 21, "{h}");
    assert_eq!(c["mail"], a["mail"], "the same value hashes the same");
    assert_ne!(a["user"]["name"], "Taro");
    assert_eq!(a["user"]["name"], c["user"]["name"]);
    assert!(
        a.get("tel").is_none(),
        "drop_field removes the member: {}",
        o[0]
    );
    assert_eq!(a["note"], "for <customer>");
    assert_eq!(
        t.rule_names(),
        ["credit_card", "email", "phones", "customer", "paths_4"]
    );
}

#[test]
fn hash_needs_a_key_and_never_prints_it() {
    let cfg: RedactConfig =
        toml::from_str("[[rules]]\ndetectors = [\"email\"]\naction = \"hash\"").unwrap();
    assert_eq!(cfg.check()[0].key, "hash_key_env");
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "tiny\n").unwrap();
    let cfg: RedactConfig = toml::from_str(&format!(
        "hash_key_file = {:?}\n[[rules]]\ndetectors = [\"email\"]\naction = \"hash\"",
        short.display().to_string()
    ))
    .unwrap();
    assert!(
        cfg.build(TransformContext::detached("r")).unwrap_err()[0]
            .message
            .contains("16 bytes")
    );
    let good = dir.path().join("good");
    std::fs::write(&good, "a-secret-key-of-enough-length\n").unwrap();
    let cfg: RedactConfig = toml::from_str(&format!(
        "hash_key_file = {:?}\n[[rules]]\ndetectors = [\"email\"]\naction = \"hash\"",
        good.display().to_string()
    ))
    .unwrap();
    let t = cfg.build(TransformContext::detached("r")).unwrap();
    assert!(!format!("{t:?}").contains("a-secret-key"));
    let missing: RedactConfig = toml::from_str(
        "hash_key_env = \"LOGAGENT_TEST_SURELY_UNSET_VAR\"\n[[rules]]\ndetectors = [\"email\"]\naction = \"hash\"",
    )
    .unwrap();
    assert!(missing.check().is_empty(), "validate does not read the key");
    assert!(missing.build(TransformContext::detached("r")).is_err());
}

#[test]
fn per_rule_counters() {
    let ctx = TransformContext::detached("red");
    let registry = ctx.families.clone();
    let cfg: RedactConfig = toml::from_str(ALL).unwrap();
    let mut t = cfg.build(ctx).unwrap();
    let mut b = batch(&[
        r#"{"a":"x@example.com y@example.com","ip":"10.1.1.1"}"#,
        "text with 10.2.2.2",
    ]);
    t.process(&mut b);
    let f = registry.get("redact_matches_total").unwrap();
    assert_eq!(f.counter_value(&["red", "email"]), Some(2.0));
    assert_eq!(f.counter_value(&["red", "ipv4"]), Some(2.0));
    let text = registry.render_prometheus();
    assert!(
        text.contains(r#"redact_matches_total{component_id="red",rule="email"} 2"#),
        "{text}"
    );
}

#[test]
fn detectors_in_chosen_fields_only() {
    let out = redact(
        "detectors = [\"email\"]\nfields = [\"msg\", \"ctx\"]",
        r#"{"msg":"to a@b.io","other":"c@d.io","ctx":{"to":"e@f.io"}}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["msg"], "to [REDACTED]");
    assert_eq!(v["other"], "c@d.io");
    assert_eq!(v["ctx"]["to"], "[REDACTED]");
}

#[test]
fn bad_configs_name_their_keys() {
    let keys = |s: &str| -> Vec<String> {
        toml::from_str::<RedactConfig>(s)
            .unwrap()
            .check()
            .into_iter()
            .map(|e| e.key)
            .collect()
    };
    assert_eq!(keys(""), ["paths"]);
    assert_eq!(keys("detectors = [\"emails\"]"), ["detectors[0]"]);
    assert_eq!(keys("[[rules]]\npattern = '('"), ["rules[0].pattern"]);
    assert_eq!(keys("[[rules]]\naction = \"mask\""), ["rules[0].detectors"]);
    assert_eq!(
        keys("[[rules]]\ndetectors = [\"email\"]\nkeep_last = 2"),
        ["rules[0].keep_last"]
    );
}

#[test]
fn untouched_lines_get_no_edits() {
    let mut t = build(ALL);
    let mut b = batch(&[
        r#"{"level":"info","message":"UseCase executed successfully","version":"1.1.0","duration":123,"ts":"2025-08-20T10:30:45.123Z"}"#,
        "plain text with nothing 12:30:45",
    ]);
    t.process(&mut b);
    assert!(b.events.iter().all(|e| e.edits.is_empty()));
}

// --- Property: nothing a detector finds survives -------------------------

fn luhn_complete(body: &[u8]) -> String {
    let mut digits: Vec<u8> = body.to_vec();
    for check in 0..10u8 {
        digits.push(b'0' + check);
        let mut sum = 0u32;
        for (i, d) in digits.iter().rev().enumerate() {
            let mut v = u32::from(d - b'0');
            if i % 2 == 1 {
                v *= 2;
                if v > 9 {
                    v -= 9;
                }
            }
            sum += v;
        }
        if sum.is_multiple_of(10) {
            return String::from_utf8(digits).unwrap();
        }
        digits.pop();
    }
    unreachable!()
}

fn pii() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            "[a-z][a-z0-9._]{0,10}[a-z0-9]",
            "[a-z][a-z0-9-]{0,8}[a-z]",
            "(com|jp|co\\.jp|io|org)"
        )
            .prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
        (1u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        proptest::collection::vec(0u8..10, 15).prop_map(|d| {
            let mut body = vec![b'4'];
            body.extend(d.iter().take(14).map(|x| b'0' + x));
            luhn_complete(&body)
        }),
        ("0[789]0", "[0-9]{4}", "[0-9]{4}").prop_map(|(a, b, c)| format!("{a}-{b}-{c}")),
        "\\+81 90-[0-9]{4}-[0-9]{4}",
        "\\+44 20 7946 0[0-9]{3}",
        "\\+1 212-[2-9][0-9]{2}-[0-9]{4}",
        "AKIA[A-Z0-9]{16}",
        (
            "[A-Za-z0-9_-]{10,30}",
            "[A-Za-z0-9_-]{10,40}",
            "[A-Za-z0-9_-]{10,40}"
        )
            .prop_map(|(a, b, c)| format!("eyJ{a}.{b}.{c}")),
        ("[0-9a-f]{1,4}", "[0-9a-f]{1,4}", "[0-9a-f]{1,4}")
            .prop_map(|(a, b, c)| format!("{a}:{b}::{c}")),
    ]
}

fn filler() -> impl Strategy<Value = String> {
    "[a-zA-Z ]{0,12}".prop_map(|s| format!(" {s} "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_detected_value_survives(
        values in proptest::collection::vec((pii(), filler()), 1..4),
        nested in any::<bool>(),
        escape_at in any::<bool>(),
        text in any::<bool>(),
    ) {
        let mut t = build(ALL);
        let message: String = values.iter().map(|(v, f)| format!("{v}{f}")).collect();
        let line = if text {
            message.clone()
        } else {
            let mut encoded = serde_json::to_string(&message).unwrap();
            if escape_at {
                encoded = encoded.replace('@', "\\u0040");
            }
            if nested {
                format!(r#"{{"level":"info","ctx":{{"list":[1,{encoded},{{"m":{encoded}}}]}}}}"#)
            } else {
                format!(r#"{{"msg":{encoded},"n":1}}"#)
            }
        };
        let mut b = batch(&[&line]);
        t.process(&mut b);
        let o = out(&b).remove(0);
        let decoded: serde_json::Value = serde_json::from_str(&o).unwrap();
        let all_text = decoded.to_string();
        for (v, _) in &values {
            prop_assert!(!o.contains(v.as_str()), "{} survived in {}", v, o);
            prop_assert!(!all_text.contains(v.as_str()), "{} survived (decoded) in {}", v, o);
        }
    }
}

#[test]
fn array_paths_and_wildcards_over_arrays() {
    let out = redact(
        r#"paths = ["users.*.email", "orders[0].card", "tags[1]", "users[1].name", "missing[3].x", "users.9.email"]"#,
        r#"{"users":[{"name":"a","email":"a@x.jp"},{"name":"b","email":"b@x.jp"}],"orders":[{"card":"4111"},{"card":"5500"}],"tags":["keep","secret","keep"]}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "users": [{"name": "a", "email": "[REDACTED]"}, {"name": "[REDACTED]", "email": "[REDACTED]"}],
            "orders": [{"card": "[REDACTED]"}, {"card": "5500"}],
            "tags": ["keep", "[REDACTED]", "keep"]
        })
    );
    // Removing array elements keeps the JSON valid.
    let out = redact(
        "paths = [\"tags[1]\", \"tags[2]\", \"users.*.email\"]\nremove = true",
        r#"{"tags":["a","b","c"],"users":[{"id":1,"email":"x@y.jp"}]}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, serde_json::json!({"tags": ["a"], "users": [{"id": 1}]}));
}
