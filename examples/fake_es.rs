//! The tests' in-process Elasticsearch stand-in as a process, for
//! `scripts/bench-es`: prints its URL, serves until its standard input closes,
//! then prints how many documents it accepted.
//!
//!     cargo run --release --example fake_es [-- --discard]

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/fake_es/mod.rs"]
mod fake_es;

use std::io::{Read, Write};

fn main() {
    let es = fake_es::FakeEs::start();
    let discard = std::env::args().any(|a| a == "--discard");
    es.with(|s| s.discard = discard);
    println!("{}", es.url());
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let (accepted, requests) = es.with(|s| (s.discarded, s.requests.len()));
    let stored = es.doc_count();
    println!("accepted={} requests={requests}", accepted + stored as u64);
}
