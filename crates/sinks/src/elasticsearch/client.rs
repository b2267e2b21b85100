//! Talking to the cluster through the official `elasticsearch` crate's
//! transport: one transport per endpoint (TLS, client certificate, timeouts),
//! round-robin over the endpoints with a cool-down for a node that failed, our
//! own `Authorization` header (so basic/API key/bearer work together with a
//! client certificate), and the start-up health check with version detection.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::auth::{ClientCertificate, Credentials};
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{
    ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER,
};
use elasticsearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use elasticsearch::http::{Method, Url};

use super::config::ElasticsearchConfig;
use crate::net::{Endpoints, NetError, UrlError, parse_http_url, without_query};

/// Checks one `endpoints` entry and normalizes it to a base URL ending in `/`.
pub fn parse_endpoint(text: &str) -> Result<Url, UrlError> {
    let mut url = without_query(parse_http_url(text, "http://127.0.0.1:9200")?, text)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Why the client could not be built (unreadable secret or certificate files).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file named in the config could not be read or parsed.
    #[error(transparent)]
    File(#[from] NetError),
    /// The transport rejected its settings.
    #[error("{0}")]
    Transport(String),
}

struct Node {
    url: Url,
    transport: Transport,
}

/// The endpoints and how to reach them.
pub struct Client {
    nodes: Endpoints<Node>,
    auth: Option<HeaderValue>,
    pipeline: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field(
                "endpoints",
                &self
                    .nodes
                    .iter()
                    .map(|n| n.url.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How one HTTP exchange ended, when it produced no response.
#[derive(Debug, Clone)]
pub struct SendError {
    /// The cause, with its chain (`error sending request ...: connection refused`).
    pub message: String,
    /// True for a timeout.
    pub timeout: bool,
}

/// A response: status, `Retry-After` and (decoded) body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The server's `Retry-After` (429, 503), in seconds form.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Bytes,
}

use crate::net::error_chain as chain;

impl Client {
    /// Builds the transports (reads secret and certificate files).
    pub fn build(config: &ElasticsearchConfig) -> Result<Client, ClientError> {
        let auth = config
            .auth
            .as_ref()
            .map(crate::net::AuthHeader::header)
            .transpose()?;
        let material = config.tls.load()?;
        let ca_pem = match (&material.ca_pem, &config.tls.ca_file) {
            (Some(pem), Some(ca)) if config.tls.verify_certificate => {
                Certificate::from_pem(pem).map_err(|e| NetError::File {
                    key: "tls.ca_file",
                    path: ca.display().to_string(),
                    message: format!("not a PEM certificate: {e}"),
                })?;
                Some(pem.clone())
            }
            _ => None,
        };
        // `Certificate` is not `Clone`: parsed again for each endpoint.
        let validation = || -> Option<CertificateValidation> {
            if !config.tls.verify_certificate {
                Some(CertificateValidation::None)
            } else {
                ca_pem
                    .as_ref()
                    .and_then(|pem| Certificate::from_pem(pem).ok())
                    .map(CertificateValidation::Full)
            }
        };
        let identity = material.identity_pem;
        let mut nodes = Vec::new();
        for text in &config.endpoints {
            let url = parse_endpoint(text).map_err(|e| ClientError::Transport(e.to_string()))?;
            let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url.clone()))
                .timeout(config.request_timeout.0)
                .enable_meta_header(false);
            if let Some(v) = validation() {
                builder = builder.cert_validation(v);
            }
            if let Some(pem) = &identity {
                builder = builder.auth(Credentials::Certificate(ClientCertificate::Pem(
                    pem.clone(),
                )));
            }
            let transport = builder
                .build()
                .map_err(|e| ClientError::Transport(chain(&e)))?;
            nodes.push(Node { url, transport });
        }
        Ok(Client {
            nodes: Endpoints::new(nodes, config.endpoint_cooldown.0),
            auth,
            pipeline: config.pipeline.clone(),
            timeout: config.request_timeout.0,
        })
    }

    /// The base URLs, for logs.
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.url.as_str())
    }

    /// The next node round-robin, skipping nodes cooling down; when all are,
    /// the one that has cooled longest.
    pub fn pick(&self) -> usize {
        self.nodes.pick()
    }

    /// Puts node `i` in the cool-down after a failure.
    pub fn mark_failed(&self, i: usize) {
        self.nodes.mark_failed(i);
    }

    /// Ends node `i`'s cool-down after a success.
    pub fn mark_ok(&self, i: usize) {
        self.nodes.mark_ok(i);
    }

    /// The URL of node `i`, for logs.
    pub fn url(&self, i: usize) -> &str {
        self.nodes.get(i).map(|n| n.url.as_str()).unwrap_or("")
    }

    /// POSTs an NDJSON bulk body (already gzipped when `gzip`) to node `i`.
    pub async fn bulk(&self, i: usize, body: Bytes, gzip: bool) -> Result<Reply, SendError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let query: Vec<(&str, &str)> = match &self.pipeline {
            Some(p) => vec![("pipeline", p.as_str())],
            None => Vec::new(),
        };
        self.request(
            i,
            Method::Post,
            "_bulk",
            headers,
            &query,
            Some(body),
            self.timeout,
        )
        .await
    }

    /// `GET /` on node `i`, with its own time limit.
    pub async fn root(&self, i: usize, timeout: Duration) -> Result<Reply, SendError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        self.request(i, Method::Get, "", headers, &[], None, timeout)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        i: usize,
        method: Method,
        path: &str,
        mut headers: HeaderMap,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Reply, SendError> {
        let Some(node) = self.nodes.get(i) else {
            return Err(SendError {
                message: "no endpoint".into(),
                timeout: false,
            });
        };
        if let Some(a) = &self.auth {
            headers.insert(AUTHORIZATION, a.clone());
        }
        let query = if query.is_empty() { None } else { Some(query) };
        let response = node
            .transport
            .send(method, path, headers, query, body, Some(timeout))
            .await
            .map_err(|e| SendError {
                timeout: e.is_timeout(),
                message: chain(&e),
            })?;
        let status = response.status_code().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::net::backoff::parse_retry_after);
        let body = response.bytes().await.map_err(|e| SendError {
            timeout: e.is_timeout(),
            message: format!("reading the response: {}", chain(&e)),
        })?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

