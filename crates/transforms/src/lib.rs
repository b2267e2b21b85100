//! logagent-transforms: change batches in place. Each transform records ranges
//! and edits on the events (see [`logagent_core::event`]) instead of rebuilding
//! them, and may drop events. Each config implements
//! [`logagent_core::component::TransformComponent`], so the application's
//! component enum only lists the types.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod condition;
pub mod enrich;
pub mod fields;
pub mod filter;
pub mod filter_level;
pub mod log_to_metric;
pub mod parse_json;
pub mod parse_kv;
pub mod parse_regex;
pub mod redact;
pub mod remap;
pub mod route;
pub mod sample;
pub mod shape;
mod text_parser;
pub mod throttle;
pub mod timestamp;

use logagent_core::KeyError;

/// Parses a list of field paths, naming the key of each bad one.
pub(crate) fn parse_paths(
    key: &str,
    paths: &[String],
) -> Result<Vec<logagent_core::event::FieldPath>, Vec<KeyError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        match logagent_core::event::FieldPath::parse(p) {
            Ok(path) => out.push(path),
            Err(e) => errors.push(KeyError::new(format!("{key}[{i}]"), e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parses one field path for `key`.
pub(crate) fn parse_path(
    key: &str,
    path: &str,
) -> Result<logagent_core::event::FieldPath, Vec<KeyError>> {
    logagent_core::event::FieldPath::parse(path)
        .map_err(|e| vec![KeyError::new(key, e.to_string())])
}
