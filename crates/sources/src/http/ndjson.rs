//! `POST {path}`: NDJSON (one object per line, blank lines skipped, `\r\n`
//! accepted) or a single JSON array of objects. Each object's text becomes an
//! event's line, sliced out of the body without copying.

use super::Intake;
use crate::http_server::{Answer, Reply, Request};
use logagent_core::event::AckToken;
use logagent_core::event::json::{self, Span};

/// Nesting allowed inside one object (the JSON scanner's bound).
pub(super) const MAX_DEPTH: usize = 128;

/// Why one object of a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a JSON object.
    Invalid,
    /// Over `max_line_bytes`.
    Oversize,
}

/// What a request's objects came to.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub accepted: u64,
    pub invalid: u64,
    pub oversize: u64,
}

impl Tally {
    pub fn refuse(&mut self, why: Refused) {
        match why {
            Refused::Invalid => self.invalid += 1,
            Refused::Oversize => self.oversize += 1,
        }
    }

    pub fn discarded(&self) -> Vec<(&'static str, u64)> {
        [("invalid_json", self.invalid), ("oversize", self.oversize)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Checks that `body[start..end]` is one JSON object within the size limit.
pub(super) fn check_object(
    intake: &Intake,
    body: &[u8],
    start: usize,
    end: usize,
    scratch: &mut Vec<json::Member>,
) -> Result<(), (Refused, String)> {
    if end - start > intake.config.max_line_bytes.as_usize() {
        return Err((
            Refused::Oversize,
            format!("{} bytes, over max_line_bytes", end - start),
        ));
    }
    scratch.clear();
    json::scan_object(&body[start..end], MAX_DEPTH, scratch)
        .map(|_| ())
        .map_err(|e| (Refused::Invalid, e.to_string()))
}

/// Lines (or array elements) into events.
pub(super) fn handle(intake: &Intake, request: &Request, ack: &AckToken) -> Reply {
    let body = &request.body;
    let mut out = intake.collector(ack, body.len());
    let mut tally = Tally::default();
    let mut scratch = Vec::new();
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| body[i] == b'[') {
        let start = first.unwrap_or(0);
        let end = body
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(body.len(), |i| i + 1);
        let mut elements = Vec::new();
        if let Err(e) = json::array_elements(body, Span::new(start, end), &mut elements) {
            intake.warn("refused a JSON array that is not valid JSON", &e);
            return Reply::Answer(
                Answer::error(
                    400,
                    "parse_exception",
                    &format!("the body is not a valid JSON array: {e}"),
                )
                .counted("invalid_json"),
            );
        }
        for span in elements {
            let (s, e) = (span.start as usize, span.end as usize);
            match check_object(intake, body, s, e, &mut scratch) {
                Ok(()) => {
                    out.push(body.slice(s..e), s as u64);
                    tally.accepted += 1;
                }
                Err((why, detail)) => {
                    intake.warn("refused an array element", &detail);
                    tally.refuse(why);
                }
            }
        }
    } else {
        for_each_line(body, |s, e| {
            match check_object(intake, body, s, e, &mut scratch) {
                Ok(()) => {
                    out.push(body.slice(s..e), s as u64);
                    tally.accepted += 1;
                }
                Err((why, detail)) => {
                    intake.warn("refused a line that is not a JSON object", &detail);
                    tally.refuse(why);
                }
            }
        });
    }
    let reply = serde_json::json!({
        "accepted": tally.accepted,
        "rejected": tally.invalid + tally.oversize,
    })
    .to_string();
    if tally.accepted == 0 && tally.invalid + tally.oversize > 0 {
        // Nothing to deliver: the client learns at once, and the refused
        // objects are counted now (there is no admission to wait for).
        return Reply::Deliver {
            batches: Vec::new(),
            then: Answer::error(
                400,
                "parse_exception",
                "no line of the body is a JSON object",
            ),
            discarded: tally.discarded(),
        };
    }
    debug_assert_eq!(out.events() as u64, tally.accepted);
    Reply::Deliver {
        batches: out.finish(),
        then: Answer::json(200, reply),
        discarded: tally.discarded(),
    }
}

/// Calls `f(start, end)` for every non-blank line of `body` (without its
/// `\n` or `\r\n`, surrounding blanks trimmed).
pub(super) fn for_each_line(body: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut at = 0;
    while at < body.len() {
        let end = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i);
        let (mut s, mut e) = (at, end);
        while s < e && body[s].is_ascii_whitespace() {
            s += 1;
        }
        while e > s && body[e - 1].is_ascii_whitespace() {
            e -= 1;
        }
        if s < e {
            f(s, e);
        }
        at = end + 1;
    }
}
