//! `type = "stdin"`: lines from standard input, until end of input or a stop.

use std::io::Read;
use std::sync::Arc;

use serde::Deserialize;

use super::batcher::Batcher;
use super::{DEFAULT_MAX_LINE_BYTES, OversizeLines};
use logagent_codecs::framing::LineReader;
use logagent_core::component::{Source, SourceComponent, SourceContext, SourceError};
use logagent_core::event::Stream;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::{ByteSize, KeyError};

/// Options of the stdin source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    /// Longest line kept whole (default 1MiB).
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
    /// `truncate` (default) or `drop` lines over the limit.
    #[serde(default)]
    pub oversize_lines: OversizeLines,
}

fn default_max_line() -> ByteSize {
    ByteSize(DEFAULT_MAX_LINE_BYTES)
}

impl StdinSourceConfig {
    /// Checks the limits.
    pub fn check(&self) -> Vec<KeyError> {
        if self.max_line_bytes.0 == 0 {
            return vec![KeyError::new("max_line_bytes", "must be greater than zero")];
        }
        Vec::new()
    }

    /// A source reading this process's standard input.
    pub fn build(&self) -> StdinSource {
        StdinSource {
            config: self.clone(),
        }
    }
}

/// The running stdin source.
#[derive(Debug)]
pub struct StdinSource {
    config: StdinSourceConfig,
}

const CHUNK: usize = 64 * 1024;

impl Source for StdinSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        // A blocking read cannot be interrupted, so a helper thread reads and
        // this loop waits on either data or the stop signal.
        let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<std::io::Result<Vec<u8>>>(2);
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    match stdin.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            if chunk_tx.send(Ok(buf)).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = chunk_tx.send(Err(e));
                            break;
                        }
                    }
                }
            })
            .map_err(|error| SourceError::Io {
                what: "stdin (starting the reader thread)".into(),
                error,
            })?;

        let (ack_tx, ack_rx) = crossbeam_channel::unbounded();
        let stream = Arc::new(Stream {
            source: ctx.id.clone(),
            path: None,
            id: 0,
        });
        let mut batcher = Batcher::new(stream, ctx.batch_max_events, ctx.batch_max_bytes, ack_tx);
        let mut reader = LineReader::new(
            CHUNK,
            self.config.max_line_bytes.as_usize(),
            self.config.oversize_lines.into(),
            0,
        );
        let mut dropped_before = 0;
        let result = loop {
            crossbeam_channel::select! {
                recv(chunk_rx) -> msg => match msg {
                    Ok(Ok(data)) => {
                        reader.push(&data);
                        let mut sent = Ok(());
                        reader.drain_lines(|line| {
                            if sent.is_ok() {
                                sent = batcher.push(line, &ctx.output, &ctx.metrics);
                            }
                        });
                        sent?;
                        // Latency: what stdin gave us goes on now.
                        if chunk_rx.is_empty() {
                            batcher.flush(&ctx.output)?;
                        }
                    }
                    Ok(Err(error)) => break Err(SourceError::Io { what: "stdin".into(), error }),
                    Err(_) => break Ok(()),
                },
                recv(ctx.shutdown.receiver()) -> _ => break Ok(()),
            }
            let dropped = reader.stats().dropped;
            ComponentMetrics::add(&ctx.metrics.discarded_events, dropped - dropped_before);
            dropped_before = dropped;
            ack_rx.try_iter().for_each(drop);
        };
        if let Some(line) = reader.finish() {
            batcher.push(line, &ctx.output, &ctx.metrics)?;
        }
        batcher.flush(&ctx.output)?;
        log_oversize(&ctx, &reader);
        result
    }
}

fn log_oversize(ctx: &SourceContext, reader: &LineReader) {
    let stats = reader.stats();
    if stats.truncated + stats.dropped > 0 {
        tracing::warn!(
            component = %ctx.id,
            truncated = stats.truncated,
            dropped = stats.dropped,
            "lines over max_line_bytes"
        );
    }
}

impl SourceComponent for StdinSourceConfig {
    fn check(&self) -> Vec<KeyError> {
        StdinSourceConfig::check(self)
    }

    fn build(&self) -> Box<dyn Source> {
        Box::new(StdinSourceConfig::build(self))
    }
}
