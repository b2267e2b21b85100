//! Building and running the component graph.
//!
//! Every source and sink runs on its own OS thread: sources read (blocking
//! I/O), sinks write. Transforms run in *stages* ([`super::stage`]): with
//! `[runtime] workers = 1` each transform is a stage on one thread; with more,
//! a linear chain of stateless transforms is fused into one stage whose
//! batches are processed by `workers` threads at once and passed on in the
//! order they arrived, and each stateful transform stays a stage on one
//! thread. Stages are connected by bounded crossbeam channels, one per
//! consumer (fan-in shares it), so every core has work and each stream's order
//! is kept (channels are FIFO, stages re-sequence). Shutdown flows the same
//! way: sources stop and drop their outputs, each stage drains its channel and
//! ends.
//!
//! A stage is kept under the id of its first transform; a reload compares
//! stages (their members, in order, and each member's configuration), so a
//! change to one transform of a fused chain rebuilds the chain, and a change
//! that regroups the chain (a new reader of a transform in the middle) retires
//! the old stages and starts the new ones once every old stage holding one of
//! their members has drained.
//!
//! # Reload
//!
//! [`Topology::reload`] applies a new configuration by diffing it against the
//! running one, component by component (type, inputs and every option):
//!
//! * unchanged components keep their threads, channels and state (a file
//!   source keeps its open files and positions);
//! * a changed or added consumer gets a new input channel, and every producer
//!   that feeds it (running or new) is re-pointed at it
//!   ([`Output::set_targets`]); a batch is sent either to the old channel or to
//!   the new one, never both;
//! * the old version of a changed transform or sink keeps running until its
//!   channel is empty (it has no senders left once producers are re-pointed),
//!   sending what it drains to the *new* downstream channels; the new version
//!   starts consuming only when the old one has ended, so each stream stays in
//!   order and nothing in flight is lost or doubled;
//! * a changed source is stopped (it flushes its last batch) and the new one
//!   starts when the old one has ended;
//! * a removed component is stopped the same way; what it still drains goes to
//!   whoever reads its id in the new configuration (normally nobody: dropped
//!   and acknowledged, as with an unread output).
//!
//! Everything that can fail (building transforms and sinks) happens before the
//! running graph is touched: a config that cannot be built is rejected whole and
//! the old pipeline keeps running. `[runtime]`, `data_dir` and `[api]` are read
//! at start only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::channel::{Fill, Inlet, Output, Outputs, OutputsHandle};
use super::shutdown::{self, Shutdown, ShutdownTrigger};
use super::tap::Tap;
use crate::config::{ComponentChecks, PipelineConfig, SourceConfig};
use crate::event::Batch;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::{ComponentMetrics, Kind, Registry};
use logagent_core::component::{
    Sink, SinkContext, Source, SourceContext, Transform, TransformContext,
};

/// Options for building a topology.
#[derive(Default)]
pub struct BuildOptions {
    /// Sources stop at the end of their input.
    pub once: bool,
    /// Sinks to use instead of the configured ones, by id (embedding, tests).
    pub sink_overrides: HashMap<String, Box<dyn Sink>>,
    /// Transforms to use instead of the configured ones, by id (embedding,
    /// tests: e.g. one that panics on a poison line). The configured one still
    /// gives the wiring (inputs, named outputs).
    pub transform_overrides: HashMap<String, Box<dyn Transform>>,
}

/// Why a topology could not be started (or a reload could not be applied).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A component could not be built.
    #[error("cannot build {component}: {message}")]
    Component {
        /// `kind.id` of the component.
        component: String,
        /// What went wrong.
        message: String,
    },
    /// `data_dir` is needed (checkpoints, disk buffers, file sink records) but
    /// cannot be written.
    #[error(transparent)]
    DataDir(#[from] super::data_dir::DataDirError),
    /// A thread could not be started.
    #[error("cannot start a thread for {component}: {error}")]
    Spawn {
        /// `kind.id` of the component.
        component: String,
        /// The cause.
        error: std::io::Error,
    },
}

