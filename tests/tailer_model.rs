//! Model-based test of the file tailer: random sequences of write,
//! write-partial, rename-rotate, copytruncate, truncate, delete, gzip-rotate,
//! gzip compression in progress (written in steps under a matched name, then
//! the plain file removed), replicas (files that begin with the same lines as
//! the live file, then diverge), acknowledgements, and crash + restart,
//! applied to real files in a temporary directory and to an in-memory model of
//! what must come out.
//!
//! (Copies of files the tailer knew only by a partial fingerprint, made where
//! it could not see the truncation, may be read twice: see `Model::may_repeat`.)
//!
//! The tailer is driven synchronously (`scan`, `step`) with a virtual clock;
//! its batches go to a channel the test drains into a "sink" that acknowledges
//! a prefix of them when told to. The property: every line written is
//! delivered exactly once, except lines whose only copy was destroyed (by
//! `truncate`, or by deleting a file the tailer did not hold open, or by a
//! crash that discarded undelivered batches of a file deleted since), which are
//! delivered at most once. No fragment of a line is ever delivered.
//!
//! A crash here first writes the checkpoint (as if the sink's writes and the
//! checkpoint were one transaction), then drops the tailer and every batch not
//! yet acknowledged: so the test checks that checkpoints hold exactly the
//! acknowledged lines. Killing the real binary at an arbitrary moment is
//! `tests/file_source.rs`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use logagent::config::{ByteSize, HumanDuration};
use logagent::event::Batch;
use logagent::pipeline::Output;
use logagent::sources::file::FileSourceConfig;
use logagent::sources::file::identity::FileId;
use logagent::sources::file::tailer::{Tailer, TailerContext};
use logagent::telemetry::metrics::ComponentMetrics;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    /// Complete the pending partial line (if any), then write `n` lines of
    /// the given lengths.
    Write(Vec<usize>),
    /// Write part of a line (no newline yet): `len` bytes of it.
    WritePartial(usize),
    /// app.log.N → app.log.N+1, app.log → app.log.1.
    RenameRotate,
    /// Shift, copy app.log to app.log.1, truncate app.log.
    CopyTruncate,
    /// Truncate app.log to nothing.
    Truncate,
    /// Delete the k-th existing file (mod count).
    Delete(usize),
    /// Compress the k-th rotated plain file into .gz and delete it.
    GzipRotate(usize),
    /// Start compressing the k-th rotated plain file: `app.log.N.gz.tmp` gets
    /// the first `n` bytes of its gzip (maybe none: a compressor creates its
    /// output empty).
    GzipBegin(usize, usize),
    /// The compression in progress writes `n` more bytes.
    GzipMore(usize),
    /// The compression in progress ends: the rest written, `.tmp` renamed to
    /// `.gz`, the plain file removed (as logrotate does).
    GzipEnd,
    /// A replica: `app.log-rN` begins with app.log's first `k` complete lines
    /// (the same bytes: a start-up banner), then lines of its own; the tailer
    /// (if running) scans at once, so it sees the replica beside its live
    /// original.
    Replica(usize, Vec<usize>),
    /// A replica (the k-th) writes lines of its own.
    ReplicaWrite(usize, Vec<usize>),
    /// Run the tailer: `scan` first when true, then one step; advance the clock.
    Step(bool),
    /// The sink writes (acknowledges) its first `n` batches.
    Ack(usize),
    /// Checkpoint, then drop the tailer and every unacknowledged batch.
    Crash,
    /// Start a new tailer from the checkpoint.
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => proptest::collection::vec(0usize..40, 1..4).prop_map(Action::Write),
        2 => (1usize..30).prop_map(Action::WritePartial),
        2 => Just(Action::RenameRotate),
        1 => Just(Action::CopyTruncate),
        1 => Just(Action::Truncate),
        1 => (0usize..8).prop_map(Action::Delete),
        1 => (0usize..8).prop_map(Action::GzipRotate),
        1 => (0usize..8, 0usize..3).prop_map(|(k, n)| Action::GzipBegin(k, n)),
        2 => (1usize..200).prop_map(Action::GzipMore),
        1 => Just(Action::GzipEnd),
        1 => (1usize..12, proptest::collection::vec(0usize..40, 1..3))
            .prop_map(|(k, lens)| Action::Replica(k, lens)),
        2 => (0usize..4, proptest::collection::vec(0usize..40, 1..3))
            .prop_map(|(k, lens)| Action::ReplicaWrite(k, lens)),
        8 => any::<bool>().prop_map(Action::Step),
        4 => (1usize..6).prop_map(Action::Ack),
        1 => Just(Action::Crash),
        2 => Just(Action::Restart),
    ]
}

