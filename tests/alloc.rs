//! "No allocation per line for events no transform changes", checked with a
//! counting allocator: parse_json → redact (every detector) → filter_level →
//! serialize over lines that carry nothing to redact, and enrich (whose edit
//! is kept inline in the event).

#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::sync::Arc;

use bytes::Bytes;
use logagent::config::TransformConfig;
use logagent::event::{AckToken, Batch, Event, Stream};
use logagent::sinks::Encoding;
use logagent_core::component::{Transform, TransformContext};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

// Counts every allocation of the process; this file holds one test so that no
// other test thread allocates while it counts.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (and reallocations) made while `f` runs.
fn allocations(f: impl FnOnce()) -> u64 {
    let region = Region::new(GLOBAL);
    f();
    let change = region.change();
    (change.allocations + change.reallocations) as u64
}

fn transform(ty: &str, toml_text: &str) -> Box<dyn Transform> {
    let de = toml::de::ValueDeserializer::parse(toml_text).unwrap();
    let config = TransformConfig::parse(ty, de).unwrap().unwrap();
    config
        .component()
        .build(TransformContext::detached(ty))
        .unwrap()
}

fn batch(n: usize) -> Batch {
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: None,
        id: 0,
    });
    let mut b = Batch::new(stream, AckToken::detached(), n);
    for i in 0..n {
        let line = format!(
            r#"{{"timestamp":"2025-08-20T10:30:{:02}.123Z","level":"{}","message":"UseCase executed successfully","service":"api","version":"1.1.0","traceId":"trace_{i}","userId":{i},"duration":{},"context":{{"caseId":926,"processId":780}},"metadata":{{"method":"POST","path":"/api/cases"}}}}"#,
            i % 60,
            if i % 4 == 0 { "debug" } else { "info" },
            i % 900
        );
        b.events.push(Event::new(Bytes::from(line), i as u64));
    }
    // The arena a source's batch grows into, sized once (its growth is per
    // batch, not per line).
    b.members.reserve(n * 16);
    b
}

#[test]
fn untouched_events_cost_no_allocation_per_line() {
    const LINES: usize = 1000;
    let mut parse = transform("parse_json", "{ time_key = \"timestamp\" }");
    let mut redact = transform(
        "redact",
        "{ detectors = [\"all\"], paths = [\"req.headers.authorization\", \"user.email\"] }",
    );
    let mut filter = transform("filter_level", "{ min_level = \"info\" }");
    // Warm up once: scratch buffers and regex caches are made on first use.
    let mut warm = batch(16);
    for t in [&mut parse, &mut redact, &mut filter] {
        t.process(&mut warm);
    }
    let mut b = batch(LINES);
    let mut out = Vec::with_capacity(LINES * 400);
    let n = allocations(|| parse.process(&mut b));
    assert_eq!(n, 0, "parse_json allocated {n} times for {LINES} lines");
    assert!(b.events.iter().all(|e| e.meta.time.is_some()));
    let n = allocations(|| redact.process(&mut b));
    assert_eq!(n, 0, "redact allocated {n} times for {LINES} clean lines");
    assert!(b.events.iter().all(|e| e.edits.is_empty()));
    let n = allocations(|| filter.process(&mut b));
    assert_eq!(n, 0, "filter_level allocated {n} times");
    assert_eq!(b.events.len(), LINES * 3 / 4);
    let n = allocations(|| {
        for e in &b.events {
            Encoding::Json.write(e, &mut out);
        }
    });
    assert_eq!(n, 0, "serializing allocated {n} times");
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), LINES * 3 / 4);

    // An edited event keeps its first edits inline (in the batch's event
    // vector): enriching every line costs no allocation per line either.
    let mut enrich = transform("enrich", "{ fields = { env = \"prod\" } }");
    let n = allocations(|| enrich.process(&mut b));
    assert_eq!(
        n,
        0,
        "enrich allocated {n} times for {} lines",
        b.events.len()
    );
    assert!(b.events.iter().all(|e| e.edits.len() == 1));

    // The counter counts: more edits than an event holds inline spill to the
    // heap, once per event.
    let mut enrich_more = transform("enrich", "{ fields = { a = \"1\", b = \"2\", c = \"3\" } }");
    let n = allocations(|| enrich_more.process(&mut b));
    assert!(
        n >= (LINES * 3 / 4) as u64,
        "expected allocations for spilled edits, got {n}"
    );
}
