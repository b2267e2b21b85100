//! Checks of the whole graph once every file is read: unique ids, inputs that
//! exist, no cycles, no loops through dead-letter outputs, one path per stream
//! into an exactly-once sink, one sink per output file, and `[[tests]]` naming
//! real components.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{ComponentChecks, ConfigError, PipelineConfig, TestCase};

/// What a component id names: its inputs must not be sinks.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Source,
    Transform,
    Sink,
}

/// Each id with its kind, file and section (`sources`, …).
type Ids<'a> = HashMap<&'a str, (Kind, &'a Path, &'a str)>;

/// Ids unique across files and kinds; inputs exist and are not sinks; no cycles;
/// at least one source and one sink; no two file sinks writing one path. The
/// checks run in this order (later ones skip what earlier ones reported).
pub(super) fn check_graph(
    config: &PipelineConfig,
    broken: &[(String, bool)],
    errors: &mut Vec<ConfigError>,
) {
    let ids = unique_ids(config, errors);
    check_not_empty(config, broken, errors);
    check_inputs(config, broken, &ids, errors);
    let cycle = check_cycles(config, errors);
    check_dead_letter_loops(config, errors);
    // An exactly-once file sink skips replayed events below the last offset it
    // wrote per stream: a stream reaching it by two paths (a route's two
    // outputs, a dead letter beside the main output) arrives out of order, and
    // a crash could then skip an event of the slower path. Refuse it.
    if !cycle {
        check_single_paths(config, errors);
    }
    check_shared_paths(config, errors);
}

/// Every component's id, reporting one used twice (across files and kinds).
fn unique_ids<'a>(config: &'a PipelineConfig, errors: &mut Vec<ConfigError>) -> Ids<'a> {
    let mut ids: Ids<'a> = HashMap::new();
    let all = config
        .sources
        .iter()
        .map(|c| (c.id.as_str(), Kind::Source, c.file.as_path(), "sources"))
        .chain(config.transforms.iter().map(|c| {
            (
                c.id.as_str(),
                Kind::Transform,
                c.file.as_path(),
                "transforms",
            )
        }))
        .chain(
            config
                .sinks
                .iter()
                .map(|c| (c.id.as_str(), Kind::Sink, c.file.as_path(), "sinks")),
        );
    for (id, kind, file, section) in all {
        if let Some((_, other_file, other_section)) = ids.get(id) {
            errors.push(
                ConfigError::new(format!(
                    "component id {id:?} is used twice (also {other_section}.{id} in {}); ids must be unique",
                    other_file.display()
                ))
                .in_file(file)
                .in_component(format!("{section}.{id}")),
            );
        } else {
            ids.insert(id, (kind, file, section));
        }
    }
    ids
}

/// At least one source and one sink (unless something is already reported:
/// a broken source is not a missing one).
fn check_not_empty(
    config: &PipelineConfig,
    broken: &[(String, bool)],
    errors: &mut Vec<ConfigError>,
) {
    if config.sources.is_empty() && errors.is_empty() && broken.is_empty() {
        errors.push(ConfigError::new(
            "the pipeline has no sources (add a [sources.ID] table)",
        ));
    }
    if config.sinks.is_empty() && errors.is_empty() && broken.is_empty() {
        errors.push(ConfigError::new(
            "the pipeline has no sinks (add a [sinks.ID] table)",
        ));
    }
}

