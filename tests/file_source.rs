//! The file source through the real binary: kill -9 and restart, rotation
//! under a steady writer, corrupted checkpoints, container logs.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{bin, wait_until, write_pipeline};

/// Fixed-width lines, so an offset maps to a line number.
fn line(i: usize) -> String {
    format!("line-{i:07}\n")
}
const LINE_LEN: u64 = 13;

fn pipeline(dir: &Path, include: &str) -> PathBuf {
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
flush_interval = "20ms"
# This file's kill -9 tests check the at-least-once contract; the
# exactly-once one is in tests/torture.rs.
durability = "at_least_once"
"#,
            data = dir.join("data").display().to_string(),
            out = dir.join("out.txt").display().to_string(),
        ),
    )
}

fn output(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("out.txt"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn start(p: &Path) -> Child {
    bin()
        .arg("-p")
        .arg(p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn checkpoint_offset(dir: &Path) -> u64 {
    logagent::checkpoint::load(&dir.join("data"), "app", |_| {})
        .unwrap()
        .map_or(0, |cp| cp.files.iter().map(|f| f.offset).max().unwrap_or(0))
}

/// Writes lines `from..to` to `path` in small bursts, like a busy service;
/// `pace` spaces the bursts (a steady writer's rate, not a wait for anything).
fn write_lines_paced(path: &Path, from: usize, to: usize, pace: Duration) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut i = from;
    while i < to {
        let end = (i + 50).min(to);
        let chunk: String = (i..end).map(line).collect();
        f.write_all(chunk.as_bytes()).unwrap();
        i = end;
        if pace.is_zero() {
            std::thread::yield_now();
        } else {
            std::thread::sleep(pace);
        }
    }
}

fn write_lines(path: &Path, from: usize, to: usize) {
    write_lines_paced(path, from, to, Duration::ZERO);
}

fn expect_lines(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| line(i).trim_end().to_string()).collect()
}

/// kill -9 in the middle of a run, with a writer still writing, then restart.
///
/// What the agent promises, precisely: the checkpoint never covers a line the
/// sink has not written (no loss), and a restart resumes exactly at the
/// checkpoint. The sink acknowledges after write(2), and the checkpoint is
/// written every `checkpoint_interval` after acknowledgements, so lines written
/// by the sink after the last checkpoint are written again after a kill -9:
/// the output is `input[..k] ++ input[j..]` where `k` lines were written before
/// the kill and `j` is the checkpoint's line. Killed once the checkpoint has
/// caught up with the output (`j == k`), the output is the input exactly once.
#[test]
fn kill_9_and_restart_loses_nothing_and_repeats_only_what_the_checkpoint_had_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let p = pipeline(dir.path(), &log.display().to_string());
    let first = 60_000;

    // Run 1: killed at an arbitrary moment while the writer writes.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || write_lines_paced(&log, 0, first, Duration::from_micros(500)))
    };
    let mut agent = start(&p);
    wait_until(Duration::from_secs(60), "output and a checkpoint", || {
        output(dir.path()).len() >= 10_000 && checkpoint_offset(dir.path()) > 0
    });
    agent.kill().unwrap();
    agent.wait().unwrap();
    let k = output(dir.path()).len();
    let j = (checkpoint_offset(dir.path()) / LINE_LEN) as usize;
    eprintln!("killed with {k} lines out, checkpoint at line {j}");
    assert!(
        j <= k,
        "checkpoint at line {j} is ahead of the output ({k} lines)"
    );
    assert_eq!(
        output(dir.path()),
        expect_lines(0..k),
        "output is a prefix of the input"
    );
    writer.join().unwrap();

    // Run 2: resumes at the checkpoint; killed again once everything written
    // so far is out and checkpointed.
    let mut agent = start(&p);
    let want = k + (first - j);
    wait_until(Duration::from_secs(60), "run 2 to catch up", || {
        output(dir.path()).len() >= want
    });
    wait_until(
        Duration::from_secs(30),
        "the checkpoint to catch up",
        || checkpoint_offset(dir.path()) == first as u64 * LINE_LEN,
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert_eq!(output(dir.path()).len(), want);

    // Run 3: lines written while the agent was down, then a clean stop.
    write_lines(&log, first, first + 1_000);
    let agent = start(&p);
    let want = want + 1_000;
    wait_until(Duration::from_secs(60), "run 3 to catch up", || {
        output(dir.path()).len() >= want
    });
    let pid = agent.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = agent.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut expected = expect_lines(0..k);
    expected.extend(expect_lines(j..first + 1_000));
    let got = output(dir.path());
    assert_eq!(
        got.len(),
        expected.len(),
        "re-read after the first kill: {} lines",
        k - j
    );
    assert!(
        got == expected,
        "output differs from input[..{k}] ++ input[{j}..]"
    );
    assert_eq!(
        checkpoint_offset(dir.path()),
        (first + 1_000) as u64 * LINE_LEN,
        "the final checkpoint covers everything"
    );
}

/// Five rename rotations while a writer keeps writing; only `app.log` matches
/// the glob, so every rotated file must be read to its end while still open.
#[test]
fn five_rotations_under_a_steady_writer_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let p = pipeline(dir.path(), &log.display().to_string());
    let mut agent = start(&p);
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (dir, log, written, stop) = (
            dir.path().to_path_buf(),
            log.clone(),
            written.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 0;
            for rotation in 1..=5 {
                let first_of_file = n;
                write_lines(&log, n, n + 2_000);
                n += 2_000;
                written.store(n, Ordering::SeqCst);
                // The agent has found this file (its first line is out), and
                // more lines go in right before the rename.
                let marker = line(first_of_file).trim_end().to_string();
                wait_until(Duration::from_secs(30), "the file to be followed", || {
                    output(&dir).contains(&marker)
                });
                write_lines(&log, n, n + 500);
                n += 500;
                for k in (1..rotation).rev() {
                    fs::rename(
                        dir.join(format!("app.log.{k}")),
                        dir.join(format!("app.log.{}", k + 1)),
                    )
                    .unwrap();
                }
                fs::rename(&log, dir.join("app.log.1")).unwrap();
                written.store(n, Ordering::SeqCst);
            }
            write_lines(&log, n, n + 1_000);
            n += 1_000;
            written.store(n, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        })
    };
    writer.join().unwrap();
    assert!(stop.load(Ordering::SeqCst));
    let total = written.load(Ordering::SeqCst);
    wait_until(Duration::from_secs(60), "every line written", || {
        output(dir.path()).len() >= total
    });
    let pid = agent.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert_eq!(agent.wait().unwrap().code(), Some(0));
    let mut got = output(dir.path());
    assert_eq!(got.len(), total, "no line twice");
    got.sort();
    assert!(got == expect_lines(0..total), "the lines are the input's");
}

