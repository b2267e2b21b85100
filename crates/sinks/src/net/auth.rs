//! `auth` of the network sinks: the credentials table is core's
//! ([`logagent_core::auth`], the same the HTTP receiving sources expect), sent
//! here as a sensitive `Authorization` header.

use reqwest::header::HeaderValue;

use super::NetError;

pub use logagent_core::auth::{AuthConfig, AuthStrategy, Secret};

/// The `Authorization` header a sink sends for its `auth` table.
pub trait AuthHeader {
    /// The header, reading secret files; marked sensitive so the HTTP stack
    /// never prints it either.
    fn header(&self) -> Result<HeaderValue, NetError>;
}

impl AuthHeader for AuthConfig {
    fn header(&self) -> Result<HeaderValue, NetError> {
        header(self)
    }
}

fn header(auth: &AuthConfig) -> Result<HeaderValue, NetError> {
    let text = auth.authorization()?;
    let mut v = HeaderValue::from_str(&text).map_err(|_| NetError::File {
        key: "auth",
        path: "(secret)".into(),
        message: "the credentials contain characters not allowed in an HTTP header".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
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
