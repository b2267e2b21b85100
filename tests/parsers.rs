//! Parser fixtures: each `fixtures/parsers/CASE/` holds a pipeline (stdin → the
//! parser → stdout), an input with good and malformed lines, and the expected
//! NDJSON. The real binary runs each one; `"<any>"` in the expected output
//! stands for a value that depends on the clock (the read time a line without
//! a time falls back to).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{bin, repo};

fn matches(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    match (want, got) {
        (serde_json::Value::String(w), _) if w == "<any>" => true,
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|gv| matches(v, gv)))
        }
        _ => want == got,
    }
}

#[test]
fn every_parser_fixture_gives_its_expected_ndjson() {
    let root = repo().join("fixtures/parsers");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 14,
        "expected a fixture per parser, found {}",
        cases.len()
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(case.join("input.log")).unwrap();
        let mut child = bin()
            .current_dir(repo())
            .arg("-p")
            .arg(case.join("pipeline.toml"))
            .arg("--once")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name}: exit {:?}\n{stderr}",
            out.status
        );
        let got: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: bad JSON {e}: {l}"))
            })
            .collect();
        let want: Vec<serde_json::Value> = std::fs::read_to_string(case.join("expected.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: line count\n{got:#?}");
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert!(
                matches(w, g),
                "{name} line {}:\n want {w}\n  got {g}",
                i + 1
            );
        }
    }
}
