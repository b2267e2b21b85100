//! An export request being filled: records grouped per distinct resource,
//! already encoded, and the acknowledgements of the batches they came from.
//! Sealing writes the `ExportLogsServiceRequest` around them — one
//! `ResourceLogs` per resource, each with the agent's scope — copying each
//! record once.

use std::collections::HashMap;

use logagent_codecs::otlp::wire;
use logagent_core::event::AckToken;
use logagent_core::event::json;

use super::config::OtlpEncoding;

/// The records of one resource.
#[derive(Debug, Default)]
pub struct Group {
    /// The resource's attributes, `(name, value)`.
    pub attrs: Vec<(Box<str>, String)>,
    /// Its records, framed for the encoding: protobuf `log_records` fields, or
    /// JSON objects separated by commas.
    pub records: Vec<u8>,
    /// How many.
    pub count: usize,
}

/// Bytes a resource costs in the request besides its attributes.
const GROUP_OVERHEAD: usize = 96;

/// A request being filled.
#[derive(Debug)]
pub struct Pending {
    encoding: OtlpEncoding,
    /// Groups; only the first `used` are live (the rest keep their buffers).
    groups: Vec<Group>,
    used: usize,
    /// Resource key → group.
    index: HashMap<String, u32>,
    /// Records held.
    pub events: usize,
    /// Size of the request as it would be sealed now (before compression).
    pub bytes: usize,
    /// Acknowledgements of the batches whose events are here.
    pub acks: Vec<AckToken>,
    /// The pipeline batch that last added an event (to take its token once).
    pub last_batch: u64,
}

impl Pending {
    /// An empty request in `encoding`.
    pub fn new(encoding: OtlpEncoding) -> Pending {
        Pending {
            encoding,
            groups: Vec::new(),
            used: 0,
            index: HashMap::new(),
            events: 0,
            bytes: 0,
            acks: Vec::new(),
            last_batch: u64::MAX,
        }
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Resources in the request.
    pub fn groups(&self) -> &[Group] {
        &self.groups[..self.used]
    }

    /// The group of resource `key`, made with `attrs()` when new.
    pub fn group(&mut self, key: &str, attrs: impl FnOnce() -> Vec<(Box<str>, String)>) -> usize {
        if let Some(&g) = self.index.get(key) {
            return g as usize;
        }
        let attrs = attrs();
        self.bytes += GROUP_OVERHEAD
            + attrs
                .iter()
                .map(|(k, v)| k.len() + v.len() + 16)
                .sum::<usize>();
        if self.used == self.groups.len() {
            self.groups.push(Group::default());
        }
        let g = &mut self.groups[self.used];
        g.attrs = attrs;
        g.records.clear();
        g.count = 0;
        self.index.insert(key.to_owned(), self.used as u32);
        self.used += 1;
        self.used - 1
    }

    /// Adds an encoded record (see [`super::record::RecordEncoder::encode`]) to group `g`.
    pub fn push(&mut self, g: usize, record: &[u8]) {
        let group = &mut self.groups[g];
        let before = group.records.len();
        match self.encoding {
            OtlpEncoding::Protobuf => {
                // ScopeLogs.log_records = 2
                wire::len_prefix(&mut group.records, 2, record.len());
            }
            OtlpEncoding::Json => {
                if group.count > 0 {
                    group.records.push(b',');
                }
            }
        }
        group.records.extend_from_slice(record);
        group.count += 1;
        self.events += 1;
        self.bytes += group.records.len() - before;
    }

    /// Appends the whole request to `out`; `scope` is the encoded
    /// `InstrumentationScope` (protobuf contents, or the JSON object).
    pub fn seal(&self, scope: &[u8], out: &mut Vec<u8>) {
        out.reserve(self.bytes + 64);
        match self.encoding {
            OtlpEncoding::Protobuf => {
                let mut resource = Vec::new();
                for g in self.groups() {
                    resource.clear();
                    for (k, v) in &g.attrs {
                        // Resource.attributes = 1: KeyValue { key = 1, value = 2 }
                        wire::message(&mut resource, 1, |kv| {
                            wire::string(kv, 1, k.as_bytes());
                            wire::message(kv, 2, |av| wire::string(av, 1, v.as_bytes()));
                        });
                    }
                    let scope_logs = wire::field_len(1, scope.len()) + g.records.len();
                    let resource_logs =
                        wire::field_len(1, resource.len()) + wire::field_len(2, scope_logs);
                    // ExportLogsServiceRequest.resource_logs = 1
                    wire::len_prefix(out, 1, resource_logs);
                    // ResourceLogs.resource = 1, scope_logs = 2
                    wire::len_prefix(out, 1, resource.len());
                    out.extend_from_slice(&resource);
                    wire::len_prefix(out, 2, scope_logs);
                    // ScopeLogs.scope = 1, then the records (log_records = 2)
                    wire::len_prefix(out, 1, scope.len());
                    out.extend_from_slice(scope);
                    out.extend_from_slice(&g.records);
                }
            }
            OtlpEncoding::Json => {
                out.extend_from_slice(b"{\"resourceLogs\":[");
                for (i, g) in self.groups().iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"resource\":{\"attributes\":[");
                    for (j, (k, v)) in g.attrs.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(b"{\"key\":");
                        json::write_str(out, k.as_bytes());
                        out.extend_from_slice(b",\"value\":");
                        logagent_codecs::otlp::json::string_value(out, v.as_bytes());
                        out.push(b'}');
                    }
                    out.extend_from_slice(b"]},\"scopeLogs\":[{\"scope\":");
                    out.extend_from_slice(scope);
                    out.extend_from_slice(b",\"logRecords\":[");
                    out.extend_from_slice(&g.records);
                    out.extend_from_slice(b"]}]}");
                }
                out.extend_from_slice(b"]}");
            }
        }
    }

    /// Empties the request for the next filling, keeping buffers up to a sane
    /// size (one huge request must not pin memory).
    pub fn reset(&mut self) {
        for g in &mut self.groups[..self.used] {
            if g.records.capacity() > 8 << 20 {
                g.records = Vec::new();
            }
            g.records.clear();
            g.count = 0;
        }
        self.groups.truncate(64);
        self.used = 0;
        if self.index.capacity() > 1024 {
            self.index = HashMap::new();
        }
        self.index.clear();
        self.events = 0;
        self.bytes = 0;
        self.acks.clear();
        self.last_batch = u64::MAX;
    }
}

