//! Returns and refunds (pos-api.md "Returns and refunds"). A referenced refund names lines and
//! quantities of a completed sale; each unit refunds exactly its share of what the line was
//! charged (`domain::pos::refund::units_value`), so refunding a whole line returns exactly the
//! line and asking for more than remains is refused. The money goes back to the original tenders
//! — cards first by a referenced reversal at the terminal, then cash — or all to cash.
//!
//! Two steps when a card is involved: `begin_refund` reserves the units and records where the
//! money goes, with a reversal owed per card (its ServiceID written before anything is sent);
//! `finish_refund` completes it once the terminal answered: restocked units back on the shelf
//! (`sale_returned`), `pos.sale_refunded` upstream, the refund receipt. A card reversal the
//! terminal refuses is paid in cash instead — the customer is never left without the money.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::registers::open_session_of;
use super::reversals;
use super::{sale, Sale};
use crate::config::RegisterConfig;
use crate::domain::pos::refund::{allocate, units_value, PaidTender, RefundTo};
use crate::domain::Reason;
use crate::error::{Error, Result};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, Ctx};
use crate::store::stock::ledger::{self, Movement};

/// One line of a refund as asked.
#[derive(Debug, Clone)]
pub struct RefundLineIn {
    pub line_id: String,
    pub qty: i64,
    pub restock: bool,
}

/// One line of a return without a receipt.
#[derive(Debug, Clone)]
pub struct ReturnLineIn {
    pub sku: String,
    pub qty: i64,
    /// What the customer gets back per unit (tax included).
    pub unit_price: i64,
    pub restock: bool,
}

/// A refund as asked.
#[derive(Debug, Clone)]
pub struct RefundIn {
    pub lines: Vec<RefundLineIn>,
    pub reason: String,
    pub approved_by: Option<String>,
    pub to: RefundTo,
}

/// A refund's line as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundLine {
    pub line_id: String,
    pub sku: String,
    pub qty: i64,
    pub amount: i64,
    pub tax: i64,
    pub restock: bool,
}

/// Where part of a refund's money went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundTender {
    pub id: String,
    pub method: String,
    pub payment_id: Option<String>,
    pub amount: i64,
    /// `pending`, `approved` or `refused`.
    pub state: String,
    pub detail: Option<String>,
}

/// A refund as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    pub id: String,
    pub sale_id: Option<String>,
    pub register_id: String,
    pub session_id: String,
    pub tenant_id: String,
    pub currency: String,
    pub cashier: String,
    pub amount: i64,
    pub tax: i64,
    pub reason: String,
    pub approved_by: Option<String>,
    /// `pending` until the terminal answered every card reversal, then `completed`.
    pub state: String,
    pub lines: Vec<RefundLine>,
    pub tenders: Vec<RefundTender>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

