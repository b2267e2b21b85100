//! `auth`: the one credentials table (`strategy = "basic" | "bearer" |
//! "api_key"`, each secret inline — write `${ENV_VAR}` — or from a file,
//! exactly one of the two) and the `Authorization` value it makes. Network
//! sinks send it, the HTTP receiving sources expect it, so one credentials
//! block can be copied between an agent's sink and the aggregator's source.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::KeyError;

/// A string that never shows in logs or debug output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStrategy {
    /// `Authorization: Basic` with `user` and `password`.
    Basic,
    /// `Authorization: Bearer` with `token`.
    Bearer,
    /// `Authorization: ApiKey` with `api_key` (as Elasticsearch clients send it).
    ApiKey,
}

/// Credentials; secrets are never logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `basic`, `bearer` or `api_key`.
    pub strategy: AuthStrategy,
    /// Basic: the user name.
    #[serde(default)]
    pub user: Option<String>,
    /// Basic: the password (e.g. `"${INGEST_PASSWORD}"`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Basic: a file holding the password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Bearer: the token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Bearer: a file holding the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// API key: the key (the encoded key, or `id:key`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// API key: a file holding the key.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
}

/// A secret that could not be used (an unreadable file, an empty secret).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct AuthError {
    /// The key (`auth.token_file`).
    pub key: &'static str,
    /// What went wrong, naming the file if there is one.
    pub message: String,
}

impl AuthConfig {
    /// Every problem with the keys, named `auth.KEY` (pure: files are read
    /// when the component starts).
    pub fn check(&self) -> Vec<KeyError> {
        let mut errors = Vec::new();
        let mut not = |cond: bool, key: &str, why: &str| {
            if cond {
                errors.push(KeyError::new(format!("auth.{key}"), why.to_owned()));
            }
        };
        let basic = self.user.is_some() || self.password.is_some() || self.password_file.is_some();
        let bearer = self.token.is_some() || self.token_file.is_some();
        let api_key = self.api_key.is_some() || self.api_key_file.is_some();
        match self.strategy {
            AuthStrategy::Basic => {
                not(self.user.is_none(), "user", "basic auth needs a user");
                not(
                    self.user
                        .as_deref()
                        .is_some_and(|u| u.is_empty() || u.contains(':')),
                    "user",
                    "must not be empty nor contain ':'",
                );
                not(
                    self.password.is_some() == self.password_file.is_some(),
                    "password",
                    "basic auth needs exactly one of password (e.g. \"${SECRET}\") and password_file",
                );
            }
            AuthStrategy::Bearer => not(
                self.token.is_some() == self.token_file.is_some(),
                "token",
                "bearer auth needs exactly one of token (e.g. \"${SECRET}\") and token_file",
            ),
            AuthStrategy::ApiKey => not(
                self.api_key.is_some() == self.api_key_file.is_some(),
                "api_key",
                "API key auth needs exactly one of api_key (e.g. \"${SECRET}\") and api_key_file",
            ),
        }
        if self.strategy != AuthStrategy::Basic {
            not(
                basic,
                "user",
                "user and password are for strategy = \"basic\"",
            );
        }
        if self.strategy != AuthStrategy::Bearer {
            not(bearer, "token", "is for strategy = \"bearer\"");
        }
        if self.strategy != AuthStrategy::ApiKey {
            not(api_key, "api_key", "is for strategy = \"api_key\"");
        }
        errors
    }

    /// The `Authorization` value these credentials make (`Basic …`,
    /// `Bearer …`, `ApiKey …`), reading secret files: what a sink sends and
    /// what a source expects. An empty secret is refused (an unset `${VAR}`
    /// must not become "no password").
    pub fn authorization(&self) -> Result<String, AuthError> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        Ok(match self.strategy {
            AuthStrategy::Basic => {
                let password = secret(
                    ("auth.password", "auth.password_file"),
                    &self.password,
                    &self.password_file,
                )?;
                let user = self.user.as_deref().unwrap_or_default();
                format!("Basic {}", b64.encode(format!("{user}:{password}")))
            }
            AuthStrategy::Bearer => {
                let token = secret(
                    ("auth.token", "auth.token_file"),
                    &self.token,
                    &self.token_file,
                )?;
                format!("Bearer {}", token.trim())
            }
            AuthStrategy::ApiKey => {
                let key = secret(
                    ("auth.api_key", "auth.api_key_file"),
                    &self.api_key,
                    &self.api_key_file,
                )?;
                // `id:key` is encoded here; an already encoded key is sent as is.
                if key.contains(':') {
                    format!("ApiKey {}", b64.encode(key))
                } else {
                    format!("ApiKey {key}")
                }
            }
        })
    }
}

/// An inline secret or its file's content without the trailing newline;
/// never empty (an empty secret would let anyone in who sends an empty one,
/// e.g. from an unset `${VAR}`).
fn secret(
    (inline_key, file_key): (&'static str, &'static str),
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<String, AuthError> {
    match (inline, file) {
        (Some(s), _) if s.0.trim().is_empty() => Err(AuthError {
            key: inline_key,
            message: "is empty (an unset environment variable?)".into(),
        }),
        (Some(s), _) => Ok(s.0.clone()),
        (None, Some(path)) => read_secret(file_key, path),
        (None, None) => Err(AuthError {
            key: inline_key,
            message: "is missing".into(),
        }),
    }
}

fn read_secret(key: &'static str, path: &Path) -> Result<String, AuthError> {
    let err = |message: String| AuthError {
        key,
        message: format!("{}: {message}", path.display()),
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Err(err("is empty".into()));
    }
    Ok(text.to_owned())
}
