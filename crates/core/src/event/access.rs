//! Reading and changing fields of an [`Event`] without building a value tree.
//!
//! Fields are found by walking the line's JSON with the scanner's ranges; a change
//! becomes an [`Edit`] (see [`crate::event`]). Reads see earlier edits, so a chain of
//! transforms behaves as if each had rewritten the event.

use std::borrow::Cow;

use bytes::Bytes;

use super::path::Segment;
use super::{Edit, EditOp, Event, EventMut, FieldPath, MESSAGE_KEY, Member, Root, Span, Value};
use crate::event::json;

/// A field's current value, borrowed from the line or from an edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueRef<'a> {
    /// Raw JSON text of the value (a string still has its quotes and escapes);
    /// owned when edits inside the value had to be applied.
    Json(Cow<'a, [u8]>),
    /// The bytes of a string value, already unescaped (text lines, captures).
    Str(Cow<'a, [u8]>),
}

impl<'a> ValueRef<'a> {
    /// The value as text: a string's content, or the raw JSON of any other value.
    /// This is what templates and level names read.
    pub fn text(&self) -> Cow<'_, [u8]> {
        match self {
            ValueRef::Json(raw) => match json::decode_str(raw) {
                Some(s) => s,
                None => Cow::Borrowed(raw.as_ref()),
            },
            ValueRef::Str(s) => Cow::Borrowed(s.as_ref()),
        }
    }

    /// True when the value is a JSON string or came from text.
    pub fn is_string(&self) -> bool {
        match self {
            ValueRef::Json(raw) => raw.first() == Some(&b'"'),
            ValueRef::Str(_) => true,
        }
    }

    /// True when the value is a JSON object.
    pub fn is_object(&self) -> bool {
        matches!(self, ValueRef::Json(raw) if raw.first() == Some(&b'{'))
    }
}

/// Where the value at the end of a path lives.
enum Slot {
    /// A member in the line: its container object's span and the member.
    Line { container: Span, member: Member },
    /// A member's value in the line was replaced by the edit at this index.
    Replaced(usize),
    /// Added by the insert edit at this index.
    Inserted(usize),
    /// The whole text line (`message` of a [`Root::Text`] event).
    TextLine,
}

/// How far a path resolved when its last step is missing.
enum Parent {
    /// The object occupying this span of the line holds (or would hold) the field.
    Line(Span),
    /// The field would go inside the value held by the edit at this index, under
    /// the remaining path steps.
    Owned(usize, usize),
    /// Cannot hold members (a string, number or array is in the way).
    Blocked,
}

impl Event {
    /// Position of the closing brace of the root object, where new top-level
    /// members are inserted (the end of the line for text).
    fn root_close(&self) -> u32 {
        match self.root {
            Root::Json { object, .. } => object.end - 1,
            Root::Text => self.line.len() as u32,
        }
    }

    fn is_deleted(&self, pos: u32) -> bool {
        self.edits
            .iter()
            .any(|e| e.op == EditOp::Delete && e.at.start <= pos && pos < e.at.end)
    }

    fn replacement_of(&self, span: Span) -> Option<usize> {
        self.edits
            .iter()
            .position(|e| e.at == span && matches!(e.op, EditOp::Replace(_)))
    }

    fn insert_named(&self, close: u32, key: &[u8]) -> Option<usize> {
        self.edits.iter().rposition(|e| {
            e.at.start == close
                && e.at.is_empty()
                && matches!(&e.op, EditOp::Insert { key: k, .. } if k.as_ref() == key)
        })
    }

    /// Adds an edit, dropping the edits it covers and keeping positions sorted.
    pub fn push_edit(&mut self, edit: Edit) {
        let (s, e) = (edit.at.start, edit.at.end);
        if s < e {
            self.edits.retain(|x| {
                let inside = if x.at.is_empty() {
                    s <= x.at.start && x.at.start < e
                } else {
                    s <= x.at.start && x.at.end <= e
                };
                !inside
            });
        }
        let at = self.edits.partition_point(|x| x.at.start <= s);
        self.edits.insert(at, edit);
    }

