//! The agent's HTTP API (`[api]`): `/health`, `/ready`, `/metrics`,
//! `/components` (for `logagent top`) and `/tap/ID` (for `logagent tap`).
//!
//! A small HTTP/1 server (hyper) on its own thread with a current-thread tokio
//! runtime, so it keeps answering however busy the pipeline threads are. It
//! reads only shared state: the metrics registry, the health state and the
//! taps; it never blocks a pipeline thread.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};

use super::health::Health;
use super::metrics::Registry;
use super::names::{channel as runtime_names, disk_buffer as buffer_names};
use super::tap::TapSource;

/// Samples per second a tap sends unless the client asks otherwise.
pub const DEFAULT_TAP_RATE: u32 = 10;
/// Most samples per second a client may ask for.
pub const MAX_TAP_RATE: u32 = 1000;
/// Most connections served at once; more are closed at once (counted in the
/// log). The API is for operators and a scraper, not for crowds.
pub const MAX_CONNECTIONS: usize = 64;
/// Most taps streaming at once (each holds a thread); more get 503.
pub const MAX_TAPS: usize = 8;
/// How long a client may take to send its request headers (slowloris).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API serves from.
#[derive(Clone)]
pub struct ApiState {
    /// Every component's counters.
    pub registry: Registry,
    /// Failing components and readiness.
    pub health: Health,
    /// Live samples of every output (the pipeline's taps).
    pub taps: Arc<dyn TapSource>,
    /// What each component reads (`sinks.out` → `["parse"]`), kept current
    /// by the pipeline across reloads, for `logagent tap --inputs-of`.
    pub inputs: InputsOf,
}

/// Each component (`kind.id`) and the outputs it reads.
pub type InputsOf = Arc<std::sync::RwLock<std::collections::BTreeMap<String, Vec<String>>>>;

/// Taps streaming now, against [`MAX_TAPS`].
static OPEN_TAPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Holds one of [`MAX_TAPS`] while a tap streams.
struct TapSlot;

impl TapSlot {
    fn take() -> Option<TapSlot> {
        use std::sync::atomic::Ordering;
        OPEN_TAPS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_TAPS).then_some(n + 1)
            })
            .ok()
            .map(|_| TapSlot)
    }
}

impl Drop for TapSlot {
    fn drop(&mut self) {
        OPEN_TAPS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {error}")]
    Bind {
        /// The configured address.
        address: String,
        /// The cause.
        error: std::io::Error,
    },
}

/// The running server; it lives as long as the process (or until dropped
/// runtime threads end with it).
#[derive(Debug)]
pub struct ApiServer {
    /// The address actually bound (port 0 in tests resolves here).
    pub local_addr: SocketAddr,
}

/// Binds `address` and serves the API on a thread of its own.
pub fn start(address: &str, state: ApiState) -> Result<ApiServer, ApiError> {
    let bind_err = |error| ApiError::Bind {
        address: address.to_owned(),
        error,
    };
    let listener = std::net::TcpListener::bind(address).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local_addr = listener.local_addr().map_err(bind_err)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(bind_err)?;
    std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "api: cannot listen");
                        return;
                    }
                };
                let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
                let refused_log = crate::telemetry::ratelimit::RateLimiter::default();
                loop {
                    let (stream, peer) = match listener.accept().await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "api: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        if let Some(suppressed) = refused_log.check() {
                            tracing::warn!(%peer, limit = MAX_CONNECTIONS, suppressed, "api: too many connections; closing this one");
                        }
                        drop(stream);
                        continue;
                    };
                    let state = state.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let service = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(handle(&state, req)) }
                        });
                        // One request per connection, headers within
                        // HEADER_TIMEOUT: an idle or slow client holds no slot.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .keep_alive(false)
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        })
        .map_err(bind_err)?;
    tracing::info!(address = %local_addr, "api listening");
    Ok(ApiServer { local_addr })
}

type Reply = Response<BoxBody<Bytes, Infallible>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json(status: StatusCode, value: serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

fn handle(state: &ApiState, req: Request<Incoming>) -> Reply {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"error": "only GET"}),
        );
    }
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    match path {
        "/health" => {
            let failing = state.health.failing();
            if failing.is_empty() {
                json(StatusCode::OK, serde_json::json!({"status": "ok"}))
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "failing", "components": failing}),
                )
            }
        }
        "/ready" => {
            if state.health.is_ready() {
                json(StatusCode::OK, serde_json::json!({"status": "ready"}))
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "not ready", "components": state.health.failing()}),
                )
            }
        }
        "/metrics" => reply(
            StatusCode::OK,
            super::prometheus::CONTENT_TYPE,
            super::prometheus::render(&state.registry),
        ),
        "/components" => json(StatusCode::OK, components(&state.registry)),
        "/outputs" => {
            let mut outputs = state.taps.outputs();
            outputs.sort();
            let inputs = state
                .inputs
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            json(
                StatusCode::OK,
                serde_json::json!({"outputs": outputs, "inputs": inputs}),
            )
        }
        _ => match path.strip_prefix("/tap/") {
            Some(output) => tap(state, output, query),
            None => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": "not found", "paths": ["/health", "/ready", "/metrics", "/components", "/outputs", "/tap/ID"]}),
            ),
        },
    }
}

