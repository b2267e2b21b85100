//! OTLP/JSON: the JSON mapping of the protobuf messages as the OTLP spec
//! fixes it — lowerCamelCase keys, 64-bit integers (`timeUnixNano`,
//! `intValue`) as decimal strings, enums as numbers, `traceId`/`spanId` as
//! lower-case hex (not base64), other `bytes` as base64 — written either from
//! the owned messages ([`write_request`], the reference) or straight from a
//! JSON value ([`any_value_json`], what the sink uses); and read back
//! ([`parse_request`], for a receiver; [`parse_response`], for the sink).

use std::fmt::Write as _;

use base64::Engine as _;

use super::messages::{
    AnyValue, ExportLogsPartialSuccess, ExportLogsServiceRequest, KeyValue, LogRecord, any_value,
};
use super::wire::{MAX_VALUE_DEPTH, Number, number};
use logagent_core::event::json::{self, Kind, Span};

/// Appends `{"stringValue":"s"}` (invalid UTF-8 replaced).
pub fn string_value(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(b"{\"stringValue\":");
    json::write_str(out, s);
    out.push(b'}');
}

/// Appends a decimal integer as a JSON string (`"42"`), as OTLP/JSON writes 64-bit ints.
pub fn quoted_int(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    let mut s = String::new();
    let _ = write!(s, "\"{v}\"");
    out.extend_from_slice(s.as_bytes());
}

/// Appends a finite double as a JSON number; NaN and infinities as the
/// strings protobuf's JSON mapping uses.
pub fn double(out: &mut Vec<u8>, f: f64) {
    let s = if f.is_nan() {
        "\"NaN\"".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }
        .to_owned()
    } else {
        format!("{f:?}")
    };
    out.extend_from_slice(s.as_bytes());
}

/// Appends `b` as a JSON string of lower-case hex (trace and span ids).
pub fn hex(out: &mut Vec<u8>, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &x in b {
        out.push(DIGITS[(x >> 4) as usize]);
        out.push(DIGITS[(x & 15) as usize]);
    }
    out.push(b'"');
}

/// Appends the OTLP/JSON `AnyValue` of the JSON value `raw` (a
/// scanner-validated token), typed as in [`super::wire::any_value_json`].
pub fn any_value_json(out: &mut Vec<u8>, raw: &[u8], depth: usize) {
    match json::kind_of(raw) {
        Some(Kind::String) => {
            out.extend_from_slice(b"{\"stringValue\":");
            json::write_lossy(out, raw);
            out.push(b'}');
        }
        Some(Kind::Number) => match number(raw) {
            Number::Int(i) => {
                out.extend_from_slice(b"{\"intValue\":");
                quoted_int(out, i);
                out.push(b'}');
            }
            Number::Double(f) => {
                out.extend_from_slice(b"{\"doubleValue\":");
                double(out, f);
                out.push(b'}');
            }
            Number::Text => string_value(out, raw),
        },
        Some(Kind::Bool) => {
            out.extend_from_slice(b"{\"boolValue\":");
            out.extend_from_slice(if raw.first() == Some(&b't') {
                b"true"
            } else {
                b"false"
            });
            out.push(b'}');
        }
        Some(Kind::Null) => out.extend_from_slice(b"{}"),
        Some(Kind::Object) if depth < MAX_VALUE_DEPTH => {
            let mut members = Vec::new();
            if json::object_members(raw, Span::new(0, raw.len()), &mut members).is_err() {
                return string_value(out, raw);
            }
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"key\":");
                json::write_lossy(out, &raw[m.key.range()]);
                out.extend_from_slice(b",\"value\":");
                any_value_json(out, m.value_raw(raw), depth + 1);
                out.push(b'}');
            }
            out.extend_from_slice(b"]}}");
        }
        Some(Kind::Array) if depth < MAX_VALUE_DEPTH => {
            let mut elements = Vec::new();
            if json::array_elements(raw, Span::new(0, raw.len()), &mut elements).is_err() {
                return string_value(out, raw);
            }
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any_value_json(out, &raw[e.range()], depth + 1);
            }
            out.extend_from_slice(b"]}}");
        }
        _ => string_value(out, raw),
    }
}

