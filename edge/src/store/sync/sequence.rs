//! Divergence: the highest sequence number this database assigned, the mark set when the central
//! is found ahead, and the `sync reset-sequence` recovery.

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::bump_generation;
use crate::domain::{time, Actor};
use crate::error::Result;
use crate::store::base::sync_state::{state_get, state_set, KEY_DIVERGED_AT};
use crate::store::base::{audit, outbox, Origin};

/// Highest seq assigned and the time, for the recovery command and tests.
pub fn highest_seq(conn: &Connection) -> Result<u64> {
    let v: Option<i64> = conn
        .query_row(
            "SELECT value FROM counters WHERE name = 'outbox_seq'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.unwrap_or(0) as u64)
}

/// Stamps `diverged_at_seq` the first time the central is seen ahead of this database: events
/// with a higher seq were committed after that and must be renumbered by the recovery command.
pub fn mark_diverged(conn: &Connection) -> Result<()> {
    if state_get(conn, KEY_DIVERGED_AT)?.is_none() {
        let h = highest_seq(conn)?;
        state_set(conn, KEY_DIVERGED_AT, &h.to_string())?;
    }
    Ok(())
}

/// What `wms-edge sync reset-sequence` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseq {
    /// Events renumbered (committed after the divergence was detected).
    pub renumbered: u64,
    /// The new highest seq.
    pub highest: u64,
}

/// Recovery from `diverged` (database restored from a backup while the central kept the lost
/// events): every not-yet-done event with seq above `keep_through` gets a new seq (and id, in its
/// body too) after `central_acked_through`, in the same order, and the counter moves past them, so
/// no id the central has seen is ever reused. Events at or below `keep_through` are kept: they are
/// the backup's own events, which the central already has (it answers `duplicate`). One
/// transaction.
pub fn reset_sequence(
    conn: &Connection,
    site: &str,
    central_acked_through: u64,
    keep_through: u64,
) -> Result<Reseq> {
    let highest = highest_seq(conn)?;
    if central_acked_through <= highest && keep_through >= highest {
        return Ok(Reseq {
            renumbered: 0,
            highest,
        });
    }
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, body FROM outbox WHERE seq > ?1 AND state <> 'done' ORDER BY seq")?
        .query_map([keep_through as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let mut next = central_acked_through.max(highest);
    let mut renumbered = 0;
    for (old, body) in rows {
        next += 1;
        let id = outbox::event_id(site, next);
        let mut v: Value = serde_json::from_str(&body)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("id".into(), json!(id));
            m.insert("seq".into(), json!(next));
        }
        conn.execute(
            "UPDATE outbox SET seq = ?2, id = ?3, body = ?4 WHERE seq = ?1",
            params![old, next as i64, id, v.to_string()],
        )?;
        conn.execute(
            "UPDATE sync_dead_letters SET seq = ?2, event_id = ?3 WHERE seq = ?1",
            params![old, next as i64, id],
        )?;
        renumbered += 1;
    }
    conn.execute(
        "INSERT INTO counters(name, value) VALUES ('outbox_seq', ?1)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [next as i64],
    )?;
    conn.execute("DELETE FROM sync_state WHERE key = ?1", [KEY_DIVERGED_AT])?;
    bump_generation(conn)?;
    audit::record(
        conn,
        &Origin {
            actor: Actor {
                user: None,
                device: Some("cli".into()),
                api_key: None,
            },
            request_id: None,
        },
        &time::format(Utc::now()),
        "sync.reset_sequence",
        "outbox",
        &json!({"highest_seq": {"old": highest, "new": next}, "renumbered": {"old": null, "new": renumbered}}),
    )?;
    Ok(Reseq {
        renumbered,
        highest: next,
    })
}
