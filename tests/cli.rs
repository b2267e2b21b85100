//! The command line: validate, exit codes, help, stdin → stdout, signals.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{bin, repo, wait_until, write_pipeline};

#[test]
fn validate_accepts_every_shipped_pipeline() {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let out = bin()
            .current_dir(repo())
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} is invalid:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    }
}

#[test]
fn validate_reports_every_error_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "broken.toml",
        r#"[sources.app]
type = "file"
include = ["/var/log/*.log"]
read_from = "middle"

[transforms.parse]
type = "parse_json"
inputs = ["ap"]

[transforms.lvl]
type = "filter_level"
inputs = ["parse"]
min_level = "chatty"

[sinks.out]
type = "file"
inputs = ["lvl"]
path = "out/{{ service"
"#,
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = p.display().to_string();
    for expected in [
        format!(
            "{file}:4:13: sources.app: key `read_from`: unknown variant `middle`, expected `beginning` or `end`"
        ),
        format!(
            "{file}: transforms.parse: key `inputs`: input \"ap\" does not exist (expected one of: app, lvl, parse)"
        ),
        format!("{file}:13:13: transforms.lvl: key `min_level`: unknown level \"chatty\""),
        format!("{file}:18:8: sinks.out: key `path`: unclosed '{{{{' in template"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(
        err.starts_with("4 errors in the pipeline configuration"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let out = bin().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pipeline given"));

    let out = bin().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = bin().args(["-p", "/nonexistent/x.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent/x.toml: cannot read pipeline file")
    );

    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("logagent validate"),
        "{help}"
    );
}

const STDIN_TO_STDOUT: &str = r#"
[sources.in]
type = "stdin"
max_line_bytes = "1KiB"

[transforms.parse]
type = "parse_json"
inputs = ["in"]

[transforms.tag]
type = "enrich"
inputs = ["parse"]
fields = { env = "${STAGE:-test}" }

[sinks.out]
type = "stdout"
inputs = ["tag"]
"#;

#[test]
fn stdin_to_stdout_keeps_bad_lines_and_bounds_long_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "p.toml", STDIN_TO_STDOUT);
    let mut child = bin()
        .arg("-p")
        .arg(&p)
        .env("STAGE", "prod")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"a\":1}\n");
    input.extend_from_slice(b"{\"msg\":\"bad \xff\xfe bytes\"}\n");
    input.extend_from_slice(b"not json at all\n");
    input.extend_from_slice(b"{\"truncated\":\"abc\n");
    input.extend_from_slice(&vec![b'x'; 5 << 20]);
    input.extend_from_slice(b"\n{\"deep\":");
    input.extend_from_slice(&[b'['; 100]);
    input.extend_from_slice(b"\n{\"last\":true}");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("stdout is valid UTF-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{stdout}");
    assert_eq!(lines[0], serde_json::json!({"a":1,"env":"prod"}));
    assert_eq!(lines[1]["msg"], "bad \u{fffd}\u{fffd} bytes");
    assert_eq!(
        lines[2],
        serde_json::json!({"message":"not json at all","env":"prod"})
    );
    assert_eq!(lines[3]["message"], "{\"truncated\":\"abc");
    assert_eq!(
        lines[4]["message"].as_str().unwrap().len(),
        1024,
        "the 5 MB line is cut to max_line_bytes"
    );
    assert!(
        lines[5]["message"]
            .as_str()
            .unwrap()
            .starts_with("{\"deep\":[[[")
    );
    assert_eq!(lines[6], serde_json::json!({"last":true,"env":"prod"}));
}

