//! `logagent test`: runs the `[[tests]]` cases of pipeline files, like
//! `vector test`. Each case builds the pipeline's transforms afresh, feeds its
//! lines into `insert_at`, runs every transform downstream to completion in
//! this thread, and checks what came out of each `expect.at` output. Sources
//! and sinks are not run (nothing is read or written); lines inserted at a
//! source that decodes what it receives (syslog) are decoded by it.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};

use super::channel::{Output, Outputs};
use crate::config::{ComponentChecks, PipelineConfig, TestCase};
use crate::event::{AckToken, Batch, Event, Stream, encode};
use crate::telemetry::metrics::ComponentMetrics;
use logagent_core::component::{Transform, TransformContext};

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Every failed expectation (empty: passed).
    pub failures: Vec<String>,
}

/// Runs every case of `config`.
pub fn run_all(config: &PipelineConfig) -> Vec<CaseResult> {
    config
        .tests
        .iter()
        .map(|case| CaseResult {
            name: case.name.clone(),
            failures: run_case(config, case).err().unwrap_or_default(),
        })
        .collect()
}

struct Node {
    id: String,
    transform: Box<dyn Transform>,
    rx: Receiver<Batch>,
    outputs: Outputs,
}

/// Runs one case; `Err` lists what did not hold.
pub fn run_case(config: &PipelineConfig, case: &TestCase) -> Result<(), Vec<String>> {
    // One unbounded channel per transform, and one capture per expected output.
    let mut inputs: HashMap<&str, (Sender<Batch>, Receiver<Batch>)> = HashMap::new();
    for t in &config.transforms {
        inputs.insert(&t.id, crossbeam_channel::unbounded());
    }
    let mut captures: HashMap<&str, (Sender<Batch>, Receiver<Batch>)> = HashMap::new();
    for e in &case.expect {
        captures
            .entry(e.at.as_str())
            .or_insert_with(crossbeam_channel::unbounded);
    }
    let targets_of = |name: &str| -> Vec<Sender<Batch>> {
        let mut out: Vec<Sender<Batch>> = config
            .transforms
            .iter()
            .filter(|t| t.inputs.iter().any(|i| i == name))
            .filter_map(|t| inputs.get(t.id.as_str()).map(|(tx, _)| tx.clone()))
            .collect();
        if let Some((tx, _)) = captures.get(name) {
            out.push(tx.clone());
        }
        out
    };
    let mut nodes = Vec::new();
    let mut errors = Vec::new();
    for t in &config.transforms {
        let metrics = Arc::new(ComponentMetrics::default());
        let ctx = TransformContext {
            metrics: metrics.clone(),
            ..TransformContext::detached(&t.id)
        };
        match t.config.component().build(ctx) {
            Ok(transform) => {
                let default = Output::new(targets_of(&t.id), metrics.clone());
                let named = t
                    .config
                    .outputs()
                    .into_iter()
                    .map(|n| {
                        let out =
                            Output::new(targets_of(&format!("{}.{n}", t.id)), metrics.clone());
                        (n, out)
                    })
                    .collect();
                let rx = inputs
                    .get(t.id.as_str())
                    .map(|(_, rx)| rx.clone())
                    .unwrap_or_else(crossbeam_channel::never);
                nodes.push(Node {
                    id: t.id.clone(),
                    transform,
                    rx,
                    outputs: Outputs::new(default, named),
                });
            }
            Err(e) => errors.extend(
                e.into_iter()
                    .map(|k| format!("transforms.{}: key `{}`: {}", t.id, k.key, k.message)),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // The input batch: into the transform's channel, or to whoever reads the source.
    let stream = Arc::new(Stream {
        source: case.insert_at.as_str().into(),
        path: case.path.clone(),
        id: 0,
    });
    let mut batch = Batch::new(stream, AckToken::detached(), case.lines.len());
    // At a source that decodes what it receives (syslog), the lines are
    // decoded by it; otherwise they go on as read.
    let decoded = config
        .sources
        .iter()
        .find(|s| s.id == case.insert_at)
        .and_then(|s| {
            let lines: Vec<&[u8]> = case.lines.iter().map(|l| l.as_bytes()).collect();
            s.config.component().decode_for_test(&lines)
        });
    if let Some(events) = decoded {
        batch.events = events.into();
        // A decoded JSON object (the opentelemetry source's records) gets its
        // members scanned into this batch's arena, as its source would have.
        let members = batch.members.make_mut();
        for event in batch.events.make_mut() {
            if let crate::event::Root::Json { .. } = event.root {
                let start = members.len();
                match crate::event::json::scan_object_summarized(
                    &event.line,
                    crate::event::json::MAX_DEPTH,
                    members,
                ) {
                    Ok((object, summary)) => {
                        event.meta.keys = crate::event::KeyFilter::from_summary(summary);
                        event.root = crate::event::Root::Json {
                            object,
                            members: crate::event::Span::new(start, members.len()),
                        };
                    }
                    Err(_) => {
                        members.truncate(start);
                        event.root = crate::event::Root::Text;
                        event.meta.keys = crate::event::KeyFilter::default();
                    }
                }
            }
        }
    } else {
        let mut offset = 0u64;
        for line in &case.lines {
            batch
                .events
                .push(Event::new(Bytes::copy_from_slice(line.as_bytes()), offset));
            offset += line.len() as u64 + 1;
        }
    }
    let entry = if let Some((tx, _)) = inputs.get(case.insert_at.as_str()) {
        vec![tx.clone()]
    } else {
        targets_of(&case.insert_at)
    };
    for tx in entry {
        let _ = tx.send(batch.clone());
    }
    drop(inputs);
    // Run every transform until nothing moves (the graph has no cycles).
    loop {
        let mut moved = false;
        for node in &mut nodes {
            while let Ok(b) = node.rx.try_recv() {
                moved = true;
                if node.transform.process_into(b, &node.outputs).is_err() {
                    errors.push(format!("transforms.{}: an output closed", node.id));
                }
            }
        }
        if !moved {
            break;
        }
    }
    // Every expectation on one output sees the same events.
    let mut seen: HashMap<&str, Vec<serde_json::Value>> = HashMap::new();
    for (at, (_, rx)) in &captures {
        seen.insert(at, captured(rx));
    }
    for e in &case.expect {
        let events = seen.get(e.at.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        check(e, events, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn captured(rx: &Receiver<Batch>) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for batch in rx.try_iter() {
        for event in &batch.events {
            buf.clear();
            encode::write_json(event, &mut buf);
            out.push(serde_json::from_slice(&buf).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&buf).into_owned())
            }));
        }
    }
    out
}

/// The value at `path`: dot-separated names (`user.name`), an array index
/// (`users.0.email`), a name in double quotes that may hold dots
/// (`kubernetes.labels."app.kubernetes.io/name"`, `resource."service.name"`),
/// and a key that itself has dots (`order.id`, an OTLP attribute) found whole too.
fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let child = |v: &'a serde_json::Value, key: &str| match (v, key.parse::<usize>()) {
        (serde_json::Value::Array(a), Ok(i)) => a.get(i),
        _ => v.get(key),
    };
    if let Some(quoted) = path.strip_prefix('"') {
        let end = quoted.find('"')?;
        let inner = child(v, &quoted[..end])?;
        let after = &quoted[end + 1..];
        return if after.is_empty() {
            Some(inner)
        } else {
            lookup(inner, after.strip_prefix('.')?)
        };
    }
    if let Some(found) = child(v, path) {
        return Some(found);
    }
    path.match_indices('.')
        .find_map(|(i, _)| child(v, &path[..i]).and_then(|inner| lookup(inner, &path[i + 1..])))
}

