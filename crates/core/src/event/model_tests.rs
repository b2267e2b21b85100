//! Model-based tests of field access and encoding: random edits applied to an
//! event and to a `serde_json` model must give the same document.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Map, Value as J};

use super::{Batch, Event, EventMut, FieldPath, Root, Span, Value, encode};
use crate::event::json;

#[derive(Debug, Clone)]
enum Op {
    Set(Vec<String>, J),
    SetIfAbsent(Vec<String>, J),
    Remove(Vec<String>),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a"),
        Just("b"),
        Just("c"),
        Just("d"),
        Just("é"),
        Just("x y")
    ]
    .prop_map(String::from)
}

fn scalar() -> impl Strategy<Value = J> {
    prop_oneof![
        any::<i32>().prop_map(J::from),
        "[a-z\"\\\\ ]{0,6}".prop_map(J::from),
        Just(J::Null),
        any::<bool>().prop_map(J::from),
    ]
}

fn value() -> impl Strategy<Value = J> {
    scalar().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(J::Array),
            proptest::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, J>> {
    proptest::collection::btree_map(key(), value(), 0..5).prop_map(|m| m.into_iter().collect())
}

fn path() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(key(), 1..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (path(), value()).prop_map(|(p, v)| Op::Set(p, v)),
        (path(), value()).prop_map(|(p, v)| Op::SetIfAbsent(p, v)),
        path().prop_map(Op::Remove),
    ]
}

fn model_get<'a>(root: &'a J, path: &[String]) -> Option<&'a J> {
    let mut node = root;
    for k in path {
        node = node.as_object()?.get(k)?;
    }
    Some(node)
}

/// The semantics the event implements: missing parents are created; a parent
/// that exists but is not an object blocks the set.
fn model_set(root: &mut J, path: &[String], v: J, overwrite: bool) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut node = root;
    for k in parents {
        let Some(obj) = node.as_object_mut() else {
            return;
        };
        node = obj
            .entry(k.clone())
            .or_insert_with(|| J::Object(Map::new()));
    }
    if let Some(obj) = node.as_object_mut()
        && (overwrite || !obj.contains_key(last))
    {
        obj.insert(last.clone(), v);
    }
}

fn model_remove(root: &mut J, path: &[String]) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut node = root;
    for k in parents {
        match node.as_object_mut().and_then(|o| o.get_mut(k)) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(obj) = node.as_object_mut() {
        obj.remove(last);
    }
}

fn field_path(p: &[String]) -> FieldPath {
    let text: Vec<String> = p.iter().map(|s| format!("\"{s}\"")).collect();
    FieldPath::parse(&text.join(".")).expect("valid path")
}

fn json_event(line: &[u8]) -> (Event, Vec<super::Member>) {
    let mut members = Vec::new();
    let line = Bytes::copy_from_slice(line);
    let object = json::scan_object(&line, 64, &mut members).expect("valid object");
    let mut event = Event::new(line, 0);
    event.root = Root::Json {
        object,
        members: Span::new(0, members.len()),
    };
    (event, members)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn edits_match_a_json_model(obj in object(), pretty in any::<bool>(), ops in proptest::collection::vec(op(), 1..8)) {
        let doc = J::Object(obj);
        let text = if pretty { serde_json::to_vec_pretty(&doc) } else { serde_json::to_vec(&doc) }.unwrap();
        let (mut event, members) = json_event(&text);
        let mut model = doc.clone();
        for op in &ops {
            let mut ev = EventMut { event: &mut event, members: &members };
            match op {
                Op::Set(p, v) => {
                    ev.set(&field_path(p), Value::Json(Bytes::from(serde_json::to_vec(v).unwrap())));
                    model_set(&mut model, p, v.clone(), true);
                }
                Op::SetIfAbsent(p, v) => {
                    ev.set_if_absent(&field_path(p), Value::Json(Bytes::from(serde_json::to_vec(v).unwrap())));
                    model_set(&mut model, p, v.clone(), false);
                }
                Op::Remove(p) => {
                    ev.remove(&field_path(p));
                    model_remove(&mut model, p);
                }
            }
            // Reads see every edit so far.
            for probe in [op_path(op), &op_path(op)[..1]] {
                let got = EventMut { event: &mut event, members: &members }
                    .get(&field_path(probe))
                    .map(|v| match v {
                        super::ValueRef::Json(raw) => serde_json::from_slice::<J>(&raw).unwrap(),
                        super::ValueRef::Str(s) => J::from(String::from_utf8_lossy(&s).into_owned()),
                    });
                prop_assert_eq!(got.as_ref(), model_get(&model, probe), "get {:?} after {:?}", probe, ops);
            }
        }
        let mut out = Vec::new();
        encode::write_json(&event, &mut out);
        let got: J = serde_json::from_slice(&out)
            .map_err(|e| TestCaseError::fail(format!("invalid JSON {e}: {}", String::from_utf8_lossy(&out))))?;
        prop_assert_eq!(got, model, "output {}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn untouched_events_are_written_byte_for_byte(obj in object()) {
        let text = serde_json::to_vec(&J::Object(obj)).unwrap();
        let (event, _) = json_event(&text);
        let mut out = Vec::new();
        encode::write_json(&event, &mut out);
        prop_assert_eq!(out, text);
    }
}

fn op_path(op: &Op) -> &[String] {
    match op {
        Op::Set(p, _) | Op::SetIfAbsent(p, _) | Op::Remove(p) => p,
    }
}

#[test]
fn text_lines_become_message_objects_with_added_fields() {
    let mut batch = Batch::new(
        std::sync::Arc::new(super::Stream {
            source: "s".into(),
            path: None,
            id: 0,
        }),
        super::AckToken::detached(),
        1,
    );
    batch.events.push(Event::new(
        Bytes::from_static(b"plain \"quoted\" \xff text"),
        0,
    ));
    for mut ev in batch.iter_mut() {
        ev.set(&FieldPath::parse("host").unwrap(), Value::string(b"n1"));
        ev.set(&FieldPath::parse("k8s.pod").unwrap(), Value::string(b"p"));
        ev.set(
            &FieldPath::parse("k8s.ns").unwrap(),
            Value::string(b"default"),
        );
        assert_eq!(
            ev.get(&FieldPath::parse("k8s.pod").unwrap())
                .unwrap()
                .text()
                .as_ref(),
            b"p"
        );
    }
    let mut out = Vec::new();
    encode::write_json(&batch.events[0], &mut out);
    let v: J = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"message":"plain \"quoted\" \u{fffd} text","host":"n1","k8s":{"pod":"p","ns":"default"}})
    );
}
