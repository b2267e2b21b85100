//! Ordered parallel stages: every core busy on the transforms, each stream
//! still in order.
//!
//! With `[runtime] workers` above 1, the runtime groups the transforms into
//! *stages* ([`fuse`]): a linear chain of stateless transforms (each one's
//! default output read only by the next, which reads nothing else, and none of
//! the named outputs in between read at all) is one stage, run on one input
//! channel with no channel hop between its transforms. A stage of stateless
//! transforms ([`TransformComponent::stateless`]) runs on `workers` threads,
//! each with its own instance of every transform, built from the config
//! ([`run_stage`]):
//!
//! ```text
//!                    ┌─▶ worker 0: t1 → t2 → t3 ─┐
//!  input ──▶ dispatch ─▶ worker 1: t1 → t2 → t3 ─▶ re-sequencer ──▶ outputs
//!  channel   (seq n)  └─▶ worker N: t1 → t2 → t3 ─┘ (in seq order)
//! ```
//!
//! The stage's own thread numbers each batch it receives and hands it to the
//! next free worker; a re-sequencer thread passes the results on strictly in
//! that order: what was received first is sent first, so every stream keeps
//! its order and the batches' acknowledgements are untouched. Workers send
//! through stand-ins of the real outputs ([`Output::capturing`]), so a router
//! or a dead-letter send is re-sequenced like everything else. At most
//! `2 × workers` batches are in the stage at once ([`IN_FLIGHT_PER_WORKER`]):
//! a stalled consumer stops the re-sequencer, the stage fills, its input
//! channel fills, and the source stops reading.
//!
//! Each worker isolates panics like a transform's own thread does
//! (`super::isolate`): counters are shared, but each worker keeps its own
//! failure window for `/health` (a transform is listed as failing once one
//! worker has seen 3 failed batches within a minute). Instances share their
//! labeled metric families (a redaction rule's matches are counted once,
//! whichever worker found them).
//!
//! A stateful transform (sample, throttle, log_to_metric, one given through
//! `BuildOptions::transform_overrides`) is a stage of its own on one thread,
//! exactly as with `workers = 1`.
//!
//! [`TransformComponent::stateless`]: logagent_core::component::TransformComponent::stateless
//! [`Output::capturing`]: logagent_core::flow::Output::capturing

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::channel::{Closed, Output, Outputs};
use super::isolate::{Faults, Snapshot};
use super::topology::ComponentError;
use crate::config::{ComponentChecks, PipelineConfig};
use crate::event::Batch;
use crate::telemetry::health::Health;
use crate::telemetry::labeled::Histogram;
use crate::telemetry::metrics::ComponentMetrics;
use logagent_core::component::Transform;

/// How many batches a stage holds per worker (one being processed, one done
/// and waiting for its turn), so a slow batch does not idle the others.
pub const IN_FLIGHT_PER_WORKER: usize = 2;

/// Groups `config`'s transforms into stages: each inner list is one stage, the
/// indices of its transforms in `config.transforms` in chain order. With
/// `workers <= 1` every transform is a stage of its own (today's threads).
/// `parallel(i)` says whether transform `i` may run on several workers
/// (stateless and built from its config); only those are fused.
pub fn fuse(
    config: &PipelineConfig,
    workers: usize,
    parallel: &dyn Fn(usize) -> bool,
) -> Vec<Vec<usize>> {
    let n = config.transforms.len();
    if workers <= 1 {
        return (0..n).map(|i| vec![i]).collect();
    }
    // Who reads each output name (`ID` or `ID.NAME`).
    let mut readers: HashMap<&str, Vec<&str>> = HashMap::new();
    for t in &config.transforms {
        for input in &t.inputs {
            readers
                .entry(input.as_str())
                .or_default()
                .push(t.id.as_str());
        }
    }
    for s in &config.sinks {
        for input in &s.inputs {
            readers
                .entry(input.as_str())
                .or_default()
                .push(s.id.as_str());
        }
    }
    let index: HashMap<&str, usize> = config
        .transforms
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    // The transform each one feeds alone, when the two may be one stage.
    let next: Vec<Option<usize>> = (0..n)
        .map(|i| {
            let t = &config.transforms[i];
            if !parallel(i) {
                return None;
            }
            let named_read = t.config.outputs().iter().any(|name| {
                readers
                    .get(format!("{}.{name}", t.id).as_str())
                    .is_some_and(|r| !r.is_empty())
            });
            if named_read {
                return None;
            }
            let [only] = readers.get(t.id.as_str())?.as_slice() else {
                return None;
            };
            let u = *index.get(only)?;
            let reads_only_t =
                config.transforms[u].inputs.len() == 1 && config.transforms[u].inputs[0] == t.id;
            (u != i && reads_only_t && parallel(u)).then_some(u)
        })
        .collect();
    let mut has_prev = vec![false; n];
    for u in next.iter().flatten() {
        has_prev[*u] = true;
    }
    let mut stages = Vec::new();
    let mut placed = HashSet::new();
    for (head, fed) in has_prev.iter().enumerate() {
        if *fed {
            continue;
        }
        let mut stage = vec![head];
        placed.insert(head);
        let mut at = head;
        while let Some(u) = next[at] {
            if !placed.insert(u) {
                break; // a cycle (validation rejects them; never loop here)
            }
            stage.push(u);
            at = u;
        }
        stages.push(stage);
    }
    // Anything left is on a cycle: one stage each, as without fusion.
    for i in 0..n {
        if !placed.contains(&i) {
            stages.push(vec![i]);
        }
    }
    stages
}

