//! Building and running the component graph.
//!
//! Every component runs on its own OS thread: sources read (blocking I/O),
//! transforms do CPU work, sinks write. Threads are connected by bounded
//! crossbeam channels, one per consuming component (fan-in shares it); the graph
//! is a pipeline of stages, so both cores stay busy and each stream's order is
//! kept (one thread per stage, channels are FIFO). Shutdown flows the same way:
//! sources stop and drop their outputs, each stage drains its channel and ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::channel::{Output, Outputs};
use super::shutdown::{self, Shutdown, ShutdownTrigger};
use crate::config::{ComponentChecks, PipelineConfig, SourceConfig};
use crate::event::Batch;
use crate::sinks::{self, Sink, SinkContext};
use crate::sources::{Source, SourceContext};
use crate::telemetry::metrics::{ComponentMetrics, Kind, Registry};
use crate::transforms::{self, Transform, TransformContext};

/// Options for building a topology.
#[derive(Default)]
pub struct BuildOptions {
    /// Sources stop at the end of their input.
    pub once: bool,
    /// Sinks to use instead of the configured ones, by id (embedding, tests).
    pub sink_overrides: HashMap<String, Box<dyn Sink>>,
}

/// Why a topology could not be started.
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
    /// A thread could not be started.
    #[error("cannot start a thread for {component}: {error}")]
    Spawn {
        /// `kind.id` of the component.
        component: String,
        /// The cause.
        error: std::io::Error,
    },
}

/// How a component's thread ended.
#[derive(Debug)]
pub struct Finished {
    /// `kind.id` of the component.
    pub component: String,
    /// `Err` with the reason when it failed.
    pub result: Result<(), String>,
}