#[test]
fn sigterm_drains_and_exits_0_and_a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "{\"n\":1}\n{\"n\":2}\n").unwrap();
    let out_path = dir.path().join("out.ndjson");
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = {:?}\n[sources.f]\ntype = \"file\"\ninclude = [{:?}]\n[sinks.o]\ntype = \"file\"\ninputs = [\"f\"]\npath = {:?}\nflush_interval = \"50ms\"\n",
            dir.path().join("data").display().to_string(),
            log.display().to_string(),
            out_path.display().to_string()
        ),
    );
    let child = bin()
        .arg("-p")
        .arg(&p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    wait_until(Duration::from_secs(20), "both lines written", || {
        std::fs::read_to_string(&out_path).is_ok_and(|s| s.lines().count() == 2)
    });
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pipeline stopped") && err.contains("read=2") && err.contains("written=2"),
        "{err}"
    );

    // A sink that cannot drain (a FIFO nobody reads) keeps the pipeline busy; the
    // second signal ends it at once.
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big.log");
    std::fs::write(
        &big,
        "{\"x\":\"0123456789012345678901234567890123456789\"}\n".repeat(100_000),
    )
    .unwrap();
    let p2 = write_pipeline(
        dir.path(),
        "p2.toml",
        &format!(
            "data_dir = {:?}\n[sources.f]\ntype = \"file\"\ninclude = [{:?}]\n[sinks.o]\ntype = \"file\"\ninputs = [\"f\"]\npath = {:?}\n",
            dir.path().join("data").display().to_string(),
            big.display().to_string(),
            fifo.display().to_string()
        ),
    );
    let mut child = bin()
        .arg("-p")
        .arg(&p2)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    let collector = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    // Open the FIFO for reading so the sink's open succeeds, then never read.
    let reader = std::fs::File::open(&fifo).unwrap();
    let has = |s: &str| log.lock().unwrap().contains(s);
    wait_until(Duration::from_secs(20), "pipeline started", || {
        has("pipeline started")
    });
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    wait_until(Duration::from_secs(20), "first signal handled", || {
        has("stopping: draining")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the stalled pipeline cannot have drained"
    );
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    collector.join().unwrap();
    drop(reader);
    let out_log = log.lock().unwrap().clone();
    assert!(out_log.contains("second signal: exiting now"), "{out_log}");
    assert_eq!(status.code(), Some(1), "{out_log}");
}

#[test]
fn a_full_disk_holds_the_pipeline_and_is_reported_never_dropped_silently() {
    // The file sink and the stdout sink (redirected to a full disk) alike.
    for (sink, stdout, logged) in [
        (
            "type = \"file\"\npath = \"/dev/full\"\nflush_interval = \"10ms\"",
            None,
            "writing /dev/full failed",
        ),
        (
            "type = \"stdout\"",
            Some("/dev/full"),
            "writing to stdout failed",
        ),
    ] {
        full_disk_case(sink, stdout, logged);
    }
}

fn full_disk_case(sink: &str, stdout: Option<&str>, logged: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "{\"n\":1}\n".repeat(1000)).unwrap();
    let p = write_pipeline(
        dir.path(),
        "full.toml",
        &format!(
            "data_dir = {:?}\n[sources.f]\ntype = \"file\"\ninclude = [{:?}]\n[sinks.o]\ninputs = [\"f\"]\n{sink}\n",
            dir.path().join("state").display().to_string(),
            log.display().to_string()
        ),
    );
    let mut cmd = bin();
    cmd.arg("-p").arg(&p).args(["--drain-timeout", "1s"]);
    if let Some(path) = stdout {
        cmd.stdout(std::fs::OpenOptions::new().write(true).open(path).unwrap());
    }
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = logged.to_owned();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(&wanted) {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the write error is logged");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("No space left on device"), "{log}");
    assert!(log.contains("holding the pipeline"), "retried: {log}");
    assert!(
        log.contains("drain timed out") || log.contains("component failed"),
        "{log}"
    );
    assert!(
        log.contains("written=0"),
        "nothing may count as written: {log}"
    );
}

#[test]
fn stdout_whose_reader_is_gone_fails_the_run_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, &text).unwrap();
    let data_dir = dir.path().join("state");
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = {:?}\n[sources.f]\ntype = \"file\"\ninclude = [{:?}]\n[sinks.o]\ntype = \"stdout\"\ninputs = [\"f\"]\nencoding = \"text\"\n",
            data_dir.display().to_string(),
            log.display().to_string()
        ),
    );
    // `logagent | true`: the pipe's reader is gone before the first write.
    let mut child = bin()
        .arg("-p")
        .arg(&p)
        .arg("--once")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let run = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("Broken pipe"), "{err}");
    // Nothing was acknowledged: a run with a reader gets every line.
    let out = std::fs::File::create(dir.path().join("out.txt")).unwrap();
    let run = bin()
        .arg("-p")
        .arg(&p)
        .arg("--once")
        .stdout(out)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        text
    );
}

