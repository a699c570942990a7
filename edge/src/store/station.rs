//! The station workflows made real: a [`FloorView`] over the write transaction, the execution of
//! the workflow's [`Command`]s, and [`station_step`], which runs one input end to end inside one
//! `Store::write` (load state → `on_input` → execute → persist the next state).
//!
//! Pick tasks are the reservation rows themselves (`task_id` = `T<reservation id>`, the
//! reservation's `qty` is what is left to pick); `pick_tasks` holds the claims. Picked units sit
//! in `tote_contents` until the order ships.
//!
//! PINs: Argon2 is slow, so [`station_step`] verifies a `PIN:` scan on a blocking thread *before*
//! the write (against the user the persisted state awaits) and the view answers from that result;
//! the writer thread never hashes.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use wms_labels::scan::Scan;

use super::audit::{self, Origin};
use super::ledger::{self, CountInput, Movement};
use super::orders::{self, Change, Ctx};
use super::packing::{self, SiteInfo};
use super::Store;
use crate::domain::order::{self, Action, Status};
use crate::domain::role::Role;
use crate::domain::station::{
    self, Command, Feedback, FloorView, LocationView, OrderLineView, OrderView, PickTask,
    ProductView, PutBack, StationConfig, StationInput, StationState, StockView, UserView,
};
use crate::domain::stock;
use crate::domain::{Actor, Reason};
use crate::error::{Error, Result};

/// The answer to one station input.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAnswer {
    pub feedback: Feedback,
    pub context: Value,
    /// The input was refused by the store (the station kept its previous state).
    pub refused: bool,
    /// Print jobs were queued: the node should hand them to their printers now.
    pub printed: bool,
}

/// A precomputed PIN check: (user id, whether the PIN matched).
type PinCheck = Option<(String, bool)>;

/// The site as a station sees it, read from the write transaction.
pub struct TxView<'a> {
    conn: &'a Connection,
    pin: PinCheck,
    /// The first SQL error a read hit; the step fails with it rather than deciding on a guess.
    error: RefCell<Option<Error>>,
}

impl<'a> TxView<'a> {
    fn new(conn: &'a Connection, pin: PinCheck) -> Self {
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

    fn take_error(&self) -> Option<Error> {
        self.error.borrow_mut().take()
    }
}

fn task_id(reservation_id: i64) -> String {
    format!("T{reservation_id}")
}

fn reservation_of(task_id: &str) -> Option<i64> {
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

fn product_view(p: super::catalog::Product) -> ProductView {
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
            // A GTIN-14 also matches the 13-, 12- and 8-digit forms a catalog may hold.
            let mut codes = vec![code.to_string()];
            if code.len() == 14 && code.bytes().all(|b| b.is_ascii_digit()) {
                for n in [13usize, 12, 8] {
                    let (pad, rest) = code.split_at(14 - n);
                    if pad.bytes().all(|b| b == b'0') {
                        codes.push(rest.to_string());
                    }
                }
            }
            let mut keys: Vec<(String, String)> = Vec::new();
            for c in &codes {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT tenant_id, sku FROM product_barcodes WHERE code = ?1
                     UNION SELECT tenant_id, sku FROM products WHERE sku = ?1",
                )?;
                for k in stmt.query_map([c], |r| Ok((r.get(0)?, r.get(1)?)))? {
                    let k = k?;
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            let mut out = Vec::new();
            for (t, s) in keys {
                if let Some(p) = super::catalog::get_product(self.conn, &t, &s)? {
                    out.push(product_view(p));
                }
            }
            Ok(out)
        })();
        self.keep(r)
    }

    fn product(&self, tenant_id: &str, sku: &str) -> Option<ProductView> {
        let r = super::catalog::get_product(self.conn, tenant_id, sku).map(|p| p.map(product_view));
        self.keep(r)
    }

