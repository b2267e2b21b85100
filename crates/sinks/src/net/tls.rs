//! `tls`: the one set of TLS options of every network sink, and reading the
//! files they name. Same keys in every sink, so a pipeline moving from one
//! sink to another keeps its TLS table.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::NetError;
use logagent_core::KeyError;

/// TLS for `https://` endpoints. The built-in roots are trusted, plus
/// `ca_file` when given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust (besides the built-in roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for mutual TLS (with `key_file`).
    pub crt_file: Option<PathBuf>,
    /// PEM private key of `crt_file`.
    pub key_file: Option<PathBuf>,
    /// Verify the server's certificate (default true). Turning it off also
    /// skips the host-name check.
    pub verify_certificate: bool,
    /// Verify that the certificate names the host (default true).
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> TlsConfig {
        TlsConfig {
            ca_file: None,
            crt_file: None,
            key_file: None,
            verify_certificate: true,
            verify_hostname: true,
        }
    }
}

/// The contents of the files a [`TlsConfig`] names, read once at build.
#[derive(Debug, Clone, Default)]
pub struct TlsMaterial {
    /// The CA bundle (PEM), if any.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key concatenated (PEM), for mutual TLS.
    pub identity_pem: Option<Vec<u8>>,
}

impl TlsConfig {
    /// Problems with the keys, named under `key` (the sink's name for the table).
    pub fn check(&self, key: &str) -> Vec<KeyError> {
        let mut errors = Vec::new();
        if self.crt_file.is_some() != self.key_file.is_some() {
            errors.push(KeyError::new(
                key,
                "crt_file and key_file go together (mutual TLS needs both)",
            ));
        }
        errors
    }

    /// Reads the CA bundle and the client identity.
    pub fn load(&self) -> Result<TlsMaterial, NetError> {
        let ca_pem = self
            .ca_file
            .as_deref()
            .map(|p| read_file("tls.ca_file", p))
            .transpose()?;
        let identity_pem = match (&self.crt_file, &self.key_file) {
            (Some(crt), Some(key)) => {
                let mut pem = read_file("tls.crt_file", crt)?;
                pem.push(b'\n');
                pem.extend(read_file("tls.key_file", key)?);
                Some(pem)
            }
            _ => None,
        };
        Ok(TlsMaterial {
            ca_pem,
            identity_pem,
        })
    }

    /// Applies the options to a reqwest client builder (reads the files).
    pub fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, NetError> {
        let material = self.load()?;
        builder = builder
            .danger_accept_invalid_certs(!self.verify_certificate)
            .danger_accept_invalid_hostnames(!self.verify_hostname);
        if let (Some(pem), Some(ca)) = (&material.ca_pem, &self.ca_file) {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| NetError::file("tls.ca_file", ca, e.to_string()))?;
            if certs.is_empty() {
                return Err(NetError::file("tls.ca_file", ca, "no PEM certificate"));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let (Some(pem), Some(crt), Some(key)) =
            (&material.identity_pem, &self.crt_file, &self.key_file)
        {
            let id = reqwest::Identity::from_pem(pem).map_err(|e| NetError::File {
                key: "tls.key_file",
                path: format!("{} / {}", crt.display(), key.display()),
                message: e.to_string(),
            })?;
            builder = builder.identity(id);
        }
        Ok(builder)
    }
}

/// Reads a file named by config key `key`.
pub fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, NetError> {
    std::fs::read(path).map_err(|e| NetError::file(key, path, format!("reading: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_verify_and_keys_are_the_union() {
        let t: TlsConfig = toml::from_str("").unwrap();
        assert_eq!(t, TlsConfig::default());
        assert!(t.verify_certificate && t.verify_hostname);
        let t: TlsConfig = toml::from_str(
            "ca_file = \"ca.pem\"\ncrt_file = \"c.pem\"\nkey_file = \"k.pem\"\nverify_certificate = false\nverify_hostname = false",
        )
        .unwrap();
        assert!(t.check("tls").is_empty());
        assert!(toml::from_str::<TlsConfig>("verify = false").is_err());
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let t = TlsConfig {
            key_file: Some("k.pem".into()),
            ..TlsConfig::default()
        };
        assert_eq!(t.check("tls")[0].key, "tls");
    }

    #[test]
    fn a_missing_file_names_its_key_and_path() {
        let t = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let e = t.load().unwrap_err().to_string();
        assert!(
            e.contains("tls.ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
    }
}
