//! The pick station's commands made real. Pick tasks are the reservation rows themselves
//! (`task_id` = `T<reservation id>`, the reservation's `qty` is what is left to pick);
//! `pick_tasks` holds the claims. A pick books two `picked` movements, out of the bin and into
//! the tote's own stock position, and records the order line in `tote_contents`, where the units
//! stay until they ship or are put back.

use rusqlite::{params, OptionalExtension};
use serde_json::json;

use super::view::reservation_of;
use crate::domain::order::{Action, Status};
use crate::domain::Reason;
use crate::error::{Error, Result};
use crate::store::base::Ctx;
use crate::store::orders::{self, LineInput, Reservation};
use crate::store::stock::ledger::{self, tote_location, Movement, Transfer};

/// The reservation behind a pick task, or why the task cannot be worked.
fn task_reservation(cx: &Ctx<'_>, task: &str) -> Result<Reservation> {
    let id = reservation_of(task)
        .ok_or_else(|| Error::validation("task_id", format!("unknown task {task}")))?;
    orders::reservation(cx.conn, id)?
        .ok_or_else(|| Error::conflict(format!("task {task} is done or withdrawn")))
}

/// The picker's user id (every pick command runs in a logged-in session).
fn picker(cx: &Ctx<'_>) -> String {
    cx.origin.actor.user.clone().unwrap_or_default()
}

/// The first unit of an allocated order was touched: it is being picked.
fn mark_picking(cx: &Ctx<'_>, order_id: &str) -> Result<()> {
    if orders::status_of(cx.conn, order_id)?.map(|s| s.0) == Some(Status::Allocated) {
        orders::move_order(cx, order_id, Action::StartPicking, None)?;
    }
    Ok(())
}

/// `Command::ClaimTask`: the task is this picker's, into this tote (a task someone else holds is
/// refused).
pub fn claim_task(cx: &Ctx<'_>, task_id: &str, order_id: &str, tote: &str) -> Result<()> {
    let res = task_reservation(cx, task_id)?;
    let user = picker(cx);
    let holder: Option<String> = cx
        .conn
        .prepare_cached("SELECT user_id FROM pick_tasks WHERE reservation_id = ?1")?
        .query_row([res.id], |r| r.get(0))
        .optional()?;
    if let Some(h) = holder.filter(|h| *h != user) {
        return Err(Error::conflict(format!("task {task_id} is claimed by {h}")));
    }
    cx.conn
        .prepare_cached(
            "INSERT INTO pick_tasks(reservation_id, user_id, tote, claimed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(reservation_id) DO UPDATE SET tote = excluded.tote",
        )?
        .execute(params![res.id, user, tote, cx.now])?;
    mark_picking(cx, order_id)
}

