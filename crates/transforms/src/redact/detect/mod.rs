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
//! * **one pass over 64-byte blocks** builds, per block, one bit per byte for
//!   digits, `.`, `:`, `@`, `S` and number separators (SSE2 compares on
//!   x86-64, 64-bit word arithmetic elsewhere; see `blocks`), folds the cheap
//!   context tests into them (a `.` only between two digits, a digit only
//!   where four start, or two pairs joined by a separator), then visits the
//!   set bits in order. A JSON key's `":` whose name cannot be a secret's is
//!   dropped with one multiply and one table load; an ISO date standing
//!   alone (`2025-08-20T…`) is dropped before number parsing; a number with
//!   fewer than eight digits, or a dotted quad, reaches no number detector.
//!   The `://` of URLs is taken at the `:`s, the `SK`/`SG.` key prefixes at
//!   the `S`s.
//! * `+` and `=`, rare in logs, are found with `memchr` (Azure's `sig=` and
//!   `AccountKey=` at the `=`s);
//! * the other literals with one Aho-Corasick (Teddy, SIMD) pass over at
//!   most 32 anchors of three bytes or more (`literal::Anchor`), which keeps
//!   it on its slim searcher;
//! * custom regexes are screened with one `RegexSet` pass.
//!
//! The crate forbids `unsafe`: the SSE2 compares are `safe_arch`'s safe
//! wrappers, and the masks are exact per byte (a test compares them with a
//! byte-by-byte reference), so no trigger is lost.
//!
//! Each candidate is confirmed by a small parser that knows the shape (Luhn for
//! cards, octet ranges and boundaries for IPv4 — so `1.2.3.4.5`, `v10.0.0.1`
//! and `Chrome/126.0.0.0` are versions, not addresses — `std`'s IPv6 parser,
//! ...). The findings are sorted and overlaps merged, the first found keeping
//! its rule.

mod api_key;
mod auth;
mod blocks;
mod card;
mod email;
mod ipv4;
mod ipv6;
mod jwt;
mod literal;
mod national;
mod number;
mod password;
mod phone;
mod private_key;
mod text;
mod trigger;
mod url_creds;

#[cfg(test)]
mod tests;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;
use strum::EnumCount;

use self::literal::{Anchor, LITERALS, Literal};
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
    /// Phone numbers: E.164 (`+81 3-1234-5678`) and the national formats of
    /// JP, US/CA, GB, DE, FR, IN, CN, KR and BR, validated against the
    /// numbering plans (`phonenumber`, libphonenumber's metadata).
    Phone,
    /// The userinfo of a URL or DSN (`postgres://app:pw@db/…`,
    /// `redis://:pw@host`), any scheme.
    UrlCredentials,
    /// US social security numbers `123-45-6789` in the issued ranges.
    UsSsn,
    /// Japanese My Number (個人番号): 12 digits with a valid check digit.
    JpMyNumber,
    /// IBANs (`GB82 WEST 1234 5698 7654 32`) with the mod-97 check.
    Iban,
    /// `key = value` assignments whose name ends like a key (`signing_key`,
    /// `client_auth`, `creds`) and whose value looks random (Shannon entropy
    /// of at least 3.5 bits per character, 16 characters or more).
    GenericSecret,
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
        Detector::UrlCredentials,
        Detector::UsSsn,
        Detector::JpMyNumber,
        Detector::Iban,
        Detector::GenericSecret,
    ];

    /// The documented rule order: when findings of two detectors overlap, the
    /// merged finding belongs to the detector earlier in this list (the more
    /// specific shape wins: a JWT inside `Authorization: Bearer …` is a JWT, a
    /// `user:pw@host` in a URL is a URL credential, not an e-mail, an IBAN
    /// is not the card number some of its digit groups spell). Custom
    /// patterns come after every built-in detector, in configuration order.
    pub const PRECEDENCE: [Detector; Detector::COUNT] = [
        Detector::PrivateKey,
        Detector::Jwt,
        Detector::ApiKey,
        Detector::UrlCredentials,
        Detector::AuthHeader,
        Detector::Password,
        Detector::GenericSecret,
        Detector::Iban,
        Detector::CreditCard,
        Detector::UsSsn,
        Detector::JpMyNumber,
        Detector::Phone,
        Detector::Email,
        Detector::Ipv6,
        Detector::Ipv4,
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
            Detector::UrlCredentials => "url_credentials",
            Detector::UsSsn => "us_ssn",
            Detector::JpMyNumber => "jp_my_number",
            Detector::Iban => "iban",
            Detector::GenericSecret => "generic_secret",
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
    /// Rank of each rule index in the rule order (lower wins an overlap).
    rank: Vec<u16>,
    literals: Option<(AhoCorasick, Vec<(Literal, Anchor)>)>,
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
        let rules = builtin
            .iter()
            .map(|(_, r)| *r)
            .chain(customs.iter().map(|(_, r)| *r))
            .max()
            .map_or(0, |m| usize::from(m) + 1);
        let mut rank = vec![u16::MAX; rules];
        for (p, d) in Detector::PRECEDENCE.iter().enumerate() {
            if let Some(r) = rule_of[d.index()] {
                let slot = &mut rank[usize::from(r)];
                *slot = (*slot).min(p as u16);
            }
        }
        for (i, (_, r)) in customs.iter().enumerate() {
            let slot = &mut rank[usize::from(*r)];
            *slot = (*slot).min((Detector::COUNT + i) as u16);
        }
        let on = |d: Detector| rule_of[d.index()].is_some();
        let mut patterns: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        for (lit, kind, anchor) in LITERALS {
            let wanted = match kind {
                Literal::Jwt => on(Detector::Jwt),
                Literal::Auth => on(Detector::AuthHeader),
                Literal::PrivateKey => on(Detector::PrivateKey),
                Literal::Url => on(Detector::UrlCredentials),
                _ => on(Detector::ApiKey),
            };
            if wanted {
                patterns.push((*lit).to_owned());
                kinds.push((*kind, *anchor));
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
            rank,
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
                let (kind, anchor) = kinds[m.pattern().as_usize()];
                if let Some((s, e)) = anchor.literal(hay, m.start(), m.end()) {
                    self.literal(hay, kind, s, e, out);
                }
            }
        }
        if let Some((set, customs)) = &self.customs
            && set.is_match(hay)
        {
            for i in set.matches(hay).iter() {
                let (re, rule) = &customs[i];
                for m in re.find_iter(hay) {
                    if m.end() > m.start() {
                        out.push(Found::new(*rule, m.start(), m.end()));
                    }
                }
            }
        }
        widen_over_invalid(hay, &mut out[start..]);
        repeat_values(hay, out, start);
        normalize(out, start, &self.rank);
    }
}

