//! `logagent rotate` and `logagent retain` through the binary: exact dry-run
//! plans, the lock, the JSON report, exit codes, validation — and the test the
//! feature exists for: unshipped data is never deleted.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{bin, repo, wait_until};
use logagent::checkpoint::{self, FileCheckpoint, SourceCheckpoint};
use serde::Deserialize;

#[cfg(unix)]
fn identity(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(p).unwrap();
    (m.dev(), m.ino())
}

/// Writes the checkpoint an agent would: `files` acknowledged to these offsets.
fn agent_checkpoint(data: &Path, files: &[(&Path, u64)]) {
    let files = files
        .iter()
        .map(|(p, offset)| {
            let (dev, inode) = identity(p);
            FileCheckpoint {
                path: p.to_path_buf(),
                dev,
                inode,
                fingerprint: None,
                offset: *offset,
                finished: false,
                detached: false,
                compressed: false,
                stream: None,
                tail: None,
            }
        })
        .collect();
    checkpoint::write(
        data,
        &SourceCheckpoint {
            version: checkpoint::VERSION,
            source: "app".into(),
            written_at: chrono::Utc::now().to_rfc3339(),
            files,
        },
    )
    .unwrap();
}

fn lines(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("{prefix} line {i:03}\n")).collect()
}

/// What an agent resuming from its checkpoints can still ship: for every file
/// left in `logs`, the lines after its acknowledged offset (0 if never
/// checkpointed).
fn lines_still_shippable(logs: &Path, data: &Path) -> usize {
    let acked: HashMap<(u64, u64), u64> = checkpoint::load_all(data, |_| {})
        .unwrap()
        .into_iter()
        .flat_map(|cp| cp.files)
        .map(|f| ((f.dev, f.inode), f.offset))
        .collect();
    let mut n = 0;
    for entry in fs::read_dir(logs).unwrap() {
        let p = entry.unwrap().path();
        let from = acked.get(&identity(&p)).copied().unwrap_or(0) as usize;
        let bytes = fs::read(&p).unwrap();
        n += bytes[from.min(bytes.len())..]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
    }
    n
}

struct Scenario {
    root: tempfile::TempDir,
    logs: PathBuf,
    data: PathBuf,
    /// Lines the agent had acknowledged before the job ran.
    acked: usize,
    total: usize,
}

/// An agent tails `logs/app.log*`. It has shipped all of `app.log` (100 lines),
/// the first 20 of the 50 lines of `app.log.1`, and has not reached `app.log.2`
/// (30 lines) at all.
fn scenario() -> Scenario {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let data = root.path().join("data");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("app.log"), lines("live", 100)).unwrap();
    fs::write(logs.join("app.log.1"), lines("one", 50)).unwrap();
    fs::write(logs.join("app.log.2"), lines("two", 30)).unwrap();
    let live_size = fs::metadata(logs.join("app.log")).unwrap().len();
    let first_20 = lines("one", 20).len() as u64;
    agent_checkpoint(
        &data,
        &[
            (&logs.join("app.log"), live_size),
            (&logs.join("app.log.1"), first_20),
        ],
    );
    fs::write(
        root.path().join("pipeline.toml"),
        format!(
            r#"data_dir = "{}"
[sources.app]
type = "file"
include = ["{}/app.log*"]
[sinks.out]
type = "stdout"
inputs = ["app"]
"#,
            data.display(),
            logs.display()
        ),
    )
    .unwrap();
    Scenario {
        root,
        logs,
        data,
        acked: 120,
        total: 180,
    }
}

