//! Ordered parallel stages (`[runtime] workers`): with four workers and random
//! batch sizes, every file's lines still arrive in order and exactly once, a
//! router's named outputs included, and acknowledgements still move the
//! checkpoints exactly (a second run reads only what was appended).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logagent::config;
use logagent::event::Batch;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent_core::component::{Sink, SinkContext, SinkError};

use common::{bin, write_pipeline};

/// A small deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "info"];

/// Writes `count` lines numbered from `from` to `path` (appending), each naming
/// its file and number, of random lengths and levels.
fn write_lines(path: &Path, file: usize, from: usize, count: usize, rng: &mut Rng) {
    use std::io::Write;
    let mut text = String::new();
    for n in from..from + count {
        let level = LEVELS[rng.below(LEVELS.len() as u64) as usize];
        let pad = "x".repeat(rng.below(400) as usize);
        text.push_str(&format!(
            "{{\"level\":\"{level}\",\"file\":{file},\"n\":{n},\"pad\":\"{pad}\"}}\n"
        ));
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The `(file, n, level)` of every line the writer produced, by file.
fn expected(paths: &[PathBuf]) -> Vec<Vec<(u64, String)>> {
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    (
                        v["n"].as_u64().unwrap(),
                        v["level"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Records what reaches it: `(file, n)` of each event, in arrival order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(u64, u64)>>>);

impl Sink for Recorder {
    fn write(&mut self, batch: Batch, _ctx: &SinkContext) -> Result<(), SinkError> {
        let mut seen = self.0.lock().unwrap();
        for e in &batch.events {
            let v: serde_json::Value = serde_json::from_slice(&e.line).unwrap();
            seen.push((v["file"].as_u64().unwrap(), v["n"].as_u64().unwrap()));
        }
        Ok(())
    }
    fn flush(&mut self, _ctx: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Splits what a sink saw by file, keeping the order.
fn by_file(seen: &[(u64, u64)]) -> BTreeMap<u64, Vec<u64>> {
    let mut files: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (f, n) in seen {
        files.entry(*f).or_default().push(*n);
    }
    files
}

#[test]
fn four_workers_keep_each_files_order_and_deliver_every_line_once_under_random_batch_sizes() {
    for seed in [0x9e37_79b9_7f4a_7c15u64, 7, 1234567, 42] {
        let mut rng = Rng(seed);
        let dir = tempfile::tempdir().unwrap();
        let files = 3;
        let paths: Vec<PathBuf> = (0..files)
            .map(|f| dir.path().join(format!("app-{f}.log")))
            .collect();
        for (f, p) in paths.iter().enumerate() {
            let lines = 1500 + rng.below(1500) as usize;
            write_lines(p, f, 0, lines, &mut rng);
        }
        let batch_events = 1 + rng.below(200);
        let batch_bytes = 200 + rng.below(64 << 10);
        let capacity = 1 + rng.below(4);
        let text = format!(
            r#"
data_dir = {data:?}
[runtime]
workers = 4
batch_max_events = {batch_events}
batch_max_bytes = {batch_bytes}
channel_capacity = {capacity}
[sources.app]
type = "file"
include = [{glob:?}]
read_buffer = "4KiB"
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.stamp]
type = "enrich"
inputs = ["parse"]
fields = {{ stage = "parallel" }}
[transforms.keep]
type = "filter_level"
inputs = ["stamp"]
min_level = "info"
[transforms.split]
type = "route"
inputs = ["keep"]
routes.errors = {{ min_level = "error" }}
[sinks.out]
type = "stdout"
inputs = ["split"]
[sinks.errors]
type = "stdout"
inputs = ["split.errors"]
"#,
            data = dir.path().join("data").display().to_string(),
            glob = dir.path().join("*.log").display().to_string(),
        );
        let cfg = config::load_texts(&[(PathBuf::from("p.toml"), text)], |_| None).unwrap();
        let (out, errors) = (Recorder::default(), Recorder::default());
        let mut sinks: HashMap<String, Box<dyn Sink>> = HashMap::new();
        sinks.insert("out".into(), Box::new(out.clone()));
        sinks.insert("errors".into(), Box::new(errors.clone()));
        let topology = Topology::start(
            &cfg,
            BuildOptions {
                once: true,
                sink_overrides: sinks,
                ..BuildOptions::default()
            },
        )
        .unwrap();
        let registry = topology.registry();
        let (_keep, stop) = no_stop();
        assert_eq!(
            topology.wait(&stop, Duration::from_secs(60)),
            Outcome::Drained,
            "seed {seed}"
        );

        let want = expected(&paths);
        let pick = |keep: &dyn Fn(&str) -> bool| -> BTreeMap<u64, Vec<u64>> {
            want.iter()
                .enumerate()
                .map(|(f, lines)| {
                    let ns = lines
                        .iter()
                        .filter(|(_, l)| keep(l))
                        .map(|(n, _)| *n)
                        .collect();
                    (f as u64, ns)
                })
                .collect()
        };
        let seen_out = by_file(&out.0.lock().unwrap());
        let seen_errors = by_file(&errors.0.lock().unwrap());
        let want_out = pick(&|l| l == "info" || l == "warn");
        let want_errors = pick(&|l| l == "error");
        // Equal sequences: each file's lines in order, none lost, none twice.
        assert_eq!(
            seen_out, want_out,
            "seed {seed} (batch_max_events {batch_events}, batch_max_bytes {batch_bytes}, channel_capacity {capacity})"
        );
        assert_eq!(seen_errors, want_errors, "seed {seed}");

        // Every transform of the fused stage keeps its own counters.
        let total: u64 = want.iter().map(|l| l.len() as u64).sum();
        let debug: u64 = want.iter().flatten().filter(|(_, l)| l == "debug").count() as u64;
        for id in ["parse", "stamp", "keep"] {
            let m = registry.get(id).unwrap().snapshot();
            assert_eq!(m.received_events, total, "{id}, seed {seed}");
        }
        let keep = registry.get("keep").unwrap().snapshot();
        assert_eq!(keep.discarded_events, debug, "seed {seed}");
        assert_eq!(keep.sent_events, total - debug, "seed {seed}");
        let split = registry.get("split").unwrap().snapshot();
        assert_eq!(split.received_events, total - debug, "seed {seed}");
    }
}

/// Reads the file sink's NDJSON output as `(file, n)` pairs.
fn output_pairs(path: &Path) -> Vec<(u64, u64)> {
    common::read_ndjson(path, &[])
        .iter()
        .map(|v| (v["file"].as_u64().unwrap(), v["n"].as_u64().unwrap()))
        .collect()
}

#[test]
fn the_binary_with_four_workers_delivers_once_in_order_and_checkpoints_exactly_what_was_acknowledged()
 {
    let mut rng = Rng(0x5eed_cafe);
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..2)
        .map(|f| dir.path().join(format!("in-{f}.log")))
        .collect();
    let mut written = vec![0usize; paths.len()];
    for (f, p) in paths.iter().enumerate() {
        let n = 2000 + rng.below(2000) as usize;
        write_lines(p, f, 0, n, &mut rng);
        written[f] = n;
    }
    let out = dir.path().join("out.ndjson");
    let pipeline = |batch_events: u64| {
        format!(
            r#"
data_dir = {data:?}
[runtime]
workers = 4
batch_max_events = {batch_events}
[sources.app]
type = "file"
include = [{glob:?}]
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.host]
type = "enrich"
inputs = ["parse"]
fields = {{ host = "test" }}
[transforms.keep]
type = "filter_level"
inputs = ["host"]
min_level = "info"
[sinks.out]
type = "file"
inputs = ["keep"]
path = {out:?}
"#,
            data = dir.path().join("data").display().to_string(),
            glob = dir.path().join("in-*.log").display().to_string(),
            out = out.display().to_string(),
        )
    };
    let run = |batch_events: u64| {
        let p = write_pipeline(dir.path(), "p.toml", &pipeline(batch_events));
        let status = bin()
            .arg("-p")
            .arg(&p)
            .arg("--once")
            .arg("--log-level")
            .arg("warn")
            .status()
            .unwrap();
        assert!(status.success(), "logagent --once failed: {status}");
    };
    let check = |round: &str| {
        let want: BTreeMap<u64, Vec<u64>> = expected(&paths)
            .iter()
            .enumerate()
            .map(|(f, lines)| {
                let ns = lines
                    .iter()
                    .filter(|(_, l)| l != "debug")
                    .map(|(n, _)| *n)
                    .collect();
                (f as u64, ns)
            })
            .collect();
        assert_eq!(by_file(&output_pairs(&out)), want, "{round}");
    };
    run(1 + rng.below(300));
    check("first run");
    // More lines; a second run must read only those: the checkpoints moved
    // exactly as far as the acknowledgements said.
    for (f, p) in paths.iter().enumerate() {
        let n = 500 + rng.below(1000) as usize;
        write_lines(p, f, written[f], n, &mut rng);
        written[f] += n;
    }
    run(1 + rng.below(300));
    check("second run, after appending");
}
