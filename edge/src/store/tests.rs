use std::sync::atomic::Ordering;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::json;

use super::base::catalog::{self, LocationInput, ProductInput};
use super::base::{audit, outbox};
use super::orders::{self, LineInput, OrderInput, SupervisorAction};
use super::stock::ledger::{self, AdjustmentInput};
use super::workflow::count;
use super::*;
use crate::domain::order::Status;
use crate::domain::{Actor, Tracking};

pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("t.db"), StoreOptions::default()).expect("open");
    (dir, store)
}

pub(crate) fn origin() -> Origin {
    Origin {
        actor: Actor {
            user: Some("u1".into()),
            device: Some("dev-1".into()),
            api_key: Some("test".into()),
        },
        request_id: Some("req_test".into()),
    }
}

pub(crate) async fn seed(store: &Store) {
    store
        .write(|c| {
            let o = origin();
            catalog::put_product(
                c,
                &o,
                "2026-01-01T00:00:00.000Z",
                "acme",
                "SKU-1",
                ProductInput {
                    tenant_id: None,
                    sku: None,
                    name: "Shirt".into(),
                    barcodes: vec!["00012345600012".into()],
                    weight: None,
                    dimensions: None,
                    tracking: Tracking::None,
                    price: None,
                    price_tiers: vec![],
                    group_prices: vec![],
                    tax_code: None,
                    version: None,
                },
            )?;
            for (code, seq) in [("A-01", 1), ("A-02", 2)] {
                catalog::put_location(
                    c,
                    &o,
                    "2026-01-01T00:00:00.000Z",
                    code,
                    LocationInput {
                        code: None,
                        zone: None,
                        pick_sequence: seq,
                        kind: Default::default(),
                        version: None,
                    },
                )?;
            }
            Ok(())
        })
        .await
        .expect("seed");
}

pub(crate) fn adj(loc: &str, delta: i64) -> AdjustmentInput {
    AdjustmentInput {
        tenant_id: "acme".into(),
        sku: "SKU-1".into(),
        location: loc.into(),
        lot: None,
        delta,
        reason: None,
        note: None,
    }
}

/// Invariant 1: a writer acknowledges only what another connection can already see committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_committed_is_lost_group_commit_acks_only_after_commit() {
    let (dir, store) = temp_store();
    seed(&store).await;
    let path = dir.path().join("t.db");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let entry = store
                .write(move |c| {
                    ledger::adjust(
                        c,
                        "site",
                        &origin(),
                        "2026-01-01T00:00:00.000Z",
                        adj("A-01", 1 + (i % 3)),
                    )
                })
                .await
                .expect("adjust");
            let id = entry.id.expect("booked");
            // A fresh connection sees the row the moment the ack arrives.
            let seen = tokio::task::spawn_blocking(move || {
                let c = Connection::open(&path).expect("open");
                c.query_row("SELECT count(*) FROM ledger WHERE id = ?1", [id], |r| {
                    r.get::<_, i64>(0)
                })
                .expect("query")
            })
            .await
            .expect("join");
            assert_eq!(
                seen, 1,
                "ledger row {id} acknowledged before it was committed"
            );
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let commits = store.stats.commits.load(Ordering::Relaxed);
    let jobs = store.stats.jobs.load(Ordering::Relaxed);
    assert_eq!(jobs, 201);
    assert!(
        commits < jobs,
        "concurrent writes should share commits: {commits} commits for {jobs} jobs"
    );
}

/// A group whose commit fails answers every member with an error, and nothing of it is visible.
#[tokio::test]
async fn a_failed_commit_acknowledges_nothing() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    store.fail_commits(true);
    let results: Vec<_> = futures_join(
        (0..20)
            .map(|_| {
                let s = store.clone();
                async move {
                    s.write(|c| {
                        ledger::adjust(
                            c,
                            "site",
                            &origin(),
                            "2026-01-01T00:00:00.000Z",
                            adj("A-01", 1),
                        )
                    })
                    .await
                }
            })
            .collect(),
    )
    .await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(crate::Error::Commit(_)))),
        "{results:?}"
    );
    store.fail_commits(false);
    let n: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?))
        .await
        .expect("count");
    assert_eq!(n, 0);
    let f = store.read(outbox::figures).await.expect("figures");
    assert_eq!(f.depth, 0);
    assert_eq!(
        f.highest_seq, 0,
        "a rolled-back group must not consume seq numbers"
    );
}

