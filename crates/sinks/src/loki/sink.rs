//! The running Loki sink: turns batches into per-tenant, per-lane push requests
//! and keeps at most `concurrency` of them in flight.
//!
//! It runs on the sink's own thread and owns a small tokio runtime (one worker)
//! for the HTTP work. Each tenant's streams are spread over `concurrency`
//! lanes by a hash of their labels; a lane sends one request at a time (retrying
//! it until Loki takes it), so a stream's entries reach Loki in order even
//! when requests are retried. When a request must go out and its lane or the
//! in-flight limit is busy, `write` waits — the pipeline's bounded channels
//! carry that wait back to the source. A batch's acknowledgement is held by
//! every request that has some of its events, and released when Loki answered
//! 2xx (or 400: refused for good, logged and counted).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;

use super::client::{BuildError, shared};
use super::config::{Compression, LokiSinkConfig, Protocol};
use super::line::LineRenderer;
use super::metrics::{EntryOutcome, LokiMetrics};
use super::pending::{ENTRY_OVERHEAD, OrderStats, OutOfOrder, Pair, Pending, order_entries, span};
use super::proto;
use super::push::{self, BodyEncoding, PushJob, PushResult, Shared};
use super::streams::{
    GuardLimits, MAX_LABEL_VALUE_BYTES, StreamTable, sanitize_tenant, truncate_str,
};
use crate::net::{Requests, Waited};
use logagent_core::component::{Sink, SinkContext, SinkError};
use logagent_core::event::access::get;
use logagent_core::event::template::{MISSING_FIELD, Template};
use logagent_core::event::{AckToken, Batch, Event, FieldPath, Level, Member};
use logagent_core::telemetry::labeled::Labeled;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Where a label's value comes from.
#[derive(Debug)]
enum LabelSource {
    /// A fixed value.
    Static(String),
    /// A template over the event.
    Template(Template),
    /// The normalized level from this field (or the cached `meta.level`).
    Level(FieldPath),
}

/// The tenant of an event.
#[derive(Debug)]
enum TenantSource {
    /// No `X-Scope-OrgID`.
    None,
    /// The same for every event.
    Static,
    /// Rendered per event.
    Template(Template),
}

/// A request on its way, and what to release when it ends.
#[derive(Debug)]
struct InFlight {
    tenant: u32,
    lane: usize,
    acks: Vec<AckToken>,
    entries: u64,
    uncompressed: u64,
}

#[derive(Debug, Default)]
struct Lane {
    pending: Pending,
    /// A request of this lane is in flight: the next waits for it, so each
    /// stream's entries reach Loki in order.
    busy: bool,
}

#[derive(Debug)]
struct Tenant {
    name: Box<str>,
    header: Option<HeaderValue>,
    lanes: Vec<Lane>,
}

/// The running sink (see the module docs).
pub struct LokiSink {
    requests: Requests<InFlight, PushResult>,
    shared: Arc<Shared>,
    protocol: Protocol,
    compression: Compression,
    label_names: Vec<Box<str>>,
    label_sources: Vec<LabelSource>,
    dynamic: Vec<bool>,
    values: Vec<String>,
    tenant_source: TenantSource,
    tenant_buf: String,
    metadata: Vec<(Box<str>, Template)>,
    meta_buf: String,
    line: LineRenderer,
    max_line_bytes: usize,
    out_of_order: OutOfOrder,
    max_bytes: usize,
    max_events: usize,
    timeout: Duration,
    concurrency: usize,
    streams: StreamTable,
    tenants: Vec<Option<Tenant>>,
    tenant_index: HashMap<Box<str>, u32>,
    tenant_free: Vec<u32>,
    pending_bytes: usize,
    generation: u64,
    batch_seq: u64,
    metrics: Arc<LokiMetrics>,
    healthcheck: bool,
    started: bool,
    reject_log: RateLimiter,
    warn_log: RateLimiter,
    body: Vec<u8>,
}

impl std::fmt::Debug for LokiSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiSink")
            .field("push_url", &self.shared.push_url.as_str())
            .field("streams", &self.streams.len())
            .field("in_flight", &self.requests.len())
            .finish()
    }
}

use logagent_core::time::now_ns;