/// Every input names an existing source or transform (or a declared named
/// output of one), never a sink and never the component itself.
fn check_inputs(
    config: &PipelineConfig,
    broken: &[(String, bool)],
    ids: &Ids<'_>,
    errors: &mut Vec<ConfigError>,
) {
    let consumers = config
        .transforms
        .iter()
        .map(|c| (&c.id, &c.inputs, &c.file, "transforms"))
        .chain(
            config
                .sinks
                .iter()
                .map(|c| (&c.id, &c.inputs, &c.file, "sinks")),
        );
    // Named outputs (`router.errors`, `es.dead_letter`) declared by each component.
    let ports: HashMap<&str, Vec<String>> = config
        .transforms
        .iter()
        .map(|t| (t.id.as_str(), t.config.outputs()))
        .chain(
            config
                .sinks
                .iter()
                .map(|s| (s.id.as_str(), s.config.outputs())),
        )
        .collect();
    for (id, inputs, file, section) in consumers {
        for input in inputs {
            if let Some((producer, port)) = input.split_once('.') {
                let located = |message: String| {
                    ConfigError::new(message)
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs")
                };
                if broken.iter().any(|(b, _)| b == producer) {
                    continue;
                }
                match (ids.get(producer), ports.get(producer)) {
                    (None, _) => errors.push(located(format!(
                        "input {input:?}: component {producer:?} does not exist"
                    ))),
                    (Some(_), Some(declared)) if declared.iter().any(|p| p == port) => {
                        if producer == id {
                            errors.push(located("a component cannot read its own output".into()));
                        }
                    }
                    (Some(_), declared) => {
                        let declared = declared.cloned().unwrap_or_default();
                        errors.push(located(if declared.is_empty() {
                            format!("input {input:?}: {producer:?} has no named outputs (use {producer:?})")
                        } else {
                            format!(
                                "input {input:?}: {producer:?} has no output named {port:?} (it has: {})",
                                declared.join(", ")
                            )
                        }))
                    }
                }
                continue;
            }
            match ids.get(input.as_str()) {
                None if broken.iter().any(|(id, _)| id == input) => {}
                None => {
                    let mut known: Vec<&str> = ids
                        .iter()
                        .filter(|(_, (k, _, _))| *k != Kind::Sink)
                        .map(|(id, _)| *id)
                        .chain(
                            broken
                                .iter()
                                .filter(|(_, sink)| !sink)
                                .map(|(id, _)| id.as_str()),
                        )
                        .collect();
                    known.sort_unstable();
                    errors.push(
                        ConfigError::new(format!(
                            "input {input:?} does not exist (expected one of: {})",
                            known.join(", ")
                        ))
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs"),
                    );
                }
                Some((Kind::Sink, _, _)) => errors.push(
                    ConfigError::new(format!("input {input:?} is a sink; sinks have no outputs"))
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs"),
                ),
                Some(_) if input == id => errors.push(
                    ConfigError::new("a component cannot read its own output")
                        .in_file(file)
                        .in_component(format!("{section}.{id}"))
                        .at_key("inputs"),
                ),
                Some(_) => {}
            }
        }
    }
}

/// No cycle among transforms; reports the first one found and returns true
/// when there is one.
fn check_cycles(config: &PipelineConfig, errors: &mut Vec<ConfigError>) -> bool {
    // Cycles among transforms: depth-first search with colours.
    let graph: BTreeMap<&str, Vec<String>> = config
        .transforms
        .iter()
        .map(|t| {
            let producers = t
                .inputs
                .iter()
                .map(|i| i.split_once('.').map_or(i.as_str(), |(p, _)| p).to_owned())
                .collect();
            (t.id.as_str(), producers)
        })
        .collect();
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported = false;
    for start in graph.keys() {
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((node, next)) = stack.pop() {
            if next == 0 {
                match state.get(node) {
                    Some(2) => continue,
                    Some(1) => {
                        continue;
                    }
                    _ => {
                        state.insert(node, 1);
                    }
                }
            }
            let inputs = graph.get(node).map(|v| v.as_slice()).unwrap_or(&[]);
            if let Some(input) = inputs.get(next) {
                stack.push((node, next + 1));
                if graph.contains_key(input.as_str()) {
                    match state.get(input.as_str()) {
                        Some(1) if !reported && input != node => {
                            reported = true;
                            let mut cycle: Vec<&str> = stack.iter().map(|(n, _)| *n).collect();
                            if let Some(pos) = cycle.iter().position(|n| *n == input) {
                                cycle.drain(..pos);
                            }
                            cycle.push(input);
                            let file = config
                                .transforms
                                .iter()
                                .find(|t| t.id == *input)
                                .map(|t| t.file.clone());
                            let mut e = ConfigError::new(format!(
                                "the transforms form a cycle: {}",
                                cycle.join(" -> ")
                            ))
                            .in_component(format!("transforms.{input}"))
                            .at_key("inputs");
                            e.file = file;
                            errors.push(e);
                        }
                        Some(_) => {}
                        None => stack.push((input.as_str(), 0)),
                    }
                }
            } else {
                state.insert(node, 2);
            }
        }
    }
    reported
}

/// A sink's named output (dead letters) never flows back into the sink.
fn check_dead_letter_loops(config: &PipelineConfig, errors: &mut Vec<ConfigError>) {
    // A sink's named output (dead letters) must not flow back into the sink: the
    // documents would loop, and the sink would wait on its own input channel.
    for sink in &config.sinks {
        for port in sink.config.outputs() {
            let start = format!("{}.{port}", sink.id);
            let reads = |inputs: &[String], producer: &str, exact: bool| {
                inputs.iter().any(|i| {
                    i == producer
                        || (!exact && i.split_once('.').is_some_and(|(p, _)| p == producer))
                })
            };
            let mut frontier: Vec<(String, bool)> = vec![(start.clone(), true)];
            let mut seen: Vec<&str> = Vec::new();
            let mut loops = false;
            while let Some((producer, exact)) = frontier.pop() {
                if reads(&sink.inputs, &producer, exact) {
                    loops = true;
                    break;
                }
                for t in &config.transforms {
                    if reads(&t.inputs, &producer, exact) && !seen.contains(&t.id.as_str()) {
                        seen.push(t.id.as_str());
                        frontier.push((t.id.clone(), false));
                    }
                }
            }
            if loops {
                errors.push(
                    ConfigError::new(format!(
                        "its output {start:?} flows back into it; documents it refuses would loop (send them to another sink)"
                    ))
                    .in_file(&sink.file)
                    .in_component(format!("sinks.{}", sink.id))
                    .at_key("inputs"),
                );
            }
        }
    }
}

