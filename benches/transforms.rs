//! Throughput of each parser and transform, and of the default chain
//! (parse_json → enrich → redact with every detector → filter_level →
//! serialize), in bytes of input per second, and each redact detector alone
//! (`transforms/redact_detector/NAME`: the shared trigger pass plus that
//! detector's confirmations and rewrites; `transforms/redact_all_detectors`
//! is issue 20's figure). Batches are prepared outside the timed part
//! (framed, and parsed for the transforms that need JSON).

#![allow(clippy::unwrap_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use logagent::event::{Batch, Event};
use logagent::sinks::Encoding;
use logagent_core::component::Transform;

#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/prepare.rs"]
mod prepare;

use prepare::{batches, frame, transform};

const CORPUS_BYTES: usize = 4 << 20;

/// Parsed copies of the JSON corpus, made once and cloned per iteration.
fn parsed(events: &[Event]) -> Vec<Batch> {
    let mut parse = transform("parse_json", "{ time_key = \"timestamp\" }");
    let mut bs = batches(events);
    for b in &mut bs {
        parse.process(b);
    }
    bs
}

/// A copy of `input` that shares nothing with it: a batch's events are
/// copy-on-write, so a plain clone would make the transform under measure pay
/// for the copy on its first change (the setup of `iter_batched` must).
fn unshared(input: &[Batch]) -> Vec<Batch> {
    input
        .iter()
        .map(|b| {
            let mut copy = b.clone();
            copy.events = b.events.to_vec().into();
            copy.members = b.members.to_vec().into();
            copy
        })
        .collect()
}

