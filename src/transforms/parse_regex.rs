//! `type = "parse_regex"`: named captures of a regular expression become fields,
//! written as a pattern or taken from a built-in preset (nginx/apache access and
//! error logs, syslog RFC 3164/5424, a generic `timestamp level message` format).
//! On an unparsed line the captures are ranges of the line (no copy).

use std::collections::BTreeMap;

use bytes::Bytes;
use regex::bytes::{CaptureLocations, Regex};
use serde::Deserialize;

use super::fields::{FieldType, Types, typed_value};
use super::timestamp::{TimeOptions, TimeSpec};
use super::{Transform, TransformContext};
use crate::codecs::access_log;
use crate::config::KeyError;
use crate::event::{Batch, EditOp, EventMut, FieldPath, Level, MESSAGE_KEY, Root, Value};
use crate::telemetry::metrics::ComponentMetrics;
use crate::telemetry::ratelimit::RateLimiter;

/// Built-in patterns for common formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// nginx `combined` (= Apache combined): `remote_addr`, `remote_user`,
    /// `time_local`, `method`, `path`, `protocol`, `status`, `body_bytes_sent`,
    /// `referer`, `user_agent` (extra trailing fields are allowed).
    NginxCombined,
    /// nginx/Apache common log format (no referer/user agent).
    NginxCommon,
    /// Apache `combined` (same fields as nginx's).
    ApacheCombined,
    /// Apache `common`.
    ApacheCommon,
    /// nginx error log: `timestamp`, `level`, `pid`, `tid`, `connection`,
    /// `message`, and `client`, `server`, `request`, `upstream`, `host`, `referrer`.
    NginxError,
    /// Apache 2.2/2.4 error log: `timestamp`, `module`, `level`, `pid`, `tid`,
    /// `client`, `message`.
    ApacheError,
    /// BSD syslog (RFC 3164): `facility`, `severity`, `level`, `timestamp`
    /// (no year: inferred), `hostname`, `appname`, `procid`, `message`.
    SyslogRfc3164,
    /// IETF syslog (RFC 5424): `facility`, `severity`, `level`, `version`,
    /// `timestamp`, `hostname`, `appname`, `procid`, `msgid`,
    /// `structured_data` (raw), `message`; `-` fields are omitted.
    SyslogRfc5424,
    /// `2025-08-20 10:30:45.123 ERROR [thread] message`: `timestamp`, `level`,
    /// `thread`, `message`.
    App,
}

const QUOTED: &str = r#"(?:[^"\\]|\\.)*"#;