#[derive(Clone, Debug)]
struct Knobs {
    fingerprint_bytes: u64,
    max_open_files: usize,
    read_buffer: u64,
    per_turn: u64,
    batch_events: usize,
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop_oneof![Just(16u64), Just(48), Just(256)],
        prop_oneof![Just(1usize), Just(2), Just(1024)],
        prop_oneof![Just(7u64), Just(64), Just(4096)],
        prop_oneof![Just(40u64), Just(1 << 20)],
        1usize..5,
    )
        .prop_map(
            |(fingerprint_bytes, max_open_files, read_buffer, per_turn, batch_events)| Knobs {
                fingerprint_bytes,
                max_open_files,
                read_buffer,
                per_turn,
                batch_events,
            },
        )
}

/// What has been written where.
#[derive(Default)]
struct Model {
    /// File name → ids of the lines it holds, in order.
    files: BTreeMap<String, Vec<u64>>,
    /// Text written so far of each line.
    text: HashMap<u64, String>,
    /// The line app.log ends with, not yet finished.
    partial: Option<u64>,
    /// Must be delivered exactly this many times (a replica's banner lines
    /// are in two files).
    required: BTreeMap<u64, usize>,
    /// May be delivered this many times more (their data was destroyed).
    optional: BTreeMap<u64, usize>,
    /// May be delivered twice: lines of a file the tailer knew only by a
    /// partial fingerprint (it was shorter than `fingerprint_bytes` when last
    /// read) that was copied (copytruncate) without the tailer seeing the
    /// truncation (down, file not open, or a crash before the next step). Such
    /// a copy cannot be told from an unrelated file that starts with the same
    /// few bytes, and the tailer prefers reading a line twice to skipping lines
    /// of a new file.
    may_repeat: BTreeSet<u64>,
    /// Lines of a short file copied since the last step (see `may_repeat`).
    unseen_short_copy: Vec<u64>,
    /// The tailer has read app.log while it was at least a full fingerprint
    /// long, so it knows app.log's full fingerprint.
    observed_full: bool,
    /// A compression in progress: rotated number, its whole gzip, bytes written.
    compressing: Option<(u32, Vec<u8>, usize)>,
    /// Replicas created so far.
    replicas: u32,
    next: u64,
}

impl Model {
    fn new_line(&mut self, len: usize) -> (u64, String) {
        self.next += 1;
        let id = self.next;
        let body: String = (0..len)
            .map(|i| (b'a' + ((id as usize * 7 + i) % 26) as u8) as char)
            .collect();
        (id, format!("L{id:05}-{body}"))
    }

    fn require(&mut self, id: u64) {
        *self.required.entry(id).or_default() += 1;
    }

    /// One copy of each of `ids` was destroyed.
    fn lose(&mut self, ids: &[u64]) {
        for id in ids {
            if let Some(n) = self.required.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    self.required.remove(id);
                }
                *self.optional.entry(*id).or_default() += 1;
            }
        }
    }

    fn rotated_names(&self) -> Vec<(u32, bool)> {
        let mut v: Vec<(u32, bool)> = self
            .files
            .keys()
            .filter_map(|n| {
                let rest = n.strip_prefix("app.log.")?;
                match rest.strip_suffix(".gz") {
                    Some(num) => Some((num.parse().ok()?, true)),
                    None => Some((rest.parse().ok()?, false)),
                }
            })
            .collect();
        v.sort();
        v
    }
}

fn rotated(n: u32, gz: bool) -> String {
    if gz {
        format!("app.log.{n}.gz")
    } else {
        format!("app.log.{n}")
    }
}

struct Harness {
    dir: tempfile::TempDir,
    data: PathBuf,
    config: FileSourceConfig,
    knobs: Knobs,
    tailer: Option<Tailer>,
    output: Output,
    rx: Receiver<Batch>,
    held: VecDeque<Batch>,
    delivered: Vec<String>,
    now: Instant,
    model: Model,
}

