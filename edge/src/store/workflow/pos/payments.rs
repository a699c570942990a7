//! Tenders. A payment is keyed by the request's `Idempotency-Key` within its sale: a retry with
//! the same key and body returns the payment already made; the same key with another body is 409.
//! Cash is applied at once; a tender that leaves nothing due completes the sale in the same
//! transaction.

use rusqlite::{params, OptionalExtension};

use super::complete::complete;
use super::{get_payment, sale, Payment, Sale};
use crate::config::RegisterConfig;
use crate::domain::pos::balance::{self, TenderError};
use crate::error::{Error, Result};
use crate::store::base::{audit, Ctx};

/// A tender request as the API received it.
#[derive(Debug, Clone)]
pub struct TenderRequest {
    pub idempotency_key: String,
    /// SHA-256 of the request body: a reused key with another body is refused.
    pub request_hash: String,
    pub amount: Option<i64>,
    pub tendered: Option<i64>,
}

/// What a tender did: the payment, the sale after it, and whether this request made it (false:
/// a retry answered from the first).
#[derive(Debug, Clone)]
pub struct Tendered {
    pub payment: Payment,
    pub sale: Sale,
    pub created: bool,
}

fn tender_error(e: TenderError) -> Error {
    match e {
        TenderError::NothingDue => Error::conflict("nothing is due on this sale"),
        TenderError::AboveDue { .. } => Error::validation("amount", e),
        TenderError::Negative(field) => Error::validation(field, "must not be negative"),
    }
}

/// The payment an earlier request with this key made, if any (409 when its body differed).
pub fn replay(cx: &Ctx<'_>, sale_id: &str, req: &TenderRequest) -> Result<Option<Payment>> {
    let found: Option<(String, String)> = cx
        .conn
        .prepare_cached(
            "SELECT id, request_hash FROM pos_payments WHERE sale_id = ?1 AND idempotency_key = ?2",
        )?
        .query_row(params![sale_id, req.idempotency_key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match found {
        None => Ok(None),
        Some((_, hash)) if hash != req.request_hash => Err(Error::conflict(
            "this Idempotency-Key was used for another payment request on this sale",
        )),
        Some((id, _)) => get_payment(cx.conn, &id),
    }
}

/// Takes cash on an open sale of `reg`.
pub fn pay_cash(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    sale_id: &str,
    req: &TenderRequest,
) -> Result<Tendered> {
    if let Some(payment) = replay(cx, sale_id, req)? {
        return Ok(Tendered {
            payment,
            sale: sale(cx.conn, sale_id)?,
            created: false,
        });
    }
    super::reversals::refuse_while_voiding(cx.conn, sale_id)?;
    let current = sale(cx.conn, sale_id)?;
    if current.register_id != reg.id {
        return Err(Error::not_found(format!(
            "sale {sale_id} not found on register {}",
            reg.id
        )));
    }
    if !current.is_open() {
        return Err(Error::conflict(format!(
            "sale {sale_id} is {}",
            current.status
        )));
    }
    if current.priced.lines.is_empty() {
        return Err(Error::conflict(format!("sale {sale_id} has no lines")));
    }
    let due = current.balance.due;
    // A zero sale completes on a cash payment with nothing tendered.
    let cash = if due == 0 && current.balance.held == 0 && current.balance.paid == 0 {
        balance::Cash {
            applied: 0,
            tendered: req.tendered.unwrap_or(0),
            change: req.tendered.unwrap_or(0),
            rounding: 0,
        }
    } else {
        balance::take_cash(due, reg.cash_rounding, req.amount, req.tendered)
            .map_err(tender_error)?
    };
    let id = uuid::Uuid::now_v7().to_string();
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_payments(id, sale_id, idempotency_key, request_hash, method, amount,
                state, tendered, change, rounding, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'cash', ?5, 'approved', ?6, ?7, ?8, ?9, ?9)",
        )?
        .execute(params![
            id,
            sale_id,
            req.idempotency_key,
            req.request_hash,
            cash.applied,
            cash.tendered,
            cash.change,
            cash.rounding,
            cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.payment",
        &format!("sale:{sale_id}"),
        &serde_json::json!({"payment": {"old": null, "new": {"id": id, "method": "cash",
            "amount": cash.applied, "tendered": cash.tendered, "change": cash.change,
            "rounding": cash.rounding}}}),
    )?;
    let after = sale(cx.conn, sale_id)?;
    let sale = if after.balance.settled() {
        complete(cx, reg, after)?
    } else {
        after
    };
    let payment = get_payment(cx.conn, &id)?
        .ok_or_else(|| Error::Internal(format!("payment {id} vanished")))?;
    Ok(Tendered {
        payment,
        sale,
        created: true,
    })
}
