//! Fulfillment orders: acceptance with stock reservation, status changes with their timeline,
//! outbox event and audit entry, and the hold/release/cancel actions. Whether a step is allowed is
//! decided by [`crate::domain::order::next`] inside the transaction that takes the step.

use rusqlite::{params, Connection};
use serde_json::json;

use super::reserve::{release_reservations, try_allocate};
use super::{check_opt_text, get_order, status_of, OrderDetail, OrderInput};
use crate::domain::order::{self, Action, Status};
use crate::domain::time;
use crate::error::{Error, Result};
use crate::store::base::catalog::{self};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, ids, Ctx, Origin};
/// One status change of one order.
pub(crate) struct Change<'a> {
    pub order_id: &'a str,
    pub tenant_id: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    /// Where a hold returns to (set only when `to` is on hold).
    pub held_from: Option<Status>,
    pub note: Option<&'a str>,
}

/// Record a status change: the order row, its timeline, and the upstream event.
pub(crate) fn set_status(cx: &Ctx<'_>, ch: Change<'_>) -> Result<()> {
    let (conn, site, origin, now) = (cx.conn, cx.site, cx.origin, cx.now);
    let Change {
        order_id,
        tenant_id,
        from,
        to,
        held_from,
        note,
    } = ch;
    conn.prepare_cached(
        "UPDATE orders SET status = ?2, held_from = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![
        order_id,
        to.as_str(),
        held_from.map(Status::as_str),
        now
    ])?;
    conn.prepare_cached(
        "INSERT INTO order_events(order_id, at, from_status, to_status, note, actor_user, actor_device, actor_api_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        order_id,
        now,
        from.map(Status::as_str),
        to.as_str(),
        note,
        origin.actor.user,
        origin.actor.device,
        origin.actor.api_key
    ])?;
    outbox::append(
        conn,
        site,
        NewEvent {
            kind: "order.status_changed",
            aggregate_type: "order",
            aggregate_id: order_id.to_string(),
            occurred_at: now,
            actor: &origin.actor,
            data: json!({"order_id": order_id, "tenant_id": tenant_id,
                         "from": from.map(Status::as_str), "to": to.as_str(), "note": note}),
        },
    )?;
    Ok(())
}

/// A validated timestamp as the store keeps it: UTC with milliseconds, so that the text order
/// the pick queue and backorders sort by is the time order whatever offset the caller used.
fn utc(t: &Option<String>) -> Option<String> {
    t.as_deref().and_then(time::parse).map(time::format)
}

