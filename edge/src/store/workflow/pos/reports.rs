//! Reports and the close of a register session: the facts of a session (or a period) read in one
//! transaction and summed by `domain::pos::report`; the X report changes nothing; the close
//! numbers the Z report (per register, sequential from 1, never repeated), stores it with the
//! counted cash, prints it and queues `pos.session_closed` — one transaction, so a killed node has
//! either no Z or exactly one.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;
use wms_labels::escpos::{docs, Paper};

use super::registers::{get_session, PosSession};
use super::{get_sale, Sale};
use crate::config::RegisterConfig;
use crate::domain::pos::format_minor;
use crate::domain::pos::report::{
    self, MovementFacts, PeriodReport, RefundFacts, Report, SaleFacts, SessionFacts,
};
use crate::error::{Error, Result};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, Ctx};
use crate::store::workflow::print::queue_print;

/// What a sale contributes to a report.
pub fn sale_facts(s: &Sale, prices_include_tax: bool) -> SaleFacts {
    SaleFacts {
        status: s.status.clone(),
        register_id: s.register_id.clone(),
        cashier: s.cashier.clone(),
        subtotal: s.priced.totals.subtotal,
        discount: s.priced.totals.discount,
        tax: s.priced.totals.tax,
        total: s.priced.totals.total,
        lines: s
            .priced
            .lines
            .iter()
            .map(|l| {
                let net = if prices_include_tax {
                    l.net - l.tax
                } else {
                    l.net
                };
                (
                    l.tax_code.clone().unwrap_or_else(|| "untaxed".into()),
                    l.tax_rate.to_string(),
                    net,
                    l.tax,
                )
            })
            .collect(),
        tenders: s
            .payments
            .iter()
            .filter(|p| matches!(p.state.as_str(), "approved" | "partial"))
            .map(|p| (p.method.clone(), p.amount, p.rounding))
            .collect(),
    }
}

