//! The connection options the `kafka` sink and the `kafka` source share
//! (brokers, TLS, SASL, librdkafka passthrough) and their translation into
//! librdkafka properties. Pure data: it lives here, below both component
//! crates, so that neither depends on the other and the keys stay identical in
//! both; the crates hand the properties to `rdkafka` themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::KeyError;

/// A SASL password: the secret type of the `auth` tables, never shown.
pub use crate::auth::Secret;

/// `tls`: encrypt the connections to the brokers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaTls {
    /// Use TLS (default true once the table is present).
    pub enabled: bool,
    /// PEM file of CA certificates to trust (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for mutual TLS (with `key_file`).
    pub crt_file: Option<PathBuf>,
    /// PEM private key of `crt_file`.
    pub key_file: Option<PathBuf>,
    /// Verify the brokers' certificates (default true).
    pub verify_certificate: bool,
    /// Verify that the certificate names the broker (default true).
    pub verify_hostname: bool,
}

impl Default for KafkaTls {
    fn default() -> KafkaTls {
        KafkaTls {
            enabled: true,
            ca_file: None,
            crt_file: None,
            key_file: None,
            verify_certificate: true,
            verify_hostname: true,
        }
    }
}

/// The SASL mechanisms librdkafka implements without Kerberos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    /// `PLAIN`: user and password as they are (use it with TLS).
    #[serde(rename = "PLAIN", alias = "plain")]
    Plain,
    /// `SCRAM-SHA-256`.
    #[serde(rename = "SCRAM-SHA-256", alias = "scram_sha_256")]
    ScramSha256,
    /// `SCRAM-SHA-512`.
    #[serde(rename = "SCRAM-SHA-512", alias = "scram_sha_512")]
    ScramSha512,
}

