//! Joining continuation lines (stack traces, indented lines) into one event.
//!
//! A group starts with one record and takes continuation records until a
//! record that starts a new event arrives, a limit (`max_lines`, `max_bytes`) is
//! reached, or nothing arrived for `timeout`. A group of one line stays a slice
//! of the read buffer; only a joined group is copied.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use regex::bytes::Regex;

use super::config::{MultilineConfig, MultilineMode};
use super::record::Record;

/// The multiline state of one file.
#[derive(Debug)]
pub struct Multiline {
    mode: MultilineMode,
    pattern: Option<Regex>,
    max_lines: usize,
    max_bytes: usize,
    timeout: Duration,
    group: Option<Group>,
}

#[derive(Debug)]
struct Group {
    first: Record,
    /// The joined bytes once a second line arrives.
    joined: Option<BytesMut>,
    lines: usize,
    end: u64,
    truncated: bool,
    last: Instant,
}

impl Group {
    fn len(&self) -> usize {
        self.joined
            .as_ref()
            .map_or(self.first.bytes.len(), |j| j.len())
    }

    fn into_record(self) -> Record {
        let mut rec = self.first;
        if let Some(joined) = self.joined {
            rec.bytes = joined.freeze();
        }
        rec.end = self.end;
        rec.truncated |= self.truncated;
        rec
    }
}

impl Multiline {
    /// A joiner for `config`, whose pattern was checked with the config.
    pub fn new(config: &MultilineConfig) -> Multiline {
        Multiline {
            mode: config.mode,
            pattern: config.pattern.as_deref().and_then(|p| Regex::new(p).ok()),
            max_lines: config.max_lines.max(2),
            max_bytes: config.max_bytes.as_usize().max(1),
            timeout: config.timeout.0,
            group: None,
        }
    }

    fn continues(&self, line: &[u8]) -> bool {
        match self.mode {
            MultilineMode::Indented => matches!(line.first(), Some(b' ' | b'\t')),
            MultilineMode::StartPattern => !self.pattern.as_ref().is_some_and(|p| p.is_match(line)),
            MultilineMode::ContinuationPattern => {
                self.pattern.as_ref().is_some_and(|p| p.is_match(line))
            }
        }
    }

    /// Adds a record; a group it closes goes to `emit`.
    pub fn push(&mut self, rec: Record, now: Instant, emit: &mut impl FnMut(Record)) {
        let continues = self.group.is_some() && self.continues(&rec.bytes);
        if let Some(g) = &mut self.group {
            let fits = g.lines < self.max_lines && g.len() + 1 + rec.bytes.len() <= self.max_bytes;
            if fits && continues {
                let joined = g.joined.get_or_insert_with(|| {
                    let mut j = BytesMut::with_capacity(g.first.bytes.len() * 4 + rec.bytes.len());
                    j.extend_from_slice(&g.first.bytes);
                    j
                });
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(&rec.bytes);
                g.lines += 1;
                g.end = rec.end;
                g.truncated |= rec.truncated;
                g.last = now;
                return;
            }
        }
        self.flush(emit);
        self.group = Some(Group {
            end: rec.end,
            truncated: rec.truncated,
            first: rec,
            joined: None,
            lines: 1,
            last: now,
        });
    }

    /// Sends the open group, if any.
    pub fn flush(&mut self, emit: &mut impl FnMut(Record)) {
        if let Some(g) = self.group.take() {
            emit(g.into_record());
        }
    }

    /// Sends the open group if it has waited `timeout` for continuation lines.
    pub fn flush_expired(&mut self, now: Instant, emit: &mut impl FnMut(Record)) {
        if self
            .group
            .as_ref()
            .is_some_and(|g| now.saturating_duration_since(g.last) >= self.timeout)
        {
            self.flush(emit);
        }
    }

    /// Offset of the first line held back, for checkpoints.
    pub fn held_start(&self) -> Option<u64> {
        self.group.as_ref().map(|g| g.first.offset)
    }

    /// When the open group times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.group.as_ref().map(|g| g.last + self.timeout)
    }

    /// Drops the open group (its lines will be read again).
    pub fn discard(&mut self) {
        self.group = None;
    }
}

