//! Register sessions: a cashier opens the drawer with a float; sales belong to the open session.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use crate::config::RegisterConfig;
use crate::error::{Error, Result};
use crate::store::base::{audit, ids, Ctx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PosSession {
    pub id: String,
    pub register_id: String,
    pub cashier: String,
    pub currency: String,
    pub opened_at: String,
    pub opening_float: i64,
    /// `open` or `closed`.
    pub state: String,
    pub closed_at: Option<String>,
}

const COLS: &str = "id, register_id, cashier, currency, opened_at, opening_float, state, closed_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PosSession> {
    Ok(PosSession {
        id: r.get(0)?,
        register_id: r.get(1)?,
        cashier: r.get(2)?,
        currency: r.get(3)?,
        opened_at: r.get(4)?,
        opening_float: r.get(5)?,
        state: r.get(6)?,
        closed_at: r.get(7)?,
    })
}

pub fn get_session(conn: &Connection, id: &str) -> Result<Option<PosSession>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM pos_sessions WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The register's open session, if any.
pub fn open_session_of(conn: &Connection, register_id: &str) -> Result<Option<PosSession>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM pos_sessions WHERE register_id = ?1 AND state = 'open'"
        ))?
        .query_row([register_id], from_row)
        .optional()?)
}

/// The register's open sale, if any.
pub fn open_sale_of(conn: &Connection, register_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM pos_sales WHERE register_id = ?1 AND status = 'open'")?
        .query_row([register_id], |r| r.get(0))
        .optional()?)
}

/// Opens a session on `reg` for `cashier` with `opening_float` in the drawer; 409 when one is
/// open. Registers the `receipt` ID kind so the site asks the central for receipt numbers
/// before its first sale.
pub fn open_session(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    cashier: &str,
    opening_float: i64,
) -> Result<PosSession> {
    if opening_float < 0 {
        return Err(Error::validation("opening_float", "must not be negative"));
    }
    if let Some(open) = open_session_of(cx.conn, &reg.id)? {
        return Err(Error::conflict(format!(
            "register {} already has session {} open (cashier {})",
            reg.id, open.id, open.cashier
        )));
    }
    let session = PosSession {
        id: uuid::Uuid::now_v7().to_string(),
        register_id: reg.id.clone(),
        cashier: cashier.to_string(),
        currency: reg.currency.clone(),
        opened_at: cx.now.to_string(),
        opening_float,
        state: "open".into(),
        closed_at: None,
    };
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_sessions(id, register_id, cashier, currency, opened_at, opening_float)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            session.id,
            session.register_id,
            session.cashier,
            session.currency,
            session.opened_at,
            session.opening_float
        ])?;
    ids::track_id_kind(cx.conn, "receipt")?;
    super::receipt::queue_drawer_kick(cx, reg, &session.id)?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.session_opened",
        &format!("register:{}", reg.id),
        &json!({"session": {"old": null, "new": session.id}, "opening_float": opening_float}),
    )?;
    Ok(session)
}
