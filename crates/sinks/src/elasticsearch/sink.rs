//! The running sink: fills bulk requests from batches, keeps at most
//! `concurrency` of them in flight on its own small tokio runtime, and settles
//! every document — stored, duplicate, retried alone, or dead-lettered — before
//! its batch is acknowledged.
//!
//! The sink thread owns all bookkeeping; a request task owns only its body. It
//! sends, retries whole-request failures (connection refused, timeouts, 429,
//! 5xx) with backoff on its own, and reports the per-item results back over a
//! channel. While every slot is busy `write` blocks, which holds the pipeline
//! and finally the sources back: memory is bounded by
//! `(concurrency + 1) × max_bytes` whatever the cluster does.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::bulk::{self, Bulk, Encoder, Item, Origin};
use super::client::{self, Client};
use super::config::{Compression, ElasticsearchConfig};
use super::response::{self, ItemResult, RequestVerdict, Verdict};
use crate::net::{Backoff, Requests, Waited, compress};
use logagent_core::component::{Sink, SinkContext, SinkError};
use logagent_core::event::json;
use logagent_core::event::{Batch, Event, FieldPath, Root, Span, Value};
use logagent_core::flow::Shutdown;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::time::now_ns;

/// Name of the named output rejected documents go to (`inputs = ["ID.dead_letter"]`).
pub const DEAD_LETTER: &str = "dead_letter";
/// Field added to a dead-lettered document: status, type, reason, index, attempts.
pub const DEAD_LETTER_FIELD: &str = "_dead_letter";

/// Metric names (labeled series under the component's counters).
pub mod names {
    /// Bulk requests by `status` (HTTP status, `error` or `timeout`).
    pub const REQUESTS: &str = "elasticsearch_requests_total";
    /// Documents by item `status` in bulk responses.
    pub const ITEMS: &str = "elasticsearch_items_total";
    /// Retries by `scope` (`request`: the whole body again; `item`: failed items alone).
    pub const RETRIES: &str = "elasticsearch_retries_total";
    /// Documents sent to the dead-letter output, by `reason` (the error type).
    pub const DEAD_LETTERED: &str = "elasticsearch_dead_lettered_events_total";
    /// Request body bytes by `encoding` (`uncompressed` always; `gzip` as sent).
    pub const BODY_BYTES: &str = "elasticsearch_request_body_bytes_total";
    /// Request latency histogram.
    pub const LATENCY: &str = "elasticsearch_request_duration_seconds";
    /// Documents held by the sink (filling or in flight): the bound backpressure keeps.
    pub const PENDING: &str = "elasticsearch_pending_events";
}

/// What a request task reports.
#[derive(Debug)]
enum Done {
    /// The server answered per item (in request order).
    Items {
        results: Vec<ItemResult>,
        attempts: u32,
    },
    /// HTTP 413: the body can never be accepted.
    TooLarge { status: u16 },
    /// `max_retries` whole-request failures.
    Exhausted {
        attempts: u32,
        status: Option<u16>,
        reason: String,
    },
    /// The drain time ran out.
    Forced,
}

impl Shared {
    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What request tasks share; created on the first call, when the context is known.
struct Shared {
    client: Arc<Client>,
    /// One backoff for all of the sink's requests: failures anywhere slow them all.
    backoff: Mutex<Backoff>,
    shutdown: Shutdown,
    metrics: Arc<ComponentMetrics>,
    component: Arc<str>,
    log: RateLimiter,
    gzip: bool,
    max_retries: Option<u32>,
    health_timeout: Duration,
    data_stream: bool,
}

struct InFlight {
    body: Bytes,
    items: Vec<Item>,
}

/// The running Elasticsearch sink.
pub struct ElasticsearchSink {
    encoder: Encoder,
    client: Arc<Client>,
    shared: Option<Arc<Shared>>,
    bulk: Bulk,
    requests: Requests<InFlight, Done>,
    max_events: usize,
    max_bytes: usize,
    timeout: Duration,
    gzip: bool,
    max_retries: Option<u32>,
    health_check: bool,
    request_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    data_stream: bool,
    timestamp_path: FieldPath,
    log: RateLimiter,
    health: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ElasticsearchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchSink")
            .field("client", &self.client)
            .field("in_flight", &self.requests.len())
            .finish()
    }
}

