//! What a run will need from the machine, checked before it starts: the
//! pure config check (`config::load`) cannot see a glob that matches nothing,
//! an include that names a directory, a `data_dir` or sink directory that
//! cannot be written, or a component whose output nobody reads. `logagent
//! validate` prints these (unless `--no-environment`) and the agent logs them
//! at start, so a pipeline that validates does not then fail or read nothing
//! in silence.
//!
//! Nothing here creates or writes anything: writability is judged with
//! `access(2)` on the path, or on its nearest existing ancestor when the
//! path is still to be created.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{PipelineConfig, SourceConfig};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The run would go on, but probably not as meant.
    Warning,
    /// The run would fail or lose data.
    Error,
}

/// One thing the run will need that the machine does not give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Warning or error.
    pub severity: Severity,
    /// The component (`sources.app`) or key (`data_dir`) concerned.
    pub subject: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{level}: {}: {}", self.subject, self.message)
    }
}

/// Every finding for `config`, warnings and errors, in config order.
pub fn check(config: &PipelineConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Err(message) = writable_dir(&config.data_dir) {
        findings.push(Finding {
            severity: Severity::Error,
            subject: "data_dir".into(),
            message: format!("{}: {message}", config.data_dir.display()),
        });
    }
    for source in &config.sources {
        if let SourceConfig::File(f) = &source.config {
            check_globs(&source.id, &f.include, &mut findings);
        }
    }
    for sink in &config.sinks {
        let Some(template) = sink.config.output_path() else {
            continue;
        };
        let dir = static_dir(template);
        if let Err(message) = writable_dir(&dir) {
            findings.push(Finding {
                severity: Severity::Error,
                subject: format!("sinks.{}", sink.id),
                message: format!("cannot write under {}: {message}", dir.display()),
            });
        }
    }
    unread_outputs(config, &mut findings);
    findings
}

/// A glob that matches nothing, or matches only directories (an `include`
/// naming a folder instead of the files in it).
fn check_globs(id: &str, include: &[String], findings: &mut Vec<Finding>) {
    for pattern in include {
        let matched: Vec<PathBuf> = match glob::glob(pattern) {
            Ok(paths) => paths.filter_map(Result::ok).take(1000).collect(),
            Err(_) => continue, // the config check reports a bad pattern
        };
        let message = if matched.is_empty() {
            format!(
                "no file matches {pattern:?} yet (it will be picked up when it appears; check the path)"
            )
        } else if matched.iter().all(|p| p.is_dir()) {
            let suggestion = Path::new(pattern).join("*.log");
            format!(
                "{pattern:?} matches only directories, which are not read (did you mean {:?}?)",
                suggestion.display().to_string()
            )
        } else {
            continue;
        };
        findings.push(Finding {
            severity: Severity::Warning,
            subject: format!("sources.{id}"),
            message,
        });
    }
}

/// Sources and transforms whose output nobody reads: their events are
/// dropped as soon as they are made.
fn unread_outputs(config: &PipelineConfig, findings: &mut Vec<Finding>) {
    let inputs: Vec<&str> = config
        .transforms
        .iter()
        .flat_map(|t| t.inputs.iter())
        .chain(config.sinks.iter().flat_map(|s| s.inputs.iter()))
        .map(String::as_str)
        .collect();
    let read = |id: &str| {
        inputs
            .iter()
            .any(|i| *i == id || i.strip_prefix(id).is_some_and(|r| r.starts_with('.')))
    };
    let producers = config
        .sources
        .iter()
        .map(|s| ("sources", &s.id))
        .chain(config.transforms.iter().map(|t| ("transforms", &t.id)));
    for (kind, id) in producers {
        if !read(id) {
            findings.push(Finding {
                severity: Severity::Warning,
                subject: format!("{kind}.{id}"),
                message: "nothing reads its output (no transform or sink lists it in `inputs`); its events are dropped".into(),
            });
        }
    }
}

