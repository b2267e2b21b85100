//! The literals found with one Aho-Corasick pass (`eyJ`, `Bearer`, key
//! prefixes, `-----BEGIN`) and the detector each one starts.

use super::api_key::fixed_key;
use super::auth::auth;
use super::jwt::jwt;
use super::private_key::private_key;
use super::text::{run, word_before};
use super::url_creds::url_credentials;
use super::{Detector, Engine, Found};

/// What a literal found by Aho-Corasick starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Literal {
    Jwt,
    Auth,
    Aws,
    Github,
    Slack,
    Stripe,
    Google,
    PrivateKey,
    /// `xapp-` Slack app-level tokens.
    SlackApp,
    /// `hooks.slack.com/…` and any `/services/T…/B…/…` webhook path.
    SlackWebhook,
    GitLab,
    /// `GOCSPX-` OAuth client secrets and `ya29.` access tokens.
    GoogleOauth,
    /// `AccountKey=` of an Azure storage connection string.
    AzureKey,
    /// `sig=` of an Azure SAS URL.
    AzureSas,
    Npm,
    Pypi,
    SendGrid,
    Twilio,
    /// `://` of a URL, whose userinfo may hold credentials.
    Url,
}

pub(super) const LITERALS: &[(&str, Literal)] = &[
    ("eyJ", Literal::Jwt),
    ("Bearer", Literal::Auth),
    ("bearer", Literal::Auth),
    ("BEARER", Literal::Auth),
    ("Basic", Literal::Auth),
    ("basic", Literal::Auth),
    ("BASIC", Literal::Auth),
    ("AKIA", Literal::Aws),
    ("ASIA", Literal::Aws),
    ("ghp_", Literal::Github),
    ("gho_", Literal::Github),
    ("ghu_", Literal::Github),
    ("ghs_", Literal::Github),
    ("ghr_", Literal::Github),
    ("github_pat_", Literal::Github),
    ("xox", Literal::Slack),
    ("sk_live_", Literal::Stripe),
    ("rk_live_", Literal::Stripe),
    ("sk_test_", Literal::Stripe),
    ("AIza", Literal::Google),
    ("-----BEGIN", Literal::PrivateKey),
    ("xapp-", Literal::SlackApp),
    ("hooks.slack.com/", Literal::SlackWebhook),
    ("/services/T", Literal::SlackWebhook),
    ("glpat-", Literal::GitLab),
    ("gldt-", Literal::GitLab),
    ("glrt-", Literal::GitLab),
    ("glptt-", Literal::GitLab),
    ("glft-", Literal::GitLab),
    ("glsoat-", Literal::GitLab),
    ("GR1348941", Literal::GitLab),
    ("rk_test_", Literal::Stripe),
    ("whsec_", Literal::Stripe),
    ("GOCSPX-", Literal::GoogleOauth),
    ("ya29.", Literal::GoogleOauth),
    ("AccountKey=", Literal::AzureKey),
    ("sig=", Literal::AzureSas),
    ("npm_", Literal::Npm),
    ("pypi-AgEIcHlwaS5vcmc", Literal::Pypi),
    ("SG.", Literal::SendGrid),
    ("SK", Literal::Twilio),
    ("://", Literal::Url),
];

/// A Slack webhook's secret path after `services/` (`T…/B…/…`), from `e`.
fn slack_webhook(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let path = if h[s] == b'/' {
        // `/services/T`: the path starts at the `T`.
        e - 1
    } else {
        // `hooks.slack.com/`: services/, workflows/ or triggers/ then the secret.
        let rest = &h[e..];
        let kind = [&b"services/"[..], b"workflows/", b"triggers/"]
            .into_iter()
            .find(|k| rest.starts_with(k))?;
        e + kind.len()
    };
    let end = run(h, path, |b| {
        b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-'
    });
    let secret = &h[path..end];
    if h[s] == b'/' {
        // T…/B…/secret: three segments, the first two capitals and digits.
        let mut parts = secret.split(|b| *b == b'/');
        let ok = |p: Option<&[u8]>, c: u8| {
            p.is_some_and(|p| {
                p.len() >= 3
                    && p[0] == c
                    && p.iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            })
        };
        let (team, bot, secret) = (parts.next(), parts.next(), parts.next());
        if !(ok(team, b'T') && ok(bot, b'B') && secret.is_some_and(|p| p.len() >= 4)) {
            return None;
        }
    } else if secret.len() < 8 {
        return None;
    }
    Some((path, end))
}

