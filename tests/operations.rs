//! Running it on nodes, through the real binary: the API (`/health`, `/ready`,
//! `/metrics` consistent with the output, `tap`, `top`), reload on SIGHUP and
//! `--watch` mid-stream, the disk buffer across kill -9, and `logagent test`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Guard, bin, free_port, repo, wait_until, write_pipeline};
use logagent::telemetry::api;
use logagent::telemetry::prometheus;

fn kill(child: &Child, signal: &str) {
    std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
}

/// Reads the child's stderr into a shared string as it comes.
fn capture_stderr(child: &mut Child) -> Arc<std::sync::Mutex<String>> {
    let text = Arc::new(std::sync::Mutex::new(String::new()));
    let mut err = child.stderr.take().unwrap();
    let t = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut err, &mut buf) {
            if n == 0 {
                break;
            }
            t.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

fn metric(text: &str, name: &str, component: &str) -> f64 {
    prometheus::parse(text)
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{name}{{"))
                && k.contains(&format!("component_id=\"{component}\""))
        })
        .map(|(_, v)| v)
        .sum()
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn metrics_move_with_the_output_and_tap_and_top_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let input = dir.path().join("in/app.log");
    let out = dir.path().join("out.ndjson");
    let addr = format!("127.0.0.1:{}", free_port());
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{addr}"
[sources.app]
type = "file"
include = ["{d}/in/*.log"]
poll_interval = "20ms"
glob_interval = "50ms"
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.level]
type = "filter_level"
inputs = ["parse"]
min_level = "info"
[sinks.out]
type = "file"
inputs = ["level"]
path = "{d}/out.ndjson"
flush_interval = "50ms"
"#
        ),
    );
    std::fs::write(&input, "").unwrap();
    let mut child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = capture_stderr(&mut child);
    wait_until(Duration::from_secs(20), "/ready", || {
        api::get(&addr, "/ready").is_ok_and(|(s, _)| s == 200)
    });
    let (status, body) = api::get(&addr, "/health").unwrap();
    assert_eq!((status, body.trim()), (200, r#"{"status":"ok"}"#));

    // Three rounds of lines, a third of them debug (dropped by `level`); after
    // each the counters must agree with each other and with the file.
    let mut written = 0u64;
    let mut kept = 0u64;
    for round in 0..3 {
        let mut text = String::new();
        for i in 0..200 {
            let level = if i % 3 == 0 { "debug" } else { "info" };
            text.push_str(&format!(
                "{{\"level\":\"{level}\",\"round\":{round},\"i\":{i}}}\n"
            ));
            written += 1;
            if level == "info" {
                kept += 1;
            }
        }
        append(&input, &text);
        let mut metrics = String::new();
        wait_until(
            Duration::from_secs(20),
            "the sink to write the round",
            || {
                metrics = api::get(&addr, "/metrics").unwrap().1;
                metric(&metrics, "component_sent_events_total", "out") == kept as f64
                    && count_lines(&out) == kept as usize
            },
        );
        let m = |name: &str, id: &str| metric(&metrics, name, id) as u64;
        assert_eq!(m("component_sent_events_total", "app"), written);
        assert_eq!(m("component_received_events_total", "parse"), written);
        assert_eq!(m("component_sent_events_total", "parse"), written);
        assert_eq!(m("component_received_events_total", "level"), written);
        let discarded = m("component_discarded_events_total", "level");
        assert_eq!(discarded, written - kept);
        assert_eq!(
            m("component_sent_events_total", "level"),
            m("component_received_events_total", "level") - discarded,
            "events out = events in - discarded"
        );
        assert_eq!(m("component_received_events_total", "out"), kept);
        assert!(metrics.contains("# TYPE component_batch_duration_seconds histogram"));
        assert!(metrics.contains("component_buffer_max_batches{component_id=\"out\""));
        // At rest nothing waits in the channels.
        assert_eq!(m("component_buffer_events", "out"), 0);
        assert_eq!(m("component_buffer_events", "level"), 0);
        assert!(metrics.contains("component_buffer_bytes{component_id=\"parse\""));
    }

    // The file source's gauges: one open file, read to its end, a checkpoint age.
    wait_until(Duration::from_secs(20), "the source's gauges", || {
        let m = api::get(&addr, "/metrics").unwrap().1;
        metric(&m, "source_open_files", "app") == 1.0
            && metric(&m, "source_read_lag_bytes", "app") == 0.0
            && m.contains("source_checkpoint_age_seconds{component_id=\"app\"")
    });

    // tap: a live sample of what leaves `level`, while lines keep coming.
    let tap = bin()
        .args([
            "tap", "level", "--limit", "3", "--rate", "100", "--api", &addr,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let tap_done = Arc::new(AtomicBool::new(false));
    let feeder = {
        let input = input.clone();
        let done = tap_done.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::SeqCst) && n < 2000 {
                append(&input, &format!("{{\"level\":\"warn\",\"tap\":{n}}}\n"));
                n += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let tap_out = tap.wait_with_output().unwrap();
    tap_done.store(true, Ordering::SeqCst);
    feeder.join().unwrap();
    assert_eq!(tap_out.status.code(), Some(0));
    let sampled: Vec<serde_json::Value> = String::from_utf8_lossy(&tap_out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sampled.len(), 3, "{sampled:?}");
    assert!(sampled.iter().all(|v| v["level"] == "warn"));
    let unknown = bin()
        .args(["tap", "nope", "--api", &addr])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));

    // Patterns and the graph: `pa*` (parse) and what `out` reads (level), each
    // line tagged with its output.
    let tap = bin()
        .args([
            "tap",
            "pa*",
            "--inputs-of",
            "out",
            "--limit",
            "6",
            "--rate",
            "100",
            "--api",
            &addr,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let tap_done = Arc::new(AtomicBool::new(false));
    let feeder = {
        let input = input.clone();
        let done = tap_done.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::SeqCst) && n < 2000 {
                append(&input, &format!("{{\"level\":\"warn\",\"tap2\":{n}}}\n"));
                n += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let tap_out = tap.wait_with_output().unwrap();
    tap_done.store(true, Ordering::SeqCst);
    feeder.join().unwrap();
    assert_eq!(tap_out.status.code(), Some(0));
    let tagged: Vec<serde_json::Value> = String::from_utf8_lossy(&tap_out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tagged.len(), 6, "{tagged:?}");
    assert!(
        tagged
            .iter()
            .all(|v| matches!(v["output"].as_str(), Some("parse" | "level"))
                && v["event"]["level"] == "warn"),
        "{tagged:?}"
    );

    let top = bin()
        .args(["top", "--once", "--interval", "1", "--api", &addr])
        .output()
        .unwrap();
    assert_eq!(top.status.code(), Some(0));
    let table = String::from_utf8_lossy(&top.stdout);
    assert!(table.starts_with("COMPONENT"), "{table}");
    for id in ["app", "parse", "level", "out"] {
        assert!(table.lines().any(|l| l.starts_with(id)), "{table}");
    }

    kill(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(stderr.lock().unwrap().contains("api listening"));
}

/// Lines `{"i":N}` appended to `input` until `stop`; returns how many.
fn writer(
    input: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let mut text = String::new();
            for _ in 0..5 {
                text.push_str(&format!("{{\"i\":{i}}}\n"));
                i += 1;
            }
            append(&input, &text);
            count.store(i, Ordering::SeqCst);
            // Pacing the writer, not waiting for anything.
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

fn reload_pipeline(d: &str, version: &str, extra: &str) -> String {
    format!(
        r#"data_dir = "{d}/data"
[runtime]
workers = 2
[sources.app]
type = "file"
include = ["{d}/in.log"]
poll_interval = "10ms"
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[transforms.stamp]
type = "enrich"
inputs = ["parse"]
fields = {{ version = "{version}" }}
{extra}
[sinks.out]
type = "file"
inputs = ["stamp"]
path = "{d}/out.ndjson"
flush_interval = "20ms"
"#
    )
}

#[test]
fn reload_switches_a_transform_mid_stream_without_losing_or_doubling_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let input = dir.path().join("in.log");
    let out = dir.path().join("out.ndjson");
    std::fs::write(&input, "").unwrap();
    let p = write_pipeline(dir.path(), "p.toml", &reload_pipeline(&d, "a", ""));
    let mut child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .arg("--watch")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = capture_stderr(&mut child);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let w = writer(input.clone(), stop.clone(), count.clone());
    wait_until(Duration::from_secs(20), "lines flowing", || {
        count_lines(&out) >= 200
    });

    // An invalid config on SIGHUP is rejected; the old pipeline keeps going.
    std::fs::write(&p, reload_pipeline(&d, "a", "bogus_key = 1")).unwrap();
    kill(&child, "-HUP");
    wait_until(Duration::from_secs(20), "the rejection", || {
        stderr.lock().unwrap().contains("reload rejected")
    });
    let err = stderr.lock().unwrap().clone();
    assert!(err.contains("bogus_key"), "the error names the key: {err}");
    let before = count_lines(&out);
    wait_until(Duration::from_secs(20), "lines still flowing", || {
        count_lines(&out) >= before + 200
    });

    // A valid change, picked up by --watch: only `stamp` changed; `parse`, in
    // one stage with it, is rebuilt with it.
    std::fs::write(&p, reload_pipeline(&d, "bb", "")).unwrap();
    wait_until(Duration::from_secs(20), "the reload", || {
        stderr.lock().unwrap().contains("pipeline reloaded")
    });
    let err = stderr.lock().unwrap().clone();
    let line = err
        .lines()
        .find(|l| l.contains("pipeline reloaded"))
        .unwrap();
    assert!(
        line.contains("changed=transforms.stamp")
            && line.contains("rebuilt=transforms.parse")
            && line.contains("unchanged=2"),
        "{line}"
    );
    wait_until(Duration::from_secs(20), "new output", || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.contains("\"version\":\"bb\""))
    });
    let before = count_lines(&out);
    wait_until(
        Duration::from_secs(20),
        "more lines after the reload",
        || count_lines(&out) >= before + 200,
    );
    stop.store(true, Ordering::SeqCst);
    w.join().unwrap();
    let total = count.load(Ordering::SeqCst) as usize;
    wait_until(Duration::from_secs(20), "every line", || {
        count_lines(&out) >= total
    });
    kill(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));

    let lines = common::read_ndjson(&out, &[]);
    assert_eq!(lines.len(), total, "nothing lost or doubled");
    let mut switched = false;
    let (mut a, mut b) = (0, 0);
    for (n, v) in lines.iter().enumerate() {
        assert_eq!(v["i"], n as u64, "in order, each once");
        match v["version"].as_str() {
            Some("a") => {
                assert!(!switched, "an old-version line after the switch at {n}");
                a += 1;
            }
            Some("bb") => {
                switched = true;
                b += 1;
            }
            other => panic!("line {n} has version {other:?}"),
        }
    }
    assert!(a >= 400 && b >= 200, "a={a} b={b}");
}

#[test]
fn reload_that_splits_a_parallel_stage_and_fuses_it_again_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let input = dir.path().join("in.log");
    let out = dir.path().join("out.ndjson");
    std::fs::write(&input, "").unwrap();
    // A second reader of `parse` ends the fused stage parse → stamp there.
    let tee = format!(
        "[sinks.tee]\ntype = \"file\"\ninputs = [\"parse\"]\npath = \"{d}/tee.ndjson\"\nflush_interval = \"20ms\"\n"
    );
    let p = write_pipeline(dir.path(), "p.toml", &reload_pipeline(&d, "a", ""));
    let mut child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = capture_stderr(&mut child);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let w = writer(input.clone(), stop.clone(), count.clone());
    for (reloads, (extra, summary)) in [
        (tee.as_str(), "rebuilt=transforms.parse, transforms.stamp"),
        ("", "rebuilt=transforms.parse, transforms.stamp"),
        (tee.as_str(), "added=sinks.tee"),
    ]
    .into_iter()
    .enumerate()
    {
        let before = count_lines(&out);
        wait_until(Duration::from_secs(20), "lines flowing", || {
            count_lines(&out) >= before + 200
        });
        std::fs::write(&p, reload_pipeline(&d, "a", extra)).unwrap();
        kill(&child, "-HUP");
        wait_until(Duration::from_secs(20), "the reload", || {
            stderr.lock().unwrap().matches("pipeline reloaded").count() == reloads + 1
        });
        let err = stderr.lock().unwrap().clone();
        let line = err
            .lines()
            .rfind(|l| l.contains("pipeline reloaded"))
            .unwrap()
            .to_owned();
        assert!(line.contains(summary), "{line}");
    }
    let before = count_lines(&out);
    wait_until(Duration::from_secs(20), "lines after the reloads", || {
        count_lines(&out) >= before + 200
    });
    stop.store(true, Ordering::SeqCst);
    w.join().unwrap();
    let total = count.load(Ordering::SeqCst) as usize;
    wait_until(Duration::from_secs(20), "every line", || {
        count_lines(&out) >= total
    });
    kill(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let lines = common::read_ndjson(&out, &[]);
    assert_eq!(lines.len(), total, "nothing lost or doubled");
    for (n, v) in lines.iter().enumerate() {
        assert_eq!(v["i"], n as u64, "in order, each once");
        assert_eq!(v["version"], "a");
    }
}

#[test]
fn disk_buffer_keeps_lines_across_kill_9_while_the_sink_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // The sink's directory is a regular file: every open fails (ENOTDIR, even for
    // root) until it is removed.
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, "not a directory").unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{addr}"
[sources.stdin]
type = "stdin"
[sinks.out]
type = "file"
inputs = ["stdin"]
path = "{d}/blocked/out.ndjson"
flush_interval = "20ms"
buffer = {{ type = "disk", max_size = "8MiB", when_full = "block" }}
"#
        ),
    );
    let mut child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.stdin.take().unwrap();
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!("line {i}\n"));
    }
    stdin.write_all(text.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Durable in the buffer (acknowledged to the source), not delivered.
    wait_until(
        Duration::from_secs(30),
        "500 events in the disk buffer",
        || {
            api::get(&addr, "/metrics")
                .is_ok_and(|(_, m)| metric(&m, "buffer_events", "out") == 500.0)
        },
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);
    // A torn write at the end of the log, as a crash mid-append leaves it.
    let wal_dir = dir.path().join("data/buffers/out");
    let last = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .max()
        .unwrap();
    append(&last, "\u{7}\0\0\0garbage");

    // The sink is back: a restart delivers every line.
    std::fs::remove_file(&blocker).unwrap();
    let run = bin()
        .arg("-p")
        .arg(&p)
        .arg("--once")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(err.contains("truncating the segment"), "{err}");
    let lines = common::read_ndjson(&dir.path().join("blocked/out.ndjson"), &[]);
    let want: Vec<serde_json::Value> = (0..500)
        .map(|i| serde_json::json!({"message": format!("line {i}")}))
        .collect();
    assert_eq!(lines, want, "every line, once, in order");
}