    /// Finds the member named `key` in the object at `container`, using the
    /// arena for the root object.
    fn member_in(&self, arena: &[Member], container: Span, key: &[u8]) -> Option<Member> {
        let found = match self.root {
            Root::Json { object, members } if object == container => {
                let filter = self.meta.keys;
                if !filter.may_contain(key) {
                    return None;
                }
                let line = &self.line[..];
                let quoted_len = key.len() as u32 + 2;
                let first = key.first().copied().unwrap_or(b'"');
                let matches = |m: &&Member| {
                    if m.key_escaped {
                        return m.key_eq(line, key);
                    }
                    // Cheap checks first: most keys differ in length.
                    m.key.end - m.key.start == quoted_len
                        && line[m.key.start as usize + 1] == first
                        && &line[m.key.start as usize + 1..m.key.end as usize - 1] == key
                };
                arena.get(members.range()).and_then(|ms| {
                    if filter.single(key) {
                        // No duplicates: the first match is the only one.
                        ms.iter().find(matches).copied()
                    } else {
                        // With duplicates the last one wins, as in most JSON readers.
                        ms.iter().rev().find(matches).copied()
                    }
                })
            }
            _ if self.line.get(container.start as usize) == Some(&b'[') => {
                element_in(&self.line, container, key)
            }
            _ => json::find_member(&self.line, container, key),
        };
        found.filter(|m| !self.is_deleted(m.key.start))
    }

    /// Resolves a wildcard-free path to the slot holding its value, or to the
    /// parent that would hold it.
    fn resolve(&self, arena: &[Member], path: &[&[u8]]) -> Result<Slot, Parent> {
        let Some((first, _)) = path.split_first() else {
            return Err(Parent::Blocked);
        };
        let mut container = match self.root {
            Root::Json { object, .. } => object,
            Root::Text => {
                if let Some(i) = self.insert_named(self.root_close(), first) {
                    return self.descend_owned(i, path, 1);
                }
                if *first == MESSAGE_KEY.as_bytes() && path.len() == 1 {
                    return Ok(Slot::TextLine);
                }
                return Err(if *first == MESSAGE_KEY.as_bytes() {
                    Parent::Blocked
                } else {
                    Parent::Line(Span::new(0, self.line.len() + 1))
                });
            }
        };
        for (depth, key) in path.iter().enumerate() {
            let last = depth + 1 == path.len();
            if let Some(i) = self.insert_named(container.end - 1, key) {
                return self.descend_owned(i, path, depth + 1);
            }
            let Some(member) = self.member_in(arena, container, key) else {
                // An array has no room for a named member.
                return Err(if self.line.get(container.start as usize) == Some(&b'[') {
                    Parent::Blocked
                } else {
                    Parent::Line(container)
                });
            };
            if let Some(i) = self.replacement_of(member.value) {
                return self.descend_owned(i, path, depth + 1);
            }
            if last {
                return Ok(Slot::Line { container, member });
            }
            if !matches!(
                self.line.get(member.value.start as usize),
                Some(b'{' | b'[')
            ) {
                return Err(Parent::Blocked);
            }
            container = member.value;
        }
        Err(Parent::Blocked)
    }

    /// Continues a path into a value held by an edit.
    fn descend_owned(&self, i: usize, path: &[&[u8]], done: usize) -> Result<Slot, Parent> {
        if done == path.len() {
            return Ok(match self.edits[i].op {
                EditOp::Insert { .. } => Slot::Inserted(i),
                _ => Slot::Replaced(i),
            });
        }
        Err(Parent::Owned(i, done))
    }

