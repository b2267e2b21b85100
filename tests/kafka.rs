//! The Kafka tier against a real Kafka-protocol broker (tansu, started here on
//! 127.0.0.1 from a temporary directory with SQLite storage, stopped at the
//! end): node agents tail files into the `kafka` sink, aggregators read the
//! topics with the `kafka` source into file sinks.
//!
//! `scripts/test` installs tansu (`cargo install tansu --locked --features
//! libsql`) when it is not on PATH; without it these tests say so loudly and
//! pass without running (a plain `cargo test` on a machine without it).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, wait_until, write_pipeline};

/// The tansu binary: on PATH or where `cargo install` puts it.
fn tansu() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = Path::new(&home).join(".cargo/bin/tansu");
        p.is_file().then_some(p)
    })
}

/// A broker for one test.
struct Broker {
    child: Child,
    port: u16,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Option<Broker> {
        let Some(bin) = tansu() else {
            eprintln!(
                "\n\n*** SKIPPED: the Kafka tests need the tansu broker (scripts/test installs it: \
                 cargo install tansu --locked --features libsql) ***\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .current_dir(dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let broker = Broker {
            child,
            port,
            bin,
            _dir: dir,
        };
        wait_until(Duration::from_secs(60), "tansu to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(broker)
    }

    fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn create_topic(&self, name: &str) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // Retried until the broker takes it; "already exists" means an
        // earlier attempt got through.
        wait_until(Duration::from_secs(60), "the topic to be created", || {
            Command::new(&self.bin)
                .args([
                    "topic",
                    "create",
                    "--broker",
                    &url,
                    "--partitions",
                    "3",
                    name,
                ])
                .output()
                .is_ok_and(|o| {
                    let text = format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                    .to_lowercase();
                    o.status.success() || text.contains("exist")
                })
        });
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent(pipeline: &Path) -> common::Guard {
    common::Guard(
        common::bin()
            .arg("-p")
            .arg(pipeline)
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The node side: `pods` files `POD.log`, each line JSON with its service.
fn node_pipeline(dir: &Path, broker: &Broker, compression: &str) -> PathBuf {
    write_pipeline(
        dir,
        "node.toml",
        &format!(
            r#"data_dir = {data:?}
[sources.pods]
type = "file"
include = [{glob:?}]
[transforms.parse]
type = "parse_json"
inputs = ["pods"]
[sinks.kafka]
type = "kafka"
inputs = ["parse"]
bootstrap_servers = "{servers}"
topic = "logs-{{{{ service }}}}"
key = "{{{{ kubernetes.pod_name }}}}"
compression = "{compression}"
headers = {{ service = "service" }}
"#,
            data = dir.join("node-data").display().to_string(),
            glob = dir.join("in/*.log").display().to_string(),
            servers = broker.servers(),
        ),
    )
}

/// An aggregator: both topics into `out` (one NDJSON file).
fn aggregator_pipeline(dir: &Path, broker: &Broker, name: &str) -> PathBuf {
    write_pipeline(
        dir,
        &format!("{name}.toml"),
        &format!(
            r#"data_dir = {data:?}
[sources.kafka]
type = "kafka"
bootstrap_servers = "{servers}"
group_id = "aggregators"
topics = ["logs-api", "logs-web"]
commit_interval = "200ms"
session_timeout = "6s"
[sinks.out]
type = "file"
inputs = ["kafka"]
path = {out:?}
"#,
            data = dir.join(format!("{name}-data")).display().to_string(),
            servers = broker.servers(),
            out = dir.join(format!("{name}.ndjson")).display().to_string(),
        ),
    )
}

/// Writes `lines` lines for each pod (`api-0`, `web-0`, `api-1`), in chunks.
fn write_input(dir: &Path, pods: &[&str], lines: usize) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    for pod in pods {
        let service = pod.split('-').next().unwrap();
        let mut text = String::new();
        for i in 0..lines {
            text.push_str(&format!(
                "{{\"service\":\"{service}\",\"kubernetes\":{{\"pod_name\":\"{pod}\"}},\"seq\":{i}}}\n"
            ));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("in/{pod}.log")))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
}

fn lines_in(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.ends_with('}'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How often each (pod, seq) arrived.
type Seen = HashMap<(String, u64), usize>;
/// Each pod's sequence numbers in arrival order.
type Order = BTreeMap<String, Vec<u64>>;

/// (pod, seq) → how often it arrived, and each pod's sequence in arrival order.
fn tally(events: &[serde_json::Value]) -> (Seen, Order) {
    let mut seen = HashMap::new();
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in events {
        let pod = e["kubernetes"]["pod_name"].as_str().unwrap().to_owned();
        let seq = e["seq"].as_u64().unwrap();
        *seen.entry((pod.clone(), seq)).or_insert(0) += 1;
        order.entry(pod).or_default().push(seq);
    }
    (seen, order)
}

const PODS: &[&str] = &["api-0", "web-0", "api-1"];

/// Reads both topics with PyPI's confluent-kafka (its own librdkafka), as a
/// second, independent consumer group: per topic, (key, seq, service header)
/// of every message, in partition order. scripts/test installs the module.
const INDEPENDENT_CONSUMER: &str = r#"
import json, sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "independent",
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe(["logs-api", "logs-web"])
want, got, idle = int(sys.argv[2]), [], 0
while len(got) < want and idle < 600:
    m = c.poll(0.1)
    if m is None:
        idle += 1
        continue
    if m.error():
        continue
    idle = 0
    v = json.loads(m.value())
    headers = dict((k, v2.decode()) for k, v2 in (m.headers() or []))
    got.append([m.topic(), m.partition(), m.key().decode(), v["seq"], headers.get("service")])
c.close()
print(json.dumps(got))
"#;

/// The independent consumer's view: (topic, partition, key, seq, service header).
fn read_with_confluent_kafka(
    broker: &Broker,
    want: usize,
) -> Vec<(String, u64, String, u64, String)> {
    let out = Command::new("python3")
        .args([
            "-c",
            INDEPENDENT_CONSUMER,
            &broker.servers(),
            &want.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the independent consumer (python3 with confluent-kafka; scripts/test runs \
         `pip install confluent-kafka`) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn node_to_broker_to_aggregator_every_line_once_in_order_with_templated_topics_and_keys() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("logs-api");
    broker.create_topic("logs-web");
    let dir = tempfile::tempdir().unwrap();
    let n = 2000;
    write_input(dir.path(), PODS, n);
    let _node = agent(&node_pipeline(dir.path(), &broker, "zstd"));
    let _agg = agent(&aggregator_pipeline(dir.path(), &broker, "agg"));
    let out = dir.path().join("agg.ndjson");
    wait_until(
        Duration::from_secs(120),
        "every line at the aggregator",
        || lines_in(&out).len() >= n * PODS.len(),
    );
    let events = lines_in(&out);
    assert_eq!(events.len(), n * PODS.len(), "no line twice");
    let (seen, order) = tally(&events);
    assert!(seen.values().all(|&c| c == 1));
    for (pod, seqs) in &order {
        assert_eq!(
            *seqs,
            (0..n as u64).collect::<Vec<_>>(),
            "{pod}: per-file order"
        );
    }
    for e in &events {
        let service = e["service"].as_str().unwrap();
        assert_eq!(e["kafka"]["topic"], format!("logs-{service}"));
        assert_eq!(e["kafka"]["key"], e["kubernetes"]["pod_name"]);
        assert_eq!(e["kafka"]["headers"]["service"], service);
        assert!(e["kafka"]["offset"].is_u64() && e["kafka"]["partition"].is_u64());
    }
    // What is in the topics, seen by another client: each line once, in the
    // topic its service names, keyed by pod, one pod in one partition in order.
    let direct = read_with_confluent_kafka(&broker, n * PODS.len());
    assert_eq!(direct.len(), n * PODS.len());
    let mut per_pod: BTreeMap<String, (String, u64, Vec<u64>)> = BTreeMap::new();
    for (topic, partition, key, seq, service) in direct {
        assert_eq!(topic, format!("logs-{service}"));
        assert!(key.starts_with(&service), "{key} in {topic}");
        let e = per_pod
            .entry(key.clone())
            .or_insert_with(|| (topic.clone(), partition, Vec::new()));
        assert_eq!((&e.0, e.1), (&topic, partition), "{key}: one partition");
        e.2.push(seq);
    }
    assert_eq!(per_pod.len(), PODS.len());
    for (pod, (_, _, seqs)) in per_pod {
        assert_eq!(
            seqs,
            (0..n as u64).collect::<Vec<_>>(),
            "{pod} in the topic"
        );
    }
}

#[test]
fn an_aggregator_killed_mid_stream_loses_nothing_after_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("logs-api");
    broker.create_topic("logs-web");
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    write_input(dir.path(), PODS, n);
    let _node = agent(&node_pipeline(dir.path(), &broker, "lz4"));
    let p = aggregator_pipeline(dir.path(), &broker, "agg");
    let out = dir.path().join("agg.ndjson");
    let mut agg = agent(&p);
    wait_until(Duration::from_secs(120), "a third of the lines", || {
        lines_in(&out).len() >= n * PODS.len() / 3
    });
    agg.0.kill().unwrap(); // SIGKILL
    agg.0.wait().unwrap();
    let before = lines_in(&out).len();
    let _agg = agent(&p);
    wait_until(
        Duration::from_secs(120),
        "every line after the restart",
        || tally(&lines_in(&out)).0.len() >= n * PODS.len(),
    );
    let events = lines_in(&out);
    let (seen, _) = tally(&events);
    assert_eq!(seen.len(), n * PODS.len(), "nothing lost");
    let duplicates = events.len() - seen.len();
    eprintln!("kill -9 at {before} lines: {duplicates} duplicate(s) (the unacknowledged tail)");
    assert!(
        duplicates <= before,
        "only what was read before the kill comes twice"
    );
}

#[test]
fn two_aggregators_in_one_group_share_the_partitions_each_message_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("logs-api");
    broker.create_topic("logs-web");
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    let _a = agent(&aggregator_pipeline(dir.path(), &broker, "a"));
    let _b = agent(&aggregator_pipeline(dir.path(), &broker, "b"));
    let n = 2000;
    write_input(dir.path(), PODS, n);
    let _node = agent(&node_pipeline(dir.path(), &broker, "gzip"));
    let total = || lines_in(&a).len() + lines_in(&b).len();
    wait_until(
        Duration::from_secs(120),
        "every line at one of the aggregators",
        || total() >= n * PODS.len(),
    );
    let mut events = lines_in(&a);
    let from_a = events.len();
    events.extend(lines_in(&b));
    let (seen, _) = tally(&events);
    assert_eq!(seen.len(), n * PODS.len(), "nothing lost");
    assert_eq!(events.len(), n * PODS.len(), "each message once");
    eprintln!(
        "aggregator a: {from_a} lines, b: {} lines",
        events.len() - from_a
    );
}