/// Every component with its counters and buffer fill, for `logagent top`.
pub fn components(registry: &Registry) -> serde_json::Value {
    let list: Vec<serde_json::Value> = registry
        .entries()
        .iter()
        .map(|e| {
            let s = e.metrics.snapshot();
            let l = &e.metrics.labeled;
            let g = |name: &str| l.get(name, &[]);
            serde_json::json!({
                "id": e.id,
                "kind": e.kind.as_str(),
                "type": e.type_name,
                "received_events": s.received_events,
                "received_bytes": s.received_bytes,
                "sent_events": s.sent_events,
                "sent_bytes": s.sent_bytes,
                "discarded_events": s.discarded_events,
                "errors": s.errors,
                "blocked": s.blocked,
                "buffer_events": g(runtime_names::FILL_EVENTS),
                "buffer_bytes": g(runtime_names::FILL_BYTES),
                "buffer_batches": g(runtime_names::CHANNEL_BATCHES),
                "buffer_max_batches": g(runtime_names::CHANNEL_MAX_BATCHES),
                "disk_buffer_events": g(buffer_names::EVENTS),
                "disk_buffer_bytes": g(buffer_names::BYTES),
                "disk_buffer_max_bytes": g(buffer_names::MAX_BYTES),
            })
        })
        .collect();
    let agent = registry.agent();
    serde_json::json!({
        "agent": {"version": env!("CARGO_PKG_VERSION"), "uptime_seconds": agent.uptime_seconds()},
        "components": list,
    })
}

fn query_param(query: &str, name: &str) -> Option<u64> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// `/tap/ID?rate=N&limit=M`: NDJSON samples of what leaves output `ID` (or
/// `ID.NAME`), at most `rate` a second, ending after `limit` samples if given.
fn tap(state: &ApiState, output: &str, query: &str) -> Reply {
    let rate = query_param(query, "rate").map_or(DEFAULT_TAP_RATE, |r| {
        r.clamp(1, u64::from(MAX_TAP_RATE)) as u32
    });
    let Some(slot) = TapSlot::take() else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": format!("too many taps open (at most {MAX_TAPS}); try again when one ends")}),
        );
    };
    let Some(watcher) = state.taps.subscribe(output, rate) else {
        let known = state.taps.outputs();
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no component output named {output:?}"), "outputs": known}),
        );
    };
    let limit = query_param(query, "limit");
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let spawned = std::thread::Builder::new()
        .name("api-tap".into())
        .spawn(move || {
            // The whole subscription (not just its receiver) lives in this
            // thread: dropping it unsubscribes; so does the tap's slot.
            let watcher = watcher;
            let _slot = slot;
            let mut sent = 0u64;
            loop {
                match watcher.rx.recv_timeout(Duration::from_millis(500)) {
                    Ok(mut line) => {
                        line.push('\n');
                        if tx.blocking_send(Bytes::from(line)).is_err() {
                            break;
                        }
                        sent += 1;
                        if limit.is_some_and(|l| sent >= l) {
                            break;
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        if tx.is_closed() {
                            break;
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
        });
    if let Err(e) = spawned {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": e.to_string()}),
        );
    }
    let mut r = Response::new(TapBody { rx }.boxed());
    if let Ok(v) = "application/x-ndjson".parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

struct TapBody {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl Body for TapBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|line| line.map(|b| Ok(Frame::data(b))))
    }
}

/// A minimal HTTP/1.0 GET for the CLI (`tap`, `top`) and tests: calls
/// `on_line` with each line of the body as it arrives; returns the status.
pub fn get_lines(
    address: &str,
    path: &str,
    timeout: Option<Duration>,
    mut on_line: impl FnMut(&str) -> bool,
) -> std::io::Result<u16> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(timeout)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        if !on_line(line.trim_end_matches(['\r', '\n'])) {
            break;
        }
    }
    Ok(status)
}

/// Like [`get_lines`], collecting the whole body.
pub fn get(address: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut body = String::new();
    let status = get_lines(address, path, Some(Duration::from_secs(10)), |l| {
        body.push_str(l);
        body.push('\n');
        true
    })?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::{ComponentMetrics, Kind};
    use crate::telemetry::tap::TapSubscription;

    /// A pipeline without outputs.
    struct NoTaps;

    impl TapSource for NoTaps {
        fn outputs(&self) -> Vec<String> {
            Vec::new()
        }
        fn subscribe(&self, _: &str, _: u32) -> Option<TapSubscription> {
            None
        }
    }

    #[test]
    fn serves_health_ready_metrics_and_404() {
        let mut registry = Registry::default();
        let m = registry.register("out", Kind::Sink, "stdout");
        ComponentMetrics::add(&m.sent_events, 3);
        let health = Health::default();
        let server = start(
            "127.0.0.1:0",
            ApiState {
                registry,
                health: health.clone(),
                taps: Arc::new(NoTaps),
                inputs: InputsOf::default(),
            },
        )
        .unwrap();
        let addr = server.local_addr.to_string();
        assert_eq!(get(&addr, "/health").unwrap().0, 200);
        assert_eq!(get(&addr, "/ready").unwrap().0, 503);
        health.set_ready(true);
        assert_eq!(get(&addr, "/ready").unwrap().0, 200);
        health.fail("sinks.out", "thread died");
        let (status, body) = get(&addr, "/health").unwrap();
        assert_eq!(status, 503);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["components"]["sinks.out"], "thread died");
        let (status, body) = get(&addr, "/metrics").unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("component_sent_events_total{component_id=\"out\",component_kind=\"sink\",component_type=\"stdout\"} 3"), "{body}");
        assert_eq!(get(&addr, "/nope").unwrap().0, 404);
        assert_eq!(get(&addr, "/tap/nope").unwrap().0, 404);
    }
}