/// A pipeline reading `log` (from its start) into `out`, state in `data_dir`.
fn file_to_file(
    dir: &std::path::Path,
    data_dir: &std::path::Path,
    log: &std::path::Path,
    out: &std::path::Path,
) -> std::path::PathBuf {
    write_pipeline(
        dir,
        "p.toml",
        &format!(
            "data_dir = {:?}\n[sources.f]\ntype = \"file\"\ninclude = [{:?}]\nread_from = \"beginning\"\n[sinks.o]\ntype = \"file\"\ninputs = [\"f\"]\npath = {:?}\nflush_interval = \"10ms\"\n",
            data_dir.display().to_string(),
            log.display().to_string(),
            out.display().to_string(),
        ),
    )
}

#[test]
fn an_unusable_data_dir_fails_at_start_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "{\"n\":1}\n").unwrap();
    let not_dir = dir.path().join("state");
    std::fs::write(&not_dir, "a regular file").unwrap();
    // A regular file as data_dir, and a data_dir that cannot be created (its
    // parent is a regular file: ENOTDIR, even for root).
    for (data_dir, says) in [
        (not_dir.clone(), "is not a directory"),
        (not_dir.join("sub"), "cannot create it"),
    ] {
        let out = dir.path().join("out.ndjson");
        let p = file_to_file(dir.path(), &data_dir, &log, &out);
        let run = bin()
            .arg("-p")
            .arg(&p)
            .arg("--once")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(err.contains("data_dir") && err.contains(says), "{err}");
        assert!(!err.contains("final checkpoint"), "{err}");
        assert!(!out.exists(), "nothing ran: {err}");
    }
}

#[test]
fn once_with_a_sink_that_keeps_failing_exits_1_after_the_drain_timeout_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let text: String = (0..100).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    std::fs::write(&log, &text).unwrap();
    // The sink's directory is a regular file: every open fails until removed.
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = blocker.join("out.ndjson");
    let data_dir = dir.path().join("state");
    let p = file_to_file(dir.path(), &data_dir, &log, &out);
    let started = std::time::Instant::now();
    let run = bin()
        .arg("-p")
        .arg(&p)
        .args(["--once", "--drain-timeout", "1s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("giving up"), "{err}");
    // Nothing was written, so nothing may be acknowledged: the checkpoint (if
    // any) is still at the start.
    let cp = data_dir.join("checkpoints/f.json");
    if cp.exists() {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
        for f in v["files"].as_array().unwrap() {
            assert_eq!(f["offset"], 0, "acknowledged past what was written: {v}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(60), "it gave up");
    // The sink is back: a second run delivers every line, once.
    std::fs::remove_file(&blocker).unwrap();
    let run = bin()
        .arg("-p")
        .arg(&p)
        .arg("--once")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines = common::read_ndjson(&out, &[]);
    let want: Vec<serde_json::Value> = (0..100)
        .map(|i| serde_json::json!({"message": format!("{{\"n\":{i}}}")}))
        .collect();
    assert_eq!(lines, want);
}

/// `logagent validate <(cat x.toml)`: the file is a FIFO, readable once; it
/// used to be read twice and the second read found no sources.
#[test]
fn validate_and_test_read_a_pipeline_from_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("pipelines/stdin-to-stdout.toml")).unwrap();
    for command in ["validate", "test"] {
        let fifo = dir.path().join(format!("{command}.toml"));
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let writer = {
            let (fifo, text) = (fifo.clone(), text.clone());
            std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
        };
        let out = bin().arg(command).arg(&fifo).output().unwrap();
        writer.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{command}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        match command {
            "validate" => assert!(stdout.starts_with("ok: 1 source(s)"), "{stdout}"),
            _ => assert!(
                stdout.contains("pipeline tests: 2 passed, 0 failed"),
                "{stdout}"
            ),
        }
    }
}

/// `--log-level bogus` used to be taken as a target name and silenced every
/// log; Fluent Bit's `warning` is an alias of `warn`.
#[test]
fn an_unknown_log_level_is_refused_and_warning_is_an_alias() {
    let pipeline = repo().join("pipelines/stdin-to-stdout.toml");
    for bad in ["bogus", "info,logagent_sources=chatty", ""] {
        let out = bin()
            .args(["--log-level", bad, "validate"])
            .arg(&pipeline)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid log level"), "{bad:?}: {err}");
    }
    let out = bin()
        .env("LOGAGENT_LOG", "nope")
        .arg("validate")
        .arg(&pipeline)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid log level \"nope\""));
    for good in [
        "warning",
        "WARN",
        "debug",
        "info,logagent_sources=debug",
        "off",
    ] {
        let out = bin()
            .args(["--log-level", good, "validate"])
            .arg(&pipeline)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{good:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every pipeline file `--help` shows exists, and every environment variable
/// it names is documented in the README.
#[test]
fn help_examples_exist_and_its_variables_are_documented() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut examples = 0;
    for word in help.split(|c: char| c.is_whitespace() || c == '=' || c == ',') {
        if word.starts_with("pipelines/") && word.ends_with(".toml") && !word.contains('*') {
            examples += 1;
            assert!(
                repo().join(word).exists(),
                "--help names {word}, which does not exist"
            );
        }
        let var = word.trim_matches(|c: char| !(c.is_ascii_uppercase() || c == '_'));
        if var.starts_with("LOGAGENT_") {
            assert!(
                readme.contains(var),
                "--help names {var}, the README does not"
            );
        }
    }
    assert!(examples >= 2, "{help}");
}

/// The agent's own log lines carry no Rust `Debug` text (`stream=Some("/p")`,
/// `stream=None`), and a stop logs one summary at info, not a line per
/// component (those are at debug).
#[test]
fn own_logs_have_no_debug_text_and_one_summary_at_stop() {
    let mut child = bin()
        .arg("-p")
        .arg(repo().join("pipelines/stdin-to-stdout.toml"))
        .env("LOGAGENT_DATA_DIR", tempfile::tempdir().unwrap().path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"not json\n{\"level\":\"warn\"}\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a JSON object"), "{err}");
    assert!(err.contains("stream=stdin"), "{err}");
    for debug_text in ["Some(", "None", "[\""] {
        assert!(!err.contains(debug_text), "{debug_text} in:\n{err}");
    }
    assert_eq!(err.matches("pipeline stopped").count(), 1, "{err}");
    assert!(!err.contains("component totals"), "{err}");
}

/// One `validate` run reports every problem: an unset variable no longer
/// hides the component and graph errors behind it.
#[test]
fn validate_reports_unset_variables_beside_every_other_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        r#"[sources.app]
type = "file"
include = ["${LOGDIR}/*.log"]
read_from = "middle"

[transforms.a]
type = "filter_level"
inputs = ["b"]
min_level = "info"

[transforms.b]
type = "filter_level"
inputs = ["a"]
min_level = "warn"

[sinks.out]
type = "stdout"
inputs = ["app"]
"#,
    );
    let out = bin()
        .env_remove("LOGDIR")
        .arg("validate")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 errors"), "{err}");
    assert!(
        err.contains("environment variable LOGDIR is not set"),
        "{err}"
    );
    assert!(err.contains("key `read_from`"), "{err}");
    assert!(err.contains("form a cycle"), "{err}");
}