#[test]
fn logagent_test_runs_the_shipped_pipelines_and_reports_failures() {
    let pipelines: Vec<std::path::PathBuf> = std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    let out = bin()
        .arg("test")
        .args(&pipelines)
        .env("LOGAGENT_REDACT_KEY", "pipeline-tests-throwaway-key")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("no [[tests]]"),
        "every pipeline carries tests: {stdout}"
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        r#"[sources.app]
type = "stdin"
[transforms.parse]
type = "parse_json"
inputs = ["app"]
[sinks.out]
type = "stdout"
inputs = ["parse"]
[[tests]]
name = "expects the wrong value"
insert_at = "parse"
lines = ['{"a":1}']
[[tests.expect]]
at = "parse"
fields = { a = 2 }
"#,
    );
    let out = bin().arg("test").arg(&p).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("test expects the wrong value ... FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"field "a" is 1, expected 2"#), "{stdout}");
    assert!(
        stdout.contains("pipeline tests: 0 passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn reload_replaces_a_sink_and_adds_and_removes_sources_in_process() {
    use logagent::pipeline::topology::{BuildOptions, Outcome, Topology};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let a_in = dir.path().join("a.log");
    let b_in = dir.path().join("b.log");
    std::fs::write(&a_in, "").unwrap();
    std::fs::write(&b_in, "").unwrap();
    let poll = std::cell::Cell::new("10ms");
    let text = |sink_path: &str, sources: &[&str]| {
        let mut t = format!("data_dir = \"{d}/data\"\n");
        for s in sources {
            let poll = if *s == "a" { poll.get() } else { "10ms" };
            t.push_str(&format!(
                "[sources.{s}]\ntype = \"file\"\ninclude = [\"{d}/{s}.log\"]\npoll_interval = \"{poll}\"\n"
            ));
        }
        t.push_str(&format!(
            "[sinks.out]\ntype = \"file\"\ninputs = {sources:?}\npath = \"{d}/{sink_path}\"\nflush_interval = \"10ms\"\n"
        ));
        t
    };
    let load = |t: String| {
        logagent::config::load_texts(&[(dir.path().join("p.toml"), t)], |_| None).unwrap()
    };
    let mut topology =
        Topology::start(&load(text("one.ndjson", &["a"])), BuildOptions::default()).unwrap();
    append(&a_in, "a1\na2\n");
    wait_until(Duration::from_secs(20), "first sink", || {
        count_lines(&dir.path().join("one.ndjson")) == 2
    });

    // The sink's path changes (a new sink) and source b is added.
    let summary = topology
        .reload(&load(text("two.ndjson", &["a", "b"])))
        .unwrap();
    assert_eq!(summary.changed, vec!["sinks.out".to_string()]);
    assert_eq!(summary.added, vec!["sources.b".to_string()]);
    assert_eq!(summary.unchanged, 1, "source a keeps running");
    append(&a_in, "a3\n");
    append(&b_in, "b1\n");
    wait_until(Duration::from_secs(20), "second sink", || {
        count_lines(&dir.path().join("two.ndjson")) == 2
    });

    // Source a changes: it stops after its last acknowledged batch and the new
    // one resumes from the checkpoint: nothing read twice.
    poll.set("15ms");
    let summary = topology
        .reload(&load(text("two.ndjson", &["a", "b"])))
        .unwrap();
    assert_eq!(summary.changed, vec!["sources.a".to_string()]);
    append(&a_in, "a3b\n");
    wait_until(Duration::from_secs(20), "a3b", || {
        count_lines(&dir.path().join("two.ndjson")) == 3
    });

    // Source a is removed; b keeps going.
    let summary = topology.reload(&load(text("two.ndjson", &["b"]))).unwrap();
    assert_eq!(summary.removed, vec!["sources.a".to_string()]);
    append(&b_in, "b2\n");
    append(&a_in, "a4 (nobody reads this)\n");
    wait_until(Duration::from_secs(20), "b2", || {
        count_lines(&dir.path().join("two.ndjson")) == 4
    });

    let (stop_tx, stop) = crossbeam_channel::bounded(1);
    stop_tx.send(()).unwrap();
    assert_eq!(
        topology.wait(&stop, Duration::from_secs(20)),
        Outcome::Drained
    );
    let one = std::fs::read_to_string(dir.path().join("one.ndjson")).unwrap();
    let two = std::fs::read_to_string(dir.path().join("two.ndjson")).unwrap();
    assert_eq!(one, "{\"message\":\"a1\"}\n{\"message\":\"a2\"}\n");
    let mut two: Vec<&str> = two.lines().collect();
    two.sort_unstable();
    assert_eq!(
        two,
        vec![
            "{\"message\":\"a3\"}",
            "{\"message\":\"a3b\"}",
            "{\"message\":\"b1\"}",
            "{\"message\":\"b2\"}"
        ]
    );
}

#[test]
fn health_names_a_sink_whose_health_check_fails_and_ready_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let addr = format!("127.0.0.1:{}", free_port());
    // Nothing listens on this port: Elasticsearch is down.
    let es = format!("http://127.0.0.1:{}", free_port());
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{addr}"
[sources.app]
type = "stdin"
[sinks.es]
type = "elasticsearch"
inputs = ["app"]
endpoints = ["{es}"]
index = "logs"
"#
        ),
    );
    let mut child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut body = String::new();
    wait_until(
        Duration::from_secs(30),
        "/health to report the sink",
        || match api::get(&addr, "/health") {
            Ok((503, b)) => {
                body = b;
                true
            }
            _ => false,
        },
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "failing");
    let reason = v["components"]["sinks.es"].as_str().unwrap();
    assert!(reason.starts_with("health check failed"), "{reason}");
    let (status, body) = api::get(&addr, "/ready").unwrap();
    assert_eq!(status, 503, "{body}");
    drop(child.stdin.take());
    kill(&child, "-TERM");
    child.wait().unwrap();
}

