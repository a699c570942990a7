//! Gift card and store credit tenders in the store (pos-api.md "Payments", sync-api.md "Balances
//! kept by the central"). The central keeps the balances; the node spends them only while it
//! reaches the central. The payment is written `pending` before the call goes out, and the
//! payment's id is the call's idempotency id, so a lost answer is resolved by asking again with
//! the same id — a balance is never spent twice. What the central answered is settled here in one
//! transaction (applied, and the sale completed when nothing is due; or declined with the reason).

use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};

use super::complete::complete;
use super::payments::{replay, TenderRequest, Tendered};
use super::{get_payment, sale, Payment, Sale};
use crate::config::RegisterConfig;
use crate::domain::pos::format_minor;
use crate::error::{Error, Result};
use crate::store::base::{audit, Ctx};

/// What a balance tender spends from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceSource {
    GiftCard {
        code: String,
    },
    /// The sale's customer's store credit.
    StoreCredit,
}

impl BalanceSource {
    pub fn method(&self) -> &'static str {
        match self {
            BalanceSource::GiftCard { .. } => "gift_card",
            BalanceSource::StoreCredit => "store_credit",
        }
    }
}

/// A gift card code as shown: its last four characters.
pub fn masked_code(code: &str) -> String {
    let tail: String = code
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("**** {tail}")
}

/// A balance payment waiting for (or given) the central's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceAttempt {
    pub payment_id: String,
    pub sale_id: String,
    pub register_id: String,
    pub method: String,
    /// The gift card's code, or the customer whose credit pays.
    pub code: Option<String>,
    pub customer_id: Option<String>,
    pub amount: i64,
    pub currency: String,
}

fn facts(p: &Payment) -> Map<String, Value> {
    p.card
        .as_ref()
        .and_then(|c| c.as_object().cloned())
        .unwrap_or_default()
}

/// Writes the pending payment; nothing has been asked of the central yet.
pub fn begin_balance(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    sale_id: &str,
    req: &TenderRequest,
    source: &BalanceSource,
) -> Result<(Tendered, Option<BalanceAttempt>)> {
    if let Some(payment) = replay(cx, sale_id, req)? {
        return Ok((
            Tendered {
                payment,
                sale: sale(cx.conn, sale_id)?,
                created: false,
            },
            None,
        ));
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
    if req.tendered.is_some() {
        return Err(Error::validation(
            "tendered",
            "is for cash: a balance pays an exact amount",
        ));
    }
    let due = current.balance.due;
    let amount = req.amount.unwrap_or(due);
    if due == 0 {
        return Err(Error::conflict("nothing is due on this sale"));
    }
    if amount <= 0 {
        return Err(Error::validation("amount", "must be more than zero"));
    }
    if amount > due {
        return Err(Error::validation(
            "amount",
            format!(
                "may not exceed what is due: {} is more than the {} due",
                format_minor(amount, &current.currency),
                format_minor(due, &current.currency)
            ),
        ));
    }
    let (code, customer) = match source {
        BalanceSource::GiftCard { code } => (Some(code.trim().to_string()), None),
        BalanceSource::StoreCredit => {
            let c = current.customer_id.clone().ok_or_else(|| {
                Error::conflict("store credit needs a customer on the sale: attach one first")
            })?;
            (None, Some(c))
        }
    };
    let id = uuid::Uuid::now_v7().to_string();
    let mut f = Map::new();
    if let Some(c) = &code {
        f.insert("code".into(), json!(c));
        f.insert("masked_code".into(), json!(masked_code(c)));
    }
    if let Some(c) = &customer {
        f.insert("customer_id".into(), json!(c));
    }
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_payments(id, sale_id, idempotency_key, request_hash, method, amount,
                state, card, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8)",
        )?
        .execute(params![
            id,
            sale_id,
            req.idempotency_key,
            req.request_hash,
            source.method(),
            amount,
            Value::Object(f).to_string(),
            cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.payment",
        &format!("sale:{sale_id}"),
        &json!({"payment": {"old": null, "new": {"id": id, "method": source.method(),
            "amount": amount, "state": "pending",
            "code": code.as_deref().map(masked_code), "customer_id": customer}}}),
    )?;
    let payment = get_payment(cx.conn, &id)?
        .ok_or_else(|| Error::Internal(format!("payment {id} vanished")))?;
    let attempt = BalanceAttempt {
        payment_id: id,
        sale_id: sale_id.to_string(),
        register_id: reg.id.clone(),
        method: source.method().to_string(),
        code,
        customer_id: customer,
        amount,
        currency: current.currency.clone(),
    };
    Ok((
        Tendered {
            payment,
            sale: sale(cx.conn, sale_id)?,
            created: true,
        },
        Some(attempt),
    ))
}

/// What the central said about a balance payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceAnswer {
    /// Spent; what is left on the card or account.
    Spent { balance_after: i64 },
    /// Refused (nothing spent): why, fit for the cashier.
    Refused(String),
}

/// Settles the central's answer: applied (the sale completes when nothing is due) or declined.
/// A payment already settled is left as it is. Returns the payment, the sale and whether the
/// sale completed now.
pub fn settle_balance(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    payment_id: &str,
    answer: &BalanceAnswer,
) -> Result<(Payment, Sale, bool)> {
    let p = get_payment(cx.conn, payment_id)?
        .ok_or_else(|| Error::not_found(format!("payment {payment_id} not found")))?;
    if p.state != "pending" {
        let s = sale(cx.conn, &p.sale_id)?;
        return Ok((p, s, false));
    }
    let mut f = facts(&p);
    let (state, error) = match answer {
        BalanceAnswer::Spent { balance_after } => {
            f.insert("balance_after".into(), json!(balance_after));
            ("approved", None)
        }
        BalanceAnswer::Refused(why) => ("declined", Some(why.clone())),
    };
    cx.conn
        .prepare_cached(
            "UPDATE pos_payments SET state = ?2, card = ?3, error = ?4, updated_at = ?5
              WHERE id = ?1 AND state = 'pending'",
        )?
        .execute(params![
            payment_id,
            state,
            Value::Object(f).to_string(),
            error,
            cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.payment",
        &format!("sale:{}", p.sale_id),
        &json!({"payment": {"id": p.id, "method": p.method,
                "state": {"old": "pending", "new": state}, "error": error}}),
    )?;
    let after = sale(cx.conn, &p.sale_id)?;
    let completed = state == "approved" && after.is_open() && after.balance.settled();
    let s = if completed {
        complete(cx, reg, after)?
    } else {
        after
    };
    let payment = get_payment(cx.conn, payment_id)?
        .ok_or_else(|| Error::Internal(format!("payment {payment_id} vanished")))?;
    Ok((payment, s, completed))
}

/// Balance payments still waiting for the central's answer (asked again at start-up).
pub fn pending_balance_payments(conn: &Connection) -> Result<Vec<BalanceAttempt>> {
    let mut st = conn.prepare_cached(
        "SELECT p.id, p.sale_id, s.register_id, p.method, json_extract(p.card, '$.code'),
                json_extract(p.card, '$.customer_id'), p.amount, s.currency
           FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
          WHERE p.state = 'pending' AND p.method IN ('gift_card', 'store_credit')",
    )?;
    let rows = st.query_map([], |r| {
        Ok(BalanceAttempt {
            payment_id: r.get(0)?,
            sale_id: r.get(1)?,
            register_id: r.get(2)?,
            method: r.get(3)?,
            code: r.get(4)?,
            customer_id: r.get(5)?,
            amount: r.get(6)?,
            currency: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
