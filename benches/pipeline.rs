//! Throughput of the per-line path, in bytes of input per second:
//! framing alone, `parse_json` alone, and the whole quickstart chain
//! (frame → parse_json → enrich → redact → filter_level → serialize).

#![allow(clippy::unwrap_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use logagent::sinks::Encoding;
use logagent_core::component::Transform;

#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/prepare.rs"]
mod prepare;

use prepare::{batches, frame, transform};

const CORPUS_BYTES: usize = 16 << 20;

fn chain() -> Vec<Box<dyn Transform>> {
    vec![
        transform("parse_json", "{ time_key = \"timestamp\" }"),
        transform(
            "enrich",
            "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }",
        ),
        transform(
            "redact",
            "{ paths = [\"req.headers.authorization\", \"user.email\", \"email\"] }",
        ),
        transform("filter_level", "{ min_level = \"info\" }"),
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
        let mut parse = transform("parse_json", "{}");
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
