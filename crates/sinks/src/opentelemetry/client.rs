//! The HTTP side of the sink's setup: the client (auth, custom headers, TLS,
//! timeouts) built from the config, the health check it declares, and its
//! [`SinkComponent`](logagent_core::component::SinkComponent) implementation.

use crate::net::AuthHeader as _;
use std::sync::Arc;
use std::time::Duration;

use super::config::{OpenTelemetrySinkConfig, OtlpCompression};
use super::export::{self, Shared};
use super::metrics::OtlpMetrics;
use crate::net::Endpoints;
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

impl From<logagent_core::KeyError> for BuildError {
    fn from(e: logagent_core::KeyError) -> BuildError {
        BuildError::Key {
            key: e.key,
            message: e.message,
        }
    }
}

impl From<BuildError> for SinkError {
    fn from(e: BuildError) -> SinkError {
        SinkError::Failed {
            what: "building the OpenTelemetry sink".into(),
            message: e.to_string(),
        }
    }
}

/// The HTTP client and everything exports share (reads secret and TLS files).
pub fn shared(
    config: &OpenTelemetrySinkConfig,
    metrics: Arc<OtlpMetrics>,
) -> Result<Shared, BuildError> {
    let urls = config.urls()?;
    let mut headers = config.header_map()?;
    if let Some(auth) = &config.auth {
        headers.insert(reqwest::header::AUTHORIZATION, auth.header()?);
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
        urls: Endpoints::new(urls, config.endpoint_cooldown.0),
        encoding: config.encoding,
        gzip: config.compression == OtlpCompression::Gzip,
        initial_backoff: config.retry.initial_backoff.0,
        max_backoff: config.retry.max_backoff.0,
        metrics,
        id: "opentelemetry".into(),
        retry_log: RateLimiter::default(),
    })
}

impl OpenTelemetrySinkConfig {
    /// The environment check of `logagent validate`: builds the client
    /// (reading secret and TLS files) and sends each endpoint one empty export
    /// request, within `limit`. One failure line per endpoint.
    pub fn check_environment(&self, limit: Duration) -> Vec<String> {
        let metrics = Arc::new(OtlpMetrics::new(&Labeled::default()));
        let shared = match shared(self, metrics) {
            Ok(s) => s,
            Err(e) => return vec![e.to_string()],
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return vec![e.to_string()],
        };
        rt.block_on(async {
            let mut failures = Vec::new();
            for i in 0..shared.urls.len() {
                match tokio::time::timeout(limit, export::probe(&shared, i)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.push(e),
                    Err(_) => failures.push(format!(
                        "POST {}: no answer within {limit:?}",
                        shared.urls.get(i).map_or("", |u| u.as_str())
                    )),
                }
            }
            failures
        })
    }
}

/// The sink's health check: each endpoint takes an empty export request.
struct ExportCheck(Box<OpenTelemetrySinkConfig>);

impl logagent_core::component::HealthCheck for ExportCheck {
    fn check(&self, limit: Duration) -> crate::net::HealthReport {
        crate::net::HealthReport {
            failures: self.0.check_environment(limit),
            ..Default::default()
        }
    }

    fn describe_failure(&self, failure: &str) -> String {
        format!("OTLP health check failed: {failure} (the agent would start and retry)")
    }
}

impl logagent_core::component::SinkComponent for OpenTelemetrySinkConfig {
    fn check(&self) -> Vec<logagent_core::KeyError> {
        OpenTelemetrySinkConfig::check(self)
    }
    fn build(
        &self,
        _data_dir: &std::path::Path,
    ) -> Result<Box<dyn logagent_core::component::Sink>, SinkError> {
        Ok(Box::new(OpenTelemetrySinkConfig::build(self)?))
    }
    fn health_check(&self) -> Option<Box<dyn logagent_core::component::HealthCheck>> {
        self.healthcheck.then(|| {
            Box::new(ExportCheck(Box::new(self.clone())))
                as Box<dyn logagent_core::component::HealthCheck>
        })
    }
}
