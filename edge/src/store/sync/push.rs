//! The push side kept in the store: outcomes of sent batches (done, dead letters, `acked_through`),
//! queue figures, and the supervisor's dead-letter decisions.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use wms_sync::{EventOutcome, OutboxStats, Outcome};

use super::{bump_generation, state_u64};
use crate::domain::time;
use crate::error::Result;
use crate::store::base::sync_state::{state_get, state_set, KEY_ACKED_THROUGH};
use crate::store::base::{audit, Origin};

/// An open dead letter, as `GET /v1/sync/dead-letters` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeadLetter {
    /// Event id (`<site>:<seq>`).
    pub id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    /// `<type>:<id>`; later events of this aggregate wait until this one is resolved.
    pub aggregate: String,
    pub occurred_at: String,
    /// The central's error code and message.
    pub code: String,
    pub message: String,
    pub dead_at: String,
    /// The event exactly as it is sent.
    #[schema(value_type = Object)]
    pub event: Value,
}

/// Open dead letters in seq order, after `after_seq`.
pub fn list_dead_letters(
    conn: &Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<DeadLetter>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.seq, o.type, o.aggregate, o.occurred_at, o.body,
                coalesce(d.code, 'rejected'), coalesce(d.message, o.error, ''), coalesce(d.dead_at, '')
         FROM outbox o LEFT JOIN sync_dead_letters d ON d.seq = o.seq AND d.resolution IS NULL
         WHERE o.state = 'dead' AND o.seq > ?1 ORDER BY o.seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq as i64, limit as i64], |r| {
        let body: String = r.get(5)?;
        Ok(DeadLetter {
            id: r.get(0)?,
            seq: r.get::<_, i64>(1)? as u64,
            kind: r.get(2)?,
            aggregate: r.get(3)?,
            occurred_at: r.get(4)?,
            event: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            code: r.get(6)?,
            message: r.get(7)?,
            dead_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Which supervisor action closes a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Back to pending with the same seq, id and body.
    Retry,
    /// Closed for good: marked done locally, never sent again.
    Discard,
}

/// Retries or discards one open dead letter, with its audit entry and `audit.recorded` event, in
/// the caller's transaction. `Ok(false)` when `id` is not an open dead letter.
pub fn resolve_dead_letter(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    now: &str,
    id: &str,
    how: Resolution,
) -> Result<bool> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM outbox WHERE id = ?1 AND state = 'dead'")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let Some(seq) = seq else { return Ok(false) };
    let (state, word) = match how {
        Resolution::Retry => ("pending", "retried"),
        Resolution::Discard => ("done", "discarded"),
    };
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, error = CASE WHEN ?2 = 'done' THEN error ELSE NULL END,
                done_at = CASE WHEN ?2 = 'done' THEN ?3 ELSE NULL END WHERE seq = ?1",
    )?
    .execute(params![seq, state, now])?;
    conn.prepare_cached(
        "UPDATE sync_dead_letters SET resolution = ?2, resolved_at = ?3, resolved_by = ?4
         WHERE seq = ?1 AND resolution IS NULL",
    )?
    .execute(params![
        seq,
        word,
        now,
        origin
            .actor
            .user
            .clone()
            .or_else(|| origin.actor.api_key.clone())
    ])?;
    bump_generation(conn)?;
    let action = match how {
        Resolution::Retry => "sync.dead_letter.retry",
        Resolution::Discard => "sync.dead_letter.discard",
    };
    let target = format!("event:{id}");
    let changes = json!({"state": {"old": "dead", "new": word}});
    audit::record_upstream(conn, site, origin, now, action, &target, &changes)?;
    Ok(true)
}

pub(super) fn record_outcomes_tx(
    conn: &Connection,
    outcomes: &[EventOutcome],
    acked_through: Option<u64>,
    now: &str,
) -> Result<()> {
    let mut dead = false;
    for o in outcomes {
        match &o.outcome {
            Outcome::Done => {
                conn.prepare_cached(
                    "UPDATE outbox SET state = 'done', done_at = ?2 WHERE seq = ?1 AND state = 'pending'",
                )?
                .execute(params![o.seq as i64, now])?;
            }
            Outcome::Rejected { code, message } => {
                let n = conn
                    .prepare_cached(
                        "UPDATE outbox SET state = 'dead', error = ?2 WHERE seq = ?1 AND state = 'pending'",
                    )?
                    .execute(params![o.seq as i64, format!("{code}: {message}")])?;
                if n == 1 {
                    conn.prepare_cached(
                        "INSERT INTO sync_dead_letters(seq, event_id, aggregate, code, message, dead_at)
                         SELECT seq, id, aggregate, ?2, ?3, ?4 FROM outbox WHERE seq = ?1",
                    )?
                    .execute(params![o.seq as i64, code, message, now])?;
                    dead = true;
                }
            }
        }
    }
    if dead {
        bump_generation(conn)?;
    }
    if let Some(a) = acked_through {
        let old = state_u64(conn, KEY_ACKED_THROUGH)?.unwrap_or(0);
        if a > old || state_get(conn, KEY_ACKED_THROUGH)?.is_none() {
            state_set(conn, KEY_ACKED_THROUGH, &a.max(old).to_string())?;
        }
    }
    Ok(())
}

pub(super) fn stats_tx(conn: &Connection) -> Result<OutboxStats> {
    let pending: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    let oldest: Option<String> = conn
        .prepare_cached(
            "SELECT occurred_at FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    let dead: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'dead'")?
        .query_row([], |r| r.get(0))?;
    let highest: Option<i64> = conn
        .prepare_cached("SELECT value FROM counters WHERE name = 'outbox_seq'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(OutboxStats {
        pending: pending as u64,
        oldest_pending_at: oldest.as_deref().and_then(time::parse),
        dead_letters: dead as u64,
        highest_assigned_seq: highest.unwrap_or(0) as u64,
    })
}
