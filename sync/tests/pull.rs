//! Pull loop, doorbell and ID-block requester against the simulator.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, Faults};
use wms_sync::mem::MemoryStore;
use wms_sync::sign::{sign_webhook, verify_webhook};
use wms_sync::wire::{Change, Doorbell};
use wms_sync::{RetryReason, SyncConfig, SyncError};

fn pull_only(sim: &CentralSim, limit: u32) -> SyncConfig {
    let mut c = config(sim);
    c.push = false;
    c.id_blocks = false;
    c.pull_limit = limit;
    c
}

fn feed(sim: &CentralSim, n: u64) {
    for i in 0..n {
        let order = format!("O-{}", i % 10);
        let version = i / 10 + 1;
        match i % 5 {
            0 => sim.push_change(
                "order.upsert",
                json!({"id":order,"tenant_id":"acme","channel":"web","created_at":null,
                    "ship_by":"2026-11-22T16:00:00.000Z","priority":"standard",
                    "shipping":{"carrier":"ups","service":"ground"},"ship_to":{"name":"A"},
                    "lines":[{"line_id":"1","sku":"SKU-1","qty":1}],"notes":null,
                    "gift_message":null,"branding":null,"version":version}),
            ),
            1 => sim.push_change("order.hold", json!({"id":order,"reason":"fraud","version":version})),
            2 => sim.push_change(
                "product.upsert",
                json!({"tenant_id":"acme","sku":format!("SKU-{i}"),"name":"x","barcodes":[],
                    "weight":null,"dimensions":null,"tracking":"none","price":null,
                    "price_tiers":[],"tax_code":null,"version":1}),
            ),
            3 => sim.push_change(
                "location.upsert",
                json!({"code":format!("L-{i}"),"zone":"A","pick_sequence":i,"kind":"pick","version":1}),
            ),
            _ => sim.push_change(
                "user.upsert",
                json!({"id":format!("u{i}"),"tenant_id":null,"name":"n","badge":"b","pin_hash":null,
                    "roles":["picker"],"active":true,"version":1}),
            ),
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_applies_each_page_once_with_cursor_under_faults() {
    let faults = Faults {
        server_error: 0.1,
        reset: 0.05,
        lost_response: 0.05,
        hang: 0.03,
        hang_for: Duration::from_millis(2500),
        ..Faults::none()
    };
    let sim = sim_with(faults, 11).await;
    feed(&sim, 250);
    let store = Arc::new(MemoryStore::new(SITE));
    store.fail_next_apply(2);
    let h = start_sync(pull_only(&sim, 20), &store);
    assert!(
        eventually(Duration::from_secs(30), || store.change_ids().len() >= 250).await,
        "{:?}",
        sim.stats()
    );
    // Each change handed to the store exactly once, in feed order: pages were applied once.
    assert_eq!(store.change_ids(), (1..=250).collect::<Vec<_>>());
    assert_eq!(h.metrics().retries(RetryReason::Store), 2);

    // New changes while the loop long-polls arrive without a restart.
    sim.set_faults(Faults::none());
    sim.push_change(
        "order.release",
        json!({"id":"O-1","reason":null,"version":1000}),
    );
    sim.push_change("order.teleport", json!({"id":"O-1"})); // unknown type
    sim.push_change("order.cancel", json!({"id":"O-2"})); // malformed: no version
    sim.push_change(
        "order.hold",
        json!({"id":"O-1","reason":"stale","version":3}),
    ); // stale version
    h.ring_doorbell();
    assert!(eventually(Duration::from_secs(10), || store.change_ids().len() == 254).await);
    assert_eq!(store.change_ids(), (1..=254).collect::<Vec<_>>());
    let skipped: Vec<String> = store
        .skipped_changes()
        .iter()
        .map(|c| c.change.kind().to_string())
        .collect();
    assert_eq!(skipped, vec!["order.teleport", "order.cancel"]);
    let last_applied = store.applied_changes().last().cloned().unwrap();
    assert!(matches!(last_applied.change, Change::OrderRelease(ref o) if o.version == 1000));
    assert!(h
        .status()
        .warnings
        .iter()
        .any(|w| w.contains("order.cancel")));
    let snap = h.metrics().snapshot();
    assert_eq!(snap.pull_skipped, 2);
    assert!(snap.pull_lag_ms.is_some());
    // The cursor is stored: a restarted loop continues from it and re-applies nothing.
    h.shutdown().await;
    let h = start_sync(pull_only(&sim, 20), &store);
    sim.push_change(
        "order.release",
        json!({"id":"O-3","reason":null,"version":1000}),
    );
    assert!(eventually(Duration::from_secs(10), || store.change_ids().len() == 255).await);
    assert_eq!(store.change_ids(), (1..=255).collect::<Vec<_>>());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorbell_wakes_a_waiting_pull() {
    let sim = sim_with(Faults::none(), 1).await;
    let store = Arc::new(MemoryStore::new(SITE));
    let mut cfg = pull_only(&sim, 100);
    // No long poll and a long idle pause: only the doorbell can make it fetch quickly.
    cfg.timings.pull_wait_s = 0;
    cfg.timings.idle_poll = Duration::from_secs(30);
    let h = start_sync(cfg, &store);
    assert!(
        eventually(Duration::from_secs(5), || h.metrics().snapshot().pull_pages
            >= 1)
        .await
    );
    sim.push_change("order.hold", json!({"id":"O-9","reason":"x","version":1}));
    // The central rings; the edge verifies the signature, then wakes the loop.
    let body = serde_json::to_vec(&Doorbell {
        kind: "changes.available".into(),
        site_id: SITE.into(),
    })
    .unwrap();
    let sig = sign_webhook(b"hook-secret", &body).unwrap();
    assert!(matches!(
        verify_webhook(b"hook-secret", &body, Some("00ff")),
        Err(SyncError::BadSignature)
    ));
    verify_webhook(b"hook-secret", &body, Some(&sig)).unwrap();
    h.ring_doorbell();
    assert!(eventually(Duration::from_secs(5), || store.change_ids() == vec![1]).await);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_blocks_requested_at_80_percent_and_never_overlap() {
    let faults = Faults {
        server_error: 0.2,
        lost_response: 0.2,
        hang_for: Duration::from_millis(300),
        ..Faults::none()
    };
    let sim = sim_with(faults, 5).await;
    let store = Arc::new(MemoryStore::new(SITE));
    store.with_leases(|l| {
        l.track_kind("sscc").unwrap();
        l.track_kind("tracking:ups").unwrap();
    });
    let mut cfg = config(&sim);
    cfg.push = false;
    cfg.pull = false;
    cfg.id_block_size = 10;
    let h = start_sync(cfg, &store);
    assert!(
        eventually(Duration::from_secs(10), || {
            store.with_leases(|l| l.remaining("sscc") == 10 && l.remaining("tracking:ups") == 10)
        })
        .await
    );
    let mut issued = std::collections::HashSet::new();
    for round in 0..5 {
        // Use serials until the current block is 80% used, then tell the requester.
        let mut taken = 0;
        while !store.with_leases(|l| l.needs_block("sscc")) {
            let id = store
                .with_leases(|l| l.take("sscc"))
                .expect("serial available");
            let s = id.render().unwrap();
            assert_eq!(s.len(), 18);
            assert!(issued.insert(s), "duplicate SSCC");
            taken += 1;
        }
        assert!(taken <= 10);
        // 80% of a 10-serial block: exactly 2 left in it.
        assert_eq!(
            store.with_leases(|l| l.remaining("sscc")),
            2,
            "round {round}"
        );
        h.id_blocks_low();
        assert!(
            eventually(Duration::from_secs(10), || store
                .with_leases(|l| !l.needs_block("sscc")))
            .await,
            "round {round}"
        );
        assert_eq!(store.with_leases(|l| l.remaining("sscc")), 12);
    }
    // Grants never overlap (some were lost on the way; the range is simply skipped).
    let mut ranges: Vec<(u64, u64)> = sim
        .grants()
        .iter()
        .filter(|b| b.kind == "sscc")
        .map(|b| (b.first, b.last))
        .collect();
    ranges.sort_unstable();
    assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0));
    // With the central gone, running out is an explicit error, never a duplicate.
    h.shutdown().await;
    sim.shutdown().await;
    loop {
        match store.with_leases(|l| l.take("sscc")) {
            Ok(id) => assert!(issued.insert(id.render().unwrap())),
            Err(SyncError::IdExhausted { kind }) => {
                assert_eq!(kind, "sscc");
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(store.with_leases(|l| l.status().iter().any(|k| k.kind == "sscc" && k.exhausted)));
}
