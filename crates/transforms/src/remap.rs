//! `type = "remap"`: runs a program in VRL, Vector's Remap Language, through
//! Vector's own implementation (the `vrl` crate), so a Vector user's program
//! runs unchanged: `source = '''.env = "prod"; del(.password)'''`.
//!
//! VRL works on a tree of values, which the rest of the pipeline never builds.
//! Each event is converted for this transform only: a text line becomes
//! `{"message": line}` (its bytes shared, not copied, invalid UTF-8 kept); a
//! parsed line is encoded with its edits and read into a tree. What the program
//! leaves is written back as the event's new line (a JSON object, re-scanned so
//! later transforms address its fields without parsing) — or, when it is still
//! just `{"message": <bytes>}` of a text line, as that text again (a text line
//! the program did not change keeps its very bytes; a JSON line is written
//! anew, its keys in sorted order, as Vector writes them).
//!
//! Metadata (`%` paths): `%timestamp` is the event time (a timestamp; setting it
//! sets the event time), `%file` the path of the file the line came from,
//! `%source_id` the source's id and `%offset` the line's offset in its stream;
//! changes to the last three are ignored. Nothing else is kept in metadata.
//!
//! A program that sets `.` to an array makes one event per element (an
//! element that is not an object becomes `{"message": element}`), as in
//! Vector; an empty array leaves no event.
//!
//! A runtime error (a failed `!` call) passes the original event on unchanged,
//! counted and logged (rate-limited), unless `drop_on_error`; an `abort` drops
//! it unless `drop_on_abort = false`. With `reroute_dropped`, dropped events go
//! unchanged to the named output `ID.dropped` instead of being discarded.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use vrl::compiler::runtime::{Runtime, Terminate};
use vrl::compiler::{Program, TargetValue, TimeZone};
use vrl::path::PathPrefix;
use vrl::value::{KeyString, ObjectMap, Secrets, Value as VrlValue};

use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::{
    Batch, Event, KeyFilter, MESSAGE_KEY, Member, Root, Span, Stream, encode, json,
};
use logagent_core::flow::{Closed, Outputs};
use logagent_core::telemetry::metrics::{ComponentMetrics, DISCARDED_BY_REASON};
use logagent_core::telemetry::ratelimit::RateLimiter;

/// The named output dropped events go to with `reroute_dropped` (`ID.dropped`).
pub const DROPPED: &str = "dropped";

/// Longest program accepted, inline or in `file` (1 MiB).
pub const MAX_PROGRAM_BYTES: u64 = 1 << 20;

/// Options of `remap`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemapConfig {
    /// The VRL program, inline (exactly one of `source` and `file`).
    #[serde(default)]
    pub source: Option<String>,
    /// A file holding the VRL program, read when the pipeline is loaded
    /// (relative paths from the working directory).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Drop an event whose program fails at run time (default false: the
    /// original event passes on unchanged; either way the error is counted
    /// and logged).
    #[serde(default)]
    pub drop_on_error: bool,
    /// Drop an event whose program calls `abort` (default true; false passes
    /// the original event on unchanged).
    #[serde(default = "yes")]
    pub drop_on_abort: bool,
    /// Send dropped events, unchanged, to the named output `ID.dropped`
    /// instead of discarding them (needs `drop_on_error` or `drop_on_abort`).
    #[serde(default)]
    pub reroute_dropped: bool,
    /// Zone for VRL's time functions when a time has no offset (`UTC`,
    /// `Europe/Paris`; default the machine's local zone, as in Vector).
    #[serde(default)]
    pub timezone: Option<String>,
}

fn yes() -> bool {
    true
}

/// Why a program was not compiled: the key at fault and VRL's own diagnostic.
fn program_error(key: &str, message: impl Into<String>) -> Vec<KeyError> {
    vec![KeyError::new(key, message)]
}

impl RemapConfig {
    /// The key the program comes from and its text (reads `file`).
    fn program_text(&self) -> Result<(&'static str, String, String), Vec<KeyError>> {
        match (&self.source, &self.file) {
            (Some(_), Some(_)) => Err(program_error(
                "source",
                "set either `source` (the program) or `file` (a file holding it), not both",
            )),
            (None, None) => Err(program_error(
                "source",
                "a remap needs its VRL program: set `source` or `file`",
            )),
            (Some(s), None) => {
                if s.len() as u64 > MAX_PROGRAM_BYTES {
                    return Err(program_error(
                        "source",
                        format!("the program is longer than {MAX_PROGRAM_BYTES} bytes"),
                    ));
                }
                Ok(("source", "source".to_owned(), s.clone()))
            }
            (None, Some(path)) => {
                let shown = path.display().to_string();
                let len = std::fs::metadata(path)
                    .map_err(|e| program_error("file", format!("cannot read {shown}: {e}")))?
                    .len();
                if len > MAX_PROGRAM_BYTES {
                    return Err(program_error(
                        "file",
                        format!("{shown} is longer than {MAX_PROGRAM_BYTES} bytes"),
                    ));
                }
                let text = std::fs::read_to_string(path).map_err(|e| {
                    program_error("file", format!("cannot read {shown} as UTF-8 text: {e}"))
                })?;
                Ok(("file", shown, text))
            }
        }
    }