impl LokiSinkConfig {
    /// Builds the sink: compiles templates, reads secret and TLS files, starts
    /// its runtime. Nothing is sent until data arrives (the health check starts
    /// with the first call from the pipeline).
    pub fn build(&self) -> Result<LokiSink, BuildError> {
        if let Some(e) = self.check().into_iter().next() {
            return Err(BuildError::Key {
                key: e.key,
                message: e.message,
            });
        }
        let template = |key: &str, t: &str| {
            Template::parse(t, false).map_err(|e| BuildError::Key {
                key: key.to_owned(),
                message: e.to_string(),
            })
        };
        let mut labels: Vec<(Box<str>, LabelSource)> = Vec::new();
        let mut removed: Vec<FieldPath> = Vec::new();
        for (name, value) in &self.labels {
            let t = template(&format!("labels.{name}"), value)?;
            let source = if t.is_dynamic() {
                if self.remove_label_fields {
                    removed.extend(LokiSinkConfig::template_fields(value));
                }
                LabelSource::Template(t)
            } else {
                LabelSource::Static(value.clone())
            };
            labels.push((name.as_str().into(), source));
        }
        if let Some(f) = &self.level_field {
            let path = FieldPath::parse(f).map_err(|e| BuildError::Key {
                key: "level_field".into(),
                message: e.to_string(),
            })?;
            if self.remove_label_fields {
                removed.push(path.clone());
            }
            labels.push(("level".into(), LabelSource::Level(path)));
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let mut metadata = Vec::new();
        for (name, value) in &self.structured_metadata {
            metadata.push((
                name.as_str().into(),
                template(&format!("structured_metadata.{name}"), value)?,
            ));
            if self.remove_structured_metadata_fields {
                removed.extend(LokiSinkConfig::template_fields(value));
            }
        }
        let tenant_source = match &self.tenant_id {
            None => TenantSource::None,
            Some(t) => {
                let tpl = template("tenant_id", t)?;
                if tpl.is_dynamic() {
                    TenantSource::Template(tpl)
                } else {
                    TenantSource::Static
                }
            }
        };
        let label_names: Vec<Box<str>> = labels.iter().map(|(n, _)| n.clone()).collect();
        // Counted in a registry of its own until the pipeline hands over the
        // component's (first call of `write` or `flush`).
        let metrics = Arc::new(LokiMetrics::new(&Labeled::default(), &label_names));
        let shared = shared(self, metrics.clone())?;
        let requests = Requests::new("loki-io", self.concurrency)
            .map_err(|e| BuildError::Setup(format!("starting the I/O runtime: {e}")))?;
        let c = &self.cardinality;
        let streams = StreamTable::new(
            labels.len(),
            self.concurrency,
            GuardLimits {
                max_streams: c.max_streams,
                max_values_per_label: c.max_values_per_label,
                window: c.window.0,
                placeholder: c.placeholder.clone(),
            },
            Instant::now(),
        );
        let message_field = FieldPath::parse(&self.message_field).map_err(|e| BuildError::Key {
            key: "message_field".into(),
            message: e.to_string(),
        })?;
        let mut sink = LokiSink {
            requests,
            shared: Arc::new(shared),
            protocol: self.protocol,
            compression: self.compression,
            dynamic: labels
                .iter()
                .map(|(_, s)| !matches!(s, LabelSource::Static(_)))
                .collect(),
            values: vec![String::new(); labels.len()],
            label_names,
            label_sources: labels.into_iter().map(|(_, s)| s).collect(),
            tenant_source,
            tenant_buf: String::new(),
            metadata,
            meta_buf: String::new(),
            line: LineRenderer::new(self.line_format, message_field, removed),
            max_line_bytes: self.max_line_bytes.as_usize(),
            out_of_order: self.out_of_order,
            max_bytes: self.batch.max_bytes.as_usize(),
            max_events: self.batch.max_events,
            timeout: self.batch.timeout.0,
            concurrency: self.concurrency,
            streams,
            tenants: Vec::new(),
            tenant_index: HashMap::new(),
            tenant_free: Vec::new(),
            pending_bytes: 0,
            generation: 0,
            batch_seq: 0,
            metrics,
            healthcheck: self.healthcheck,
            started: false,
            reject_log: RateLimiter::default(),
            warn_log: RateLimiter::default(),
            body: Vec::new(),
        };
        if let Some(t) = &self.tenant_id {
            if matches!(sink.tenant_source, TenantSource::Static) {
                let mut name = t.clone();
                sanitize_tenant(&mut name);
                sink.add_tenant(&name);
            }
        } else {
            sink.add_tenant("");
        }
        Ok(sink)
    }
}

impl LokiSink {
    /// The sink's counters: once the pipeline has called it, the handles into
    /// the component's labeled series (`ctx.metrics.labeled`).
    pub fn metrics(&self) -> Arc<LokiMetrics> {
        self.metrics.clone()
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn add_tenant(&mut self, name: &str) -> u32 {
        let header = if name.is_empty() && matches!(self.tenant_source, TenantSource::None) {
            None
        } else {
            HeaderValue::from_str(name).ok()
        };
        let mut lanes = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency {
            let mut lane = Lane::default();
            let g = self.next_generation();
            lane.pending.reset(g);
            lanes.push(lane);
        }
        let tenant = Tenant {
            name: name.into(),
            header,
            lanes,
        };
        let i = match self.tenant_free.pop() {
            Some(i) => {
                self.tenants[i as usize] = Some(tenant);
                i
            }
            None => {
                self.tenants.push(Some(tenant));
                (self.tenants.len() - 1) as u32
            }
        };
        self.tenant_index.insert(name.into(), i);
        i
    }

    /// First call from the pipeline: register counters, start the health check.
    fn start(&mut self, ctx: &SinkContext) {
        if self.started {
            return;
        }
        self.started = true;
        self.metrics = Arc::new(LokiMetrics::new(&ctx.metrics.labeled, &self.label_names));
        // No push task exists yet, so the shared state is not shared yet.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.id = ctx.id.clone();
            shared.metrics = self.metrics.clone();
        }
        if self.healthcheck {
            self.requests
                .runtime()
                .spawn(push::health_loop(self.shared.clone()));
        }
    }

