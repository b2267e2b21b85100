//! `type = "parse_regex"`: named captures of a regular expression become fields,
//! written as a pattern or taken from a built-in preset (nginx/apache access and
//! error logs, syslog RFC 3164/5424, a generic `timestamp level message` format).
//! On an unparsed line the captures are ranges of the line (no copy).

use super::text_parser::parse_lines;
use std::collections::BTreeMap;

use bytes::Bytes;
use regex::bytes::{CaptureLocations, Regex};
use serde::Deserialize;

use super::fields::{FieldType, Types, typed_value};
use super::timestamp::{TimeOptions, TimeSpec};
use logagent_codecs::text_scan::Outcome;
use logagent_codecs::{access_log, app_log, syslog};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::json::Span;
use logagent_core::event::path::Segment;
use logagent_core::event::{Batch, EditOp, EventMut, FieldPath, Level, MESSAGE_KEY, Root, Value};
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::telemetry::ratelimit::RateLimiter;

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
            .filter_map(|(i, n)| {
                n.map(|n| (i, logagent_core::event::static_bytes(n.as_bytes().to_vec())))
            })
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
        // Presets with a hand-written reader giving the same results, faster.
        let group = |field: &str| regex.capture_names().position(|n| n == Some(field));
        let reader = self.preset.and_then(|p| match p {
            Preset::NginxCombined
            | Preset::ApacheCombined
            | Preset::NginxCommon
            | Preset::ApacheCommon => Some(Reader::AccessLog {
                combined: matches!(p, Preset::NginxCombined | Preset::ApacheCombined),
                groups: access_log::FIELDS.map(group),
            }),
            Preset::SyslogRfc3164 => Some(Reader::Rfc3164(syslog::FIELDS_3164.map(group))),
            Preset::SyslogRfc5424 => Some(Reader::Rfc5424(syslog::FIELDS_5424.map(group))),
            Preset::App => Some(Reader::App(app_log::FIELDS.map(group))),
            Preset::NginxError | Preset::ApacheError => None,
        });
        // The group whose string capture is the time field, read in place.
        let time_group = time.as_ref().and_then(|spec| {
            let [Segment::Key(key)] = spec.key.segments() else {
                return None;
            };
            names
                .iter()
                .find(|(_, n)| n.as_ref() == key.as_ref())
                .filter(|(_, n)| types.of(n) == FieldType::String)
                .map(|(i, _)| *i)
        });
        let names = names
            .into_iter()
            .map(|(i, name)| {
                let ty = types.of(&name);
                (i, name, ty)
            })
            .collect();
        Ok(ParseRegex {
            spans: vec![None; regex.captures_len()],
            reader,
            locations: regex.capture_locations(),
            regex,
            names,
            is_message: field.as_str() == MESSAGE_KEY,
            field,
            time_group,
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

use syslog::{FACILITIES, SEVERITIES};

/// A hand-written reader for a preset's format: the same spans as the
/// preset's pattern, an order of magnitude faster than the regex's capture
/// engine, or "unsure" (run the regex) on lines it cannot be sure about. Each
/// holds the regex group of each of its fields, in the reader's field order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reader {
    /// nginx/Apache access logs, common or combined.
    AccessLog {
        /// The combined format (referer and user agent).
        combined: bool,
        /// Groups of [`access_log::FIELDS`].
        groups: [Option<usize>; 11],
    },
    /// BSD syslog: groups of [`syslog::FIELDS_3164`].
    Rfc3164([Option<usize>; 6]),
    /// IETF syslog: groups of [`syslog::FIELDS_5424`].
    Rfc5424([Option<usize>; 9]),
    /// `timestamp level [thread] message`: groups of [`app_log::FIELDS`].
    App([Option<usize>; 4]),
}

impl Reader {
    /// Reads `text`: `Some(matched)`, with the field spans put in `spans` (by
    /// group) on a match, or `None` when the regex must decide.
    fn read(&self, text: &[u8], spans: &mut [Option<(usize, usize)>]) -> Option<bool> {
        match self {
            Reader::AccessLog { combined, groups } => match access_log::read(text, *combined) {
                access_log::Outcome::Match(fields) => Some(fill(&fields, groups, spans)),
                access_log::Outcome::NoMatch => Some(false),
                access_log::Outcome::Unsure => None,
            },
            Reader::Rfc3164(groups) => answer(syslog::read_rfc3164(text), groups, spans),
            Reader::Rfc5424(groups) => answer(syslog::read_rfc5424(text), groups, spans),
            Reader::App(groups) => answer(app_log::read(text), groups, spans),
        }
    }
}

/// A reader's outcome as [`Reader::read`] answers it.
fn answer<const N: usize>(
    outcome: Outcome<N>,
    groups: &[Option<usize>; N],
    spans: &mut [Option<(usize, usize)>],
) -> Option<bool> {
    match outcome {
        Outcome::Match(fields) => Some(fill(&fields, groups, spans)),
        Outcome::NoMatch => Some(false),
        Outcome::Unsure => None,
    }
}

/// Puts the fields' spans in their groups' slots; the other groups are unset.
fn fill(
    fields: &[Option<Span>],
    groups: &[Option<usize>],
    spans: &mut [Option<(usize, usize)>],
) -> bool {
    spans.iter_mut().for_each(|s| *s = None);
    for (field, group) in fields.iter().zip(groups) {
        if let Some(g) = group {
            spans[*g] = field.map(|f| (f.start as usize, f.end as usize));
        }
    }
    true
}

/// The running `parse_regex` transform.
#[derive(Debug)]
pub struct ParseRegex {
    regex: Regex,
    locations: CaptureLocations,
    /// The ranges of the last match, by group index.
    spans: Vec<Option<(usize, usize)>>,
    /// The preset's hand-written reader, tried before the regex.
    reader: Option<Reader>,
    /// Group, field name and type of each capture that becomes a field.
    names: Vec<(usize, Bytes, FieldType)>,
    field: FieldPath,
    is_message: bool,
    time: Option<TimeSpec>,
    /// The group whose capture, a string, is the time field itself.
    time_group: Option<usize>,
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
        let read = match &self.reader {
            Some(reader) => reader.read(text, &mut self.spans),
            None => None,
        };
        if let Some(matched) = read {
            return matched;
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

    /// Sets the captures (and the event time) of a matching event.
    fn apply(
        &mut self,
        ev: &mut EventMut<'_>,
        now: i64,
        bad_types: &mut u64,
        bad_time: &mut u64,
    ) -> bool {
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
        ev.event
            .edits
            .reserve(self.names.len() + if self.pri.is_some() { 3 } else { 0 });
        for (i, name, ty) in &self.names {
            let Some((s, e)) = self.spans[*i] else {
                continue;
            };
            let span = logagent_core::event::Span::new(s, e);
            let value = if *ty == FieldType::String && in_line {
                // The common case, without the general conversion.
                Value::LineStr(span)
            } else {
                if !matches!(ty, FieldType::String | FieldType::Bool) && &text[s..e] == b"-" {
                    continue;
                }
                let (value, bad) = typed_value(&text, in_line, span, *ty);
                *bad_types += u64::from(bad);
                value
            };
            if fresh && name.as_ref() != MESSAGE_KEY.as_bytes() {
                ev.append_field(name, value);
            } else {
                ev.set_key(name, value);
            }
        }
        if let Some((s, e)) = self.pri.and_then(|i| self.spans[i]) {
            // `\d{1,3}`: Unicode digits (from the regex) are not a priority.
            let pri = text[s..e]
                .iter()
                .try_fold(0usize, |n, d| {
                    d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
                })
                .filter(|p| *p < 192);
            if let Some(pri) = pri {
                let names = PriNames::get();
                let [facility, severity, level] = &self.syslog_keys;
                let values = [
                    (facility, Some(&names.facility[pri / 8])),
                    (severity, Some(&names.severity[pri % 8])),
                    (level, names.level[pri % 8].as_ref()),
                ];
                for (key, value) in values {
                    let Some(value) = value else { continue };
                    // Syslog presets have no group of these names: on a fresh
                    // line they are new fields too.
                    if fresh {
                        ev.append_field(key, Value::Json(value.clone()));
                    } else {
                        ev.set_key(key, Value::Json(value.clone()));
                    }
                }
            }
        }
        if let Some(spec) = &self.time {
            let ok = match self
                .time_group
                .filter(|_| in_line)
                .and_then(|g| self.spans[g])
            {
                // The time field is a string capture just set from the line:
                // read it there rather than look it up again.
                Some((s, e)) => {
                    let time = spec.parser.parse(&text[s..e], now);
                    ev.event.meta.time = Some(time.unwrap_or(now));
                    time.is_some()
                }
                None => spec.apply(ev, now),
            };
            *bad_time += u64::from(!ok);
        }
        true
    }
}

/// The JSON strings set from a syslog priority, made once and static, so
/// setting them per event copies and counts nothing.
struct PriNames {
    facility: [Bytes; 24],
    severity: [Bytes; 8],
    /// `event::Level` names by severity.
    level: [Option<Bytes>; 8],
}

impl PriNames {
    fn get() -> &'static PriNames {
        static NAMES: std::sync::OnceLock<PriNames> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            // 40 short strings, once per process.
            let json =
                |name: &str| logagent_core::event::static_bytes(format!("\"{name}\"").into_bytes());
            PriNames {
                facility: FACILITIES.map(json),
                severity: SEVERITIES.map(json),
                level: std::array::from_fn(|sev| {
                    Level::from_number(sev as i64).map(|l| json(l.name()))
                }),
            }
        })
    }
}