impl ElasticsearchSink {
    /// Builds the sink: reads secret and certificate files and starts the runtime.
    pub fn new(config: &ElasticsearchConfig) -> Result<ElasticsearchSink, SinkError> {
        let client = Client::build(config).map_err(|e| SinkError::Failed {
            what: "configuring the Elasticsearch client".into(),
            message: e.to_string(),
        })?;
        if !config.tls.verify_certificate {
            tracing::warn!(
                "tls.verify_certificate = false: the cluster's certificate is not checked"
            );
        }
        let requests =
            Requests::new("es-requests", config.concurrency).map_err(|error| SinkError::Io {
                what: "starting the Elasticsearch sink's runtime".into(),
                error,
            })?;
        Ok(ElasticsearchSink {
            encoder: Encoder::new(config),
            client: Arc::new(client),
            shared: None,
            bulk: Bulk::default(),
            requests,
            max_events: config.max_events.max(1),
            max_bytes: config.max_bytes.as_usize().max(1),
            timeout: config.timeout.0,
            gzip: config.compression == Compression::Gzip,
            max_retries: config.max_retries,
            health_check: config.health_check,
            request_timeout: config.request_timeout.0,
            initial_backoff: config.retry_initial_backoff.0,
            max_backoff: config.retry_max_backoff.0,
            data_stream: config.mode == super::config::Mode::DataStream,
            timestamp_path: FieldPath::top("@timestamp"),
            log: RateLimiter::default(),
            health: None,
        })
    }

    /// The shared state, created on first use (the context is known only then).
    fn start(&mut self, ctx: &SinkContext) -> Arc<Shared> {
        if let Some(s) = &self.shared {
            return s.clone();
        }
        let client = self.client.clone();
        tracing::info!(component = %ctx.id, endpoints = ?client.endpoints().collect::<Vec<_>>(), "elasticsearch sink started");
        let shared = Arc::new(Shared {
            client,
            backoff: Mutex::new(Backoff::jittered(self.initial_backoff, self.max_backoff)),
            shutdown: ctx.shutdown.clone(),
            metrics: ctx.metrics.clone(),
            component: ctx.id.clone(),
            log: RateLimiter::new(Duration::from_secs(5)),
            gzip: self.gzip,
            max_retries: self.max_retries,
            health_timeout: self.request_timeout.min(Duration::from_secs(10)),
            data_stream: self.data_stream,
        });
        if self.health_check {
            self.health = Some(self.requests.runtime().spawn(health_loop(shared.clone())));
        }
        self.shared = Some(shared.clone());
        shared
    }

    fn pending_events(&self) -> u64 {
        (self.bulk.items.len() + self.requests.kept().map(|f| f.items.len()).sum::<usize>()) as u64
    }

    fn update_pending(&self, ctx: &SinkContext) {
        ctx.metrics
            .labeled
            .gauge(names::PENDING, &[])
            .store(self.pending_events(), Ordering::Relaxed);
    }

    /// Sends the filling bulk, first waiting for a free slot.
    fn dispatch(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        if self.bulk.is_empty() {
            return Ok(());
        }
        if self.requests.is_full() {
            self.update_pending(ctx);
        }
        while self.requests.is_full() {
            self.wait_one(ctx)?;
        }
        let bulk = std::mem::take(&mut self.bulk);
        // The next body grows to about this one's size: reserved once rather
        // than doubled (and copied) from empty, request after request.
        self.bulk.body.reserve(bulk.body.len().min(self.max_bytes));
        self.bulk
            .items
            .reserve(bulk.items.len().min(self.max_events));
        self.spawn(ctx, bulk, Duration::ZERO);
        Ok(())
    }

    /// Starts a request task for `bulk` after `delay`.
    fn spawn(&mut self, ctx: &SinkContext, bulk: Bulk, delay: Duration) {
        let shared = self.start(ctx);
        let body = Bytes::from(bulk.body);
        let items = bulk.items.len();
        let attempts = bulk.attempts;
        let kept = InFlight {
            body: body.clone(),
            items: bulk.items,
        };
        self.requests.spawn(kept, async move {
            send(&shared, body, items, attempts, delay).await
        });
        self.update_pending(ctx);
    }

    /// Handles every finished request without waiting.
    fn poll(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        while let Some((_, kept, done)) = self.requests.try_done() {
            self.complete(kept, done, ctx)?;
        }
        Ok(())
    }

