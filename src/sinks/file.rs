//! `type = "file"`: appends NDJSON to files named by a template
//! (`out/{{ service }}-%Y-%m-%d.ndjson`, dates from the event time).
//!
//! Output is buffered per file and written out when a buffer fills, every
//! `flush_interval`, and at shutdown (with an fsync). A batch is acknowledged only
//! after everything it added has been written. A failing write (a full disk) is
//! retried with backoff, holding the pipeline back, until it succeeds or the
//! drain time at shutdown runs out.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{Encoding, Sink, SinkContext, SinkError};
use crate::config::{ByteSize, HumanDuration, KeyError};
use crate::event::template::Template;
use crate::event::{AckToken, Batch};
use crate::telemetry::metrics::ComponentMetrics;
use crate::telemetry::ratelimit::RateLimiter;

/// Options of the file sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Path template: `{{ field }}` and strftime `%Y-%m-%d` (event time, UTC).
    /// Field values cannot add directories (`/` and `..` are replaced).
    pub path: String,
    /// `json` (default) or `text`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Longest time written data may wait in memory (default 1s).
    #[serde(default = "default_flush")]
    pub flush_interval: HumanDuration,
    /// Buffer per open file; a full buffer is written at once (default 256KiB).
    #[serde(default = "default_buffer")]
    pub buffer_bytes: ByteSize,
    /// Files kept open at once; the least recently used is closed (default 64).
    #[serde(default = "default_max_open")]
    pub max_open_files: usize,
}

fn default_flush() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_buffer() -> ByteSize {
    ByteSize(256 << 10)
}
fn default_max_open() -> usize {
    64
}

impl FileSinkConfig {
    /// Checks the template and limits.
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.path.trim().is_empty() {
            errors.push(KeyError::new("path", "must not be empty"));
        } else if let Err(e) = Template::parse(&self.path, true) {
            errors.push(KeyError::new("path", e.to_string()));
        }
        if self.max_open_files == 0 {
            errors.push(KeyError::new("max_open_files", "must be at least 1"));
        }
        if self.flush_interval.0.is_zero() {
            errors.push(KeyError::new("flush_interval", "must be greater than zero"));
        }
        errors
    }

    /// A sink for this config; files are opened on first use.
    pub fn build(&self) -> FileSink {
        let template = Template::parse(&self.path, true).unwrap_or_else(|_| {
            Template::parse("invalid-path-template", true).expect("literal template")
        });
        FileSink {
            template,
            encoding: self.encoding,
            flush_interval: self.flush_interval.0,
            buffer_bytes: self.buffer_bytes.as_usize().max(1),
            max_open: self.max_open_files.max(1),
            open: HashMap::new(),
            clock: 0,
            pending: Vec::new(),
            buffered: 0,
            path_buf: String::new(),
            log: RateLimiter::default(),
        }
    }
}

struct OpenFile {
    file: File,
    buf: Vec<u8>,
    last_used: u64,
}

/// The running file sink.
pub struct FileSink {
    template: Template,
    encoding: Encoding,
    flush_interval: Duration,
    buffer_bytes: usize,
    max_open: usize,
    open: HashMap<String, OpenFile>,
    clock: u64,
    /// Acks of batches with data still in buffers.
    pending: Vec<AckToken>,
    buffered: usize,
    path_buf: String,
    log: RateLimiter,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("template", &self.template.as_str())
            .field("open_files", &self.open.len())
            .finish()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl FileSink {
    fn open_file(&mut self, path: &str, ctx: &SinkContext) -> Result<(), SinkError> {
        if self.open.len() >= self.max_open {
            self.close_least_recent(ctx)?;
        }
        let file = retry(ctx, &self.log, &format!("opening {path}"), || {
            if let Some(parent) = Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            OpenOptions::new().create(true).append(true).open(path)
        })?;
        self.open.insert(
            path.to_owned(),
            OpenFile {
                file,
                buf: Vec::with_capacity(self.buffer_bytes.min(1 << 20)),
                last_used: self.clock,
            },
        );
        Ok(())
    }

    fn close_least_recent(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let Some(oldest) = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_used)
            .map(|(p, _)| p.clone())
        else {
            return Ok(());
        };
        if let Some(mut f) = self.open.remove(&oldest) {
            let n = f.buf.len();
            write_out(&oldest, &mut f, ctx, &self.log)?;
            self.buffered = self.buffered.saturating_sub(n);
        }
        Ok(())
    }

    fn write_all_buffers(&mut self, ctx: &SinkContext, sync: bool) -> Result<(), SinkError> {
        for (path, f) in self.open.iter_mut() {
            write_out(path, f, ctx, &self.log)?;
            if sync {
                if let Err(error) = f.file.sync_data() {
                    tracing::warn!(component = %ctx.id, path, %error, "fsync failed");
                }
            }
        }
        self.buffered = 0;
        // Everything the pending batches added is now written.
        self.pending.clear();
        Ok(())
    }
}

/// Writes a file's buffer, retrying while the error persists.
fn write_out(
    path: &str,
    f: &mut OpenFile,
    ctx: &SinkContext,
    log: &RateLimiter,
) -> Result<(), SinkError> {
    if f.buf.is_empty() {
        return Ok(());
    }
    let n = f.buf.len();
    let file = &mut f.file;
    let buf = &f.buf;
    retry(ctx, log, &format!("writing {path}"), || file.write_all(buf))?;
    ComponentMetrics::add(&ctx.metrics.sent_bytes, n as u64);
    f.buf.clear();
    Ok(())
}

