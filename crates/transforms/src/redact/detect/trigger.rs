//! The trigger pass: one walk over 64-byte blocks finds every candidate for
//! the detectors that start from a byte (`@`, `.`, `:`, `S`, digit runs) and
//! hands each to its confirming parser; `+` and `=` are found with `memchr`.

use super::blocks::{Block, block};
use super::card::{card_in, card_shaped};
use super::email::email;
use super::ipv4::ipv4;
use super::ipv6::ipv6;
use super::literal::Literal;
use super::national::{iban_at, iban_start, jp_my_number, us_ssn};
use super::number::{is_sep, lone_date, number_token};
use super::password::{
    generic_value, name_tail, no_secret_word, pair_at, secret_name, secret_tail,
};
use super::phone::phone_in;
use super::text::word_before;
use super::{Detector, Engine, Found};

impl Engine {
    /// The trigger pass: one walk over the text, 64 bytes at a time. Each
    /// block gives bit masks of digits, `.`, `:`, `@` and `S` (see `blocks`);
    /// the context tests are folded into them (a `.` counts only between two
    /// digits, a digit only when it starts a run of four, across block
    /// boundaries), and the set bits are visited in order without restarting
    /// a search per hit.
    /// `+` and `=`, rare in logs, are found with `memchr` afterwards (in that
    /// order, as before: ties between findings keep the same winner).
    pub(super) fn scan_triggers(&self, h: &[u8], out: &mut Vec<Found>) {
        let on = |d: Detector| self.rule(d).is_some();
        let urls = on(Detector::UrlCredentials);
        let keys = on(Detector::ApiKey);
        let (dots, colons, ats) = (
            on(Detector::Ipv4),
            on(Detector::Ipv6) || on(Detector::Password) || on(Detector::GenericSecret) || urls,
            on(Detector::Email),
        );
        let runs = on(Detector::CreditCard)
            || on(Detector::Phone)
            || on(Detector::UsSsn)
            || on(Detector::JpMyNumber)
            || on(Detector::Iban);
        // Pairs of digits, a separator, a pair: numbers written in pairs
        // (`01 23 45 67 89`) have no run of four.
        let pairs = on(Detector::Phone);
        let all = |b: bool| if b { u64::MAX } else { 0 };
        let mut walk = Walk {
            on: On {
                dots: all(dots),
                colons: all(colons),
                ats: all(ats),
                runs: all(runs),
                pairs: all(pairs),
                caps: all(keys),
                urls,
            },
            next: Next::default(),
        };
        if dots || colons || ats || runs || keys {
            // Block k is tested once block k + 1 is known (a `.` needs the
            // digit after it, a run the three digits after its first).
            let load = |k: usize| -> Block {
                let s = k * 64;
                match h.get(s..s + 64) {
                    Some(b) => block(<&[u8; 64]>::try_from(b).unwrap_or(&[0; 64])),
                    None if s < h.len() => {
                        let mut last = [0u8; 64];
                        last[..h.len() - s].copy_from_slice(&h[s..]);
                        block(&last)
                    }
                    None => Block::default(),
                }
            };
            let mut prev_digits = 0;
            let mut cur = load(0);
            for k in 0..h.len().div_ceil(64) {
                let next = load(k + 1);
                self.block(h, k * 64, &cur, prev_digits, &next, &mut walk, out);
                prev_digits = cur.digits;
                cur = next;
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
        // Azure's `sig=` and `AccountKey=` too, at every `=` (they were
        // literals of the Aho-Corasick pass, which a pair does not hide).
        let pairs = on(Detector::Password) || on(Detector::GenericSecret);
        if pairs || keys {
            let mut next = 0;
            for at in memchr::memchr_iter(b'=', h) {
                if keys {
                    if at >= 3 && &h[at - 3..at] == b"sig" {
                        self.literal(h, Literal::AzureSas, at - 3, at + 1, out);
                    } else if at >= 10 && &h[at - 10..at] == b"AccountKey" {
                        self.literal(h, Literal::AzureKey, at - 10, at + 1, out);
                    }
                }
                if at < next || !pairs {
                    continue;
                }
                next = at + 1;
                if name_tail(h, at).is_some_and(secret_tail)
                    && let Some(f) = self.pair(h, at)
                {
                    next = next.max(f.end as usize);
                    out.push(f);
                }
            }
        }
    }

    /// Visits the candidates of the 64-byte block `c` at `i`, `prev_digits`
    /// being the previous block's digits and `n` the next block.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        h: &[u8],
        i: usize,
        c: &Block,
        prev_digits: u64,
        n: &Block,
        walk: &mut Walk,
        out: &mut Vec<Found>,
    ) {
        let (on, next) = (&walk.on, &mut walk.next);
        let d = c.digits;
        // Digit before / after each byte.
        let dp = (d << 1) | (prev_digits >> 63);
        let dn = (d >> 1) | (n.digits << 63);
        let mut punct = (c.dots & dp & dn & on.dots) | (c.colons & on.colons) | (c.ats & on.ats);
        while punct != 0 {
            let at = i + punct.trailing_zeros() as usize;
            punct &= punct - 1;
            // `://` of a URL, whose userinfo may hold credentials: at every
            // `:`, as the literal it was (not hidden by a pair's value).
            if on.urls && h[at] == b':' && h.get(at + 1..at + 3) == Some(b"//") {
                self.literal(h, Literal::Url, at, at + 3, out);
            }
            if at >= next.punct && !json_separator(h, at) {
                next.punct = self.punct(h, at, out).max(at + 1);
            }
        }
        // `SK` (Twilio) and `SG.` (SendGrid) keys: capitals are few in logs.
        let mut caps = c.caps & on.caps;
        while caps != 0 {
            let at = i + caps.trailing_zeros() as usize;
            caps &= caps - 1;
            match h.get(at + 1) {
                Some(b'K') => self.literal(h, Literal::Twilio, at, at + 2, out),
                Some(b'G') if h.get(at + 2) == Some(&b'.') => {
                    self.literal(h, Literal::SendGrid, at, at + 3, out)
                }
                _ => {}
            }
        }
        // Digit pairs, then pairs followed by pairs: the first digits of runs
        // of four; with phone numbers, pairs joined by a separator too.
        let pairs = d & dn;
        let pairs_n = n.digits & (n.digits >> 1);
        let mut run = pairs & ((pairs >> 2) | (pairs_n << 62)) & on.runs;
        if on.pairs != 0 {
            run |= pairs & ((c.seps >> 2) | (n.seps << 62)) & ((pairs >> 3) | (pairs_n << 61));
        }
        while run != 0 {
            let at = i + run.trailing_zeros() as usize;
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
                if let Some(rule) = self.rule(Detector::Email)
                    && let Some((s, e)) = email(h, i)
                {
                    out.push(Found::new(rule, s, e));
                    return e;
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
                if name_tail(h, i).is_some_and(secret_tail)
                    && let Some(f) = self.pair(h, i)
                {
                    out.push(f);
                    return f.end as usize;
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
            // A compact IBAN is the one number glued to letters worth a look.
            if let Some(rule) = self.rule(Detector::Iban)
                && at > 0
                && h[at - 1].is_ascii_alphanumeric()
                && let Some((s, e)) = self.iban(h, at)
            {
                out.push(Found::new(rule, s, e));
                return e;
            }
            return re;
        }
        if let Some(end) = lone_date(h, at) {
            return end;
        }
        let (s, e) = number_token(h, at);
        let card = self.rule(Detector::CreditCard);
        let phone = self.rule(Detector::Phone);
        if let Some(rule) = self.rule(Detector::Iban)
            && let Some((is, ie)) = self.iban(h, at)
        {
            out.push(Found::new(rule, is, ie));
            return ie.max(e);
        }
        // Every number detector below needs eight digits or more (phone 8,
        // SSN 9, My Number 12, card 13), and none takes a dotted quad
        // (`192.168.10.20`: 4 groups of at most 3 digits, no card's 13
        // digits, and every part of it touches a `.` and a digit, which the
        // phone shapes refuse): skipped before any of them looks.
        if !digits_for_numbers(&h[s..e]) {
            return e;
        }
        // A `(` taken in front belongs to a phone's area code (`(03) 1234`),
        // not to a card, SSN or My Number in parentheses (`(556-74-8675)`).
        let ns = s + usize::from(h[s] == b'(');
        if let Some(rule) = card
            && let Some((cs, ce)) = card_in(h, ns, e)
        {
            out.push(Found::new(rule, cs, ce));
            return e;
        }
        if let Some(rule) = self.rule(Detector::UsSsn)
            && us_ssn(h, ns, e)
        {
            out.push(Found::new(rule, ns, e));
            return e;
        }
        if let Some(rule) = self.rule(Detector::JpMyNumber)
            && jp_my_number(h, ns, e)
        {
            out.push(Found::new(rule, ns, e));
            return e;
        }
        if card_shaped(h, s, e) {
            return e;
        }
        if let Some(rule) = phone
            && let Some((ps, pe)) = phone_in(h, s, e)
        {
            out.push(Found::new(rule, ps, pe));
            return e;
        }
        e
    }
}

impl Engine {
    /// A `password` or `generic_secret` pair at the separator `sep`: the
    /// pair is read once, and only when its name is a secret's or ends in
    /// `key` (`"version":`, `"duration":` end like `authorization` but are
    /// neither).
    fn pair(&self, h: &[u8], sep: usize) -> Option<Found> {
        let (ks, e) = pair_name(h, sep)?;
        let name = &h[ks..e];
        if secret_name(name) {
            let rule = self.rule(Detector::Password)?;
            let (ks, e, vs, ve) = pair_at(h, sep)?;
            // `(using password: YES)` says whether one was sent; a JSON
            // member (`"password":`) loses its value whatever it is.
            if !matches!(h.get(e), Some(b'"' | b'\'')) && no_secret_word(&h[vs..ve]) {
                return None;
            }
            return Some(Found {
                key: Some((ks as u32, e as u32)),
                ..Found::new(rule, vs, ve)
            });
        }
        if !name[name.len() - 3..].eq_ignore_ascii_case(b"key") {
            return None;
        }
        let rule = self.rule(Detector::GenericSecret)?;
        let (_, _, vs, ve) = pair_at(h, sep)?;
        generic_value(&h[vs..ve]).then(|| Found::new(rule, vs, ve))
    }

    /// An IBAN holding the digit run at `at`.
    fn iban(&self, h: &[u8], at: usize) -> Option<(usize, usize)> {
        let s = iban_start(h, at)?;
        iban_at(h, s).map(|e| (s, e))
    }
}

/// Masks of the candidate kinds the enabled detectors need (all ones or zero).
struct On {
    dots: u64,
    colons: u64,
    ats: u64,
    runs: u64,
    pairs: u64,
    /// `S`s, for the `SK`/`SG.` key prefixes.
    caps: u64,
    /// `://` at the `:`s.
    urls: bool,
}

/// True when the number token `t` may hold a phone, SSN, My Number or card:
/// eight digits or more, and not a dotted quad.
#[inline]
fn digits_for_numbers(t: &[u8]) -> bool {
    let (mut digits, mut groups, mut longest, mut run) = (0usize, 0usize, 0usize, 0usize);
    let mut dots_only = true;
    for &b in t {
        if b.is_ascii_digit() {
            digits += 1;
            run += 1;
        } else {
            dots_only &= b == b'.';
            if run > 0 {
                groups += 1;
                longest = longest.max(run);
            }
            run = 0;
        }
    }
    if run > 0 {
        groups += 1;
        longest = longest.max(run);
    }
    digits >= 8 && !(dots_only && groups == 4 && longest <= 3)
}

/// The name before the separator `sep` (start, end), when it ends like a
/// secret's name: what [`pair_at`] reads first, without the value.
#[inline]
fn pair_name(h: &[u8], sep: usize) -> Option<(usize, usize)> {
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
    (ks < e).then_some((ks, e))
}

/// True for the `:` after a JSON key (`"level":`) whose name cannot be a
/// secret's: no IPv6 address and no `name: value` pair starts there. Most
/// `:`s of a JSON line are such separators.
#[inline(always)]
pub(super) fn json_separator(h: &[u8], at: usize) -> bool {
    at >= 4 && h[at - 1] == b'"' && !secret_tail([h[at - 4], h[at - 3], h[at - 2]])
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
pub(super) fn digit_mask(x: u64) -> u64 {
    let t = x & !HI;
    (((LO * (127 + 0x3A)).wrapping_sub(t)) & !x & (t + LO * (127 - 0x2F))) & HI
}

/// High bit of each byte lane equal to `c` (exact per lane).
#[inline(always)]
pub(super) fn eq_mask(x: u64, c: u8) -> u64 {
    let v = x ^ (LO * u64::from(c));
    !(((v & !HI) + !HI) | v) & HI
}
