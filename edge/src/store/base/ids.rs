//! ID leases: the serials (SSCCs, tracking numbers, receipt numbers) the central grants this site
//! in blocks, so labels and receipts are numbered through an outage. A number is taken inside the
//! transaction that uses it, so it is never issued twice.

use rusqlite::Connection;
use wms_sync::{IdLeases, IssuedId};

use super::sync_state::{state_get, state_set, KEY_LEASES};
use crate::error::{Error, Result};

/// The ID kind of a carrier's tracking numbers (`tracking:ups`).
pub fn tracking_kind(carrier: &str) -> String {
    format!("tracking:{}", carrier.trim().to_ascii_lowercase())
}

pub(crate) fn load_leases(conn: &Connection) -> Result<IdLeases> {
    match state_get(conn, KEY_LEASES)? {
        Some(j) => Ok(serde_json::from_str(&j)?),
        None => Ok(IdLeases::default()),
    }
}

pub(crate) fn save_leases(conn: &Connection, leases: &IdLeases) -> Result<()> {
    state_set(conn, KEY_LEASES, &serde_json::to_string(leases)?)
}

/// Takes the next serial of an ID kind inside the caller's transaction (the pack and POS
/// workflows call this in the transaction that uses the number, so a number is never issued
/// twice). Errors when the kind is exhausted.
pub fn take_id(conn: &Connection, kind: &str) -> Result<IssuedId> {
    let mut leases = load_leases(conn)?;
    let id = leases
        .take(kind)
        .map_err(|e| Error::conflict(e.to_string()))?;
    save_leases(conn, &leases)?;
    Ok(id)
}

/// Per-kind lease figures (remaining serials, use of the current block, exhausted) for status.
pub fn id_status(conn: &Connection) -> Result<Vec<wms_sync::idblock::KindStatus>> {
    Ok(load_leases(conn)?.status())
}

thread_local! {
    /// Set on the writer thread when a write registered an ID kind the site did not number
    /// before; `Store::write` takes it after the job and hands it to the commit hook (see
    /// `store::Committed`). A job that then rolls back may leave it set: the ID-block requester
    /// is woken for nothing.
    static NEW_ID_KIND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the job that just ran on this thread registered a new ID kind (and clears it).
pub(crate) fn take_new_id_kind() -> bool {
    NEW_ID_KIND.with(|f| f.replace(false))
}

/// Registers an ID kind the site will use, so a block is requested before the first number.
pub fn track_id_kind(conn: &Connection, kind: &str) -> Result<()> {
    let mut leases = load_leases(conn)?;
    let before = leases.clone();
    leases
        .track_kind(kind)
        .map_err(|e| Error::validation("kind", e))?;
    if leases == before {
        return Ok(());
    }
    NEW_ID_KIND.with(|f| f.set(true));
    save_leases(conn, &leases)
}
