//! Exactly once upstream across SIGKILL: a real `wms-edge run` pushes to the fault-injecting
//! central simulator (running in this test process) while adjustments pour in, and is killed with
//! SIGKILL in the middle of pushing, `WMS_KILL9_TRIALS` times (default 4), then restarted. At the
//! end every event the node committed is applied at the central exactly once, ids are gap-free,
//! per-aggregate order is kept, and the central's stock per (tenant, sku, location, lot) equals the
//! edge's.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::{put, spawn};
use rand::Rng;
use serde_json::json;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

const SITE: &str = "wh-k9s";
const KEY: &str = "sync-kill9-admin-key";
const DEADLINE: Duration = Duration::from_secs(90);

fn write_config(dir: &Path, central: &str) -> PathBuf {
    let extra = format!(
        "[log]\nlevel = \"error\"\n\
         [central]\nurl = \"{central}\"\napi_key = \"test-key\"\nsigning_secret = \"test-signing-secret\"\n\
         retry_base_ms = 5\nretry_cap_ms = 100\nrequest_timeout_ms = 300\n"
    );
    common::write_config(dir, SITE, KEY, &extra)
}

/// Highest seq, pending count and on-hand per sku, read from the database file.
type StockKey = (String, String, String, String);

/// Highest seq ever assigned (the counter, not the rows: delivered rows may be pruned), events
/// not yet done, and on-hand per (tenant, sku, location, lot) without the zero rows.
async fn local_state(db: PathBuf) -> (u64, i64, HashMap<StockKey, i64>) {
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(db).expect("db");
        c.busy_timeout(Duration::from_secs(5)).expect("busy");
        let highest: i64 = c
            .query_row(
                "SELECT coalesce((SELECT value FROM counters WHERE name = 'outbox_seq'), 0)",
                [],
                |r| r.get(0),
            )
            .expect("counter");
        let pending: i64 = c
            .query_row(
                "SELECT count(*) FROM outbox WHERE state <> 'done'",
                [],
                |r| r.get(0),
            )
            .expect("pending");
        let mut st = c
            .prepare("SELECT tenant_id, sku, location, lot, on_hand FROM stock WHERE on_hand <> 0")
            .expect("prep");
        let stock = st
            .query_map([], |r| {
                Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?))
            })
            .expect("q")
            .collect::<Result<HashMap<StockKey, i64>, _>>()
            .expect("rows");
        (highest as u64, pending, stock)
    })
    .await
    .expect("read task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_upstream_across_sigkill() {
    let trials: usize = std::env::var("WMS_KILL9_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut sim_cfg = SimConfig::new(SITE);
    sim_cfg.faults = Faults::chaos(0.03, Duration::from_millis(400));
    sim_cfg.seed = 99;
    let sim = CentralSim::start(sim_cfg).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim.url());
    let db = dir.path().join("data").join("wms-edge.db");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let skus = ["SKU-1", "SKU-2", "SKU-3"];

    let mut edge = spawn(&config);
    for sku in skus {
        put(
            &http,
            &edge.base,
            KEY,
            &format!("/v1/products/acme/{sku}"),
            json!({"name": sku}),
        )
        .await;
    }
    put(&http, &edge.base, KEY, "/v1/locations/A-01", json!({})).await;

    let mut rng = rand::rng();
    let mut kills_mid_push = 0;
    for trial in 0..trials {
        let mut clients = Vec::new();
        for c in 0..4usize {
            let http = http.clone();
            let base = edge.base.clone();
            clients.push(tokio::spawn(async move {
                for i in 0..100_000usize {
                    let sku = skus[(c + i) % skus.len()];
                    let body = json!({"tenant_id": "acme", "sku": sku, "location": "A-01", "delta": 1,
                                      "note": format!("t{trial}-c{c}-{i}")});
                    let r = http
                        .post(format!("{base}/v1/inventory/adjustments"))
                        .bearer_auth(KEY)
                        .json(&body)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == reqwest::StatusCode::CREATED => {}
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => return, // the node is gone
                    }
                }
            }));
        }
        // Kill only once this run has pushed, at a random point after that.
        let before = sim.stats().requests;
        let end = tokio::time::Instant::now() + DEADLINE;
        while sim.stats().requests <= before + 2 {
            assert!(tokio::time::Instant::now() < end, "the node never pushed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..400))).await;
        let pushes_before_kill = sim.stats().requests;
        edge.child.kill().expect("SIGKILL");
        let _ = edge.child.wait();
        if pushes_before_kill > before {
            kills_mid_push += 1;
        }
        for c in clients {
            c.await.expect("client task");
        }
        edge = spawn(&config);
    }
    assert_eq!(kills_mid_push, trials);

    // The last node drains everything.
    let end = tokio::time::Instant::now() + DEADLINE;
    let (highest, stock) = loop {
        let (highest, pending, stock) = local_state(db.clone()).await;
        if pending == 0 && sim.acked_through() >= highest {
            break (highest, stock);
        }
        assert!(
            tokio::time::Instant::now() < end,
            "not drained: highest {highest}, pending {pending}, central acked {}",
            sim.acked_through()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let applied = sim.applied();
    let ids: HashSet<&str> = applied.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), applied.len(), "an event was applied twice");
    let mut seqs: Vec<u64> = applied.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs.len() as u64, highest);
    assert_eq!(
        seqs,
        (1..=highest).collect::<Vec<_>>(),
        "ids are not gap-free"
    );
    assert_eq!(sim.stats().order_violations, 0);
    let central: HashMap<StockKey, i64> = sim
        .stock()
        .into_iter()
        .filter(|s| s.on_hand != 0)
        .map(|s| ((s.tenant_id, s.sku, s.location, s.lot), s.on_hand))
        .collect();
    assert!(!central.is_empty(), "the central booked no stock");
    assert_eq!(central, stock, "central stock differs from the edge's");
    let faults: u64 = sim.stats().faults.values().sum();
    println!(
        "{trials} kills, {highest} events, {} duplicates answered, {faults} faults injected",
        sim.stats().duplicates
    );
    let _ = edge.child.kill();
    let _ = edge.child.wait();
    sim.shutdown().await;
}
