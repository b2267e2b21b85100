//! The HTTP side of the sink's setup: the client (auth, custom headers, TLS,
//! timeouts) built from the config, and the environment check of
//! `logagent validate`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;

use super::config::{LokiSinkConfig, Protocol};
use super::metrics::LokiMetrics;
use super::push::{self, Shared};
use crate::sinks::SinkError;
use crate::telemetry::labeled::Labeled;
use crate::telemetry::ratelimit::RateLimiter;

/// Why the sink could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A key holds something unusable (re-checked at build).
    #[error("key `{key}`: {message}")]
    Key {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A secret or certificate file could not be used.
    #[error("{key}: {error}")]
    File {
        /// The key naming the file.
        key: &'static str,
        /// The cause.
        error: std::io::Error,
    },
    /// The HTTP client or runtime could not be set up.
    #[error("{0}")]
    Setup(String),
}

impl From<BuildError> for SinkError {
    fn from(e: BuildError) -> SinkError {
        SinkError::Failed {
            what: "building the Loki sink".into(),
            message: e.to_string(),
        }
    }
}

fn read_file(key: &'static str, path: &std::path::Path) -> Result<Vec<u8>, BuildError> {
    std::fs::read(path).map_err(|e| BuildError::File {
        key,
        error: std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())),
    })
}

/// The HTTP client and everything pushes share (reads secret and TLS files).
pub fn shared(config: &LokiSinkConfig, metrics: Arc<LokiMetrics>) -> Result<Shared, BuildError> {
    let (push_url, ready_url) = config.urls().map_err(|message| BuildError::Key {
        key: "endpoint".into(),
        message,
    })?;
    let mut headers = config.header_map().map_err(|e| BuildError::Key {
        key: e.key,
        message: e.message,
    })?;
    if let Some(auth) = &config.auth {
        let value = auth
            .header()
            .map_err(|error| BuildError::File { key: "auth", error })?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("logagent/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .timeout(config.request_timeout.0)
        .connect_timeout(config.request_timeout.0.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        .danger_accept_invalid_certs(!config.tls.verify_certificate)
        .danger_accept_invalid_hostnames(!config.tls.verify_hostname);
    if let Some(ca) = &config.tls.ca_file {
        let pem = read_file("tls.ca_file", ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| BuildError::File {
            key: "tls.ca_file",
            error: std::io::Error::other(format!("{}: {e}", ca.display())),
        })?;
        if certs.is_empty() {
            return Err(BuildError::File {
                key: "tls.ca_file",
                error: std::io::Error::other(format!("{}: no PEM certificate", ca.display())),
            });
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    if let (Some(crt), Some(key)) = (&config.tls.crt_file, &config.tls.key_file) {
        let mut pem = read_file("tls.crt_file", crt)?;
        pem.push(b'\n');
        pem.extend_from_slice(&read_file("tls.key_file", key)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| BuildError::File {
            key: "tls.key_file",
            error: std::io::Error::other(format!("{} / {}: {e}", crt.display(), key.display())),
        })?;
        builder = builder.identity(id);
    }
    let http = builder
        .build()
        .map_err(|e| BuildError::Setup(format!("HTTP client: {}", push::error_chain(&e))))?;
    Ok(Shared {
        http,
        push_url,
        ready_url,
        content_type: HeaderValue::from_static(match config.protocol {
            Protocol::Protobuf => "application/x-protobuf",
            Protocol::Json => "application/json",
        }),
        initial_backoff: config.retry.initial_backoff.0,
        max_backoff: config.retry.max_backoff.0,
        metrics,
        id: "loki".into(),
        retry_log: RateLimiter::default(),
    })
}

impl LokiSinkConfig {
    /// The environment check of `logagent validate`: builds the client (reading
    /// secret and TLS files) and asks `GET /ready` once, within `limit`.
    pub fn check_environment(&self, limit: Duration) -> Result<(), String> {
        let metrics = Arc::new(LokiMetrics::new(&Labeled::default(), &[]));
        let shared = shared(self, metrics).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            match tokio::time::timeout(limit, push::ready_once(&shared)).await {
                Ok(r) => r.map_err(|e| e.message),
                Err(_) => Err(format!(
                    "GET {}: no answer within {limit:?}",
                    shared.ready_url
                )),
            }
        })
    }
}
