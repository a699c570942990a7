//! Voids (pos-api.md "Sales", "Exact rules"): an open sale with nothing paid by its cashier; a
//! sale that has taken money — still open, or completed in the register's open session — by a
//! supervisor, after every card payment was reversed at the terminal. The void is two steps when
//! cards are involved: `begin_void` records the intent and the reversals owed (each with its
//! ServiceID, before anything is sent); once the terminal accepted them all, `finish_void` voids
//! the sale, brings completed stock back (`sale_returned`) and sends `pos.sale_voided`. A reversal
//! the terminal refuses leaves the sale as it was.

use rusqlite::params;
use serde_json::json;

use super::registers::open_session_of;
use super::reversals::{self, Reversal};
use super::{sale, Sale};
use crate::config::RegisterConfig;
use crate::domain::Reason;
use crate::error::{Error, Result};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, Ctx};
use crate::store::stock::ledger::{self, Movement};

/// What a void asked for.
#[derive(Debug, Clone)]
pub struct VoidIn {
    pub reason: String,
    /// The supervisor who approved, when one did.
    pub approved_by: Option<String>,
}

/// Where a void stands after `begin_void`.
#[derive(Debug, Clone)]
pub enum VoidStep {
    /// Voided in this transaction (nothing to reverse).
    Done(Box<Sale>),
    /// These card reversals must be accepted first.
    Reverse(Vec<Reversal>),
}

fn money_taken(s: &Sale) -> bool {
    s.payments
        .iter()
        .any(|p| matches!(p.state.as_str(), "approved" | "partial"))
}

/// Checks the void and records its intent; voids at once when no card needs reversing.
/// `service_id` makes the ServiceID of each reversal planned.
pub fn begin_void(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    sale_id: &str,
    v: &VoidIn,
    mut service_id: impl FnMut() -> String,
) -> Result<VoidStep> {
    if v.reason.trim().is_empty() {
        return Err(Error::validation("reason", "a void needs a reason"));
    }
    let s = sale(cx.conn, sale_id)?;
    if s.register_id != reg.id {
        return Err(Error::not_found(format!(
            "sale {sale_id} not found on register {}",
            reg.id
        )));
    }
    match s.status.as_str() {
        "open" | "completed" => {}
        other => return Err(Error::conflict(format!("sale {sale_id} is {other}"))),
    }
    let session = open_session_of(cx.conn, &reg.id)?;
    if session.as_ref().map(|x| x.id.as_str()) != Some(s.session_id.as_str()) {
        return Err(Error::conflict(format!(
            "sale {sale_id} belongs to an earlier session: refund it instead of voiding it"
        )));
    }
    if s.payments.iter().any(|p| p.state == "pending") {
        return Err(Error::conflict(
            "a card payment of this sale is still pending: abort it or wait for the terminal",
        ));
    }
    let refunded: i64 = cx
        .conn
        .prepare_cached("SELECT count(*) FROM pos_refunds WHERE sale_id = ?1")?
        .query_row([sale_id], |r| r.get(0))?;
    if refunded > 0 {
        return Err(Error::conflict(format!(
            "sale {sale_id} has refunds: refund the rest instead of voiding it"
        )));
    }
    if (money_taken(&s) || s.status == "completed") && v.approved_by.is_none() {
        return Err(Error::Forbidden(
            "voiding a sale that has taken money needs a supervisor's approval".into(),
        ));
    }
    if s.payments
        .iter()
        .any(|p| matches!(p.method.as_str(), "gift_card" | "store_credit") && p.state == "approved")
    {
        return Err(Error::conflict(
            "this sale was paid with a gift card or store credit: refund it instead",
        ));
    }
    let earlier = reversals::for_ref(cx.conn, sale_id)?;
    if earlier.iter().any(|r| r.state == "pending") {
        return Err(Error::conflict(format!(
            "a void of sale {sale_id} is waiting for the terminal"
        )));
    }
    // Record the intent; the sale is voided only when every card's money is back.
    cx.conn
        .prepare_cached("UPDATE pos_sales SET void_reason = ?2, voided_by = ?3 WHERE id = ?1")?
        .execute(params![sale_id, v.reason.trim(), v.approved_by])?;
    let mut owed = Vec::new();
    for p in s
        .payments
        .iter()
        .filter(|p| p.method == "card" && matches!(p.state.as_str(), "approved" | "partial"))
    {
        let done = reversals::reversed_on(cx.conn, &p.id)?;
        let left = p.amount - done;
        if left > 0 {
            let id = reversals::plan(cx, p, "void", sale_id, left, &service_id())?;
            if let Some(r) = reversals::get_reversal(cx.conn, &id)? {
                owed.push(r);
            }
        }
    }
    if owed.is_empty() {
        return finish_void(cx, reg, sale_id).map(|s| VoidStep::Done(Box::new(s)));
    }
    Ok(VoidStep::Reverse(owed))
}

