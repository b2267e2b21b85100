//! A sink's disk buffer (`buffer.type = "disk"`): a write-ahead log between the
//! sink's input channel and the sink.
//!
//! Two threads share it. The *writer* takes batches from the input channel,
//! appends each as one checksummed record to the current segment file
//! (`DATA_DIR/buffers/SINK_ID/00000000000000000001.wal`, a new segment every
//! `max_size / 8`), calls `fdatasync` once for everything it appended (group
//! commit), and only then drops the batches — which releases their
//! acknowledgements to the sources. The *reader* (the sink's thread) reads the
//! records back, hands them to the sink as batches with their own ack tokens,
//! and advances the acknowledged position only when the sink has acked them;
//! segments wholly before that position are deleted. The position is written to
//! `DIR/ack` (atomically: temp file, fsync, rename) at most once a second and at
//! shutdown, so after a crash at most a second of delivered records is sent
//! again (at-least-once) and nothing unacknowledged is lost.
//!
//! Record: `len: u32 LE | crc32(payload): u32 LE | payload`. On start every
//! segment from the acknowledged position on is checked; the first record with
//! a bad length or checksum (a write cut by a crash or a corrupted disk) ends
//! that segment: the file is truncated there, the loss counted
//! (`buffer_corrupted_records_total`) and logged, and the agent goes on — never a
//! crash loop.
//!
//! The bytes on disk are bounded by `max_size`: when a record does not fit,
//! `when_full = "block"` waits for the sink to free space (holding the pipeline
//! back), `drop_newest` discards the incoming batch (counted as
//! `component_discarded_events_total{reason="buffer_full"}`, acknowledged).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;

use crate::config::{DiskBufferConfig, WhenFull};
use crate::event::ack::Ack;
use crate::event::json;
use crate::event::{AckToken, Batch, Event, Level, Root, Span, Stream, encode};
use crate::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON};
use logagent_core::component::{Sink, SinkContext};

/// Labeled series a disk buffer keeps on its sink.
pub use crate::telemetry::names::disk_buffer as names;

const HEADER: usize = 8;
const SEGMENT_BITS: u32 = 40;
const VERSION: u8 = 1;

/// Why the buffer cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// A file of the buffer could not be read or written.
    #[error("disk buffer {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
}

