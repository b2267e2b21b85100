//! The layer under every network sink: what talking to a server takes besides
//! the request format. A network sink is its wire format on top of this.
//!
//! * [`endpoints`] — the endpoint list with failover (round-robin, cool-down).
//! * [`tls`] — the one `tls` table and reading its files.
//! * [`auth`] — the one `auth` table (basic, bearer, API key; secrets inline,
//!   from `${ENV}`, or from files) and the `Authorization` header.
//! * [`backoff`] — capped, jittered exponential backoff honouring `Retry-After`
//!   (from `logagent-core`, where the local retry loops share it).
//! * [`url`] — the one check of a configured endpoint URL.
//! * [`requests`] — request concurrency: at most N requests in flight on the
//!   sink's own runtime, each settled back on the sink's thread.
//! * [`compress`] — gzip/snappy bodies, run off the async runtime.
//! * [`HealthCheck`] — the health check a sink declares (its trait is core's).

pub mod auth;
pub mod compress;
pub mod endpoints;
pub mod requests;
pub mod tls;
pub mod url;

pub use auth::{AuthConfig, AuthHeader, AuthStrategy, Secret};
pub use backoff::Backoff;
pub use endpoints::Endpoints;
pub use logagent_core::backoff;
pub use logagent_core::component::{HealthCheck, HealthReport};
pub use requests::{Requests, Waited};
pub use tls::TlsConfig;
pub use url::{UrlError, parse_http_url, without_query};

/// Why a network sink could not be set up from its config.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A secret of the `auth` table could not be used.
    #[error(transparent)]
    Secret(#[from] logagent_core::auth::AuthError),
    /// A file named in the config could not be read or used.
    #[error("{key}: {path}: {message}")]
    File {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl NetError {
    fn file(key: &'static str, path: &std::path::Path, message: impl Into<String>) -> NetError {
        NetError::File {
            key,
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// An error with its causes, `a: b: c` (reqwest hides the useful part in the chain).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}