/// Appends `req` as OTLP/JSON.
pub fn write_request(req: &ExportLogsServiceRequest, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"resourceLogs\":[");
    for (i, rl) in req.resource_logs.iter().enumerate() {
        comma(out, i);
        out.push(b'{');
        let mut first = true;
        if let Some(r) = &rl.resource {
            field(out, &mut first, "resource");
            out.push(b'{');
            let mut f = true;
            if !r.attributes.is_empty() {
                field(out, &mut f, "attributes");
                key_values(out, &r.attributes);
            }
            if r.dropped_attributes_count != 0 {
                field(out, &mut f, "droppedAttributesCount");
                out.extend_from_slice(r.dropped_attributes_count.to_string().as_bytes());
            }
            out.push(b'}');
        }
        field(out, &mut first, "scopeLogs");
        out.push(b'[');
        for (j, sl) in rl.scope_logs.iter().enumerate() {
            comma(out, j);
            out.push(b'{');
            let mut f = true;
            if let Some(s) = &sl.scope {
                field(out, &mut f, "scope");
                out.extend_from_slice(b"{\"name\":");
                json::write_str(out, s.name.as_bytes());
                out.extend_from_slice(b",\"version\":");
                json::write_str(out, s.version.as_bytes());
                if !s.attributes.is_empty() {
                    out.extend_from_slice(b",\"attributes\":");
                    key_values(out, &s.attributes);
                }
                out.push(b'}');
            }
            field(out, &mut f, "logRecords");
            out.push(b'[');
            for (k, r) in sl.log_records.iter().enumerate() {
                comma(out, k);
                write_record(r, out);
            }
            out.push(b']');
            if !sl.schema_url.is_empty() {
                field(out, &mut f, "schemaUrl");
                json::write_str(out, sl.schema_url.as_bytes());
            }
            out.push(b'}');
        }
        out.push(b']');
        if !rl.schema_url.is_empty() {
            field(out, &mut first, "schemaUrl");
            json::write_str(out, rl.schema_url.as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// Appends one record as OTLP/JSON (fields at their default are left out,
/// as protobuf's JSON mapping does).
pub fn write_record(r: &LogRecord, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    if r.time_unix_nano != 0 {
        field(out, &mut first, "timeUnixNano");
        quoted_int(out, r.time_unix_nano);
    }
    if r.observed_time_unix_nano != 0 {
        field(out, &mut first, "observedTimeUnixNano");
        quoted_int(out, r.observed_time_unix_nano);
    }
    if r.severity_number != 0 {
        field(out, &mut first, "severityNumber");
        out.extend_from_slice(r.severity_number.to_string().as_bytes());
    }
    if !r.severity_text.is_empty() {
        field(out, &mut first, "severityText");
        json::write_str(out, r.severity_text.as_bytes());
    }
    if let Some(b) = &r.body {
        field(out, &mut first, "body");
        write_any_value(b, out);
    }
    if !r.attributes.is_empty() {
        field(out, &mut first, "attributes");
        key_values(out, &r.attributes);
    }
    if r.dropped_attributes_count != 0 {
        field(out, &mut first, "droppedAttributesCount");
        out.extend_from_slice(r.dropped_attributes_count.to_string().as_bytes());
    }
    if r.flags != 0 {
        field(out, &mut first, "flags");
        out.extend_from_slice(r.flags.to_string().as_bytes());
    }
    if !r.trace_id.is_empty() {
        field(out, &mut first, "traceId");
        hex(out, &r.trace_id);
    }
    if !r.span_id.is_empty() {
        field(out, &mut first, "spanId");
        hex(out, &r.span_id);
    }
    if !r.event_name.is_empty() {
        field(out, &mut first, "eventName");
        json::write_str(out, r.event_name.as_bytes());
    }
    out.push(b'}');
}

/// Appends an owned `AnyValue` as OTLP/JSON.
pub fn write_any_value(v: &AnyValue, out: &mut Vec<u8>) {
    use any_value::Value;
    match &v.value {
        None => out.extend_from_slice(b"{}"),
        Some(Value::StringValue(s)) => string_value(out, s.as_bytes()),
        Some(Value::BoolValue(b)) => {
            out.extend_from_slice(if *b {
                b"{\"boolValue\":true}"
            } else {
                b"{\"boolValue\":false}"
            });
        }
        Some(Value::IntValue(i)) => {
            out.extend_from_slice(b"{\"intValue\":");
            quoted_int(out, i);
            out.push(b'}');
        }
        Some(Value::DoubleValue(f)) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            double(out, *f);
            out.push(b'}');
        }
        Some(Value::ArrayValue(a)) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, e) in a.values.iter().enumerate() {
                comma(out, i);
                write_any_value(e, out);
            }
            out.extend_from_slice(b"]}}");
        }
        Some(Value::KvlistValue(l)) => {
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":");
            key_values(out, &l.values);
            out.extend_from_slice(b"}}");
        }
        Some(Value::BytesValue(b)) => {
            out.extend_from_slice(b"{\"bytesValue\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .as_bytes(),
            );
            out.extend_from_slice(b"\"}");
        }
    }
}

