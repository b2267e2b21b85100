//! OTLP logs (OpenTelemetry protocol): the messages of `POST /v1/logs`, their
//! protobuf and OTLP/JSON encodings, and the severity scale. Shared by the
//! `opentelemetry` sink (which encodes) and a receiver (which decodes with the
//! same types).
//!
//! * [`messages`] — the `prost` messages (the reference definition).
//! * [`wire`] — protobuf written straight from log data (what the sink sends).
//! * [`json`] — OTLP/JSON, from the messages or straight from JSON values;
//!   reading a request (a receiver) and a response's partial success (the sink).

pub mod json;
pub mod messages;
pub mod wire;

pub use messages::*;

use logagent_core::event::Level;

/// The path OTLP/HTTP serves logs on, appended to a base endpoint.
pub const LOGS_PATH: &str = "/v1/logs";

/// `application/x-protobuf`: the binary encoding's content type.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// `application/json`: OTLP/JSON's content type.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// `logs.v1.SeverityNumber` values (each level has four steps: `TRACE2` = 2...).
pub mod severity {
    /// Not set.
    pub const UNSPECIFIED: i32 = 0;
    /// `SEVERITY_NUMBER_TRACE`.
    pub const TRACE: i32 = 1;
    /// `SEVERITY_NUMBER_DEBUG`.
    pub const DEBUG: i32 = 5;
    /// `SEVERITY_NUMBER_INFO`.
    pub const INFO: i32 = 9;
    /// `SEVERITY_NUMBER_INFO2`: syslog's notice, as the OTel data model maps it.
    pub const INFO2: i32 = 10;
    /// `SEVERITY_NUMBER_WARN`.
    pub const WARN: i32 = 13;
    /// `SEVERITY_NUMBER_ERROR`.
    pub const ERROR: i32 = 17;
    /// `SEVERITY_NUMBER_FATAL`.
    pub const FATAL: i32 = 21;
    /// `SEVERITY_NUMBER_FATAL2`: syslog's alert, above fatal/critical.
    pub const FATAL2: i32 = 22;
    /// `SEVERITY_NUMBER_FATAL3`: syslog's emergency, the most severe we know.
    pub const FATAL3: i32 = 23;
}

/// The OTLP severity number of a normalized level: trace..fatal are 1, 5, 9,
/// 13, 17, 21; notice sits just above info (10), alert and emergency above
/// fatal (22, 23), keeping our order on OTLP's scale.
pub fn severity_number(level: Level) -> i32 {
    match level {
        Level::Trace => severity::TRACE,
        Level::Debug => severity::DEBUG,
        Level::Info => severity::INFO,
        Level::Notice => severity::INFO2,
        Level::Warn => severity::WARN,
        Level::Error => severity::ERROR,
        Level::Critical => severity::FATAL,
        Level::Alert => severity::FATAL2,
        Level::Emergency => severity::FATAL3,
    }
}

/// The severity text sent with a level: OTLP's short names in upper case
/// (`TRACE` ... `FATAL`), plus `NOTICE`, `ALERT` and `EMERGENCY`.
pub fn severity_text(level: Level) -> &'static str {
    match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Notice => "NOTICE",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
        Level::Critical => "FATAL",
        Level::Alert => "ALERT",
        Level::Emergency => "EMERGENCY",
    }
}

/// The normalized level of an OTLP severity number, the inverse of
/// [`severity_number`] on the values it produces: 1-4 trace, 5-8 debug, 9 and
/// 11-12 info, 10 (INFO2) notice, 13-16 warn, 17-20 error, 21 fatal, 22
/// alert, 23-24 emergency; `None` for 0 (unspecified) or out of range.
pub fn level_of_severity(number: i32) -> Option<Level> {
    Some(match number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        severity::INFO2 => Level::Notice,
        9..=12 => Level::Info,
        13..=16 => Level::Warn,
        17..=20 => Level::Error,
        severity::FATAL => Level::Critical,
        severity::FATAL2 => Level::Alert,
        23 | 24 => Level::Emergency,
        _ => return None,
    })
}

/// Parses a trace or span id written as hex (`N` bytes, `2N` digits, any
/// case); `None` for anything else, or for the all-zero id OTLP calls invalid.
pub fn parse_hex_id<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    (out != [0u8; N]).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_keep_their_order_on_the_otlp_scale() {
        let levels = [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Notice,
            Level::Warn,
            Level::Error,
            Level::Critical,
            Level::Alert,
            Level::Emergency,
        ];
        let numbers: Vec<i32> = levels.iter().map(|l| severity_number(*l)).collect();
        assert_eq!(numbers, [1, 5, 9, 10, 13, 17, 21, 22, 23]);
        assert_eq!(severity_text(Level::Critical), "FATAL");
        for l in levels {
            assert_eq!(level_of_severity(severity_number(l)), Some(l));
        }
        assert_eq!(level_of_severity(12), Some(Level::Info));
        assert_eq!(level_of_severity(0), None);
        assert_eq!(level_of_severity(25), None);
    }

    #[test]
    fn hex_ids() {
        assert_eq!(
            parse_hex_id::<8>(b"00F067aa0ba902b7"),
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(parse_hex_id::<8>(b"0000000000000000"), None);
        assert_eq!(parse_hex_id::<8>(b"00f067aa0ba902b"), None);
        assert_eq!(parse_hex_id::<8>(b"00f067aa0ba902bz"), None);
        assert!(parse_hex_id::<16>(b"4bf92f3577b34da6a3ce929d0e0e4736").is_some());
    }
}