    /// Compiles the program; every error carries VRL's diagnostic, with the
    /// line and column inside the program.
    fn compile(&self) -> Result<Program, Vec<KeyError>> {
        let mut errors = Vec::new();
        if self.reroute_dropped && !self.drop_on_error && !self.drop_on_abort {
            errors.push(KeyError::new(
                "reroute_dropped",
                "nothing is ever dropped with drop_on_error = false and drop_on_abort = false",
            ));
        }
        if let Some(tz) = &self.timezone
            && TimeZone::parse(tz).is_none()
        {
            errors.push(KeyError::new(
                    "timezone",
                    format!("unknown time zone {tz:?} (expected `local`, `UTC` or a name such as `Europe/Paris`)"),
                ));
        }
        let program = match self.program_text() {
            Err(e) => {
                errors.extend(e);
                None
            }
            Ok((key, origin, text)) => {
                let functions = vrl::stdlib::all();
                match vrl::compiler::compile(&text, &functions) {
                    Ok(result) => Some(result.program),
                    Err(diagnostics) => {
                        let rendered = vrl::diagnostic::Formatter::new(&text, diagnostics)
                            .to_string()
                            // codespan names the (unnamed) program `:LINE:COL`.
                            .replace("┌─ :", &format!("┌─ {origin}:"));
                        errors.push(KeyError::new(
                            key,
                            format!(
                                "the VRL program does not compile:\n{}",
                                rendered.trim_matches('\n')
                            ),
                        ));
                        None
                    }
                }
            }
        };
        match program {
            Some(p) if errors.is_empty() => Ok(p),
            _ => Err(errors),
        }
    }

    /// Checks the keys and compiles the program.
    pub fn check(&self) -> Vec<KeyError> {
        self.compile().err().unwrap_or_default()
    }

    /// Compiles the program into a running transform (one per worker, each
    /// with its own VRL runtime).
    pub fn build(&self, ctx: TransformContext) -> Result<Remap, Vec<KeyError>> {
        let program = self.compile()?;
        let info = program.info();
        let uses_metadata = info
            .target_queries
            .iter()
            .chain(&info.target_assignments)
            .any(|p| p.prefix == PathPrefix::Metadata);
        let timezone = self
            .timezone
            .as_deref()
            .and_then(TimeZone::parse)
            .unwrap_or_default();
        let labeled = &ctx.metrics.labeled;
        Ok(Remap {
            program,
            runtime: Runtime::default(),
            timezone,
            uses_metadata,
            drop_on_error: self.drop_on_error,
            drop_on_abort: self.drop_on_abort,
            reroute_dropped: self.reroute_dropped,
            scratch: Vec::new(),
            error_log: RateLimiter::default(),
            aborted: labeled.counter(DISCARDED_BY_REASON, &[("reason", "remap_abort")]),
            failed: labeled.counter(DISCARDED_BY_REASON, &[("reason", "remap_error")]),
            ctx,
        })
    }
}

/// The running `remap` transform.
pub struct Remap {
    program: Program,
    runtime: Runtime,
    timezone: TimeZone,
    /// The program reads or writes `%` paths: only then is metadata built.
    uses_metadata: bool,
    drop_on_error: bool,
    drop_on_abort: bool,
    reroute_dropped: bool,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
    error_log: RateLimiter,
    aborted: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<std::sync::atomic::AtomicU64>,
    ctx: TransformContext,
}

impl std::fmt::Debug for Remap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remap")
            .field("id", &self.ctx.id)
            .field("drop_on_error", &self.drop_on_error)
            .field("drop_on_abort", &self.drop_on_abort)
            .finish_non_exhaustive()
    }
}

/// What running the program on one event decided.
enum Verdict {
    /// Pass the event on (changed in place, or unchanged after an error),
    /// followed by the extra events of an array result.
    Keep,
    /// The program set `.` to an empty array: nothing to pass on.
    Empty,
    /// Drop it (abort, or an error with `drop_on_error`); the event is as it came.
    Drop,
}

