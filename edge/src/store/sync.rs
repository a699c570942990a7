//! The edge's side of `wms_sync`: the [`Outbox`], [`ChangeSink`] and [`IdBlockSink`] traits over
//! the SQLite store, with the semantics of `wms_sync::mem::MemoryStore`. Every mutating method is
//! one `Store::write` (one transaction); the reads run on the reader connections.
//!
//! Down-sync rules decided here (and documented in `ARCHITECTURE.md`):
//! - a change is applied only when its `version` is greater than the one held for the object
//!   (`sync_versions`, or the row's own `version` when larger); the cursor is stored in the same
//!   transaction as the page;
//! - each change runs in its own savepoint: one the site refuses (unknown sku, bad field, unknown
//!   order) is rolled back alone, kept in `sync_skipped_changes`, audited, and the page goes on; a
//!   database failure fails the whole page (the pull loop retries it);
//! - every applied change writes audit rows whose actor is the API key name `central`.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use wms_sync::idblock::GrantOutcome;
use wms_sync::wire::{self, Change, ChangeRecord, IdBlock};
use wms_sync::{
    ChangeSink, EventOutcome, HeldBack, IdBlockSink, IdLeases, IssuedId, Outbox, OutboxStats,
    Outcome, PendingEvent, SyncError,
};

use super::audit::{self, Origin};
use super::catalog::{self, LocationInput, ProductInput, UserInput};
use super::orders::{self, Ctx, OrderInput, SupervisorAction};
use super::outbox;
use super::Store;
use crate::domain::order::{self as order_rules, Action, Status};
use crate::domain::{time, Actor};
use crate::error::{Error, Result};

/// `sync_state` keys.
pub const KEY_CURSOR: &str = "cursor";
pub const KEY_ACKED_THROUGH: &str = "acked_through";
pub const KEY_GENERATION: &str = "dead_generation";
pub const KEY_LEASES: &str = "id_leases";
pub const KEY_DIVERGED_AT: &str = "diverged_at_seq";

/// The name audit rows and upstream events carry for changes made by the central.
pub const CENTRAL_ACTOR: &str = "central";

/// The sync crate's view of the edge store. Cheap to clone.
#[derive(Clone)]
pub struct SyncStore {
    store: Store,
    site: Arc<str>,
}

fn se(e: Error) -> SyncError {
    SyncError::store(e)
}

/// Reads one `sync_state` value.
pub fn state_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// Writes one `sync_state` value (inside the caller's transaction).
pub fn state_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn state_u64(conn: &Connection, key: &str) -> Result<Option<u64>> {
    Ok(state_get(conn, key)?.and_then(|v| v.parse().ok()))
}

fn bump_generation(conn: &Connection) -> Result<()> {
    let g = state_u64(conn, KEY_GENERATION)?.unwrap_or(0) + 1;
    state_set(conn, KEY_GENERATION, &g.to_string())
}

fn central_origin(change_id: u64) -> Origin {
    Origin {
        actor: Actor {
            user: None,
            device: None,
            api_key: Some(CENTRAL_ACTOR.into()),
        },
        request_id: Some(format!("change:{change_id}")),
    }
}

/// An open dead letter, as `GET /v1/sync/dead-letters` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeadLetter {
    /// Event id (`<site>:<seq>`).
    pub id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    /// `<type>:<id>`; later events of this aggregate wait until this one is resolved.
    pub aggregate: String,
    pub occurred_at: String,
    /// The central's error code and message.
    pub code: String,
    pub message: String,
    pub dead_at: String,
    /// The event exactly as it is sent.
    #[schema(value_type = Object)]
    pub event: Value,
}

