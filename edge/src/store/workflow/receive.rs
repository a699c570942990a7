//! The receive station's commands made real: receipts booked into the station's location (lot
//! expiry kept for first-expiry-first-out) and put-away moves; both hand the new stock to waiting
//! backorders first.

use rusqlite::params;
use serde_json::json;

use crate::domain::Reason;
use crate::error::Result;
use crate::store::base::Ctx;
use crate::store::orders;
use crate::store::stock::ledger::{self, Movement, Transfer};

/// `Command::Receive`: units booked into the receiving location (ledger `received`), the lot's
/// expiry kept for first-expiry-first-out, and backorders of the sku allocated first.
pub fn receive(
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
pub fn put_away(
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
    let r#ref = json!({"from": from, "to": to});
    ledger::transfer(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        Transfer {
            tenant_id,
            sku,
            lot,
            from,
            to,
            qty: q,
            reason: Reason::Putaway,
            ref_out: r#ref.clone(),
            ref_in: r#ref,
        },
    )?;
    // Stock moved into a pick face may be what a backorder was waiting for.
    orders::allocate_backorders(cx, tenant_id, sku)?;
    Ok(())
}
