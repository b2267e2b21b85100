//! `logagent convert`: the seeds' Fluentd config converts to a pipeline whose
//! `[[tests]]` show the fields Fluentd adds; Fluent Bit (classic and YAML) and
//! Vector (TOML and YAML) configs written as equivalents of
//! `pipelines/quickstart.toml` convert to pipelines that pass quickstart's own
//! `[[tests]]` (less the redaction checks, which those tools cannot express
//! without Lua or VRL that stays VRL).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{bin, repo};

/// Converts a fixture, returning (stdout, stderr).
fn convert(fixture: &str, extra: &[&str]) -> (String, String) {
    let out = bin()
        .current_dir(repo())
        .arg("convert")
        .arg(format!("fixtures/convert/{fixture}"))
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// Writes `pipeline` + `tests`, validates it and runs its tests with `env`.
fn validate_and_test(dir: &Path, pipeline: &str, tests: &str, env: &[(&str, &str)]) -> String {
    let file = dir.join("converted.toml");
    std::fs::write(&file, format!("{pipeline}\n{tests}")).unwrap();
    let f = file.to_str().unwrap();
    let out = bin()
        .envs(env.iter().copied())
        .args(["validate", "--no-environment", f])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{pipeline}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .envs(env.iter().copied())
        .args(["test", f])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}\n{pipeline}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("0 passed"), "{stdout}");
    stdout
}

