//! A received frame into an event: the frame is the event's line, the syslog
//! fields are spans of it (set as a parser sets them, so transforms and sinks
//! see an ordinary parsed event), the priority becomes `facility`, `severity`
//! and our `level`, and the timestamp the event time.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use chrono::{Datelike, NaiveDate};

use super::{OnMalformed, SyslogSourceConfig};
use logagent_codecs::syslog::{
    self, ClockTime, FACILITIES, Malformed, Message, SEVERITIES, SdItem, Stamp,
};
use logagent_core::event::json;
use logagent_core::event::{Event, EventMut, Level, MESSAGE_KEY, Span, Value, static_bytes};
use logagent_core::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON, ERRORS_BY_TYPE};
use logagent_core::telemetry::ratelimit::RateLimiter;
use logagent_core::time::Zone;

/// Field names and the JSON values set from a priority, made once per
/// process so that setting them per event copies nothing.
struct Names {
    facility: [Bytes; 24],
    severity: [Bytes; 8],
    level: [Option<Bytes>; 8],
    keys: Keys,
}

/// The fields an event gets, by name.
struct Keys {
    message: Bytes,
    timestamp: Bytes,
    hostname: Bytes,
    appname: Bytes,
    procid: Bytes,
    msgid: Bytes,
    facility: Bytes,
    severity: Bytes,
    level: Bytes,
    version: Bytes,
    structured_data: Bytes,
    source_ip: Bytes,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let json = |name: &str| static_bytes(format!("\"{name}\"").into_bytes());
        Names {
            facility: FACILITIES.map(json),
            severity: SEVERITIES.map(json),
            level: std::array::from_fn(|sev| {
                Level::from_number(sev as i64).map(|l| json(l.name()))
            }),
            keys: Keys {
                message: Bytes::from_static(MESSAGE_KEY.as_bytes()),
                timestamp: Bytes::from_static(b"timestamp"),
                hostname: Bytes::from_static(b"hostname"),
                appname: Bytes::from_static(b"appname"),
                procid: Bytes::from_static(b"procid"),
                msgid: Bytes::from_static(b"msgid"),
                facility: Bytes::from_static(b"facility"),
                severity: Bytes::from_static(b"severity"),
                level: Bytes::from_static(b"level"),
                version: Bytes::from_static(b"version"),
                structured_data: Bytes::from_static(b"structured_data"),
                source_ip: Bytes::from_static(b"source_ip"),
            },
        }
    })
}

/// Counters the decoding side of every connection shares.
#[derive(Debug, Clone)]
pub struct Counters {
    /// The component's counters.
    pub metrics: Arc<ComponentMetrics>,
    malformed: Arc<AtomicU64>,
    malformed_dropped: Arc<AtomicU64>,
    bad_timestamp: Arc<AtomicU64>,
    /// One warning per interval for bad frames, whichever thread meets them.
    pub log: Arc<RateLimiter>,
}

impl Counters {
    /// The counters of `metrics`.
    pub fn new(metrics: &Arc<ComponentMetrics>) -> Counters {
        let l = &metrics.labeled;
        Counters {
            metrics: metrics.clone(),
            malformed: l.counter(ERRORS_BY_TYPE, &[("error_type", "malformed_frame")]),
            malformed_dropped: l.counter(DISCARDED_BY_REASON, &[("reason", "malformed")]),
            bad_timestamp: l.counter(ERRORS_BY_TYPE, &[("error_type", "bad_timestamp")]),
            log: Arc::new(RateLimiter::default()),
        }
    }

    /// Counts an error of `error_type` (plain and labeled counter).
    pub fn error(&self, error_type: &'static str) {
        ComponentMetrics::add(&self.metrics.errors, 1);
        ComponentMetrics::add(
            &self
                .metrics
                .labeled
                .counter(ERRORS_BY_TYPE, &[("error_type", error_type)]),
            1,
        );
    }

    /// Counts `n` events discarded for `reason`.
    pub fn discard(&self, reason: &'static str, n: u64) {
        ComponentMetrics::add(&self.metrics.discarded_events, n);
        ComponentMetrics::add(
            &self
                .metrics
                .labeled
                .counter(DISCARDED_BY_REASON, &[("reason", reason)]),
            n,
        );
    }
}

/// Turns frames into events (one per thread; cheap to clone).
#[derive(Clone)]
pub struct Decoder {
    lenient: bool,
    on_malformed: OnMalformed,
    source_ip: bool,
    zone: Zone,
    id: Arc<str>,
    counters: Counters,
}

impl Decoder {
    /// A decoder for the source `id` configured by `config`.
    pub fn new(config: &SyslogSourceConfig, id: Arc<str>, counters: Counters) -> Decoder {
        Decoder {
            lenient: config.lenient,
            on_malformed: config.on_malformed,
            source_ip: config.source_ip,
            zone: config.zone(),
            id,
            counters,
        }
    }

    /// The JSON string of a peer's IP, made once per connection (or per
    /// change of sender, for UDP).
    pub fn peer_value(&self, peer: std::net::IpAddr) -> Option<Bytes> {
        self.source_ip.then(|| {
            let mut out = Vec::with_capacity(48);
            json::write_str(&mut out, peer.to_string().as_bytes());
            Bytes::from(out)
        })
    }