    /// The tenant slot of `event`; `missing` is set when its field was absent.
    fn tenant_of(&mut self, event: &Event, members: &[Member], now: i64, missing: &mut u64) -> u32 {
        let TenantSource::Template(t) = &self.tenant_source else {
            return 0;
        };
        self.tenant_buf.clear();
        if t.render(event, members, now, &mut self.tenant_buf) {
            *missing += 1;
            if let Some(suppressed) = self.warn_log.check() {
                tracing::warn!(component = %self.shared.id, template = t.as_str(), suppressed,
                    "tenant_id field missing; sending to tenant {:?}", MISSING_FIELD);
            }
        }
        sanitize_tenant(&mut self.tenant_buf);
        let slot = self.label_names.len();
        if self.streams.admit_value(slot, &mut self.tenant_buf) {
            self.metrics
                .set_label_overflow(slot, self.streams.counts.replaced[slot]);
        }
        match self.tenant_index.get(self.tenant_buf.as_str()) {
            Some(&i) => i,
            None => {
                let name = std::mem::take(&mut self.tenant_buf);
                let i = self.add_tenant(&name);
                self.tenant_buf = name;
                i
            }
        }
    }

    fn render_labels(&mut self, event: &Event, members: &[Member], now: i64) {
        for (i, source) in self.label_sources.iter().enumerate() {
            let v = &mut self.values[i];
            v.clear();
            match source {
                LabelSource::Static(s) => v.push_str(s),
                LabelSource::Template(t) => {
                    t.render(event, members, now, v);
                }
                LabelSource::Level(path) => {
                    let level = event.meta.level.or_else(|| {
                        get(event, members, path).and_then(|v| Level::from_text(&v.text()))
                    });
                    v.push_str(level.map_or(MISSING_FIELD, Level::name));
                }
            }
            if v.is_empty() {
                v.push_str(MISSING_FIELD);
            }
            truncate_str(v, MAX_LABEL_VALUE_BYTES);
        }
    }

    /// Adds one event to its stream's lane, sending the lane's request first
    /// when the event would not fit.
    fn add_event(
        &mut self,
        event: &Event,
        members: &[Member],
        ack: &AckToken,
        now: i64,
        ctx: &SinkContext,
    ) -> Result<(), SinkError> {
        let mut missing = 0;
        let t = self.tenant_of(event, members, now, &mut missing);
        ComponentMetrics::add(&ctx.metrics.errors, missing);
        self.render_labels(event, members, now);
        let Some(tenant) = self.tenants[t as usize].as_ref() else {
            return Ok(());
        };
        let (s, _) = self.streams.resolve(
            t,
            &tenant.name,
            &self.label_names,
            &mut self.values,
            &self.dynamic,
        );
        let lane = self.streams.get(s).lane;
        let estimate = event.line.len() + ENTRY_OVERHEAD;
        let full = {
            let p = &self.lane(t, lane).pending;
            !p.is_empty() && (p.bytes + estimate > self.max_bytes || p.events >= self.max_events)
        };
        if full {
            self.dispatch(t, lane, ctx)?;
        } else if self.pending_bytes > 0
            && self.pending_bytes + estimate > self.max_bytes * self.concurrency
        {
            // Many tenants or lanes filling slowly: bound what waits in memory
            // by sending the fullest request.
            self.dispatch_fullest(ctx)?;
        }
        self.append(t, lane, s, event, members, ack, now);
        Ok(())
    }

