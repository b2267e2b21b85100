//! Pipeline files in YAML and JSON: the shipped TOML pipelines turned into
//! YAML and JSON (from the parsed TOML value, so they cannot drift) validate
//! and pass the same `[[tests]]`; errors name file, line and column in all
//! three formats; `${VAR}` is not interpolated in comments; `--config-dir`
//! merges a directory, refusing duplicate ids.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{bin, repo};

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("fixtures"), dir.path().join("fixtures")).unwrap();
    dir
}

/// `logagent ARGS` in `dir` with the environment `scripts/test` gives the pipelines.
fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = bin()
        .current_dir(dir)
        .env("LOGAGENT_REDACT_KEY", "pipeline-tests-throwaway-key")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The "N passed, M failed" line of `logagent test`.
fn summary(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("pipeline tests:"))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn every_shipped_pipeline_in_yaml_and_json_validates_and_passes_its_tests() {
    let dir = workdir();
    let mut pipelines: Vec<PathBuf> = std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    pipelines.sort();
    assert!(pipelines.len() >= 10, "{pipelines:?}");
    for toml_path in pipelines {
        let text = std::fs::read_to_string(&toml_path).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        let stem = toml_path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let toml_str = toml_path.to_str().unwrap();
        let (ok, _, err) = run(dir.path(), &["validate", "--no-environment", toml_str]);
        assert!(ok, "{stem}.toml: {err}");
        let (_, toml_out, _) = run(dir.path(), &["test", toml_str]);
        for (ext, body) in [
            ("yaml", serde_yaml::to_string(&json).unwrap()),
            ("json", serde_json::to_string_pretty(&json).unwrap()),
        ] {
            let file = dir.path().join(format!("{stem}.{ext}"));
            std::fs::write(&file, &body).unwrap();
            let f = file.to_str().unwrap();
            let (ok, _, err) = run(dir.path(), &["validate", "--no-environment", f]);
            assert!(ok, "{stem}.{ext} does not validate: {err}\n{body}");
            let (ok, out, err) = run(dir.path(), &["test", "-c", f]);
            assert!(ok, "{stem}.{ext}: tests fail: {out}{err}");
            assert_eq!(summary(&out), summary(&toml_out), "{stem}.{ext}: {out}");
        }
    }
}

fn errors(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let (ok, _, err) = run(
        dir,
        &["validate", "--no-environment", file.to_str().unwrap()],
    );
    assert!(!ok, "{name} should be invalid");
    err
}

#[test]
fn yaml_and_json_errors_name_file_line_column_component_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A wrong type for a key, on line 4.
    let err = errors(
        d,
        "p.yaml",
        "sources:\n  app:\n    type: file\n    include: 3\nsinks:\n  out:\n    type: stdout\n    inputs: [app]\n",
    );
    assert!(
        err.contains("p.yaml:4:14: sources.app: key `include`"),
        "{err}"
    );
    let err = errors(
        d,
        "p.json",
        "{\n  \"sources\": {\"app\": {\"type\": \"file\", \"include\": 3}},\n  \"sinks\": {\"out\": {\"type\": \"stdout\", \"inputs\": [\"app\"]}}\n}\n",
    );
    assert!(
        err.contains("p.json:2:50: sources.app: key `include`"),
        "{err}"
    );
    // An unknown key and an unknown type.
    let err = errors(
        d,
        "q.yaml",
        "sources:\n  app:\n    type: stdin\n    colour: red\nsinks:\n  out:\n    type: nope\n    inputs: [app]\n",
    );
    assert!(
        err.contains("q.yaml:") && err.contains("sources.app") && err.contains("colour"),
        "{err}"
    );
    assert!(err.contains("q.yaml:7:11: sinks.out: key `type`"), "{err}");
    // Syntax errors: YAML's and JSON's own, located.
    let err = errors(d, "bad.yaml", "sources:\n  app:\n    type: [stdin\n");
    assert!(
        err.contains("bad.yaml:") && err.contains("invalid YAML"),
        "{err}"
    );
    let err = errors(
        d,
        "bad.json",
        "{\n  \"sources\": {\n    \"app\": {\"type\": \"stdin\",}\n  }\n}\n",
    );
    assert!(
        err.contains("bad.json:3:") && err.contains("invalid JSON"),
        "{err}"
    );
    // A null (an empty key) is an error at its line, not a silent omission.
    let err = errors(
        d,
        "null.yaml",
        "sources:\n  app:\n    type: stdin\nsinks:\n  out:\n    type: stdout\n    inputs: [app]\n    encoding:\n",
    );
    assert!(
        err.contains("null.yaml:8:") && err.contains("null"),
        "{err}"
    );
}

