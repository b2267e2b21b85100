//! Encoding one Loki push request as protobuf (before snappy): the sink's
//! streaming encoder against building the `prost`-derived messages and
//! encoding those, in bytes of log lines per second. The request is built
//! once, outside the timed part; each iteration encodes into a reused buffer.
//! This is the figure that decides whether the streaming encoder stays.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logagent::sinks::loki::pending::{Entry, Pair, Pending, StreamLabels, span};
use logagent::sinks::loki::proto;
use prost::Message as _;

/// Streams per request and entries per stream: a 1 MiB-ish request, about
/// what the sink sends at its default batch size.
const STREAMS: usize = 8;
const ENTRIES: usize = 640;

fn request() -> (Pending, usize) {
    let mut p = Pending::default();
    p.reset(1);
    let mut line_bytes = 0;
    for s in 0..STREAMS {
        let labels = Arc::new(StreamLabels {
            text: format!(r#"{{app="api-{s}", level="info", namespace="prod"}}"#).into(),
            pairs: Vec::new().into(),
        });
        let slot = p.add_stream(s as u32, labels) as usize;
        for i in 0..ENTRIES {
            let start = p.arena.len();
            let line = format!(
                r#"{{"timestamp":"2024-05-01T12:00:{:02}.{i:06}Z","level":"info","msg":"request served","method":"GET","path":"/api/v1/items/{i}","status":200,"duration_ms":{}}}"#,
                i % 60,
                i % 97
            );
            line_bytes += line.len();
            p.arena.extend_from_slice(line.as_bytes());
            let line = span(start..p.arena.len());
            let m0 = p.pairs.len() as u32;
            if i % 4 == 0 {
                let a = p.arena.len();
                p.arena.extend_from_slice(b"trace_id");
                let b = p.arena.len();
                p.arena.extend_from_slice(format!("{i:032x}").as_bytes());
                p.pairs.push(Pair {
                    name: span(a..b),
                    value: span(b..p.arena.len()),
                });
            }
            p.streams[slot].entries.push(Entry {
                ts: 1_714_564_800_000_000_000 + i as i64 * 1_000_000,
                line,
                meta: (m0, p.pairs.len() as u32),
            });
        }
    }
    (p, line_bytes)
}

fn encode(c: &mut Criterion) {
    let (p, line_bytes) = request();
    let mut streaming = Vec::new();
    proto::encode_protobuf(&p, &mut streaming);
    assert_eq!(streaming, proto::push_request(&p).encode_to_vec());
    let mut group = c.benchmark_group("loki_proto");
    group.throughput(Throughput::Bytes(line_bytes as u64));
    let mut out = Vec::with_capacity(streaming.len());
    group.bench_function("streaming", |b| {
        b.iter(|| {
            out.clear();
            proto::encode_protobuf(&p, &mut out);
            out.len()
        })
    });
    group.bench_function("derived", |b| {
        b.iter(|| {
            out.clear();
            let msg = proto::push_request(&p);
            msg.encode(&mut out).unwrap();
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
