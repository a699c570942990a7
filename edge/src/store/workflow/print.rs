//! Print jobs, an outbox of their own: a label, slip or receipt is a `print_jobs` row written in
//! the transaction of the step that printed it; after the commit the node hands each job to its
//! printer's durable spool under the job's own id (`spool_id`), which the spool refuses to take
//! twice. A crash after the commit prints the job after restart; a crash after spooling does not
//! print it again.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::store::base::Ctx;

/// Queue bytes for a printer in the caller's transaction.
pub(crate) fn queue_print(
    cx: &Ctx<'_>,
    device_id: &str,
    kind: &str,
    order_id: &str,
    data: &[u8],
) -> Result<()> {
    let id: i64 = cx.conn.query_row(
        "INSERT INTO counters(name, value) VALUES ('print_job', 1)
         ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        [],
        |r| r.get(0),
    )?;
    // The spool sorts jobs by id: a fixed-width number keeps them in the order they were made.
    let spool_id = format!("j{id:012}");
    cx.conn
        .prepare_cached(
            "INSERT INTO print_jobs(id, device_id, kind, order_id, data, created_at, spool_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            id, device_id, kind, order_id, data, cx.now, spool_id
        ])?;
    Ok(())
}

/// A print job waiting for its printer's spool.
#[derive(Debug, Clone)]
pub struct PendingPrint {
    pub id: i64,
    pub device_id: String,
    pub spool_id: String,
    pub data: Vec<u8>,
}

/// The oldest print jobs not yet handed to a spool (at most `limit`).
pub fn pending_prints(conn: &Connection, limit: usize) -> Result<Vec<PendingPrint>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, device_id, spool_id, data FROM print_jobs
             WHERE spooled_at IS NULL AND error IS NULL ORDER BY id LIMIT ?1",
        )?
        .query_map([limit as i64], |r| {
            Ok(PendingPrint {
                id: r.get(0)?,
                device_id: r.get(1)?,
                spool_id: r.get(2)?,
                data: r.get(3)?,
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records that a job reached its spool, or why it never can (the printer is not configured).
pub fn mark_spooled(conn: &Connection, id: i64, now: &str, error: Option<&str>) -> Result<()> {
    let done: Option<i64> = conn
        .prepare_cached(
            "UPDATE print_jobs SET spooled_at = CASE WHEN ?3 IS NULL THEN ?2 ELSE NULL END, error = ?3
             WHERE id = ?1 RETURNING id",
        )?
        .query_row(params![id, now, error], |r| r.get(0))
        .optional()?;
    done.map(|_| ())
        .ok_or_else(|| Error::not_found(format!("print job {id} not found")))
}