    /// Waits for one request to finish (or for the drain time to run out).
    fn wait_one(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        match self.requests.wait_one(&ctx.shutdown) {
            Waited::Done(_, kept, done) => self.complete(kept, done, ctx),
            Waited::Idle => Ok(()),
            Waited::Forced => Err(self.give_up(ctx, 0)),
        }
    }

    /// The drain time is over: every unsettled batch is marked undelivered (its
    /// lines are read again after a restart) and the sink stops.
    fn give_up(&mut self, ctx: &SinkContext, already: u64) -> SinkError {
        let mut events = already;
        for f in self.requests.abort_all() {
            for item in &f.items {
                item.origin.ack.fail();
            }
            events += f.items.len() as u64;
        }
        for item in &self.bulk.items {
            item.origin.ack.fail();
        }
        events += self.bulk.items.len() as u64;
        self.bulk = Bulk::default();
        self.update_pending(ctx);
        SinkError::Failed {
            what: "elasticsearch".into(),
            message: format!(
                "gave up at the end of the drain time with {events} event(s) not yet accepted; they were not acknowledged and will be read again"
            ),
        }
    }

    /// Settles the documents of a finished request.
    fn complete(&mut self, kept: InFlight, done: Done, ctx: &SinkContext) -> Result<(), SinkError> {
        let InFlight { body, items } = kept;
        let labeled = &ctx.metrics.labeled;
        match done {
            Done::Items { results, attempts } => {
                let mut retry = Vec::new();
                let mut dead = Vec::new();
                let mut stored = 0u64;
                let mut by_status: Vec<(u16, u64)> = Vec::new();
                for (item, result) in items.into_iter().zip(results) {
                    match by_status.iter_mut().find(|(s, _)| *s == result.status) {
                        Some((_, n)) => *n += 1,
                        None => by_status.push((result.status, 1)),
                    }
                    match response::classify(result.status, item.create_with_id) {
                        Verdict::Ok | Verdict::Duplicate => stored += 1,
                        Verdict::Retry => {
                            if self.max_retries.is_some_and(|m| attempts + 1 > m) {
                                let reason =
                                    DeadReason::from_item(&result, attempts + 1).exhausted();
                                dead.push((item, reason));
                            } else {
                                retry.push(item);
                            }
                        }
                        Verdict::Reject => {
                            let reason = DeadReason::from_item(&result, attempts + 1);
                            dead.push((item, reason));
                        }
                    }
                }
                for (status, n) in by_status {
                    ComponentMetrics::add(
                        &labeled.counter(names::ITEMS, &[("status", &status.to_string())]),
                        n,
                    );
                }
                ComponentMetrics::add(&ctx.metrics.sent_events, stored);
                let shared = self.start(ctx);
                if retry.is_empty() {
                    shared.backoff().reset();
                } else {
                    ComponentMetrics::add(
                        &labeled.counter(names::RETRIES, &[("scope", "item")]),
                        retry.len() as u64,
                    );
                    if let Some(suppressed) = self.log.check() {
                        tracing::warn!(component = %ctx.id, documents = retry.len(), suppressed,
                            "documents refused for now (429/5xx); retrying only those");
                    }
                    let again = Bulk::from_items(&body, retry, attempts + 1);
                    let delay = shared.backoff().next_delay();
                    self.spawn(ctx, again, delay);
                }
                self.dead_letter(&body, dead, ctx)?;
            }
            Done::TooLarge { status } => {
                let reason = DeadReason {
                    status: Some(status),
                    kind: "request_too_large".into(),
                    reason: format!(
                        "the server refused a {} byte request (HTTP {status}); lower max_bytes",
                        body.len()
                    ),
                    index: None,
                    caused_by: None,
                    attempts: 1,
                };
                let dead = items.into_iter().map(|i| (i, reason.clone())).collect();
                self.dead_letter(&body, dead, ctx)?;
            }
            Done::Exhausted {
                attempts,
                status,
                reason,
            } => {
                let reason = DeadReason {
                    status,
                    kind: "retries_exhausted".into(),
                    reason,
                    index: None,
                    caused_by: None,
                    attempts,
                };
                let dead = items.into_iter().map(|i| (i, reason.clone())).collect();
                self.dead_letter(&body, dead, ctx)?;
            }
            Done::Forced => {
                for item in &items {
                    item.origin.ack.fail();
                }
                return Err(self.give_up(ctx, items.len() as u64));
            }
        }
        self.update_pending(ctx);
        Ok(())
    }

