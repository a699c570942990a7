//! Push pump against the simulator: exactly once, order, faults, auth, dead letters, divergence.

mod common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wms_sync::central_sim::Faults;
use wms_sync::mem::MemoryStore;
use wms_sync::{Outbox, RetryReason, SyncState};

/// Checks the central's record: every seq 1..=n applied exactly once, per-aggregate ascending,
/// and every resend of a batch byte-identical.
fn assert_exactly_once_in_order(sim: &wms_sync::central_sim::CentralSim, n: u64) {
    let applied = sim.applied();
    let seqs: Vec<u64> = applied.iter().map(|e| e.seq).collect();
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "an event was applied twice");
    assert_eq!(unique, (1..=n).collect::<HashSet<_>>(), "an event was lost");
    let mut last: HashMap<&str, u64> = HashMap::new();
    for e in &applied {
        let prev = last.insert(e.aggregate.as_str(), e.seq).unwrap_or(0);
        assert!(
            prev < e.seq,
            "{} out of order: {} after {}",
            e.aggregate,
            e.seq,
            prev
        );
    }
    assert_eq!(sim.stats().order_violations, 0);
    let mut bodies: HashMap<String, HashSet<String>> = HashMap::new();
    for p in sim.pushes() {
        bodies.entry(p.first_id).or_default().insert(p.body_sha256);
    }
    for (first, shas) in bodies {
        assert_eq!(
            shas.len(),
            1,
            "batch starting at {first} was not resent byte-identical"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_and_per_aggregate_order_under_central_faults() {
    let trials: u64 = std::env::var("WMS_CHAOS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut lost_total = 0;
    let mut dup_total = 0;
    for trial in 0..trials {
        let sim = sim_with(Faults::chaos(0.06, Duration::from_millis(400)), 100 + trial).await;
        let store = Arc::new(MemoryStore::new(SITE));
        let mut n = 0;
        for i in 0..300u64 {
            n = if i % 3 == 0 {
                order_event(&store, &format!("O-{}", i % 7), "picking")
            } else {
                stock(&store, &format!("SKU-{}", i % 5), "A-01-1", 1)
            };
        }
        let h = start_sync(push_only(&sim, 17), &store);
        // More commits while the pump runs.
        for i in 0..100u64 {
            n = stock(&store, &format!("SKU-{}", i % 5), "A-01-1", -1);
            h.events_committed();
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let drained = eventually(Duration::from_secs(60), || {
            store.pending_count() == 0 && store.done_count() == n
        })
        .await;
        assert!(
            drained,
            "trial {trial}: not drained: {:?} {:?}",
            h.status(),
            sim.stats()
        );
        assert_exactly_once_in_order(&sim, n);
        let st = sim.stats();
        lost_total += st.faults.get("lost_response").copied().unwrap_or(0);
        dup_total += st.duplicates;
        assert_eq!(store.acked_through(), Some(n));
        h.shutdown().await;
        sim.shutdown().await;
    }
    assert!(
        lost_total > 0 && dup_total > 0,
        "faults did not exercise resends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_response_resends_the_same_bytes() {
    let faults = Faults {
        lost_response: 1.0,
        hang_for: Duration::from_millis(300),
        ..Faults::none()
    };
    let sim = sim_push_faults(faults, 7).await;
    let store = Arc::new(MemoryStore::new(SITE));
    for i in 0..30 {
        stock(&store, "SKU-1", &format!("L-{}", i % 3), 1);
    }
    let h = start_sync(push_only(&sim, 500), &store);
    assert!(eventually(Duration::from_secs(10), || sim.pushes().len() >= 3).await);
    // Everything was applied on the first attempt, but the edge never heard.
    assert_eq!(sim.applied_count(), 30);
    assert_eq!(store.done_count(), 0);
    sim.set_faults(Faults::none());
    assert!(eventually(Duration::from_secs(10), || store.done_count() == 30).await);
    let pushes = sim.pushes();
    let shas: HashSet<_> = pushes.iter().map(|p| p.body_sha256.clone()).collect();
    assert_eq!(shas.len(), 1, "resends differ: {pushes:?}");
    assert!(sim.stats().duplicates >= 30);
    assert_exactly_once_in_order(&sim, 30);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_waits_retry_after_not_the_later_reset() {
    let faults = Faults {
        rate_limited: 1.0,
        retry_after_s: 1,
        ..Faults::none()
    };
    let sim = sim_push_faults(faults, 3).await;
    let store = Arc::new(MemoryStore::new(SITE));
    stock(&store, "SKU-1", "A", 1);
    let t0 = Instant::now();
    let h = start_sync(push_only(&sim, 500), &store);
    assert!(eventually(Duration::from_secs(5), || !sim.pushes().is_empty()).await);
    sim.set_faults(Faults::none());
    assert!(eventually(Duration::from_secs(10), || store.done_count() == 1).await);
    let took = t0.elapsed();
    // Retry-After: 1 s; X-RateLimit-Reset says 31 s; Retry-After wins.
    assert!(took >= Duration::from_millis(950), "did not wait: {took:?}");
    assert!(
        took < Duration::from_secs(8),
        "waited for the reset instead: {took:?}"
    );
    assert_eq!(sim.pushes().len(), 2);
    assert_eq!(h.metrics().retries(RetryReason::RateLimited), 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_then_recovers_when_key_fixed() {
    let sim = sim_with(Faults::none(), 1).await;
    let store = Arc::new(MemoryStore::new(SITE));
    for _ in 0..5 {
        stock(&store, "SKU-1", "A", 1);
    }
    let good = sim.credentials().api_key;
    let cfg = push_only(&sim, 500);
    sim.set_api_key("rotated-key");
    let h = start_sync(cfg, &store);
    assert!(wait_state(&h, SyncState::Unauthorized, Duration::from_secs(5)).await);
    assert_eq!(store.pending_count(), 5, "events must stay queued");
    // Slow fixed retry, not a hot loop.
    tokio::time::timeout(Duration::from_secs(5), async {
        while h.metrics().retries(RetryReason::Unauthorized) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("retries again after the interval");
    sim.set_api_key(&good);
    assert!(wait_state(&h, SyncState::Online, Duration::from_secs(5)).await);
    assert!(eventually(Duration::from_secs(5), || store.done_count() == 5).await);
    assert!(h.status().last_success_at.is_some());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_event_holds_back_only_its_aggregate() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.set_reject_skus(&["BAD", "WORSE"]);
    let store = Arc::new(MemoryStore::new(SITE));
    let bad1 = stock(&store, "BAD", "A", 1); // rejected
    let o1 = order_event(&store, "O-1", "picking");
    let worse1 = stock(&store, "WORSE", "A", 1); // rejected
    let bad2 = stock(&store, "BAD", "A", 2); // held
    let other = stock(&store, "GOOD", "A", 1);
    let worse2 = stock(&store, "WORSE", "A", 2); // held
    let o2 = order_event(&store, "O-1", "picked");
    // One event per batch so later same-aggregate events are "not yet sent".
    let h = start_sync(push_only(&sim, 1), &store);
    assert!(
        eventually(Duration::from_secs(10), || {
            store.dead_letters().len() == 2 && store.done_count() == 3
        })
        .await
    );
    let applied: Vec<u64> = sim.applied().iter().map(|e| e.seq).collect();
    assert_eq!(applied, vec![o1, other, o2]);
    assert_eq!(store.pending_count(), 2, "bad2 and worse2 held");
    let st = h.status();
    assert_eq!(st.dead_letters, 2);
    assert!(st.last_error.unwrap_or_default().contains("unknown sku"));
    // Supervisor: retry BAD (now accepted), discard WORSE.
    sim.set_reject_skus(&[]);
    let dead = store.dead_letters();
    assert!(store.retry_dead_letter(&dead[0].event.id).await.unwrap());
    assert!(store.discard_dead_letter(&dead[1].event.id).await.unwrap());
    assert!(!store.discard_dead_letter("nope").await.unwrap());
    h.events_committed();
    assert!(eventually(Duration::from_secs(10), || store.pending_count() == 0).await);
    let applied: Vec<u64> = sim.applied().iter().map(|e| e.seq).collect();
    assert_eq!(
        &applied[3..],
        &[bad1, bad2, worse2],
        "retried event first, then the held ones"
    );
    assert_eq!(store.discarded(), vec![worse1]);
    assert_eq!(h.metrics().snapshot().events_dead_lettered, 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_when_central_is_ahead() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.force_acked_through(10);
    let store = Arc::new(MemoryStore::new(SITE));
    for _ in 0..5 {
        stock(&store, "SKU-1", "A", 1);
    }
    let h = start_sync(push_only(&sim, 500), &store);
    assert!(wait_state(&h, SyncState::Diverged, Duration::from_secs(5)).await);
    // Sticky: new local events (seq 6..12) must not be pushed, they would reuse ids.
    for _ in 0..7 {
        stock(&store, "SKU-1", "A", 1);
    }
    h.events_committed();
    tokio::time::sleep(Duration::from_millis(100)).await; // give a wrong pump the chance to push
    assert!(sim.pushes().is_empty());
    assert_eq!(h.status().state, SyncState::Diverged);
    assert!(eventually(Duration::from_secs(2), || h.status().queue_depth == 12).await);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_is_a_warning() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.set_clock_offset(120);
    let store = Arc::new(MemoryStore::new(SITE));
    stock(&store, "SKU-1", "A", 1);
    let h = start_sync(push_only(&sim, 500), &store);
    assert!(eventually(Duration::from_secs(5), || store.done_count() == 1).await);
    let st = h.status();
    assert_eq!(st.state, SyncState::Online);
    assert!(st.clock_skew_s.is_some_and(|s| (118..=122).contains(&s)));
    assert!(st.warnings.iter().any(|w| w.contains("clock skew")));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_events_and_batches_degrade_without_loss() {
    let sim = sim_with(Faults::none(), 1).await;
    let store = Arc::new(MemoryStore::new(SITE));
    let big = "x".repeat(1 << 20);
    let huge = store.append(
        "stock:acme/BIG/A/",
        "inventory.adjusted",
        serde_json::json!({"sku":"BIG","pad":big}),
    );
    let after = stock(&store, "BIG", "A", 1);
    let fine = stock(&store, "SKU-1", "A", 1);
    let h = start_sync(push_only(&sim, 500), &store);
    // The unsendable event is dead-lettered locally and holds back its aggregate only.
    assert!(eventually(Duration::from_secs(5), || store.done_count() == 1).await);
    assert_eq!(
        sim.applied().iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![fine]
    );
    let dead = store.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].event.seq, dead[0].code.as_str()),
        (huge, "event_too_large")
    );
    assert_eq!(store.pending_count(), 1, "seq {after} held");
    h.shutdown().await;

    // A batch the central calls too large (413): degraded, nothing dropped, slow retries.
    let store = Arc::new(MemoryStore::new(SITE));
    stock(&store, "SKU-1", "A", 1);
    store.append(
        "stock:acme/BIG/A/",
        "inventory.adjusted",
        serde_json::json!({"pad":"x".repeat(700_000)}),
    );
    store.append(
        "stock:acme/BIG/B/",
        "inventory.adjusted",
        serde_json::json!({"pad":"x".repeat(700_000)}),
    );
    let mut cfg = push_only(&sim, 500);
    cfg.limits.max_bytes = 4 << 20; // an edge misconfiguration
    let h = start_sync(cfg, &store);
    assert!(wait_state(&h, SyncState::Degraded, Duration::from_secs(5)).await);
    assert!(
        eventually(Duration::from_secs(5), || h
            .metrics()
            .retries(RetryReason::Degraded)
            >= 2)
        .await
    );
    assert_eq!(store.pending_count(), 3);
    assert!(h.status().last_error.unwrap_or_default().contains("413"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_queue_is_paged_not_loaded() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.record_pushes(false);
    let store = Arc::new(MemoryStore::new(SITE));
    for i in 0..20_000u64 {
        stock(&store, &format!("SKU-{}", i % 50), "A", 1);
    }
    store.fail_next_record(2);
    let h = start_sync(push_only(&sim, 500), &store);
    assert!(eventually(Duration::from_secs(60), || store.done_count() == 20_000).await);
    assert!(
        store.max_page_limit() <= 500,
        "asked for {}",
        store.max_page_limit()
    );
    assert_eq!(sim.applied_count(), 20_000);
    assert_eq!(h.metrics().retries(RetryReason::Store), 2);
    let st = h.status();
    assert_eq!((st.queue_depth, st.acked_through), (0, Some(20_000)));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_during_a_hung_push() {
    let faults = Faults {
        hang: 1.0,
        hang_for: Duration::from_secs(20),
        ..Faults::none()
    };
    let sim = sim_push_faults(faults, 1).await;
    let store = Arc::new(MemoryStore::new(SITE));
    stock(&store, "SKU-1", "A", 1);
    let mut cfg = push_only(&sim, 500);
    cfg.timings.push_timeout = Duration::from_secs(30);
    let h = start_sync(cfg, &store);
    assert!(eventually(Duration::from_secs(5), || !sim.pushes().is_empty()).await);
    tokio::time::timeout(Duration::from_secs(2), h.shutdown())
        .await
        .expect("shutdown does not wait for the push timeout");
    assert_eq!(
        store.pending_count(),
        1,
        "the event stays queued for the next start"
    );
}
