//! `type = "syslog"`: RFC 3164 and RFC 5424 messages received over UDP or
//! TCP, parsed into fields as they arrive.
//!
//! * TCP ([`tcp`]): one thread per connection, up to `max_connections` (more
//!   are accepted and closed at once, counted). Frames are newline-terminated
//!   or octet-counted (RFC 6587), told apart frame by frame. A connection
//!   reads only while the pipeline takes its batches: when the pipeline is
//!   full the thread blocks on its output, stops reading, and TCP's window
//!   pushes back on the sender. Limits: `max_frame_bytes` (a larger octet
//!   count closes the connection before anything is allocated), an idle
//!   timeout, and a frame timeout against clients that trickle a frame.
//!   With `tls`, syslog over TLS (RFC 5425): rustls, the handshake within
//!   `frame_timeout`, failures counted (`tls_handshake`).
//! * UDP ([`udp`]): one datagram is one message. A receiving thread queues
//!   datagrams (bounded) for a batching thread; when the pipeline is full the
//!   queue fills and datagrams are dropped and counted, because a UDP sender
//!   cannot be slowed down.
//! * [`decode`]: a frame becomes an event whose line is the frame itself and
//!   whose fields are spans of it (`logagent_codecs::syslog::parse`).

pub mod decode;
#[cfg(test)]
mod source_tests;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use logagent_core::component::{Source, SourceComponent, SourceContext, SourceError};
use logagent_core::time::Zone;
use logagent_core::{ByteSize, HumanDuration, KeyError};

/// The transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Stream connections, newline or octet-counted frames (the default:
    /// it has backpressure and does not lose messages silently).
    #[default]
    Tcp,
    /// One message per datagram.
    Udp,
}

/// What to do with a frame that is not syslog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMalformed {
    /// Keep it: the whole frame becomes the `message`, without syslog fields
    /// (counted in `component_errors_total{error_type="malformed_frame"}`).
    #[default]
    Keep,
    /// Drop it (counted there and in `component_discarded_events_total{reason="malformed"}`).
    Drop,
}

/// Default listening address: loopback only, an unprivileged port (514
/// needs root). Listen on all interfaces with `address = "0.0.0.0:514"`.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:5514";
/// Largest `max_frame_bytes` accepted (16 MiB).
pub const MAX_FRAME_LIMIT: u64 = 16 << 20;

/// Options of the syslog source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSourceConfig {
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub mode: Mode,
    /// `IP:PORT` to listen on (default `127.0.0.1:5514`).
    #[serde(default = "default_address")]
    pub address: String,
    /// Most TCP connections open at once (default 256); more are closed as
    /// soon as they are accepted, counted in
    /// `component_errors_total{error_type="connection_limit"}`.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Longest frame (default 64KiB, at most 16MiB). A longer newline-framed
    /// message is cut there (the rest up to its newline skipped, counted as
    /// `frame_truncated`); a longer octet count closes the connection
    /// (`frame_too_large`), since what follows cannot be trusted; a longer
    /// datagram is cut by the receive buffer.
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: ByteSize,
    /// A TCP connection that sends nothing for this long is closed (default
    /// 5m; senders such as rsyslog reconnect when they have something to say).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// A frame whose first byte arrived this long ago and is still incomplete
    /// closes its connection (default 30s), so a client trickling bytes
    /// (slowloris) cannot hold a connection slot forever.
    #[serde(default = "default_frame_timeout")]
    pub frame_timeout: HumanDuration,
    /// Accept what real senders write beyond the RFCs (default true): no
    /// priority, a year or fraction in BSD timestamps, no hostname, tags with
    /// spaces (`syslogd 1.4.1:`) or a `--` marker (`-- root[2421]:`), no tag.
    #[serde(default = "default_true")]
    pub lenient: bool,
    /// `keep` (default) or `drop` frames that are not syslog.
    #[serde(default)]
    pub on_malformed: OnMalformed,
    /// Zone of timestamps written without an offset (BSD syslog's): `local`
    /// (default), `UTC`, `+09:00` or an IANA name. The year, when missing, is
    /// the one that puts the time closest to now.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Add the sender's address as the field `source_ip` (default true).
    #[serde(default = "default_true")]
    pub source_ip: bool,
    /// Datagrams waiting between the UDP socket and the pipeline (default
    /// 4096, and at most 16MiB of them); beyond that they are dropped and
    /// counted (`reason="queue_full"`).
    #[serde(default = "default_udp_queue")]
    pub udp_queue: usize,
    /// Syslog over TLS (RFC 5425) for `mode = "tcp"`: this certificate and
    /// key (`crt_file`, `key_file`, PEM). A client must finish its handshake
    /// within `frame_timeout`; failed handshakes are counted
    /// (`error_type="tls_handshake"`).
    #[serde(default)]
    pub tls: Option<crate::tls::ServerTlsConfig>,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.to_owned()
}
fn default_max_connections() -> usize {
    256
}
fn default_max_frame() -> ByteSize {
    ByteSize(64 << 10)
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}
fn default_frame_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_true() -> bool {
    true
}
fn default_udp_queue() -> usize {
    4096
}