impl Harness {
    fn new(knobs: Knobs) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let logs = dir.path().join("logs");
        fs::create_dir_all(&logs).unwrap();
        let mut config =
            FileSourceConfig::with_include(vec![format!("{}/app.log*", logs.display())]);
        config.fingerprint_bytes = ByteSize(knobs.fingerprint_bytes);
        config.max_open_files = knobs.max_open_files;
        config.read_buffer = ByteSize(knobs.read_buffer);
        config.max_read_per_turn = ByteSize(knobs.per_turn);
        // Partial lines of live files wait until the final drain.
        config.partial_line_timeout = HumanDuration(Duration::from_secs(3600));
        let (tx, rx) = crossbeam_channel::bounded(1 << 20);
        let output = Output::new(vec![tx], Arc::new(ComponentMetrics::default()));
        let mut h = Harness {
            dir,
            data,
            config,
            knobs,
            tailer: None,
            output,
            rx,
            held: VecDeque::new(),
            delivered: Vec::new(),
            now: Instant::now(),
            model: Model::default(),
        };
        h.start();
        h
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.logs().join(name)
    }

    fn start(&mut self) {
        self.tailer = Some(Tailer::new(
            &self.config,
            TailerContext {
                source: "model".into(),
                data_dir: self.data.clone(),
                metrics: Arc::new(ComponentMetrics::default()),
                batch_max_events: self.knobs.batch_events,
                batch_max_bytes: 1 << 20,
                once: false,
            },
            self.now,
        ));
    }

    fn pump(&mut self) {
        self.held.extend(self.rx.try_iter());
    }

    fn deliver(&mut self, n: usize) {
        self.pump();
        for _ in 0..n {
            let Some(batch) = self.held.pop_front() else {
                break;
            };
            for e in &batch.events {
                self.delivered
                    .push(String::from_utf8_lossy(&e.line).into_owned());
            }
            // Dropping the batch acknowledges it.
        }
    }

    fn is_open(&self, name: &str) -> bool {
        let Some(t) = &self.tailer else { return false };
        fs::metadata(self.path(name)).is_ok_and(|m| t.is_open(FileId::of(&m)))
    }

    fn append(&mut self, name: &str, bytes: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .unwrap();
        f.write_all(bytes.as_bytes()).unwrap();
        self.model.files.entry(name.to_string()).or_default();
    }

    /// Renames every rotated file one number up, oldest first.
    fn shift(&mut self) {
        for (n, gz) in self.model.rotated_names().into_iter().rev() {
            let (from, to) = (rotated(n, gz), rotated(n + 1, gz));
            fs::rename(self.path(&from), self.path(&to)).unwrap();
            let ids = self.model.files.remove(&from).unwrap();
            self.model.files.insert(to, ids);
        }
    }

    /// Writes the rest of a compression in progress, renames it into place
    /// and removes its plain file.
    fn finish_compression(&mut self) {
        let Some((n, gz, written)) = self.model.compressing.take() else {
            return;
        };
        let tmp = format!("{}.tmp", rotated(n, true));
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.path(&tmp))
            .unwrap();
        f.write_all(&gz[written..]).unwrap();
        drop(f);
        fs::rename(self.path(&tmp), self.path(&rotated(n, true))).unwrap();
        let from = rotated(n, false);
        fs::remove_file(self.path(&from)).unwrap();
        let ids = self.model.files.remove(&from).unwrap();
        self.model.files.insert(rotated(n, true), ids);
    }

    fn lines_text(&mut self, name: &str, lens: &[usize]) -> String {
        let mut text = String::new();
        for len in lens {
            let (id, line) = self.model.new_line(*len);
            text.push_str(&line);
            text.push('\n');
            self.model.text.insert(id, line);
            self.model.require(id);
            self.model.files.entry(name.into()).or_default().push(id);
        }
        text
    }

    fn apply(&mut self, action: &Action) {
        if matches!(
            action,
            Action::RenameRotate
                | Action::CopyTruncate
                | Action::Delete(_)
                | Action::GzipRotate(_)
                | Action::GzipBegin(..)
        ) {
            // logrotate does one thing at a time.
            self.finish_compression();
        }
        match action {
            Action::GzipBegin(k, n) => {
                let plain: Vec<u32> = self
                    .model
                    .rotated_names()
                    .into_iter()
                    .filter(|(_, gz)| !gz)
                    .map(|(n, _)| n)
                    .collect();
                if plain.is_empty() {
                    return;
                }
                let num = plain[k % plain.len()];
                let content = fs::read(self.path(&rotated(num, false))).unwrap();
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&content).unwrap();
                let gz = enc.finish().unwrap();
                let written = (*n).min(gz.len());
                fs::write(
                    self.path(&format!("{}.tmp", rotated(num, true))),
                    &gz[..written],
                )
                .unwrap();
                self.model.compressing = Some((num, gz, written));
            }
            Action::GzipMore(more) => {
                let Some((num, gz, written)) = &mut self.model.compressing else {
                    return;
                };
                let end = (*written + more).min(gz.len());
                let tmp = format!("{}.tmp", rotated(*num, true));
                let mut f = OpenOptions::new()
                    .append(true)
                    .open(self.dir.path().join("logs").join(tmp))
                    .unwrap();
                f.write_all(&gz[*written..end]).unwrap();
                *written = end;
            }
            Action::GzipEnd => self.finish_compression(),
            Action::Replica(k, lens) => {
                if self.tailer.is_none() {
                    return;
                }
                let complete: Vec<u64> = self
                    .model
                    .files
                    .get("app.log")
                    .map(|ids| {
                        ids.iter()
                            .copied()
                            .filter(|id| Some(*id) != self.model.partial)
                            .take(*k)
                            .collect()
                    })
                    .unwrap_or_default();
                if complete.is_empty() {
                    return;
                }
                self.model.replicas += 1;
                let name = format!("app.log-r{}", self.model.replicas);
                let mut text = String::new();
                for id in &complete {
                    text.push_str(&self.model.text[id]);
                    text.push('\n');
                    self.model.require(*id);
                }
                self.model.files.insert(name.clone(), complete);
                text.push_str(&self.lines_text(&name, lens));
                self.append(&name, &text);
                // Seen beside its live original.
                self.apply(&Action::Step(true));
            }
            Action::ReplicaWrite(k, lens) => {
                let replicas: Vec<String> = self
                    .model
                    .files
                    .keys()
                    .filter(|n| n.starts_with("app.log-r"))
                    .cloned()
                    .collect();
                if replicas.is_empty() {
                    return;
                }
                let name = replicas[k % replicas.len()].clone();
                let text = self.lines_text(&name, lens);
                self.append(&name, &text);
            }
            Action::Write(lens) => {
                let mut text = String::new();
                if let Some(id) = self.model.partial.take() {
                    text.push('\n');
                    let _ = id;
                }
                for len in lens {
                    let (id, line) = self.model.new_line(*len);
                    text.push_str(&line);
                    text.push('\n');
                    self.model.text.insert(id, line);
                    self.model.require(id);
                    self.model
                        .files
                        .entry("app.log".into())
                        .or_default()
                        .push(id);
                }
                self.append("app.log", &text);
            }
            Action::WritePartial(len) => {
                let chunk = match self.model.partial {
                    Some(id) => {
                        let more: String = "z".repeat(*len);
                        self.model.text.get_mut(&id).unwrap().push_str(&more);
                        more
                    }
                    None => {
                        let (id, line) = self.model.new_line(*len);
                        self.model.partial = Some(id);
                        self.model.text.insert(id, line.clone());
                        self.model.require(id);
                        self.model
                            .files
                            .entry("app.log".into())
                            .or_default()
                            .push(id);
                        line
                    }
                };
                self.append("app.log", &chunk);
            }
            Action::RenameRotate => {
                if !self.model.files.contains_key("app.log") {
                    return;
                }
                self.shift();
                fs::rename(self.path("app.log"), self.path("app.log.1")).unwrap();
                self.model.observed_full = false;
                let ids = self.model.files.remove("app.log").unwrap();
                self.model.files.insert("app.log.1".into(), ids);
                self.model.partial = None;
            }
            Action::CopyTruncate => {
                if !self.model.files.contains_key("app.log") {
                    return;
                }
                self.shift();
                fs::copy(self.path("app.log"), self.path("app.log.1")).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(self.path("app.log"))
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                let len = fs::metadata(self.path("app.log.1")).unwrap().len();
                let ids = std::mem::take(self.model.files.get_mut("app.log").unwrap());
                // The tailer recognises the copy by the fingerprint it knows
                // of the original: a partial one only if it sees the
                // truncation (it holds the file open and steps before a crash).
                let short = len < self.knobs.fingerprint_bytes || !self.model.observed_full;
                self.model.observed_full = false;
                if short {
                    if self.tailer.is_some() && self.is_open("app.log") {
                        self.model.unseen_short_copy.extend(&ids);
                    } else {
                        self.model.may_repeat.extend(&ids);
                    }
                }
                self.model.files.insert("app.log.1".into(), ids);
                self.model.partial = None;
            }
            Action::Truncate => {
                let Some(ids) = self.model.files.get_mut("app.log") else {
                    return;
                };
                let ids = std::mem::take(ids);
                OpenOptions::new()
                    .write(true)
                    .open(self.path("app.log"))
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                self.model.lose(&ids);
                self.model.partial = None;
                self.model.observed_full = false;
            }
            Action::Delete(k) => {
                let names: Vec<String> = self.model.files.keys().cloned().collect();
                if names.is_empty() {
                    return;
                }
                let name = names[k % names.len()].clone();
                let held_open = self.is_open(&name);
                fs::remove_file(self.path(&name)).unwrap();
                let ids = self.model.files.remove(&name).unwrap();
                if !held_open {
                    self.model.lose(&ids);
                }
                if name == "app.log" {
                    self.model.partial = None;
                    self.model.observed_full = false;
                }
            }
            Action::GzipRotate(k) => {
                let plain: Vec<u32> = self
                    .model
                    .rotated_names()
                    .into_iter()
                    .filter(|(_, gz)| !gz)
                    .map(|(n, _)| n)
                    .collect();
                if plain.is_empty() {
                    return;
                }
                let n = plain[k % plain.len()];
                let (from, to) = (rotated(n, false), rotated(n, true));
                let content = fs::read(self.path(&from)).unwrap();
                let mut enc = flate2::write::GzEncoder::new(
                    fs::File::create(self.path(&to)).unwrap(),
                    flate2::Compression::fast(),
                );
                enc.write_all(&content).unwrap();
                enc.finish().unwrap();
                fs::remove_file(self.path(&from)).unwrap();
                let ids = self.model.files.remove(&from).unwrap();
                self.model.files.insert(to, ids);
            }
            Action::Step(scan) => {
                if self.tailer.is_some() {
                    self.model.unseen_short_copy.clear();
                }
                let full = fs::metadata(self.path("app.log"))
                    .is_ok_and(|m| m.len() >= self.knobs.fingerprint_bytes);
                self.now += Duration::from_millis(37);
                let now = self.now;
                let out = self.output.clone();
                if let Some(t) = &mut self.tailer {
                    if *scan {
                        t.scan(now, &out).unwrap();
                    }
                    t.step(now, &out).unwrap();
                    t.checkpoint_if_due(now);
                }
                if full && self.is_open("app.log") {
                    self.model.observed_full = true;
                }
                self.pump();
            }
            Action::Ack(n) => self.deliver(*n),
            Action::Crash => {
                if let Some(mut t) = self.tailer.take() {
                    let unseen = std::mem::take(&mut self.model.unseen_short_copy);
                    self.model.may_repeat.extend(unseen);
                    self.pump();
                    assert!(t.write_checkpoint(self.now), "checkpoint write failed");
                    drop(t);
                    self.held.clear();
                    // Lines whose only copy is gone and that were not delivered
                    // cannot come back.
                    let mut existing: HashMap<u64, usize> = HashMap::new();
                    for id in self.model.files.values().flatten() {
                        *existing.entry(*id).or_default() += 1;
                    }
                    let gone: Vec<u64> = self
                        .model
                        .required
                        .iter()
                        .flat_map(|(id, n)| {
                            let have = existing.get(id).copied().unwrap_or(0);
                            std::iter::repeat_n(*id, n.saturating_sub(have))
                        })
                        .collect();
                    self.model.lose(&gone);
                }
            }
            Action::Restart => {
                if self.tailer.is_none() {
                    self.start();
                }
            }
        }
    }

    /// Runs until nothing moves: everything readable read and acknowledged,
    /// waiting lines past their timeouts.
    fn drain(&mut self) {
        self.finish_compression();
        if self.tailer.is_none() {
            self.start();
        }
        let mut quiet = 0;
        let mut rounds = 0;
        while quiet < 4 {
            rounds += 1;
            assert!(rounds < 10_000, "the tailer never settled");
            self.now += Duration::from_secs(2 * 3600);
            let now = self.now;
            let out = self.output.clone();
            let t = self.tailer.as_mut().unwrap();
            let opened = t.scan(now, &out).unwrap();
            let progressed = t.step(now, &out).unwrap();
            self.deliver(usize::MAX);
            let t = self.tailer.as_mut().unwrap();
            t.drain_acks();
            // Files waiting for a descriptor keep the run going, as the agent's
            // loop keeps rescanning for them.
            if progressed || opened > 0 || t.wants_fast_rescan() || !t.all_acked() {
                quiet = 0;
            } else {
                quiet += 1;
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        let mut count: HashMap<u64, usize> = HashMap::new();
        for line in &self.delivered {
            let id: u64 = line
                .strip_prefix('L')
                .and_then(|r| r.get(..5))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("delivered a fragment: {line:?}"))?;
            let want = self
                .model
                .text
                .get(&id)
                .ok_or_else(|| format!("delivered an unknown line: {line:?}"))?;
            if want != line {
                return Err(format!(
                    "line {id} delivered as {line:?}, written as {want:?}"
                ));
            }
            *count.entry(id).or_default() += 1;
        }
        let ids: BTreeSet<u64> = self
            .model
            .required
            .keys()
            .chain(self.model.optional.keys())
            .copied()
            .collect();
        for id in ids {
            let want = self.model.required.get(&id).copied().unwrap_or(0);
            let extra = self.model.optional.get(&id).copied().unwrap_or(0)
                + usize::from(self.model.may_repeat.contains(&id));
            let got = count.get(&id).copied().unwrap_or(0);
            if got < want {
                return Err(format!(
                    "line {id} lost: delivered {got} of {want} times: {:?}",
                    self.model.text[&id]
                ));
            }
            if got > want + extra {
                return Err(format!(
                    "line {id} delivered {got} times, at most {} expected",
                    want + extra
                ));
            }
        }
        Ok(())
    }
}

