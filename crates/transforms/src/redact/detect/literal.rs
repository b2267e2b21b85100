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

/// How an anchor found by Aho-Corasick gives the literal it stands for. The
/// anchors are chosen so the set has at most 32 patterns of at least three
/// bytes: Aho-Corasick's Teddy then runs its slim, three-byte-mask searcher
/// over 32 bytes a step (42 literals, `SK` among them, made it fall back to
/// the fat one with two-byte masks, half the width and many more false
/// candidates: a fifth of the time of `redact` on typical JSON lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Anchor {
    /// The anchor is the literal.
    Exact,
    /// `earer`/`asic` after `B` or `b` (`Bearer`, `bearer`, `Basic`, `basic`).
    AfterB,
    /// `EARER`/`ASIC` after `B` (`BEARER`, `BASIC`).
    AfterCapitalB,
    /// `k_live_`/`k_test_` after `s` or `r` (Stripe's `sk_`/`rk_` keys).
    AfterSr,
    /// `glp` before `at-` or `tt-` (GitLab's `glpat-`, `glptt-`).
    GlpBefore,
}

impl Anchor {
    /// The literal's span for the anchor found at `s..e`, if it is one.
    #[inline]
    pub(super) fn literal(self, h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
        match self {
            Anchor::Exact => Some((s, e)),
            Anchor::AfterB => (s > 0 && matches!(h[s - 1], b'B' | b'b')).then_some((s - 1, e)),
            Anchor::AfterCapitalB => (s > 0 && h[s - 1] == b'B').then_some((s - 1, e)),
            Anchor::AfterSr => (s > 0 && matches!(h[s - 1], b's' | b'r')).then_some((s - 1, e)),
            Anchor::GlpBefore => {
                let rest = h.get(e..e + 3)?;
                (rest == b"at-" || rest == b"tt-").then_some((s, e + 3))
            }
        }
    }
}

/// The anchors searched with one Aho-Corasick pass: at most 32, none shorter
/// than three bytes (see [`Anchor`]; a test checks both). The other literals
/// are found by the passes that see their bytes anyway: `://` with the `:`s
/// of the trigger pass, `SK`/`SG.` with its `S`s, `sig=` and `AccountKey=`
/// with the `=`s.
pub(super) const LITERALS: &[(&str, Literal, Anchor)] = &[
    ("eyJ", Literal::Jwt, Anchor::Exact),
    ("earer", Literal::Auth, Anchor::AfterB),
    ("EARER", Literal::Auth, Anchor::AfterCapitalB),
    ("asic", Literal::Auth, Anchor::AfterB),
    ("ASIC", Literal::Auth, Anchor::AfterCapitalB),
    ("AKIA", Literal::Aws, Anchor::Exact),
    ("ASIA", Literal::Aws, Anchor::Exact),
    ("ghp_", Literal::Github, Anchor::Exact),
    ("gho_", Literal::Github, Anchor::Exact),
    ("ghu_", Literal::Github, Anchor::Exact),
    ("ghs_", Literal::Github, Anchor::Exact),
    ("ghr_", Literal::Github, Anchor::Exact),
    ("github_pat_", Literal::Github, Anchor::Exact),
    ("xox", Literal::Slack, Anchor::Exact),
    ("k_live_", Literal::Stripe, Anchor::AfterSr),
    ("k_test_", Literal::Stripe, Anchor::AfterSr),
    ("AIza", Literal::Google, Anchor::Exact),
    ("-----BEGIN", Literal::PrivateKey, Anchor::Exact),
    ("xapp-", Literal::SlackApp, Anchor::Exact),
    ("hooks.slack.com/", Literal::SlackWebhook, Anchor::Exact),
    ("/services/T", Literal::SlackWebhook, Anchor::Exact),
    ("glp", Literal::GitLab, Anchor::GlpBefore),
    ("gldt-", Literal::GitLab, Anchor::Exact),
    ("glrt-", Literal::GitLab, Anchor::Exact),
    ("glft-", Literal::GitLab, Anchor::Exact),
    ("glsoat-", Literal::GitLab, Anchor::Exact),
    ("GR1348941", Literal::GitLab, Anchor::Exact),
    ("whsec_", Literal::Stripe, Anchor::Exact),
    ("GOCSPX-", Literal::GoogleOauth, Anchor::Exact),
    ("ya29.", Literal::GoogleOauth, Anchor::Exact),
    ("npm_", Literal::Npm, Anchor::Exact),
    ("pypi-AgEIcHlwaS5vcmc", Literal::Pypi, Anchor::Exact),
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
