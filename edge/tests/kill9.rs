//! Invariant 1 (nothing committed is lost) against a real process: `wms-edge run` is sent SIGKILL
//! in the middle of a burst of concurrent adjustments, many times. After each kill the database
//! must hold every adjustment that was acknowledged with 201, and every other one either whole
//! (ledger + stock + outbox + audit) or not at all. Trials: `WMS_KILL9_TRIALS` (default 8).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{put, spawn};
use rand::Rng;
use serde_json::json;

const KEY: &str = "kill9-admin-key-123";

fn write_config(dir: &Path) -> PathBuf {
    common::write_config(dir, "wh-k9", KEY, "[log]\nlevel = \"warn\"\n")
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> Option<reqwest::StatusCode> {
    http.post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

struct Check {
    ledger_notes: Vec<String>,
    outbox_seqs: Vec<i64>,
    adjusted_events: i64,
    ledger_rows: i64,
    ledger_with_event: i64,
    audit_adjustments: i64,
    stock_matches_ledger: bool,
    integrity: String,
}

fn inspect(db: &Path) -> Check {
    let c = rusqlite::Connection::open(db).expect("open db after kill");
    let notes = {
        let mut st = c
            .prepare("SELECT note FROM ledger WHERE note IS NOT NULL")
            .expect("prep");
        st.query_map([], |r| r.get(0))
            .expect("q")
            .collect::<Result<Vec<String>, _>>()
            .expect("rows")
    };
    let seqs = {
        let mut st = c
            .prepare("SELECT seq FROM outbox ORDER BY seq")
            .expect("prep");
        st.query_map([], |r| r.get(0))
            .expect("q")
            .collect::<Result<Vec<i64>, _>>()
            .expect("rows")
    };
    let one = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let mismatched = one(
        "SELECT count(*) FROM stock s WHERE s.on_hand <> (SELECT coalesce(sum(delta), 0) FROM ledger l
           WHERE l.tenant_id = s.tenant_id AND l.sku = s.sku AND l.location = s.location AND l.lot = s.lot)",
    );
    Check {
        ledger_notes: notes,
        outbox_seqs: seqs,
        adjusted_events: one("SELECT count(*) FROM outbox WHERE type = 'inventory.adjusted'"),
        ledger_rows: one("SELECT count(*) FROM ledger"),
        ledger_with_event: one("SELECT count(*) FROM ledger l JOIN outbox o ON o.seq = l.event_seq AND o.type = 'inventory.adjusted'"),
        audit_adjustments: one("SELECT count(*) FROM audit WHERE action LIKE 'inventory.%'"),
        stock_matches_ledger: mismatched == 0,
        integrity: c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_committed_is_lost_across_sigkill() {
    let trials: usize = std::env::var("WMS_KILL9_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let db = dir.path().join("data").join("wms-edge.db");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let mut edge = spawn(&config);
    put(
        &http,
        &edge.base,
        KEY,
        "/v1/products/acme/SKU-1",
        json!({"name": "Shirt"}),
    )
    .await;
    put(&http, &edge.base, KEY, "/v1/locations/A-01", json!({})).await;

    let mut acked_total: HashSet<String> = HashSet::new();
    let mut attempted_total: HashSet<String> = HashSet::new();
    let mut rng = rand::rng();
    for trial in 0..trials {
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let attempted = Arc::new(Mutex::new(Vec::<String>::new()));
        let kill_after = rng.random_range(10..120usize);
        let mut clients = Vec::new();
        for client in 0..8 {
            let http = http.clone();
            let base = edge.base.clone();
            let acked = acked.clone();
            let attempted = attempted.clone();
            clients.push(tokio::spawn(async move {
                for i in 0..10_000 {
                    let note = format!("t{trial}-c{client}-{i}");
                    attempted.lock().expect("lock").push(note.clone());
                    let body = json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": 1, "note": note});
                    match post(&http, &base, "/v1/inventory/adjustments", body).await {
                        Some(s) if s == reqwest::StatusCode::CREATED => acked.lock().expect("lock").push(note),
                        Some(s) => panic!("unexpected status {s}"),
                        None => return, // the node is gone
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().expect("lock").len() < kill_after {
            assert!(
                Instant::now() < deadline,
                "trial {trial}: the burst made no progress"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        edge.child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
        edge.child.wait().expect("reap");
        for c in clients {
            c.await.expect("client task");
        }
        acked_total.extend(acked.lock().expect("lock").iter().cloned());
        attempted_total.extend(attempted.lock().expect("lock").iter().cloned());

        let check = inspect(&db);
        assert_eq!(check.integrity, "ok", "trial {trial}");
        let present: HashSet<&String> = check.ledger_notes.iter().collect();
        assert_eq!(
            present.len(),
            check.ledger_notes.len(),
            "trial {trial}: an adjustment was applied twice"
        );
        for note in &acked_total {
            assert!(
                present.contains(note),
                "trial {trial}: acknowledged adjustment {note} was lost"
            );
        }
        for note in &check.ledger_notes {
            assert!(
                attempted_total.contains(note),
                "trial {trial}: {note} appeared from nowhere"
            );
        }
        // Whole or nothing: every ledger row has its event and audit row, and nothing else exists.
        assert_eq!(
            check.ledger_rows, check.adjusted_events,
            "trial {trial}: ledger rows vs outbox events"
        );
        assert_eq!(
            check.ledger_rows, check.ledger_with_event,
            "trial {trial}: ledger rows pointing at their event"
        );
        assert_eq!(
            check.ledger_rows, check.audit_adjustments,
            "trial {trial}: ledger rows vs audit rows"
        );
        assert!(
            check.stock_matches_ledger,
            "trial {trial}: stock differs from the sum of the ledger"
        );
        for (i, s) in check.outbox_seqs.iter().enumerate() {
            assert_eq!(*s, i as i64 + 1, "trial {trial}: outbox seq has a gap");
        }
        eprintln!(
            "trial {trial}: killed after {} acks; {} acked so far, {} committed",
            kill_after,
            acked_total.len(),
            check.ledger_rows
        );
        edge = spawn(&config);
    }
    // The restarted node serves what survived.
    let resp: serde_json::Value = http
        .get(format!("{}/v1/inventory?sku=SKU-1", edge.base))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let committed = inspect(&db).ledger_rows;
    assert_eq!(resp["data"][0]["on_hand"], committed);
    assert!(committed as usize >= acked_total.len());
    edge.child.kill().expect("kill");
    let _ = edge.child.wait();
}
