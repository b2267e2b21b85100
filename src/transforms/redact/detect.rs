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

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;

/// A built-in detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
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
    /// Every built-in detector.
    pub const ALL: [Detector; 10] = [
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

    fn index(self) -> usize {
        self as usize
    }
}

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

/// What a literal found by Aho-Corasick starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Literal {
    Jwt,
    Auth,
    Aws,
    Github,
    Slack,
    Stripe,
    Google,
    PrivateKey,
}

const LITERALS: &[(&str, Literal)] = &[
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

/// Names whose values are secrets (matched case-insensitively, ignoring `_`,
/// `-` and `.`, at the end of a name: `db_password`, `X-Api-Key`, `accessToken`).
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "credentials",
    "authorization",
];

/// All detectors of one redact transform, compiled.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Rule index of each built-in detector, if enabled.
    rule_of: [Option<u16>; 10],
    literals: Option<(AhoCorasick, Vec<Literal>)>,
    customs: Option<(RegexSet, Vec<(Regex, u16)>)>,
}

impl Engine {
    /// An engine for `builtin` (detector, rule) pairs and custom `(regex, rule)`s.
    pub fn new(builtin: &[(Detector, u16)], customs: Vec<(Regex, u16)>) -> Result<Engine, String> {
        let mut rule_of = [None; 10];
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
                .build(&patterns)
                .map_err(|e| e.to_string())?;
            Some((ac, kinds))
        };
        let customs = if customs.is_empty() {
            None
        } else {
            let set = RegexSet::new(customs.iter().map(|(r, _)| r.as_str()))
                .map_err(|e| e.to_string())?;
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

    /// The trigger pass: one SWAR walk over the text, eight bytes at a time.
    /// Each word gives bit masks of digits, `.`, `:` and `@`; the context
    /// tests are folded into them (a `.` counts only between two digits, a
    /// digit only when it starts a run of four, across word boundaries), and
    /// the set bits are visited in order without restarting a search per hit.
    /// `+` and `=`, rare in logs, are found with `memchr` afterwards (in that
    /// order, as before: ties between findings keep the same winner).
    fn scan_triggers(&self, h: &[u8], out: &mut Vec<Found>) {
        let on = |d: Detector| self.rule(d).is_some();
        let (dots, colons, ats) = (
            on(Detector::Ipv4),
            on(Detector::Ipv6) || on(Detector::Password),
            on(Detector::Email),
        );
        let runs = on(Detector::CreditCard) || on(Detector::Phone);
        let all = |b: bool| if b { u64::MAX } else { 0 };
        let mut walk = Walk {
            on: On {
                dots: all(dots),
                colons: all(colons),
                ats: all(ats),
                runs: all(runs),
            },
            next: Next::default(),
        };
        if dots || colons || ats || runs {
            // Word k is tested once word k + 1 is known (a `.` needs the digit
            // after it, a run the three digits after its first).
            let mut w = Words {
                x: 0,
                d: 0,
                prev_d: 0,
            };
            let mut chunks = h.chunks_exact(8);
            let mut i = 0usize;
            for c in &mut chunks {
                let y = u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or([0; 8]));
                if i > 0 {
                    self.word(h, i - 8, &w, y, &mut walk, out);
                }
                w = Words {
                    x: y,
                    d: digit_mask(y),
                    prev_d: w.d,
                };
                i += 8;
            }
            let rest = chunks.remainder();
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            let y = u64::from_le_bytes(last);
            if i > 0 {
                self.word(h, i - 8, &w, y, &mut walk, out);
            }
            if !rest.is_empty() {
                let w = Words {
                    x: y,
                    d: digit_mask(y),
                    prev_d: w.d,
                };
                self.word(h, i, &w, 0, &mut walk, out);
            }
        }
        // International numbers may have no four-digit group (+33 1 23 45 67 89).
        if on(Detector::Phone) {
            for at in memchr::memchr_iter(b'+', h) {
                if at >= walk.next.plus && h.get(at + 1).is_some_and(u8::is_ascii_digit) {
                    walk.next.plus = self.number_at(h, at, out).max(at + 1);
                }
            }
        }
        // `name=value` pairs; `name: value` ones are found with the `:`s above.
        if let Some(rule) = self.rule(Detector::Password) {
            let mut next = 0;
            for at in memchr::memchr_iter(b'=', h) {
                if at < next {
                    continue;
                }
                next = at + 1;
                if name_tail(h, at).is_some_and(secret_tail) {
                    if let Some(f) = secret_at(h, at, rule) {
                        next = next.max(f.end as usize);
                        out.push(f);
                    }
                }
            }
        }
    }

    /// Visits the candidates of the word `w` at `i`, `y` being the next one.
    #[inline(always)]
    fn word(&self, h: &[u8], i: usize, w: &Words, y: u64, walk: &mut Walk, out: &mut Vec<Found>) {
        let (on, next) = (&walk.on, &mut walk.next);
        let (x, d) = (w.x, w.d);
        let dy = digit_mask(y);
        // Digit before / after each byte.
        let dp = (d << 8) | (w.prev_d >> 56);
        let dn = (d >> 8) | (dy << 56);
        let mut punct = (eq_mask(x, b'.') & dp & dn & on.dots)
            | (eq_mask(x, b':') & on.colons)
            | (eq_mask(x, b'@') & on.ats);
        while punct != 0 {
            let at = i + (punct.trailing_zeros() / 8) as usize;
            punct &= punct - 1;
            if at >= next.punct && !json_separator(h, at) {
                next.punct = self.punct(h, at, out).max(at + 1);
            }
        }
        // Digit pairs, then pairs followed by pairs: the first digits of runs of four.
        let pairs = d & dn;
        let mut run = pairs & ((pairs >> 16) | ((dy & (dy >> 8)) << 48)) & on.runs;
        while run != 0 {
            let at = i + (run.trailing_zeros() / 8) as usize;
            run &= run - 1;
            if at >= next.run {
                next.run = self.number_at(h, at, out).max(at + 1);
            }
        }
    }

