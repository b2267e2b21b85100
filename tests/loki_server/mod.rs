//! An in-process stand-in for Loki on 127.0.0.1: decodes the real wire formats
//! (snappy block-compressed protobuf `PushRequest`, and JSON) and answers as
//! Loki does — 204, 400 for entries out of order or lines too long (rejecting
//! those entries and storing the rest), 429/5xx when scripted or "down" — plus
//! `GET /ready`. Stopped when dropped.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use logagent::sinks::loki::proto::PushRequest;
use prost::Message;
use tokio_rustls::rustls;

/// One entry as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ts: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// One stream of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<Entry>,
}

/// One push request as received.
#[derive(Debug, Clone)]
pub struct Push {
    pub tenant: Option<String>,
    pub content_type: String,
    /// `Content-Encoding`, when the body was compressed beyond the protocol's own.
    pub content_encoding: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub headers: HashMap<String, String>,
    pub streams: Vec<Stream>,
    pub status: u16,
}

/// An entry Loki stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub tenant: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub entry: Entry,
}

#[derive(Default)]
struct State {
    script: VecDeque<u16>,
    down: Option<u16>,
    ordered: bool,
    max_line: Option<usize>,
    not_ready: bool,
    ready_calls: u64,
    last_ts: HashMap<(Option<String>, BTreeMap<String, String>), i64>,
    pushes: Vec<Push>,
    stored: Vec<Stored>,
}

/// The server; drop to stop it.
pub struct LokiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl LokiServer {
    pub fn start() -> LokiServer {
        LokiServer::start_with(None)
    }

    /// Serves HTTPS with the test certificate in tests/fixtures/loki-tls (for
    /// 127.0.0.1), requiring a client certificate signed by its CA when
    /// `client_auth`.
    pub fn start_tls(client_auth: bool) -> LokiServer {
        LokiServer::start_with(Some(tls_config(client_auth)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> LokiServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(stream, st).await,
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                serve(tls, st).await;
                            }
                        }
                    }
                });
            }
        });
        LokiServer {
            addr,
            state,
            rt: Some(rt),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Answers the next pushes with these statuses (without storing anything);
    /// 0 never answers (a hanging server).
    pub fn script(&self, statuses: &[u16]) {
        self.with(|s| s.script.extend(statuses));
    }

    /// Answers every push with `status` until set to `None`.
    pub fn set_down(&self, status: Option<u16>) {
        self.with(|s| s.down = status);
    }

    /// Rejects entries older than their stream's newest (Loki with ordered writes).
    pub fn set_ordered(&self, on: bool) {
        self.with(|s| s.ordered = on);
    }

    /// Rejects lines longer than this (Loki's `max_line_size`).
    pub fn set_max_line(&self, max: usize) {
        self.with(|s| s.max_line = Some(max));
    }

    pub fn set_ready(&self, ready: bool) {
        self.with(|s| s.not_ready = !ready);
    }

    pub fn ready_calls(&self) -> u64 {
        self.with(|s| s.ready_calls)
    }

    pub fn pushes(&self) -> Vec<Push> {
        self.with(|s| s.pushes.clone())
    }

    pub fn push_count(&self) -> usize {
        self.with(|s| s.pushes.len())
    }

    pub fn stored(&self) -> Vec<Stored> {
        self.with(|s| s.stored.clone())
    }

    pub fn stored_count(&self) -> usize {
        self.with(|s| s.stored.len())
    }

    /// Stored lines per stream (label set), in arrival order.
    pub fn lines_by_stream(&self) -> BTreeMap<BTreeMap<String, String>, Vec<String>> {
        let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
        for s in self.stored() {
            out.entry(s.labels).or_default().push(s.entry.line);
        }
        out
    }
}

impl Drop for LokiServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve<IO>(io: IO, state: Arc<Mutex<State>>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The directory of the test-only certificates.
pub fn tls_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loki-tls")
}

fn tls_config(client_auth: bool) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |name: &str| std::fs::read(tls_dir().join(name)).unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read("server.pem"))
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&read("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&read("ca.pem")) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(builder.with_single_cert(certs, key).unwrap())
}

