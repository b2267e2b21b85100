//! A fixed amount of transform work for `perf stat` / `perf record`, where a
//! criterion run is too noisy (a shared machine): runs the named chain over the
//! bench corpus `ROUNDS` times and prints bytes processed.
//!
//!     cargo build --release --example chain_cost
//!     perf stat -e instructions:u target/release/examples/chain_cost default 20
//!
//! Chains: `default` (parse_json → enrich → redact, every detector →
//! filter_level → NDJSON), `no_redact`, `parse`, `enrich`, `redact`.

#![allow(clippy::unwrap_used)]

#[path = "../benches/support/corpus.rs"]
mod corpus;
#[path = "../benches/support/prepare.rs"]
mod prepare;

use logagent::sinks::Encoding;
use prepare::{batches, frame, transform};

fn main() {
    let mut args = std::env::args().skip(1);
    let chain = args.next().unwrap_or_else(|| "default".into());
    let rounds: usize = args.next().map_or(10, |r| r.parse().unwrap());
    let data = corpus::generate(4 << 20);
    let events = frame(&data);
    let parse = ("parse_json", "{ time_key = \"timestamp\" }");
    let enrich = (
        "enrich",
        "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }",
    );
    let redact = (
        "redact",
        "{ detectors = [\"all\"], paths = [\"req.headers.authorization\", \"user.email\"] }",
    );
    let filter = ("filter_level", "{ min_level = \"info\" }");
    let steps: Vec<(&str, &str)> = match chain.as_str() {
        "default" => vec![parse, enrich, redact, filter],
        "no_redact" => vec![parse, enrich, filter],
        "parse" => vec![parse],
        "enrich" => vec![parse, enrich],
        "redact" => vec![parse, redact],
        other => panic!("unknown chain {other}"),
    };
    let mut chain: Vec<_> = steps.iter().map(|(t, c)| transform(t, c)).collect();
    let mut out = Vec::with_capacity(data.len() * 2);
    let mut total = 0usize;
    for _ in 0..rounds {
        out.clear();
        for mut batch in batches(&events) {
            for t in chain.iter_mut() {
                t.process(&mut batch);
            }
            for e in &batch.events {
                Encoding::Json.write(e, &mut out);
            }
        }
        total += out.len();
    }
    println!("{} input bytes, {total} output bytes", data.len() * rounds);
}