fn check(
    e: &crate::config::ops::Expectation,
    events: &[serde_json::Value],
    errors: &mut Vec<String>,
) {
    let at = &e.at;
    if e.dropped {
        if !events.is_empty() {
            errors.push(format!(
                "at {at}: expected nothing (dropped), got {} event(s): {}",
                events.len(),
                events[0]
            ));
        }
        return;
    }
    match e.count {
        Some(n) if events.len() != n => errors.push(format!(
            "at {at}: expected {n} event(s), got {}",
            events.len()
        )),
        None if events.is_empty() => {
            errors.push(format!("at {at}: expected events, got none"));
        }
        _ => {}
    }
    for (i, event) in events.iter().enumerate() {
        for (path, want) in &e.fields {
            match lookup(event, path) {
                Some(got) if got == want => {}
                Some(got) => errors.push(format!(
                    "at {at}: event {i}: field {path:?} is {got}, expected {want}"
                )),
                None => errors.push(format!(
                    "at {at}: event {i}: field {path:?} is missing, expected {want}: {event}"
                )),
            }
        }
        for path in &e.absent {
            if let Some(got) = lookup(event, path) {
                errors.push(format!(
                    "at {at}: event {i}: field {path:?} should be absent, is {got}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn config(text: &str) -> PipelineConfig {
        crate::config::load_texts(&[(PathBuf::from("t.toml"), text.to_owned())], |_| None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const PIPELINE: &str = r#"
[sources.app]
type = "stdin"
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.errors]
type = "filter_level"
inputs = ["parse"]
min_level = "warn"
[sinks.out]
type = "stdout"
inputs = ["errors"]
"#;

    #[test]
    fn passing_and_failing_cases() {
        let cfg = config(&format!(
            r#"{PIPELINE}
[[tests]]
name = "warnings pass, info is dropped"
insert_at = "parse"
lines = ['{{"level":"warn","msg":"a"}}', '{{"level":"info","msg":"b"}}']
[[tests.expect]]
at = "errors"
count = 1
fields = {{ msg = "a" }}
absent = ["nope"]

[[tests]]
name = "wrong expectation"
insert_at = "app"
lines = ['{{"level":"info","msg":"b"}}']
[[tests.expect]]
at = "errors"
fields = {{ msg = "b" }}
[[tests.expect]]
at = "parse"
dropped = true
"#
        ));
        let results = run_all(&cfg);
        assert_eq!(results.len(), 2);
        assert!(results[0].failures.is_empty(), "{:?}", results[0]);
        assert_eq!(
            results[1].failures,
            vec![
                "at errors: expected events, got none".to_string(),
                "at parse: expected nothing (dropped), got 1 event(s): {\"level\":\"info\",\"msg\":\"b\"}".to_string(),
            ]
        );
    }

    #[test]
    fn unknown_components_are_config_errors() {
        let text = format!(
            "{PIPELINE}\n[[tests]]\nname = \"x\"\ninsert_at = \"nope\"\nlines = [\"a\"]\n[[tests.expect]]\nat = \"out\"\n"
        );
        let err = crate::config::load_texts(&[(PathBuf::from("t.toml"), text)], |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("insert_at") && err.contains("\"nope\" is not a source or transform"),
            "{err}"
        );
        assert!(err.contains("expect[0].at"), "{err}");
    }
}
