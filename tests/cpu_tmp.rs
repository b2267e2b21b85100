#![allow(clippy::unwrap_used, dead_code)]
use std::sync::Arc;
use logagent::codecs::framing::{LineReader, Oversize};
use logagent::config::TransformConfig;
use logagent::event::{AckToken, Batch, Event, Stream};
use logagent::sinks::Encoding;
use logagent::transforms::{self, Transform, TransformContext};
#[path = "../benches/support/corpus.rs"]
mod corpus;

fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}
fn frame(data: &[u8]) -> Vec<Event> {
    let mut reader = LineReader::new(256 << 10, 1 << 20, Oversize::Truncate, 0);
    let mut src = data;
    let mut events = Vec::new();
    while reader.fill(&mut src).unwrap_or(0) > 0 {
        reader.drain_lines(|l| events.push(Event::new(l.bytes, l.offset)));
    }
    events
}
fn batches(events: &[Event]) -> Vec<Batch> {
    let stream = Arc::new(Stream { source: "b".into(), path: Some("/var/log/workflow/api.log".into()), id: 1 });
    events.chunks(1024).map(|c| Batch { events: c.to_vec(), members: Vec::new(), stream: stream.clone(), ack: AckToken::detached() }).collect()
}
fn transform(ty: &str, t: &str) -> Box<dyn Transform> {
    let de = toml::de::ValueDeserializer::parse(t).unwrap();
    let c = TransformConfig::parse(ty, de).unwrap().unwrap();
    transforms::build(&c, TransformContext::detached(ty)).unwrap()
}
fn measure(name: &str, bytes: usize, input: &[Batch], mut chain: Vec<Box<dyn Transform>>, serialize: bool) {
    let mut best = f64::MAX;
    let mut out = Vec::with_capacity(bytes * 2);
    for _ in 0..7 {
        let bs = input.to_vec();
        out.clear();
        let t0 = cpu_ns();
        for mut b in bs {
            for t in chain.iter_mut() { t.process(&mut b); }
            if serialize { for e in &b.events { Encoding::Json.write(e, &mut out); } }
        }
        let dt = (cpu_ns() - t0) as f64;
        best = best.min(dt);
    }
    println!("{name:40} {:8.1} MB/s (cpu time)", bytes as f64 / best * 1e3);
}
#[test]
fn cpu() {
    let json = corpus::generate(16 << 20);
    let ev = frame(&json);
    let raw = batches(&ev);
    let mut parsed = raw.clone();
    let mut p = transform("parse_json", "{ time_key = \"timestamp\" }");
    for b in &mut parsed { p.process(b); }
    let n = json.len();
    let only = std::env::var("ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || name.contains(&only);
    if run("parse_json") { measure("parse_json", n, &raw, vec![transform("parse_json", "{ time_key = \"timestamp\" }")], false); }
    if run("enrich") { measure("enrich", n, &parsed, vec![transform("enrich", "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }")], false); }
    if run("redact_all") { measure("redact_all", n, &parsed, vec![transform("redact", "{ detectors = [\"all\"] }")], false); }
    if run("filter_level") { measure("filter_level", n, &parsed, vec![transform("filter_level", "{ min_level = \"info\" }")], false); }
    if run("serialize") { measure("serialize(parsed)", n, &parsed, vec![], true); }
    if run("chain") { measure("default_chain", n, &raw, vec![
        transform("parse_json", "{ time_key = \"timestamp\" }"),
        transform("enrich", "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }"),
        transform("redact", "{ detectors = [\"all\"], paths = [\"req.headers.authorization\", \"user.email\"] }"),
        transform("filter_level", "{ min_level = \"info\" }"),
    ], true); }
    if run("nginx") {
        let ng = corpus::nginx(16 << 20);
        let nb = batches(&frame(&ng));
        measure("parse_regex nginx_combined", ng.len(), &nb, vec![transform("parse_regex", "{ preset = \"nginx_combined\" }")], false);
    }
    if run("logfmt") {
        let lf = corpus::logfmt(16 << 20);
        let lb = batches(&frame(&lf));
        measure("parse_logfmt", lf.len(), &lb, vec![transform("parse_logfmt", "{}")], false);
    }
}
