//! The receiving side of HTTP, shared by the sources that listen for pushes
//! (`http`, `opentelemetry`): a hyper 1 server (HTTP/1.1) on the
//! source's own small tokio runtime, with every limit a hostile or broken
//! client needs, and acknowledged answers.
//!
//! A source supplies a [`Handler`] (which paths it serves, and how a request's
//! body becomes batches and an answer); this module does the rest:
//!
//! * **Limits.** `max_connections` (more get a bare 503 and are closed,
//!   counted); request heads up to 64 KiB read within `header_timeout`
//!   (counted as `header_timeout` otherwise), a
//!   connection idle for `idle_timeout` is closed (slowloris); a body over
//!   `max_body_bytes` is refused with 413 from its `Content-Length` before it
//!   is read, or as soon as the stream passes the limit, never buffered whole;
//!   `body_timeout` bounds a slow body (408).
//! * **Encodings.** `Content-Encoding: gzip` (or `deflate`) is inflated off the
//!   runtime up to `max_decompressed_bytes`: a gzip bomb is a 413, counted.
//! * **Auth.** [`auth::AuthConfig`]: basic, bearer or API key, 401 otherwise.
//! * **TLS.** With [`ServerOptions::tls`], HTTPS (rustls); a failed or
//!   stalled handshake is counted (`tls_handshake`, `tls_handshake_timeout`).
//! * **Backpressure and acknowledgement.** The request's first batch is
//!   offered to the pipeline without waiting ([`Output::try_send`]): a full
//!   pipeline answers 429 with `Retry-After`, nothing sent. Otherwise every
//!   batch of the request shares one [`AckToken`] whose completion the server
//!   awaits: the client hears success only once every sink has written the
//!   data, 503 (with `Retry-After`) if a sink gave up or `ack_timeout` passed —
//!   delivery is at least once, a client that retries may send twice.
//!
//! Every answer is counted by status (`source_http_responses_total{code}`),
//! refused requests by reason in `component_errors_total{error_type}`.

pub mod auth;

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Semaphore, watch};

use logagent_core::component::{SourceContext, SourceError};
use logagent_core::event::{AckToken, Batch};
use logagent_core::flow::{Output, TrySend};
use logagent_core::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON, ERRORS_BY_TYPE};
use logagent_core::telemetry::ratelimit::RateLimiter;

/// Counter of answers by HTTP status, label `code`.
pub const RESPONSES: &str = "source_http_responses_total";
/// Counter of connections refused because `max_connections` were open.
pub const REJECTED_CONNECTIONS: &str = "source_http_rejected_connections_total";
/// Gauge of the connections open now.
pub const OPEN_CONNECTIONS: &str = "source_http_connections";

/// Longest request head (request line and headers) read: larger ones get 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How a server listens and what it tolerates (built from a source's config).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen.
    pub address: SocketAddr,
    /// Largest request body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body once inflated (gzip, deflate; a source's own snappy too).
    pub max_decompressed_bytes: usize,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time allowed to send a request's head.
    pub header_timeout: Duration,
    /// A connection with no request in progress and nothing read for this
    /// long is closed.
    pub idle_timeout: Duration,
    /// Time allowed to send a request's body.
    pub body_timeout: Duration,
    /// Time to wait for the sinks to acknowledge a request's data.
    pub ack_timeout: Duration,
    /// What `Retry-After` says on 429 and 503.
    pub retry_after: Duration,
    /// Worker threads of the source's runtime.
    pub threads: usize,
    /// Credentials clients must present.
    pub auth: Option<auth::AuthConfig>,
    /// Serve HTTPS with this configuration (a [`crate::tls::ServerTlsConfig`]
    /// loaded); the handshake must end within `header_timeout`.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// The listening address and the loaded TLS configuration of a receiving