impl SyslogSourceConfig {
    /// Every problem with the keys (pure: nothing is bound).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.address.parse::<SocketAddr>().is_err() {
            errors.push(KeyError::new(
                "address",
                format!(
                    "{:?} is not IP:PORT (expected e.g. \"127.0.0.1:5514\", \"0.0.0.0:514\" or \"[::]:514\")",
                    self.address
                ),
            ));
        }
        if !(1..=65_536).contains(&self.max_connections) {
            errors.push(KeyError::new(
                "max_connections",
                "must be between 1 and 65536",
            ));
        }
        if !(16..=MAX_FRAME_LIMIT).contains(&self.max_frame_bytes.0) {
            errors.push(KeyError::new(
                "max_frame_bytes",
                "must be between 16 bytes and 16MiB",
            ));
        }
        for (key, d) in [
            ("idle_timeout", self.idle_timeout),
            ("frame_timeout", self.frame_timeout),
        ] {
            if d.0 < Duration::from_millis(10) {
                errors.push(KeyError::new(key, "must be at least 10ms"));
            }
        }
        if !(1..=1 << 20).contains(&self.udp_queue) {
            errors.push(KeyError::new("udp_queue", "must be between 1 and 1048576"));
        }
        if let Some(tz) = &self.timezone
            && let Err(e) = Zone::parse(tz)
        {
            errors.push(KeyError::new("timezone", e.to_string()));
        }
        if let Some(tls) = &self.tls {
            if self.mode == Mode::Udp {
                errors.push(KeyError::new(
                    "tls",
                    "TLS needs mode = \"tcp\" (syslog over TLS is RFC 5425, a stream); \
                     remove the key or switch the mode",
                ));
            } else {
                errors.extend(tls.check("tls"));
            }
        }
        errors
    }

    fn zone(&self) -> Zone {
        self.timezone
            .as_deref()
            .and_then(|t| Zone::parse(t).ok())
            .unwrap_or(Zone::Local)
    }

    fn addr(&self) -> Result<SocketAddr, SourceError> {
        self.address.parse().map_err(|_| SourceError::Io {
            what: format!("syslog address {:?}", self.address),
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not IP:PORT"),
        })
    }

    /// The running source.
    pub fn build(&self) -> SyslogSource {
        SyslogSource {
            config: self.clone(),
        }
    }
}

/// The running syslog source.
#[derive(Debug)]
pub struct SyslogSource {
    config: SyslogSourceConfig,
}

impl Source for SyslogSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let addr = self.config.addr()?;
        match self.config.mode {
            Mode::Tcp => tcp::run(&self.config, addr, ctx),
            Mode::Udp => udp::run(&self.config, addr, ctx),
        }
    }
}

impl SourceComponent for SyslogSourceConfig {
    fn check(&self) -> Vec<KeyError> {
        SyslogSourceConfig::check(self)
    }

    fn build(&self) -> Box<dyn Source> {
        Box::new(SyslogSourceConfig::build(self))
    }

    fn decode_for_test(&self, lines: &[&[u8]]) -> Option<Vec<logagent_core::event::Event>> {
        let metrics =
            std::sync::Arc::new(logagent_core::telemetry::metrics::ComponentMetrics::default());
        let decoder = decode::Decoder::new(self, "test".into(), decode::Counters::new(&metrics));
        let now = logagent_core::time::now_ns();
        Some(
            lines
                .iter()
                .filter_map(|l| {
                    decoder.decode(bytes::Bytes::copy_from_slice(l), false, None, 0, now)
                })
                .collect(),
        )
    }
}

/// The stream id of connection `seq` of the run started at `run_id`:
/// unique across runs, so that a sink deriving document ids from stream and
/// offset (Elasticsearch) never takes a message of a new connection for a
/// replay of an old one.
fn stream_id(run_id: u64, seq: u64) -> u64 {
    run_id ^ seq.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The address to connect to so that a listener bound to `local` wakes up:
/// an unspecified address (`0.0.0.0`, `::`) becomes its loopback.
fn wake_address(local: SocketAddr) -> SocketAddr {
    let mut a = local;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<SyslogSourceConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_are_loopback_tcp_with_limits() {
        let c = config("").unwrap();
        assert_eq!(c.mode, Mode::Tcp);
        assert_eq!(c.address, "127.0.0.1:5514");
        assert_eq!(c.max_connections, 256);
        assert_eq!(c.max_frame_bytes.0, 65536);
        assert!(c.lenient && c.source_ip);
        assert!(c.check().is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = config(
            r#"address = "localhost"
max_connections = 0
max_frame_bytes = "1GiB"
frame_timeout = "1ms"
timezone = "Mars/Olympus"
tls = { crt_file = "x.pem" }"#,
        )
        .unwrap();
        let keys: Vec<_> = c.check().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "address",
                "max_connections",
                "max_frame_bytes",
                "frame_timeout",
                "timezone",
                "tls.key_file"
            ]
        );
        let udp =
            config("mode = \"udp\"\ntls = { crt_file = \"c.pem\", key_file = \"k.pem\" }").unwrap();
        assert_eq!(udp.check()[0].key, "tls");
        assert!(config("mode = \"sctp\"").is_err());
        assert!(config("port = 514").is_err());
    }

    #[test]
    fn an_unspecified_address_is_woken_on_loopback() {
        assert_eq!(
            wake_address("0.0.0.0:514".parse().unwrap()),
            "127.0.0.1:514".parse().unwrap()
        );
        assert_eq!(
            wake_address("[::]:514".parse().unwrap()),
            "[::1]:514".parse().unwrap()
        );
        assert_eq!(
            wake_address("10.1.2.3:514".parse().unwrap()),
            "10.1.2.3:514".parse().unwrap()
        );
    }
}