/// Open dead letters in seq order, after `after_seq`.
pub fn list_dead_letters(
    conn: &Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<DeadLetter>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.seq, o.type, o.aggregate, o.occurred_at, o.body,
                coalesce(d.code, 'rejected'), coalesce(d.message, o.error, ''), coalesce(d.dead_at, '')
         FROM outbox o LEFT JOIN sync_dead_letters d ON d.seq = o.seq AND d.resolution IS NULL
         WHERE o.state = 'dead' AND o.seq > ?1 ORDER BY o.seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq as i64, limit as i64], |r| {
        let body: String = r.get(5)?;
        Ok(DeadLetter {
            id: r.get(0)?,
            seq: r.get::<_, i64>(1)? as u64,
            kind: r.get(2)?,
            aggregate: r.get(3)?,
            occurred_at: r.get(4)?,
            event: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            code: r.get(6)?,
            message: r.get(7)?,
            dead_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Which supervisor action closes a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Back to pending with the same seq, id and body.
    Retry,
    /// Closed for good: marked done locally, never sent again.
    Discard,
}

/// Retries or discards one open dead letter, with its audit entry and `audit.recorded` event, in
/// the caller's transaction. `Ok(false)` when `id` is not an open dead letter.
pub fn resolve_dead_letter(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    id: &str,
    how: Resolution,
) -> Result<bool> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM outbox WHERE id = ?1 AND state = 'dead'")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let Some(seq) = seq else { return Ok(false) };
    let (state, word) = match how {
        Resolution::Retry => ("pending", "retried"),
        Resolution::Discard => ("done", "discarded"),
    };
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, error = CASE WHEN ?2 = 'done' THEN error ELSE NULL END,
                done_at = CASE WHEN ?2 = 'done' THEN ?3 ELSE NULL END WHERE seq = ?1",
    )?
    .execute(params![seq, state, now])?;
    conn.prepare_cached(
        "UPDATE sync_dead_letters SET resolution = ?2, resolved_at = ?3, resolved_by = ?4
         WHERE seq = ?1 AND resolution IS NULL",
    )?
    .execute(params![
        seq,
        word,
        now,
        origin
            .actor
            .user
            .clone()
            .or_else(|| origin.actor.api_key.clone())
    ])?;
    bump_generation(conn)?;
    let action = match how {
        Resolution::Retry => "sync.dead_letter.retry",
        Resolution::Discard => "sync.dead_letter.discard",
    };
    let target = format!("event:{id}");
    let changes = json!({"state": {"old": "dead", "new": word}});
    audit::record_upstream(conn, site, origin, now, action, &target, &changes)?;
    Ok(true)
}

fn record_outcomes_tx(
    conn: &Connection,
    outcomes: &[EventOutcome],
    acked_through: Option<u64>,
    now: &str,
) -> Result<()> {
    let mut dead = false;
    for o in outcomes {
        match &o.outcome {
            Outcome::Done => {
                conn.prepare_cached(
                    "UPDATE outbox SET state = 'done', done_at = ?2 WHERE seq = ?1 AND state = 'pending'",
                )?
                .execute(params![o.seq as i64, now])?;
            }
            Outcome::Rejected { code, message } => {
                let n = conn
                    .prepare_cached(
                        "UPDATE outbox SET state = 'dead', error = ?2 WHERE seq = ?1 AND state = 'pending'",
                    )?
                    .execute(params![o.seq as i64, format!("{code}: {message}")])?;
                if n == 1 {
                    conn.prepare_cached(
                        "INSERT INTO sync_dead_letters(seq, event_id, aggregate, code, message, dead_at)
                         SELECT seq, id, aggregate, ?2, ?3, ?4 FROM outbox WHERE seq = ?1",
                    )?
                    .execute(params![o.seq as i64, code, message, now])?;
                    dead = true;
                }
            }
        }
    }
    if dead {
        bump_generation(conn)?;
    }
    if let Some(a) = acked_through {
        let old = state_u64(conn, KEY_ACKED_THROUGH)?.unwrap_or(0);
        if a > old || state_get(conn, KEY_ACKED_THROUGH)?.is_none() {
            state_set(conn, KEY_ACKED_THROUGH, &a.max(old).to_string())?;
        }
    }
    Ok(())
}

fn stats_tx(conn: &Connection) -> Result<OutboxStats> {
    let pending: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    let oldest: Option<String> = conn
        .prepare_cached(
            "SELECT occurred_at FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    let dead: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'dead'")?
        .query_row([], |r| r.get(0))?;
    let highest: Option<i64> = conn
        .prepare_cached("SELECT value FROM counters WHERE name = 'outbox_seq'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(OutboxStats {
        pending: pending as u64,
        oldest_pending_at: oldest.as_deref().and_then(time::parse),
        dead_letters: dead as u64,
        highest_assigned_seq: highest.unwrap_or(0) as u64,
    })
}

fn load_leases(conn: &Connection) -> Result<IdLeases> {
    match state_get(conn, KEY_LEASES)? {
        Some(j) => Ok(serde_json::from_str(&j)?),
        None => Ok(IdLeases::default()),
    }
}

fn save_leases(conn: &Connection, leases: &IdLeases) -> Result<()> {
    state_set(conn, KEY_LEASES, &serde_json::to_string(leases)?)
}

/// Takes the next serial of an ID kind inside the caller's transaction (the pack and POS
/// workflows call this in the transaction that uses the number, so a number is never issued
/// twice). Errors when the kind is exhausted.
pub fn take_id(conn: &Connection, kind: &str) -> Result<IssuedId> {
    let mut leases = load_leases(conn)?;
    let id = leases
        .take(kind)
        .map_err(|e| Error::conflict(e.to_string()))?;
    save_leases(conn, &leases)?;
    Ok(id)
}