fn run(knobs: Knobs, actions: &[Action]) -> Result<(), String> {
    let mut h = Harness::new(knobs);
    for a in actions {
        h.apply(a);
    }
    h.drain();
    h.check()
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A CI-sized run; `TAILER_MODEL_CASES=5000` for a longer hunt.
        cases: std::env::var("TAILER_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_line_lost_none_delivered_twice(
        knobs in knobs(),
        actions in proptest::collection::vec(action(), 1..60),
    ) {
        if let Err(e) = run(knobs.clone(), &actions) {
            prop_assert!(false, "{e}\nknobs: {knobs:?}\nactions: {actions:?}");
        }
    }
}

/// The sequences that found bugs while this test was written, kept as
/// regression tests named after what they exercise.
#[test]
fn copytruncate_then_crash_resumes_the_copy() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 1024,
        read_buffer: 4096,
        per_turn: 1 << 20,
        batch_events: 2,
    };
    let actions = [
        Action::Write(vec![5, 30]),
        Action::Step(true),
        Action::Ack(1),
        Action::CopyTruncate,
        Action::Crash,
        Action::Write(vec![3]),
        Action::Restart,
        Action::Step(true),
    ];
    run(knobs, &actions).unwrap();
}

/// A replica sharing app.log's first line, app.log rotated and compressed,
/// the replica deleted: the gzip matched both by its head and was continued
/// at the replica's offset (a fragment of a line). The sample of the bytes
/// before where each stopped tells them apart.
#[test]
fn a_compressed_rotation_is_not_taken_for_a_gone_replica() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 2,
        read_buffer: 7,
        per_turn: 1 << 20,
        batch_events: 1,
    };
    let actions = [
        Action::Write(vec![3]),
        Action::WritePartial(18),
        Action::Replica(1, vec![0]),
        Action::Step(false),
        Action::RenameRotate,
        Action::GzipRotate(0),
        Action::Delete(0),
    ];
    run(knobs, &actions).unwrap();
}