/// source's config: the two options every HTTP source turns into
/// [`ServerOptions`] the same way, with errors naming what was wrong.
pub fn listen_options(
    address: &str,
    tls: Option<&crate::tls::ServerTlsConfig>,
) -> Result<(SocketAddr, Option<Arc<tokio_rustls::rustls::ServerConfig>>), SourceError> {
    let address = address.parse().map_err(|e| SourceError::Io {
        what: format!("address {address:?}"),
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })?;
    let tls = tls
        .map(crate::tls::ServerTlsConfig::load)
        .transpose()
        .map_err(|e| SourceError::Io {
            what: "the TLS certificate".into(),
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        })?;
    Ok((address, tls))
}

/// A request whose body has been read and inflated, as a [`Handler`] sees it.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The URI path (`/loki/api/v1/push`).
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, inflated (at most `max_decompressed_bytes`).
    pub body: Bytes,
    /// The limit a handler applies to what it decompresses itself (snappy).
    pub max_decompressed_bytes: usize,
}

impl Request {
    /// The `Content-Type` without parameters, lowercased (`application/json`).
    pub fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// The body (`application/json` unless a `content-type` header is given).
    pub body: Bytes,
    /// Close the connection after answering (the rest of the body was not read).
    pub close: bool,
    /// Counted in `component_errors_total{error_type}` when sent (a request
    /// the handler refused).
    pub error_type: Option<&'static str>,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
            close: false,
            error_type: None,
        }
    }

    /// An answer without a body (204).
    pub fn empty(status: u16) -> Answer {
        Answer::json(status, Bytes::new())
    }

    /// An error in Elasticsearch's shape, which other clients read as well:
    /// `{"error":{"type":…,"reason":…},"status":…}`.
    pub fn error(status: u16, kind: &str, reason: &str) -> Answer {
        let body = serde_json::json!({
            "error": {"type": kind, "reason": reason},
            "status": status,
        });
        Answer::json(status, body.to_string())
    }

    /// Adds a header (names are static, values checked).
    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers
                .push((header::HeaderName::from_static(name), v));
        }
        self
    }

    /// Counts this answer as a refused request of type `error_type`.
    pub fn counted(mut self, error_type: &'static str) -> Answer {
        self.error_type = Some(error_type);
        self
    }

    /// Marks the connection to be closed after this answer.
    pub fn closing(mut self) -> Answer {
        self.close = true;
        self
    }

    fn into_response(self) -> hyper::Response<Full<Bytes>> {
        let mut response = hyper::Response::new(Full::new(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            h.insert(name, value);
        }
        if self.close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// What a handler makes of a request.
#[derive(Debug)]
pub enum Reply {
    /// Answer now; nothing goes down the pipeline.
    Answer(Answer),
    /// Send these batches (each carrying a clone of the request's token), and
    /// answer `then` once they are acknowledged.
    Deliver {
        /// The request's events, in order.
        batches: Vec<Batch>,
        /// The answer once every sink has written them.
        then: Answer,
        /// Events of the request refused for good, by reason
        /// (`component_discarded_events_total{reason}`): counted once the
        /// request is admitted, so a client's retry after a 429 does not count
        /// them twice.
        discarded: Vec<(&'static str, u64)>,
    },
}

/// A source's part of the server: its routes and its request formats.
pub trait Handler: Send + Sync + 'static {
    /// Whether the handler serves `method` on `path`, asked before the body is
    /// read so that an unknown path costs nothing (`Err`: the answer, a 404
    /// or 405).
    fn route(&self, method: &Method, path: &str) -> Result<(), Answer>;

    /// Turns a request into batches (every one holding a clone of `ack`) or
    /// an immediate answer. Runs on a blocking thread: parsing may take a
    /// while. Counts what it rejects itself.
    fn handle(&self, request: &Request, ack: &AckToken) -> Reply;
}

struct State {
    id: Arc<str>,
    opts: ServerOptions,
    handler: Arc<dyn Handler>,
    output: Output,
    metrics: Arc<ComponentMetrics>,
    auth: Option<auth::Expected>,
    conns: Arc<Semaphore>,
    open: Arc<AtomicU64>,
    base: Instant,
    retry_after: String,
    busy: Bytes,
    log: RateLimiter,
}

impl State {
    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Counts a refused request by reason.
    fn error(&self, error_type: &'static str) {
        ComponentMetrics::add(&self.metrics.errors, 1);
        ComponentMetrics::add(
            &self
                .metrics
                .labeled
                .counter(ERRORS_BY_TYPE, &[("error_type", error_type)]),
            1,
        );
    }

    fn count(&self, status: u16) {
        let code = status.to_string();
        ComponentMetrics::add(
            &self.metrics.labeled.counter(RESPONSES, &[("code", &code)]),
            1,
        );
    }

    fn retry_later(&self, status: u16, kind: &str, reason: &str) -> Answer {
        Answer::error(status, kind, reason).header("retry-after", &self.retry_after)
    }

    fn refuse(&self, error_type: &'static str, answer: Answer) -> Answer {
        self.error(error_type);
        if let Some(held) = self.log.check() {
            tracing::warn!(
                component = %self.id,
                status = answer.status,
                error = %String::from_utf8_lossy(&answer.body),
                suppressed = held,
                "refused an HTTP request"
            );
        }
        answer
    }
}

/// Serves `handler` until the source is told to stop; the batches go to
/// `ctx.output`. Fails only if it cannot start (the address is taken, a
/// secret file is missing).
pub fn run(
    opts: ServerOptions,
    handler: Arc<dyn Handler>,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let io_err = |what: String, error: std::io::Error| SourceError::Io { what, error };
    let auth = match &opts.auth {
        Some(a) => Some(auth::expected(a).map_err(|e| {
            io_err(
                format!("the credentials of source {}", ctx.id),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
            )
        })?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(opts.address)
        .map_err(|e| io_err(format!("listening on {}", opts.address), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io_err(format!("listening on {}", opts.address), e))?;
    let threads = opts.threads.max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads((threads * 4).max(4))
        .thread_name(format!("http-{}", ctx.id))
        .enable_all()
        .build()
        .map_err(|e| io_err("starting the HTTP runtime".into(), e))?;
    let retry_after = opts.retry_after.as_secs().max(1).to_string();
    let busy_body = r#"{"error":{"type":"too_many_connections","reason":"max_connections are open"},"status":503}"#;
    let busy = Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {retry_after}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{busy_body}",
        busy_body.len()
    ));
    let state = Arc::new(State {
        id: ctx.id.clone(),
        conns: Arc::new(Semaphore::new(opts.max_connections.max(1))),
        open: ctx.metrics.labeled.gauge(OPEN_CONNECTIONS, &[]),
        opts,
        handler,
        output: ctx.output.clone(),
        metrics: ctx.metrics.clone(),
        auth,
        base: Instant::now(),
        retry_after,
        busy,
        log: RateLimiter::new(Duration::from_secs(10)),
    });
    drop(ctx.output);

    // The stop signal is a blocking channel: a thread turns it into a watch.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    let shutdown = ctx.shutdown.clone();
    let waker = std::thread::Builder::new()
        .name(format!("http-{}-stop", ctx.id))
        .spawn(move || {
            crossbeam_channel::select! {
                recv(shutdown.receiver()) -> _ => {},
                recv(done_rx) -> _ => {},
            }
            let _ = stop_tx.send(true);
        })
        .map_err(|e| io_err("starting the HTTP stop watcher".into(), e))?;

    tracing::info!(component = %state.id, address = %state.opts.address, "listening for HTTP");
    let result = runtime.block_on({
        let state = state.clone();
        async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| io_err(format!("listening on {}", state.opts.address), e))?;
            accept_loop(listener, &state, stop_rx).await;
            // Let the requests in progress finish (they wait for their acks).
            let max = state.opts.max_connections.max(1) as u32;
            let drain = state.opts.ack_timeout + state.opts.body_timeout;
            let _ = tokio::time::timeout(drain, state.conns.clone().acquire_many_owned(max)).await;
            Ok(())
        }
    });
    drop(done_tx);
    let _ = waker.join();
    runtime.shutdown_timeout(Duration::from_millis(200));
    drop(state);
    result
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: &Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    match state.conns.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let state = state.clone();
                            let stop = stop.clone();
                            tokio::spawn(async move {
                                state.open.fetch_add(1, Ordering::Relaxed);
                                match state.opts.tls.clone() {
                                    None => serve_connection(&state, stream, stop).await,
                                    Some(tls) => serve_tls(&state, stream, tls, stop).await,
                                }
                                state.open.fetch_sub(1, Ordering::Relaxed);
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            // Counted first, so whoever reads the answer sees the count.
                            ComponentMetrics::add(
                                &state.metrics.labeled.counter(REJECTED_CONNECTIONS, &[]),
                                1,
                            );
                            state.count(503);
                            // A fresh socket's send buffer has room: the answer
                            // goes out without waiting, then the socket closes.
                            let _ = stream.try_write(&state.busy);
                        }
                    }
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait a little
                    // rather than spin.
                    if let Some(held) = state.log.check() {
                        tracing::warn!(component = %state.id, %error, suppressed = held, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// A TLS handshake within `header_timeout` (a client that does not finish
/// it is a slow client too), then the connection. One that closes before
/// sending a byte (a port probe, a health check) is not an error.
async fn serve_tls(
    state: &Arc<State>,
    stream: tokio::net::TcpStream,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let handshake = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(acceptor.accept(stream).await),
        }
    };
    match tokio::time::timeout(state.opts.header_timeout, handshake).await {
        Ok(None) => {}
        Ok(Some(Ok(tls_stream))) => serve_connection(state, tls_stream, stop).await,
        Ok(Some(Err(error))) => {
            state.error("tls_handshake");
            if let Some(held) = state.log.check() {
                tracing::warn!(component = %state.id, %error, suppressed = held, "a TLS handshake failed");
            }
        }
        Err(_) => state.error("tls_handshake_timeout"),
    }
}

/// When a connection last read anything, and whether a request is being handled.
struct Activity {
    last_read_ms: AtomicU64,
    in_flight: AtomicUsize,
}

async fn serve_connection<S>(state: &Arc<State>, stream: S, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        last_read_ms: AtomicU64::new(state.now_ms()),
        in_flight: AtomicUsize::new(0),
    });
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
        base: state.base,
    });
    let service = {
        let state = state.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            let state = state.clone();
            let activity = activity.clone();
            async move {
                activity.in_flight.fetch_add(1, Ordering::SeqCst);
                let answer = respond(&state, req).await;
                state.count(answer.status);
                if let Some(error_type) = answer.error_type {
                    state.error(error_type);
                }
                activity.in_flight.fetch_sub(1, Ordering::SeqCst);
                activity
                    .last_read_ms
                    .store(state.now_ms(), Ordering::Relaxed);
                Ok::<_, Infallible>(answer.into_response())
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.opts.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = state.opts.idle_timeout;
    let tick = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    // Once asked to close, a connection gets this long to finish its request
    // (and a client this long to read the answer) before it is dropped.
    let grace = idle + state.opts.ack_timeout;
    let mut closing: Option<Instant> = None;
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
        closing = Some(Instant::now());
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    // A request head not received within header_timeout
                    // (slowloris) is counted; other ends (resets) are not.
                    if error.is_timeout() {
                        state.error("header_timeout");
                    }
                    tracing::debug!(component = %state.id, %error, "HTTP connection ended");
                }
                return;
            }
            _ = stop.changed(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
            _ = tokio::time::sleep(tick) => match closing {
                Some(since) if since.elapsed() > grace => return,
                Some(_) => {}
                None => {
                    let last = activity.last_read_ms.load(Ordering::Relaxed);
                    let quiet = Duration::from_millis(state.now_ms().saturating_sub(last));
                    if activity.in_flight.load(Ordering::SeqCst) == 0 && quiet >= idle {
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now());
                    }
                }
            }
        }
    }
}

