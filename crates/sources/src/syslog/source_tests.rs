//! The syslog source run for real on loopback: backpressure over TCP, UDP
//! drops when the pipeline is full, and hostile clients, with exact counts.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use logagent_core::component::{SourceComponent, SourceContext};
use logagent_core::event::Batch;
use logagent_core::flow::{Output, detached_shutdown};
use logagent_core::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON};
use logagent_core::test_support::wait_until;

use crate::syslog::SyslogSourceConfig;

fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// True once a socket is bound to 127.0.0.1:`port` (UDP has no
/// connection to try).
fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table.contains(&format!("0100007F:{port:04X}"))
}

/// Runs a syslog source whose output is a channel of `capacity` batches
/// the test reads (or does not, to fill the pipeline).
fn start(
    extra: &str,
    udp: bool,
    capacity: usize,
    batch: usize,
) -> (
    String,
    crossbeam_channel::Receiver<Batch>,
    Arc<ComponentMetrics>,
    logagent_core::flow::ShutdownTrigger,
    std::thread::JoinHandle<()>,
) {
    let port = free_port(udp);
    let addr = format!("127.0.0.1:{port}");
    let mode = if udp { "udp" } else { "tcp" };
    let config: SyslogSourceConfig =
        toml::from_str(&format!("mode = \"{mode}\"\naddress = \"{addr}\"\n{extra}")).unwrap();
    assert!(config.check().is_empty());
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let metrics = Arc::new(ComponentMetrics::default());
    let (trigger, shutdown) = detached_shutdown();
    let ctx = SourceContext {
        id: "syslog".into(),
        output: Output::new(vec![tx], metrics.clone()),
        shutdown,
        metrics: metrics.clone(),
        batch_max_events: batch,
        batch_max_bytes: 1 << 20,
        once: false,
        data_dir: std::env::temp_dir(),
    };
    let source = SourceComponent::build(&config);
    let handle = std::thread::spawn(move || source.run(ctx).unwrap());
    if udp {
        wait_until("the udp socket", || udp_bound(port));
    } else {
        wait_until("the listener", || TcpStream::connect(&addr).is_ok());
    }
    (addr, rx, metrics, trigger, handle)
}

