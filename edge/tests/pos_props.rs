//! Property test of the till's books through the real store (a SQLite file, the store's writer):
//! random sequences of sales, refunds, voids and cash movements in one register session. Whatever
//! the sequence, no line is refunded beyond what was sold or for more than it was charged; the
//! X report equals the sums of the session's own rows, and the Z report the X report plus the
//! count; and each business action is in the outbox exactly once (the sync tests prove the
//! central then applies each outbox event once). Cases: `PROPTEST_CASES` (default 12).

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use wms_edge::config::RegisterConfig;
use wms_edge::domain::pos::refund::RefundTo;
use wms_edge::domain::Actor;
use wms_edge::store::base::catalog::{self, LocationInput, ProductInput};
use wms_edge::store::base::prices::{self, TaxRateRow};
use wms_edge::store::workflow::pos::cash::{self, MovementIn};
use wms_edge::store::workflow::pos::payments::{self, TenderRequest};
use wms_edge::store::workflow::pos::refund::{self, RefundIn, RefundLineIn, RefundStep};
use wms_edge::store::workflow::pos::sales::{self, CartChange};
use wms_edge::store::workflow::pos::void::{self, VoidIn, VoidStep};
use wms_edge::store::workflow::pos::{registers, reports};
use wms_edge::store::{Ctx, Origin, Store, StoreOptions};

const SITE: &str = "st-props";
const SKUS: [(&str, i64); 3] = [("A", 999), ("B", 1250), ("C", 333)];

#[derive(Debug, Clone)]
enum Op {
    /// Units of each SKU (0..3), paid in cash.
    Sale(Vec<(usize, i64)>),
    /// Refund `qty` of line `line` of sale `sale` (indexes wrap), restocked or not.
    Refund(usize, usize, i64, bool),
    Void(usize),
    /// pay_in / pay_out / safe_drop of an amount.
    Move(u8, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec((0usize..3, 1i64..4), 1..4).prop_map(Op::Sale),
        3 => (0usize..20, 0usize..3, 1i64..4, any::<bool>()).prop_map(|(s, l, q, r)| Op::Refund(s, l, q, r)),
        1 => (0usize..20).prop_map(Op::Void),
        1 => (0u8..3, 1i64..5_000).prop_map(|(k, a)| Op::Move(k, a)),
    ]
}

fn origin() -> Origin {
    Origin {
        actor: Actor {
            user: Some("u-1".into()),
            device: Some("props".into()),
            api_key: None,
        },
        request_id: None,
    }
}

fn register() -> RegisterConfig {
    let toml = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = \"/tmp/unused\"\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [stations.pos]\ncash_rounding = 5\n"
    );
    wms_edge::config::parse("props.toml", &toml)
        .expect("config")
        .registers()
        .remove(0)
}

