//! Card tenders in the store (pos-api.md "Never charge twice"). A card payment is written as a
//! `pending` attempt with its terminal and ServiceID **before** the request goes to the terminal;
//! whatever the terminal answers later — directly, through TransactionStatus after a timeout or a
//! restart, or late — is settled here by `domain::pos::card::on_event` in one transaction: the
//! approved amount is applied at most once, a sale left with nothing due completes, and money taken
//! for an attempt that is already final is marked for reversal (the till reverses it at the
//! terminal and records the outcome with [`record_reversal`]).
//!
//! The card facts kept are the terminal's masked ones, checked again here: a masked PAN that
//! shows more than the first six and last four digits keeps only the last four.
//!
//! Offline cards: while the central is unreachable, a card payment is marked `offline` and counts
//! as "stored" until the central has acknowledged the `pos.sale_completed` event that carries it
//! (its outbox row is `done`, or pruned after that).

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map, Value};

use super::complete::complete;
use super::payments::{replay, TenderRequest, Tendered};
use super::{get_payment, sale, Payment, Sale};
use crate::config::RegisterConfig;
use crate::domain::pos::card::{
    on_event, safe_masked_pan, Attempt, CardEffect, CardEvent, CardState, TerminalAnswer,
};
use crate::domain::pos::format_minor;
use crate::error::{Error, Result};
use crate::store::base::{audit, Ctx};

/// Where and how a card payment starts.
#[derive(Debug, Clone)]
pub struct CardStart {
    /// The register's payment terminal (device id).
    pub terminal_id: String,
    /// The ServiceID the request will carry, chosen before it is sent.
    pub service_id: String,
    /// The central is unreachable: offline limits apply and the payment is stored offline.
    pub central_offline: bool,
    /// The terminal is known to be reachable; an offline one is refused before anything is
    /// written or sent.
    pub terminal_online: bool,
}

/// The card-safe facts of a terminal's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardFacts {
    pub brand: Option<String>,
    pub masked_pan: Option<String>,
    pub entry_mode: Option<String>,
    pub approval_code: Option<String>,
    pub terminal_txn_id: Option<String>,
    pub terminal_txn_time: Option<String>,
    /// The terminal approved it offline (store and forward).
    pub terminal_offline: bool,
}

/// What settling an answer did.
#[derive(Debug, Clone)]
pub struct Settled {
    pub payment: Payment,
    pub sale: Sale,
    /// The payment's state changed (an event is worth publishing).
    pub changed: bool,
    /// The sale completed in this transaction (its receipt is queued).
    pub completed: bool,
    /// Money the terminal took that nobody wants: reverse it.
    pub reverse: Option<ReversalDue>,
}

/// A reversal the till owes the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalDue {
    pub payment_id: String,
    pub terminal_id: String,
    pub txn: String,
    pub txn_time: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
}

/// An attempt whose outcome is not known yet (asked about at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAttempt {
    pub payment_id: String,
    pub sale_id: String,
    pub register_id: String,
    pub terminal_id: String,
    pub service_id: String,
    pub amount: i64,
    pub currency: String,
    /// The response to the request itself may still come: the request was sent by this process.
    pub abort_asked: bool,
}

fn card_json(p: &Payment) -> Map<String, Value> {
    p.card
        .as_ref()
        .and_then(|c| c.as_object().cloned())
        .unwrap_or_default()
}

fn attempt_of(p: &Payment) -> Result<Attempt> {
    let state = CardState::parse(&p.state)
        .ok_or_else(|| Error::Internal(format!("payment {}: state {}", p.id, p.state)))?;
    let card = card_json(p);
    let requested = card
        .get("requested")
        .and_then(Value::as_i64)
        .unwrap_or(p.amount);
    Ok(Attempt {
        state,
        requested,
        applied: if state.paid() { p.amount } else { 0 },
        abort_asked: card.get("abort_asked").and_then(Value::as_bool) == Some(true),
    })
}

fn card_payment(cx: &Ctx<'_>, payment_id: &str) -> Result<Payment> {
    let p = get_payment(cx.conn, payment_id)?
        .ok_or_else(|| Error::not_found(format!("payment {payment_id} not found")))?;
    if p.method != "card" {
        return Err(Error::conflict(format!(
            "payment {payment_id} is a {} payment, not a card payment",
            p.method
        )));
    }
    Ok(p)
}

fn save(cx: &Ctx<'_>, p: &Payment, card: &Map<String, Value>) -> Result<()> {
    cx.conn
        .prepare_cached(
            "UPDATE pos_payments SET state = ?2, amount = ?3, card = ?4, error = ?5, updated_at = ?6
             WHERE id = ?1",
        )?
        .execute(params![
            p.id,
            p.state,
            p.amount,
            Value::Object(card.clone()).to_string(),
            p.error,
            cx.now
        ])?;
    Ok(())
}