/// Per-kind lease figures (remaining serials, use of the current block, exhausted) for status.
pub fn id_status(conn: &Connection) -> Result<Vec<wms_sync::idblock::KindStatus>> {
    Ok(load_leases(conn)?.status())
}

thread_local! {
    /// Set on the writer thread when a write registered an ID kind the site did not number
    /// before; `Store::write` takes it after the job and hands it to the commit hook (see
    /// `store::Committed`). A job that then rolls back may leave it set: the ID-block requester
    /// is woken for nothing.
    static NEW_ID_KIND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the job that just ran on this thread registered a new ID kind (and clears it).
pub(crate) fn take_new_id_kind() -> bool {
    NEW_ID_KIND.with(|f| f.replace(false))
}

/// Registers an ID kind the site will use, so a block is requested before the first number.
pub fn track_id_kind(conn: &Connection, kind: &str) -> Result<()> {
    let mut leases = load_leases(conn)?;
    let before = leases.clone();
    leases
        .track_kind(kind)
        .map_err(|e| Error::validation("kind", e))?;
    if leases == before {
        return Ok(());
    }
    NEW_ID_KIND.with(|f| f.set(true));
    save_leases(conn, &leases)
}

// ---- down-sync ----

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
        Change::Unknown { object, .. } | Change::Malformed { object, .. } => object.clone(),
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

impl SyncStore {
    /// Wraps the node's store for the sync loops.
    pub fn new(store: Store, site: &str) -> Self {
        SyncStore {
            store,
            site: Arc::from(site),
        }
    }

    /// The store it wraps.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Supervisor retry or discard with its audit entry, in one transaction.
    pub async fn resolve(&self, origin: Origin, id: String, how: Resolution) -> Result<bool> {
        let site = self.site.clone();
        self.store
            .write(move |c| resolve_dead_letter(c, &site, &origin, &time::now(), &id, how))
            .await
    }

    fn system_origin() -> Origin {
        Origin {
            actor: Actor {
                user: None,
                device: None,
                api_key: Some("sync".into()),
            },
            request_id: None,
        }
    }
}

impl Outbox for SyncStore {
    async fn pending_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> std::result::Result<Vec<PendingEvent>, SyncError> {
        self.store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, id, aggregate, body FROM outbox
                     WHERE state = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(
                    params![after_seq.min(i64::MAX as u64) as i64, limit as i64],
                    |r| {
                        Ok(PendingEvent {
                            seq: r.get::<_, i64>(0)? as u64,
                            id: r.get(1)?,
                            aggregate: r.get(2)?,
                            body: r.get(3)?,
                        })
                    },
                )?;
                Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
            })
            .await
            .map_err(se)
    }

    async fn held_back(&self) -> std::result::Result<HeldBack, SyncError> {
        self.store
            .read(|c| {
                // One read transaction: the generation and the list form one snapshot.
                c.execute_batch("BEGIN")?;
                let res = (|| -> Result<HeldBack> {
                    let generation = state_u64(c, KEY_GENERATION)?.unwrap_or(0);
                    let aggregates = c
                        .prepare_cached(
                            "SELECT DISTINCT aggregate FROM outbox WHERE state = 'dead'",
                        )?
                        .query_map([], |r| r.get(0))?
                        .collect::<std::result::Result<_, _>>()?;
                    Ok(HeldBack {
                        generation,
                        aggregates,
                    })
                })();
                let _ = c.execute_batch("COMMIT");
                res
            })
            .await
            .map_err(se)
    }

    async fn record_outcomes(
        &self,
        outcomes: Vec<EventOutcome>,
        acked_through: Option<u64>,
    ) -> std::result::Result<(), SyncError> {
        self.store
            .write(move |c| record_outcomes_tx(c, &outcomes, acked_through, &time::now()))
            .await
            .map_err(se)
    }

    async fn stats(&self) -> std::result::Result<OutboxStats, SyncError> {
        self.store.read(stats_tx).await.map_err(se)
    }

    async fn retry_dead_letter(&self, id: &str) -> std::result::Result<bool, SyncError> {
        self.resolve(Self::system_origin(), id.to_string(), Resolution::Retry)
            .await
            .map_err(se)
    }

    async fn discard_dead_letter(&self, id: &str) -> std::result::Result<bool, SyncError> {
        self.resolve(Self::system_origin(), id.to_string(), Resolution::Discard)
            .await
            .map_err(se)
    }
}

