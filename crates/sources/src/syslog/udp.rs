//! Syslog over UDP: one message per datagram. The receiving thread never
//! waits for the pipeline: it hands datagrams to a bounded queue and, when
//! the queue is full (the pipeline is), drops them and counts the drops,
//! since a UDP sender cannot be told to slow down. A second thread decodes
//! and batches what is queued.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, TrySendError};

use super::decode::{Counters, Decoder};
use super::tcp::trim;
use super::{SyslogSourceConfig, wake_address};
use crate::batcher::Batcher;
use logagent_core::component::{SourceContext, SourceError};
use logagent_core::event::Stream;
use logagent_core::event::ack::Ack;
use logagent_core::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON};

/// Most bytes of datagrams queued at once.
const QUEUE_BYTES: usize = 16 << 20;
/// How long a receive waits before looking at the stop flag again, in case
/// the wake-up datagram was lost.
const RECV_POLL: Duration = Duration::from_secs(5);

struct Datagram {
    bytes: Bytes,
    truncated: bool,
    peer: SocketAddr,
}

/// Receives on `addr` until a stop.
pub fn run(
    config: &SyslogSourceConfig,
    addr: SocketAddr,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let socket = UdpSocket::bind(addr).map_err(|error| SourceError::Io {
        what: format!("syslog: listening on udp {addr}"),
        error,
    })?;
    let local = socket.local_addr().unwrap_or(addr);
    tracing::info!(component = %ctx.id, address = %local, "syslog source listening (udp)");
    let counters = Counters::new(&ctx.metrics);
    let decoder = Decoder::new(config, ctx.id.clone(), counters.clone());
    let (tx, rx) = crossbeam_channel::bounded::<Datagram>(config.udp_queue);
    let queued = Arc::new(AtomicUsize::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    let max = config.max_frame_bytes.as_usize();
    let receiver = {
        let queued = queued.clone();
        let stopping = stopping.clone();
        let counters = counters.clone();
        let id = ctx.id.clone();
        std::thread::Builder::new()
            .name("syslog-udp".into())
            .spawn(move || {
                let _ = socket.set_read_timeout(Some(RECV_POLL));
                // One byte more than the limit tells a cut datagram apart (a
                // datagram never holds more than 65,535 bytes).
                let mut buf = vec![0u8; max.min(65_535) + 1];
                let full = counters
                    .metrics
                    .labeled
                    .counter(DISCARDED_BY_REASON, &[("reason", "queue_full")]);
                while !stopping.load(Ordering::SeqCst) {
                    let (n, peer) = match socket.recv_from(&mut buf) {
                        Ok(r) => r,
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock
                                    | std::io::ErrorKind::TimedOut
                                    | std::io::ErrorKind::Interrupted
                            ) =>
                        {
                            continue;
                        }
                        Err(error) => {
                            counters.error("read");
                            if let Some(suppressed) = counters.log.check() {
                                tracing::warn!(component = %id, %error, suppressed, "syslog: receiving a datagram failed");
                            }
                            continue;
                        }
                    };
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let truncated = n > max;
                    let n = n.min(max);
                    if truncated {
                        counters.error("frame_truncated");
                    }
                    if queued.load(Ordering::Relaxed) + n > QUEUE_BYTES {
                        ComponentMetrics::add(&counters.metrics.discarded_events, 1);
                        ComponentMetrics::add(&full, 1);
                        continue;
                    }
                    let d = Datagram {
                        bytes: Bytes::copy_from_slice(&buf[..n]),
                        truncated,
                        peer,
                    };
                    queued.fetch_add(n, Ordering::Relaxed);
                    match tx.try_send(d) {
                        Ok(()) => {}
                        Err(TrySendError::Full(d)) => {
                            queued.fetch_sub(d.bytes.len(), Ordering::Relaxed);
                            ComponentMetrics::add(&counters.metrics.discarded_events, 1);
                            ComponentMetrics::add(&full, 1);
                            if let Some(suppressed) = counters.log.check() {
                                tracing::warn!(component = %id, suppressed, "syslog: the pipeline is full; dropping datagrams");
                            }
                        }
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
            })
            .map_err(|error| SourceError::Io {
                what: "syslog: starting the udp receiver".into(),
                error,
            })?
    };
    let result = batch_loop(&rx, &queued, &decoder, &ctx);
    stopping.store(true, Ordering::SeqCst);
    drop(rx);
    // Wake the receive call with an empty datagram; RECV_POLL is the fallback.
    if let Ok(waker) = UdpSocket::bind(match local {
        SocketAddr::V4(_) => "127.0.0.1:0",
        SocketAddr::V6(_) => "[::1]:0",
    }) {
        let _ = waker.send_to(&[], wake_address(local));
    }
    let _ = receiver.join();
    result
}

/// Decodes and batches queued datagrams until a stop; a batch goes out as
/// soon as the queue is empty.
fn batch_loop(
    rx: &Receiver<Datagram>,
    queued: &AtomicUsize,
    decoder: &Decoder,
    ctx: &SourceContext,
) -> Result<(), SourceError> {
    let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Ack>();
    // Nobody waits for acknowledgements: UDP has no way to pass them on.
    drop(ack_rx);
    let stream = Arc::new(Stream {
        source: ctx.id.clone(),
        path: None,
        id: super::stream_id(logagent_core::time::now_ns() as u64, 0),
    });
    let mut batcher = Batcher::new(stream, ctx.batch_max_events, ctx.batch_max_bytes, ack_tx);
    let mut last_peer: Option<(std::net::IpAddr, Option<Bytes>)> = None;
    let mut offset = 0u64;
    loop {
        let d = crossbeam_channel::select! {
            recv(rx) -> d => match d {
                Ok(d) => d,
                Err(_) => break,
            },
            recv(ctx.shutdown.receiver()) -> _ => break,
        };
        queued.fetch_sub(d.bytes.len(), Ordering::Relaxed);
        let ip = d.peer.ip();
        let peer = match &last_peer {
            Some((last, value)) if *last == ip => value.clone(),
            _ => {
                let value = decoder.peer_value(ip);
                last_peer = Some((ip, value.clone()));
                value
            }
        };
        let len = d.bytes.len() as u64;
        let frame = trim(d.bytes);
        if !frame.is_empty() {
            let now = logagent_core::time::now_ns();
            if let Some(ev) = decoder.decode(frame, d.truncated, peer.as_ref(), offset, now) {
                batcher.push_event(ev, offset + len, &ctx.output, &ctx.metrics)?;
            }
        }
        offset += len;
        if rx.is_empty() {
            batcher.flush(&ctx.output)?;
        }
    }
    // What was received before the stop still goes on.
    while let Ok(d) = rx.try_recv() {
        queued.fetch_sub(d.bytes.len(), Ordering::Relaxed);
        let len = d.bytes.len() as u64;
        let frame = trim(d.bytes);
        if frame.is_empty() {
            continue;
        }
        let peer = decoder.peer_value(d.peer.ip());
        let now = logagent_core::time::now_ns();
        if let Some(ev) = decoder.decode(frame, d.truncated, peer.as_ref(), offset, now) {
            batcher.push_event(ev, offset + len, &ctx.output, &ctx.metrics)?;
        }
        offset += len;
    }
    batcher.flush(&ctx.output)?;
    Ok(())
}