/// No two file sinks append to one path.
fn check_shared_paths(config: &PipelineConfig, errors: &mut Vec<ConfigError>) {
    // Two file sinks appending to one path interleave lines: refuse.
    let mut paths: HashMap<&str, &str> = HashMap::new();
    for sink in &config.sinks {
        if let Some(path) = sink.config.output_path()
            && let Some(other) = paths.insert(path, &sink.id)
        {
            errors.push(
                    ConfigError::new(format!(
                        "sinks.{other} already writes to {path:?}; two file sinks on one path would interleave lines"
                    ))
                    .in_file(&sink.file)
                    .in_component(format!("sinks.{}", sink.id))
                    .at_key("path"),
                );
        }
    }
}

/// Refuses a source reaching an exactly-once sink ([`super::SinkConfig::skips_replays`])
/// by more than one path. The graph has no cycles here (checked before).
fn check_single_paths(config: &PipelineConfig, errors: &mut Vec<ConfigError>) {
    let inputs_of: HashMap<&str, &[String]> = config
        .transforms
        .iter()
        .map(|t| (t.id.as_str(), t.inputs.as_slice()))
        .collect();
    for sink in config.sinks.iter().filter(|s| s.config.skips_replays()) {
        for source in &config.sources {
            // Paths from `source` to each node, memoised; saturating, so a
            // wide graph cannot overflow.
            let mut memo: HashMap<&str, u64> = HashMap::new();
            let count = paths_from(&source.id, &sink.inputs, &inputs_of, &mut memo, 0);
            if count > 1 {
                errors.push(
                    ConfigError::new(format!(
                        "events of source {:?} reach this exactly-once sink by {count} paths; \
                         a stream must arrive by one path (in order) for replays to be skipped \
                         safely: merge the branches before the sink, or set durability = \"at_least_once\"",
                        source.id
                    ))
                    .in_file(&sink.file)
                    .in_component(format!("sinks.{}", sink.id))
                    .at_key("inputs"),
                );
            }
        }
    }
}

/// How many paths lead from `source` into a component reading `inputs`.
fn paths_from<'a>(
    source: &str,
    inputs: &'a [String],
    inputs_of: &HashMap<&'a str, &'a [String]>,
    memo: &mut HashMap<&'a str, u64>,
    depth: usize,
) -> u64 {
    let mut total = 0u64;
    for input in inputs {
        let producer = input.split_once('.').map_or(input.as_str(), |(p, _)| p);
        let n = if producer == source {
            1
        } else if let Some(n) = memo.get(producer) {
            *n
        } else if let (Some(up), true) = (inputs_of.get(producer), depth < 1024) {
            let n = paths_from(source, up, inputs_of, memo, depth + 1);
            memo.insert(producer, n);
            n
        } else {
            0
        };
        total = total.saturating_add(n);
    }
    total
}

/// A test's `insert_at` and `at` must name components of the pipeline.
pub(super) fn check_test(
    config: &PipelineConfig,
    case: &TestCase,
    file: &Path,
    line: usize,
    errors: &mut Vec<ConfigError>,
) {
    let located = |key: String, message: String| {
        ConfigError::new(message)
            .in_file(file)
            .at(Some((line, 1)))
            .in_component(format!("tests {:?}", case.name))
            .at_key(key)
    };
    let producers: Vec<&str> = config
        .sources
        .iter()
        .map(|c| c.id.as_str())
        .chain(config.transforms.iter().map(|c| c.id.as_str()))
        .collect();
    if !producers.contains(&case.insert_at.as_str()) {
        errors.push(located(
            "insert_at".into(),
            format!(
                "{:?} is not a source or transform of this pipeline (expected one of: {})",
                case.insert_at,
                producers.join(", ")
            ),
        ));
    }
    for (i, e) in case.expect.iter().enumerate() {
        let (id, port) = match e.at.split_once('.') {
            Some((id, port)) => (id, Some(port)),
            None => (e.at.as_str(), None),
        };
        let outputs = config
            .transforms
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.config.outputs())
            .or_else(|| {
                config
                    .sources
                    .iter()
                    .find(|s| s.id == id)
                    .map(|_| Vec::new())
            });
        let ok = match (&outputs, port) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(names), Some(p)) => names.iter().any(|n| n == p),
        };
        if !ok {
            errors.push(located(
                format!("expect[{i}].at"),
                format!(
                    "{:?} is not an output of a source or transform of this pipeline",
                    e.at
                ),
            ));
        }
    }
}