pub fn get_refund(conn: &Connection, id: &str) -> Result<Option<Refund>> {
    let head = conn
        .prepare_cached(
            "SELECT id, sale_id, register_id, session_id, tenant_id, currency, cashier, amount,
                    tax, reason, approved_by, state, created_at, completed_at
               FROM pos_refunds WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Refund {
                id: r.get(0)?,
                sale_id: r.get(1)?,
                register_id: r.get(2)?,
                session_id: r.get(3)?,
                tenant_id: r.get(4)?,
                currency: r.get(5)?,
                cashier: r.get(6)?,
                amount: r.get(7)?,
                tax: r.get(8)?,
                reason: r.get(9)?,
                approved_by: r.get(10)?,
                state: r.get(11)?,
                created_at: r.get(12)?,
                completed_at: r.get(13)?,
                lines: Vec::new(),
                tenders: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut refund) = head else {
        return Ok(None);
    };
    refund.lines = conn
        .prepare_cached(
            "SELECT line_id, sku, qty, amount, tax, restock FROM pos_refund_lines
              WHERE refund_id = ?1 ORDER BY line_id",
        )?
        .query_map([id], |r| {
            Ok(RefundLine {
                line_id: r.get(0)?,
                sku: r.get(1)?,
                qty: r.get(2)?,
                amount: r.get(3)?,
                tax: r.get(4)?,
                restock: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    refund.tenders = conn
        .prepare_cached(
            "SELECT id, method, payment_id, amount, state, detail FROM pos_refund_tenders
              WHERE refund_id = ?1 ORDER BY created_at, id",
        )?
        .query_map([id], |r| {
            Ok(RefundTender {
                id: r.get(0)?,
                method: r.get(1)?,
                payment_id: r.get(2)?,
                amount: r.get(3)?,
                state: r.get(4)?,
                detail: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(refund))
}

/// The refund or a 404.
pub fn refund(conn: &Connection, id: &str) -> Result<Refund> {
    get_refund(conn, id)?.ok_or_else(|| Error::not_found(format!("refund {id} not found")))
}

/// Units of each line already refunded (or being refunded).
pub fn refunded_qty(conn: &Connection, sale_id: &str, line_id: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(sum(l.qty), 0) FROM pos_refund_lines l
               JOIN pos_refunds r ON r.id = l.refund_id
              WHERE r.sale_id = ?1 AND l.line_id = ?2",
        )?
        .query_row(params![sale_id, line_id], |r| r.get(0))?)
}

/// Money already given back to one payment of the sale by earlier refunds.
fn refunded_to(conn: &Connection, payment_id: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(sum(amount), 0) FROM pos_refund_tenders
              WHERE payment_id = ?1 AND state IN ('pending', 'approved')",
        )?
        .query_row([payment_id], |r| r.get(0))?)
}

/// Refunds of a sale, oldest first.
pub fn refunds_of(conn: &Connection, sale_id: &str) -> Result<Vec<Refund>> {
    let ids: Vec<String> = conn
        .prepare_cached("SELECT id FROM pos_refunds WHERE sale_id = ?1 ORDER BY created_at, id")?
        .query_map([sale_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(refund(conn, &id)?);
    }
    Ok(out)
}

/// Where a refund stands after `begin_refund`.
#[derive(Debug, Clone)]
pub enum RefundStep {
    /// Completed in this transaction.
    Done(Refund),
    /// These card reversals must be answered first.
    Reverse(Refund, Vec<reversals::Reversal>),
}

/// Who, where and for which sale a refund is made.
struct RefundHead<'a> {
    reg: &'a RegisterConfig,
    session_id: &'a str,
    sale_id: Option<&'a str>,
    cashier: &'a str,
}

fn insert_head(
    cx: &Ctx<'_>,
    h: &RefundHead<'_>,
    amount: i64,
    tax: i64,
    r: &RefundIn,
) -> Result<String> {
    let (reg, session_id, sale_id, cashier) = (h.reg, h.session_id, h.sale_id, h.cashier);
    let id = uuid::Uuid::now_v7().to_string();
    let to = match r.to {
        RefundTo::Original => "original",
        RefundTo::Cash => "cash",
        RefundTo::StoreCredit => "store_credit",
    };
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_refunds(id, sale_id, register_id, session_id, tenant_id, currency,
                cashier, amount, tax, reason, approved_by, refund_to, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending', ?13)",
        )?
        .execute(params![
            id,
            sale_id,
            reg.id,
            session_id,
            reg.tenant_id,
            reg.currency,
            cashier,
            amount,
            tax,
            r.reason.trim(),
            r.approved_by,
            to,
            cx.now
        ])?;
    Ok(id)
}

fn insert_line(cx: &Ctx<'_>, refund_id: &str, l: &RefundLine) -> Result<()> {
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_refund_lines(refund_id, line_id, sku, qty, amount, tax, restock)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            refund_id, l.line_id, l.sku, l.qty, l.amount, l.tax, l.restock
        ])?;
    Ok(())
}

fn insert_tender(
    cx: &Ctx<'_>,
    refund_id: &str,
    method: &str,
    payment_id: Option<&str>,
    amount: i64,
    state: &str,
    detail: Option<&str>,
) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_refund_tenders(id, refund_id, method, payment_id, amount, state,
                detail, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?
        .execute(params![
            id, refund_id, method, payment_id, amount, state, detail, cx.now
        ])?;
    Ok(id)
}

fn check_common(reg: &RegisterConfig, r: &RefundIn, cx: &Ctx<'_>) -> Result<String> {
    if r.reason.trim().is_empty() {
        return Err(Error::validation("reason", "a refund needs a reason"));
    }
    if r.to == RefundTo::StoreCredit {
        return Err(Error::validation(
            "tender",
            "store credit is not available on this node yet: refund to the original tenders or cash",
        ));
    }
    let session = open_session_of(cx.conn, &reg.id)?.ok_or_else(|| {
        Error::conflict(format!(
            "Register closed: register {} has no open session to pay the refund from",
            reg.id
        ))
    })?;
    Ok(session.id)
}

/// Starts a referenced refund of `sale_id` at register `reg`, by `cashier`.
pub fn begin_refund(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    sale_id: &str,
    cashier: &str,
    r: &RefundIn,
    mut service_id: impl FnMut() -> String,
) -> Result<RefundStep> {
    let session_id = check_common(reg, r, cx)?;
    if r.lines.is_empty() {
        return Err(Error::validation("lines", "name at least one line"));
    }
    let s = sale(cx.conn, sale_id)?;
    if s.tenant_id != reg.tenant_id {
        return Err(Error::not_found(format!("sale {sale_id} not found")));
    }
    if s.status != "completed" {
        return Err(Error::conflict(format!(
            "sale {sale_id} is {}: only a completed sale is refunded",
            s.status
        )));
    }
    if reversals::for_ref(cx.conn, sale_id)?
        .iter()
        .any(|x| x.state == "pending")
    {
        return Err(Error::conflict(format!(
            "a void of sale {sale_id} is waiting for the terminal"
        )));
    }
    if outside_window(&s, reg, cx.now) && r.approved_by.is_none() {
        return Err(Error::Forbidden(format!(
            "sale {sale_id} is older than the {}-day return window: a supervisor must approve",
            reg.return_days
        )));
    }
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for want in &r.lines {
        if !seen.insert(want.line_id.clone()) {
            return Err(Error::validation(
                "lines",
                format!("line {} is named twice", want.line_id),
            ));
        }
        if want.qty <= 0 {
            return Err(Error::validation("qty", "must be more than zero"));
        }
        let line = s
            .priced
            .lines
            .iter()
            .find(|l| l.line_id == want.line_id)
            .ok_or_else(|| {
                Error::validation(
                    "line_id",
                    format!("sale {sale_id} has no line {}", want.line_id),
                )
            })?;
        let already = refunded_qty(cx.conn, sale_id, &line.line_id)?;
        if want.qty > line.qty - already {
            return Err(Error::conflict(format!(
                "line {} sold {} and {} are already refunded: {} more cannot be refunded",
                line.line_id, line.qty, already, want.qty
            )));
        }
        let charged = if reg.prices_include_tax {
            line.net
        } else {
            line.net + line.tax
        };
        let (amount, tax) = units_value(charged, line.tax, line.qty, already, want.qty);
        lines.push(RefundLine {
            line_id: line.line_id.clone(),
            sku: line.sku.clone(),
            qty: want.qty,
            amount,
            tax,
            restock: want.restock,
        });
    }
    let amount: i64 = lines.iter().map(|l| l.amount).sum();
    let tax: i64 = lines.iter().map(|l| l.tax).sum();
    let head = RefundHead {
        reg,
        session_id: &session_id,
        sale_id: Some(sale_id),
        cashier,
    };
    let id = insert_head(cx, &head, amount, tax, r)?;
    for l in &lines {
        insert_line(cx, &id, l)?;
    }
    let mut paid = Vec::new();
    for p in s
        .payments
        .iter()
        .filter(|p| matches!(p.state.as_str(), "approved" | "partial"))
    {
        paid.push(PaidTender {
            payment_id: p.id.clone(),
            method: p.method.clone(),
            paid: p.amount,
            refunded: refunded_to(cx.conn, &p.id)?,
        });
    }
    let mut owed = Vec::new();
    for part in allocate(amount, &paid, r.to) {
        match (part.method.as_str(), &part.payment_id) {
            ("card", Some(pid)) => {
                let tender =
                    insert_tender(cx, &id, "card", Some(pid), part.amount, "pending", None)?;
                let p = s
                    .payments
                    .iter()
                    .find(|p| &p.id == pid)
                    .ok_or_else(|| Error::Internal(format!("payment {pid} vanished")))?;
                let rid = reversals::plan(cx, p, "refund", &tender, part.amount, &service_id())?;
                if let Some(rv) = reversals::get_reversal(cx.conn, &rid)? {
                    owed.push(rv);
                }
            }
            ("cash", _) => {
                insert_tender(cx, &id, "cash", None, part.amount, "approved", None)?;
            }
            (other, _) => {
                return Err(Error::conflict(format!(
                    "a {other} payment cannot be refunded on this node yet: refund it in cash"
                )))
            }
        }
    }
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.refund_started",
        &format!("sale:{sale_id}"),
        &json!({"refund": id, "amount": amount, "lines": lines.len(),
                "approved_by": r.approved_by, "reason": r.reason.trim()}),
    )?;
    if owed.is_empty() {
        return Ok(RefundStep::Done(finish_refund(cx, reg, &id)?));
    }
    Ok(RefundStep::Reverse(refund(cx.conn, &id)?, owed))
}

fn outside_window(s: &Sale, reg: &RegisterConfig, now: &str) -> bool {
    let (Some(done), Ok(now)) = (
        s.completed_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
        chrono::DateTime::parse_from_rfc3339(now),
    ) else {
        return false;
    };
    now - done > chrono::Duration::days(reg.return_days)
}

/// A return without a receipt (always a supervisor's approval): the units come back at the
/// given price, paid out in cash.
pub fn begin_return(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    cashier: &str,
    lines_in: &[ReturnLineIn],
    r: &RefundIn,
) -> Result<Refund> {
    let session_id = check_common(reg, r, cx)?;
    if r.approved_by.is_none() {
        return Err(Error::Forbidden(
            "a return without a receipt needs a supervisor's approval".into(),
        ));
    }
    let mut lines = Vec::new();
    for (i, l) in lines_in.iter().enumerate() {
        if l.qty <= 0 || l.qty > 9999 {
            return Err(Error::validation("qty", "must be 1 to 9999"));
        }
        if l.unit_price < 0 {
            return Err(Error::validation("unit_price", "must not be negative"));
        }
        let known: Option<String> = cx
            .conn
            .prepare_cached("SELECT sku FROM products WHERE tenant_id = ?1 AND sku = ?2")?
            .query_row(params![reg.tenant_id, l.sku], |row| row.get(0))
            .optional()?;
        if known.is_none() {
            return Err(Error::validation(
                "sku",
                format!("unknown product {} of {}", l.sku, reg.tenant_id),
            ));
        }
        lines.push(RefundLine {
            line_id: format!("R{}", i + 1),
            sku: l.sku.clone(),
            qty: l.qty,
            amount: l.unit_price.saturating_mul(l.qty),
            tax: 0,
            restock: l.restock,
        });
    }
    let amount: i64 = lines.iter().map(|l| l.amount).sum();
    let head = RefundHead {
        reg,
        session_id: &session_id,
        sale_id: None,
        cashier,
    };
    let id = insert_head(cx, &head, amount, 0, r)?;
    for l in &lines {
        insert_line(cx, &id, l)?;
    }
    if amount > 0 {
        insert_tender(cx, &id, "cash", None, amount, "approved", None)?;
    }
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.return_started",
        &format!("register:{}", reg.id),
        &json!({"refund": id, "amount": amount, "approved_by": r.approved_by,
                "reason": r.reason.trim()}),
    )?;
    finish_refund(cx, reg, &id)
}

