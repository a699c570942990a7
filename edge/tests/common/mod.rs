//! Helpers shared by the tests that run `wms-edge run` as a child process (and kill it).
#![allow(dead_code)]

pub mod events;
pub mod till;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `wms-edge run` child and the base URL it reported.
pub struct Edge {
    pub child: Child,
    pub base: String,
}

impl Drop for Edge {
    /// A failing test must not leave its node running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `edge.toml` in `dir` for a site with one admin key, a loopback port chosen by the OS,
/// the data dir under `dir/data`, and `extra` TOML appended.
pub fn write_config(dir: &Path, site: &str, key: &str, extra: &str) -> PathBuf {
    let path = dir.join("edge.toml");
    let text = format!(
        "[site]\nid = \"{site}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{key}\"\n{extra}",
        dir.join("data").display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// Start the binary and wait (with a deadline) for the line that names its address.
pub fn spawn(config: &Path) -> Edge {
    spawn_child(config, Stdio::inherit(), &[])
}

/// [`spawn`] with the node's log (stderr) going to `log`, e.g. a file a test searches.
pub fn spawn_with_log(config: &Path, log: impl Into<Stdio>) -> Edge {
    spawn_child(config, log, &[])
}

/// [`spawn`] with extra environment variables (crash-test hooks).
pub fn spawn_with_env(config: &Path, env: &[(&str, &str)]) -> Edge {
    let env: Vec<(&str, &std::ffi::OsStr)> = env
        .iter()
        .map(|(k, v)| (*k, std::ffi::OsStr::new(*v)))
        .collect();
    spawn_child(config, Stdio::inherit(), &env)
}

/// [`spawn_with_log`] with extra environment variables (the service manager's, say).
pub fn spawn_with_log_env(
    config: &Path,
    log: impl Into<Stdio>,
    env: &[(&str, &std::ffi::OsStr)],
) -> Edge {
    spawn_child(config, log, env)
}

fn spawn_child(config: &Path, log: impl Into<Stdio>, env: &[(&str, &std::ffi::OsStr)]) -> Edge {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wms-edge"));
    cmd.args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn wms-edge");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("wms-edge listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("wms-edge did not report its address within 30 s");
    Edge { child, base }
}

/// PUT a JSON body with the admin key and require success.
pub async fn put(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: serde_json::Value,
) {
    let s = http
        .put(format!("{base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("put")
        .status();
    assert!(s.is_success(), "{path}: {s}");
}
