//! Down-sync: one page of the central's changes applied in one transaction, cursor included.

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use wms_sync::idblock::GrantOutcome;
use wms_sync::wire::{self, Change, ChangeRecord};

use super::central_origin;
use crate::domain::order::{self as order_rules, Action, Status};
use crate::domain::time;
use crate::error::{Error, Result};
use crate::store::base::catalog::{self, LocationInput, ProductInput, UserInput};
use crate::store::base::customers::{self, Customer};
use crate::store::base::ids::{load_leases, save_leases};
use crate::store::base::prices::{self, PromotionRow, TaxRateRow};
use crate::store::base::sync_state::{state_set, KEY_CURSOR};
use crate::store::base::{audit, Ctx};
use crate::store::orders::{self, OrderInput, SupervisorAction};

fn object_key(c: &Change) -> Option<(String, u64)> {
    Some(match c {
        Change::OrderUpsert(o) => (format!("order:{}", o.id), o.version),
        Change::OrderHold(o) | Change::OrderRelease(o) | Change::OrderCancel(o) => {
            (format!("order:{}", o.id), o.version)
        }
        Change::OrderAddressChanged(o) => (format!("order:{}", o.id), o.version),
        Change::ProductUpsert(p) => (format!("product:{}/{}", p.tenant_id, p.sku), p.version),
        Change::LocationUpsert(l) => (format!("location:{}", l.code), l.version),
        Change::UserUpsert(u) => (format!("user:{}", u.id), u.version),
        Change::TaxRateUpsert(t) => (format!("tax_rate:{}", t.code), t.version),
        Change::PromotionUpsert(p) => (format!("promotion:{}", p.id), p.version),
        Change::CustomerUpsert(c) => (format!("customer:{}", c.id), c.version),
        _ => return None,
    })
}

/// The version held for an object: the larger of `sync_versions` and the row's own column
/// (an admin PUT may carry a version too).
fn held_version(conn: &Connection, key: &str) -> Result<u64> {
    let synced: Option<i64> = conn
        .prepare_cached("SELECT version FROM sync_versions WHERE object = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    let row: Option<Option<i64>> = match key.split_once(':') {
        Some(("order", id)) => conn
            .prepare_cached("SELECT version FROM orders WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?,
        Some(("product", rest)) => match rest.split_once('/') {
            Some((t, s)) => conn
                .prepare_cached("SELECT version FROM products WHERE tenant_id = ?1 AND sku = ?2")?
                .query_row([t, s], |r| r.get(0))
                .optional()?,
            None => None,
        },
        Some(("location", code)) => conn
            .prepare_cached("SELECT version FROM locations WHERE code = ?1")?
            .query_row([code], |r| r.get(0))
            .optional()?,
        Some(("user", id)) => conn
            .prepare_cached("SELECT version FROM users WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?,
        _ => None,
    };
    let a = synced.unwrap_or(0).max(0) as u64;
    let b = row.flatten().unwrap_or(0).max(0) as u64;
    Ok(a.max(b))
}

fn set_version(conn: &Connection, key: &str, version: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_versions(object, version) VALUES (?1, ?2)
         ON CONFLICT(object) DO UPDATE SET version = excluded.version",
    )?
    .execute(params![key, version as i64])?;
    Ok(())
}

/// A refusal of the site (bad or unknown data) skips the change; anything else fails the page.
fn is_refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::Validation { .. } | Error::NotFound(_) | Error::Conflict(_)
    )
}

fn skip_change(
    conn: &Connection,
    change_id: u64,
    kind: &str,
    object: &Value,
    error: &str,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_skipped_changes(change_id, type, object, error, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![change_id as i64, kind, object.to_string(), error, now])?;
    audit::record(
        conn,
        &central_origin(change_id),
        now,
        "sync.change_skipped",
        &format!("change:{change_id}"),
        &json!({"type": {"old": null, "new": kind}, "error": {"old": null, "new": error}}),
    )?;
    Ok(())
}

fn change_object(c: &Change) -> Value {
    match c {
        Change::OrderUpsert(o) => json!(o),
        Change::OrderHold(o) | Change::OrderRelease(o) | Change::OrderCancel(o) => json!(o),
        Change::OrderAddressChanged(o) => json!(o),
        Change::ProductUpsert(p) => json!(p),
        Change::LocationUpsert(l) => json!(l),
        Change::UserUpsert(u) => {
            let mut v = json!(u);
            if let Some(m) = v.as_object_mut() {
                m.insert("pin_hash".into(), json!("***"));
            }
            v
        }
        Change::IdBlockGranted(b) => json!(b),
        Change::TaxRateUpsert(t) => json!(t),
        Change::PromotionUpsert(p) => json!(p),
        Change::CustomerUpsert(c) => json!(c),
        Change::Unknown { object, .. } | Change::Malformed { object, .. } => object.clone(),
    }
}

