//! Writing OTLP protobuf straight from log data, without building the owned
//! messages of [`super::messages`] first (a `String` per attribute and a `Vec`
//! per record would cost more than the encoding itself).
//!
//! An embedded message is written in place and its length prefix inserted
//! before it afterwards ([`message`]): the shift is a `memmove` of the
//! message just written, which is small (a record, an attribute), while the
//! large outer messages are assembled by the caller from parts whose sizes it
//! knows.

use prost::encoding::{WireType, encode_key, encode_varint};

use logagent_core::event::json::{self, Kind, Member, Span};

/// Deepest nesting of objects and arrays turned into `kvlist_value` and
/// `array_value`; deeper values are sent as their JSON text.
pub const MAX_VALUE_DEPTH: usize = 16;

/// Appends the key of field `tag` with wire type `wt`.
#[inline]
pub fn key(out: &mut Vec<u8>, tag: u32, wt: WireType) {
    encode_key(tag, wt, out);
}

/// Appends field `tag` as a varint.
#[inline]
pub fn varint(out: &mut Vec<u8>, tag: u32, v: u64) {
    key(out, tag, WireType::Varint);
    encode_varint(v, out);
}

/// Appends field `tag` as `fixed64`.
#[inline]
pub fn fixed64(out: &mut Vec<u8>, tag: u32, v: u64) {
    key(out, tag, WireType::SixtyFourBit);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends field `tag` as `bytes`.
#[inline]
pub fn bytes(out: &mut Vec<u8>, tag: u32, b: &[u8]) {
    key(out, tag, WireType::LengthDelimited);
    encode_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// Appends field `tag` as a `string`: `s` as is when it is UTF-8, else with
/// each invalid sequence replaced by U+FFFD (a protobuf string must be UTF-8,
/// and a log line is never dropped for a stray byte).
#[inline]
pub fn string(out: &mut Vec<u8>, tag: u32, s: &[u8]) {
    if simdutf8::basic::from_utf8(s).is_ok() {
        bytes(out, tag, s);
    } else {
        bytes(out, tag, String::from_utf8_lossy(s).as_bytes());
    }
}

/// Appends field `tag` as an embedded message whose contents `body` writes.
pub fn message(out: &mut Vec<u8>, tag: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    body(out);
    let len = out.len() - start;
    let mut prefix = [0u8; 15];
    let n = {
        let mut p = &mut prefix[..];
        encode_key(tag, WireType::LengthDelimited, &mut p);
        encode_varint(len as u64, &mut p);
        15 - p.len()
    };
    out.extend_from_slice(&prefix[..n]);
    out[start..].rotate_right(n);
}

/// Length of a length-delimited field `tag` whose contents are `len` bytes.
pub fn field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Appends the key and length of a length-delimited field `tag` whose
/// `len` bytes of contents the caller writes next.
pub fn len_prefix(out: &mut Vec<u8>, tag: u32, len: usize) {
    key(out, tag, WireType::LengthDelimited);
    encode_varint(len as u64, out);
}

/// What a JSON number is sent as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer that fits `int64`: `int_value`.
    Int(i64),
    /// Any other finite number: `double_value`.
    Double(f64),
    /// Out of range (`1e999`, an integer beyond 64 bits a double would round):
    /// `string_value` with its text.
    Text,
}

/// Classifies the JSON number `raw`.
pub fn number(raw: &[u8]) -> Number {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Number::Text;
    };
    let integral = !raw.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integral {
        return match text.parse::<i64>() {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Text,
        };
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Number::Double(f),
        _ => Number::Text,
    }
}

/// Appends the string field `tag` holding the JSON string token `raw`, decoded.
pub fn json_string(out: &mut Vec<u8>, tag: u32, raw: &[u8]) {
    match json::decode_str(raw) {
        Some(s) => string(out, tag, &s),
        None => string(out, tag, raw),
    }
}

/// The name of an object member, unescaped.
pub fn member_key<'a>(input: &'a [u8], m: &Member) -> std::borrow::Cow<'a, [u8]> {
    if m.key_escaped {
        json::decode_str(&input[m.key.range()])
            .unwrap_or(std::borrow::Cow::Borrowed(m.key_raw(input)))
    } else {
        std::borrow::Cow::Borrowed(m.key_raw(input))
    }
}