/// A copytruncate copy that is also a prefix of a live replica: it continues
/// the truncated file, it is not held back as a copy of the replica.
#[test]
fn a_copytruncate_copy_is_not_taken_for_a_copy_of_a_replica() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 1,
        read_buffer: 4096,
        per_turn: 40,
        batch_events: 1,
    };
    let actions = [
        Action::Write(vec![0]),
        Action::Write(vec![0]),
        Action::Write(vec![0]),
        Action::Replica(3, vec![8]),
        Action::CopyTruncate,
    ];
    run(knobs, &actions).unwrap();
}

/// A replica deleted while the agent was down, whose inode the next
/// copytruncate copy reused: same inode, same head, so the copy was resumed
/// as the replica (from its offset) instead of continuing the truncated file;
/// then its compressed form continued the truncated file as well (read
/// twice). The sample of the bytes before where the replica stopped tells the
/// reused inode apart.
#[test]
fn a_reused_inode_with_the_same_head_is_not_resumed_as_its_old_file() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 2,
        read_buffer: 7,
        per_turn: 40,
        batch_events: 1,
    };
    let actions = [
        Action::Write(vec![8]),
        Action::Replica(1, vec![0]),
        Action::Crash,
        Action::Delete(1),
        Action::Restart,
        Action::WritePartial(27),
        Action::CopyTruncate,
        Action::Step(true),
        Action::GzipBegin(5, 0),
    ];
    run(knobs, &actions).unwrap();
}