impl SaslMechanism {
    fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `sasl`: authenticate to the brokers. The password comes inline (write
/// `"${KAFKA_PASSWORD}"`) or from a file, exactly one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub user: String,
    /// The password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// librdkafka properties the typed keys own: setting them through
/// `librdkafka_options` would bypass the checks (and could put secrets where
/// they are not expected), so the check refuses them.
const OWNED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "enable.ssl.certificate.verification",
    "ssl.endpoint.identification.algorithm",
];

/// Why the connection options cannot be turned into properties.
#[derive(Debug, thiserror::Error)]
pub enum KafkaOptionsError {
    /// A secret file could not be read.
    #[error("reading {key} {path}: {error}")]
    SecretFile {
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
}

/// Every problem with the shared keys; `extra_owned` names the properties the
/// component's own keys set (the sink's `acks`, the source's `group_id`).
pub fn check_connection(
    bootstrap_servers: &str,
    tls: Option<&KafkaTls>,
    sasl: Option<&KafkaSasl>,
    options: &BTreeMap<String, String>,
    extra_owned: &[&str],
) -> Vec<KeyError> {
    let mut errors = Vec::new();
    let servers: Vec<&str> = bootstrap_servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if servers.is_empty() {
        errors.push(KeyError::new(
            "bootstrap_servers",
            "must name at least one broker, e.g. \"kafka-0.kafka:9092,kafka-1.kafka:9092\"",
        ));
    }
    for s in servers {
        let port = s.rsplit_once(':').map(|(_, p)| p);
        if port.is_none_or(|p| p.parse::<u16>().is_err()) || s.contains("://") {
            errors.push(KeyError::new(
                "bootstrap_servers",
                format!("{s:?} is not HOST:PORT (e.g. \"kafka:9092\")"),
            ));
        }
    }
    if let Some(t) = tls
        && t.crt_file.is_some() != t.key_file.is_some()
    {
        errors.push(KeyError::new(
            "tls.key_file",
            "crt_file and key_file go together (mutual TLS needs both)",
        ));
    }
    if let Some(s) = sasl {
        if s.user.is_empty() {
            errors.push(KeyError::new("sasl.user", "must not be empty"));
        }
        if s.password.is_some() == s.password_file.is_some() {
            errors.push(KeyError::new(
                "sasl.password",
                "needs exactly one of password (e.g. \"${KAFKA_PASSWORD}\") and password_file",
            ));
        }
        if s.mechanism == SaslMechanism::Plain && !tls.is_some_and(|t| t.enabled) {
            tracing::debug!("sasl PLAIN without TLS sends the password in clear");
        }
    }
    for key in options.keys() {
        if OWNED.contains(&key.as_str()) || extra_owned.contains(&key.as_str()) {
            errors.push(KeyError::new(
                format!("librdkafka_options.{key}"),
                "is set by logagent's own keys (bootstrap_servers, tls, sasl and the component's options): use those",
            ));
        }
    }
    errors
}

/// The librdkafka properties for the connection: brokers, security protocol,
/// TLS files, SASL (reading the password file), then the passthrough options.
/// The result holds the password: never log it.
pub fn connection_properties(
    bootstrap_servers: &str,
    tls: Option<&KafkaTls>,
    sasl: Option<&KafkaSasl>,
    options: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, KafkaOptionsError> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| p.push((k.to_owned(), v));
    set("bootstrap.servers", bootstrap_servers.to_owned());
    let tls = tls.filter(|t| t.enabled);
    let protocol = match (tls.is_some(), sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    set("security.protocol", protocol.to_owned());
    if let Some(t) = tls {
        let path = |p: &Path| p.display().to_string();
        if let Some(ca) = &t.ca_file {
            set("ssl.ca.location", path(ca));
        }
        if let (Some(c), Some(k)) = (&t.crt_file, &t.key_file) {
            set("ssl.certificate.location", path(c));
            set("ssl.key.location", path(k));
        }
        set(
            "enable.ssl.certificate.verification",
            t.verify_certificate.to_string(),
        );
        set(
            "ssl.endpoint.identification.algorithm",
            if t.verify_certificate && t.verify_hostname {
                "https"
            } else {
                "none"
            }
            .to_owned(),
        );
    }
    if let Some(s) = sasl {
        set("sasl.mechanism", s.mechanism.as_str().to_owned());
        set("sasl.username", s.user.clone());
        let password = match (&s.password, &s.password_file) {
            (Some(p), _) => p.0.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|error| KafkaOptionsError::SecretFile {
                    key: "sasl.password_file",
                    path: f.clone(),
                    error,
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => String::new(),
        };
        set("sasl.password", password);
    }
    for (k, v) in options {
        set(k, v.clone());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_over_tls_reads_the_password_file_and_never_prints_it() {
        let dir = std::env::temp_dir().join(format!("kafka-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "hunter2\n").unwrap();
        let sasl = KafkaSasl {
            mechanism: SaslMechanism::ScramSha512,
            user: "agent".into(),
            password: None,
            password_file: Some(file),
        };
        let tls = KafkaTls::default();
        let p = connection_properties("k:9092", Some(&tls), Some(&sasl), &BTreeMap::new()).unwrap();
        let get = |k: &str| p.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get("sasl.password"), Some("hunter2"));
        let inline = KafkaSasl {
            password: Some(Secret("hunter2".into())),
            password_file: None,
            ..sasl
        };
        assert!(!format!("{inline:?}").contains("hunter2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn checks_name_the_keys() {
        let mut opts = BTreeMap::new();
        opts.insert("sasl.password".to_owned(), "x".to_owned());
        opts.insert("acks".to_owned(), "1".to_owned());
        opts.insert("linger.ms".to_owned(), "5".to_owned());
        let sasl = KafkaSasl {
            mechanism: SaslMechanism::Plain,
            user: String::new(),
            password: None,
            password_file: None,
        };
        let keys: Vec<String> =
            check_connection("http://k:9092,", None, Some(&sasl), &opts, &["acks"])
                .into_iter()
                .map(|e| e.key)
                .collect();
        assert_eq!(
            keys,
            [
                "bootstrap_servers",
                "sasl.user",
                "sasl.password",
                "librdkafka_options.acks",
                "librdkafka_options.sasl.password"
            ]
        );
        assert!(check_connection("a:9092, b:9093", None, None, &BTreeMap::new(), &[]).is_empty());
    }
}
