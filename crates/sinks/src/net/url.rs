//! Checking a configured server URL, once for every network sink: the same
//! rules (http or https, a host, no credentials, no query) and the same
//! messages wherever an endpoint is configured.

use reqwest::Url;

/// Why a configured endpoint URL is refused. `example` is the sink's own
/// example of a good URL, shown with the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("invalid URL {text:?}: {error} (expected e.g. \"{example}\")")]
    Invalid {
        /// What was configured.
        text: String,
        /// The parser's reason.
        error: String,
        /// A good URL for this sink.
        example: &'static str,
    },
    /// A scheme other than http or https.
    #[error("{text:?} is not an http:// or https:// URL (e.g. \"{example}\")")]
    Scheme {
        /// What was configured.
        text: String,
        /// A good URL for this sink.
        example: &'static str,
    },
    /// No host name or address.
    #[error("{text:?} has no host")]
    NoHost {
        /// What was configured.
        text: String,
    },
    /// A user name or password in the URL: URLs appear in logs and error
    /// messages, credentials must not.
    #[error(
        "credentials in the URL would end up in logs; use `auth` (with ${{ENV}} or a file) instead"
    )]
    Credentials,
    /// A query or fragment, which the sink would not keep.
    #[error("{text:?}: no query or fragment allowed")]
    QueryOrFragment {
        /// What was configured.
        text: String,
    },
}

/// Parses and checks an endpoint URL: http or https, with a host, without
/// credentials. A sink that keeps no query adds [`without_query`].
pub fn parse_http_url(text: &str, example: &'static str) -> Result<Url, UrlError> {
    let url = Url::parse(text.trim()).map_err(|e| UrlError::Invalid {
        text: text.to_owned(),
        error: e.to_string(),
        example,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme {
            text: text.to_owned(),
            example,
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost {
            text: text.to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(url)
}

/// Refuses a URL (configured as `text`) with a query or fragment, for a sink
/// that builds its request paths on it and would drop them.
pub fn without_query(url: Url, text: &str) -> Result<Url, UrlError> {
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UrlError::QueryOrFragment {
            text: text.to_owned(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_has_its_error() {
        let ex = "http://127.0.0.1:9200";
        assert!(parse_http_url(" http://h:1/p ", ex).is_ok());
        assert!(matches!(
            parse_http_url("127.0.0.1:9200", ex),
            Err(UrlError::Invalid { .. } | UrlError::Scheme { .. })
        ));
        assert!(matches!(
            parse_http_url("ftp://h", ex),
            Err(UrlError::Scheme { .. })
        ));
        assert_eq!(
            parse_http_url("http://u:p@h", ex),
            Err(UrlError::Credentials)
        );
        let with_query = parse_http_url("http://h/?a=1", ex).unwrap();
        assert!(matches!(
            without_query(with_query, "http://h/?a=1"),
            Err(UrlError::QueryOrFragment { .. })
        ));
        assert!(
            parse_http_url("nope", ex)
                .unwrap_err()
                .to_string()
                .contains("expected e.g. \"http://127.0.0.1:9200\"")
        );
    }
}
