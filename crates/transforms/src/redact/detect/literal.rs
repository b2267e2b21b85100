//! The literals found with one Aho-Corasick pass (`eyJ`, `Bearer`, key
//! prefixes, `-----BEGIN`) and the detector each one starts.

use super::api_key::fixed_key;
use super::auth::auth;
use super::jwt::jwt;
use super::private_key::private_key;
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
];

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
        };
        if let Some((rule, (fs, fe))) = found {
            out.push(Found::new(rule, fs, fe));
        }
    }
}
