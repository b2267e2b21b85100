//! `type = "stdout"`: NDJSON (or text) on standard output, flushed per batch.

use std::io::Write;

use serde::Deserialize;

use super::Encoding;
use super::io_retry::retry;
use logagent_core::KeyError;
use logagent_core::component::{Sink, SinkContext, SinkError};
use logagent_core::event::{Batch, Event};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

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
        let encoding = self.encoding;
        StdoutSink::new(match encoding {
            Encoding::Json => |e, out| Encoding::Json.write(e, out),
            Encoding::Text => |e, out| Encoding::Text.write(e, out),
        })
    }
}

/// Appends one event and its newline to the buffer: how a sink on stdout
/// encodes (the stdout sink's `json`/`text`, the console sink's `logfmt` too).
pub type LineEncoder = fn(&Event, &mut Vec<u8>);

/// The running stdout sink.
///
/// It writes to its own duplicate of descriptor 1, unbuffered, so it knows how
/// much of a batch reached the descriptor: a write that fails part-way (a full
/// disk behind a redirection) resumes where it stopped instead of writing the
/// start again. Errors follow [`super::io_retry`], like the file sink.
#[derive(Debug)]
pub struct StdoutSink {
    encode: LineEncoder,
    buf: Vec<u8>,
    out: Option<std::fs::File>,
    log: RateLimiter,
}

impl StdoutSink {
    /// A sink writing each event as `encode` writes it: one writer and one
    /// retry rule for every sink on stdout (`stdout`, `console`).
    pub fn new(encode: LineEncoder) -> StdoutSink {
        StdoutSink {
            encode,
            buf: Vec::new(),
            out: None,
            log: RateLimiter::default(),
        }
    }

    fn out(&mut self) -> std::io::Result<&mut std::fs::File> {
        if self.out.is_none() {
            use std::os::fd::AsFd;
            let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
            self.out = Some(std::fs::File::from(fd));
        }
        self.out
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdout unavailable"))
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.buf.clear();
        for event in &batch.events {
            (self.encode)(event, &mut self.buf);
        }
        // Flush what earlier users of the std handle buffered, then write.
        let _ = std::io::stdout().flush();
        let mut done = 0;
        let buf = std::mem::take(&mut self.buf);
        let log = std::mem::take(&mut self.log);
        let result = retry(ctx, &log, "writing to stdout", || {
            let out = self.out()?;
            while done < buf.len() {
                match out.write(&buf[done..]) {
                    Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        self.log = log;
        self.buf = buf;
        if let Err(error) = result {
            batch.ack.fail();
            ComponentMetrics::add(&ctx.metrics.discarded_events, batch.events.len() as u64);
            return Err(error);
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

impl logagent_core::component::SinkComponent for StdoutSinkConfig {
    fn check(&self) -> Vec<KeyError> {
        StdoutSinkConfig::check(self)
    }
    fn build(&self, _data_dir: &std::path::Path) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(StdoutSinkConfig::build(self)))
    }
}