    /// Sends refused documents, with the reason attached, to the dead-letter
    /// output; the batch is acknowledged once that output's consumers have
    /// them. Without a consumer they are dropped, counted and logged.
    fn dead_letter(
        &mut self,
        body: &[u8],
        dead: Vec<(Item, DeadReason)>,
        ctx: &SinkContext,
    ) -> Result<(), SinkError> {
        if dead.is_empty() {
            return Ok(());
        }
        for (_, reason) in &dead {
            ComponentMetrics::add(
                &ctx.metrics
                    .labeled
                    .counter(names::DEAD_LETTERED, &[("reason", &reason.kind)]),
                1,
            );
        }
        let output = ctx.outputs.named(DEAD_LETTER).filter(|o| o.is_connected());
        let Some(output) = output else {
            ComponentMetrics::add(&ctx.metrics.discarded_events, dead.len() as u64);
            if let Some(suppressed) = self.log.check() {
                let (_, first) = &dead[0];
                tracing::error!(component = %ctx.id, documents = dead.len(), status = ?first.status,
                    error_type = %first.kind, error = %first.reason, suppressed,
                    "Elasticsearch refused documents and nothing reads `{}.{DEAD_LETTER}`; dropped",
                    ctx.id);
            }
            return Ok(());
        };
        if let Some(suppressed) = self.log.check() {
            let (_, first) = &dead[0];
            tracing::warn!(component = %ctx.id, documents = dead.len(), status = ?first.status,
                error_type = %first.kind, error = %first.reason, suppressed,
                "Elasticsearch refused documents; sent to the dead-letter output");
        }
        let field = FieldPath::top(DEAD_LETTER_FIELD);
        let mut start = 0;
        while start < dead.len() {
            let origin = dead[start].0.origin.clone();
            let end = dead[start..]
                .iter()
                .position(|(i, _)| !Arc::ptr_eq(&i.origin, &origin))
                .map_or(dead.len(), |n| start + n);
            let mut batch = Batch::new(origin.stream.clone(), origin.ack.clone(), end - start);
            for (item, _) in &dead[start..end] {
                let doc = &body[item.doc..item.end.saturating_sub(1).max(item.doc)];
                batch.events.push(dead_event(doc, item, &mut batch.members));
            }
            for (mut ev, (_, reason)) in batch.iter_mut().zip(&dead[start..end]) {
                ev.set(&field, Value::Json(reason.to_json()));
            }
            let ack = origin.ack.clone();
            drop(origin);
            output.send(batch).map_err(|_| {
                ack.fail();
                SinkError::Failed {
                    what: "dead-letter output".into(),
                    message: "its consumer has stopped".into(),
                }
            })?;
            start = end;
        }
        Ok(())
    }
}

/// A refused document as an event again: its JSON object, re-scanned so the
/// reason can be added as a field; time and offset are kept.
fn dead_event(doc: &[u8], item: &Item, members: &mut Vec<logagent_core::event::Member>) -> Event {
    let line = Bytes::copy_from_slice(doc);
    let first = members.len();
    let mut event = Event::new(line, item.meta.offset);
    event.meta = item.meta;
    if let Ok(object) = json::scan_object(&event.line, json::MAX_DEPTH, members) {
        event.root = Root::Json {
            object,
            members: Span::new(first, members.len()),
        };
    } else {
        event.root = Root::Text;
    }
    event
}

/// Why a document was dead-lettered.
#[derive(Debug, Clone)]
struct DeadReason {
    status: Option<u16>,
    kind: String,
    reason: String,
    index: Option<String>,
    caused_by: Option<serde_json::Value>,
    attempts: u32,
}

impl DeadReason {
    fn from_item(r: &ItemResult, attempts: u32) -> DeadReason {
        let (kind, reason, caused_by) = match &r.error {
            Some(e) => (
                if e.kind.is_empty() {
                    format!("http_{}", r.status)
                } else {
                    e.kind.clone()
                },
                e.reason.clone().unwrap_or_default(),
                e.caused_by.clone(),
            ),
            None => (format!("http_{}", r.status), String::new(), None),
        };
        DeadReason {
            status: Some(r.status),
            kind,
            reason,
            index: r.index.clone(),
            caused_by,
            attempts,
        }
    }

    fn exhausted(mut self) -> DeadReason {
        self.reason = format!("{} (retries exhausted: {})", self.reason, self.kind);
        self.kind = "retries_exhausted".into();
        self
    }

