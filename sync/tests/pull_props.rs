//! Property test of the pull/apply cursor: the real pull loop against the simulator and the
//! reference in-memory store, over random feeds (objects with versions in any order, stale and
//! equal-version replays), random page sizes, lost answers and resets on `changes`, and store
//! failures before and after the commit. Whatever happens:
//!
//! - the stored cursor is always the `next_cursor` of the last page the store committed;
//! - every committed page starts right after the cursor stored before it (nothing skipped);
//! - what is applied is exactly what a single in-order pass over the feed applies by version
//!   (nothing applied twice, no stale version applied, replays change nothing).
//!
//! Case count: `PROPTEST_CASES` (default 24; each case runs a simulator and the loop).

mod common;

use base64::Engine;
use common::*;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};
use wms_sync::mem::MemoryStore;
use wms_sync::wire::{ChangeRecord, IdBlock};
use wms_sync::{
    ChangeSink, EventOutcome, HeldBack, IdBlockSink, Outbox, OutboxStats, PendingEvent, SyncError,
};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// What a change in the generated feed is about.
#[derive(Debug, Clone)]
struct FeedItem {
    /// 0..3 orders (hold/release share the order's counter), 3..5 locations.
    object: u8,
    version: u64,
    hold: bool,
}

impl FeedItem {
    fn key(&self) -> String {
        if self.object < 3 {
            format!("order:O-{}", self.object)
        } else {
            format!("location:L-{}", self.object)
        }
    }

    fn push(&self, sim: &CentralSim) -> u64 {
        if self.object < 3 {
            let kind = if self.hold {
                "order.hold"
            } else {
                "order.release"
            };
            sim.push_change(
                kind,
                serde_json::json!({"id": format!("O-{}", self.object), "reason": null, "version": self.version}),
            )
        } else {
            sim.push_change(
                "location.upsert",
                serde_json::json!({"code": format!("L-{}", self.object), "zone": "A",
                    "pick_sequence": 1, "kind": "pick", "version": self.version}),
            )
        }
    }
}

fn feed_item() -> impl Strategy<Value = FeedItem> {
    (0u8..5, 1u64..8, any::<bool>()).prop_map(|(object, version, hold)| FeedItem {
        object,
        version,
        hold,
    })
}

/// How each `apply_changes` call goes: through, fail before the commit, or commit and then
/// report a failure (the loop must reload the cursor and not lose or repeat the page).
#[derive(Debug, Clone, Copy)]
enum Apply {
    Ok,
    FailBefore,
    FailAfter,
}

fn apply_plan() -> impl Strategy<Value = Vec<Apply>> {
    prop::collection::vec(
        prop_oneof![6 => Just(Apply::Ok), 1 => Just(Apply::FailBefore), 1 => Just(Apply::FailAfter)],
        0..12,
    )
}

fn cursor_pos(c: &str) -> u64 {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(c)
        .expect("the simulator's cursor is base64");
    let v: serde_json::Value = serde_json::from_slice(&raw).expect("cursor JSON");
    v["id"].as_u64().expect("cursor id")
}

#[derive(Default)]
struct Log {
    /// (change ids, next cursor, stored cursor before) of every committed page.
    committed: Vec<(Vec<u64>, String, Option<String>)>,
    calls: usize,
    violations: Vec<String>,
}

/// The reference store with injected failures and a log of committed pages.
struct Recorder {
    inner: MemoryStore,
    plan: Vec<Apply>,
    log: Mutex<Log>,
}

impl Recorder {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChangeSink for Recorder {
    async fn cursor(&self) -> Result<Option<String>, SyncError> {
        self.inner.cursor().await
    }