async fn futures_join<F: std::future::Future + Send + 'static>(fs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

/// A refused job in a group rolls back alone; its neighbours commit, and the outbox stays
/// gap-free because the refused job's seq went back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_upstream_outbox_rows_match_committed_changes_with_gap_free_seq() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    let mut handles = Vec::new();
    for i in 0..300i64 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            // Every third job tries to take more than is available and must be refused.
            let delta = if i % 3 == 2 { -1_000_000 } else { 2 };
            s.write(move |c| {
                ledger::adjust(
                    c,
                    "wh-1",
                    &origin(),
                    "2026-01-01T00:00:00.000Z",
                    adj("A-02", delta),
                )
            })
            .await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.expect("join") {
            Ok(_) => ok += 1,
            Err(crate::Error::Conflict(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok, 200);
    let (ledger_n, seqs, ids, on_hand): (i64, Vec<i64>, Vec<String>, i64) = store
        .read(|c| {
            let n = c.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?;
            let mut st = c.prepare(
                "SELECT seq, id FROM outbox WHERE type = 'inventory.adjusted' ORDER BY seq",
            )?;
            let rows: Vec<(i64, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<_, _>>()?;
            let oh = c.query_row(
                "SELECT on_hand FROM stock WHERE location = 'A-02'",
                [],
                |r| r.get(0),
            )?;
            Ok((
                n,
                rows.iter().map(|r| r.0).collect(),
                rows.into_iter().map(|r| r.1).collect(),
                oh,
            ))
        })
        .await
        .expect("read");
    assert_eq!(ledger_n, 200);
    assert_eq!(seqs.len(), 200, "one outbox event per committed change");
    assert_eq!(on_hand, 400);
    let all: Vec<i64> = store
        .read(|c| {
            let mut st = c.prepare("SELECT seq FROM outbox ORDER BY seq")?;
            let v = st
                .query_map([], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?;
            Ok(v)
        })
        .await
        .expect("seqs");
    for (i, s) in all.iter().enumerate() {
        assert_eq!(*s, i as i64 + 1, "outbox seq must be gap-free from 1");
    }
    for (s, id) in seqs.iter().zip(&ids) {
        assert_eq!(id, &format!("wh-1:{s:012}"));
    }
    // The ledger points at its event, one for one.
    let joined: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM ledger l JOIN outbox o ON o.seq = l.event_seq AND o.type = 'inventory.adjusted'", [], |r| r.get(0))?))
        .await
        .expect("join");
    assert_eq!(joined, 200);
}

#[tokio::test]
async fn inventory_never_goes_negative_by_accident_in_the_store() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", 3)))
        .await
        .expect("receive");
    let err = store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", -4)))
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Conflict(_)), "{err}");
    // Reserve 2 with an order; then only 1 may leave by adjustment.
    let order = store
        .write(|c| orders::accept(c, "s", &origin(), "t", order_input("O-1", 2)))
        .await
        .expect("accept");
    assert_eq!(order.status, Status::Allocated);
    let err = store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", -2)))
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Conflict(_)), "{err}");
    store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", -1)))
        .await
        .expect("one unit is free");
    // The database itself refuses negative availability even if a code path forgot to check.
    let raw = store
        .write(|c| {
            c.execute("UPDATE stock SET on_hand = 1 WHERE location = 'A-01'", [])?;
            Ok(())
        })
        .await;
    assert!(
        raw.is_err(),
        "the CHECK constraint must refuse on_hand < reserved"
    );
}

pub(crate) fn order_input(id: &str, qty: i64) -> OrderInput {
    serde_json::from_value(json!({
        "id": id, "tenant_id": "acme", "lines": [{"line_id": "1", "sku": "SKU-1", "qty": qty}],
        "ship_to": {"name": "Ann", "city": "Boston"}
    }))
    .expect("order")
}

#[tokio::test]
async fn orders_without_enough_stock_are_backordered_explicitly() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", 1)))
        .await
        .expect("adj");
    let o = store
        .write(|c| orders::accept(c, "s", &origin(), "t", order_input("O-2", 5)))
        .await
        .expect("accept");
    assert_eq!(o.status, Status::Backordered);
    assert!(o.allocation.is_empty());
    assert_eq!(o.lines[0].reserved, 0);
    let _ = LineInput {
        line_id: "x".into(),
        sku: "y".into(),
        qty: 1,
    };
}

