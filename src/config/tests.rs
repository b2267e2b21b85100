//! Config loading: every error reported at once, with file, position, component and key.

use std::path::PathBuf;

use super::*;

fn load_one(text: &str) -> Result<PipelineConfig, ConfigErrors> {
    load_texts(
        &[(PathBuf::from("p.toml"), text.to_owned())],
        |name| match name {
            "NODE_ENV" => Some("production".into()),
            _ => None,
        },
    )
}

fn messages(text: &str) -> Vec<String> {
    load_one(text)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

const VALID: &str = r#"
data_dir = "/tmp/la"
[sources.app]
type = "file"
include = ["/var/log/app/*.log"]

[transforms.parse]
type = "parse_json"
inputs = ["app"]
time_key = "timestamp"

[transforms.env]
type = "enrich"
inputs = ["parse"]
fields = { environment = "${NODE_ENV}", region = "${REGION:-ap-northeast-1}" }

[sinks.out]
type = "file"
inputs = ["env"]
path = "out/{{ service }}-%Y-%m-%d.ndjson"
"#;

#[test]
fn loads_a_valid_pipeline_with_interpolation() {
    let c = load_one(VALID).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/tmp/la"));
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.transforms.len(), 2);
    assert_eq!(c.transforms[1].inputs, ["parse"]);
    let TransformConfig::Enrich(e) = &c.transforms[1].config else {
        panic!()
    };
    assert_eq!(e.fields["environment"], "production");
    assert_eq!(e.fields["region"], "ap-northeast-1");
    assert_eq!(c.runtime, RuntimeConfig::default());
}

#[test]
fn reports_every_error_with_location() {
    let text = r#"
[sources.app]
type = "file"
include = ["/var/log/*.log"]
colour = "blue"

[sources.in2]
type = "tcp"

[transforms.parse]
type = "parse_regex"
inputs = ["app"]
pattern = "(?P<open"

[transforms.lvl]
type = "filter_level"
inputs = ["nowhere"]
min_level = "loud"

[sinks.out]
type = "file"
inputs = ["parse"]
path = "out/x.ndjson"
flush_interval = "soon"

[sinks.out2]
type = "file"
inputs = ["app"]
path = "out/x.ndjson"

[sinks.out3]
type = "file"
inputs = ["app"]
path = "out/x.ndjson"
"#;
    let m = messages(text);
    let expect = [
        "p.toml:5:1: sources.app: key `colour`: unknown field `colour`",
        "p.toml:8:8: sources.in2: key `type`: unknown type \"tcp\" (expected one of: file, stdin",
        "p.toml:13:11: transforms.parse: key `pattern`: invalid regular expression",
        "p.toml:18:13: transforms.lvl: key `min_level`: unknown level",
        "p.toml:24:18: sinks.out: key `flush_interval`: invalid duration \"soon\"",
        "p.toml: sinks.out3: key `path`: sinks.out2 already writes to \"out/x.ndjson\"",
    ];
    for e in expect {
        assert!(
            m.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in:\n{}",
            m.join("\n")
        );
    }
    // The dangling input is only checked once components parse; lvl failed its own
    // check, so it is reported for that and not twice.
    assert_eq!(m.len(), expect.len(), "{}", m.join("\n"));
}

#[test]
fn graph_errors_dangling_sink_input_and_cycles() {
    let text = r#"
[sources.app]
type = "stdin"
[transforms.a]
type = "redact"
inputs = ["b", "app"]
paths = ["x"]
[transforms.b]
type = "redact"
inputs = ["a"]
paths = ["x"]
[sinks.out]
type = "stdout"
inputs = ["a", "ghost"]
[sinks.out2]
type = "stdout"
inputs = ["out"]
"#;
    let m = messages(text);
    assert!(
        m.iter()
            .any(|e| e.contains("sinks.out: key `inputs`: input \"ghost\" does not exist")),
        "{m:?}"
    );
    assert!(
        m.iter().any(|e| e.contains("input \"out\" is a sink")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|e| e.contains("transforms form a cycle: a -> b -> a")
                || e.contains("cycle: b -> a -> b")),
        "{m:?}"
    );
}