fn sales_where(conn: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Sale>> {
    let ids: Vec<String> = conn
        .prepare_cached(sql)?
        .query_map(args, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = get_sale(conn, &id)? {
            out.push(s);
        }
    }
    Ok(out)
}

fn refunds_where(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<RefundFacts>> {
    let rows: Vec<(String, i64)> = conn
        .prepare_cached(&format!(
            "SELECT id, amount FROM pos_refunds WHERE state = 'completed' AND {filter}"
        ))?
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, amount) in rows {
        let tenders = conn
            .prepare_cached(
                "SELECT method, amount FROM pos_refund_tenders
                  WHERE refund_id = ?1 AND state = 'approved'",
            )?
            .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        out.push(RefundFacts { amount, tenders });
    }
    Ok(out)
}

fn movements_of(conn: &Connection, session_id: &str) -> Result<Vec<MovementFacts>> {
    Ok(conn
        .prepare_cached("SELECT kind, amount FROM pos_cash_movements WHERE session_id = ?1")?
        .query_map([session_id], |r| {
            Ok(MovementFacts {
                kind: r.get(0)?,
                amount: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// The session's facts as of now (`closed_at`, `counted`, `z_no` as given).
fn session_report(
    conn: &Connection,
    reg: &RegisterConfig,
    s: &PosSession,
    closed_at: Option<String>,
    counted: Option<i64>,
    z_no: Option<i64>,
) -> Result<Report> {
    let sales = sales_where(
        conn,
        "SELECT id FROM pos_sales WHERE session_id = ?1 AND status IN ('completed', 'voided')
          ORDER BY created_at",
        &[&s.id],
    )?;
    let facts: Vec<SaleFacts> = sales
        .iter()
        .map(|x| sale_facts(x, reg.prices_include_tax))
        .collect();
    let refunds = refunds_where(conn, "session_id = ?1", &[&s.id])?;
    let moves = movements_of(conn, &s.id)?;
    Ok(report::report(
        &SessionFacts {
            session_id: s.id.clone(),
            register_id: s.register_id.clone(),
            cashier: s.cashier.clone(),
            opened_at: s.opened_at.clone(),
            closed_at,
            currency: s.currency.clone(),
            opening_float: s.opening_float,
            counted,
            z_no,
        },
        &facts,
        &refunds,
        &moves,
    ))
}

fn session_of(conn: &Connection, reg: &RegisterConfig, session_id: &str) -> Result<PosSession> {
    let s = get_session(conn, session_id)?
        .ok_or_else(|| Error::not_found(format!("session {session_id} not found")))?;
    if s.register_id != reg.id {
        return Err(Error::not_found(format!(
            "session {session_id} not found on register {}",
            reg.id
        )));
    }
    Ok(s)
}

/// The X report of an open session, or the stored Z report of a closed one. Changes nothing.
pub fn session_report_now(
    conn: &Connection,
    reg: &RegisterConfig,
    session_id: &str,
) -> Result<Report> {
    let s = session_of(conn, reg, session_id)?;
    if s.state == "closed" {
        let stored: Option<String> = conn
            .prepare_cached("SELECT report FROM pos_sessions WHERE id = ?1")?
            .query_row([session_id], |r| r.get(0))?;
        if let Some(text) = stored {
            return serde_json::from_str(&text)
                .map_err(|e| Error::Internal(format!("session {session_id}: stored report: {e}")));
        }
    }
    session_report(conn, reg, &s, None, None, None)
}

/// Cash the drawer should hold now (the X report's expected cash).
pub fn expected_cash(conn: &Connection, reg: &RegisterConfig, session: &PosSession) -> Result<i64> {
    Ok(session_report(conn, reg, session, None, None, None)?
        .cash
        .expected
        .amount)
}

/// Closes the session with the counted cash: the Z report, printed and sent upstream. Refused
/// (nothing changed) while a sale is open or a card payment, reversal or refund is unresolved.
pub fn close_session(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    session_id: &str,
    counted: i64,
    note: Option<&str>,
) -> Result<Report> {
    if counted < 0 {
        return Err(Error::validation("counted_cash", "must not be negative"));
    }
    let s = session_of(cx.conn, reg, session_id)?;
    if s.state != "open" {
        return Err(Error::conflict(format!(
            "session {session_id} is already closed: a Z report is never repeated"
        )));
    }
    let open_sales: i64 = cx
        .conn
        .prepare_cached("SELECT count(*) FROM pos_sales WHERE session_id = ?1 AND status = 'open'")?
        .query_row([session_id], |r| r.get(0))?;
    if open_sales > 0 {
        return Err(Error::conflict(
            "a sale is open on this register: complete or void it before closing",
        ));
    }
    let unresolved: i64 = cx
        .conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
                      WHERE s.register_id = ?1 AND p.state = 'pending')
                  + (SELECT count(*) FROM pos_refunds WHERE register_id = ?1 AND state = 'pending')
                  + (SELECT count(*) FROM pos_card_reversals r JOIN pos_payments p ON p.id = r.payment_id
                      JOIN pos_sales s ON s.id = p.sale_id
                      WHERE s.register_id = ?1 AND r.state = 'pending')",
        )?
        .query_row([&reg.id], |r| r.get(0))?;
    if unresolved > 0 {
        return Err(Error::conflict(
            "a card payment, reversal or refund on this register is not resolved yet: wait for \
             the terminal before closing",
        ));
    }
    let z_no: i64 = cx
        .conn
        .prepare_cached(
            "SELECT coalesce(max(z_no), 0) + 1 FROM pos_sessions WHERE register_id = ?1",
        )?
        .query_row([&reg.id], |r| r.get(0))?;
    let report = session_report(
        cx.conn,
        reg,
        &s,
        Some(cx.now.to_string()),
        Some(counted),
        Some(z_no),
    )?;
    let changed = cx
        .conn
        .prepare_cached(
            "UPDATE pos_sessions SET state = 'closed', closed_at = ?2, counted_cash = ?3, note = ?4,
                z_no = ?5, report = ?6 WHERE id = ?1 AND state = 'open'",
        )?
        .execute(params![
            session_id,
            cx.now,
            counted,
            note,
            z_no,
            serde_json::to_string(&report)?
        ])?;
    if changed != 1 {
        return Err(Error::conflict(format!(
            "session {session_id} is already closed"
        )));
    }
    let expected = report.cash.expected.amount;
    outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "pos.session_closed",
            aggregate_type: "register",
            aggregate_id: reg.id.clone(),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({
                "register_id": reg.id, "session_id": s.id, "z_no": z_no, "cashier": s.cashier,
                "opened_at": s.opened_at, "closed_at": cx.now, "currency": s.currency,
                "expected_cash": expected, "counted_cash": counted,
                "over_short": counted - expected,
                "totals_by_method": report.totals.by_method.iter()
                    .map(|b| json!({"method": b.method, "count": b.count, "amount": b.amount.amount}))
                    .collect::<Vec<_>>(),
            }),
        },
    )?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.session_closed",
        &format!("register:{}", reg.id),
        &json!({"session": s.id, "state": {"old": "open", "new": "closed"}, "z_no": z_no,
                "expected_cash": expected, "counted_cash": counted,
                "over_short": counted - expected, "note": note}),
    )?;
    queue_report(cx, reg, &report, "z")?;
    Ok(report)
}

/// Prints a report on the register's printer (nothing without one).
pub fn queue_report(cx: &Ctx<'_>, reg: &RegisterConfig, r: &Report, kind: &str) -> Result<bool> {
    let Some(printer) = &reg.receipt_printer else {
        return Ok(false);
    };
    let m = |a: i64| format_minor(a, &r.currency);
    let t = &r.totals;
    let mut counts = serde_json::Map::new();
    counts.insert("sales".into(), json!(t.sales.count));
    counts.insert("refunds".into(), json!(t.refunds.count));
    counts.insert("voids".into(), json!(t.voids.count));
    let local = |at: &str| super::receipt::local_time(at, &reg.timezone);
    let doc = docs::Report {
        kind: kind.into(),
        number: r.z_no.unwrap_or(0).max(0) as u64,
        store: docs::Store::default(),
        register: r.register_id.clone(),
        opened_at: local(&r.opened_at),
        closed_at: r.closed_at.as_deref().map(local).unwrap_or_default(),
        cashier: cx
            .conn
            .prepare_cached("SELECT name FROM users WHERE id = ?1")?
            .query_row([&r.cashier], |row| row.get::<_, String>(0))
            .optional()?
            .unwrap_or_else(|| r.cashier.clone()),
        counts,
        gross: m(t.sales.gross.amount),
        discounts: m(t.sales.discounts.amount),
        refunds: m(t.refunds.amount.amount),
        net: m(t.sales.net.amount),
        taxes: t
            .by_tax
            .iter()
            .filter(|b| b.code != "untaxed")
            .map(|b| docs::Amount {
                label: format!("Tax {} {}%", b.code, b.rate),
                amount: m(b.tax.amount),
            })
            .collect(),
        tenders: t
            .by_method
            .iter()
            .map(|b| docs::TenderTotal {
                kind: b.method.clone(),
                amount: m(b.amount.amount),
                count: b.count.max(0) as u64,
            })
            .collect(),
        cash: Some(docs::CashCount {
            opening: m(r.cash.opening_float.amount),
            expected: m(r.cash.expected.amount),
            counted: r
                .cash
                .counted
                .as_ref()
                .map(|c| m(c.amount))
                .unwrap_or_default(),
            difference: r
                .cash
                .over_short
                .as_ref()
                .map(|c| m(c.amount))
                .unwrap_or_default(),
        }),
    };
    let bytes = docs::report(&doc, Paper::Mm80)
        .map_err(|e| Error::Internal(format!("{kind} report of {}: {e}", r.session_id)))?;
    queue_print(cx, printer, "report", &r.session_id, &bytes)?;
    Ok(true)
}

/// The store's sales over `[from, to)` (RFC 3339; either open), for one register or all.
pub fn period_report(
    conn: &Connection,
    registers: &[RegisterConfig],
    from: Option<&str>,
    to: Option<&str>,
    register: Option<&str>,
    currency: &str,
    tenant: Option<&str>,
) -> Result<PeriodReport> {
    let inclusive = |id: &str| {
        registers
            .iter()
            .find(|r| r.id == id)
            .is_some_and(|r| r.prices_include_tax)
    };
    let sales = sales_where(
        conn,
        "SELECT id FROM pos_sales WHERE status IN ('completed', 'voided')
            AND (?1 IS NULL OR coalesce(completed_at, voided_at, created_at) >= ?1)
            AND (?2 IS NULL OR coalesce(completed_at, voided_at, created_at) < ?2)
            AND (?3 IS NULL OR register_id = ?3) AND currency = ?4
            AND (?5 IS NULL OR tenant_id = ?5)
          ORDER BY created_at",
        &[&from, &to, &register, &currency, &tenant],
    )?;
    let facts: Vec<SaleFacts> = sales
        .iter()
        .map(|s| sale_facts(s, inclusive(&s.register_id)))
        .collect();
    let refunds = refunds_where(
        conn,
        "(?1 IS NULL OR completed_at >= ?1) AND (?2 IS NULL OR completed_at < ?2)
         AND (?3 IS NULL OR register_id = ?3) AND currency = ?4
         AND (?5 IS NULL OR tenant_id = ?5)",
        &[&from, &to, &register, &currency, &tenant],
    )?;
    let mut by_register: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for s in facts.iter().filter(|s| s.status == "completed") {
        let e = by_register.entry(&s.register_id).or_default();
        e.0 += 1;
        e.1 += s.total - s.tax;
    }
    Ok(PeriodReport {
        from: from.map(str::to_string),
        to: to.map(str::to_string),
        register: register.map(str::to_string),
        currency: currency.to_string(),
        totals: report::totals(currency, &facts, &refunds),
        by_register: by_register
            .into_iter()
            .map(|(id, (count, net))| report::ByRegister {
                register_id: id.to_string(),
                count,
                net: report::Money {
                    amount: net,
                    currency: currency.to_string(),
                },
            })
            .collect(),
    })
}