/// Invariant 4 at the store: a cancelled order refuses hold and release; a held one refuses a
/// second hold; cancelling gives its reservations back.
#[tokio::test]
async fn held_or_cancelled_orders_never_ship_store_refuses_transitions() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", 5)))
        .await
        .expect("adj");
    store
        .write(|c| orders::accept(c, "s", &origin(), "t", order_input("O-3", 4)))
        .await
        .expect("accept");
    let act = |what| {
        let s = store.clone();
        async move {
            s.write(move |c| {
                let o = origin();
                let cx = Ctx {
                    conn: c,
                    site: "s",
                    origin: &o,
                    now: "t",
                };
                orders::act(&cx, "O-3", None, what, None)
            })
            .await
        }
    };
    assert_eq!(
        act(SupervisorAction::Hold).await.expect("hold").status,
        Status::OnHold
    );
    assert!(matches!(
        act(SupervisorAction::Hold).await,
        Err(crate::Error::Conflict(_))
    ));
    assert_eq!(
        act(SupervisorAction::Release)
            .await
            .expect("release")
            .status,
        Status::Allocated
    );
    assert!(matches!(
        act(SupervisorAction::Release).await,
        Err(crate::Error::Conflict(_))
    ));
    let cancelled = act(SupervisorAction::Cancel).await.expect("cancel");
    assert_eq!(cancelled.status, Status::Cancelled);
    assert!(cancelled.allocation.is_empty());
    for what in [
        SupervisorAction::Hold,
        SupervisorAction::Release,
        SupervisorAction::Cancel,
    ] {
        assert!(
            matches!(act(what).await, Err(crate::Error::Conflict(_))),
            "{what:?}"
        );
    }
    let pos = store
        .read(|c| ledger::position(c, "acme", "SKU-1", "A-01", ""))
        .await
        .expect("pos");
    assert_eq!(pos.reserved, 0);
    let timeline: Vec<Status> = store
        .read(|c| orders::get_order(c, "O-3"))
        .await
        .expect("get")
        .expect("order")
        .timeline
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(
        timeline,
        vec![
            Status::Received,
            Status::Allocated,
            Status::OnHold,
            Status::Allocated,
            Status::Cancelled
        ]
    );
}

#[tokio::test]
async fn a_count_below_reservations_backorders_the_newest_orders() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", 6)))
        .await
        .expect("adj");
    store
        .write(|c| orders::accept(c, "s", &origin(), "t", order_input("O-a", 3)))
        .await
        .expect("a");
    store
        .write(|c| orders::accept(c, "s", &origin(), "t", order_input("O-b", 3)))
        .await
        .expect("b");
    let entry = store
        .write(|c| {
            let origin = origin();
            let cx = Ctx {
                conn: c,
                site: "s",
                origin: &origin,
                now: "t",
            };
            count::count(
                &cx,
                ledger::CountInput {
                    tenant_id: "acme".into(),
                    sku: "SKU-1".into(),
                    location: "A-01".into(),
                    lot: None,
                    counted: 4,
                },
            )
        })
        .await
        .expect("count");
    assert_eq!(entry.delta, -2);
    assert_eq!(entry.on_hand_after, 4);
    assert!(entry.available_after >= 0);
    let a = store
        .read(|c| orders::get_order(c, "O-a"))
        .await
        .expect("a")
        .expect("a");
    let b = store
        .read(|c| orders::get_order(c, "O-b"))
        .await
        .expect("b")
        .expect("b");
    assert_eq!(a.status, Status::Allocated);
    assert_eq!(b.status, Status::Backordered);
}

#[test]
fn a_database_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.db");
    {
        let c = Connection::open(&path).expect("open");
        c.pragma_update(None, "user_version", 999).expect("set");
    }
    let err = Store::open(&path, StoreOptions::default())
        .err()
        .expect("must refuse");
    let msg = err.to_string();
    assert!(matches!(err, crate::Error::SchemaTooNew(_)));
    assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
}