    fn edit_value(&self, i: usize) -> ValueRef<'_> {
        match &self.edits[i].op {
            EditOp::Insert {
                value: Value::LineStr(span),
                ..
            } => ValueRef::Str(Cow::Borrowed(&self.line[span.range()])),
            _ => ValueRef::Json(Cow::Borrowed(self.edit_raw(i).unwrap_or(b"null"))),
        }
    }

    /// The JSON text an edit holds (`None` for a capture, which is not JSON yet).
    fn edit_raw(&self, i: usize) -> Option<&[u8]> {
        match &self.edits[i].op {
            EditOp::Replace(b) => Some(b),
            EditOp::Insert { value, .. } => match value {
                Value::Json(b) => Some(b),
                Value::LineRaw(span) => Some(&self.line[span.range()]),
                Value::LineStr(_) => None,
            },
            EditOp::Delete => Some(b"null"),
        }
    }

    /// The JSON text of the line region `span` with the edits inside it applied
    /// (a nested object whose member was redacted reads redacted).
    fn line_value(&self, span: Span) -> Cow<'_, [u8]> {
        let inside = |e: &Edit| span.start <= e.at.start && e.at.start < span.end && e.at != span;
        if !self.edits.iter().any(inside) {
            return Cow::Borrowed(&self.line[span.range()]);
        }
        let mut out = Vec::with_capacity(span.len() + 32);
        super::encode::write_span(self, span, &mut out);
        Cow::Owned(out)
    }

    /// The text line with its replace edits applied.
    fn text_message(&self) -> Cow<'_, [u8]> {
        let replaces = self
            .edits
            .iter()
            .filter(|e| matches!(e.op, EditOp::Replace(_)));
        if replaces.clone().next().is_none() {
            return Cow::Borrowed(&self.line);
        }
        let mut out = Vec::with_capacity(self.line.len());
        let mut pos = 0;
        for e in replaces {
            if let EditOp::Replace(b) = &e.op {
                out.extend_from_slice(&self.line[pos..e.at.start as usize]);
                out.extend_from_slice(b);
                pos = e.at.end as usize;
            }
        }
        out.extend_from_slice(&self.line[pos..]);
        Cow::Owned(out)
    }

    fn get_concrete(&self, arena: &[Member], path: &[&[u8]]) -> Option<ValueRef<'_>> {
        match self.resolve(arena, path) {
            Ok(Slot::Line { member, .. }) => Some(ValueRef::Json(self.line_value(member.value))),
            Ok(Slot::Replaced(i)) | Ok(Slot::Inserted(i)) => Some(self.edit_value(i)),
            Ok(Slot::TextLine) => Some(ValueRef::Str(self.text_message())),
            Err(Parent::Owned(i, done)) => {
                let raw = self.edit_raw(i)?;
                let mut span = Span::new(0, raw.len());
                for key in &path[done..] {
                    span = match raw.get(span.start as usize) {
                        Some(b'{') => json::find_member(raw, span, key)?.value,
                        Some(b'[') => element_in(raw, span, key)?.value,
                        _ => return None,
                    };
                }
                Some(ValueRef::Json(Cow::Borrowed(&raw[span.range()])))
            }
            Err(_) => None,
        }
    }

    fn set_concrete(&mut self, arena: &[Member], path: &[&[u8]], value: Value) {
        self.set_concrete_if(arena, path, value, true, None);
    }

    /// Sets a value; with `overwrite` false, only where the path is absent.
    /// `names` are the path's steps as shared bytes, when the caller has them.
    fn set_concrete_if(
        &mut self,
        arena: &[Member],
        path: &[&[u8]],
        value: Value,
        overwrite: bool,
        names: Option<&[Bytes]>,
    ) {
        let resolved = self.resolve(arena, path);
        if !overwrite {
            match &resolved {
                Ok(_) => return,
                // Inside a value a transform added: present if it reads back.
                Err(Parent::Owned(..)) if self.get_concrete(arena, path).is_some() => return,
                _ => {}
            }
        }
        match resolved {
            Ok(Slot::Line { container, member }) => {
                let bytes = value_json(&self.line, &value);
                // A key may appear twice in a line; readers disagree on which
                // wins, so every copy gets the new value (redaction must not leak).
                for m in self.same_key_members(arena, container, member) {
                    self.push_edit(Edit {
                        at: m.value,
                        op: EditOp::Replace(bytes.clone()),
                    });
                }
            }
            Ok(Slot::Replaced(i)) => {
                self.edits[i].op = EditOp::Replace(value_json(&self.line, &value));
            }
            Ok(Slot::Inserted(i)) => {
                if let EditOp::Insert { value: v, .. } = &mut self.edits[i].op {
                    *v = value;
                }
            }
            Ok(Slot::TextLine) => {
                let text = match &value {
                    Value::Json(b) => json::decode_str(b)
                        .map(|c| Bytes::from(c.into_owned()))
                        .unwrap_or_else(|| b.clone()),
                    Value::LineStr(span) => self.line.slice(span.range()),
                    Value::LineRaw(span) => json::decode_str(&self.line[span.range()])
                        .map(|c| Bytes::from(c.into_owned()))
                        .unwrap_or_else(|| self.line.slice(span.range())),
                };
                let whole = Span::new(0, self.line.len());
                self.push_edit(Edit {
                    at: whole,
                    op: EditOp::Replace(text),
                });
            }
            Err(Parent::Line(container)) => {
                // Find how deep the existing objects go, insert the rest as a new value.
                let mut container = container;
                let mut done = 0;
                if let Root::Json { object, .. } = self.root {
                    container = object;
                    while done + 1 < path.len() {
                        match self.member_in(arena, container, path[done]) {
                            Some(m)
                                if matches!(
                                    self.line.get(m.value.start as usize),
                                    Some(b'{' | b'[')
                                ) =>
                            {
                                container = m.value;
                                done += 1;
                            }
                            _ => break,
                        }
                    }
                }
                let close = if self.root == Root::Text {
                    self.root_close()
                } else {
                    container.end - 1
                };
                let nested = nest_value(&self.line, &path[done + 1..], &value);
                let key = match names.and_then(|n| n.get(done)) {
                    Some(k) => k.clone(),
                    None => Bytes::copy_from_slice(path[done]),
                };
                self.push_edit(Edit {
                    at: Span::new(close as usize, close as usize),
                    op: EditOp::Insert { key, value: nested },
                });
            }
            Err(Parent::Owned(i, done)) => {
                let Some(current) = self.edit_raw(i).map(<[u8]>::to_vec) else {
                    return;
                };
                let Some(updated) = owned_set(
                    &current,
                    &path[done..],
                    Some(&value_json(&self.line, &value)),
                ) else {
                    return;
                };
                self.replace_edit_value(i, updated);
            }
            Err(Parent::Blocked) => {}
        }
    }

    fn replace_edit_value(&mut self, i: usize, bytes: Vec<u8>) {
        match &mut self.edits[i].op {
            EditOp::Replace(b) => *b = Bytes::from(bytes),
            EditOp::Insert { value, .. } => *value = Value::Json(Bytes::from(bytes)),
            EditOp::Delete => {}
        }
    }

    fn remove_concrete(&mut self, arena: &[Member], path: &[&[u8]]) -> bool {
        match self.resolve(arena, path) {
            Ok(Slot::Line { container, member }) => {
                for m in self
                    .same_key_members(arena, container, member)
                    .into_iter()
                    .rev()
                {
                    let span = self.member_delete_span(arena, container, m);
                    self.push_edit(Edit {
                        at: span,
                        op: EditOp::Delete,
                    });
                }
                true
            }
            Ok(Slot::Inserted(i)) => {
                self.edits.remove(i);
                true
            }
            Ok(Slot::Replaced(i)) => {
                // The member itself is still in the line: delete it, which also
                // drops the replacement inside it.
                let value = self.edits[i].at;
                let parent: Vec<&[u8]> = path[..path.len() - 1].to_vec();
                let container = if parent.is_empty() {
                    match self.root {
                        Root::Json { object, .. } => object,
                        Root::Text => return false,
                    }
                } else {
                    match self.resolve(arena, &parent) {
                        Ok(Slot::Line { member, .. }) => member.value,
                        _ => return false,
                    }
                };
                let mut scratch = Vec::new();
                if json::object_members(&self.line, container, &mut scratch).is_err() {
                    return false;
                }
                let Some(member) = scratch.iter().find(|m| m.value == value).copied() else {
                    return false;
                };
                let span = self.member_delete_span(arena, container, member);
                self.push_edit(Edit {
                    at: span,
                    op: EditOp::Delete,
                });
                true
            }
            Ok(Slot::TextLine) => false,
            Err(Parent::Owned(i, done)) => {
                let Some(current) = self.edit_raw(i).map(<[u8]>::to_vec) else {
                    return false;
                };
                match owned_set(&current, &path[done..], None) {
                    Some(updated) if updated != current => {
                        self.replace_edit_value(i, updated);
                        true
                    }
                    _ => false,
                }
            }
            Err(_) => false,
        }
    }

    /// `member` and every other live member of `container` with the same key.
    fn same_key_members(&self, arena: &[Member], container: Span, member: Member) -> Vec<Member> {
        let key = &self.line[member.key.range()];
        let mut scratch = Vec::new();
        let siblings: &[Member] = match self.root {
            Root::Json { object, members } if object == container => {
                arena.get(members.range()).unwrap_or(&[])
            }
            _ => {
                if json::object_members(&self.line, container, &mut scratch).is_err() {
                    return vec![member];
                }
                &scratch
            }
        };
        let same: Vec<Member> = siblings
            .iter()
            .filter(|m| {
                (m.key == member.key
                    || &self.line[m.key.range()] == key
                    || m.key_eq(&self.line, member.key_raw(&self.line)))
                    && !self.is_deleted(m.key.start)
            })
            .copied()
            .collect();
        if same.is_empty() { vec![member] } else { same }
    }

    /// The region to cut to remove `member` from the object at `container`,
    /// including exactly one separating comma, given the members already deleted.
    fn member_delete_span(&self, arena: &[Member], container: Span, member: Member) -> Span {
        if self.line.get(container.start as usize) == Some(&b'[') {
            return self.element_delete_span(container, member.value);
        }
        let mut scratch = Vec::new();
        let siblings: &[Member] = match self.root {
            Root::Json { object, members } if object == container => {
                arena.get(members.range()).unwrap_or(&[])
            }
            _ => {
                if json::object_members(&self.line, container, &mut scratch).is_err() {
                    return Span::new(member.key.start as usize, member.value.end as usize);
                }
                &scratch
            }
        };
        let Some(i) = siblings.iter().position(|m| *m == member) else {
            return Span::new(member.key.start as usize, member.value.end as usize);
        };
        let alive = |m: &Member| !self.is_deleted(m.key.start);
        if let Some(next) = siblings[i + 1..].iter().find(|m| alive(m)) {
            Span::new(member.key.start as usize, next.key.start as usize)
        } else if let Some(prev) = siblings[..i].iter().rev().find(|m| alive(m)) {
            Span::new(prev.value.end as usize, member.value.end as usize)
        } else {
            Span::new(member.key.start as usize, member.value.end as usize)
        }
    }

    /// The region to cut to remove the element `value` of the array at
    /// `container`, with one separating comma.
    fn element_delete_span(&self, container: Span, value: Span) -> Span {
        let mut elems = Vec::new();
        if json::array_elements(&self.line, container, &mut elems).is_err() {
            return value;
        }
        let Some(i) = elems.iter().position(|e| *e == value) else {
            return value;
        };
        let alive = |e: &Span| !self.is_deleted(e.start);
        if let Some(next) = elems[i + 1..].iter().find(|e| alive(e)) {
            Span::new(value.start as usize, next.start as usize)
        } else if let Some(prev) = elems[..i].iter().rev().find(|e| alive(e)) {
            Span::new(prev.end as usize, value.end as usize)
        } else {
            value
        }
    }

    /// Expands `*` steps into the concrete paths present in the event.
    fn expand(&self, arena: &[Member], path: &FieldPath, out: &mut Vec<Vec<Vec<u8>>>) {
        fn walk(
            ev: &Event,
            arena: &[Member],
            segs: &[Segment],
            prefix: &mut Vec<Vec<u8>>,
            out: &mut Vec<Vec<Vec<u8>>>,
        ) {
            let Some((seg, rest)) = segs.split_first() else {
                out.push(prefix.clone());
                return;
            };
            match seg {
                Segment::Key(k) => {
                    prefix.push(k.to_vec());
                    walk(ev, arena, rest, prefix, out);
                    prefix.pop();
                }
                Segment::Any => {
                    for name in ev.member_names(arena, prefix) {
                        prefix.push(name);
                        walk(ev, arena, rest, prefix, out);
                        prefix.pop();
                    }
                }
            }
        }
        walk(self, arena, path.segments(), &mut Vec::new(), out);
    }

    /// Names of the members of the object at `path` (the root when empty).
    fn member_names(&self, arena: &[Member], path: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let refs: Vec<&[u8]> = path.iter().map(|p| p.as_slice()).collect();
        let mut names = Vec::new();
        let (raw, span): (&[u8], Span) = if refs.is_empty() {
            match self.root {
                Root::Json { object, .. } => (&self.line, object),
                Root::Text => {
                    names.push(MESSAGE_KEY.as_bytes().to_vec());
                    (&[][..], Span::default())
                }
            }
        } else {
            match self.get_concrete(arena, &refs) {
                Some(ValueRef::Json(raw)) if raw.first() == Some(&b'{') => {
                    let mut scratch = Vec::new();
                    if json::object_members(&raw, Span::new(0, raw.len()), &mut scratch).is_ok() {
                        for m in &scratch {
                            names.push(key_text(&raw, m));
                        }
                    }
                    return self.with_inserted_names(arena, &refs, names);
                }
                Some(ValueRef::Json(raw)) if raw.first() == Some(&b'[') => {
                    let mut elems = Vec::new();
                    if json::array_elements(&raw, Span::new(0, raw.len()), &mut elems).is_ok() {
                        names.extend((0..elems.len()).map(|i| i.to_string().into_bytes()));
                    }
                    return names;
                }
                _ => return names,
            }
        };
        if !raw.is_empty() {
            let mut scratch = Vec::new();
            if json::object_members(raw, span, &mut scratch).is_ok() {
                for m in &scratch {
                    if !self.is_deleted(m.key.start) {
                        names.push(key_text(raw, m));
                    }
                }
            }
        }
        self.with_inserted_names(arena, &refs, names)
    }

    fn with_inserted_names(
        &self,
        arena: &[Member],
        path: &[&[u8]],
        mut names: Vec<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let close = if path.is_empty() {
            Some(self.root_close())
        } else {
            match self.resolve(arena, path) {
                Ok(Slot::Line { member, .. }) => Some(member.value.end - 1),
                _ => None,
            }
        };
        if let Some(close) = close {
            for e in &self.edits {
                if let EditOp::Insert { key, .. } = &e.op
                    && e.at.start == close
                    && !names.iter().any(|n| n.as_slice() == key.as_ref())
                {
                    names.push(key.to_vec());
                }
            }
        }
        names
    }
}

