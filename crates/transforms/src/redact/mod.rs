//! `type = "redact"`: keeps personal data and secrets out of what the agent
//! ships. Two kinds of rules:
//!
//! * **paths**, as pino's `redact` (`req.headers.authorization`, `user.email`,
//!   `*.password`): the whole value goes;
//! * **detectors** (e-mail, IPv4/IPv6, Luhn-checked cards, JWTs, bearer/basic
//!   credentials, API keys, private-key blocks, `password=…` pairs, phone
//!   numbers) and custom named regexes, found anywhere in the event's string
//!   values (or in chosen fields) by one scan per line ([`detect`]).
//!
//! Each rule has an action: `mask` (fixed text), `partial` (keep the last N
//! characters), `hash` (keyed HMAC-SHA256, so the same user still correlates;
//! the key comes from the environment or a file and is never logged) or
//! `drop_field`. In a JSON line only string values are rewritten (the member
//! named like a secret has its whole value replaced) and the result is always
//! valid JSON; a text line is rewritten as text. Values are never logged.
//! Counts per rule go to `redact_matches_total{component_id, rule}`; a value
//! that cannot be redacted as asked is replaced whole (fail closed) and counted
//! in `redact_failures_total`.

pub mod detect;
mod locate;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use regex::bytes::Regex;
use serde::Deserialize;
use sha2::Sha256;

use self::detect::{Detector, Engine, Found};
use self::locate::{Place, locate, skip_ws, string_end, value_end};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::json;
use logagent_core::event::{
    Batch, Edit, EditOp, Event, EventMut, FieldPath, Member, Root, Span, Value, ValueRef,
};
use logagent_core::telemetry::families::Series;
use logagent_core::telemetry::metrics::ComponentMetrics;

/// What a rule does to what it matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace with fixed text (`replacement`, default `[REDACTED]`).
    #[default]
    Mask,
    /// Keep the last `keep_last` characters, mask the rest with `*`.
    Partial,
    /// Replace with `hmac:` and 16 hex digits of HMAC-SHA256 under the
    /// configured key: equal values give equal hashes, nobody without the key
    /// can test guesses.
    Hash,
    /// Remove the field (a path), or the field holding the match (detectors).
    DropField,
}

/// One `[[transforms.ID.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The rule's name, the `rule` label of its counters (default: the
    /// detector's name, or `pattern`/`paths`).
    #[serde(default)]
    pub name: Option<String>,
    /// Built-in detectors: `email`, `ipv4`, `ipv6`, `credit_card`, `jwt`,
    /// `auth_header`, `api_key`, `private_key`, `password`, `phone`, or `all`.
    #[serde(default)]
    pub detectors: Vec<String>,
    /// A custom regex (Rust syntax); what it matches is redacted.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Field paths whose whole values are redacted (`*` wildcards).
    #[serde(default)]
    pub paths: Vec<String>,
    /// `mask` (default), `partial`, `hash` or `drop_field`.
    #[serde(default)]
    pub action: Action,
    /// Text written by `mask` (default `[REDACTED]`).
    #[serde(default)]
    pub replacement: Option<String>,
    /// Characters `partial` keeps (default 4).
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// Where detectors and the pattern look (default: every string value of the event).
    #[serde(default)]
    pub fields: Vec<String>,
}

/// Options of `redact`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Paths of fields to mask; `*` matches any one member name.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Text written in place of a redacted value (default `"[REDACTED]"`).
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// Remove the `paths` fields instead of masking them (default false).
    #[serde(default)]
    pub remove: bool,
    /// Detectors to run with the `mask` action, each counted under its own
    /// name (`["all"]` for every one).
    #[serde(default)]
    pub detectors: Vec<String>,
    /// Where `detectors` look (default: every string value of the event).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Rules with their own action, replacement and scope.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Environment variable holding the key for `hash` (at least 16 bytes).
    #[serde(default)]
    pub hash_key_env: Option<String>,
    /// File holding the key for `hash` (trailing newline ignored).
    #[serde(default)]
    pub hash_key_file: Option<String>,
}

fn default_replacement() -> String {
    "[REDACTED]".to_owned()
}

/// How a rule rewrites a matched value.
#[derive(Clone)]
enum Act {
    Mask {
        /// The text (for text lines and decoded strings).
        text: Bytes,
        /// The text escaped for the inside of a JSON string.
        escaped: Bytes,
        /// A JSON string value.
        json: Bytes,
    },
    Partial(usize),
    Hash(Hmac<Sha256>),
    Drop,
}