/// The `InstrumentationScope` naming the agent, encoded for `encoding`.
pub fn scope(encoding: OtlpEncoding) -> Vec<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = Vec::new();
    match encoding {
        OtlpEncoding::Protobuf => {
            wire::string(&mut out, 1, b"logagent");
            wire::string(&mut out, 2, version.as_bytes());
        }
        OtlpEncoding::Json => {
            out.extend_from_slice(b"{\"name\":\"logagent\",\"version\":");
            json::write_str(&mut out, version.as_bytes());
            out.push(b'}');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use logagent_codecs::otlp::messages::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(Box<str>, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).to_owned()))
            .collect()
    }

    fn record(body: &str, encoding: OtlpEncoding) -> Vec<u8> {
        let r = LogRecord {
            observed_time_unix_nano: 1,
            body: Some(AnyValue::string(body)),
            ..Default::default()
        };
        match encoding {
            OtlpEncoding::Protobuf => r.encode_to_vec(),
            OtlpEncoding::Json => {
                let mut out = Vec::new();
                logagent_codecs::otlp::json::write_record(&r, &mut out);
                out
            }
        }
    }

    fn fill(encoding: OtlpEncoding) -> Pending {
        let mut p = Pending::new(encoding);
        let a = p.group("a", || attrs(&[("service.name", "api")]));
        p.push(a, &record("one", encoding));
        let b = p.group("b", || attrs(&[("service.name", "db"), ("host.name", "h")]));
        p.push(b, &record("two", encoding));
        let a2 = p.group("a", || unreachable!());
        assert_eq!(a, a2);
        p.push(a2, &record("three", encoding));
        p
    }

    fn expected() -> ExportLogsServiceRequest {
        let rl = |attrs: Vec<KeyValue>, bodies: &[&str]| ResourceLogs {
            resource: Some(Resource {
                attributes: attrs,
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "logagent".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: bodies
                    .iter()
                    .map(|b| LogRecord {
                        observed_time_unix_nano: 1,
                        body: Some(AnyValue::string(*b)),
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        };
        ExportLogsServiceRequest {
            resource_logs: vec![
                rl(
                    vec![KeyValue::new("service.name", AnyValue::string("api"))],
                    &["one", "three"],
                ),
                rl(
                    vec![
                        KeyValue::new("service.name", AnyValue::string("db")),
                        KeyValue::new("host.name", AnyValue::string("h")),
                    ],
                    &["two"],
                ),
            ],
        }
    }

    #[test]
    fn protobuf_requests_group_records_per_resource() {
        let p = fill(OtlpEncoding::Protobuf);
        assert_eq!(p.events, 3);
        let mut body = Vec::new();
        p.seal(&scope(OtlpEncoding::Protobuf), &mut body);
        let req = ExportLogsServiceRequest::decode(&body[..]).unwrap();
        assert_eq!(req, expected());
        // Byte for byte what prost writes for the same messages.
        assert_eq!(body, expected().encode_to_vec());
        assert!(
            p.bytes >= body.len() / 2,
            "estimate {} for {}",
            p.bytes,
            body.len()
        );
    }

    #[test]
    fn json_requests_match_the_reference_writer() {
        let p = fill(OtlpEncoding::Json);
        let mut body = Vec::new();
        p.seal(&scope(OtlpEncoding::Json), &mut body);
        let mut reference = Vec::new();
        logagent_codecs::otlp::json::write_request(&expected(), &mut reference);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            String::from_utf8(reference).unwrap()
        );
    }

    #[test]
    fn reset_empties_and_reuses() {
        let mut p = fill(OtlpEncoding::Protobuf);
        p.reset();
        assert!(p.is_empty() && p.groups().is_empty() && p.bytes == 0);
        let g = p.group("b", || attrs(&[]));
        assert_eq!(g, 0);
    }
}
