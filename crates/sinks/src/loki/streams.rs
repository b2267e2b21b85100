//! The streams the sink knows, and the cardinality guard that keeps them few.
//!
//! A stream is a tenant plus a label set. Each event's labels are rendered into
//! reusable buffers and looked up here; a stream already seen in the current
//! window costs one hash lookup and no allocation. A stream new to the window
//! passes the guard first: a templated label that already has
//! `max_values_per_label` distinct values in the window gets the placeholder
//! instead of its value, and once `max_streams` streams were seen in the window
//! every templated label of a new stream gets the placeholder — so a field full
//! of request ids ends up in one overflow stream, counted, rather than in
//! thousands of streams that would make Loki refuse the tenant's writes.
//!
//! Windows are tumbling: at the end of one, the guard forgets the values it saw,
//! and streams not seen for a whole window (with nothing waiting to be sent)
//! are evicted, so memory stays bounded however long the agent runs.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pending::StreamLabels;

/// Loki's default `max_label_value_length`; longer values are cut, not rejected.
pub const MAX_LABEL_VALUE_BYTES: usize = 2048;

/// What the sink remembers of one stream.
#[derive(Debug)]
pub struct StreamState {
    /// `tenant \0 {labels}`: the lookup key.
    key: Box<str>,
    /// The labels as sent.
    pub labels: Arc<StreamLabels>,
    /// The lane (of its tenant) that sends this stream: one request at a time,
    /// so the stream's entries arrive in order.
    pub lane: usize,
    /// The tenant slot.
    pub tenant: u32,
    /// Newest timestamp already handed to a request.
    pub last_sent: Option<i64>,
    /// The request generation and stream slot its pending entries are in.
    pub pending: (u64, u32),
    /// The window it was last admitted in.
    seen: u64,
}

/// Limits of the guard.
#[derive(Debug, Clone)]
pub struct GuardLimits {
    /// Distinct streams per window before new ones go to the overflow stream.
    pub max_streams: usize,
    /// Distinct values per templated label (and tenant) per window.
    pub max_values_per_label: usize,
    /// The window length.
    pub window: Duration,
    /// The value that replaces one beyond a limit.
    pub placeholder: String,
}

/// Counts of what the guard did, read by the sink after each call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GuardCounts {
    /// Values replaced by the placeholder, per label slot (the last is the tenant).
    pub replaced: Vec<u64>,
    /// New streams sent to the overflow stream because `max_streams` was reached.
    pub streams_overflowed: u64,
}

/// Known streams plus the guard.
#[derive(Debug)]
pub struct StreamTable {
    index: HashMap<Box<str>, u32>,
    slots: Vec<Option<StreamState>>,
    free: Vec<u32>,
    limits: GuardLimits,
    /// Distinct values seen this window, per label slot (the last is the tenant).
    values: Vec<HashSet<Box<str>>>,
    window_streams: usize,
    generation: u64,
    window_start: Instant,
    lanes: usize,
    key: String,
    /// What the guard did so far.
    pub counts: GuardCounts,
}

impl StreamTable {
    /// A table for label sets of `labels` labels, spreading streams over `lanes`.
    pub fn new(labels: usize, lanes: usize, limits: GuardLimits, now: Instant) -> StreamTable {
        StreamTable {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            limits,
            values: (0..=labels).map(|_| HashSet::new()).collect(),
            window_streams: 0,
            generation: 1,
            window_start: now,
            lanes: lanes.max(1),
            key: String::new(),
            counts: GuardCounts {
                replaced: vec![0; labels + 1],
                streams_overflowed: 0,
            },
        }
    }

    /// Streams known (seen in this window or the one before).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no stream is known.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// A stream by index.
    pub fn get(&self, i: u32) -> &StreamState {
        self.slots[i as usize].as_ref().expect("live stream index")
    }

    /// A stream by index, mutably.
    pub fn get_mut(&mut self, i: u32) -> &mut StreamState {
        self.slots[i as usize].as_mut().expect("live stream index")
    }

    /// Admits a tenant value through the guard (slot `tenant_slot`), replacing
    /// it with the placeholder beyond the per-label limit. Returns true when
    /// replaced.
    pub fn admit_value(&mut self, slot: usize, value: &mut String) -> bool {
        let set = &mut self.values[slot];
        if set.contains(value.as_str()) {
            return false;
        }
        if set.len() >= self.limits.max_values_per_label {
            value.clear();
            value.push_str(&self.limits.placeholder);
            self.counts.replaced[slot] += 1;
            return true;
        }
        set.insert(value.as_str().into());
        false
    }

