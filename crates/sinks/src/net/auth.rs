//! `auth`: the one credentials table of every network sink — basic, bearer or
//! API key, each secret inline (write `${ENV_VAR}`) or from a file — and the
//! `Authorization` header built from it.

use std::path::PathBuf;

use base64::Engine as _;
use reqwest::header::HeaderValue;
use serde::Deserialize;

use super::NetError;
use logagent_core::KeyError;

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
    /// `Authorization: Basic` from `user` and `password`.
    Basic,
    /// `Authorization: Bearer` with `token`.
    Bearer,
    /// `Authorization: ApiKey` with `api_key` (the encoded key, or `id:key`).
    ApiKey,
}

/// Credentials. Each secret comes inline or from a file (`*_file`, trailing
/// newline ignored), exactly one of the two; secrets are never logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `basic`, `bearer` or `api_key`.
    pub strategy: AuthStrategy,
    /// Basic: the user name.
    #[serde(default)]
    pub user: Option<String>,
    /// Basic: the password (e.g. `"${LOKI_PASSWORD}"`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Basic: a file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Bearer: the token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Bearer: a file holding the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// API key: the key.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// API key: a file holding the key.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
}

impl AuthConfig {
    /// Every problem with the keys, named `auth.KEY` (pure: files are read at build).
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
                    self.user.as_deref() == Some(""),
                    "user",
                    "must not be empty",
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

    /// The `Authorization` header, reading secret files; marked sensitive so
    /// the HTTP stack never prints it either.
    pub fn header(&self) -> Result<HeaderValue, NetError> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        let text = match self.strategy {
            AuthStrategy::Basic => {
                let password = secret("auth.password_file", &self.password, &self.password_file)?;
                let user = self.user.as_deref().unwrap_or_default();
                format!("Basic {}", b64.encode(format!("{user}:{password}")))
            }
            AuthStrategy::Bearer => {
                let token = secret("auth.token_file", &self.token, &self.token_file)?;
                format!("Bearer {}", token.trim())
            }
            AuthStrategy::ApiKey => {
                let key = secret("auth.api_key_file", &self.api_key, &self.api_key_file)?;
                // `id:key` is encoded here; an already encoded key is sent as is.
                if key.contains(':') {
                    format!("ApiKey {}", b64.encode(key))
                } else {
                    format!("ApiKey {key}")
                }
            }
        };
        let mut v = HeaderValue::from_str(&text).map_err(|_| NetError::File {
            key: "auth",
            path: "(secret)".into(),
            message: "the credentials contain characters not allowed in an HTTP header".into(),
        })?;
        v.set_sensitive(true);
        Ok(v)
    }
}

/// An inline secret or its file's content without the trailing newline.
fn secret(
    key: &'static str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<String, NetError> {
    match (inline, file) {
        (Some(s), _) => Ok(s.0.clone()),
        (None, Some(path)) => {
            let bytes = super::tls::read_file(key, path)?;
            let text =
                String::from_utf8(bytes).map_err(|_| NetError::file(key, path, "not UTF-8"))?;
            Ok(text.trim_end_matches(['\n', '\r']).to_owned())
        }
        (None, None) => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AuthConfig {
        toml::from_str(text).unwrap()
    }

    fn keys(a: &AuthConfig) -> Vec<String> {
        a.check().into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn each_strategy_needs_exactly_its_secret() {
        assert!(
            keys(&parse(
                "strategy = \"basic\"\nuser = \"u\"\npassword = \"p\""
            ))
            .is_empty()
        );
        assert_eq!(
            keys(&parse(
                "strategy = \"basic\"\nuser = \"\"\npassword_file = \"/f\""
            )),
            ["auth.user"]
        );
        assert_eq!(
            keys(&parse(
                "strategy = \"bearer\"\ntoken = \"t\"\ntoken_file = \"/f\""
            )),
            ["auth.token"]
        );
        assert_eq!(
            keys(&parse(
                "strategy = \"api_key\"\napi_key = \"k\"\nuser = \"u\""
            )),
            ["auth.user"]
        );
        assert_eq!(
            keys(&parse("strategy = \"basic\"\ntoken = \"t\"")),
            ["auth.user", "auth.password", "auth.token"]
        );
        assert!(toml::from_str::<AuthConfig>("strategy = \"basic\"\npasword = \"x\"").is_err());
    }

    #[test]
    fn headers_per_strategy() {
        let h = parse("strategy = \"basic\"\nuser = \"u\"\npassword = \"hunter2\"")
            .header()
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic dTpodW50ZXIy");
        assert!(h.is_sensitive());
        let h = parse("strategy = \"api_key\"\napi_key = \"id:key\"")
            .header()
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "ApiKey aWQ6a2V5");
        let h = parse("strategy = \"api_key\"\napi_key = \"aWQ6a2V5\"")
            .header()
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "ApiKey aWQ6a2V5");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc.def\n").unwrap();
        let a = AuthConfig {
            token_file: Some(f),
            ..parse("strategy = \"bearer\"")
        };
        assert_eq!(a.header().unwrap().to_str().unwrap(), "Bearer abc.def");
        let missing = AuthConfig {
            token_file: Some("/nonexistent/token".into()),
            ..parse("strategy = \"bearer\"")
        };
        let e = missing.header().unwrap_err().to_string();
        assert!(
            e.contains("auth.token_file") && e.contains("/nonexistent/token"),
            "{e}"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let a = parse("strategy = \"basic\"\nuser = \"u\"\npassword = \"hunter2\"");
        let shown = format!("{a:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("***"),
            "{shown}"
        );
    }
}
