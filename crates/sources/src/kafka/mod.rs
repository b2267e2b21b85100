//! `type = "kafka"` (source): the aggregator's input. A consumer-group member
//! that turns messages into events, one batch per partition at a time and in
//! offset order, and commits a partition's offset only up to the last batch
//! every sink has acknowledged (at least once, end to end, like the file
//! source's checkpoints).
//!
//! * Offsets: per partition the batches sent, in order, with their end offsets;
//!   an acknowledgement marks one; the committed offset is the end of the
//!   longest acknowledged prefix. `enable.auto.commit` is off.
//! * Rebalance: before partitions are taken away, what was read from them is
//!   given `rebalance_wait` to be acknowledged, then committed synchronously;
//!   what is not yet read into a batch is dropped (the next owner reads it).
//! * Stream identity: each partition is one stream whose id is derived from
//!   topic and partition, and each event's offset is its Kafka offset, so
//!   sinks that derive ids from the origin (Elasticsearch) give a message read
//!   twice — after a crash, by another aggregator — the same id.
//! * Lag: librdkafka's statistics, every 5s, as `kafka_consumer_lag{topic,partition}`.

pub mod config;

pub use config::KafkaSourceConfig;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use config::Decoding;
use logagent_core::KeyError;
use logagent_core::component::{Source, SourceComponent, SourceContext, SourceError};
use logagent_core::event::ack::Ack;
use logagent_core::event::json;
use logagent_core::event::{
    AckToken, Batch, Event, EventMut, KeyFilter, Member, Root, Span, Stream, Value,
};
use logagent_core::flow::{Closed, Output};
use logagent_core::kafka::connection_properties;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Longest time a message waits in a partly filled batch while messages keep coming.
const LINGER: Duration = Duration::from_millis(200);

/// Metric names (labeled series under the component's counters).
pub mod names {
    /// Messages in a partition not yet read (librdkafka's statistics).
    pub const CONSUMER_LAG: &str = "kafka_consumer_lag";
    /// Offset commits by `result` (`ok` / `error`).
    pub const COMMITS: &str = "kafka_offset_commits_total";
    /// Rebalances by `kind` (`assign` / `revoke`).
    pub const REBALANCES: &str = "kafka_rebalances_total";
}

/// One partition's bookkeeping.
#[derive(Debug)]
struct Partition {
    topic: String,
    partition: i32,
    stream: Arc<Stream>,
    /// The batch being filled.
    events: Vec<Event>,
    members: Vec<Member>,
    bytes: usize,
    end: u64,
    /// Batches sent, in order: end offset and whether acknowledged.
    sent: VecDeque<(u64, bool)>,
    /// The offset to commit next (end of the acknowledged prefix).
    ack_to: Option<u64>,
    /// The last offset committed.
    committed: Option<u64>,
    /// A batch came back undelivered: nothing past it is committed until the
    /// partition is read again (after a restart or rebalance).
    stuck: bool,
}

/// What the rebalance callback and the read loop share (both run on the
/// source's thread, inside `poll`; the lock is never contended).
#[derive(Default)]
struct State {
    parts: HashMap<u64, Partition>,
}

/// The consumer's context: rebalances, statistics, logs.
struct Context {
    state: Mutex<State>,
    acks: Receiver<Ack>,
    rebalance_wait: Duration,
    metrics: Arc<ComponentMetrics>,
    component: Arc<str>,
    log: RateLimiter,
}