    /// Finds (or admits) the stream of `tenant` with labels `names` = `values`
    /// (sorted by name). Templated labels (`dynamic`) may have their value
    /// replaced by the placeholder. Returns the stream index and whether it is new.
    pub fn resolve(
        &mut self,
        tenant_slot: u32,
        tenant: &str,
        names: &[Box<str>],
        values: &mut [String],
        dynamic: &[bool],
    ) -> (u32, bool) {
        build_key(&mut self.key, tenant, names, values);
        if let Some(&i) = self.index.get(self.key.as_str())
            && self.get(i).seen == self.generation
        {
            return (i, false);
        }
        // New to this window: the guard decides.
        let mut replaced = false;
        if self.window_streams >= self.limits.max_streams {
            for (i, v) in values.iter_mut().enumerate() {
                if dynamic[i] && *v != self.limits.placeholder {
                    v.clear();
                    v.push_str(&self.limits.placeholder);
                    replaced = true;
                }
            }
            if replaced {
                self.counts.streams_overflowed += 1;
            }
        } else {
            for (i, v) in values.iter_mut().enumerate() {
                if dynamic[i] {
                    replaced |= self.admit_value(i, v);
                }
            }
        }
        if replaced {
            build_key(&mut self.key, tenant, names, values);
        }
        let generation = self.generation;
        if let Some(&i) = self.index.get(self.key.as_str()) {
            let s = self.get_mut(i);
            if s.seen != generation {
                s.seen = generation;
                self.window_streams += 1;
            }
            return (i, false);
        }
        // A stream never seen (or evicted): remember it. The overflow stream is
        // admitted even beyond `max_streams`: there is one per tenant.
        self.window_streams += 1;
        let labels = Arc::new(StreamLabels {
            text: self.key[tenant.len() + 1..].into(),
            pairs: names
                .iter()
                .zip(values.iter())
                .map(|(n, v)| (n.clone(), v.as_str().into()))
                .collect(),
        });
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        labels.text.hash(&mut hasher);
        let state = StreamState {
            key: self.key.as_str().into(),
            labels,
            lane: (hasher.finish() % self.lanes as u64) as usize,
            tenant: tenant_slot,
            last_sent: None,
            pending: (0, 0),
            seen: generation,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(state);
                i
            }
            None => {
                self.slots.push(Some(state));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(self.key.as_str().into(), i);
        (i, true)
    }

    /// Ends the window when it is over: forgets the guard's values and evicts
    /// streams not seen for a whole window unless `busy` says they still have
    /// entries waiting. Returns true when a window ended.
    pub fn roll(&mut self, now: Instant, busy: impl Fn(&StreamState) -> bool) -> bool {
        if now.duration_since(self.window_start) < self.limits.window {
            return false;
        }
        self.window_start = now;
        self.generation += 1;
        self.window_streams = 0;
        for set in &mut self.values {
            set.clear();
            if set.capacity() > 4 * self.limits.max_values_per_label.max(16) {
                set.shrink_to_fit();
            }
        }
        let keep_from = self.generation - 1;
        for i in 0..self.slots.len() {
            let evict = matches!(&self.slots[i], Some(s) if s.seen < keep_from && !busy(s));
            if evict && let Some(s) = self.slots[i].take() {
                self.index.remove(&s.key);
                self.free.push(i as u32);
            }
        }
        true
    }

    /// True when no stream belongs to `tenant`.
    pub fn tenant_unused(&self, tenant: u32) -> bool {
        !self.slots.iter().flatten().any(|s| s.tenant == tenant)
    }
}

/// `tenant \0 {a="x", b="y"}` into `key`.
fn build_key(key: &mut String, tenant: &str, names: &[Box<str>], values: &[String]) {
    key.clear();
    key.push_str(tenant);
    key.push('\0');
    key.push('{');
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            key.push_str(", ");
        }
        key.push_str(n);
        key.push_str("=\"");
        escape_value(v, key);
        key.push('"');
    }
    key.push('}');
}

/// Escapes a label value as a Go double-quoted string body, which is how Loki
/// parses the label text of a protobuf stream.
pub fn escape_value(v: &str, out: &mut String) {
    use std::fmt::Write as _;
    // Most values need nothing: only backslashes, quotes, ASCII controls and
    // C1 controls (which start with 0xC2 in UTF-8) are escaped.
    if !v
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == 0xc2)
    {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// True for a valid Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not `__reserved`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Cuts `s` to at most `max` bytes at a character boundary. Returns true when cut.
pub fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    true
}

