//! The site as a station workflow sees it: [`TxView`], a `FloorView` over the write transaction
//! itself, so what the pure workflow decides on is what the step will commit.
//!
//! PINs: Argon2 is slow, so the step verifies a `PIN:` scan on a blocking thread *before* the
//! write (against the user the persisted state awaits) and the view answers from that result;
//! the writer thread never hashes.

use std::cell::RefCell;

use rusqlite::{Connection, OptionalExtension};

use crate::domain::role::Role;
use crate::domain::station::{
    FloorView, LocationView, OrderView, PickTask, ProductView, PutBack, StockView, UserView,
};
use crate::error::{Error, Result};
use crate::store::base::catalog;
use crate::store::orders;

/// A precomputed PIN check: (user id, whether the PIN matched).
pub(super) type PinCheck = Option<(String, bool)>;

/// The site as a station sees it, read from the write transaction.
pub struct TxView<'a> {
    conn: &'a Connection,
    pin: PinCheck,
    /// The first SQL error a read hit; the step fails with it rather than deciding on a guess.
    error: RefCell<Option<Error>>,
}

impl<'a> TxView<'a> {
    pub(super) fn new(conn: &'a Connection, pin: PinCheck) -> Self {
        TxView {
            conn,
            pin,
            error: RefCell::new(None),
        }
    }

    fn keep<T: Default>(&self, r: Result<T>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => {
                let mut slot = self.error.borrow_mut();
                if slot.is_none() {
                    *slot = Some(e);
                }
                T::default()
            }
        }
    }

    pub(super) fn take_error(&self) -> Option<Error> {
        self.error.borrow_mut().take()
    }
}

fn task_id(reservation_id: i64) -> String {
    format!("T{reservation_id}")
}

pub(super) fn reservation_of(task_id: &str) -> Option<i64> {
    task_id.strip_prefix('T')?.parse().ok()
}

fn lot_opt(lot: String) -> Option<String> {
    (!lot.is_empty()).then_some(lot)
}

const TASK_SQL: &str =
    "SELECT r.id, r.order_id, r.line_id, r.tenant_id, r.sku, r.location, r.lot, r.qty
     FROM reservations r JOIN orders o ON o.id = r.order_id
     LEFT JOIN locations l ON l.code = r.location
     LEFT JOIN pick_tasks c ON c.reservation_id = r.id";

/// The open pick tasks a user may take, most urgent first; with `of_order`, one order's only.
/// `?2 IS NULL OR r.order_id = ?2` would hide the order index from the planner, and every scan at
/// a tote opened for one order would sort all the site's open tasks: one statement for each case.
fn pick_tasks_sql(of_order: bool) -> String {
    let of_order = if of_order {
        "AND r.order_id = ?2"
    } else {
        "AND ?2 IS NULL"
    };
    format!(
        "{TASK_SQL}
         WHERE o.status IN ('allocated', 'picking', 'exception')
           AND (c.user_id IS NULL OR c.user_id = ?1) {of_order}
         ORDER BY c.user_id IS NULL,
                  CASE o.priority WHEN 'overnight' THEN 0 WHEN 'two_day' THEN 1 ELSE 2 END,
                  o.ship_by IS NULL, o.ship_by,
                  coalesce(l.kind = 'bulk', 0), coalesce(l.pick_sequence, 0), r.location, r.id"
    )
}

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PickTask> {
    let qty: i64 = r.get(7)?;
    Ok(PickTask {
        task_id: task_id(r.get(0)?),
        order_id: r.get(1)?,
        line_id: r.get(2)?,
        tenant_id: r.get(3)?,
        sku: r.get(4)?,
        location: r.get(5)?,
        lot: lot_opt(r.get(6)?),
        expiry: None,
        qty: u32::try_from(qty).unwrap_or(0),
    })
}

fn product_view(p: catalog::Product) -> ProductView {
    let weight_mg = p.weight.as_ref().and_then(|w| {
        let unit = serde_json::to_value(w.unit).ok()?;
        crate::domain::weight::to_mg(&w.value, unit.as_str()?)
    });
    ProductView {
        tenant_id: p.tenant_id,
        sku: p.sku,
        tracking: p.tracking,
        weight_mg,
    }
}