/// Why a buffered sink stopped: the buffer, its writer thread, or the sink.
#[derive(Debug, thiserror::Error)]
pub enum BufferedSinkError {
    /// The buffer's files.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// The writer thread could not be started.
    #[error("cannot start the disk buffer writer: {0}")]
    StartWriter(std::io::Error),
    /// The writer thread panicked.
    #[error("disk buffer writer panicked")]
    WriterPanicked,
    /// Appending to the buffer failed (its pending batches are failed upstream).
    #[error("disk buffer: {0}")]
    Append(AppendError),
    /// The sink behind the buffer failed.
    #[error(transparent)]
    Sink(#[from] logagent_core::component::SinkError),
}

/// Why the writer stopped appending.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The reader (the sink) stopped first.
    #[error("the sink stopped")]
    SinkStopped,
    /// The buffer stayed full until shutdown's drain time ran out.
    #[error("the buffer is full and the drain time is over")]
    FullAtShutdown,
    /// Writing or syncing a segment failed (after retries, for writes).
    #[error("{0}")]
    Io(std::io::Error),
    /// A new segment could not be opened.
    #[error(transparent)]
    Buffer(BufferError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BufferError + '_ {
    move |error| BufferError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A position in the log: segment number in the high bits, byte offset in the
/// low [`SEGMENT_BITS`].
fn lsn(segment: u64, offset: u64) -> u64 {
    (segment << SEGMENT_BITS) | offset
}

fn split(lsn: u64) -> (u64, u64) {
    (lsn >> SEGMENT_BITS, lsn & ((1 << SEGMENT_BITS) - 1))
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.wal"))
}

/// State shared by the writer and the reader.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// End of the last durable record.
    committed: u64,
    /// Bytes in segment files.
    bytes: u64,
    /// Events written and not yet acknowledged.
    events: u64,
    /// The writer has ended (input closed).
    closed: bool,
    /// Size of each segment on disk, by number.
    segments: BTreeMap<u64, u64>,
}

/// Encodes a batch as one record payload.
pub fn encode_batch(batch: &Batch, out: &mut Vec<u8>) {
    out.push(VERSION);
    let source = batch.stream.source.as_bytes();
    out.extend_from_slice(&(source.len() as u32).to_le_bytes());
    out.extend_from_slice(source);
    let path = batch
        .stream
        .path
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    match &path {
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&batch.stream.id.to_le_bytes());
    out.extend_from_slice(&(batch.events.len() as u32).to_le_bytes());
    let mut line = Vec::new();
    for event in &batch.events {
        line.clear();
        let text = event.root == Root::Text && event.edits.is_empty();
        if text {
            line.extend_from_slice(&event.line);
        } else {
            encode::write_json(event, &mut line);
        }
        let mut flags = 0u8;
        if !text {
            flags |= 1;
        }
        if event.meta.truncated {
            flags |= 2;
        }
        if event.meta.time.is_some() {
            flags |= 4;
        }
        if event.meta.level.is_some() {
            flags |= 8;
        }
        out.push(flags);
        out.extend_from_slice(&event.meta.offset.to_le_bytes());
        out.extend_from_slice(&event.meta.time.unwrap_or(0).to_le_bytes());
        out.push(event.meta.level.map_or(0, level_code));
        out.extend_from_slice(&(line.len() as u32).to_le_bytes());
        out.extend_from_slice(&line);
    }
}

const LEVELS: [Level; 9] = [
    Level::Trace,
    Level::Debug,
    Level::Info,
    Level::Notice,
    Level::Warn,
    Level::Error,
    Level::Critical,
    Level::Alert,
    Level::Emergency,
];

fn level_code(l: Level) -> u8 {
    LEVELS.iter().position(|x| *x == l).unwrap_or(0) as u8
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
}

/// Decodes a record payload back into a batch with `ack`; `None` if malformed.
/// JSON events are scanned again so sinks see their fields.
pub fn decode_batch(payload: Bytes, ack: AckToken) -> Option<Batch> {
    let mut c = Cursor(&payload);
    if c.u8()? != VERSION {
        return None;
    }
    let n = c.u32()? as usize;
    let source: Arc<str> = std::str::from_utf8(c.take(n)?).ok()?.into();
    let path = match c.u8()? {
        0 => None,
        _ => {
            let n = c.u32()? as usize;
            Some(PathBuf::from(std::str::from_utf8(c.take(n)?).ok()?))
        }
    };
    let id = c.u64()?;
    let count = c.u32()? as usize;
    let stream = Arc::new(Stream { source, path, id });
    let mut batch = Batch::new(stream, ack, count.min(1 << 16));
    for _ in 0..count {
        let flags = c.u8()?;
        let offset = c.u64()?;
        let time = c.u64()? as i64;
        let level = c.u8()?;
        let len = c.u32()? as usize;
        let start = payload.len() - c.0.len();
        c.take(len)?;
        let line = payload.slice(start..start + len);
        let mut event = Event::new(line, offset);
        event.meta.truncated = flags & 2 != 0;
        event.meta.time = (flags & 4 != 0).then_some(time);
        event.meta.level = (flags & 8 != 0)
            .then(|| LEVELS.get(level as usize).copied())
            .flatten();
        if flags & 1 != 0 {
            let begin = batch.members.len();
            if let Ok(object) = json::scan_object(&event.line, json::MAX_DEPTH, &mut batch.members)
            {
                event.root = Root::Json {
                    object,
                    members: Span::new(begin, batch.members.len()),
                };
            }
        }
        batch.events.push(event);
    }
    Some(batch)
}

/// What recovery found in the segment files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Where reading resumes (the acknowledged position).
    pub start: u64,
    /// End of the last valid record.
    pub end: u64,
    /// Valid records after `start`.
    pub records: u64,
    /// Events in them.
    pub events: u64,
    /// Records cut off (bad length or checksum), with everything after them in
    /// their segment.
    pub corrupted: u64,
    /// Bytes truncated away.
    pub truncated_bytes: u64,
}