    fn lane(&self, t: u32, lane: usize) -> &Lane {
        &self.tenants[t as usize]
            .as_ref()
            .expect("live tenant")
            .lanes[lane]
    }

    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        t: u32,
        lane: usize,
        s: u32,
        event: &Event,
        members: &[Member],
        ack: &AckToken,
        now: i64,
    ) {
        let batch_seq = self.batch_seq;
        let Some(tenant) = self.tenants[t as usize].as_mut() else {
            return;
        };
        let p = &mut tenant.lanes[lane].pending;
        let st = self.streams.get_mut(s);
        let slot = if st.pending.0 == p.generation {
            st.pending.1
        } else {
            let slot = p.add_stream(s, st.labels.clone());
            st.pending = (p.generation, slot);
            slot
        };
        if p.last_batch != batch_seq {
            p.acks.push(ack.clone());
            p.last_batch = batch_seq;
        }
        let before = p.arena.len() + p.pairs.len() * 16;
        let start = p.arena.len();
        self.line.render(event, members, &mut p.arena);
        if p.arena.len() - start > self.max_line_bytes {
            let mut cut = start + self.max_line_bytes;
            // Cut at a character boundary (the rendered line is UTF-8).
            while cut > start && (p.arena[cut] & 0xC0) == 0x80 {
                cut -= 1;
            }
            p.arena.truncate(cut);
            self.metrics.lines_truncated.fetch_add(1, Ordering::Relaxed);
        }
        let line = span(start..p.arena.len());
        let m0 = p.pairs.len() as u32;
        for (name, template) in &self.metadata {
            self.meta_buf.clear();
            if template.render(event, members, now, &mut self.meta_buf) || self.meta_buf.is_empty()
            {
                continue;
            }
            let a = p.arena.len();
            p.arena.extend_from_slice(name.as_bytes());
            let b = p.arena.len();
            p.arena.extend_from_slice(self.meta_buf.as_bytes());
            p.pairs.push(Pair {
                name: span(a..b),
                value: span(b..p.arena.len()),
            });
        }
        p.streams[slot as usize]
            .entries
            .push(super::pending::Entry {
                ts: event.meta.time.unwrap_or(now),
                line,
                meta: (m0, p.pairs.len() as u32),
            });
        p.events += 1;
        let added = p.arena.len() + p.pairs.len() * 16 - before + ENTRY_OVERHEAD;
        p.bytes += added;
        self.pending_bytes += added;
    }

    fn sync_guard_counts(&self) {
        self.metrics
            .streams_active
            .store(self.streams.len() as u64, Ordering::Relaxed);
        for (i, n) in self.streams.counts.replaced.iter().enumerate() {
            self.metrics.set_label_overflow(i, *n);
        }
        self.metrics
            .streams_overflowed
            .store(self.streams.counts.streams_overflowed, Ordering::Relaxed);
    }

    fn dispatch_fullest(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let mut best: Option<(u32, usize, usize)> = None;
        for (t, tenant) in self.tenants.iter().enumerate() {
            let Some(tenant) = tenant else { continue };
            for (l, lane) in tenant.lanes.iter().enumerate() {
                if lane.pending.bytes > best.map_or(0, |b| b.2) {
                    best = Some((t as u32, l, lane.pending.bytes));
                }
            }
        }
        match best {
            Some((t, l, _)) => self.dispatch(t, l, ctx),
            None => Ok(()),
        }
    }