fn tax_rate_row(t: &wire::TaxRateUpsert) -> TaxRateRow {
    TaxRateRow {
        code: t.code.clone(),
        name: t.name.clone(),
        rate: t.rate.clone(),
        version: Some(t.version as i64),
    }
}

fn promotion_row(p: &wire::PromotionUpsert) -> PromotionRow {
    let kind = match p.kind {
        wire::PromotionKind::PercentOff => "percent_off",
        wire::PromotionKind::AmountOff => "amount_off",
        wire::PromotionKind::BuyXGetY => "buy_x_get_y",
    };
    PromotionRow {
        id: p.id.clone(),
        tenant_id: p.tenant_id.clone(),
        name: p.name.clone(),
        code: p.code.clone(),
        kind: kind.to_string(),
        skus: p.skus.clone(),
        percent: p.percent.clone(),
        amount: p.amount,
        buy_qty: p.buy_qty,
        get_qty: p.get_qty,
        min_subtotal: p.min_subtotal,
        starts_at: p.starts_at.clone(),
        ends_at: p.ends_at.clone(),
        active: p.active,
        version: Some(p.version as i64),
    }
}

fn customer_row(c: &wire::CustomerUpsert) -> Customer {
    Customer {
        id: c.id.clone(),
        tenant_id: c.tenant_id.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        loyalty_id: c.loyalty_id.clone(),
        group: c.group.clone(),
        active: c.active,
        version: Some(c.version as i64),
    }
}

fn address(a: &wire::Address) -> orders::Address {
    orders::Address {
        name: a.name.clone(),
        company: a.company.clone(),
        street1: a.street1.clone(),
        street2: a.street2.clone(),
        city: a.city.clone(),
        region: a.region.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
        phone: a.phone.clone(),
    }
}

fn order_input(o: &wire::OrderUpsert) -> Result<OrderInput> {
    let priority = match o.priority {
        wire::Priority::Standard => orders::Priority::Standard,
        wire::Priority::TwoDay => orders::Priority::TwoDay,
        wire::Priority::Overnight => orders::Priority::Overnight,
        wire::Priority::Unknown => {
            return Err(Error::validation("priority", "unknown priority"));
        }
    };
    Ok(OrderInput {
        id: o.id.clone(),
        tenant_id: o.tenant_id.clone(),
        channel: o.channel.clone(),
        created_at: o.created_at.map(time::format),
        ship_by: o.ship_by.map(time::format),
        priority,
        shipping: orders::Shipping {
            carrier: o.shipping.carrier.clone(),
            service: o.shipping.service.clone(),
        },
        ship_to: address(&o.ship_to),
        lines: o
            .lines
            .iter()
            .map(|l| orders::LineInput {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                qty: l.qty,
            })
            .collect(),
        notes: o.notes.clone(),
        gift_message: o.gift_message.clone(),
        branding: o
            .branding
            .as_ref()
            .map(|b| orders::Branding {
                packing_slip_template: b.packing_slip_template.clone(),
                logo_url: b.logo_url.clone(),
            })
            .unwrap_or_default(),
        version: Some(o.version as i64),
    })
}

/// Appends `order.exception` to the outbox (the site decided a conflict).
fn order_exception(
    cx: &Ctx<'_>,
    order_id: &str,
    tenant_id: &str,
    code: &str,
    detail: &str,
) -> Result<()> {
    // Audited under its own action, so a supervisor can tell a sync conflict from a floor one.
    orders::exception_event_audited_as(cx, order_id, tenant_id, code, detail, "order.sync_conflict")
}

fn label_printed(conn: &Connection, order_id: &str) -> Result<bool> {
    let v: Option<Option<String>> = conn
        .prepare_cached("SELECT label_printed_at FROM orders WHERE id = ?1")?
        .query_row([order_id], |r| r.get(0))
        .optional()?;
    Ok(v.flatten().is_some())
}

fn find_order(conn: &Connection, id: &str) -> Result<(Status, Option<Status>, String)> {
    orders::status_of(conn, id)?
        .ok_or_else(|| Error::not_found(format!("order {id} is not known at this site")))
}