/// One transform of a stage, as the runtime hands it over.
pub struct StageMember {
    /// `transforms.ID`, for log lines and `/health`.
    pub name: String,
    /// The component id.
    pub id: Arc<str>,
    /// Its counters.
    pub metrics: Arc<ComponentMetrics>,
    /// Its real outputs (the stage's thread sends on them).
    pub outputs: Outputs,
    /// One instance per worker.
    pub instances: Vec<Box<dyn Transform>>,
}

/// What one worker sends back for one batch: `(member, output slot, batch)`
/// in the order they were sent (slot 0 is the default output, `k` the `k`-th
/// named one), or why the stage must stop.
type Done = (u64, Result<Vec<(usize, usize, Batch)>, ComponentError>);

/// One transform as one worker runs it.
struct WorkerMember {
    transform: Box<dyn Transform>,
    /// Stand-ins of the member's outputs.
    capture: Outputs,
    /// The real default output, for its tap (an inner member's batches never
    /// reach it: the next member takes them).
    real_default: Output,
    metrics: Arc<ComponentMetrics>,
    latency: Arc<Histogram>,
    snapshot: Snapshot,
    faults: Faults,
}

struct Worker {
    members: Vec<WorkerMember>,
}

impl Worker {
    /// Runs the chain on one batch; returns what each member sent, in order.
    fn run(&mut self, batch: Batch) -> Result<Vec<(usize, usize, Batch)>, Closed> {
        let mut input = vec![batch];
        let mut out = Vec::new();
        let last = self.members.len().saturating_sub(1);
        for (i, m) in self.members.iter_mut().enumerate() {
            for b in input.drain(..) {
                ComponentMetrics::add(&m.metrics.received_events, b.events.len() as u64);
                ComponentMetrics::add(&m.metrics.received_bytes, b.line_bytes() as u64);
                let started = Instant::now();
                // A panic on one batch is caught there: the rest goes on.
                let discarded = super::isolate::process(
                    &mut m.transform,
                    b,
                    &m.capture,
                    &mut m.snapshot,
                    &mut m.faults,
                )?;
                m.latency.observe(started.elapsed());
                ComponentMetrics::add(&m.metrics.discarded_events, discarded);
            }
            let passed = m.capture.default_output().take_captured();
            if i == last {
                out.extend(passed.into_iter().map(|b| (i, 0, b)));
            } else {
                for b in &passed {
                    m.real_default.tap().offer(b);
                    ComponentMetrics::add(&m.metrics.sent_events, b.events.len() as u64);
                    ComponentMetrics::add(&m.metrics.sent_bytes, b.line_bytes() as u64);
                }
                input = passed;
            }
            for (k, (_, o)) in m.capture.all_named().iter().enumerate() {
                out.extend(o.take_captured().into_iter().map(|b| (i, k + 1, b)));
            }
        }
        Ok(out)
    }

    fn serve(mut self, work: Receiver<(u64, Batch)>, done: Sender<Done>) {
        for (seq, batch) in work.iter() {
            let result = match std::panic::catch_unwind(AssertUnwindSafe(|| self.run(batch))) {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(closed)) => Err(ComponentError::Closed(closed)),
                Err(panic) => Err(ComponentError::Panicked(super::isolate::panic_message(
                    &*panic,
                ))),
            };
            if done.send((seq, result)).is_err() {
                return;
            }
        }
    }
}

