//! What every bench does before timing: frame a corpus into events, cut them
//! into batches of one stream, and build transforms from inline TOML.

#![allow(dead_code)]

use std::sync::Arc;

use logagent::codecs::framing::{LineReader, Oversize};
use logagent::config::TransformConfig;
use logagent::event::{AckToken, Batch, Event, Stream};
use logagent_core::component::{Transform, TransformContext};

/// Events per batch, the runtime's default `batch_max_events`.
pub const BATCH: usize = 1024;

/// The corpus's lines as events, as the file source frames them.
pub fn frame(data: &[u8]) -> Vec<Event> {
    let mut reader = LineReader::new(256 << 10, 1 << 20, Oversize::Truncate, 0);
    let mut src = data;
    let mut events = Vec::with_capacity(data.len() / 200);
    while reader.fill(&mut src).unwrap_or(0) > 0 {
        reader.drain_lines(|l| events.push(Event::new(l.bytes, l.offset)));
    }
    events
}

/// `events` in batches of [`BATCH`] from one file stream.
pub fn batches(events: &[Event]) -> Vec<Batch> {
    let stream = Arc::new(Stream {
        source: "bench".into(),
        path: Some("/var/log/workflow/api.log".into()),
        id: 1,
    });
    events
        .chunks(BATCH)
        .map(|c| Batch {
            events: c.to_vec().into(),
            members: Vec::new().into(),
            stream: stream.clone(),
            ack: AckToken::detached(),
        })
        .collect()
}

/// The transform of type `ty` configured by the inline TOML table `toml_text`.
pub fn transform(ty: &str, toml_text: &str) -> Box<dyn Transform> {
    let de = toml::de::ValueDeserializer::parse(toml_text).expect("bench config");
    let config = TransformConfig::parse(ty, de)
        .expect("known type")
        .expect("valid config");
    config
        .component()
        .build(TransformContext::detached(ty))
        .expect("builds")
}
