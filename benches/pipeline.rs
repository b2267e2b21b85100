//! Throughput of the per-line path, in bytes of input per second:
//! framing alone, `parse_json` alone, and the whole quickstart chain
//! (frame → parse_json → enrich → redact → filter_level → serialize).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use logagent::codecs::framing::{LineReader, Oversize};
use logagent::config::TransformConfig;
use logagent::event::{AckToken, Batch, Event, Stream};
use logagent::sinks::Encoding;
use logagent::transforms::{self, Transform, TransformContext};

#[path = "support/corpus.rs"]
mod corpus;

const CORPUS_BYTES: usize = 16 << 20;
const BATCH: usize = 1024;

fn frame(data: &[u8]) -> Vec<Event> {
    let mut reader = LineReader::new(256 << 10, 1 << 20, Oversize::Truncate, 0);
    let mut src = data;
    let mut events = Vec::with_capacity(data.len() / 300);
    while reader.fill(&mut src).unwrap_or(0) > 0 {
        reader.drain_lines(|l| events.push(Event::new(l.bytes, l.offset)));
    }
    events
}

fn batches(events: &[Event]) -> Vec<Batch> {
    let stream = Arc::new(Stream {
        source: "bench".into(),
        path: Some("/var/log/workflow/api.log".into()),
        id: 1,
    });
    events
        .chunks(BATCH)
        .map(|c| Batch {
            events: c.to_vec(),
            members: Vec::new(),
            stream: stream.clone(),
            ack: AckToken::detached(),
        })
        .collect()
}

fn transform(toml_text: &str, ty: &str) -> Box<dyn Transform> {
    let de = toml::de::ValueDeserializer::parse(toml_text).expect("bench config");
    let config = TransformConfig::parse(ty, de)
        .expect("known type")
        .expect("valid config");
    transforms::build(&config, TransformContext::detached(ty)).expect("builds")
}

fn chain() -> Vec<Box<dyn Transform>> {
    vec![
        transform("{ time_key = \"timestamp\" }", "parse_json"),
        transform(
            "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }",
            "enrich",
        ),
        transform(
            "{ paths = [\"req.headers.authorization\", \"user.email\", \"email\"] }",
            "redact",
        ),
        transform("{ min_level = \"info\" }", "filter_level"),
    ]
}

fn benches(c: &mut Criterion) {
    let data = corpus::generate(CORPUS_BYTES);
    let events = frame(&data);
    let mut group = c.benchmark_group("per_line");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);

    group.bench_function("framing", |b| b.iter(|| frame(&data).len()));

    group.bench_function("parse_json", |b| {
        let mut parse = transform("{}", "parse_json");
        b.iter_batched(
            || batches(&events),
            |mut bs| {
                for batch in &mut bs {
                    parse.process(batch);
                }
                bs
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("quickstart_chain", |b| {
        let mut chain = chain();
        let mut out = Vec::with_capacity(data.len() + data.len() / 4);
        b.iter(|| {
            out.clear();
            for mut batch in batches(&frame(&data)) {
                for t in chain.iter_mut() {
                    t.process(&mut batch);
                }
                for e in &batch.events {
                    Encoding::Json.write(e, &mut out);
                }
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