#[test]
fn a_corrupted_checkpoint_does_not_stop_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    write_lines(&log, 0, 10);
    let cp_dir = dir.path().join("data/checkpoints");
    fs::create_dir_all(&cp_dir).unwrap();
    // A torn current copy and garbage in the previous one.
    fs::write(
        cp_dir.join("app.json"),
        "{\"version\":1,\"source\":\"app\",\"fi",
    )
    .unwrap();
    fs::write(cp_dir.join("app.json.prev"), [0xff, 0x00, 0x13]).unwrap();
    let p = pipeline(dir.path(), &log.display().to_string());
    let out = bin().arg("-p").arg(&p).arg("--once").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("checkpoint file unreadable"), "{err}");
    assert!(err.contains("no readable checkpoint"), "{err}");
    assert_eq!(output(dir.path()), expect_lines(0..10));
    // And it wrote a good one: a second run reads nothing again.
    assert_eq!(checkpoint_offset(dir.path()), 10 * LINE_LEN);
    write_lines(&log, 10, 12);
    let out = bin().arg("-p").arg(&p).arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(output(dir.path()), expect_lines(0..12));
}

#[test]
fn cri_logs_under_var_log_pods_get_stream_time_and_pod_fields() {
    let dir = tempfile::tempdir().unwrap();
    let pod_dir = dir
        .path()
        .join("pods/shop_web-7d4b9c-xyz12_5f0c-11ee-be56/nginx");
    fs::create_dir_all(&pod_dir).unwrap();
    fs::write(
        pod_dir.join("0.log"),
        concat!(
            "2024-05-01T10:00:00.123456789Z stdout F {\"level\":\"info\",\"msg\":\"up\"}\n",
            "2024-05-01T10:00:01Z stderr P a very long \n",
            "2024-05-01T10:00:01Z stdout F plain text\n",
            "2024-05-01T10:00:02Z stderr F line in two parts\n",
        ),
    )
    .unwrap();
    let p = write_pipeline(
        dir.path(),
        "k8s.toml",
        &format!(
            r#"
data_dir = {data:?}
[sources.pods]
type = "file"
include = [{include:?}]
format = "cri"
[transforms.parse]
type = "parse_json"
inputs = ["pods"]
[sinks.out]
type = "file"
inputs = ["parse"]
path = {out:?}
"#,
            data = dir.path().join("data").display().to_string(),
            include = format!("{}/pods/*/*/*.log", dir.path().display()),
            out = dir.path().join("out.ndjson").display().to_string(),
        ),
    );
    let out = bin().arg("-p").arg(&p).arg("--once").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = common::read_ndjson(&dir.path().join("out.ndjson"), &[]);
    let k8s = serde_json::json!({
        "pod_namespace": "shop",
        "pod_name": "web-7d4b9c-xyz12",
        "pod_uid": "5f0c-11ee-be56",
        "container_name": "nginx"
    });
    assert_eq!(
        got,
        vec![
            serde_json::json!({"level":"info","msg":"up","stream":"stdout","timestamp":"2024-05-01T10:00:00.123456789Z","kubernetes":k8s}),
            serde_json::json!({"message":"plain text","stream":"stdout","timestamp":"2024-05-01T10:00:01Z","kubernetes":k8s}),
            serde_json::json!({"message":"a very long line in two parts","stream":"stderr","timestamp":"2024-05-01T10:00:01Z","kubernetes":k8s}),
        ]
    );
}

