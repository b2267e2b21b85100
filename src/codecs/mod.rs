//! Byte-level codecs: line framing over a reusable buffer and the JSON scanner.
//! Nothing here knows about events or components.

pub mod access_log;
pub mod framing;
pub mod json;
pub mod kv;