fn reply(status: u16, body: &str) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap())
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if method == hyper::Method::GET && path == "/ready" {
        let mut s = state.lock().unwrap();
        s.ready_calls += 1;
        return if s.not_ready {
            reply(503, "Ingester not ready: waiting for 15s after being ready")
        } else {
            reply(200, "ready")
        };
    }
    if method != hyper::Method::POST || path != "/loki/api/v1/push" {
        return reply(404, "404 page not found");
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let tenant = header("x-scope-orgid");
    let content_type = header("content-type").unwrap_or_default();
    let content_encoding = header("content-encoding");
    let authorization = header("authorization");
    let user_agent = header("user-agent");
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    // Loki's push handler undoes gzip (and deflate) before it decodes.
    let body = match content_encoding.as_deref() {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            if let Err(e) =
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
            {
                return reply(400, &format!("gzip: {e}"));
            }
            out
        }
        Some(other) => return reply(415, &format!("unsupported Content-Encoding: {other}")),
    };
    let streams = match decode(&content_type, &body) {
        Ok(s) => s,
        Err(e) => return reply(400, &format!("error parsing push request: {e}")),
    };
    let mut push = Push {
        tenant: tenant.clone(),
        content_type,
        content_encoding,
        authorization,
        user_agent,
        headers,
        streams: streams.clone(),
        status: 204,
    };
    let hang = {
        let mut s = state.lock().unwrap();
        if s.script.front() == Some(&0) {
            s.script.pop_front();
            s.pushes.push(Push {
                status: 0,
                ..push.clone()
            });
            true
        } else {
            false
        }
    };
    if hang {
        // A hanging Loki: the request is read, the answer never comes.
        match std::future::pending::<Infallible>().await {}
    }
    let mut s = state.lock().unwrap();
    let scripted = s.script.pop_front().or(s.down);
    if let Some(status) = scripted {
        push.status = status;
        s.pushes.push(push);
        let body = match status {
            429 => "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec)",
            _ => "upstream error",
        };
        return reply(status, body);
    }
    let mut errors = Vec::new();
    let total: usize = streams.iter().map(|s| s.entries.len()).sum();
    for stream in &streams {
        let key = (tenant.clone(), stream.labels.clone());
        for e in &stream.entries {
            if let Some(max) = s.max_line
                && e.line.len() > max
            {
                errors.push(format!(
                        "Max entry size '{max}' bytes exceeded for stream '{:?}' while adding an entry with length '{}' bytes",
                        stream.labels,
                        e.line.len()
                    ));
                continue;
            }
            if s.ordered
                && let Some(&last) = s.last_ts.get(&key)
                && e.ts < last
            {
                errors.push(format!(
                            "entry with timestamp {} ignored, reason: 'entry out of order' for stream: {:?}",
                            e.ts, stream.labels
                        ));
                continue;
            }
            let last = s.last_ts.entry(key.clone()).or_insert(i64::MIN);
            *last = (*last).max(e.ts);
            s.stored.push(Stored {
                tenant: tenant.clone(),
                labels: stream.labels.clone(),
                entry: e.clone(),
            });
        }
    }
    if errors.is_empty() {
        s.pushes.push(push);
        reply(204, "")
    } else {
        push.status = 400;
        s.pushes.push(push);
        let n = errors.len();
        reply(
            400,
            &format!("{}\ntotal ignored: {n} out of {total}", errors.join("\n")),
        )
    }
}

fn decode(content_type: &str, body: &[u8]) -> Result<Vec<Stream>, String> {
    match content_type {
        "application/x-protobuf" => {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|e| format!("snappy: {e}"))?;
            let req = PushRequest::decode(&raw[..]).map_err(|e| format!("protobuf: {e}"))?;
            req.streams
                .into_iter()
                .map(|s| {
                    Ok(Stream {
                        labels: parse_labels(&s.labels)?,
                        entries: s
                            .entries
                            .into_iter()
                            .map(|e| Entry {
                                ts: e.timestamp.map(|t| t.to_nanos()).unwrap_or(0),
                                line: e.line,
                                metadata: e
                                    .structured_metadata
                                    .into_iter()
                                    .map(|p| (p.name, p.value))
                                    .collect(),
                            })
                            .collect(),
                    })
                })
                .collect()
        }
        "application/json" => {
            let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let streams = v["streams"].as_array().ok_or("no streams")?;
            streams
                .iter()
                .map(|s| {
                    let labels = s["stream"]
                        .as_object()
                        .ok_or("no stream labels")?
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect();
                    let entries = s["values"]
                        .as_array()
                        .ok_or("no values")?
                        .iter()
                        .map(|v| {
                            let ts = v[0]
                                .as_str()
                                .ok_or("timestamp must be a string")?
                                .parse::<i64>()
                                .map_err(|e| e.to_string())?;
                            let metadata = v
                                .get(2)
                                .and_then(|m| m.as_object())
                                .map(|m| {
                                    m.iter()
                                        .map(|(k, v)| {
                                            (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            Ok(Entry {
                                ts,
                                line: v[1].as_str().ok_or("line must be a string")?.to_owned(),
                                metadata,
                            })
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    Ok(Stream { labels, entries })
                })
                .collect()
        }
        other => Err(format!("unsupported Content-Type {other:?}")),
    }
}

/// Parses `{a="x", b="y\"z"}` as Loki does (Go-quoted values).
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("labels {text:?} not in braces"))?;
    let mut out = BTreeMap::new();
    let mut chars = inner.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(' ' | ',')) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("bad labels {text:?}"));
        }
        let mut value = String::new();
        loop {
            match chars.next().ok_or("unterminated value")? {
                '"' => break,
                '\\' => match chars.next().ok_or("bad escape")? {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        let n = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                        value.push(char::from_u32(n).ok_or("bad \\u")?);
                    }
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        if name.is_empty() || out.insert(name.trim().to_owned(), value).is_some() {
            return Err(format!("bad or duplicate label in {text:?}"));
        }
    }
    if out.is_empty() {
        return Err("error at least one label pair is required per stream".into());
    }
    Ok(out)
}
