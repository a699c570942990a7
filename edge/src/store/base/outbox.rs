//! The transactional outbox (design invariant 2). Every state change that the central platform must
//! hear about appends its upstream event here, inside the same transaction as the change, with the
//! next per-site `seq`. Because the counter row is updated in that transaction too, a rolled-back
//! change takes its `seq` with it and the committed sequence stays gap-free.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::domain::Actor;
use crate::error::Result;

/// An upstream event about to be committed.
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub aggregate_type: &'a str,
    pub aggregate_id: String,
    pub occurred_at: &'a str,
    pub actor: &'a Actor,
    pub data: serde_json::Value,
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    occurred_at: &'a str,
    aggregate: Aggregate<'a>,
    actor: &'a Actor,
    data: &'a serde_json::Value,
}

#[derive(Serialize)]
struct Aggregate<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
}

/// `<site>:<seq as 12 zero-padded digits>`: stable across retries, never reused.
pub fn event_id(site: &str, seq: u64) -> String {
    format!("{site}:{seq:012}")
}

/// Take the next `seq`. Only meaningful inside a write transaction.
fn next_seq(conn: &Connection) -> Result<u64> {
    let v: i64 = conn
        .prepare_cached(
            "INSERT INTO counters(name, value) VALUES ('outbox_seq', 1)
             ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(v as u64)
}

/// Append one event; returns its `seq`.
pub fn append(conn: &Connection, site: &str, ev: NewEvent<'_>) -> Result<u64> {
    let seq = next_seq(conn)?;
    let id = event_id(site, seq);
    let body = serde_json::to_string(&Envelope {
        id: &id,
        seq,
        kind: ev.kind,
        occurred_at: ev.occurred_at,
        aggregate: Aggregate {
            kind: ev.aggregate_type,
            id: &ev.aggregate_id,
        },
        actor: ev.actor,
        data: &ev.data,
    })?;
    conn.prepare_cached(
        "INSERT INTO outbox(seq, id, type, aggregate, occurred_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
            seq as i64,
            id,
            ev.kind,
            format!("{}:{}", ev.aggregate_type, ev.aggregate_id),
            ev.occurred_at,
            body
        ])?;
    Ok(seq)
}

/// Figures for `/v1/sync/status` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Events not yet done at the central (held-back ones included).
    pub depth: u64,
    pub oldest_pending_at: Option<String>,
    pub dead_letters: u64,
    /// Highest `seq` ever assigned on this site.
    pub highest_seq: u64,
    /// Every event up to this one is done at the central.
    pub acked_through: u64,
}

pub fn figures(conn: &Connection) -> Result<QueueFigures> {
    let depth: i64 = conn.query_row(
        "SELECT count(*) FROM outbox WHERE state <> 'done'",
        [],
        |r| r.get(0),
    )?;
    let oldest: Option<String> = conn
        .query_row(
            "SELECT occurred_at FROM outbox WHERE state <> 'done' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let dead: i64 = conn.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'dead'",
        [],
        |r| r.get(0),
    )?;
    let highest: Option<i64> = conn
        .query_row(
            "SELECT value FROM counters WHERE name = 'outbox_seq'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let first_pending: Option<i64> = conn
        .query_row(
            "SELECT seq FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let highest = highest.unwrap_or(0) as u64;
    let acked_through = match first_pending {
        Some(s) => (s as u64).saturating_sub(1),
        None => highest,
    };
    Ok(QueueFigures {
        depth: depth as u64,
        oldest_pending_at: oldest,
        dead_letters: dead as u64,
        highest_seq: highest,
        acked_through,
    })
}

/// Rows deleted per prune step: small, so one step is a short write that floor transactions
/// queue behind for a moment at most.
pub const PRUNE_BATCH: usize = 500;

/// Deletes up to `limit` delivered (`done`) rows whose `done_at` is before `before` (RFC 3339,
/// the format `done_at` is written in, so text order is time order); returns how many went.
/// Pending and dead rows are never touched. Safe for the sequence: `seq` comes from the
/// `counters` row, and `acked_through`/`figures` read only pending rows and that counter, so
/// deleting delivered rows changes no number the site assigns or reports.
pub fn prune_done(conn: &Connection, before: &str, limit: usize) -> Result<usize> {
    let n = conn
        .prepare_cached(
            "DELETE FROM outbox WHERE seq IN (
                 SELECT seq FROM outbox
                 WHERE state = 'done' AND done_at IS NOT NULL AND done_at < ?1
                 ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![before, limit.min(i64::MAX as usize) as i64])?;
    Ok(n)
}
