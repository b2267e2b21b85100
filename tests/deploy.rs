//! The deployment files under `deploy/` (and the Dockerfile) are checked:
//! manifests parse and carry what running on nodes needs, and the pipelines
//! they mount pass `logagent validate` and `logagent test`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{bin, repo};
use serde::Deserialize;
use serde_yaml::Value;

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// Writes a ConfigMap's pipeline to a file and runs `validate` and `test` on it.
fn check_pipeline(config_map: &Value, key: &str) -> String {
    let text = str_of(&config_map["data"][key]).to_owned();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(key);
    std::fs::write(&p, &text).unwrap();
    let out = bin()
        .args(["validate", "--no-environment"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin().arg("test").arg(&p).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{key}: {stdout}");
    assert!(
        stdout.contains(" passed, 0 failed") && !stdout.contains(" 0 passed"),
        "{stdout}"
    );
    text
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn duration_arg(args: &[String], flag: &str) -> u64 {
    let v = args
        .iter()
        .find_map(|a| a.strip_prefix(&format!("{flag}=")))
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    v.trim_end_matches('s').parse().unwrap()
}

fn check_agent_container(c: &Value, pod: &Value) -> Vec<String> {
    let args: Vec<String> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| str_of(a).to_owned())
        .collect();
    assert!(
        args.iter().any(|a| a == "--watch"),
        "reload on ConfigMap edits"
    );
    let drain = duration_arg(&args, "--drain-timeout");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > drain,
        "grace {grace}s must exceed the drain timeout {drain}s"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    for k in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(!c["resources"][k][r].is_null(), "resources.{k}.{r}");
        }
    }
    assert_eq!(c["ports"][0]["containerPort"], 8686);
    args
}

