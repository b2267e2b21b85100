//! The detectors behind `redact`: personal data and secrets found in text with
//! one candidate scan for all of them, then a confirmation per candidate.
//!
//! Every detector needs a trigger to start from: `@` (e-mail), `.` between
//! digits (IPv4), `:` (IPv6, and `name: value` secrets), a run of four digits
//! or a `+digit` (card and phone numbers), `=` (`password=…`), and a literal
//! (`eyJ` for JWTs, `Bearer`/`Basic`, `AKIA`/`ghp_`/... key prefixes,
//! `-----BEGIN`). Logs are dense in the common ones — a JSON line has a `:`
//! after every key, dots and digits in every timestamp, version and address —
//! so they are not searched one hit at a time (a `memchr` restarts per hit):
//!
//! * **one SWAR pass** reads the text eight bytes at a time and builds, per
//!   word, bit masks of digits, `.`, `:` and `@`, with the cheap context tests
//!   folded in (a `.` only between two digits, a digit only where four start),
//!   then visits the set bits in order. A JSON key's `":` whose name cannot be
//!   a secret's is dropped with one multiply and one table load; an ISO date
//!   standing alone (`2025-08-20T…`) is dropped before number parsing.
//! * `+` and `=`, rare in logs, are found with `memchr`;
//! * the literals with one Aho-Corasick (Teddy, SIMD) pass — a second pass,
//!   kept because Teddy beats anything safe Rust can do per byte for a set of
//!   twenty prefixes;
//! * custom regexes are screened with one `RegexSet` pass.
//!
//! The crate forbids `unsafe`, so the first pass uses plain 64-bit arithmetic
//! (no intrinsics); it is exact per byte lane, so no trigger is lost.
//!
//! Each candidate is confirmed by a small parser that knows the shape (Luhn for
//! cards, octet ranges and boundaries for IPv4 — so `1.2.3.4.5`, `v10.0.0.1`
//! and `Chrome/126.0.0.0` are versions, not addresses — `std`'s IPv6 parser,
//! ...). The findings are sorted and overlaps merged, the first found keeping
//! its rule.

mod api_key;
mod auth;
mod card;
mod email;
mod ipv4;
mod ipv6;
mod jwt;
mod literal;
mod number;
mod password;
mod phone;
mod private_key;
mod text;
mod trigger;

#[cfg(test)]
mod tests;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;
use strum::EnumCount;

use self::literal::{LITERALS, Literal};
pub use self::password::secret_name;

/// A built-in detector.
///
/// Adding one is compiler-checked: [`Detector::COUNT`] is derived from the
/// variants, [`Detector::ALL`] must list that many, and a const assertion
/// below checks that it lists each in declaration order, so the tables sized
/// by it ([`Engine`]'s rule per detector) always have a slot for every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, EnumCount)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// `taro.yamada@example.co.jp`
    Email,
    /// `192.168.1.10` (not version strings).
    Ipv4,
    /// `2001:db8::1`, `fe80::1`.
    Ipv6,
    /// 13–19 digit card numbers that pass the Luhn check, with or without
    /// spaces/dashes.
    CreditCard,
    /// `eyJ….eyJ….sig` JSON Web Tokens.
    Jwt,
    /// The credentials after `Bearer` / `Basic`.
    AuthHeader,
    /// AWS access key ids, GitHub, Slack, Stripe and Google API keys.
    ApiKey,
    /// `-----BEGIN … PRIVATE KEY-----` blocks.
    PrivateKey,
    /// Values of `password=…`, `secret: …`, `api_key=…`, `token=…` pairs (and of
    /// JSON members named like that).
    Password,
    /// International (`+81 3-1234-5678`) and Japanese (`090-1234-5678`,
    /// `03-1234-5678`) phone numbers.
    Phone,
}

impl Detector {
    /// Every built-in detector, in declaration order (so `d as usize` is
    /// `d`'s position here).
    pub const ALL: [Detector; Detector::COUNT] = [
        Detector::Email,
        Detector::Ipv4,
        Detector::Ipv6,
        Detector::CreditCard,
        Detector::Jwt,
        Detector::AuthHeader,
        Detector::ApiKey,
        Detector::PrivateKey,
        Detector::Password,
        Detector::Phone,
    ];

    /// The config name (and counter label).
    pub fn name(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Ipv4 => "ipv4",
            Detector::Ipv6 => "ipv6",
            Detector::CreditCard => "credit_card",
            Detector::Jwt => "jwt",
            Detector::AuthHeader => "auth_header",
            Detector::ApiKey => "api_key",
            Detector::PrivateKey => "private_key",
            Detector::Password => "password",
            Detector::Phone => "phone",
        }
    }

    /// The detector named `name`.
    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The detector's slot in tables sized by [`Detector::ALL`]: always in
    /// bounds (checked at compile time below).
    const fn index(self) -> usize {
        self as usize
    }
}

