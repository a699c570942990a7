//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};
use wms_sync::mem::MemoryStore;
use wms_sync::{start, BatchLimits, SyncConfig, SyncHandle, SyncState, Timings};

pub const SITE: &str = "wh-east-1";

/// Millisecond timings so fault-heavy runs finish quickly.
pub fn fast_timings() -> Timings {
    Timings {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(80),
        unauthorized_retry: Duration::from_millis(100),
        degraded_retry: Duration::from_millis(100),
        idle_poll: Duration::from_millis(20),
        push_timeout: Duration::from_millis(250),
        request_timeout: Duration::from_millis(250),
        pull_wait_s: 1,
        pull_grace: Duration::from_millis(500),
        max_server_wait: Duration::from_secs(5),
    }
}

pub fn config(sim: &CentralSim) -> SyncConfig {
    let mut c = SyncConfig::new(sim.credentials());
    c.timings = fast_timings();
    c.id_block_check = Duration::from_millis(50);
    c
}

pub fn push_only(sim: &CentralSim, max_events: usize) -> SyncConfig {
    let mut c = config(sim);
    c.pull = false;
    c.id_blocks = false;
    c.limits = BatchLimits {
        max_events,
        ..BatchLimits::default()
    };
    c
}

pub async fn sim_with(faults: Faults, seed: u64) -> CentralSim {
    let mut cfg = SimConfig::new(SITE);
    cfg.faults = faults;
    cfg.seed = seed;
    CentralSim::start(cfg).await.expect("simulator starts")
}

/// A simulator whose faults hit pushes only (status/changes answer normally).
pub async fn sim_push_faults(faults: Faults, seed: u64) -> CentralSim {
    let mut cfg = SimConfig::new(SITE);
    cfg.faults = faults;
    cfg.seed = seed;
    cfg.faults_on_reads = false;
    CentralSim::start(cfg).await.expect("simulator starts")
}

/// Polls `f` until true or the deadline passes (a deadline, not a sleep: returns as soon as true).
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits on the status channel until `state` is reached or the deadline passes.
pub async fn wait_state(h: &SyncHandle, state: SyncState, limit: Duration) -> bool {
    let mut rx = h.subscribe();
    tokio::time::timeout(limit, rx.wait_for(|s| s.state == state))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false)
}

pub fn stock(store: &MemoryStore, sku: &str, loc: &str, delta: i64) -> u64 {
    store.append(
        &format!("stock:acme/{sku}/{loc}/"),
        "inventory.adjusted",
        serde_json::json!({"tenant_id":"acme","sku":sku,"location":loc,"lot":null,"delta":delta,
            "reason":"adjusted","ref":{},"on_hand_after":delta}),
    )
}

pub fn order_event(store: &MemoryStore, order: &str, to: &str) -> u64 {
    store.append(
        &format!("order:{order}"),
        "order.status_changed",
        serde_json::json!({"order_id":order,"tenant_id":"acme","from":null,"to":to,"note":null}),
    )
}

pub fn start_sync(cfg: SyncConfig, store: &Arc<MemoryStore>) -> SyncHandle {
    start(cfg, store.clone()).expect("sync starts")
}