/// Runs a stage of `members` (in chain order) on `workers` threads reading
/// `rx`, sending results on in the order batches were received (see the
/// module doc). Ends when `rx` is closed and every batch has been passed on.
pub fn run_stage(
    name: &str,
    members: Vec<StageMember>,
    workers: usize,
    rx: Receiver<Batch>,
    health: Health,
) -> Result<(), ComponentError> {
    let workers = workers.max(1);
    let Some(head) = members.first() else {
        return Ok(());
    };
    let probe = super::topology::ChannelProbe::new(&head.metrics, &rx);
    let mut crews: Vec<Worker> = (0..workers)
        .map(|_| Worker {
            members: Vec::new(),
        })
        .collect();
    let mut outputs = Vec::with_capacity(members.len());
    for m in members {
        if m.instances.len() != workers {
            return Err(ComponentError::Panicked(format!(
                "{}: {} instances for {workers} workers",
                m.name,
                m.instances.len()
            )));
        }
        let latency = m
            .metrics
            .labeled
            .histogram(super::topology::names::BATCH_DURATION, &[]);
        for (crew, transform) in crews.iter_mut().zip(m.instances) {
            crew.members.push(WorkerMember {
                transform,
                capture: m.outputs.capturing(),
                real_default: m.outputs.default_output().clone(),
                metrics: m.metrics.clone(),
                latency: latency.clone(),
                snapshot: Snapshot::default(),
                faults: Faults::new(&m.name, m.id.clone(), m.metrics.clone(), health.clone()),
            });
        }
        outputs.push(m.outputs);
    }
    let max_in_flight = workers * IN_FLIGHT_PER_WORKER;
    let (work_tx, work_rx) = crossbeam_channel::bounded::<(u64, Batch)>(max_in_flight);
    // Unbounded, yet never holds more than `max_in_flight` results: no batch
    // is handed out without a slot.
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    // One token per batch in the stage: taken when it is handed out, given
    // back when it has been passed on.
    let (slots_tx, slots_rx) = crossbeam_channel::bounded::<()>(max_in_flight);
    let (ended_tx, ended_rx) = crossbeam_channel::bounded::<()>(0);
    // Everything moves into the scope: should starting a thread fail, the
    // queue's sender goes with the early return and the started workers end.
    std::thread::scope(move |scope| {
        for (w, crew) in crews.into_iter().enumerate() {
            let (work, done) = (work_rx.clone(), done_tx.clone());
            std::thread::Builder::new()
                // `transforms.ID` is cut to 15 bytes by the kernel; keep the id.
                .name(
                    format!("{w}:{}", name.trim_start_matches("transforms."))
                        .chars()
                        .take(15)
                        .collect(),
                )
                .spawn_scoped(scope, move || crew.serve(work, done))
                .map_err(|e| {
                    ComponentError::Panicked(format!("cannot start a worker thread: {e}"))
                })?;
        }
        drop((work_rx, done_tx));
        let emitter = std::thread::Builder::new()
            .name(
                format!("=:{}", name.trim_start_matches("transforms."))
                    .chars()
                    .take(15)
                    .collect(),
            )
            .spawn_scoped(scope, move || {
                // Disconnects `ended` when the emitter stops, early or not.
                let _ended = ended_tx;
                emit_in_order(done_rx, slots_rx, &outputs)
            })
            .map_err(|e| ComponentError::Panicked(format!("cannot start a thread: {e}")))?;
        let mut seq = 0u64;
        let mut dispatched = Ok(());
        let stopped = || {
            Err(ComponentError::Panicked(
                "the stage's workers have ended".into(),
            ))
        };
        loop {
            crossbeam_channel::select! {
                recv(rx) -> msg => {
                    let Ok(batch) = msg else { break };
                    probe.update(&rx);
                    probe.inflow.take(&batch);
                    // Blocks while the stage holds `max_in_flight` batches;
                    // fails when the emitter has stopped (its error is the one
                    // reported).
                    if slots_tx.send(()).is_err() || work_tx.send((seq, batch)).is_err() {
                        dispatched = stopped();
                        break;
                    }
                    seq += 1;
                }
                // The emitter stopped before the input closed: it failed.
                recv(ended_rx) -> _ => {
                    dispatched = stopped();
                    break;
                }
            }
        }
        // The workers end once their queue is closed (after what it holds);
        // then the emitter, once it has passed everything on.
        drop(work_tx);
        drop(slots_tx);
        let emitted = emitter.join().unwrap_or_else(|panic| {
            Err(ComponentError::Panicked(super::isolate::panic_message(
                &*panic,
            )))
        });
        emitted.and(dispatched)
    })
}

