//! The central simulator's own promises, over its SQLite state: a simulator restarted on the same
//! database file still answers `duplicate` for what it applied, keeps its high-water mark, stock,
//! changes feed and ID blocks (new blocks never overlap the old ones).

mod common;

use bytes::Bytes;
use common::SITE;
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, SimConfig, SimStock};
use wms_sync::wire::EventStatus;
use wms_sync::CentralClient;

const T: Duration = Duration::from_secs(10);

fn event(seq: u64, sku: &str, delta: i64) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{SITE}:{seq:012}"), "seq": seq, "type": "inventory.adjusted",
        "occurred_at": "2026-11-22T10:15:03.120Z",
        "aggregate": {"type": "stock", "id": format!("acme/{sku}/A-01/")},
        "actor": {"user": null, "device": null, "api_key": null},
        "data": {"tenant_id": "acme", "sku": sku, "location": "A-01", "lot": null, "delta": delta,
                 "reason": "received", "ref": {}, "on_hand_after": delta}
    })
}

fn batch(events: &[serde_json::Value]) -> Bytes {
    Bytes::from(serde_json::json!({ "events": events }).to_string())
}

async fn start(path: &std::path::Path) -> CentralSim {
    let mut cfg = SimConfig::new(SITE);
    cfg.db_path = Some(path.to_path_buf());
    CentralSim::start(cfg).await.expect("simulator starts")
}

fn statuses(r: &wms_sync::wire::BatchResponse) -> Vec<EventStatus> {
    r.results.iter().map(|x| x.status).collect()
}

#[tokio::test]
async fn a_restarted_simulator_keeps_dedupe_stock_changes_and_id_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("central.db");

    let sim = start(&db).await;
    let client = CentralClient::new(sim.credentials()).expect("client");
    let first = batch(&[event(1, "SKU-1", 5), event(2, "SKU-2", 3)]);
    let r = client.push(first.clone(), T).await.expect("push");
    assert_eq!(statuses(&r), [EventStatus::Applied, EventStatus::Applied]);
    assert_eq!(r.acked_through, 2);
    sim.push_change(
        "product.upsert",
        serde_json::json!({"sku": "SKU-1", "version": 1}),
    );
    let block = client
        .request_id_block("sscc", 100, T)
        .await
        .expect("block");
    assert_eq!((block.first, block.last), (1, 100));
    sim.shutdown().await;

    let sim = start(&db).await;
    assert_eq!(sim.acked_through(), 2, "the high-water mark survives");
    assert_eq!(sim.applied_count(), 2);
    let client = CentralClient::new(sim.credentials()).expect("client");
    // The same batch again, then one more event: the old ones are duplicates, the new one applies.
    let r = client.push(first, T).await.expect("resend");
    assert_eq!(
        statuses(&r),
        [EventStatus::Duplicate, EventStatus::Duplicate]
    );
    let r = client
        .push(batch(&[event(2, "SKU-2", 3), event(3, "SKU-1", -2)]), T)
        .await
        .expect("push");
    assert_eq!(statuses(&r), [EventStatus::Duplicate, EventStatus::Applied]);
    assert_eq!(r.acked_through, 3);
    let seqs: Vec<u64> = sim.applied().iter().map(|a| a.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "each event applied once, in order");
    let stock = |sku: &str, on_hand| SimStock {
        tenant_id: "acme".into(),
        sku: sku.into(),
        location: "A-01".into(),
        lot: String::new(),
        on_hand,
    };
    assert_eq!(sim.stock(), [stock("SKU-1", 3), stock("SKU-2", 3)]);

    // The feed kept its change; a new one follows it.
    let id = sim.push_change(
        "product.upsert",
        serde_json::json!({"sku": "SKU-2", "version": 1}),
    );
    assert_eq!(id, 2);
    let page = client
        .changes(None, 100, 5, Duration::from_secs(5))
        .await
        .expect("changes");
    let ids: Vec<u64> = page.data.iter().map(|c| c.change_id).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(page.data[0].object["sku"], "SKU-1");
    assert!(!page.pagination.has_more);

    let next = client
        .request_id_block("sscc", 100, T)
        .await
        .expect("block");
    assert_eq!(
        (next.first, next.last),
        (101, 200),
        "no overlap across a restart"
    );
    assert_eq!(sim.grants().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_database_of_another_site_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("central.db");
    start(&db).await.shutdown().await;
    let mut cfg = SimConfig::new("another-site");
    cfg.db_path = Some(db);
    let err = CentralSim::start(cfg).await.err().expect("refused");
    assert!(err.to_string().contains(SITE), "{err}");
}