/// Stops the agent with SIGTERM and checks it exits cleanly.
fn stop(agent: Child) {
    let pid = agent.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = agent.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn counts(lines: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in lines {
        *m.entry(l.clone()).or_default() += 1;
    }
    m
}

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// Regression (issue 12): two replicas printing the same start-up banner
/// (longer than the fingerprint): the second was never read. Both are
/// delivered in full, exactly once, also across a restart from the checkpoint.
#[test]
fn replicas_with_the_same_banner_are_both_delivered_exactly_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let p = pipeline(dir.path(), &format!("{}/*.log", logs.display()));
    let banner = format!("starting service v1.2.3 {}", "=".repeat(300));
    let (a, b) = (logs.join("a.log"), logs.join("b.log"));
    append(&a, &format!("{banner}\n"));
    let agent = start(&p);
    append(&b, &format!("{banner}\n"));
    let lines = |who: &str, r: std::ops::Range<usize>| -> String {
        r.map(|i| format!("{who}-{i:05}\n")).collect()
    };
    append(&a, &lines("a", 0..100));
    append(&b, &lines("b", 0..100));
    wait_until(Duration::from_secs(60), "both files read", || {
        output(dir.path()).len() >= 202
    });
    stop(agent);
    append(&a, &lines("a", 100..150));
    append(&b, &lines("b", 100..150));
    let agent = start(&p);
    wait_until(
        Duration::from_secs(60),
        "the lines written while down",
        || output(dir.path()).len() >= 302,
    );
    stop(agent);
    let got = counts(&output(dir.path()));
    assert_eq!(got.get(&banner), Some(&2), "the banner of each file, once");
    for who in ["a", "b"] {
        for i in 0..150 {
            assert_eq!(got.get(&format!("{who}-{i:05}")), Some(&1), "{who}-{i:05}");
        }
    }
    assert_eq!(got.len(), 301);
}