/// `/metrics` has what Prometheus users expect of any exporter: the version,
/// the uptime, and reloads by result with the time of the last good one.
#[test]
fn metrics_show_build_info_uptime_and_reloads_by_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let addr = format!("127.0.0.1:{}", free_port());
    let text = |extra: &str| {
        format!(
            r#"data_dir = "{d}/data"
[api]
address = "{addr}"
[sources.stdin]
type = "stdin"
[sinks.out]
type = "file"
inputs = ["stdin"]
path = "{d}/out.ndjson"
{extra}
"#
        )
    };
    let p = write_pipeline(dir.path(), "p.toml", &text(""));
    let child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let scrape = || {
        api::get(&addr, "/metrics")
            .map(|(_, m)| m)
            .unwrap_or_default()
    };
    wait_until(Duration::from_secs(20), "the API", || {
        scrape().contains("uptime_seconds")
    });
    let m = scrape();
    assert!(
        m.contains(&format!(
            "build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{m}"
    );
    assert!(
        m.contains("config_reloads_total{result=\"success\"} 0"),
        "{m}"
    );
    assert!(
        m.contains("config_reloads_total{result=\"failure\"} 0"),
        "{m}"
    );
    assert!(
        m.contains("config_last_reload_success_timestamp_seconds "),
        "{m}"
    );

    // A good reload, then a bad one.
    std::fs::write(&p, text("flush_interval = \"50ms\"")).unwrap();
    kill(&child, "-HUP");
    wait_until(Duration::from_secs(20), "the good reload counted", || {
        scrape().contains("config_reloads_total{result=\"success\"} 1")
    });
    std::fs::write(&p, text("bogus_key = 1")).unwrap();
    kill(&child, "-HUP");
    wait_until(Duration::from_secs(20), "the bad reload counted", || {
        scrape().contains("config_reloads_total{result=\"failure\"} 1")
    });
    assert!(scrape().contains("config_reloads_total{result=\"success\"} 1"));
}

/// Starts an agent (stdin → file) with its API on a free port.
fn agent_with_api(dir: &Path) -> (Guard, String) {
    agent_with_api_at(dir, format!("127.0.0.1:{}", free_port()))
}

/// Starts an agent (stdin → file) with its API at `addr`.
fn agent_with_api_at(dir: &Path, addr: String) -> (Guard, String) {
    let d = dir.display().to_string();
    let p = write_pipeline(
        dir,
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{addr}"
[sources.stdin]
type = "stdin"
[sinks.out]
type = "file"
inputs = ["stdin"]
path = "{d}/out.ndjson"
"#
        ),
    );
    let child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(20), "the API", || {
        api::get(&addr, "/health").is_ok_and(|(s, _)| s == 200)
    });
    (child, addr)
}