/// `Command::ReleaseTask`: the claim is given up; the task goes back to the queue.
pub fn release_task(cx: &Ctx<'_>, task_id: &str) -> Result<()> {
    if let Some(id) = reservation_of(task_id) {
        cx.conn
            .prepare_cached("DELETE FROM pick_tasks WHERE reservation_id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// What `Command::Pick` says was picked.
pub struct Picked<'a> {
    pub task_id: &'a str,
    pub order_id: &'a str,
    pub line_id: &'a str,
    pub tenant_id: &'a str,
    pub sku: &'a str,
    pub location: &'a str,
    pub lot: &'a str,
    pub qty: u32,
    pub tote: &'a str,
}

/// `Command::Pick`: units leave the bin for the tote (two `picked` movements) and the task's
/// reservation shrinks by as much. The task must still be what the station saw.
pub fn pick(cx: &Ctx<'_>, p: &Picked<'_>) -> Result<()> {
    let res = task_reservation(cx, p.task_id)?;
    let q = i64::from(p.qty);
    if res.order_id != p.order_id
        || res.line_id != p.line_id
        || res.tenant_id != p.tenant_id
        || res.sku != p.sku
        || res.location != p.location
        || res.lot != p.lot
    {
        return Err(Error::conflict(format!(
            "task {} is not {} at {} for {}",
            p.task_id, p.sku, p.location, p.order_id
        )));
    }
    if q <= 0 || res.qty < q {
        return Err(Error::conflict(format!(
            "task {} has not {} left",
            p.task_id, p.qty
        )));
    }
    orders::consume_reservation(cx.conn, &res, q)?;
    // The units now sit in the tote, a stock position of its own.
    let in_tote = tote_location(p.tote);
    ledger::transfer(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        Transfer {
            tenant_id: p.tenant_id,
            sku: p.sku,
            lot: p.lot,
            from: p.location,
            to: &in_tote,
            qty: q,
            reason: Reason::Picked,
            ref_out: json!({"order_id": p.order_id, "line_id": p.line_id, "tote": p.tote}),
            ref_in: json!({"order_id": p.order_id, "line_id": p.line_id, "from": p.location}),
        },
    )?;
    cx.conn
        .prepare_cached(
            "INSERT INTO tote_contents(tote, order_id, line_id, tenant_id, sku, lot, qty, from_location)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(tote, order_id, line_id, lot) DO UPDATE SET qty = qty + excluded.qty",
        )?
        .execute(params![
            p.tote,
            p.order_id,
            p.line_id,
            p.tenant_id,
            p.sku,
            p.lot,
            q,
            p.location
        ])?;
    mark_picking(cx, p.order_id)
}

/// What `Command::ShortPick` says was not found.
pub struct ShortPicked<'a> {
    pub task_id: &'a str,
    pub order_id: &'a str,
    pub line_id: &'a str,
    pub tenant_id: &'a str,
    pub sku: &'a str,
    pub location: &'a str,
    pub lot: &'a str,
    pub short_qty: u32,
}

/// `Command::ShortPick`: the bin lacks what the task still wants. Other orders' reservations on
/// the position are backordered, the position is written off to zero, and the line is
/// re-allocated from another bin or the order goes to `exception` (`short_pick` upstream).
pub fn short_pick(cx: &Ctx<'_>, s: &ShortPicked<'_>) -> Result<()> {
    let res = task_reservation(cx, s.task_id)?;
    if res.qty != i64::from(s.short_qty) || res.sku != s.sku || res.location != s.location {
        return Err(Error::conflict(format!(
            "task {} does not lack {}",
            s.task_id, s.short_qty
        )));
    }
    orders::consume_reservation(cx.conn, &res, res.qty)?;
    let position = (s.tenant_id, s.sku, s.location, s.lot);
    let pos = ledger::position(cx.conn, s.tenant_id, s.sku, s.location, s.lot)?;
    if pos.reserved > 0 {
        orders::backorder_for_shortfall(cx, position, pos.reserved)?;
    }
    let pos = ledger::position(cx.conn, s.tenant_id, s.sku, s.location, s.lot)?;
    if pos.on_hand != 0 {
        ledger::book(
            cx.conn,
            cx.site,
            cx.origin,
            cx.now,
            Movement {
                tenant_id: s.tenant_id,
                sku: s.sku,
                location: s.location,
                lot: s.lot,
                delta: -pos.on_hand,
                reason: Reason::Adjusted,
                r#ref: json!({"order_id": s.order_id, "line_id": s.line_id, "short_pick": s.task_id}),
                note: Some(format!("short pick: {} not found", s.short_qty)),
            },
        )?;
    }
    let line = LineInput {
        line_id: s.line_id.to_string(),
        sku: s.sku.to_string(),
        qty: i64::from(s.short_qty),
    };
    if !orders::try_allocate(cx.conn, s.order_id, s.tenant_id, &[line])? {
        orders::move_order(
            cx,
            s.order_id,
            Action::RaiseException,
            Some(orders::SHORT_PICK_EXCEPTION),
        )?;
        orders::exception_event(
            cx,
            s.order_id,
            s.tenant_id,
            "short_pick",
            &format!(
                "line {}: {} × {} not found at {}, none elsewhere",
                s.line_id, s.short_qty, s.sku, s.location
            ),
        )?;
    }
    Ok(())
}

/// `Command::CloseTote`: the tote goes to packing; orders whose every unit is now in totes are
/// picked.
pub fn close_tote(cx: &Ctx<'_>, tote: &str, order_ids: &[String]) -> Result<()> {
    for id in order_ids {
        let Some((status, _, _)) = orders::status_of(cx.conn, id)? else {
            continue;
        };
        if status != Status::Picking {
            continue;
        }
        let open: i64 = cx.conn.query_row(
            "SELECT count(*) FROM reservations WHERE order_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let short: i64 = cx.conn.query_row(
            "SELECT count(*) FROM order_lines l WHERE l.order_id = ?1 AND l.qty >
               (SELECT coalesce(sum(t.qty), 0) FROM tote_contents t
                WHERE t.order_id = l.order_id AND t.line_id = l.line_id)",
            [id],
            |r| r.get(0),
        )?;
        if open == 0 && short == 0 {
            orders::move_order(cx, id, Action::FinishPicking, Some(&format!("tote {tote}")))?;
        }
    }
    cx.conn
        .prepare_cached(
            "INSERT INTO totes(tote, state, closed_at, closed_by) VALUES (?1, 'to_pack', ?2, ?3)
             ON CONFLICT(tote) DO UPDATE SET state = 'to_pack', closed_at = excluded.closed_at,
                                             closed_by = excluded.closed_by",
        )?
        .execute(params![tote, cx.now, cx.origin.actor.user])?;
    Ok(())
}

/// `Command::PutBack`: a cancelled (or partially shipped) order's units leave the tote for a shelf (two `putaway`
/// movements), and backorders waiting for the sku get them first.
pub fn put_back(
    cx: &Ctx<'_>,
    tote: &str,
    order_id: &str,
    line_id: &str,
    (tenant_id, sku, lot): (&str, &str, &str),
    location: &str,
    qty: u32,
) -> Result<()> {
    let status = orders::status_of(cx.conn, order_id)?.map(|s| s.0);
    if !matches!(status, Some(Status::Cancelled | Status::PartiallyShipped)) {
        return Err(Error::conflict(format!(
            "order {order_id} is neither cancelled nor partially shipped: its units stay in tote {tote}"
        )));
    }
    ledger::check_references(cx.conn, tenant_id, sku, location, lot)?;
    let q = i64::from(qty);
    let held: Option<i64> = cx
        .conn
        .prepare_cached(
            "SELECT qty FROM tote_contents WHERE tote = ?1 AND order_id = ?2 AND line_id = ?3 AND lot = ?4",
        )?
        .query_row(params![tote, order_id, line_id, lot], |r| r.get(0))
        .optional()?;
    match held {
        Some(h) if h == q => {
            cx.conn
                .prepare_cached(
                    "DELETE FROM tote_contents WHERE tote = ?1 AND order_id = ?2 AND line_id = ?3 AND lot = ?4",
                )?
                .execute(params![tote, order_id, line_id, lot])?;
        }
        Some(h) if h > q => {
            cx.conn
                .prepare_cached(
                    "UPDATE tote_contents SET qty = qty - ?5
                     WHERE tote = ?1 AND order_id = ?2 AND line_id = ?3 AND lot = ?4",
                )?
                .execute(params![tote, order_id, line_id, lot, q])?;
        }
        _ => {
            return Err(Error::conflict(format!(
                "tote {tote} does not hold {qty} × {sku} of order {order_id}"
            )))
        }
    }
    let r#ref = json!({"order_id": order_id, "tote": tote, "put_back": true});
    ledger::transfer(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        Transfer {
            tenant_id,
            sku,
            lot,
            from: &tote_location(tote),
            to: location,
            qty: q,
            reason: Reason::Putaway,
            ref_out: r#ref.clone(),
            ref_in: r#ref,
        },
    )?;
    cx.conn
        .prepare_cached(
            "DELETE FROM totes WHERE tote = ?1 AND NOT EXISTS (SELECT 1 FROM tote_contents WHERE tote = ?1)",
        )?
        .execute([tote])?;
    orders::allocate_backorders(cx, tenant_id, sku)?;
    Ok(())
}
