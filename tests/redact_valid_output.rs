//! Whatever bytes come in, what a parser → `redact` (every detector) chain
//! writes is valid UTF-8 and valid JSON, as the file sink writes it: a value
//! rewritten next to an invalid byte gets the same U+FFFD replacement as the
//! untouched line, and no part of a detected value is left in clear after
//! such a byte.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use logagent::codecs::framing::{LineReader, Oversize};
use logagent::config::TransformConfig;
use logagent::event::{AckToken, Batch, Event, Stream};
use logagent::sinks::Encoding;
use logagent_core::component::{Transform, TransformContext};
use proptest::prelude::*;

fn transform(ty: &str, toml_text: &str) -> Box<dyn Transform> {
    let de = toml::de::ValueDeserializer::parse(toml_text).unwrap();
    TransformConfig::parse(ty, de)
        .unwrap()
        .unwrap()
        .component()
        .build(TransformContext::detached(ty))
        .unwrap()
}

/// Every parser, each followed by redact with every detector (and paths, and
/// a partial rule, so values are rewritten in each way).
const PARSERS: &[(&str, &str)] = &[
    ("parse_json", "{ time_key = \"timestamp\" }"),
    ("parse_kv", "{}"),
    ("parse_logfmt", "{}"),
    ("parse_regex", "{ preset = \"nginx_combined\" }"),
    ("parse_regex", "{ preset = \"syslog_rfc3164\" }"),
    ("parse_regex", "{ preset = \"app\" }"),
];

const REDACT: &str = "{ detectors = [\"all\"], paths = [\"user.email\"], rules = [{ detectors = [\"email\"], fields = [\"message\"], action = \"partial\", name = \"email_partial\" }] }";

fn batch(data: &[u8]) -> Batch {
    let mut reader = LineReader::new(64 << 10, 1 << 20, Oversize::Truncate, 0);
    let mut src = data;
    let mut events = Vec::new();
    while reader.fill(&mut src).unwrap_or(0) > 0 {
        reader.drain_lines(|l| events.push(Event::new(l.bytes, l.offset)));
    }
    Batch {
        events: events.into(),
        members: Vec::new().into(),
        stream: Arc::new(Stream {
            source: "prop".into(),
            path: Some("/var/log/app/api.log".into()),
            id: 1,
        }),
        ack: AckToken::detached(),
    }
}

/// Runs every chain over `data` and checks each written line.
fn check(data: &[u8]) -> Result<(), TestCaseError> {
    for (ty, cfg) in PARSERS {
        let mut b = batch(data);
        transform(ty, cfg).process(&mut b);
        transform("redact", REDACT).process(&mut b);
        for encoding in [Encoding::Json, Encoding::Text] {
            let mut out = Vec::new();
            for e in &b.events {
                encoding.write(e, &mut out);
            }
            let text = std::str::from_utf8(&out).map_err(|e| {
                TestCaseError::fail(format!(
                    "{ty} {cfg} {encoding:?}: not UTF-8 ({e}): {:?}",
                    String::from_utf8_lossy(&out)
                ))
            })?;
            if encoding == Encoding::Json {
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line).map_err(|e| {
                        TestCaseError::fail(format!("{ty} {cfg}: not JSON ({e}): {line}"))
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// Realistic lines full of values the detectors rewrite.
const SEEDS: &[&str] = &[
    r#"{"timestamp":"2025-08-20T10:30:00.000Z","level":"info","message":"sent receipt to taro.yamada@mail.example.net","ip":"192.168.10.20","user":{"email":"a@example.com"}}"#,
    r#"{"level":"error","msg":"db down","dsn":"postgres://app:S3cr3t-pw@db.internal:5432/app?sslmode=require","phone":"+81 90-1234-5678","card":"4111 1111 1111 1111"}"#,
    r#"{"message":"auth","authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U","addr":"fe80::1%eth0","ipv6":"::ffff:10.0.0.1"}"#,
    "192.168.1.100 - - [20/Aug/2025:10:30:00 +0000] \"GET /login?user=taro@example.jp&password=hunter2 HTTP/1.1\" 401 64 \"https://app.example.jp/\" \"curl/8.0\"",
    "<34>Aug 20 10:30:00 host app[12]: login from 10.1.2.3 by jiro+test@例え.jp token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "level=info user=hanako@example.co.jp ip=2001:db8::7 ssn=536-90-4399 iban=GB82WEST12345698765432 msg=\"call 03-1234-5678\"",
    "2025-08-20 10:30:00 INFO [api] webhook https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx sent, key=AKIAIOSFODNN7EXAMPLE",
];

/// A mutation: insert random bytes, overwrite, cut, or splice two seeds.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..SEEDS.len(),
        0..SEEDS.len(),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..4,
                any::<u8>(),
                any::<prop::sample::Index>(),
            ),
            1..8,
        ),
    )
        .prop_map(|(a, b, edits)| {
            let mut line = SEEDS[a].as_bytes().to_vec();
            for (at, kind, byte, other) in edits {
                let i = at.index(line.len() + 1);
                match kind {
                    0 => line.insert(i, byte | 0x80),
                    1 if i < line.len() => line[i] = byte,
                    2 => {
                        let end = (i + other.index(8)).min(line.len());
                        line.drain(i..end);
                    }
                    _ => {
                        let src = SEEDS[b].as_bytes();
                        let s = other.index(src.len());
                        let e = (s + 12).min(src.len());
                        line.splice(i..i, src[s..e].iter().copied());
                    }
                }
            }
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_give_valid_json(data in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&data)?;
    }

    #[test]
    fn mutated_lines_give_valid_json(lines in prop::collection::vec(mutated(), 1..6)) {
        let mut data = Vec::new();
        for l in lines {
            data.extend_from_slice(&l);
            data.push(b'\n');
        }
        check(&data)?;
    }
}

/// The two lines of the issue: the value rewritten next to an invalid byte
/// neither keeps the raw byte nor leaves the rest of the address in clear.
#[test]
fn rewritten_values_next_to_invalid_bytes() {
    let data =
        b"{\"message\":\"sent receipt to taro@mail.ex\xb8ample.net\",\"ip\":\"10.0.0.1\xad\"}\n";
    let mut b = batch(data);
    transform("parse_json", "{}").process(&mut b);
    transform("redact", "{ detectors = [\"all\"] }").process(&mut b);
    let mut out = Vec::new();
    Encoding::Json.write(&b.events[0], &mut out);
    let text = String::from_utf8(out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["message"], "sent receipt to [REDACTED]", "{text}");
    assert_eq!(v["ip"], "[REDACTED]", "{text}");
    assert!(!text.contains("ample"), "{text}");
}