    /// Seals lane `l` of tenant `t` into a request and starts sending it, after
    /// waiting for the lane's previous request and for an in-flight slot.
    fn dispatch(&mut self, t: u32, l: usize, ctx: &SinkContext) -> Result<(), SinkError> {
        while self.lane(t, l).busy || self.requests.is_full() {
            self.wait_one(ctx)?;
        }
        if self.lane(t, l).pending.is_empty() {
            return Ok(());
        }
        let next = self.next_generation();
        let policy = self.out_of_order;
        let Some(tenant) = self.tenants[t as usize].as_mut() else {
            return Ok(());
        };
        let header = tenant.header.clone();
        let p = &mut tenant.lanes[l].pending;
        let mut stats = OrderStats::default();
        let mut entries = 0u64;
        for ps in p.live_mut() {
            let st = self.streams.get_mut(ps.stream);
            st.last_sent = order_entries(&mut ps.entries, st.last_sent, policy, &mut stats);
            entries += ps.entries.len() as u64;
        }
        self.metrics
            .timestamps_rewritten
            .fetch_add(stats.rewritten, Ordering::Relaxed);
        if stats.dropped > 0 {
            self.metrics
                .entries_add(EntryOutcome::DroppedOutOfOrder, stats.dropped);
            ComponentMetrics::add(&ctx.metrics.discarded_events, stats.dropped);
        }
        self.pending_bytes -= p.bytes.min(self.pending_bytes);
        if entries == 0 {
            // Everything was dropped by policy: nothing to send, the batches are done.
            p.reset(next);
            return Ok(());
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        match self.protocol {
            Protocol::Protobuf => proto::encode_protobuf(p, &mut body),
            Protocol::Json => proto::encode_json(p, &mut body),
        }
        let uncompressed = body.len();
        let acks = std::mem::take(&mut p.acks);
        p.reset(next);
        // Snappy runs in the push task, on the I/O thread, while this thread
        // goes on rendering the next request.
        let job = PushJob {
            tenant: header,
            body,
            encoding: match (self.protocol, self.compression) {
                (Protocol::Protobuf, _) => BodyEncoding::Snappy,
                (Protocol::Json, Compression::Gzip) => BodyEncoding::Gzip,
                (Protocol::Json, Compression::None) => BodyEncoding::Identity,
            },
        };
        let shared = self.shared.clone();
        let kept = InFlight {
            tenant: t,
            lane: l,
            acks,
            entries,
            uncompressed: uncompressed as u64,
        };
        self.requests
            .spawn(kept, async move { push::push(shared, job).await });
        if let Some(tenant) = self.tenants[t as usize].as_mut() {
            tenant.lanes[l].busy = true;
        }
        self.metrics
            .in_flight
            .store(self.requests.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for one request to finish, giving up everything once the drain
    /// time at shutdown is over.
    fn wait_one(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        match self.requests.wait_one(&ctx.shutdown) {
            Waited::Done(_, kept, result) => {
                self.complete(kept, result, ctx);
                Ok(())
            }
            Waited::Idle => Ok(()),
            Waited::Forced => Err(self.give_up(ctx)),
        }
    }

    /// Takes the results of finished requests without waiting.
    fn poll_done(&mut self, ctx: &SinkContext) {
        while let Some((_, kept, result)) = self.requests.try_done() {
            self.complete(kept, result, ctx);
        }
    }

    fn complete(&mut self, f: InFlight, result: PushResult, ctx: &SinkContext) {
        if let Some(t) = self.tenants[f.tenant as usize].as_mut() {
            t.lanes[f.lane].busy = false;
        }
        self.metrics
            .in_flight
            .store(self.requests.len() as u64, Ordering::Relaxed);
        match result {
            PushResult::Delivered { body_bytes } => {
                self.metrics.entries_add(EntryOutcome::Sent, f.entries);
                self.metrics
                    .sent_bytes
                    .fetch_add(body_bytes, Ordering::Relaxed);
                self.metrics
                    .uncompressed_bytes
                    .fetch_add(f.uncompressed, Ordering::Relaxed);
                ComponentMetrics::add(&ctx.metrics.sent_events, f.entries);
                ComponentMetrics::add(&ctx.metrics.sent_bytes, body_bytes);
            }
            PushResult::Rejected { status, reason } => {
                self.metrics.entries_add(EntryOutcome::Rejected, f.entries);
                ComponentMetrics::add(&ctx.metrics.discarded_events, f.entries);
                ComponentMetrics::add(&ctx.metrics.errors, 1);
                if let Some(suppressed) = self.reject_log.check() {
                    let tenant = self.tenants[f.tenant as usize]
                        .as_ref()
                        .map(|t| t.name.to_string())
                        .unwrap_or_default();
                    tracing::warn!(
                        component = %ctx.id,
                        status,
                        tenant,
                        entries = f.entries,
                        reason = %reason,
                        suppressed,
                        "Loki refused entries; not retrying (the batch is acknowledged)"
                    );
                }
            }
        }
        // Dropping the tokens releases the batches' acknowledgements.
        drop(f.acks);
    }

    /// Drain time is over: abort what is in flight, report every unsent batch
    /// as undelivered, and count the entries.
    fn give_up(&mut self, ctx: &SinkContext) -> SinkError {
        let mut lost = 0u64;
        for f in self.requests.abort_all() {
            lost += f.entries;
            for a in &f.acks {
                a.fail();
            }
        }
        for tenant in self.tenants.iter_mut().flatten() {
            for lane in &mut tenant.lanes {
                lane.busy = false;
                if !lane.pending.is_empty() {
                    lost += lane.pending.events as u64;
                    for a in &lane.pending.acks {
                        a.fail();
                    }
                    let g = lane.pending.generation;
                    lane.pending.reset(g);
                }
            }
        }
        self.pending_bytes = 0;
        self.metrics.in_flight.store(0, Ordering::Relaxed);
        self.metrics.entries_add(EntryOutcome::GivenUp, lost);
        ComponentMetrics::add(&ctx.metrics.discarded_events, lost);
        tracing::error!(component = %ctx.id, entries = lost, "drain time over: gave up on entries Loki has not taken; their lines are read again on restart");
        SinkError::Failed {
            what: "pushing to Loki".into(),
            message: format!("gave up at shutdown with {lost} entries not accepted"),
        }
    }

    /// Ends a guard window when due, evicting idle streams and tenants.
    fn roll(&mut self) {
        let tenants = &self.tenants;
        let rolled = self.streams.roll(Instant::now(), |s| {
            tenants[s.tenant as usize]
                .as_ref()
                .is_some_and(|t| t.lanes[s.lane].pending.generation == s.pending.0)
        });
        if !rolled {
            return;
        }
        if matches!(self.tenant_source, TenantSource::Template(_)) {
            for i in 0..self.tenants.len() {
                let idle = self.tenants[i]
                    .as_ref()
                    .is_some_and(|t| t.lanes.iter().all(|l| l.pending.is_empty() && !l.busy));
                if idle
                    && self.streams.tenant_unused(i as u32)
                    && let Some(t) = self.tenants[i].take()
                {
                    self.tenant_index.remove(&t.name);
                    self.tenant_free.push(i as u32);
                }
            }
        }
        self.metrics
            .streams_active
            .store(self.streams.len() as u64, Ordering::Relaxed);
    }
}

impl Sink for LokiSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.poll_done(ctx);
        self.roll();
        self.batch_seq += 1;
        let now = now_ns();
        let result = batch
            .events
            .iter()
            .try_for_each(|event| self.add_event(event, &batch.members, &batch.ack, now, ctx));
        self.sync_guard_counts();
        result?;
        // The requests holding this batch's events hold clones of its token;
        // the original goes now.
        Ok(())
    }

    /// Sends every request being filled (waiting only where a lane or the
    /// in-flight limit is busy); answers are taken as they come.
    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.start(ctx);
        self.poll_done(ctx);
        self.roll();
        let mut busy = Vec::new();
        for (t, tenant) in self.tenants.iter().enumerate() {
            if let Some(tenant) = tenant {
                for (l, lane) in tenant.lanes.iter().enumerate() {
                    if !lane.pending.is_empty() {
                        busy.push((t as u32, l));
                    }
                }
            }
        }
        for (t, l) in busy {
            self.dispatch(t, l, ctx)?;
        }
        Ok(())
    }

    /// The input has ended: send everything and wait until Loki has taken it
    /// (or, after the drain time, give up).
    fn close(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.flush(ctx)?;
        while !self.requests.is_empty() {
            self.wait_one(ctx)?;
        }
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}

impl Drop for LokiSink {
    fn drop(&mut self) {
        // Anything still held was not confirmed by Loki: report it undelivered
        // rather than let the dropped tokens count as written.
        for f in self.requests.abort_all() {
            f.acks.iter().for_each(AckToken::fail);
        }
        for tenant in self.tenants.iter_mut().flatten() {
            for lane in &mut tenant.lanes {
                lane.pending.acks.iter().for_each(AckToken::fail);
            }
        }
        let m = &self.metrics;
        tracing::info!(
            component = %self.shared.id,
            entries_sent = m.entries(EntryOutcome::Sent),
            entries_rejected = m.entries(EntryOutcome::Rejected),
            entries_dropped_out_of_order = m.entries(EntryOutcome::DroppedOutOfOrder),
            retries = m.retries.load(Ordering::Relaxed),
            streams = self.streams.len(),
            "Loki sink totals"
        );
    }
}