/// Runs `f` in one write with a context.
fn write<R: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    f: impl FnOnce(&Ctx<'_>) -> wms_edge::Result<R> + Send + 'static,
) -> wms_edge::Result<R> {
    rt.block_on(store.write(move |c| {
        let now = wms_edge::domain::time::now();
        let o = origin();
        let cx = Ctx {
            conn: c,
            site: SITE,
            origin: &o,
            now: &now,
        };
        f(&cx)
    }))
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("till.db"), StoreOptions::default()).expect("open");
    let reg = Arc::new(register());
    let r0 = reg.clone();
    let session = write(&rt, &store, move |cx| {
        let l: LocationInput = serde_json::from_value(json!({"kind": "store"}))?;
        catalog::put_location(cx.conn, cx.origin, cx.now, "STORE", l)?;
        prices::put_tax_rate(
            cx.conn,
            cx.origin,
            cx.now,
            &TaxRateRow {
                code: "STD".into(),
                name: None,
                rate: "8.875".into(),
                version: None,
            },
        )?;
        for (sku, price) in SKUS {
            let p: ProductInput = serde_json::from_value(json!({"name": sku, "tax_code": "STD",
                "price": {"amount": price, "currency": "USD"}}))?;
            catalog::put_product(cx.conn, cx.origin, cx.now, "acme", sku, p)?;
        }
        registers::open_session(cx, &r0, "u-1", 10_000)
    })
    .expect("seed");
    let mut sales_done: Vec<String> = Vec::new();
    let mut actions: HashMap<&str, i64> = HashMap::new();
    for (n, o) in ops.into_iter().enumerate() {
        let r = reg.clone();
        match o {
            Op::Sale(items) => {
                let id = write(&rt, &store, move |cx| {
                    let s = sales::create_sale(cx, &r, "u-1", None)?;
                    for (i, q) in items {
                        sales::change_cart(
                            cx,
                            &r,
                            &s.id,
                            CartChange::AddLine {
                                code: None,
                                sku: Some(SKUS[i].0.into()),
                                qty: q,
                            },
                            None,
                        )?;
                    }
                    payments::pay_cash(
                        cx,
                        &r,
                        &s.id,
                        &TenderRequest {
                            idempotency_key: format!("k{n}"),
                            request_hash: String::new(),
                            amount: None,
                            tendered: None,
                        },
                    )?;
                    Ok(s.id)
                })
                .expect("sale");
                sales_done.push(id);
                *actions.entry("pos.sale_completed").or_default() += 1;
            }
            Op::Refund(si, li, qty, restock) if !sales_done.is_empty() => {
                let sid = sales_done[si % sales_done.len()].clone();
                let out = write(&rt, &store, move |cx| {
                    let s = wms_edge::store::workflow::pos::sale(cx.conn, &sid)?;
                    let Some(line) = s.priced.lines.get(li % s.priced.lines.len().max(1)) else {
                        return Ok(None);
                    };
                    let rf = RefundIn {
                        lines: vec![RefundLineIn {
                            line_id: line.line_id.clone(),
                            qty,
                            restock,
                        }],
                        reason: "prop".into(),
                        approved_by: None,
                        to: RefundTo::Original,
                        customer_id: None,
                    };
                    match refund::begin_refund(cx, &r, &sid, "u-1", &rf, String::new) {
                        Ok(RefundStep::Done(done)) => Ok(Some(done.amount)),
                        Ok(RefundStep::Reverse(..)) => Err(wms_edge::Error::Internal(
                            "a cash sale needs no reversal".into(),
                        )),
                        // Over-refunds and refunds of voided sales are refused, nothing changes.
                        Err(wms_edge::Error::Conflict(_)) => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .expect("refund");
                if out.is_some() {
                    *actions.entry("pos.sale_refunded").or_default() += 1;
                }
            }
            Op::Void(si) if !sales_done.is_empty() => {
                let sid = sales_done[si % sales_done.len()].clone();
                let done = write(&rt, &store, move |cx| {
                    let v = VoidIn {
                        reason: "prop".into(),
                        approved_by: Some("u-sup".into()),
                    };
                    match void::begin_void(cx, &r, &sid, &v, String::new) {
                        Ok(VoidStep::Done(_)) => Ok(true),
                        Ok(VoidStep::Reverse(_)) => Err(wms_edge::Error::Internal(
                            "a cash sale needs no reversal".into(),
                        )),
                        // Refunded or already voided: refused, nothing changes.
                        Err(wms_edge::Error::Conflict(_)) => Ok(false),
                        Err(e) => Err(e),
                    }
                })
                .expect("void");
                if done {
                    *actions.entry("pos.sale_voided").or_default() += 1;
                }
            }
            Op::Move(k, amount) => {
                let kind = ["pay_in", "pay_out", "safe_drop"][k as usize];
                let sess = session.id.clone();
                let done = write(&rt, &store, move |cx| {
                    match cash::cash_movement(
                        cx,
                        &r,
                        &sess,
                        "u-1",
                        MovementIn {
                            kind: kind.into(),
                            amount,
                            reason: Some("prop".into()),
                            approved_by: None,
                        },
                    ) {
                        Ok(_) => Ok(true),
                        // More than the drawer holds.
                        Err(wms_edge::Error::Conflict(_)) => Ok(false),
                        Err(e) => Err(e),
                    }
                })
                .expect("movement");
                if done {
                    *actions.entry("pos.cash_movement").or_default() += 1;
                }
            }
            _ => {}
        }
    }
    // The books, read straight from the rows.
    let r = reg.clone();
    let sess = session.id.clone();
    let (x, rows) = rt
        .block_on(store.read(move |c| {
            let x = reports::session_report_now(c, &r, &sess)?;
            let lines: Vec<(i64, i64, i64, i64)> = c
                .prepare(
                    "SELECT
                       (SELECT coalesce(sum(rl.qty), 0) FROM pos_refund_lines rl
                          JOIN pos_refunds rf ON rf.id = rl.refund_id
                         WHERE rf.sale_id = s.id AND rl.line_id = json_extract(l.value, '$.line_id')),
                       json_extract(l.value, '$.qty'),
                       (SELECT coalesce(sum(rl.amount), 0) FROM pos_refund_lines rl
                          JOIN pos_refunds rf ON rf.id = rl.refund_id
                         WHERE rf.sale_id = s.id AND rl.line_id = json_extract(l.value, '$.line_id')),
                       json_extract(l.value, '$.net') + json_extract(l.value, '$.tax')
                       FROM pos_sales s, json_each(s.priced, '$.lines') l",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let completed_total: i64 = c.query_row(
                "SELECT coalesce(sum(total), 0) FROM pos_sales WHERE status = 'completed'",
                [],
                |row| row.get(0),
            )?;
            let refunded: i64 = c.query_row(
                "SELECT coalesce(sum(amount), 0) FROM pos_refunds WHERE state = 'completed'",
                [],
                |row| row.get(0),
            )?;
            let cash_in: i64 = c.query_row(
                "SELECT coalesce(sum(p.amount), 0) FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
                  WHERE s.status = 'completed' AND p.method = 'cash' AND p.state = 'approved'",
                [],
                |row| row.get(0),
            )?;
            let moved: i64 = c.query_row(
                "SELECT coalesce(sum(CASE kind WHEN 'pay_in' THEN amount ELSE -amount END), 0)
                   FROM pos_cash_movements",
                [],
                |row| row.get(0),
            )?;
            let events: Vec<(String, i64, i64)> = c
                .prepare("SELECT type, count(*), count(DISTINCT id) FROM outbox GROUP BY type")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((x, (lines, completed_total, refunded, cash_in, moved, events)))
        }))
        .expect("read");
    let (lines, completed_total, refunded, cash_in, moved, events) = rows;
    for (refunded_qty, qty, refunded_amount, charged) in &lines {
        prop_assert!(refunded_qty <= qty, "a line refunded beyond what was sold");
        prop_assert!(
            refunded_amount <= charged,
            "a line refunded beyond its charge"
        );
        if refunded_qty == qty {
            prop_assert_eq!(
                refunded_amount,
                charged,
                "a whole line returns exactly its charge"
            );
        }
    }
    prop_assert_eq!(
        x.totals.sales.net.amount + x.totals.sales.tax.amount,
        completed_total
    );
    prop_assert_eq!(x.totals.refunds.amount.amount, refunded);
    // Every refund here is cash (the sales were cash).
    prop_assert_eq!(x.cash.expected.amount, 10_000 + cash_in - refunded + moved);
    for (kind, n, distinct) in &events {
        prop_assert_eq!(n, distinct, "an event id twice");
        if let Some(want) = actions.get(kind.as_str()) {
            prop_assert_eq!(n, want, "{} events for {} actions", n, kind);
        }
    }
    // The close: the Z report is the X report with the count.
    let r = reg.clone();
    let sess = session.id.clone();
    let expected = x.cash.expected.amount;
    let z = write(&rt, &store, move |cx| {
        reports::close_session(cx, &r, &sess, expected + 5, None)
    })
    .expect("close");
    prop_assert_eq!(z.z_no, Some(1));
    prop_assert_eq!(&z.totals, &x.totals);
    prop_assert_eq!(z.cash.over_short.map(|m| m.amount), Some(5));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12),
        .. ProptestConfig::default()
    })]

    #[test]
    fn refunds_never_exceed_the_sale_and_reports_add_up(ops in proptest::collection::vec(op(), 1..25)) {
        run(ops)?;
    }
}