impl Context {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The stream id of a partition: the same in every aggregator and run.
fn stream_id(topic: &str, partition: i32) -> u64 {
    let mut buf = topic.as_bytes().to_vec();
    buf.push(0xff);
    buf.extend_from_slice(&partition.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

impl State {
    /// Applies one acknowledgement.
    fn ack(&mut self, ack: Ack, log: &RateLimiter, component: &str) {
        let Some(p) = self.parts.get_mut(&ack.stream) else {
            return;
        };
        let Some(entry) = p.sent.iter_mut().find(|(end, _)| *end == ack.end_offset) else {
            return;
        };
        if !ack.delivered {
            if !p.stuck && log.check().is_some() {
                tracing::error!(component, topic = %p.topic, partition = p.partition, offset = ack.end_offset,
                    "a batch was not delivered; its partition's offset is held there and it is read again after a restart or rebalance");
            }
            p.stuck = true;
        }
        entry.1 = true;
        if p.stuck {
            return;
        }
        while let Some(&(end, true)) = p.sent.front() {
            p.ack_to = Some(end);
            p.sent.pop_front();
        }
    }

    /// The acknowledged offsets not committed yet (all partitions, or those in `only`).
    fn due(&self, only: Option<&[(String, i32)]>) -> Vec<(u64, String, i32, u64)> {
        self.parts
            .iter()
            .filter(|(_, p)| {
                only.is_none_or(|o| o.iter().any(|(t, n)| *t == p.topic && *n == p.partition))
            })
            .filter_map(|(id, p)| match p.ack_to {
                Some(to) if p.committed != Some(to) => {
                    Some((*id, p.topic.clone(), p.partition, to))
                }
                _ => None,
            })
            .collect()
    }
}

/// Commits `due` synchronously or not; marks them committed on success.
fn commit(
    consumer: &BaseConsumer<Context>,
    state: &mut State,
    due: Vec<(u64, String, i32, u64)>,
    mode: CommitMode,
    metrics: &ComponentMetrics,
    log: &RateLimiter,
    component: &str,
) {
    if due.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (_, t, p, to) in &due {
        if tpl
            .add_partition_offset(t, *p, Offset::Offset(*to as i64))
            .is_err()
        {
            return;
        }
    }
    match consumer.commit(&tpl, mode) {
        Ok(()) => {
            ComponentMetrics::add(
                &metrics.labeled.counter(names::COMMITS, &[("result", "ok")]),
                1,
            );
            for (id, _, _, to) in due {
                if let Some(p) = state.parts.get_mut(&id) {
                    p.committed = Some(to);
                }
            }
        }
        Err(e) => {
            ComponentMetrics::add(
                &metrics
                    .labeled
                    .counter(names::COMMITS, &[("result", "error")]),
                1,
            );
            if let Some(suppressed) = log.check() {
                tracing::warn!(component, error = %e, suppressed, "committing offsets failed; retrying with the next commit");
            }
        }
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                if let Some(suppressed) = self.log.check() {
                    tracing::warn!(component = %self.component, facility = fac, suppressed, "librdkafka: {message}");
                }
            }
            _ => {
                tracing::debug!(component = %self.component, facility = fac, "librdkafka: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(suppressed) = self.log.check() {
            tracing::warn!(component = %self.component, error = %error, suppressed, "kafka: {reason}");
        }
    }

    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (n, p) in &t.partitions {
                if *n < 0 || p.consumer_lag < 0 {
                    continue;
                }
                self.metrics
                    .labeled
                    .gauge(
                        names::CONSUMER_LAG,
                        &[("topic", topic), ("partition", &n.to_string())],
                    )
                    .store(p.consumer_lag as u64, Ordering::Relaxed);
            }
        }
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        ComponentMetrics::add(
            &self
                .metrics
                .labeled
                .counter(names::REBALANCES, &[("kind", "revoke")]),
            1,
        );
        let revoked: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let mut state = self.state();
        // What is not in a batch yet is left to the next owner.
        for p in state.parts.values_mut() {
            if revoked
                .iter()
                .any(|(t, n)| *t == p.topic && *n == p.partition)
            {
                p.events.clear();
                p.members.clear();
                p.bytes = 0;
            }
        }
        let waiting = |s: &State| {
            s.parts.values().any(|p| {
                !p.stuck
                    && !p.sent.is_empty()
                    && revoked
                        .iter()
                        .any(|(t, n)| *t == p.topic && *n == p.partition)
            })
        };
        let until = Instant::now() + self.rebalance_wait;
        while waiting(&state) {
            let now = Instant::now();
            if now >= until {
                tracing::warn!(component = %self.component, "rebalance: not every batch of the revoked partitions was acknowledged in time; the new owner reads them again");
                break;
            }
            match self
                .acks
                .recv_timeout((until - now).min(Duration::from_millis(100)))
            {
                Ok(a) => state.ack(a, &self.log, &self.component),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        let due = state.due(Some(&revoked));
        commit(
            consumer,
            &mut state,
            due,
            CommitMode::Sync,
            &self.metrics,
            &self.log,
            &self.component,
        );
        state.parts.retain(|_, p| {
            !revoked
                .iter()
                .any(|(t, n)| *t == p.topic && *n == p.partition)
        });
        tracing::info!(component = %self.component, partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                ComponentMetrics::add(
                    &self
                        .metrics
                        .labeled
                        .counter(names::REBALANCES, &[("kind", "assign")]),
                    1,
                );
                let parts: Vec<String> = tpl
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                tracing::info!(component = %self.component, partitions = ?parts, "partitions assigned");
            }
            Rebalance::Error(e) => {
                tracing::warn!(component = %self.component, error = %e, "rebalance failed")
            }
            Rebalance::Revoke(_) => {}
        }
    }
}

/// The running Kafka source.
#[derive(Debug)]
pub struct KafkaSource {
    config: KafkaSourceConfig,
}

impl SourceComponent for KafkaSourceConfig {
    fn check(&self) -> Vec<KeyError> {
        KafkaSourceConfig::check(self)
    }

    fn build(&self) -> Box<dyn Source> {
        Box::new(KafkaSource {
            config: self.clone(),
        })
    }
}

fn io_error(what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::Io {
        what: what.to_owned(),
        error: std::io::Error::other(e.to_string()),
    }
}

impl Source for KafkaSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let c = &self.config;
        let props = connection_properties(
            &c.bootstrap_servers,
            c.tls.as_ref(),
            c.sasl.as_ref(),
            &c.librdkafka_options,
        )
        .map_err(|e| io_error("kafka (configuring the consumer)", e))?;
        let mut cc = ClientConfig::new();
        cc.set(
            "queued.max.messages.kbytes",
            (c.max_prefetch_bytes.0 / 1024)
                .clamp(1024, 2_097_151)
                .to_string(),
        )
        .set(
            "fetch.message.max.bytes",
            (c.max_message_bytes.0.min(1 << 30) as usize)
                .max(1 << 20)
                .to_string(),
        );
        for (k, v) in props {
            cc.set(k, v);
        }
        cc.set("group.id", &c.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match c.auto_offset_reset {
                    config::OffsetReset::Earliest => "earliest",
                    config::OffsetReset::Latest => "latest",
                },
            )
            .set(
                "session.timeout.ms",
                c.session_timeout.0.as_millis().to_string(),
            )
            .set("statistics.interval.ms", "5000");
        let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Ack>();
        let log = RateLimiter::new(Duration::from_secs(5));
        let context = Context {
            state: Mutex::new(State::default()),
            acks: ack_rx.clone(),
            rebalance_wait: c.rebalance_wait.0,
            metrics: ctx.metrics.clone(),
            component: ctx.id.clone(),
            log: RateLimiter::new(Duration::from_secs(10)),
        };
        let consumer: BaseConsumer<Context> = cc
            .create_with_context(context)
            .map_err(|e| io_error("kafka (creating the consumer)", e))?;
        let subscription = c.subscription();
        let topics: Vec<&str> = subscription.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| io_error("kafka (subscribing)", e))?;
        tracing::info!(component = %ctx.id, topics = ?subscription, group = %c.group_id, "kafka source started");