/// Appends the contents of an `AnyValue` holding the JSON value `raw`
/// (a scanner-validated token): strings, integers, doubles, booleans, null
/// (no variant), objects as `kvlist_value`, arrays as `array_value`; values
/// nested deeper than [`MAX_VALUE_DEPTH`] as their JSON text.
pub fn any_value_json(out: &mut Vec<u8>, raw: &[u8], depth: usize) {
    match json::kind_of(raw) {
        Some(Kind::String) => json_string(out, 1, raw),
        Some(Kind::Number) => match number(raw) {
            Number::Int(i) => varint(out, 3, i as u64),
            Number::Double(f) => fixed64(out, 4, f.to_bits()),
            Number::Text => string(out, 1, raw),
        },
        Some(Kind::Bool) => varint(out, 2, u64::from(raw.first() == Some(&b't'))),
        Some(Kind::Null) => {}
        Some(Kind::Object) if depth < MAX_VALUE_DEPTH => {
            let mut members = Vec::new();
            if json::object_members(raw, Span::new(0, raw.len()), &mut members).is_err() {
                string(out, 1, raw);
                return;
            }
            message(out, 6, |list| {
                for m in &members {
                    message(list, 1, |kv| {
                        string(kv, 1, &member_key(raw, m));
                        message(kv, 2, |v| any_value_json(v, m.value_raw(raw), depth + 1));
                    });
                }
            });
        }
        Some(Kind::Array) if depth < MAX_VALUE_DEPTH => {
            let mut elements = Vec::new();
            if json::array_elements(raw, Span::new(0, raw.len()), &mut elements).is_err() {
                string(out, 1, raw);
                return;
            }
            message(out, 5, |list| {
                for e in &elements {
                    message(list, 1, |v| any_value_json(v, &raw[e.range()], depth + 1));
                }
            });
        }
        _ => string(out, 1, raw),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::super::messages::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value};
    use super::*;

    fn decode(raw: &str) -> AnyValue {
        let mut out = Vec::new();
        any_value_json(&mut out, raw.as_bytes(), 0);
        AnyValue::decode(&out[..]).unwrap()
    }

    fn v(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn json_values_become_typed_any_values() {
        assert_eq!(decode(r#""a\"b""#), AnyValue::string("a\"b"));
        assert_eq!(decode("42"), AnyValue::int(42));
        assert_eq!(
            decode("0"),
            AnyValue::int(0),
            "zero is still set in a oneof"
        );
        assert_eq!(decode("-7"), AnyValue::int(-7));
        assert_eq!(decode("1.5"), v(Value::DoubleValue(1.5)));
        assert_eq!(decode("2e3"), v(Value::DoubleValue(2000.0)));
        assert_eq!(decode("false"), v(Value::BoolValue(false)));
        assert_eq!(decode("true"), v(Value::BoolValue(true)));
        assert_eq!(decode("null"), AnyValue { value: None });
        assert_eq!(
            decode("18446744073709551616"),
            AnyValue::string("18446744073709551616")
        );
        assert_eq!(decode("1e999"), AnyValue::string("1e999"));
        assert_eq!(
            decode(r#"{"a":1,"b":{"c":[true,"x"]},"\u0064":null}"#),
            v(Value::KvlistValue(KeyValueList {
                values: vec![
                    KeyValue::new("a", AnyValue::int(1)),
                    KeyValue::new(
                        "b",
                        v(Value::KvlistValue(KeyValueList {
                            values: vec![KeyValue::new(
                                "c",
                                v(Value::ArrayValue(ArrayValue {
                                    values: vec![v(Value::BoolValue(true)), AnyValue::string("x")]
                                }))
                            )]
                        }))
                    ),
                    KeyValue::new("d", AnyValue { value: None }),
                ]
            }))
        );
    }

    #[test]
    fn too_deep_values_are_sent_as_text_and_bad_utf8_is_replaced() {
        let deep = format!("{}1{}", "[".repeat(20), "]".repeat(20));
        let mut got = decode(&deep);
        for _ in 0..MAX_VALUE_DEPTH {
            got = match got.value {
                Some(Value::ArrayValue(mut a)) => a.values.remove(0),
                other => panic!("{other:?}"),
            };
        }
        let inner = format!("{}1{}", "[".repeat(4), "]".repeat(4));
        assert_eq!(got, AnyValue::string(inner));
        let mut out = Vec::new();
        any_value_json(&mut out, b"\"a\xffb\"", 0);
        assert_eq!(
            AnyValue::decode(&out[..]).unwrap(),
            AnyValue::string("a\u{FFFD}b")
        );
    }

    #[test]
    fn message_prefixes_long_contents() {
        let mut out = vec![0xAA];
        message(&mut out, 5, |o| o.extend(std::iter::repeat_n(7u8, 300)));
        assert_eq!(&out[..4], &[0xAA, (5 << 3) | 2, 0xAC, 0x02]);
        assert_eq!(out.len(), 1 + 3 + 300);
        assert_eq!(field_len(5, 300), 303);
    }
}