/// What `GET /` told about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// Elasticsearch with its major version.
    Elasticsearch {
        /// The full version number.
        version: String,
        /// The major version.
        major: u32,
    },
    /// OpenSearch.
    OpenSearch {
        /// The full version number.
        version: String,
    },
    /// Something answering HTTP without Elasticsearch's root document (a
    /// bulk-only compatible server or a proxy); bulk requests will tell.
    BulkOnly {
        /// The status of `GET /`.
        status: u16,
    },
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flavor::Elasticsearch { version, .. } => write!(f, "Elasticsearch {version}"),
            Flavor::OpenSearch { version } => write!(f, "OpenSearch {version}"),
            Flavor::BulkOnly { status } => write!(
                f,
                "a server without Elasticsearch's root document (GET / answered {status}); assuming a bulk-only compatible server"
            ),
        }
    }
}

/// Why the health check failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HealthError {
    /// No HTTP answer (refused, timed out, TLS failure).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The server refused our credentials.
    #[error("authentication failed (HTTP {0}); check `auth`")]
    Auth(u16),
    /// The server answered with an error status.
    #[error("GET / answered HTTP {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
}

/// Reads the root document of a server: version and distribution.
pub fn detect(reply: &Reply) -> Result<Flavor, HealthError> {
    match reply.status {
        401 | 403 => return Err(HealthError::Auth(reply.status)),
        200..=299 => {}
        404 | 405 | 410 | 501 => {
            return Ok(Flavor::BulkOnly {
                status: reply.status,
            });
        }
        status => {
            return Err(HealthError::Status {
                status,
                body: String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
                    .into_owned(),
            });
        }
    }
    let doc: serde_json::Value = match serde_json::from_slice(&reply.body) {
        Ok(v) => v,
        Err(_) => {
            return Ok(Flavor::BulkOnly {
                status: reply.status,
            });
        }
    };
    let version = &doc["version"];
    let Some(number) = version["number"].as_str() else {
        return Ok(Flavor::BulkOnly {
            status: reply.status,
        });
    };
    if version["distribution"].as_str() == Some("opensearch") {
        return Ok(Flavor::OpenSearch {
            version: number.to_owned(),
        });
    }
    let major = number
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Ok(Flavor::Elasticsearch {
        version: number.to_owned(),
        major,
    })
}

