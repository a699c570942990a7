//! The SQLite sync store mirrors the reference in-memory store of `wms_sync`: the same random
//! sequence of appends, outcomes (recorded twice, as after a crash), dead-letter retries and
//! discards gives the same pending pages, held-back aggregates and figures on both.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use wms_edge::store::sync::SyncStore;
use wms_edge::store::{base::outbox, Store, StoreOptions};
use wms_sync::mem::MemoryStore;
use wms_sync::{EventOutcome, Outbox, Outcome};

const SITE: &str = "wh-mirror";

async fn sqlite_store(dir: &std::path::Path) -> (Store, SyncStore) {
    let path = dir.join("edge.db");
    let store = tokio::task::spawn_blocking(move || Store::open(&path, StoreOptions::default()))
        .await
        .expect("open task")
        .expect("store");
    (store.clone(), SyncStore::new(store, SITE))
}

async fn append(store: &Store, mem: &MemoryStore, agg: String) {
    let data = json!({"n": agg});
    mem.append(&format!("stock:{agg}"), "inventory.adjusted", data.clone());
    store
        .write(move |c| {
            let actor = wms_edge::domain::Actor::default();
            outbox::append(
                c,
                SITE,
                outbox::NewEvent {
                    kind: "inventory.adjusted",
                    aggregate_type: "stock",
                    aggregate_id: agg,
                    occurred_at: &wms_edge::domain::time::now(),
                    actor: &actor,
                    data,
                },
            )
        })
        .await
        .expect("append");
}