        let reader = Reader {
            decoding: c.decoding,
            field: Bytes::from(c.metadata_field.clone().into_bytes()),
            max_message: c.max_message_bytes.as_usize(),
            max_events: ctx.batch_max_events.max(1),
            max_bytes: ctx.batch_max_bytes.max(1),
            source: ctx.id.clone(),
            ack_tx,
            log: RateLimiter::new(Duration::from_secs(5)),
        };
        let commit_every = c.commit_interval.0;
        let mut next_commit = Instant::now() + commit_every;
        let mut pending = false;
        let mut last_flush = Instant::now();
        let result: Result<(), Closed> = (|| {
            loop {
                if ctx.shutdown.is_stopping() {
                    break;
                }
                let timeout = if pending {
                    Duration::ZERO
                } else {
                    Duration::from_millis(100)
                };
                match consumer.poll(timeout) {
                    Some(Ok(m)) => {
                        pending = true;
                        let mut state = consumer.context().state();
                        reader.add(&mut state, &m, &ctx)?;
                        // A steady stream never polls empty: partly filled
                        // batches still go on within LINGER.
                        if last_flush.elapsed() >= LINGER {
                            for p in state.parts.values_mut() {
                                reader.flush(p, &ctx.output)?;
                            }
                            last_flush = Instant::now();
                        }
                    }
                    Some(Err(e)) => {
                        if let Some(suppressed) = log.check() {
                            tracing::warn!(component = %ctx.id, error = %e, suppressed, "kafka: reading failed; retrying");
                        }
                    }
                    None => {
                        if pending {
                            let mut state = consumer.context().state();
                            for p in state.parts.values_mut() {
                                reader.flush(p, &ctx.output)?;
                            }
                            pending = false;
                            last_flush = Instant::now();
                        }
                    }
                }
                let mut state = consumer.context().state();
                for a in ack_rx.try_iter() {
                    state.ack(a, &log, &ctx.id);
                }
                if Instant::now() >= next_commit {
                    let due = state.due(None);
                    commit(
                        &consumer,
                        &mut state,
                        due,
                        CommitMode::Async,
                        &ctx.metrics,
                        &log,
                        &ctx.id,
                    );
                    next_commit = Instant::now() + commit_every;
                }
            }
            let mut state = consumer.context().state();
            for p in state.parts.values_mut() {
                reader.flush(p, &ctx.output)?;
            }
            Ok(())
        })();
        // The input is over: let the sinks finish what was sent, then commit
        // what they acknowledged before leaving the group.
        let SourceContext {
            output,
            shutdown,
            metrics,
            id,
            ..
        } = ctx;
        drop(output);
        drop(reader);
        loop {
            let mut state = consumer.context().state();
            for a in ack_rx.try_iter() {
                state.ack(a, &log, &id);
            }
            let waiting = state.parts.values().any(|p| !p.stuck && !p.sent.is_empty());
            if !waiting || shutdown.is_forced() {
                let due = state.due(None);
                commit(
                    &consumer,
                    &mut state,
                    due,
                    CommitMode::Sync,
                    &metrics,
                    &log,
                    &id,
                );
                break;
            }
            drop(state);
            if let Ok(a) = ack_rx.recv_timeout(Duration::from_millis(100)) {
                consumer.context().state().ack(a, &log, &id);
            }
        }
        consumer.unsubscribe();
        result.map_err(SourceError::from)
    }
}