fn run(args: &[&str], cwd: &Path) -> Output {
    bin().current_dir(cwd).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The same rotate job (`keep = 1`) with and without the agent's checkpoints:
/// with them, the versions the agent has not finished are held and every line
/// can still be shipped; without them, logrotate-style, 60 lines are gone.
#[test]
fn unshipped_data_is_never_deleted_by_rotate() {
    let job = |s: &Scenario| {
        let p = s.root.path().join("rotate.toml");
        fs::write(
            &p,
            format!(
                "[[rotate]]\nname = \"app\"\npaths = [\"{}/app.log\"]\nsize = 1\nkeep = 1\nagent_wait = \"50ms\"\n",
                s.logs.display()
            ),
        )
        .unwrap();
        p
    };
    // Protected: the agent's pipeline (data_dir, include glob) is given.
    let s = scenario();
    job(&s);
    let out = run(
        &[
            "rotate",
            "--config",
            "pipeline.toml",
            "--config",
            "rotate.toml",
            "--state",
            "state.json",
        ],
        s.root.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("HOLD delete"), "{stderr}");
    assert!(stderr.contains("acknowledged"), "{stderr}");
    assert!(stderr.contains("has not checkpointed it yet"), "{stderr}");
    assert!(
        text(&out.stdout).contains("held 2 unshipped"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        s.acked + lines_still_shippable(&s.logs, &s.data),
        s.total,
        "protected: nothing lost"
    );

    // Unprotected: the same job, no agent known.
    let u = scenario();
    job(&u);
    let out = run(
        &["rotate", "--config", "rotate.toml", "--state", "state.json"],
        u.root.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("UNPROTECTED"));
    let lost = u.total - (u.acked + lines_still_shippable(&u.logs, &u.data));
    assert_eq!(
        lost, 60,
        "without the guard the unshipped lines of both old versions are gone"
    );
}

/// The seeds' `find -name "*.log.*" -mtime +30 -delete`, as a retain job over
/// the same directory.
#[test]
fn unshipped_data_is_never_deleted_by_retain() {
    let job = |s: &Scenario| {
        fs::write(
            s.root.path().join("retain.toml"),
            format!(
                "[[retain]]\ndirectory = \"{}\"\npattern = \"app.log*\"\nmax_age = \"0s\"\n",
                s.logs.display()
            ),
        )
        .unwrap();
    };
    let s = scenario();
    job(&s);
    let out = run(
        &[
            "retain",
            "--config",
            "pipeline.toml",
            "--config",
            "retain.toml",
        ],
        s.root.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // app.log is shipped and goes; the other two stay.
    let mut left: Vec<_> = fs::read_dir(&s.logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["app.log.1", "app.log.2"]);
    assert_eq!(s.acked + lines_still_shippable(&s.logs, &s.data), s.total);

    let u = scenario();
    job(&u);
    let out = run(&["retain", "--config", "retain.toml"], u.root.path());
    assert!(out.status.success());
    assert_eq!(fs::read_dir(&u.logs).unwrap().count(), 0);
    assert_eq!(
        u.total - (u.acked + lines_still_shippable(&u.logs, &u.data)),
        60
    );
}

#[test]
fn dry_runs_print_exact_plans_and_change_nothing() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("app.log"), "0123456789\n").unwrap();
    fs::write(logs.join("app.log.1"), "one\n").unwrap();
    fs::write(
        d.path().join("m.toml"),
        format!(
            r#"[[rotate]]
name = "app"
paths = ["{0}/app.log"]
size = "10B"
keep = 5
compress = true
delay_compress = true
mode = "0640"

[[retain]]
name = "archives"
directory = "{0}"
pattern = "*.gz"
keep_last = 0
"#,
            logs.display()
        ),
    )
    .unwrap();
    let out = run(
        &[
            "rotate",
            "--config",
            "m.toml",
            "--dry-run",
            "--data-dir",
            "data",
        ],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let l = logs.display();
    let stdout = text(&out.stdout);
    let mut plan: Vec<&str> = stdout.lines().collect();
    let summary = plan.pop().unwrap();
    assert_eq!(
        plan,
        [
            format!("app: shift {l}/app.log.1 -> {l}/app.log.2"),
            format!("app: rotate {l}/app.log -> {l}/app.log.1 (size 11B >= 10B)"),
            plan[2].to_string(),
            format!("app: compress {l}/app.log.2 -> {l}/app.log.2.gz (gzip level 6)"),
        ]
    );
    assert!(
        plan[2].starts_with(&format!("app: create {l}/app.log (mode 0640, owner ")),
        "{}",
        plan[2]
    );
    assert_eq!(
        summary,
        "rotate: 1 file(s) checked; would rotate 1, would delete 0 (0B freed), would compress 1, held 0 unshipped, 0 error(s)"
    );
    assert_eq!(
        fs::read_to_string(logs.join("app.log")).unwrap(),
        "0123456789\n"
    );
    assert!(!d.path().join("data").exists(), "a dry run writes no state");

    let out = run(
        &["rotate", "--config", "m.toml", "--data-dir", "data"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "rotate: 1 file(s) checked; rotate 1, delete 0 (0B freed), compress 1, held 0 unshipped, 0 error(s)"
    );
    let mut names: Vec<_> = fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["app.log", "app.log.1", "app.log.2.gz"]);
    assert!(d.path().join("data/rotate.state.json").exists());

    let out = run(
        &[
            "retain",
            "--config",
            "m.toml",
            "--dry-run",
            "--data-dir",
            "data",
        ],
        d.path(),
    );
    assert_eq!(
        text(&out.stdout),
        format!(
            "archives: delete {l}/app.log.2.gz (beyond the newest 0)\nretain: 1 file(s) matched; would delete 1 ({}B freed), would compress 0, held 0 unshipped, 0 error(s)\n",
            fs::metadata(logs.join("app.log.2.gz")).unwrap().len()
        )
    );
}

#[test]
fn the_json_report_describes_every_step() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("old.tmp"), "x").unwrap();
    fs::write(
        d.path().join("m.toml"),
        format!(
            "[[retain]]\ndirectory = \"{}\"\npattern = \"*.tmp\"\nmax_age = \"0s\"\n",
            d.path().display()
        ),
    )
    .unwrap();
    let out = run(&["retain", "--config", "m.toml", "--json"], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["command"], "retain");
    assert_eq!(report["protected"], false);
    assert_eq!(report["actions"][0]["kind"], "delete");
    assert_eq!(report["actions"][0]["status"], "done");
    assert_eq!(report["actions"][0]["detail"], "older than 0s");
    assert_eq!(report["summary"]["deleted"], 1);
    assert_eq!(report["summary"]["freed_bytes"], 1);
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .contains("UNPROTECTED")
    );
}