async fn same_view(sql: &SyncStore, mem: &MemoryStore, round: usize) {
    let a: Vec<(u64, String, String)> = sql
        .pending_after(0, 10_000)
        .await
        .expect("pending")
        .into_iter()
        .map(|e| (e.seq, e.id, e.aggregate))
        .collect();
    let b: Vec<(u64, String, String)> = mem
        .pending_after(0, 10_000)
        .await
        .expect("pending")
        .into_iter()
        .map(|e| (e.seq, e.id, e.aggregate))
        .collect();
    assert_eq!(a, b, "pending differs in round {round}");
    let page: Vec<u64> = sql
        .pending_after(3, 2)
        .await
        .expect("page")
        .iter()
        .map(|e| e.seq)
        .collect();
    let mem_page: Vec<u64> = mem
        .pending_after(3, 2)
        .await
        .expect("page")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(page, mem_page, "page differs in round {round}");
    let (ha, hb) = (
        sql.held_back().await.expect("held"),
        mem.held_back().await.expect("held"),
    );
    assert_eq!(
        ha.aggregates, hb.aggregates,
        "held back differs in round {round}"
    );
    let (sa, sb) = (
        sql.stats().await.expect("stats"),
        mem.stats().await.expect("stats"),
    );
    assert_eq!(
        (sa.pending, sa.dead_letters, sa.highest_assigned_seq),
        (sb.pending, sb.dead_letters, sb.highest_assigned_seq),
        "figures differ in round {round}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_mirrors_the_reference_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, sql) = sqlite_store(dir.path()).await;
    let mem = Arc::new(MemoryStore::new(SITE));
    let mut rng = StdRng::seed_from_u64(42);
    for round in 0..40 {
        for _ in 0..rng.random_range(0..6) {
            append(&store, &mem, format!("acme/S{}/A/", rng.random_range(0..4))).await;
        }
        let pending = mem.pending_after(0, 10_000).await.expect("pending");
        let mut outcomes = Vec::new();
        for e in &pending {
            if rng.random_bool(0.5) {
                continue;
            }
            let outcome = if rng.random_bool(0.2) {
                Outcome::Rejected {
                    code: "validation_error".into(),
                    message: "unknown sku".into(),
                }
            } else {
                Outcome::Done
            };
            outcomes.push(EventOutcome {
                seq: e.seq,
                id: e.id.clone(),
                outcome,
            });
        }
        let acked = Some(round as u64);
        let gen_before = sql.held_back().await.expect("held").generation;
        let any_dead = outcomes
            .iter()
            .any(|o| matches!(o.outcome, Outcome::Rejected { .. }));
        for _ in 0..2 {
            sql.record_outcomes(outcomes.clone(), acked)
                .await
                .expect("record");
            mem.record_outcomes(outcomes.clone(), acked)
                .await
                .expect("record");
        }
        let gen_after = sql.held_back().await.expect("held").generation;
        assert_eq!(
            gen_after != gen_before,
            any_dead,
            "generation in round {round}"
        );
        let dead = mem.dead_letters();
        if let Some(d) = dead.first() {
            let id = d.event.id.clone();
            let before = sql.held_back().await.expect("held").generation;
            let (a, b) = if rng.random_bool(0.5) {
                (
                    sql.retry_dead_letter(&id).await.expect("retry"),
                    mem.retry_dead_letter(&id).await.expect("retry"),
                )
            } else {
                (
                    sql.discard_dead_letter(&id).await.expect("discard"),
                    mem.discard_dead_letter(&id).await.expect("discard"),
                )
            };
            assert!(a && b, "round {round}");
            // The SQLite store also reports the action upstream (`audit.recorded`): mirror it.
            let agg: String = store
                .read(|c| {
                    Ok(c.query_row(
                        "SELECT aggregate FROM outbox ORDER BY seq DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )?)
                })
                .await
                .expect("last event");
            assert!(agg.starts_with("audit:"), "{agg}");
            mem.append(&agg, "audit.recorded", json!({}));
            assert_ne!(sql.held_back().await.expect("held").generation, before);
        }
        assert!(!sql
            .retry_dead_letter("wh-mirror:999999999999")
            .await
            .expect("retry"));
        assert!(!sql.discard_dead_letter("nope").await.expect("discard"));
        same_view(&sql, &mem, round).await;
    }
    // Supervisor actions through the trait are audited too.
    let audited: i64 = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM audit WHERE action LIKE 'sync.dead_letter.%'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("audit");
    assert!(audited > 0);
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    store
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .await
        .expect("count")
}

/// Delivered rows past the retention go, in batches; pending and dead rows stay whatever their
/// `done_at` says; the counter keeps numbering without a gap and the figures (acked_through,
/// highest seq, depth) do not move, before or after every delivered row is gone.
#[tokio::test]
async fn pruning_deletes_only_old_delivered_rows_and_keeps_the_sequence() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, sql) = sqlite_store(dir.path()).await;
    let mem = MemoryStore::new(SITE);
    let n = 2 * outbox::PRUNE_BATCH as u64 + 200;
    for i in 0..n {
        append(&store, &mem, format!("acme/SKU-{}/A-01/", i % 7)).await;
    }
    let (old_done, recent_done, dead) = (2 * outbox::PRUNE_BATCH as u64 + 50, 100u64, 25u64);
    let days_ago =
        |d: i64| wms_edge::domain::time::format(chrono::Utc::now() - chrono::Duration::days(d));
    let (old, recent) = (days_ago(10), days_ago(1));
    store
        .write(move |c| {
            c.execute(
                "UPDATE outbox SET state = 'done', done_at = ?1 WHERE seq <= ?2",
                rusqlite::params![old, old_done as i64],
            )?;
            c.execute(
                "UPDATE outbox SET state = 'done', done_at = ?1 WHERE seq > ?2 AND seq <= ?3",
                rusqlite::params![recent, old_done as i64, (old_done + recent_done) as i64],
            )?;
            // Not delivered, yet carrying an old done_at: the state alone decides.
            c.execute(
                "UPDATE outbox SET state = 'dead', done_at = ?1 WHERE seq > ?2 AND seq <= ?3",
                rusqlite::params![
                    old,
                    (old_done + recent_done) as i64,
                    (old_done + recent_done + dead) as i64
                ],
            )?;
            c.execute(
                "UPDATE outbox SET done_at = ?1 WHERE state = 'pending'",
                rusqlite::params![old],
            )?;
            Ok(())
        })
        .await
        .expect("mark");
    let before = store.read(outbox::figures).await.expect("figures");
    let week = Duration::from_secs(7 * 86_400);
    let pruned = wms_edge::sync_glue::prune_outbox(&store, week)
        .await
        .expect("prune");
    assert_eq!(pruned, old_done);
    assert_eq!(store.read(outbox::figures).await.expect("figures"), before);
    assert_eq!(
        count(&store, "SELECT count(*) FROM outbox WHERE state = 'done'").await as u64,
        recent_done
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM outbox WHERE state = 'dead'").await as u64,
        dead
    );
    let pending = n - old_done - recent_done - dead;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM outbox WHERE state = 'pending'"
        )
        .await as u64,
        pending
    );
    assert_eq!(
        count(&store, "SELECT min(seq) FROM outbox").await as u64,
        old_done + 1
    );
    // A second pass has nothing left to do.
    assert_eq!(
        wms_edge::sync_glue::prune_outbox(&store, week)
            .await
            .expect("prune"),
        0
    );
    // The pump still sees every pending event, in order, after the first one not delivered.
    let page = sql.pending_after(0, 10_000).await.expect("pending");
    assert_eq!(page.len() as u64, pending);
    assert_eq!(page[0].seq, old_done + recent_done + dead + 1);

    // Every row delivered and then pruned: the numbers come from the counter alone.
    store
        .write(|c| {
            c.execute(
                "UPDATE outbox SET state = 'done', done_at = '2000-01-01T00:00:00.000Z' WHERE state <> 'dead'",
                [],
            )?;
            Ok(())
        })
        .await
        .expect("deliver");
    wms_edge::sync_glue::prune_outbox(&store, week)
        .await
        .expect("prune");
    let f = store.read(outbox::figures).await.expect("figures");
    assert_eq!(f.highest_seq, n);
    assert_eq!(f.depth, dead);
    assert_eq!(
        f.acked_through, n,
        "nothing pending: acked through the counter"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM outbox WHERE state = 'done'").await,
        0
    );
    append(&store, &mem, "acme/SKU-1/A-01/".into()).await;
    let next = count(&store, "SELECT max(seq) FROM outbox").await as u64;
    assert_eq!(next, n + 1, "the next event follows without a gap or reuse");
    let id: String = store
        .read(move |c| {
            Ok(
                c.query_row("SELECT id FROM outbox WHERE seq = ?1", [next as i64], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("id");
    assert_eq!(id, format!("{SITE}:{:012}", n + 1));
}
