//! The torture test (issue 13): a writer appends JSON lines with sequence
//! numbers and rotates every few thousand lines — by rename, by copytruncate,
//! or by rename and a slow gzip under a name the glob matches — while the agent
//! (file source → exactly-once file sink, itself rotating and compressing by
//! size) is killed with SIGKILL at random moments and restarted. At the end
//! every output file is read back: a line is *lost* if its sequence number is
//! missing, *duplicated* for every extra copy, *torn* if it is not a complete
//! JSON line of the writer's.
//!
//! The CI version (these tests) is small: a few thousand lines and a few kills
//! per case, well under a minute. `scripts/torture` runs the long version
//! (`TORTURE_LINES`, `TORTURE_KILLS`, `TORTURE_ROTATE_EVERY`, `TORTURE_RATE`,
//! `TORTURE_SEED`)
//! and prints the table. Each case prints its row as `TORTURE| ...`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{bin, wait_until, write_pipeline};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rotation {
    Rename,
    CopyTruncate,
    /// Rename, then the rotated file is gzipped slowly (in steps, under its
    /// final `.gz` name, which the include glob matches) and deleted after.
    GzipDelayed,
}

impl Rotation {
    fn name(self) -> &'static str {
        match self {
            Rotation::Rename => "rename",
            Rotation::CopyTruncate => "copytruncate",
            Rotation::GzipDelayed => "rename + delayed gzip",
        }
    }
}

struct Plan {
    lines: u64,
    kills: u32,
    rotate_every: u64,
    /// Lines per second the writer aims at.
    rate: u64,
    seed: u64,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Plan {
    fn from_env(lines: u64, kills: u32) -> Plan {
        let seed = env_u64(
            "TORTURE_SEED",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        );
        Plan {
            lines: env_u64("TORTURE_LINES", lines),
            kills: env_u64("TORTURE_KILLS", kills as u64) as u32,
            rotate_every: env_u64("TORTURE_ROTATE_EVERY", 2_000),
            rate: env_u64("TORTURE_RATE", 2_000),
            seed,
        }
    }
}

/// xorshift64*: reproducible kill moments from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn record(seq: u64) -> String {
    // Some padding so files rotate by size at the sink too.
    format!("{{\"seq\":{seq},\"msg\":\"torture line {seq:09} abcdefghijklmnopqrstuvwxyz\"}}\n")
}

fn pipeline(dir: &Path) -> PathBuf {
    write_pipeline(
        dir,
        "p.toml",
        &format!(
            r#"
data_dir = {data:?}

[sources.app]
type = "file"
include = [{include:?}]
checkpoint_interval = "100ms"
poll_interval = "20ms"

[sinks.out]
type = "file"
inputs = ["app"]
path = {out:?}
encoding = "text"
flush_interval = "50ms"
{durability}

[sinks.out.rotate]
max_size = "512KiB"
compress_level = 1
"#,
            data = dir.join("data").display().to_string(),
            include = dir.join("logs/app.log*").display().to_string(),
            out = dir.join("out/app.ndjson").display().to_string(),
            // TORTURE_DURABILITY=none leaves the key out (older binaries).
            durability = match std::env::var("TORTURE_DURABILITY").as_deref() {
                Ok("none") => String::new(),
                Ok(d) => format!("durability = {d:?}"),
                Err(_) => "durability = \"exactly_once\"".to_owned(),
            },
        ),
    )
}