impl Client {
    /// The health check of node `i`: `GET /` and version detection.
    pub async fn health(&self, i: usize, timeout: Duration) -> Result<Flavor, HealthError> {
        let reply = self
            .root(i, timeout)
            .await
            .map_err(|e| HealthError::Unreachable(e.message))?;
        detect(&reply)
    }

    /// How many endpoints there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True without endpoints (never, after config checks).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Why one endpoint's check in [`check_endpoints`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The client could not be built (secret or certificate files).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The runtime for the check could not start.
    #[error("starting the check's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The endpoint answered wrongly or not at all.
    #[error(transparent)]
    Health(#[from] HealthError),
}

/// The health check of every endpoint, once, for `logagent validate`: what
/// answered, or why not. Blocks for at most about `timeout` per endpoint.
pub fn check_endpoints(
    config: &ElasticsearchConfig,
    timeout: Duration,
) -> Vec<(String, Result<Flavor, CheckError>)> {
    let client = match Client::build(config) {
        Ok(c) => c,
        Err(e) => return vec![(String::from("(client)"), Err(e.into()))],
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return vec![(String::from("(runtime)"), Err(e.into()))],
    };
    (0..client.len())
        .map(|i| {
            let result = runtime
                .block_on(client.health(i, timeout))
                .map_err(CheckError::from);
            (client.url(i).to_owned(), result)
        })
        .collect()
}

/// The Elasticsearch sink's health check: `GET /` on every endpoint must
/// answer; the server found is reported, with what it cannot do in this mode.
struct RootCheck(Box<ElasticsearchConfig>);

impl logagent_core::component::HealthCheck for RootCheck {
    fn check(&self, limit: Duration) -> crate::net::HealthReport {
        let mut report = crate::net::HealthReport::default();
        let data_stream = self.0.mode == super::config::Mode::DataStream;
        for (endpoint, result) in check_endpoints(&self.0, limit) {
            match result {
                Ok(flavor) => {
                    report.info.push(format!("{endpoint}: {flavor}"));
                    if let Some(w) = compatibility_warning(&flavor, data_stream) {
                        report.warnings.push(format!("{endpoint}: {w}"));
                    }
                }
                Err(e) => report.failures.push(format!("{endpoint}: {e}")),
            }
        }
        report
    }
}

impl logagent_core::component::SinkComponent for ElasticsearchConfig {
    fn check(&self) -> Vec<logagent_core::KeyError> {
        ElasticsearchConfig::check(self)
    }
    fn build(
        &self,
        _data_dir: &std::path::Path,
    ) -> Result<Box<dyn logagent_core::component::Sink>, logagent_core::component::SinkError> {
        Ok(Box::new(super::ElasticsearchSink::new(self)?))
    }
    fn outputs(&self) -> Vec<String> {
        vec![super::DEAD_LETTER.to_owned()]
    }
    fn health_check(&self) -> Option<Box<dyn logagent_core::component::HealthCheck>> {
        // Not gated by `health_check`, which governs the sink's own start-up
        // check only: `validate` and `/health` always asked every endpoint.
        Some(Box::new(RootCheck(Box::new(self.clone()))))
    }
}

/// Warnings about a detected server for the configured mode.
pub fn compatibility_warning(flavor: &Flavor, data_stream: bool) -> Option<String> {
    match flavor {
        Flavor::Elasticsearch { major, .. } if *major < 7 => Some(format!(
            "{flavor} is not supported (7.x or later needed: documents are sent without a mapping type)"
        )),
        Flavor::Elasticsearch { version, major } if data_stream && *major == 7 => {
            let minor: u32 = version
                .split('.')
                .nth(1)
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            (minor < 9).then(|| format!("{flavor} has no data streams (7.9 or later needed)"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{AuthConfig, AuthHeader as _};

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn endpoints_are_normalized_and_credentials_refused() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:9200").unwrap().as_str(),
            "http://127.0.0.1:9200/"
        );
        assert_eq!(
            parse_endpoint("https://es.example/prefix")
                .unwrap()
                .as_str(),
            "https://es.example/prefix/"
        );
        assert!(parse_endpoint("http://elastic:secret@h:9200").is_err());
        assert!(parse_endpoint("ftp://h").is_err());
        assert!(parse_endpoint("127.0.0.1:9200").is_err());
    }

    #[test]
    fn detects_versions_and_flavors() {
        let es8 = r#"{"name":"n","cluster_name":"c","version":{"number":"8.15.1","build_flavor":"default","lucene_version":"9.11.1"},"tagline":"You Know, for Search"}"#;
        assert_eq!(
            detect(&reply(200, es8)).unwrap(),
            Flavor::Elasticsearch {
                version: "8.15.1".into(),
                major: 8
            }
        );
        let es7 = r#"{"version":{"number":"7.17.22"}}"#;
        assert!(matches!(
            detect(&reply(200, es7)).unwrap(),
            Flavor::Elasticsearch { major: 7, .. }
        ));
        let es9 = r#"{"version":{"number":"9.0.0"}}"#;
        assert!(matches!(
            detect(&reply(200, es9)).unwrap(),
            Flavor::Elasticsearch { major: 9, .. }
        ));
        let os = r#"{"version":{"distribution":"opensearch","number":"2.15.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#;
        assert_eq!(
            detect(&reply(200, os)).unwrap(),
            Flavor::OpenSearch {
                version: "2.15.0".into()
            }
        );
        assert_eq!(
            detect(&reply(404, "not found")).unwrap(),
            Flavor::BulkOnly { status: 404 }
        );
        assert_eq!(
            detect(&reply(200, "OK")).unwrap(),
            Flavor::BulkOnly { status: 200 }
        );
        assert!(matches!(
            detect(&reply(401, "")),
            Err(HealthError::Auth(401))
        ));
        assert!(matches!(
            detect(&reply(503, "down")),
            Err(HealthError::Status { status: 503, .. })
        ));
        let old = Flavor::Elasticsearch {
            version: "6.8.0".into(),
            major: 6,
        };
        assert!(compatibility_warning(&old, false).is_some());
        let es78 = Flavor::Elasticsearch {
            version: "7.8.1".into(),
            major: 7,
        };
        assert!(compatibility_warning(&es78, true).is_some());
        assert!(compatibility_warning(&es78, false).is_none());
    }

    #[test]
    fn tls_files_are_read_and_checked_at_build() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let config = |tls: &str| -> ElasticsearchConfig {
            toml::from_str(&format!(
                "endpoints = [\"https://127.0.0.1:9200\"]\nindex = \"i\"\ntls = {tls}"
            ))
            .unwrap()
        };
        let err = Client::build(&config(&format!(
            "{{ ca_file = {:?} }}",
            bad.display().to_string()
        )))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("tls.ca_file:") && err.contains("ca.pem"),
            "{err}"
        );
        let err = Client::build(&config(
            "{ crt_file = \"/nonexistent/c.pem\", key_file = \"/nonexistent/k.pem\" }",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("tls.crt_file: /nonexistent/c.pem"), "{err}");
        // Verification off needs no files; a CA is not read then.
        assert!(
            Client::build(&config(&format!(
                "{{ ca_file = {:?}, verify_certificate = false }}",
                bad.display().to_string()
            )))
            .is_ok()
        );
    }

    #[test]
    fn auth_headers() {
        let auth = |text: &str| toml::from_str::<AuthConfig>(text).unwrap();
        let h = auth("strategy = \"basic\"\nuser = \"elastic\"\npassword = \"changeme\"")
            .header()
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("ZWxh"));
        let h = auth("strategy = \"api_key\"\napi_key = \"id:key\"")
            .header()
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "ApiKey aWQ6a2V5");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc\n").unwrap();
        let h = AuthConfig {
            token_file: Some(f),
            ..auth("strategy = \"bearer\"")
        }
        .header()
        .unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer abc");
    }
}