#[test]
fn migrations_are_applied_once_and_pragmas_are_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.db");
    let c = open_and_migrate(&path).expect("first");
    assert_eq!(
        schema_version(&c).expect("v"),
        schema::MIGRATIONS.len() as i64
    );
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    let sync: i64 = c
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .expect("sync");
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous must be FULL");
    let temp: i64 = c
        .pragma_query_value(None, "temp_store", |r| r.get(0))
        .expect("temp_store");
    assert_eq!(temp, 2, "savepoint sub-journals stay in memory");
    drop(c);
    let c = open_and_migrate(&path).expect("second open is a no-op");
    assert_eq!(
        schema_version(&c).expect("v"),
        schema::MIGRATIONS.len() as i64
    );
}

#[test]
fn stock_positions_survive_the_move_to_a_table_without_rowid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v4.db");
    {
        let c = Connection::open(&path).expect("open");
        for (i, sql) in schema::MIGRATIONS.iter().take(4).enumerate() {
            c.execute_batch(sql).expect("old migration");
            c.pragma_update(None, "user_version", i as i64 + 1)
                .expect("version");
        }
        c.execute_batch(
            "INSERT INTO stock(tenant_id, sku, location, lot, on_hand, reserved) VALUES
                ('acme', 'SKU-2', 'A-01', '', 4, 1),
                ('acme', 'SKU-1', 'B-01', 'L7', 9, 0);",
        )
        .expect("v4 rows");
    }
    let c = open_and_migrate(&path).expect("migrate");
    let rows = ledger::list_stock(
        &c,
        &ledger::StockFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .expect("list");
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.sku.as_str(), r.location.as_str(), r.on_hand, r.available))
        .collect();
    assert_eq!(got, vec![("SKU-1", "B-01", 9, 9), ("SKU-2", "A-01", 4, 3)]);
    let without_rowid: bool = c
        .query_row(
            "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema WHERE name = 'stock'",
            [],
            |r| r.get(0),
        )
        .expect("schema");
    assert!(without_rowid);
    let negative = c.execute("UPDATE stock SET reserved = 5 WHERE sku = 'SKU-2'", []);
    assert!(negative.is_err(), "the CHECK must survive the rebuild");
}