#[test]
fn a_full_pipeline_stops_the_reading_and_nothing_is_lost() {
    let (addr, rx, metrics, mut trigger, handle) = start("", false, 1, 64);
    let mut client = TcpStream::connect(&addr).unwrap();
    client.set_nonblocking(true).unwrap();
    let line = format!("<13>Dec  7 21:00:00 h app: {}\n", "x".repeat(1000));
    let total_lines = 64 * 1024; // 64 MiB: more than any socket buffers hold
    let mut wire = Vec::with_capacity(total_lines * line.len());
    for _ in 0..total_lines {
        wire.extend_from_slice(line.as_bytes());
    }
    let mut written = 0;
    let mut blocked = false;
    // Write until the kernel says the peer stopped reading.
    while written < wire.len() {
        match client.write(&wire[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Blocked for good only if the source is stuck on its output.
                if metrics.blocked.load(std::sync::atomic::Ordering::Relaxed) {
                    blocked = true;
                    break;
                }
                std::thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(blocked, "the source kept reading into a full pipeline");
    assert!(written < wire.len());
    // Drain: everything arrives, in order, nothing dropped.
    let drain = std::thread::spawn(move || {
        let mut n = 0usize;
        while n < total_lines {
            let b = rx.recv().unwrap();
            n += b.events.len();
        }
        n
    });
    client.set_nonblocking(false).unwrap();
    client.write_all(&wire[written..]).unwrap();
    drop(client);
    assert_eq!(drain.join().unwrap(), total_lines);
    let s = metrics.snapshot();
    assert_eq!(s.received_events, total_lines as u64);
    assert_eq!((s.discarded_events, s.errors), (0, 0));
    trigger.stop();
    handle.join().unwrap();
}

#[test]
fn udp_drops_are_counted_when_the_pipeline_is_full() {
    let (addr, rx, metrics, mut trigger, handle) = start("udp_queue = 2", true, 1, 1);
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 50u64;
    for i in 0..sent {
        client
            .send_to(
                format!("<13>Dec  7 21:00:00 h app: {i}\n").as_bytes(),
                &addr,
            )
            .unwrap();
    }
    let dropped = || {
        metrics
            .labeled
            .get(DISCARDED_BY_REASON, &[("reason", "queue_full")])
            .unwrap_or(0)
    };
    // Nothing reads the pipeline: all but a few datagrams are dropped.
    wait_until("the drops", || dropped() >= sent - 10);
    // Now read: what was kept arrives, and kept + dropped = sent.
    let mut got = 0u64;
    wait_until("the kept datagrams", || {
        while let Ok(b) = rx.try_recv() {
            got += b.events.len() as u64;
        }
        got + dropped() == sent
    });
    let s = metrics.snapshot();
    assert_eq!(s.received_events, got);
    assert_eq!(s.discarded_events, dropped());
    trigger.stop();
    handle.join().unwrap();
}

fn errors(metrics: &ComponentMetrics, error_type: &str) -> u64 {
    metrics
        .labeled
        .get(
            logagent_core::telemetry::metrics::ERRORS_BY_TYPE,
            &[("error_type", error_type)],
        )
        .unwrap_or(0)
}

fn closed_by_peer(mut s: &TcpStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn hostile_clients_are_cut_off_and_counted() {
    let (addr, rx, metrics, mut trigger, handle) = start(
        "max_connections = 3\nmax_frame_bytes = \"1KiB\"\nframe_timeout = \"300ms\"",
        false,
        64,
        64,
    );
    // A 10 GB octet count: refused, connection closed, nothing allocated.
    let mut huge = TcpStream::connect(&addr).unwrap();
    huge.write_all(b"10737418240 <13>Dec  7 21:00:00 h a: m")
        .unwrap();
    assert!(closed_by_peer(&huge));
    wait_until("frame_too_large", || {
        errors(&metrics, "frame_too_large") == 1
    });
    // A slow client: half a frame, then nothing.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"<13>Dec  7 21:00:00 h a: never ends")
        .unwrap();
    assert!(closed_by_peer(&slow));
    wait_until("frame_timeout", || errors(&metrics, "frame_timeout") == 1);
    // Three idle connections fill the slots; the fourth is closed.
    let idle: Vec<_> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let open = metrics.labeled.gauge(super::tcp::OPEN_CONNECTIONS, &[]);
    wait_until("three open", || {
        open.load(std::sync::atomic::Ordering::Relaxed) == 3
    });
    let extra = TcpStream::connect(&addr).unwrap();
    assert!(closed_by_peer(&extra));
    assert_eq!(errors(&metrics, "connection_limit"), 1);
    drop(idle);
    wait_until("slots freed", || {
        open.load(std::sync::atomic::Ordering::Relaxed) == 0
    });
    // Malformed frames are kept (as plain messages) and counted; a
    // long line is cut; the source still works.
    let mut ok = TcpStream::connect(&addr).unwrap();
    let long = format!("<13>Dec  7 21:00:00 h a: {}\n", "y".repeat(2000));
    ok.write_all(b"just text\n<999>bad priority\n").unwrap();
    ok.write_all(long.as_bytes()).unwrap();
    ok.write_all(b"<13>Dec  7 21:00:00 h a: fine\n").unwrap();
    drop(ok);
    let mut events = Vec::new();
    wait_until("four events", || {
        while let Ok(b) = rx.try_recv() {
            events.extend(b.events);
        }
        events.len() == 4
    });
    assert_eq!(errors(&metrics, "malformed_frame"), 2);
    assert_eq!(errors(&metrics, "frame_truncated"), 1);
    assert!(events[2].meta.truncated && events[2].line.len() == 1024);
    let s = metrics.snapshot();
    assert_eq!(s.received_events, 4);
    // too large + slow + limit + 2 malformed + truncated
    assert_eq!(s.errors, 6);
    assert_eq!(s.discarded_events, 0);
    trigger.stop();
    handle.join().unwrap();
}

#[test]
fn idle_connections_are_closed_without_an_error_and_strict_mode_drops_what_is_not_syslog() {
    let (addr, rx, metrics, mut trigger, handle) = start(
        "idle_timeout = \"200ms\"\nlenient = false\non_malformed = \"drop\"",
        false,
        64,
        64,
    );
    // Silent: closed after idle_timeout, not counted as an error.
    let idle = TcpStream::connect(&addr).unwrap();
    assert!(closed_by_peer(&idle));
    // Strict: a tag with spaces is not RFC 3164; dropped and counted.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"<46>Jun 14 15:16:01 combo syslogd 1.4.1: restart.\n<46>Jun 14 15:16:01 combo syslogd: restart.\n")
        .unwrap();
    drop(c);
    let mut events = Vec::new();
    wait_until("the strict event", || {
        while let Ok(b) = rx.try_recv() {
            events.extend(b.events);
        }
        events.len() == 1 && metrics.snapshot().discarded_events == 1
    });
    assert_eq!(errors(&metrics, "malformed_frame"), 1);
    assert_eq!(
        metrics
            .labeled
            .get(DISCARDED_BY_REASON, &[("reason", "malformed")]),
        Some(1)
    );
    let s = metrics.snapshot();
    assert_eq!((s.received_events, s.errors), (1, 1));
    trigger.stop();
    handle.join().unwrap();
}