/// Why a component's thread ended early: what its source, transform or sink
/// reported, or the panic that escaped it.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// A source stopped.
    #[error(transparent)]
    Source(#[from] logagent_core::component::SourceError),
    /// A sink stopped.
    #[error(transparent)]
    Sink(#[from] logagent_core::component::SinkError),
    /// A sink behind a disk buffer stopped, or the buffer did.
    #[error(transparent)]
    Buffered(#[from] super::disk_buffer::BufferedSinkError),
    /// A transform's downstream went away.
    #[error(transparent)]
    Closed(#[from] super::Closed),
    /// A panic outside the per-batch isolation (its message).
    #[error("panicked: {0}")]
    Panicked(String),
}

/// How a component's thread ended.
#[derive(Debug)]
pub struct Finished {
    /// `kind.id` of the component.
    pub component: String,
    /// Which thread (a component rebuilt by a reload runs on a new one).
    pub serial: u64,
    /// `Err` with the reason when it failed.
    pub result: Result<(), ComponentError>,
}

/// Every tap of the running pipeline, by output name (`ID` or `ID.NAME`).
pub type Taps = Arc<RwLock<BTreeMap<String, Tap>>>;

/// What a reload changed, for the log line and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// `kind.id` of components started for the first time.
    pub added: Vec<String>,
    /// `kind.id` of components rebuilt because their configuration changed.
    pub changed: Vec<String>,
    /// `kind.id` of components rebuilt, unchanged themselves, because they run
    /// in one stage with a changed one (fused transforms, see
    /// [`super::stage`]) or the grouping into stages changed.
    pub rebuilt: Vec<String>,
    /// `kind.id` of components stopped for good.
    pub removed: Vec<String>,
    /// How many components kept running untouched.
    pub unchanged: usize,
}

/// One running component (its current version), or one stage of fused
/// transforms (kept under the id of its first transform).
struct Running {
    kind: Kind,
    serial: u64,
    fingerprint: String,
    /// The ids of the components it runs, in chain order, each with its own
    /// fingerprint (one for sources, sinks and unfused transforms).
    members: Vec<(String, String)>,
    /// The ids this component reads (consumers only).
    inputs: Vec<String>,
    /// The sending end of its input channel (consumers), held so that a reload
    /// can point new producers at it; released once its producers are gone.
    input: Option<Sender<Batch>>,
    /// Weak handles on its members' outputs, by member id, to re-point them
    /// (they close with the component).
    outputs: Vec<(String, OutputsHandle)>,
    /// Stops it (sources only).
    stop: Option<ShutdownTrigger>,
    /// Disconnects when its thread has ended.
    gate: Receiver<()>,
}

/// A running pipeline.
pub struct Topology {
    once: bool,
    /// Threads per stage of stateless transforms (`[runtime] workers`).
    workers: usize,
    capacity: usize,
    batch_max_events: usize,
    batch_max_bytes: usize,
    data_dir: std::path::PathBuf,
    components: HashMap<String, Running>,
    /// Old versions still draining (serial, outputs by member id); their
    /// outputs are cleared when they end.
    retiring: Vec<(u64, Vec<(String, OutputsHandle)>)>,
    threads: Vec<(u64, String, JoinHandle<()>)>,
    finished: HashSet<u64>,
    serial: u64,
    done_tx: Sender<Finished>,
    done: Receiver<Finished>,
    /// Wakes the run loop when a component drops its outputs (a source that is
    /// done sending), so the channels it fed can close.
    released_tx: Sender<()>,
    released: Receiver<()>,
    registry: Registry,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
    health: Health,
    taps: Taps,
    inputs: crate::telemetry::api::InputsOf,
    stopping: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything drained.
    Drained,
    /// Some component failed; the messages say which and why.
    Failed(Vec<String>),
    /// The drain timeout passed with components still running.
    TimedOut(Vec<String>),
}

/// What a component is built from, as compared by a reload: everything but the
/// file it came from.
fn fingerprint<T: std::fmt::Debug, B: std::fmt::Debug>(
    inputs: &[String],
    config: &T,
    extra: &B,
) -> String {
    format!("{inputs:?}|{config:?}|{extra:?}")
}

/// A component built but not started yet.
enum Built {
    Source(Box<dyn Source>),
    /// A stage of transforms in chain order, and its number of workers (each
    /// member has one instance per worker).
    Stage(Vec<Member>, usize),
    Sink(Box<dyn Sink>, crate::config::BufferConfig),
}

/// One transform of a stage, built.
struct Member {
    id: String,
    type_name: &'static str,
    outputs: Vec<String>,
    instances: Vec<Box<dyn Transform>>,
}

struct Plan {
    id: String,
    kind: Kind,
    name: String,
    type_name: &'static str,
    fingerprint: String,
    /// The ids it runs with their own fingerprints (see [`Running::members`]).
    members: Vec<(String, String)>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    built: Built,
}

/// How the new configuration's transforms are grouped, for [`Topology::apply`].
#[derive(Default)]
struct Grouping {
    /// The id under which each stage runs (its first transform), plus every
    /// source and sink id.
    heads: HashSet<String>,
    /// Transforms whose default output feeds the next one inside a stage:
    /// nothing outside reads it, so a running old version keeps its targets
    /// (the old version of the next transform, which drains after it).
    inner: HashSet<String>,
}

impl Topology {
    /// Builds every component and starts its thread.
    pub fn start(config: &PipelineConfig, options: BuildOptions) -> Result<Topology, BuildError> {
        if needs_data_dir(config) {
            super::data_dir::ensure_writable(&config.data_dir)?;
        }
        let (trigger, shutdown) = shutdown::pair();
        let (done_tx, done) = crossbeam_channel::unbounded();
        let (released_tx, released) = crossbeam_channel::unbounded();
        let mut topology = Topology {
            once: options.once,
            workers: config.runtime.workers.resolve(),
            capacity: config.runtime.channel_capacity.max(1),
            batch_max_events: config.runtime.batch_max_events,
            batch_max_bytes: config.runtime.batch_max_bytes.as_usize(),
            data_dir: config.data_dir.clone(),
            components: HashMap::new(),
            retiring: Vec::new(),
            threads: Vec::new(),
            finished: HashSet::new(),
            serial: 0,
            done_tx,
            done,
            released_tx,
            released,
            registry: Registry::default(),
            trigger,
            shutdown,
            health: Health::default(),
            taps: Taps::default(),
            inputs: Default::default(),
            stopping: false,
        };
        topology.apply(
            config,
            Overrides {
                sinks: options.sink_overrides,
                transforms: options.transform_overrides,
            },
        )?;
        topology.record_inputs(config);
        Ok(topology)
    }

    /// The components' counters (a live view: clones see later changes).
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Which components are failing, for `/health`.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// The taps of every output, for `/tap`.
    pub fn taps(&self) -> Taps {
        self.taps.clone()
    }

    /// Asks the sources to stop; the rest drains.
    pub fn stop(&mut self) {
        self.stopping = true;
        self.trigger.stop();
        for c in self.components.values_mut() {
            if let Some(t) = &mut c.stop {
                t.stop();
            }
        }
    }

    fn force(&mut self) {
        self.stop();
        self.trigger.force();
        for c in self.components.values_mut() {
            if let Some(t) = &mut c.stop {
                t.force();
            }
        }
    }

    /// After [`Topology::force`]: gives the sources `grace` to record what was
    /// acknowledged (their final checkpoint) before the run returns.
    fn await_sources(&mut self, grace: Duration) {
        let until = Instant::now() + grace;
        loop {
            let pending = self
                .components
                .values()
                .any(|c| c.kind == Kind::Source && !self.finished.contains(&c.serial));
            if !pending {
                return;
            }
            match self.done.recv_deadline(until) {
                Ok(f) => {
                    self.finished.insert(f.serial);
                }
                Err(_) => return,
            }
        }
    }

    /// Applies a new configuration to the running pipeline (see the module doc).
    /// On `Err` nothing was changed.
    pub fn reload(&mut self, config: &PipelineConfig) -> Result<ReloadSummary, BuildError> {
        if self.stopping {
            return Err(BuildError::Component {
                component: "pipeline".into(),
                message: "stopping; reload ignored".into(),
            });
        }
        let summary = self.apply(config, Overrides::default())?;
        self.record_inputs(config);
        Ok(summary)
    }

    /// What each component reads, for the API (`/outputs`).
    pub fn inputs(&self) -> crate::telemetry::api::InputsOf {
        self.inputs.clone()
    }

    fn record_inputs(&self, config: &PipelineConfig) {
        let map = config
            .transforms
            .iter()
            .map(|t| (format!("transforms.{}", t.id), t.inputs.clone()))
            .chain(
                config
                    .sinks
                    .iter()
                    .map(|s| (format!("sinks.{}", s.id), s.inputs.clone())),
            )
            .collect();
        *self.inputs.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    fn plan(
        &mut self,
        config: &PipelineConfig,
        overrides: &mut Overrides,
    ) -> Result<(Vec<Plan>, ReloadSummary, Grouping), BuildError> {
        let mut plans = Vec::new();
        let mut summary = ReloadSummary::default();
        let mut grouping = Grouping::default();
        let keep = |this: &Topology, id: &str, kind: Kind, fp: &str| {
            this.components.get(id).is_some_and(|c| {
                c.kind == kind
                    && c.fingerprint == fp
                    && !this.finished.contains(&c.serial)
                    && (kind == Kind::Source || c.input.is_some())
            })
        };
        for s in &config.sinks {
            grouping.heads.insert(s.id.clone());
            let fp = fingerprint(&s.inputs, &s.config, &s.buffer);
            if keep(self, &s.id, Kind::Sink, &fp) && !overrides.sinks.contains_key(&s.id) {
                summary.unchanged += 1;
                continue;
            }
            let name = format!("sinks.{}", s.id);
            let sink = match overrides.sinks.remove(&s.id) {
                Some(sink) => sink,
                None => s.config.component().build(&self.data_dir).map_err(|e| {
                    BuildError::Component {
                        component: name.clone(),
                        message: e.to_string(),
                    }
                })?,
            };
            plans.push(Plan {
                id: s.id.clone(),
                kind: Kind::Sink,
                name,
                type_name: s.config.type_name(),
                members: vec![(s.id.clone(), fp.clone())],
                fingerprint: fp,
                inputs: s.inputs.clone(),
                outputs: s.config.outputs(),
                built: Built::Sink(sink, s.buffer.clone()),
            });
        }
        // Transforms run in stages (super::stage): a chain of stateless ones
        // is one stage on `workers` threads; the rest one stage each.
        let parallel: Vec<bool> = config
            .transforms
            .iter()
            .map(|t| t.config.component().stateless() && !overrides.transforms.contains_key(&t.id))
            .collect();
        let parallel = |i: usize| parallel.get(i).copied().unwrap_or(false);
        let stages = super::stage::fuse(config, self.workers, &parallel);
        for stage in stages {
            let Some(&head) = stage.first() else { continue };
            let head = &config.transforms[head];
            grouping.heads.insert(head.id.clone());
            for i in &stage[..stage.len() - 1] {
                grouping.inner.insert(config.transforms[*i].id.clone());
            }
            let workers = if stage.iter().all(|i| parallel(*i)) {
                self.workers
            } else {
                1
            };
            let members: Vec<(String, String)> = stage
                .iter()
                .map(|i| {
                    let t = &config.transforms[*i];
                    (t.id.clone(), fingerprint(&t.inputs, &t.config, &()))
                })
                .collect();
            let fp = format!("{members:?}|workers={workers}");
            let overridden = stage
                .iter()
                .any(|i| overrides.transforms.contains_key(&config.transforms[*i].id));
            if keep(self, &head.id, Kind::Transform, &fp) && !overridden {
                summary.unchanged += stage.len();
                continue;
            }
            let mut built = Vec::with_capacity(stage.len());
            for i in &stage {
                let t = &config.transforms[*i];
                let name = format!("transforms.{}", t.id);
                let metrics = self
                    .registry
                    .register(&t.id, Kind::Transform, t.config.type_name());
                let ctx = TransformContext {
                    id: t.id.as_str().into(),
                    metrics: metrics.clone(),
                    families: self.registry.families().clone(),
                    clock: crate::time::SystemClock::shared(),
                };
                let mut instances = Vec::with_capacity(workers);
                if let Some(transform) = overrides.transforms.remove(&t.id) {
                    instances.push(transform);
                }
                // One instance per worker, each built from the config.
                while instances.len() < workers {
                    let transform = t.config.component().build(ctx.clone()).map_err(|errors| {
                        BuildError::Component {
                            component: name.clone(),
                            message: errors
                                .iter()
                                .map(|e| format!("key `{}`: {}", e.key, e.message))
                                .collect::<Vec<_>>()
                                .join("; "),
                        }
                    })?;
                    instances.push(transform);
                }
                built.push(Member {
                    id: t.id.clone(),
                    type_name: t.config.type_name(),
                    outputs: t.config.outputs(),
                    instances,
                });
            }
            plans.push(Plan {
                id: head.id.clone(),
                kind: Kind::Transform,
                name: format!("transforms.{}", head.id),
                type_name: head.config.type_name(),
                fingerprint: fp,
                members,
                inputs: head.inputs.clone(),
                outputs: Vec::new(),
                built: Built::Stage(built, workers),
            });
        }
        for s in &config.sources {
            grouping.heads.insert(s.id.clone());
            let fp = fingerprint(&s.inputs, &s.config, &());
            if keep(self, &s.id, Kind::Source, &fp) {
                summary.unchanged += 1;
                continue;
            }
            let source: Box<dyn Source> = s.config.component().build();
            plans.push(Plan {
                id: s.id.clone(),
                kind: Kind::Source,
                name: format!("sources.{}", s.id),
                type_name: s.config.type_name(),
                members: vec![(s.id.clone(), fp.clone())],
                fingerprint: fp,
                inputs: Vec::new(),
                outputs: Vec::new(),
                built: Built::Source(source),
            });
        }
        // What each rebuilt component was before, by id.
        let before: HashMap<&str, (Kind, &str)> = self
            .components
            .values()
            .flat_map(|c| {
                c.members
                    .iter()
                    .map(|(id, fp)| (id.as_str(), (c.kind, fp.as_str())))
            })
            .collect();
        for p in &plans {
            let section = section(p.kind);
            for (id, fp) in &p.members {
                let name = format!("{section}.{id}");
                match before.get(id.as_str()) {
                    None => summary.added.push(name),
                    Some((kind, old)) if *kind == p.kind && *old == fp.as_str() => {
                        summary.rebuilt.push(name)
                    }
                    Some(_) => summary.changed.push(name),
                }
            }
        }
        Ok((plans, summary, grouping))
    }

    fn apply(
        &mut self,
        config: &PipelineConfig,
        mut overrides: Overrides,
    ) -> Result<ReloadSummary, BuildError> {
        // 1. Build everything new; nothing running is touched if this fails.
        let (plans, mut summary, grouping) = self.plan(config, &mut overrides)?;
        let wanted: HashSet<&str> = config
            .sources
            .iter()
            .map(|c| c.id.as_str())
            .chain(config.transforms.iter().map(|c| c.id.as_str()))
            .chain(config.sinks.iter().map(|c| c.id.as_str()))
            .collect();
        // Running stages whose first component heads no stage any more (it was
        // removed, or fused behind another).
        let dissolved: Vec<String> = self
            .components
            .keys()
            .filter(|id| !grouping.heads.contains(id.as_str()))
            .cloned()
            .collect();

        // 2. New input channels for new consumers; everyone's sender by id.
        let mut new_inputs: HashMap<String, (Sender<Batch>, Receiver<Batch>)> = HashMap::new();
        for p in &plans {
            if p.kind != Kind::Source {
                new_inputs.insert(p.id.clone(), crossbeam_channel::bounded(self.capacity));
            }
        }
        let sender_of = |id: &str| -> Option<Sender<Batch>> {
            new_inputs
                .get(id)
                .map(|(tx, _)| tx.clone())
                .or_else(|| self.components.get(id).and_then(|c| c.input.clone()))
        };
        // Who reads each output name (`ID` or `ID.NAME`) in the new config, with
        // the fill gauges of each reader's channel. Only the first transform of
        // a stage has a channel; the others are fed inside the stage.
        let mut registry = self.registry.clone();
        let mut consumer_inputs: Vec<(&String, &Vec<String>, Fill)> = Vec::new();
        for t in &config.transforms {
            let m = registry.register(&t.id, Kind::Transform, t.config.type_name());
            if grouping.heads.contains(&t.id) {
                consumer_inputs.push((&t.id, &t.inputs, Fill::of(&m)));
            }
        }
        for s in &config.sinks {
            let m = registry.register(&s.id, Kind::Sink, s.config.type_name());
            consumer_inputs.push((&s.id, &s.inputs, Fill::of(&m)));
        }
        let mut consumers: HashMap<String, Vec<Inlet>> = HashMap::new();
        for (id, ins, fill) in consumer_inputs {
            if let Some(tx) = sender_of(id) {
                for input in ins {
                    consumers.entry(input.clone()).or_default().push(Inlet {
                        tx: tx.clone(),
                        fill: Some(fill.clone()),
                    });
                }
            }
        }
        let targets_of =
            |name: &str| -> Vec<Inlet> { consumers.get(name).cloned().unwrap_or_default() };

        // 3. Re-point the outputs of everything that keeps running (unchanged
        //    components, and old versions about to drain) at the new consumers.
        //    An output now inside a new stage keeps its targets: the old
        //    version of the next transform drains it, before the stage starts.
        let replaced: HashSet<&str> = plans.iter().map(|p| p.id.as_str()).collect();
        let live = self
            .components
            .values()
            .filter(|c| !self.finished.contains(&c.serial))
            .flat_map(|c| c.outputs.iter())
            .chain(self.retiring.iter().flat_map(|(_, o)| o.iter()));
        for (id, outputs) in live {
            if !grouping.inner.contains(id) {
                outputs.default.set_targets(targets_of(id));
            }
            for (n, o) in &outputs.named {
                o.set_targets(targets_of(&format!("{id}.{n}")));
            }
        }

        // 4. Retire replaced and dissolved components: stop sources, release
        //    input senders (their channels close once drained). A new version
        //    waits for every old one that ran any of its members.
        let mut gates: HashMap<String, Vec<Receiver<()>>> = HashMap::new();
        let retire: Vec<String> = replaced
            .iter()
            .map(|s| s.to_string())
            .filter(|id| self.components.contains_key(id))
            .chain(dissolved.iter().cloned())
            .collect();
        let mut removed = Vec::new();
        for id in &retire {
            if let Some(mut c) = self.components.remove(id) {
                for (member, _) in &c.members {
                    if !wanted.contains(member.as_str()) {
                        summary
                            .removed
                            .push(format!("{}.{member}", section(c.kind)));
                        removed.push(member.clone());
                    }
                    gates
                        .entry(member.clone())
                        .or_default()
                        .push(c.gate.clone());
                }
                if let Some(t) = &mut c.stop {
                    t.stop();
                }
                c.input = None;
                if !self.finished.contains(&c.serial) {
                    self.retiring.push((c.serial, c.outputs.clone()));
                } else {
                    for (_, o) in &c.outputs {
                        o.clear();
                    }
                }
            }
        }
        for id in &removed {
            self.registry.remove(id);
            let mut taps = self.taps.write().unwrap_or_else(|p| p.into_inner());
            taps.retain(|k, _| k != id && !k.starts_with(&format!("{id}.")));
        }

        // 5. Start the new versions: sinks, transforms, then sources.
        for p in plans {
            let metrics = self.registry.register(&p.id, p.kind, p.type_name);
            let gate: Vec<Receiver<()>> = p
                .members
                .iter()
                .flat_map(|(m, _)| gates.get(m).cloned().unwrap_or_default())
                .collect();
            let serial = self.next_serial();
            let input = new_inputs
                .get(&p.id)
                .map(|(tx, rx)| (tx.clone(), rx.clone()));
            let mut stop = None;
            let mut handles = Vec::new();
            let body: Box<dyn FnOnce() -> Result<(), ComponentError> + Send> = match p.built {
                Built::Sink(sink, buffer) => {
                    let outputs = self.outputs_for(&p.id, &p.outputs, &metrics, &targets_of);
                    handles.push((p.id.clone(), outputs.handles()));
                    let rx = input.as_ref().map(|(_, rx)| rx.clone()).ok_or_else(|| {
                        BuildError::Component {
                            component: p.name.clone(),
                            message: "no input channel".into(),
                        }
                    })?;
                    let ctx = SinkContext {
                        id: p.id.as_str().into(),
                        outputs,
                        metrics,
                        shutdown: self.shutdown.clone(),
                    };
                    let data_dir = self.data_dir.clone();
                    let faults = super::isolate::Faults::new(
                        &p.name,
                        p.id.as_str().into(),
                        ctx.metrics.clone(),
                        self.health.clone(),
                    );
                    Box::new(move || {
                        wait_gates(gate);
                        match buffer {
                            crate::config::BufferConfig::Memory => run_sink(sink, rx, ctx, faults),
                            crate::config::BufferConfig::Disk(disk) => {
                                super::disk_buffer::run_sink_buffered(
                                    sink, rx, ctx, &disk, &data_dir,
                                )
                                .map_err(ComponentError::from)
                            }
                        }
                    })
                }
                Built::Stage(members, workers) => {
                    let rx = input.as_ref().map(|(_, rx)| rx.clone()).ok_or_else(|| {
                        BuildError::Component {
                            component: p.name.clone(),
                            message: "no input channel".into(),
                        }
                    })?;
                    let mut stage = Vec::with_capacity(members.len());
                    for m in members {
                        let metrics = self.registry.register(&m.id, Kind::Transform, m.type_name);
                        let outputs = self.outputs_for(&m.id, &m.outputs, &metrics, &targets_of);
                        handles.push((m.id.clone(), outputs.handles()));
                        stage.push(super::stage::StageMember {
                            name: format!("transforms.{}", m.id),
                            id: m.id.as_str().into(),
                            metrics,
                            outputs,
                            instances: m.instances,
                        });
                    }
                    let health = self.health.clone();
                    let name = p.name.clone();
                    match <[super::stage::StageMember; 1]>::try_from(stage) {
                        // One transform on one thread: as it always ran.
                        Ok([one]) if workers == 1 && one.instances.len() == 1 => {
                            let faults = super::isolate::Faults::new(
                                &one.name,
                                one.id.clone(),
                                one.metrics.clone(),
                                health,
                            );
                            let mut instances = one.instances;
                            let transform =
                                instances.pop().ok_or_else(|| BuildError::Component {
                                    component: p.name.clone(),
                                    message: "no instance built".into(),
                                })?;
                            Box::new(move || {
                                wait_gates(gate);
                                run_transform(transform, rx, one.outputs, one.metrics, faults)
                            })
                        }
                        Ok(one) => Box::new(move || {
                            wait_gates(gate);
                            super::stage::run_stage(&name, Vec::from(one), workers, rx, health)
                        }),
                        Err(stage) => Box::new(move || {
                            wait_gates(gate);
                            super::stage::run_stage(&name, stage, workers, rx, health)
                        }),
                    }
                }
                Built::Source(source) => {
                    let outputs = self.outputs_for(&p.id, &p.outputs, &metrics, &targets_of);
                    handles.push((p.id.clone(), outputs.handles()));
                    let (trigger, shutdown) = shutdown::pair();
                    stop = Some(trigger);
                    let ctx = SourceContext {
                        id: p.id.as_str().into(),
                        output: outputs.default_output().clone(),
                        shutdown,
                        metrics,
                        batch_max_events: self.batch_max_events,
                        batch_max_bytes: self.batch_max_bytes,
                        once: self.once,
                        data_dir: self.data_dir.clone(),
                    };
                    Box::new(move || {
                        wait_gates(gate);
                        source.run(ctx).map_err(ComponentError::from)
                    })
                }
            };
            let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
            let handle = spawn(&p.name, serial, self.done_tx.clone(), move || {
                let _gate = gate_tx;
                body()
            })?;
            self.threads.push((serial, p.name, handle));
            self.components.insert(
                p.id.clone(),
                Running {
                    kind: p.kind,
                    serial,
                    fingerprint: p.fingerprint,
                    members: p.members,
                    inputs: p.inputs,
                    input: input.map(|(tx, _)| tx),
                    outputs: handles,
                    stop,
                    gate: gate_rx,
                },
            );
        }
        self.release_finished();
        Ok(summary)
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn outputs_for(
        &self,
        id: &str,
        names: &[String],
        metrics: &Arc<ComponentMetrics>,
        targets_of: &dyn Fn(&str) -> Vec<Inlet>,
    ) -> Outputs {
        let mut taps = self.taps.write().unwrap_or_else(|p| p.into_inner());
        let mut make = |name: String| {
            let tap = taps.entry(name.clone()).or_default().clone();
            let output = Output::new(Vec::new(), metrics.clone());
            output.set_targets(targets_of(&name));
            output
                .with_tap(tap)
                .notify_on_drop(self.released_tx.clone())
        };
        let default = make(id.to_owned());
        let named = names
            .iter()
            .map(|n| (n.clone(), make(format!("{id}.{n}"))))
            .collect();
        Outputs::new(default, named)
    }

    /// Releases what ended components held: their outputs' senders, and the input
    /// senders of consumers none of whose producers runs any more, so channels
    /// close and the pipeline drains stage by stage.
    fn release_finished(&mut self) {
        let finished = &self.finished;
        self.retiring.retain(|(serial, outputs)| {
            if finished.contains(serial) {
                for (_, o) in outputs {
                    o.clear();
                }
                false
            } else {
                true
            }
        });
        // A producer feeds its consumers while it runs and holds its outputs
        // (a stage's members all go together).
        let alive: HashSet<String> = self
            .components
            .values()
            .filter(|c| {
                !finished.contains(&c.serial)
                    && c.outputs.first().is_some_and(|(_, o)| o.default.is_alive())
            })
            .flat_map(|c| c.members.iter().map(|(id, _)| id.clone()))
            .collect();
        for c in self.components.values_mut() {
            if finished.contains(&c.serial) {
                for (_, o) in &c.outputs {
                    o.clear();
                }
            }
            if c.input.is_some() {
                let fed = c.inputs.iter().any(|i| {
                    let producer = i.split('.').next().unwrap_or(i);
                    alive.contains(producer)
                });
                if !fed {
                    c.input = None;
                }
            }
        }
    }

    fn running_names(&self) -> Vec<String> {
        self.threads
            .iter()
            .filter(|(serial, _, _)| !self.finished.contains(serial))
            .map(|(_, n, _)| n.clone())
            .collect()
    }

    /// Waits for every component to finish. When `stop` delivers (a signal), the
    /// sources are stopped and the pipeline gets `drain_timeout` to drain.
    pub fn wait(self, stop: &Receiver<()>, drain_timeout: Duration) -> Outcome {
        let (_keep, reloads) = crossbeam_channel::bounded(0);
        self.run(stop, &reloads, drain_timeout)
    }

    /// Like [`Topology::wait`], and applies every configuration that arrives on
    /// `reloads` (an invalid one is logged and the running pipeline kept).
    pub fn run(
        mut self,
        stop: &Receiver<()>,
        reloads: &Receiver<PipelineConfig>,
        drain_timeout: Duration,
    ) -> Outcome {
        let mut failures = Vec::new();
        let mut deadline: Option<Instant> = None;
        let mut stop_open = true;
        let mut reloads_open = true;
        let never = crossbeam_channel::never::<()>();
        let never_config = crossbeam_channel::never::<PipelineConfig>();
        // `--once`: the run ends when the input is written; if the pipeline
        // stops moving (a sink that keeps failing, its channel full), it gives
        // up after `drain_timeout` without progress instead of waiting forever.
        let mut stall = Stall::new(self.registry.totals());
        loop {
            let running: Vec<&(u64, String, JoinHandle<()>)> = self
                .threads
                .iter()
                .filter(|(serial, _, _)| !self.finished.contains(serial))
                .collect();
            if running.is_empty() {
                break;
            }
            let stop_rx = if stop_open && deadline.is_none() {
                stop
            } else {
                &never
            };
            let reload_rx = if reloads_open && !self.stopping {
                reloads
            } else {
                &never_config
            };
            if self.once && stall.stuck(self.registry.totals(), Instant::now(), drain_timeout) {
                let running = self.running_names();
                tracing::error!(running = %running.join(", "), timeout = ?drain_timeout,
                    "--once: nothing read or written for the drain timeout (a sink keeps failing?); giving up");
                self.force();
                self.await_sources(SOURCE_GRACE);
                return Outcome::TimedOut(running);
            }
            let mut timeout = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            if self.once {
                timeout = timeout.min(STALL_POLL);
            }
            crossbeam_channel::select! {
                recv(self.done) -> f => {
                    let Ok(finished) = f else { break };
                    self.finished.insert(finished.serial);
                    if let Err(reason) = finished.result {
                        tracing::error!(component = %finished.component, error = %reason, "component failed; stopping the pipeline");
                        self.health.fail(&finished.component, &reason.to_string());
                        failures.push(format!("{}: {reason}", finished.component));
                        // One failed stage stops the whole pipeline rather than losing
                        // data quietly, and no checkpoint moves past what it held.
                        self.trigger.poison();
                        for c in self.components.values_mut() {
                            if let Some(t) = &mut c.stop {
                                t.poison();
                            }
                        }
                        self.stop();
                        if deadline.is_none() {
                            deadline = Some(Instant::now() + drain_timeout);
                        }
                    }
                    self.release_finished();
                }
                recv(self.released) -> _ => self.release_finished(),
                recv(stop_rx) -> msg => {
                    if msg.is_err() {
                        stop_open = false;
                    } else {
                        self.stop();
                        deadline = Some(Instant::now() + drain_timeout);
                    }
                }
                recv(reload_rx) -> config => match config {
                    Ok(config) => match self.reload(&config) {
                        Ok(summary) => {
                            self.registry.agent().reloaded(true);
                            tracing::info!(
                                added = %summary.added.join(", "),
                                changed = %summary.changed.join(", "),
                                rebuilt = %summary.rebuilt.join(", "),
                                removed = %summary.removed.join(", "),
                                unchanged = summary.unchanged,
                                "pipeline reloaded"
                            )
                        }
                        Err(e) => {
                            self.registry.agent().reloaded(false);
                            tracing::error!(error = %e, "reload rejected; the running pipeline is unchanged")
                        }
                    },
                    Err(_) => reloads_open = false,
                },
                default(timeout) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        let running = self.running_names();
                        self.force();
                        self.await_sources(SOURCE_GRACE);
                        return Outcome::TimedOut(running);
                    }
                }
            }
        }
        for (_, _, handle) in self.threads.drain(..) {
            let _ = handle.join();
        }
        if failures.is_empty() {
            Outcome::Drained
        } else {
            Outcome::Failed(failures)
        }
    }
}

/// Components given instead of built (see [`BuildOptions`]).
#[derive(Default)]
struct Overrides {
    sinks: HashMap<String, Box<dyn Sink>>,
    transforms: HashMap<String, Box<dyn Transform>>,
}

/// How long sources get, once forced, to write their final checkpoint.
const SOURCE_GRACE: Duration = Duration::from_secs(5);
/// How often a `--once` run checks that the pipeline still moves.
const STALL_POLL: Duration = Duration::from_millis(250);

/// Notices a pipeline that stopped moving: nothing read, written or discarded
/// since a given time.
struct Stall {
    last: crate::telemetry::metrics::Totals,
    since: Instant,
}

impl Stall {
    fn new(totals: crate::telemetry::metrics::Totals) -> Stall {
        Stall {
            last: totals,
            since: Instant::now(),
        }
    }

    /// True when `totals` has not changed for `limit`.
    fn stuck(
        &mut self,
        totals: crate::telemetry::metrics::Totals,
        now: Instant,
        limit: Duration,
    ) -> bool {
        let moved = (totals.read, totals.written, totals.discarded)
            != (self.last.read, self.last.written, self.last.discarded);
        if moved {
            self.last = totals;
            self.since = now;
            return false;
        }
        now.saturating_duration_since(self.since) >= limit
    }
}

/// Whether anything in `config` keeps state under `data_dir`: file sources
/// (checkpoints), disk buffers, file sinks.
fn needs_data_dir(config: &PipelineConfig) -> bool {
    config
        .sources
        .iter()
        .any(|s| matches!(s.config, SourceConfig::File(_)))
        || config.sinks.iter().any(|s| {
            matches!(s.buffer, crate::config::BufferConfig::Disk(_))
                || matches!(s.config, crate::config::SinkConfig::File(_))
        })
}

/// Blocks until the previous versions of a component (or of a stage's
/// members) have ended (a gate's sender is dropped with its thread).
fn wait_gates(gates: Vec<Receiver<()>>) {
    for gate in gates {
        let _ = gate.recv();
    }
}

/// The config section of a kind, for `kind.id` names.
fn section(kind: Kind) -> &'static str {
    match kind {
        Kind::Source => "sources",
        Kind::Transform => "transforms",
        Kind::Sink => "sinks",
    }
}

fn spawn(
    name: &str,
    serial: u64,
    done: Sender<Finished>,
    body: impl FnOnce() -> Result<(), ComponentError> + Send + 'static,
) -> Result<JoinHandle<()>, BuildError> {
    let component = name.to_owned();
    let handle = std::thread::Builder::new()
        .name(name.chars().take(15).collect())
        .spawn(move || {
            let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(r) => r,
                Err(panic) => Err(ComponentError::Panicked(
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default(),
                )),
            };
            let _ = done.send(Finished {
                component,
                serial,
                result,
            });
        })
        .map_err(|error| BuildError::Spawn {
            component: name.to_owned(),
            error,
        })?;
    Ok(handle)
}