#[tokio::test]
async fn everything_is_attributable_ledger_and_audit_are_append_only() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    store
        .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", 1)))
        .await
        .expect("adj");
    for sql in [
        "UPDATE ledger SET delta = 5",
        "DELETE FROM ledger",
        "UPDATE audit SET action = 'x'",
        "DELETE FROM audit",
    ] {
        let r = store
            .write(move |c| {
                c.execute(sql, [])?;
                Ok(())
            })
            .await;
        assert!(r.is_err(), "{sql} must be refused");
    }
    let entries = store
        .read(|c| {
            audit::list(
                c,
                &audit::AuditFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .await
        .expect("audit");
    let e = entries
        .iter()
        .find(|e| e.action == "inventory.adjusted")
        .expect("audit row for the adjustment");
    assert_eq!(e.actor.user.as_deref(), Some("u1"));
    assert_eq!(e.actor.device.as_deref(), Some("dev-1"));
    assert_eq!(e.actor.api_key.as_deref(), Some("test"));
    assert_eq!(e.changes, json!({"on_hand": {"old": 0, "new": 1}}));
    let _ = Arc::new(());
}

/// An order is flagged `missed_cutoff` once, when its cut-off is less than the warning away;
/// orders far from theirs, without one, or already shipped or cancelled are not.
#[tokio::test]
async fn a_cutoff_is_flagged_once_and_only_when_near() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    let now = chrono::Utc::now();
    let at = |mins: i64| crate::domain::time::format(now + chrono::Duration::minutes(mins));
    for (id, ship_by) in [
        ("O-near", Some(at(20))),
        ("O-far", Some(at(600))),
        ("O-none", None),
    ] {
        let mut input = order_input(id, 1);
        input.ship_by = ship_by;
        store
            .write(move |c| orders::accept(c, "s", &origin(), "t", input))
            .await
            .expect("accept");
    }
    let flag = || {
        store.write(move |c| {
            let o = origin();
            let cx = Ctx {
                conn: c,
                site: "s",
                origin: &o,
                now: "t",
            };
            orders::flag_cutoffs(&cx, now, chrono::Duration::minutes(60))
        })
    };
    assert_eq!(flag().await.expect("flag"), vec!["O-near".to_string()]);
    assert!(flag().await.expect("flag again").is_empty());
    let events: i64 = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM outbox WHERE type = 'order.exception' AND body LIKE '%missed_cutoff%'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("read");
    assert_eq!(events, 1);
}

/// Cut-offs given with any offset are kept in UTC, so the pick queue and backorders, which sort
/// them as text, sort them in time order.
#[tokio::test]
async fn cutoffs_with_offsets_are_kept_in_utc_and_sort_in_time_order() {
    let (_dir, store) = temp_store();
    seed(&store).await;
    for (id, ship_by) in [
        ("O-late", "2026-12-02T14:30:00Z"),
        // 14:00 UTC, but "…09:00…" sorts first as text and "…19:00…" last.
        ("O-ny", "2026-12-02T09:00:00-05:00"),
        ("O-early", "2026-12-02T19:15:00+05:30"),
    ] {
        let mut input = order_input(id, 1);
        input.ship_by = Some(ship_by.into());
        store
            .write(move |c| orders::accept(c, "s", &origin(), "t", input))
            .await
            .expect("accept");
    }
    let rows: Vec<(String, String)> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT id, ship_by FROM orders ORDER BY ship_by")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .expect("read");
    assert_eq!(
        rows,
        vec![
            (
                "O-early".to_string(),
                "2026-12-02T13:45:00.000Z".to_string()
            ),
            ("O-ny".to_string(), "2026-12-02T14:00:00.000Z".to_string()),
            ("O-late".to_string(), "2026-12-02T14:30:00.000Z".to_string()),
        ]
    );
}

#[tokio::test]
async fn the_tills_reference_data_arrives_by_down_sync_and_prices_a_cart() {
    use crate::domain::pos::pricing::{self, Cart, CartLine, Register};
    use crate::domain::pos::Percent;
    use wms_sync::wire::{Change, RawChange};

    let (_d, store) = temp_store();
    let raw = |id: u64, kind: &str, object: serde_json::Value| {
        Change::from_raw(RawChange {
            change_id: id,
            kind: kind.into(),
            object,
        })
    };
    let page = vec![
        raw(
            1,
            "product.upsert",
            json!({"tenant_id": "acme", "sku": "TEE", "name": "Tee",
            "tracking": "none", "price": {"amount": 2000, "currency": "USD"},
            "price_tiers": [{"min_qty": 3, "amount": 1800}],
            "group_prices": [{"group": "staff", "amount": 1500}], "tax_code": "STD", "version": 1}),
        ),
        raw(
            2,
            "tax_rate.upsert",
            json!({"code": "STD", "name": "Sales tax", "rate": "8.875", "version": 1}),
        ),
        raw(
            3,
            "promotion.upsert",
            json!({"id": "PR-3FOR2", "tenant_id": "acme", "name": "3 for 2",
            "code": null, "kind": "buy_x_get_y", "skus": ["TEE"], "buy_qty": 2, "get_qty": 1,
            "active": true, "version": 1}),
        ),
        raw(
            4,
            "customer.upsert",
            json!({"id": "C-1", "tenant_id": "acme", "name": "Pat",
            "loyalty_id": "L-100", "group": "staff", "active": true, "version": 1}),
        ),
        raw(
            5,
            "location.upsert",
            json!({"code": "STORE", "kind": "store", "version": 1}),
        ),
        // A tax rate that is not a decimal is refused, not stored.
        raw(
            6,
            "tax_rate.upsert",
            json!({"code": "BAD", "rate": "eight", "version": 1}),
        ),
        // An older version of the rate changes nothing.
        raw(
            7,
            "tax_rate.upsert",
            json!({"code": "STD", "rate": "50", "version": 0}),
        ),
    ];
    let report = store
        .write(move |c| crate::store::sync::apply_page(c, "st-1", &page, "c7"))
        .await
        .expect("page");
    assert_eq!(report.applied, 5, "{report:?}");
    let (catalog, customer, kind) = store
        .read(|c| {
            Ok((
                base::prices::catalog_for(c, "acme", &["TEE"], "2026-12-06T12:00:00Z")?,
                base::customers::by_loyalty(c, "acme", "L-100")?,
                c.query_row("SELECT kind FROM locations WHERE code = 'STORE'", [], |r| {
                    r.get::<_, String>(0)
                })?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(kind, "store");
    assert_eq!(catalog.tax_rates.len(), 1, "{:?}", catalog.tax_rates);
    assert_eq!(
        catalog.tax_rates[0].rate,
        Percent::parse("8.875").expect("pct")
    );
    let customer = customer.expect("customer by loyalty id");
    let register = Register {
        prices_include_tax: false,
        discount_limit_pct: Percent::whole(10),
    };
    let mut cart = Cart {
        lines: vec![CartLine {
            line_id: "L1".into(),
            sku: "TEE".into(),
            qty: 3,
        }],
        ..Cart::default()
    };
    // 3 × 1800 (tier) − one free = 3600; tax 8.875 % = 319.5 → 320.
    let p = pricing::price(&register, &cart, &catalog).expect("priced");
    assert_eq!(
        (
            p.totals.subtotal,
            p.totals.discount,
            p.totals.tax,
            p.totals.total
        ),
        (5400, 1800, 320, 3920)
    );
    cart.customer_group = customer.group;
    let p = pricing::price(&register, &cart, &catalog).expect("priced");
    assert_eq!(p.lines[0].unit_price, 1500, "the staff price");
}

/// The watchdog's probe: the writer answers an empty job even while commits fail (the node on a
/// full disk must keep answering), and never while another connection holds the write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_ping_answers_while_commits_fail_but_not_while_the_write_lock_is_held() {
    let (_dir, store) = temp_store();
    store.ping_writer().await.expect("an idle writer answers");
    store.fail_commits(true);
    store
        .ping_writer()
        .await
        .expect("a failing commit is still progress");
    store.fail_commits(false);
    let holder = rusqlite::Connection::open(store.path()).expect("open");
    holder.execute_batch("BEGIN IMMEDIATE").expect("write lock");
    let wedged =
        tokio::time::timeout(std::time::Duration::from_millis(500), store.ping_writer()).await;
    assert!(
        !matches!(wedged, Ok(Ok(()))),
        "answered with the lock held elsewhere"
    );
    holder.execute_batch("ROLLBACK").expect("release");
    // The writer gets through once the lock is gone (its busy timeout is 5 s).
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while store.ping_writer().await.is_err() {}
    })
    .await
    .expect("the writer makes progress again");
}

/// Commits never copy the WAL back themselves: the checkpoint thread does, while the writer goes
/// on; the writer copies the few frames committed meanwhile, and the log starts over. Under writes
/// without pause (four writers, one 4 KiB row a commit each) the file stays bounded (about 4 MB
/// here; without the checkpoint it would pass 48 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_off_the_writer_and_stays_bounded() {
    let (dir, store) = temp_store();
    store
        .write(|c| {
            c.execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")?;
            Ok(())
        })
        .await
        .expect("table");
    let wal = dir.path().join("t.db-wal");
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let wal = wal.clone();
            tokio::spawn(async move {
                let (mut largest, mut restarted, mut seen_full) = (0u64, false, false);
                for _ in 0..1500 {
                    store
                        .write(|c| {
                            c.execute("INSERT INTO blobs(data) VALUES (zeroblob(4096))", [])?;
                            Ok(())
                        })
                        .await
                        .expect("write");
                    largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                    let frames = store.stats.wal_frames.load(Ordering::Relaxed);
                    seen_full |= frames >= CHECKPOINT_FRAMES;
                    restarted |= seen_full && frames < CHECKPOINT_FRAMES / 2;
                }
                (largest, restarted)
            })
        })
        .collect();
    let mut largest = 0;
    let mut restarted = false;
    for w in writers {
        let (l, r) = w.await.expect("writer");
        largest = largest.max(l);
        restarted |= r;
    }
    let checkpoints = store.stats.checkpoints.load(Ordering::Relaxed);
    assert!(checkpoints > 0, "the checkpoint thread never ran");
    assert!(
        store.stats.finishing_checkpoints.load(Ordering::Relaxed) > 0,
        "the writer never copied the last frames"
    );
    assert!(restarted, "the log was never started over");
    // Each of the 6000 rows is at least two pages: unchecked, the log would pass 48 MB.
    let bound = (WAL_FRAMES_LIMIT + 512) * (4096 + 24);
    assert!(
        largest <= bound,
        "WAL grew to {largest} bytes (bound {bound}); {checkpoints} checkpoint passes, {} by the writer",
        store.stats.writer_checkpoints.load(Ordering::Relaxed)
    );
    let rows: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))?))
        .await
        .expect("count");
    assert_eq!(rows, 6000);
}