/// `order.address_changed` (also used when an upsert carries a new `ship_to`). Before a label
/// was printed the address is simply replaced; after, the order goes to `exception` with the new
/// address stored, until a supervisor reprints or overrides; after shipment it is a conflict.
fn change_address(cx: &Ctx<'_>, order_id: &str, ship_to: &orders::Address) -> Result<()> {
    let (status, _, tenant) = find_order(cx.conn, order_id)?;
    let old: String = cx.conn.query_row(
        "SELECT ship_to FROM orders WHERE id = ?1",
        [order_id],
        |r| r.get(0),
    )?;
    let new = serde_json::to_string(ship_to)?;
    if status.has_shipped() {
        return order_exception(
            cx,
            order_id,
            &tenant,
            "conflict",
            "address changed after the order shipped",
        );
    }
    cx.conn.execute(
        "UPDATE orders SET ship_to = ?2, updated_at = ?3 WHERE id = ?1",
        params![order_id, new, cx.now],
    )?;
    let old_v: Value = serde_json::from_str(&old).unwrap_or(Value::Null);
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "order.address_change",
        &format!("order:{order_id}"),
        &json!({"ship_to": {"old": old_v, "new": ship_to}}),
    )?;
    if label_printed(cx.conn, order_id)? && status != Status::Cancelled {
        if let Ok(to) = order_rules::next(status, Action::RaiseException) {
            if to != status {
                orders::set_status(
                    cx,
                    orders::Change {
                        order_id,
                        tenant_id: &tenant,
                        from: Some(status),
                        to,
                        held_from: None,
                        note: Some("address changed after the label was printed"),
                    },
                )?;
            }
        }
        order_exception(
            cx,
            order_id,
            &tenant,
            "conflict",
            "address changed after the label was printed; reprint or override",
        )?;
    }
    Ok(())
}

fn order_lines(conn: &Connection, id: &str) -> Result<BTreeSet<(String, String, i64)>> {
    let rows = conn
        .prepare_cached("SELECT line_id, sku, qty FROM order_lines WHERE order_id = ?1")?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<std::result::Result<_, _>>()?;
    Ok(rows)
}