/// `POST /v1/orders`: accept an order and reserve its stock at once (invariant 5).
pub fn accept(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    input: OrderInput,
) -> Result<OrderDetail> {
    input.validate()?;
    if !catalog::tenant_exists(conn, &input.tenant_id)? {
        return Err(Error::validation(
            "tenant_id",
            format!("unknown tenant {}", input.tenant_id),
        ));
    }
    for (i, l) in input.lines.iter().enumerate() {
        if catalog::get_product(conn, &input.tenant_id, &l.sku)?.is_none() {
            return Err(Error::validation(
                &format!("lines[{i}].sku"),
                format!("unknown sku {} for tenant {}", l.sku, input.tenant_id),
            ));
        }
    }
    if status_of(conn, &input.id)?.is_some() {
        return Err(Error::conflict(format!(
            "order {} already exists",
            input.id
        )));
    }
    conn.execute(
        "INSERT INTO orders(id, tenant_id, status, channel, created_at, ship_by, priority, shipping, ship_to,
                            notes, gift_message, branding, version, accepted_at, updated_at)
         VALUES (?1, ?2, 'received', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        params![
            input.id,
            input.tenant_id,
            input.channel,
            utc(&input.created_at),
            utc(&input.ship_by),
            json!(input.priority).as_str(),
            serde_json::to_string(&input.shipping)?,
            serde_json::to_string(&input.ship_to)?,
            input.notes,
            input.gift_message,
            serde_json::to_string(&input.branding)?,
            input.version,
            now
        ],
    )?;
    for l in &input.lines {
        conn.prepare_cached(
            "INSERT INTO order_lines(order_id, line_id, sku, qty) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![input.id, l.line_id, l.sku, l.qty])?;
    }
    set_status(
        &Ctx {
            conn,
            site,
            origin,
            now,
        },
        Change {
            order_id: &input.id,
            tenant_id: &input.tenant_id,
            from: None,
            to: Status::Received,
            held_from: None,
            note: Some("accepted"),
        },
    )?;
    if let Some(carrier) = input
        .shipping
        .carrier
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        // Lease this carrier's tracking numbers ahead, so its first label can print offline.
        ids::track_id_kind(conn, &ids::tracking_kind(carrier))?;
    }
    let (to, note) = if try_allocate(conn, &input.id, &input.tenant_id, &input.lines)? {
        (
            order::next(Status::Received, Action::Allocate),
            "stock reserved",
        )
    } else {
        (
            order::next(Status::Received, Action::Backorder),
            "not enough available stock",
        )
    };
    let to = to.map_err(Error::conflict)?;
    set_status(
        &Ctx {
            conn,
            site,
            origin,
            now,
        },
        Change {
            order_id: &input.id,
            tenant_id: &input.tenant_id,
            from: Some(Status::Received),
            to,
            held_from: None,
            note: Some(note),
        },
    )?;
    audit::record(
        conn,
        origin,
        now,
        "order.accept",
        &format!("order:{}", input.id),
        &json!({"status": {"old": null, "new": to.as_str()}}),
    )?;
    get_order(conn, &input.id)?.ok_or_else(|| Error::Internal("order vanished".into()))
}

/// The supervisor actions on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupervisorAction {
    Hold,
    Release,
    Cancel,
}

/// Hold, release or cancel. A refused transition is a 409 with the reason.
pub fn act(
    cx: &Ctx<'_>,
    order_id: &str,
    tenant_scope: Option<&str>,
    what: SupervisorAction,
    reason: Option<String>,
) -> Result<OrderDetail> {
    act_as(cx, order_id, tenant_scope, what, reason, true)
}

/// [`act`] for a local user (`upstream_audit`: holds and cancels also travel upstream as
/// `audit.recorded`) or for the central's own hold/release/cancel (no echo upstream).
pub(crate) fn act_as(
    cx: &Ctx<'_>,
    order_id: &str,
    tenant_scope: Option<&str>,
    what: SupervisorAction,
    reason: Option<String>,
    upstream_audit: bool,
) -> Result<OrderDetail> {
    let (conn, site, origin, now) = (cx.conn, cx.site, cx.origin, cx.now);
    check_opt_text("reason", &reason, 500)?;
    let (from, held_from, tenant) = status_of(conn, order_id)?
        .filter(|(_, _, t)| tenant_scope.is_none_or(|s| s == t))
        .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))?;
    let action = match what {
        SupervisorAction::Hold => Action::Hold,
        SupervisorAction::Cancel => Action::Cancel,
        SupervisorAction::Release => Action::Release {
            held_from: held_from.unwrap_or(Status::Received),
        },
    };
    let to = order::next(from, action).map_err(Error::conflict)?;
    let new_held_from = (to == Status::OnHold).then_some(from);
    if to == Status::Cancelled {
        release_reservations(conn, order_id)?;
    }
    set_status(
        &Ctx {
            conn,
            site,
            origin,
            now,
        },
        Change {
            order_id,
            tenant_id: &tenant,
            from: Some(from),
            to,
            held_from: new_held_from,
            note: reason.as_deref(),
        },
    )?;
    let action_name = match what {
        SupervisorAction::Hold => "order.hold",
        SupervisorAction::Release => "order.release",
        SupervisorAction::Cancel => "order.cancel",
    };
    let changes = json!({"status": {"old": from.as_str(), "new": to.as_str()}, "reason": {"old": null, "new": reason}});
    let target = format!("order:{order_id}");
    // Holds and cancels by a local user are security-relevant: they travel upstream too.
    if upstream_audit && matches!(what, SupervisorAction::Hold | SupervisorAction::Cancel) {
        audit::record_upstream(conn, site, origin, now, action_name, &target, &changes)?;
    } else {
        audit::record(conn, origin, now, action_name, &target, &changes)?;
    }
    get_order(conn, order_id)?.ok_or_else(|| Error::Internal("order vanished".into()))
}

