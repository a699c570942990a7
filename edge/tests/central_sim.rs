//! `wms-edge central-sim` as an integrator runs it: the binary as a child process on a port the OS
//! picks, a real node configured with the `[central]` section the simulator printed, events that
//! reach it, a clean stop on SIGTERM, and a restart on the same `--db` file that still knows
//! which events it applied.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_sync::wire::EventStatus;
use wms_sync::{CentralClient, Credentials};

const SITE: &str = "wh-sim-cli";
const ADMIN: &str = "central-sim-test-admin";
const DEADLINE: Duration = Duration::from_secs(30);

/// A running `wms-edge central-sim` and what it printed.
struct Sim {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// The printed `[central]` section, parsed.
    central: toml::Table,
    /// The printed section as text (pasted into the node's config).
    section: String,
}

fn spawn_sim(db: &Path) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wms-edge"))
        .args([
            "central-sim",
            "--listen",
            "127.0.0.1:0",
            "--site",
            SITE,
            "--api-key",
            "cli-key",
            "--signing-secret",
            "cli \"quoted\" secret",
            "--db",
        ])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn wms-edge central-sim");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + DEADLINE;
    let mut section = String::new();
    let mut listening = false;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("central-sim did not print its [central] section in time");
        if line.starts_with("central simulator listening on http://127.0.0.1:") {
            listening = true;
        }
        if line == "[central]" || !section.is_empty() {
            section.push_str(&line);
            section.push('\n');
        }
        if line.starts_with("signing_secret") {
            break;
        }
    }
    assert!(listening, "no 'listening on' line before the section");
    let parsed: toml::Table = toml::from_str(&section).expect("the printed section is TOML");
    let central = parsed["central"].as_table().expect("[central]").clone();
    Sim {
        child,
        lines,
        central,
        section,
    }
}

impl Sim {
    /// `http://host:port` of the simulator (its URL without `/v2`).
    fn http_base(&self) -> String {
        let url = self.central["url"].as_str().expect("url");
        url.strip_suffix("/v2")
            .expect("url ends in /v2")
            .to_string()
    }

    fn credentials(&self) -> Credentials {
        let s = |k: &str| self.central[k].as_str().expect(k).to_string();
        Credentials {
            central_url: s("url"),
            site_id: SITE.into(),
            api_key: s("api_key"),
            signing_secret: s("signing_secret").into_bytes(),
        }
    }

    /// SIGTERM, then wait (with a deadline) for a clean exit and its last line.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let s = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(s.success());
        let end = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            assert!(Instant::now() < end, "central-sim ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "exit status {status}");
        let rest: Vec<String> = self.lines.try_iter().collect();
        assert!(
            rest.iter().any(|l| l == "central simulator stopped"),
            "{rest:?}"
        );
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(http: &Client, base: &str, method: reqwest::Method, path: &str, body: Value) {
    let r = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_sim_runs_alone_an_edge_drains_into_it_and_a_restart_keeps_dedupe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("central.db");
    let sim = spawn_sim(&db);

    // A real node whose [central] section is exactly what the simulator printed.
    let text = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n[log]\nlevel = \"warn\"\n{}",
        dir.path().join("data").display(),
        sim.section
    );
    let cfg = wms_edge::config::parse("edge.toml", &text).expect("the pasted config is valid");
    let node_db = cfg.db_path();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel();
    let node = tokio::spawn(async move {
        wms_edge::node::serve(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        )
        .await
    });
    let base = format!("http://{}", addr_rx.await.expect("node listening"));
    let http = Client::new();
    use reqwest::Method;
    send(
        &http,
        &base,
        Method::PUT,
        "/v1/products/acme/SKU-1",
        json!({"name": "one"}),
    )
    .await;
    send(
        &http,
        &base,
        Method::PUT,
        "/v1/locations/A-01",
        json!({"pick_sequence": 1}),
    )
    .await;
    for delta in [5, -2] {
        send(
            &http,
            &base,
            Method::POST,
            "/v1/inventory/adjustments",
            json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": delta, "reason": "received"}),
        )
        .await;
    }
    let status = || async {
        http.get(format!("{base}/v1/sync/status"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("status")
            .json::<Value>()
            .await
            .expect("json")
    };
    let drained = eventually(DEADLINE, || async {
        let s = status().await;
        s["state"] == "online" && s["queue_depth"] == 0 && s["acked_through"].as_u64() >= Some(2)
    })
    .await;
    assert!(
        drained,
        "the node did not drain into central-sim: {}",
        status().await
    );
    let acked = status().await["acked_through"].as_u64().expect("acked");
    // Changes typed in by hand reach the node through the feed.
    let r = http
        .post(format!("{}/sim/changes", sim.http_base()))
        .bearer_auth("cli-key")
        .json(&json!({"changes": [{"type": "location.upsert",
            "object": {"code": "B-07-1", "zone": "B", "pick_sequence": 71, "kind": "pick", "version": 1}}]}))
        .send()
        .await
        .expect("post a change");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let pulled = eventually(DEADLINE, || async {
        http.get(format!("{base}/v1/locations/B-07-1"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(
        pulled,
        "the node never pulled the change sent to /sim/changes"
    );
    let _ = stop_tx.send(());
    tokio::time::timeout(DEADLINE, node)
        .await
        .expect("node stops")
        .expect("join")
        .expect("serve");

    sim.terminate();

    // Restarted on the same file: the node's first event is a duplicate, the mark is kept.
    let sim = spawn_sim(&db);
    let client = CentralClient::new(sim.credentials()).expect("client");
    let status = client.site_status(DEADLINE).await.expect("site status");
    assert_eq!(status.acked_through, acked);
    let body: String = rusqlite::Connection::open(&node_db)
        .expect("node db")
        .query_row("SELECT body FROM outbox WHERE seq = 1", [], |r| r.get(0))
        .expect("first event");
    let batch = format!("{{\"events\":[{body}]}}");
    let r = client
        .push(batch.into(), DEADLINE)
        .await
        .expect("resend the first event");
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].status, EventStatus::Duplicate);
    sim.terminate();
}