/// A running pipeline.
pub struct Topology {
    threads: Vec<(String, JoinHandle<()>)>,
    done: Receiver<Finished>,
    registry: Registry,
    trigger: ShutdownTrigger,
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

impl Topology {
    /// Builds every component and starts its thread.
    pub fn start(
        config: &PipelineConfig,
        mut options: BuildOptions,
    ) -> Result<Topology, BuildError> {
        let (trigger, shutdown) = shutdown::pair();
        let mut registry = Registry::default();
        let capacity = config.runtime.channel_capacity.max(1);

        // One input channel per consumer.
        let mut inputs: HashMap<&str, (Sender<Batch>, Receiver<Batch>)> = HashMap::new();
        for t in &config.transforms {
            inputs.insert(&t.id, crossbeam_channel::bounded(capacity));
        }
        for s in &config.sinks {
            inputs.insert(&s.id, crossbeam_channel::bounded(capacity));
        }
        // Who reads from each producer.
        let mut consumers: HashMap<&str, Vec<Sender<Batch>>> = HashMap::new();
        let consumer_inputs = config
            .transforms
            .iter()
            .map(|t| (&t.id, &t.inputs))
            .chain(config.sinks.iter().map(|s| (&s.id, &s.inputs)));
        for (id, ins) in consumer_inputs {
            for input in ins {
                if let Some((tx, _)) = inputs.get(id.as_str()) {
                    consumers
                        .entry(input.as_str())
                        .or_default()
                        .push(tx.clone());
                }
            }
        }

        // Every output of a producer: the default (`id`) and its named ones (`id.name`).
        let mut outputs_of = |id: &str, names: Vec<String>, metrics: &Arc<ComponentMetrics>| {
            let default = Output::new(consumers.remove(id).unwrap_or_default(), metrics.clone());
            let named = names
                .into_iter()
                .map(|n| {
                    let targets = consumers
                        .remove(format!("{id}.{n}").as_str())
                        .unwrap_or_default();
                    let out = Output::new(targets, metrics.clone());
                    (n, out)
                })
                .collect();
            Outputs::new(default, named)
        };
        let (done_tx, done) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();

        // Sinks first, so everything downstream exists before data flows.
        for s in &config.sinks {
            let name = format!("sinks.{}", s.id);
            let metrics = registry.register(&s.id, Kind::Sink, s.config.type_name());
            let sink = match options.sink_overrides.remove(&s.id) {
                Some(sink) => sink,
                None => sinks::build(&s.config).map_err(|e| BuildError::Component {
                    component: name.clone(),
                    message: e.to_string(),
                })?,
            };
            let rx = inputs
                .get(s.id.as_str())
                .map(|(_, rx)| rx.clone())
                .ok_or_else(|| BuildError::Component {
                    component: name.clone(),
                    message: "no input channel".into(),
                })?;
            let ctx = SinkContext {
                id: s.id.as_str().into(),
                outputs: outputs_of(&s.id, s.config.outputs(), &metrics),
                metrics,
                shutdown: shutdown.clone(),
            };
            threads.push(spawn(&name, done_tx.clone(), move || {
                run_sink(sink, rx, ctx)
            })?);
        }
        for t in &config.transforms {
            let name = format!("transforms.{}", t.id);
            let metrics = registry.register(&t.id, Kind::Transform, t.config.type_name());
            let ctx = TransformContext {
                id: t.id.as_str().into(),
                metrics: metrics.clone(),
                families: registry.families().clone(),
                clock: transforms::Clock::system(),
            };
            let transform =
                transforms::build(&t.config, ctx).map_err(|errors| BuildError::Component {
                    component: name.clone(),
                    message: errors
                        .iter()
                        .map(|e| format!("key `{}`: {}", e.key, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                })?;
            let rx = inputs
                .get(t.id.as_str())
                .map(|(_, rx)| rx.clone())
                .ok_or_else(|| BuildError::Component {
                    component: name.clone(),
                    message: "no input channel".into(),
                })?;
            let outputs = outputs_of(&t.id, t.config.outputs(), &metrics);
            threads.push(spawn(&name, done_tx.clone(), move || {
                run_transform(transform, rx, outputs, metrics)
            })?);
        }
        // Drop the runtime's own copies so channels close when producers end.
        drop(inputs);
        for s in &config.sources {
            let name = format!("sources.{}", s.id);
            let metrics = registry.register(&s.id, Kind::Source, s.config.type_name());
            let source: Box<dyn Source> = match &s.config {
                SourceConfig::File(c) => Box::new(c.build()),
                SourceConfig::Stdin(c) => Box::new(c.build()),
            };
            let ctx = SourceContext {
                id: s.id.as_str().into(),
                output: Output::new(
                    consumers.remove(s.id.as_str()).unwrap_or_default(),
                    metrics.clone(),
                ),
                shutdown: shutdown.clone(),
                metrics,
                batch_max_events: config.runtime.batch_max_events,
                batch_max_bytes: config.runtime.batch_max_bytes.as_usize(),
                once: options.once,
                data_dir: config.data_dir.clone(),
            };
            threads.push(spawn(&name, done_tx.clone(), move || {
                source.run(ctx).map_err(|e| e.to_string())
            })?);
        }
        Ok(Topology {
            threads,
            done,
            registry,
            trigger,
        })
    }

    /// The components' counters.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Asks the sources to stop; the rest drains.
    pub fn stop(&mut self) {
        self.trigger.stop();
    }

    /// Waits for every component to finish. When `stop` delivers (a signal), the
    /// sources are stopped and the pipeline gets `drain_timeout` to drain.
    pub fn wait(mut self, stop: &Receiver<()>, drain_timeout: Duration) -> Outcome {
        let mut running: Vec<String> = self.threads.iter().map(|(n, _)| n.clone()).collect();
        let mut failures = Vec::new();
        let mut deadline: Option<Instant> = None;
        let mut stop_open = true;
        while !running.is_empty() {
            let finished = match deadline {
                Some(d) => match self.done.recv_deadline(d) {
                    Ok(f) => f,
                    Err(_) => {
                        self.trigger.force();
                        return Outcome::TimedOut(running);
                    }
                },
                None if stop_open => crossbeam_channel::select! {
                    recv(self.done) -> f => match f { Ok(f) => f, Err(_) => break },
                    recv(stop) -> msg => {
                        if msg.is_err() { stop_open = false; }
                        else {
                            self.trigger.stop();
                            deadline = Some(Instant::now() + drain_timeout);
                        }
                        continue;
                    }
                },
                None => match self.done.recv() {
                    Ok(f) => f,
                    Err(_) => break,
                },
            };
            running.retain(|n| *n != finished.component);
            if let Err(reason) = finished.result {
                tracing::error!(component = %finished.component, error = %reason, "component failed; stopping the pipeline");
                failures.push(format!("{}: {reason}", finished.component));
                // One failed stage stops the whole pipeline rather than losing data quietly.
                self.trigger.stop();
                if deadline.is_none() {
                    deadline = Some(Instant::now() + drain_timeout);
                }
            }
        }
        for (_, handle) in self.threads.drain(..) {
            let _ = handle.join();
        }
        if failures.is_empty() {
            Outcome::Drained
        } else {
            Outcome::Failed(failures)
        }
    }
}

fn spawn(
    name: &str,
    done: Sender<Finished>,
    body: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(String, JoinHandle<()>), BuildError> {
    let component = name.to_owned();
    let handle = std::thread::Builder::new()
        .name(name.chars().take(15).collect())
        .spawn(move || {
            let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(r) => r,
                Err(panic) => Err(format!(
                    "panicked: {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            };
            let _ = done.send(Finished { component, result });
        })
        .map_err(|error| BuildError::Spawn {
            component: name.to_owned(),
            error,
        })?;
    Ok((name.to_owned(), handle))
}

fn run_transform(
    mut transform: Box<dyn Transform>,
    rx: Receiver<Batch>,
    outputs: Outputs,
    metrics: Arc<ComponentMetrics>,
) -> Result<(), String> {
    for batch in rx.iter() {
        ComponentMetrics::add(&metrics.received_events, batch.events.len() as u64);
        ComponentMetrics::add(&metrics.received_bytes, batch.line_bytes() as u64);
        let discarded = transform
            .process_into(batch, &outputs)
            .map_err(|e| e.to_string())?;
        ComponentMetrics::add(&metrics.discarded_events, discarded);
    }
    Ok(())
}

fn run_sink(mut sink: Box<dyn Sink>, rx: Receiver<Batch>, ctx: SinkContext) -> Result<(), String> {
    let interval = sink.flush_interval();
    let mut next_flush = interval.map(|i| Instant::now() + i);
    loop {
        let received = match next_flush {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(batch) => {
                ComponentMetrics::add(&ctx.metrics.received_events, batch.events.len() as u64);
                ComponentMetrics::add(&ctx.metrics.received_bytes, batch.line_bytes() as u64);
                sink.write(batch, &ctx).map_err(|e| e.to_string())?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return sink.close(&ctx).map_err(|e| e.to_string());
            }
        }
        if let (Some(at), Some(i)) = (next_flush, interval) {
            if Instant::now() >= at {
                sink.flush(&ctx).map_err(|e| e.to_string())?;
                next_flush = Some(Instant::now() + i);
            }
        }
    }
}

/// A listener that never fires, for runs without signal handling.
pub fn no_stop() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::bounded(0)
}

#[doc(hidden)]
pub fn detached_shutdown() -> (ShutdownTrigger, Shutdown) {
    shutdown::pair()
}