impl std::fmt::Debug for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str(match self {
            Act::Mask { .. } => "Mask",
            Act::Partial(_) => "Partial",
            Act::Hash(_) => "Hash",
            Act::Drop => "Drop",
        })
    }
}

#[derive(Debug)]
struct Rule {
    act: Act,
    matches: Option<Arc<Series>>,
    failures: Option<Arc<Series>>,
}

/// Where a group of detectors looks: the whole event, or some fields.
#[derive(Debug)]
struct Scope {
    fields: Vec<FieldPath>,
    engine: Engine,
}

fn mask(text: &str) -> Act {
    let mut json = Vec::new();
    json::write_str(&mut json, text.as_bytes());
    Act::Mask {
        text: Bytes::copy_from_slice(text.as_bytes()),
        escaped: Bytes::copy_from_slice(&json[1..json.len() - 1]),
        json: Bytes::from(json),
    }
}

impl RedactConfig {
    /// Checks the rules (without reading the hash key).
    pub fn check(&self) -> Vec<KeyError> {
        self.compile(TransformContext::detached("check"), false)
            .err()
            .unwrap_or_default()
    }

    /// Compiles the rules and reads the hash key.
    pub fn build(&self, ctx: TransformContext) -> Result<Redact, Vec<KeyError>> {
        self.compile(ctx, true)
    }