/// The directory part of a sink's path template before anything that varies
/// (`/var/log/out/{{ service }}/%Y.log` → `/var/log/out`).
fn static_dir(template: &str) -> PathBuf {
    let cut = [template.find("{{"), template.find('%')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(template.len());
    let fixed = &template[..cut];
    // A template that varies inside its last component names a file there:
    // the directory is what comes before that component.
    match fixed.rfind('/') {
        Some(0) => PathBuf::from("/"),
        Some(i) => PathBuf::from(&fixed[..i]),
        None => PathBuf::from("."),
    }
}

/// `Ok` when `dir` is a writable directory, or can be created: its nearest
/// existing ancestor is a writable directory.
fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut probe = dir;
    loop {
        match std::fs::metadata(probe) {
            Ok(m) if m.is_dir() => {
                return rustix::fs::access(probe, rustix::fs::Access::WRITE_OK).map_err(|e| {
                    if probe == dir {
                        format!("not writable ({e})")
                    } else {
                        format!(
                            "cannot be created: {} is not writable ({e})",
                            probe.display()
                        )
                    }
                });
            }
            Ok(_) => {
                return Err(if probe == dir {
                    "not a directory".to_owned()
                } else {
                    format!("cannot be created: {} is not a directory", probe.display())
                });
            }
            Err(_) => match probe.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => probe = parent,
                _ => return Ok(()), // relative to a working directory that exists
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> PipelineConfig {
        crate::config::load_texts(&[(PathBuf::from("p.toml"), text.to_owned())], |_| None).unwrap()
    }

    #[test]
    fn finds_empty_globs_directories_unwritable_dirs_and_unread_outputs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().display().to_string();
        std::fs::create_dir(d.path().join("logs")).unwrap();
        std::fs::write(d.path().join("blocker"), "a file").unwrap();
        let c = config(&format!(
            r#"data_dir = "{root}/blocker/data"
[sources.none]
type = "file"
include = ["{root}/nothing/*.log"]
[sources.dir]
type = "file"
include = ["{root}/logs"]
[transforms.orphan]
type = "filter_level"
inputs = ["none"]
min_level = "info"
[sinks.out]
type = "file"
inputs = ["dir"]
path = "{root}/blocker/out/{{{{ service }}}}.ndjson"
"#
        ));
        let found: Vec<String> = check(&c).iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("error: data_dir: ") && found[0].contains("not a directory"));
        assert!(found[1].starts_with("warning: sources.none: no file matches"));
        assert!(
            found[2].starts_with("warning: sources.dir: ") && found[2].contains("only directories")
        );
        assert!(found[3].starts_with("error: sinks.out: cannot write under"));
        assert!(found[4].starts_with("warning: transforms.orphan: nothing reads its output"));
    }

    #[test]
    fn a_healthy_pipeline_has_no_findings() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().display().to_string();
        std::fs::write(d.path().join("a.log"), "x\n").unwrap();
        let c = config(&format!(
            r#"data_dir = "{root}/data"
[sources.app]
type = "file"
include = ["{root}/*.log"]
[transforms.route]
type = "route"
inputs = ["app"]
routes = {{ errors = {{ min_level = "error" }} }}
[sinks.out]
type = "file"
inputs = ["route.errors", "route"]
path = "{root}/out/%Y-%m-%d.ndjson"
durability = "at_least_once"
"#
        ));
        let found = check(&c);
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn the_static_directory_of_a_template() {
        assert_eq!(
            static_dir("/var/out/{{ s }}/x.log"),
            PathBuf::from("/var/out")
        );
        assert_eq!(static_dir("/var/out/app-%Y.log"), PathBuf::from("/var/out"));
        assert_eq!(static_dir("/var/out/app.log"), PathBuf::from("/var/out"));
        assert_eq!(static_dir("out.log"), PathBuf::from("."));
        assert_eq!(static_dir("/x.log"), PathBuf::from("/"));
    }
}
