//! Coming from another agent: `remap` through the binary (VRL compile errors
//! from `logagent validate`, a run with several workers), `logagent list` and
//! `logagent generate`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{bin, write_pipeline};

#[test]
fn validate_reports_a_vrl_compile_error_with_file_component_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "bad.toml",
        r#"
[sources.in]
type = "stdin"

[transforms.shape]
type = "remap"
inputs = ["in"]
source = '''
.a = 1
.b = upcase(.message)
'''

[sinks.out]
type = "stdout"
inputs = ["shape"]
"#,
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:"), "the file: {stderr}");
    assert!(
        stderr.contains("transforms.shape"),
        "the component: {stderr}"
    );
    assert!(stderr.contains("key `source`"), "the key: {stderr}");
    assert!(stderr.contains("error[E103]"), "VRL's diagnostic: {stderr}");
    assert!(
        stderr.contains("source:2:6"),
        "line and column inside the program: {stderr}"
    );

    // The same program in a file: the diagnostic names that file.
    std::fs::write(
        dir.path().join("shape.vrl"),
        ".a = 1\n.b = upcase(.message)\n",
    )
    .unwrap();
    let p = write_pipeline(
        dir.path(),
        "from_file.toml",
        &format!(
            "[sources.in]\ntype = \"stdin\"\n[transforms.shape]\ntype = \"remap\"\ninputs = [\"in\"]\nfile = \"{}\"\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"shape\"]\n",
            dir.path().join("shape.vrl").display()
        ),
    );
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("from_file.toml:"), "{stderr}");
    assert!(stderr.contains("shape.vrl:2:6"), "{stderr}");
}

#[test]
fn remap_runs_on_the_workers_and_reroutes_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let dropped = dir.path().join("dropped.ndjson");
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"
data_dir = "{data}"
[runtime]
workers = 2

[sources.in]
type = "stdin"

[transforms.parse]
type = "parse_json"
inputs = ["in"]

[transforms.shape]
type = "remap"
inputs = ["parse"]
reroute_dropped = true
source = '''
if .drop == true {{ abort }}
.n = to_int!(.n) * 2
.kind = "remapped"
'''

[sinks.out]
type = "stdout"
inputs = ["shape"]

[sinks.dropped]
type = "file"
inputs = ["shape.dropped"]
path = "{dropped}"
"#,
            data = dir.path().join("data").display(),
            dropped = dropped.display()
        ),
    );
    let mut child = bin()
        .arg("-p")
        .arg(&p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for i in 0..2000 {
        if i % 100 == 0 {
            input.push_str(&format!("{{\"n\":{i},\"drop\":true}}\n"));
        } else if i % 250 == 1 {
            input.push_str("{\"n\":\"not a number\"}\n");
        } else {
            input.push_str(&format!("{{\"n\":{i}}}\n"));
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1980, "every event but the 20 aborted ones");
    let remapped = lines.iter().filter(|l| l["kind"] == "remapped").count();
    assert_eq!(remapped, 1972, "the 8 failing events pass unchanged");
    // Stream order is kept across workers.
    let ns: Vec<i64> = lines.iter().filter_map(|l| l["n"].as_i64()).collect();
    assert!(ns.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        stderr.contains("remap failed"),
        "errors are logged: {stderr}"
    );
    let dropped = std::fs::read_to_string(&dropped).unwrap();
    assert_eq!(dropped.lines().count(), 20, "{dropped}");
    assert!(dropped.lines().all(|l| l.contains("\"drop\":true")));
}

#[test]
fn list_shows_every_type_and_one_types_keys() {
    let out = bin().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for ty in [
        "file",
        "stdin",
        "remap",
        "parse_json",
        "elasticsearch",
        "loki",
    ] {
        assert!(text.contains(&format!("  {ty} ")), "{ty}: {text}");
    }
    let out = bin().args(["list", "remap"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("drop_on_abort            bool (default true)"),
        "{text}"
    );
    let out = bin().args(["list", "nonesuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_generated_pipeline_validates() {
    let out = bin()
        .args(["generate", "file/parse_json/elasticsearch"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[transforms.parse_json]"), "{text}");
    assert!(text.contains("# "), "commented: {text}");
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), "generated.toml", &text);
    let out = bin()
        .arg("validate")
        .arg("--no-environment")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["generate", "parse_json/stdout"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