/// The terminal's answer to one card reversal of a refund: the tender approved, or refused and
/// paid in cash instead.
pub fn card_answered(cx: &Ctx<'_>, reversal: &reversals::Reversal) -> Result<()> {
    let (state, detail) = match reversal.state.as_str() {
        "accepted" => ("approved", reversal.detail.clone()),
        "refused" => ("refused", reversal.detail.clone()),
        _ => return Ok(()),
    };
    let changed = cx
        .conn
        .prepare_cached(
            "UPDATE pos_refund_tenders SET state = ?2, detail = ?3, updated_at = ?4
              WHERE id = ?1 AND state = 'pending'",
        )?
        .execute(params![reversal.ref_id, state, detail, cx.now])?;
    if changed == 1 && state == "refused" {
        let refund_id: String = cx
            .conn
            .prepare_cached("SELECT refund_id FROM pos_refund_tenders WHERE id = ?1")?
            .query_row([&reversal.ref_id], |r| r.get(0))?;
        insert_tender(
            cx,
            &refund_id,
            "cash",
            None,
            reversal.amount,
            "approved",
            Some("the terminal refused the card refund; paid in cash"),
        )?;
    }
    Ok(())
}

/// Applies every answered card reversal of the refund's tenders, and completes the refund when
/// none is pending any more (`None` while one still is).
pub fn settle_answered(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    refund_id: &str,
) -> Result<Option<Refund>> {
    let rf = refund(cx.conn, refund_id)?;
    for t in rf.tenders.iter().filter(|t| t.state == "pending") {
        for r in reversals::for_ref(cx.conn, &t.id)? {
            card_answered(cx, &r)?;
        }
    }
    let rf = refund(cx.conn, refund_id)?;
    if rf.tenders.iter().any(|t| t.state == "pending") {
        return Ok(None);
    }
    finish_refund(cx, reg, refund_id).map(Some)
}