/// The card value stored offline across the site (pending ones included): `(count, total,
/// oldest created_at)`, for one register or all.
pub fn offline_exposure(
    conn: &Connection,
    register: Option<&str>,
) -> Result<(i64, i64, Option<String>)> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(p.amount), 0), min(p.created_at)
               FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
              WHERE p.offline = 1 AND p.method = 'card'
                AND p.state IN ('pending', 'approved', 'partial')
                AND (?1 IS NULL OR s.register_id = ?1)
                AND (s.completed_seq IS NULL
                     OR EXISTS (SELECT 1 FROM outbox o
                                 WHERE o.seq = s.completed_seq AND o.state <> 'done'))",
        )?
        .query_row(params![register], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

/// Stored offline card payments of `register` taken before `cutoff` (RFC 3339): overdue.
pub fn offline_overdue(conn: &Connection, register: &str, cutoff: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
              WHERE p.offline = 1 AND p.method = 'card' AND s.register_id = ?1
                AND p.state IN ('pending', 'approved', 'partial') AND p.created_at < ?2
                AND (s.completed_seq IS NULL
                     OR EXISTS (SELECT 1 FROM outbox o
                                 WHERE o.seq = s.completed_seq AND o.state <> 'done'))",
        )?
        .query_row(params![register, cutoff], |r| r.get(0))?)
}

/// The pending card payment on `terminal_id`, if any.
pub fn pending_on_terminal(conn: &Connection, terminal_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM pos_payments WHERE terminal_id = ?1 AND state = 'pending' LIMIT 1",
        )?
        .query_row([terminal_id], |r| r.get(0))
        .optional()?)
}

/// Starts a card payment: checks it, applies the offline limits, and writes the pending attempt
/// with its ServiceID. Nothing has been sent to the terminal when this commits; the till sends
/// the request afterwards.
pub fn begin_card(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    sale_id: &str,
    req: &TenderRequest,
    start: &CardStart,
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
    if !start.terminal_online {
        return Err(Error::DeviceUnavailable(format!(
            "payment terminal {} is offline: nothing was sent; take cash or try again",
            start.terminal_id
        )));
    }
    if req.tendered.is_some() {
        return Err(Error::validation(
            "tendered",
            "is for cash: a card pays an exact amount",
        ));
    }
    let due = current.balance.due;
    let amount = req.amount.unwrap_or(due);
    if amount < 0 {
        return Err(Error::validation("amount", "must not be negative"));
    }
    if due == 0 {
        return Err(Error::conflict("nothing is due on this sale"));
    }
    if amount == 0 {
        return Err(Error::validation("amount", "must be more than zero"));
    }
    if amount > due {
        return Err(Error::validation(
            "amount",
            format!(
                "a card payment may not exceed what is due: {} is more than the {} due",
                format_minor(amount, &current.currency),
                format_minor(due, &current.currency)
            ),
        ));
    }
    if let Some(busy) = pending_on_terminal(cx.conn, &start.terminal_id)? {
        return Err(Error::conflict(format!(
            "terminal {} is busy with card payment {busy}: wait for it or abort it",
            start.terminal_id
        )));
    }
    if start.central_offline {
        check_offline_limits(cx.conn, reg, amount, &current.currency)?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let card = json!({"requested": amount, "abort_asked": false, "offline": start.central_offline});
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_payments(id, sale_id, idempotency_key, request_hash, method, amount,
                state, terminal_id, service_id, card, offline, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'card', ?5, 'pending', ?6, ?7, ?8, ?9, ?10, ?10)",
        )?
        .execute(params![
            id,
            sale_id,
            req.idempotency_key,
            req.request_hash,
            amount,
            start.terminal_id,
            start.service_id,
            card.to_string(),
            start.central_offline,
            cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.payment",
        &format!("sale:{sale_id}"),
        &json!({"payment": {"old": null, "new": {"id": id, "method": "card", "amount": amount,
            "state": "pending", "terminal": start.terminal_id, "service_id": start.service_id,
            "offline": start.central_offline}}}),
    )?;
    let payment = get_payment(cx.conn, &id)?
        .ok_or_else(|| Error::Internal(format!("payment {id} vanished")))?;
    Ok(Tendered {
        payment,
        sale: sale(cx.conn, sale_id)?,
        created: true,
    })
}

/// The offline floor limits: the one payment, then the site's stored total.
fn check_offline_limits(
    conn: &Connection,
    reg: &RegisterConfig,
    amount: i64,
    currency: &str,
) -> Result<()> {
    if amount > reg.offline_card_limit {
        return Err(Error::conflict(format!(
            "Card limit offline: take cash (the central is unreachable and {} is above the \
             offline card limit of {})",
            format_minor(amount, currency),
            format_minor(reg.offline_card_limit, currency)
        )));
    }
    let (_, stored, _) = offline_exposure(conn, None)?;
    if stored + amount > reg.offline_card_total {
        return Err(Error::conflict(format!(
            "Card limit offline: take cash (the site already stores {} of card payments taken \
             offline; the offline card total is {})",
            format_minor(stored, currency),
            format_minor(reg.offline_card_total, currency)
        )));
    }
    Ok(())
}

/// The cashier asks to abort a pending card payment. The terminal's answer still decides: an
/// approval that wins the race stays approved.
pub fn ask_abort(cx: &Ctx<'_>, payment_id: &str) -> Result<Payment> {
    let p = card_payment(cx, payment_id)?;
    let a = attempt_of(&p)?;
    let (next, _) =
        on_event(&a, &CardEvent::AbortAsked).map_err(|e| Error::conflict(e.to_string()))?;
    let mut card = card_json(&p);
    card.insert("abort_asked".into(), json!(next.abort_asked));
    save(cx, &p, &card)?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.payment_abort",
        &format!("sale:{}", p.sale_id),
        &json!({"payment_id": p.id, "abort_asked": {"old": false, "new": true}}),
    )?;
    get_payment(cx.conn, payment_id)?
        .ok_or_else(|| Error::Internal(format!("payment {payment_id} vanished")))
}

