//! Reservations: stock promised to orders at acceptance, given back on cancel, taken from the
//! newest when a count finds less, and given to backorders first when stock arrives.

use rusqlite::{params, Connection, OptionalExtension};

use super::lifecycle::{set_status, Change};
use super::{status_of, LineInput};
use crate::domain::order::{self, Action, Status};
use crate::domain::stock::{self, Position};
use crate::error::{Error, Result};
use crate::store::base::Ctx;
use crate::store::stock::ledger;

/// Reserve stock for every line, or for none (the order is then backordered explicitly).
/// Candidates are taken first-expiry-first-out (lots with a known expiry, earliest first), then
/// pick faces before bulk, in pick-sequence order, then location code and lot. Totes
/// (`TOTE:<id>`) are not locations, so picked stock is never promised twice.
pub(crate) fn try_allocate(
    conn: &Connection,
    order_id: &str,
    tenant: &str,
    lines: &[LineInput],
) -> Result<bool> {
    let mut plan: Vec<(String, String, String, String, Position, i64)> = Vec::new();
    // Positions already promised to earlier lines of this order in this plan.
    let mut promised: std::collections::HashMap<(String, String, String), i64> = Default::default();
    for line in lines {
        let mut stmt = conn.prepare_cached(
            "SELECT s.location, s.lot, s.on_hand, s.reserved FROM stock s
             JOIN locations l ON l.code = s.location
             LEFT JOIN lots x ON x.tenant_id = s.tenant_id AND x.sku = s.sku AND x.lot = s.lot
             WHERE s.tenant_id = ?1 AND s.sku = ?2 AND s.on_hand > s.reserved
               AND l.kind IN ('pick', 'bulk')
             ORDER BY coalesce(x.expiry, '9999-12-31'), l.kind = 'bulk', l.pick_sequence,
                      s.location, s.lot",
        )?;
        let cands: Vec<(String, String, Position)> = stmt
            .query_map(params![tenant, line.sku], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    Position {
                        on_hand: r.get(2)?,
                        reserved: r.get(3)?,
                    },
                ))
            })?
            .collect::<std::result::Result<_, _>>()?;
        let adjusted: Vec<Position> = cands
            .iter()
            .map(|(loc, lot, p)| Position {
                reserved: p.reserved
                    + promised
                        .get(&(line.sku.clone(), loc.clone(), lot.clone()))
                        .copied()
                        .unwrap_or(0),
                ..*p
            })
            .collect();
        let Some(takes) = stock::allocate(&adjusted, line.qty) else {
            return Ok(false);
        };
        for ((loc, lot, p), take) in cands.into_iter().zip(takes) {
            if take > 0 {
                *promised
                    .entry((line.sku.clone(), loc.clone(), lot.clone()))
                    .or_default() += take;
                plan.push((line.line_id.clone(), line.sku.clone(), loc, lot, p, take));
            }
        }
    }
    for (line_id, sku, loc, lot, _, take) in plan {
        let pos = ledger::position(conn, tenant, &sku, &loc, &lot)?;
        let after = stock::reserve(pos, take).map_err(Error::conflict)?;
        ledger::store_position(conn, tenant, &sku, &loc, &lot, after)?;
        conn.prepare_cached(
            "INSERT INTO reservations(order_id, line_id, tenant_id, sku, location, lot, qty) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![order_id, line_id, tenant, sku, loc, lot, take])?;
    }
    Ok(true)
}

