//! One bad batch does not stop the node: a transform that panics on a poison
//! line, in a real pipeline (file source, file sinks, the runtime's threads).
//!
//! The panic is injected through `BuildOptions::transform_overrides` (the
//! embedding API, like `sink_overrides`): the configured `add_fields`
//! transform, wrapped so that it panics on any line containing `POISON`. No
//! debug-only transform type exists in the binary.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logagent::event::Batch;
use logagent::pipeline::topology::{Outcome, no_stop};
use logagent::pipeline::{BuildOptions, Topology};
use logagent_core::component::{Transform, TransformContext};

mod common;

/// The real transform, except that a poison line makes it panic (a bug
/// triggered by one input, as a regex engine or a parser might have).
struct Poisoned(Box<dyn Transform>);

impl Transform for Poisoned {
    fn process(&mut self, batch: &mut Batch) {
        self.0.process(batch);
        for e in &batch.events {
            if e.line.windows(6).any(|w| w == b"POISON") {
                panic!("poison line at offset {}", e.meta.offset);
            }
        }
    }
}

const POISON_AT: [usize; 3] = [10, 150, 299];

fn write_log(path: &Path) -> Vec<String> {
    let mut good = Vec::new();
    let mut text = String::new();
    for i in 0..300 {
        if POISON_AT.contains(&i) {
            text.push_str(&format!("{{\"n\":{i},\"msg\":\"POISON\"}}\n"));
        } else {
            text.push_str(&format!("{{\"n\":{i}}}\n"));
            good.push(i.to_string());
        }
    }
    std::fs::write(path, text).unwrap();
    good
}

fn pipeline(dir: &Path, dead_letter: bool) -> logagent::config::PipelineConfig {
    let d = dir.display().to_string();
    let mut text = format!(
        r#"data_dir = "{d}/data"
[sources.f]
type = "file"
include = ["{d}/app.log"]
[transforms.json]
type = "parse_json"
inputs = ["f"]
[transforms.t]
type = "add_fields"
inputs = ["json"]
fields = {{ seen = true }}
[sinks.out]
type = "file"
inputs = ["t"]
path = "{d}/out.ndjson"
flush_interval = "10ms"
"#
    );
    if dead_letter {
        text.push_str(&format!(
            r#"[sinks.dead]
type = "file"
inputs = ["t.dead_letter"]
path = "{d}/dead.ndjson"
flush_interval = "10ms"
"#
        ));
    }
    logagent::config::load_texts(&[(PathBuf::from("p.toml"), text)], |_| None).unwrap()
}