impl Preset {
    fn pattern(self) -> String {
        let access_head = format!(
            r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?:(?P<method>[A-Z]+) (?P<path>[^ "]+)(?: (?P<protocol>[^" ]+))?|(?P<request>{QUOTED}))" (?P<status>\d{{3}}) (?P<body_bytes_sent>\d+|-)"#
        );
        match self {
            Preset::NginxCombined | Preset::ApacheCombined => format!(
                r#"{access_head} "(?P<referer>{QUOTED})" "(?P<user_agent>{QUOTED})""#
            ),
            Preset::NginxCommon | Preset::ApacheCommon => access_head,
            Preset::NginxError => format!(
                r#"^(?P<timestamp>\d{{4}}/\d{{2}}/\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}) \[(?P<level>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<connection>\d+) )?(?P<message>.*?)(?:, client: (?P<client>[^,]+))?(?:, server: (?P<server>[^,]*))?(?:, request: "(?P<request>{QUOTED})")?(?:, upstream: "(?P<upstream>{QUOTED})")?(?:, host: "(?P<host>{QUOTED})")?(?:, referrer: "(?P<referrer>{QUOTED})")?$"#
            ),
            Preset::ApacheError => r"^\[(?P<timestamp>[^\]]+)\] \[(?:(?P<module>[^:\]]+):)?(?P<level>[^\]]+)\](?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?(?: \[client (?P<client>[^\]]+)\])? (?P<message>.*)$".to_owned(),
            Preset::SyslogRfc3164 => r"^(?:<(?P<pri>\d{1,3})>)?(?P<timestamp>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (?P<hostname>\S+) (?P<appname>[^\s\[:]+)(?:\[(?P<procid>[^\]]+)\])?: ?(?P<message>.*)$".to_owned(),
            Preset::SyslogRfc5424 => r#"^<(?P<pri>\d{1,3})>(?P<version>\d{1,2}) (?:-|(?P<timestamp>\S+)) (?:-|(?P<hostname>\S+)) (?:-|(?P<appname>\S+)) (?:-|(?P<procid>\S+)) (?:-|(?P<msgid>\S+)) (?:-|(?P<structured_data>(?:\[(?:[^\]\\"]|\\.|"(?:[^"\\]|\\.)*")*\])+))(?: (?:\x{FEFF})?(?P<message>.*))?$"#.to_owned(),
            Preset::App => r"^(?P<timestamp>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+\[?(?P<level>(?i:trace|debug|info|notice|warn|warning|error|err|fatal|critical|crit|alert|emerg|panic))\]?\s+(?:\[(?P<thread>[^\]]+)\]\s+)?(?P<message>.*)$".to_owned(),
        }
    }

    /// The time field and its format.
    fn time(self) -> (&'static str, Option<&'static str>) {
        match self {
            Preset::NginxCombined
            | Preset::NginxCommon
            | Preset::ApacheCombined
            | Preset::ApacheCommon => ("time_local", Some("%d/%b/%Y:%H:%M:%S %z")),
            Preset::NginxError => ("timestamp", Some("%Y/%m/%d %H:%M:%S")),
            Preset::ApacheError => ("timestamp", Some("%a %b %e %H:%M:%S%.f %Y")),
            Preset::SyslogRfc3164 => ("timestamp", Some("%b %e %H:%M:%S")),
            Preset::SyslogRfc5424 | Preset::App => ("timestamp", None),
        }
    }

    fn types(self) -> &'static [(&'static str, FieldType)] {
        match self {
            Preset::NginxCombined
            | Preset::NginxCommon
            | Preset::ApacheCombined
            | Preset::ApacheCommon => &[
                ("status", FieldType::Int),
                ("body_bytes_sent", FieldType::Int),
            ],
            Preset::NginxError => &[
                ("pid", FieldType::Int),
                ("tid", FieldType::Int),
                ("connection", FieldType::Int),
            ],
            Preset::ApacheError => &[("pid", FieldType::Int), ("tid", FieldType::Int)],
            Preset::SyslogRfc5424 => &[("version", FieldType::Int)],
            Preset::SyslogRfc3164 | Preset::App => &[],
        }
    }

    fn syslog(self) -> bool {
        matches!(self, Preset::SyslogRfc3164 | Preset::SyslogRfc5424)
    }
}

/// Options of `parse_regex`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRegexConfig {
    /// The expression (Rust `regex` syntax) with named groups: `(?P<status>\d{3})`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// A built-in pattern instead: `nginx_combined`, `nginx_common`,
    /// `apache_combined`, `apache_common`, `nginx_error`, `apache_error`,
    /// `syslog_rfc3164`, `syslog_rfc5424`, `app`.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// The field to match (default `message`: the whole line of a text event).
    #[serde(default = "default_field")]
    pub field: String,
    /// Types of captures: `{ status = "int" }` (presets type their numbers). A
    /// numeric capture of `-` is left out.
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
    /// Field holding the event time (presets set it).
    #[serde(default)]
    pub time_key: Option<String>,
    /// Its format (presets set it; default detected).
    #[serde(default)]
    pub time_format: Option<String>,
    /// Zone for times without an offset, e.g. nginx error logs (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Drop events that do not match (default false: they pass unchanged, counted).
    #[serde(default)]
    pub drop_unmatched: bool,
}

fn default_field() -> String {
    MESSAGE_KEY.to_owned()
}

