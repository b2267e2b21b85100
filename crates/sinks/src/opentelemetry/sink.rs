//! The running OpenTelemetry sink: renders each event's resource, encodes
//! its record into the request being filled (grouped per resource), and
//! keeps at most `concurrency` export requests in flight.
//!
//! It runs on the sink's own thread and owns a small tokio runtime (one
//! worker) for the HTTP work; gzip runs on that runtime's blocking pool.
//! When a request must go out and the in-flight limit is reached, `write`
//! waits — the pipeline's bounded channels carry that wait back to the
//! source. A batch's acknowledgement is held by every request that has some
//! of its events, and released when the server answered: 2xx (records it
//! reports rejected in a partial success are counted), or a status OTLP says
//! not to retry (the records are counted as dropped and logged). Retryable
//! failures are retried until they succeed or the drain time at shutdown ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::client::{BuildError, shared};
use super::config::OpenTelemetrySinkConfig;
use super::export::{self, ExportResult, Shared};
use super::metrics::{OtlpMetrics, RecordOutcome};
use super::record::RecordEncoder;
use super::request::{self, Pending};
use logagent_core::component::{Sink, SinkContext, SinkError};
use logagent_core::event::level::LevelReader;
use logagent_core::event::template::Template;
use logagent_core::event::{AckToken, Batch, Event, Member};
use logagent_core::telemetry::labeled::Labeled;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::time::now_ns;

/// Where a resource attribute's value comes from.
#[derive(Debug)]
enum ResourceValue {
    /// The same for every event.
    Static(String),
    /// Rendered per event.
    Template(Template),
}

/// Marks a resource attribute whose field was missing in the key.
const MISSING: char = '\u{1}';
/// Separates the values in a resource key.
const SEPARATOR: char = '\u{0}';

/// A request on its way, and what to release when it ends.
#[derive(Debug)]
struct InFlight {
    acks: Vec<AckToken>,
    records: u64,
    uncompressed: u64,
    abort: tokio::task::AbortHandle,
}

/// A finished export, reported by its task.
#[derive(Debug)]
struct Done {
    slot: usize,
    result: ExportResult,
}

/// The running sink (see the module docs).
pub struct OpenTelemetrySink {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    encoder: RecordEncoder,
    resource: Vec<(Box<str>, ResourceValue)>,
    dynamic_resource: bool,
    res_key: String,
    res_buf: String,
    pending: Pending,
    scope: Vec<u8>,
    max_bytes: usize,
    max_events: usize,
    timeout: Duration,
    concurrency: usize,
    in_flight: Vec<Option<InFlight>>,
    n_in_flight: usize,
    batch_seq: u64,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    metrics: Arc<OtlpMetrics>,
    healthcheck: bool,
    started: bool,
    drop_log: RateLimiter,
    partial_log: RateLimiter,
    record: Vec<u8>,
}

impl std::fmt::Debug for OpenTelemetrySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTelemetrySink")
            .field(
                "urls",
                &self
                    .shared
                    .urls
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("pending", &self.pending.events)
            .field("in_flight", &self.n_in_flight)
            .finish()
    }
}

/// This machine's host name, for `host.name`.
fn host_name() -> Option<String> {
    match hostname::get() {
        Ok(h) => Some(h.to_string_lossy().into_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the host name; host.name is left out of the OTLP resource");
            None
        }
    }
}