/// `validate` says ok only when the run can work: an include naming a
/// directory or matching nothing and an output nobody reads are warnings; a
/// `data_dir` or sink directory that cannot be written is an error (exit 2),
/// unless `--no-environment`.
#[test]
fn validate_checks_the_environment_the_run_will_need() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("blocker"), "a regular file").unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/blocker/data"
[sources.dir]
type = "file"
include = ["{d}/logs"]
[sources.none]
type = "file"
include = ["{d}/nothing/*.log"]
[sinks.out]
type = "file"
inputs = ["dir"]
path = "{d}/blocker/out.ndjson"
"#
        ),
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: data_dir: "), "{err}");
    assert!(
        err.contains("warning: sources.dir: ") && err.contains("only directories"),
        "{err}"
    );
    assert!(
        err.contains("warning: sources.none: no file matches"),
        "{err}"
    );
    assert!(
        err.contains("error: sinks.out: cannot write under"),
        "{err}"
    );
    assert!(
        err.contains("warning: sources.none: nothing reads its output"),
        "{err}"
    );
    assert!(err.contains("2 error(s) in the environment"), "{err}");
    let out = bin()
        .args(["validate", "--no-environment"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running source whose globs match nothing says so (once a minute at most),
/// instead of reading nothing in silence.
#[test]
fn a_source_whose_globs_match_nothing_warns_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[sources.app]
type = "file"
include = ["{d}/missing/*.log"]
[sinks.out]
type = "stdout"
inputs = ["app"]
"#
        ),
    );
    let mut child = bin()
        .arg("-p")
        .arg(&p)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(line);
            if seen
                .iter()
                .any(|l| l.contains("no file matches the include patterns"))
            {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter()
            .any(|l| l.contains("no file matches the include patterns")
                && l.contains("missing/*.log")),
        "{seen:#?}"
    );
}