/// `order.upsert` of an order the site already has (newer version): header fields are replaced;
/// `ship_to` follows the address-change rule; changed lines are taken only before picking starts
/// (`received`, `backordered`, `allocated`: reservations are released and taken again); later the
/// site keeps the lines it is working on and reports `order.exception` `conflict`.
fn update_order(cx: &Ctx<'_>, input: OrderInput) -> Result<()> {
    input.validate()?;
    let conn = cx.conn;
    let (status, _, tenant) = find_order(conn, &input.id)?;
    if tenant != input.tenant_id {
        return Err(Error::validation(
            "tenant_id",
            "an order cannot move to another tenant",
        ));
    }
    conn.execute(
        "UPDATE orders SET channel = ?2, created_at = ?3, ship_by = ?4, priority = ?5, shipping = ?6,
                notes = ?7, gift_message = ?8, branding = ?9, version = ?10, updated_at = ?11 WHERE id = ?1",
        params![
            input.id,
            input.channel,
            input.created_at,
            input.ship_by,
            json!(input.priority).as_str(),
            serde_json::to_string(&input.shipping)?,
            input.notes,
            input.gift_message,
            serde_json::to_string(&input.branding)?,
            input.version,
            cx.now
        ],
    )?;
    audit::record(
        conn,
        cx.origin,
        cx.now,
        "order.update",
        &format!("order:{}", input.id),
        &json!({"version": {"old": null, "new": input.version}}),
    )?;
    let current_to: String = conn.query_row(
        "SELECT ship_to FROM orders WHERE id = ?1",
        [&input.id],
        |r| r.get(0),
    )?;
    if serde_json::from_str::<orders::Address>(&current_to)
        .ok()
        .as_ref()
        != Some(&input.ship_to)
    {
        change_address(cx, &input.id, &input.ship_to)?;
    }
    let new_lines: BTreeSet<(String, String, i64)> = input
        .lines
        .iter()
        .map(|l| (l.line_id.clone(), l.sku.clone(), l.qty))
        .collect();
    if new_lines == order_lines(conn, &input.id)? {
        return Ok(());
    }
    match status {
        Status::Received | Status::Backordered | Status::Allocated => {
            for (i, l) in input.lines.iter().enumerate() {
                if catalog::get_product(conn, &tenant, &l.sku)?.is_none() {
                    return Err(Error::validation(
                        &format!("lines[{i}].sku"),
                        format!("unknown sku {} for tenant {tenant}", l.sku),
                    ));
                }
            }
            orders::release_reservations(conn, &input.id)?;
            conn.execute("DELETE FROM order_lines WHERE order_id = ?1", [&input.id])?;
            for l in &input.lines {
                conn.prepare_cached(
                    "INSERT INTO order_lines(order_id, line_id, sku, qty) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![input.id, l.line_id, l.sku, l.qty])?;
            }
            let ok = orders::try_allocate(conn, &input.id, &tenant, &input.lines)?;
            let to = if ok {
                Status::Allocated
            } else {
                Status::Backordered
            };
            if to != status {
                orders::set_status(
                    cx,
                    orders::Change {
                        order_id: &input.id,
                        tenant_id: &tenant,
                        from: Some(status),
                        to,
                        held_from: None,
                        note: Some("lines changed by the central"),
                    },
                )?;
            }
            Ok(())
        }
        Status::Cancelled => Ok(()),
        _ => order_exception(
            cx,
            &input.id,
            &tenant,
            "conflict",
            "lines changed after picking started; the site kept the lines it is working on",
        ),
    }
}

/// `order.hold` / `order.release` / `order.cancel` from the central. A hold or cancel of an order
/// that already shipped is reported as `order.exception` `conflict`; a step the state machine
/// refuses otherwise (already on hold, already cancelled, release of an order not on hold) changes
/// nothing and is audited as ignored.
fn order_action(cx: &Ctx<'_>, c: &wire::OrderStateChange, what: SupervisorAction) -> Result<()> {
    let (status, held_from, tenant) = find_order(cx.conn, &c.id)?;
    if status.has_shipped() && matches!(what, SupervisorAction::Hold | SupervisorAction::Cancel) {
        let verb = if what == SupervisorAction::Hold {
            "hold"
        } else {
            "cancel"
        };
        return order_exception(
            cx,
            &c.id,
            &tenant,
            "conflict",
            &format!("{verb} arrived after the order shipped; the goods have left"),
        );
    }
    let action = match what {
        SupervisorAction::Hold => Action::Hold,
        SupervisorAction::Cancel => Action::Cancel,
        SupervisorAction::Release => Action::Release {
            held_from: held_from.unwrap_or(Status::Received),
        },
    };
    match order_rules::next(status, action) {
        Ok(_) => {
            orders::act_as(cx, &c.id, None, what, c.reason.clone(), false)?;
        }
        Err(refusal) => {
            audit::record(
                cx.conn,
                cx.origin,
                cx.now,
                "sync.change_ignored",
                &format!("order:{}", c.id),
                &json!({"reason": {"old": null, "new": refusal.to_string()}}),
            )?;
        }
    }
    Ok(())
}

fn product_input(p: &wire::ProductUpsert) -> Result<ProductInput> {
    let mut v = json!(p);
    if let Some(m) = v.as_object_mut() {
        if m.get("name").is_none_or(Value::is_null) {
            m.insert("name".into(), json!(p.sku));
        }
    }
    serde_json::from_value(v).map_err(|e| Error::validation("product", e))
}

fn location_input(l: &wire::LocationUpsert) -> Result<LocationInput> {
    let kind = serde_json::from_value(json!(l.kind))
        .map_err(|_| Error::validation("kind", "unknown location kind"))?;
    Ok(LocationInput {
        code: Some(l.code.clone()),
        zone: l.zone.clone(),
        pick_sequence: l.pick_sequence.unwrap_or(0),
        kind,
        version: Some(l.version as i64),
    })
}

fn user_input(u: &wire::UserUpsert) -> Result<UserInput> {
    let roles = serde_json::from_value(json!(u.roles))
        .map_err(|_| Error::validation("roles", "unknown role"))?;
    if let Some(h) = &u.pin_hash {
        if !h.starts_with("$argon2id$") {
            return Err(Error::validation(
                "pin_hash",
                "must be an Argon2id PHC string",
            ));
        }
    }
    Ok(UserInput {
        id: Some(u.id.clone()),
        name: u.name.clone().unwrap_or_else(|| u.id.clone()),
        badge: u.badge.clone(),
        pin: None,
        roles,
        tenant_id: u.tenant_id.clone(),
        active: u.active,
        version: Some(u.version as i64),
    })
}

fn apply_one(cx: &Ctx<'_>, change: &Change) -> Result<()> {
    let (conn, site, origin, now) = (cx.conn, cx.site, cx.origin, cx.now);
    match change {
        Change::OrderUpsert(o) => {
            let input = order_input(o)?;
            if orders::status_of(conn, &o.id)?.is_none() {
                orders::accept(conn, site, origin, now, input)?;
                Ok(())
            } else {
                update_order(cx, input)
            }
        }
        Change::OrderHold(c) => order_action(cx, c, SupervisorAction::Hold),
        Change::OrderRelease(c) => order_action(cx, c, SupervisorAction::Release),
        Change::OrderCancel(c) => order_action(cx, c, SupervisorAction::Cancel),
        Change::OrderAddressChanged(a) => change_address(cx, &a.id, &address(&a.ship_to)),
        Change::ProductUpsert(p) => {
            catalog::put_product(conn, origin, now, &p.tenant_id, &p.sku, product_input(p)?)?;
            Ok(())
        }
        Change::LocationUpsert(l) => {
            catalog::put_location(conn, origin, now, &l.code, location_input(l)?)?;
            Ok(())
        }
        Change::UserUpsert(u) => {
            catalog::put_user(conn, origin, now, &u.id, user_input(u)?, u.pin_hash.clone())?;
            Ok(())
        }
        Change::TaxRateUpsert(t) => prices::put_tax_rate(conn, origin, now, &tax_rate_row(t)),
        Change::PromotionUpsert(p) => prices::put_promotion(conn, origin, now, &promotion_row(p)),
        Change::CustomerUpsert(c) => customers::put_customer(conn, origin, now, &customer_row(c)),
        Change::IdBlockGranted(_) | Change::Unknown { .. } | Change::Malformed { .. } => Ok(()),
    }
}

/// What one page did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageReport {
    pub applied: u64,
    pub stale: u64,
    pub skipped: u64,
}