impl OpenTelemetrySinkConfig {
    /// Builds the sink: compiles templates, reads secret and TLS files, starts
    /// its runtime. Nothing is sent until data arrives (the health check
    /// starts with the first call from the pipeline).
    pub fn build(&self) -> Result<OpenTelemetrySink, BuildError> {
        if let Some(e) = self.check().into_iter().next() {
            return Err(e.into());
        }
        let mut attrs: BTreeMap<&str, ResourceValue> = BTreeMap::new();
        let mut removed = Vec::new();
        for (name, value) in &self.resource {
            let t = Template::parse(value, false).map_err(|e| BuildError::Key {
                key: format!("resource.{name}"),
                message: e.to_string(),
            })?;
            let v = if t.is_dynamic() {
                if self.remove_resource_fields {
                    removed.extend(OpenTelemetrySinkConfig::template_top_fields(value));
                }
                ResourceValue::Template(t)
            } else {
                ResourceValue::Static(clean(value))
            };
            attrs.insert(name.as_str(), v);
        }
        let host = if self.add_host_name && !attrs.contains_key("host.name") {
            host_name()
        } else {
            None
        };
        if let Some(h) = host {
            attrs.insert("host.name", ResourceValue::Static(clean(&h)));
        }
        let resource: Vec<(Box<str>, ResourceValue)> =
            attrs.into_iter().map(|(k, v)| (k.into(), v)).collect();
        let dynamic_resource = resource
            .iter()
            .any(|(_, v)| matches!(v, ResourceValue::Template(_)));
        let level = LevelReader::new(&self.level_field, self.level_pattern.as_deref()).map_err(
            |(k, message)| BuildError::Key {
                key: if k == "field" {
                    "level_field"
                } else {
                    "level_pattern"
                }
                .into(),
                message,
            },
        )?;
        let encoder = RecordEncoder::new(
            self.encoding,
            &self.message_field,
            level,
            &self.level_field,
            &self.trace_id_field,
            &self.span_id_field,
            removed,
        );
        // Counted in a registry of its own until the pipeline hands over the
        // component's (first call of `write` or `flush`).
        let metrics = Arc::new(OtlpMetrics::new(&Labeled::default()));
        let shared = shared(self, metrics.clone())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(self.concurrency.max(2))
            .thread_name("otlp-io")
            .enable_all()
            .build()
            .map_err(|e| BuildError::Setup(format!("starting the I/O runtime: {e}")))?;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut sink = OpenTelemetrySink {
            rt,
            shared: Arc::new(shared),
            encoder,
            resource,
            dynamic_resource,
            res_key: String::new(),
            res_buf: String::new(),
            pending: Pending::new(self.encoding),
            scope: request::scope(self.encoding),
            max_bytes: self.batch.max_bytes.as_usize(),
            max_events: self.batch.max_events,
            timeout: self.batch.timeout.0,
            concurrency: self.concurrency,
            in_flight: Vec::new(),
            n_in_flight: 0,
            batch_seq: 0,
            done_tx,
            done_rx,
            metrics,
            healthcheck: self.healthcheck,
            started: false,
            drop_log: RateLimiter::default(),
            partial_log: RateLimiter::default(),
            record: Vec::new(),
        };
        if !sink.dynamic_resource {
            sink.render_resource(&Event::new(bytes::Bytes::new(), 0), &[], 0);
        }
        Ok(sink)
    }
}

/// A resource value without the characters the resource key uses.
fn clean(s: &str) -> String {
    s.replace([SEPARATOR, MISSING], "\u{FFFD}")
}

impl OpenTelemetrySink {
    /// The sink's counters: once the pipeline has called it, the handles into
    /// the component's labeled series (`ctx.metrics.labeled`).
    pub fn metrics(&self) -> Arc<OtlpMetrics> {
        self.metrics.clone()
    }