    fn to_json(&self) -> Bytes {
        let mut v = serde_json::json!({
            "status": self.status,
            "type": self.kind,
            "reason": self.reason,
            "attempts": self.attempts,
        });
        if let Some(i) = &self.index {
            v["index"] = serde_json::Value::String(i.clone());
        }
        if let Some(c) = &self.caused_by {
            v["caused_by"] = c.clone();
        }
        Bytes::from(serde_json::to_vec(&v).unwrap_or_else(|_| b"{}".to_vec()))
    }
}

/// Sleeps for `d`, waking early (false) when the drain time runs out.
async fn sleep_unless_forced(shutdown: &Shutdown, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if shutdown.is_forced() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(100))).await;
    }
}

/// One request: sends the body, retrying whole-request failures with backoff
/// (another endpoint each time), until the server answers per item.
async fn send(s: &Shared, body: Bytes, items: usize, mut attempts: u32, delay: Duration) -> Done {
    let labeled = &s.metrics.labeled;
    let (payload, gzipped) = if s.gzip {
        let raw = body.clone();
        match compress::off_runtime(move || compress::gzip(&raw)).await {
            Ok(Ok(gz)) => (gz, true),
            // Gzip into memory does not fail; should the worker, plain NDJSON
            // is still a valid request.
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(component = %s.component, error = %e, "cannot gzip the bulk request; sending it uncompressed");
                (body.clone(), false)
            }
        }
    } else {
        (body.clone(), false)
    };
    let mut delay = delay;
    loop {
        if !delay.is_zero() && !sleep_unless_forced(&s.shutdown, delay).await {
            return Done::Forced;
        }
        if s.shutdown.is_forced() {
            return Done::Forced;
        }
        let node = s.client.pick();
        let started = Instant::now();
        let result = s.client.bulk(node, payload.clone(), gzipped).await;
        labeled
            .histogram(names::LATENCY, &[])
            .observe(started.elapsed());
        ComponentMetrics::add(
            &labeled.counter(names::BODY_BYTES, &[("encoding", "uncompressed")]),
            body.len() as u64,
        );
        if gzipped {
            ComponentMetrics::add(
                &labeled.counter(names::BODY_BYTES, &[("encoding", "gzip")]),
                payload.len() as u64,
            );
        }
        ComponentMetrics::add(&s.metrics.sent_bytes, payload.len() as u64);
        let mut retry_after = None;
        let (status, error) = match result {
            Ok(reply) => {
                ComponentMetrics::add(
                    &labeled.counter(names::REQUESTS, &[("status", &reply.status.to_string())]),
                    1,
                );
                match response::classify_request(reply.status) {
                    RequestVerdict::Items => match response::parse(&reply.body) {
                        Ok(results) if results.len() == items => {
                            s.client.mark_ok(node);
                            return Done::Items { results, attempts };
                        }
                        Ok(results) => (
                            Some(reply.status),
                            format!(
                                "the response lists {} items for {items} documents",
                                results.len()
                            ),
                        ),
                        Err(e) => (Some(reply.status), e),
                    },
                    RequestVerdict::TooLarge => {
                        return Done::TooLarge {
                            status: reply.status,
                        };
                    }
                    RequestVerdict::Retry => {
                        retry_after = reply.retry_after;
                        (
                            Some(reply.status),
                            format!(
                                "HTTP {}: {}",
                                reply.status,
                                String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
                            ),
                        )
                    }
                }
            }
            Err(e) => {
                let label = if e.timeout { "timeout" } else { "error" };
                ComponentMetrics::add(&labeled.counter(names::REQUESTS, &[("status", label)]), 1);
                (None, e.message)
            }
        };
        ComponentMetrics::add(&s.metrics.errors, 1);
        s.client.mark_failed(node);
        let next_delay = s.backoff().next_delay_after(retry_after);
        attempts += 1;
        if s.max_retries.is_some_and(|m| attempts > m) {
            return Done::Exhausted {
                attempts,
                status,
                reason: error,
            };
        }
        ComponentMetrics::add(&labeled.counter(names::RETRIES, &[("scope", "request")]), 1);
        delay = next_delay;
        if let Some(suppressed) = s.log.check() {
            tracing::warn!(component = %s.component, endpoint = s.client.url(node), ?status,
                %error, retry_in = ?delay, documents = items, suppressed,
                "bulk request failed; retrying (the pipeline waits, nothing is dropped)");
        }
    }
}