/// Turns messages into events and batches.
struct Reader {
    decoding: Decoding,
    field: Bytes,
    max_message: usize,
    max_events: usize,
    max_bytes: usize,
    source: Arc<str>,
    ack_tx: crossbeam_channel::Sender<Ack>,
    log: RateLimiter,
}

impl Reader {
    fn add(
        &self,
        state: &mut State,
        m: &BorrowedMessage<'_>,
        ctx: &SourceContext,
    ) -> Result<(), Closed> {
        let id = stream_id(m.topic(), m.partition());
        let p = state.parts.entry(id).or_insert_with(|| Partition {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            stream: Arc::new(Stream {
                source: self.source.clone(),
                path: Some(PathBuf::from(format!(
                    "kafka/{}/{}",
                    m.topic(),
                    m.partition()
                ))),
                id,
            }),
            events: Vec::new(),
            members: Vec::new(),
            bytes: 0,
            end: 0,
            sent: VecDeque::new(),
            ack_to: None,
            committed: None,
            stuck: false,
        });
        let payload = m.payload().unwrap_or_default();
        let offset = m.offset().max(0) as u64;
        if payload.len() > self.max_message {
            ComponentMetrics::add(&ctx.metrics.discarded_events, 1);
            if let Some(suppressed) = self.log.check() {
                tracing::warn!(component = %ctx.id, topic = m.topic(), partition = m.partition(), offset,
                    bytes = payload.len(), suppressed, "message over max_message_bytes; dropped");
            }
            return Ok(());
        }
        if !p.events.is_empty() && p.bytes + payload.len() > self.max_bytes {
            self.flush(p, &ctx.output)?;
        }
        ComponentMetrics::add(&ctx.metrics.received_events, 1);
        ComponentMetrics::add(&ctx.metrics.received_bytes, payload.len() as u64);
        let mut event = Event::new(Bytes::copy_from_slice(payload), offset);
        event.meta.time = m
            .timestamp()
            .to_millis()
            .map(|ms| ms.saturating_mul(1_000_000));
        if self.decoding == Decoding::Json && payload.first() == Some(&b'{') {
            let start = p.members.len();
            match json::scan_object_summarized(&event.line, json::MAX_DEPTH, &mut p.members) {
                Ok((object, summary)) => {
                    event.meta.keys = KeyFilter::from_summary(summary);
                    event.root = Root::Json {
                        object,
                        members: Span::new(start, p.members.len()),
                    };
                }
                Err(_) => p.members.truncate(start),
            }
        }
        let meta = metadata(m, offset);
        EventMut {
            event: &mut event,
            members: &p.members,
        }
        .set_key(&self.field, Value::Json(Bytes::from(meta)));
        p.bytes += event.line.len();
        p.end = offset + 1;
        p.events.push(event);
        if p.events.len() >= self.max_events {
            self.flush(p, &ctx.output)?;
        }
        Ok(())
    }

    /// Sends the partition's batch, remembering its end offset.
    fn flush(&self, p: &mut Partition, out: &Output) -> Result<(), Closed> {
        if p.events.is_empty() {
            return Ok(());
        }
        let batch = Batch {
            events: std::mem::take(&mut p.events).into(),
            members: std::mem::take(&mut p.members).into(),
            stream: p.stream.clone(),
            ack: AckToken::new(p.stream.id, p.end, self.ack_tx.clone()),
        };
        p.bytes = 0;
        p.sent.push_back((p.end, false));
        out.send(batch)
    }
}