/// Element `key` (a decimal index) of the array at `array` in `raw`, as a
/// member with an empty key at the element's start.
fn element_in(raw: &[u8], array: Span, key: &[u8]) -> Option<Member> {
    if key.is_empty() || key.len() > 9 || !key.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let index: usize = std::str::from_utf8(key).ok()?.parse().ok()?;
    let mut elems = Vec::new();
    json::array_elements(raw, array, &mut elems).ok()?;
    let e = *elems.get(index)?;
    Some(Member {
        key: Span::new(e.start as usize, e.start as usize),
        value: e,
        key_escaped: false,
    })
}

fn key_text(raw: &[u8], m: &Member) -> Vec<u8> {
    let inner = m.key_raw(raw);
    if m.key_escaped {
        let quoted = &raw[m.key.range()];
        json::decode_str(quoted)
            .map(|c| c.into_owned())
            .unwrap_or_else(|| inner.to_vec())
    } else {
        inner.to_vec()
    }
}

/// A value as JSON text.
fn value_json(line: &Bytes, value: &Value) -> Bytes {
    match value {
        Value::Json(b) => b.clone(),
        Value::LineStr(span) => {
            let mut out = Vec::with_capacity(span.len() + 2);
            json::write_str(&mut out, &line[span.range()]);
            Bytes::from(out)
        }
        Value::LineRaw(span) => line.slice(span.range()),
    }
}

