//! `type = "stdout"`: NDJSON (or text) on standard output, flushed per batch.

use std::io::Write;

use serde::Deserialize;

use super::{Encoding, Sink, SinkContext, SinkError};
use crate::config::KeyError;
use crate::event::Batch;
use crate::telemetry::metrics::ComponentMetrics;

/// Options of the stdout sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    /// `json` (default) or `text`.
    #[serde(default)]
    pub encoding: Encoding,
}

impl StdoutSinkConfig {
    /// Nothing to check beyond types.
    pub fn check(&self) -> Vec<KeyError> {
        Vec::new()
    }

    /// A sink writing to this process's stdout.
    pub fn build(&self) -> StdoutSink {
        StdoutSink {
            encoding: self.encoding,
            buf: Vec::new(),
        }
    }
}

/// The running stdout sink.
#[derive(Debug)]
pub struct StdoutSink {
    encoding: Encoding,
    buf: Vec<u8>,
}

impl Sink for StdoutSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.buf.clear();
        for event in &batch.events {
            self.encoding.write(event, &mut self.buf);
        }
        let mut out = std::io::stdout().lock();
        if let Err(error) = out.write_all(&self.buf).and_then(|_| out.flush()) {
            batch.ack.fail();
            ComponentMetrics::add(&ctx.metrics.errors, 1);
            ComponentMetrics::add(&ctx.metrics.discarded_events, batch.events.len() as u64);
            return Err(SinkError::Io {
                what: "writing to stdout".into(),
                error,
            });
        }
        ComponentMetrics::add(&ctx.metrics.sent_events, batch.events.len() as u64);
        ComponentMetrics::add(&ctx.metrics.sent_bytes, self.buf.len() as u64);
        if self.buf.capacity() > (4 << 20) {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn flush(&mut self, _ctx: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}