fn run_transform(
    mut transform: Box<dyn Transform>,
    rx: Receiver<Batch>,
    outputs: Outputs,
    metrics: Arc<ComponentMetrics>,
    mut faults: super::isolate::Faults,
) -> Result<(), ComponentError> {
    let probe = ChannelProbe::new(&metrics, &rx);
    let mut snapshot = super::isolate::Snapshot::default();
    for batch in rx.iter() {
        probe.update(&rx);
        probe.inflow.take(&batch);
        ComponentMetrics::add(&metrics.received_events, batch.events.len() as u64);
        ComponentMetrics::add(&metrics.received_bytes, batch.line_bytes() as u64);
        let started = Instant::now();
        // A panic on one batch is caught there: the rest goes on (isolate).
        let discarded =
            super::isolate::process(&mut transform, batch, &outputs, &mut snapshot, &mut faults)?;
        probe.latency.observe(started.elapsed());
        ComponentMetrics::add(&metrics.discarded_events, discarded);
    }
    Ok(())
}

/// Labeled series names the runtime keeps for every transform and sink.
pub mod names {
    pub use crate::telemetry::names::channel::{
        BATCH_DURATION, CHANNEL_BATCHES, CHANNEL_MAX_BATCHES,
    };
}

/// Keeps the channel-fill gauge and the batch latency histogram of a consumer.
pub(super) struct ChannelProbe {
    fill: Arc<std::sync::atomic::AtomicU64>,
    pub(super) inflow: Fill,
    latency: Arc<crate::telemetry::labeled::Histogram>,
}

