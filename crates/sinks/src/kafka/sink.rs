//! The running Kafka sink: every event becomes one message handed to
//! librdkafka, tagged with its batch; the batch is acknowledged only when every
//! one of its messages has a delivery report — successful, or failed and then
//! sent to the dead-letter output (or counted and logged without one).
//!
//! librdkafka's own queue is unbounded in practice (`queue.buffering.max.*`
//! only makes `send` fail), so the sink keeps its own bound: the bytes handed
//! over and not yet reported stay under `max_in_flight_bytes`, and at the limit
//! `write` waits for reports, which holds the pipeline and the sources back.
//! Delivery reports are served on the sink's own thread (`poll`), so all
//! bookkeeping is single-threaded.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::config::{KafkaSinkConfig, MessageEncoding};
use logagent_core::component::{DEAD_LETTER, Sink, SinkContext, SinkError};
use logagent_core::event::template::Template;
use logagent_core::event::{Batch, FieldPath, Value, encode};
use logagent_core::kafka::connection_properties;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::time::now_ns;

/// Field added to a dead-lettered event: the Kafka error and the topic.
pub const DEAD_LETTER_FIELD: &str = "_dead_letter";

/// Metric names (labeled series under the component's counters).
pub mod names {
    /// Messages by delivery `result` (`ok` or the librdkafka error code name).
    pub const MESSAGES: &str = "kafka_messages_total";
    /// Message value bytes handed to librdkafka.
    pub const BYTES: &str = "kafka_message_bytes_total";
    /// Bytes handed to librdkafka and not yet reported: what `max_in_flight_bytes` bounds.
    pub const IN_FLIGHT_BYTES: &str = "kafka_in_flight_bytes";
    /// Messages sent to the dead-letter output or dropped, by `reason`.
    pub const DEAD_LETTERED: &str = "kafka_dead_lettered_events_total";
    /// Times `write` waited because the in-flight bound was reached.
    pub const BACKPRESSURE_WAITS: &str = "kafka_backpressure_waits_total";
}

/// What the delivery callback tells the sink about one message.
struct Report {
    slot: Box<Slot>,
    error: Option<(String, String)>,
}

/// The delivery opaque of a message: its batch, its place in it and its size.
#[derive(Debug)]
struct Slot {
    batch: u64,
    index: u32,
    bytes: u32,
}

/// The producer's context: delivery reports go to the sink over a channel;
/// librdkafka's log lines and errors go to `tracing`, rate-limited.
struct Context {
    reports: Sender<Report>,
    /// The component id, known from the first call on (for log lines).
    component: std::sync::OnceLock<Arc<str>>,
    log: RateLimiter,
}

impl Context {
    fn id(&self) -> &str {
        self.component.get().map_or("kafka", |c| c)
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
                    tracing::warn!(component = %self.id(), facility = fac, suppressed, "librdkafka: {message}");
                }
            }
            _ => tracing::debug!(component = %self.id(), facility = fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(suppressed) = self.log.check() {
            tracing::warn!(component = %self.id(), error = %error, suppressed, "kafka: {reason}");
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<Slot>;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: Box<Slot>) {
        let error = result.as_ref().err().map(|(e, _)| {
            let code = match e.rdkafka_error_code() {
                Some(c) => format!("{c:?}"),
                None => "error".to_owned(),
            };
            (code, e.to_string())
        });
        // The receiver lives as long as the producer.
        let _ = self.reports.send(Report { slot, error });
    }
}

/// A batch some of whose messages are not reported yet.
struct Pending {
    batch: Batch,
    left: usize,
    failed: Vec<(u32, String, String)>,
}

/// The running Kafka sink.
pub struct KafkaSink {
    producer: BaseProducer<Context>,
    reports: Receiver<Report>,
    topic: Template,
    topic_is_static: bool,
    key: Option<Template>,
    headers: Vec<(String, FieldPath)>,
    encoding: MessageEncoding,
    max_in_flight: usize,
    in_flight: usize,
    next_batch: u64,
    pending: HashMap<u64, Pending>,
    log: RateLimiter,
    buf: Vec<u8>,
    topic_buf: String,
    key_buf: String,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic.as_str())
            .field("in_flight", &self.in_flight)
            .field("pending_batches", &self.pending.len())
            .finish()
    }
}

fn failed(what: &str, message: impl ToString) -> SinkError {
    SinkError::Failed {
        what: what.into(),
        message: message.to_string(),
    }
}