#[test]
fn seed_fluentd_config_adds_the_fields_fluentd_would() {
    let (toml, stderr) = convert("seed-fluentd.conf", &[]);
    // type_name cannot be translated: said on stderr with file and line, and in the output.
    assert!(
        stderr.contains("seed-fluentd.conf:24: not translated: <match> type_name microservice"),
        "{stderr}"
    );
    assert!(
        toml.contains("#   fixtures/convert/seed-fluentd.conf:24: <match> type_name"),
        "{toml}"
    );
    // in_tail starts at the end (read_from_head false); pos_file's directory becomes data_dir.
    assert!(
        toml.contains("read_from = \"end\"") && toml.contains("data_dir = \"/var/log/fluentd\""),
        "{toml}"
    );
    // Fluentd: tag `workflow.*` on /var/log/workflow/workflow.api.log is
    // workflow.var.log.workflow.workflow.api.log, so tag_parts[1] is "var";
    // #{ENV[...]} is read at start-up; time_key `timestamp` leaves the record.
    let dir = tempfile::tempdir().unwrap();
    let tests = r#"
[[tests]]
name = "record_transformer's fields, as Fluentd adds them"
insert_at = "parse_workflow"
path = "/var/log/workflow/workflow.api.log"
lines = ['{"timestamp":"2025-08-20T10:30:00.000Z","level":"info","message":"login","service":"api"}']
[[tests.expect]]
at = "record_transformer"
count = 1
fields = { service_name = "var", environment = "production", server_name = "web-1", message = "login", level = "info" }
absent = ["timestamp"]
"#;
    let out = validate_and_test(
        dir.path(),
        &toml,
        tests,
        &[("NODE_ENV", "production"), ("HOSTNAME", "web-1")],
    );
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    // Without NODE_ENV.
    let unset = r#"
[[tests]]
name = "unset environment variables are empty, as in Ruby"
insert_at = "parse_workflow"
path = "/var/log/workflow/x.log"
lines = ['{"message":"m"}']
[[tests.expect]]
at = "record_transformer"
fields = { service_name = "var", environment = "", server_name = "web-1" }
"#;
    let out = validate_and_test(dir.path(), &toml, unset, &[("HOSTNAME", "web-1")]);
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

/// The `[[tests]]` of `pipelines/quickstart.toml`, read from it (so they
/// cannot drift), less what no converted config can do without Lua or VRL
/// programs that stay VRL: the expectations of `[REDACTED]` values are left
/// out (whole or partial masks), and what was expected at `redact` (the step after `enrich`) is
/// expected at `enrich`.
fn quickstart_tests() -> String {
    let text = std::fs::read_to_string(repo().join("pipelines/quickstart.toml")).unwrap();
    let mut quickstart: toml::Table = toml::from_str(&text).unwrap();
    let mut tests = quickstart.remove("tests").unwrap();
    let cases = tests.as_array_mut().unwrap();
    assert_eq!(
        cases.len(),
        5,
        "quickstart.toml's tests changed: look at this adaptation"
    );
    for case in cases.iter_mut() {
        for expect in case["expect"].as_array_mut().unwrap() {
            let expect = expect.as_table_mut().unwrap();
            if expect["at"].as_str() == Some("redact") {
                expect.insert("at".into(), "enrich".into());
            }
            if let Some(fields) = expect.get_mut("fields").and_then(toml::Value::as_table_mut) {
                // Masked values, whole (`[REDACTED]`) or in part (a webhook
                // URL keeping its host).
                fields.retain(|_, v| !v.as_str().is_some_and(|s| s.contains("[REDACTED]")));
            }
        }
    }
    let mut doc = toml::Table::new();
    doc.insert("tests".into(), tests);
    toml::to_string(&doc).unwrap()
}

#[test]
fn fluent_bit_classic_and_yaml_pass_the_quickstart_tests() {
    let tests = quickstart_tests();
    for fixture in ["quickstart-fluent-bit.conf", "quickstart-fluent-bit.yaml"] {
        let (toml, stderr) = convert(fixture, &[]);
        assert!(
            stderr.contains("not translated: [OUTPUT] es retry_limit 5"),
            "{fixture}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{fixture}: {stderr}");
        assert!(toml.contains("read_from = \"end\""), "{toml}");
        assert!(toml.contains("Mem_Buf_Limit 50MB"), "{toml}");
        // One filter serves every input it matches, as in Fluent Bit.
        let parsed: toml::Table = toml::from_str(&toml).unwrap();
        assert_eq!(
            parsed["transforms"]["enrich"]["inputs"]
                .as_array()
                .unwrap()
                .len(),
            3,
            "{toml}"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = validate_and_test(dir.path(), &toml, &tests, &[]);
        assert!(out.contains("5 passed, 0 failed"), "{fixture}: {out}");
    }
}

#[test]
fn vector_toml_and_yaml_pass_the_quickstart_tests() {
    let tests = quickstart_tests();
    for fixture in ["quickstart-vector.toml", "quickstart-vector.yaml"] {
        let (toml, stderr) = convert(fixture, &[]);
        assert!(stderr.is_empty(), "{fixture}: {stderr}");
        // The whole-program idioms run natively; nothing is left as VRL here.
        assert!(!toml.contains("type = \"remap\""), "{toml}");
        let dir = tempfile::tempdir().unwrap();
        let out = validate_and_test(dir.path(), &toml, &tests, &[]);
        assert!(out.contains("5 passed, 0 failed"), "{fixture}: {out}");
    }
}

#[test]
fn vector_remap_programs_are_kept_as_vrl_and_unknown_types_connected_around() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vector.toml");
    std::fs::write(
        &file,
        "[sources.in]\ntype = \"stdin\"\n\n[transforms.shape]\ntype = \"remap\"\ninputs = [\"in\"]\n\
         drop_on_error = true\nsource = '''\n.x = upcase(string!(.message))\ndel(.y)\n'''\n\n\
         [transforms.agg]\ntype = \"reduce\"\ninputs = [\"shape\"]\n\n\
         [transforms.keep]\ntype = \"filter\"\ninputs = [\"agg\"]\ncondition = 'starts_with(string!(.x), \"A\")'\n\n\
         [sinks.out]\ntype = \"console\"\ninputs = [\"keep\"]\nencoding.codec = \"json\"\n",
    )
    .unwrap();
    let out = bin().arg("convert").arg(&file).output().unwrap();
    assert!(out.status.success());
    let toml = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let parsed: toml::Table = toml::from_str(&toml).unwrap();
    let shape = &parsed["transforms"]["shape"];
    assert_eq!(shape["type"].as_str(), Some("remap"));
    assert_eq!(
        shape["source"].as_str(),
        Some(".x = upcase(string!(.message))\ndel(.y)\n")
    );
    assert_eq!(shape["drop_on_error"].as_bool(), Some(true));
    // `reduce` is listed with its line, and what read from it reads from its input.
    assert!(
        stderr.contains("vector.toml:13: not translated: transforms.agg: type `reduce`"),
        "{stderr}"
    );
    assert!(parsed["transforms"].get("agg").is_none());
    let keep = &parsed["transforms"]["keep"];
    assert_eq!(
        keep["inputs"].as_array().unwrap()[0].as_str(),
        Some("shape")
    );
    // A condition with no native equivalent runs as VRL that aborts.
    assert_eq!(keep["type"].as_str(), Some("remap"));
    assert_eq!(
        keep["source"].as_str(),
        Some("if !(starts_with(string!(.x), \"A\")) {\n  abort\n}\n")
    );
    assert_eq!(keep["drop_on_abort"].as_bool(), Some(true));
}

#[test]
fn format_is_detected_or_forced_and_garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("td-agent.cfg");
    std::fs::copy(repo().join("fixtures/convert/seed-fluentd.conf"), &odd).unwrap();
    let out = bin().arg("convert").arg(&odd).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("(Fluentd)"));
    let unknown = dir.path().join("x.txt");
    std::fs::write(&unknown, "hello\n").unwrap();
    let out = bin().arg("convert").arg(&unknown).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
    let out = bin()
        .args(["convert", "--from", "fluent-bit"])
        .arg(&unknown)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a line outside any section is an error"
    );
    let broken = dir.path().join("b.conf");
    std::fs::write(&broken, "<source>\n  @type tail\n").unwrap();
    let out = bin()
        .args(["convert", "--from", "fluentd"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("b.conf:1: `<source>` is never closed"));
}