impl ChannelProbe {
    pub(super) fn new(metrics: &ComponentMetrics, rx: &Receiver<Batch>) -> ChannelProbe {
        let l = &metrics.labeled;
        l.gauge(names::CHANNEL_MAX_BATCHES, &[]).store(
            rx.capacity().unwrap_or(0) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        ChannelProbe {
            fill: l.gauge(names::CHANNEL_BATCHES, &[]),
            inflow: Fill::of(metrics),
            latency: l.histogram(names::BATCH_DURATION, &[]),
        }
    }

    pub(super) fn update(&self, rx: &Receiver<Batch>) {
        self.fill
            .store(rx.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

fn run_sink(
    mut sink: Box<dyn Sink>,
    rx: Receiver<Batch>,
    ctx: SinkContext,
    mut faults: super::isolate::Faults,
) -> Result<(), ComponentError> {
    let interval = sink.flush_interval();
    let mut next_flush = interval.map(|i| Instant::now() + i);
    let probe = ChannelProbe::new(&ctx.metrics, &rx);
    loop {
        probe.update(&rx);
        let received = match next_flush {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(batch) => {
                probe.inflow.take(&batch);
                ComponentMetrics::add(&ctx.metrics.received_events, batch.events.len() as u64);
                ComponentMetrics::add(&ctx.metrics.received_bytes, batch.line_bytes() as u64);
                let started = Instant::now();
                // Held across the call: a batch the sink drops while
                // panicking completes (as dropped) when this clone goes.
                let ack = batch.ack.clone();
                let info = super::isolate::BatchInfo::of(&batch);
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    sink.write(batch, &ctx)
                })) {
                    Ok(result) => {
                        result?;
                        faults.ok();
                    }
                    Err(panic) => faults.sink_panicked(&*panic, info),
                }
                drop(ack);
                probe.latency.observe(started.elapsed());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return sink.close(&ctx).map_err(ComponentError::from);
            }
        }
        if let (Some(at), Some(i)) = (next_flush, interval)
            && Instant::now() >= at
        {
            sink.flush(&ctx)?;
            next_flush = Some(Instant::now() + i);
        }
    }
}

/// A listener that never fires, for runs without signal handling.
pub fn no_stop() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::bounded(0)
}

pub use logagent_core::flow::detached_shutdown;