/// `value` wrapped in objects for the remaining path steps: `{"b":{"c":value}}`.
fn nest_value(line: &Bytes, rest: &[&[u8]], value: &Value) -> Value {
    if rest.is_empty() {
        return value.clone();
    }
    let inner = value_json(line, value);
    let mut out = Vec::with_capacity(inner.len() + 16 * rest.len());
    for key in rest {
        out.push(b'{');
        json::write_str(&mut out, key);
        out.push(b':');
    }
    out.extend_from_slice(&inner);
    out.extend(std::iter::repeat_n(b'}', rest.len()));
    Value::Json(Bytes::from(out))
}

/// Sets (or with `None` removes) `path` inside a small owned JSON value. Rare
/// path: values a transform added are re-encoded through serde_json.
fn owned_set(current: &[u8], path: &[&[u8]], value: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut root: serde_json::Value = serde_json::from_slice(current).ok()?;
    let new: Option<serde_json::Value> = match value {
        Some(v) => Some(serde_json::from_slice(v).ok()?),
        None => None,
    };
    let (last, parents) = path.split_last()?;
    let mut node = &mut root;
    for key in parents {
        let key = String::from_utf8_lossy(key).into_owned();
        let obj = node.as_object_mut()?;
        if new.is_some() && !obj.contains_key(&key) {
            obj.insert(key.clone(), serde_json::Value::Object(Default::default()));
        }
        node = obj.get_mut(&key)?;
    }
    let obj = node.as_object_mut()?;
    let last = String::from_utf8_lossy(last).into_owned();
    match new {
        Some(v) => {
            obj.insert(last, v);
        }
        None => {
            obj.remove(&last);
        }
    }
    serde_json::to_vec(&root).ok()
}