#[test]
fn daemonset_runs_on_every_node_with_probes_state_and_config() {
    let dir = repo().join("deploy/kubernetes");
    let docs: Vec<Value> = ["configmap.yaml", "daemonset.yaml"]
        .iter()
        .flat_map(|f| documents(&dir.join(f)))
        .collect();
    let ds = kind(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = container(pod, "logagent");
    let args = check_agent_container(c, pod);
    assert!(
        args.iter()
            .any(|a| a == "--pipeline=/etc/logagent/pipeline.toml")
    );
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    let volumes = pod["volumes"].as_sequence().unwrap();
    let volume = |mount_path: &str| {
        let m = mounts
            .iter()
            .find(|m| m["mountPath"] == mount_path)
            .unwrap_or_else(|| panic!("nothing mounted at {mount_path}"));
        let v = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap_or_else(|| panic!("no volume {:?}", m["name"]));
        (m.clone(), v.clone())
    };
    let (m, v) = volume("/var/log");
    assert_eq!(m["readOnly"], true, "/var/log is read-only");
    assert_eq!(v["hostPath"]["path"], "/var/log");
    let (m, v) = volume("/etc/logagent");
    assert_eq!(m["readOnly"], true);
    let cm_name = str_of(&v["configMap"]["name"]);
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == cm_name)
        .expect("the mounted ConfigMap is in deploy/kubernetes");
    let pipeline = check_pipeline(cm, "pipeline.toml");
    // The pipeline's data_dir is the hostPath volume, so checkpoints and the disk
    // buffer survive the pod.
    let (_, v) = volume("/var/lib/logagent");
    assert_eq!(v["hostPath"]["path"], "/var/lib/logagent");
    assert!(pipeline.contains("data_dir = \"/var/lib/logagent\""));
    assert!(
        pipeline.contains("address = \"0.0.0.0:8686\""),
        "probes reach the API"
    );
    // kubernetes_metadata: the node's name from the downward API, a service
    // account that may read pods and namespaces, bound to it.
    assert!(pipeline.contains("type = \"kubernetes_metadata\""));
    let env = c["env"].as_sequence().unwrap();
    let node = env
        .iter()
        .find(|e| e["name"] == "NODE_NAME")
        .expect("NODE_NAME");
    assert_eq!(node["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
    let account = str_of(&pod["serviceAccountName"]);
    assert_eq!(kind(&docs, "ServiceAccount")["metadata"]["name"], account);
    let role = kind(&docs, "ClusterRole");
    let rules = role["rules"].as_sequence().unwrap();
    for resource in ["pods", "namespaces"] {
        for verb in ["get", "list", "watch"] {
            assert!(
                rules.iter().any(|r| {
                    let has = |k: &str, v: &str| r[k].as_sequence().unwrap().iter().any(|x| x == v);
                    has("apiGroups", "") && has("resources", resource) && has("verbs", verb)
                }),
                "the ClusterRole grants {verb} on {resource}"
            );
        }
    }
    let binding = kind(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    let subject = &binding["subjects"][0];
    assert_eq!(subject["kind"], "ServiceAccount");
    assert_eq!(subject["name"], account);
}

#[test]
fn kafka_aggregator_deployment_consumes_as_one_group_with_probes_and_config() {
    let docs = documents(&repo().join("deploy/kubernetes/aggregator.yaml"));
    let d = kind(&docs, "Deployment");
    assert!(
        d["spec"]["replicas"].as_u64().unwrap() >= 2,
        "a group to share partitions"
    );
    let pod = &d["spec"]["template"]["spec"];
    let c = container(pod, "logagent");
    check_agent_container(c, pod);
    let cm = kind(&docs, "ConfigMap");
    let pipeline = check_pipeline(cm, "pipeline.toml");
    assert!(pipeline.contains("type = \"kafka\"") && pipeline.contains("group_id"));
    assert!(
        pipeline.contains("type = \"elasticsearch\"") && pipeline.contains("idempotent_ids = true")
    );
    assert!(
        pipeline.contains("address = \"0.0.0.0:8686\""),
        "probes reach the API"
    );
    assert_eq!(
        kind(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"],
        1
    );
}

#[test]
fn sidecar_shares_an_empty_dir_with_the_app() {
    let docs = documents(&repo().join("deploy/kubernetes/sidecar.yaml"));
    let pod = &kind(&docs, "Deployment")["spec"]["template"]["spec"];
    let agent = container(pod, "logagent");
    check_agent_container(agent, pod);
    let app = container(pod, "app");
    let logs = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| !v["emptyDir"].is_null() && v["name"] == "logs")
        .expect("an emptyDir for the logs");
    let mounted = |c: &Value| {
        c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"] == logs["name"])
            .map(|m| str_of(&m["mountPath"]).to_owned())
    };
    assert_eq!(mounted(app), mounted(agent), "both see the same directory");
    let pipeline = check_pipeline(kind(&docs, "ConfigMap"), "pipeline.toml");
    assert!(pipeline.contains(&format!("\"{}/*.log\"", mounted(agent).unwrap())));
}

#[test]
fn maintenance_cronjob_parses() {
    let docs = documents(&repo().join("deploy/kubernetes/maintenance-cronjob.yaml"));
    assert!(docs.iter().any(|d| d["kind"] == "CronJob"));
}

#[test]
fn systemd_unit_reloads_with_sighup_and_outwaits_the_drain() {
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/logagent.service")).unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}="))
    };
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value("KillSignal"), "SIGTERM");
    let stop: u64 = value("TimeoutStopSec").parse().unwrap();
    let drain: u64 = value("ExecStart")
        .split_whitespace()
        .skip_while(|w| *w != "--drain-timeout")
        .nth(1)
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(stop > drain);
    assert!(value("ExecStart").starts_with("/usr/local/bin/logagent"));
}

#[test]
fn dockerfile_is_multi_stage() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "{froms:?}");
    assert!(text.contains("COPY --from=build"));
    assert!(text.contains("EXPOSE 8686"));
}

#[test]
fn grafana_dashboard_queries_metrics_the_agent_exports() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/logagent.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 5);
    let exported = [
        "component_received_events_total",
        "component_sent_events_total",
        "component_sent_bytes_total",
        "component_discarded_events_total",
        "component_errors_total",
        "component_buffer_batches",
        "component_buffer_events",
        "component_buffer_max_batches",
        "component_batch_duration_seconds_bucket",
        "buffer_events",
        "buffer_byte_size",
        "buffer_max_byte_size",
        "elasticsearch_requests_total",
        "elasticsearch_retries_total",
        "loki_retries_total",
        "source_read_lag_bytes",
        "source_checkpoint_age_seconds",
        "source_open_files",
    ];
    let mut titles = Vec::new();
    for p in panels {
        titles.push(p["title"].as_str().unwrap().to_lowercase());
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.contains('_') && !w.starts_with("component_id"))
                .filter(|w| exported.contains(w) || w.starts_with("logagent_"))
                .collect();
            assert!(!names.is_empty(), "panel {:?} queries {expr}", p["title"]);
        }
    }
    for topic in ["throughput", "discarded", "lag", "buffer", "error"] {
        assert!(
            titles.iter().any(|t| t.contains(topic)),
            "{topic}: {titles:?}"
        );
    }
}