    /// First call from the pipeline: register counters, start the health check.
    fn start(&mut self, ctx: &SinkContext) {
        if self.started {
            return;
        }
        self.started = true;
        self.metrics = Arc::new(OtlpMetrics::new(&ctx.metrics.labeled));
        // No export task exists yet, so the shared state is not shared yet.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.id = ctx.id.clone();
            shared.metrics = self.metrics.clone();
        }
        if self.healthcheck {
            self.rt.spawn(export::health_loop(self.shared.clone()));
        }
    }

    /// Renders the resource of `event` into `res_key`: each attribute's value
    /// (or a mark when its field is missing), separated.
    fn render_resource(&mut self, event: &Event, members: &[Member], now: i64) {
        self.res_key.clear();
        for (_, value) in &self.resource {
            match value {
                ResourceValue::Static(v) => self.res_key.push_str(v),
                ResourceValue::Template(t) => {
                    self.res_buf.clear();
                    if t.render(event, members, now, &mut self.res_buf) {
                        self.res_key.push(MISSING);
                    } else {
                        self.res_key.extend(self.res_buf.chars().map(|c| {
                            if c == SEPARATOR || c == MISSING {
                                '\u{FFFD}'
                            } else {
                                c
                            }
                        }));
                    }
                }
            }
            self.res_key.push(SEPARATOR);
        }
    }

    /// The attributes of the resource in `key`.
    fn attrs_of(resource: &[(Box<str>, ResourceValue)], key: &str) -> Vec<(Box<str>, String)> {
        resource
            .iter()
            .zip(key.split(SEPARATOR))
            .filter(|(_, v)| !v.starts_with(MISSING))
            .map(|((name, _), v)| (name.clone(), v.to_owned()))
            .collect()
    }

    /// Adds one event to the request being filled, sending that request first
    /// when the event would not fit.
    fn add_event(
        &mut self,
        event: &Event,
        members: &[Member],
        ack: &AckToken,
        now: i64,
        ctx: &SinkContext,
    ) -> Result<(), SinkError> {
        if self.dynamic_resource {
            self.render_resource(event, members, now);
        }
        self.record.clear();
        self.encoder.encode(event, members, now, &mut self.record);
        let framed = self.record.len() + 6;
        if !self.pending.is_empty()
            && (self.pending.events >= self.max_events
                || self.pending.bytes + framed > self.max_bytes)
        {
            self.dispatch(ctx)?;
        }
        let resource = &self.resource;
        let key = &self.res_key;
        let g = self
            .pending
            .group(key, || OpenTelemetrySink::attrs_of(resource, key));
        self.pending.push(g, &self.record);
        if self.pending.last_batch != self.batch_seq {
            self.pending.acks.push(ack.clone());
            self.pending.last_batch = self.batch_seq;
        }
        Ok(())
    }

    /// Seals the request being filled and starts exporting it, after waiting
    /// for an in-flight slot.
    fn dispatch(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        while self.n_in_flight >= self.concurrency {
            self.wait_one(ctx)?;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        self.pending.seal(&self.scope, &mut body);
        let uncompressed = body.len() as u64;
        let records = self.pending.events as u64;
        let acks = std::mem::take(&mut self.pending.acks);
        self.pending.reset();
        let slot = match self.in_flight.iter().position(Option::is_none) {
            Some(s) => s,
            None => {
                self.in_flight.push(None);
                self.in_flight.len() - 1
            }
        };
        let shared = self.shared.clone();
        let tx = self.done_tx.clone();
        let handle = self.rt.spawn(async move {
            let result = export::export(shared, body).await;
            let _ = tx.send(Done { slot, result });
        });
        self.in_flight[slot] = Some(InFlight {
            acks,
            records,
            uncompressed,
            abort: handle.abort_handle(),
        });
        self.n_in_flight += 1;
        self.metrics
            .in_flight
            .store(self.n_in_flight as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for one request to finish, giving up everything once the drain
    /// time at shutdown is over.
    fn wait_one(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        loop {
            if ctx.shutdown.is_forced() {
                return Err(self.give_up(ctx));
            }
            let rx = &mut self.done_rx;
            let got = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
            });
            if let Ok(Some(done)) = got {
                self.complete(done, ctx);
                return Ok(());
            }
        }
    }

    /// Takes the results of finished requests without waiting.
    fn poll_done(&mut self, ctx: &SinkContext) {
        while let Ok(done) = self.done_rx.try_recv() {
            self.complete(done, ctx);
        }
    }

    fn complete(&mut self, done: Done, ctx: &SinkContext) {
        let Some(f) = self.in_flight.get_mut(done.slot).and_then(Option::take) else {
            return;
        };
        self.n_in_flight -= 1;
        self.metrics
            .in_flight
            .store(self.n_in_flight as u64, Ordering::Relaxed);
        let m = &self.metrics;
        match done.result {
            ExportResult::Delivered {
                body_bytes,
                rejected,
                message,
            } => {
                let rejected = rejected.min(f.records);
                let sent = f.records - rejected;
                m.records_add(RecordOutcome::Sent, sent);
                m.records_add(RecordOutcome::Rejected, rejected);
                m.sent_bytes.fetch_add(body_bytes, Ordering::Relaxed);
                m.uncompressed_bytes
                    .fetch_add(f.uncompressed, Ordering::Relaxed);
                ComponentMetrics::add(&ctx.metrics.sent_events, sent);
                ComponentMetrics::add(&ctx.metrics.sent_bytes, body_bytes);
                if rejected > 0 {
                    ComponentMetrics::add(&ctx.metrics.discarded_events, rejected);
                    ComponentMetrics::add(&ctx.metrics.errors, 1);
                    if let Some(suppressed) = self.partial_log.check() {
                        tracing::warn!(component = %ctx.id, records = f.records, rejected, reason = %message, suppressed,
                            "OTLP server rejected records of an export (partial success); not retrying");
                    }
                } else if !message.is_empty()
                    && let Some(suppressed) = self.partial_log.check()
                {
                    tracing::warn!(component = %ctx.id, warning = %message, suppressed, "OTLP server accepted an export with a warning");
                }
            }
            ExportResult::Dropped { status, reason } => {
                m.records_add(RecordOutcome::Dropped, f.records);
                ComponentMetrics::add(&ctx.metrics.discarded_events, f.records);
                ComponentMetrics::add(&ctx.metrics.errors, 1);
                if let Some(suppressed) = self.drop_log.check() {
                    tracing::warn!(component = %ctx.id, status, records = f.records, reason = %reason, suppressed,
                        "OTLP server refused an export with a status not to retry; its records are dropped");
                }
            }
        }
        // Dropping the tokens releases the batches' acknowledgements.
        drop(f.acks);
    }

    /// Drain time is over: abort what is in flight, report every unsent batch
    /// as undelivered, and count the records.
    fn give_up(&mut self, ctx: &SinkContext) -> SinkError {
        let mut lost = 0u64;
        for f in self.in_flight.iter_mut().filter_map(Option::take) {
            f.abort.abort();
            lost += f.records;
            f.acks.iter().for_each(AckToken::fail);
        }
        if !self.pending.is_empty() {
            lost += self.pending.events as u64;
            self.pending.acks.iter().for_each(AckToken::fail);
            self.pending.reset();
        }
        self.n_in_flight = 0;
        self.metrics.in_flight.store(0, Ordering::Relaxed);
        self.metrics.records_add(RecordOutcome::GivenUp, lost);
        ComponentMetrics::add(&ctx.metrics.discarded_events, lost);
        tracing::error!(component = %ctx.id, records = lost, "drain time over: gave up on records the OTLP server has not taken; their lines are read again on restart");
        SinkError::Failed {
            what: "exporting to OTLP".into(),
            message: format!("gave up at shutdown with {lost} records not accepted"),
        }
    }
}