// `ALL` lists every variant exactly once, in order: with its length fixed to
// the derived `COUNT`, each variant's index is a slot of `ALL`.
const _: () = {
    let mut i = 0;
    while i < Detector::ALL.len() {
        assert!(
            Detector::ALL[i].index() == i,
            "Detector::ALL is out of declaration order"
        );
        i += 1;
    }
};

/// One confirmed finding: the bytes to redact and the rule they belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Index of the rule (in the transform's rule list).
    pub rule: u16,
    /// Start of the value to redact.
    pub start: u32,
    /// End of the value to redact.
    pub end: u32,
    /// For `password` pairs: the name's span (`db_password`), so a JSON member
    /// named like a secret has its whole value redacted.
    pub key: Option<(u32, u32)>,
}

impl Found {
    fn new(rule: u16, start: usize, end: usize) -> Found {
        Found {
            rule,
            start: start as u32,
            end: end as u32,
            key: None,
        }
    }
}

/// Why the detectors of one transform could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The literal prefixes' automaton (too large, which our fixed list never is).
    #[error(transparent)]
    Literals(#[from] aho_corasick::BuildError),
    /// The custom patterns as one set (each compiled alone already).
    #[error(transparent)]
    Customs(#[from] regex::Error),
}

/// All detectors of one redact transform, compiled.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Rule index of each built-in detector, if enabled.
    rule_of: [Option<u16>; Detector::ALL.len()],
    literals: Option<(AhoCorasick, Vec<Literal>)>,
    customs: Option<(RegexSet, Vec<(Regex, u16)>)>,
}

impl Engine {
    /// An engine for `builtin` (detector, rule) pairs and custom `(regex, rule)`s.
    pub fn new(
        builtin: &[(Detector, u16)],
        customs: Vec<(Regex, u16)>,
    ) -> Result<Engine, EngineError> {
        let mut rule_of = [None; Detector::ALL.len()];
        for (d, r) in builtin {
            rule_of[d.index()].get_or_insert(*r);
        }
        let on = |d: Detector| rule_of[d.index()].is_some();
        let mut patterns: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        for (lit, kind) in LITERALS {
            let wanted = match kind {
                Literal::Jwt => on(Detector::Jwt),
                Literal::Auth => on(Detector::AuthHeader),
                Literal::PrivateKey => on(Detector::PrivateKey),
                _ => on(Detector::ApiKey),
            };
            if wanted {
                patterns.push((*lit).to_owned());
                kinds.push(*kind);
            }
        }
        let literals = if patterns.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)?;
            Some((ac, kinds))
        };
        let customs = if customs.is_empty() {
            None
        } else {
            let set = RegexSet::new(customs.iter().map(|(r, _)| r.as_str()))?;
            Some((set, customs))
        };
        Ok(Engine {
            rule_of,
            literals,
            customs,
        })
    }

    /// True when nothing is enabled.
    pub fn is_empty(&self) -> bool {
        self.rule_of.iter().all(Option::is_none) && self.customs.is_none()
    }

    fn rule(&self, d: Detector) -> Option<u16> {
        self.rule_of[d.index()]
    }

    /// The rule a built-in detector belongs to, if it is enabled.
    pub fn rule_for(&self, d: Detector) -> Option<u16> {
        self.rule(d)
    }

    /// Appends every finding in `hay` to `out` (sorted, overlaps merged).
    /// Allocates nothing when there is none.
    pub fn scan(&self, hay: &[u8], out: &mut Vec<Found>) {
        let start = out.len();
        self.scan_triggers(hay, out);
        if let Some((ac, kinds)) = &self.literals {
            for m in ac.find_iter(hay) {
                self.literal(hay, kinds[m.pattern().as_usize()], m.start(), m.end(), out);
            }
        }
        if let Some((set, customs)) = &self.customs {
            if set.is_match(hay) {
                for i in set.matches(hay).iter() {
                    let (re, rule) = &customs[i];
                    for m in re.find_iter(hay) {
                        if m.end() > m.start() {
                            out.push(Found::new(*rule, m.start(), m.end()));
                        }
                    }
                }
            }
        }
        normalize(out, start);
    }
}

/// Sorts the findings from `start` on and merges overlapping ones (the first
/// keeps its rule), so each byte is redacted once.
fn normalize(out: &mut Vec<Found>, start: usize) {
    let tail = &mut out[start..];
    if tail.len() < 2 {
        return;
    }
    tail.sort_unstable_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut w = start;
    for r in start + 1..out.len() {
        let f = out[r];
        if f.start < out[w].end {
            if f.end > out[w].end {
                out[w].end = f.end;
            }
            if out[w].key.is_none() {
                out[w].key = f.key;
            }
        } else {
            w += 1;
            out[w] = f;
        }
    }
    out.truncate(w + 1);
}