fn read_ack(dir: &Path) -> u64 {
    let Ok(bytes) = fs::read(dir.join("ack")) else {
        return 0;
    };
    if bytes.len() != 12 {
        return 0;
    }
    let (value, crc) = bytes.split_at(8);
    if crc32fast::hash(value).to_le_bytes() != crc {
        return 0;
    }
    value.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

fn write_ack(dir: &Path, position: u64) -> Result<(), BufferError> {
    let tmp = dir.join("ack.tmp");
    let mut data = position.to_le_bytes().to_vec();
    data.extend_from_slice(&crc32fast::hash(&data[..8]).to_le_bytes());
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&data).map_err(io(&tmp))?;
    f.sync_data().map_err(io(&tmp))?;
    fs::rename(&tmp, dir.join("ack")).map_err(io(dir))?;
    Ok(())
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, BufferError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".wal").and_then(|n| n.parse().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Checks every segment from the acknowledged position on, truncating each at
/// its first bad record; deletes segments wholly acknowledged.
pub fn recover(dir: &Path) -> Result<(Recovered, BTreeMap<u64, u64>), BufferError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let acked = read_ack(dir);
    let (ack_seg, ack_off) = split(acked);
    let mut rec = Recovered::default();
    let mut sizes = BTreeMap::new();
    let segments = list_segments(dir)?;
    let mut first = true;
    for seg in segments {
        let path = segment_path(dir, seg);
        if seg < ack_seg {
            fs::remove_file(&path).map_err(io(&path))?;
            continue;
        }
        let data = fs::read(&path).map_err(io(&path))?;
        let mut pos = 0usize;
        let mut good = 0usize;
        let start = if seg == ack_seg { ack_off as usize } else { 0 };
        if first {
            rec.start = lsn(seg, start.min(data.len()) as u64);
            first = false;
        }
        let mut counting = false;
        while pos + HEADER <= data.len() {
            let len = u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]])
                as usize;
            let crc =
                u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
            let end = pos + HEADER + len;
            if len == 0 || end > data.len() || crc32fast::hash(&data[pos + HEADER..end]) != crc {
                break;
            }
            if pos >= start {
                counting = true;
            }
            if counting {
                rec.records += 1;
                // Event count sits after the stream header; decode cheaply.
                if let Some(b) = decode_batch(
                    Bytes::copy_from_slice(&data[pos + HEADER..end]),
                    AckToken::detached(),
                ) {
                    rec.events += b.events.len() as u64;
                }
            }
            pos = end;
            good = end;
        }
        if good < data.len() {
            rec.corrupted += 1;
            rec.truncated_bytes += (data.len() - good) as u64;
            tracing::warn!(
                file = %path.display(),
                at = good,
                bytes = data.len() - good,
                "disk buffer: cut or corrupted record; truncating the segment there"
            );
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            f.set_len(good as u64).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        sizes.insert(seg, good as u64);
        rec.end = lsn(seg, good as u64);
    }
    if sizes.is_empty() {
        let seg = ack_seg.max(1);
        rec.start = lsn(seg, 0);
        rec.end = rec.start;
    }
    Ok((rec, sizes))
}

/// Runs a sink behind a disk buffer until the input closes and everything in
/// the buffer has been delivered (or the drain time runs out: then what is left
/// stays on disk for the next start).
pub fn run_sink_buffered(
    mut sink: Box<dyn Sink>,
    rx: Receiver<Batch>,
    ctx: SinkContext,
    config: &DiskBufferConfig,
    data_dir: &Path,
) -> Result<(), BufferedSinkError> {
    let dir = data_dir.join("buffers").join(&*ctx.id);
    let (rec, sizes) = recover(&dir)?;
    let labeled = &ctx.metrics.labeled;
    let corrupted = labeled.counter(names::CORRUPTED, &[]);
    ComponentMetrics::add(&corrupted, rec.corrupted);
    labeled
        .gauge(names::MAX_BYTES, &[])
        .store(config.max_size.0, Ordering::Relaxed);
    if rec.records > 0 {
        tracing::info!(component = %ctx.id, records = rec.records, events = rec.events, "disk buffer: replaying unacknowledged records");
    }
    let bytes: u64 = sizes.values().sum();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            committed: rec.end,
            bytes,
            events: rec.events,
            closed: false,
            segments: sizes,
        }),
        changed: Condvar::new(),
    });
    let gauges = Gauges {
        events: labeled.gauge(names::EVENTS, &[]),
        bytes: labeled.gauge(names::BYTES, &[]),
    };
    gauges.publish(&shared);
    let writer = {
        let shared = shared.clone();
        let dir = dir.clone();
        let config = config.clone();
        let ctx = ctx.clone();
        let gauges = gauges.clone();
        std::thread::Builder::new()
            .name("disk-buffer".into())
            .spawn(move || write_loop(rx, &shared, &dir, &config, &ctx, &gauges))
            .map_err(BufferedSinkError::StartWriter)?
    };
    let result = read_loop(&mut *sink, &shared, &dir, rec.start, &ctx, &gauges);
    if result.is_err() {
        // Let the writer see the end: nobody reads any more.
        let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.closed = true;
        shared.changed.notify_all();
    }
    let written = writer
        .join()
        .map_err(|_| BufferedSinkError::WriterPanicked)?;
    result.and(written)
}