fn bench_one(
    c: &mut Criterion,
    name: &str,
    bytes: usize,
    input: &[Batch],
    mut t: Box<dyn Transform>,
) {
    let mut group = c.benchmark_group("transforms");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter_batched(
            || unshared(input),
            |mut bs| {
                for batch in &mut bs {
                    t.process(batch);
                }
                bs
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let json = corpus::generate(CORPUS_BYTES);
    let json_events = frame(&json);
    let raw_json = batches(&json_events);
    let parsed_json = parsed(&json_events);
    let nginx = corpus::nginx(CORPUS_BYTES);
    let nginx_batches = batches(&frame(&nginx));
    let logfmt = corpus::logfmt(CORPUS_BYTES);
    let logfmt_batches = batches(&frame(&logfmt));
    let syslog = corpus::syslog(CORPUS_BYTES);
    let syslog_batches = batches(&frame(&syslog));
    let syslog5424 = corpus::syslog_rfc5424(CORPUS_BYTES);
    let syslog5424_batches = batches(&frame(&syslog5424));
    let app = corpus::app(CORPUS_BYTES);
    let app_batches = batches(&frame(&app));

    // Parsers, from framed lines.
    bench_one(
        c,
        "parse_json",
        json.len(),
        &raw_json,
        transform("parse_json", "{ time_key = \"timestamp\" }"),
    );
    bench_one(
        c,
        "parse_regex_nginx_combined",
        nginx.len(),
        &nginx_batches,
        transform("parse_regex", "{ preset = \"nginx_combined\" }"),
    );
    bench_one(
        c,
        "parse_regex_syslog_rfc3164",
        syslog.len(),
        &syslog_batches,
        transform("parse_regex", "{ preset = \"syslog_rfc3164\" }"),
    );
    bench_one(
        c,
        "parse_regex_syslog_rfc5424",
        syslog5424.len(),
        &syslog5424_batches,
        transform("parse_regex", "{ preset = \"syslog_rfc5424\" }"),
    );
    bench_one(
        c,
        "parse_regex_app",
        app.len(),
        &app_batches,
        transform("parse_regex", "{ preset = \"app\" }"),
    );
    bench_one(
        c,
        "parse_logfmt",
        logfmt.len(),
        &logfmt_batches,
        transform("parse_logfmt", "{ types = { status = \"int\" } }"),
    );
    bench_one(
        c,
        "parse_kv",
        logfmt.len(),
        &logfmt_batches,
        transform("parse_kv", "{}"),
    );

    // Transforms, on parsed JSON.
    let n = json.len();
    let on_json: [(&str, &str, &str); 17] = [
        (
            "enrich",
            "enrich",
            "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }",
        ),
        (
            "redact_paths",
            "redact",
            "{ paths = [\"req.headers.authorization\", \"user.email\", \"email\"] }",
        ),
        (
            "redact_all_detectors",
            "redact",
            "{ detectors = [\"all\"] }",
        ),
        (
            "redact_all_detectors_and_paths",
            "redact",
            "{ detectors = [\"all\"], paths = [\"req.headers.authorization\", \"user.email\"] }",
        ),
        ("filter_level", "filter_level", "{ min_level = \"info\" }"),
        (
            "filter",
            "filter",
            "{ drop_if = { field = \"metadata.path\", starts_with = \"/health\" } }",
        ),
        (
            "route",
            "route",
            "{ routes = { errors = { min_level = \"error\" }, api = { field = \"service\", equals = \"api\" } } }",
        ),
        ("sample", "sample", "{ rate = 10 }"),
        (
            "throttle",
            "throttle",
            "{ rate = 1000000, key = \"{{ service }}\" }",
        ),
        (
            "remove_fields",
            "remove_fields",
            "{ fields = [\"traceId\", \"context.caseId\"] }",
        ),
        (
            "rename_fields",
            "rename_fields",
            "{ fields = { requestId = \"request_id\" } }",
        ),
        (
            "add_fields",
            "add_fields",
            "{ fields = { index = \"{{ service }}-%Y.%m.%d\", team = \"core\" } }",
        ),
        // remap beside add_fields: the same field added through VRL, then a
        // typical program (a condition, a delete, a rename); what it costs is
        // each event's conversion to a VRL value and back.
        (
            "remap_add_field",
            "remap",
            "{ source = '.team = \"core\"' }",
        ),
        (
            "remap_typical",
            "remap",
            "{ source = 'if .level == \"error\" { .alert = true }; del(.traceId); .request_id = del(.requestId)' }",
        ),
        (
            "log_to_metric",
            "log_to_metric",
            "{ metrics = [{ type = \"counter\", name = \"events_total\", labels = { level = \"{{ level }}\", service = \"{{ service }}\" } }, { type = \"histogram\", name = \"duration_seconds\", field = \"duration\", scale = 0.001 }] }",
        ),
        (
            "parse_json_nested_field",
            "parse_json",
            "{ field = \"context\", target = \"ctx\" }",
        ),
        (
            "timestamp_strftime",
            "parse_json",
            "{ time_key = \"timestamp\", time_format = \"%Y-%m-%dT%H:%M:%S%.fZ\" }",
        ),
    ];
    for (name, ty, cfg) in on_json {
        let input = if ty == "parse_json" && name == "timestamp_strftime" {
            &raw_json
        } else {
            &parsed_json
        };
        bench_one(c, name, n, input, transform(ty, cfg));
    }

    // Each detector alone on the parsed corpus: what it adds over the shared
    // scan (the pre-filter keeps lines without candidates nearly free).
    for d in logagent::transforms::redact::detect::Detector::ALL {
        bench_one(
            c,
            &format!("redact_detector/{}", d.name()),
            n,
            &parsed_json,
            transform("redact", &format!("{{ detectors = [\"{}\"] }}", d.name())),
        );
    }

    // The default chain, from framed lines to serialized NDJSON, and the same
    // chain without redaction (to see what the detectors cost) and serializing
    // alone (what the sink's encoder costs).
    let enrich = "{ host_field = \"server_name\", path_pattern = '/(?P<service_name>[^/.]+)\\.log$', fields = { environment = \"production\" } }";
    let redact =
        "{ detectors = [\"all\"], paths = [\"req.headers.authorization\", \"user.email\"] }";
    bench_chain(
        c,
        "default_chain",
        n,
        &raw_json,
        &[
            ("parse_json", "{ time_key = \"timestamp\" }"),
            ("enrich", enrich),
            ("redact", redact),
            ("filter_level", "{ min_level = \"info\" }"),
        ],
    );
    bench_chain(
        c,
        "chain_without_redact",
        n,
        &raw_json,
        &[
            ("parse_json", "{ time_key = \"timestamp\" }"),
            ("enrich", enrich),
            ("filter_level", "{ min_level = \"info\" }"),
        ],
    );
    let mut enriched = parsed_json.clone();
    let mut t = transform("enrich", enrich);
    for b in &mut enriched {
        t.process(b);
    }
    bench_chain(c, "serialize_enriched", n, &enriched, &[]);
}

/// Runs `steps` over `input` and serializes what is left as NDJSON.
fn bench_chain(
    c: &mut Criterion,
    name: &str,
    bytes: usize,
    input: &[Batch],
    steps: &[(&str, &str)],
) {
    let mut group = c.benchmark_group("chain");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    let mut chain: Vec<Box<dyn Transform>> =
        steps.iter().map(|(ty, cfg)| transform(ty, cfg)).collect();
    let mut out = Vec::with_capacity(bytes + bytes / 2);
    group.bench_function(name, |b| {
        b.iter_batched(
            || unshared(input),
            |bs| {
                out.clear();
                for mut batch in bs {
                    for t in chain.iter_mut() {
                        t.process(&mut batch);
                    }
                    for e in &batch.events {
                        Encoding::Json.write(e, &mut out);
                    }
                }
                out.len()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(transforms_benches, benches);
criterion_main!(transforms_benches);