/// Bytes a value written next to an invalid byte may continue with: a
/// detector stops at an invalid byte (it is no letter of any alphabet), but
/// the value it was reading (`ta\xb8ro@mail.ex\xb8ample.net`) goes on.
fn value_byte(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+' | b'%' | b'@')
}

/// Length of the invalid UTF-8 sequence starting at `h[i]` (0 when valid).
fn invalid_at(h: &[u8], i: usize) -> usize {
    if h.get(i).is_none_or(|b| *b < 0x80) {
        return 0;
    }
    let window = &h[i..(i + 4).min(h.len())];
    match window.utf8_chunks().next() {
        Some(c) if c.valid().is_empty() => c.invalid().len(),
        _ => 0,
    }
}

/// Widens each finding that touches an invalid UTF-8 byte over the rest of the
/// value it sits in, so no part of it is left in clear after the byte (the
/// output shows the byte as U+FFFD). Costs one byte test per edge of a finding.
fn widen_over_invalid(h: &[u8], found: &mut [Found]) {
    for f in found {
        let (mut s, mut e) = (f.start as usize, f.end as usize);
        if invalid_at(h, e) > 0 {
            while e < h.len() && value_byte(h[e]) {
                e += 1;
            }
        }
        if s > 0 && h[s - 1] >= 0x80 {
            let mut r = s;
            while r > 0 && h[r - 1] >= 0x80 {
                r -= 1;
            }
            if std::str::from_utf8(&h[r..s]).is_err() {
                while s > 0 && value_byte(h[s - 1]) {
                    s -= 1;
                }
            }
        }
        (f.start, f.end) = (s as u32, e as u32);
    }
}

/// Sorts the findings from `start` on and merges overlapping ones, so each
/// byte is redacted once: the merged finding covers both and belongs to the
/// rule earlier in the rule order ([`Detector::PRECEDENCE`], then custom
/// patterns), whatever order they were found in.
fn normalize(out: &mut Vec<Found>, start: usize, rank: &[u16]) {
    let rank_of = |r: u16| rank.get(usize::from(r)).copied().unwrap_or(u16::MAX);
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
            if rank_of(f.rule) < rank_of(out[w].rule) {
                out[w].rule = f.rule;
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

/// Shortest value whose other occurrences are searched for.
const REPEAT_MIN: usize = 6;

/// Every other occurrence of a value found on the line is redacted too (a
/// password caught as `password=…` and repeated in a URL or a message), under
/// the same rule. Costs nothing on lines without findings.
fn repeat_values(h: &[u8], out: &mut Vec<Found>, start: usize) {
    let n = out.len();
    if n == start {
        return;
    }
    for i in start..n {
        let f = out[i];
        let v = &h[f.start as usize..f.end as usize];
        if v.len() < REPEAT_MIN {
            continue;
        }
        let mut push = |at: usize| {
            let e = at + v.len();
            let covered = out[start..]
                .iter()
                .any(|g| (g.start as usize) < e && at < g.end as usize);
            if !covered {
                out.push(Found::new(f.rule, at, e));
            }
        };
        if h.len() <= SHORT_LINE {
            // Building a `memmem` searcher costs more than this line holds.
            let mut from = 0;
            while let Some(o) = memchr::memchr(v[0], &h[from..]) {
                let at = from + o;
                if h.len() - at < v.len() {
                    break;
                }
                if h[at + v.len() - 1] == v[v.len() - 1] && h[at..at + v.len()] == *v {
                    push(at);
                    from = at + v.len();
                } else {
                    from = at + 1;
                }
            }
        } else {
            memchr::memmem::find_iter(h, v).for_each(push);
        }
    }
}

/// Lines up to this long are searched for repeated values by their first
/// byte (`memchr`) and a comparison: a few hits per line, while a `memmem`
/// searcher is built per value.
const SHORT_LINE: usize = 1024;