/// Long sequence (replicas, gzip rotations, crashes): a replica's entry that
/// never read a byte, detached when its inode was reused, was continued by a
/// compressed rotation of another file (from 0: read twice) instead of that
/// file's own entry, still being read. Entries that read nothing are no link.
#[test]
fn an_entry_that_read_nothing_is_not_continued_by_a_copy() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 1,
        read_buffer: 7,
        per_turn: 1 << 20,
        batch_events: 1,
    };
    use Action::*;
    let actions = [
        Write(vec![18]),
        Replica(6, vec![1, 23]),
        Ack(5),
        Write(vec![13, 21]),
        Step(false),
        Ack(3),
        GzipRotate(3),
        Crash,
        WritePartial(6),
        Write(vec![8, 18]),
        RenameRotate,
        Truncate,
        Truncate,
        Restart,
        Write(vec![11, 35, 33]),
        Step(true),
        ReplicaWrite(3, vec![2, 4]),
        RenameRotate,
        Restart,
        GzipBegin(3, 1),
        Write(vec![20, 16]),
        Step(true),
        Ack(5),
        GzipEnd,
        Step(true),
        Step(true),
        ReplicaWrite(1, vec![33]),
        Ack(5),
        Delete(5),
        GzipRotate(0),
        Write(vec![6, 11, 3]),
        GzipBegin(7, 2),
        Replica(3, vec![33, 18]),
        Write(vec![12]),
        Step(true),
    ];
    run(knobs, &actions).unwrap();
}

