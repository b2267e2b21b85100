use super::*;

use logagent_core::event::{AckToken, test_batch};
use logagent_core::flow::Output;
use serde_json::{Value as Json, json};

fn config(toml_text: &str) -> RemapConfig {
    toml::from_str(toml_text).unwrap()
}

fn remap(program: &str) -> Remap {
    RemapConfig {
        source: Some(program.to_owned()),
        file: None,
        drop_on_error: false,
        drop_on_abort: true,
        reroute_dropped: false,
        timezone: Some("UTC".into()),
    }
    .build(TransformContext::detached("remap"))
    .unwrap()
}

/// Unparsed lines, as a file source reads them.
fn text_batch_bytes(lines: &[&[u8]]) -> Batch {
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: None,
        id: 0,
    });
    let mut b = Batch::new(stream, AckToken::detached(), lines.len());
    for (i, l) in lines.iter().enumerate() {
        b.events
            .push(Event::new(Bytes::copy_from_slice(l), i as u64));
    }
    b
}

fn text_batch(lines: &[&str]) -> Batch {
    let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    text_batch_bytes(&lines)
}

fn encoded(batch: &Batch) -> Vec<Json> {
    batch
        .events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            encode::write_json(e, &mut out);
            serde_json::from_slice(&out).unwrap()
        })
        .collect()
}

/// Runs `program` on JSON lines parsed the way `parse_json` leaves them.
fn run_json(program: &str, lines: &[&str]) -> Vec<Json> {
    let mut t = remap(program);
    let mut b = test_batch::json_batch(lines);
    t.process(&mut b);
    encoded(&b)
}

/// The value a documentation example's program returns (VRL's `return:`).
fn returns(program: &str) -> Json {
    let functions = vrl::stdlib::all();
    let program = vrl::compiler::compile(program, &functions).unwrap().program;
    let mut target = TargetValue {
        value: VrlValue::Object(ObjectMap::new()),
        metadata: VrlValue::Object(ObjectMap::new()),
        secrets: Secrets::default(),
    };
    let value = Runtime::default()
        .resolve(&mut target, &program, &TimeZone::default())
        .unwrap();
    serde_json::to_value(&value).unwrap()
}

// Vector's documentation examples, with Vector's documented outputs.