#[tokio::test]
async fn a_long_poll_wakes_for_a_change_pushed_while_it_waits() {
    let sim = CentralSim::start(SimConfig::new(SITE)).await.expect("sim");
    let client = CentralClient::new(sim.credentials()).expect("client");
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.changes(None, 10, 20, Duration::from_secs(5)).await }
    });
    // The poll must be waiting at the central before the change exists; a first page that is
    // empty would return at once, so wait for the request to be counted.
    assert!(
        common::eventually(T, || sim.stats().requests >= 1).await,
        "the long poll never arrived"
    );
    let t0 = std::time::Instant::now();
    sim.push_change(
        "location.upsert",
        serde_json::json!({"code": "A-01", "version": 1}),
    );
    let page = poll.await.expect("join").expect("page");
    assert_eq!(page.data.len(), 1);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "woken, not timed out"
    );
    sim.shutdown().await;
}

/// The simulator rings the configured doorbell after new changes, signed with the webhook
/// secret so the edge's constant-time check accepts it.
#[tokio::test]
async fn the_simulator_rings_a_signed_doorbell_after_new_changes() {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let secret = b"hook-secret".to_vec();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, serde_json::Value)>();
    let check = secret.clone();
    let app = axum::Router::new().route(
        "/v1/sync/webhook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let check = check.clone();
            async move {
                let sig = headers
                    .get("x-webhook-signature")
                    .and_then(|v| v.to_str().ok());
                let ok = wms_sync::verify_webhook(&check, &body, sig).is_ok();
                let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                let _ = tx.send((ok, v));
                if ok {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let edge = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut cfg = SimConfig::new(SITE);
    cfg.webhook = Some(wms_sync::central_sim::WebhookTarget {
        url: format!("http://{edge}/v1/sync/webhook"),
        secret,
    });
    let sim = CentralSim::start(cfg).await.expect("sim");
    sim.push_change(
        "order.hold",
        serde_json::json!({"id": "O-1", "reason": null, "version": 1}),
    );
    let (ok, body) = tokio::time::timeout(T, rx.recv())
        .await
        .expect("no doorbell in time")
        .expect("doorbell");
    assert!(ok, "the doorbell's signature does not verify");
    assert_eq!(
        body,
        serde_json::json!({"type": "changes.available", "site_id": SITE})
    );
    assert!(common::eventually(T, || sim.stats().doorbells == 1).await);
    assert_eq!(sim.stats().doorbell_failures, 0);
    sim.shutdown().await;
}

/// `POST /sim/changes` lets someone trying the edge feed the simulator by hand: bearer key
/// only, the changes land in the feed in order, and bad requests get the error object.
#[tokio::test]
async fn changes_can_be_added_over_http() {
    let sim = CentralSim::start(SimConfig::new(SITE)).await.expect("sim");
    let http = reqwest::Client::new();
    let url = format!("http://{}/sim/changes", sim.addr());
    let body = serde_json::json!({"changes": [
        {"type": "location.upsert", "object": {"code": "A-01", "zone": "A", "pick_sequence": 1, "kind": "pick", "version": 1}},
        {"type": "order.hold", "object": {"id": "O-1", "reason": "check", "version": 2}}
    ]});
    let r = http
        .post(&url)
        .bearer_auth("test-key")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["change_ids"], serde_json::json!([1, 2]));
    let client = CentralClient::new(sim.credentials()).expect("client");
    let page = client
        .changes(None, 10, 5, Duration::from_secs(5))
        .await
        .expect("changes");
    let kinds: Vec<&str> = page.data.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["location.upsert", "order.hold"]);

    let r = http
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    let r = http
        .post(&url)
        .bearer_auth("test-key")
        .json(&serde_json::json!({"changes": [{"type": "order.hold", "object": 3}]}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "validation_error");
    assert_eq!(
        sim.push_change(
            "order.release",
            serde_json::json!({"id": "O-1", "version": 3})
        ),
        3
    );
    sim.shutdown().await;
}

/// Tracking-number blocks look like a carrier's (`1Z<CARRIER>` + nine digits) and continue
/// without overlap; SSCC and receipt blocks start at 1.
#[tokio::test]
async fn id_blocks_start_per_kind_and_never_overlap() {
    let sim = CentralSim::start(SimConfig::new(SITE)).await.expect("sim");
    let client = CentralClient::new(sim.credentials()).expect("client");
    let a = client
        .request_id_block("tracking:ups", 1000, T)
        .await
        .expect("block");
    let b = client
        .request_id_block("tracking:ups", 1000, T)
        .await
        .expect("block");
    assert_eq!(
        (a.prefix.as_str(), a.first, a.last),
        ("1ZUPS", 100_000_001, 100_001_000)
    );
    assert_eq!((b.first, b.last), (100_001_001, 100_002_000));
    let r = client
        .request_id_block("receipt", 10, T)
        .await
        .expect("block");
    assert_eq!((r.prefix.as_str(), r.first, r.last), ("", 1, 10));
    let s = client.request_id_block("sscc", 10, T).await.expect("block");
    assert_eq!((s.prefix.as_str(), s.first), ("00614141", 1));
    sim.shutdown().await;
}
