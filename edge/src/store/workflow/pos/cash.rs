//! Cash that moves without a sale (pos-api.md, research/pos-payments.md §5.2): pay-ins, pay-outs,
//! safe drops and the no-sale drawer opening. Each opens the drawer, is audited and goes upstream
//! as `pos.cash_movement`; none happens while a sale is open, a pay-out or drop never takes more
//! than the drawer should hold, and a no-sale needs a supervisor.

use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use super::registers::open_session_of;
use super::reports::expected_cash;
use crate::config::RegisterConfig;
use crate::domain::pos::format_minor;
use crate::error::{Error, Result};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, Ctx};

/// The kinds of movement, as the API names them.
pub const KINDS: &[&str] = &["pay_in", "pay_out", "safe_drop", "no_sale"];

/// A movement as asked.
#[derive(Debug, Clone)]
pub struct MovementIn {
    pub kind: String,
    pub amount: i64,
    pub reason: Option<String>,
    /// The supervisor who approved (a no-sale needs one).
    pub approved_by: Option<String>,
}

/// A movement as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashMovement {
    pub id: String,
    pub session_id: String,
    pub register_id: String,
    pub kind: String,
    pub amount: i64,
    pub reason: Option<String>,
    pub cashier: String,
    pub approved_by: Option<String>,
    pub created_at: String,
}

/// Records a movement in the register's open session `session_id`.
pub fn cash_movement(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    session_id: &str,
    cashier: &str,
    m: MovementIn,
) -> Result<CashMovement> {
    if !KINDS.contains(&m.kind.as_str()) {
        return Err(Error::validation(
            "kind",
            format!("{:?} is not one of {}", m.kind, KINDS.join(", ")),
        ));
    }
    let session = open_session_of(cx.conn, &reg.id)?
        .filter(|s| s.id == session_id)
        .ok_or_else(|| {
            Error::conflict(format!(
                "session {session_id} is not the open session of register {}",
                reg.id
            ))
        })?;
    let reason = m.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    match m.kind.as_str() {
        "no_sale" => {
            if m.amount != 0 {
                return Err(Error::validation("amount", "a no-sale moves no money: 0"));
            }
            if m.approved_by.is_none() {
                return Err(Error::Forbidden(
                    "opening the drawer without a sale needs a supervisor's approval".into(),
                ));
            }
        }
        _ if m.amount <= 0 => {
            return Err(Error::validation("amount", "must be more than zero"));
        }
        "pay_in" | "pay_out" if reason.is_none() => {
            return Err(Error::validation(
                "reason",
                "a pay-in or pay-out needs a reason (petty cash, float top-up, vendor …)",
            ));
        }
        _ => {}
    }
    if reason.is_some_and(|r| r.chars().count() > 200) {
        return Err(Error::validation("reason", "at most 200 characters"));
    }
    if super::registers::open_sale_of(cx.conn, &reg.id)?.is_some() {
        return Err(Error::conflict(
            "a sale is open on this register: no cash movement until it is completed or voided",
        ));
    }
    if matches!(m.kind.as_str(), "pay_out" | "safe_drop") {
        let holds = expected_cash(cx.conn, reg, &session)?;
        if m.amount > holds {
            return Err(Error::conflict(format!(
                "the drawer should hold {}: a {} of {} is more than that",
                format_minor(holds, &reg.currency),
                m.kind.replace('_', "-"),
                format_minor(m.amount, &reg.currency)
            )));
        }
    }
    let mv = CashMovement {
        id: uuid::Uuid::now_v7().to_string(),
        session_id: session.id.clone(),
        register_id: reg.id.clone(),
        kind: m.kind.clone(),
        amount: m.amount,
        reason: reason.map(str::to_string),
        cashier: cashier.to_string(),
        approved_by: m.approved_by.clone(),
        created_at: cx.now.to_string(),
    };
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_cash_movements(id, session_id, register_id, kind, amount, reason,
                cashier, approved_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            mv.id,
            mv.session_id,
            mv.register_id,
            mv.kind,
            mv.amount,
            mv.reason,
            mv.cashier,
            mv.approved_by,
            mv.created_at
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.cash_movement",
        &format!("register:{}", reg.id),
        &json!({"movement": {"old": null, "new": {"id": mv.id, "kind": mv.kind,
                "amount": mv.amount, "reason": mv.reason}}, "approved_by": mv.approved_by}),
    )?;
    outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "pos.cash_movement",
            aggregate_type: "register",
            aggregate_id: reg.id.clone(),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({"register_id": reg.id, "session_id": mv.session_id, "kind": mv.kind,
                         "amount": mv.amount, "currency": reg.currency, "reason": mv.reason,
                         "approved_by": mv.approved_by, "at": cx.now}),
        },
    )?;
    super::receipt::queue_drawer_kick(cx, reg, &mv.id)?;
    Ok(mv)
}
