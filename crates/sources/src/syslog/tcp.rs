//! Syslog over TCP: an accepting thread, one thread per connection (at most
//! `max_connections`), frames told apart one by one between octet counting
//! and newline termination (RFC 6587), and the limits that keep a hostile or
//! broken client from holding memory or a connection slot.

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::Sender;
use tokio_rustls::rustls;

use super::decode::{Counters, Decoder};
use super::{SyslogSourceConfig, wake_address};
use crate::batcher::Batcher;
use logagent_core::component::{SourceContext, SourceError};
use logagent_core::event::Stream;
use logagent_core::event::ack::Ack;
use logagent_core::flow::{Closed, Output};
use logagent_core::telemetry::metrics::ComponentMetrics;

/// Open connections (the `source_open_connections` gauge).
pub const OPEN_CONNECTIONS: &str = "source_open_connections";

/// How much one read asks for.
const READ_SIZE: usize = 64 * 1024;
/// Stack of a connection thread: decoding needs little.
const CONN_STACK: usize = 256 * 1024;

/// A frame cut from the stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// The frame without its framing (count or newline).
    pub bytes: Bytes,
    /// Cut at `max_frame_bytes`.
    pub truncated: bool,
    /// Where the frame starts in the connection's bytes: with the connection's
    /// stream id, what tells two equal messages apart (document ids).
    pub offset: u64,
}

/// Why a connection's framing cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// An octet count over `max_frame_bytes`.
    #[error("octet count {count} is over max_frame_bytes ({max})")]
    TooLarge {
        /// The count the client sent.
        count: u64,
        /// The limit.
        max: usize,
    },
}

/// Cuts frames from the bytes of one connection: a frame starting with a
/// digit run and a space is octet-counted (`LEN SP MSG`), anything else ends
/// at a newline (a trailing `\r` or NUL is dropped too). Empty frames are
/// skipped. Memory is bounded by `max_frame_bytes` plus one read.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    /// Bytes of the connection before `buf`.
    consumed: u64,
    max: usize,
    /// The rest of an over-long newline frame is being skipped.
    skipping: bool,
}

/// Longest digit run read as an octet count (`u64` has 20 digits).
const MAX_COUNT_DIGITS: usize = 20;

impl Framer {
    /// A framer cutting frames of at most `max` bytes.
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: BytesMut::new(),
            consumed: 0,
            max,
            skipping: false,
        }
    }

    /// Reads once from `r` into the buffer; the byte count (0 at the end).
    pub fn fill<R: Read>(&mut self, r: &mut R) -> std::io::Result<usize> {
        let len = self.buf.len();
        self.buf.resize(len + READ_SIZE, 0);
        let result = r.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        result
    }

    /// Appends bytes (tests).
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Takes `n` bytes off the front of the buffer.
    fn take(&mut self, n: usize) -> BytesMut {
        self.consumed += n as u64;
        self.buf.split_to(n)
    }

    /// Empties the buffer.
    fn discard(&mut self) {
        self.consumed += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Lets go of the read buffer when no frame is pending, so an idle
    /// connection holds no memory (frames still in the pipeline keep their
    /// part of it alive until they are done).
    pub fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    /// True while part of a frame waits for the rest.
    pub fn pending(&self) -> bool {
        self.skipping || !self.buf.is_empty()
    }

    /// The next complete frame, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if self.skipping {
                match memchr::memchr(b'\n', &self.buf) {
                    Some(p) => {
                        let _ = self.take(p + 1);
                        self.skipping = false;
                    }
                    None => {
                        self.discard();
                        return Ok(None);
                    }
                }
            }
            // Separators between frames (a newline after an octet-counted
            // frame, blank lines).
            let blank = self
                .buf
                .iter()
                .take_while(|c| matches!(c, b'\n' | b'\r' | b'\0'))
                .count();
            if blank > 0 {
                let _ = self.take(blank);
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
            let digits = self
                .buf
                .iter()
                .take(MAX_COUNT_DIGITS + 1)
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits > 0 && self.buf[0] != b'0' {
                match self.buf.get(digits) {
                    Some(b' ') if digits <= MAX_COUNT_DIGITS => {
                        let count = self.buf[..digits].iter().fold(0u64, |n, d| {
                            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                        });
                        if count > self.max as u64 {
                            return Err(FrameError::TooLarge {
                                count,
                                max: self.max,
                            });
                        }
                        let count = count as usize;
                        if self.buf.len() < digits + 1 + count {
                            return Ok(None);
                        }
                        let _ = self.take(digits + 1);
                        let offset = self.consumed;
                        let frame = trim(self.take(count).freeze());
                        if frame.is_empty() {
                            continue;
                        }
                        return Ok(Some(Frame {
                            bytes: frame,
                            truncated: false,
                            offset,
                        }));
                    }
                    // Digits so far: the count may go on in the next read.
                    None if digits <= MAX_COUNT_DIGITS => return Ok(None),
                    // Digits then something else: a newline frame.
                    _ => {}
                }
            }
            match memchr::memchr(b'\n', &self.buf) {
                Some(p) => {
                    let offset = self.consumed;
                    let frame = trim(self.take(p + 1).freeze());
                    if frame.is_empty() {
                        continue;
                    }
                    let truncated = frame.len() > self.max;
                    let bytes = if truncated {
                        frame.slice(..self.max)
                    } else {
                        frame
                    };
                    return Ok(Some(Frame {
                        bytes,
                        truncated,
                        offset,
                    }));
                }
                None if self.buf.len() > self.max => {
                    let offset = self.consumed;
                    let frame = self.take(self.max).freeze();
                    self.discard();
                    self.skipping = true;
                    return Ok(Some(Frame {
                        bytes: frame,
                        truncated: true,
                        offset,
                    }));
                }
                None => return Ok(None),
            }
        }
    }

    /// What is left when the connection ends: a last line without its
    /// newline (an incomplete octet-counted frame is lost, and `true` says so).
    pub fn finish(&mut self) -> (Option<Frame>, bool) {
        if self.skipping || self.buf.is_empty() {
            return (None, false);
        }
        let digits = self.buf.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && self.buf.get(digits).is_none_or(|c| *c == b' ') {
            self.discard();
            return (None, true);
        }
        let offset = self.consumed;
        let len = self.buf.len();
        let rest = trim(self.take(len).freeze());
        if rest.is_empty() {
            return (None, false);
        }
        let truncated = rest.len() > self.max;
        let bytes = if truncated {
            rest.slice(..self.max)
        } else {
            rest
        };
        (
            Some(Frame {
                bytes,
                truncated,
                offset,
            }),
            false,
        )
    }
}

