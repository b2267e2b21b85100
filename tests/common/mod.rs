//! Shared helpers for the integration tests: the built binary, polling with a
//! deadline (never a fixed sleep), and NDJSON comparison.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `logagent` binary cargo built for these tests.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logagent"));
    cmd.env_remove("LOGAGENT_PIPELINE")
        .env_remove("LOGAGENT_LOG")
        .env_remove("NODE_ENV")
        .env("NO_COLOR", "1");
    cmd
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads an NDJSON file into values, dropping `ignore` keys (host-dependent ones).
pub fn read_ndjson(path: &Path, ignore: &[&str]) -> Vec<serde_json::Value> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let text = String::from_utf8(text).expect("output is valid UTF-8");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad JSON line in {}: {e}: {l}", path.display()));
            if let Some(o) = v.as_object_mut() {
                for k in ignore {
                    o.remove(*k);
                }
            }
            v
        })
        .collect()
}

/// Writes a pipeline file into `dir` and returns its path.
pub fn write_pipeline(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pipeline");
    p
}

/// A port on 127.0.0.1 that was free a moment ago, for a test's API address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the agent if a test fails before stopping it.
pub struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Guard {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}