impl EventMut<'_> {
    /// The current value at `path`; with `*` steps, the first match.
    pub fn get(&self, path: &FieldPath) -> Option<ValueRef<'_>> {
        get(self.event, self.members, path)
    }

    /// Sets `path` to `value`, creating missing parent objects; with `*` steps,
    /// every match that exists.
    pub fn set(&mut self, path: &FieldPath, value: Value) {
        if path.has_wildcard() {
            self.for_each_match(path, |ev, members, p| {
                if ev.get_concrete(members, p).is_some() {
                    ev.set_concrete(members, p, value.clone());
                }
            });
        } else {
            with_segments(path, |segs| {
                self.event
                    .set_concrete_if(self.members, segs, value, true, Some(path.names()))
            });
        }
    }

    /// The value at `path` (first match of a wildcard path) as a [`Value`] that can
    /// be set elsewhere: a range of the line when it is untouched there (no copy),
    /// otherwise the current JSON text.
    pub fn value_of(&self, path: &FieldPath) -> Option<Value> {
        let line = &self.event.line;
        let in_line = |raw: &[u8]| {
            let (start, base) = (raw.as_ptr() as usize, line.as_ptr() as usize);
            (start >= base && start + raw.len() <= base + line.len())
                .then(|| Span::new(start - base, start - base + raw.len()))
        };
        Some(match self.get(path)? {
            ValueRef::Json(Cow::Borrowed(raw)) => match in_line(raw) {
                Some(span) => Value::LineRaw(span),
                None => Value::Json(Bytes::copy_from_slice(raw)),
            },
            ValueRef::Json(Cow::Owned(raw)) => Value::Json(Bytes::from(raw)),
            ValueRef::Str(Cow::Borrowed(text)) => match in_line(text) {
                Some(span) => Value::LineStr(span),
                None => Value::string(text),
            },
            ValueRef::Str(Cow::Owned(text)) => Value::string(&text),
        })
    }

    /// Sets the top-level field `key` (a name, not a path: dots are part of it)
    /// without copying the key; what parsers use for the fields they find.
    pub fn set_key(&mut self, key: &Bytes, value: Value) {
        self.event.set_concrete_if(
            self.members,
            &[key.as_ref()],
            value,
            true,
            Some(std::slice::from_ref(key)),
        );
    }

    /// Adds the top-level field `key`, which the caller knows is not in the event
    /// yet (a parser filling a line nothing else touched): no lookup at all.
    pub fn append_field(&mut self, key: &Bytes, value: Value) {
        let close = self.event.root_close() as usize;
        let edit = Edit {
            at: Span::new(close, close),
            op: EditOp::Insert {
                key: key.clone(),
                value,
            },
        };
        match self.event.edits.last() {
            // Inserts at the end of the root keep their order: append.
            Some(last) if last.at.start as usize > close => self.event.push_edit(edit),
            _ => self.event.edits.push(edit),
        }
    }

    /// [`EventMut::set_key`], only where the field is absent.
    pub fn set_key_if_absent(&mut self, key: &Bytes, value: Value) {
        self.event.set_concrete_if(
            self.members,
            &[key.as_ref()],
            value,
            false,
            Some(std::slice::from_ref(key)),
        );
    }

    /// Sets `path` to `value` only where it is absent (one lookup, not two).
    pub fn set_if_absent(&mut self, path: &FieldPath, value: Value) {
        if path.has_wildcard() {
            return;
        }
        with_segments(path, |segs| {
            self.event
                .set_concrete_if(self.members, segs, value, false, Some(path.names()))
        });
    }

    /// Replaces the value at `path` only where it exists (what redaction wants:
    /// never add a field that was not there). Returns how many values changed.
    pub fn replace_existing(&mut self, path: &FieldPath, value: &Value) -> usize {
        let mut n = 0;
        self.for_each_match(path, |ev, members, p| {
            if ev.get_concrete(members, p).is_some() {
                ev.set_concrete(members, p, value.clone());
                n += 1;
            }
        });
        n
    }

    /// Replaces each existing match of `path` with what `f` makes of its current
    /// value (`None` leaves it); returns how many values changed.
    pub fn update_each(
        &mut self,
        path: &FieldPath,
        mut f: impl FnMut(ValueRef<'_>) -> Option<Value>,
    ) -> usize {
        let mut n = 0;
        self.for_each_match(path, |ev, members, p| {
            let new = ev.get_concrete(members, p).and_then(&mut f);
            if let Some(v) = new {
                ev.set_concrete(members, p, v);
                n += 1;
            }
        });
        n
    }

    /// Removes `path` (every match of a wildcard path); returns how many fields
    /// were removed.
    pub fn remove(&mut self, path: &FieldPath) -> usize {
        let mut n = 0;
        self.for_each_match(path, |ev, members, p| {
            if ev.remove_concrete(members, p) {
                n += 1;
            }
        });
        n
    }

    /// Calls `f` with each concrete path `path` matches; without `*`, just the
    /// path itself (no allocation).
    fn for_each_match(
        &mut self,
        path: &FieldPath,
        mut f: impl FnMut(&mut Event, &[Member], &[&[u8]]),
    ) {
        if !path.has_wildcard() {
            with_segments(path, |segs| f(self.event, self.members, segs));
            return;
        }
        let mut concrete = Vec::new();
        self.event.expand(self.members, path, &mut concrete);
        for p in concrete {
            let refs: Vec<&[u8]> = p.iter().map(|s| s.as_slice()).collect();
            f(self.event, self.members, &refs);
        }
    }
}