/// Drops trailing `\n`, `\r` and NUL.
pub(super) fn trim(mut b: Bytes) -> Bytes {
    let keep = b.len()
        - b.iter()
            .rev()
            .take_while(|c| matches!(c, b'\n' | b'\r' | b'\0'))
            .count();
    b.truncate(keep);
    b
}

/// Connections open now, for closing them at a stop.
type Registry = Arc<Mutex<HashMap<u64, TcpStream>>>;

struct Shared {
    config: SyslogSourceConfig,
    /// The server side of TLS, when `tls` is set.
    tls: Option<Arc<rustls::ServerConfig>>,
    decoder: Decoder,
    counters: Counters,
    output: Output,
    id: Arc<str>,
    batch_max_events: usize,
    batch_max_bytes: usize,
    stopping: AtomicBool,
    /// Tells this run's connections from an earlier run's (stream ids).
    run_id: u64,
    registry: Registry,
    open: Arc<AtomicU64>,
    limit_hits: Arc<AtomicU64>,
}

/// Listens on `addr` until a stop, then closes every connection (what they
/// sent so far is passed on) and returns.
pub fn run(
    config: &SyslogSourceConfig,
    addr: SocketAddr,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let tls = config
        .tls
        .as_ref()
        .map(crate::tls::ServerTlsConfig::load)
        .transpose()
        .map_err(|e| SourceError::Io {
            what: "syslog: the TLS certificate".into(),
            error: std::io::Error::new(ErrorKind::InvalidInput, e.to_string()),
        })?;
    let listener = TcpListener::bind(addr).map_err(|error| SourceError::Io {
        what: format!("syslog: listening on tcp {addr}"),
        error,
    })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(component = %ctx.id, address = %local, "syslog source listening (tcp)");
    let counters = Counters::new(&ctx.metrics);
    let labeled = &ctx.metrics.labeled;
    let shared = Arc::new(Shared {
        config: config.clone(),
        tls,
        decoder: Decoder::new(config, ctx.id.clone(), counters.clone()),
        counters,
        output: ctx.output.clone(),
        id: ctx.id.clone(),
        batch_max_events: ctx.batch_max_events,
        batch_max_bytes: ctx.batch_max_bytes,
        stopping: AtomicBool::new(false),
        run_id: logagent_core::time::now_ns() as u64,
        registry: Arc::new(Mutex::new(HashMap::new())),
        open: labeled.gauge(OPEN_CONNECTIONS, &[]),
        limit_hits: labeled.counter(
            logagent_core::telemetry::metrics::ERRORS_BY_TYPE,
            &[("error_type", "connection_limit")],
        ),
    });
    drop(ctx.output);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<std::io::Error>(1);
    let accepting = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("syslog-accept".into())
            .spawn(move || accept_loop(listener, &shared, done_tx))
            .map_err(|error| SourceError::Io {
                what: "syslog: starting the accept thread".into(),
                error,
            })?
    };
    let failed = crossbeam_channel::select! {
        recv(ctx.shutdown.receiver()) -> _ => None,
        recv(done_rx) -> e => e.ok(),
    };
    shared.stopping.store(true, Ordering::SeqCst);
    // Wake the accept call; if that fails the thread is left to the exit.
    let woke = TcpStream::connect_timeout(&wake_address(local), Duration::from_secs(2)).is_ok();
    let conns = if woke || accepting.is_finished() {
        accepting.join().unwrap_or_default()
    } else {
        Vec::new()
    };
    // Stop reading every connection: each passes on what it has and ends.
    for stream in lock(&shared.registry).values() {
        let _ = stream.shutdown(NetShutdown::Read);
    }
    for c in conns {
        let _ = c.join();
    }
    match failed {
        Some(error) => Err(SourceError::Io {
            what: format!("syslog: accepting on tcp {local}"),
            error,
        }),
        None => Ok(()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accepts until a stop; the connection threads it started.
fn accept_loop(
    listener: TcpListener,
    shared: &Arc<Shared>,
    done: Sender<std::io::Error>,
) -> Vec<JoinHandle<()>> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    let mut failures = 0u32;
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => {
                failures = 0;
                pair
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(error) => {
                // Out of descriptors and the like: count, back off, go on;
                // give up only when it never stops.
                shared.counters.error("accept");
                failures += 1;
                if let Some(suppressed) = shared.counters.log.check() {
                    tracing::warn!(component = %shared.id, %error, suppressed, "syslog: accepting a connection failed");
                }
                if failures > 100 {
                    let _ = done.send(error);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        let open = lock(&shared.registry).len();
        if open >= shared.config.max_connections {
            ComponentMetrics::add(&shared.counters.metrics.errors, 1);
            ComponentMetrics::add(&shared.limit_hits, 1);
            if let Some(suppressed) = shared.counters.log.check() {
                tracing::warn!(
                    component = %shared.id,
                    %peer,
                    max_connections = shared.config.max_connections,
                    suppressed,
                    "syslog: too many connections; closing the new one"
                );
            }
            let _ = stream.shutdown(NetShutdown::Both);
            continue;
        }
        let id = next_id;
        next_id += 1;
        let Ok(handle) = stream.try_clone() else {
            shared.counters.error("accept");
            continue;
        };
        lock(&shared.registry).insert(id, handle);
        shared.open.fetch_add(1, Ordering::Relaxed);
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("syslog-conn".into())
            .stack_size(CONN_STACK)
            .spawn(move || {
                let s = &conn_shared;
                connection(s, stream, peer, id);
                lock(&s.registry).remove(&id);
                s.open.fetch_sub(1, Ordering::Relaxed);
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(error) => {
                shared.counters.error("accept");
                if let Some(stream) = lock(&shared.registry).remove(&id) {
                    let _ = stream.shutdown(NetShutdown::Both);
                }
                shared.open.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(component = %shared.id, %error, "syslog: cannot start a connection thread");
            }
        }
    }
    threads
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The peer closed it (or a stop closed it for reading).
    Closed,
    /// Nothing arrived for `idle_timeout`.
    Idle,
    /// A frame stayed incomplete for `frame_timeout`.
    SlowFrame,
    /// A frame over the limit.
    TooLarge(FrameError),
    /// Reading failed.
    Error(std::io::Error),
    /// The pipeline is gone.
    Downstream,
}

/// A connection's byte stream: plain TCP, or TLS over it.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            // A peer that closes without TLS's close_notify has still said
            // all it meant to: syslog frames are self-delimiting.
            Conn::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

/// The server side of a TLS handshake, within `frame_timeout`; `None` when
/// the client closed without sending a byte (a port probe, a health check:
/// not an error).
fn handshake(
    config: &Arc<rustls::ServerConfig>,
    mut tcp: TcpStream,
    timeout: Duration,
) -> Result<Option<Conn>, String> {
    let mut conn = rustls::ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let mut received = 0usize;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the handshake did not finish within frame_timeout".into());
        }
        tcp.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) if conn.wants_read() && received == 0 => return Ok(None),
            Ok((0, 0)) if conn.wants_read() => return Err("closed during the handshake".into()),
            Ok((read, _)) => received += read,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof && received == 0 => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(Some(Conn::Tls(Box::new(rustls::StreamOwned::new(
        conn, tcp,
    )))))
}

fn connection(shared: &Shared, stream: TcpStream, peer: SocketAddr, id: u64) {
    let mut stream = match &shared.tls {
        None => Conn::Plain(stream),
        Some(tls) => match handshake(tls, stream, shared.config.frame_timeout.0) {
            Ok(Some(conn)) => conn,
            Ok(None) => return,
            Err(error) => {
                shared.counters.error("tls_handshake");
                if let Some(suppressed) = shared.counters.log.check() {
                    tracing::warn!(component = %shared.id, %peer, %error, suppressed, "syslog: a TLS handshake failed");
                }
                return;
            }
        },
    };
    let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Ack>();
    // Nobody waits for acknowledgements: syslog has no way to pass them on.
    drop(ack_rx);
    let stream_info = Arc::new(Stream {
        source: shared.id.clone(),
        path: None,
        id: super::stream_id(shared.run_id, id),
    });
    let mut batcher = Batcher::new(
        stream_info,
        shared.batch_max_events,
        shared.batch_max_bytes,
        ack_tx,
    );
    let peer_value = shared.decoder.peer_value(peer.ip());
    let mut framer = Framer::new(shared.config.max_frame_bytes.as_usize());
    let idle = shared.config.idle_timeout.0;
    let frame_timeout = shared.config.frame_timeout.0;
    let mut partial_since: Option<Instant> = None;
    let mut timeout_set: Option<Duration> = None;
    let truncated = shared.counters.metrics.labeled.counter(
        logagent_core::telemetry::metrics::ERRORS_BY_TYPE,
        &[("error_type", "frame_truncated")],
    );
    let end = loop {
        let timeout = match partial_since {
            Some(t) => frame_timeout
                .saturating_sub(t.elapsed())
                .max(Duration::from_millis(1)),
            None => idle,
        };
        // One system call only when the timeout changes (a partial frame's
        // shrinks; the idle one stays).
        if timeout_set != Some(timeout) {
            if let Err(e) = stream.tcp().set_read_timeout(Some(timeout)) {
                break End::Error(e);
            }
            timeout_set = Some(timeout);
        }
        match framer.fill(&mut stream) {
            Ok(0) => break End::Closed,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                match partial_since {
                    Some(t) if t.elapsed() >= frame_timeout => break End::SlowFrame,
                    Some(_) => continue,
                    None => break End::Idle,
                }
            }
            Err(e) => break End::Error(e),
        }
        let now = logagent_core::time::now_ns();
        let mut sent: Result<(), Closed> = Ok(());
        let mut completed = false;
        let cut = loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    completed = true;
                    if frame.truncated {
                        ComponentMetrics::add(&shared.counters.metrics.errors, 1);
                        ComponentMetrics::add(&truncated, 1);
                    }
                    let (at, len) = (frame.offset, frame.bytes.len() as u64);
                    if let Some(ev) = shared.decoder.decode(
                        frame.bytes,
                        frame.truncated,
                        peer_value.as_ref(),
                        at,
                        now,
                    ) {
                        sent = batcher.push_event(
                            ev,
                            at + len,
                            &shared.output,
                            &shared.counters.metrics,
                        );
                        if sent.is_err() {
                            break Ok(());
                        }
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if sent.is_err() {
            break End::Downstream;
        }
        // What this read completed goes on now: latency over batch size.
        if batcher.flush(&shared.output).is_err() {
            break End::Downstream;
        }
        if let Err(e) = cut {
            break End::TooLarge(e);
        }
        // The frame left incomplete started in this read if one was
        // completed here; otherwise it is still the one that started earlier.
        framer.release_if_empty();
        partial_since = match (framer.pending(), completed) {
            (false, _) => None,
            (true, true) => Some(Instant::now()),
            (true, false) => partial_since.or(Some(Instant::now())),
        };
    };
    if matches!(end, End::Closed | End::Idle) {
        let (last, lost) = framer.finish();
        if let Some(frame) = last {
            let now = logagent_core::time::now_ns();
            let (at, len) = (frame.offset, frame.bytes.len() as u64);
            if let Some(ev) =
                shared
                    .decoder
                    .decode(frame.bytes, frame.truncated, peer_value.as_ref(), at, now)
            {
                let _ = batcher.push_event(ev, at + len, &shared.output, &shared.counters.metrics);
            }
        }
        if lost {
            shared.counters.error("incomplete_frame");
        }
    }
    let _ = batcher.flush(&shared.output);
    let _ = stream.tcp().shutdown(NetShutdown::Both);
    let (error_type, what) = match &end {
        End::Closed | End::Downstream => return,
        End::Idle => {
            tracing::debug!(component = %shared.id, %peer, "syslog: closing an idle connection");
            return;
        }
        End::SlowFrame => (
            "frame_timeout",
            "a frame stayed incomplete for frame_timeout".to_owned(),
        ),
        End::TooLarge(e) => ("frame_too_large", e.to_string()),
        End::Error(e) => ("read", e.to_string()),
    };
    shared.counters.error(error_type);
    if let Some(suppressed) = shared.counters.log.check() {
        tracing::warn!(component = %shared.id, %peer, error = %what, suppressed, "syslog: closing the connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut Framer) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while let Some(f) = framer.next_frame().unwrap() {
            out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
        }
        out
    }

    #[test]
    fn newline_and_octet_counted_frames_mix() {
        let mut f = Framer::new(64);
        f.push(b"<13>a b\r\n9 <13>x\ny\nz3 <1>\n\n<14>tail");
        assert_eq!(
            frames(&mut f),
            [
                ("<13>a b".to_owned(), false),
                ("<13>x\ny\nz".to_owned(), false),
                ("<1>".to_owned(), false),
            ]
        );
        assert!(f.pending());
        f.push(b"\n");
        assert_eq!(frames(&mut f), [("<14>tail".to_owned(), false)]);
        assert!(!f.pending());
    }

    #[test]
    fn a_count_split_across_reads_waits_for_the_rest() {
        let mut f = Framer::new(64);
        for chunk in [&b"1"[..], b"0", b" <13>", b"1234", b"56"] {
            assert_eq!(frames(&mut f), []);
            f.push(chunk);
        }
        assert_eq!(frames(&mut f), [("<13>123456".to_owned(), false)]);
    }

    #[test]
    fn a_huge_count_is_refused_before_anything_is_allocated() {
        let mut f = Framer::new(1024);
        f.push(b"10737418240 <13>");
        assert_eq!(
            f.next_frame(),
            Err(FrameError::TooLarge {
                count: 10_737_418_240,
                max: 1024
            })
        );
        let mut f = Framer::new(1024);
        f.push(b"99999999999999999999999999 x\n");
        // Not a count (too many digits): a newline frame.
        assert_eq!(frames(&mut f).len(), 1);
    }

    #[test]
    fn long_lines_are_cut_and_their_rest_skipped() {
        let mut f = Framer::new(16);
        f.push(b"<13>0123456789abcdefghij");
        assert_eq!(frames(&mut f), [("<13>0123456789ab".to_owned(), true)]);
        f.push(b"more of it\n<13>next\n");
        assert_eq!(frames(&mut f), [("<13>next".to_owned(), false)]);
        f.push(b"<13>0123456789abcdefghij\n");
        assert_eq!(frames(&mut f), [("<13>0123456789ab".to_owned(), true)]);
    }

    #[test]
    fn finish_keeps_a_last_line_and_reports_a_cut_count() {
        let mut f = Framer::new(64);
        f.push(b"<13>last");
        assert_eq!(
            f.finish(),
            (
                Some(Frame {
                    bytes: Bytes::from_static(b"<13>last"),
                    truncated: false,
                    offset: 0,
                }),
                false
            )
        );
        let mut f = Framer::new(64);
        f.push(b"20 <13>short");
        assert_eq!(frames(&mut f), []);
        assert_eq!(f.finish(), (None, true));
    }

    proptest::proptest! {
        /// Octet-counted frames survive any split into reads.
        #[test]
        fn octet_counting_survives_any_split(
            msgs in proptest::collection::vec("<[0-9]{1,3}>[ -~\n]{0,40}", 1..8),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let mut wire = Vec::new();
            for m in &msgs {
                wire.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
            }
            let mut cuts = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect::<Vec<_>>();
            cuts.sort_unstable();
            let mut f = Framer::new(1024);
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([wire.len()]) {
                f.push(&wire[at..c]);
                at = c;
                got.extend(frames(&mut f).into_iter().map(|(s, _)| s));
            }
            let want: Vec<String> = msgs
                .iter()
                .map(|m| m.trim_end_matches(['\n', '\r', '\0']).to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