#[test]
fn missing_keys_syntax_and_env_errors() {
    let m = messages("[sources.app]\ninclude = [\"x\"]\n[sinks.s]\ntype = \"stdout\"\n");
    assert!(
        m.iter()
            .any(|e| e.contains("sources.app: key `type`: missing key `type`")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|e| e.contains("sinks.s: key `inputs`: missing key `inputs`")),
        "{m:?}"
    );

    let m = messages("[sources.app\ntype = 1");
    assert!(m[0].starts_with("p.toml:1:"), "{m:?}");
    assert!(m[0].contains("invalid TOML"), "{m:?}");

    let m = messages("data_dir = \"${MISSING_DIR}\"\nx = \"${ALSO_MISSING}\"");
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].starts_with("p.toml:1:13: environment variable MISSING_DIR is not set"),
        "{m:?}"
    );

    let m = messages(
        "bogus = 1\n[sources.a]\ntype=\"stdin\"\n[sinks.b]\ntype=\"stdout\"\ninputs=[\"a\"]",
    );
    assert!(m[0].contains("unknown top-level key `bogus`"), "{m:?}");
}

#[test]
fn bad_sizes_and_types_name_the_key() {
    let m = messages(
        "[runtime]\nbatch_max_bytes = \"12 parsecs\"\n[sources.a]\ntype=\"stdin\"\nmax_line_bytes = \"lots\"\n[sinks.b]\ntype=\"stdout\"\ninputs=[\"a\"]\nencoding = 5",
    );
    assert!(
        m.iter()
            .any(|e| e.contains("runtime") && e.contains("invalid size \"12 parsecs\"")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|e| e.contains("sources.a: key `max_line_bytes`: invalid size \"lots\"")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|e| e.starts_with("p.toml:9:") && e.contains("sinks.b: key `encoding`")),
        "{m:?}"
    );
}

#[test]
fn merges_files_and_rejects_duplicate_ids() {
    let a = (
        PathBuf::from("a.toml"),
        "[sources.app]\ntype = \"stdin\"\n".to_owned(),
    );
    let b = (
        PathBuf::from("b.toml"),
        "[sinks.out]\ntype = \"stdout\"\ninputs = [\"app\"]\n".to_owned(),
    );
    let c = load_texts(&[a.clone(), b.clone()], |_| None).unwrap();
    assert_eq!((c.sources.len(), c.sinks.len()), (1, 1));
    let dup = (
        PathBuf::from("c.toml"),
        "[sources.app]\ntype = \"stdin\"\n".to_owned(),
    );
    let m: Vec<String> = load_texts(&[a, b, dup], |_| None)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        m.iter().any(|e| e.starts_with(
            "c.toml: sources.app: component id \"app\" is used twice (also sources.app in a.toml)"
        )),
        "{m:?}"
    );
}

#[test]
fn named_outputs_must_be_declared() {
    let m = messages(
        "[sources.a]\ntype = \"stdin\"\n[transforms.p]\ntype = \"parse_json\"\ninputs = [\"a\"]\n[sinks.o]\ntype = \"stdout\"\ninputs = [\"p.errors\", \"ghost.x\"]\n",
    );
    assert!(
        m.iter().any(|e| e.contains(
            "input \"p.errors\": \"p\" has no output named \"errors\" (it has: dead_letter)"
        )),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|e| e.contains("input \"ghost.x\": component \"ghost\" does not exist")),
        "{m:?}"
    );
}

#[test]
fn an_exactly_once_file_sink_reached_by_two_paths_is_refused() {
    let diamond = |durability: &str| {
        format!(
            r#"
data_dir = "/tmp/la"
[sources.app]
type = "file"
include = ["/var/log/app/*.log"]

[transforms.parse]
type = "parse_json"
inputs = ["app"]

[transforms.tag]
type = "add_fields"
inputs = ["parse"]
fields = {{ seen = "yes" }}

[sinks.out]
type = "file"
inputs = ["tag", "parse.dead_letter"]
path = "/tmp/la/out.ndjson"
{durability}
"#
        )
    };
    let errors = messages(&diamond(""));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("sinks.out")
            && errors[0].contains("inputs")
            && errors[0].contains("\"app\" reach this exactly-once sink by 2 paths"),
        "{errors:?}"
    );
    assert!(load_one(&diamond("durability = \"at_least_once\"")).is_ok());
    // One path through a chain is fine.
    assert!(load_one(&diamond("").replace(", \"parse.dead_letter\"", "")).is_ok());
}