#[derive(Clone)]
struct Gauges {
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Gauges {
    fn publish(&self, shared: &Shared) {
        let st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        self.events.store(st.events, Ordering::Relaxed);
        self.bytes.store(st.bytes, Ordering::Relaxed);
    }
}

struct Segment {
    number: u64,
    file: File,
    size: u64,
}

fn open_segment(dir: &Path, number: u64) -> Result<Segment, BufferError> {
    let path = segment_path(dir, number);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    let size = file.metadata().map_err(io(&path))?.len();
    // Make the new file's name durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Segment { number, file, size })
}

fn write_loop(
    rx: Receiver<Batch>,
    shared: &Shared,
    dir: &Path,
    config: &DiskBufferConfig,
    ctx: &SinkContext,
    gauges: &Gauges,
) -> Result<(), BufferedSinkError> {
    let segment_max = (config.max_size.0 / 8).max(64 << 10);
    let (seg, _) = split(
        shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .committed,
    );
    let mut segment = open_segment(dir, seg.max(1))?;
    let full_drops = ctx
        .metrics
        .labeled
        .counter(DISCARDED_BY_REASON, &[("reason", "buffer_full")]);
    let mut record = Vec::new();
    let mut payload = Vec::new();
    let mut pending: Vec<Batch> = Vec::new();
    let inflow = crate::pipeline::channel::Fill::of(&ctx.metrics);
    let result = loop {
        if pending.is_empty() {
            let first = match rx.recv() {
                Ok(b) => b,
                Err(_) => break Ok(()),
            };
            inflow.take(&first);
            pending.push(first);
        }
        // Group commit: everything already waiting goes into one fsync.
        while pending.len() < 64 {
            match rx.try_recv() {
                Ok(b) => {
                    inflow.take(&b);
                    pending.push(b);
                }
                Err(_) => break,
            }
        }
        let mut appended_events = 0u64;
        let mut appended_bytes = 0u64;
        let mut failed = None;
        // Batches settled this round (written or dropped); the rest wait for
        // the next one.
        let mut settled = 0;
        for batch in &pending {
            if shared
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .closed
            {
                failed = Some(AppendError::SinkStopped);
                break;
            }
            payload.clear();
            encode_batch(batch, &mut payload);
            record.clear();
            record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            record.extend_from_slice(&payload);
            let len = record.len() as u64;
            // Room? A record larger than the room left goes in when nothing is
            // waiting for the sink (what is on disk then is acknowledged data
            // in the segment being written, deleted once the next one starts).
            let fits = |st: &State| {
                st.bytes + appended_bytes + len <= config.max_size.0
                    || (st.events == 0 && appended_bytes == 0)
            };
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if !fits(&st) && appended_bytes > 0 {
                // What this round appended is not committed, so the sink cannot
                // read it and make room: commit it first, then come back to
                // this batch (waiting here would wait for ever).
                break;
            }
            let received = |batch: &Batch| {
                ComponentMetrics::add(&ctx.metrics.received_events, batch.events.len() as u64);
                ComponentMetrics::add(&ctx.metrics.received_bytes, batch.line_bytes() as u64);
            };
            if !fits(&st) {
                match config.when_full {
                    WhenFull::DropNewest => {
                        drop(st);
                        received(batch);
                        let n = batch.events.len() as u64;
                        ComponentMetrics::add(&full_drops, n);
                        ComponentMetrics::add(&ctx.metrics.discarded_events, n);
                        settled += 1;
                        continue;
                    }
                    WhenFull::Block => {
                        ctx.metrics.blocked.store(true, Ordering::Relaxed);
                        while !fits(&st) && !st.closed && !ctx.shutdown.is_forced() {
                            st = shared
                                .changed
                                .wait_timeout(st, Duration::from_millis(200))
                                .map(|(g, _)| g)
                                .unwrap_or_else(|p| p.into_inner().0);
                        }
                        ctx.metrics.blocked.store(false, Ordering::Relaxed);
                        if !fits(&st) {
                            failed = Some(AppendError::FullAtShutdown);
                            break;
                        }
                    }
                }
            }
            drop(st);
            received(batch);
            if segment.size > 0 && segment.size + len > segment_max {
                if let Err(e) = segment.file.sync_data() {
                    failed = Some(AppendError::Io(e));
                    break;
                }
                let next = segment.number + 1;
                {
                    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.segments.insert(segment.number, segment.size);
                }
                segment = match open_segment(dir, next) {
                    Ok(s) => s,
                    Err(e) => {
                        failed = Some(AppendError::Buffer(e));
                        break;
                    }
                };
                let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                st.segments.insert(next, 0);
                st.committed = lsn(next, 0);
            }
            if let Err(e) = write_retrying(&mut segment.file, &record, ctx) {
                failed = Some(AppendError::Io(e));
                break;
            }
            segment.size += len;
            appended_bytes += len;
            appended_events += batch.events.len() as u64;
            settled += 1;
        }
        if let Err(e) = segment.file.sync_data() {
            failed.get_or_insert(AppendError::Io(e));
        }
        {
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if failed.is_none() {
                st.committed = lsn(segment.number, segment.size);
                st.segments.insert(segment.number, segment.size);
                st.bytes += appended_bytes;
                st.events += appended_events;
            }
            shared.changed.notify_all();
        }
        gauges.publish(shared);
        if let Some(e) = failed {
            for b in &pending {
                b.ack.fail();
            }
            break Err(BufferedSinkError::Append(e));
        }
        // Durable: release the acknowledgements upstream.
        pending.drain(..settled);
    };
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    st.closed = true;
    shared.changed.notify_all();
    result
}

/// Appends `data`, retrying a failing write (a full disk) with backoff until it
/// succeeds or the drain time is over.
fn write_retrying(file: &mut File, data: &[u8], ctx: &SinkContext) -> std::io::Result<()> {
    let mut backoff =
        crate::sinks::net::Backoff::fixed(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        let before = file.metadata().map(|m| m.len()).unwrap_or(0);
        match file.write_all(data) {
            Ok(()) => return Ok(()),
            Err(e) => {
                // Undo a partial append so the log stays well-formed.
                let _ = file.set_len(before);
                ComponentMetrics::add(&ctx.metrics.errors, 1);
                if ctx.shutdown.is_forced() {
                    return Err(e);
                }
                tracing::warn!(component = %ctx.id, error = %e, "disk buffer: write failed; retrying");
                ctx.shutdown.wait(backoff.next_delay());
            }
        }
    }
}

struct Reader {
    dir: PathBuf,
    segment: u64,
    offset: u64,
    file: Option<File>,
}

impl Reader {
    fn position(&self) -> u64 {
        lsn(self.segment, self.offset)
    }

