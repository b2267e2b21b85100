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