    fn hash_key(&self, load: bool) -> Result<Hmac<Sha256>, KeyError> {
        let key: Vec<u8> = match (&self.hash_key_env, &self.hash_key_file) {
            (Some(_), Some(_)) => {
                return Err(KeyError::new(
                    "hash_key_file",
                    "set hash_key_env or hash_key_file, not both",
                ));
            }
            (None, None) => {
                return Err(KeyError::new(
                    "hash_key_env",
                    "the hash action needs a key: set hash_key_env (a variable name) or hash_key_file",
                ));
            }
            _ if !load => vec![0; 32],
            (Some(var), None) => std::env::var_os(var)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| {
                    KeyError::new(
                        "hash_key_env",
                        format!("environment variable {var} is not set"),
                    )
                })?,
            (None, Some(file)) => {
                let mut k = std::fs::read(file).map_err(|e| {
                    KeyError::new("hash_key_file", format!("cannot read {file}: {e}"))
                })?;
                while k.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    k.pop();
                }
                k
            }
        };
        if key.len() < 16 {
            return Err(KeyError::new(
                if self.hash_key_env.is_some() {
                    "hash_key_env"
                } else {
                    "hash_key_file"
                },
                "the hash key must be at least 16 bytes",
            ));
        }
        Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|e| KeyError::new("hash_key_env", e.to_string()))
    }

    fn compile(&self, ctx: TransformContext, load_key: bool) -> Result<Redact, Vec<KeyError>> {
        let mut errors = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut path_rules: Vec<(u16, FieldPath)> = Vec::new();
        // (fields, builtin detectors, customs) per distinct scope.
        type Scopes = Vec<(Vec<String>, Vec<(Detector, u16)>, Vec<(Regex, u16)>)>;
        let mut scopes: Scopes = Vec::new();
        let mut key: Option<Result<Hmac<Sha256>, KeyError>> = None;
        fn scope_of(scopes: &mut Scopes, fields: &[String]) -> usize {
            match scopes.iter().position(|(f, _, _)| f.as_slice() == fields) {
                Some(i) => i,
                None => {
                    scopes.push((fields.to_vec(), Vec::new(), Vec::new()));
                    scopes.len() - 1
                }
            }
        }
        let parse_detectors =
            |key: &str, list: &[String], errors: &mut Vec<KeyError>| -> Vec<Detector> {
                let mut out = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    if name == "all" {
                        out.extend(Detector::ALL);
                    } else if let Some(d) = Detector::from_name(name) {
                        out.push(d);
                    } else {
                        errors.push(KeyError::new(
                            format!("{key}[{i}]"),
                            format!(
                                "unknown detector {name:?} (expected one of: all, {})",
                                Detector::ALL.map(Detector::name).join(", ")
                            ),
                        ));
                    }
                }
                out
            };
        // The shorthand keys: paths (mask or remove) and detectors (mask).
        if !self.paths.is_empty() {
            match super::parse_paths("paths", &self.paths) {
                Ok(paths) => {
                    let r = rules.len() as u16;
                    rules.push(Rule {
                        act: if self.remove {
                            Act::Drop
                        } else {
                            mask(&self.replacement)
                        },
                        matches: None,
                        failures: None,
                    });
                    names.push("paths".into());
                    path_rules.extend(paths.into_iter().map(|p| (r, p)));
                }
                Err(e) => errors.extend(e),
            }
        }
        if !self.detectors.is_empty() {
            let scope = scope_of(&mut scopes, &self.fields);
            let mut seen = Vec::new();
            for d in parse_detectors("detectors", &self.detectors, &mut errors) {
                if seen.contains(&d) {
                    continue;
                }
                seen.push(d);
                let r = rules.len() as u16;
                rules.push(Rule {
                    act: mask(&self.replacement),
                    matches: None,
                    failures: None,
                });
                names.push(d.name().into());
                scopes[scope].1.push((d, r));
            }
        } else if !self.fields.is_empty() {
            errors.push(KeyError::new("fields", "is set but detectors is not"));
        }
        for (i, rc) in self.rules.iter().enumerate() {
            let k = |s: &str| format!("rules[{i}].{s}");
            let kinds = usize::from(!rc.detectors.is_empty())
                + usize::from(rc.pattern.is_some())
                + usize::from(!rc.paths.is_empty());
            if kinds != 1 {
                errors.push(KeyError::new(
                    k("detectors"),
                    "a rule needs exactly one of detectors, pattern or paths",
                ));
                continue;
            }
            if !rc.fields.is_empty() && !rc.paths.is_empty() {
                errors.push(KeyError::new(
                    k("fields"),
                    "applies to detectors and patterns, not to paths",
                ));
            }
            if rc.keep_last.is_some() && rc.action != Action::Partial {
                errors.push(KeyError::new(
                    k("keep_last"),
                    "only the partial action keeps characters",
                ));
            }
            if rc.replacement.is_some() && rc.action != Action::Mask {
                errors.push(KeyError::new(
                    k("replacement"),
                    "only the mask action writes a replacement",
                ));
            }
            let act = match rc.action {
                Action::Mask => mask(rc.replacement.as_deref().unwrap_or(&self.replacement)),
                Action::Partial => Act::Partial(rc.keep_last.unwrap_or(4)),
                Action::DropField => Act::Drop,
                Action::Hash => match key.get_or_insert_with(|| self.hash_key(load_key)) {
                    Ok(mac) => Act::Hash(mac.clone()),
                    Err(_) => Act::Drop,
                },
            };
            let detectors = parse_detectors(&k("detectors"), &rc.detectors, &mut errors);
            let name =
                rc.name
                    .clone()
                    .unwrap_or_else(|| match (detectors.as_slice(), &rc.pattern) {
                        ([d], _) => d.name().to_owned(),
                        (_, Some(_)) => format!("pattern_{i}"),
                        _ if !rc.paths.is_empty() => format!("paths_{i}"),
                        _ => format!("rule_{i}"),
                    });
            if names.contains(&name) {
                errors.push(KeyError::new(
                    k("name"),
                    format!("rule name {name:?} is used twice"),
                ));
                continue;
            }
            let r = rules.len() as u16;
            rules.push(Rule {
                act,
                matches: None,
                failures: None,
            });
            names.push(name);
            if !rc.paths.is_empty() {
                match super::parse_paths(&k("paths"), &rc.paths) {
                    Ok(paths) => path_rules.extend(paths.into_iter().map(|p| (r, p))),
                    Err(e) => errors.extend(e),
                }
                continue;
            }
            let scope = scope_of(&mut scopes, &rc.fields);
            scopes[scope]
                .1
                .extend(detectors.into_iter().map(|d| (d, r)));
            if let Some(p) = &rc.pattern {
                match Regex::new(p) {
                    Ok(re) => scopes[scope].2.push((re, r)),
                    Err(e) => errors.push(KeyError::new(
                        k("pattern"),
                        format!(
                            "invalid regular expression: {}",
                            e.to_string()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    )),
                }
            }
        }
        if let Some(Err(e)) = key {
            errors.push(e);
        }
        if rules.is_empty() && errors.is_empty() {
            errors.push(KeyError::new(
                "paths",
                "redact has nothing to do: set paths, detectors or rules",
            ));
        }
        let mut compiled = Vec::new();
        for (fields, builtin, customs) in scopes {
            let paths = match super::parse_paths("fields", &fields) {
                Ok(p) => p,
                Err(e) => {
                    errors.extend(e);
                    continue;
                }
            };
            match Engine::new(&builtin, customs) {
                Ok(engine) if !engine.is_empty() => compiled.push(Scope {
                    fields: paths,
                    engine,
                }),
                Ok(_) => {}
                Err(e) => errors.push(KeyError::new("rules", e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Per-rule counters, exported by the metrics endpoint.
        let labels = ["component_id", "rule"];
        let matches = ctx
            .families
            .counter(
                "redact_matches_total",
                "Values redacted, per redaction rule.",
                &labels,
            )
            .ok();
        let failures = ctx
            .families
            .counter(
                "redact_failures_total",
                "Values that could not be redacted as configured and were replaced whole.",
                &labels,
            )
            .ok();
        for (rule, name) in rules.iter_mut().zip(&names) {
            rule.matches = matches.as_ref().and_then(|f| f.series(&[&ctx.id, name]));
            rule.failures = failures.as_ref().and_then(|f| f.series(&[&ctx.id, name]));
        }
        let n = rules.len();
        Ok(Redact {
            rules,
            names,
            path_rules,
            scopes: compiled,
            ctx,
            counts: vec![0; n],
            failed: vec![0; n],
            found: Vec::new(),
            scratch: Vec::new(),
            tokens: Vec::new(),
            clean: Vec::new(),
            arena: BytesMut::new(),
            buf: Vec::new(),
        })
    }
}

/// The running `redact` transform.
#[derive(Debug)]
pub struct Redact {
    rules: Vec<Rule>,
    names: Vec<String>,
    path_rules: Vec<(u16, FieldPath)>,
    scopes: Vec<Scope>,
    ctx: TransformContext,
    /// Per-rule counts for the current batch.
    counts: Vec<u64>,
    failed: Vec<u64>,
    found: Vec<Found>,
    scratch: Vec<Found>,
    /// (string token, finding inside it) of the current line.
    tokens: Vec<(Span, Found)>,
    /// Small added values (enrichment constants) already found clean.
    clean: Vec<Bytes>,
    /// The block redacted values are carved from ([`Redact::carve`]).
    arena: BytesMut,
    /// Scratch for a value being rewritten.
    buf: Vec<u8>,
}

/// Size of the blocks redacted values are carved from: one allocation per
/// block instead of two per redacted value. A block lives until the last
/// event holding a value from it is dropped (sinks drop written batches).
const ARENA_BLOCK: usize = 64 << 10;

/// Most small values remembered as clean.
const CLEAN_CACHE: usize = 32;

impl Redact {
    /// The names of the rules, in order (the `rule` label of their counters).
    pub fn rule_names(&self) -> &[String] {
        &self.names
    }

    /// Writes what rule `r` makes of `original` (decoded text) into `out`.
    /// `json_raw` means `out` is the inside of a JSON string being copied
    /// without decoding, so a mask must be written escaped.
    fn apply(&self, r: u16, original: &[u8], json_raw: bool, out: &mut Vec<u8>) {
        match &self.rules[r as usize].act {
            Act::Mask { text, escaped, .. } => {
                out.extend_from_slice(if json_raw { escaped } else { text })
            }
            Act::Drop => out.extend_from_slice(b"[REDACTED]"),
            Act::Partial(keep) => {
                let text = String::from_utf8_lossy(original);
                let chars = text.chars().count();
                let kept = (*keep).min(chars / 2);
                out.extend(std::iter::repeat_n(b'*', chars - kept));
                let tail: String = text.chars().skip(chars - kept).collect();
                if json_raw && tail.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
                    out.extend(std::iter::repeat_n(b'*', tail.chars().count()));
                } else {
                    out.extend_from_slice(tail.as_bytes());
                }
            }
            Act::Hash(mac) => {
                let mut mac = mac.clone();
                mac.update(original);
                let digest = mac.finalize().into_bytes();
                out.extend_from_slice(b"hmac:");
                for b in &digest[..8] {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
            }
        }
    }

    /// `text` with every finding rewritten (findings relative to `text`).
    fn rewrite(&mut self, text: &[u8], found: &[Found], json_raw: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 16);
        self.rewrite_into(text, found, json_raw, &mut out);
        out
    }

    /// Appends `text` with every finding rewritten to `out`.
    fn rewrite_into(&mut self, text: &[u8], found: &[Found], json_raw: bool, out: &mut Vec<u8>) {
        let mut pos = 0;
        for f in found {
            let (s, e) = (f.start as usize, (f.end as usize).min(text.len()));
            if s < pos || s >= e {
                continue;
            }
            out.extend_from_slice(&text[pos..s]);
            self.apply(f.rule, &text[s..e], json_raw, out);
            self.counts[f.rule as usize] += 1;
            if matches!(self.rules[f.rule as usize].act, Act::Drop) {
                // A match in text cannot drop a field: masked instead.
                self.failed[f.rule as usize] += 1;
            }
            pos = e;
        }
        out.extend_from_slice(&text[pos..]);
    }

    /// `bytes` as a `Bytes` carved from the current arena block (a new block
    /// when it is full): redacting a value allocates nothing most of the time.
    fn carve(&mut self, bytes: &[u8]) -> Bytes {
        if self.arena.capacity() - self.arena.len() < bytes.len() {
            self.arena = BytesMut::with_capacity(ARENA_BLOCK.max(bytes.len()));
        }
        self.arena.extend_from_slice(bytes);
        self.arena.split().freeze()
    }

    /// A whole value (decoded text) as a JSON string rewritten by rule `r`.
    fn whole_json(&self, r: u16, text: &[u8]) -> Bytes {
        if let Act::Mask { json, .. } = &self.rules[r as usize].act {
            return json.clone();
        }
        let mut inner = Vec::new();
        self.apply(r, text, false, &mut inner);
        let mut out = Vec::with_capacity(inner.len() + 2);
        json::write_str(&mut out, &inner);
        Bytes::from(out)
    }

    /// Redacts inside a JSON value held by the transform chain (an added or
    /// replaced value): string values are decoded, scanned and re-encoded;
    /// members named like secrets lose their values. `None` when unchanged.
    fn redact_json(&mut self, engine: usize, raw: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut changed = false;
        let mut i = 0;
        let password = self.scopes[engine].engine_has_password();
        while let Some(o) = memchr::memchr(b'"', &raw[i..]) {
            let s = i + o;
            let e = string_end(raw, s);
            let after = skip_ws(raw, e);
            if raw.get(after) == Some(&b':') {
                // A key: a secret's name takes its whole value.
                let v = skip_ws(raw, after + 1);
                let name = json::decode_str(&raw[s..e]);
                if password.is_some() && name.as_deref().is_some_and(detect::secret_name) {
                    let ve = value_end(raw, v);
                    if ve > v && &raw[v..ve] != b"null" {
                        let rule = password.unwrap_or(0);
                        let text = json::decode_str(&raw[v..ve])
                            .map(|c| c.into_owned())
                            .unwrap_or_else(|| raw[v..ve].to_vec());
                        out.extend_from_slice(&raw[pos..v]);
                        out.extend_from_slice(&self.whole_json(rule, &text));
                        self.counts[rule as usize] += 1;
                        pos = ve;
                        changed = true;
                        i = ve;
                        continue;
                    }
                }
                i = v;
                continue;
            }
            i = e;
            let Some(text) = json::decode_str(&raw[s..e]) else {
                continue;
            };
            let text = text.into_owned();
            let mut found = std::mem::take(&mut self.scratch);
            found.clear();
            self.scopes[engine].engine.scan(&text, &mut found);
            if !found.is_empty() {
                let redacted = self.rewrite(&text, &found, false);
                out.extend_from_slice(&raw[pos..s]);
                json::write_str(&mut out, &redacted);
                pos = e;
                changed = true;
            }
            self.scratch = found;
        }
        if !changed {
            return None;
        }
        out.extend_from_slice(&raw[pos..]);
        Some(out)
    }

    fn is_clean(&self, b: &Bytes) -> bool {
        self.clean
            .iter()
            .any(|c| c.len() == b.len() && c.as_ref() == b.as_ref())
    }

    fn remember_clean(&mut self, b: &Bytes) {
        if b.len() <= 256 && self.clean.len() < CLEAN_CACHE {
            self.clean.push(b.clone());
        }
    }

    /// Detectors over the whole event.
    fn scan_event(&mut self, s: usize, event: &mut Event, arena: &[Member]) {
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        self.scopes[s].engine.scan(&event.line, &mut found);
        // Values earlier transforms added first: the edits made below hold
        // redacted text that must not be scanned again.
        if !event.edits.is_empty() {
            self.edit_values(s, event, &found);
        }
        match event.root {
            Root::Json { members, .. } => {
                let members = arena.get(members.range()).unwrap_or(&[]);
                self.json_line(s, event, members, &found);
            }
            Root::Text => self.text_line(s, event, &found),
        }
        self.found = found;
    }

    /// Rewrites the string tokens of a JSON line that hold findings.
    fn json_line(&mut self, s: usize, event: &mut Event, members: &[Member], found: &[Found]) {
        let escapes = memchr::memchr(b'\\', &event.line).is_some();
        if found.is_empty() && !escapes {
            return;
        }
        let line = event.line.clone();
        // (token, finding relative to the token's inside), in line order.
        let mut tokens = std::mem::take(&mut self.tokens);
        tokens.clear();
        let mut whole: Vec<(Span, Option<Member>, u16)> = Vec::new();
        for f in found {
            if let Some((ks, _)) = f.key
                && let Place::Key { key, value, member } = locate(&line, members, ks as usize)
            {
                let name = json::decode_str(&line[key.range()]);
                if name.as_deref().is_some_and(detect::secret_name) {
                    whole.push((value, member, f.rule));
                    continue;
                }
            }
            if let Place::Value { token, member } = locate(&line, members, f.start as usize)
                && f.end < token.end
                && f.start > token.start
            {
                if memchr::memchr(b'\\', &line[token.range()]).is_some() {
                    // A value found whole with its escapes (`"…_key": "ab\/cd…"`,
                    // which the decoded text alone no longer shows as a pair).
                    if f.start == token.start + 1 && f.end + 1 == token.end {
                        whole.push((token, member, f.rule));
                    }
                    continue;
                }
                let rel = Found {
                    start: f.start - token.start - 1,
                    end: f.end - token.start - 1,
                    ..*f
                };
                tokens.push((token, rel));
            }
        }
        let covered = |ev: &Event, span: Span| {
            ev.edits
                .iter()
                .any(|e| !e.at.is_empty() && e.at.start <= span.start && span.end <= e.at.end)
        };
        for (value, member, rule) in whole {
            if covered(event, value) || line[value.range()] == *b"null" {
                continue;
            }
            let text = json::decode_str(&line[value.range()])
                .map(|c| c.into_owned())
                .unwrap_or_else(|| line[value.range()].to_vec());
            self.counts[rule as usize] += 1;
            if matches!(self.rules[rule as usize].act, Act::Drop) {
                if let Some(m) = member {
                    let name = json::decode_str(&line[m.key.range()]).map(|c| c.into_owned());
                    if let Some(name) = name.and_then(|n| String::from_utf8(n).ok()) {
                        EventMut { event, members }.remove(&FieldPath::top(&name));
                        continue;
                    }
                }
                self.failed[rule as usize] += 1;
            }
            let replacement = self.whole_json(rule, &text);
            event.push_edit(Edit {
                at: value,
                op: EditOp::Replace(replacement),
            });
        }
        let mut rel = std::mem::take(&mut self.scratch);
        let mut k = 0;
        while k < tokens.len() {
            let token = tokens[k].0;
            rel.clear();
            while k < tokens.len() && tokens[k].0 == token {
                rel.push(tokens[k].1);
                k += 1;
            }
            if covered(event, token) {
                continue;
            }
            let inner = &line[token.start as usize + 1..token.end as usize - 1];
            let drop = rel
                .iter()
                .any(|f| matches!(self.rules[f.rule as usize].act, Act::Drop));
            if drop
                && let Place::Value {
                    member: Some(m), ..
                } = locate(&line, members, token.start as usize + 1)
            {
                let name = json::decode_str(&line[m.key.range()]).map(|c| c.into_owned());
                if let Some(name) = name.and_then(|n| String::from_utf8(n).ok()) {
                    for f in &rel {
                        self.counts[f.rule as usize] += 1;
                    }
                    EventMut { event, members }.remove(&FieldPath::top(&name));
                    continue;
                }
            }
            let mut bytes = std::mem::take(&mut self.buf);
            bytes.clear();
            bytes.push(b'"');
            self.rewrite_into(inner, &rel, true, &mut bytes);
            bytes.push(b'"');
            let value = self.carve(&bytes);
            self.buf = bytes;
            event.push_edit(Edit {
                at: token,
                op: EditOp::Replace(value),
            });
        }
        self.tokens = tokens;
        rel.clear();
        self.scratch = rel;
        if escapes {
            self.escaped_strings(s, event, members, &line);
        }
    }

    /// Strings with escapes are decoded and scanned as text (an escape must
    /// not hide an address: `a\u0040b.jp`, a key block with `\n`s).
    fn escaped_strings(&mut self, s: usize, event: &mut Event, members: &[Member], line: &Bytes) {
        let mut from = 0;
        while let Some(o) = memchr::memchr(b'\\', &line[from..]) {
            let pos = from + o;
            let Place::Value { token, .. } = locate(line, members, pos) else {
                from = pos + 2;
                continue;
            };
            from = token.end as usize;
            if event
                .edits
                .iter()
                .any(|e| !e.at.is_empty() && e.at.start <= token.start && token.end <= e.at.end)
            {
                continue;
            }
            let Some(text) = json::decode_str(&line[token.range()]) else {
                // Cannot be decoded (the scanner accepted it, so this is not
                // expected): replace it whole rather than let it through.
                self.fail_whole(event, token);
                continue;
            };
            let text = text.into_owned();
            let mut found = std::mem::take(&mut self.scratch);
            found.clear();
            self.scopes[s].engine.scan(&text, &mut found);
            if !found.is_empty() {
                let redacted = self.rewrite(&text, &found, false);
                let mut bytes = Vec::with_capacity(redacted.len() + 2);
                json::write_str(&mut bytes, &redacted);
                event.push_edit(Edit {
                    at: token,
                    op: EditOp::Replace(Bytes::from(bytes)),
                });
            }
            self.scratch = found;
        }
    }

    fn fail_whole(&mut self, event: &mut Event, token: Span) {
        let rule = 0;
        if let Some(f) = self.failed.get_mut(rule) {
            *f += 1;
        }
        event.push_edit(Edit {
            at: token,
            op: EditOp::Replace(Bytes::from_static(b"\"[REDACTED]\"")),
        });
    }

    /// Rewrites a text line's message.
    fn text_line(&mut self, s: usize, event: &mut Event, found: &[Found]) {
        let replaced = event
            .edits
            .iter()
            .any(|e| matches!(e.op, EditOp::Replace(_)));
        if !replaced {
            if found.is_empty() {
                return;
            }
            let line = event.line.clone();
            let mut bytes = std::mem::take(&mut self.buf);
            bytes.clear();
            self.rewrite_into(&line, found, false, &mut bytes);
            let value = self.carve(&bytes);
            self.buf = bytes;
            event.push_edit(Edit {
                at: Span::new(0, line.len()),
                op: EditOp::Replace(value),
            });
            return;
        }
        // The message was already rewritten (a parser set it): scan what it is now.
        let message = {
            let ev = EventMut {
                event: &mut *event,
                members: &[],
            };
            ev.get(&FieldPath::top(logagent_core::event::MESSAGE_KEY))
                .map(|v| v.text().into_owned())
        };
        let Some(text) = message else {
            return;
        };
        let mut found = std::mem::take(&mut self.scratch);
        found.clear();
        self.scopes[s].engine.scan(&text, &mut found);
        if !found.is_empty() {
            let redacted = self.rewrite(&text, &found, false);
            let whole = Span::new(0, event.line.len());
            event.push_edit(Edit {
                at: whole,
                op: EditOp::Replace(Bytes::from(redacted)),
            });
        }
        self.scratch = found;
    }

    /// Values the chain added or replaced: scanned too, since templates and
    /// renames can carry data from the line into them.
    fn edit_values(&mut self, s: usize, event: &mut Event, line_found: &[Found]) {
        let whole_line = Span::new(0, event.line.len());
        for i in 0..event.edits.len() {
            let new = match &event.edits[i].op {
                EditOp::Insert { value, .. } => match value {
                    Value::Json(b) => self.owned_json(s, b),
                    Value::LineStr(span) | Value::LineRaw(span) => {
                        let span = *span;
                        let overlapping: Vec<Found> = line_found
                            .iter()
                            .filter(|f| f.start < span.end && span.start < f.end)
                            .map(|f| Found {
                                start: f.start.max(span.start) - span.start,
                                end: f.end.min(span.end) - span.start,
                                ..*f
                            })
                            .collect();
                        if overlapping.is_empty() {
                            continue;
                        }
                        let raw = event.line.slice(span.range());
                        if matches!(value, Value::LineRaw(_)) {
                            Some(match self.redact_json(s, &raw) {
                                Some(b) => Bytes::from(b),
                                None => {
                                    // A match in a raw value outside its strings (a
                                    // number): replace it whole.
                                    let r = overlapping[0].rule;
                                    self.counts[r as usize] += 1;
                                    self.whole_json(r, &raw)
                                }
                            })
                        } else {
                            let redacted = self.rewrite(&raw, &overlapping, false);
                            let mut out = Vec::with_capacity(redacted.len() + 2);
                            json::write_str(&mut out, &redacted);
                            Some(Bytes::from(out))
                        }
                    }
                },
                // A text line's message is handled by `text_line`.
                EditOp::Replace(b)
                    if !(event.root == Root::Text && event.edits[i].at == whole_line) =>
                {
                    if event.root == Root::Text {
                        continue;
                    }
                    self.owned_json(s, b)
                }
                _ => continue,
            };
            let Some(new) = new else {
                continue;
            };
            match &mut event.edits[i].op {
                EditOp::Insert { value, .. } => *value = Value::Json(new),
                EditOp::Replace(b) => *b = new,
                EditOp::Delete => {}
            }
        }
    }

    /// A changed copy of an owned JSON value, `None` when it is clean.
    fn owned_json(&mut self, s: usize, b: &Bytes) -> Option<Bytes> {
        if self.is_clean(b) {
            return None;
        }
        match self.redact_json(s, b) {
            Some(new) => Some(Bytes::from(new)),
            None => {
                self.remember_clean(b);
                None
            }
        }
    }

    /// Detectors over chosen fields.
    fn scan_fields(&mut self, s: usize, ev: &mut EventMut<'_>) {
        let paths = std::mem::take(&mut self.scopes[s].fields);
        for path in &paths {
            let mut drop = false;
            let this = &mut *self;
            ev.update_each(path, |v| {
                if let ValueRef::Json(raw) = &v
                    && !v.is_string()
                {
                    return this
                        .redact_json(s, raw)
                        .map(|b| Value::Json(Bytes::from(b)));
                }
                let text = v.text().into_owned();
                let mut found = std::mem::take(&mut this.scratch);
                found.clear();
                this.scopes[s].engine.scan(&text, &mut found);
                let out = if found.is_empty() {
                    None
                } else {
                    drop |= found
                        .iter()
                        .any(|f| matches!(this.rules[f.rule as usize].act, Act::Drop));
                    Some(Value::string(&this.rewrite(&text, &found, false)))
                };
                this.scratch = found;
                out
            });
            if drop {
                ev.remove(path);
            }
        }
        self.scopes[s].fields = paths;
    }

    fn apply_paths(&mut self, ev: &mut EventMut<'_>) {
        let rules = std::mem::take(&mut self.path_rules);
        for (r, path) in &rules {
            let n = match &self.rules[*r as usize].act {
                Act::Drop => ev.remove(path),
                Act::Mask { json, .. } => ev.replace_existing(path, &Value::Json(json.clone())),
                _ => {
                    let this = &*self;
                    ev.update_each(path, |v| Some(Value::Json(this.whole_json(*r, &v.text()))))
                }
            };
            self.counts[*r as usize] += n as u64;
        }
        self.path_rules = rules;
    }
}

impl Scope {
    fn engine_has_password(&self) -> Option<u16> {
        self.engine.rule_for(Detector::Password)
    }
}

impl Transform for Redact {
    fn process(&mut self, batch: &mut Batch) {
        // Shared, not taken: leaving an empty arena behind would allocate one.
        let members = batch.members.clone();
        for event in batch.events.iter_mut() {
            let mut ev = EventMut {
                event,
                members: &members,
            };
            for s in 0..self.scopes.len() {
                if self.scopes[s].fields.is_empty() {
                    self.scan_event(s, ev.event, &members);
                } else {
                    self.scan_fields(s, &mut ev);
                }
            }
            // Paths last: their masks replace whatever detectors left there.
            if !self.path_rules.is_empty() {
                self.apply_paths(&mut ev);
            }
        }
        let mut failures = 0;
        for (i, rule) in self.rules.iter().enumerate() {
            let (n, f) = (
                std::mem::take(&mut self.counts[i]),
                std::mem::take(&mut self.failed[i]),
            );
            if n > 0
                && let Some(s) = &rule.matches
            {
                s.record(n as f64);
            }
            if f > 0 {
                failures += f;
                if let Some(s) = &rule.failures {
                    s.record(f as f64);
                }
            }
        }
        ComponentMetrics::add(&self.ctx.metrics.errors, failures);
    }
}

impl TransformComponent for RedactConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        RedactConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(RedactConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests;