    /// Reads the record at the current position (known to be committed).
    fn next(&mut self, committed: u64) -> Result<Option<(u64, Bytes)>, BufferError> {
        let (cseg, coff) = split(committed);
        if self.segment == cseg && self.offset >= coff {
            return Ok(None);
        }
        let path = segment_path(&self.dir, self.segment);
        if self.file.is_none() {
            let mut f = File::open(&path).map_err(io(&path))?;
            f.seek(SeekFrom::Start(self.offset)).map_err(io(&path))?;
            self.file = Some(f);
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(None);
        };
        let mut header = [0u8; HEADER];
        match f.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && self.segment < cseg => {
                // End of a finished segment: go to the next one.
                self.segment += 1;
                self.offset = 0;
                self.file = None;
                return self.next(committed);
            }
            Err(e) => return Err(io(&path)(e)),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let mut payload = vec![0u8; len];
        f.read_exact(&mut payload).map_err(io(&path))?;
        if crc32fast::hash(&payload) != crc {
            return Err(io(&path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("checksum mismatch at offset {}", self.offset),
            )));
        }
        let start = self.position();
        self.offset += (HEADER + len) as u64;
        Ok(Some((start, Bytes::from(payload))))
    }
}

/// Records handed to the sink and not yet acknowledged: start → (events,
/// given up at shutdown).
type Outstanding = BTreeMap<u64, (u64, bool)>;

/// Applies one acknowledgement; returns the events it settled.
fn settle(ack: Ack, outstanding: &mut Outstanding, ctx: &SinkContext) -> u64 {
    if !ack.delivered && ctx.shutdown.is_stopping() {
        // Given up at shutdown: it stays (and keeps the acknowledged position
        // before it) so the next start delivers it.
        if let Some(entry) = outstanding.get_mut(&ack.stream) {
            entry.1 = true;
        }
        return 0;
    }
    // Delivered, or given up by the sink while running (counted by the sink,
    // as without a buffer).
    outstanding
        .remove(&ack.stream)
        .map_or(0, |(events, _)| events)
}