impl Sink for OpenTelemetrySink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.poll_done(ctx);
        self.batch_seq += 1;
        let now = now_ns();
        for event in &batch.events {
            self.add_event(event, &batch.members, &batch.ack, now, ctx)?;
        }
        // The requests holding this batch's events hold clones of its token;
        // the original goes now.
        Ok(())
    }

    /// Sends the request being filled (waiting only when the in-flight limit
    /// is reached); answers are taken as they come.
    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.poll_done(ctx);
        self.dispatch(ctx)
    }

    /// The input has ended: send everything and wait until the server has
    /// taken it (or, after the drain time, give up).
    fn close(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.flush(ctx)?;
        while self.n_in_flight > 0 {
            self.wait_one(ctx)?;
        }
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}

impl Drop for OpenTelemetrySink {
    fn drop(&mut self) {
        // Anything still held was not confirmed by the server: report it
        // undelivered rather than let the dropped tokens count as written.
        for f in self.in_flight.iter_mut().filter_map(Option::take) {
            f.abort.abort();
            f.acks.iter().for_each(AckToken::fail);
        }
        self.pending.acks.iter().for_each(AckToken::fail);
        let m = &self.metrics;
        tracing::info!(
            component = %self.shared.id,
            records_sent = m.records(RecordOutcome::Sent),
            records_rejected = m.records(RecordOutcome::Rejected),
            records_dropped = m.records(RecordOutcome::Dropped),
            retries = m.retries.load(Ordering::Relaxed),
            "OpenTelemetry sink totals"
        );
    }
}