/// The compressed rotation of a file is a prefix of a live replica of it: it
/// waited (for ever) as a "compressed copy" of the replica instead of
/// continuing its own file's entry (verified by its sample though nothing of
/// it was acknowledged yet).
#[test]
fn a_compressed_rotation_does_not_wait_for_a_replica_it_is_a_prefix_of() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 1024,
        read_buffer: 7,
        per_turn: 40,
        batch_events: 1,
    };
    let actions = [
        Action::Write(vec![8]),
        Action::Replica(1, vec![0]),
        Action::RenameRotate,
        Action::GzipRotate(0),
        Action::Crash,
    ];
    run(knobs, &actions).unwrap();
}

/// copytruncate, then the original rewritten to the same length before the
/// agent looked again, then a crash: the checkpoint's sample was taken of the
/// rewritten bytes, and the copy (compressed) was read again from its start.
#[test]
fn a_sample_is_not_taken_of_a_rewritten_file() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 2,
        read_buffer: 7,
        per_turn: 40,
        batch_events: 1,
    };
    use Action::*;
    let actions = [
        Step(false),
        Write(vec![8]),
        Step(true),
        CopyTruncate,
        Ack(1),
        Write(vec![8]),
        Crash,
        Write(vec![0]),
        GzipRotate(0),
        Write(vec![0]),
    ];
    run(knobs, &actions).unwrap();
}