/// Idle connections cannot hold the API: past the connection limit they are
/// closed, and a client that sends no request is dropped after the header
/// timeout, so `/health` answers again.
#[test]
fn idle_connections_beyond_the_limit_do_not_hold_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_agent, addr) = agent_with_api(dir.path());
    let idle: Vec<std::net::TcpStream> = (0..logagent::telemetry::api::MAX_CONNECTIONS + 20)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(!idle.is_empty());
    wait_until(
        logagent::telemetry::api::HEADER_TIMEOUT + Duration::from_secs(20),
        "/health answering despite the idle connections",
        || api::get(&addr, "/health").is_ok_and(|(s, _)| s == 200),
    );
    drop(idle);
}

/// Taps hold a thread each: at most MAX_TAPS stream at once, the next gets 503.
#[test]
fn taps_beyond_the_limit_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let (_agent, addr) = agent_with_api(dir.path());
    let mut open = Vec::new();
    for _ in 0..logagent::telemetry::api::MAX_TAPS {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "GET /tap/stdin HTTP/1.0\r\n\r\n").unwrap();
        let mut first = [0u8; 12];
        std::io::Read::read_exact(&mut s, &mut first).unwrap();
        assert_eq!(&first, b"HTTP/1.0 200", "a tap within the limit streams");
        open.push(s);
    }
    let (status, body) = api::get(&addr, "/tap/stdin").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too many taps"), "{body}");
    drop(open);
    wait_until(Duration::from_secs(20), "a tap slot freed", || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "GET /tap/stdin?limit=1 HTTP/1.0\r\n\r\n").unwrap();
        let mut first = [0u8; 12];
        std::io::Read::read_exact(&mut s, &mut first).is_ok() && &first == b"HTTP/1.0 200"
    });
}