/// Applies one page of changes and stores `next_cursor`, in the caller's transaction.
pub fn apply_page(
    conn: &Connection,
    site: &str,
    changes: &[ChangeRecord],
    next_cursor: &str,
) -> Result<PageReport> {
    let now = time::now();
    let mut report = PageReport::default();
    // Blocks first, all or nothing, like the reference store: an invalid grant fails the page.
    let mut leases = load_leases(conn)?;
    let mut added = Vec::new();
    for c in changes {
        if let Change::IdBlockGranted(b) = &c.change {
            let outcome = leases
                .grant(b.clone())
                .map_err(|e| Error::Internal(e.to_string()))?;
            if outcome == GrantOutcome::Added {
                added.push(c.change_id);
            }
        }
    }
    if !added.is_empty() {
        save_leases(conn, &leases)?;
    }
    for c in changes {
        let origin = central_origin(c.change_id);
        let cx = Ctx {
            conn,
            site,
            origin: &origin,
            now: &now,
        };
        match (&c.change, object_key(&c.change)) {
            (_, Some((key, version))) => {
                if version <= held_version(conn, &key)? {
                    report.stale += 1;
                    continue;
                }
                conn.execute_batch("SAVEPOINT sync_change")?;
                match apply_one(&cx, &c.change) {
                    Ok(()) => {
                        conn.execute_batch("RELEASE sync_change")?;
                        set_version(conn, &key, version)?;
                        report.applied += 1;
                    }
                    Err(e) => {
                        conn.execute_batch("ROLLBACK TO sync_change; RELEASE sync_change")?;
                        if !is_refusal(&e) {
                            return Err(e);
                        }
                        tracing::warn!(change_id = c.change_id, kind = c.change.kind(), error = %e, "down-sync change refused");
                        skip_change(
                            conn,
                            c.change_id,
                            c.change.kind(),
                            &change_object(&c.change),
                            &e.to_string(),
                            &now,
                        )?;
                        report.skipped += 1;
                    }
                }
            }
            (Change::IdBlockGranted(b), None) => {
                if !added.contains(&c.change_id) {
                    report.stale += 1;
                    continue;
                }
                audit::record(
                    conn,
                    &origin,
                    &now,
                    "id_block.granted",
                    &format!("id_block:{}", b.kind),
                    &json!({"block": {"old": null, "new": b}}),
                )?;
                report.applied += 1;
            }
            (
                Change::Malformed {
                    kind,
                    object,
                    error,
                },
                None,
            ) => {
                skip_change(conn, c.change_id, kind, object, error, &now)?;
                report.skipped += 1;
            }
            (Change::Unknown { kind, object }, None) => {
                skip_change(conn, c.change_id, kind, object, "unknown change type", &now)?;
                report.skipped += 1;
            }
            (_, None) => {}
        }
    }
    state_set(conn, KEY_CURSOR, next_cursor)?;
    Ok(report)
}
