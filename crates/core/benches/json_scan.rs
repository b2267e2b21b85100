//! Throughput of the JSON object scanner alone (`scan_object`,
//! `scan_object_summarized`), in bytes of input per second, on the line shape
//! of `scripts/bench-e2e` (~336 B, ~14 top-level members, two small nested
//! objects, an e-mail in a quarter of the lines) and on a few harder shapes:
//! long message strings, escapes, pretty-printed and deeply nested lines.
//!
//! Run: `cargo bench -p logagent-core --bench json_scan`.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group};
use logagent_core::event::json::{MAX_DEPTH, Member, scan_object, scan_object_summarized};
use std::hint::black_box;

const LEVELS: [&str; 5] = ["debug", "info", "info", "warn", "error"];
const MESSAGES: [&str; 4] = [
    "UseCase executed",
    "request completed",
    "cache miss for key",
    "retrying upstream call after timeout",
];

/// A small deterministic generator (xorshift), so every run scans the same bytes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Lines shaped like `generate()` in `scripts/bench-e2e`.
fn e2e_lines(n: usize) -> Vec<Vec<u8>> {
    let mut rnd = Rng(20_250_820);
    (0..n)
        .map(|i| {
            let level = LEVELS[rnd.below(5) as usize];
            let email = if rnd.below(4) == 0 {
                format!(r#","email":"user{}@example.co.jp""#, rnd.below(1000))
            } else {
                String::new()
            };
            format!(
                concat!(
                    r#"{{"timestamp":"2025-08-20T10:{:02}:{:02}.{:03}Z","level":"{}","message":"{}","service":"api","#,
                    r#""version":"1.1.0","traceId":"trace_{}","requestId":"req_{:012x}","userId":{}{},"duration":{},"#,
                    r#""context":{{"caseId":{},"processId":{}}},"metadata":{{"ip":"192.168.{}.{}","method":"POST","path":"/api/cases"}}}}"#
                ),
                i / 60000 % 60,
                i / 1000 % 60,
                i % 1000,
                level,
                MESSAGES[rnd.below(4) as usize],
                rnd.below(10_000_000_000),
                rnd.below(1 << 48),
                rnd.below(1000),
                email,
                rnd.below(5000),
                rnd.below(900),
                rnd.below(800),
                rnd.below(255),
                rnd.below(255),
            )
            .into_bytes()
        })
        .collect()
}

fn replace_all(lines: &[Vec<u8>], from: &str, to: &str) -> Vec<Vec<u8>> {
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).replace(from, to).into_bytes())
        .collect()
}

fn shapes() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let e2e = e2e_lines(4096);
    let long = replace_all(
        &e2e[..512],
        r#""service":"api""#,
        &format!(
            r#""service":"api","stack":"{}""#,
            "at com.example.Handler.run(Handler.java:42) ".repeat(40)
        ),
    );
    let escaped = replace_all(
        &e2e[..1024],
        r#""service":"api""#,
        r#""service":"api","query":"SELECT \"name\" FROM t WHERE x = 'a\\b'\n\tLIMIT 10 \u00e9""#,
    );
    let pretty: Vec<Vec<u8>> = e2e[..1024]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            serde_json::to_vec_pretty(&v).unwrap()
        })
        .collect();
    let deep: Vec<Vec<u8>> = (0..256)
        .map(|i| {
            let depth = 8 + i % 24;
            let mut s = format!(r#"{{"level":"info","n":{i},"tree":"#);
            for d in 0..depth {
                s.push_str(&format!(r#"{{"d":{d},"xs":[1,2.5,"x",true,null],"c":"#));
            }
            s.push_str("null");
            s.push_str(&"}".repeat(depth + 1));
            s.into_bytes()
        })
        .collect();
    vec![
        ("e2e", e2e),
        ("long_strings", long),
        ("escapes", escaped),
        ("pretty", pretty),
        ("deep", deep),
    ]
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_scan");
    group.sample_size(30);
    let mut out: Vec<Member> = Vec::with_capacity(64);
    for (name, lines) in shapes() {
        for line in &lines {
            scan_object(line, MAX_DEPTH, &mut out).unwrap();
            out.clear();
        }
        let bytes: usize = lines.iter().map(Vec::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("scan_object/{name}"), |b| {
            b.iter(|| {
                let mut n = 0;
                for line in &lines {
                    out.clear();
                    n += scan_object(black_box(line), MAX_DEPTH, &mut out)
                        .unwrap()
                        .len();
                }
                n
            })
        });
        if name == "e2e" {
            group.bench_function(format!("scan_object_summarized/{name}"), |b| {
                b.iter(|| {
                    let mut n = 0u64;
                    for line in &lines {
                        out.clear();
                        let (_, s) =
                            scan_object_summarized(black_box(line), MAX_DEPTH, &mut out).unwrap();
                        n ^= s.bits;
                    }
                    n
                })
            });
        }
    }
    group.finish();
}

/// Best-of-N wall time of one pass over each shape: a quick comparison that
/// holds up on a loaded machine (the fastest pass is the least disturbed).
/// Run: `JSON_SCAN_BEST_OF=200 cargo bench -p logagent-core --bench json_scan`.
fn best_of(rounds: usize) {
    let mut out: Vec<Member> = Vec::with_capacity(64);
    let only = std::env::var("JSON_SCAN_ONLY").unwrap_or_default();
    for (name, lines) in shapes() {
        if !name.contains(only.as_str()) {
            continue;
        }
        let bytes: usize = lines.iter().map(Vec::len).sum();
        for summarized in [false, true] {
            let mut best = f64::INFINITY;
            for _ in 0..rounds {
                let start = std::time::Instant::now();
                for line in &lines {
                    out.clear();
                    if summarized {
                        black_box(
                            scan_object_summarized(black_box(line), MAX_DEPTH, &mut out).unwrap(),
                        );
                    } else {
                        black_box(scan_object(black_box(line), MAX_DEPTH, &mut out).unwrap());
                    }
                }
                best = best.min(start.elapsed().as_secs_f64());
            }
            let kind = if summarized {
                "scan_object_summarized"
            } else {
                "scan_object"
            };
            println!(
                "{kind}/{name}: {:.0} MB/s (best of {rounds})",
                bytes as f64 / best / 1e6
            );
        }
    }
}

criterion_group!(json_scan, benches);

fn main() {
    if let Some(rounds) = std::env::var("JSON_SCAN_BEST_OF")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        best_of(rounds);
        return;
    }
    json_scan();
    Criterion::default().configure_from_args().final_summary();
}