    /// The event for `frame`, or `None` when it is malformed and dropped
    /// (counted). `now_ns` supplies the year a BSD timestamp leaves out.
    pub fn decode(
        &self,
        frame: Bytes,
        truncated: bool,
        peer: Option<&Bytes>,
        offset: u64,
        now_ns: i64,
    ) -> Option<Event> {
        let mut event = Event::new(frame, offset);
        event.meta.truncated = truncated;
        let line = event.line.clone();
        match syslog::parse(&line, self.lenient) {
            Ok(m) => self.fill(&mut event, &line, &m, peer, now_ns),
            Err(error) => {
                ComponentMetrics::add(&self.counters.metrics.errors, 1);
                ComponentMetrics::add(&self.counters.malformed, 1);
                let drop = self.on_malformed == OnMalformed::Drop;
                if drop {
                    ComponentMetrics::add(&self.counters.metrics.discarded_events, 1);
                    ComponentMetrics::add(&self.counters.malformed_dropped, 1);
                }
                self.warn_malformed(error, &line, drop);
                if drop {
                    return None;
                }
                if let Some(ip) = peer {
                    let keys = &names().keys;
                    EventMut {
                        event: &mut event,
                        members: &[],
                    }
                    .append_field(&keys.source_ip, Value::Json(ip.clone()));
                }
            }
        }
        Some(event)
    }

    fn warn_malformed(&self, error: Malformed, line: &[u8], dropped: bool) {
        if let Some(suppressed) = self.counters.log.check() {
            let start = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
            tracing::warn!(
                component = %self.id,
                %error,
                frame_start = %start,
                dropped,
                suppressed,
                "syslog frame is malformed"
            );
        }
    }

    fn fill(
        &self,
        event: &mut Event,
        line: &Bytes,
        m: &Message,
        peer: Option<&Bytes>,
        now_ns: i64,
    ) {
        let n = names();
        let k = &n.keys;
        let mut ev = EventMut {
            event,
            members: &[],
        };
        let str_field = |ev: &mut EventMut<'_>, key: &Bytes, span: Option<Span>| {
            if let Some(s) = span {
                ev.append_field(key, Value::LineStr(s));
            }
        };
        str_field(&mut ev, &k.timestamp, m.timestamp);
        str_field(&mut ev, &k.hostname, m.hostname);
        str_field(&mut ev, &k.appname, m.appname);
        str_field(&mut ev, &k.procid, m.procid);
        str_field(&mut ev, &k.msgid, m.msgid);
        if let Some(pri) = m.pri {
            let (fac, sev) = (usize::from(pri / 8), usize::from(pri % 8));
            ev.append_field(&k.facility, Value::Json(n.facility[fac].clone()));
            ev.append_field(&k.severity, Value::Json(n.severity[sev].clone()));
            if let Some(level) = &n.level[sev] {
                ev.append_field(&k.level, Value::Json(level.clone()));
            }
        }
        if let Some(v) = m.version {
            // One or two digits: already a JSON number.
            ev.append_field(&k.version, Value::LineRaw(v));
        }
        if let Some(sd) = m.structured_data {
            let value = structured_data(line, m).unwrap_or(Value::LineStr(sd));
            ev.append_field(&k.structured_data, value);
        }
        if let Some(ip) = peer {
            ev.append_field(&k.source_ip, Value::Json(ip.clone()));
        }
        ev.set_key(&k.message, Value::LineStr(m.message));
        match m.time {
            Some(Stamp::Instant(ns)) => ev.event.meta.time = Some(ns),
            Some(Stamp::Clock(c)) => match clock_ns(c, &self.zone, now_ns) {
                Some(ns) => ev.event.meta.time = Some(ns),
                None => self.bad_timestamp(),
            },
            None if m.timestamp.is_some() => self.bad_timestamp(),
            None => {}
        }
    }

    fn bad_timestamp(&self) {
        ComponentMetrics::add(&self.counters.metrics.errors, 1);
        ComponentMetrics::add(&self.counters.bad_timestamp, 1);
    }
}

/// Structured data as a JSON object of objects: `{"id":{"name":"value"}}`;
/// `None` when it is not made of `[id name="value"]` elements (then the raw
/// text is kept).
fn structured_data(line: &[u8], m: &Message) -> Option<Value> {
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    let mut elements = 0usize;
    let mut params = 0usize;
    let ok = m.sd_params(line, |item| match item {
        SdItem::Element(id) => {
            if elements > 0 {
                out.extend_from_slice(b"},");
            }
            elements += 1;
            params = 0;
            json::write_str(&mut out, id);
            out.extend_from_slice(b":{");
        }
        SdItem::Param(name, value) => {
            if params > 0 {
                out.push(b',');
            }
            params += 1;
            json::write_str(&mut out, name);
            out.push(b':');
            json::write_str(&mut out, value);
        }
    });
    if !ok {
        return None;
    }
    if elements > 0 {
        out.push(b'}');
    }
    out.push(b'}');
    Some(Value::Json(Bytes::from(out)))
}