/// Appends `[{"key":..,"value":..},...]`.
pub fn key_values(out: &mut Vec<u8>, kvs: &[KeyValue]) {
    out.push(b'[');
    for (i, kv) in kvs.iter().enumerate() {
        comma(out, i);
        out.extend_from_slice(b"{\"key\":");
        json::write_str(out, kv.key.as_bytes());
        out.extend_from_slice(b",\"value\":");
        match &kv.value {
            Some(v) => write_any_value(v, out),
            None => out.extend_from_slice(b"{}"),
        }
        out.push(b'}');
    }
    out.push(b']');
}

fn comma(out: &mut Vec<u8>, i: usize) {
    if i > 0 {
        out.push(b',');
    }
}

fn field(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Why an OTLP/JSON response body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OTLP/JSON ExportLogsServiceResponse: {0}")]
pub struct BadResponse(pub String);

/// Reads the `partialSuccess` of an OTLP/JSON `ExportLogsServiceResponse`
/// (`rejectedLogRecords` as a string or a number, `errorMessage`); an empty
/// body or `{}` is full success. Also accepts the proto field names
/// (`partial_success`, `rejected_log_records`, `error_message`), which
/// protobuf JSON parsers must.
pub fn parse_response(body: &[u8]) -> Result<Option<ExportLogsPartialSuccess>, BadResponse> {
    let body = body.trim_ascii();
    if body.is_empty() {
        return Ok(None);
    }
    let mut members = Vec::new();
    let object =
        json::scan_object(body, 32, &mut members).map_err(|e| BadResponse(e.to_string()))?;
    let find =
        |obj: Span, names: [&[u8]; 2]| names.iter().find_map(|n| json::find_member(body, obj, n));
    let Some(partial) = find(object, [&b"partialSuccess"[..], &b"partial_success"[..]]) else {
        return Ok(None);
    };
    let raw = partial.value_raw(body);
    if json::kind_of(raw) == Some(Kind::Null) {
        return Ok(None);
    }
    if json::kind_of(raw) != Some(Kind::Object) {
        return Err(BadResponse("partialSuccess is not an object".into()));
    }
    let mut out = ExportLogsPartialSuccess::default();
    if let Some(m) = find(
        partial.value,
        [&b"rejectedLogRecords"[..], &b"rejected_log_records"[..]],
    ) {
        let v = m.value_raw(body);
        let text = json::decode_str(v).unwrap_or(std::borrow::Cow::Borrowed(v));
        out.rejected_log_records = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                BadResponse(format!(
                    "rejectedLogRecords is not an integer: {}",
                    String::from_utf8_lossy(v)
                ))
            })?;
    }
    if let Some(m) = find(partial.value, [&b"errorMessage"[..], &b"error_message"[..]])
        && let Some(s) = json::decode_str(m.value_raw(body))
    {
        out.error_message = String::from_utf8_lossy(&s).into_owned();
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::super::messages::*;
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn any_values_from_json_use_the_otlp_json_mapping() {
        let got = text(|o| {
            any_value_json(
                o,
                br#"{"s":"x\"y","i":-3,"d":0.5,"b":false,"n":null,"a":[1,"z"],"big":1e999}"#,
                0,
            )
        });
        assert_eq!(
            got,
            concat!(
                r#"{"kvlistValue":{"values":["#,
                r#"{"key":"s","value":{"stringValue":"x\"y"}},"#,
                r#"{"key":"i","value":{"intValue":"-3"}},"#,
                r#"{"key":"d","value":{"doubleValue":0.5}},"#,
                r#"{"key":"b","value":{"boolValue":false}},"#,
                r#"{"key":"n","value":{}},"#,
                r#"{"key":"a","value":{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"z"}]}}},"#,
                r#"{"key":"big","value":{"stringValue":"1e999"}}"#,
                "]}}"
            )
        );
        let mut m = Vec::new();
        assert!(
            json::scan_object(got.as_bytes(), 64, &mut m).is_ok(),
            "valid JSON"
        );
    }

    #[test]
    fn a_request_as_otlp_json() {
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue::new("service.name", AnyValue::string("api"))],
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "logagent".into(),
                        version: "1".into(),
                        ..Default::default()
                    }),
                    log_records: vec![LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_001,
                        observed_time_unix_nano: 1_700_000_000_000_000_002,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(AnyValue::string("boom")),
                        attributes: vec![KeyValue::new("n", AnyValue::int(5))],
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let got = text(|o| write_request(&req, o));
        assert_eq!(
            got,
            concat!(
                r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"#,
                r#""scopeLogs":[{"scope":{"name":"logagent","version":"1"},"logRecords":[{"#,
                r#""timeUnixNano":"1700000000000000001","observedTimeUnixNano":"1700000000000000002","#,
                r#""severityNumber":17,"severityText":"ERROR","body":{"stringValue":"boom"},"#,
                r#""attributes":[{"key":"n","value":{"intValue":"5"}}],"#,
                r#""traceId":"abababababababababababababababab","spanId":"0101010101010101"}]}]}]}"#
            )
        );
    }

    #[test]
    fn partial_success_responses() {
        assert_eq!(parse_response(b""), Ok(None));
        assert_eq!(parse_response(b"{}"), Ok(None));
        assert_eq!(
            parse_response(
                br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"too old"}}"#
            ),
            Ok(Some(ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into()
            }))
        );
        assert_eq!(
            parse_response(br#"{"partial_success":{"rejected_log_records":2}}"#)
                .unwrap()
                .unwrap()
                .rejected_log_records,
            2
        );
        assert_eq!(
            parse_response(br#"{"partialSuccess":{"errorMessage":"just a warning"}}"#)
                .unwrap()
                .unwrap()
                .rejected_log_records,
            0
        );
        assert!(parse_response(b"<html>").is_err());
        assert!(parse_response(br#"{"partialSuccess":{"rejectedLogRecords":"x"}}"#).is_err());
    }
}

/// Why an OTLP/JSON export request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OTLP/JSON ExportLogsServiceRequest: {0}")]
pub struct BadRequest(pub String);

/// Deepest `AnyValue` nesting [`parse_request`] follows (a hostile body
/// cannot recurse further).
pub const MAX_PARSE_DEPTH: usize = 64;

/// Reads an OTLP/JSON `ExportLogsServiceRequest` (what a receiver of
/// `POST /v1/logs` with `Content-Type: application/json` gets): lowerCamelCase
/// or proto field names, 64-bit integers as strings or numbers, hex trace and
/// span ids, base64 `bytesValue`, enums as numbers or names; unknown fields
/// are ignored, as OTLP asks of receivers.
pub fn parse_request(body: &[u8]) -> Result<ExportLogsServiceRequest, BadRequest> {
    let r = Reader { body };
    let mut members = Vec::new();
    json::scan_object(body.trim_ascii_end(), json::MAX_DEPTH, &mut members)
        .map_err(|e| BadRequest(e.to_string()))?;
    let mut req = ExportLogsServiceRequest::default();
    if let Some(list) = r.field(&members, "resourceLogs", "resource_logs") {
        for rl in r.array(list)? {
            req.resource_logs.push(r.resource_logs(rl)?);
        }
    }
    Ok(req)
}

struct Reader<'a> {
    body: &'a [u8],
}

fn bad(what: impl Into<String>) -> BadRequest {
    BadRequest(what.into())
}

impl<'a> Reader<'a> {
    fn raw(&self, s: Span) -> &'a [u8] {
        &self.body[s.range()]
    }

    fn object(&self, s: Span) -> Result<Vec<json::Member>, BadRequest> {
        match json::kind_of(self.raw(s)) {
            Some(Kind::Object) => {
                let mut m = Vec::new();
                json::object_members(self.body, s, &mut m).map_err(|e| bad(e.to_string()))?;
                Ok(m)
            }
            Some(Kind::Null) => Ok(Vec::new()),
            _ => Err(bad(format!(
                "expected an object, found {}",
                String::from_utf8_lossy(&self.raw(s)[..self.raw(s).len().min(40)])
            ))),
        }
    }

    fn array(&self, s: Span) -> Result<Vec<Span>, BadRequest> {
        match json::kind_of(self.raw(s)) {
            Some(Kind::Array) => {
                let mut e = Vec::new();
                json::array_elements(self.body, s, &mut e).map_err(|e| bad(e.to_string()))?;
                Ok(e)
            }
            Some(Kind::Null) => Ok(Vec::new()),
            _ => Err(bad("expected an array")),
        }
    }

    /// The value of member `camel` (or its proto name `snake`).
    fn field(&self, members: &[json::Member], camel: &str, snake: &str) -> Option<Span> {
        members
            .iter()
            .find(|m| {
                m.key_eq(self.body, camel.as_bytes()) || m.key_eq(self.body, snake.as_bytes())
            })
            .map(|m| m.value)
            .filter(|v| json::kind_of(self.raw(*v)) != Some(Kind::Null))
    }

    fn string(&self, s: Span, what: &str) -> Result<String, BadRequest> {
        json::decode_str(self.raw(s))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| bad(format!("{what} is not a string")))
    }

    /// A number written as a JSON number or a string.
    fn number_text(&self, s: Span, what: &str) -> Result<String, BadRequest> {
        match json::kind_of(self.raw(s)) {
            Some(Kind::Number) => Ok(String::from_utf8_lossy(self.raw(s)).into_owned()),
            Some(Kind::String) => self.string(s, what),
            _ => Err(bad(format!("{what} is not a number"))),
        }
    }

    fn int<T: std::str::FromStr>(&self, s: Span, what: &str) -> Result<T, BadRequest> {
        let t = self.number_text(s, what)?;
        t.trim()
            .parse::<T>()
            .map_err(|_| bad(format!("{what} is not an integer of its type: {t}")))
    }

    fn double(&self, s: Span) -> Result<f64, BadRequest> {
        let t = self.number_text(s, "doubleValue")?;
        match t.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => t
                .trim()
                .parse()
                .map_err(|_| bad(format!("doubleValue is not a number: {t}"))),
        }
    }

    fn hex_id(&self, s: Span, n: usize, what: &str) -> Result<Vec<u8>, BadRequest> {
        let t = self.string(s, what)?;
        if t.is_empty() {
            return Ok(Vec::new());
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        if t.len() != 2 * n {
            return Err(bad(format!("{what} must be {} hex digits", 2 * n)));
        }
        t.as_bytes()
            .chunks_exact(2)
            .map(|p| Some((digit(p[0])? << 4) | digit(p[1])?))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| bad(format!("{what} is not hex")))
    }

    fn key_values(&self, s: Span, depth: usize) -> Result<Vec<KeyValue>, BadRequest> {
        let mut out = Vec::new();
        for e in self.array(s)? {
            let m = self.object(e)?;
            let key = match self.field(&m, "key", "key") {
                Some(k) => self.string(k, "key")?,
                None => String::new(),
            };
            let value = match self.field(&m, "value", "value") {
                Some(v) => Some(self.any_value(v, depth + 1)?),
                None => None,
            };
            out.push(KeyValue { key, value });
        }
        Ok(out)
    }

    fn any_value(&self, s: Span, depth: usize) -> Result<AnyValue, BadRequest> {
        use any_value::Value;
        if depth > MAX_PARSE_DEPTH {
            return Err(bad(format!("values nested deeper than {MAX_PARSE_DEPTH}")));
        }
        let m = self.object(s)?;
        let f = |camel, snake| self.field(&m, camel, snake);
        let value = if let Some(v) = f("stringValue", "string_value") {
            Some(Value::StringValue(self.string(v, "stringValue")?))
        } else if let Some(v) = f("boolValue", "bool_value") {
            Some(Value::BoolValue(self.raw(v) == b"true"))
        } else if let Some(v) = f("intValue", "int_value") {
            Some(Value::IntValue(self.int(v, "intValue")?))
        } else if let Some(v) = f("doubleValue", "double_value") {
            Some(Value::DoubleValue(self.double(v)?))
        } else if let Some(v) = f("arrayValue", "array_value") {
            let a = self.object(v)?;
            let mut values = Vec::new();
            if let Some(list) = self.field(&a, "values", "values") {
                for e in self.array(list)? {
                    values.push(self.any_value(e, depth + 1)?);
                }
            }
            Some(Value::ArrayValue(super::messages::ArrayValue { values }))
        } else if let Some(v) = f("kvlistValue", "kvlist_value") {
            let l = self.object(v)?;
            let values = match self.field(&l, "values", "values") {
                Some(list) => self.key_values(list, depth + 1)?,
                None => Vec::new(),
            };
            Some(Value::KvlistValue(super::messages::KeyValueList { values }))
        } else if let Some(v) = f("bytesValue", "bytes_value") {
            let t = self.string(v, "bytesValue")?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(t.as_bytes())
                .map_err(|e| bad(format!("bytesValue is not base64: {e}")))?;
            Some(Value::BytesValue(b))
        } else {
            None
        };
        Ok(AnyValue { value })
    }

    fn resource_logs(&self, s: Span) -> Result<super::messages::ResourceLogs, BadRequest> {
        let m = self.object(s)?;
        let mut rl = super::messages::ResourceLogs::default();
        if let Some(r) = self.field(&m, "resource", "resource") {
            let rm = self.object(r)?;
            let mut res = super::messages::Resource::default();
            if let Some(a) = self.field(&rm, "attributes", "attributes") {
                res.attributes = self.key_values(a, 0)?;
            }
            if let Some(d) = self.field(&rm, "droppedAttributesCount", "dropped_attributes_count") {
                res.dropped_attributes_count = self.int(d, "droppedAttributesCount")?;
            }
            rl.resource = Some(res);
        }
        if let Some(list) = self.field(&m, "scopeLogs", "scope_logs") {
            for sl in self.array(list)? {
                rl.scope_logs.push(self.scope_logs(sl)?);
            }
        }
        if let Some(u) = self.field(&m, "schemaUrl", "schema_url") {
            rl.schema_url = self.string(u, "schemaUrl")?;
        }
        Ok(rl)
    }

    fn scope_logs(&self, s: Span) -> Result<super::messages::ScopeLogs, BadRequest> {
        let m = self.object(s)?;
        let mut sl = super::messages::ScopeLogs::default();
        if let Some(sc) = self.field(&m, "scope", "scope") {
            let sm = self.object(sc)?;
            let mut scope = super::messages::InstrumentationScope::default();
            if let Some(v) = self.field(&sm, "name", "name") {
                scope.name = self.string(v, "scope.name")?;
            }
            if let Some(v) = self.field(&sm, "version", "version") {
                scope.version = self.string(v, "scope.version")?;
            }
            if let Some(v) = self.field(&sm, "attributes", "attributes") {
                scope.attributes = self.key_values(v, 0)?;
            }
            if let Some(d) = self.field(&sm, "droppedAttributesCount", "dropped_attributes_count") {
                scope.dropped_attributes_count = self.int(d, "droppedAttributesCount")?;
            }
            sl.scope = Some(scope);
        }
        if let Some(list) = self.field(&m, "logRecords", "log_records") {
            for r in self.array(list)? {
                sl.log_records.push(self.record(r)?);
            }
        }
        if let Some(u) = self.field(&m, "schemaUrl", "schema_url") {
            sl.schema_url = self.string(u, "schemaUrl")?;
        }
        Ok(sl)
    }

    fn record(&self, s: Span) -> Result<LogRecord, BadRequest> {
        let m = self.object(s)?;
        let f = |camel, snake| self.field(&m, camel, snake);
        let mut r = LogRecord::default();
        if let Some(v) = f("timeUnixNano", "time_unix_nano") {
            r.time_unix_nano = self.int(v, "timeUnixNano")?;
        }
        if let Some(v) = f("observedTimeUnixNano", "observed_time_unix_nano") {
            r.observed_time_unix_nano = self.int(v, "observedTimeUnixNano")?;
        }
        if let Some(v) = f("severityNumber", "severity_number") {
            r.severity_number = match json::kind_of(self.raw(v)) {
                Some(Kind::String) => severity_by_name(&self.string(v, "severityNumber")?)
                    .ok_or_else(|| bad("severityNumber: unknown name"))?,
                _ => self.int(v, "severityNumber")?,
            };
        }
        if let Some(v) = f("severityText", "severity_text") {
            r.severity_text = self.string(v, "severityText")?;
        }
        if let Some(v) = f("body", "body") {
            r.body = Some(self.any_value(v, 0)?);
        }
        if let Some(v) = f("attributes", "attributes") {
            r.attributes = self.key_values(v, 0)?;
        }
        if let Some(v) = f("droppedAttributesCount", "dropped_attributes_count") {
            r.dropped_attributes_count = self.int(v, "droppedAttributesCount")?;
        }
        if let Some(v) = f("flags", "flags") {
            r.flags = self.int(v, "flags")?;
        }
        if let Some(v) = f("traceId", "trace_id") {
            r.trace_id = self.hex_id(v, 16, "traceId")?;
        }
        if let Some(v) = f("spanId", "span_id") {
            r.span_id = self.hex_id(v, 8, "spanId")?;
        }
        if let Some(v) = f("eventName", "event_name") {
            r.event_name = self.string(v, "eventName")?;
        }
        Ok(r)
    }
}