impl Engine {
    /// Confirms the literal `kind` found at `s..e` with its detector's parser.
    pub(super) fn literal(
        &self,
        h: &[u8],
        kind: Literal,
        s: usize,
        e: usize,
        out: &mut Vec<Found>,
    ) {
        let found = match kind {
            Literal::Jwt => self.rule(Detector::Jwt).zip(jwt(h, s)),
            Literal::Auth => self.rule(Detector::AuthHeader).zip(auth(h, s, e)),
            Literal::PrivateKey => self.rule(Detector::PrivateKey).zip(private_key(h, s)),
            Literal::Aws => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 16, 16, |b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit()
                })),
            Literal::Github => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 20, 255, |b| {
                    b.is_ascii_alphanumeric() || b == b'_'
                })),
            Literal::Slack => self.rule(Detector::ApiKey).and_then(|rule| {
                // xoxb-, xoxp-, xoxa-, xoxr-, xoxs-
                let kind = h.get(e).copied();
                if !matches!(kind, Some(b'b' | b'p' | b'a' | b'r' | b's'))
                    || h.get(e + 1) != Some(&b'-')
                {
                    return None;
                }
                Some(rule).zip(fixed_key(h, s, e + 2, 10, 255, |b| {
                    b.is_ascii_alphanumeric() || b == b'-'
                }))
            }),
            Literal::Stripe => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 16, 255, |b| b.is_ascii_alphanumeric())),
            Literal::Google => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 35, 35, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                })),
            Literal::SlackApp => {
                self.rule(Detector::ApiKey)
                    .zip(fixed_key(h, s, e, 20, 255, |b| {
                        b.is_ascii_alphanumeric() || b == b'-'
                    }))
            }
            Literal::SlackWebhook => self.rule(Detector::ApiKey).zip(slack_webhook(h, s, e)),
            Literal::GitLab => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 20, 64, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                })),
            Literal::GoogleOauth => {
                self.rule(Detector::ApiKey)
                    .zip(fixed_key(h, s, e, 20, 512, |b| {
                        b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                    }))
            }
            Literal::AzureKey => self.rule(Detector::ApiKey).and_then(|rule| {
                let end = run(h, e, |b| {
                    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
                });
                Some(rule).zip((end - e >= 40).then_some((e, end)))
            }),
            Literal::AzureSas => self.rule(Detector::ApiKey).and_then(|rule| {
                if word_before(h, s) {
                    return None;
                }
                let end = run(h, e, |b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'%')
                });
                Some(rule).zip((end - e >= 20).then_some((e, end)))
            }),
            Literal::Npm => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 36, 36, |b| b.is_ascii_alphanumeric())),
            Literal::Pypi => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 50, 1024, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                })),
            Literal::SendGrid => self.rule(Detector::ApiKey).and_then(|rule| {
                let tok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
                if word_before(h, s) {
                    return None;
                }
                let a = run(h, e, tok);
                if a - e != 22 || h.get(a) != Some(&b'.') {
                    return None;
                }
                let b = run(h, a + 1, tok);
                Some(rule).zip((b - a - 1 == 43).then_some((s, b)))
            }),
            Literal::Twilio => self
                .rule(Detector::ApiKey)
                .zip(fixed_key(h, s, e, 32, 32, |b| {
                    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
                })),
            Literal::Url => self
                .rule(Detector::UrlCredentials)
                .zip(url_credentials(h, e)),
        };
        if let Some((rule, (fs, fe))) = found {
            out.push(Found::new(rule, fs, fe));
            // A URL's password is its own value too: found again elsewhere
            // on the line (`password S3cr3t`), it goes as well.
            if kind == Literal::Url
                && let Some(c) = h[fs..fe].iter().position(|b| *b == b':')
                && fe > fs + c + 1
            {
                out.push(Found::new(rule, fs + c + 1, fe));
            }
        }
    }
}