fn describe(state: CardState, answer: &TerminalAnswer) -> Option<String> {
    match (state, answer) {
        (CardState::Declined, TerminalAnswer::Declined { condition }) => Some(format!(
            "declined by the card issuer ({})",
            condition.as_deref().unwrap_or("no reason given")
        )),
        (CardState::Aborted, _) => Some("aborted".into()),
        (CardState::Failed, TerminalAnswer::NotFound) => {
            Some("not processed: the terminal has no such transaction; nothing was charged".into())
        }
        (CardState::Failed, TerminalAnswer::Declined { condition }) => Some(format!(
            "the terminal refused the request ({})",
            condition.as_deref().unwrap_or("no reason given")
        )),
        _ => None,
    }
}

/// Settles what the terminal said about payment `payment_id` (matched by its ServiceID before
/// it gets here, so an answer never lands on another payment). Applies an approval once, completes
/// the sale when nothing is due any more, and marks unwanted money for reversal.
pub fn settle_card(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    payment_id: &str,
    answer: &TerminalAnswer,
    facts: &CardFacts,
    note: Option<&str>,
) -> Result<Settled> {
    let p = card_payment(cx, payment_id)?;
    let before = attempt_of(&p)?;
    let (next, effect) = on_event(&before, &CardEvent::Answer(answer.clone()))
        .map_err(|e| Error::conflict(e.to_string()))?;
    let mut card = card_json(&p);
    let mut updated = p.clone();
    let mut reverse = None;
    match &effect {
        CardEffect::Apply(n) => {
            merge_facts(&mut card, facts);
            updated.amount = *n;
            updated.state = next.state.as_str().into();
            updated.error = None;
        }
        CardEffect::Reverse { txn, amount } => {
            let due = ReversalDue {
                payment_id: p.id.clone(),
                terminal_id: terminal_of(cx.conn, &p.id)?,
                txn: txn.clone(),
                txn_time: facts.terminal_txn_time.clone().unwrap_or_default(),
                amount: *amount,
                currency: sale(cx.conn, &p.sale_id)?.currency,
            };
            let already = card
                .get("reversal")
                .and_then(|r| r.get("txn"))
                .and_then(Value::as_str)
                == Some(txn.as_str());
            if !already {
                card.insert(
                    "reversal".into(),
                    json!({"txn": txn, "txn_time": due.txn_time, "amount": amount,
                           "state": "due", "at": cx.now}),
                );
                audit::record(
                    cx.conn,
                    cx.origin,
                    cx.now,
                    "pos.card_reversal_due",
                    &format!("sale:{}", p.sale_id),
                    &json!({"payment_id": p.id, "state": p.state, "terminal_txn_id": txn,
                            "amount": amount,
                            "why": "the terminal took money for a payment that had already ended without it"}),
                )?;
                reverse = Some(due);
            }
        }
        CardEffect::None => {
            if next.state != before.state {
                updated.state = next.state.as_str().into();
                updated.error = note.map(str::to_string).or(describe(next.state, answer));
            }
        }
    }
    let changed = updated.state != p.state;
    save(cx, &updated, &card)?;
    if changed {
        audit::record(
            cx.conn,
            cx.origin,
            cx.now,
            "pos.payment",
            &format!("sale:{}", p.sale_id),
            &json!({"payment": {"id": p.id, "state": {"old": p.state, "new": updated.state},
                "amount": {"old": p.amount, "new": updated.amount}, "error": updated.error}}),
        )?;
    }
    let after = sale(cx.conn, &p.sale_id)?;
    let completed = changed && after.is_open() && after.balance.settled();
    let sale = if completed {
        complete(cx, reg, after)?
    } else {
        after
    };
    let payment = get_payment(cx.conn, payment_id)?
        .ok_or_else(|| Error::Internal(format!("payment {payment_id} vanished")))?;
    Ok(Settled {
        payment,
        sale,
        changed,
        completed,
        reverse,
    })
}