/// Runs `f` with the steps of a wildcard-free path, on the stack for short paths.
fn with_segments<R>(path: &FieldPath, f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let segs = path.segments();
    if segs.len() <= 8 {
        let mut buf: [&[u8]; 8] = [&[]; 8];
        for (slot, s) in buf.iter_mut().zip(segs) {
            *slot = match s {
                Segment::Key(k) => k.as_ref(),
                Segment::Any => b"*",
            };
        }
        f(&buf[..segs.len()])
    } else {
        f(&key_segments(path))
    }
}

fn key_segments(path: &FieldPath) -> Vec<&[u8]> {
    path.segments()
        .iter()
        .map(|s| match s {
            Segment::Key(k) => k.as_ref(),
            Segment::Any => b"*".as_slice(),
        })
        .collect()
}

/// Reads `path` from `event`; with `*` steps, the first match.
pub fn get<'a>(event: &'a Event, arena: &'a [Member], path: &FieldPath) -> Option<ValueRef<'a>> {
    if path.has_wildcard() {
        let mut concrete = Vec::new();
        event.expand(arena, path, &mut concrete);
        for p in concrete {
            let refs: Vec<&[u8]> = p.iter().map(|s| s.as_slice()).collect();
            if let Some(v) = event.get_concrete(arena, &refs) {
                return Some(v);
            }
        }
        return None;
    }
    with_segments(path, |segs| event.get_concrete(arena, segs))
}