/// The re-sequencer: passes each batch's results on in the order the batches
/// were handed out, then frees its slot. Ends when every worker has ended and
/// everything has been passed on.
fn emit_in_order(
    done: Receiver<Done>,
    slots: Receiver<()>,
    outputs: &[Outputs],
) -> Result<(), ComponentError> {
    let mut next = 0u64;
    let mut ready: BTreeMap<u64, Vec<(usize, usize, Batch)>> = BTreeMap::new();
    for (seq, result) in done.iter() {
        ready.insert(seq, result?);
        while let Some(sent) = ready.remove(&next) {
            for (member, slot, batch) in sent {
                let Some(outs) = outputs.get(member) else {
                    continue;
                };
                let out = match slot {
                    0 => Some(outs.default_output()),
                    k => outs.all_named().get(k - 1).map(|(_, o)| o),
                };
                if let Some(out) = out {
                    out.send(batch)?;
                }
            }
            next += 1;
            let _ = slots.try_recv();
        }
    }
    if ready.is_empty() {
        Ok(())
    } else {
        Err(ComponentError::Panicked(format!(
            "a worker ended with {} batches not passed on",
            ready.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_texts;
    use std::path::PathBuf;

    fn config(text: &str) -> PipelineConfig {
        load_texts(&[(PathBuf::from("p.toml"), text.to_owned())], |_| None).unwrap()
    }

    const CHAIN: &str = r#"
[sources.app]
type = "stdin"
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.stamp]
type = "enrich"
inputs = ["parse"]
fields = { a = 1 }
[transforms.keep]
type = "filter_level"
inputs = ["stamp"]
min_level = "info"
[transforms.sample]
type = "sample"
inputs = ["keep"]
rate = 2
[transforms.after]
type = "remove_fields"
inputs = ["sample"]
fields = ["a"]
[sinks.out]
type = "stdout"
inputs = ["after"]
"#;

    fn ids(c: &PipelineConfig, stages: &[Vec<usize>]) -> Vec<Vec<String>> {
        stages
            .iter()
            .map(|s| s.iter().map(|i| c.transforms[*i].id.clone()).collect())
            .collect()
    }

    fn stateless(c: &PipelineConfig) -> impl Fn(usize) -> bool + '_ {
        |i| c.transforms[i].config.component().stateless()
    }

    #[test]
    fn a_linear_chain_of_stateless_transforms_is_one_stage_and_a_stateful_one_stands_alone() {
        let c = config(CHAIN);
        assert_eq!(
            ids(&c, &fuse(&c, 4, &stateless(&c))),
            [
                vec!["parse", "stamp", "keep"],
                vec!["sample"],
                vec!["after"]
            ]
        );
        // workers = 1: every transform on its own thread, as before.
        assert_eq!(fuse(&c, 1, &stateless(&c)).len(), 5);
    }

    /// Holds a batch whose first line is `slow` until a batch whose first line
    /// is `fast` has been processed (by another worker), so results come back
    /// out of order.
    struct Gate {
        release: crossbeam_channel::Sender<()>,
        wait: crossbeam_channel::Receiver<()>,
    }

    impl Transform for Gate {
        fn process(&mut self, batch: &mut Batch) {
            let first = batch
                .events
                .first()
                .map(|e| e.line.clone())
                .unwrap_or_default();
            if first.windows(4).any(|w| w == b"slow") {
                assert!(
                    self.wait
                        .recv_timeout(std::time::Duration::from_secs(30))
                        .is_ok(),
                    "the fast batch never came"
                );
            }
            if first.windows(4).any(|w| w == b"fast") {
                let _ = self.release.send(());
            }
            assert!(
                !batch
                    .events
                    .iter()
                    .any(|e| e.line.windows(6).any(|w| w == b"POISON")),
                "transform bug"
            );
        }
    }

    fn stage_of_gates(
        workers: usize,
    ) -> (
        StageMember,
        crossbeam_channel::Receiver<Batch>,
        crossbeam_channel::Receiver<Batch>,
    ) {
        let (release, wait) = crossbeam_channel::unbounded();
        let metrics = Arc::new(ComponentMetrics::default());
        let (tx, out) = crossbeam_channel::unbounded();
        let (dead_tx, dead) = crossbeam_channel::unbounded();
        let outputs = Outputs::new(
            Output::new(vec![tx], metrics.clone()),
            vec![(
                logagent_core::component::DEAD_LETTER.to_owned(),
                Output::new(vec![dead_tx], metrics.clone()),
            )],
        );
        let instances = (0..workers)
            .map(|_| {
                Box::new(Gate {
                    release: release.clone(),
                    wait: wait.clone(),
                }) as Box<dyn Transform>
            })
            .collect();
        let member = StageMember {
            name: "transforms.gate".into(),
            id: "gate".into(),
            metrics,
            outputs,
            instances,
        };
        (member, out, dead)
    }

    fn lines(out: &crossbeam_channel::Receiver<Batch>) -> Vec<String> {
        out.try_iter()
            .flat_map(|b| {
                b.events
                    .into_iter()
                    .map(|e| String::from_utf8_lossy(&e.line).into_owned())
            })
            .collect()
    }

    #[test]
    fn results_finished_out_of_order_are_passed_on_in_the_order_received() {
        let (member, out, _dead) = stage_of_gates(2);
        let (tx, rx) = crossbeam_channel::bounded(4);
        let (ack_tx, acks) = crossbeam_channel::unbounded();
        let stream = Arc::new(crate::event::Stream {
            source: "s".into(),
            path: None,
            id: 1,
        });
        let batch = |end: u64, lines: &[&str]| {
            crate::event::test_batch::json_batch_in(
                stream.clone(),
                crate::event::AckToken::new(1, end, ack_tx.clone()),
                lines,
            )
        };
        tx.send(batch(1, &[r#"{"n":0,"m":"slow"}"#, r#"{"n":1}"#]))
            .unwrap();
        tx.send(batch(2, &[r#"{"n":2,"m":"fast"}"#])).unwrap();
        tx.send(batch(3, &[r#"{"n":3}"#])).unwrap();
        drop(tx);
        run_stage("transforms.gate", vec![member], 2, rx, Health::default()).unwrap();
        assert_eq!(
            lines(&out),
            [
                r#"{"n":0,"m":"slow"}"#,
                r#"{"n":1}"#,
                r#"{"n":2,"m":"fast"}"#,
                r#"{"n":3}"#
            ]
        );
        drop(ack_tx);
        let acks: Vec<_> = acks.iter().collect();
        assert_eq!(acks.len(), 3);
        assert!(acks.iter().all(|a| a.delivered));
    }

    #[test]
    fn a_panic_on_a_worker_is_isolated_to_its_event_and_dead_lettered_in_order() {
        let (member, out, dead) = stage_of_gates(3);
        let (tx, rx) = crossbeam_channel::bounded(20);
        let metrics = member.metrics.clone();
        for i in 0..20 {
            let poison = if i % 7 == 3 { ",\"m\":\"POISON\"" } else { "" };
            let batch = crate::event::test_batch::json_batch(&[
                format!("{{\"n\":{}{poison}}}", 2 * i),
                format!("{{\"n\":{}}}", 2 * i + 1),
            ]);
            tx.send(batch).unwrap();
        }
        drop(tx);
        run_stage("transforms.gate", vec![member], 3, rx, Health::default()).unwrap();
        let passed: Vec<u64> = lines(&out)
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let poisoned: Vec<u64> = (0..20).filter(|i| i % 7 == 3).map(|i| 2 * i).collect();
        let want: Vec<u64> = (0..40).filter(|n| !poisoned.contains(n)).collect();
        assert_eq!(passed, want);
        assert_eq!(lines(&dead).len(), poisoned.len());
        assert_eq!(
            ComponentMetrics::snapshot(&metrics).errors,
            poisoned.len() as u64
        );
        assert_eq!(ComponentMetrics::snapshot(&metrics).received_events, 40);
    }

    #[test]
    fn fan_out_fan_in_and_a_read_named_output_end_a_chain() {
        let fan_out = CHAIN.replace(
            "[sinks.out]",
            "[sinks.tee]\ntype = \"stdout\"\ninputs = [\"stamp\"]\n[sinks.out]",
        );
        let c = config(&fan_out);
        assert_eq!(
            ids(&c, &fuse(&c, 4, &stateless(&c)))[..2],
            [vec!["parse", "stamp"], vec!["keep"]]
        );
        let fan_in = CHAIN.replace("inputs = [\"stamp\"]", "inputs = [\"stamp\", \"app\"]");
        let c = config(&fan_in);
        assert_eq!(
            ids(&c, &fuse(&c, 4, &stateless(&c)))[..2],
            [vec!["parse", "stamp"], vec!["keep"]]
        );
        let dead = CHAIN.replace(
            "[sinks.out]",
            "[sinks.dead]\ntype = \"stdout\"\ninputs = [\"parse.dead_letter\"]\n[sinks.out]",
        );
        let c = config(&dead);
        assert_eq!(
            ids(&c, &fuse(&c, 4, &stateless(&c)))[..2],
            [vec!["parse"], vec!["stamp", "keep"]]
        );
    }
}