impl ChangeSink for SyncStore {
    async fn cursor(&self) -> std::result::Result<Option<String>, SyncError> {
        self.store
            .read(|c| state_get(c, KEY_CURSOR))
            .await
            .map_err(se)
    }

    async fn apply_changes(
        &self,
        changes: Vec<ChangeRecord>,
        next_cursor: String,
    ) -> std::result::Result<(), SyncError> {
        let site = self.site.clone();
        let report = self
            .store
            .write(move |c| apply_page(c, &site, &changes, &next_cursor))
            .await
            .map_err(se)?;
        if report.applied + report.skipped > 0 {
            tracing::info!(
                applied = report.applied,
                stale = report.stale,
                skipped = report.skipped,
                "down-sync page applied"
            );
        }
        Ok(())
    }
}

impl IdBlockSink for SyncStore {
    async fn store_id_block(&self, block: IdBlock) -> std::result::Result<(), SyncError> {
        self.store
            .write(move |c| {
                let mut leases = load_leases(c)?;
                leases
                    .grant(block)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                save_leases(c, &leases)
            })
            .await
            .map_err(se)
    }

    async fn kinds_needing_block(&self) -> std::result::Result<Vec<String>, SyncError> {
        self.store
            .read(|c| Ok(load_leases(c)?.kinds_needing_block()))
            .await
            .map_err(se)
    }
}

/// Highest seq assigned and the time, for the recovery command and tests.
pub fn highest_seq(conn: &Connection) -> Result<u64> {
    let v: Option<i64> = conn
        .query_row(
            "SELECT value FROM counters WHERE name = 'outbox_seq'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.unwrap_or(0) as u64)
}

/// Stamps `diverged_at_seq` the first time the central is seen ahead of this database: events
/// with a higher seq were committed after that and must be renumbered by the recovery command.
pub fn mark_diverged(conn: &Connection) -> Result<()> {
    if state_get(conn, KEY_DIVERGED_AT)?.is_none() {
        let h = highest_seq(conn)?;
        state_set(conn, KEY_DIVERGED_AT, &h.to_string())?;
    }
    Ok(())
}

/// What `wms-edge sync reset-sequence` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseq {
    /// Events renumbered (committed after the divergence was detected).
    pub renumbered: u64,
    /// The new highest seq.
    pub highest: u64,
}

/// Recovery from `diverged` (database restored from a backup while the central kept the lost
/// events): every not-yet-done event with seq above `keep_through` gets a new seq (and id, in its
/// body too) after `central_acked_through`, in the same order, and the counter moves past them, so
/// no id the central has seen is ever reused. Events at or below `keep_through` are kept: they are
/// the backup's own events, which the central already has (it answers `duplicate`). One
/// transaction.
pub fn reset_sequence(
    conn: &Connection,
    site: &str,
    central_acked_through: u64,
    keep_through: u64,
) -> Result<Reseq> {
    let highest = highest_seq(conn)?;
    if central_acked_through <= highest && keep_through >= highest {
        return Ok(Reseq {
            renumbered: 0,
            highest,
        });
    }
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, body FROM outbox WHERE seq > ?1 AND state <> 'done' ORDER BY seq")?
        .query_map([keep_through as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let mut next = central_acked_through.max(highest);
    let mut renumbered = 0;
    for (old, body) in rows {
        next += 1;
        let id = outbox::event_id(site, next);
        let mut v: Value = serde_json::from_str(&body)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("id".into(), json!(id));
            m.insert("seq".into(), json!(next));
        }
        conn.execute(
            "UPDATE outbox SET seq = ?2, id = ?3, body = ?4 WHERE seq = ?1",
            params![old, next as i64, id, v.to_string()],
        )?;
        conn.execute(
            "UPDATE sync_dead_letters SET seq = ?2, event_id = ?3 WHERE seq = ?1",
            params![old, next as i64, id],
        )?;
        renumbered += 1;
    }
    conn.execute(
        "INSERT INTO counters(name, value) VALUES ('outbox_seq', ?1)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [next as i64],
    )?;
    conn.execute("DELETE FROM sync_state WHERE key = ?1", [KEY_DIVERGED_AT])?;
    bump_generation(conn)?;
    audit::record(
        conn,
        &Origin {
            actor: Actor {
                user: None,
                device: Some("cli".into()),
                api_key: None,
            },
            request_id: None,
        },
        &time::format(Utc::now()),
        "sync.reset_sequence",
        "outbox",
        &json!({"highest_seq": {"old": highest, "new": next}, "renumbered": {"old": null, "new": renumbered}}),
    )?;
    Ok(Reseq {
        renumbered,
        highest: next,
    })
}