/// Appends `order.exception` upstream and audits it: the site found a problem with the order
/// (`short_pick`, `missed_cutoff`, …) that someone must look at.
pub(crate) fn exception_event(
    cx: &Ctx<'_>,
    order_id: &str,
    tenant_id: &str,
    code: &str,
    detail: &str,
) -> Result<()> {
    exception_event_audited_as(cx, order_id, tenant_id, code, detail, "order.exception")
}

/// [`exception_event`] with the audit entry under `audit_action`.
pub(crate) fn exception_event_audited_as(
    cx: &Ctx<'_>,
    order_id: &str,
    tenant_id: &str,
    code: &str,
    detail: &str,
    audit_action: &str,
) -> Result<()> {
    outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "order.exception",
            aggregate_type: "order",
            aggregate_id: order_id.to_string(),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({"order_id": order_id, "tenant_id": tenant_id, "code": code, "detail": detail}),
        },
    )?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        audit_action,
        &format!("order:{order_id}"),
        &json!({"exception": {"old": null, "new": {"code": code, "detail": detail}}}),
    )?;
    Ok(())
}

/// Flags every open order whose carrier cut-off (`ship_by`) is less than `warn_before` away, or
/// already past, with `order.exception` `missed_cutoff` — once per order, before the cut-off
/// passes, so a supervisor can still act (rush it, re-book the carrier, tell the customer). The
/// order keeps its status: the floor goes on working it. Returns the flagged order ids.
pub fn flag_cutoffs(
    cx: &Ctx<'_>,
    now: chrono::DateTime<chrono::Utc>,
    warn_before: chrono::Duration,
) -> Result<Vec<String>> {
    let open: Vec<(String, String, String)> = cx
        .conn
        .prepare_cached(
            "SELECT id, tenant_id, ship_by FROM orders
             WHERE ship_by IS NOT NULL AND cutoff_flagged_at IS NULL
               AND status NOT IN ('shipped', 'partially_shipped', 'cancelled')",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let mut flagged = Vec::new();
    for (id, tenant, ship_by) in open {
        let Some(due) = crate::domain::time::parse(&ship_by) else {
            continue;
        };
        if due - now > warn_before {
            continue;
        }
        let minutes = (due - now).num_minutes();
        let detail = if minutes < 0 {
            format!("cut-off {ship_by} passed {} min ago, not shipped", -minutes)
        } else {
            format!("cut-off {ship_by} in {minutes} min, not shipped yet")
        };
        cx.conn
            .prepare_cached("UPDATE orders SET cutoff_flagged_at = ?2 WHERE id = ?1")?
            .execute(params![id, cx.now])?;
        exception_event(cx, &id, &tenant, "missed_cutoff", &detail)?;
        flagged.push(id);
    }
    Ok(flagged)
}

/// The store's re-check of invariant 4: no forward step for a held or cancelled order.
pub(crate) fn recheck(conn: &Connection, order_id: &str) -> Result<(Status, String)> {
    let (status, _, tenant) = status_of(conn, order_id)?
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
    let (from, _, tenant) = status_of(cx.conn, order_id)?
        .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))?;
    let to = order::next(from, action).map_err(Error::conflict)?;
    set_status(
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