/// Runs `op` until it succeeds, backing off from 100ms to 5s, or until the
/// shutdown drain time is over.
fn retry<T>(
    ctx: &SinkContext,
    log: &RateLimiter,
    what: &str,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> Result<T, SinkError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(error) => {
                ComponentMetrics::add(&ctx.metrics.errors, 1);
                if ctx.shutdown.is_forced() {
                    return Err(SinkError::Io {
                        what: what.to_owned(),
                        error,
                    });
                }
                if let Some(suppressed) = log.check() {
                    tracing::error!(component = %ctx.id, %error, suppressed, retry_in = ?backoff, "{what} failed; holding the pipeline until it works");
                }
                // Not a test sleep: real backoff, cut short by a forced shutdown.
                let deadline = std::time::Instant::now() + backoff;
                while std::time::Instant::now() < deadline && !ctx.shutdown.is_forced() {
                    std::thread::sleep(Duration::from_millis(20).min(backoff));
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl Drop for FileSink {
    /// Batches whose data never reached the file (the sink stopped on an error)
    /// are reported as not delivered, so their source does not checkpoint past
    /// them; a dropped token would otherwise count as delivered.
    fn drop(&mut self) {
        for token in self.pending.drain(..) {
            token.fail();
        }
    }
}

impl Sink for FileSink {
    fn write(&mut self, batch: Batch, ctx: &SinkContext) -> Result<(), SinkError> {
        self.clock += 1;
        let now = now_ns();
        let dynamic = self.template.is_dynamic();
        let mut missing = 0u64;
        let mut current: Option<String> = None;
        for event in &batch.events {
            self.path_buf.clear();
            if dynamic || current.is_none() {
                if self
                    .template
                    .render(event, &batch.members, now, &mut self.path_buf)
                {
                    missing += 1;
                }
            } else if let Some(c) = &current {
                self.path_buf.push_str(c);
            }
            if current.as_deref() != Some(self.path_buf.as_str()) {
                if !self.open.contains_key(self.path_buf.as_str()) {
                    let path = self.path_buf.clone();
                    if let Err(e) = self.open_file(&path, ctx) {
                        batch.ack.fail();
                        return Err(e);
                    }
                }
                current = Some(self.path_buf.clone());
            }
            let Some(f) = current.as_deref().and_then(|p| self.open.get_mut(p)) else {
                continue;
            };
            f.last_used = self.clock;
            let before = f.buf.len();
            self.encoding.write(event, &mut f.buf);
            self.buffered += f.buf.len() - before;
            if f.buf.len() >= self.buffer_bytes {
                let path = current.clone().unwrap_or_default();
                if let Some(f) = self.open.get_mut(&path) {
                    let n = f.buf.len();
                    if let Err(e) = write_out(&path, f, ctx, &self.log) {
                        batch.ack.fail();
                        return Err(e);
                    }
                    self.buffered = self.buffered.saturating_sub(n);
                }
            }
        }
        if missing > 0 {
            ComponentMetrics::add(&ctx.metrics.errors, missing);
            if let Some(suppressed) = self.log.check() {
                tracing::warn!(component = %ctx.id, events = missing, suppressed,
                    "path template field missing; wrote to '{}'", crate::event::template::MISSING_FIELD);
            }
        }
        ComponentMetrics::add(&ctx.metrics.sent_events, batch.events.len() as u64);
        self.pending.push(batch.ack);
        if self.buffered >= self.buffer_bytes || self.pending.len() >= 1024 {
            self.write_all_buffers(ctx, false)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        let result = self.write_all_buffers(ctx, ctx.shutdown.is_stopping());
        if result.is_err() {
            for token in self.pending.drain(..) {
                token.fail();
            }
        }
        result
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.flush_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Stream};
    use std::sync::Arc;

    #[test]
    fn batches_never_written_are_reported_undelivered() {
        let dir = tempfile::tempdir().unwrap();
        let config: FileSinkConfig = toml::from_str(&format!(
            "path = {:?}\nflush_interval = \"1h\"",
            dir.path().join("out.ndjson").display().to_string()
        ))
        .unwrap();
        let mut sink = config.build();
        let (tx, rx) = crossbeam_channel::unbounded();
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 1,
        });
        let mut batch = Batch::new(stream, AckToken::new(1, 10, tx), 1);
        batch
            .events
            .push(Event::new(bytes::Bytes::from_static(b"x"), 0));
        let (_trigger, shutdown) = crate::pipeline::topology::detached_shutdown();
        let ctx = SinkContext {
            id: "o".into(),
            metrics: Arc::default(),
            shutdown,
            outputs: crate::pipeline::Outputs::new(
                crate::pipeline::Output::new(Vec::new(), Arc::default()),
                Vec::new(),
            ),
        };
        sink.write(batch, &ctx).unwrap();
        assert!(rx.try_recv().is_err(), "buffered, not yet acknowledged");
        drop(sink);
        assert!(!rx.try_recv().unwrap().delivered);
    }
}