/// Regression found by the random search: with `max_open_files`
/// reached, making room found the open file renamed away and deleted, marked
/// it orphaned while its end-of-file mark was from before the last write, and
/// it was finished without reading that write: its line was lost.
#[test]
fn a_deleted_file_found_while_making_room_is_read_to_its_end() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 2,
        read_buffer: 7,
        per_turn: 40,
        batch_events: 1,
    };
    let actions = [
        Action::Write(vec![0]),
        Action::Truncate,
        Action::CopyTruncate,
        Action::RenameRotate,
        Action::Write(vec![0]),
        Action::ReplicaWrite(0, vec![0]),
        Action::Step(true),
        Action::Ack(1),
        Action::Write(vec![0]),
        Action::RenameRotate,
        Action::Write(vec![0]),
        Action::Delete(5),
    ];
    run(knobs, &actions).unwrap();
}

/// Regression found by the random search (`max_open_files = 1`, so most
/// files wait for a descriptor, closed): app.log holds one line when a
/// replica of it appears, then copytruncate copies it to app.log.1. The
/// tailer had read nothing of app.log (no descriptor), so its truncated
/// content is no link, and the copy matched the replica instead (same head,
/// the same bytes up to the copy's end). The replica was not open, so the copy
/// was taken for a copy of a file rotated away and still being read, and
/// waited for the replica to go, for ever: its line was lost. A closed file at
/// its path is waited for like an open one (until `COPY_GRACE`), then the copy
/// is read as a file of its own.
#[test]
fn a_copy_matching_a_closed_replica_does_not_wait_for_it_forever() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 1,
        read_buffer: 7,
        per_turn: 1 << 20,
        batch_events: 1,
    };
    use Action::*;
    let actions = [
        Write(vec![0]),
        Replica(1, vec![0]),
        Write(vec![0]),
        RenameRotate,
        Write(vec![8]),
        Replica(1, vec![0]),
        CopyTruncate,
        Write(vec![0]),
        Replica(1, vec![0]),
    ];
    run(knobs, &actions).unwrap();
}

/// Regression found by the random search (`max_open_files = 1`): a replica
/// that never got a descriptor (its entry read nothing, but keeps the
/// fingerprint of its head, the same first bytes as app.log's) is deleted,
/// and the next copytruncate copy of app.log reuses its inode. The copy was
/// resumed as the replica, from offset 0 (its lines read twice), instead of
/// continuing app.log's truncated content where reading stopped. An entry
/// that read nothing links nothing, even at its own inode.
#[test]
fn a_reused_inode_of_an_entry_that_read_nothing_continues_the_copied_file() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 1,
        read_buffer: 7,
        per_turn: 40,
        batch_events: 1,
    };
    use Action::*;
    let actions = [
        Write(vec![3]),
        Write(vec![0]),
        Replica(1, vec![0]),
        Delete(5),
        Write(vec![0]),
        CopyTruncate,
    ];
    run(knobs, &actions).unwrap();
}

/// Found by the long random search (`TAILER_MODEL_CASES=2000`, release) after
/// the two fixes above, and failing the same way on main before them; not
/// fixed yet: line 3 is read twice. After the crash, the deleted replica
/// app.log-r2 (which began with app.log's first two lines) is still in the
/// checkpoint at offset 0; the gzip rotation of app.log is taken for r2's
/// content ("continuing where it stopped", offset 0) and read from its start,
/// while app.log's own entry, open on the same content, reads it too. Its seed
/// is kept out of the regression file until it is fixed (it would fail every
/// run): `cc ef8ccd3d0523e8e954839dd3cdfc20d2263811656c79e85d1c5e7097189f11fa`.
#[test]
#[ignore = "known duplicate, not fixed yet"]
fn known_duplicate_after_a_crash_a_deleted_replica_and_a_gzip_rotation() {
    let knobs = Knobs {
        fingerprint_bytes: 16,
        max_open_files: 2,
        read_buffer: 7,
        per_turn: 40,
        batch_events: 1,
    };
    use Action::*;
    let actions = [
        Write(vec![0]),
        WritePartial(1),
        Write(vec![0]),
        Replica(1, vec![0]),
        ReplicaWrite(0, vec![0]),
        Replica(2, vec![16]),
        Crash,
        Delete(2),
        Restart,
        Step(true),
        Write(vec![0]),
        RenameRotate,
        GzipRotate(0),
        Write(vec![0]),
    ];
    run(knobs, &actions).unwrap();
}