impl Transform for ParseRegex {
    fn process(&mut self, batch: &mut Batch) {
        let now = self.ctx.clock.now_ns();
        let (mut bad_types, mut bad_time) = (0u64, 0u64);
        let unmatched = parse_lines(batch, self.drop_unmatched, |ev| {
            self.apply(ev, now, &mut bad_types, &mut bad_time)
        });
        unmatched.log(
            &self.ctx,
            &self.log,
            "line does not match the pattern",
            self.drop_unmatched,
        );
        ComponentMetrics::add(
            &self.ctx.metrics.errors,
            unmatched.count + bad_types + bad_time,
        );
    }
}

impl TransformComponent for ParseRegexConfig {
    /// Nothing carries over between batches: runs on every worker.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        ParseRegexConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(ParseRegexConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::{AckToken, Event, Stream, encode};
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

    /// Whether a reader's answer for `line` agrees with the preset's regex:
    /// the same spans for `fields`, or no match for both; unsure is allowed.
    fn agrees<const N: usize>(
        preset: Preset,
        fields: [&str; N],
        outcome: Outcome<N>,
        line: &[u8],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        thread_local! {
            static COMPILED: std::cell::RefCell<Vec<(Preset, Regex)>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        // Compiled once per preset: compiling per case would dominate the test.
        let re = COMPILED.with_borrow_mut(|c| {
            if let Some((_, re)) = c.iter().find(|(p, _)| *p == preset) {
                return re.clone();
            }
            let re = Regex::new(&preset.pattern()).unwrap();
            c.push((preset, re.clone()));
            re
        });
        let mut locs = re.capture_locations();
        let by_regex = re.captures_read(&mut locs, line).map(|_| {
            fields.map(|name| {
                re.capture_names()
                    .position(|n| n == Some(name))
                    .and_then(|i| locs.get(i))
            })
        });
        let shown = String::from_utf8_lossy(line);
        match outcome {
            Outcome::Match(f) => {
                let f = f.map(|s| s.map(|s| (s.start as usize, s.end as usize)));
                proptest::prop_assert_eq!(Some(f), by_regex, "{:?}", shown);
            }
            Outcome::NoMatch => proptest::prop_assert_eq!(None, by_regex, "{:?}", shown),
            Outcome::Unsure => {}
        }
        Ok(())
    }

    /// Message fragments: spaces, tabs, Unicode spaces and digits, a BOM,
    /// brackets, quotes, backslashes and (rarely) a newline.
    const NASTY: [&str; 17] = [
        "", " ", "  ", "\t", "-", "[", "]", ":", "\\", "\"", "\u{feff}", "\u{e9}", "\u{a0}",
        "\u{3000}", "\u{663}", "\u{b}", "\n",
    ];

    /// Mostly one of `good` (so whole lines often match), sometimes one of
    /// `bad` (so a single broken part is tried against the regex).
    fn mostly(
        good: &'static [&'static str],
        bad: &'static [&'static str],
    ) -> proptest::strategy::BoxedStrategy<&'static str> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            8 => proptest::sample::select(good.to_vec()),
            1 => proptest::sample::select(bad.to_vec()),
        ]
        .boxed()
    }

    /// A message: plain words, sometimes with nasty fragments.
    fn message() -> proptest::strategy::BoxedStrategy<String> {
        use proptest::strategy::Strategy;
        proptest::collection::vec(mostly(&["Failed password", " ", "x"], &NASTY), 0..4)
            .prop_map(|p| p.concat())
            .boxed()
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1500))]

        /// The RFC 3164 reader agrees with the preset's regex.
        #[test]
        fn rfc3164_reader_matches_the_regex(
            pri in mostly(&["<34>", "<7>", "<191>", ""], &["<1234>", "<>", "<\u{663}>", "34>", "<3", "<34 >"]),
            ts in mostly(&["Aug 20 10:30:45", "Aug  2 09:05:00"], &["aug 20 10:30:45", "Aug 2 09:05:00",
                "Aug 20 10:30", "\u{c9}ug 20 10:30:45", "Aug \u{663}0 10:30:45", "Aug 20 10:30:45.1", "AUG 20 10:30:45"]),
            s1 in mostly(&[" "], &["  ", "\t", "\u{a0}", "", "\u{b}"]),
            host in mostly(&["web-1", "db.example.jp", "-", "a[1]", "x:y"], &["h\u{e9}", "\u{3000}", "", "h\u{a0}x", "h\u{663}"]),
            s2 in mostly(&[" "], &["  ", "\t", "\u{a0}", "", "\u{3000}"]),
            app in mostly(&["sshd", "CRON", "app", "kernel", "-"], &["my app", "\u{e9}t\u{e9}", "a\tb", "", "a\u{a0}b", "a\"b"]),
            pid in mostly(&["[4242]", "", "[a b]", "[\u{e9}]", "[x\\]", "[[1]"], &["[]", "[1]]", "[", "[1][2]", "[1\n]", "]"]),
            colon in mostly(&[": ", ":"], &[":  ", " :", "", ":\t", "::", ":\u{3000}"]),
            msg in message(),
            noise in proptest::option::weighted(0.1, (proptest::sample::select(NASTY.to_vec()), 0usize..80)),
        ) {
            let mut line = format!("{pri}{ts}{s1}{host}{s2}{app}{pid}{colon}{msg}");
            if let Some((text, at)) = noise {
                let at = line.char_indices().map(|(i, _)| i).chain([line.len()]).nth(at % (line.chars().count() + 1)).unwrap_or(0);
                line.insert_str(at, text);
            }
            agrees(Preset::SyslogRfc3164, syslog::FIELDS_3164, syslog::read_rfc3164(line.as_bytes()), line.as_bytes())?;
        }

        /// The RFC 5424 reader agrees with the preset's regex, structured data
        /// with `]` and `\]` inside included.
        #[test]
        fn rfc5424_reader_matches_the_regex(
            head in mostly(&["<165>1", "<34>1", "<7>12", "<0>1"], &["<7>123", "<1234>1", "<>1", "165>1", "<1>", "<\u{663}>1", "<1>\u{663}", "<1>1\u{663}"]),
            parts in proptest::collection::vec(
                mostly(&["-", "2003-10-11T22:14:15.003Z", "host", "app", "4242", "ID47", "--", "h\u{e9}", "-x", "a[b]\"c"],
                    &["", "a\u{a0}b", "\u{3000}", "x\u{663}"]), 5),
            seps in proptest::collection::vec(mostly(&[" "], &["  ", "\t", "\u{a0}", ""]), 6),
            sd in proptest::collection::vec(mostly(&[
                "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"]", "[a x=\"]\"]", "[a x=\"\\\"\"]",
                "[a \\]]", "[]", "[a x=\"\u{e9}\"]", "[b c=\"d\\\\\"]", "[a [b]", "[a x=\"\"]",
            ], &["[a", "[a \"", "[a\\", "x", "\"", "]", "[a x=\"\\\"]", "[a\n]"]), 0..3),
            nil_sd in proptest::bool::ANY,
            tail in mostly(&[" ", "", " \u{feff}"], &["  ", "\t", "\u{feff}", " \u{feff}\u{feff}", "\u{a0}", "x"]),
            msg in message(),
        ) {
            let mut line = head.to_owned();
            for (p, s) in parts.iter().zip(&seps) {
                line.push_str(s);
                line.push_str(p);
            }
            line.push_str(seps[5]);
            line.push_str(&if nil_sd && sd.len() < 2 { "-".to_owned() } else { sd.concat() });
            if !tail.is_empty() {
                line.push_str(tail);
                line.push_str(&msg);
            }
            agrees(Preset::SyslogRfc5424, syslog::FIELDS_5424, syslog::read_rfc5424(line.as_bytes()), line.as_bytes())?;
        }

        /// The app reader agrees with the preset's regex, level words that
        /// prefix one another (`warn`/`warning`, `err`/`error`) included.
        #[test]
        fn app_reader_matches_the_regex(
            date in mostly(&["2025-08-20"], &["2025-8-20", "2025-08-2\u{663}", "20250820", "2025/08/20"]),
            t in mostly(&[" ", "T"], &["t", "  ", "\u{a0}"]),
            time in mostly(&["10:30:45"], &["10:30", "10:30:4", "10:3\u{663}:45"]),
            frac in mostly(&["", ".123", ",123", ".123456789"], &[".", ".1\u{663}", ",", ".x"]),
            tz in mostly(&["", "Z", "+09:00", "+0900", "-05:30"], &["-05:3", "+09:000", "z", "+9", "+09:", "+\u{663}9:00"]),
            ws in proptest::collection::vec(mostly(&[" ", "  ", "\t"], &["\u{3000}", "\u{a0}", "", " \u{b}", "\u{85}"]), 3),
            lb in mostly(&["", "["], &["[[", "]"]),
            level in mostly(&["INFO", "info", "WARN", "Warning", "ERR", "error", "crit", "CRITICAL", "fatal", "emerg", "Debug", "TRACE", "notice", "alert", "panic"],
                &["warnings", "Errors", "STARTING", "\u{130}NFO", "inf\u{e9}", "", "INFO]", "errorr"]),
            rb in mostly(&["", "]"], &["]]", "["]),
            thread in mostly(&["", "[main]", "[a b] ", "[main]x", "[t]\u{3000}", "[[x]"], &["[]", "[x", "[t]\u{663}"]),
            msg in message(),
        ) {
            let line = format!("{date}{t}{time}{frac}{tz}{}{lb}{level}{rb}{}{thread}{}{msg}", ws[0], ws[1], ws[2]);
            agrees(Preset::App, app_log::FIELDS, app_log::read(line.as_bytes()), line.as_bytes())?;
        }
    }

    #[test]
    fn fixture_like_lines_are_read_not_left_to_the_regex() {
        for line in [
            "<34>Aug 20 10:30:45 web-1 sshd[4242]: Failed password for root",
            "Aug 20 10:30:47 db-2 kernel: Out of memory: Killed process 999 (postgres)",
        ] {
            assert!(matches!(
                syslog::read_rfc3164(line.as_bytes()),
                Outcome::Match(_)
            ));
        }
        for line in [
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry"#,
            "<13>1 - - - - - -",
        ] {
            assert!(matches!(
                syslog::read_rfc5424(line.as_bytes()),
                Outcome::Match(_)
            ));
        }
        let line = "2025-08-20 10:30:45,123 ERROR [main] c.e.CaseService - 処理に失敗しました";
        assert!(matches!(app_log::read(line.as_bytes()), Outcome::Match(_)));
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