impl FloorView for TxView<'_> {
    fn user_by_badge(&self, badge: &str) -> Option<UserView> {
        let r =
            (|| -> Result<Option<UserView>> {
                let row: Option<(String, Option<String>, String, String)> = self
                .conn
                .prepare_cached(
                    "SELECT id, tenant_id, name, roles FROM users WHERE badge = ?1 AND active = 1",
                )?
                .query_row([badge], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
                Ok(row.map(|(user_id, tenant_id, name, roles)| {
                    let roles: Vec<String> = serde_json::from_str(&roles).unwrap_or_default();
                    UserView {
                        user_id,
                        name,
                        tenant_id,
                        roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
                    }
                }))
            })();
        self.keep(r)
    }

    fn verify_pin(&self, user_id: &str, _pin: &str) -> bool {
        // Checked before the write, on a blocking thread (see the module doc).
        self.pin.as_ref().is_some_and(|(u, ok)| u == user_id && *ok)
    }

    fn products_by_code(&self, code: &str) -> Vec<ProductView> {
        let r = (|| -> Result<Vec<ProductView>> {
            let keys = catalog::products_by_code(self.conn, code)?;
            let mut out = Vec::new();
            for (t, s) in keys {
                if let Some(p) = catalog::get_product(self.conn, &t, &s)? {
                    out.push(product_view(p));
                }
            }
            Ok(out)
        })();
        self.keep(r)
    }

    fn product(&self, tenant_id: &str, sku: &str) -> Option<ProductView> {
        let r = catalog::get_product(self.conn, tenant_id, sku).map(|p| p.map(product_view));
        self.keep(r)
    }

    fn order(&self, order_id: &str) -> Option<OrderView> {
        let r = orders::order_view(self.conn, order_id);
        self.keep(r)
    }

    fn orders_in_tote(&self, tote: &str) -> Vec<String> {
        let r = (|| -> Result<Vec<String>> {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT DISTINCT t.order_id FROM tote_contents t JOIN orders o ON o.id = t.order_id
                     WHERE t.tote = ?1 AND o.status NOT IN ('shipped', 'partially_shipped')
                     ORDER BY t.order_id",
                )?
                .query_map([tote], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?)
        })();
        self.keep(r)
    }

    fn pick_tasks(&self, user_id: &str, order: Option<&str>) -> Vec<PickTask> {
        let r = (|| -> Result<Vec<PickTask>> {
            Ok(self
                .conn
                .prepare_cached(&pick_tasks_sql(order.is_some()))?
                .query_map(rusqlite::params![user_id, order], task_from_row)?
                .collect::<std::result::Result<_, _>>()?)
        })();
        self.keep(r)
    }

    fn pick_task(&self, task_id: &str) -> Option<PickTask> {
        let id = reservation_of(task_id)?;
        let r = (|| -> Result<Option<PickTask>> {
            let sql = format!("{TASK_SQL} WHERE r.id = ?1");
            Ok(self
                .conn
                .prepare_cached(&sql)?
                .query_row([id], task_from_row)
                .optional()?)
        })();
        self.keep(r)
    }

    fn put_backs(&self, tote: &str) -> Vec<PutBack> {
        let r = (|| -> Result<Vec<PutBack>> {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT t.tote, t.order_id, t.line_id, t.tenant_id, t.sku, t.lot, t.qty, t.from_location
                     FROM tote_contents t JOIN orders o ON o.id = t.order_id
                     WHERE t.tote = ?1 AND o.status IN ('cancelled', 'partially_shipped')
                     ORDER BY t.order_id, t.line_id, t.lot",
                )?
                .query_map([tote], |r| {
                    let qty: i64 = r.get(6)?;
                    Ok(PutBack {
                        tote: r.get(0)?,
                        order_id: r.get(1)?,
                        line_id: r.get(2)?,
                        tenant_id: r.get(3)?,
                        sku: r.get(4)?,
                        lot: lot_opt(r.get(5)?),
                        qty: u32::try_from(qty).unwrap_or(0),
                        location: r.get(7)?,
                    })
                })?
                .collect::<std::result::Result<_, _>>()?)
        })();
        self.keep(r)
    }

    fn location(&self, code: &str) -> Option<LocationView> {
        let r = catalog::get_location(self.conn, code).map(|l| {
            l.map(|l| LocationView {
                code: l.code,
                kind: l.kind,
            })
        });
        self.keep(r)
    }

    fn stock_at(&self, location: &str) -> Vec<StockView> {
        let r = (|| -> Result<Vec<StockView>> {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT tenant_id, sku, lot, on_hand FROM stock WHERE location = ?1 AND on_hand <> 0
                     ORDER BY tenant_id, sku, lot",
                )?
                .query_map([location], |r| {
                    Ok(StockView {
                        tenant_id: r.get(0)?,
                        sku: r.get(1)?,
                        lot: lot_opt(r.get(2)?),
                        on_hand: r.get(3)?,
                    })
                })?
                .collect::<std::result::Result<_, _>>()?)
        })();
        self.keep(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::stock::ledger;
    use crate::store::tests::{adj, order_input, origin, seed, temp_store};

    /// A tote opened for one order reads that order's tasks alone, through the order index:
    /// every scan at such a tote once sorted all the site's open tasks, and 45 stations ending
    /// their orders together queued a tenth of a second of that in front of every scanner.
    #[tokio::test]
    async fn pick_tasks_of_one_order_are_read_through_the_order_index() {
        let (_dir, store) = temp_store();
        seed(&store).await;
        store
            .write(|c| ledger::adjust(c, "s", &origin(), "t", adj("A-01", 100)))
            .await
            .expect("stock");
        for (id, qty) in [("O-1", 2), ("O-2", 3), ("O-3", 1)] {
            store
                .write(move |c| orders::accept(c, "s", &origin(), "t", order_input(id, qty)))
                .await
                .expect("accept");
        }
        let (all, one, unknown, plan) = store
            .write(|conn| {
                let view = TxView::new(conn, None);
                let all = view.pick_tasks("u1", None);
                let one = view.pick_tasks("u1", Some("O-2"));
                let unknown = view.pick_tasks("u1", Some("O-9"));
                if let Some(e) = view.take_error() {
                    return Err(e);
                }
                let plan: Vec<String> = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {}", pick_tasks_sql(true)))?
                    .query_map(rusqlite::params!["u1", "O-2"], |r| r.get::<_, String>(3))?
                    .collect::<std::result::Result<_, _>>()?;
                Ok((all, one, unknown, plan))
            })
            .await
            .expect("view");
        let mut orders: Vec<&str> = all.iter().map(|t| t.order_id.as_str()).collect();
        orders.dedup();
        assert_eq!(orders, ["O-1", "O-2", "O-3"], "{all:?}");
        let expected: Vec<PickTask> = all
            .iter()
            .filter(|t| t.order_id == "O-2")
            .cloned()
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(one, expected);
        assert!(unknown.is_empty());
        assert!(
            plan.iter()
                .any(|step| step.contains("reservations_by_order")),
            "the order's tasks must be found through its index: {plan:?}"
        );
    }
}