/// Completes a refund whose tenders are all answered: stock, upstream event, audit, receipt.
pub fn finish_refund(cx: &Ctx<'_>, reg: &RegisterConfig, refund_id: &str) -> Result<Refund> {
    let rf = refund(cx.conn, refund_id)?;
    if rf.state == "completed" {
        return Ok(rf);
    }
    if rf.tenders.iter().any(|t| t.state == "pending") {
        return Err(Error::conflict(format!(
            "refund {refund_id} waits for the terminal"
        )));
    }
    for l in rf.lines.iter().filter(|l| l.restock) {
        ledger::book_at_till(
            cx.conn,
            cx.site,
            cx.origin,
            cx.now,
            Movement {
                tenant_id: &rf.tenant_id,
                sku: &l.sku,
                location: &reg.location,
                lot: "",
                delta: l.qty,
                reason: Reason::SaleReturned,
                r#ref: json!({"sale_id": rf.sale_id, "refund_id": rf.id}),
                note: Some(rf.reason.clone()),
            },
        )?;
    }
    cx.conn
        .prepare_cached(
            "UPDATE pos_refunds SET state = 'completed', completed_at = ?2 WHERE id = ?1",
        )?
        .execute(params![refund_id, cx.now])?;
    let tenders: Vec<_> = rf
        .tenders
        .iter()
        .filter(|t| t.state == "approved")
        .map(|t| json!({"method": t.method, "amount": t.amount, "payment_id": t.payment_id}))
        .collect();
    let lines: Vec<_> = rf
        .lines
        .iter()
        .map(|l| {
            json!({"line_id": l.line_id, "sku": l.sku, "qty": l.qty, "amount": l.amount,
                         "tax": l.tax, "restock": l.restock})
        })
        .collect();
    outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "pos.sale_refunded",
            aggregate_type: "sale",
            aggregate_id: rf
                .sale_id
                .clone()
                .unwrap_or_else(|| format!("return:{}", rf.id)),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({"sale_id": rf.sale_id, "refund_id": rf.id, "tenant_id": rf.tenant_id,
                         "register_id": rf.register_id, "currency": rf.currency,
                         "lines": lines, "amount": rf.amount, "tax": rf.tax,
                         "tenders": tenders, "reason": rf.reason,
                         "approved_by": rf.approved_by, "refunded_at": cx.now}),
        },
    )?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.sale_refunded",
        &format!(
            "sale:{}",
            rf.sale_id
                .clone()
                .unwrap_or_else(|| format!("return:{}", rf.id))
        ),
        &json!({"refund": rf.id, "state": {"old": "pending", "new": "completed"},
                "amount": rf.amount, "tenders": tenders, "approved_by": rf.approved_by}),
    )?;
    let done = refund(cx.conn, refund_id)?;
    let original = match &done.sale_id {
        Some(id) => Some(sale(cx.conn, id)?),
        None => None,
    };
    super::receipt::queue_refund_receipt(cx, reg, &done, original.as_ref())?;
    Ok(done)
}