/// Starts the agent; its log is appended to `agent.log` next to the pipeline
/// (kept, with the rest of the directory, when a case fails).
fn start(p: &Path) -> Child {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(p.with_file_name("agent.log"))
        .unwrap();
    // TORTURE_BIN runs another build (e.g. the release binary, or main's).
    let mut cmd = match std::env::var_os("TORTURE_BIN") {
        Some(b) => std::process::Command::new(b),
        None => bin(),
    };
    cmd.arg("-p")
        .arg(p)
        // TORTURE_LOG=debug shows the tailer's identity decisions.
        .env(
            "LOGAGENT_LOG",
            std::env::var("TORTURE_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Copies `from` to `to` slowly as gzip: the archive grows in steps under its
/// final name (as a slow compressor would write it), then `from` is deleted.
fn gzip_slowly(from: &Path, to: &Path) {
    let mut input = Vec::new();
    File::open(from).unwrap().read_to_end(&mut input).unwrap();
    let out = File::create(to).unwrap();
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let step = (input.len() / 4).max(1);
    for chunk in input.chunks(step) {
        enc.write_all(chunk).unwrap();
        enc.flush().unwrap();
        // The compressor's pace (not a wait for anything).
        std::thread::sleep(Duration::from_millis(30));
    }
    enc.finish().unwrap().sync_all().unwrap();
    fs::remove_file(from).unwrap();
}

/// Appends lines `0..plan.lines` to `logs/app.log`, rotating every
/// `rotate_every` lines; `written` counts lines written so far.
fn writer(
    dir: PathBuf,
    plan_lines: u64,
    rotate_every: u64,
    how: Rotation,
    written: Arc<AtomicU64>,
    rate: u64,
) {
    let pace = Duration::from_micros(50_000_000 / rate.max(1));
    let logs = dir.join("logs");
    let active = logs.join("app.log");
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&active)
            .unwrap()
    };
    let mut f = open();
    let mut compressors = Vec::new();
    let mut rotations = 0u64;
    let mut seq = 0u64;
    let mut chunk = String::new();
    while seq < plan_lines {
        chunk.clear();
        let end = (seq + 50).min(plan_lines);
        for s in seq..end {
            chunk.push_str(&record(s));
        }
        f.write_all(chunk.as_bytes()).unwrap();
        seq = end;
        written.store(seq, Ordering::Relaxed);
        if seq.is_multiple_of(rotate_every) && seq < plan_lines {
            rotations += 1;
            let rotated = logs.join(format!("app.log.{rotations}"));
            match how {
                Rotation::Rename => {
                    fs::rename(&active, &rotated).unwrap();
                    f = open();
                }
                Rotation::CopyTruncate => {
                    fs::copy(&active, &rotated).unwrap();
                    f.set_len(0).unwrap();
                }
                Rotation::GzipDelayed => {
                    fs::rename(&active, &rotated).unwrap();
                    f = open();
                    let gz = logs.join(format!("app.log.{rotations}.gz"));
                    compressors.push(std::thread::spawn(move || gzip_slowly(&rotated, &gz)));
                }
            }
        }
        // A busy service's pace: bursts of 50 lines (not a wait for anything).
        std::thread::sleep(pace);
    }
    for c in compressors {
        c.join().unwrap();
    }
}

/// Every line of every output file (plain, rotated, gzipped; not temporary).
fn output_lines(out: &Path) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let Ok(entries) = fs::read_dir(out) else {
        return lines;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let mut bytes = Vec::new();
        let Ok(mut f) = File::open(e.path()) else {
            continue;
        };
        if name.ends_with(".gz") {
            let _ = flate2::read::MultiGzDecoder::new(f).read_to_end(&mut bytes);
        } else {
            let _ = f.read_to_end(&mut bytes);
        }
        lines.extend(
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    lost: u64,
    duplicated: u64,
    torn: u64,
}

fn tally(out: &Path, total: u64) -> Tally {
    let mut seen = vec![0u32; total as usize];
    let mut t = Tally::default();
    for l in output_lines(out) {
        let seq = serde_json::from_slice::<serde_json::Value>(&l)
            .ok()
            .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64))
            .filter(|s| *s < total && format!("{}\n", String::from_utf8_lossy(&l)) == record(*s));
        match seq {
            Some(s) => seen[s as usize] += 1,
            None => {
                if t.torn < 5 {
                    eprintln!("torn: {:?}", String::from_utf8_lossy(&l));
                }
                t.torn += 1;
            }
        }
    }
    let mut shown = 0;
    for (seq, n) in seen.into_iter().enumerate() {
        if n != 1 && shown < 5 {
            shown += 1;
            eprintln!("seq {seq}: {n} copies");
        }
        if n == 0 {
            t.lost += 1;
        } else {
            t.duplicated += u64::from(n - 1);
        }
    }
    t
}

/// The sequence number of a line, found without a JSON parser (polled often
/// over the whole output while waiting).
fn seq_of(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"{\"seq\":";
    let digits = line.strip_prefix(KEY)?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

fn unique_seen(out: &Path, total: u64) -> u64 {
    let mut seen = vec![false; total as usize];
    for l in output_lines(out) {
        if let Some(s) = seq_of(&l).filter(|s| *s < total) {
            seen[s as usize] = true;
        }
    }
    seen.iter().filter(|b| **b).count() as u64
}

fn run(how: Rotation, plan: Plan) -> Tally {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("logs")).unwrap();
    let p = pipeline(dir.path());
    let written = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    eprintln!(
        "torture {}: {} lines at {}/s, {} kills, rotation every {} lines, seed {}",
        how.name(),
        plan.lines,
        plan.rate,
        plan.kills,
        plan.rotate_every,
        plan.seed
    );
    let w = {
        let (d, w) = (dir.path().to_path_buf(), written.clone());
        let (lines, every, rate) = (plan.lines, plan.rotate_every, plan.rate);
        std::thread::spawn(move || writer(d, lines, every, how, w, rate))
    };
    let mut rng = Rng(plan.seed);
    let mut agent = common::Guard(start(&p));
    // Kill moments spread over the writer's run, at random line counts.
    let gap = (plan.lines / u64::from(plan.kills + 1)).max(1);
    for k in 0..plan.kills {
        let at = (u64::from(k) * gap + rng.below(gap)).min(plan.lines.saturating_sub(1));
        wait_until(
            Duration::from_secs(600),
            "the writer to get to the next kill",
            || written.load(Ordering::Relaxed) >= at,
        );
        agent.0.kill().unwrap();
        agent.0.wait().unwrap();
        agent = common::Guard(start(&p));
    }
    w.join().unwrap();
    let total = plan.lines;
    let out = dir.path().join("out");
    // Polled with a deadline; on a loss the tally below says what is missing.
    let deadline = Instant::now() + Duration::from_secs(30 + total / 2_000);
    while unique_seen(&out, total) < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = agent.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = agent.0.wait().unwrap();
    assert!(status.success(), "clean stop: {status}");
    let t = tally(&out, total);
    eprintln!(
        "TORTURE| {} | {} | {} | {} | {} | {} | {:.1}s",
        how.name(),
        total,
        plan.kills,
        t.lost,
        t.duplicated,
        t.torn,
        started.elapsed().as_secs_f64()
    );
    if t != Tally::default() {
        eprintln!("kept for inspection: {}", dir.keep().display());
    }
    t
}

#[test]
fn torture_rename_with_kills() {
    let t = run(Rotation::Rename, Plan::from_env(12_000, 4));
    assert_eq!(t, Tally::default());
}

#[test]
fn torture_copytruncate_with_kills() {
    let t = run(Rotation::CopyTruncate, Plan::from_env(12_000, 4));
    assert_eq!(t, Tally::default());
}

#[test]
fn torture_delayed_gzip_with_kills() {
    let t = run(Rotation::GzipDelayed, Plan::from_env(12_000, 4));
    assert_eq!(t, Tally::default());
}