impl KafkaSink {
    /// Builds the producer (reads the SASL password file); connecting happens
    /// in the background, so a broker that is down only delays delivery.
    pub fn new(config: &KafkaSinkConfig) -> Result<KafkaSink, SinkError> {
        let props = connection_properties(
            &config.bootstrap_servers,
            config.tls.as_ref(),
            config.sasl.as_ref(),
            &config.librdkafka_options,
        )
        .map_err(|e| failed("configuring the Kafka producer", e))?;
        let mut cc = ClientConfig::new();
        // The sink's own bound is the real one; librdkafka's queue must never
        // refuse below it (the passthrough options may still change these).
        cc.set(
            "queue.buffering.max.kbytes",
            (config.max_in_flight_bytes.0 / 1024 * 2)
                .clamp(1024, 2_097_151)
                .to_string(),
        )
        .set("queue.buffering.max.messages", "2147483647");
        for (k, v) in props {
            cc.set(k, v);
        }
        cc.set("acks", config.acks.as_str())
            .set("enable.idempotence", config.idempotent.to_string())
            .set("compression.codec", config.compression.as_str())
            .set(
                "message.timeout.ms",
                config.message_timeout.0.as_millis().to_string(),
            )
            .set("linger.ms", config.linger.0.as_millis().to_string());
        let (tx, rx) = crossbeam_channel::unbounded();
        let context = Context {
            reports: tx,
            component: std::sync::OnceLock::new(),
            log: RateLimiter::new(Duration::from_secs(10)),
        };
        let producer: BaseProducer<Context> = cc
            .create_with_context(context)
            .map_err(|e| failed("creating the Kafka producer", e))?;
        let topic = Template::parse(&config.topic, false).map_err(|e| failed("topic", e))?;
        let key = config
            .key
            .as_deref()
            .map(|k| Template::parse(k, false))
            .transpose()
            .map_err(|e| failed("key", e))?;
        let headers = config
            .headers
            .iter()
            .map(|(n, p)| FieldPath::parse(p).map(|p| (n.clone(), p)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed("headers", e))?;
        Ok(KafkaSink {
            producer,
            reports: rx,
            topic_is_static: !topic.is_dynamic(),
            topic,
            key,
            headers,
            encoding: config.encoding,
            max_in_flight: config.max_in_flight_bytes.as_usize(),
            in_flight: 0,
            next_batch: 0,
            pending: HashMap::new(),
            log: RateLimiter::new(Duration::from_secs(5)),
            buf: Vec::new(),
            topic_buf: String::new(),
            key_buf: String::new(),
        })
    }

    fn gauge(&self, ctx: &SinkContext) {
        ctx.metrics
            .labeled
            .gauge(names::IN_FLIGHT_BYTES, &[])
            .store(self.in_flight as u64, Ordering::Relaxed);
    }

    /// Serves delivery reports for up to `timeout` (zero: what is there).
    fn serve(&mut self, ctx: &SinkContext, timeout: Duration) -> Result<(), SinkError> {
        self.producer.poll(timeout);
        while let Ok(r) = self.reports.try_recv() {
            self.settle(r, ctx)?;
        }
        self.gauge(ctx);
        Ok(())
    }

    fn settle(&mut self, r: Report, ctx: &SinkContext) -> Result<(), SinkError> {
        self.in_flight = self.in_flight.saturating_sub(r.slot.bytes as usize);
        let labeled = &ctx.metrics.labeled;
        let Some(p) = self.pending.get_mut(&r.slot.batch) else {
            return Ok(());
        };
        match r.error {
            None => {
                ComponentMetrics::add(&labeled.counter(names::MESSAGES, &[("result", "ok")]), 1);
                ComponentMetrics::add(&ctx.metrics.sent_events, 1);
            }
            Some((code, message)) => {
                ComponentMetrics::add(&labeled.counter(names::MESSAGES, &[("result", &code)]), 1);
                p.failed.push((r.slot.index, code, message));
            }
        }
        p.left -= 1;
        if p.left == 0
            && let Some(p) = self.pending.remove(&r.slot.batch)
        {
            self.finish(p, ctx)?;
        }
        Ok(())
    }

    /// Every message of a batch is reported: failures go to the dead-letter
    /// output; the batch (and its acknowledgement) is released.
    fn finish(&mut self, p: Pending, ctx: &SinkContext) -> Result<(), SinkError> {
        let Pending { batch, failed, .. } = p;
        if failed.is_empty() {
            return Ok(());
        }
        for (_, code, _) in &failed {
            ComponentMetrics::add(
                &ctx.metrics
                    .labeled
                    .counter(names::DEAD_LETTERED, &[("reason", code)]),
                1,
            );
        }
        let output = ctx.outputs.named(DEAD_LETTER).filter(|o| o.is_connected());
        let Some(output) = output else {
            ComponentMetrics::add(&ctx.metrics.discarded_events, failed.len() as u64);
            if let Some(suppressed) = self.log.check() {
                let (_, code, message) = &failed[0];
                tracing::error!(component = %ctx.id, messages = failed.len(), code = %code, error = %message, suppressed,
                    "Kafka did not take messages and nothing reads `{}.{DEAD_LETTER}`; dropped", ctx.id);
            }
            return Ok(());
        };
        if let Some(suppressed) = self.log.check() {
            let (_, code, message) = &failed[0];
            tracing::warn!(component = %ctx.id, messages = failed.len(), code = %code, error = %message, suppressed,
                "Kafka did not take messages; sent to the dead-letter output");
        }
        let field = FieldPath::top(DEAD_LETTER_FIELD);
        let mut dead = Batch::new(batch.stream.clone(), batch.ack.clone(), failed.len());
        dead.members = batch.members.clone();
        for (index, _, _) in &failed {
            if let Some(e) = batch.events.get(*index as usize) {
                dead.events.push(e.clone());
            }
        }
        for (mut ev, (_, code, message)) in dead.iter_mut().zip(&failed) {
            let reason = serde_json::json!({ "type": code, "reason": message });
            let json = serde_json::to_vec(&reason).unwrap_or_else(|_| b"{}".to_vec());
            ev.set(&field, Value::Json(Bytes::from(json)));
        }
        let ack = batch.ack.clone();
        drop(batch);
        output.send(dead).map_err(|_| {
            ack.fail();
            failed_msg("dead-letter output", "its consumer has stopped")
        })
    }

    /// Waits until the in-flight bytes leave room for `bytes` more.
    fn make_room(&mut self, bytes: usize, ctx: &SinkContext) -> Result<(), SinkError> {
        if self.in_flight + bytes <= self.max_in_flight || self.in_flight == 0 {
            return Ok(());
        }
        ComponentMetrics::add(
            &ctx.metrics.labeled.counter(names::BACKPRESSURE_WAITS, &[]),
            1,
        );
        while self.in_flight + bytes > self.max_in_flight && self.in_flight > 0 {
            if ctx.shutdown.is_forced() {
                return Err(self.give_up(ctx));
            }
            self.serve(ctx, Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// The drain time is over: unreported batches are marked undelivered (the
    /// source reads them again after a restart) and the sink stops.
    fn give_up(&mut self, ctx: &SinkContext) -> SinkError {
        let mut events = 0;
        for (_, p) in self.pending.drain() {
            p.batch.ack.fail();
            events += p.left;
        }
        self.producer
            .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        self.gauge(ctx);
        failed_msg(
            "kafka",
            format!(
                "gave up at the end of the drain time with {events} message(s) not yet acknowledged by the brokers; they will be read again"
            ),
        )
    }
}

impl Drop for KafkaSink {
    /// Batches still waiting for delivery reports when the sink goes away
    /// (a fatal error elsewhere) are marked undelivered, so the sources read
    /// them again instead of counting them as written.
    fn drop(&mut self) {
        for (_, p) in self.pending.drain() {
            p.batch.ack.fail();
        }
    }
}

/// Renders the topic of event `i` into `out`, made a legal topic name.
fn render_topic(topic: &Template, is_static: bool, batch: &Batch, i: usize, out: &mut String) {
    out.clear();
    if is_static {
        out.push_str(topic.as_str());
        return;
    }
    let e = &batch.events[i];
    topic.render(e, &batch.members, e.meta.time.unwrap_or_else(now_ns), out);
    if out
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        *out = out
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    }
    out.truncate(249);
}

fn failed_msg(what: &str, message: impl ToString) -> SinkError {
    failed(what, message)
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        if batch.events.is_empty() {
            return Ok(());
        }
        let _ = self
            .producer
            .context()
            .component
            .get_or_init(|| ctx.id.clone());
        let id = self.next_batch;
        self.next_batch += 1;
        let mut sent = 0usize;
        let mut immediate: Vec<(u32, String, String)> = Vec::new();
        // The batch is registered first so reports of its early messages
        // (served while waiting for room) find it; `left` counts what is sent.
        self.pending.insert(
            id,
            Pending {
                batch,
                left: usize::MAX,
                failed: Vec::new(),
            },
        );
        let n = self.pending.get(&id).map_or(0, |p| p.batch.events.len());
        for i in 0..n {
            // Render and encode while the batch is borrowed, then release it
            // to serve reports while waiting for room.
            let (payload, key, headers, time_ms) = {
                let Some(p) = self.pending.get(&id) else {
                    break;
                };
                let batch = &p.batch;
                let e = &batch.events[i];
                self.buf.clear();
                match self.encoding {
                    MessageEncoding::Json => encode::write_json(e, &mut self.buf),
                    MessageEncoding::Text => encode::write_text(e, &mut self.buf),
                }
                let payload = std::mem::take(&mut self.buf);
                let key = self.key.as_ref().map(|k| {
                    self.key_buf.clear();
                    k.render(
                        e,
                        &batch.members,
                        e.meta.time.unwrap_or_else(now_ns),
                        &mut self.key_buf,
                    );
                    self.key_buf.clone()
                });
                let mut headers: Option<OwnedHeaders> = None;
                for (name, path) in &self.headers {
                    if let Some(v) = logagent_core::event::access::get(e, &batch.members, path) {
                        let text = v.text().into_owned();
                        headers = Some(headers.unwrap_or_default().insert(Header {
                            key: name,
                            value: Some(&text),
                        }));
                    }
                }
                (payload, key, headers, e.meta.time.map(|t| t / 1_000_000))
            };
            if let Some(p) = self.pending.get(&id) {
                render_topic(
                    &self.topic,
                    self.topic_is_static,
                    &p.batch,
                    i,
                    &mut self.topic_buf,
                );
            }
            let bytes = payload.len() + key.as_ref().map_or(0, String::len);
            self.make_room(bytes, ctx)?;
            let slot = Box::new(Slot {
                batch: id,
                index: i as u32,
                bytes: bytes.min(u32::MAX as usize) as u32,
            });
            let topic = self.topic_buf.clone();
            let mut record: BaseRecord<'_, str, [u8], Box<Slot>> =
                BaseRecord::with_opaque_to(&topic, slot).payload(&payload[..]);
            if let Some(k) = &key {
                record = record.key(k.as_str());
            }
            if let Some(h) = headers {
                record = record.headers(h);
            }
            if let Some(ms) = time_ms {
                record = record.timestamp(ms);
            }
            let mut record = record;
            loop {
                match self.producer.send(record) {
                    Ok(()) => {
                        self.in_flight += bytes;
                        sent += 1;
                        ComponentMetrics::add(
                            &ctx.metrics.labeled.counter(names::BYTES, &[]),
                            payload.len() as u64,
                        );
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        if ctx.shutdown.is_forced() {
                            return Err(self.give_up(ctx));
                        }
                        self.producer.poll(Duration::from_millis(50));
                        while let Ok(r) = self.reports.try_recv() {
                            self.settle(r, ctx)?;
                        }
                    }
                    Err((e, _)) => {
                        // Refused before it was queued (too large, unknown
                        // partition): settled as a failed delivery.
                        let code = match e.rdkafka_error_code() {
                            Some(c) => format!("{c:?}"),
                            None => "error".to_owned(),
                        };
                        immediate.push((i as u32, code, e.to_string()));
                        break;
                    }
                }
            }
            self.buf = payload;
        }
        let mut finished = None;
        if let Some(p) = self.pending.get_mut(&id) {
            for (_, code, _) in &immediate {
                ComponentMetrics::add(
                    &ctx.metrics
                        .labeled
                        .counter(names::MESSAGES, &[("result", code)]),
                    1,
                );
            }
            p.failed.extend(immediate);
            // Reports already served were subtracted from usize::MAX.
            let served = usize::MAX - p.left;
            p.left = sent - served;
            if p.left == 0 {
                finished = self.pending.remove(&id);
            }
        }
        if let Some(p) = finished {
            self.finish(p, ctx)?;
        }
        self.serve(ctx, Duration::ZERO)
    }

    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.serve(ctx, Duration::ZERO)
    }

    fn close(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let started = Instant::now();
        while !self.pending.is_empty() {
            if ctx.shutdown.is_forced() {
                return Err(self.give_up(ctx));
            }
            self.serve(ctx, Duration::from_millis(100))?;
            if started.elapsed() > Duration::from_secs(10) && self.log.check().is_some() {
                tracing::warn!(component = %ctx.id, batches = self.pending.len(),
                    "still waiting for the brokers to acknowledge messages");
            }
        }
        let _ = self.producer.flush(Duration::from_secs(1));
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::ack::Ack;
    use logagent_core::event::test_batch::json_batch_in;
    use logagent_core::flow::{Output, Outputs};

    fn config(extra: &str) -> KafkaSinkConfig {
        // A port nothing listens on: every message fails after message_timeout.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        toml::from_str(&format!(
            "bootstrap_servers = \"127.0.0.1:{port}\"\ntopic = \"logs-{{{{ service }}}}\"\nmessage_timeout = \"300ms\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn undeliverable_messages_go_to_the_dead_letter_output_before_the_batch_is_acknowledged() {
        let (dead_tx, dead_rx) = crossbeam_channel::unbounded();
        let metrics = Arc::new(ComponentMetrics::default());
        let (_trigger, shutdown) = logagent_core::flow::detached_shutdown();
        let ctx = SinkContext {
            id: "kafka".into(),
            metrics: metrics.clone(),
            shutdown,
            outputs: Outputs::new(
                Output::new(Vec::new(), metrics.clone()),
                vec![(
                    DEAD_LETTER.to_owned(),
                    Output::new(vec![dead_tx], metrics.clone()),
                )],
            ),
        };
        let mut sink = KafkaSink::new(&config("")).unwrap();
        let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Ack>();
        let stream = Arc::new(logagent_core::event::Stream {
            source: "s".into(),
            path: None,
            id: 1,
        });
        let batch = json_batch_in(
            stream,
            logagent_core::event::AckToken::new(1, 2, ack_tx),
            &[r#"{"service":"api","n":1}"#, r#"{"service":"api","n":2}"#],
        );
        sink.write(batch, &ctx).unwrap();
        assert!(
            ack_rx.try_recv().is_err(),
            "not acknowledged before the reports"
        );
        sink.close(&ctx).unwrap();
        let dead = dead_rx.try_recv().expect("a dead-letter batch");
        assert_eq!(dead.events.len(), 2);
        let mut line = Vec::new();
        encode::write_json(&dead.events[0], &mut line);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["n"], 1);
        assert_eq!(v[DEAD_LETTER_FIELD]["type"], "MessageTimedOut", "{v}");
        assert_eq!(metrics.labeled.total(names::DEAD_LETTERED), 2);
        drop(dead);
        assert!(
            ack_rx.try_recv().unwrap().delivered,
            "acknowledged once the dead-letter consumer has them"
        );
    }

    #[test]
    fn the_defaults_and_every_codec_make_a_producer_librdkafka_accepts() {
        for codec in ["none", "gzip", "lz4", "zstd", "snappy"] {
            let c: KafkaSinkConfig = toml::from_str(&format!(
                "bootstrap_servers = \"127.0.0.1:9\"\ntopic = \"t\"\ncompression = \"{codec}\"\n\
                 sasl = {{ mechanism = \"SCRAM-SHA-256\", user = \"u\", password = \"p\" }}"
            ))
            .unwrap();
            assert!(c.check().is_empty(), "{:?}", c.check());
            KafkaSink::new(&c).unwrap_or_else(|e| panic!("{codec}: {e}"));
        }
        let c: KafkaSinkConfig = toml::from_str(
            "bootstrap_servers = \"127.0.0.1:9\"\ntopic = \"t\"\nmessage_timeout = \"1ms\"",
        )
        .unwrap();
        assert_eq!(c.check()[0].key, "message_timeout");
    }

    #[test]
    fn without_a_dead_letter_consumer_failures_are_counted_as_discarded() {
        let metrics = Arc::new(ComponentMetrics::default());
        let (_trigger, shutdown) = logagent_core::flow::detached_shutdown();
        let ctx = SinkContext {
            id: "kafka".into(),
            metrics: metrics.clone(),
            shutdown,
            outputs: Outputs::new(Output::new(Vec::new(), metrics.clone()), Vec::new()),
        };
        let mut sink = KafkaSink::new(&config("encoding = \"text\"")).unwrap();
        sink.write(
            logagent_core::event::test_batch::json_batch(&[r#"{"service":"x y"}"#]),
            &ctx,
        )
        .unwrap();
        sink.close(&ctx).unwrap();
        assert_eq!(metrics.discarded_events.load(Ordering::Relaxed), 1);
        assert_eq!(sink.in_flight, 0);
    }
}