/// Why one event could not be remapped (logged, rate-limited, and counted).
#[derive(Debug, thiserror::Error)]
enum RemapError {
    /// The event could not be read into a VRL value (deeper than JSON readers allow).
    #[error("the event could not be read as a VRL value: {0}")]
    Read(serde_json::Error),
    /// The program's result could not be written back as JSON.
    #[error("the program's result could not be written as JSON: {0}")]
    Write(String),
}

/// The event as a VRL value: `{"message": line}` for an unedited text line
/// (sharing the line's bytes), else its JSON encoding read into a tree.
fn to_value(event: &Event, scratch: &mut Vec<u8>) -> Result<VrlValue, RemapError> {
    if event.root == Root::Text && event.edits.is_empty() {
        let mut map = ObjectMap::new();
        map.insert(
            KeyString::from(MESSAGE_KEY),
            VrlValue::Bytes(event.line.clone()),
        );
        return Ok(VrlValue::Object(map));
    }
    scratch.clear();
    encode::write_json(event, scratch);
    serde_json::from_slice(scratch).map_err(RemapError::Read)
}

/// The `%` paths a program sees (see the module docs).
fn metadata(event: &Event, stream: &Stream) -> VrlValue {
    let mut map = ObjectMap::new();
    if let Some(ns) = event.meta.time {
        map.insert(
            "timestamp".into(),
            VrlValue::Timestamp(chrono::DateTime::from_timestamp_nanos(ns)),
        );
    }
    if let Some(path) = &stream.path {
        map.insert(
            "file".into(),
            VrlValue::Bytes(Bytes::from(path.to_string_lossy().into_owned())),
        );
    }
    map.insert(
        "source_id".into(),
        VrlValue::Bytes(Bytes::copy_from_slice(stream.source.as_bytes())),
    );
    map.insert(
        "offset".into(),
        VrlValue::Integer(i64::try_from(event.meta.offset).unwrap_or(i64::MAX)),
    );
    VrlValue::Object(map)
}

/// Writes the program's result back into `event`: the text of a text line
/// that is still only `{"message": <bytes>}`, else a JSON object whose
/// members are appended to the batch's arena.
fn write_back(
    event: &mut Event,
    value: VrlValue,
    members: &mut Vec<Member>,
    scratch: &mut Vec<u8>,
) -> Result<(), RemapError> {
    let mut object = match value {
        VrlValue::Object(map) => map,
        // A program that sets the root to a non-object: kept as its message.
        other => {
            let mut map = ObjectMap::new();
            map.insert(KeyString::from(MESSAGE_KEY), other);
            map
        }
    };
    if event.root == Root::Text
        && object.len() == 1
        && let Some(VrlValue::Bytes(text)) = object.get(MESSAGE_KEY)
    {
        if !(event.edits.is_empty() && *text == event.line) {
            event.line = text.clone();
            event.edits.clear();
        }
        return Ok(());
    }
    scratch.clear();
    serde_json::to_writer(&mut *scratch, &object).map_err(|e| RemapError::Write(e.to_string()))?;
    object.clear();
    let line = Bytes::copy_from_slice(scratch);
    let start = members.len();
    match json::scan_object_summarized(&line, json::MAX_DEPTH, members) {
        Ok((span, summary)) => {
            event.line = line;
            event.edits.clear();
            event.root = Root::Json {
                object: span,
                members: Span::new(start, members.len()),
            };
            event.meta.keys = KeyFilter::from_summary(summary);
            // The level may have been changed by the program: found again on demand.
            event.meta.level = None;
            Ok(())
        }
        Err(e) => {
            members.truncate(start);
            Err(RemapError::Write(e.to_string()))
        }
    }
}

impl Remap {
    /// Runs the program on one event, changing it in place when it succeeds.
    fn run(
        &mut self,
        event: &mut Event,
        members: &mut Vec<Member>,
        stream: &Stream,
        extra: &mut Vec<Event>,
    ) -> Verdict {
        let outcome = self.remap(event, members, stream, extra);
        match outcome {
            Ok(0) => Verdict::Empty,
            Ok(_) => Verdict::Keep,
            Err(Terminate::Abort(_)) if !self.drop_on_abort => Verdict::Keep,
            Err(Terminate::Abort(_)) => {
                ComponentMetrics::add(&self.aborted, 1);
                Verdict::Drop
            }
            Err(error) => {
                ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                if self.drop_on_error {
                    ComponentMetrics::add(&self.failed, 1);
                }
                if let Some(suppressed) = self.error_log.check() {
                    tracing::warn!(
                        component = %self.ctx.id,
                        stream = %stream.origin(),
                        offset = event.meta.offset,
                        %error,
                        suppressed,
                        "remap failed; {}",
                        if self.drop_on_error {
                            if self.reroute_dropped { "sent to the dropped output" } else { "dropped" }
                        } else {
                            "passed on unchanged"
                        }
                    );
                }
                if self.drop_on_error {
                    Verdict::Drop
                } else {
                    Verdict::Keep
                }
            }
        }
    }