/// Voids the sale once its card reversals were all accepted: status, stock back, upstream event,
/// audit.
pub fn finish_void(cx: &Ctx<'_>, reg: &RegisterConfig, sale_id: &str) -> Result<Sale> {
    let s = sale(cx.conn, sale_id)?;
    if s.status == "voided" {
        return Ok(s);
    }
    let owed: Vec<Reversal> = reversals::for_ref(cx.conn, sale_id)?
        .into_iter()
        .filter(|r| r.purpose == "void" && r.state != "refused")
        .collect();
    let unreversed = s.payments.iter().any(|p| {
        p.method == "card"
            && matches!(p.state.as_str(), "approved" | "partial")
            && owed
                .iter()
                .filter(|r| r.payment_id == p.id && r.state == "accepted")
                .map(|r| r.amount)
                .sum::<i64>()
                < p.amount
    });
    if owed.iter().any(|r| r.state == "pending") || unreversed {
        return Err(Error::conflict(format!(
            "sale {sale_id}: a card payment is not reversed yet; the sale stays as it was"
        )));
    }
    let (reason, approved_by): (Option<String>, Option<String>) = cx
        .conn
        .prepare_cached("SELECT void_reason, voided_by FROM pos_sales WHERE id = ?1")?
        .query_row([sale_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if s.status == "completed" {
        for line in &s.priced.lines {
            ledger::book_at_till(
                cx.conn,
                cx.site,
                cx.origin,
                cx.now,
                Movement {
                    tenant_id: &s.tenant_id,
                    sku: &line.sku,
                    location: &reg.location,
                    lot: "",
                    delta: line.qty,
                    reason: Reason::SaleReturned,
                    r#ref: json!({"sale_id": s.id, "void": true}),
                    note: reason.clone(),
                },
            )?;
        }
    }
    cx.conn
        .prepare_cached(
            "UPDATE pos_sales SET status = 'voided', voided_at = ?2, updated_at = ?2
              WHERE id = ?1 AND status IN ('open', 'completed')",
        )?
        .execute(params![sale_id, cx.now])?;
    let reversed: Vec<_> = owed
        .iter()
        .map(|r| json!({"terminal_txn_id": r.txn, "amount": r.amount}))
        .collect();
    if money_taken(&s) {
        outbox::append(
            cx.conn,
            cx.site,
            NewEvent {
                kind: "pos.sale_voided",
                aggregate_type: "sale",
                aggregate_id: s.id.clone(),
                occurred_at: cx.now,
                actor: &cx.origin.actor,
                data: json!({"sale_id": s.id, "tenant_id": s.tenant_id,
                             "register_id": s.register_id, "reason": reason,
                             "approved_by": approved_by, "reversed": reversed,
                             "was": s.status, "total": s.priced.totals.total,
                             "voided_at": cx.now}),
            },
        )?;
    }
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.sale_voided",
        &format!("sale:{sale_id}"),
        &json!({"status": {"old": s.status, "new": "voided"}, "reason": reason,
                "approved_by": approved_by, "reversed": reversed,
                "total": s.priced.totals.total}),
    )?;
    sale(cx.conn, sale_id)
}

/// A reversal was refused: the void stops there, the sale stays as it was (cards already
/// reversed stay reversed and are skipped when the void is asked again).
pub fn void_refused(cx: &Ctx<'_>, sale_id: &str, why: &str) -> Result<()> {
    cx.conn
        .prepare_cached("UPDATE pos_sales SET void_reason = NULL, voided_by = NULL WHERE id = ?1")?
        .execute([sale_id])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.void_refused",
        &format!("sale:{sale_id}"),
        &json!({"why": why}),
    )?;
    Ok(())
}