impl ParseRegexConfig {
    /// Checks that the pattern compiles and has named groups.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Compiles the pattern.
    pub fn build(&self, ctx: TransformContext) -> Result<ParseRegex, Vec<KeyError>> {
        let pattern = match (&self.pattern, self.preset) {
            (Some(p), None) => p.clone(),
            (None, Some(preset)) => preset.pattern(),
            (Some(_), Some(_)) => {
                return Err(vec![KeyError::new(
                    "pattern",
                    "set either pattern or preset, not both",
                )]);
            }
            (None, None) => {
                return Err(vec![KeyError::new(
                    "pattern",
                    "missing: set pattern (a regex with named groups) or preset",
                )]);
            }
        };
        let regex = Regex::new(&pattern).map_err(|e| {
            vec![KeyError::new(
                "pattern",
                format!("invalid regular expression: {}", one_line(&e.to_string())),
            )]
        })?;
        let syslog = self.preset.is_some_and(Preset::syslog);
        let names: Vec<(usize, Bytes)> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, crate::event::static_bytes(n.as_bytes().to_vec()))))
            .filter(|(_, n)| !(syslog && n.as_ref() == b"pri"))
            .collect();
        if names.is_empty() {
            return Err(vec![KeyError::new(
                "pattern",
                "has no named groups, so it would add no fields (write (?P<name>...))",
            )]);
        }
        let field = super::parse_path("field", &self.field)?;
        let mut types = Types::new(&self.types);
        let mut time = TimeOptions {
            time_key: self.time_key.clone(),
            time_format: self.time_format.clone(),
            timezone: self.timezone.clone(),
        };
        if let Some(preset) = self.preset {
            for (k, t) in preset.types() {
                types = types.with_default(k, *t);
            }
            let (key, format) = preset.time();
            if time.time_key.is_none() {
                time.time_key = Some(key.to_owned());
                if time.time_format.is_none() {
                    time.time_format = format.map(str::to_owned);
                }
            }
        }
        let time = time.build()?;
        let pri = if syslog {
            regex.capture_names().position(|n| n == Some("pri"))
        } else {
            None
        };
        // The access-log presets have a hand-written reader with the same results.
        let fast = match self.preset {
            Some(
                p @ (Preset::NginxCombined
                | Preset::ApacheCombined
                | Preset::NginxCommon
                | Preset::ApacheCommon),
            ) => {
                let index = access_log::FIELDS
                    .map(|name| regex.capture_names().position(|n| n == Some(name)));
                Some((
                    matches!(p, Preset::NginxCombined | Preset::ApacheCombined),
                    index,
                ))
            }
            _ => None,
        };
        Ok(ParseRegex {
            spans: vec![None; regex.captures_len()],
            fast,
            locations: regex.capture_locations(),
            regex,
            names,
            is_message: field.as_str() == MESSAGE_KEY,
            field,
            types,
            time,
            pri,
            syslog_keys: [
                Bytes::from_static(b"facility"),
                Bytes::from_static(b"severity"),
                Bytes::from_static(b"level"),
            ],
            drop_unmatched: self.drop_unmatched,
            ctx,
            log: RateLimiter::default(),
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// The running `parse_regex` transform.
#[derive(Debug)]
pub struct ParseRegex {
    regex: Regex,
    locations: CaptureLocations,
    /// The ranges of the last match, by group index.
    spans: Vec<Option<(usize, usize)>>,
    /// For access-log presets: combined or not, and the group of each field.
    fast: Option<(bool, [Option<usize>; 11])>,
    names: Vec<(usize, Bytes)>,
    field: FieldPath,
    is_message: bool,
    types: Types,
    time: Option<TimeSpec>,
    /// Capture index of a syslog priority, decoded into facility/severity/level.
    pri: Option<usize>,
    syslog_keys: [Bytes; 3],
    drop_unmatched: bool,
    ctx: TransformContext,
    log: RateLimiter,
}

impl ParseRegex {
    /// Matches `text`, leaving capture `i`'s range in `spans[i]`.
    fn captures(&mut self, text: &[u8]) -> bool {
        if let Some((combined, index)) = &self.fast {
            match access_log::read(text, *combined) {
                access_log::Outcome::Match(fields) => {
                    self.spans.iter_mut().for_each(|s| *s = None);
                    for (field, group) in fields.iter().zip(index) {
                        if let Some(g) = group {
                            self.spans[*g] = field.map(|f| (f.start as usize, f.end as usize));
                        }
                    }
                    return true;
                }
                access_log::Outcome::NoMatch => return false,
                access_log::Outcome::Unsure => {}
            }
        }
        if self
            .regex
            .captures_read(&mut self.locations, text)
            .is_none()
        {
            return false;
        }
        for (i, slot) in self.spans.iter_mut().enumerate() {
            *slot = self.locations.get(i);
        }
        true
    }

    fn apply(&mut self, ev: &mut EventMut<'_>, bad_types: &mut u64) -> bool {
        let unchanged_line = ev.event.root == Root::Text
            && self.is_message
            && !ev
                .event
                .edits
                .iter()
                .any(|e| matches!(e.op, EditOp::Replace(_)));
        let (text, in_line) = if unchanged_line {
            // Captures are ranges of the line itself.
            (ev.event.line.clone(), true)
        } else {
            match ev.get(&self.field) {
                Some(v) => (Bytes::from(v.text().into_owned()), false),
                None => return false,
            }
        };
        if !self.captures(&text) {
            return false;
        }
        // On a line nothing touched yet, the (distinct) names are all new fields.
        let fresh = in_line && ev.event.edits.is_empty();
        ev.event.edits.reserve(self.names.len());
        for (i, name) in &self.names {
            let Some((s, e)) = self.spans[*i] else {
                continue;
            };
            let ty = self.types.of(name);
            if ty != FieldType::String && ty != FieldType::Bool && &text[s..e] == b"-" {
                continue;
            }
            let (value, bad) = typed_value(&text, in_line, crate::event::Span::new(s, e), ty);
            *bad_types += u64::from(bad);
            if fresh && name.as_ref() != MESSAGE_KEY.as_bytes() {
                ev.append_field(name, value);
            } else {
                ev.set_key(name, value);
            }
        }
        if let Some((s, e)) = self.pri.and_then(|i| self.spans[i]) {
            let pri = std::str::from_utf8(&text[s..e])
                .ok()
                .and_then(|p| p.parse::<usize>().ok())
                .filter(|p| *p < 192);
            if let Some(pri) = pri {
                let [facility, severity, level] = &self.syslog_keys;
                ev.set_key(facility, Value::Json(json_str(FACILITIES[pri / 8])));
                ev.set_key(severity, Value::Json(json_str(SEVERITIES[pri % 8])));
                if let Some(l) = Level::from_number((pri % 8) as i64) {
                    ev.set_key(level, Value::Json(json_str(l.name())));
                }
            }
        }
        true
    }
}

/// A JSON string of a static name; shared, so setting it per event copies nothing.
fn json_str(name: &'static str) -> Bytes {
    static CACHE: std::sync::OnceLock<Vec<(&'static str, Bytes)>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        FACILITIES
            .iter()
            .chain(SEVERITIES.iter())
            .copied()
            .chain(
                [
                    Level::Trace,
                    Level::Debug,
                    Level::Info,
                    Level::Notice,
                    Level::Warn,
                    Level::Error,
                    Level::Critical,
                    Level::Alert,
                    Level::Emergency,
                ]
                .map(Level::name),
            )
            .map(|n| (n, Bytes::from(format!("\"{n}\""))))
            .collect()
    });
    cache
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| Bytes::from(format!("\"{name}\"")))
}