#[test]
fn a_second_concurrent_run_exits_with_a_clear_message() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("app.log"), "x\n").unwrap();
    fs::write(
        d.path().join("m.toml"),
        format!(
            "[[rotate]]\npaths = [\"{0}/app.log\"]\nsize = 1\npostrotate = \"touch {0}/started; while [ ! -f {0}/release ]; do sleep 0.02; done\"\n",
            d.path().display()
        ),
    )
    .unwrap();
    let mut first = bin()
        .current_dir(d.path())
        .args(["rotate", "--config", "m.toml", "--state", "state.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the first run to hold the lock",
        || d.path().join("started").exists(),
    );
    let second = run(
        &["rotate", "--config", "m.toml", "--state", "state.json"],
        d.path(),
    );
    fs::write(d.path().join("release"), "").unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        text(&second.stderr).contains(
            "another logagent maintenance run is in progress (lock held on state.json.lock)"
        ),
        "{}",
        text(&second.stderr)
    );
    assert!(first.wait().unwrap().success());
}

#[test]
fn errors_exit_1_after_finishing_the_other_files_and_bad_config_exits_2() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.log"), "x\n").unwrap();
    fs::write(
        d.path().join("m.toml"),
        format!(
            "[[rotate]]\npaths = [\"{0}/missing.log\"]\nsize = 1\n\n[[rotate]]\npaths = [\"{0}/a.log\"]\nsize = 1\n",
            d.path().display()
        ),
    )
    .unwrap();
    let out = run(
        &["rotate", "--config", "m.toml", "--state", "s.json"],
        d.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("FAILED skip"),
        "{}",
        text(&out.stderr)
    );
    assert!(d.path().join("a.log.1").exists(), "the other job still ran");

    fs::write(
        d.path().join("bad.toml"),
        "[[retain]]\ndirectory = \"/x\"\npattern = \"*\"\nmax_age = \"soon\"\n",
    )
    .unwrap();
    let out = run(&["retain", "--config", "bad.toml"], d.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml:4:11: retain[0]: key `max_age`: invalid duration"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["validate", "bad.toml"], d.path());
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["validate", "m.toml"], d.path());
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        "ok: 2 rotate job(s), 0 retain job(s) in m.toml"
    );
}

/// The shipped example maintenance file validates, and the CronJob manifest is
/// valid YAML that runs both commands against the agent's data directory.
#[test]
fn shipped_examples_are_valid() {
    let out = bin()
        .current_dir(repo())
        .args(["validate", "pipelines/maintenance.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest =
        fs::read_to_string(repo().join("deploy/kubernetes/maintenance-cronjob.yaml")).unwrap();
    let mut kinds = Vec::new();
    let mut commands = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&manifest) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        kinds.push(v["kind"].as_str().unwrap().to_owned());
        if v["kind"] == "CronJob" {
            assert!(v["spec"]["schedule"].as_str().is_some());
            assert_eq!(v["spec"]["concurrencyPolicy"], "Forbid");
            let container = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
            let args: Vec<String> = container["args"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            assert!(args.iter().any(|a| a == "--data-dir"), "{args:?}");
            commands.push(args[0].clone());
        }
    }
    assert!(kinds.contains(&"ConfigMap".to_owned()), "{kinds:?}");
    commands.sort();
    assert_eq!(commands, ["retain", "rotate"]);
}
