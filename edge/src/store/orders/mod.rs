//! The orders layer: fulfilment orders, their reservations and their life cycle, above stock and
//! ledger. `lifecycle` takes the steps (acceptance, status changes with timeline and upstream
//! event, hold/release/cancel, exceptions, cut-offs), `reserve` promises and gives back stock.
//! The types and reads of an order live here.

mod lifecycle;
mod reserve;

pub use lifecycle::{accept, act, flag_cutoffs, SupervisorAction};
pub(crate) use lifecycle::{
    act_as, exception_event, exception_event_audited_as, move_order, recheck, set_status, Change,
};
pub use reserve::{
    allocate_backorders, backorder_for_shortfall, reservation, Reservation, SHORT_PICK_EXCEPTION,
};
pub(crate) use reserve::{consume_reservation, release_reservations, try_allocate};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::domain::order::Status;
use crate::domain::station::{OrderLineView, OrderView};
use crate::domain::weight::kg_json;
use crate::domain::{rules, time, Actor};
use crate::error::{Error, Result};
use crate::store::base::catalog::check_ident;
use crate::store::base::query::Where;

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
    #[schema(value_type = Option<rules::Text200>)]
    pub name: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub company: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub street1: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub street2: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub city: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub region: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub postal_code: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
    pub country: Option<String>,
    #[schema(value_type = Option<rules::Text200>)]
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
    /// Unique within the order.
    #[schema(value_type = rules::Ident)]
    pub line_id: String,
    #[schema(value_type = rules::Ident)]
    pub sku: String,
    #[schema(value_type = rules::OrderQty)]
    pub qty: i64,
}

/// Body of `POST /v1/orders`: the `order.upsert` object of the sync contract.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[schema(value_type = rules::Ident)]
    pub id: String,
    #[schema(value_type = rules::Ident)]
    pub tenant_id: String,
    #[schema(value_type = Option<rules::Text64>)]
    pub channel: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    /// RFC 3339: the carrier cut-off for this order.
    #[schema(format = DateTime)]
    pub ship_by: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub shipping: Shipping,
    #[serde(default)]
    pub ship_to: Address,
    #[schema(min_items = 1, max_items = 1000)]
    pub lines: Vec<LineInput>,
    #[schema(value_type = Option<rules::Text2000>)]
    pub notes: Option<String>,
    #[schema(value_type = Option<rules::Text2000>)]
    pub gift_message: Option<String>,
    #[serde(default)]
    pub branding: Branding,
    pub version: Option<i64>,
}

/// Body of hold, release and cancel.
#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    #[schema(value_type = Option<rules::Text500>)]
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

pub(crate) fn check_opt_text(field: &str, v: &Option<String>, max: usize) -> Result<()> {
    match v {
        Some(s) => rules::text(max).check_field(field, s),
        None => Ok(()),
    }
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
            rules::OrderQty::check_field(&format!("lines[{i}].qty"), l.qty)?;
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
    let shipments = shipments_of(conn, &id)?;
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

/// An order as the floor sees it (`FloorView::order`); the pack commands re-check with it too.
pub(crate) fn order_view(conn: &Connection, order_id: &str) -> Result<Option<OrderView>> {
    let Some((status, _, tenant_id)) = status_of(conn, order_id)? else {
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
                picked_lots: Vec::new(),
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut lines = lines;
    let mut lots = conn.prepare_cached(
        "SELECT line_id, lot, sum(qty) FROM tote_contents WHERE order_id = ?1
         GROUP BY line_id, lot ORDER BY line_id, lot",
    )?;
    for row in lots.query_map([order_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (line_id, lot, qty) = row?;
        if let Some(line) = lines.iter_mut().find(|l| l.line_id == line_id) {
            line.picked_lots
                .push((lot, u32::try_from(qty).unwrap_or(0)));
        }
    }
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

/// (id, carrier, service, weight in mg, items JSON, shipped at).
type ShipmentHead = (String, Option<String>, Option<String>, i64, String, String);

/// Shipments of an order for `GET /v1/orders/{id}`: id, carrier, cartons with their numbers.
pub fn shipments_of(conn: &Connection, order_id: &str) -> Result<Vec<Value>> {
    let heads: Vec<ShipmentHead> = conn
        .prepare_cached(
            "SELECT id, carrier, service, weight_mg, items, shipped_at FROM shipments
             WHERE order_id = ?1 ORDER BY shipped_at, id",
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
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(heads.len());
    for (id, carrier, service, weight_mg, items, shipped_at) in heads {
        let packages: Vec<Value> = conn
            .prepare_cached(
                "SELECT carton, tracking_number, sscc, weight_mg FROM cartons
                 WHERE shipment_id = ?1 ORDER BY carton",
            )?
            .query_map([&id], |r| {
                let weight: i64 = r.get(3)?;
                Ok(
                    json!({"carton": r.get::<_, i64>(0)?, "tracking_number": r.get::<_, String>(1)?,
                          "sscc": r.get::<_, String>(2)?, "weight": kg_json(weight)}),
                )
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let items: Value = serde_json::from_str(&items).unwrap_or(Value::Null);
        out.push(
            json!({"shipment_id": id, "carrier": carrier, "service": service,
                        "weight": kg_json(weight_mg), "packages": packages, "items": items,
                        "shipped_at": shipped_at}),
        );
    }
    Ok(out)
}
