//! What parsers share: typing captured text (`types = { status = "int" }`) and
//! turning ranges of text into [`Value`]s without copying when the text is the
//! line itself.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;

use logagent_core::event::{Span, Value};

/// The JSON type a parsed field is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text (the default).
    String,
    /// An integer; text that is not one stays a string (counted by the caller).
    Int,
    /// A number.
    Float,
    /// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`, any case).
    Bool,
}

/// Field name → type, looked up per captured field.
#[derive(Debug, Clone, Default)]
pub struct Types(Vec<(Bytes, FieldType)>);

impl Types {
    /// From the config's `types` table.
    pub fn new(map: &BTreeMap<String, FieldType>) -> Types {
        Types(
            map.iter()
                .map(|(k, t)| (Bytes::copy_from_slice(k.as_bytes()), *t))
                .collect(),
        )
    }

    /// Adds a default that the config did not override (presets).
    pub fn with_default(mut self, key: &str, ty: FieldType) -> Types {
        if !self.0.iter().any(|(k, _)| k.as_ref() == key.as_bytes()) {
            self.0.push((Bytes::copy_from_slice(key.as_bytes()), ty));
        }
        self
    }

    /// The type of `key` (string when not listed).
    pub fn of(&self, key: &[u8]) -> FieldType {
        self.0
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map_or(FieldType::String, |(_, t)| *t)
    }
}

/// True when `s` is a number exactly as JSON writes one.
pub fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let n = s.len();
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while i < n && s[i].is_ascii_digit() {
                i += 1;
            }
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == n
}

/// The value for `text[span]` as type `ty`. `in_line` says that `text` is the
/// event's line, so strings and numbers can stay ranges of it (no copy).
/// Returns the value and whether a conversion failed (the text is then kept as
/// a string).
pub fn typed_value(text: &Bytes, in_line: bool, span: Span, ty: FieldType) -> (Value, bool) {
    let raw = &text[span.range()];
    let string = || {
        if in_line {
            Value::LineStr(span)
        } else {
            Value::string(raw)
        }
    };
    let number = |ok: bool| -> Option<Value> {
        if ok {
            return Some(if in_line {
                Value::LineRaw(span)
            } else {
                Value::Json(text.slice(span.range()))
            });
        }
        None
    };
    match ty {
        FieldType::String => (string(), false),
        FieldType::Int => {
            let t = raw.trim_ascii();
            let digits = t.strip_prefix(b"-").unwrap_or(t);
            if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                if let Some(v) = number(is_json_number(raw)) {
                    return (v, false);
                }
                if let Some(n) = std::str::from_utf8(t)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    return (Value::Json(Bytes::from(n.to_string())), false);
                }
            }
            (string(), true)
        }
        FieldType::Float => {
            if let Some(v) = number(is_json_number(raw)) {
                return (v, false);
            }
            match std::str::from_utf8(raw.trim_ascii())
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|f| f.is_finite())
            {
                Some(f) => (Value::Json(Bytes::from(f.to_string())), false),
                None => (string(), true),
            }
        }
        FieldType::Bool => {
            let t = raw.trim_ascii();
            let mut lower = [0u8; 5];
            if t.len() <= 5 {
                lower[..t.len()].copy_from_slice(t);
                lower.make_ascii_lowercase();
            }
            match &lower[..t.len().min(5)] {
                b"true" | b"yes" | b"on" | b"1" => {
                    (Value::Json(Bytes::from_static(b"true")), false)
                }
                b"false" | b"no" | b"off" | b"0" => {
                    (Value::Json(Bytes::from_static(b"false")), false)
                }
                _ => (string(), true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers() {
        for ok in ["0", "-1", "12.5", "1e9", "-0.5E-3"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "12ms", "NaN", " 1"] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn typing_keeps_line_ranges_and_falls_back_to_strings() {
        let line = Bytes::from_static(b"404 007 1.5 x yes");
        let (v, bad) = typed_value(&line, true, Span::new(0, 3), FieldType::Int);
        assert_eq!((v, bad), (Value::LineRaw(Span::new(0, 3)), false));
        let (v, _) = typed_value(&line, true, Span::new(4, 7), FieldType::Int);
        assert_eq!(v, Value::Json(Bytes::from_static(b"7")));
        let (v, _) = typed_value(&line, false, Span::new(8, 11), FieldType::Float);
        assert_eq!(v, Value::Json(Bytes::from_static(b"1.5")));
        let (v, bad) = typed_value(&line, true, Span::new(12, 13), FieldType::Int);
        assert_eq!((v, bad), (Value::LineStr(Span::new(12, 13)), true));
        let (v, _) = typed_value(&line, true, Span::new(14, 17), FieldType::Bool);
        assert_eq!(v, Value::Json(Bytes::from_static(b"true")));
    }
}
