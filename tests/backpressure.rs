//! Backpressure: a sink that stops draining stops the source, with exact counts,
//! and memory stays bounded by the configured buffers.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Receiver;
use logagent::config;
use logagent::event::Batch;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent_core::component::{Sink, SinkContext, SinkError};

use common::{bin, wait_until, write_pipeline};

/// A sink that blocks in its first write until the test opens the gate.
struct StalledSink {
    gate: Receiver<()>,
    opened: bool,
    written: Arc<AtomicU64>,
    offsets: Arc<Mutex<Vec<u64>>>,
}

impl Sink for StalledSink {
    fn write(&mut self, batch: Batch, _ctx: &SinkContext) -> Result<(), SinkError> {
        if !self.opened {
            let _ = self.gate.recv();
            self.opened = true;
        }
        self.written
            .fetch_add(batch.events.len() as u64, Ordering::SeqCst);
        self.offsets
            .lock()
            .unwrap()
            .extend(batch.events.iter().map(|e| e.meta.offset));
        Ok(())
    }
    fn flush(&mut self, _ctx: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_stalled_sink_stops_the_source_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let line = "{\"level\":\"info\",\"message\":\"0123456789012345678901234567890\"}\n";
    std::fs::write(&log, line.repeat(2000)).unwrap();
    let text = format!(
        r#"
data_dir = {:?}

[runtime]
batch_max_events = 10
channel_capacity = 2

[sources.app]
type = "file"
include = [{:?}]
read_buffer = "4KiB"

[sinks.stalled]
type = "stdout"
inputs = ["app"]
"#,
        dir.path().join("data").display().to_string(),
        log.display().to_string()
    );
    let cfg = config::load_texts(&[(PathBuf::from("bp.toml"), text)], |_| None).unwrap();
    let (gate_tx, gate) = crossbeam_channel::bounded(1);
    let written = Arc::new(AtomicU64::new(0));
    let offsets = Arc::new(Mutex::new(Vec::new()));
    let sink = StalledSink {
        gate,
        opened: false,
        written: written.clone(),
        offsets: offsets.clone(),
    };
    let mut overrides: HashMap<String, Box<dyn Sink>> = HashMap::new();
    overrides.insert("stalled".into(), Box::new(sink));
    let topology = Topology::start(
        &cfg,
        BuildOptions {
            once: true,
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry().clone();
    let source = registry.get("app").unwrap().clone();
    let sink_metrics = registry.get("stalled").unwrap().clone();

    // Stalled state: the sink holds 1 batch, its channel holds 2, the source waits
    // to send a 4th. Nothing else can move.
    wait_until(Duration::from_secs(30), "the source to block", || {
        let s = source.snapshot();
        s.blocked && s.sent_events == 30 && sink_metrics.snapshot().received_events == 10
    });
    let s = source.snapshot();
    assert_eq!(
        s.sent_events, 30,
        "1 batch in the sink + 2 in the channel, of 10 events each"
    );
    assert_eq!(sink_metrics.snapshot().received_events, 10);
    assert_eq!(written.load(Ordering::SeqCst), 0);
    // What the source holds besides: the batch it is sending and the rest of one
    // 4 KiB read, framed into events: bounded by the read buffer, not the file.
    let line_len = line.len() as u64;
    assert!(
        s.received_events <= 30 + 10 + 4096 / line_len + 1,
        "source read {} lines",
        s.received_events
    );

    gate_tx.send(()).unwrap();
    let (_keep, stop) = no_stop();
    assert_eq!(
        topology.wait(&stop, Duration::from_secs(30)),
        Outcome::Drained
    );
    assert_eq!(
        written.load(Ordering::SeqCst),
        2000,
        "every line arrives once released"
    );
    let offsets = offsets.lock().unwrap();
    let expected: Vec<u64> = (0..2000).map(|i| i * line_len).collect();
    assert_eq!(*offsets, expected, "in order, none lost or repeated");
}

#[test]
fn a_stalled_sink_stops_the_source_through_a_stage_of_four_workers_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let line = "{\"level\":\"info\",\"message\":\"0123456789012345678901234567890\"}\n";
    std::fs::write(&log, line.repeat(2000)).unwrap();
    let text = format!(
        r#"
data_dir = {:?}

[runtime]
batch_max_events = 10
channel_capacity = 2
workers = 4

[sources.app]
type = "file"
include = [{:?}]
read_buffer = "4KiB"

[transforms.parse]
type = "parse_json"
inputs = ["app"]

[transforms.stamp]
type = "add_fields"
inputs = ["parse"]
fields = {{ stage = "parallel" }}

[sinks.stalled]
type = "stdout"
inputs = ["stamp"]
"#,
        dir.path().join("data").display().to_string(),
        log.display().to_string()
    );
    let cfg = config::load_texts(&[(PathBuf::from("bp.toml"), text)], |_| None).unwrap();
    let (gate_tx, gate) = crossbeam_channel::bounded(1);
    let written = Arc::new(AtomicU64::new(0));
    let offsets = Arc::new(Mutex::new(Vec::new()));
    let sink = StalledSink {
        gate,
        opened: false,
        written: written.clone(),
        offsets: offsets.clone(),
    };
    let mut overrides: HashMap<String, Box<dyn Sink>> = HashMap::new();
    overrides.insert("stalled".into(), Box::new(sink));
    let topology = Topology::start(
        &cfg,
        BuildOptions {
            once: true,
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry().clone();
    let source = registry.get("app").unwrap().clone();
    let sink_metrics = registry.get("stalled").unwrap().clone();

    // Stalled state, in batches of 10 events: 1 in the sink, 2 in its channel,
    // 8 (2 per worker) in the stage (the re-sequencer blocked sending the
    // oldest), 1 in the stage's hand waiting for a slot, 2 in the stage's input
    // channel; the source waits to send the next. Nothing else can move.
    let expected = (1 + 2 + 8 + 1 + 2) * 10;
    wait_until(Duration::from_secs(30), "the source to block", || {
        let s = source.snapshot();
        s.blocked && s.sent_events == expected && sink_metrics.snapshot().received_events == 10
    });
    let s = source.snapshot();
    assert_eq!(s.sent_events, expected);
    assert_eq!(written.load(Ordering::SeqCst), 0);
    let line_len = line.len() as u64;
    assert!(
        s.received_events <= expected + 10 + 4096 / line_len + 1,
        "source read {} lines",
        s.received_events
    );

    gate_tx.send(()).unwrap();
    let (_keep, stop) = no_stop();
    assert_eq!(
        topology.wait(&stop, Duration::from_secs(30)),
        Outcome::Drained
    );
    assert_eq!(written.load(Ordering::SeqCst), 2000);
    let offsets = offsets.lock().unwrap();
    let expected: Vec<u64> = (0..2000).map(|i| i * line_len).collect();
    assert_eq!(*offsets, expected, "in order, none lost or repeated");
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn memory_stays_bounded_while_the_sink_never_drains() {
    memory_stays_bounded(1);
}

#[test]
fn memory_stays_bounded_while_the_sink_never_drains_with_four_workers() {
    memory_stays_bounded(4);
}

fn memory_stays_bounded(workers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let line = format!(
        "{{\"level\":\"info\",\"message\":\"{}\"}}\n",
        "x".repeat(300)
    );
    let total_lines = 300_000; // ~100 MB
    std::fs::write(&log, line.repeat(total_lines)).unwrap();
    let fifo = dir.path().join("never-read.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"
data_dir = {data:?}
[runtime]
workers = {workers}
[sources.app]
type = "file"
include = [{log:?}]
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.stamp]
type = "add_fields"
inputs = ["parse"]
fields = {{ stage = "parallel" }}
[sinks.out]
type = "file"
inputs = ["stamp"]
path = {fifo:?}
"#,
            data = dir.path().join("data").display().to_string(),
            log = log.display().to_string(),
            fifo = fifo.display().to_string()
        ),
    );
    let mut child = bin().arg("-p").arg(&p).spawn().unwrap();
    let pid = child.id();
    let _reader = std::fs::File::open(&fifo).unwrap(); // opened, never read
    // Wait until the agent stops reading: its read counter holds still.
    let mut last = 0;
    let mut still = 0;
    wait_until(Duration::from_secs(60), "reading to stall", || {
        let rchar = proc_field(pid, "io", "rchar:").unwrap_or(0);
        if rchar == last && rchar > 0 {
            still += 1;
        } else {
            still = 0;
            last = rchar;
        }
        still >= 40
    });
    let read = proc_field(pid, "io", "rchar:").unwrap();
    let peak_kib = proc_field(pid, "status", "VmHWM:").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let file_size = (line.len() * total_lines) as u64;
    eprintln!(
        "workers {workers}: stalled after reading {read} of {file_size} bytes; peak RSS {peak_kib} KiB"
    );
    // Buffers: 3 channels × (4 + 1) batches × 1 MiB + 256 KiB file buffer + a
    // read, and with workers 2 × 4 batches in the stage (batches of 1024
    // lines: ~330 KiB each).
    assert!(
        read < 24 << 20,
        "read {read} of {file_size} bytes: the source did not stop"
    );
    assert!(peak_kib < 96 * 1024, "peak RSS {peak_kib} KiB");
}