/// Joins lines for tests and benches without a file.
#[cfg(test)]
use bytes::Bytes;

#[cfg(test)]
fn join_all(ml: &mut Multiline, lines: &[&str]) -> Vec<(String, u64, u64)> {
    let now = Instant::now();
    let mut out = Vec::new();
    let mut offset = 0;
    for l in lines {
        let rec = Record::plain(
            Bytes::copy_from_slice(l.as_bytes()),
            offset,
            offset + l.len() as u64 + 1,
        );
        offset = rec.end;
        ml.push(rec, now, &mut |r| out.push(r));
    }
    ml.flush(&mut |r| out.push(r));
    out.into_iter()
        .map(|r| {
            (
                String::from_utf8_lossy(&r.bytes).into_owned(),
                r.offset,
                r.end,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use logagent_core::{ByteSize, HumanDuration};

    fn config(mode: MultilineMode, pattern: Option<&str>) -> MultilineConfig {
        MultilineConfig {
            mode,
            pattern: pattern.map(String::from),
            max_lines: 500,
            max_bytes: ByteSize(1 << 20),
            timeout: HumanDuration(Duration::from_secs(1)),
        }
    }

    #[test]
    fn java_stack_trace_by_continuation_pattern() {
        let mut ml = Multiline::new(&config(
            MultilineMode::ContinuationPattern,
            Some(r"^(\s+at |Caused by:|\s+\.\.\. \d+ more)"),
        ));
        let got = join_all(
            &mut ml,
            &[
                "2024-01-01 ERROR boom",
                "java.lang.IllegalStateException: x",
                "\tat a.b.C.d(C.java:1)",
                "\tat a.b.C.e(C.java:2)",
                "Caused by: java.io.IOException",
                "\t... 3 more",
                "2024-01-01 INFO fine",
            ],
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].0, "2024-01-01 ERROR boom");
        assert!(
            got[1]
                .0
                .starts_with("java.lang.IllegalStateException: x\n\tat a.b.C.d")
        );
        assert!(got[1].0.ends_with("\t... 3 more"));
        assert_eq!(got[2].0, "2024-01-01 INFO fine");
        // Offsets chain: each event ends where the next begins.
        assert_eq!(got[0].2, got[1].1);
        assert_eq!(got[1].2, got[2].1);
    }

    #[test]
    fn python_traceback_by_start_pattern() {
        let mut ml = Multiline::new(&config(MultilineMode::StartPattern, Some(r"^\d{4}-")));
        let got = join_all(
            &mut ml,
            &[
                "2024-01-01 ERROR failed",
                "Traceback (most recent call last):",
                "  File \"x.py\", line 1, in <module>",
                "ValueError: bad",
                "2024-01-01 INFO next",
            ],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.lines().count(), 4);
        assert!(got[0].0.ends_with("ValueError: bad"));
    }

    #[test]
    fn indented_and_limits() {
        let mut c = config(MultilineMode::Indented, None);
        c.max_lines = 3;
        let mut ml = Multiline::new(&c);
        let got = join_all(&mut ml, &["a", " 1", " 2", " 3", " 4", "b"]);
        let texts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(texts, ["a\n 1\n 2", " 3\n 4", "b"]);

        let mut c = config(MultilineMode::Indented, None);
        c.max_bytes = ByteSize(7);
        let mut ml = Multiline::new(&c);
        let got = join_all(&mut ml, &["abc", " de", " fg"]);
        let texts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(texts, ["abc\n de", " fg"]);
    }

    #[test]
    fn a_waiting_group_is_sent_after_the_timeout() {
        let mut ml = Multiline::new(&config(MultilineMode::Indented, None));
        let t0 = Instant::now();
        let mut out = Vec::new();
        ml.push(
            Record::plain(Bytes::from_static(b"a"), 0, 2),
            t0,
            &mut |r| out.push(r),
        );
        assert_eq!(ml.held_start(), Some(0));
        ml.flush_expired(t0 + Duration::from_millis(999), &mut |r| out.push(r));
        assert!(out.is_empty());
        assert_eq!(ml.deadline(), Some(t0 + Duration::from_secs(1)));
        ml.flush_expired(t0 + Duration::from_secs(1), &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        assert_eq!(ml.held_start(), None);
    }
}