    /// An `@`, `.` or `:` candidate: e-mail, IPv4, IPv6 or a `name: value`
    /// secret. Returns where this group goes on.
    #[inline(never)]
    fn punct(&self, h: &[u8], i: usize, out: &mut Vec<Found>) -> usize {
        match h[i] {
            b'@' => {
                if let Some(rule) = self.rule(Detector::Email) {
                    if let Some((s, e)) = email(h, i) {
                        out.push(Found::new(rule, s, e));
                        return e;
                    }
                }
                i + 1
            }
            b'.' => match self.rule(Detector::Ipv4) {
                Some(rule) => {
                    let (found, end) = ipv4(h, i);
                    if let Some((s, e)) = found {
                        out.push(Found::new(rule, s, e));
                    }
                    end
                }
                None => i + 1,
            },
            _ => {
                if let Some(rule) = self
                    .rule(Detector::Password)
                    .filter(|_| name_tail(h, i).is_some_and(secret_tail))
                {
                    if let Some(f) = secret_at(h, i, rule) {
                        out.push(f);
                        return f.end as usize;
                    }
                }
                if let Some(rule) = self.rule(Detector::Ipv6) {
                    let hexish =
                        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_hexdigit() || *b == b':');
                    if i > 0 && hexish(h.get(i - 1)) && hexish(h.get(i + 1)) {
                        let (found, end) = ipv6(h, i);
                        if let Some((s, e)) = found {
                            out.push(Found::new(rule, s, e));
                        }
                        return end;
                    }
                }
                i + 1
            }
        }
    }

    /// Classifies the number around `at`; returns where scanning goes on.
    fn number_at(&self, h: &[u8], at: usize, out: &mut Vec<Found>) -> usize {
        // Most runs are parts of identifiers or lone numbers: skip them cheaply.
        let mut re = at + 1;
        while re < h.len() && h[re].is_ascii_digit() {
            re += 1;
        }
        let joined_after = re + 1 < h.len() && is_sep(h[re]) && h[re + 1].is_ascii_digit();
        let joined_before = at > 0 && (is_sep(h[at - 1]) || h[at - 1] == b'+');
        if h[at] != b'+'
            && !joined_after
            && (word_before(h, at) || (!joined_before && re - at < 11))
        {
            return re;
        }
        if let Some(end) = lone_date(h, at) {
            return end;
        }
        let (s, e) = number_token(h, at);
        let card = self.rule(Detector::CreditCard);
        let phone = self.rule(Detector::Phone);
        if let Some(rule) = card {
            if let Some((cs, ce)) = card_in(h, s, e) {
                out.push(Found::new(rule, cs, ce));
                return e;
            }
        }
        if let Some(rule) = phone {
            if let Some((ps, pe)) = phone_in(h, s, e) {
                out.push(Found::new(rule, ps, pe));
                return e;
            }
        }
        e
    }

    fn literal(&self, h: &[u8], kind: Literal, s: usize, e: usize, out: &mut Vec<Found>) {
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

/// Masks of the candidate kinds the enabled detectors need (all ones or zero).
struct On {
    dots: u64,
    colons: u64,
    ats: u64,
    runs: u64,
}

/// True for the `:` after a JSON key (`"level":`) whose name cannot be a
/// secret's: no IPv6 address and no `name: value` pair starts there. Most
/// `:`s of a JSON line are such separators.
#[inline(always)]
fn json_separator(h: &[u8], at: usize) -> bool {
    at >= 4 && h[at - 1] == b'"' && !secret_tail([h[at - 4], h[at - 3], h[at - 2]])
}

/// A word of text (`x`), its digit mask (`d`) and the previous word's
/// (`prev_d`): a word's candidates are known once the next word is read.
struct Words {
    x: u64,
    d: u64,
    prev_d: u64,
}

/// Where each group of triggers resumes, as separate searches for `@.:`,
/// digit runs and `+` would: past what a detector took (an address, a
/// number), so it is not searched again from inside.
#[derive(Default)]
struct Next {
    punct: usize,
    run: usize,
    plus: usize,
}

/// The state of a trigger pass.
struct Walk {
    on: On,
    next: Next,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte lane that holds an ASCII digit (exact per lane).
#[inline(always)]
fn digit_mask(x: u64) -> u64 {
    let t = x & !HI;
    (((LO * (127 + 0x3A)).wrapping_sub(t)) & !x & (t + LO * (127 - 0x2F))) & HI
}

/// High bit of each byte lane equal to `c` (exact per lane).
#[inline(always)]
fn eq_mask(x: u64, c: u8) -> u64 {
    let v = x ^ (LO * u64::from(c));
    !(((v & !HI) + !HI) | v) & HI
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn word_before(h: &[u8], s: usize) -> bool {
    s > 0 && is_word(h[s - 1])
}

fn word_after(h: &[u8], e: usize) -> bool {
    h.get(e).is_some_and(|b| is_word(*b))
}

/// An e-mail address around the `@` at `at`.
#[inline(never)]
fn email(h: &[u8], at: usize) -> Option<(usize, usize)> {
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let mut s = at;
    while s > 0 && local(h[s - 1]) && at - s < 64 {
        s -= 1;
    }
    while s < at && h[s] == b'.' {
        s += 1;
    }
    if s == at || h[at - 1] == b'.' {
        return None;
    }
    // Domain: labels of letters, digits and '-', at least two, a TLD of letters.
    let mut e = at + 1;
    let mut label_start = e;
    let mut last_dot = None;
    while e < h.len() && e - at <= 253 {
        let b = h[e];
        if b.is_ascii_alphanumeric() || b == b'-' {
            e += 1;
        } else if b == b'.'
            && e > label_start
            && h.get(e + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            if h[e - 1] == b'-' || h[label_start] == b'-' {
                return None;
            }
            last_dot = Some(e);
            e += 1;
            label_start = e;
        } else {
            break;
        }
    }
    let dot = last_dot?;
    let tld = &h[dot + 1..e];
    if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    Some((s, e))
}

/// An IPv4 address around the `.` at `i`; also returns where scanning goes on.
#[inline(never)]
fn ipv4(h: &[u8], i: usize) -> (Option<(usize, usize)>, usize) {
    let dotted = |b: u8| b.is_ascii_digit() || b == b'.';
    let mut s = i;
    while s > 0 && dotted(h[s - 1]) {
        s -= 1;
    }
    let mut e = i;
    while e < h.len() && dotted(h[e]) {
        e += 1;
    }
    let next = e;
    // A sentence may end right after an address.
    while e > s && h[e - 1] == b'.' {
        e -= 1;
    }
    let token = &h[s..e];
    if token.first() == Some(&b'.') || word_before(h, s) || word_after(h, e) {
        return (None, next);
    }
    // `Chrome/126.0.0.0` is a product version; `http://10.0.0.1` is a host.
    if s > 0 && h[s - 1] == b'/' && !(s > 1 && h[s - 2] == b'/') {
        return (None, next);
    }
    let mut parts = 0;
    for part in token.split(|b| *b == b'.') {
        parts += 1;
        let ok = match part.len() {
            1 => true,
            2 | 3 => part[0] != b'0' && (part.len() == 2 || part <= b"255".as_slice()),
            _ => false,
        };
        if !ok || parts > 4 {
            return (None, next);
        }
    }
    ((parts == 4).then_some((s, e)), next)
}

/// An IPv6 address around the `:` at `i`; also returns where scanning goes on.
#[inline(never)]
fn ipv6(h: &[u8], i: usize) -> (Option<(usize, usize)>, usize) {
    let part = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
    let mut s = i;
    while s > 0 && part(h[s - 1]) {
        s -= 1;
    }
    let mut e = i;
    while e < h.len() && part(h[e]) {
        e += 1;
    }
    let next = e;
    while e > s && h[e - 1] == b'.' {
        e -= 1;
    }
    let token = &h[s..e];
    let colons = token.iter().filter(|b| **b == b':').count();
    let double = token.windows(2).any(|w| w[0] == b':' && w[1] == b':');
    if colons < 2 || (!double && colons != 7) || word_before(h, s) || word_after(h, e) {
        return (None, next);
    }
    // At least two groups, unless it starts with `::` (`::1`).
    let groups = token
        .split(|b| *b == b':')
        .filter(|g| !g.is_empty())
        .count();
    if groups < 2 && !token.starts_with(b"::") {
        return (None, next);
    }
    let ok = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        .is_some();
    (ok.then_some((s, e)), next)
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// The end of the ISO date `2025-08-20` at `at` when it stands alone (a
/// `T`, a quote or a letter after it, no number joined before it): eight
/// digits are no card and no phone, and timestamps are in most log lines.
fn lone_date(h: &[u8], at: usize) -> Option<usize> {
    let d = h.get(at..at + 10)?;
    let shape = d.iter().enumerate().all(|(k, b)| {
        if k == 4 || k == 7 {
            *b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    let after_ok = h
        .get(at + 10)
        .is_none_or(|b| !b.is_ascii_digit() && !is_sep(*b));
    let before_ok = at == 0 || {
        let b = h[at - 1];
        !(b.is_ascii_digit() || is_sep(b) || b == b'+' || b == b'(')
    };
    (shape && after_ok && before_ok).then_some(at + 10)
}

/// The extent of a written number around `at` (a digit, or a `+` before one):
/// digits joined by one separator (space, `-`, `.`, parentheses) or two
/// different ones (`) `, ` (`), with an optional leading `+` or `(`.
fn number_token(h: &[u8], at: usize) -> (usize, usize) {
    let digit = |i: usize| h.get(i).is_some_and(u8::is_ascii_digit);
    let (mut s, mut e) = (at, at + 1);
    if h[at] != b'+' {
        loop {
            if s >= 1 && digit(s - 1) {
                s -= 1;
            } else if s >= 2 && is_sep(h[s - 1]) && digit(s - 2) {
                s -= 2;
            } else if s >= 3
                && is_sep(h[s - 1])
                && is_sep(h[s - 2])
                && h[s - 1] != h[s - 2]
                && digit(s - 3)
            {
                s -= 3;
            } else {
                break;
            }
        }
        if s >= 1 && matches!(h[s - 1], b'+' | b'(') {
            s -= 1;
        }
    }
    loop {
        if digit(e) {
            e += 1;
        } else if e > at && h.get(e).is_some_and(|b| is_sep(*b)) && digit(e + 1) {
            e += 2;
        } else if e > at
            && h.get(e).is_some_and(|b| is_sep(*b))
            && h.get(e + 1).is_some_and(|b| is_sep(*b) && *b != h[e])
            && digit(e + 2)
        {
            e += 3;
        } else {
            break;
        }
    }
    (s, e)
}

/// The digit groups of `h[s..e]` (at most 16; `None` when there are more).
fn groups(h: &[u8], s: usize, e: usize) -> Option<([(u32, u32); 16], usize)> {
    let mut out = [(0u32, 0u32); 16];
    let mut n = 0;
    let mut i = s;
    while i < e {
        if !h[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let g = i;
        while i < e && h[i].is_ascii_digit() {
            i += 1;
        }
        if n == out.len() {
            return None;
        }
        out[n] = (g as u32, i as u32);
        n += 1;
    }
    Some((out, n))
}

/// The longest run of whole digit groups of the token `h[s..e]` that `check`
/// accepts (a number may sit next to other numbers: `2025 4111 1111 1111 1111`).
fn best_groups(
    h: &[u8],
    s: usize,
    e: usize,
    check: impl Fn(usize, usize) -> bool,
) -> Option<(usize, usize)> {
    let (gs, n) = groups(h, s, e)?;
    for len in (1..=n).rev() {
        for i in 0..=n - len {
            let (mut a, b) = (gs[i].0 as usize, gs[i + len - 1].1 as usize);
            // Keep a prefix that belongs to the number: `+81`, `(03)`.
            if i == 0 && a > s {
                a = s;
            } else if a > 0 && matches!(h[a - 1], b'+' | b'(') {
                a -= 1;
            }
            if check(a, b) {
                return Some((a, b));
            }
        }
    }
    None
}

fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn digit_count(t: &[u8]) -> usize {
    t.iter().filter(|b| b.is_ascii_digit()).count()
}

/// A card number within the token `h[s..e]`.
fn card_in(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if digit_count(&h[s..e]) < 13 {
        return None;
    }
    best_groups(h, s, e, |s, e| {
        let t = &h[s..e];
        if !t.first().is_some_and(|b| (b'2'..=b'6').contains(b))
            || t.iter()
                .any(|b| !(b.is_ascii_digit() || *b == b' ' || *b == b'-'))
            || !(13..=19).contains(&digit_count(t))
        {
            return false;
        }
        // Grouped numbers use groups of 3 to 6 digits.
        let mut parts = t.split(|b| !b.is_ascii_digit());
        let grouped = t.iter().any(|b| !b.is_ascii_digit());
        if grouped && parts.any(|g| !(3..=6).contains(&g.len())) {
            return false;
        }
        let before = s > 0 && (is_word(h[s - 1]) || h[s - 1] == b'.');
        let after = word_after(h, e)
            || (h.get(e) == Some(&b'.') && h.get(e + 1).is_some_and(u8::is_ascii_digit));
        !before && !after && luhn(t.iter().copied().filter(u8::is_ascii_digit))
    })
}

/// A phone number within the token `h[s..e]`.
fn phone_in(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let total = digit_count(&h[s..e]);
    if total < 8 || (total < 10 && !h[s..e].contains(&b'+')) {
        return None;
    }
    best_groups(h, s, e, |s, e| {
        let t = &h[s..e];
        if word_before(h, s)
            || word_after(h, e)
            || (e < h.len() && h[e] == b'.' && h.get(e + 1).is_some_and(u8::is_ascii_digit))
        {
            return false;
        }
        let digits = digit_count(t);
        let seps = t
            .iter()
            .filter(|b| !b.is_ascii_digit() && **b != b'+')
            .count();
        if t.first() == Some(&b'+') {
            // International: +CC then the national number, 8 to 15 digits in all.
            return t.get(1).is_some_and(|b| (b'1'..=b'9').contains(b))
                && (8..=15).contains(&digits);
        }
        let body = t.strip_prefix(b"(").unwrap_or(t);
        if body.first() != Some(&b'0') || !body.get(1).is_some_and(|b| (b'1'..=b'9').contains(b)) {
            return false;
        }
        // Japanese: 0X-XXXX-XXXX, 0XX-XXX-XXXX, 090-1234-5678, (03) 1234-5678, 0120-123-456.
        if (10..=11).contains(&digits) && seps >= 2 {
            let groups = t
                .split(|b| !b.is_ascii_digit())
                .filter(|g| !g.is_empty())
                .count();
            let last = t
                .rsplit(|b| !b.is_ascii_digit())
                .next()
                .map_or(0, <[u8]>::len);
            if groups == 3 && (3..=4).contains(&last) && !t.contains(&b'.') {
                return true;
            }
        }
        // Mobile and IP phones written without separators: 09012345678.
        digits == 11
            && seps == 0
            && matches!(body.get(1), Some(b'5' | b'7' | b'8' | b'9'))
            && body.get(2) == Some(&b'0')
    })
}

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn run(h: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut e = from;
    while e < h.len() && ok(h[e]) {
        e += 1;
    }
    e
}

/// A JWT starting at `s` (`eyJ…`): three base64url segments, the last may be empty.
fn jwt(h: &[u8], s: usize) -> Option<(usize, usize)> {
    if s > 0 && b64url(h[s - 1]) {
        return None;
    }
    let e1 = run(h, s, b64url);
    if e1 - s < 10 || h.get(e1) != Some(&b'.') {
        return None;
    }
    let e2 = run(h, e1 + 1, b64url);
    if e2 - e1 - 1 < 10 || h.get(e2) != Some(&b'.') {
        return None;
    }
    let e3 = run(h, e2 + 1, |b| b64url(b) || b == b'=');
    Some((s, e3))
}

/// The credentials after `Bearer`/`Basic` at `s..e`.
fn auth(h: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if word_before(h, s) {
        return None;
    }
    let mut v = e;
    while v < h.len() && h[v] == b' ' {
        v += 1;
    }
    if v == e {
        return None;
    }
    let end = run(h, v, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
    });
    (end - v >= 8).then_some((v, end))
}

/// A key made of a prefix `s..e` and `min..=max` characters accepted by `ok`.
fn fixed_key(
    h: &[u8],
    s: usize,
    e: usize,
    min: usize,
    max: usize,
    ok: impl Fn(u8) -> bool,
) -> Option<(usize, usize)> {
    if word_before(h, s) {
        return None;
    }
    let end = run(h, e, &ok);
    let len = end - e;
    ((min..=max).contains(&len) && !word_after(h, end)).then_some((s, end))
}

/// A private-key block from `-----BEGIN` at `s` to its `-----END …-----` (or to
/// the end of the text when it is cut).
fn private_key(h: &[u8], s: usize) -> Option<(usize, usize)> {
    let header_end = (s + 80).min(h.len());
    memchr::memmem::find(&h[s..header_end], b"PRIVATE KEY-----")?;
    let after = s + 10;
    let end = match memchr::memmem::find(&h[after..], b"-----END") {
        Some(p) => {
            let tail = after + p + 8;
            match memchr::memmem::find(&h[tail..(tail + 80).min(h.len())], b"-----") {
                Some(q) => tail + q + 5,
                None => h.len(),
            }
        }
        None => h.len(),
    };
    Some((s, end))
}

/// Last three letters (lower-cased) of the secret names: a cheap first test for
/// the name before each `=` and `:`.
const SECRET_TAILS: [&[u8; 3]; 10] = [
    b"ord", b"swd", b"pwd", b"ase", b"ret", b"ken", b"key", b"ial", b"als", b"ion",
];

/// A multiplier that sends each of [`SECRET_TAILS`] to its own slot of
/// [`TAIL_SLOTS`] (checked by a test).
const TAIL_HASH: u32 = 0x414c_343d;

const fn tail_word(t: [u8; 3]) -> u32 {
    t[0] as u32 | (t[1] as u32) << 8 | (t[2] as u32) << 16
}

/// [`SECRET_TAILS`] by hash slot (0 is no tail: lower-cased bytes are never 0).
const TAIL_SLOTS: [u32; 16] = {
    let mut slots = [0u32; 16];
    let mut i = 0;
    while i < SECRET_TAILS.len() {
        let w = tail_word(*SECRET_TAILS[i]);
        slots[(w.wrapping_mul(TAIL_HASH) >> 28) as usize] = w;
        i += 1;
    }
    slots
};

/// True when `t` (any case) is the end of a secret's name: one multiply and
/// one table load, as it runs for most `:` of a JSON line.
#[inline(always)]
fn secret_tail(t: [u8; 3]) -> bool {
    let w = tail_word([t[0] | 0x20, t[1] | 0x20, t[2] | 0x20]);
    TAIL_SLOTS[(w.wrapping_mul(TAIL_HASH) >> 28) as usize] == w
}

/// The three bytes before the separator at `sep`, past a closing quote and blanks.
#[inline(always)]
fn name_tail(h: &[u8], sep: usize) -> Option<[u8; 3]> {
    let mut e = sep;
    while e > 0 && h[e - 1] == b' ' {
        e -= 1;
    }
    if e > 0 && matches!(h[e - 1], b'"' | b'\'') {
        e -= 1;
    }
    (e >= 3).then(|| [h[e - 3], h[e - 2], h[e - 1]])
}

/// A `name=value` / `name: value` / `"name":"value"` pair at the separator
/// `sep` whose name is a secret's: the value (and the name, for JSON members).
fn secret_at(h: &[u8], sep: usize, rule: u16) -> Option<Found> {
    // Back over an optional closing quote and blanks to the name's end.
    let mut e = sep;
    while e > 0 && h[e - 1] == b' ' {
        e -= 1;
    }
    if e > 0 && matches!(h[e - 1], b'"' | b'\'') {
        e -= 1;
    }
    if e < 3 || !secret_tail([h[e - 3], h[e - 2], h[e - 1]]) {
        return None;
    }
    let name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let mut ks = e;
    while ks > 0 && name(h[ks - 1]) && e - ks < 64 {
        ks -= 1;
    }
    if ks == e || !secret_name(&h[ks..e]) {
        return None;
    }
    let mut i = sep + 1;
    while h.get(i) == Some(&b' ') {
        i += 1;
    }
    let (vs, ve) = match h.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            let vs = i + 1;
            let mut ve = vs;
            // Up to the closing quote, stepping over backslash escapes.
            while ve < h.len() && h[ve] != q {
                ve += if h[ve] == b'\\' { 2 } else { 1 };
            }
            (vs, ve.min(h.len()))
        }
        _ => {
            let ve = run(h, i, |b| {
                !(b.is_ascii_whitespace()
                    || matches!(
                        b,
                        b',' | b';' | b'&' | b'"' | b'\'' | b'}' | b']' | b')' | b'<' | b'>'
                    ))
            });
            (i, ve)
        }
    };
    (ve > vs).then_some(Found {
        key: Some((ks as u32, e as u32)),
        ..Found::new(rule, vs, ve)
    })
}

/// True when a member name is a secret's (`password`, `db_password`,
/// `X-Api-Key`, `accessToken`), used for JSON members whatever their value.
pub fn secret_name(name: &[u8]) -> bool {
    // The name's end, lower-cased and reversed, without separators: long
    // enough for the longest secret name.
    let mut rev = [0u8; 16];
    let mut n = 0;
    for b in name.iter().rev() {
        if matches!(b, b'_' | b'-' | b'.') {
            continue;
        }
        if n == rev.len() {
            break;
        }
        rev[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let rev = &rev[..n];
    SECRET_NAMES
        .iter()
        .any(|w| w.len() <= n && w.bytes().rev().zip(rev).all(|(a, b)| a == *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(detectors: &[Detector]) -> Engine {
        let list: Vec<(Detector, u16)> = detectors.iter().map(|d| (*d, d.index() as u16)).collect();
        Engine::new(&list, Vec::new()).unwrap()
    }

    /// The texts `d` finds in `text`.
    fn finds(d: Detector, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        engine(&[d]).scan(text.as_bytes(), &mut out);
        out.iter()
            .map(|f| text[f.start as usize..f.end as usize].to_owned())
            .collect()
    }

    #[test]
    fn masks_are_exact() {
        let x = u64::from_le_bytes(*b"a0/9:+z5");
        assert_eq!(digit_mask(x), 0x8000_0000_8000_8000);
        let all = u64::from_le_bytes(*b"/0123:9@");
        assert_eq!(digit_mask(all), 0x0080_0080_8080_8000);
    }

    #[test]
    fn email_true_and_false_positives() {
        assert_eq!(
            finds(
                Detector::Email,
                "mail taro.yamada+jp@mail.example.co.jp now"
            ),
            ["taro.yamada+jp@mail.example.co.jp"]
        );
        assert_eq!(
            finds(Detector::Email, "\"email\":\"a_b@x-y.io\""),
            ["a_b@x-y.io"]
        );
        for fake in [
            "user@localhost",
            "@handle",
            "a@b",
            "x@1.2.3.4",
            "foo@bar.c",
            "name@example..com",
            "me@-x.com",
            "@@x.com",
            "a.@x.com",
        ] {
            assert_eq!(finds(Detector::Email, fake), Vec::<String>::new(), "{fake}");
        }
    }

    #[test]
    fn ipv4_not_in_versions() {
        assert_eq!(
            finds(
                Detector::Ipv4,
                "from 192.168.1.10:8080 and http://10.0.0.1/x"
            ),
            ["192.168.1.10", "10.0.0.1"]
        );
        assert_eq!(finds(Detector::Ipv4, "ip=203.0.113.45."), ["203.0.113.45"]);
        for fake in [
            "1.2.3.4.5",
            "v10.0.0.1",
            "Chrome/126.0.0.0 Safari/537.36",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "3.14159",
            "version 1.2.3.4a",
        ] {
            assert_eq!(finds(Detector::Ipv4, fake), Vec::<String>::new(), "{fake}");
        }
    }

    #[test]
    fn ipv6() {
        assert_eq!(
            finds(
                Detector::Ipv6,
                "src=2001:db8::8a2e:370:7334 dst=[fe80::1]:443 lo ::1"
            ),
            ["2001:db8::8a2e:370:7334", "fe80::1", "::1"]
        );
        assert_eq!(
            finds(Detector::Ipv6, "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
            ["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]
        );
        for fake in [
            "10:30:45.123",
            "00:1a:2b:3c:4d:5e",
            "std::vector",
            "\"a\":1,\"b\":2",
            "Foo::Bar",
            "at 12:00",
        ] {
            assert_eq!(finds(Detector::Ipv6, fake), Vec::<String>::new(), "{fake}");
        }
    }

    #[test]
    fn cards_need_luhn() {
        assert_eq!(
            finds(Detector::CreditCard, "card 4111 1111 1111 1111 exp"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(
            finds(Detector::CreditCard, "pan=5500-0000-0000-0004;"),
            ["5500-0000-0000-0004"]
        );
        assert_eq!(
            finds(Detector::CreditCard, "amex 378282246310005"),
            ["378282246310005"]
        );
        assert_eq!(
            finds(Detector::CreditCard, "order 12 4012888888881881"),
            ["4012888888881881"]
        );
        for fake in [
            "4111 1111 1111 1112",
            "trace_4111111111111111",
            "id=1234567890123456",
            "2025-08-20T10:30:45.123Z",
            "4111111111111111a",
            "0.4111111111111111",
        ] {
            assert_eq!(
                finds(Detector::CreditCard, fake),
                Vec::<String>::new(),
                "{fake}"
            );
        }
    }

    #[test]
    fn phones_international_and_japanese() {
        assert_eq!(
            finds(
                Detector::Phone,
                "call +81 3-1234-5678 or +1 (555) 123-4567."
            ),
            ["+81 3-1234-5678", "+1 (555) 123-4567"]
        );
        assert_eq!(
            finds(
                Detector::Phone,
                "tel:090-1234-5678, office 03-1234-5678, free 0120-123-456"
            ),
            ["090-1234-5678", "03-1234-5678", "0120-123-456"]
        );
        assert_eq!(
            finds(Detector::Phone, "携帯 09012345678 です"),
            ["09012345678"]
        );
        assert_eq!(
            finds(Detector::Phone, "+33 1 23 45 67 89"),
            ["+33 1 23 45 67 89"]
        );
        for fake in [
            "2025-08-20",
            "order 0123456789",
            "12:30:45",
            "req_0901234567890",
            "v+1234",
            "0000-1234-5678",
        ] {
            assert_eq!(finds(Detector::Phone, fake), Vec::<String>::new(), "{fake}");
        }
    }

    #[test]
    fn tokens_and_keys() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(finds(Detector::Jwt, &format!("token {jwt} end")), [jwt]);
        assert_eq!(
            finds(Detector::Jwt, "eyJhbGciOiJIUzI1NiJ9 alone"),
            Vec::<String>::new()
        );
        assert_eq!(
            finds(Detector::AuthHeader, "Authorization: Bearer abcdef123456"),
            ["abcdef123456"]
        );
        assert_eq!(
            finds(Detector::AuthHeader, "authorization=Basic dXNlcjpwYXNz"),
            ["dXNlcjpwYXNz"]
        );
        assert_eq!(
            finds(Detector::AuthHeader, "basic idea, Bearer x"),
            Vec::<String>::new()
        );
        assert_eq!(
            finds(Detector::ApiKey, "key AKIAIOSFODNN7EXAMPLE used"),
            ["AKIAIOSFODNN7EXAMPLE"]
        );
        assert_eq!(
            finds(Detector::ApiKey, "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"]
        );
        assert_eq!(
            finds(Detector::ApiKey, "AKIAshort, MYAKIAIOSFODNN7EXAMPLE"),
            Vec::<String>::new()
        );
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        assert_eq!(finds(Detector::PrivateKey, &format!("k={pem} done")), [pem]);
        assert_eq!(
            finds(
                Detector::PrivateKey,
                "-----BEGIN PRIVATE KEY-----\nMIIE cut"
            ),
            ["-----BEGIN PRIVATE KEY-----\nMIIE cut"]
        );
        assert_eq!(
            finds(Detector::PrivateKey, "-----BEGIN CERTIFICATE-----\nMIIE"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn secret_pairs() {
        assert_eq!(
            finds(Detector::Password, "login password=hunter2 ok"),
            ["hunter2"]
        );
        assert_eq!(
            finds(Detector::Password, "db_password: 's3cr3t x' user"),
            ["s3cr3t x"]
        );
        assert_eq!(
            finds(Detector::Password, r#"{"apiKey":"k-123","n":1}"#),
            ["k-123"]
        );
        assert_eq!(finds(Detector::Password, "X-Api-Key=abc&q=1"), ["abc"]);
        assert_eq!(
            finds(Detector::Password, "tokenizer=bert passwords are long"),
            Vec::<String>::new()
        );
        assert!(
            secret_name(b"db_password") && secret_name(b"X-Api-Key") && secret_name(b"accessToken")
        );
        assert!(!secret_name(b"tokenizer") && !secret_name(b"max_tokens") && !secret_name(b"user"));
    }

    #[test]
    fn custom_patterns_and_overlaps() {
        let e = Engine::new(
            &[(Detector::Email, 0), (Detector::Ipv4, 1)],
            vec![(Regex::new(r"CUST-\d{6}").unwrap(), 2)],
        )
        .unwrap();
        let mut out = Vec::new();
        e.scan(b"user a@b.io from 10.1.2.3 is CUST-123456", &mut out);
        let rules: Vec<u16> = out.iter().map(|f| f.rule).collect();
        assert_eq!(rules, [0, 1, 2]);
        out.clear();
        e.scan(b"nothing to see here", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn eq_mask_is_exact_per_lane() {
        for c in [b'.', b':', b'@'] {
            for v in 0..=255u8 {
                for lane in 0..8 {
                    // The other lanes hold the neighbours most likely to leak a
                    // borrow or carry: `c` itself, c ± 1, 0 and 0xFF.
                    for fill in [c, c.wrapping_add(1), c.wrapping_sub(1), 0, 0xFF] {
                        let mut w = [fill; 8];
                        w[lane] = v;
                        let got = eq_mask(u64::from_le_bytes(w), c);
                        let want = w
                            .iter()
                            .enumerate()
                            .fold(0u64, |m, (k, b)| m | (u64::from(*b == c) << (8 * k + 7)));
                        assert_eq!(got, want, "{c} {v} {lane} {fill}");
                    }
                }
            }
        }
    }

    #[test]
    fn secret_tail_table_matches_the_list() {
        // Every 3-byte tail of printable ASCII: the hash table agrees with a
        // plain search of the list.
        for a in 0x20..0x80u8 {
            for b in 0x20..0x80u8 {
                for c in 0x20..0x80u8 {
                    let lower = [a | 0x20, b | 0x20, c | 0x20];
                    let want = SECRET_TAILS.iter().any(|t| **t == lower);
                    assert_eq!(secret_tail([a, b, c]), want, "{:?}", [a, b, c]);
                }
            }
        }
    }

    #[test]
    fn dates_are_not_numbers_to_redact() {
        for d in [Detector::Phone, Detector::CreditCard] {
            for text in [
                "2025-08-20",
                "2025-08-20T10:30:45.123Z",
                "{\"ts\":\"2025-08-20T10:30:45Z\"}",
                "on 2025-08-20, at 2025-08-21.",
            ] {
                assert_eq!(finds(d, text), Vec::<String>::new(), "{d:?} {text}");
            }
        }
        // A date joined to a number is still read with it.
        assert_eq!(
            finds(Detector::CreditCard, "2025-08-20 4111 1111 1111 1111"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(lone_date(b"x2025-08-20T", 1), Some(11));
        assert_eq!(lone_date(b"2025-08-20 4111", 0), None);
        assert_eq!(lone_date(b"+2025-08-20", 1), None);
        assert_eq!(lone_date(b"2025-08-2", 0), None);
    }

    #[test]
    fn json_separators_are_not_triggers() {
        let line = r#"{"timestamp":"2025-08-20T10:30:45.123Z","dead":"beef","version":"1.1.0","a":1,"b":{"c":"d"}}"#;
        for d in [Detector::Ipv6, Detector::Password, Detector::Ipv4] {
            assert_eq!(finds(d, line), Vec::<String>::new(), "{d:?}");
        }
        assert!(json_separator(br#"{"level":"x"}"#, 8));
        assert!(!json_separator(br#"{"db_password":"x"}"#, 14));
        assert_eq!(
            finds(
                Detector::Password,
                r#"{"a":1,"db_password":"x","b":{"token": "y"}}"#
            ),
            ["x", "y"]
        );
        assert_eq!(
            finds(Detector::Ipv6, r#"{"ip":"fe80::1","b":"2001:db8::2"}"#),
            ["fe80::1", "2001:db8::2"]
        );
    }

    /// Every detector at every alignment to the eight-byte words, including
    /// the last, partial one: the trigger pass reads words, so a value that
    /// straddles a word boundary or ends the text must be found all the same.
    #[test]
    fn found_at_every_alignment() {
        let cases: [(Detector, &str); 10] = [
            (Detector::Email, "taro.yamada@example.co.jp"),
            (Detector::Ipv4, "192.168.1.10"),
            (Detector::Ipv6, "2001:db8::8a2e:370:7334"),
            (Detector::CreditCard, "4111111111111111"),
            (Detector::CreditCard, "4111 1111 1111 1111"),
            (Detector::Phone, "090-1234-5678"),
            (Detector::Phone, "+33 1 23 45 67 89"),
            (Detector::Password, "hunter2"),
            (Detector::Jwt, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"),
            (Detector::ApiKey, "AKIAIOSFODNN7EXAMPLE"),
        ];
        for (d, value) in cases {
            let shown = if d == Detector::Password {
                format!("password={value}")
            } else {
                value.to_owned()
            };
            for pad in 0..17 {
                for tail in ["", " ", " end of the line"] {
                    let text = format!("{}{shown}{tail}", " ".repeat(pad));
                    assert_eq!(finds(d, &text), [value], "{d:?} {text:?}");
                }
            }
        }
    }

    #[test]
    fn digit_runs_across_words_and_at_the_end() {
        // The four digits that start a number split 1+3, 2+2, 3+1 over two words.
        for split in 1..4 {
            let text = format!("{}4111111111111111", " ".repeat(8 - split));
            assert_eq!(
                finds(Detector::CreditCard, &text),
                ["4111111111111111"],
                "{text}"
            );
        }
        // A trigger in the last, partial word.
        assert_eq!(
            finds(Detector::Phone, "call 090-1234-5678"),
            ["090-1234-5678"]
        );
        assert_eq!(finds(Detector::Ipv4, "ip 1.2.3.4"), ["1.2.3.4"]);
        assert_eq!(finds(Detector::Email, "a@b.io"), ["a@b.io"]);
        assert_eq!(finds(Detector::Ipv4, "1.2.3.4"), ["1.2.3.4"]);
    }

    const PIECES: &[&str] = &[
        "0",
        "1",
        "4",
        "9",
        "12",
        "2025",
        "4111",
        "090",
        "03",
        "+",
        "+81",
        " ",
        "-",
        ".",
        ":",
        "::",
        "@",
        "=",
        "\"",
        "'",
        "(",
        ")",
        "_",
        "a",
        "f",
        "Z",
        "T",
        "password",
        "token",
        "api_key",
        "ion",
        "\":",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9",
        "example",
        "co",
        "jp",
        "/",
        "192.168.1.1",
        "2001:db8::1",
        "fe80",
        "10:30:45",
        "2025-08-20",
        "Bearer ",
        "AKIA",
        "IOSFODNN7EXAMPLE",
        "4111 1111 1111 1111",
        "090-1234-5678",
        ",",
        "{",
        "}",
    ];

    fn all_rules(text: &[u8]) -> Vec<Found> {
        let list: Vec<(Detector, u16)> = Detector::ALL
            .iter()
            .map(|d| (*d, d.index() as u16))
            .collect();
        let mut out = Vec::new();
        Engine::new(&list, Vec::new()).unwrap().scan(text, &mut out);
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// The word-wise trigger pass finds the same at every alignment: a
        /// text shifted by 1 to 8 neutral bytes gives the same findings,
        /// shifted.
        #[test]
        fn alignment_does_not_change_findings(
            pieces in proptest::collection::vec(0..PIECES.len(), 0..40),
            shift in 1usize..9,
        ) {
            let text: String = pieces.iter().map(|p| PIECES[*p]).collect();
            let base = all_rules(text.as_bytes());
            let shifted = all_rules(format!("{}{text}", ",".repeat(shift)).as_bytes());
            let s = shift as u32;
            let moved: Vec<Found> = base
                .iter()
                .map(|f| Found {
                    start: f.start + s,
                    end: f.end + s,
                    key: f.key.map(|(x, y)| (x + s, y + s)),
                    ..*f
                })
                .collect();
            proptest::prop_assert_eq!(shifted, moved, "{:?}", text);
        }
    }
}