#[test]
fn variables_are_interpolated_except_in_yaml_comments() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "# set ${UNSET_IN_COMMENT} before running\nsources:\n  app:\n    type: stdin  # or ${ALSO_UNSET}\n\
         sinks:\n  out:\n    type: \"${SINK_TYPE}\"\n    inputs: [app]\n    encoding: '#${ENCODING:-json}'\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = bin()
        .env("SINK_TYPE", "stdout")
        .args(["validate", "--no-environment", f])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The comment's variables are not needed; the quoted `#` is no comment,
    // so ENCODING is interpolated there (and `#json` is not an encoding).
    assert!(
        !err.contains("UNSET_IN_COMMENT") && !err.contains("ALSO_UNSET"),
        "{err}"
    );
    assert!(
        err.contains("sinks.out: key `encoding`") && err.contains("#json"),
        "{err}"
    );
    // A reference outside a comment that is unset is reported with its position.
    let out = bin()
        .args(["validate", "--no-environment", f])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("p.yaml:7:") && err.contains("SINK_TYPE is not set"),
        "{err}"
    );
}

#[test]
fn config_dir_merges_every_format_and_refuses_duplicate_ids() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("10-sources.toml"),
        "[sources.app]\ntype = \"stdin\"\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("20-parse.yaml"),
        "transforms:\n  parse:\n    type: parse_json\n    inputs: [app]\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("30-sinks.json"),
        r#"{"sinks": {"out": {"type": "stdout", "inputs": ["parse"]}},
            "tests": [{"name": "json lines parse", "insert_at": "parse", "lines": ["{\"a\":1}"],
                       "expect": [{"at": "parse", "count": 1, "fields": {"a": 1}}]}]}"#,
    )
    .unwrap();
    std::fs::write(conf.join("README.md"), "not a pipeline").unwrap();
    std::fs::write(conf.join(".hidden.toml"), "garbage = [").unwrap();
    let c = conf.to_str().unwrap();
    let (ok, out, err) = run(
        dir.path(),
        &["validate", "--no-environment", "--config-dir", c],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("1 source(s), 1 transform(s), 1 sink(s)"),
        "{out}"
    );
    let (ok, out, err) = run(dir.path(), &["test", "--config-dir", c]);
    assert!(
        ok && summary(&out) == "pipeline tests: 1 passed, 0 failed",
        "{out}{err}"
    );
    // Running takes it too: the stdin pipeline ends with its input.
    let run_out = bin()
        .args(["--config-dir", c, "--once"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        run_out.status.success(),
        "{}",
        String::from_utf8_lossy(&run_out.stderr)
    );
    // The same id in two files is an error naming both.
    std::fs::write(
        conf.join("40-dup.yaml"),
        "sources:\n  app:\n    type: stdin\n",
    )
    .unwrap();
    let (ok, _, err) = run(
        dir.path(),
        &["validate", "--no-environment", "--config-dir", c],
    );
    assert!(!ok);
    assert!(
        err.contains("40-dup.yaml")
            && err.contains("component id \"app\" is used twice")
            && err.contains("10-sources.toml"),
        "{err}"
    );
    // An empty or missing directory is an error, not an empty pipeline.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, err) = run(
        dir.path(),
        &["validate", "--config-dir", empty.to_str().unwrap()],
    );
    assert!(!ok && err.contains("no pipeline file"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &["validate", "--config-dir", "/nonexistent/conf.d"],
    );
    assert!(
        !ok && err.contains("cannot read the config directory"),
        "{err}"
    );
}

#[test]
fn config_is_an_alias_of_pipeline_everywhere() {
    let dir = workdir();
    let q = repo().join("pipelines/quickstart.toml");
    let q = q.to_str().unwrap();
    for args in [
        vec!["validate", "--no-environment", "-c", q],
        vec!["validate", "--no-environment", "--config", q],
        vec!["validate", "--no-environment", "-p", q],
        vec!["test", "--pipeline", q],
    ] {
        let (ok, out, err) = run(dir.path(), &args);
        assert!(ok, "{args:?}: {out}{err}");
    }
}
