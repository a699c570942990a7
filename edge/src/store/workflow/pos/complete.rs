//! Completing a sale: one transaction sets the status and receipt number, books `sold` from the
//! register's location, audits, and queues `pos.sale_completed` for the central.

use rusqlite::params;
use serde_json::json;

use super::{sale, Sale};
use crate::config::RegisterConfig;
use crate::domain::Reason;
use crate::error::{Error, Result};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::sync_state::{state_get, state_set};
use crate::store::base::{audit, ids, Ctx};
use crate::store::stock::ledger::{self, Movement};

/// The next receipt number: from the site's `receipt` ID block (unique across the network), or
/// without one `<register>-<serial, 8 digits>` counted per register.
fn receipt_number(cx: &Ctx<'_>, reg: &RegisterConfig) -> Result<String> {
    if let Ok(id) = ids::take_id(cx.conn, "receipt") {
        return Ok(format!("{}{:08}", id.prefix, id.serial));
    }
    let key = format!("pos.receipt_serial.{}", reg.id);
    let last: u64 = state_get(cx.conn, &key)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    state_set(cx.conn, &key, &(last + 1).to_string())?;
    Ok(format!("{}-{:08}", reg.id, last + 1))
}

/// Completes `s` (its balance is settled). Stock may go below zero at the register's location;
/// that is flagged on the sale, never refused.
pub(super) fn complete(cx: &Ctx<'_>, reg: &RegisterConfig, s: Sale) -> Result<Sale> {
    let receipt_no = receipt_number(cx, reg)?;
    let mut warnings = s.priced.warnings.clone();
    for line in &s.priced.lines {
        let entry = ledger::book_at_till(
            cx.conn,
            cx.site,
            cx.origin,
            cx.now,
            Movement {
                tenant_id: &s.tenant_id,
                sku: &line.sku,
                location: &reg.location,
                lot: "",
                delta: -line.qty,
                reason: Reason::Sold,
                r#ref: json!({"sale_id": s.id}),
                note: None,
            },
        )
        .map_err(|e| match e {
            Error::Sql(e) if e.to_string().contains("may not go negative") => {
                Error::conflict(format!(
                    "location {} cannot go below zero: make it a location of kind store ({e})",
                    reg.location
                ))
            }
            other => other,
        })?;
        if entry.on_hand_after < 0 {
            warnings.push(format!(
                "{} is below zero at {} ({}): count it",
                line.sku, reg.location, entry.on_hand_after
            ));
        }
    }
    let mut priced = s.priced.clone();
    priced.warnings = warnings;
    cx.conn
        .prepare_cached(
            "UPDATE pos_sales SET status = 'completed', receipt_no = ?2, completed_at = ?3,
                priced = ?4, updated_at = ?3 WHERE id = ?1 AND status = 'open'",
        )?
        .execute(params![
            s.id,
            receipt_no,
            cx.now,
            serde_json::to_string(&priced)?
        ])?;
    let tenders: Vec<_> = s
        .payments
        .iter()
        .filter(|p| matches!(p.state.as_str(), "approved" | "partial"))
        .map(|p| {
            let mut t = json!({"method": p.method, "amount": p.amount});
            if let (Some(card), Some(m)) = (&p.card, t.as_object_mut()) {
                for k in ["brand", "masked_pan", "approval_code", "terminal_txn_id"] {
                    m.insert(
                        k.into(),
                        card.get(k).cloned().unwrap_or(serde_json::Value::Null),
                    );
                }
                m.insert("offline".into(), json!(p.offline));
            }
            t
        })
        .collect();
    let lines: Vec<_> = priced
        .lines
        .iter()
        .map(|l| {
            json!({"sku": l.sku, "qty": l.qty, "unit_price": l.unit_price,
                   "discount": l.discounts.iter().map(|d| d.amount).sum::<i64>(), "tax": l.tax})
        })
        .collect();
    let b = &s.balance;
    let seq = outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "pos.sale_completed",
            aggregate_type: "sale",
            aggregate_id: s.id.clone(),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({
                "sale_id": s.id, "tenant_id": s.tenant_id, "register_id": s.register_id,
                "cashier": s.cashier, "customer_id": s.customer_id, "currency": s.currency,
                "lines": lines,
                "totals": {"subtotal": priced.totals.subtotal, "discount": priced.totals.discount,
                           "tax": priced.totals.tax, "total": priced.totals.total,
                           "rounding": b.rounding, "paid": b.paid, "change": b.change},
                "tenders": tenders, "receipt_no": receipt_no, "completed_at": cx.now,
            }),
        },
    )?;
    // Offline card payments stay "stored" until the central has this event (`card`).
    cx.conn
        .prepare_cached("UPDATE pos_sales SET completed_seq = ?2 WHERE id = ?1")?
        .execute(params![s.id, seq as i64])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.sale_completed",
        &format!("sale:{}", s.id),
        &json!({"status": {"old": "open", "new": "completed"}, "receipt_no": receipt_no,
                "total": priced.totals.total}),
    )?;
    let done = sale(cx.conn, &s.id)?;
    super::receipt::queue_receipt(cx, reg, &done)?;
    Ok(done)
}