impl Transform for ParseRegex {
    fn process(&mut self, batch: &mut Batch) {
        let now = self.ctx.clock.now_ns();
        let (mut unmatched, mut bad_types, mut bad_time) = (0u64, 0u64, 0u64);
        let mut keep = Vec::with_capacity(if self.drop_unmatched {
            batch.events.len()
        } else {
            0
        });
        let members = std::mem::take(&mut batch.members);
        for event in batch.events.iter_mut() {
            let mut ev = EventMut {
                event,
                members: &members,
            };
            let matched = self.apply(&mut ev, &mut bad_types);
            if matched {
                if let Some(spec) = &self.time {
                    bad_time += u64::from(!spec.apply(&mut ev, now));
                }
            } else {
                unmatched += 1;
                if let Some(suppressed) = self.log.check() {
                    tracing::warn!(component = %self.ctx.id, offset = ev.event.meta.offset, suppressed,
                        "line does not match the pattern; {}", if self.drop_unmatched { "dropped" } else { "passed on unchanged" });
                }
            }
            if self.drop_unmatched {
                keep.push(matched);
            }
        }
        batch.members = members;
        if self.drop_unmatched {
            let mut flags = keep.into_iter();
            batch.events.retain(|_| flags.next().unwrap_or(true));
        }
        ComponentMetrics::add(&self.ctx.metrics.errors, unmatched + bad_types + bad_time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AckToken, Event, Stream, encode};
    use std::sync::Arc;

    #[test]
    fn captures_become_fields_without_copying() {
        let cfg: ParseRegexConfig = toml::from_str(
            r#"pattern = '^(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d{3})'
drop_unmatched = true"#,
        )
        .unwrap();
        let mut t = cfg.build(TransformContext::detached("r")).unwrap();
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), 2);
        b.events.push(Event::new(
            Bytes::from_static(br#"10.0.0.1 - - [20/Aug/2025:10:30:45 +0000] "GET /api/cases HTTP/1.1" 200 512 "-" "curl""#),
            0,
        ));
        b.events.push(Event::new(Bytes::from_static(b"garbage"), 1));
        t.process(&mut b);
        assert_eq!(b.events.len(), 1);
        let mut out = Vec::new();
        encode::write_json(&b.events[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ip"], "10.0.0.1");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/api/cases");
        assert_eq!(v["status"], "200");
        assert!(v["message"].as_str().unwrap().starts_with("10.0.0.1"));
    }

    proptest::proptest! {
        /// The hand-written access-log reader agrees with the preset's regex.
        #[test]
        fn access_log_reader_matches_the_regex(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "10.0.0.1", "-", "alice", " ", "[", "]", "\"", "\\", "GET", "/a b", "HTTP/1.1",
                    "200", "2000", "12", "x", "20/Aug/2025:10:30:45 +0000", "\u{e9}", "\t", "\" \"",
                ]),
                0..24,
            ),
            template in proptest::bool::ANY,
            combined in proptest::bool::ANY,
        ) {
            let line = if template {
                format!("{} - {} [{}] \"{}\" {} {} \"{}\" \"{}\"{}",
                    parts.first().copied().unwrap_or("1.2.3.4"), parts.get(1).copied().unwrap_or("-"),
                    parts.get(2).copied().unwrap_or("t"), parts.get(3..6).map(|p| p.join(" ")).unwrap_or_default(),
                    parts.get(6).copied().unwrap_or("200"), parts.get(7).copied().unwrap_or("1"),
                    parts.get(8).copied().unwrap_or("-"), parts.get(9).copied().unwrap_or("ua"),
                    parts.get(10..).map(|p| p.concat()).unwrap_or_default())
            } else {
                parts.concat()
            };
            let preset = if combined { Preset::NginxCombined } else { Preset::NginxCommon };
            let re = Regex::new(&preset.pattern()).unwrap();
            let mut locs = re.capture_locations();
            let by_regex = re.captures_read(&mut locs, line.as_bytes()).map(|_| {
                access_log::FIELDS.map(|name| {
                    re.capture_names().position(|n| n == Some(name)).and_then(|i| locs.get(i))
                })
            });
            match access_log::read(line.as_bytes(), combined) {
                access_log::Outcome::Match(f) => {
                    let f = f.map(|s| s.map(|s| (s.start as usize, s.end as usize)));
                    proptest::prop_assert_eq!(Some(f), by_regex, "{}", line);
                }
                access_log::Outcome::NoMatch => proptest::prop_assert_eq!(None, by_regex, "{}", line),
                access_log::Outcome::Unsure => {}
            }
        }
    }

    #[test]
    fn reports_bad_patterns() {
        let bad: ParseRegexConfig = toml::from_str("pattern = '(?P<a>'").unwrap();
        assert_eq!(bad.check()[0].key, "pattern");
        let unnamed: ParseRegexConfig = toml::from_str("pattern = '(a)'").unwrap();
        assert!(unnamed.check()[0].message.contains("named groups"));
        let neither: ParseRegexConfig = toml::from_str("").unwrap();
        assert_eq!(neither.check()[0].key, "pattern");
        let both: ParseRegexConfig =
            toml::from_str("pattern = '(?P<a>x)'\npreset = 'app'").unwrap();
        assert!(both.check()[0].message.contains("not both"));
        let unknown = toml::from_str::<ParseRegexConfig>("preset = 'iis'");
        assert!(unknown.is_err());
    }
}
