//! Fulfillment orders: acceptance with stock reservation, status changes with their timeline,
//! outbox event and audit entry, and the hold/release/cancel actions. Whether a step is allowed is
//! decided by [`crate::domain::order::next`] inside the transaction that takes the step.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::audit::{self, Origin};
use super::catalog::{self, check_ident};
use super::ledger;
use super::outbox::{self, NewEvent};
use super::query::Where;
use crate::domain::order::{self, Action, Status};
use crate::domain::stock::{self, Position};
use crate::domain::{time, Actor};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Standard,
    TwoDay,
    Overnight,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Shipping {
    pub carrier: Option<String>,
    pub service: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub street1: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    pub packing_slip_template: Option<String>,
    pub logo_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub line_id: String,
    pub sku: String,
    pub qty: i64,
}

/// Body of `POST /v1/orders`: the `order.upsert` object of the sync contract.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    pub id: String,
    pub tenant_id: String,
    pub channel: Option<String>,
    pub created_at: Option<String>,
    /// RFC 3339: the carrier cut-off for this order.
    pub ship_by: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub shipping: Shipping,
    #[serde(default)]
    pub ship_to: Address,
    pub lines: Vec<LineInput>,
    pub notes: Option<String>,
    pub gift_message: Option<String>,
    #[serde(default)]
    pub branding: Branding,
    pub version: Option<i64>,
}

/// Body of hold, release and cancel.
#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrderLine {
    pub line_id: String,
    pub sku: String,
    pub qty: i64,
    /// Units reserved for this line.
    pub reserved: i64,
}

/// Where the reserved units of a line are.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Allocation {
    pub line_id: String,
    pub sku: String,
    pub location: String,
    pub lot: Option<String>,
    pub qty: i64,
}

/// One entry of the order's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: String,
    pub from: Option<Status>,
    pub to: Status,
    pub note: Option<String>,
    pub actor: Actor,
}

/// A row of `GET /v1/orders`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrderSummary {
    pub id: String,
    pub tenant_id: String,
    pub status: Status,
    pub priority: Priority,
    pub ship_by: Option<String>,
    pub accepted_at: String,
    pub updated_at: String,
}

/// `GET /v1/orders/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrderDetail {
    pub id: String,
    pub tenant_id: String,
    pub status: Status,
    /// The status the order returns to on release, while it is on hold.
    pub held_from: Option<Status>,
    pub channel: Option<String>,
    pub created_at: Option<String>,
    pub ship_by: Option<String>,
    pub priority: Priority,
    pub shipping: Shipping,
    pub ship_to: Address,
    pub notes: Option<String>,
    pub gift_message: Option<String>,
    pub branding: Branding,
    pub version: Option<i64>,
    pub accepted_at: String,
    pub updated_at: String,
    pub lines: Vec<OrderLine>,
    pub allocation: Vec<Allocation>,
    /// When the node flagged the order as about to miss its carrier cut-off (`missed_cutoff`).
    pub cutoff_flagged_at: Option<String>,
    /// Shipments confirmed at this site (filled by the pack workflow).
    #[schema(value_type = Vec<Object>)]
    pub shipments: Vec<Value>,
    pub timeline: Vec<TimelineEntry>,
}

fn check_opt_text(field: &str, v: &Option<String>, max: usize) -> Result<()> {
    if let Some(s) = v {
        if s.chars().count() > max {
            return Err(Error::validation(
                field,
                format!("must be at most {max} characters"),
            ));
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::validation(
                field,
                "must not contain control characters",
            ));
        }
    }
    Ok(())
}

