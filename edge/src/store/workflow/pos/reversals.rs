//! Card reversals the till sends for voids and refunds (nexo ReversalRequest, with
//! `ReversedAmount` for a part). Like a card payment, each is a row with its terminal and
//! ServiceID committed before the request goes out, so a node killed in between asks the
//! terminal about that very ServiceID instead of reversing twice.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::{get_payment, Payment};
use crate::error::{Error, Result};
use crate::store::base::{audit, Ctx};

/// One reversal owed to a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    pub id: String,
    pub payment_id: String,
    /// `void` or `refund`.
    pub purpose: String,
    /// The sale (a void) or the refund tender (a refund) it serves.
    pub ref_id: String,
    pub terminal_id: String,
    pub service_id: String,
    /// Minor units.
    pub amount: i64,
    /// `pending`, `accepted` or `refused`.
    pub state: String,
    pub detail: Option<String>,
    /// The original card transaction (`POITransactionID`) it reverses.
    pub txn: String,
    pub txn_time: String,
    pub currency: String,
    pub register_id: String,
}

const COLS: &str = "r.id, r.payment_id, r.purpose, r.ref_id, r.terminal_id, r.service_id, r.amount,
    r.state, r.detail, coalesce(json_extract(p.card, '$.terminal_txn_id'), ''),
    coalesce(json_extract(p.card, '$.terminal_txn_time'), ''), s.currency, s.register_id";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Reversal> {
    Ok(Reversal {
        id: r.get(0)?,
        payment_id: r.get(1)?,
        purpose: r.get(2)?,
        ref_id: r.get(3)?,
        terminal_id: r.get(4)?,
        service_id: r.get(5)?,
        amount: r.get(6)?,
        state: r.get(7)?,
        detail: r.get(8)?,
        txn: r.get(9)?,
        txn_time: r.get(10)?,
        currency: r.get(11)?,
        register_id: r.get(12)?,
    })
}

fn query(conn: &Connection, filter: &str, arg: &str) -> Result<Vec<Reversal>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM pos_card_reversals r JOIN pos_payments p ON p.id = r.payment_id
           JOIN pos_sales s ON s.id = p.sale_id WHERE {filter} ORDER BY r.created_at, r.id"
    ))?;
    let rows = st.query_map([arg], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get_reversal(conn: &Connection, id: &str) -> Result<Option<Reversal>> {
    Ok(query(conn, "r.id = ?1", id)?.into_iter().next())
}

/// Reversals whose outcome is not known yet (sent or about to be).
pub fn pending(conn: &Connection) -> Result<Vec<Reversal>> {
    query(conn, "r.state = 'pending' AND ?1 = ?1", "")
}

/// The reversals serving one sale's void or one refund tender.
pub fn for_ref(conn: &Connection, ref_id: &str) -> Result<Vec<Reversal>> {
    query(conn, "r.ref_id = ?1", ref_id)
}

/// A void of the sale waits for the terminal: nothing else may change the sale meanwhile.
pub fn void_pending(conn: &Connection, sale_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM pos_card_reversals
                             WHERE ref_id = ?1 AND purpose = 'void' AND state = 'pending')",
        )?
        .query_row([sale_id], |r| r.get(0))?)
}

/// Fails with a conflict while a void of the sale waits for the terminal.
pub fn refuse_while_voiding(conn: &Connection, sale_id: &str) -> Result<()> {
    if void_pending(conn, sale_id)? {
        return Err(Error::conflict(format!(
            "sale {sale_id} is being voided: wait for the terminal"
        )));
    }
    Ok(())
}

/// Card money already given back on `payment_id` by accepted or pending reversals.
pub fn reversed_on(conn: &Connection, payment_id: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(sum(amount), 0) FROM pos_card_reversals
              WHERE payment_id = ?1 AND state IN ('pending', 'accepted')",
        )?
        .query_row([payment_id], |r| r.get(0))?)
}

/// Writes a pending reversal of `amount` on card payment `p` with the ServiceID it will carry.
pub fn plan(
    cx: &Ctx<'_>,
    p: &Payment,
    purpose: &str,
    ref_id: &str,
    amount: i64,
    service_id: &str,
) -> Result<String> {
    let terminal: Option<String> = cx
        .conn
        .prepare_cached("SELECT terminal_id FROM pos_payments WHERE id = ?1")?
        .query_row([&p.id], |r| r.get(0))
        .optional()?
        .flatten();
    let terminal = terminal.ok_or_else(|| {
        Error::conflict(format!(
            "card payment {} names no terminal to reverse it on",
            p.id
        ))
    })?;
    let has_txn = p
        .card
        .as_ref()
        .and_then(|c| c.get("terminal_txn_id"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !has_txn {
        return Err(Error::conflict(format!(
            "card payment {} has no terminal transaction to reverse",
            p.id
        )));
    }
    let id = uuid::Uuid::now_v7().to_string();
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_card_reversals(id, payment_id, purpose, ref_id, terminal_id,
                service_id, amount, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8)",
        )?
        .execute(params![
            id, p.id, purpose, ref_id, terminal, service_id, amount, cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.card_reversal_planned",
        &format!("sale:{}", p.sale_id),
        &json!({"reversal": id, "payment_id": p.id, "purpose": purpose, "amount": amount,
                "service_id": service_id, "terminal": terminal}),
    )?;
    Ok(id)
}

/// Records what the terminal said about a reversal (`accepted` or not).
pub fn record(cx: &Ctx<'_>, id: &str, accepted: bool, detail: &str) -> Result<Reversal> {
    let r = get_reversal(cx.conn, id)?
        .ok_or_else(|| Error::not_found(format!("reversal {id} not found")))?;
    if r.state != "pending" {
        return Ok(r);
    }
    let state = if accepted { "accepted" } else { "refused" };
    cx.conn
        .prepare_cached(
            "UPDATE pos_card_reversals SET state = ?2, detail = ?3, updated_at = ?4 WHERE id = ?1",
        )?
        .execute(params![id, state, detail, cx.now])?;
    let sale_id = get_payment(cx.conn, &r.payment_id)?
        .map(|p| p.sale_id)
        .unwrap_or_default();
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.card_reversed",
        &format!("sale:{sale_id}"),
        &json!({"reversal": id, "payment_id": r.payment_id, "purpose": r.purpose,
                "state": {"old": "pending", "new": state}, "amount": r.amount, "detail": detail}),
    )?;
    get_reversal(cx.conn, id)?.ok_or_else(|| Error::Internal(format!("reversal {id} vanished")))
}