/// What the blocking part of a request ends with.
enum Step {
    /// Answer now.
    Answer(Answer),
    /// Admitted: send the rest of the batches, then wait for the
    /// acknowledgement and answer this.
    Wait(Vec<Batch>, Answer),
}

async fn respond(state: &Arc<State>, req: hyper::Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    if let Some(auth) = &state.auth {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !auth.matches(given) {
            return state.refuse(
                "unauthorized",
                Answer::error(401, "security_exception", "missing or wrong credentials")
                    .header("www-authenticate", auth.challenge()),
            );
        }
    }
    let path = parts.uri.path().to_owned();
    if let Err(answer) = state.handler.route(&parts.method, &path) {
        return answer;
    }
    let max = state.opts.max_body_bytes;
    let too_large = || {
        state.refuse(
            "body_too_large",
            Answer::error(
                413,
                "content_too_long_exception",
                &format!("the body exceeds max_body_bytes ({max} bytes)"),
            )
            .closing(),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(
        state.opts.body_timeout,
        Limited::new(body, max).collect(),
    )
    .await
    {
        Err(_) => {
            return state.refuse(
                "body_timeout",
                Answer::error(
                    408,
                    "timeout_exception",
                    "the body was not received within body_timeout",
                )
                .closing(),
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(e)) => {
            return state.refuse(
                "body_read",
                Answer::error(
                    400,
                    "parse_exception",
                    &format!("reading the body failed: {e}"),
                )
                .closing(),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();

    let (tx, rx) = tokio::sync::oneshot::channel::<bool>();
    let token = AckToken::with_completion(0, 0, move |ack| {
        let _ = tx.send(ack.delivered);
    });
    let job = {
        let state = state.clone();
        let method = parts.method;
        let headers = parts.headers;
        tokio::task::spawn_blocking(move || {
            let body = match inflate(&state, &encoding, body) {
                Ok(b) => b,
                Err(answer) => return Step::Answer(answer),
            };
            let request = Request {
                method,
                path,
                headers,
                body,
                max_decompressed_bytes: state.opts.max_decompressed_bytes,
            };
            let step = deliver(&state, state.handler.handle(&request, &token));
            // The server's own copy of the token goes now: the completion
            // fires when the batches' copies are done too.
            drop(token);
            step
        })
    };
    let step = match job.await {
        Ok(step) => step,
        Err(error) => {
            tracing::error!(component = %state.id, %error, "an HTTP request's handler failed");
            state.error("handler_panic");
            return Answer::error(500, "exception", "the request could not be processed");
        }
    };
    let deadline = tokio::time::Instant::now() + state.opts.ack_timeout;
    match step {
        Step::Answer(answer) => answer,
        Step::Wait(rest, then) => {
            // The rest of an admitted request waits for room, without holding
            // a thread, until ack_timeout.
            for mut batch in rest {
                loop {
                    match state.output.try_send(batch) {
                        Ok(()) => break,
                        Err(TrySend::Full(b)) if tokio::time::Instant::now() < deadline => {
                            batch = b;
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        Err(TrySend::Full(_)) => {
                            state.error("ack_timeout");
                            return state.retry_later(
                                503,
                                "timeout_exception",
                                "the pipeline had no room for the request within ack_timeout (part of it may be delivered)",
                            );
                        }
                        Err(TrySend::Closed) => {
                            return state.retry_later(
                                503,
                                "unavailable_exception",
                                "the pipeline is stopping",
                            );
                        }
                    }
                }
            }
            wait_for_ack(state, rx, deadline, then).await
        }
    }
}

async fn wait_for_ack(
    state: &State,
    rx: tokio::sync::oneshot::Receiver<bool>,
    deadline: tokio::time::Instant,
    then: Answer,
) -> Answer {
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(true)) => then,
        Ok(_) => {
            state.error("not_delivered");
            state.retry_later(503, "unavailable_exception", "a sink gave up on the data")
        }
        Err(_) => {
            state.error("ack_timeout");
            state.retry_later(
                503,
                "timeout_exception",
                "the data was not acknowledged within ack_timeout (it may still be delivered)",
            )
        }
    }
}

/// Admits a reply: its first batch is sent only if the pipeline has room (429
/// otherwise); the rest is sent by the caller, waiting for room.
fn deliver(state: &State, reply: Reply) -> Step {
    let (batches, then, discarded) = match reply {
        Reply::Answer(answer) => return Step::Answer(answer),
        Reply::Deliver {
            batches,
            then,
            discarded,
        } => (batches, then, discarded),
    };
    let events: usize = batches.iter().map(|b| b.events.len()).sum();
    let bytes: usize = batches.iter().map(Batch::line_bytes).sum();
    let stopped = || state.retry_later(503, "unavailable_exception", "the pipeline is stopping");
    let mut batches = batches.into_iter();
    if let Some(first) = batches.next() {
        match state.output.try_send(first) {
            Ok(()) => {}
            Err(TrySend::Full(_)) => {
                return Step::Answer(state.retry_later(
                    429,
                    "es_rejected_execution_exception",
                    "the pipeline is full; retry later",
                ));
            }
            Err(TrySend::Closed) => return Step::Answer(stopped()),
        }
    }
    // Admitted: what it holds is received, what it refused is discarded.
    ComponentMetrics::add(&state.metrics.received_events, events as u64);
    ComponentMetrics::add(&state.metrics.received_bytes, bytes as u64);
    for (reason, n) in discarded {
        ComponentMetrics::add(&state.metrics.discarded_events, n);
        ComponentMetrics::add(
            &state
                .metrics
                .labeled
                .counter(DISCARDED_BY_REASON, &[("reason", reason)]),
            n,
        );
    }
    Step::Wait(batches.collect(), then)
}

/// The body per `Content-Encoding`, inflated up to `max_decompressed_bytes`.
fn inflate(state: &State, encoding: &str, body: Bytes) -> Result<Bytes, Answer> {
    let max = state.opts.max_decompressed_bytes;
    let read = |reader: &mut dyn Read, what: &str| -> Result<Bytes, Answer> {
        let mut out = Vec::new();
        match Read::take(reader, max as u64 + 1).read_to_end(&mut out) {
            Err(e) => Err(state.refuse(
                "invalid_encoding",
                Answer::error(400, "parse_exception", &format!("invalid {what} body: {e}")),
            )),
            Ok(_) if out.len() > max => Err(state.refuse(
                "decompressed_too_large",
                Answer::error(
                    413,
                    "content_too_long_exception",
                    &format!("the {what} body inflates past max_decompressed_bytes ({max} bytes)"),
                ),
            )),
            Ok(_) => Ok(Bytes::from(out)),
        }
    };
    match encoding {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => read(&mut flate2::read::MultiGzDecoder::new(&body[..]), "gzip"),
        "deflate" => read(&mut flate2::read::ZlibDecoder::new(&body[..]), "deflate"),
        other => Err(state.refuse(
            "unsupported_encoding",
            Answer::error(
                415,
                "illegal_argument_exception",
                &format!("Content-Encoding {other:?} is not supported (gzip, deflate or none)"),
            ),
        )),
    }
}

/// A stream (TCP, or TLS over it) that notes when it last read something
/// (the idle timeout).
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    base: Instant,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = self.base.elapsed().as_millis() as u64;
            self.activity.last_read_ms.store(now, Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