impl OrderInput {
    pub(crate) fn validate(&self) -> Result<()> {
        check_ident("id", &self.id)?;
        check_ident("tenant_id", &self.tenant_id)?;
        if self.lines.is_empty() {
            return Err(Error::validation(
                "lines",
                "an order needs at least one line",
            ));
        }
        if self.lines.len() > 1000 {
            return Err(Error::validation("lines", "at most 1000 lines"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.lines.iter().enumerate() {
            check_ident(&format!("lines[{i}].line_id"), &l.line_id)?;
            check_ident(&format!("lines[{i}].sku"), &l.sku)?;
            if l.qty <= 0 || l.qty > 1_000_000 {
                return Err(Error::validation(
                    &format!("lines[{i}].qty"),
                    "must be between 1 and 1000000",
                ));
            }
            if !seen.insert(&l.line_id) {
                return Err(Error::validation(
                    &format!("lines[{i}].line_id"),
                    "duplicate line id",
                ));
            }
        }
        for (f, v) in [("created_at", &self.created_at), ("ship_by", &self.ship_by)] {
            if let Some(t) = v {
                if time::parse(t).is_none() {
                    return Err(Error::validation(f, "must be an RFC 3339 timestamp"));
                }
            }
        }
        check_opt_text("notes", &self.notes, 2000)?;
        check_opt_text("gift_message", &self.gift_message, 2000)?;
        check_opt_text("channel", &self.channel, 64)?;
        let a = &self.ship_to;
        for (f, v) in [
            ("ship_to.name", &a.name),
            ("ship_to.company", &a.company),
            ("ship_to.street1", &a.street1),
            ("ship_to.street2", &a.street2),
            ("ship_to.city", &a.city),
            ("ship_to.region", &a.region),
            ("ship_to.postal_code", &a.postal_code),
            ("ship_to.country", &a.country),
            ("ship_to.phone", &a.phone),
        ] {
            check_opt_text(f, v, 200)?;
        }
        Ok(())
    }
}

pub(crate) fn status_of(
    conn: &Connection,
    id: &str,
) -> Result<Option<(Status, Option<Status>, String)>> {
    let row: Option<(String, Option<String>, String)> = conn
        .prepare_cached("SELECT status, held_from, tenant_id FROM orders WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(match row {
        Some((s, h, t)) => Some((
            Status::parse(&s)
                .ok_or_else(|| Error::Internal(format!("order {id} has unknown status {s}")))?,
            h.as_deref().and_then(Status::parse),
            t,
        )),
        None => None,
    })
}

/// What a mutation needs besides its input: the transaction, the site, who, and when.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub site: &'a str,
    pub origin: &'a Origin,
    pub now: &'a str,
}

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
        super::sync::track_id_kind(conn, &super::packing::tracking_kind(carrier))?;
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

/// A count found less than is reserved at a position: release the newest reservations there
/// until `shortfall` units are freed, and backorder their orders.
pub fn backorder_for_shortfall(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    (tenant, sku, loc, lot): (&str, &str, &str, &str),
    shortfall: i64,
) -> Result<()> {
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
        if let Some((from, held_from, t)) = status_of(conn, &order_id)? {
            match from {
                Status::OnHold => {
                    // Stays on hold; on release it comes back as backordered.
                    conn.execute(
                        "UPDATE orders SET held_from = 'backordered', updated_at = ?2 WHERE id = ?1",
                        params![order_id, now],
                    )?;
                    let _ = held_from;
                }
                _ => {
                    let to = order::next(from, Action::Backorder).unwrap_or(Status::Backordered);
                    set_status(
                        &Ctx {
                            conn,
                            site,
                            origin,
                            now,
                        },
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

fn parse_json<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub fn get_order(conn: &Connection, id: &str) -> Result<Option<OrderDetail>> {
    let row = conn
        .prepare_cached(
            "SELECT id, tenant_id, status, held_from, channel, created_at, ship_by, priority, shipping, ship_to,
                    notes, gift_message, branding, version, accepted_at, updated_at FROM orders WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?),
                (r.get::<_, Option<String>>(4)?, r.get::<_, Option<String>>(5)?, r.get::<_, Option<String>>(6)?, r.get::<_, String>(7)?),
                (r.get::<_, Option<String>>(8)?, r.get::<_, Option<String>>(9)?, r.get::<_, Option<String>>(10)?, r.get::<_, Option<String>>(11)?),
                (r.get::<_, Option<String>>(12)?, r.get::<_, Option<i64>>(13)?, r.get::<_, String>(14)?, r.get::<_, String>(15)?),
            ))
        })
        .optional()?;
    let Some((
        (id, tenant_id, status, held_from),
        (channel, created_at, ship_by, priority),
        (shipping, ship_to, notes, gift),
        (branding, version, accepted_at, updated_at),
    )) = row
    else {
        return Ok(None);
    };
    let cutoff_flagged_at: Option<String> = conn
        .prepare_cached("SELECT cutoff_flagged_at FROM orders WHERE id = ?1")?
        .query_row([&id], |r| r.get(0))?;
    let lines: Vec<OrderLine> = conn
        .prepare_cached(
            "SELECT l.line_id, l.sku, l.qty, coalesce((SELECT sum(qty) FROM reservations r WHERE r.order_id = l.order_id AND r.line_id = l.line_id), 0)
             FROM order_lines l WHERE l.order_id = ?1 ORDER BY l.rowid",
        )?
        .query_map([&id], |r| Ok(OrderLine { line_id: r.get(0)?, sku: r.get(1)?, qty: r.get(2)?, reserved: r.get(3)? }))?
        .collect::<std::result::Result<_, _>>()?;
    let allocation: Vec<Allocation> = conn
        .prepare_cached("SELECT line_id, sku, location, lot, qty FROM reservations WHERE order_id = ?1 ORDER BY id")?
        .query_map([&id], |r| {
            let lot: String = r.get(3)?;
            Ok(Allocation { line_id: r.get(0)?, sku: r.get(1)?, location: r.get(2)?, lot: (!lot.is_empty()).then_some(lot), qty: r.get(4)? })
        })?
        .collect::<std::result::Result<_, _>>()?;
    let timeline: Vec<TimelineEntry> = conn
        .prepare_cached(
            "SELECT at, from_status, to_status, note, actor_user, actor_device, actor_api_key FROM order_events WHERE order_id = ?1 ORDER BY id",
        )?
        .query_map([&id], |r| {
            let from: Option<String> = r.get(1)?;
            let to: String = r.get(2)?;
            Ok(TimelineEntry {
                at: r.get(0)?,
                from: from.as_deref().and_then(Status::parse),
                to: Status::parse(&to).unwrap_or(Status::Exception),
                note: r.get(3)?,
                actor: Actor { user: r.get(4)?, device: r.get(5)?, api_key: r.get(6)? },
            })
        })?
        .collect::<std::result::Result<_, _>>()?;
    let shipments = super::packing::shipments_of(conn, &id)?;
    Ok(Some(OrderDetail {
        cutoff_flagged_at,
        status: Status::parse(&status)
            .ok_or_else(|| Error::Internal(format!("order {id} has unknown status")))?,
        held_from: held_from.as_deref().and_then(Status::parse),
        id,
        tenant_id,
        channel,
        created_at,
        ship_by,
        priority: serde_json::from_value(Value::String(priority)).unwrap_or_default(),
        shipping: parse_json(shipping),
        ship_to: parse_json(ship_to),
        notes,
        gift_message: gift,
        branding: parse_json(branding),
        version,
        accepted_at,
        updated_at,
        lines,
        allocation,
        shipments,
        timeline,
    }))
}

/// Filters for `GET /v1/orders`.
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub tenant_id: Option<String>,
    pub status: Option<Status>,
    pub after: Option<String>,
    pub limit: usize,
}

pub fn list_orders(conn: &Connection, f: &OrderFilter) -> Result<Vec<OrderSummary>> {
    let status = f.status.map(Status::as_str);
    let mut w = Where::new();
    w.and_some("tenant_id = ?", &f.tenant_id)
        .and_some("status = ?", &status)
        .and_some("id > ?", &f.after);
    let limit = f.limit as i64;
    w.query(
        conn,
        "SELECT id, tenant_id, status, priority, ship_by, accepted_at, updated_at FROM orders",
        "ORDER BY id LIMIT ?",
        &[&limit],
        |r| {
            let status: String = r.get(2)?;
            let priority: String = r.get(3)?;
            Ok(OrderSummary {
                id: r.get(0)?,
                tenant_id: r.get(1)?,
                status: Status::parse(&status).unwrap_or(Status::Exception),
                priority: serde_json::from_value(Value::String(priority)).unwrap_or_default(),
                ship_by: r.get(4)?,
                accepted_at: r.get(5)?,
                updated_at: r.get(6)?,
            })
        },
    )
}

/// Stock of `sku` arrived: backordered orders of the tenant waiting for it get it first, the
/// most urgent first (`ship_by`, then the order they were accepted in). Each is allocated in
/// full or stays backordered.
pub fn allocate_backorders(cx: &Ctx<'_>, tenant: &str, sku: &str) -> Result<Vec<String>> {
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
