//! The HTTP side of the sink's setup: the client (auth, custom headers, TLS,
//! timeouts) built from the config, and the environment check of
//! `logagent validate`.

use crate::net::AuthHeader as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;

use super::config::{LokiSinkConfig, Protocol};
use super::metrics::LokiMetrics;
use super::push::{self, Shared};
use logagent_core::component::SinkError;
use logagent_core::telemetry::labeled::Labeled;
use logagent_core::telemetry::ratelimit::RateLimiter;

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
    #[error(transparent)]
    File(#[from] crate::net::NetError),
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

/// The HTTP client and everything pushes share (reads secret and TLS files).
pub fn shared(config: &LokiSinkConfig, metrics: Arc<LokiMetrics>) -> Result<Shared, BuildError> {
    let (push_url, ready_url) = config.urls().map_err(|e| BuildError::Key {
        key: "endpoint".into(),
        message: e.to_string(),
    })?;
    let mut headers = config.header_map().map_err(|e| BuildError::Key {
        key: e.key,
        message: e.message,
    })?;
    if let Some(auth) = &config.auth {
        let value = auth.header()?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("logagent/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .timeout(config.request_timeout.0)
        .connect_timeout(config.request_timeout.0.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60));
    builder = config.tls.apply(builder)?;
    let http = builder
        .build()
        .map_err(|e| BuildError::Setup(format!("HTTP client: {}", crate::net::error_chain(&e))))?;
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

/// Why [`LokiSinkConfig::check_environment`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The client could not be built (a key, secret or certificate file).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The runtime for the check could not start.
    #[error("starting the check's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// `GET /ready` answered, but not with 2xx, or failed.
    #[error("{0}")]
    NotReady(String),
    /// `GET /ready` did not answer in time.
    #[error("GET {url}: no answer within {limit:?}")]
    Timeout {
        /// The ready URL.
        url: String,
        /// How long it was given.
        limit: Duration,
    },
}

impl LokiSinkConfig {
    /// The environment check of `logagent validate`: builds the client (reading
    /// secret and TLS files) and asks `GET /ready` once, within `limit`.
    pub fn check_environment(&self, limit: Duration) -> Result<(), CheckError> {
        let metrics = Arc::new(LokiMetrics::new(&Labeled::default(), &[]));
        let shared = shared(self, metrics)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            match tokio::time::timeout(limit, push::ready_once(&shared)).await {
                Ok(r) => r.map_err(|e| CheckError::NotReady(e.message)),
                Err(_) => Err(CheckError::Timeout {
                    url: shared.ready_url.to_string(),
                    limit,
                }),
            }
        })
    }
}

/// The Loki sink's health check: `GET /ready` answers 2xx.
struct ReadyCheck(Box<LokiSinkConfig>);

impl logagent_core::component::HealthCheck for ReadyCheck {
    fn check(&self, limit: Duration) -> crate::net::HealthReport {
        crate::net::HealthReport {
            failures: self
                .0
                .check_environment(limit)
                .err()
                .map(|e| e.to_string())
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn describe_failure(&self, failure: &str) -> String {
        format!("Loki health check failed: {failure} (the agent would start and retry)")
    }
}

impl logagent_core::component::SinkComponent for LokiSinkConfig {
    fn check(&self) -> Vec<logagent_core::KeyError> {
        LokiSinkConfig::check(self)
    }
    fn build(
        &self,
        _data_dir: &std::path::Path,
    ) -> Result<Box<dyn logagent_core::component::Sink>, SinkError> {
        Ok(Box::new(LokiSinkConfig::build(self)?))
    }
    fn health_check(&self) -> Option<Box<dyn logagent_core::component::HealthCheck>> {
        self.healthcheck.then(|| {
            Box::new(ReadyCheck(Box::new(self.clone())))
                as Box<dyn logagent_core::component::HealthCheck>
        })
    }
}