/// `logagent top` on a real terminal (tmux): a header with the version and
/// uptime above the table, and `q` quits.
#[test]
fn top_renders_a_header_and_quits_on_q() {
    assert!(
        std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok(),
        "tmux is not installed: scripts/test installs it (apt-get install tmux)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_agent, addr) = agent_with_api(dir.path());
    let socket = format!("logagent-test-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    struct Server(String);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = std::process::Command::new("tmux")
                .args(["-L", &self.0, "kill-server"])
                .output();
        }
    }
    let _server = Server(socket.clone());
    let command = format!(
        "{} top --api {addr} --interval 1",
        env!("CARGO_BIN_EXE_logagent")
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    let mut screen = String::new();
    wait_until(Duration::from_secs(30), "top's header and table", || {
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "top"]).stdout)
            .into_owned();
        screen.contains(&format!(
            "logagent {} at {addr}, up ",
            env!("CARGO_PKG_VERSION")
        )) && screen.contains("COMPONENT")
            && screen.contains("stdin")
    });
    assert!(screen.lines().all(|l| l.chars().count() <= 120), "{screen}");
    tmux(&["send-keys", "-t", "top", "q"]);
    wait_until(Duration::from_secs(20), "top to quit on q", || {
        !tmux(&["has-session", "-t", "top"]).status.success()
    });

    // It used to exit when the agent went away: now it waits for it.
    let addr2 = format!("127.0.0.1:{}", free_port());
    let command = format!(
        "{} top --api {addr2} --interval 1",
        env!("CARGO_BIN_EXE_logagent")
    );
    // The tmux server exits once its last session ended; a new session made
    // while it is still going away fails ("server exited unexpectedly"):
    // retried until a server takes it.
    let mut started = None;
    wait_until(
        Duration::from_secs(20),
        "tmux to start the second session",
        || {
            let out = tmux(&[
                "new-session",
                "-d",
                "-s",
                "wait",
                "-x",
                "120",
                "-y",
                "30",
                &command,
            ]);
            let ok = out.status.success();
            started = Some(out);
            ok
        },
    );
    assert!(started.is_some_and(|s| s.status.success()));
    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-J", "-t", "wait"]).stdout)
            .into_owned()
    };
    wait_until(Duration::from_secs(30), "top waiting for the agent", || {
        capture().contains("retrying every")
    });
    let dir2 = tempfile::tempdir().unwrap();
    let (_agent2, _) = agent_with_api_at(dir2.path(), addr2.clone());
    wait_until(
        Duration::from_secs(30),
        "top showing the agent once it is up",
        || capture().contains(&format!("at {addr2}, up ")),
    );
    tmux(&["send-keys", "-t", "wait", "C-c"]);
    wait_until(Duration::from_secs(20), "top to quit on Ctrl-C", || {
        !tmux(&["has-session", "-t", "wait"]).status.success()
    });
}
