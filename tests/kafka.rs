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
mod fake_es;

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

/// A broker for one test. Its SQLite database lives in its own temporary
/// directory, so a broker killed with [`Broker::kill`] comes back with
/// [`Broker::restart`] on the same port with everything it had stored.
struct Broker {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Held for the whole test (the broker is its first local, dropped last).
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// One test at a time: each runs a broker, two or three agents and a Python
/// client, and on a small shared machine tests run side by side starve
/// tansu until the consumer groups' heartbeats time out.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Broker {
    fn start() -> Option<Broker> {
        let Some(bin) = tansu() else {
            eprintln!(
                "\n\n*** SKIPPED: the Kafka tests need the tansu broker (scripts/test installs it: \
                 cargo install tansu --locked --features libsql) ***\n"
            );
            return None;
        };
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut broker = Broker {
            _serial: serial,
            child: None,
            port: free_port(),
            bin,
            dir: tempfile::tempdir().unwrap(),
        };
        broker.spawn();
        Some(broker)
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .current_dir(self.dir.path())
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
        self.child = Some(child);
        let port = self.port;
        wait_until(Duration::from_secs(60), "tansu to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// `kill -9`: the broker goes away without a word; its database stays.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The same broker again: same port, same database.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after kill");
        self.spawn();
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
    node_pipeline_with(dir, broker, compression, "")
}

/// [`node_pipeline`] with `extra` appended: more keys of the `kafka` sink
/// (its table is the last one), then other tables.
fn node_pipeline_with(dir: &Path, broker: &Broker, compression: &str, extra: &str) -> PathBuf {
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
{extra}
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

/// The aggregators' `session_timeout`.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// Waits until the session of a member killed at `killed` has expired (plus
/// 2s), before its replacement starts. tansu may otherwise complete the
/// replacement's join with the dead member still in the group, give the dead
/// member every partition and the replacement none, and never rebalance when
/// the dead member expires (Apache Kafka does); static membership
/// (`group.instance.id`) makes tansu rebalance every session instead. The
/// scenario is a restart after the session timeout, like a pod restarted
/// after its crash backoff.
fn after_session_expiry(killed: std::time::Instant) {
    wait_until(
        SESSION_TIMEOUT * 5,
        "the killed aggregator's session to expire",
        || killed.elapsed() >= SESSION_TIMEOUT + Duration::from_secs(2),
    );
}

/// Writes `lines` lines for each pod (`api-0`, `web-0`, `api-1`), in chunks.
fn write_input(dir: &Path, pods: &[&str], lines: usize) {
    append_input(dir, pods, 0..lines);
}

/// Appends the lines with sequence numbers `seqs` to each pod's file.
fn append_input(dir: &Path, pods: &[&str], seqs: std::ops::Range<usize>) {
    append_padded(dir, pods, seqs, 0);
}

/// [`append_input`] with a `pad` field of `pad` characters in every line.
fn append_padded(dir: &Path, pods: &[&str], seqs: std::ops::Range<usize>, pad: usize) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let padding = if pad > 0 {
        format!(",\"pad\":\"{}\"", "x".repeat(pad))
    } else {
        String::new()
    };
    for pod in pods {
        let service = pod.split('-').next().unwrap();
        let mut text = String::new();
        for i in seqs.clone() {
            text.push_str(&format!(
                "{{\"service\":\"{service}\",\"kubernetes\":{{\"pod_name\":\"{pod}\"}},\"seq\":{i}{padding}}}\n"
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
    let killed = std::time::Instant::now();
    agg.0.wait().unwrap();
    let before = lines_in(&out).len();
    after_session_expiry(killed);
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

/// Reads everything in `topics` with confluent-kafka, exactly: the low and
/// high watermark of every partition first, then each partition from its low
/// watermark to its high one (no consumer group, no commits). Prints
/// `{"watermarks": [[topic, partition, low, high]], "messages": [[topic,
/// partition, offset, key, seq]]}`.
const TOPIC_AUDIT: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, TopicPartition
# Small fetches: tansu answers a large multi-partition fetch slowly.
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "audit",
              "enable.auto.commit": False, "fetch.max.bytes": 1048576,
              "max.partition.fetch.bytes": 262144})
topics = sys.argv[2].split(",")
meta = c.list_topics(timeout=30)
marks = []
for t in topics:
    for p in sorted(meta.topics[t].partitions):
        lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=30)
        marks.append([t, p, lo, hi])
left = {(t, p): hi for t, p, lo, hi in marks if hi > lo}
c.assign([TopicPartition(t, p, lo) for t, p, lo, hi in marks if hi > lo])
got, deadline = [], time.time() + 240
while left and time.time() < deadline:
    m = c.poll(1.0)
    if m is None or m.error():
        continue
    end = left.get((m.topic(), m.partition()))
    if end is None or m.offset() >= end:
        continue
    got.append([m.topic(), m.partition(), m.offset(), m.key().decode(), json.loads(m.value())["seq"]])
    if m.offset() + 1 >= end:
        del left[(m.topic(), m.partition())]
c.close()
if left:
    sys.exit("partitions not read to their high watermark: %r" % (left,))
print(json.dumps({"watermarks": marks, "messages": got}))
"#;

/// What [`TOPIC_AUDIT`] found.
#[derive(serde::Deserialize)]
struct Audit {
    watermarks: Vec<(String, u32, u64, u64)>,
    messages: Vec<(String, u32, u64, String, u64)>,
}

impl Audit {
    fn of(broker: &Broker, topics: &[&str]) -> Audit {
        let out = Command::new("python3")
            .args(["-c", TOPIC_AUDIT, &broker.servers(), &topics.join(",")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the audit (python3 with confluent-kafka) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Messages the topics hold, by their watermarks.
    fn stored(&self) -> u64 {
        self.watermarks.iter().map(|(_, _, lo, hi)| hi - lo).sum()
    }
}

/// The agent's `/metrics`, parsed.
fn scrape(addr: &str) -> Vec<(String, f64)> {
    logagent::telemetry::api::get(addr, "/metrics")
        .map(|(_, body)| logagent::telemetry::prometheus::parse(&body))
        .unwrap_or_default()
}

/// The first series of `name` for component `id` whose labels contain every
/// one of `labels` (`result="ok"`), if any.
fn metric(samples: &[(String, f64)], name: &str, id: &str, labels: &[&str]) -> Option<f64> {
    let prefix = format!("{name}{{");
    let component = format!("component_id=\"{id}\"");
    samples
        .iter()
        .find(|(k, _)| {
            k.starts_with(&prefix) && k.contains(&component) && labels.iter().all(|l| k.contains(l))
        })
        .map(|(_, v)| *v)
}

/// Resident memory of process `pid` in KiB (`VmRSS` in /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Polls the agent's `/metrics` every 50ms until source `id` is blocked on
/// its full output with `component_sent_events_total` unchanged for 3s;
/// returns that count and the last scrape.
fn wait_until_held(addr: &str, id: &str) -> (u64, Vec<(String, f64)>) {
    let mut last = (u64::MAX, std::time::Instant::now());
    let mut scraped = std::time::Instant::now() - Duration::from_secs(1);
    let mut samples = Vec::new();
    wait_until(
        Duration::from_secs(120),
        &format!("source {id} to stop reading"),
        || {
            if scraped.elapsed() < Duration::from_millis(50) {
                return false;
            }
            scraped = std::time::Instant::now();
            let m = scrape(addr);
            let now = metric(&m, "component_sent_events_total", id, &[]).unwrap_or(0.0) as u64;
            let blocked = metric(&m, "component_blocked", id, &[]) == Some(1.0);
            if now != last.0 || !blocked {
                last = (now, std::time::Instant::now());
            }
            samples = m;
            last.1.elapsed() >= Duration::from_secs(3)
        },
    );
    (last.0, samples)
}

/// The broker is killed (`kill -9`, its database kept) while the node agent
/// ships and the files keep growing; it comes back on the same port later.
///
/// Uncompressed 1KiB lines: tansu stores lz4 batches slowly and answers a
/// fetch with everything up to the partition's end (it ignores the fetch size
/// limits), so the volumes here are what it serves in seconds.
#[test]
fn a_broker_down_for_a_while_holds_the_sources_back_in_bounded_memory_then_everything_arrives() {
    let Some(mut broker) = Broker::start() else {
        return;
    };
    broker.create_topic("logs-api");
    broker.create_topic("logs-web");
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    // The smallest bounds: 64KiB handed to librdkafka, two batches of 64
    // events in each channel.
    const MAX_IN_FLIGHT: u64 = 64 << 10;
    const BATCH: u64 = 64;
    const PAD: usize = 1000;
    let pipeline = node_pipeline_with(
        dir.path(),
        &broker,
        "none",
        &format!(
            "max_in_flight_bytes = \"64KiB\"\n\
             [runtime]\nbatch_max_events = {BATCH}\nchannel_capacity = 2\nworkers = 1\n\
             [api]\naddress = \"{addr}\"\n"
        ),
    );
    let before = 500;
    append_padded(dir.path(), PODS, 0..before, PAD);
    let node = agent(&pipeline);
    let sink_ok = |m: &[(String, f64)]| {
        metric(m, "kafka_messages_total", "kafka", &["result=\"ok\""]).unwrap_or(0.0) as u64
    };
    let read = |m: &[(String, f64)]| {
        metric(m, "component_sent_events_total", "pods", &[]).unwrap_or(0.0) as u64
    };
    wait_until(
        Duration::from_secs(120),
        "the first lines in the broker",
        || sink_ok(&scrape(&addr)) > 0,
    );
    broker.kill();
    let rss_at_kill = rss_kib(node.id());

    // The files keep growing while the broker is down: 15,000 more lines
    // (16MB), far more than the pipeline may hold.
    let total = 5_500;
    for chunk in (before..total).step_by(1_000) {
        append_padded(dir.path(), PODS, chunk..(chunk + 1_000).min(total), PAD);
    }
    let written = (total * PODS.len()) as u64;
    let bytes_while_down: u64 = std::fs::read_dir(dir.path().join("in"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum::<u64>()
        * (total - before) as u64
        / total as u64;

    // Backpressure: the source ends up blocked on its full output and reads
    // no further.
    let (held_read, samples) = wait_until_held(&addr, "pods");
    let delivered = sink_ok(&samples);
    let in_flight = metric(&samples, "kafka_in_flight_bytes", "kafka", &[]).unwrap() as u64;
    let waits = metric(&samples, "kafka_backpressure_waits_total", "kafka", &[]).unwrap_or(0.0);
    let rss_held = rss_kib(node.id());
    eprintln!(
        "broker down: the source read {held_read} of {written} lines, {delivered} delivered, \
         {in_flight} bytes in flight, {waits} backpressure waits; RSS {rss_at_kill} KiB at the \
         kill, {rss_held} KiB with {bytes_while_down} bytes written since"
    );
    assert!(
        in_flight <= MAX_IN_FLIGHT,
        "in-flight bytes {in_flight} over max_in_flight_bytes"
    );
    assert!(waits >= 1.0, "the sink waited for room");
    // What the source read and the broker has not acknowledged is what the
    // bounds hold: in flight (each message over 1000 bytes) plus two batches
    // in each of the two channels and one in the hands of each component.
    let held = held_read - delivered;
    let bound = MAX_IN_FLIGHT / 1000 + BATCH * (2 * 2 + 3);
    assert!(
        held <= bound,
        "{held} lines read and not delivered, more than the bounds allow ({bound})"
    );
    assert!(
        written - held_read >= 10_000,
        "the rest waits on disk ({held_read} of {written} read)"
    );
    // Memory: nothing queues the backlog. The limit is what the process
    // needs plus far less than what was written meanwhile.
    let grown = rss_held.saturating_sub(rss_at_kill);
    assert!(
        grown * 1024 < bytes_while_down / 4,
        "RSS grew {grown} KiB while {bytes_while_down} bytes were written"
    );
    assert!(
        rss_held < 128 * 1024,
        "RSS {rss_held} KiB while the broker is down (limit 128MiB)"
    );

    // The broker comes back (same port, same database): everything arrives.
    broker.restart();
    wait_until(
        Duration::from_secs(300),
        "every line acknowledged by the broker",
        || sink_ok(&scrape(&addr)) >= written,
    );
    let m = scrape(&addr);
    assert_eq!(sink_ok(&m), written, "each line reported delivered once");
    assert_eq!(read(&m), written, "each line read once");
    let failed: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("kafka_messages_total{") && !k.contains("result=\"ok\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(failed, 0.0, "no delivery failed");
    assert_eq!(
        metric(&m, "component_discarded_events_total", "kafka", &[]).unwrap_or(0.0),
        0.0
    );

    // In the topics, seen by another client: every line exactly once. The
    // idempotent producer's retries of what was in flight at the kill carry
    // their sequence numbers, so the broker drops any it already had.
    let audit = Audit::of(&broker, &["logs-api", "logs-web"]);
    assert_eq!(audit.messages.len() as u64, audit.stored());
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    for (_, _, _, key, seq) in &audit.messages {
        *seen.entry((key.clone(), *seq)).or_default() += 1;
    }
    assert_eq!(seen.len() as u64, written, "nothing lost");
    let twice = seen.values().filter(|&&c| c > 1).count();
    assert_eq!(
        audit.stored(),
        written,
        "{twice} line(s) stored more than once"
    );
}

/// An aggregator: both topics into the Elasticsearch stand-in, with ids
/// derived from topic/partition/offset (as `pipelines/kafka-to-es.toml`).
/// `backoff` is its retry backoff.
fn es_aggregator_pipeline(
    dir: &Path,
    broker: &Broker,
    es: &fake_es::FakeEs,
    name: &str,
    backoff: &str,
) -> PathBuf {
    write_pipeline(
        dir,
        &format!("{name}.toml"),
        &format!(
            r#"data_dir = {data:?}
[sources.kafka]
type = "kafka"
bootstrap_servers = "{servers}"
group_id = "to-es"
topics = ["logs-api", "logs-web"]
commit_interval = "200ms"
session_timeout = "6s"
[sinks.es]
type = "elasticsearch"
inputs = ["kafka"]
endpoints = ["{url}"]
index = "kafka-logs"
idempotent_ids = true
action = "create"
max_events = 100
concurrency = 1
retry_initial_backoff = "{backoff}"
retry_max_backoff = "{backoff}"
"#,
            data = dir.join(format!("{name}-data")).display().to_string(),
            servers = broker.servers(),
            url = es.url(),
        ),
    )
}

/// The aggregator is killed (`kill -9`) right after a bulk request whose
/// documents Elasticsearch stored but whose answer it never got: those
/// messages were never acknowledged, so never committed, and the restarted
/// aggregator reads and sends them again. The ids derived from
/// topic/partition/offset make the second copies 409s.
#[test]
fn an_aggregator_killed_mid_bulk_re_sends_and_elasticsearch_keeps_each_message_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("logs-api");
    broker.create_topic("logs-web");
    let es = fake_es::FakeEs::start();
    let dir = tempfile::tempdir().unwrap();
    // Two halves: the first is shipped and committed, the second starts
    // after the fault is armed, so its first bulk request is the lost one.
    let n = 500;
    let total = 2 * n * PODS.len();
    write_input(dir.path(), PODS, n);
    let _node = agent(&node_pipeline(dir.path(), &broker, "gzip"));
    // A long backoff: after the lost answer the first aggregator waits
    // instead of retrying, and is killed waiting.
    let addr = format!("127.0.0.1:{}", free_port());
    let p = es_aggregator_pipeline(dir.path(), &broker, &es, "agg", "1h");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("{text}[api]\naddress = \"{addr}\"\n")).unwrap();
    let mut agg = agent(&p);
    // The first half in, with a committed prefix: that part is not read again.
    wait_until(
        Duration::from_secs(120),
        "the first half of the documents and a commit",
        || {
            es.doc_count() >= total / 2
                && metric(
                    &scrape(&addr),
                    "kafka_offset_commits_total",
                    "kafka",
                    &["result=\"ok\""],
                )
                .is_some_and(|c| c >= 1.0)
        },
    );
    let requests_at_fault = es.requests().len();
    es.fault([fake_es::Fault::DropAfter]);
    append_input(dir.path(), PODS, n..2 * n);
    wait_until(Duration::from_secs(60), "the answer to be lost", || {
        es.with(|s| s.faults.is_empty() && s.requests.len() > requests_at_fault)
    });
    agg.0.kill().unwrap(); // SIGKILL
    let killed = std::time::Instant::now();
    agg.0.wait().unwrap();
    let sent_before_kill = es.with(|s| s.attempts.len());
    after_session_expiry(killed);

    let _agg = agent(&es_aggregator_pipeline(
        dir.path(),
        &broker,
        &es,
        "agg2",
        "10ms",
    ));
    wait_until(
        Duration::from_secs(180),
        "every message in Elasticsearch",
        || es.doc_count() >= total,
    );
    // Each message exactly once, each document created once and never
    // overwritten, each from a distinct topic/partition/offset.
    let docs = es.all_docs();
    assert_eq!(docs.len(), total, "no duplicates");
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    let mut origins = std::collections::HashSet::new();
    for (_, _, version, d) in &docs {
        assert_eq!(*version, 1, "{d}");
        let pod = d["kubernetes"]["pod_name"].as_str().unwrap().to_owned();
        *seen.entry((pod, d["seq"].as_u64().unwrap())).or_default() += 1;
        let k = &d["kafka"];
        assert!(origins.insert((
            k["topic"].as_str().unwrap().to_owned(),
            k["partition"].as_u64().unwrap(),
            k["offset"].as_u64().unwrap()
        )));
    }
    assert_eq!(seen.len(), total, "nothing lost");
    // The raw request log: the documents of the lost answer (and any other
    // uncommitted tail) were sent twice.
    let attempts = es.with(|s| s.attempts.clone());
    assert_eq!(attempts.len(), total);
    let twice = attempts.values().filter(|&&a| a >= 2).count();
    let sent: usize = es.requests().iter().map(|r| r.items).sum();
    eprintln!(
        "kill -9 after {sent_before_kill} documents were sent: {twice} sent again, {sent} sent in all"
    );
    assert!(twice >= 1, "the unacknowledged bulk was sent again");
    assert!(
        twice < sent_before_kill,
        "only the uncommitted part of what the killed aggregator had sent comes twice"
    );
}

/// Elasticsearch answers 503 to everything for a while: the aggregator's
/// sink retries, its source stops taking messages and commits nothing; once
/// Elasticsearch is back every message lands exactly once.
#[test]
fn elasticsearch_down_holds_the_aggregator_back_without_commits_then_everything_lands_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("logs-api");
    broker.create_topic("logs-web");
    let es = fake_es::FakeEs::start();
    es.outage(Some(503));
    let dir = tempfile::tempdir().unwrap();
    let n = 1000;
    let total = n * PODS.len();
    write_input(dir.path(), PODS, n);
    let _node = agent(&node_pipeline(dir.path(), &broker, "zstd"));
    let addr = format!("127.0.0.1:{}", free_port());
    let p = es_aggregator_pipeline(dir.path(), &broker, &es, "agg", "10ms");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        format!(
            "{text}[runtime]\nbatch_max_events = 64\nchannel_capacity = 2\n\
             [api]\naddress = \"{addr}\"\n"
        ),
    )
    .unwrap();
    let _agg = agent(&p);
    let (held, m) = wait_until_held(&addr, "kafka");
    let commits = metric(
        &m,
        "kafka_offset_commits_total",
        "kafka",
        &["result=\"ok\""],
    );
    let refused = es.requests().len();
    eprintln!(
        "Elasticsearch down: the source passed on {held} of {total} messages; {refused} bulk requests refused"
    );
    assert!(held < total as u64, "the rest waits in Kafka");
    assert!(refused >= 2, "the sink kept retrying");
    assert_eq!(es.doc_count(), 0);
    assert!(
        commits.unwrap_or(0.0) == 0.0,
        "nothing acknowledged, nothing committed ({commits:?})"
    );

    es.outage(None);
    wait_until(
        Duration::from_secs(180),
        "every message in Elasticsearch",
        || es.doc_count() >= total,
    );
    let docs = es.all_docs();
    assert_eq!(docs.len(), total);
    let mut seen = std::collections::HashSet::new();
    for (_, _, version, d) in &docs {
        assert_eq!(*version, 1);
        let pod = d["kubernetes"]["pod_name"].as_str().unwrap().to_owned();
        assert!(seen.insert((pod, d["seq"].as_u64().unwrap())), "{d}");
    }
    wait_until(Duration::from_secs(60), "the offsets committed", || {
        metric(
            &scrape(&addr),
            "kafka_offset_commits_total",
            "kafka",
            &["result=\"ok\""],
        )
        .is_some_and(|c| c >= 1.0)
    });
}