/// The message's origin as a JSON object: topic, partition, offset, key,
/// timestamp (ms) and headers (values as strings, lossy UTF-8).
fn metadata(m: &BorrowedMessage<'_>, offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"topic\":");
    json::write_str(&mut out, m.topic().as_bytes());
    out.extend_from_slice(
        format!(",\"partition\":{},\"offset\":{offset}", m.partition()).as_bytes(),
    );
    if let Some(k) = m.key() {
        out.extend_from_slice(b",\"key\":");
        json::write_str(&mut out, k);
    }
    if let Some(ms) = m.timestamp().to_millis() {
        out.extend_from_slice(format!(",\"timestamp\":{ms}").as_bytes());
    }
    if let Some(h) = m.headers() {
        out.extend_from_slice(b",\"headers\":{");
        for (i, hd) in h.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(&mut out, hd.key.as_bytes());
            out.push(b':');
            match hd.value {
                Some(v) => json::write_str(&mut out, v),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(sent: &[u64]) -> (State, u64) {
        let id = stream_id("logs", 2);
        let mut s = State::default();
        s.parts.insert(
            id,
            Partition {
                topic: "logs".into(),
                partition: 2,
                stream: Arc::new(Stream {
                    source: "k".into(),
                    path: None,
                    id,
                }),
                events: Vec::new(),
                members: Vec::new(),
                bytes: 0,
                end: 0,
                sent: sent.iter().map(|&e| (e, false)).collect(),
                ack_to: None,
                committed: None,
                stuck: false,
            },
        );
        (s, id)
    }

    fn ack(stream: u64, end_offset: u64, delivered: bool) -> Ack {
        Ack {
            stream,
            end_offset,
            delivered,
        }
    }

    #[test]
    fn the_consumer_librdkafka_accepts_starts_and_stops_on_request() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config: KafkaSourceConfig = toml::from_str(&format!(
            "bootstrap_servers = \"127.0.0.1:{port}\"\ngroup_id = \"g\"\ntopic_pattern = \"^logs-.*\"\n\
             sasl = {{ mechanism = \"SCRAM-SHA-512\", user = \"u\", password = \"p\" }}"
        ))
        .unwrap();
        assert!(config.check().is_empty(), "{:?}", config.check());
        let metrics = Arc::new(ComponentMetrics::default());
        let (mut trigger, shutdown) = logagent_core::flow::detached_shutdown();
        let ctx = SourceContext {
            id: "kafka".into(),
            output: Output::new(Vec::new(), metrics.clone()),
            shutdown,
            metrics,
            batch_max_events: 100,
            batch_max_bytes: 1 << 20,
            once: false,
            data_dir: std::env::temp_dir(),
        };
        let source = SourceComponent::build(&config);
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let _ = done_tx.send(source.run(ctx).map_err(|e| e.to_string()));
        });
        trigger.stop();
        let result = done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the source stops when asked");
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn only_the_acknowledged_prefix_is_committed() {
        let log = RateLimiter::default();
        let (mut s, id) = state_with(&[10, 20, 30]);
        s.ack(ack(id, 20, true), &log, "k");
        assert_eq!(s.due(None), [], "batch 10 is not acknowledged yet");
        s.ack(ack(id, 10, true), &log, "k");
        assert_eq!(s.due(None), [(id, "logs".to_owned(), 2, 20)]);
        s.ack(ack(id, 30, true), &log, "k");
        assert_eq!(s.due(None)[0].3, 30);
        assert!(s.parts[&id].sent.is_empty());
        assert_eq!(s.due(Some(&[("other".to_owned(), 2)])), []);
    }

    #[test]
    fn an_undelivered_batch_holds_the_offset_there() {
        let log = RateLimiter::default();
        let (mut s, id) = state_with(&[10, 20, 30]);
        s.ack(ack(id, 10, true), &log, "k");
        s.ack(ack(id, 20, false), &log, "k");
        s.ack(ack(id, 30, true), &log, "k");
        assert_eq!(s.due(None)[0].3, 10, "nothing past the undelivered batch");
        // Acknowledgements of another stream or an unknown batch change nothing.
        s.ack(ack(id ^ 1, 30, true), &log, "k");
        s.ack(ack(id, 25, true), &log, "k");
        assert_eq!(s.due(None)[0].3, 10);
        assert_ne!(stream_id("logs", 1), stream_id("logs", 2));
        assert_eq!(
            stream_id("logs", 2),
            id,
            "the same in every run and aggregator"
        );
    }
}
