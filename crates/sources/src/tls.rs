//! `tls` of the listening sources (the http and opentelemetry sources' HTTPS,
//! syslog over TLS): a certificate and its key, served with rustls — the
//! same TLS stack (rustls with ring) the network sinks use, so the agent
//! carries one. Key names match the sinks' `tls` table (`crt_file`,
//! `key_file`), so a pipeline reads the same on both sides.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use logagent_core::KeyError;

/// The certificate a listening source presents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM file of the server certificate, followed by its intermediates.
    pub crt_file: Option<PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

/// Why the TLS material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{key} {path}: {message}")]
    File {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the certificate and key together.
    #[error("tls.crt_file and tls.key_file do not make a usable server identity: {0}")]
    Identity(String),
}

fn file_error(key: &'static str, path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::File {
        key,
        path: path.display().to_string(),
        message: message.into(),
    }
}

impl ServerTlsConfig {
    /// Problems with the keys, named under `key` (the table's name).
    pub fn check(&self, key: &str) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.crt_file.is_none() {
            errors.push(KeyError::new(
                format!("{key}.crt_file"),
                "a listening source serving TLS needs its certificate (PEM)",
            ));
        }
        if self.key_file.is_none() {
            errors.push(KeyError::new(
                format!("{key}.key_file"),
                "a listening source serving TLS needs the certificate's private key (PEM)",
            ));
        }
        errors
    }

    /// Reads the certificate chain and key into a server configuration.
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (Some(crt), Some(key)) = (&self.crt_file, &self.key_file) else {
            return Err(TlsError::Identity(
                "crt_file and key_file are both needed".into(),
            ));
        };
        let crt_pem = std::fs::read(crt)
            .map_err(|e| file_error("tls.crt_file", crt, format!("reading: {e}")))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&crt_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| file_error("tls.crt_file", crt, format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(file_error("tls.crt_file", crt, "no PEM certificate in it"));
        }
        let key_pem = std::fs::read(key)
            .map_err(|e| file_error("tls.key_file", key, format!("reading: {e}")))?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| file_error("tls.key_file", key, format!("no PEM private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Identity(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, private)
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_are_required_and_named() {
        let t: ServerTlsConfig = toml::from_str("crt_file = \"c.pem\"").unwrap();
        let keys: Vec<String> = t.check("tls").into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["tls.key_file"]);
        assert!(toml::from_str::<ServerTlsConfig>("ca = \"x\"").is_err());
    }

    #[test]
    fn unreadable_or_bad_files_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let t = ServerTlsConfig {
            crt_file: Some(dir.path().join("missing.pem")),
            key_file: Some(dir.path().join("k.pem")),
        };
        let e = t.load().unwrap_err().to_string();
        assert!(
            e.contains("tls.crt_file") && e.contains("missing.pem"),
            "{e}"
        );
        std::fs::write(dir.path().join("c.pem"), "not pem").unwrap();
        let t = ServerTlsConfig {
            crt_file: Some(dir.path().join("c.pem")),
            ..t
        };
        let e = t.load().unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
