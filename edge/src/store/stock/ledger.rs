//! The inventory ledger. Every on-hand change is one append-only ledger row, one update of the
//! stock projection, one `inventory.adjusted` outbox event and one audit entry, in one transaction.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::domain::stock::{self, Position, StockRefusal};
use crate::domain::{rules, stock_aggregate_id, Actor, Reason};
use crate::error::{Error, Result};
use crate::store::base::catalog::{self, check_ident};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::query::{text, Where};
use crate::store::base::{audit, Origin};

/// One stock position: `GET /v1/inventory` rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StockRow {
    pub tenant_id: String,
    pub sku: String,
    pub location: String,
    /// `null` when the stock has no lot.
    pub lot: Option<String>,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

/// Body of `POST /v1/inventory/adjustments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentInput {
    #[schema(value_type = rules::Ident)]
    pub tenant_id: String,
    #[schema(value_type = rules::Ident)]
    pub sku: String,
    #[schema(value_type = rules::Ident)]
    pub location: String,
    /// Required for a lot-tracked product.
    #[schema(value_type = Option<rules::Ident>)]
    pub lot: Option<String>,
    /// Non-zero change of on-hand units.
    #[schema(value_type = rules::NonZero)]
    pub delta: i64,
    /// Defaults to `adjusted`.
    pub reason: Option<Reason>,
    #[schema(value_type = Option<rules::Text500>)]
    pub note: Option<String>,
}

/// Body of `POST /v1/inventory/counts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountInput {
    #[schema(value_type = rules::Ident)]
    pub tenant_id: String,
    #[schema(value_type = rules::Ident)]
    pub sku: String,
    #[schema(value_type = rules::Ident)]
    pub location: String,
    /// Required for a lot-tracked product.
    #[schema(value_type = Option<rules::Ident>)]
    pub lot: Option<String>,
    /// Units physically found.
    #[schema(minimum = 0)]
    pub counted: i64,
}

/// A ledger row as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// `null` for a count that found exactly what was expected (nothing booked).
    pub id: Option<i64>,
    pub tenant_id: String,
    pub sku: String,
    pub location: String,
    pub lot: Option<String>,
    pub delta: i64,
    pub reason: Reason,
    #[schema(value_type = Object)]
    pub r#ref: Value,
    pub note: Option<String>,
    pub on_hand_after: i64,
    pub reserved_after: i64,
    pub available_after: i64,
    pub actor: Actor,
    pub at: String,
    /// Id of the upstream `inventory.adjusted` event, `null` when nothing was booked.
    pub event_id: Option<String>,
}

/// One movement to book.
pub struct Movement<'a> {
    pub tenant_id: &'a str,
    pub sku: &'a str,
    pub location: &'a str,
    pub lot: &'a str,
    pub delta: i64,
    pub reason: Reason,
    pub r#ref: Value,
    pub note: Option<String>,
}

/// Units moving from one position to another: two movements of one reason, out of `from` and
/// into `to` (a pick into a tote, a put-away, a put-back), each with its own reference.
pub struct Transfer<'a> {
    pub tenant_id: &'a str,
    pub sku: &'a str,
    pub lot: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub qty: i64,
    pub reason: Reason,
    pub ref_out: Value,
    pub ref_in: Value,
}

/// Books a [`Transfer`]: both movements, in the caller's transaction.
pub fn transfer(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    t: Transfer<'_>,
) -> Result<()> {
    for (location, delta, r#ref) in [(t.from, -t.qty, t.ref_out), (t.to, t.qty, t.ref_in)] {
        book(
            conn,
            site,
            origin,
            now,
            Movement {
                tenant_id: t.tenant_id,
                sku: t.sku,
                location,
                lot: t.lot,
                delta,
                reason: t.reason,
                r#ref,
                note: None,
            },
        )?;
    }
    Ok(())
}