/// Makes a rendered tenant a valid Loki tenant id: at most 150 bytes of
/// letters, digits and `!-_.*'()`, not `.` or `..`.
pub fn sanitize_tenant(t: &mut String) {
    if t.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(c)))
    {
        *t = t
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "!-_.*'()".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    }
    truncate_str(t, 150);
    if t.is_empty() || t == "." || t == ".." {
        *t = t.replace('.', "_");
        if t.is_empty() {
            t.push('_');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_streams: usize, max_values: usize) -> GuardLimits {
        GuardLimits {
            max_streams,
            max_values_per_label: max_values,
            window: Duration::from_secs(60),
            placeholder: "__overflow__".into(),
        }
    }

    fn names(n: &[&str]) -> Vec<Box<str>> {
        n.iter().map(|s| (*s).into()).collect()
    }

    fn resolve(t: &mut StreamTable, app: &str, pod: &str) -> (String, bool) {
        let names = names(&["app", "pod"]);
        let mut values = vec![app.to_owned(), pod.to_owned()];
        let (i, new) = t.resolve(0, "", &names, &mut values, &[false, true]);
        (t.get(i).labels.text.to_string(), new)
    }

    #[test]
    fn label_text_is_sorted_escaped_logql() {
        let mut key = String::new();
        build_key(
            &mut key,
            "t",
            &names(&["a", "b"]),
            &["x\"y\\z\n".into(), "é\u{1}".into()],
        );
        assert_eq!(key, "t\0{a=\"x\\\"y\\\\z\\n\", b=\"é\\u0001\"}");
        let mut out = String::new();
        escape_value("plain é ü", &mut out);
        escape_value("\u{7f}\u{85}\u{a0}", &mut out);
        assert_eq!(out, "plain é ü\\u007f\\u0085\u{a0}");
    }

    #[test]
    fn per_label_limit_sends_new_values_to_the_placeholder() {
        let mut t = StreamTable::new(2, 4, limits(100, 3), Instant::now());
        for pod in ["p1", "p2", "p3"] {
            assert!(resolve(&mut t, "api", pod).1);
        }
        // Known values still resolve to their own streams.
        assert_eq!(
            resolve(&mut t, "api", "p2"),
            ("{app=\"api\", pod=\"p2\"}".into(), false)
        );
        // A fourth value goes to the overflow stream, counted each time.
        let (text, new) = resolve(&mut t, "api", "p4");
        assert_eq!(text, "{app=\"api\", pod=\"__overflow__\"}");
        assert!(new);
        assert_eq!(resolve(&mut t, "api", "p5").0, text);
        assert_eq!(t.counts.replaced, vec![0, 2, 0]);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn total_limit_sends_new_streams_to_one_overflow_stream() {
        let mut t = StreamTable::new(2, 4, limits(2, 100), Instant::now());
        resolve(&mut t, "api", "p1");
        resolve(&mut t, "api", "p2");
        let (text, _) = resolve(&mut t, "api", "p3");
        assert_eq!(text, "{app=\"api\", pod=\"__overflow__\"}");
        resolve(&mut t, "api", "p4");
        assert_eq!(t.counts.streams_overflowed, 2);
        assert_eq!(t.len(), 3, "two real streams and one overflow stream");
        // Streams admitted before the limit keep working.
        assert!(!resolve(&mut t, "api", "p1").1);
    }

    #[test]
    fn windows_forget_values_and_evict_idle_streams() {
        let start = Instant::now();
        let mut t = StreamTable::new(2, 4, limits(100, 1), start);
        resolve(&mut t, "api", "p1");
        assert_eq!(
            resolve(&mut t, "api", "p2").0,
            "{app=\"api\", pod=\"__overflow__\"}"
        );
        assert!(!t.roll(start + Duration::from_secs(59), |_| false));
        assert!(t.roll(start + Duration::from_secs(60), |_| false));
        // New window: p2 gets a stream of its own now.
        assert_eq!(resolve(&mut t, "api", "p2").0, "{app=\"api\", pod=\"p2\"}");
        assert_eq!(t.len(), 3);
        // One more window: p1 and the overflow stream were not seen in the last
        // one, so they go; p2 stays (seen in the window just ended).
        assert!(t.roll(start + Duration::from_secs(120), |_| false));
        assert_eq!(t.len(), 1);
        // A busy stream is kept however old.
        resolve(&mut t, "api", "p9");
        t.roll(start + Duration::from_secs(180), |_| true);
        t.roll(start + Duration::from_secs(240), |_| true);
        assert_eq!(t.len(), 2);
        t.roll(start + Duration::from_secs(300), |_| false);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn tenant_ids_and_label_names() {
        let mut t = "team a/ü".to_owned();
        sanitize_tenant(&mut t);
        assert_eq!(t, "team_a__");
        let mut t = "..".to_owned();
        sanitize_tenant(&mut t);
        assert_eq!(t, "__");
        assert!(valid_label_name("namespace") && valid_label_name("_x1"));
        for bad in ["", "1a", "a-b", "__name__", "é"] {
            assert!(!valid_label_name(bad), "{bad}");
        }
        let mut s = "aé".to_owned();
        assert!(truncate_str(&mut s, 2));
        assert_eq!(s, "a");
    }
}