/// The instant of a clock-face time in `zone`; without a year, the year that
/// puts it closest to `now_ns` (a December message read in January is last
/// year's).
pub fn clock_ns(c: ClockTime, zone: &Zone, now_ns: i64) -> Option<i64> {
    let at = |year: i32| {
        let naive = NaiveDate::from_ymd_opt(year, c.month.into(), c.day.into())?.and_hms_nano_opt(
            c.hour.into(),
            c.minute.into(),
            u32::from(c.second.min(59)),
            c.nanos,
        )?;
        zone.resolve_ns(naive)
    };
    match c.year {
        Some(y) => at(y),
        None => {
            let now_year = chrono::DateTime::from_timestamp_nanos(now_ns).year();
            (now_year - 1..=now_year + 1)
                .filter_map(at)
                .min_by_key(|t| t.abs_diff(now_ns))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::event::encode;

    fn decoder(extra: &str) -> (Decoder, Arc<ComponentMetrics>) {
        let config: SyslogSourceConfig =
            toml::from_str(&format!("timezone = \"UTC\"\n{extra}")).unwrap();
        let metrics = Arc::new(ComponentMetrics::default());
        (
            Decoder::new(&config, "syslog".into(), Counters::new(&metrics)),
            metrics,
        )
    }

    const NOW: i64 = 1_796_677_200_000_000_000; // 2026-12-07T21:00:00Z

    fn json_of(d: &Decoder, frame: &[u8]) -> Option<(serde_json::Value, Event)> {
        let peer = d.peer_value("10.0.0.9".parse().unwrap());
        let ev = d.decode(Bytes::copy_from_slice(frame), false, peer.as_ref(), 0, NOW)?;
        let mut out = Vec::new();
        encode::write_json(&ev, &mut out);
        Some((serde_json::from_slice(&out).unwrap(), ev))
    }

    #[test]
    fn rfc5424_becomes_fields_with_structured_data_as_objects() {
        let (d, metrics) = decoder("");
        let (v, ev) = json_of(
            &d,
            br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][b@1 x="y\"z"] An application event"#,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "message": "An application event",
                "timestamp": "2003-10-11T22:14:15.003Z",
                "hostname": "mymachine.example.com",
                "appname": "evntslog",
                "msgid": "ID47",
                "facility": "local4",
                "severity": "notice",
                "level": "notice",
                "version": 1,
                "structured_data": {"exampleSDID@32473": {"iut": "3", "eventSource": "Application"}, "b@1": {"x": "y\"z"}},
                "source_ip": "10.0.0.9"
            })
        );
        assert_eq!(ev.meta.time, Some(1_065_910_455_003_000_000));
        assert_eq!(metrics.snapshot().errors, 0);
    }

    #[test]
    fn bsd_without_year_gets_the_nearest_year() {
        let (d, _) = decoder("source_ip = false");
        let (v, ev) = json_of(&d, b"<11>Dec  7 20:59:00 web-1 nginx[42]: upstream down").unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "message": "upstream down",
                "timestamp": "Dec  7 20:59:00",
                "hostname": "web-1",
                "appname": "nginx",
                "procid": "42",
                "facility": "user",
                "severity": "err",
                "level": "error",
            })
        );
        assert_eq!(ev.meta.time, Some(NOW - 60_000_000_000));
        // Read on 7 December, a "Jan 2" frame is the nearest Jan 2: 26 days
        // ahead (next year) rather than 339 days behind.
        let (_, ev) = json_of(&d, b"<11>Jan  2 00:00:00 h a: m").unwrap();
        assert_eq!(ev.meta.time, Some(1_798_848_000_000_000_000));
    }

    #[test]
    fn malformed_frames_are_kept_or_dropped_and_counted() {
        let (d, metrics) = decoder("");
        let (v, _) = json_of(&d, b"no header here").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message": "no header here", "source_ip": "10.0.0.9"})
        );
        assert_eq!(metrics.snapshot().errors, 1);
        assert_eq!(
            metrics
                .labeled
                .get(ERRORS_BY_TYPE, &[("error_type", "malformed_frame")]),
            Some(1)
        );
        let (d, metrics) = decoder("on_malformed = \"drop\"");
        assert!(json_of(&d, b"<999>x").is_none());
        assert!(json_of(&d, b"<13>ok").is_some());
        let s = metrics.snapshot();
        assert_eq!((s.errors, s.discarded_events), (1, 1));
        assert_eq!(
            metrics
                .labeled
                .get(DISCARDED_BY_REASON, &[("reason", "malformed")]),
            Some(1)
        );
    }

    #[test]
    fn an_impossible_date_is_a_counted_bad_timestamp() {
        let (d, metrics) = decoder("");
        let (v, ev) = json_of(&d, b"<13>Feb 30 10:00:00 h a: m").unwrap();
        assert_eq!(v["timestamp"], "Feb 30 10:00:00");
        assert_eq!(ev.meta.time, None);
        assert_eq!(
            metrics
                .labeled
                .get(ERRORS_BY_TYPE, &[("error_type", "bad_timestamp")]),
            Some(1)
        );
    }
}