/// Give back every reservation of an order.
pub(crate) fn release_reservations(conn: &Connection, order_id: &str) -> Result<()> {
    let rows: Vec<(i64, String, String, String, String, i64)> = conn
        .prepare_cached(
            "SELECT id, tenant_id, sku, location, lot, qty FROM reservations WHERE order_id = ?1",
        )?
        .query_map([order_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<std::result::Result<_, _>>()?;
    for (id, tenant, sku, loc, lot, qty) in rows {
        let pos = ledger::position(conn, &tenant, &sku, &loc, &lot)?;
        let after = stock::release(pos, qty)
            .map_err(|e| Error::Internal(format!("reservation {id}: {e}")))?;
        ledger::store_position(conn, &tenant, &sku, &loc, &lot, after)?;
        conn.prepare_cached("DELETE FROM reservations WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// A count found less than is reserved at a position: release the newest reservations there
/// until `shortfall` units are freed, and backorder their orders.
pub fn backorder_for_shortfall(
    cx: &Ctx<'_>,
    (tenant, sku, loc, lot): (&str, &str, &str, &str),
    shortfall: i64,
) -> Result<()> {
    let (conn, now) = (cx.conn, cx.now);
    let orders: Vec<String> = conn
        .prepare_cached(
            "SELECT order_id FROM reservations WHERE tenant_id = ?1 AND sku = ?2 AND location = ?3 AND lot = ?4
             GROUP BY order_id ORDER BY max(id) DESC",
        )?
        .query_map(params![tenant, sku, loc, lot], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut freed = 0;
    for order_id in orders {
        if freed >= shortfall {
            break;
        }
        let held_here: i64 = conn.query_row(
            "SELECT coalesce(sum(qty), 0) FROM reservations WHERE order_id = ?1 AND tenant_id = ?2 AND sku = ?3 AND location = ?4 AND lot = ?5",
            params![order_id, tenant, sku, loc, lot],
            |r| r.get(0),
        )?;
        release_reservations(conn, &order_id)?;
        freed += held_here;
        if let Some((from, _, t)) = status_of(conn, &order_id)? {
            match from {
                Status::OnHold => {
                    // Stays on hold; on release it comes back as backordered.
                    conn.execute(
                        "UPDATE orders SET held_from = 'backordered', updated_at = ?2 WHERE id = ?1",
                        params![order_id, now],
                    )?;
                }
                _ => {
                    let to = order::next(from, Action::Backorder).unwrap_or(Status::Backordered);
                    set_status(
                        cx,
                        Change {
                            order_id: &order_id,
                            tenant_id: &t,
                            from: Some(from),
                            to,
                            held_from: None,
                            note: Some("stock short after a count"),
                        },
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The note of the status change a short pick without stock elsewhere makes: the order waits in
/// `exception` for stock, and [`allocate_backorders`] takes it up when stock arrives.
pub const SHORT_PICK_EXCEPTION: &str = "short pick: no stock elsewhere";

/// Stock of `sku` arrived: backordered orders of the tenant waiting for it get it first, the
/// most urgent first (`ship_by`, then the order they were accepted in), then orders a short pick
/// left in `exception` waiting for it. Each is allocated in full or keeps waiting.
pub fn allocate_backorders(cx: &Ctx<'_>, tenant: &str, sku: &str) -> Result<Vec<String>> {
    let mut allocated = allocate_backordered(cx, tenant, sku)?;
    allocated.extend(reallocate_short_picked(cx, tenant, sku)?);
    Ok(allocated)
}

fn allocate_backordered(cx: &Ctx<'_>, tenant: &str, sku: &str) -> Result<Vec<String>> {
    let waiting: Vec<String> = cx
        .conn
        .prepare_cached(
            "SELECT o.id FROM orders o
             WHERE o.tenant_id = ?1 AND o.status = 'backordered'
               AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.sku = ?2)
             ORDER BY o.ship_by IS NULL, o.ship_by, o.accepted_at, o.id",
        )?
        .query_map(params![tenant, sku], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut allocated = Vec::new();
    for id in waiting {
        let lines: Vec<LineInput> = cx
            .conn
            .prepare_cached(
                "SELECT line_id, sku, qty FROM order_lines WHERE order_id = ?1 ORDER BY line_id",
            )?
            .query_map([&id], |r| {
                Ok(LineInput {
                    line_id: r.get(0)?,
                    sku: r.get(1)?,
                    qty: r.get(2)?,
                })
            })?
            .collect::<std::result::Result<_, _>>()?;
        if try_allocate(cx.conn, &id, tenant, &lines)? {
            set_status(
                cx,
                Change {
                    order_id: &id,
                    tenant_id: tenant,
                    from: Some(Status::Backordered),
                    to: Status::Allocated,
                    held_from: None,
                    note: Some("stock arrived"),
                },
            )?;
            allocated.push(id);
        }
    }
    Ok(allocated)
}

/// Orders in `exception` after a short pick, waiting for `sku`: the units neither in a tote nor
/// reserved are reserved again (all of them or none), and the order is `allocated`, so its
/// remaining units are picked like any other order's; the units already in a tote stay there.
/// An order in `exception` for another reason (an address conflict) is left alone.
fn reallocate_short_picked(cx: &Ctx<'_>, tenant: &str, sku: &str) -> Result<Vec<String>> {
    let waiting: Vec<String> = cx
        .conn
        .prepare_cached(
            "SELECT o.id FROM orders o
             WHERE o.tenant_id = ?1 AND o.status = 'exception'
               AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.sku = ?2)
               AND (SELECT e.note FROM order_events e WHERE e.order_id = o.id
                    AND e.to_status = 'exception' ORDER BY e.id DESC LIMIT 1) = ?3
             ORDER BY o.ship_by IS NULL, o.ship_by, o.accepted_at, o.id",
        )?
        .query_map(params![tenant, sku, SHORT_PICK_EXCEPTION], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut allocated = Vec::new();
    for id in waiting {
        let missing: Vec<LineInput> = cx
            .conn
            .prepare_cached(
                "SELECT l.line_id, l.sku, l.qty
                   - (SELECT coalesce(sum(t.qty), 0) FROM tote_contents t
                      WHERE t.order_id = l.order_id AND t.line_id = l.line_id)
                   - (SELECT coalesce(sum(r.qty), 0) FROM reservations r
                      WHERE r.order_id = l.order_id AND r.line_id = l.line_id)
                 FROM order_lines l WHERE l.order_id = ?1 ORDER BY l.line_id",
            )?
            .query_map([&id], |r| {
                Ok(LineInput {
                    line_id: r.get(0)?,
                    sku: r.get(1)?,
                    qty: r.get(2)?,
                })
            })?
            .filter(|l| l.as_ref().map_or(true, |l| l.qty > 0))
            .collect::<std::result::Result<_, _>>()?;
        if missing.is_empty() || !try_allocate(cx.conn, &id, tenant, &missing)? {
            continue;
        }
        let to = order::next(Status::Exception, Action::Allocate).map_err(Error::conflict)?;
        set_status(
            cx,
            Change {
                order_id: &id,
                tenant_id: tenant,
                from: Some(Status::Exception),
                to,
                held_from: None,
                note: Some("stock arrived after a short pick"),
            },
        )?;
        allocated.push(id);
    }
    Ok(allocated)
}

/// One reservation: units of a position promised to one order line. A pick task is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: i64,
    pub order_id: String,
    pub line_id: String,
    pub tenant_id: String,
    pub sku: String,
    pub location: String,
    /// `""` when the stock has no lot.
    pub lot: String,
    /// Units still promised (what is left to pick).
    pub qty: i64,
}

/// The reservation with this id, if it still exists.
pub fn reservation(conn: &Connection, id: i64) -> Result<Option<Reservation>> {
    Ok(conn
        .prepare_cached(
            "SELECT order_id, line_id, tenant_id, sku, location, lot, qty FROM reservations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Reservation {
                id,
                order_id: r.get(0)?,
                line_id: r.get(1)?,
                tenant_id: r.get(2)?,
                sku: r.get(3)?,
                location: r.get(4)?,
                lot: r.get(5)?,
                qty: r.get(6)?,
            })
        })
        .optional()?)
}

/// Takes `qty` units off a reservation (deleting it when nothing is left): the units leave the
/// position's reserved count with it, as a pick or a short pick does.
pub(crate) fn consume_reservation(conn: &Connection, res: &Reservation, qty: i64) -> Result<()> {
    let Reservation {
        id,
        tenant_id,
        sku,
        location,
        lot,
        ..
    } = res;
    let pos = ledger::position(conn, tenant_id, sku, location, lot)?;
    let after =
        stock::release(pos, qty).map_err(|e| Error::Internal(format!("task T{id}: {e}")))?;
    ledger::store_position(conn, tenant_id, sku, location, lot, after)?;
    if res.qty == qty {
        conn.prepare_cached("DELETE FROM reservations WHERE id = ?1")?
            .execute([id])?;
    } else {
        conn.prepare_cached("UPDATE reservations SET qty = qty - ?2 WHERE id = ?1")?
            .execute(params![id, qty])?;
    }
    Ok(())
}
