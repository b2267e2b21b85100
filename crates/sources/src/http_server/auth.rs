//! `auth` of the HTTP receiving sources: the credentials table is core's
//! ([`logagent_core::auth`], the same the network sinks send), checked here
//! against each request's `Authorization` in constant time.

pub use logagent_core::auth::{AuthConfig, AuthError, AuthStrategy, Secret};

/// The `Authorization` a request must carry for `auth`, reading secret files.
pub fn expected(auth: &AuthConfig) -> Result<Expected, AuthError> {
    let challenge = match auth.strategy {
        AuthStrategy::Basic => "Basic realm=\"logagent\"",
        AuthStrategy::Bearer => "Bearer",
        AuthStrategy::ApiKey => "ApiKey",
    };
    Ok(Expected {
        value: auth.authorization()?.into_bytes(),
        challenge,
    })
}

/// The credentials a request must carry, ready to compare.
#[derive(Clone)]
pub struct Expected {
    value: Vec<u8>,
    challenge: &'static str,
}

impl std::fmt::Debug for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Expected(***)")
    }
}

impl Expected {
    /// True when `header` (the request's `Authorization`) matches. The
    /// comparison takes the same time wherever the first difference is, so
    /// timing does not reveal how much of a guess was right. The scheme is
    /// matched without regard to case (RFC 9110).
    pub fn matches(&self, header: Option<&[u8]>) -> bool {
        let Some(h) = header else { return false };
        if h.len() != self.value.len() {
            return false;
        }
        let scheme = self.value.iter().position(|b| *b == b' ').unwrap_or(0);
        let mut diff = 0u8;
        for (i, (a, b)) in h.iter().zip(&self.value).enumerate() {
            diff |= if i < scheme {
                a.to_ascii_lowercase() ^ b.to_ascii_lowercase()
            } else {
                a ^ b
            };
        }
        diff == 0
    }

    /// The `WWW-Authenticate` challenge sent with a 401.
    pub fn challenge(&self) -> &'static str {
        self.challenge
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
                "strategy = \"bearer\"\ntoken = \"t\"\ntoken_file = \"/f\""
            )),
            ["auth.token"]
        );
        assert_eq!(
            keys(&parse("strategy = \"basic\"\ntoken = \"t\"")),
            ["auth.user", "auth.password", "auth.token"]
        );
        assert!(toml::from_str::<AuthConfig>("strategy = \"basic\"\npasword = \"x\"").is_err());
    }

    #[test]
    fn requests_match_only_the_exact_credentials() {
        let basic = expected(&parse(
            "strategy = \"basic\"\nuser = \"u\"\npassword = \"hunter2\"",
        ))
        .unwrap();
        assert!(basic.matches(Some(b"Basic dTpodW50ZXIy")));
        assert!(
            basic.matches(Some(b"basic dTpodW50ZXIy")),
            "scheme is case-insensitive"
        );
        assert!(!basic.matches(Some(b"Basic dTpodW50ZXIz")));
        assert!(!basic.matches(Some(b"Basic dTpodW50ZXIyAA")));
        assert!(!basic.matches(None));
        assert!(!format!("{basic:?}").contains("dTpo"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc.def\n").unwrap();
        let bearer = expected(&AuthConfig {
            token_file: Some(f),
            ..parse("strategy = \"bearer\"")
        })
        .unwrap();
        assert!(bearer.matches(Some(b"Bearer abc.def")));
        assert_eq!(bearer.challenge(), "Bearer");
        let missing = AuthConfig {
            token_file: Some("/nonexistent/token".into()),
            ..parse("strategy = \"bearer\"")
        };
        let e = expected(&missing).unwrap_err().to_string();
        assert!(
            e.contains("auth.token_file") && e.contains("/nonexistent/token"),
            "{e}"
        );
        let empty = expected(&parse("strategy = \"bearer\"\ntoken = \" \"")).unwrap_err();
        assert_eq!(empty.key, "auth.token");
    }
}