#[test]
fn vector_docs_del_deletes_a_field() {
    assert_eq!(
        run_json("del(.field1)", &[r#"{"field1":1,"field2":2}"#]),
        [json!({"field2": 2})]
    );
}

#[test]
fn vector_docs_del_renames_a_field() {
    assert_eq!(
        run_json(
            ".new_field = del(.old_field)",
            &[r#"{"old_field":"please rename me"}"#]
        ),
        [json!({"new_field": "please rename me"})]
    );
}

#[test]
fn vector_docs_parse_json() {
    assert_eq!(
        returns(r#"parse_json!("{\"key\": \"val\"}")"#),
        json!({"key": "val"})
    );
    assert_eq!(
        returns(r#"parse_json!("{\"top_level\":{\"key\": \"val\"}}", max_depth: 1)"#),
        json!({"top_level": "{\"key\": \"val\"}"})
    );
    // And on an event: the message of a text line parsed into the event.
    let mut t = remap(". = parse_json!(.message)\n.new_field = \"new value\"");
    let mut b = text_batch(&[r#"{"status":"200","old_name":"x"}"#]);
    t.process(&mut b);
    assert_eq!(
        encoded(&b),
        [json!({"status": "200", "old_name": "x", "new_field": "new value"})]
    );
}

#[test]
fn vector_docs_merge_shallow_and_deep() {
    let to = r#"{"parent1": {"child1": 1, "child2": 2}, "parent2": {"child3": 3}}"#;
    let from = r#"{"parent1": {"child2": 4, "child5": 5}}"#;
    assert_eq!(
        returns(&format!("merge({to}, {from})")),
        json!({"parent1": {"child2": 4, "child5": 5}, "parent2": {"child3": 3}})
    );
    assert_eq!(
        returns(&format!("merge({to}, {from}, deep: true)")),
        json!({"parent1": {"child1": 1, "child2": 4, "child5": 5}, "parent2": {"child3": 3}})
    );
    // merge into the event itself.
    assert_eq!(
        run_json(&format!(". = merge(., {from}, deep: true)"), &[to]),
        [json!({"parent1": {"child1": 1, "child2": 4, "child5": 5}, "parent2": {"child3": 3}})]
    );
}

#[test]
fn vector_docs_if_else() {
    assert_eq!(
        returns("if true {\n\"Hello, World!\"\n}"),
        json!("Hello, World!")
    );
    assert_eq!(returns("if false {\n# not evaluated\nnull\n}"), json!(null));
    assert_eq!(
        returns("if false {\nnull\n} else {\n\"Hello, World!\"\n}"),
        json!("Hello, World!")
    );
    assert_eq!(
        returns("if false {\nnull\n} else if false {\nnull\n} else {\n\"Hello, World!\"\n}"),
        json!("Hello, World!")
    );
    assert_eq!(
        returns(
            "x = 3\nif (x = x + 1; x == 5) {\nnull\n} else if (\nx = x + 1\nx == 5\n) {\n\"Hello, World!\"\n}"
        ),
        json!("Hello, World!")
    );
    // Branches on event fields.
    let program = "if .level == \"error\" { .alert = true } else { .alert = false }";
    assert_eq!(
        run_json(program, &[r#"{"level":"error"}"#, r#"{"level":"info"}"#]),
        [
            json!({"level": "error", "alert": true}),
            json!({"level": "info", "alert": false})
        ]
    );
}

const ABORT_EXAMPLE: &str =
    "if contains(string!(.message), \"hello\") {\n\tabort\n}\n.message = \"not hello world\"";

#[test]
fn vector_docs_abort_drops_by_default_and_keeps_the_original_otherwise() {
    let mut t = remap(ABORT_EXAMPLE);
    let mut b = text_batch(&["hello world", "bye"]);
    t.process(&mut b);
    assert_eq!(encoded(&b), [json!({"message": "not hello world"})]);
    assert_eq!(t.aborted.load(std::sync::atomic::Ordering::Relaxed), 1);

    // Vector's documented output with drop_on_abort = false: the event as it was.
    let mut t = config(&format!(
        "source = '''{ABORT_EXAMPLE}'''\ndrop_on_abort = false"
    ))
    .build(TransformContext::detached("r"))
    .unwrap();
    let mut b = text_batch(&["hello world"]);
    let line = b.events[0].line.clone();
    t.process(&mut b);
    assert_eq!(encoded(&b), [json!({"message": "hello world"})]);
    assert_eq!(
        b.events[0].root,
        Root::Text,
        "an aborted text line stays text"
    );
    assert_eq!(
        b.events[0].line.as_ptr(),
        line.as_ptr(),
        "and is not copied"
    );
}

#[test]
fn a_runtime_error_passes_the_original_on_or_drops_it() {
    // `to_int!` fails on "abc": the assignment before it is undone.
    let program = ".seen = true\n.n = to_int!(.n)";
    let lines = [r#"{"n":"12"}"#, r#"{"n":"abc"}"#];
    let mut t = remap(program);
    let mut b = test_batch::json_batch(&lines);
    t.process(&mut b);
    assert_eq!(
        encoded(&b),
        [json!({"n": 12, "seen": true}), json!({"n": "abc"})]
    );
    assert_eq!(t.ctx.metrics.snapshot().errors, 1);

    let mut t = config(&format!("source = '''{program}'''\ndrop_on_error = true"))
        .build(TransformContext::detached("r"))
        .unwrap();
    let mut b = test_batch::json_batch(&lines);
    t.process(&mut b);
    assert_eq!(encoded(&b), [json!({"n": 12, "seen": true})]);
    assert_eq!(t.ctx.metrics.snapshot().errors, 1);
}

#[test]
fn reroute_dropped_sends_the_originals_to_the_dropped_output() {
    let cfg = config(&format!(
        "source = '''{ABORT_EXAMPLE}'''\nreroute_dropped = true"
    ));
    assert_eq!(TransformComponent::outputs(&cfg), [DROPPED]);
    let mut t = cfg.build(TransformContext::detached("r")).unwrap();
    assert!(t.splits());
    let metrics = Arc::new(ComponentMetrics::default());
    let (dtx, drx) = crossbeam_channel::unbounded();
    let (xtx, xrx) = crossbeam_channel::unbounded();
    let outputs = Outputs::new(
        Output::new(vec![dtx], metrics.clone()),
        vec![(DROPPED.into(), Output::new(vec![xtx], metrics))],
    );
    let b = text_batch(&["hello world", "bye", "hello again"]);
    let discarded = t.process_into(b, &outputs).unwrap();
    assert_eq!(discarded, 0, "rerouted, not discarded");
    assert_eq!(
        encoded(&drx.try_recv().unwrap()),
        [json!({"message": "not hello world"})]
    );
    assert_eq!(
        encoded(&xrx.try_recv().unwrap()),
        [
            json!({"message": "hello world"}),
            json!({"message": "hello again"})
        ]
    );
}

#[test]
fn values_convert_both_ways() {
    // Nested objects, arrays, numbers, nulls, unicode and escapes survive.
    let line = r#"{"a":{"b":[1,2.5,"x",null,true]},"s":"é\"\n","n":-3}"#;
    assert_eq!(
        run_json(".copy = .a", &[line]),
        [
            json!({"a": {"b": [1, 2.5, "x", null, true]}, "copy": {"b": [1, 2.5, "x", null, true]}, "s": "é\"\n", "n": -3})
        ]
    );
    // A timestamp value is written as RFC 3339 text.
    assert_eq!(
        run_json(
            ".ts = parse_timestamp!(.t, \"%Y-%m-%d %H:%M:%S\")",
            &[r#"{"t":"2025-08-20 10:30:00"}"#]
        ),
        [json!({"t": "2025-08-20 10:30:00", "ts": "2025-08-20T10:30:00Z"})]
    );
    // Fields added by earlier transforms (edits) are seen.
    let mut b = test_batch::json_batch(&[r#"{"a":1}"#]);
    b.iter_mut().next().unwrap().set_key(
        &Bytes::from_static(b"env"),
        logagent_core::event::Value::string(b"prod"),
    );
    let mut t = remap(".b = .env");
    t.process(&mut b);
    assert_eq!(encoded(&b), [json!({"a": 1, "env": "prod", "b": "prod"})]);
}

#[test]
fn the_result_is_addressable_by_later_transforms() {
    let mut t = remap(".user = {\"id\": 7}\ndel(.drop)");
    let mut b = test_batch::json_batch(&[r#"{"drop":1,"keep":2}"#]);
    t.process(&mut b);
    let ev = b.iter_mut().next().unwrap();
    let id = ev.get(&logagent_core::event::FieldPath::parse("user.id").unwrap());
    assert_eq!(id.map(|v| v.text().into_owned()), Some(b"7".to_vec()));
    assert!(
        ev.get(&logagent_core::event::FieldPath::parse("drop").unwrap())
            .is_none()
    );
}

#[test]
fn invalid_utf8_in_a_text_line_is_kept_or_replaced() {
    let line: &[u8] = b"caf\xe9 ok";
    // Unchanged text keeps its exact bytes.
    let mut t = remap(".x = 1\ndel(.x)");
    let mut b = text_batch_bytes(&[line]);
    t.process(&mut b);
    assert_eq!(&b.events[0].line[..], line);
    assert_eq!(b.events[0].root, Root::Text);
    // Rewritten text keeps the bytes too (VRL strings are bytes).
    let mut t = remap(".message = \"[\" + string!(.message) + \"]\"");
    let mut b = text_batch_bytes(&[line]);
    t.process(&mut b);
    assert_eq!(&b.events[0].line[..], b"[caf\xe9 ok]");
    // Written as JSON with another field: replaced by U+FFFD, never lost.
    let mut t = remap(".env = \"prod\"");
    let mut b = text_batch_bytes(&[line]);
    t.process(&mut b);
    assert_eq!(
        encoded(&b),
        [json!({"message": "caf\u{fffd} ok", "env": "prod"})]
    );
}

#[test]
fn metadata_paths() {
    let mut t = remap(
        ".file = %file\n.source = %source_id\n.offset = %offset\n%timestamp = parse_timestamp!(.t, \"%+\")",
    );
    let stream = Arc::new(Stream {
        source: "app".into(),
        path: Some("/var/log/app.log".into()),
        id: 0,
    });
    let mut b = Batch::new(stream, AckToken::detached(), 1);
    let mut one = test_batch::json_batch(&[r#"{"t":"2025-08-20T10:30:00Z"}"#]);
    b.members = std::mem::take(&mut one.members);
    b.events = std::mem::take(&mut one.events);
    b.events[0].meta.offset = 42;
    t.process(&mut b);
    assert_eq!(
        encoded(&b),
        [
            json!({"t": "2025-08-20T10:30:00Z", "file": "/var/log/app.log", "source": "app", "offset": 42})
        ]
    );
    assert_eq!(b.events[0].meta.time, Some(1_755_685_800_000_000_000));
}

#[test]
fn config_errors_name_the_key_and_show_vrls_diagnostic() {
    let both = config("source = '.a = 1'\nfile = 'x.vrl'");
    assert_eq!(both.check()[0].key, "source");
    let none = config("drop_on_error = true");
    assert_eq!(none.check()[0].key, "source");
    let missing = config("file = '/nonexistent/program.vrl'");
    let e = &missing.check()[0];
    assert_eq!(e.key, "file");
    assert!(
        e.message.contains("/nonexistent/program.vrl"),
        "{}",
        e.message
    );

    let bad = config("source = '''\n.a = 1\n.b = upcase(.message)\n'''");
    let e = &bad.check()[0];
    assert_eq!(e.key, "source");
    assert!(e.message.contains("error[E103]"), "{}", e.message);
    assert!(
        e.message.contains("source:2:"),
        "line 2 of the program: {}",
        e.message
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.vrl");
    std::fs::write(&path, ".a = 1\n\n.b = (\n").unwrap();
    let from_file = config(&format!("file = '{}'", path.display()));
    let e = &from_file.check()[0];
    assert_eq!(e.key, "file");
    assert!(
        e.message.contains(&format!("{}:", path.display())),
        "the diagnostic names the file: {}",
        e.message
    );
    let good = config(&format!("file = '{}'", path.display()));
    std::fs::write(&path, ".a = 1\n").unwrap();
    assert!(good.check().is_empty());

    let reroute = config("source = '.a = 1'\nreroute_dropped = true\ndrop_on_abort = false");
    assert_eq!(reroute.check()[0].key, "reroute_dropped");
    let tz = config("source = '.a = 1'\ntimezone = 'Mars/Olympus'");
    assert_eq!(tz.check()[0].key, "timezone");
    assert!(
        toml::from_str::<RemapConfig>("source = '.a = 1'\nsorce = 1").is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn an_array_root_makes_one_event_per_element() {
    // Vector's "emitting multiple log events".
    assert_eq!(
        run_json(
            ". = [{\"a\": 1}, 123, {\"b\": .x}]",
            &[r#"{"x":"one"}"#, r#"{"x":"two"}"#]
        ),
        [
            json!({"a": 1}),
            json!({"message": 123}),
            json!({"b": "one"}),
            json!({"a": 1}),
            json!({"message": 123}),
            json!({"b": "two"}),
        ]
    );
    assert_eq!(run_json(". = []", &[r#"{"x":1}"#]), Vec::<Json>::new());
}

#[test]
fn a_non_object_root_becomes_the_message() {
    assert_eq!(run_json(". = 5", &[r#"{"a":1}"#]), [json!({"message": 5})]);
}