    /// Converts, runs, converts back; the event is untouched unless all
    /// succeed. Returns how many events the result is: an array set as `.`
    /// is one event per element (as in Vector), the first written into
    /// `event` and the others pushed to `extra`.
    fn remap(
        &mut self,
        event: &mut Event,
        members: &mut Vec<Member>,
        stream: &Stream,
        extra: &mut Vec<Event>,
    ) -> Result<usize, Terminate> {
        let as_error = |e: RemapError| Terminate::Error(e.to_string().into());
        let value = to_value(event, &mut self.scratch).map_err(as_error)?;
        let metadata = if self.uses_metadata {
            metadata(event, stream)
        } else {
            VrlValue::Object(ObjectMap::new())
        };
        let mut target = TargetValue {
            value,
            metadata,
            secrets: Secrets::default(),
        };
        let result = self
            .runtime
            .resolve(&mut target, &self.program, &self.timezone);
        self.runtime.clear();
        result?;
        let time = match &target.metadata {
            VrlValue::Object(meta) if self.uses_metadata => match meta.get("timestamp") {
                Some(VrlValue::Timestamp(ts)) => ts.timestamp_nanos_opt(),
                None => None,
                Some(_) => event.meta.time,
            },
            _ => event.meta.time,
        };
        let values = match target.value {
            VrlValue::Array(values) => values,
            one => vec![one],
        };
        let count = values.len();
        let mut values = values.into_iter();
        let Some(first) = values.next() else {
            return Ok(0);
        };
        let start = extra.len();
        for value in values {
            let mut copy = event.clone();
            if let Err(e) = write_back(&mut copy, value, members, &mut self.scratch) {
                extra.truncate(start);
                return Err(as_error(e));
            }
            copy.meta.time = time;
            extra.push(copy);
        }
        if let Err(e) = write_back(event, first, members, &mut self.scratch) {
            extra.truncate(start);
            return Err(as_error(e));
        }
        event.meta.time = time;
        Ok(count)
    }

    /// Runs every event of the batch. Returns the dropped events (as they
    /// came, in order) when `keep_dropped`, and how many events were
    /// discarded (sent nowhere).
    fn run_batch(&mut self, batch: &mut Batch, keep_dropped: bool) -> (Vec<Event>, u64) {
        let stream = batch.stream.clone();
        let mut members = std::mem::take(&mut batch.members).into_vec();
        let events = std::mem::take(&mut batch.events);
        let mut kept = Vec::with_capacity(events.len());
        let mut dropped = Vec::new();
        let mut extra = Vec::new();
        let mut discarded = 0u64;
        for mut event in events {
            match self.run(&mut event, &mut members, &stream, &mut extra) {
                Verdict::Keep => {
                    kept.push(event);
                    kept.append(&mut extra);
                }
                Verdict::Empty => discarded += 1,
                // A dropped event was left as it came (changes are made only
                // when the whole program succeeds).
                Verdict::Drop if keep_dropped => dropped.push(event),
                Verdict::Drop => discarded += 1,
            }
        }
        batch.events = kept.into();
        batch.members = members.into();
        (dropped, discarded)
    }
}

impl Transform for Remap {
    fn process(&mut self, batch: &mut Batch) {
        self.run_batch(batch, false);
    }

    fn splits(&self) -> bool {
        self.reroute_dropped
    }

    fn process_into(&mut self, mut batch: Batch, outputs: &Outputs) -> Result<u64, Closed> {
        let reroute = self
            .reroute_dropped
            .then(|| outputs.named(DROPPED))
            .flatten()
            .filter(|o| o.is_connected());
        let (dropped, discarded) = self.run_batch(&mut batch, reroute.is_some());
        if let Some(out) = reroute
            && !dropped.is_empty()
        {
            out.send(Batch {
                events: dropped.into(),
                members: batch.members.clone(),
                stream: batch.stream.clone(),
                ack: batch.ack.clone(),
            })?;
        }
        outputs.default_output().send(batch)?;
        Ok(discarded)
    }
}

impl TransformComponent for RemapConfig {
    /// A VRL program sees one event at a time and keeps nothing between
    /// events: runs on every worker, each with its own VRL runtime.
    fn stateless(&self) -> bool {
        true
    }

    fn check(&self) -> Vec<KeyError> {
        RemapConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(RemapConfig::build(self, ctx)?))
    }

    fn outputs(&self) -> Vec<String> {
        if self.reroute_dropped {
            vec![DROPPED.to_owned()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests;