fn run(
    config: &logagent::config::PipelineConfig,
) -> (Outcome, logagent::telemetry::health::Health, String) {
    let t = config.transforms.iter().find(|t| t.id == "t").unwrap();
    let inner = t
        .config
        .component()
        .build(TransformContext::detached("t"))
        .unwrap();
    let mut overrides: HashMap<String, Box<dyn Transform>> = HashMap::new();
    overrides.insert("t".into(), Box::new(Poisoned(inner)));
    let topology = Topology::start(
        config,
        BuildOptions {
            once: true,
            transform_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry();
    let health = topology.health();
    let (_tx, stop) = no_stop();
    let outcome = topology.wait(&stop, Duration::from_secs(60));
    (
        outcome,
        health,
        logagent::telemetry::prometheus::render(&registry),
    )
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn checkpoint_offset(dir: &Path) -> u64 {
    let cp = std::fs::read_to_string(dir.join("data/checkpoints/f.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&cp).unwrap();
    v["files"][0]["offset"].as_u64().unwrap()
}

#[test]
fn a_transform_panicking_on_poison_lines_dead_letters_them_and_delivers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let good = write_log(&log);
    let (outcome, health, metrics) = run(&pipeline(dir.path(), true));
    assert_eq!(
        outcome,
        Outcome::Drained,
        "the pipeline kept running to the end"
    );

    // Every other line, once, in order, transformed.
    let out = common::read_ndjson(&dir.path().join("out.ndjson"), &[]);
    let got: Vec<String> = out.iter().map(|v| v["n"].to_string()).collect();
    assert_eq!(got, good);
    assert!(out.iter().all(|v| v["seen"] == true));
    // The events before a poison one went through the transform twice: the
    // field is set once, not added twice.
    let raw = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    assert!(
        raw.lines().all(|l| l.matches("\"seen\"").count() == 1),
        "{raw}"
    );

    // The poison lines, as they entered the transform, with the reason.
    let dead = common::read_ndjson(&dir.path().join("dead.ndjson"), &[]);
    let ns: Vec<u64> = dead.iter().map(|v| v["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, POISON_AT.map(|n| n as u64));
    for v in &dead {
        assert_eq!(v["_dead_letter"]["component"], "t");
        assert!(
            v["_dead_letter"]["error"]
                .as_str()
                .unwrap()
                .contains("poison line"),
            "{v}"
        );
    }

    // Counted, and the transform reported failing on /health (3 in a minute).
    assert_eq!(
        metric(
            &metrics,
            r#"component_errors_total{component_id="t",component_kind="transform",component_type="add_fields",error_type="panic"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &metrics,
            r#"component_dead_lettered_events_total{component_id="t""#
        ),
        3.0
    );
    let failing = health.failing();
    assert!(
        failing
            .get("transforms.t")
            .is_some_and(|r| r.contains("poison line")),
        "{failing:?}"
    );
    assert_eq!(failing.len(), 1, "only the transform: {failing:?}");

    // The poison batches were acknowledged: the checkpoint is at the end of
    // the file, so a restart does not read (and panic on) them again.
    assert_eq!(
        checkpoint_offset(dir.path()),
        std::fs::metadata(&log).unwrap().len()
    );
}

#[test]
fn without_a_dead_letter_consumer_poison_lines_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let good = write_log(&log);
    let (outcome, _health, metrics) = run(&pipeline(dir.path(), false));
    assert_eq!(outcome, Outcome::Drained);
    let out = common::read_ndjson(&dir.path().join("out.ndjson"), &[]);
    let got: Vec<String> = out.iter().map(|v| v["n"].to_string()).collect();
    assert_eq!(got, good);
    assert_eq!(
        metric(
            &metrics,
            r#"component_discarded_events_total{component_id="t",component_kind="transform",component_type="add_fields",reason="panic"}"#
        ),
        3.0
    );
    assert_eq!(
        checkpoint_offset(dir.path()),
        std::fs::metadata(&log).unwrap().len()
    );
}

/// A sink with a bug: it panics on any batch holding a poison line.
#[derive(Clone, Default)]
struct PanickySink(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl logagent_core::component::Sink for PanickySink {
    fn write(
        &mut self,
        batch: Batch,
        _ctx: &logagent_core::component::SinkContext,
    ) -> Result<(), logagent_core::component::SinkError> {
        let lines: Vec<String> = batch
            .events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.line).into_owned())
            .collect();
        assert!(
            !lines.iter().any(|l| l.contains("POISON")),
            "sink bug on a poison line"
        );
        self.0.lock().unwrap().extend(lines);
        Ok(())
    }
    fn flush(
        &mut self,
        _ctx: &logagent_core::component::SinkContext,
    ) -> Result<(), logagent_core::component::SinkError> {
        Ok(())
    }
}

#[test]
fn a_sink_panicking_on_a_batch_drops_that_batch_counted_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    write_log(&log);
    let d = dir.path().display().to_string();
    let text = format!(
        r#"data_dir = "{d}/data"
[runtime]
batch_max_events = 10
[sources.f]
type = "file"
include = ["{d}/app.log"]
[sinks.out]
type = "stdout"
inputs = ["f"]
"#
    );
    let config =
        logagent::config::load_texts(&[(PathBuf::from("p.toml"), text)], |_| None).unwrap();
    let sink = PanickySink::default();
    let mut overrides: HashMap<String, Box<dyn logagent_core::component::Sink>> = HashMap::new();
    overrides.insert("out".into(), Box::new(sink.clone()));
    let topology = Topology::start(
        &config,
        BuildOptions {
            once: true,
            sink_overrides: overrides,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let registry = topology.registry();
    let health = topology.health();
    let (_tx, stop) = no_stop();
    assert_eq!(
        topology.wait(&stop, Duration::from_secs(60)),
        Outcome::Drained
    );
    let written = sink.0.lock().unwrap().len();
    let metrics = logagent::telemetry::prometheus::render(&registry);
    let dropped = metric(
        &metrics,
        r#"component_discarded_events_total{component_id="out",component_kind="sink",component_type="stdout",reason="panic"}"#,
    );
    assert!((3.0..=30.0).contains(&dropped), "{dropped}");
    assert_eq!(
        written as f64 + dropped,
        300.0,
        "every line written or counted"
    );
    assert!(
        health.failing().contains_key("sinks.out"),
        "{:?}",
        health.failing()
    );
    assert_eq!(
        checkpoint_offset(dir.path()),
        std::fs::metadata(&log).unwrap().len()
    );
}