fn merge_facts(card: &mut Map<String, Value>, f: &CardFacts) {
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            card.insert(k.into(), json!(v));
        }
    };
    put("brand", &f.brand);
    put("masked_pan", &f.masked_pan.as_deref().map(safe_masked_pan));
    put("entry_mode", &f.entry_mode);
    put("approval_code", &f.approval_code);
    put("terminal_txn_id", &f.terminal_txn_id);
    put("terminal_txn_time", &f.terminal_txn_time);
    if f.terminal_offline {
        card.insert("terminal_offline".into(), json!(true));
    }
}

fn terminal_of(conn: &Connection, payment_id: &str) -> Result<String> {
    Ok(conn
        .prepare_cached("SELECT coalesce(terminal_id, '') FROM pos_payments WHERE id = ?1")?
        .query_row([payment_id], |r| r.get(0))?)
}

/// The outcome of a reversal the till sent, recorded on the payment and audited.
pub fn record_reversal(
    cx: &Ctx<'_>,
    payment_id: &str,
    accepted: bool,
    detail: Option<&str>,
) -> Result<()> {
    let p = card_payment(cx, payment_id)?;
    let mut card = card_json(&p);
    let Some(Value::Object(rev)) = card.get_mut("reversal") else {
        return Err(Error::conflict(format!(
            "payment {payment_id} has no reversal due"
        )));
    };
    let state = if accepted { "reversed" } else { "refused" };
    let old = rev.get("state").cloned().unwrap_or(Value::Null);
    rev.insert("state".into(), json!(state));
    rev.insert("detail".into(), json!(detail));
    rev.insert("at".into(), json!(cx.now));
    save(cx, &p, &card)?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.card_reversed",
        &format!("sale:{}", p.sale_id),
        &json!({"payment_id": p.id, "reversal": {"old": old, "new": state}, "detail": detail}),
    )?;
    Ok(())
}

/// Every card attempt whose outcome is not known yet.
pub fn pending_attempts(conn: &Connection) -> Result<Vec<PendingAttempt>> {
    let mut st = conn.prepare_cached(
        "SELECT p.id, p.sale_id, s.register_id, p.terminal_id, p.service_id, p.amount,
                s.currency, coalesce(json_extract(p.card, '$.abort_asked'), 0)
           FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
          WHERE p.state = 'pending' AND p.method = 'card'
            AND p.terminal_id IS NOT NULL AND p.service_id IS NOT NULL
          ORDER BY p.created_at",
    )?;
    let rows = st.query_map([], |r| {
        Ok(PendingAttempt {
            payment_id: r.get(0)?,
            sale_id: r.get(1)?,
            register_id: r.get(2)?,
            terminal_id: r.get(3)?,
            service_id: r.get(4)?,
            amount: r.get(5)?,
            currency: r.get(6)?,
            abort_asked: r.get::<_, i64>(7)? != 0,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Reversals marked due and not yet accepted or refused.
pub fn reversals_due(conn: &Connection) -> Result<Vec<ReversalDue>> {
    let mut st = conn.prepare_cached(
        "SELECT p.id, coalesce(p.terminal_id, ''), json_extract(p.card, '$.reversal.txn'),
                coalesce(json_extract(p.card, '$.reversal.txn_time'), ''),
                json_extract(p.card, '$.reversal.amount'), s.currency
           FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
          WHERE p.method = 'card' AND json_extract(p.card, '$.reversal.state') = 'due'",
    )?;
    let rows = st.query_map([], |r| {
        Ok(ReversalDue {
            payment_id: r.get(0)?,
            terminal_id: r.get(1)?,
            txn: r.get(2)?,
            txn_time: r.get(3)?,
            amount: r.get(4)?,
            currency: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The card payment a terminal's ServiceID belongs to: `(payment id, register id)`.
pub fn by_service_id(conn: &Connection, service_id: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT p.id, s.register_id FROM pos_payments p JOIN pos_sales s ON s.id = p.sale_id
              WHERE p.service_id = ?1",
        )?
        .query_row([service_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}