/// Regression (issue 12): a gzip file being written under a name the glob
/// matches was read as text. Here a rotated file is compressed in small steps
/// (created empty, then the magic, then chunks, then the end), renamed into
/// place and its plain file removed; and a gzip of lines never seen is written
/// the same way. Every line arrives exactly once, none as compressed bytes.
#[test]
fn gzip_written_in_small_steps_under_a_matched_name_is_delivered_once_never_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let p = pipeline(dir.path(), &format!("{}/app.log*", logs.display()));
    let rotated: String = (0..2_000).map(|i| format!("old-{i:05}\n")).collect();
    fs::write(logs.join("app.log.1"), &rotated).unwrap();
    fs::write(logs.join("app.log"), "").unwrap();
    let agent = start(&p);
    wait_until(Duration::from_secs(60), "the rotated file read", || {
        output(dir.path()).len() >= 2_000
    });
    let gzip = |text: &str| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    };
    let fresh: String = (0..2_000).map(|i| format!("new-{i:05}\n")).collect();
    for (tmp, bytes) in [
        ("app.log.2.gz.tmp", gzip(&rotated)),
        ("app.log.3.gz.tmp", gzip(&fresh)),
    ] {
        let path = logs.join(tmp);
        let mut f = fs::File::create(&path).unwrap();
        let mut at = 0;
        for step in [1, 1, 8, 64, 512] {
            // A compressor's pace, not a wait for the agent.
            std::thread::sleep(Duration::from_millis(60));
            let end = (at + step).min(bytes.len());
            f.write_all(&bytes[at..end]).unwrap();
            at = end;
        }
        while at < bytes.len() {
            std::thread::sleep(Duration::from_millis(20));
            let end = (at + 1024).min(bytes.len());
            f.write_all(&bytes[at..end]).unwrap();
            at = end;
        }
        drop(f);
    }
    fs::rename(logs.join("app.log.2.gz.tmp"), logs.join("app.log.2.gz")).unwrap();
    fs::remove_file(logs.join("app.log.1")).unwrap();
    append(&logs.join("app.log"), "marker\n");
    wait_until(Duration::from_secs(60), "the new gzip read", || {
        output(dir.path()).len() >= 4_001
    });
    // Both gzip files finished in the checkpoint: nothing more will be read.
    wait_until(Duration::from_secs(60), "the gzip files finished", || {
        logagent::checkpoint::load(&dir.path().join("data"), "app", |_| {})
            .ok()
            .flatten()
            .is_some_and(|cp| {
                cp.files
                    .iter()
                    .filter(|f| f.compressed && f.finished)
                    .count()
                    == 2
            })
    });
    stop(agent);
    let out = output(dir.path());
    let got = counts(&out);
    for l in rotated.lines().chain(fresh.lines()).chain(["marker"]) {
        assert_eq!(got.get(l), Some(&1), "{l}");
    }
    assert_eq!(
        out.len(),
        4_001,
        "no other line (no compressed bytes as text)"
    );
}

/// copytruncate seen part way (the copy is written in two steps) while the
/// writer goes on: every line exactly once, and the copy counted on /metrics.
#[test]
fn copytruncate_in_progress_delivers_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let p = pipeline(dir.path(), &format!("{}/app.log*", logs.display()));
    let addr = format!("127.0.0.1:{}", common::free_port());
    let with_api = format!(
        "{}\n[api]\naddress = \"{addr}\"\n",
        fs::read_to_string(&p).unwrap()
    );
    fs::write(&p, with_api).unwrap();
    let log = logs.join("app.log");
    write_lines(&log, 0, 3_000);
    let agent = start(&p);
    wait_until(Duration::from_secs(60), "the file read", || {
        output(dir.path()).len() >= 3_000
    });
    let content = fs::read(&log).unwrap();
    let copy = logs.join("app.log.1");
    fs::write(&copy, &content[..content.len() / 2]).unwrap();
    // A slow copy: the agent sees it half done.
    std::thread::sleep(Duration::from_millis(300));
    append(
        &copy,
        std::str::from_utf8(&content[content.len() / 2..]).unwrap(),
    );
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    write_lines(&log, 3_000, 4_000);
    wait_until(
        Duration::from_secs(60),
        "the lines after the truncation",
        || output(dir.path()).contains(&line(3_999).trim_end().to_string()),
    );
    // The copy is known and at its end (continued, or wrongly read whole).
    let copy_len = content.len() as u64;
    wait_until(Duration::from_secs(60), "the copy at its end", || {
        logagent::checkpoint::load(&dir.path().join("data"), "app", |_| {})
            .ok()
            .flatten()
            .is_some_and(|cp| {
                cp.files
                    .iter()
                    .any(|f| f.path == copy && f.offset == copy_len)
            })
    });
    let copies = |text: &str| -> f64 {
        logagent::telemetry::prometheus::parse(text)
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with("source_file_copies_total{") && k.contains("component_id=\"app\"")
            })
            .map(|(_, v)| v)
            .sum()
    };
    let metrics = logagent::telemetry::api::get(&addr, "/metrics").unwrap().1;
    assert_eq!(copies(&metrics), 1.0, "{metrics}");
    stop(agent);
    let mut got = output(dir.path());
    assert_eq!(got.len(), 4_000, "no line twice");
    got.sort();
    assert!(got == expect_lines(0..4_000));
}