/// `SEVERITY_NUMBER_WARN` → 13 (enum names are valid in protobuf JSON).
fn severity_by_name(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let (base, step) = match rest.char_indices().find(|(_, c)| c.is_ascii_digit()) {
        Some((i, _)) => (&rest[..i], rest[i..].parse::<i32>().ok()?),
        None => (rest, 1),
    };
    if !(1..=4).contains(&step) {
        return None;
    }
    let first = match base {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return None,
    };
    Some(first + step - 1)
}

#[cfg(test)]
mod parse_tests {
    use super::super::messages::*;
    use super::*;

    fn sample() -> ExportLogsServiceRequest {
        let kv = |k: &str, v| KeyValue::new(k, v);
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", AnyValue::string("api"))],
                    dropped_attributes_count: 1,
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "s".into(),
                        version: "2".into(),
                        ..Default::default()
                    }),
                    log_records: vec![LogRecord {
                        time_unix_nano: u64::MAX,
                        observed_time_unix_nano: 7,
                        severity_number: 14,
                        severity_text: "WARN2".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::KvlistValue(KeyValueList {
                                values: vec![
                                    kv(
                                        "d",
                                        AnyValue {
                                            value: Some(any_value::Value::DoubleValue(-0.5)),
                                        },
                                    ),
                                    kv(
                                        "b",
                                        AnyValue {
                                            value: Some(any_value::Value::BytesValue(vec![0, 255])),
                                        },
                                    ),
                                    kv(
                                        "a",
                                        AnyValue {
                                            value: Some(any_value::Value::ArrayValue(ArrayValue {
                                                values: vec![
                                                    AnyValue::int(i64::MIN),
                                                    AnyValue { value: None },
                                                ],
                                            })),
                                        },
                                    ),
                                ],
                            })),
                        }),
                        attributes: vec![kv(
                            "ok",
                            AnyValue {
                                value: Some(any_value::Value::BoolValue(true)),
                            },
                        )],
                        flags: 1,
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        event_name: "e".into(),
                        ..Default::default()
                    }],
                    schema_url: "u".into(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn what_write_request_writes_parses_back() {
        let req = sample();
        let mut text = Vec::new();
        write_request(&req, &mut text);
        assert_eq!(parse_request(&text), Ok(req));
    }

    #[test]
    fn proto_names_numbers_enum_names_and_unknown_fields() {
        let text = br#"{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":5,
            "severityNumber":"SEVERITY_NUMBER_ERROR3","body":{"int_value":42},"futureField":{"x":1},
            "traceId":""}]}]}],"extra":[1]}"#;
        let req = parse_request(text).unwrap();
        let r = &req.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!((r.time_unix_nano, r.severity_number), (5, 19));
        assert_eq!(r.body, Some(AnyValue::int(42)));
        assert!(r.trace_id.is_empty());
        assert_eq!(
            parse_request(b"{}"),
            Ok(ExportLogsServiceRequest::default())
        );
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        for bad in [
            &b"not json"[..],
            br#"{"resourceLogs":{}}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"-1"}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"%%"}}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}"#,
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{}1{}}}]}}]}}]}}"#,
            r#"{"arrayValue":{"values":["#.repeat(100),
            "]}}".repeat(100)
        );
        assert!(parse_request(deep.as_bytes()).is_err());
    }
}
