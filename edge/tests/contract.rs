//! The OpenAPI document against the API it describes, tried as an integrator would: schemathesis
//! (pinned in `tests/contract/requirements.txt`, installed by `.ci/setup-schemathesis`) runs every
//! check it has (`--checks all`) against a real node — `wms-edge demo`, seeded with the sample
//! catalog, stock, orders, devices and a register — with API keys of every role
//! (`tests/contract/roles.py` draws one for each request). Zero failures; the deliberate exceptions
//! and the bounds on the run are in `tests/contract/schemathesis.toml`, each with its reason.
//!
//! The node is a debug build, so an answer whose status its operation does not list is itself
//! turned into a 500 (`api::contract`), which schemathesis reports.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wms_edge::domain::role::Role;

const START_DEADLINE: Duration = Duration::from_secs(120);

/// Stops the demo node whatever the test's outcome.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn contract_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract")
}

/// Starts `wms-edge demo` on a port of the OS's choosing; its URL and admin key once it serves.
fn start_demo(dir: &Path) -> (Demo, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wms-edge"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wms-edge demo");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + START_DEADLINE;
    let (mut url, mut key) = (None, None);
    while url.is_none() || key.is_none() {
        let line = rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .expect("the demo printed its URL and key in time");
        let t = line.trim();
        if let Some(v) = t.strip_prefix("url:") {
            url = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("admin key:") {
            key = Some(v.trim().to_string());
        }
    }
    // Keep draining the banner so the demo never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (demo, url.unwrap_or_default(), key.unwrap_or_default())
}

/// A new API key of `role`, made by `wms-edge keys create` in the running demo's data dir.
fn create_key(config: &Path, role: Role) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wms-edge"))
        .args(["keys", "create", "--role", role.as_str(), "--name"])
        .arg(format!("contract-{}", role.as_str()))
        .arg("--config")
        .arg(config)
        .output()
        .expect("run wms-edge keys create");
    assert!(
        out.status.success(),
        "keys create {}: {}",
        role.as_str(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// How many operations schemathesis's summary says it tested (`Tested: 70`).
fn tested(summary: &str) -> Option<u64> {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested:")?.trim().parse().ok())
}

/// How many test cases it generated (`3154 generated, …`).
fn generated(summary: &str) -> Option<u64> {
    summary.lines().find_map(|l| {
        let (n, _) = l.trim().split_once(" generated")?;
        n.trim().parse().ok()
    })
}

/// How many failures its closing line counts (`== 2 failures, 1 warning in 97.76s ==`).
fn failures(summary: &str) -> u64 {
    let last = summary
        .lines()
        .rev()
        .find(|l| l.contains(" in "))
        .unwrap_or("");
    last.trim_matches(|c| c == '=' || c == ' ')
        .split(", ")
        .find_map(|part| {
            let (n, what) = part.split_once(' ')?;
            what.starts_with("failure").then(|| n.parse().ok())?
        })
        .unwrap_or(0)
}

#[test]
fn schemathesis_finds_no_difference_between_the_document_and_the_api() {
    let st = contract_dir().join(".venv/bin/schemathesis");
    if !st.is_file() {
        wms_test_support::outside::missing(
            "schemathesis (pinned in edge/tests/contract/requirements.txt)",
            ".ci/setup-schemathesis",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_demo, url, admin) = start_demo(dir.path());
    let config = dir.path().join("edge.toml");
    // The admin key twice: most operations need a supervisor or an admin to get past 403.
    let mut keys = vec![admin.clone(), admin];
    keys.extend(Role::ALL.iter().map(|r| create_key(&config, *r)));

    let report = dir.path().join("junit.xml");
    let started = Instant::now();
    let out = Command::new(&st)
        .arg("--config-file")
        .arg(contract_dir().join("schemathesis.toml"))
        .args(["run", "--checks", "all", "--report", "junit"])
        .arg("--report-junit-path")
        .arg(&report)
        .arg(format!("{url}/v1/openapi.json"))
        .env("WMS_CONTRACT_KEYS", keys.join(" "))
        .env("SCHEMATHESIS_HOOKS", contract_dir().join("roles.py"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.rsplit_once("SUMMARY").map(|(_, s)| s).unwrap_or(&text);
    let line = format!(
        "schemathesis --checks all: {} operations tested, {} test cases, {} failures, in {:.0} s",
        tested(summary).unwrap_or(0),
        generated(summary).unwrap_or(0),
        failures(summary),
        took.as_secs_f64()
    );
    // Past cargo's capture: the figure is reported in BENCHMARKS.md.
    let _ = writeln!(std::io::stderr().lock(), "\n{line}\n");
    assert!(
        out.status.success(),
        "{line}\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tested(summary).is_some_and(|n| n >= 60),
        "too few operations tested:\n{summary}"
    );
}