/// The start-up health check: `GET /` on each endpoint until one answers,
/// logging what it is; failures are logged and retried with backoff.
async fn health_loop(s: Arc<Shared>) {
    let mut wait = Duration::from_secs(1);
    loop {
        let mut ok = false;
        for i in 0..s.client.len() {
            match s.client.health(i, s.health_timeout).await {
                Ok(flavor) => {
                    ok = true;
                    tracing::info!(component = %s.component, endpoint = s.client.url(i), "health check passed: {flavor}");
                    if let Some(w) = client::compatibility_warning(&flavor, s.data_stream) {
                        tracing::warn!(component = %s.component, endpoint = s.client.url(i), "{w}");
                    }
                }
                Err(error @ client::HealthError::Auth(_)) => {
                    // Keys restricted to writing may not read `/`; bulk requests will tell.
                    ok = true;
                    tracing::warn!(component = %s.component, endpoint = s.client.url(i), %error,
                        "health check: cannot read the cluster's version; not retrying");
                }
                Err(error) => {
                    tracing::warn!(component = %s.component, endpoint = s.client.url(i), %error, retry_in = ?wait,
                        "health check failed; events wait and are retried");
                }
            }
        }
        if ok || s.shutdown.is_stopping() {
            return;
        }
        if !sleep_unless_forced(&s.shutdown, wait).await {
            return;
        }
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}

impl Drop for ElasticsearchSink {
    /// Documents still held when the sink goes away (it failed) were not
    /// delivered: their batches are reported as such, never as written.
    fn drop(&mut self) {
        for f in self.requests.kept() {
            for item in &f.items {
                item.origin.ack.fail();
            }
        }
        for item in &self.bulk.items {
            item.origin.ack.fail();
        }
    }
}

impl Sink for ElasticsearchSink {
    fn write(&mut self, mut batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.poll(ctx)?;
        let now = now_ns();
        if self.data_stream {
            let path = self.timestamp_path.clone();
            for mut ev in batch.iter_mut() {
                let t = ev.event.meta.time.unwrap_or(now);
                let text = chrono::DateTime::from_timestamp_nanos(t)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                ev.set_if_absent(&path, Value::string(text.as_bytes()));
            }
        }
        let seed = bulk::stream_seed(&batch.stream);
        let Batch {
            events,
            members,
            stream,
            ack,
        } = batch;
        let origin = Arc::new(Origin { stream, ack });
        let mut missing = 0u64;
        for event in &events {
            if self.bulk.started.is_none() {
                self.bulk.started = Some(Instant::now());
            }
            let start = self.bulk.body.len();
            let (doc, create_with_id, info) =
                self.encoder
                    .encode(event, &members, seed, now, &mut self.bulk.body);
            missing += info.missing_field as u64;
            self.bulk.items.push(Item {
                start,
                doc,
                end: self.bulk.body.len(),
                origin: origin.clone(),
                meta: event.meta,
                create_with_id,
            });
            if self.bulk.body.len() > self.max_bytes {
                let rest = self.bulk.split_last();
                self.dispatch(ctx)?;
                if let Some(rest) = rest {
                    self.bulk = rest;
                }
            }
            if self.bulk.items.len() >= self.max_events || self.bulk.body.len() >= self.max_bytes {
                self.dispatch(ctx)?;
            }
        }
        if missing > 0 {
            ComponentMetrics::add(&ctx.metrics.errors, missing);
            if let Some(suppressed) = self.log.check() {
                tracing::warn!(component = %ctx.id, events = missing, suppressed,
                    "index template field missing; used '{}'", logagent_core::event::template::MISSING_FIELD);
            }
        }
        self.update_pending(ctx);
        Ok(())
    }

    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.poll(ctx)?;
        if self
            .bulk
            .started
            .is_some_and(|t| t.elapsed() >= self.timeout)
        {
            self.dispatch(ctx)?;
        }
        Ok(())
    }

    fn close(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.dispatch(ctx)?;
        while !self.requests.is_empty() {
            self.wait_one(ctx)?;
        }
        // Let a start-up health check that is under way report (briefly).
        if let Some(h) = self.health.take()
            && !h.is_finished()
        {
            let _ = self
                .requests
                .runtime()
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), h).await });
        }
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.timeout.min(Duration::from_millis(100)))
    }
}