fn read_loop(
    sink: &mut dyn Sink,
    shared: &Shared,
    dir: &Path,
    start: u64,
    ctx: &SinkContext,
    gauges: &Gauges,
) -> Result<(), BufferedSinkError> {
    let (segment, offset) = split(start);
    let mut reader = Reader {
        dir: dir.to_path_buf(),
        segment,
        offset,
        file: None,
    };
    let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Ack>();
    let mut outstanding = Outstanding::new();
    let mut acked_position = start;
    let mut persisted = start;
    let mut last_persist = Instant::now();
    let interval = sink.flush_interval();
    let mut next_flush = interval.map(|i| Instant::now() + i);
    loop {
        // 1. Acknowledgements from the sink: advance, delete finished segments.
        let mut freed = 0u64;
        for ack in ack_rx.try_iter() {
            freed += settle(ack, &mut outstanding, ctx);
        }
        let frontier = outstanding
            .keys()
            .next()
            .copied()
            .unwrap_or_else(|| reader.position());
        if frontier != acked_position || freed > 0 {
            acked_position = frontier;
            advance(shared, dir, frontier, freed);
            gauges.publish(shared);
        }
        if acked_position != persisted && last_persist.elapsed() >= Duration::from_secs(1) {
            write_ack(dir, acked_position)?;
            persisted = acked_position;
            last_persist = Instant::now();
        }

        // 2. The next record, or wait for one.
        let (committed, closed) = {
            let st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            (st.committed, st.closed)
        };
        match reader.next(committed)? {
            Some((start, payload)) => {
                let end = reader.position();
                let token = AckToken::new(start, end, ack_tx.clone());
                match decode_batch(payload, token) {
                    Some(batch) => {
                        outstanding.insert(start, (batch.events.len() as u64, false));
                        sink.write(batch, ctx)?;
                    }
                    None => {
                        ComponentMetrics::add(&ctx.metrics.errors, 1);
                        tracing::warn!(component = %ctx.id, "disk buffer: undecodable record skipped");
                    }
                }
            }
            None if closed => {
                // Input closed and everything read: let the sink finish, collect
                // the last acknowledgements, record the position.
                sink.close(ctx)?;
                loop {
                    let mut freed = 0;
                    for ack in ack_rx.try_iter() {
                        freed += settle(ack, &mut outstanding, ctx);
                    }
                    advance(
                        shared,
                        dir,
                        outstanding
                            .keys()
                            .next()
                            .copied()
                            .unwrap_or_else(|| reader.position()),
                        freed,
                    );
                    if outstanding.values().all(|(_, gave_up)| *gave_up) || ctx.shutdown.is_forced()
                    {
                        break;
                    }
                    if let Ok(ack) = ack_rx.recv_timeout(Duration::from_millis(100)) {
                        let freed = settle(ack, &mut outstanding, ctx);
                        advance(
                            shared,
                            dir,
                            outstanding
                                .keys()
                                .next()
                                .copied()
                                .unwrap_or_else(|| reader.position()),
                            freed,
                        );
                    }
                }
                let frontier = outstanding
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or_else(|| reader.position());
                write_ack(dir, frontier)?;
                if !outstanding.is_empty() {
                    tracing::warn!(component = %ctx.id, records = outstanding.len(), "disk buffer: undelivered records stay on disk for the next start");
                }
                gauges.publish(shared);
                return Ok(());
            }
            None => {
                let wait = next_flush
                    .map(|at| at.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_millis(200))
                    .min(Duration::from_millis(200));
                let st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                if st.committed == committed && !st.closed && ack_rx.is_empty() {
                    let _ = shared.changed.wait_timeout(st, wait);
                }
            }
        }
        if let (Some(at), Some(i)) = (next_flush, interval)
            && Instant::now() >= at
        {
            sink.flush(ctx)?;
            next_flush = Some(Instant::now() + i);
        }
    }
}

/// The sink has acknowledged everything before `frontier`: forget `freed`
/// events and delete segments wholly before it (never the one being written).
fn advance(shared: &Shared, dir: &Path, frontier: u64, freed: u64) {
    let (fseg, _) = split(frontier);
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    st.events = st.events.saturating_sub(freed);
    let (cseg, _) = split(st.committed);
    let old: Vec<u64> = st
        .segments
        .range(..fseg.min(cseg))
        .map(|(k, _)| *k)
        .collect();
    for seg in old {
        if let Some(size) = st.segments.remove(&seg) {
            st.bytes = st.bytes.saturating_sub(size);
        }
        let _ = fs::remove_file(segment_path(dir, seg));
    }
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests;