pub fn position(
    conn: &Connection,
    tenant: &str,
    sku: &str,
    loc: &str,
    lot: &str,
) -> Result<Position> {
    Ok(conn
        .prepare_cached(
            "SELECT on_hand, reserved FROM stock WHERE tenant_id = ?1 AND sku = ?2 AND location = ?3 AND lot = ?4",
        )?
        .query_row(params![tenant, sku, loc, lot], |r| {
            Ok(Position {
                on_hand: r.get(0)?,
                reserved: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

pub(crate) fn store_position(
    conn: &Connection,
    tenant: &str,
    sku: &str,
    loc: &str,
    lot: &str,
    pos: Position,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO stock(tenant_id, sku, location, lot, on_hand, reserved) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(tenant_id, sku, location, lot) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved",
    )?
    .execute(params![tenant, sku, loc, lot, pos.on_hand, pos.reserved])?;
    Ok(())
}

/// Check that the tenant, product and location exist and the lot fits the product's tracking.
pub fn check_references(
    conn: &Connection,
    tenant: &str,
    sku: &str,
    loc: &str,
    lot: &str,
) -> Result<()> {
    check_ident("tenant_id", tenant)?;
    // One probe each on the hot path; the tenant is looked up only to word the refusal.
    let tracking: Option<String> = conn
        .prepare_cached("SELECT tracking FROM products WHERE tenant_id = ?1 AND sku = ?2")?
        .query_row(params![tenant, sku], |r| r.get(0))
        .optional()?;
    let Some(tracking) = tracking else {
        if !catalog::tenant_exists(conn, tenant)? {
            return Err(Error::validation(
                "tenant_id",
                format!("unknown tenant {tenant}"),
            ));
        }
        return Err(Error::validation(
            "sku",
            format!("unknown sku {sku} for tenant {tenant}"),
        ));
    };
    let location_known: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM locations WHERE code = ?1)")?
        .query_row([loc], |r| r.get(0))?;
    if !location_known {
        return Err(Error::validation(
            "location",
            format!("unknown location {loc}"),
        ));
    }
    if !lot.is_empty() {
        check_ident("lot", lot)?;
    }
    let needs_lot = crate::domain::Tracking::parse(&tracking).is_some_and(|t| t.needs_lot());
    if needs_lot && lot.is_empty() {
        return Err(Error::validation(
            "lot",
            format!("{sku} is lot-tracked: a lot is required"),
        ));
    }
    Ok(())
}

/// Book one movement: refuses (409) a change that would make available stock negative.
pub fn book(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    m: Movement<'_>,
) -> Result<LedgerEntry> {
    book_by(conn, site, origin, now, m, stock::apply_delta)
}

/// Book a register's sale or return: like [`book`], but on-hand may go below zero where nothing
/// is reserved ([`stock::apply_sale_delta`]; the schema allows it only at `store` locations).
pub fn book_at_till(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    m: Movement<'_>,
) -> Result<LedgerEntry> {
    book_by(conn, site, origin, now, m, stock::apply_sale_delta)
}

fn book_by(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    m: Movement<'_>,
    rule: fn(stock::Position, i64) -> std::result::Result<stock::Position, StockRefusal>,
) -> Result<LedgerEntry> {
    let before = position(conn, m.tenant_id, m.sku, m.location, m.lot)?;
    let after = rule(before, m.delta).map_err(|e| match e {
        StockRefusal::ZeroDelta => Error::validation("delta", "must not be zero"),
        other => Error::conflict(other),
    })?;
    store_position(conn, m.tenant_id, m.sku, m.location, m.lot, after)?;
    let lot_opt = (!m.lot.is_empty()).then(|| m.lot.to_string());
    let seq = outbox::append(
        conn,
        site,
        NewEvent {
            kind: "inventory.adjusted",
            aggregate_type: "stock",
            aggregate_id: stock_aggregate_id(m.tenant_id, m.sku, m.location, m.lot),
            occurred_at: now,
            actor: &origin.actor,
            data: json!({
                "tenant_id": m.tenant_id, "sku": m.sku, "location": m.location, "lot": lot_opt,
                "delta": m.delta, "reason": m.reason.as_str(), "ref": m.r#ref,
                "on_hand_after": after.on_hand,
            }),
        },
    )?;
    conn.prepare_cached(
        "INSERT INTO ledger(tenant_id, sku, location, lot, delta, reason, ref, note, on_hand_after,
                            actor_user, actor_device, actor_api_key, at, event_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        m.tenant_id,
        m.sku,
        m.location,
        m.lot,
        m.delta,
        m.reason.as_str(),
        m.r#ref.to_string(),
        m.note,
        after.on_hand,
        origin.actor.user,
        origin.actor.device,
        origin.actor.api_key,
        now,
        seq as i64
    ])?;
    let id = conn.last_insert_rowid();
    audit::record(
        conn,
        origin,
        now,
        &format!("inventory.{}", m.reason.as_str()),
        &format!(
            "stock:{}",
            stock_aggregate_id(m.tenant_id, m.sku, m.location, m.lot)
        ),
        &json!({"on_hand": {"old": before.on_hand, "new": after.on_hand}}),
    )?;
    Ok(LedgerEntry {
        id: Some(id),
        tenant_id: m.tenant_id.to_string(),
        sku: m.sku.to_string(),
        location: m.location.to_string(),
        lot: lot_opt,
        delta: m.delta,
        reason: m.reason,
        r#ref: m.r#ref,
        note: m.note,
        on_hand_after: after.on_hand,
        reserved_after: after.reserved,
        available_after: after.available(),
        actor: origin.actor.clone(),
        at: now.to_string(),
        event_id: Some(outbox::event_id(site, seq)),
    })
}

/// `POST /v1/inventory/adjustments`.
pub fn adjust(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    input: AdjustmentInput,
) -> Result<LedgerEntry> {
    let lot = input.lot.as_deref().unwrap_or("");
    check_references(conn, &input.tenant_id, &input.sku, &input.location, lot)?;
    if input.delta == 0 {
        return Err(Error::validation("delta", "must not be zero"));
    }
    if let Some(n) = &input.note {
        rules::text(500).check_field("note", n)?;
    }
    book(
        conn,
        site,
        origin,
        now,
        Movement {
            tenant_id: &input.tenant_id,
            sku: &input.sku,
            location: &input.location,
            lot,
            delta: input.delta,
            reason: input.reason.unwrap_or(Reason::Adjusted),
            r#ref: json!({}),
            note: input.note,
        },
    )
}

/// Books a cycle count: the difference between what was counted and what the ledger says (an
/// entry with delta 0 when they agree). A count below what is reserved at the position is refused:
/// the caller first takes the shortfall off reservations (see `workflow::count`).
pub fn count(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    input: CountInput,
) -> Result<LedgerEntry> {
    let lot = input.lot.as_deref().unwrap_or("");
    check_references(conn, &input.tenant_id, &input.sku, &input.location, lot)?;
    if input.counted < 0 {
        return Err(Error::validation("counted", "must not be negative"));
    }
    let before = position(conn, &input.tenant_id, &input.sku, &input.location, lot)?;
    let shortfall = stock::count_shortfall(before, input.counted);
    if shortfall > 0 {
        // The layer above releases (and backorders) what a count takes away first.
        return Err(Error::conflict(format!(
            "counted {} but {} are reserved at {}: release {shortfall} first",
            input.counted, before.reserved, input.location
        )));
    }
    let count_id: i64 = conn.query_row(
        "INSERT INTO counters(name, value) VALUES ('count_id', 1)
         ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        [],
        |r| r.get(0),
    )?;
    let delta = input.counted - before.on_hand;
    if delta == 0 {
        let pos = position(conn, &input.tenant_id, &input.sku, &input.location, lot)?;
        audit::record(
            conn,
            origin,
            now,
            "inventory.count",
            &format!(
                "stock:{}",
                stock_aggregate_id(&input.tenant_id, &input.sku, &input.location, lot)
            ),
            &json!({"counted": {"old": null, "new": input.counted}}),
        )?;
        return Ok(LedgerEntry {
            id: None,
            tenant_id: input.tenant_id,
            sku: input.sku,
            location: input.location,
            lot: input.lot,
            delta: 0,
            reason: Reason::CycleCount,
            r#ref: json!({"count_id": format!("C{count_id}")}),
            note: None,
            on_hand_after: pos.on_hand,
            reserved_after: pos.reserved,
            available_after: pos.available(),
            actor: origin.actor.clone(),
            at: now.to_string(),
            event_id: None,
        });
    }
    book(
        conn,
        site,
        origin,
        now,
        Movement {
            tenant_id: &input.tenant_id,
            sku: &input.sku,
            location: &input.location,
            lot,
            delta,
            reason: Reason::CycleCount,
            r#ref: json!({"count_id": format!("C{count_id}")}),
            note: Some(format!(
                "counted {} (expected {})",
                input.counted, before.on_hand
            )),
        },
    )
}

/// Filters for `GET /v1/inventory`.
#[derive(Debug, Default, Clone)]
pub struct StockFilter {
    pub tenant_id: Option<String>,
    pub sku: Option<String>,
    pub location: Option<String>,
    /// Rows after this `(tenant, sku, location, lot)`.
    pub after: Option<[String; 4]>,
    pub limit: usize,
}

pub fn list_stock(conn: &Connection, f: &StockFilter) -> Result<Vec<StockRow>> {
    let mut rows = Vec::new();
    each_stock(conn, f, |r| {
        rows.push(r.to_owned());
        Ok(())
    })?;
    Ok(rows)
}

/// One stock position borrowed from its database row; serializes exactly like [`StockRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StockRowRef<'a> {
    pub tenant_id: &'a str,
    pub sku: &'a str,
    pub location: &'a str,
    pub lot: Option<&'a str>,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl StockRowRef<'_> {
    pub fn to_owned(&self) -> StockRow {
        StockRow {
            tenant_id: self.tenant_id.to_string(),
            sku: self.sku.to_string(),
            location: self.location.to_string(),
            lot: self.lot.map(str::to_string),
            on_hand: self.on_hand,
            reserved: self.reserved,
            available: self.available,
        }
    }

    /// The page cursor's sort key.
    pub fn key(&self) -> [&str; 4] {
        [
            self.tenant_id,
            self.sku,
            self.location,
            self.lot.unwrap_or_default(),
        ]
    }
}

/// Visit the positions matching `f` in key order, borrowing each row's text.
pub fn each_stock(
    conn: &Connection,
    f: &StockFilter,
    mut visit: impl FnMut(&StockRowRef<'_>) -> Result<()>,
) -> Result<()> {
    let mut w = Where::new();
    w.and_some("tenant_id = ?", &f.tenant_id)
        .and_some("sku = ?", &f.sku)
        .and_some("location = ?", &f.location);
    if let Some([t, s, l, lot]) = &f.after {
        w.and(
            "(tenant_id, sku, location, lot) > (?, ?, ?, ?)",
            &[t, s, l, lot],
        );
    }
    let limit = f.limit as i64;
    w.each(
        conn,
        "SELECT tenant_id, sku, location, lot, on_hand, reserved FROM stock",
        "ORDER BY tenant_id, sku, location, lot LIMIT ?",
        &[&limit],
        |r| {
            let lot = text(r, 3)?;
            let on_hand: i64 = r.get(4)?;
            let reserved: i64 = r.get(5)?;
            visit(&StockRowRef {
                tenant_id: text(r, 0)?,
                sku: text(r, 1)?,
                location: text(r, 2)?,
                lot: (!lot.is_empty()).then_some(lot),
                on_hand,
                reserved,
                available: on_hand - reserved,
            })
        },
    )
}

/// The stock location of a tote: units picked into tote `T-7` sit at `TOTE:T-7`.
pub fn tote_location(tote: &str) -> String {
    format!("TOTE:{tote}")
}
