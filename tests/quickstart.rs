//! The README's first command: the quickstart pipeline over the fixtures, run
//! through the real binary, compared with the expected NDJSON.

#![allow(clippy::unwrap_used)]

mod common;

use common::{bin, read_ndjson, repo};

#[test]
fn quickstart_writes_redacted_filtered_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("fixtures"), dir.path().join("fixtures")).unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["--pipeline"])
        .arg(repo().join("pipelines/quickstart.toml"))
        .arg("--once")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    assert!(stderr.contains("pipeline stopped"), "{stderr}");
    assert!(
        stderr.contains("read=650")
            && stderr.contains("written=475")
            && stderr.contains("discarded=175"),
        "{stderr}"
    );

    for name in ["api.ndjson", "worker.ndjson", "access.ndjson"] {
        let got = read_ndjson(&dir.path().join("out").join(name), &["server_name"]);
        let want = read_ndjson(&repo().join("fixtures/expected/quickstart").join(name), &[]);
        assert_eq!(got.len(), want.len(), "{name}: line count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name} line {}", i + 1);
        }
    }

    // What the quickstart promises, checked directly on the output.
    let all = std::fs::read_to_string(dir.path().join("out/api.ndjson")).unwrap()
        + &std::fs::read_to_string(dir.path().join("out/worker.ndjson")).unwrap();
    assert!(
        !all.contains("@example"),
        "an e-mail address survived redaction"
    );
    assert!(
        !all.contains("Bearer ") && !all.contains("Basic "),
        "an authorization header survived"
    );
    for line in all.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let level = v.get("level").map(|l| l.to_string().to_lowercase());
        assert!(
            !matches!(
                level.as_deref(),
                Some("\"debug\"" | "\"trace\"" | "10" | "20")
            ),
            "debug/trace line kept: {line}"
        );
        if v.get("message")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m.starts_with('{'))
        {
            continue; // the truncated line, kept as text
        }
        assert!(
            v.get("service_name").is_some() && v.get("server_name").is_some(),
            "not enriched: {line}"
        );
    }
}

/// What the README's first command writes (`out/`, `data/`) is ignored by git,
/// so a fresh clone stays clean after it; nothing under them is tracked.
#[test]
fn what_the_quickstart_writes_is_ignored_and_untracked() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(repo())
            .args(args)
            .output()
            .unwrap()
    };
    if !git(&["rev-parse", "--is-inside-work-tree"])
        .status
        .success()
    {
        eprintln!("not a git checkout: nothing to check");
        return;
    }
    for path in ["out/api.ndjson", "data/checkpoints/app.json"] {
        assert!(
            git(&["check-ignore", "-q", path]).status.success(),
            "{path} is not ignored"
        );
    }
    let tracked = git(&["ls-files", "out", "data"]);
    assert!(
        tracked.stdout.is_empty(),
        "tracked: {}",
        String::from_utf8_lossy(&tracked.stdout)
    );
}