    fn order(&self, order_id: &str) -> Option<OrderView> {
        let r = order_view(self.conn, order_id);
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

    fn pick_tasks(&self, user_id: &str, _tote: &str) -> Vec<PickTask> {
        let r = (|| -> Result<Vec<PickTask>> {
            let sql = format!(
                "{TASK_SQL}
                 WHERE o.status IN ('allocated', 'picking', 'exception')
                   AND (c.user_id IS NULL OR c.user_id = ?1)
                 ORDER BY c.user_id IS NULL,
                          CASE o.priority WHEN 'overnight' THEN 0 WHEN 'two_day' THEN 1 ELSE 2 END,
                          o.ship_by IS NULL, o.ship_by,
                          coalesce(l.kind = 'bulk', 0), coalesce(l.pick_sequence, 0), r.location, r.id"
            );
            Ok(self
                .conn
                .prepare_cached(&sql)?
                .query_map([user_id], task_from_row)?
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
        let r = super::catalog::get_location(self.conn, code).map(|l| {
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

/// The persisted state of a station (the default for one never used).
pub fn load_state(conn: &Connection, station_id: &str) -> Result<StationState> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT state FROM station_state WHERE station_id = ?1")?
        .query_row([station_id], |r| r.get(0))
        .optional()?;
    match raw {
        Some(s) => serde_json::from_str(&s).map_err(|e| {
            Error::Internal(format!("station {station_id}: unreadable saved state: {e}"))
        }),
        None => Ok(StationState::default()),
    }
}

fn save_state(conn: &Connection, station_id: &str, state: &StationState, now: &str) -> Result<()> {
    let s =
        serde_json::to_string(state).map_err(|e| Error::Internal(format!("station state: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO station_state(station_id, state, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(station_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )?
    .execute(params![station_id, s, now])?;
    Ok(())
}

/// An order as the floor sees it (`FloorView::order`); the pack commands re-check with it too.
pub(crate) fn order_view(conn: &Connection, order_id: &str) -> Result<Option<OrderView>> {
    let Some((status, _, tenant_id)) = orders::status_of(conn, order_id)? else {
        return Ok(None);
    };
    let lines = conn
        .prepare_cached(
            "SELECT l.line_id, l.sku, l.qty,
                    (SELECT coalesce(sum(t.qty), 0) FROM tote_contents t
                     WHERE t.order_id = l.order_id AND t.line_id = l.line_id)
             FROM order_lines l WHERE l.order_id = ?1 ORDER BY l.line_id",
        )?
        .query_map([order_id], |r| {
            let qty: i64 = r.get(2)?;
            let picked: i64 = r.get(3)?;
            Ok(OrderLineView {
                line_id: r.get(0)?,
                sku: r.get(1)?,
                qty: u32::try_from(qty).unwrap_or(0),
                picked: u32::try_from(picked).unwrap_or(0),
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let label_printed: bool = conn.query_row(
        "SELECT label_printed_at IS NOT NULL FROM orders WHERE id = ?1",
        [order_id],
        |r| r.get(0),
    )?;
    Ok(Some(OrderView {
        order_id: order_id.to_string(),
        tenant_id,
        status,
        lines,
        label_printed,
    }))
}

/// The store's re-check of invariant 4: no forward step for a held or cancelled order.
fn recheck(conn: &Connection, order_id: &str) -> Result<(Status, String)> {
    let (status, _, tenant) = orders::status_of(conn, order_id)?
        .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))?;
    match status {
        Status::OnHold => Err(Error::conflict(format!("order {order_id} is on hold"))),
        Status::Cancelled => Err(Error::conflict(format!("order {order_id} is cancelled"))),
        _ => Ok((status, tenant)),
    }
}

pub(crate) fn move_order(
    cx: &Ctx<'_>,
    order_id: &str,
    action: Action,
    note: Option<&str>,
) -> Result<()> {
    let (from, _, tenant) = orders::status_of(cx.conn, order_id)?
        .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))?;
    let to = order::next(from, action).map_err(Error::conflict)?;
    orders::set_status(
        cx,
        Change {
            order_id,
            tenant_id: &tenant,
            from: Some(from),
            to,
            held_from: None,
            note,
        },
    )
}

/// A reservation row: (order, line, tenant, sku, location, lot, qty).
type ResRow = (String, String, String, String, String, String, i64);

fn reservation(conn: &Connection, id: i64) -> Result<Option<ResRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT order_id, line_id, tenant_id, sku, location, lot, qty FROM reservations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?)
}

fn task_reservation(conn: &Connection, task: &str) -> Result<(i64, ResRow)> {
    let id = reservation_of(task)
        .ok_or_else(|| Error::validation("task_id", format!("unknown task {task}")))?;
    let row = reservation(conn, id)?
        .ok_or_else(|| Error::conflict(format!("task {task} is done or withdrawn")))?;
    Ok((id, row))
}

/// Give back `qty` units of a reservation (deleting it when nothing is left).
fn consume_reservation(conn: &Connection, id: i64, row: &ResRow, qty: i64) -> Result<()> {
    let (_, _, tenant, sku, loc, lot, left) = row;
    let pos = ledger::position(conn, tenant, sku, loc, lot)?;
    let after =
        stock::release(pos, qty).map_err(|e| Error::Internal(format!("task T{id}: {e}")))?;
    ledger::store_position(conn, tenant, sku, loc, lot, after)?;
    if *left == qty {
        conn.prepare_cached("DELETE FROM reservations WHERE id = ?1")?
            .execute([id])?;
    } else {
        conn.prepare_cached("UPDATE reservations SET qty = qty - ?2 WHERE id = ?1")?
            .execute(params![id, qty])?;
    }
    Ok(())
}

/// Execute a station's commands in the caller's transaction. Any error refuses the whole step.
pub fn execute(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    site: &SiteInfo,
    commands: &[Command],
) -> Result<()> {
    for c in commands {
        if let Some(order_id) = c.order_moved_on() {
            recheck(cx.conn, order_id)?;
        }
        apply(cx, cfg, site, c)?;
    }
    Ok(())
}

fn apply(cx: &Ctx<'_>, cfg: &StationConfig, site: &SiteInfo, command: &Command) -> Result<()> {
    let station_id = cfg.station_id.as_str();
    let conn = cx.conn;
    let user = cx.origin.actor.user.clone().unwrap_or_default();
    match command {
        Command::SessionStarted { user_id } => {
            // Logins are security-relevant: they travel upstream (sync-api.md).
            audit::record_upstream(
                conn,
                cx.site,
                cx.origin,
                cx.now,
                "station.session_started",
                &format!("station:{station_id}"),
                &json!({"user": {"old": null, "new": user_id}}),
            )?;
        }
        Command::LoginFailed { user_id, reason } => {
            audit::record_upstream(
                conn,
                cx.site,
                cx.origin,
                cx.now,
                "station.login_failed",
                &format!("station:{station_id}"),
                &json!({"user": {"old": null, "new": user_id}, "reason": reason}),
            )?;
        }
        Command::SessionEnded { user_id, reason } => {
            audit::record(
                conn,
                cx.origin,
                cx.now,
                "station.session_ended",
                &format!("station:{station_id}"),
                &json!({"user": {"old": user_id, "new": null}, "reason": reason}),
            )?;
        }
        Command::Audit {
            action,
            target,
            by_user,
            changes,
            upstream,
        } => {
            let origin = Origin {
                actor: Actor {
                    user: Some(by_user.clone()),
                    ..cx.origin.actor.clone()
                },
                request_id: cx.origin.request_id.clone(),
            };
            if *upstream {
                audit::record_upstream(conn, cx.site, &origin, cx.now, action, target, changes)?;
            } else {
                audit::record(conn, &origin, cx.now, action, target, changes)?;
            }
        }
        Command::ClaimTask {
            task_id,
            order_id,
            tote,
        } => {
            let (id, _) = task_reservation(conn, task_id)?;
            let holder: Option<String> = conn
                .prepare_cached("SELECT user_id FROM pick_tasks WHERE reservation_id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            if let Some(h) = holder.filter(|h| *h != user) {
                return Err(Error::conflict(format!("task {task_id} is claimed by {h}")));
            }
            conn.prepare_cached(
                "INSERT INTO pick_tasks(reservation_id, user_id, tote, claimed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(reservation_id) DO UPDATE SET tote = excluded.tote",
            )?
            .execute(params![id, user, tote, cx.now])?;
            if orders::status_of(conn, order_id)?.map(|s| s.0) == Some(Status::Allocated) {
                move_order(cx, order_id, Action::StartPicking, None)?;
            }
        }
        Command::ReleaseTask { task_id, .. } => {
            if let Some(id) = reservation_of(task_id) {
                conn.prepare_cached("DELETE FROM pick_tasks WHERE reservation_id = ?1")?
                    .execute([id])?;
            }
        }
        Command::Pick {
            task_id,
            order_id,
            line_id,
            tenant_id,
            sku,
            location,
            lot,
            qty,
            tote,
        } => {
            let (id, row) = task_reservation(conn, task_id)?;
            let lot = lot.as_deref().unwrap_or("");
            let q = i64::from(*qty);
            if row.0 != *order_id
                || row.1 != *line_id
                || row.2 != *tenant_id
                || row.3 != *sku
                || row.4 != *location
                || row.5 != lot
            {
                return Err(Error::conflict(format!(
                    "task {task_id} is not {sku} at {location} for {order_id}"
                )));
            }
            if q <= 0 || row.6 < q {
                return Err(Error::conflict(format!(
                    "task {task_id} has not {qty} left"
                )));
            }
            consume_reservation(conn, id, &row, q)?;
            ledger::book(
                conn,
                cx.site,
                cx.origin,
                cx.now,
                Movement {
                    tenant_id,
                    sku,
                    location,
                    lot,
                    delta: -q,
                    reason: Reason::Picked,
                    r#ref: json!({"order_id": order_id, "line_id": line_id, "tote": tote}),
                    note: None,
                },
            )?;
            // The units now sit in the tote, a stock position of its own (see `packing`).
            let in_tote = super::packing::tote_location(tote);
            ledger::book(
                conn,
                cx.site,
                cx.origin,
                cx.now,
                Movement {
                    tenant_id,
                    sku,
                    location: &in_tote,
                    lot,
                    delta: q,
                    reason: Reason::Picked,
                    r#ref: json!({"order_id": order_id, "line_id": line_id, "from": location}),
                    note: None,
                },
            )?;
            conn.prepare_cached(
                "INSERT INTO tote_contents(tote, order_id, line_id, tenant_id, sku, lot, qty, from_location)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(tote, order_id, line_id, lot) DO UPDATE SET qty = qty + excluded.qty",
            )?
            .execute(params![tote, order_id, line_id, tenant_id, sku, lot, q, location])?;
            if orders::status_of(conn, order_id)?.map(|s| s.0) == Some(Status::Allocated) {
                move_order(cx, order_id, Action::StartPicking, None)?;
            }
        }
        Command::ShortPick {
            task_id,
            order_id,
            line_id,
            tenant_id,
            sku,
            location,
            lot,
            short_qty,
        } => {
            let (id, row) = task_reservation(conn, task_id)?;
            let lot = lot.as_deref().unwrap_or("");
            if row.6 != i64::from(*short_qty) || row.3 != *sku || row.4 != *location {
                return Err(Error::conflict(format!(
                    "task {task_id} does not lack {short_qty}"
                )));
            }
            consume_reservation(conn, id, &row, row.6)?;
            // Other orders' reservations on the empty position are backordered, then the
            // position is written off to zero.
            let pos = ledger::position(conn, tenant_id, sku, location, lot)?;
            if pos.reserved > 0 {
                orders::backorder_for_shortfall(
                    conn,
                    cx.site,
                    cx.origin,
                    cx.now,
                    (tenant_id, sku, location, lot),
                    pos.reserved,
                )?;
            }
            let pos = ledger::position(conn, tenant_id, sku, location, lot)?;
            if pos.on_hand != 0 {
                ledger::book(
                    conn,
                    cx.site,
                    cx.origin,
                    cx.now,
                    Movement {
                        tenant_id,
                        sku,
                        location,
                        lot,
                        delta: -pos.on_hand,
                        reason: Reason::Adjusted,
                        r#ref: json!({"order_id": order_id, "line_id": line_id, "short_pick": task_id}),
                        note: Some(format!("short pick: {short_qty} not found")),
                    },
                )?;
            }
            let line = orders::LineInput {
                line_id: line_id.clone(),
                sku: sku.clone(),
                qty: i64::from(*short_qty),
            };
            if !orders::try_allocate(conn, order_id, tenant_id, &[line])? {
                move_order(
                    cx,
                    order_id,
                    Action::RaiseException,
                    Some("short pick: no stock elsewhere"),
                )?;
                orders::exception_event(
                    cx,
                    order_id,
                    tenant_id,
                    "short_pick",
                    &format!(
                        "line {line_id}: {short_qty} × {sku} not found at {location}, none elsewhere"
                    ),
                )?;
            }
        }
        Command::CloseTote { tote, order_ids } => {
            for id in order_ids {
                let Some((status, _, _)) = orders::status_of(conn, id)? else {
                    continue;
                };
                if status != Status::Picking {
                    continue;
                }
                let open: i64 = conn.query_row(
                    "SELECT count(*) FROM reservations WHERE order_id = ?1",
                    [id],
                    |r| r.get(0),
                )?;
                let short: i64 = conn.query_row(
                    "SELECT count(*) FROM order_lines l WHERE l.order_id = ?1 AND l.qty >
                       (SELECT coalesce(sum(t.qty), 0) FROM tote_contents t
                        WHERE t.order_id = l.order_id AND t.line_id = l.line_id)",
                    [id],
                    |r| r.get(0),
                )?;
                if open == 0 && short == 0 {
                    move_order(cx, id, Action::FinishPicking, Some(&format!("tote {tote}")))?;
                }
            }
            conn.prepare_cached(
                "INSERT INTO totes(tote, state, closed_at, closed_by) VALUES (?1, 'to_pack', ?2, ?3)
                 ON CONFLICT(tote) DO UPDATE SET state = 'to_pack', closed_at = excluded.closed_at,
                                                 closed_by = excluded.closed_by",
            )?
            .execute(params![tote, cx.now, cx.origin.actor.user])?;
        }
        Command::Count {
            location,
            tenant_id,
            sku,
            lot,
            counted,
            ..
        } => {
            ledger::count(
                conn,
                cx.site,
                cx.origin,
                cx.now,
                CountInput {
                    tenant_id: tenant_id.clone(),
                    sku: sku.clone(),
                    location: location.clone(),
                    lot: lot.clone(),
                    counted: i64::from(*counted),
                },
            )?;
        }
        Command::StartPacking { order_id, .. } => packing::start_packing(cx, order_id)?,
        Command::ReleaseOrder {
            order_id,
            label_printed,
        } => packing::release_order(cx, order_id, *label_printed)?,
        Command::PrintLabel {
            order_id,
            carton,
            weight_mg,
            complete,
        } => packing::print_label(cx, cfg, site, order_id, *carton, *weight_mg, *complete)?,
        Command::PrintSlip { order_id } => packing::print_slip(cx, cfg, site, order_id)?,
        Command::Reprint { order_id, carton } => {
            packing::reprint(cx, cfg, site, order_id, *carton)?
        }
        Command::ConfirmShipment {
            order_id,
            cartons,
            weight_mg,
            lines,
            approved_by,
        } => packing::confirm_shipment(
            cx,
            cfg,
            order_id,
            *cartons,
            *weight_mg,
            lines,
            approved_by.as_deref(),
        )?,
        Command::PutBack {
            tote,
            order_id,
            line_id,
            tenant_id,
            sku,
            lot,
            location,
            qty,
        } => put_back(
            cx,
            tote,
            order_id,
            line_id,
            (tenant_id, sku, lot.as_deref().unwrap_or("")),
            location,
            *qty,
        )?,
        Command::Receive {
            location,
            tenant_id,
            sku,
            lot,
            expiry,
            qty,
        } => receive(
            cx,
            location,
            tenant_id,
            sku,
            lot.as_deref(),
            expiry.as_deref(),
            *qty,
        )?,
        Command::Move {
            tenant_id,
            sku,
            lot,
            from,
            to,
            qty,
        } => put_away(
            cx,
            tenant_id,
            sku,
            lot.as_deref().unwrap_or(""),
            from,
            to,
            *qty,
        )?,
    }
    Ok(())
}

/// `Command::PutBack`: a cancelled (or partially shipped) order's units leave the tote for a shelf (two `putaway`
/// movements), and backorders waiting for the sku get them first.
fn put_back(
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
    let in_tote = packing::tote_location(tote);
    for (loc, delta) in [(in_tote.as_str(), -q), (location, q)] {
        ledger::book(
            cx.conn,
            cx.site,
            cx.origin,
            cx.now,
            Movement {
                tenant_id,
                sku,
                location: loc,
                lot,
                delta,
                reason: Reason::Putaway,
                r#ref: json!({"order_id": order_id, "tote": tote, "put_back": true}),
                note: None,
            },
        )?;
    }
    cx.conn
        .prepare_cached(
            "DELETE FROM totes WHERE tote = ?1 AND NOT EXISTS (SELECT 1 FROM tote_contents WHERE tote = ?1)",
        )?
        .execute([tote])?;
    orders::allocate_backorders(cx, tenant_id, sku)?;
    Ok(())
}

/// `Command::Receive`: units booked into the receiving location (ledger `received`), the lot's
/// expiry kept for first-expiry-first-out, and backorders of the sku allocated first.
fn receive(
    cx: &Ctx<'_>,
    location: &str,
    tenant_id: &str,
    sku: &str,
    lot: Option<&str>,
    expiry: Option<&str>,
    qty: u32,
) -> Result<()> {
    let lot = lot.unwrap_or("");
    ledger::check_references(cx.conn, tenant_id, sku, location, lot)?;
    if !lot.is_empty() {
        cx.conn
            .prepare_cached(
                "INSERT INTO lots(tenant_id, sku, lot, expiry) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(tenant_id, sku, lot) DO UPDATE SET expiry = coalesce(excluded.expiry, expiry)",
            )?
            .execute(params![tenant_id, sku, lot, expiry])?;
    }
    ledger::book(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        Movement {
            tenant_id,
            sku,
            location,
            lot,
            delta: i64::from(qty),
            reason: Reason::Received,
            r#ref: match expiry {
                Some(e) => json!({"expiry": e}),
                None => json!({}),
            },
            note: None,
        },
    )?;
    orders::allocate_backorders(cx, tenant_id, sku)?;
    Ok(())
}

/// `Command::Move`: put-away from one location to another, two `putaway` movements. The source
/// must have the units available (reserved units stay where their pick task expects them).
fn put_away(
    cx: &Ctx<'_>,
    tenant_id: &str,
    sku: &str,
    lot: &str,
    from: &str,
    to: &str,
    qty: u32,
) -> Result<()> {
    ledger::check_references(cx.conn, tenant_id, sku, from, lot)?;
    ledger::check_references(cx.conn, tenant_id, sku, to, lot)?;
    let q = i64::from(qty);
    for (location, delta) in [(from, -q), (to, q)] {
        ledger::book(
            cx.conn,
            cx.site,
            cx.origin,
            cx.now,
            Movement {
                tenant_id,
                sku,
                location,
                lot,
                delta,
                reason: Reason::Putaway,
                r#ref: json!({"from": from, "to": to}),
                note: None,
            },
        )?;
    }
    // Stock moved into a pick face may be what a backorder was waiting for.
    orders::allocate_backorders(cx, tenant_id, sku)?;
    Ok(())
}

/// Runs `f` with the transaction's context for a station outcome: attributed to the outcome's
/// actor, stamped `now`.
fn in_step<R>(
    conn: &Connection,
    site: &SiteInfo,
    actor: Actor,
    now: DateTime<Utc>,
    f: impl FnOnce(&Ctx<'_>) -> Result<R>,
) -> Result<R> {
    let origin = Origin {
        actor,
        request_id: None,
    };
    let at = crate::domain::time::format(now);
    f(&Ctx {
        conn,
        site: &site.site_id,
        origin: &origin,
        now: &at,
    })
}

/// The PIN check a `PIN:` scan needs, done here on a blocking thread so the writer never hashes.
async fn precheck_pin(store: &Store, station_id: &str, scan: &Scan) -> Result<PinCheck> {
    let Some(code) = scan.code.as_ref().filter(|c| c.prefix == "PIN") else {
        return Ok(None);
    };
    let pin = code.value.clone();
    let sid = station_id.to_string();
    let pending = store
        .read(move |conn| {
            let state = load_state(conn, &sid)?;
            let Some(user_id) = state.pin_awaited_from() else {
                return Ok(None);
            };
            let hash: Option<String> = conn
                .prepare_cached("SELECT pin_hash FROM users WHERE id = ?1 AND active = 1")?
                .query_row([user_id], |r| r.get(0))
                .optional()?
                .flatten();
            Ok(Some((user_id.to_string(), hash)))
        })
        .await?;
    let Some((user_id, hash)) = pending else {
        return Ok(None);
    };
    let ok = match hash {
        Some(h) => tokio::task::spawn_blocking(move || crate::pin::verify(&pin, &h))
            .await
            .map_err(|e| Error::Internal(format!("pin check task: {e}")))?,
        None => false,
    };
    Ok(Some((user_id, ok)))
}

/// One input at a station, end to end, in one `Store::write`: load the persisted state, run the
/// workflow, execute its commands, persist the next state. A refusal rolls all of it back; the
/// operator hears why and the station keeps its previous state.
pub async fn station_step(
    store: &Store,
    site: &SiteInfo,
    config: &StationConfig,
    input: StationInput,
    now: DateTime<Utc>,
) -> Result<StepAnswer> {
    let pin = match &input {
        StationInput::Scan(scan) => precheck_pin(store, &config.station_id, scan).await?,
        StationInput::Weight(_) => None,
    };
    let config = config.clone();
    let site = site.clone();
    let cfg = config.clone();
    let ran = store
        .write(move |conn| {
            let state = load_state(conn, &cfg.station_id)?;
            let view = TxView::new(conn, pin);
            let outcome = station::on_input(&cfg, &state, &input, &view, now);
            if let Some(e) = view.take_error() {
                return Err(e);
            }
            let actor = outcome.actor.clone();
            in_step(conn, &site, actor, now, |cx| {
                execute(cx, &cfg, &site, &outcome.commands)
            })?;
            let at = crate::domain::time::format(now);
            let mut outcome = outcome;
            if outcome.feedback.good {
                // The commands may have made new work for this station (a short pick
                // re-allocated elsewhere): offer it in the same transaction.
                let view = TxView::new(conn, None);
                if let Some((next, claims, prompt)) = station::refresh(&cfg, &outcome.next, &view) {
                    if let Some(e) = view.take_error() {
                        return Err(e);
                    }
                    in_step(conn, &site, outcome.actor.clone(), now, |cx| {
                        execute(cx, &cfg, &site, &claims)
                    })?;
                    let done = outcome
                        .feedback
                        .prompt
                        .split(". Tote ")
                        .next()
                        .unwrap_or("");
                    outcome.feedback.prompt = format!("{done}. {prompt}");
                    outcome.context = station::context_for(&cfg, &next);
                    outcome.next = next;
                }
            }
            if outcome.next != state {
                save_state(conn, &cfg.station_id, &outcome.next, &at)?;
            }
            let printed = outcome.commands.iter().any(|c| {
                matches!(
                    c,
                    Command::PrintLabel { .. }
                        | Command::PrintSlip { .. }
                        | Command::Reprint { .. }
                )
            });
            Ok((outcome.feedback, outcome.context, printed))
        })
        .await;
    match ran {
        Ok((feedback, context, printed)) => Ok(StepAnswer {
            feedback,
            context,
            refused: false,
            printed,
        }),
        Err(e @ (Error::Conflict(_) | Error::NotFound(_) | Error::Validation { .. })) => {
            let state = store
                .read({
                    let sid = config.station_id.clone();
                    move |conn| load_state(conn, &sid)
                })
                .await?;
            Ok(StepAnswer {
                feedback: Feedback {
                    good: false,
                    prompt: format!("Refused: {}", refusal_text(&e)),
                },
                context: station::context_for(&config, &state),
                refused: true,
                printed: false,
            })
        }
        Err(e) => Err(e),
    }
}

fn refusal_text(e: &Error) -> String {
    match e {
        Error::Conflict(m) | Error::NotFound(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The idle check of one station, in one write: a session with no accepted input for its idle
/// timeout ends (its claimed tasks and the order on the bench go back to their queues). `None`
/// when nothing expired.
pub async fn station_tick(
    store: &Store,
    site: &SiteInfo,
    config: &StationConfig,
    now: DateTime<Utc>,
) -> Result<Option<StepAnswer>> {
    // Most checks find nothing: look on a reader first, so the writer is not taken for them.
    let sid = config.station_id.clone();
    let state = store.read(move |conn| load_state(conn, &sid)).await?;
    if station::tick(config, &state, now).is_none() {
        return Ok(None);
    }
    let cfg = config.clone();
    let site = site.clone();
    store
        .write(move |conn| {
            let state = load_state(conn, &cfg.station_id)?;
            let Some(outcome) = station::tick(&cfg, &state, now) else {
                return Ok(None);
            };
            in_step(conn, &site, outcome.actor.clone(), now, |cx| {
                execute(cx, &cfg, &site, &outcome.commands)?;
                save_state(conn, &cfg.station_id, &outcome.next, cx.now)
            })?;
            Ok(Some(StepAnswer {
                feedback: outcome.feedback,
                context: outcome.context,
                refused: false,
                printed: false,
            }))
        })
        .await
}
