//! `type = "blackhole"`: accepts every batch, counts it and lets it go — the
//! sink of benchmarks and of pipelines that only feed taps and metrics (Vector's
//! `blackhole`). Batches are acknowledged at once, so a source upstream is
//! never held back by it.

use std::time::{Duration, Instant};

use serde::Deserialize;

use logagent_core::component::{Sink, SinkComponent, SinkContext, SinkError};
use logagent_core::event::Batch;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::{HumanDuration, KeyError};

/// Options of the blackhole sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSinkConfig {
    /// How often to log a summary (events and bytes since the last one, and
    /// the rate) at info level, like Vector's `print_interval_secs`; unset
    /// (the default) logs nothing. At least 100ms.
    #[serde(default)]
    pub print_interval: Option<HumanDuration>,
}

impl BlackholeSinkConfig {
    /// Checks the interval.
    pub fn check(&self) -> Vec<KeyError> {
        match self.print_interval {
            Some(i) if i.0 < Duration::from_millis(100) => vec![KeyError::new(
                "print_interval",
                "must be at least 100ms (a summary per batch would flood the log)",
            )],
            _ => Vec::new(),
        }
    }

    /// The running sink.
    pub fn build(&self) -> BlackholeSink {
        BlackholeSink {
            print_interval: self.print_interval.map(|i| i.0),
            since: Instant::now(),
            events: 0,
            bytes: 0,
        }
    }
}

/// The running blackhole sink: counts what it is given (`component_sent_*`,
/// as if written) and drops it.
#[derive(Debug)]
pub struct BlackholeSink {
    print_interval: Option<Duration>,
    since: Instant,
    /// Events and bytes since the last summary.
    events: u64,
    bytes: u64,
}

impl BlackholeSink {
    /// Logs the summary when the interval is over and something arrived.
    fn maybe_print(&mut self, ctx: &SinkContext) {
        let Some(interval) = self.print_interval else {
            return;
        };
        let elapsed = self.since.elapsed();
        if elapsed < interval {
            return;
        }
        if self.events > 0 {
            let secs = elapsed.as_secs_f64().max(1e-9);
            tracing::info!(
                component = %ctx.id,
                events = self.events,
                bytes = self.bytes,
                events_per_sec = (self.events as f64 / secs).round() as u64,
                total_events = ctx.metrics.sent_events.load(std::sync::atomic::Ordering::Relaxed),
                "collected events"
            );
        }
        self.since = Instant::now();
        self.events = 0;
        self.bytes = 0;
    }
}

impl Sink for BlackholeSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        let (events, bytes) = (batch.events.len() as u64, batch.line_bytes() as u64);
        ComponentMetrics::add(&ctx.metrics.sent_events, events);
        ComponentMetrics::add(&ctx.metrics.sent_bytes, bytes);
        self.events += events;
        self.bytes += bytes;
        // Dropping the batch releases its acknowledgement: delivered.
        drop(batch);
        self.maybe_print(ctx);
        Ok(())
    }

    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.maybe_print(ctx);
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.print_interval
    }
}

impl SinkComponent for BlackholeSinkConfig {
    fn check(&self) -> Vec<KeyError> {
        BlackholeSinkConfig::check(self)
    }

    fn build(&self, _data_dir: &std::path::Path) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(BlackholeSinkConfig::build(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::ack::Ack;
    use logagent_core::event::{AckToken, Event, Stream};
    use logagent_core::flow::{Outputs, detached_shutdown};
    use std::sync::Arc;

    fn ctx() -> SinkContext {
        let metrics = Arc::new(ComponentMetrics::default());
        SinkContext {
            id: "hole".into(),
            metrics: metrics.clone(),
            shutdown: detached_shutdown().1,
            outputs: Outputs::new(
                logagent_core::flow::Output::new(Vec::new(), metrics),
                Vec::new(),
            ),
        }
    }

    #[test]
    fn counts_every_event_and_acknowledges_the_batch() {
        let ctx = ctx();
        let (tx, rx) = crossbeam_channel::unbounded::<Ack>();
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 7,
        });
        let mut batch = Batch::new(stream, AckToken::new(7, 30, tx), 3);
        for line in ["a", "bb", "ccc"] {
            batch
                .events
                .push(Event::new(line.as_bytes().to_vec().into(), 0));
        }
        let mut sink = BlackholeSinkConfig::default().build();
        sink.write(batch, &ctx).unwrap();
        let ack = rx.try_recv().expect("acknowledged at once");
        assert!(ack.delivered);
        assert_eq!(ack.end_offset, 30);
        let s = ctx.metrics.snapshot();
        assert_eq!((s.sent_events, s.sent_bytes), (3, 6));
        assert_eq!(sink.flush_interval(), None);
    }

    #[test]
    fn a_print_interval_below_100ms_is_refused() {
        let cfg: BlackholeSinkConfig = toml::from_str("print_interval = \"10ms\"").unwrap();
        assert_eq!(cfg.check()[0].key, "print_interval");
        let cfg: BlackholeSinkConfig = toml::from_str("print_interval = \"1s\"").unwrap();
        assert!(cfg.check().is_empty());
        assert_eq!(cfg.build().flush_interval(), Some(Duration::from_secs(1)));
        assert!(toml::from_str::<BlackholeSinkConfig>("rate = 1").is_err());
    }
}
