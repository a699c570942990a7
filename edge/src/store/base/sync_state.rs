//! The `sync_state` key/value rows: the pull cursor, `acked_through`, the dead-letter generation,
//! the ID leases and the divergence mark. Read and written inside the caller's transaction.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// `sync_state` keys.
pub const KEY_CURSOR: &str = "cursor";
pub const KEY_ACKED_THROUGH: &str = "acked_through";
pub const KEY_GENERATION: &str = "dead_generation";
pub const KEY_LEASES: &str = "id_leases";
pub const KEY_DIVERGED_AT: &str = "diverged_at_seq";

/// Reads one `sync_state` value.
pub fn state_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// Writes one `sync_state` value (inside the caller's transaction).
pub fn state_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}