    async fn apply_changes(
        &self,
        changes: Vec<ChangeRecord>,
        next_cursor: String,
    ) -> Result<(), SyncError> {
        let step = {
            let mut l = self.log();
            l.calls += 1;
            self.plan.get(l.calls - 1).copied().unwrap_or(Apply::Ok)
        };
        if let Apply::FailBefore = step {
            return Err(SyncError::store("injected failure before commit"));
        }
        let before = self.inner.stored_cursor();
        let ids: Vec<u64> = changes.iter().map(|c| c.change_id).collect();
        self.inner
            .apply_changes(changes, next_cursor.clone())
            .await?;
        {
            let mut l = self.log();
            if self.inner.stored_cursor().as_deref() != Some(next_cursor.as_str()) {
                l.violations
                    .push(format!("stored cursor is not the page's: {next_cursor}"));
            }
            l.committed.push((ids, next_cursor, before));
        }
        match step {
            Apply::FailAfter => Err(SyncError::store("injected failure after commit")),
            _ => Ok(()),
        }
    }
}

// Pull-only runs never reach these; they delegate so the wrapper is a complete store.
impl Outbox for Recorder {
    async fn pending_after(&self, a: u64, l: usize) -> Result<Vec<PendingEvent>, SyncError> {
        self.inner.pending_after(a, l).await
    }
    async fn held_back(&self) -> Result<HeldBack, SyncError> {
        self.inner.held_back().await
    }
    async fn record_outcomes(&self, o: Vec<EventOutcome>, a: Option<u64>) -> Result<(), SyncError> {
        self.inner.record_outcomes(o, a).await
    }
    async fn stats(&self) -> Result<OutboxStats, SyncError> {
        self.inner.stats().await
    }
    async fn retry_dead_letter(&self, id: &str) -> Result<bool, SyncError> {
        self.inner.retry_dead_letter(id).await
    }
    async fn discard_dead_letter(&self, id: &str) -> Result<bool, SyncError> {
        self.inner.discard_dead_letter(id).await
    }
}

impl IdBlockSink for Recorder {
    async fn store_id_block(&self, b: IdBlock) -> Result<(), SyncError> {
        self.inner.store_id_block(b).await
    }
    async fn kinds_needing_block(&self) -> Result<Vec<String>, SyncError> {
        self.inner.kinds_needing_block().await
    }
}

/// The change ids a single in-order pass applies: those whose version beats the object's.
fn expected_applied(feed: &[FeedItem]) -> Vec<u64> {
    let mut held: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for (i, f) in feed.iter().enumerate() {
        let v = held.entry(f.key()).or_insert(0);
        if f.version > *v {
            *v = f.version;
            out.push(i as u64 + 1);
        }
    }
    out
}

async fn run_case(
    first: Vec<FeedItem>,
    second: Vec<FeedItem>,
    limit: u32,
    plan: Vec<Apply>,
    fault_rate: f64,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut cfg = SimConfig::new(SITE);
    cfg.seed = seed;
    cfg.faults = Faults {
        lost_response: fault_rate,
        reset: fault_rate,
        server_error: fault_rate,
        ..Faults::none()
    };
    let sim = CentralSim::start(cfg).await.expect("simulator");
    let store = Arc::new(Recorder {
        inner: MemoryStore::new(SITE),
        plan,
        log: Mutex::new(Log::default()),
    });
    let mut sc = config(&sim);
    sc.push = false;
    sc.id_blocks = false;
    sc.pull_limit = limit;
    for f in &first {
        f.push(&sim);
    }
    let total = (first.len() + second.len()) as u64;
    let reached = |n: u64| {
        let store = store.clone();
        move || {
            n == 0
                || store
                    .inner
                    .stored_cursor()
                    .is_some_and(|c| cursor_pos(&c) >= n)
        }
    };
    let h = wms_sync::start(sc.clone(), store.clone()).expect("start");
    prop_assert!(
        eventually(Duration::from_secs(30), reached(first.len() as u64)).await,
        "first part not pulled"
    );
    // A restart between the two parts: the loop continues from the stored cursor.
    h.shutdown().await;
    let h = wms_sync::start(sc, store.clone()).expect("restart");
    for f in &second {
        f.push(&sim);
    }
    prop_assert!(
        eventually(Duration::from_secs(30), reached(total)).await,
        "feed not pulled to the end"
    );
    h.shutdown().await;
    sim.shutdown().await;

    let log = store.log();
    prop_assert!(log.violations.is_empty(), "{:?}", log.violations);
    let mut last: Option<String> = None;
    let mut seen = Vec::new();
    for (ids, next, before) in &log.committed {
        prop_assert_eq!(before, &last, "a page was committed over another cursor");
        let from = before.as_deref().map(cursor_pos).unwrap_or(0);
        let want: Vec<u64> = (from + 1..=from + ids.len() as u64).collect();
        prop_assert_eq!(
            ids,
            &want,
            "a page does not start right after the stored cursor"
        );
        prop_assert_eq!(
            cursor_pos(next),
            ids.last().copied().unwrap_or(from),
            "the page's cursor is not its last change"
        );
        seen.extend_from_slice(ids);
        last = Some(next.clone());
    }
    prop_assert_eq!(store.inner.stored_cursor(), last);
    prop_assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "skipped or repeated");
    let feed: Vec<FeedItem> = first.iter().chain(second.iter()).cloned().collect();
    let applied: Vec<u64> = store
        .inner
        .applied_changes()
        .iter()
        .map(|c| c.change_id)
        .collect();
    prop_assert_eq!(applied, expected_applied(&feed));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_cursor_is_the_last_applied_page_and_nothing_is_applied_twice_or_skipped(
        first in prop::collection::vec(feed_item(), 0..40),
        second in prop::collection::vec(feed_item(), 0..40),
        limit in 1u32..9,
        plan in apply_plan(),
        fault_rate in prop_oneof![Just(0.0), 0.0f64..0.15],
        seed in any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_case(first, second, limit, plan, fault_rate, seed))?;
    }
}
